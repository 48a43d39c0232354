//! The strategies in use, and the reloader that replaces them when the file changes.
//!
//! Readers take the current `Arc<Strategies>` under a short read lock; a reload builds the new
//! strategies completely, then swaps the `Arc` under the write lock, so a request sees either the
//! old or the new file, never a mix. A file that cannot be read or is invalid is refused with one
//! log line per change, and the strategies in use stay (Jaeger: "failed to update sampling
//! strategies").
//!
//! Change detection compares the file's bytes with the last bytes seen, as Jaeger does; the file
//! is small, and the bytes catch edits that keep the modification time (coarse clocks, `cp -p`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use spoor_model::proto::jaeger::api_v2::SamplingStrategyResponse;

use crate::sampling::config::SamplingConfig;
use crate::sampling::error::SamplingError;
use crate::sampling::metrics::SamplingMetrics;
use crate::sampling::strategies::{Strategies, StrategyWarning};

/// What one look at the strategies file did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// No strategies file is configured.
    NoFile,
    /// The file holds the bytes last seen (a refused file stays refused until it changes).
    Unchanged,
    /// The changed file is now in use.
    Reloaded,
    /// The file could not be read; the strategies in use stay. Holds the reason.
    ReadFailed(String),
    /// The changed file is invalid; the strategies in use stay. Holds the reason.
    Refused(String),
}

/// The sampling strategies every handler answers from.
#[derive(Debug)]
pub struct StrategyStore {
    current: RwLock<Arc<Strategies>>,
    file: Option<PathBuf>,
    default_probability: f64,
    metrics: Arc<SamplingMetrics>,
    /// The last thing the reloader saw, to act (and log) once per change.
    last_seen: Mutex<Option<LastSeen>>,
}

#[derive(Debug, PartialEq, Eq)]
enum LastSeen {
    Bytes(Vec<u8>),
    ReadError(String),
}

impl StrategyStore {
    /// Reads the strategies file (if any) and, when `reload_interval` is not zero, starts a task
    /// that re-reads it at that interval until the store is dropped. Metrics go nowhere; see
    /// [`StrategyStore::open_with_metrics`].
    ///
    /// Fails when the configuration is invalid, or the file cannot be read or is invalid (as
    /// Jaeger refuses to start). Reloading needs a Tokio runtime: without one, this fails too.
    pub fn open(config: &SamplingConfig) -> Result<Arc<Self>, SamplingError> {
        Self::open_with_metrics(config, Arc::new(SamplingMetrics::unregistered()))
    }

