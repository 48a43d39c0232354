//! Jaeger's rules for turning a strategies file into the answer each service gets
//! (`samplingstrategy/file/provider.go`, spec §2.4). Where the spec's summary and Jaeger's code
//! differ, the code is followed:
//!
//! - `type` `probabilistic` answers `PROBABILISTIC` with `param` as the rate; `ratelimiting`
//!   answers `RATE_LIMITING` with `param` truncated toward zero to an `int32` traces/s (`0.9`
//!   gives 0). Any other type (also a missing one) is warned about and answers the default
//!   probabilistic strategy (the configured default probability).
//! - `operation_strategies` (when the list is non-empty) become `operationSampling` with
//!   `defaultSamplingProbability` = the strategy's own rate when it is probabilistic, else the
//!   configured default probability; the lower and upper bounds are 0. Entries of type
//!   `ratelimiting` are dropped with a warning; an entry of unknown type is kept as probabilistic
//!   at the configured default probability (Jaeger parses it like any strategy).
//! - When `default_strategy` has operation strategies, each service without its own gets a copy
//!   of them. The copy's `defaultSamplingProbability` becomes the service's rate when the service
//!   is probabilistic, and stays the default strategy's value when it is rate-limiting (the spec
//!   says "the configured default"; the code keeps the default strategy's). A service with its
//!   own list gets the default's operations whose names it does not list appended, in order.
//! - A service not in the file gets `default_strategy`; no `default_strategy` (or no file) gives
//!   probabilistic at the configured default probability. A service listed twice: the last wins.
//!
//! Out-of-range `ratelimiting` params saturate (`1e12` gives 2147483647). Go's conversion is
//! undefined there (amd64 gives -2147483648, arm64 saturates).

use std::collections::HashMap;
use std::fmt;

use spoor_model::proto::jaeger::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    RateLimitingSamplingStrategy, SamplingStrategyResponse, SamplingStrategyType,
};

use crate::sampling::file::{self, FileFormatError, ServiceSpec, StrategiesFile, StrategySpec};

const PROBABILISTIC: &str = "probabilistic";
const RATE_LIMITING: &str = "ratelimiting";

/// The answer for every service, built once per version of the strategies file.
#[derive(Clone, Debug, PartialEq)]
pub struct Strategies {
    default_strategy: SamplingStrategyResponse,
    service_strategies: HashMap<String, SamplingStrategyResponse>,
}

/// Something in the file Jaeger accepts but warns about.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyWarning {
    /// `type` is neither `probabilistic` nor `ratelimiting`: the default probabilistic strategy
    /// is used in its place.
    UnknownType { location: String, strategy_type: String, default_probability: f64 },
    /// A `ratelimiting` operation strategy, which the protocol cannot carry: the entry is dropped,
    /// so the operation gets the service's default probability.
    RateLimitedOperationDropped { location: String, operation: String, default_probability: f64 },
}

impl fmt::Display for StrategyWarning {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType { location, strategy_type, default_probability } => write!(
                formatter,
                "{location}: unknown strategy type {strategy_type:?} (expected probabilistic or ratelimiting), \
                 using probabilistic sampling with probability {default_probability}"
            ),
            Self::RateLimitedOperationDropped { location, operation, default_probability } => write!(
                formatter,
                "{location}: operation {operation:?} is ratelimiting, but operation strategies support only \
                 probabilistic sampling; the entry is ignored and the operation uses probability {default_probability}"
            ),
        }
    }
}

impl Strategies {
    /// Every service sampled with probability `default_probability` (no strategies file).
    pub fn defaults(default_probability: f64) -> Self {
        Self { default_strategy: default_response(default_probability), service_strategies: HashMap::new() }
    }

    /// Decodes a strategies file and applies Jaeger's rules. A file holding `null` gives the
    /// defaults.
    pub fn parse(bytes: &[u8], default_probability: f64) -> Result<(Self, Vec<StrategyWarning>), FileFormatError> {
        let file = file::decode(bytes)?;
        Ok(Self::from_file(file.as_ref(), default_probability))
    }

