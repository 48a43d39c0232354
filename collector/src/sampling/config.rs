//! Configuration of remote sampling: the strategies file (Jaeger's `--sampling.strategies-file`),
//! how often it is re-read, the probability used when there is no file, and the two listeners.
//! Unknown keys are rejected.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Jaeger's default sampling probability when no strategy says otherwise
/// (`samplingstrategy/file/constants.go`).
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

/// What Jaeger's all-in-one configures instead: sample everything.
pub const ALL_IN_ONE_SAMPLING_PROBABILITY: f64 = 1.0;

/// Remote sampling (spec §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Jaeger's strategies JSON file (`--sampling.strategies-file`). `None` (or an empty path):
    /// every service gets probabilistic sampling at `default_sampling_probability`.
    pub strategies_file: Option<PathBuf>,
    /// The probability of the default probabilistic strategy: the answer without a file, for a
    /// strategy of unknown type, and the per-operation default of a rate-limiting service with its
    /// own operations. In [0, 1]. Jaeger's default is 0.001; its all-in-one uses 1.
    pub default_sampling_probability: f64,
    /// How often the strategies file is read again; a changed file replaces the strategies in use
    /// (an invalid one is refused and the old strategies stay). Text such as `5s` or `1m`; `0`
    /// disables re-reading (Jaeger's `reload_interval`, whose default there is 0).
    #[serde(with = "duration_text")]
    pub reload_interval: Duration,
    /// HTTP listener for clients (Jaeger's 5778: any path with `?service=`), `host:port`; `:5778`
    /// is every interface (dual-stack). Empty disables it.
    pub http_host_port: String,
    /// gRPC `jaeger.api_v2.SamplingManager` listener (Jaeger's 5779). Empty disables it.
    pub grpc_host_port: String,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            strategies_file: None,
            default_sampling_probability: DEFAULT_SAMPLING_PROBABILITY,
            reload_interval: Duration::from_secs(5),
            http_host_port: ":5778".to_owned(),
            grpc_host_port: ":5779".to_owned(),
        }
    }
}

impl SamplingConfig {
    /// The all-in-one defaults: as [`SamplingConfig::default`], but sampling everything when no
    /// strategy says otherwise (Jaeger's `all-in-one.yaml`).
    pub fn all_in_one() -> Self {
        Self { default_sampling_probability: ALL_IN_ONE_SAMPLING_PROBABILITY, ..Self::default() }
    }

    /// The strategies file, if one is configured (an empty path counts as none, as in Jaeger).
    pub fn strategies_path(&self) -> Option<&std::path::Path> {
        self.strategies_file.as_deref().filter(|path| !path.as_os_str().is_empty())
    }

    /// Checks the values serde cannot: the probability range.
    pub fn validate(&self) -> Result<(), String> {
        let probability = self.default_sampling_probability;
        if !(0.0..=1.0).contains(&probability) {
            return Err(format!("default_sampling_probability must be between 0 and 1, got {probability}"));
        }
        Ok(())
    }
}

/// Durations as text (`5s`, `1m30s`, `500ms`, `0`).
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map_err(|error| serde::de::Error::custom(format!("invalid duration {text:?}: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_jaeger_defaults() {
        let config: SamplingConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, SamplingConfig::default());
        assert_eq!(config.default_sampling_probability, 0.001);
        assert_eq!(config.http_host_port, ":5778");
        assert_eq!(config.grpc_host_port, ":5779");
        assert_eq!(SamplingConfig::all_in_one().default_sampling_probability, 1.0);
    }

    #[test]
    fn reload_interval_is_text_with_units() {
        let config: SamplingConfig =
            serde_json::from_str(r#"{"reload_interval": "1m30s", "strategies_file": "/etc/s.json"}"#).unwrap();
        assert_eq!(config.reload_interval, Duration::from_secs(90));
        assert_eq!(config.strategies_path(), Some(std::path::Path::new("/etc/s.json")));
        let disabled: SamplingConfig = serde_json::from_str(r#"{"reload_interval": "0"}"#).unwrap();
        assert_eq!(disabled.reload_interval, Duration::ZERO);
        let error = serde_json::from_str::<SamplingConfig>(r#"{"reload_interval": "soon"}"#).unwrap_err();
        assert!(error.to_string().contains("soon"), "{error}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = serde_json::from_str::<SamplingConfig>(r#"{"strategies-file": "x"}"#).unwrap_err();
        assert!(error.to_string().contains("strategies-file"), "{error}");
    }

    #[test]
    fn an_empty_path_means_no_file() {
        let config = SamplingConfig { strategies_file: Some(PathBuf::new()), ..SamplingConfig::default() };
        assert_eq!(config.strategies_path(), None);
    }

    #[test]
    fn probability_outside_zero_to_one_is_refused() {
        let config = SamplingConfig { default_sampling_probability: 1.5, ..SamplingConfig::default() };
        assert!(config.validate().unwrap_err().contains("1.5"));
        assert!(SamplingConfig::all_in_one().validate().is_ok());
    }
}
