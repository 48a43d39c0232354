//! The `spoor` binary: one executable, one subcommand per role. A bare `spoor` runs `all-in-one`.
#![forbid(unsafe_code)]

mod admin;
mod all_in_one;
mod options;
mod receivers;
mod shutdown;
mod specs;
mod storage;

use std::collections::HashMap;

use anyhow::Context;
use clap::Command;

use crate::options::{OptionSpec, Settings};

/// mimalloc instead of glibc's allocator: spans are many small, short-lived allocations freed on
/// other threads than the ones that made them, where glibc's arenas cost measurably more (ADR 005).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cli() -> Command {
    let all_in_one = options::add_to_command(
        Command::new("all-in-one").about("Collector, query service and embedded store in one process (the default)"),
        &specs::all_in_one(),
    );
    Command::new("spoor")
        .about("Spoor: a Jaeger-compatible tracing collector, store and query service")
        .long_about(
            "Spoor: a Jaeger-compatible tracing collector, store and query service.\n\n\
             Options come from flags, then SPOOR_<KEY> environment variables (Jaeger's own unprefixed \
             names too, e.g. QUERY_BASE_PATH), then the TOML file named by --config-file, then defaults. \
             Run `spoor <role> --help` for a role's options. A bare `spoor` runs all-in-one with its defaults.",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand(all_in_one)
        .args_conflicts_with_subcommands(true)
}

fn main() -> anyhow::Result<()> {
    let matches = cli().get_matches();
    let env: HashMap<String, String> = std::env::vars().collect();
    let (role, role_matches) = match matches.subcommand() {
        Some((name, sub)) => (name.to_owned(), sub.clone()),
        None => {
            // A bare `spoor` is `spoor all-in-one` with no flags.
            let sub = cli().get_matches_from(["spoor", "all-in-one"]);
            ("all-in-one".to_owned(), sub.subcommand_matches("all-in-one").cloned().context("all-in-one")?)
        }
    };
    let specs: Vec<OptionSpec> = match role.as_str() {
        "all-in-one" => specs::all_in_one(),
        other => anyhow::bail!("unknown role {other}"),
    };
    let settings = Settings::resolve(&specs, &specs::all_keys(), &role_matches, &env)?;
    init_logging(&settings.string("log-level")?)?;
    tracing::info!(role = %role, version = env!("CARGO_PKG_VERSION"), options = %settings.describe(), "starting spoor");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let result = match role.as_str() {
        "all-in-one" => runtime.block_on(all_in_one::run(settings)),
        _ => unreachable!("roles are checked above"),
    };
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "spoor stopped with an error");
    }
    result
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => from_env,
        _ => level.to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid value {level:?} for option --log-level"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    Ok(())
}
