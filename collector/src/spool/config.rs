//! Configuration of the disk spool.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

/// Where and how much the Kafka writer spools while Kafka is unreachable or too slow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool directory; `None` disables spooling, and then a batch Kafka did not take is a
    /// retryable error (503 / UNAVAILABLE) to the sender. The directory is created if missing and
    /// must belong to one collector process at a time.
    pub directory: Option<PathBuf>,
    /// The most bytes the spool's segment files may take. When a batch does not fit, the sender
    /// gets a retryable 429 / RESOURCE_EXHAUSTED; nothing spooled is ever dropped to make room.
    /// Space comes back a segment at a time, when the segment's last record was sent.
    pub max_bytes: u64,
    /// The size at which a segment file is closed and a new one started. A segment's file is
    /// deleted once Kafka acknowledged all of its records, so this is also the most that can be
    /// sent twice after a crash.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self { directory: None, max_bytes: 1024 * MIB, segment_bytes: 16 * MIB }
    }
}

impl SpoolConfig {
    /// A spool in `directory` with the default limits.
    pub fn in_directory(directory: impl Into<PathBuf>) -> Self {
        Self { directory: Some(directory.into()), ..Self::default() }
    }
}
