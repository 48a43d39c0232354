//! Command-line options, layered: built-in default < TOML file (`--config-file`) < environment
//! (`SPOOR_<KEY>`, and Jaeger's own unprefixed name for options Jaeger has) < flag.
//!
//! Every option has one dotted key, used unchanged as the flag (`--collector.otlp.grpc.host-port`)
//! and as the TOML key (`collector.otlp.grpc.host-port = ":4317"`, or nested tables), so users of
//! the Jaeger Operator's `options:` carry their settings over as they are.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

/// One option a role accepts.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The dotted key, also the flag name.
    pub key: &'static str,
    /// Other accepted flag names (older Jaeger names).
    pub aliases: &'static [&'static str],
    /// The built-in default; `None` means unset.
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Jaeger has this flag: its unprefixed environment variable (`QUERY_BASE_PATH`) is read too.
    pub jaeger: bool,
}

impl OptionSpec {
    pub const fn new(key: &'static str, default: Option<&'static str>, help: &'static str) -> Self {
        Self { key, aliases: &[], default, help, jaeger: false }
    }

    /// Marks the option as one Jaeger has under the same name.
    pub const fn jaeger(mut self) -> Self {
        self.jaeger = true;
        self
    }

    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// `SPOOR_COLLECTOR_OTLP_GRPC_HOST_PORT` for `collector.otlp.grpc.host-port`.
    pub fn env_name(&self) -> String {
        format!("SPOOR_{}", jaeger_env_name(self.key))
    }
}

/// Jaeger's (viper's) environment name for a flag: upper case, `.` and `-` as `_`.
fn jaeger_env_name(key: &str) -> String {
    key.chars().map(|c| if c == '.' || c == '-' { '_' } else { c.to_ascii_uppercase() }).collect()
}

/// The option that names the TOML file.
pub const CONFIG_FILE: OptionSpec = OptionSpec::new(
    "config-file",
    None,
    "TOML file with options (same keys as the flags, e.g. `query.base-path = \"/jaeger\"`)",
)
.jaeger();

/// Adds the options as `--key VALUE` arguments to a clap command, with help naming the
/// environment variable and the default.
pub fn add_to_command(mut command: Command, specs: &[OptionSpec]) -> Command {
    for spec in specs {
        let mut help = spec.help.to_owned();
        help.push_str(&format!(" [env: {}]", spec.env_name()));
        if let Some(default) = spec.default {
            help.push_str(&format!(" [default: {}]", if default.is_empty() { "\"\"" } else { default }));
        }
        let mut arg = Arg::new(spec.key).long(spec.key).value_name("VALUE").action(ArgAction::Set).help(help);
        for alias in spec.aliases {
            arg = arg.alias(*alias);
        }
        command = command.arg(arg);
    }
    command
}

/// Why the options could not be resolved. Every message names the option or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("config file {path}: unknown option `{key}`")]
    UnknownFileKey { path: PathBuf, key: String },
    #[error("invalid value {value:?} for option --{key} (from {origin}): {reason}")]
    Invalid { key: String, value: String, origin: Origin, reason: String },
    #[error("option --{0} is required")]
    Missing(String),
}

/// Where a value came from, for error messages and the effective-config log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default"),
            Self::File(path) => write!(f, "config file {}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::Flag => f.write_str("the command line"),
        }
    }
}

