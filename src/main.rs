//! The `spoor` binary: one executable, one subcommand per role. A bare `spoor` runs `all-in-one`.
#![forbid(unsafe_code)]

mod admin;
mod all_in_one;
mod collector;
mod es_tools;
mod ingester;
mod kafka_security;
mod options;
mod query;
mod query_servers;
mod receivers;
mod shutdown;
mod specs;
mod storage;
mod tls_options;

use std::collections::HashMap;

use anyhow::Context;
use clap::Command;

use crate::options::{OptionSpec, Settings};

/// mimalloc instead of glibc's allocator: spans are many small, short-lived allocations freed on
/// other threads than the ones that made them, where glibc's arenas cost measurably more (ADR 005).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The roles, with their options. Each is `spoor <name>`.
fn roles() -> Vec<(&'static str, &'static str, Vec<OptionSpec>)> {
    vec![
        ("all-in-one", "Collector, query service and embedded store in one process (the default)", specs::all_in_one()),
        (
            "collector",
            "Receivers (OTLP, Jaeger, Zipkin, sampling) writing to a store, or to Kafka with --span-storage.type=kafka",
            specs::collector(),
        ),
        (
            "ingester",
            "Kafka consumer group writing spans to a store (Elasticsearch by default), at least once",
            specs::ingester(),
        ),
        ("query", "Jaeger's query APIs (HTTP, gRPC, remote storage) and the trace viewer over a store", specs::query()),
        (
            "es-index-cleaner",
            "Deletes daily Jaeger indices older than NUM_OF_DAYS (Jaeger's es-index-cleaner)",
            specs::es_index_cleaner(),
        ),
        (
            "es-rollover",
            "Jaeger's es-rollover: init, rollover or lookback of the read/write aliases",
            specs::es_rollover(),
        ),
        (
            "dependencies",
            "Computes the service dependency graph from stored spans into Jaeger's dependencies index",
            specs::dependencies(),
        ),
    ]
}

fn cli() -> Command {
    let mut command = Command::new("spoor");
    for (name, about, specs) in roles() {
        let mut sub = options::add_to_command(Command::new(name).about(about), &specs);
        sub = es_tools::add_positionals(name, sub);
        command = command.subcommand(sub);
    }
    command
        .about("Spoor: a Jaeger-compatible tracing collector, store and query service")
        .long_about(
            "Spoor: a Jaeger-compatible tracing collector, store and query service.\n\n\
             Options come from flags, then SPOOR_<KEY> environment variables (Jaeger's own unprefixed \
             names too, e.g. QUERY_BASE_PATH), then the TOML file named by --config-file, then defaults. \
             Run `spoor <role> --help` for a role's options. A bare `spoor` runs all-in-one with its defaults.",
        )
        .version(env!("CARGO_PKG_VERSION"))
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
    let specs: Vec<OptionSpec> = roles()
        .into_iter()
        .find(|(name, _, _)| *name == role)
        .map(|(_, _, specs)| specs)
        .with_context(|| format!("unknown role {role}"))?;
    let settings = Settings::resolve(&specs, &specs::all_keys(), &role_matches, &env)?;
    init_logging(&settings.string("log-level")?)?;
    tracing::info!(role = %role, version = env!("CARGO_PKG_VERSION"), options = %settings.describe(), "starting spoor");

    // Every listener's TLS options are checked before any port is bound, so a bad option is
    // reported as itself, not as whichever port happened to be taken first.
    tls_options::check_listeners(&settings)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let result = match role.as_str() {
        "all-in-one" => runtime.block_on(all_in_one::run(settings)),
        "collector" => runtime.block_on(collector::run(settings)),
        "ingester" => runtime.block_on(ingester::run(settings)),
        "query" => runtime.block_on(query::run(settings)),
        tool => runtime.block_on(es_tools::run(tool, settings, &role_matches)),
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