    /// [`StrategyStore::open`], counting requests and reloads in `metrics`.
    pub fn open_with_metrics(
        config: &SamplingConfig,
        metrics: Arc<SamplingMetrics>,
    ) -> Result<Arc<Self>, SamplingError> {
        config.validate().map_err(SamplingError::InvalidConfig)?;
        let default_probability = config.default_sampling_probability;
        let Some(path) = config.strategies_path() else {
            tracing::info!(
                default_sampling_probability = default_probability,
                "no sampling strategies file, every service is sampled probabilistically at the default probability"
            );
            return Ok(Arc::new(Self::with_strategies(
                Strategies::defaults(default_probability),
                None,
                default_probability,
                metrics,
            )));
        };
        let bytes = std::fs::read(path).map_err(|source| SamplingError::ReadFile { path: path.to_owned(), source })?;
        let (strategies, warnings) = Strategies::parse(&bytes, default_probability)
            .map_err(|source| SamplingError::InvalidFile { path: path.to_owned(), source })?;
        log_warnings(path, &warnings);
        tracing::info!(
            path = %path.display(),
            services = strategies.service_count(),
            "sampling strategies loaded"
        );
        let store = Arc::new(Self::with_strategies(strategies, Some(path.to_owned()), default_probability, metrics));
        *store.last_seen.lock() = Some(LastSeen::Bytes(bytes));
        if !config.reload_interval.is_zero() {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| SamplingError::NoRuntime)?;
            runtime.spawn(reload_periodically(Arc::downgrade(&store), config.reload_interval));
        }
        Ok(store)
    }

    fn with_strategies(
        strategies: Strategies,
        file: Option<PathBuf>,
        default_probability: f64,
        metrics: Arc<SamplingMetrics>,
    ) -> Self {
        Self {
            current: RwLock::new(Arc::new(strategies)),
            file,
            default_probability,
            metrics,
            last_seen: Mutex::new(None),
        }
    }

    /// The strategy for `service`: its own, else the file's default strategy.
    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        self.strategies().for_service(service).clone()
    }

    /// The strategies in use now.
    pub fn strategies(&self) -> Arc<Strategies> {
        Arc::clone(&self.current.read())
    }

    pub fn metrics(&self) -> &Arc<SamplingMetrics> {
        &self.metrics
    }

    /// Reads the file now and swaps in its strategies if it changed and is valid. The periodic
    /// reloader calls this; tests and a SIGHUP handler may too.
    pub async fn reload_now(&self) -> ReloadOutcome {
        let Some(path) = &self.file else { return ReloadOutcome::NoFile };
        let read = tokio::fs::read(path).await;
        self.apply(path, read)
    }

    fn apply(&self, path: &Path, read: std::io::Result<Vec<u8>>) -> ReloadOutcome {
        let mut last_seen = self.last_seen.lock();
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(error) => {
                let reason = error.to_string();
                if matches!(&*last_seen, Some(LastSeen::ReadError(seen)) if *seen == reason) {
                    return ReloadOutcome::Unchanged;
                }
                tracing::error!(
                    path = %path.display(),
                    error = %reason,
                    "cannot re-read the sampling strategies file, keeping the strategies in use"
                );
                self.metrics.record_reload(false);
                *last_seen = Some(LastSeen::ReadError(reason.clone()));
                return ReloadOutcome::ReadFailed(reason);
            }
        };
        if matches!(&*last_seen, Some(LastSeen::Bytes(seen)) if *seen == bytes) {
            return ReloadOutcome::Unchanged;
        }
        let parsed = Strategies::parse(&bytes, self.default_probability);
        *last_seen = Some(LastSeen::Bytes(bytes));
        match parsed {
            Ok((strategies, warnings)) => {
                log_warnings(path, &warnings);
                let services = strategies.service_count();
                *self.current.write() = Arc::new(strategies);
                self.metrics.record_reload(true);
                tracing::info!(path = %path.display(), services, "sampling strategies file changed, new strategies in use");
                ReloadOutcome::Reloaded
            }
            Err(error) => {
                tracing::error!(
                    path = %path.display(),
                    error = %error,
                    "refusing the changed sampling strategies file, keeping the strategies in use"
                );
                self.metrics.record_reload(false);
                ReloadOutcome::Refused(error.to_string())
            }
        }
    }
}

/// Re-reads the file every `interval` while the store is alive.
async fn reload_periodically(store: Weak<StrategyStore>, interval: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(store) = store.upgrade() else { return };
        store.reload_now().await;
    }
}