/// The resolved options of one role.
#[derive(Debug)]
pub struct Settings {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Settings {
    /// Resolves `specs` from flags, the environment map and the TOML file named by
    /// `--config-file`. `all_known_keys` are the keys of every role: a file key unknown to every
    /// role is an error, one that belongs to another role is ignored (one file can serve all).
    pub fn resolve(
        specs: &[OptionSpec],
        all_known_keys: &[&str],
        matches: &ArgMatches,
        env: &HashMap<String, String>,
    ) -> Result<Self, OptionsError> {
        let file_path = lookup_flag(matches, CONFIG_FILE.key)
            .or_else(|| env.get(&CONFIG_FILE.env_name()).cloned())
            .or_else(|| env.get(&jaeger_env_name(CONFIG_FILE.key)).cloned())
            .map(PathBuf::from);
        let file_values = match &file_path {
            Some(path) => read_toml(path, all_known_keys)?,
            None => BTreeMap::new(),
        };

        let mut values = BTreeMap::new();
        for spec in specs {
            let resolved = if let Some(flag) = lookup_flag(matches, spec.key) {
                Some((flag, Origin::Flag))
            } else if let Some(value) = env.get(&spec.env_name()) {
                Some((value.clone(), Origin::Env(spec.env_name())))
            } else if let Some(value) =
                spec.jaeger.then(|| jaeger_env_name(spec.key)).and_then(|n| env.get(&n).map(|v| (n, v)))
            {
                Some((value.1.clone(), Origin::Env(value.0)))
            } else if let Some(value) = file_values.get(spec.key) {
                Some((value.clone(), Origin::File(file_path.clone().unwrap_or_default())))
            } else {
                spec.default.map(|d| (d.to_owned(), Origin::Default))
            };
            if let Some(value) = resolved {
                values.insert(spec.key, value);
            }
        }
        Ok(Self { values })
    }

    pub fn string(&self, key: &str) -> Result<String, OptionsError> {
        self.optional_string(key).ok_or_else(|| OptionsError::Missing(key.to_owned()))
    }

    pub fn optional_string(&self, key: &str) -> Option<String> {
        self.values.get(key).map(|(v, _)| v.clone())
    }

    /// Parses with `FromStr`; the error names the option, the value and where it came from.
    pub fn parse<T>(&self, key: &str) -> Result<T, OptionsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let (value, origin) = self.values.get(key).ok_or_else(|| OptionsError::Missing(key.to_owned()))?;
        value.trim().parse::<T>().map_err(|e| self.invalid(key, value, origin, e.to_string()))
    }

    pub fn bool(&self, key: &str) -> Result<bool, OptionsError> {
        let (value, origin) = self.values.get(key).ok_or_else(|| OptionsError::Missing(key.to_owned()))?;
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.invalid(key, value, origin, "expected true or false".into())),
        }
    }

    /// A Go-style duration (`72h`, `500ms`).
    pub fn duration(&self, key: &str) -> Result<Duration, OptionsError> {
        let (value, origin) = self.values.get(key).ok_or_else(|| OptionsError::Missing(key.to_owned()))?;
        spoor_model::duration::parse_go_duration(value).map_err(|e| self.invalid(key, value, origin, e.to_string()))
    }

    /// A size in bytes: a plain number or one with a unit (`KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`).
    pub fn bytes(&self, key: &str) -> Result<u64, OptionsError> {
        let (value, origin) = self.values.get(key).ok_or_else(|| OptionsError::Missing(key.to_owned()))?;
        parse_bytes(value).map_err(|reason| self.invalid(key, value, origin, reason))
    }

    /// One of a fixed set of words; the error lists them.
    pub fn choice(&self, key: &str, allowed: &[&str]) -> Result<String, OptionsError> {
        let (value, origin) = self.values.get(key).ok_or_else(|| OptionsError::Missing(key.to_owned()))?;
        let trimmed = value.trim();
        if allowed.contains(&trimmed) {
            Ok(trimmed.to_owned())
        } else {
            Err(self.invalid(key, value, origin, format!("expected one of {}", allowed.join(", "))))
        }
    }

    fn invalid(&self, key: &str, value: &str, origin: &Origin, reason: String) -> OptionsError {
        OptionsError::Invalid { key: key.to_owned(), value: value.to_owned(), origin: origin.clone(), reason }
    }

    /// The effective options with their origins, for the start-up log line. Option values are
    /// never secrets (secrets are read from the files the options name).
    pub fn describe(&self) -> String {
        self.values.iter().map(|(k, (v, _))| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

fn lookup_flag(matches: &ArgMatches, key: &str) -> Option<String> {
    matches.try_get_one::<String>(key).ok().flatten().cloned()
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| "expected a number of bytes, e.g. 268435456 or 256MiB".to_owned())?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("unknown size unit {other:?} (use B, KiB, MiB, GiB, KB, MB or GB)")),
    };
    number.checked_mul(multiplier).ok_or_else(|| "size too large".to_owned())
}

