//! Exponential backoff with full jitter, as Jaeger's retrying processor: attempt `n` waits a random
//! time in `[0, min(initial * 2^n, max)]`. Retries never stop; the caller decides when to give up
//! (only at shutdown).

use std::time::Duration;

use rand::Rng as _;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// The upper bound of the delay before retry `attempt` (0 for the first retry).
    pub(crate) fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max).max(Duration::from_millis(1))
    }

    /// A random delay in `[0, ceiling(attempt)]`.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_maximum() {
        let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(500), Duration::from_secs(1));
    }

    #[test]
    fn delay_is_within_the_ceiling() {
        let backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(50) };
        for attempt in 0..20 {
            assert!(backoff.delay(attempt) <= backoff.ceiling(attempt));
        }
    }
}