    /// Applies Jaeger's rules to a decoded file (`None`: the defaults).
    pub fn from_file(file: Option<&StrategiesFile>, default_probability: f64) -> (Self, Vec<StrategyWarning>) {
        let mut builder = Builder { default_probability, warnings: Vec::new() };
        let mut strategies = Self::defaults(default_probability);
        let Some(file) = file else { return (strategies, builder.warnings) };
        if let Some(default_spec) = &file.default_strategy {
            strategies.default_strategy = builder.service_response(default_spec, "default_strategy");
        }
        for service_spec in file.service_strategies.iter().flatten() {
            let location = format!("service {:?}", service_spec.service);
            let mut response = builder.service_response(service_spec, &location);
            if let Some(default_operations) = &strategies.default_strategy.operation_sampling {
                add_default_operations(&mut response, default_operations);
            }
            strategies.service_strategies.insert(service_spec.service.clone(), response);
        }
        (strategies, builder.warnings)
    }

    /// The answer for `service`: its own strategy, else the default strategy.
    pub fn for_service(&self, service: &str) -> &SamplingStrategyResponse {
        self.service_strategies.get(service).unwrap_or(&self.default_strategy)
    }

    /// The answer for services the file does not list.
    pub fn default_strategy(&self) -> &SamplingStrategyResponse {
        &self.default_strategy
    }

    /// How many services have their own strategy.
    pub fn service_count(&self) -> usize {
        self.service_strategies.len()
    }
}

/// Probabilistic sampling at `probability` (Jaeger's `defaultStrategyResponse`).
pub fn default_response(probability: f64) -> SamplingStrategyResponse {
    probabilistic_response(probability)
}

fn probabilistic_response(probability: f64) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: probability }),
        rate_limiting_sampling: None,
        operation_sampling: None,
    }
}

/// A service without its own operation strategies inherits a copy of the default's; one with its
/// own gets the default's operations it does not name appended (Jaeger's
/// `mergePerOperationSamplingStrategies`: names are compared with the service's own list only).
fn add_default_operations(
    response: &mut SamplingStrategyResponse,
    default_operations: &PerOperationSamplingStrategies,
) {
    match &mut response.operation_sampling {
        None => {
            let mut inherited = default_operations.clone();
            if let Some(probabilistic) = &response.probabilistic_sampling {
                inherited.default_sampling_probability = probabilistic.sampling_rate;
            }
            response.operation_sampling = Some(inherited);
        }
        Some(own) => {
            let own_names: std::collections::HashSet<String> =
                own.per_operation_strategies.iter().map(|operation| operation.operation.clone()).collect();
            let missing = default_operations
                .per_operation_strategies
                .iter()
                .filter(|operation| !own_names.contains(&operation.operation))
                .cloned();
            own.per_operation_strategies.extend(missing);
        }
    }
}

struct Builder {
    default_probability: f64,
    warnings: Vec<StrategyWarning>,
}

impl Builder {
    /// Jaeger's `parseServiceStrategies`.
    fn service_response(&mut self, spec: &ServiceSpec, location: &str) -> SamplingStrategyResponse {
        let mut response = self.strategy_response(&spec.strategy, location);
        let operation_specs = spec.operation_strategies.as_deref().unwrap_or_default();
        if operation_specs.is_empty() {
            return response;
        }
        let default_sampling_probability = match &response.probabilistic_sampling {
            Some(probabilistic) if response.strategy_type == SamplingStrategyType::Probabilistic as i32 => {
                probabilistic.sampling_rate
            }
            _ => self.default_probability,
        };
        let mut per_operation_strategies = Vec::with_capacity(operation_specs.len());
        for operation_spec in operation_specs {
            let operation_location = format!("{location} operation {:?}", operation_spec.operation);
            let operation_response = self.strategy_response(&operation_spec.strategy, &operation_location);
            if operation_response.strategy_type == SamplingStrategyType::RateLimiting as i32 {
                self.warnings.push(StrategyWarning::RateLimitedOperationDropped {
                    location: location.to_owned(),
                    operation: operation_spec.operation.clone(),
                    default_probability: default_sampling_probability,
                });
                continue;
            }
            per_operation_strategies.push(OperationSamplingStrategy {
                operation: operation_spec.operation.clone(),
                probabilistic_sampling: operation_response.probabilistic_sampling,
            });
        }
        response.operation_sampling = Some(PerOperationSamplingStrategies {
            default_sampling_probability,
            default_lower_bound_traces_per_second: 0.0,
            per_operation_strategies,
            default_upper_bound_traces_per_second: 0.0,
        });
        response
    }

