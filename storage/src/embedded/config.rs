//! Configuration of the embedded backend.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When an acknowledged write reaches the disk. The writer groups concurrent `write` calls into
/// one commit, so the cost of a sync is shared by every batch in the group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPolicy {
    /// Every commit is `fdatasync`ed before its writes are acknowledged: an acknowledged span
    /// survives `kill -9`, a kernel panic and power loss. The default, because callers commit Kafka
    /// offsets and answer senders on `Ok`.
    #[default]
    EveryBatch,
    /// Every commit is handed to the operating system before it is acknowledged, without a sync:
    /// an acknowledged span survives `kill -9` of the process but may be lost on power loss or a
    /// kernel crash (the OS writes it out within seconds).
    OsBuffer,
    /// Commits stay in the process's journal buffer until it fills or the store closes: fastest,
    /// but `kill -9` loses the last acknowledged writes. For benchmarks and throw-away data only.
    Never,
}

/// The embedded backend's settings. Unknown keys are rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Directory of the database (created when missing). One process at a time may open it.
    pub data_dir: PathBuf,
    /// How long spans are kept after they were written (Jaeger badger's `--badger.span-store-ttl`),
    /// as text such as `72h`, `3d`, `90m`. Data is dropped a whole UTC day at a time, so a span
    /// lives between `retention` and `retention` + 1 day.
    #[serde(default = "default_retention", with = "duration_text")]
    pub retention: Duration,
    /// How often expired days are looked for, as text such as `5m`.
    #[serde(default = "default_retention_check_interval", with = "duration_text")]
    pub retention_check_interval: Duration,
    #[serde(default)]
    pub sync_policy: SyncPolicy,
    /// Size of the block cache shared by reads.
    #[serde(default = "default_cache_size_bytes")]
    pub cache_size_bytes: u64,
    /// At most this many spans are grouped into one commit.
    #[serde(default = "default_max_commit_spans")]
    pub max_commit_spans: usize,
    /// At most this many `write` calls wait for the writer; more wait for room (backpressure).
    #[serde(default = "default_write_queue_len")]
    pub write_queue_len: usize,
}

impl EmbeddedConfig {
    /// The defaults, storing under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            retention: default_retention(),
            retention_check_interval: default_retention_check_interval(),
            sync_policy: SyncPolicy::default(),
            cache_size_bytes: default_cache_size_bytes(),
            max_commit_spans: default_max_commit_spans(),
            write_queue_len: default_write_queue_len(),
        }
    }
}

fn default_retention() -> Duration {
    Duration::from_secs(72 * 3600)
}

fn default_retention_check_interval() -> Duration {
    Duration::from_secs(5 * 60)
}

fn default_cache_size_bytes() -> u64 {
    128 * 1024 * 1024
}

fn default_max_commit_spans() -> usize {
    16 * 1024
}

fn default_write_queue_len() -> usize {
    64
}

/// Durations as text: an integer followed by `ms`, `s`, `m`, `h` or `d`, possibly several
/// (`1h30m`).
pub(crate) mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits_end == 0 {
                return Err(format!("duration {text:?} must be numbers with units, such as 72h or 1h30m"));
            }
            let number: u64 = rest[..digits_end].parse().map_err(|_| format!("duration {text:?} is too large"))?;
            rest = &rest[digits_end..];
            let unit_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let unit_nanos: u64 = match &rest[..unit_end] {
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60 * 1_000_000_000,
                "h" => 3_600 * 1_000_000_000,
                "d" => 86_400 * 1_000_000_000,
                unit => return Err(format!("duration {text:?} has unknown unit {unit:?} (use ms, s, m, h or d)")),
            };
            let nanos = number.checked_mul(unit_nanos).ok_or_else(|| format!("duration {text:?} is too large"))?;
            total = total
                .checked_add(Duration::from_nanos(nanos))
                .ok_or_else(|| format!("duration {text:?} is too large"))?;
            rest = &rest[unit_end..];
        }
        Ok(total)
    }

    pub fn format(duration: Duration) -> String {
        let millis = duration.as_millis();
        for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if millis > 0 && (millis / size) * size == millis {
                return format!("{}{unit}", millis / size);
            }
        }
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_from_text_with_units() {
        assert_eq!(duration_text::parse("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(duration_text::parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration_text::parse("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(duration_text::parse("250ms"), Ok(Duration::from_millis(250)));
        assert!(duration_text::parse("72").is_err());
        assert!(duration_text::parse("h").is_err());
        assert!(duration_text::parse("5y").is_err());
    }

    #[test]
    fn config_defaults_apply_and_unknown_keys_are_rejected() {
        let config: EmbeddedConfig = toml::from_str("data_dir = \"/var/lib/spoor\"").unwrap();
        assert_eq!(config, EmbeddedConfig::new("/var/lib/spoor"));
        assert_eq!(config.retention, Duration::from_secs(72 * 3600));
        assert_eq!(config.sync_policy, SyncPolicy::EveryBatch);
        let config: EmbeddedConfig =
            toml::from_str("data_dir = \"d\"\nretention = \"24h\"\nsync_policy = \"os_buffer\"").unwrap();
        assert_eq!(config.retention, Duration::from_secs(86_400));
        assert_eq!(config.sync_policy, SyncPolicy::OsBuffer);
        assert!(toml::from_str::<EmbeddedConfig>("data_dir = \"d\"\nretention_hours = 3").is_err());
    }

    #[test]
    fn durations_format_in_their_largest_whole_unit() {
        assert_eq!(duration_text::format(Duration::from_secs(72 * 3600)), "3d");
        assert_eq!(duration_text::format(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(duration_text::format(Duration::from_millis(1500)), "1500ms");
    }
}
