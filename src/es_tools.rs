//! One-shot Elasticsearch tools, Jaeger's `es-index-cleaner` and `es-rollover`, and `dependencies`
//! (the role of Jaeger's Spark dependencies job). Each runs once for the `--es.*` target, or for
//! every namespace target of `--namespaces.config`, and exits.

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};

use std::time::SystemTime;

use spoor_storage::elasticsearch::client::EsClient;
use spoor_storage::elasticsearch::lifecycle::{self, CleanerOptions, LookbackUnit, RolloverOptions};
use spoor_storage::elasticsearch::{run_dependencies_job, ElasticsearchStore};

use crate::options::Settings;
use crate::storage::es_targets;

/// The positional arguments of the tools, as Jaeger's own tools take them.
pub fn add_positionals(role: &str, command: Command) -> Command {
    match role {
        "es-index-cleaner" => command
            .arg(Arg::new("NUM_OF_DAYS").required(true).help("Delete indices older than this many days"))
            .arg(Arg::new("URL").help("Elasticsearch URL (instead of --es.server-urls)")),
        "es-rollover" => command
            .arg(
                Arg::new("ACTION")
                    .required(true)
                    .value_parser(["init", "rollover", "lookback"])
                    .help("init: templates, first index and aliases; rollover: a new write index; lookback: drop old indices from the read alias"),
            )
            .arg(Arg::new("URL").help("Elasticsearch URL (instead of --es.server-urls)")),
        _ => command,
    }
}

pub async fn run(tool: &str, settings: Settings, matches: &ArgMatches) -> anyhow::Result<()> {
    let url = matches.try_get_one::<String>("URL").ok().flatten().cloned();
    let mut targets = es_targets(&settings)?;
    if let Some(url) = url {
        // Jaeger's tools take the URL as an argument: it replaces --es.server-urls of the default target.
        for (_, target) in &mut targets {
            target.server_urls = vec![url.clone()];
        }
    }
    let now = SystemTime::now();
    for (namespace, target) in targets {
        let prefix = target.index_prefix.clone();
        match tool {
            "es-index-cleaner" => {
                let days: u32 = matches
                    .get_one::<String>("NUM_OF_DAYS")
                    .context("NUM_OF_DAYS is required")?
                    .parse()
                    .context("NUM_OF_DAYS must be a whole number of days")?;
                let options = CleanerOptions {
                    rollover: settings.bool("rollover")?,
                    archive: settings.bool("archive")?,
                    date_separator: settings.string("index-date-separator")?,
                    ..CleanerOptions::default()
                };
                let client = EsClient::connect(&target).await?;
                let deleted = lifecycle::clean_indices(&client, &prefix, days, now, &options)
                    .await
                    .with_context(|| format!("cleaning the indices of namespace {namespace}"))?;
                tracing::info!(namespace = %namespace, prefix = %prefix, deleted = deleted.len(), indices = ?deleted, "indices deleted");
            }
            "es-rollover" => {
                let action = matches.get_one::<String>("ACTION").context("ACTION is required")?;
                let options = RolloverOptions {
                    skip_dependencies: settings.bool("skip-dependencies")?,
                    ..RolloverOptions::default()
                };
                let client = EsClient::connect(&target).await?;
                match action.as_str() {
                    "init" => lifecycle::rollover_init(&client, &target, &options).await?,
                    "rollover" => {
                        let conditions: serde_json::Value = serde_json::from_str(&settings.string("conditions")?)
                            .context("invalid value for option --conditions (JSON)")?;
                        lifecycle::rollover(&client, &prefix, &conditions, &options).await?;
                    }
                    _ => {
                        let unit: LookbackUnit = settings.parse("unit")?;
                        let count: u32 = settings.parse("unit-count")?;
                        let removed =
                            lifecycle::rollover_lookback(&client, &prefix, unit, count, now, &options).await?;
                        tracing::info!(namespace = %namespace, removed = ?removed, "indices removed from the read aliases");
                    }
                }
                tracing::info!(namespace = %namespace, prefix = %prefix, action = %action, "es-rollover done");
            }
            "dependencies" => {
                let end = match settings.optional_string("dependencies.end").filter(|end| !end.trim().is_empty()) {
                    Some(end) => {
                        humantime::parse_rfc3339_weak(&end).context("invalid value for option --dependencies.end")?
                    }
                    None => now,
                };
                let end_nanos = end.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
                let lookback = settings.duration("dependencies.lookback")?;
                let store = ElasticsearchStore::connect(namespace.as_str(), target, None).await?;
                let links =
                    run_dependencies_job(&store, &namespace, u64::try_from(end_nanos).unwrap_or(u64::MAX), lookback)
                        .await
                        .with_context(|| format!("computing the dependencies of namespace {namespace}"))?;
                tracing::info!(namespace = %namespace, prefix = %prefix, links, "dependencies written");
            }
            other => anyhow::bail!("unknown role {other}"),
        }
    }
    Ok(())
}