fn log_warnings(path: &Path, warnings: &[StrategyWarning]) {
    for warning in warnings {
        tracing::warn!(path = %path.display(), warning = %warning, "sampling strategies file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ScratchFile(PathBuf);

    impl ScratchFile {
        fn new(name: &str, contents: &str) -> Self {
            let unique = format!("spoor-sampling-{}-{name}-{:?}", std::process::id(), std::thread::current().id());
            let path = std::env::temp_dir().join(unique.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }

    impl Drop for ScratchFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn config(path: &Path) -> SamplingConfig {
        SamplingConfig {
            strategies_file: Some(path.to_owned()),
            reload_interval: Duration::ZERO,
            ..SamplingConfig::default()
        }
    }

    const FOO_08: &str = r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": 0.8}]}"#;
    const FOO_09: &str = r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": 0.9}]}"#;

    fn foo_rate(store: &StrategyStore) -> f64 {
        store.strategy("foo").probabilistic_sampling.unwrap().sampling_rate
    }

    #[tokio::test]
    async fn a_changed_file_replaces_the_strategies_once() {
        let file = ScratchFile::new("changed", FOO_08);
        let store = StrategyStore::open(&config(&file.0)).unwrap();
        assert_eq!(store.reload_now().await, ReloadOutcome::Unchanged);
        std::fs::write(&file.0, FOO_09).unwrap();
        assert_eq!(store.reload_now().await, ReloadOutcome::Reloaded);
        assert_eq!(foo_rate(&store), 0.9);
        assert_eq!(store.reload_now().await, ReloadOutcome::Unchanged);
        assert_eq!(store.metrics().reloads(true), 1);
    }

    #[tokio::test]
    async fn a_broken_file_is_refused_once_and_the_old_strategies_stay() {
        let file = ScratchFile::new("broken", FOO_08);
        let store = StrategyStore::open(&config(&file.0)).unwrap();
        std::fs::write(&file.0, r#"{"service_strategies": [{"service": "foo", "param": "#).unwrap();
        assert!(
            matches!(store.reload_now().await, ReloadOutcome::Refused(reason) if reason.contains("not valid JSON"))
        );
        assert_eq!(store.reload_now().await, ReloadOutcome::Unchanged);
        assert_eq!(foo_rate(&store), 0.8);
        std::fs::remove_file(&file.0).unwrap();
        assert!(matches!(store.reload_now().await, ReloadOutcome::ReadFailed(_)));
        assert_eq!(store.reload_now().await, ReloadOutcome::Unchanged);
        assert_eq!(foo_rate(&store), 0.8);
        assert_eq!(store.metrics().reloads(false), 2);
        std::fs::write(&file.0, FOO_08).unwrap();
        assert_eq!(store.reload_now().await, ReloadOutcome::Reloaded);
    }

    #[tokio::test]
    async fn opening_a_missing_or_invalid_file_fails_naming_it() {
        let missing = std::env::temp_dir().join("spoor-sampling-no-such-file.json");
        let error = StrategyStore::open(&config(&missing)).unwrap_err().to_string();
        assert!(error.contains("spoor-sampling-no-such-file.json"), "{error}");
        let file = ScratchFile::new("invalid", r#""nonsense""#);
        let error = StrategyStore::open(&config(&file.0)).unwrap_err().to_string();
        assert!(error.contains("expected an object, found a string"), "{error}");
    }

    #[test]
    fn without_a_file_every_service_gets_the_configured_probability() {
        let config = SamplingConfig { reload_interval: Duration::ZERO, ..SamplingConfig::all_in_one() };
        let store = StrategyStore::open(&config).unwrap();
        assert_eq!(store.strategy("anything").probabilistic_sampling.unwrap().sampling_rate, 1.0);
    }

    #[test]
    fn reloading_without_a_runtime_is_an_error() {
        let file = ScratchFile::new("runtime", FOO_08);
        let config = SamplingConfig { reload_interval: Duration::from_secs(1), ..config(&file.0) };
        assert!(matches!(StrategyStore::open(&config), Err(SamplingError::NoRuntime)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_reloader_picks_up_changes_and_stops_with_the_store() {
        let file = ScratchFile::new("periodic", FOO_08);
        let config = SamplingConfig { reload_interval: Duration::from_secs(5), ..config(&file.0) };
        let store = StrategyStore::open(&config).unwrap();
        std::fs::write(&file.0, FOO_09).unwrap();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if foo_rate(&store) == 0.9 {
                break;
            }
        }
        assert_eq!(foo_rate(&store), 0.9);
        let weak = Arc::downgrade(&store);
        drop(store);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(weak.upgrade().is_none());
    }
}