/// Reads the TOML file into dotted keys. Nested tables and dotted keys are both accepted.
fn read_toml(path: &PathBuf, all_known_keys: &[&str]) -> Result<BTreeMap<String, String>, OptionsError> {
    let text = std::fs::read_to_string(path).map_err(|source| OptionsError::ReadFile { path: path.clone(), source })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| OptionsError::ParseFile { path: path.clone(), message: e.to_string() })?;
    let mut flat = BTreeMap::new();
    flatten(&table, "", &mut flat);
    for key in flat.keys() {
        if key != CONFIG_FILE.key && !all_known_keys.contains(&key.as_str()) {
            return Err(OptionsError::UnknownFileKey { path: path.clone(), key: key.clone() });
        }
    }
    Ok(flat)
}

fn flatten(table: &toml::Table, prefix: &str, out: &mut BTreeMap<String, String>) {
    for (key, value) in table {
        let full = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => flatten(inner, &full, out),
            toml::Value::String(s) => {
                out.insert(full, s.clone());
            }
            toml::Value::Array(items) => {
                let joined = items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                out.insert(full, joined);
            }
            other => {
                out.insert(full, other.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec::new("query.base-path", Some("/"), "base path").jaeger(),
        OptionSpec::new("data-dir", Some("./spoor-data"), "data dir"),
        OptionSpec::new("collector.queue-bytes", Some("1MiB"), "bytes"),
        CONFIG_FILE,
    ];

    fn keys() -> Vec<&'static str> {
        SPECS.iter().map(|s| s.key).collect()
    }

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, OptionsError> {
        let command = add_to_command(Command::new("t"), SPECS);
        let matches = command.try_get_matches_from(std::iter::once("t").chain(args.iter().copied())).unwrap();
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::resolve(SPECS, &keys(), &matches, &env)
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spoor.toml");
        std::fs::write(&file, "data-dir = \"/from-file\"\n[query]\nbase-path = \"/file\"\n").unwrap();
        let file_arg = file.to_str().unwrap();

        let s = resolve(&["--config-file", file_arg], &[]).unwrap();
        assert_eq!(s.string("data-dir").unwrap(), "/from-file");
        assert_eq!(s.string("query.base-path").unwrap(), "/file");

        let s = resolve(&["--config-file", file_arg], &[("QUERY_BASE_PATH", "/jaeger-env")]).unwrap();
        assert_eq!(s.string("query.base-path").unwrap(), "/jaeger-env");

        let s = resolve(&["--config-file", file_arg], &[("SPOOR_QUERY_BASE_PATH", "/env"), ("QUERY_BASE_PATH", "/j")])
            .unwrap();
        assert_eq!(s.string("query.base-path").unwrap(), "/env");

        let s =
            resolve(&["--config-file", file_arg, "--query.base-path", "/flag"], &[("SPOOR_QUERY_BASE_PATH", "/env")])
                .unwrap();
        assert_eq!(s.string("query.base-path").unwrap(), "/flag");

        let s = resolve(&[], &[]).unwrap();
        assert_eq!(s.string("data-dir").unwrap(), "./spoor-data");
    }

    #[test]
    fn unprefixed_env_is_read_only_for_jaeger_options() {
        let s = resolve(&[], &[("DATA_DIR", "/nope")]).unwrap();
        assert_eq!(s.string("data-dir").unwrap(), "./spoor-data");
    }

    #[test]
    fn unknown_file_key_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spoor.toml");
        std::fs::write(&file, "query.base-paht = \"/x\"\n").unwrap();
        let err = resolve(&["--config-file", file.to_str().unwrap()], &[]).unwrap_err();
        assert!(err.to_string().contains("unknown option `query.base-paht`"), "{err}");
    }

    #[test]
    fn bad_value_error_names_option_value_and_origin() {
        let s = resolve(&["--collector.queue-bytes", "lots"], &[]).unwrap();
        let err = s.bytes("collector.queue-bytes").unwrap_err().to_string();
        assert!(
            err.contains("--collector.queue-bytes") && err.contains("lots") && err.contains("command line"),
            "{err}"
        );
    }

    #[test]
    fn sizes_accept_units() {
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("5 parsecs").is_err());
    }
}
