//! Retention: a background thread that deletes whole day partitions once everything in them is
//! older than the retention period. Deleting a keyspace is cheap (its files go) and exact to the
//! day: a span lives between `retention` and `retention` + 1 day after it was written.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::partitions::{day_of, format_day, Day};
use super::Shared;
use crate::api::Result;

/// The first day still kept at `now`: day D holds spans written until the end of D, so it expires
/// when the end of D is more than `retention` ago.
pub(crate) fn first_kept_day(now_unix_nanos: u64, retention: Duration) -> Day {
    let retention_nanos = u64::try_from(retention.as_nanos()).unwrap_or(u64::MAX);
    day_of(now_unix_nanos.saturating_sub(retention_nanos))
}

/// Deletes the expired days now; returns how many were deleted.
pub(crate) fn apply(shared: &Shared, retention: Duration) -> Result<usize> {
    let first_kept = first_kept_day(shared.clock.now_unix_nanos(), retention);
    let dropped = shared.partitions.drop_days_before(first_kept)?;
    for day in &dropped {
        tracing::info!(day = %format_day(*day), "embedded store dropped an expired day partition");
    }
    Ok(dropped.len())
}

/// Stops the retention thread when dropped or told to.
pub(crate) struct RetentionTask {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl RetentionTask {
    pub(crate) fn spawn(shared: Arc<Shared>, retention: Duration, interval: Duration) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("spoor-embedded-retention".into()).spawn(move || loop {
            match stopped.recv_timeout(interval) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(error) = apply(&shared, retention) {
                        tracing::warn!(error = %error, "embedded store retention pass failed");
                    }
                }
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        })?;
        Ok(Self { stop, thread })
    }

    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::error!("embedded store retention thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::partitions::DAY_NANOS;

    #[test]
    fn a_day_is_kept_until_its_end_is_older_than_the_retention() {
        let retention = Duration::from_secs(72 * 3600);
        // Day 10 ends at 11 * DAY; it must be kept until 11 * DAY + 72 h.
        let end_of_day_10 = 11 * DAY_NANOS;
        assert_eq!(first_kept_day(end_of_day_10 + 3 * DAY_NANOS - 1, retention), 10);
        assert_eq!(first_kept_day(end_of_day_10 + 3 * DAY_NANOS, retention), 11);
        assert_eq!(first_kept_day(0, retention), 0);
    }
}