    /// Jaeger's `parseStrategy`.
    fn strategy_response(&mut self, spec: &StrategySpec, location: &str) -> SamplingStrategyResponse {
        match spec.strategy_type.as_str() {
            PROBABILISTIC => probabilistic_response(spec.param),
            RATE_LIMITING => SamplingStrategyResponse {
                strategy_type: SamplingStrategyType::RateLimiting as i32,
                probabilistic_sampling: None,
                rate_limiting_sampling: Some(RateLimitingSamplingStrategy {
                    max_traces_per_second: truncate_to_i32(spec.param),
                }),
                operation_sampling: None,
            },
            other => {
                self.warnings.push(StrategyWarning::UnknownType {
                    location: location.to_owned(),
                    strategy_type: other.to_owned(),
                    default_probability: self.default_probability,
                });
                default_response(self.default_probability)
            }
        }
    }
}

/// Go's `int32(float64)` for values in range: truncation toward zero. Out of range saturates.
#[allow(clippy::cast_possible_truncation)]
fn truncate_to_i32(value: f64) -> i32 {
    value as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Strategies, Vec<StrategyWarning>) {
        Strategies::parse(text.as_bytes(), 0.001).unwrap()
    }

    fn operations(response: &SamplingStrategyResponse) -> Vec<(String, f64)> {
        let sampling = response.operation_sampling.as_ref().expect("operation sampling");
        sampling
            .per_operation_strategies
            .iter()
            .map(|operation| (operation.operation.clone(), operation.probabilistic_sampling.unwrap().sampling_rate))
            .collect()
    }

    fn names_and_rates(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(name, rate)| ((*name).to_owned(), *rate)).collect()
    }

    #[test]
    fn ratelimiting_param_is_truncated_to_an_integer() {
        let (strategies, warnings) = parse(
            r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": 3.5},
                {"service": "b", "type": "ratelimiting", "param": 0.9},
                {"service": "c", "type": "ratelimiting", "param": -2.7},
                {"service": "d", "type": "ratelimiting", "param": 1e12}]}"#,
        );
        assert!(warnings.is_empty());
        let rate = |service| strategies.for_service(service).rate_limiting_sampling.unwrap().max_traces_per_second;
        assert_eq!((rate("a"), rate("b"), rate("c"), rate("d")), (3, 0, -2, i32::MAX));
        assert_eq!(strategies.for_service("a").strategy_type, SamplingStrategyType::RateLimiting as i32);
        assert_eq!(strategies.for_service("a").probabilistic_sampling, None);
    }

    #[test]
    fn unknown_or_missing_type_warns_and_uses_the_default_probability() {
        let (strategies, warnings) = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
                "service_strategies": [{"service": "a", "type": "blah", "param": 3.5}, {"service": "b"}]}"#,
        );
        assert_eq!(strategies.for_service("a"), &default_response(0.001));
        assert_eq!(strategies.for_service("b"), &default_response(0.001));
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].to_string().contains(r#"unknown strategy type "blah""#), "{}", warnings[0]);
    }

    #[test]
    fn unknown_services_get_the_default_strategy_and_no_file_gets_the_configured_probability() {
        let (strategies, _) = parse(r#"{"default_strategy": {"type": "ratelimiting", "param": 7}}"#);
        assert_eq!(strategies.for_service("anything").rate_limiting_sampling.unwrap().max_traces_per_second, 7);
        assert_eq!(Strategies::defaults(1.0).for_service("x"), &default_response(1.0));
        let (from_null, _) = parse("null");
        assert_eq!(from_null, Strategies::defaults(0.001));
        let (no_default, _) = parse(r#"{"service_strategies": []}"#);
        assert_eq!(no_default.for_service("x"), &default_response(0.001));
    }

    #[test]
    fn operation_strategies_keep_only_probabilistic_entries() {
        let (strategies, warnings) = parse(
            r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": 0.8,
                "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2},
                  {"operation": "op2", "type": "ratelimiting", "param": 10}]}]}"#,
        );
        let foo = strategies.for_service("foo");
        assert_eq!(operations(foo), names_and_rates(&[("op1", 0.2)]));
        let sampling = foo.operation_sampling.as_ref().unwrap();
        assert_eq!(sampling.default_sampling_probability, 0.8);
        assert_eq!(sampling.default_lower_bound_traces_per_second, 0.0);
        assert_eq!(sampling.default_upper_bound_traces_per_second, 0.0);
        assert_eq!(
            warnings,
            vec![StrategyWarning::RateLimitedOperationDropped {
                location: r#"service "foo""#.into(),
                operation: "op2".into(),
                default_probability: 0.8
            }]
        );
    }

    #[test]
    fn operation_of_unknown_type_is_kept_at_the_configured_probability() {
        let (strategies, warnings) = parse(
            r#"{"service_strategies": [{"service": "foo", "type": "probabilistic", "param": 0.8,
                "operation_strategies": [{"operation": "op1", "type": "sometimes", "param": 0.2}]}]}"#,
        );
        assert_eq!(operations(strategies.for_service("foo")), names_and_rates(&[("op1", 0.001)]));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn rate_limited_service_operations_default_to_the_configured_probability() {
        let (strategies, _) = parse(
            r#"{"service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 5,
                "operation_strategies": [{"operation": "op3", "type": "probabilistic", "param": 0.3}]}]}"#,
        );
        let bar = strategies.for_service("bar");
        assert_eq!(bar.operation_sampling.as_ref().unwrap().default_sampling_probability, 0.001);
        assert_eq!(bar.rate_limiting_sampling.unwrap().max_traces_per_second, 5);
    }

    #[test]
    fn services_without_operations_inherit_the_default_operations_with_their_own_rate() {
        let (strategies, _) = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.2,
                  "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.1}]},
                "service_strategies": [{"service": "A", "type": "probabilistic", "param": 1.0},
                  {"service": "B", "type": "ratelimiting", "param": 3}]}"#,
        );
        let a = strategies.for_service("A");
        assert_eq!(a.operation_sampling.as_ref().unwrap().default_sampling_probability, 1.0);
        assert_eq!(operations(a), names_and_rates(&[("/health", 0.1)]));
        // Jaeger's code keeps the default strategy's probability for a rate-limited service.
        let b = strategies.for_service("B");
        assert_eq!(b.operation_sampling.as_ref().unwrap().default_sampling_probability, 0.2);
        assert_eq!(operations(b), names_and_rates(&[("/health", 0.1)]));
    }

    #[test]
    fn services_with_operations_get_the_missing_default_operations_appended() {
        let (strategies, warnings) = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [
                  {"operation": "op0", "type": "probabilistic", "param": 0.2},
                  {"operation": "op6", "type": "probabilistic", "param": 0},
                  {"operation": "spam", "type": "ratelimiting", "param": 1},
                  {"operation": "op7", "type": "probabilistic", "param": 1}]},
                "service_strategies": [
                  {"service": "foo", "type": "probabilistic", "param": 0.8, "operation_strategies": [
                    {"operation": "op6", "type": "probabilistic", "param": 0.5},
                    {"operation": "op1", "type": "probabilistic", "param": 0.2},
                    {"operation": "op2", "type": "ratelimiting", "param": 10}]},
                  {"service": "bar", "type": "ratelimiting", "param": 5, "operation_strategies": [
                    {"operation": "op3", "type": "probabilistic", "param": 0.3},
                    {"operation": "op4", "type": "ratelimiting", "param": 100},
                    {"operation": "op5", "type": "probabilistic", "param": 0.4}]}]}"#,
        );
        assert_eq!(
            operations(strategies.for_service("foo")),
            names_and_rates(&[("op6", 0.5), ("op1", 0.2), ("op0", 0.2), ("op7", 1.0)])
        );
        assert_eq!(
            operations(strategies.for_service("bar")),
            names_and_rates(&[("op3", 0.3), ("op5", 0.4), ("op0", 0.2), ("op6", 0.0), ("op7", 1.0)])
        );
        assert_eq!(
            operations(strategies.for_service("unknown")),
            names_and_rates(&[("op0", 0.2), ("op6", 0.0), ("op7", 1.0)])
        );
        let dropped: Vec<String> = warnings
            .iter()
            .filter_map(|warning| match warning {
                StrategyWarning::RateLimitedOperationDropped { operation, .. } => Some(operation.clone()),
                StrategyWarning::UnknownType { .. } => None,
            })
            .collect();
        assert_eq!(dropped, ["spam", "op2", "op4"]);
    }

    #[test]
    fn an_empty_operation_list_counts_as_none() {
        let (strategies, _) = parse(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5,
                  "operation_strategies": [{"operation": "op0", "type": "probabilistic", "param": 0.2}]},
                "service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.3, "operation_strategies": []}]}"#,
        );
        let a = strategies.for_service("a");
        assert_eq!(a.operation_sampling.as_ref().unwrap().default_sampling_probability, 0.3);
        assert_eq!(operations(a), names_and_rates(&[("op0", 0.2)]));
    }

    #[test]
    fn a_service_listed_twice_takes_the_last_entry() {
        let (strategies, _) = parse(
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.3},
                {"service": "a", "type": "ratelimiting", "param": 4}]}"#,
        );
        assert_eq!(strategies.service_count(), 1);
        assert_eq!(strategies.for_service("a").rate_limiting_sampling.unwrap().max_traces_per_second, 4);
    }
}
