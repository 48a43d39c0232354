//! The query role's servers, bound from the options: Jaeger's HTTP API and UI, the gRPC query APIs,
//! the remote-storage API and (for tests) the purge endpoint. Used by `query` and `all-in-one`.

use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use spoor_collector::listen;
use spoor_model::Namespace;
use spoor_query::{
    grpc as query_grpc, http as query_http, http::NamespaceSelector, namespace_selector, serve_purge, ArchiveStorage,
    QueryMetrics, QueryService, QueryServiceOptions, TenancyConfig,
};
use spoor_storage::{Purger, SpanReader};
use spoor_tls::TlsListener;
use tokio::net::TcpListener;

use crate::options::Settings;
use crate::shutdown::Shutdown;
use crate::tls_options::server_tls;

/// The query servers with their sockets bound (a port conflict fails start-up), not yet serving.
pub struct QueryServers {
    service: Arc<QueryService>,
    http_config: query_http::QueryHttpConfig,
    grpc_config: query_grpc::QueryGrpcConfig,
    remote_storage_config: query_grpc::RemoteStorageGrpcConfig,
    namespaces: Arc<dyn NamespaceSelector>,
    http: TlsListener,
    grpc: Option<TlsListener>,
    remote_storage: Option<TlsListener>,
    purge: Option<(TcpListener, Arc<dyn Purger>)>,
}

/// Binds `key`'s host:port, or nothing when it is empty (the listener is off), with the TLS of
/// the `--<tls_prefix>.tls.*` options.
async fn bind_optional(settings: &Settings, key: &str, tls_prefix: &str) -> anyhow::Result<Option<TlsListener>> {
    let host_port = settings.string(key)?;
    match host_port.trim() {
        "" => Ok(None),
        host_port => {
            let listener =
                listen::bind(host_port).await.with_context(|| format!("cannot listen on --{key} {host_port}"))?;
            Ok(Some(TlsListener::new(listener, server_tls(settings, tls_prefix)?)))
        }
    }
}

/// Jaeger's multi-tenancy options (`--multi-tenancy.*`): which request header names the namespace.
pub fn tenancy_config(settings: &Settings) -> anyhow::Result<TenancyConfig> {
    let tenancy = TenancyConfig {
        enabled: settings.bool("multi-tenancy.enabled")?,
        header: settings.string("multi-tenancy.header")?,
        tenants: settings
            .string("multi-tenancy.tenants")?
            .split(',')
            .map(str::trim)
            .filter(|tenant| !tenant.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    tenancy.validate().context("invalid --multi-tenancy.* options")?;
    Ok(tenancy)
}

/// Whether query requests hand their caller's bearer token to the store: Jaeger's
/// `--es.bearer-token-propagation`, or an Elasticsearch namespace table that sets
/// `bearer_token_propagation` (tables do not inherit the flag, and a table that asks for callers'
/// tokens must receive them rather than fall back to its own credentials).
fn bearer_token_propagation(settings: &Settings) -> anyhow::Result<bool> {
    if settings.bool("es.bearer-token-propagation")? {
        return Ok(true);
    }
    if !matches!(settings.string("span-storage.type")?.as_str(), "elasticsearch" | "opensearch") {
        return Ok(false);
    }
    Ok(crate::storage::es_targets(settings)?.iter().any(|(_, target)| target.bearer_token_propagation))
}

impl QueryServers {
    pub async fn bind(
        settings: &Settings,
        reader: Arc<dyn SpanReader>,
        archive: Option<ArchiveStorage>,
        purger: Arc<dyn Purger>,
        store_namespaces: Option<Vec<String>>,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        let options = QueryServiceOptions {
            max_clock_skew_adjust_ms: u64::try_from(settings.duration("query.max-clock-skew-adjustment")?.as_millis())
                .unwrap_or(u64::MAX),
            max_spans_per_trace: settings.parse("query.max-spans-per-trace")?,
        };
        let mut service = QueryService::new(reader, options, QueryMetrics::register(registry));
        if let Some(archive) = archive {
            service = service.with_archive_storage(archive);
        }
        let service = Arc::new(service);
        let bearer_token_propagation = bearer_token_propagation(settings)?;
        let http_config = query_http::QueryHttpConfig {
            host_port: settings.string("query.http-server.host-port")?,
            base_path: settings.string("query.base-path")?,
            bearer_token_propagation,
            ..query_http::QueryHttpConfig::default()
        };
        let grpc_config = query_grpc::QueryGrpcConfig { bearer_token_propagation, ..Default::default() };
        let remote_storage_config =
            query_grpc::RemoteStorageGrpcConfig { bearer_token_propagation, ..Default::default() };
        http_config.validate().context("invalid value for option --query.base-path")?;
        let http = listen::bind(&http_config.host_port)
            .await
            .with_context(|| format!("cannot listen on --query.http-server.host-port {}", http_config.host_port))?;
        let http = TlsListener::new(http, server_tls(settings, "query.http")?);
        let grpc = bind_optional(settings, "query.grpc-server.host-port", "query.grpc").await?;
        let remote_storage = bind_optional(settings, "remote-storage.grpc.host-port", "remote-storage.grpc").await?;

        let mut tenancy = tenancy_config(settings)?;
        // A store with one target per namespace (Elasticsearch) answers only its namespaces: an
        // unknown tenant is refused (401) instead of reading the default target, which may hold
        // other unknown namespaces' spans.
        if let (true, true, Some(names)) = (tenancy.enabled, tenancy.tenants.is_empty(), store_namespaces) {
            tenancy.tenants = names;
        }
        let namespaces = namespace_selector(&tenancy, Namespace::new(&http_config.namespace));

        let purge = if settings.bool("testing.purge-endpoint")? {
            let host_port = settings.string("testing.purge-host-port")?;
            tracing::warn!(address = %host_port, "the purge endpoint is on: POST /purge deletes all data");
            let listener = listen::bind(&host_port)
                .await
                .with_context(|| format!("cannot listen on --testing.purge-host-port {host_port}"))?;
            Some((listener, purger))
        } else {
            None
        };
        Ok(Self {
            service,
            http_config,
            grpc_config,
            remote_storage_config,
            namespaces,
            http,
            grpc,
            remote_storage,
            purge,
        })
    }

    /// Serves until shutdown; a server that fails triggers shutdown of the rest.
    pub async fn serve(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let stop_on_error = |result: anyhow::Result<()>| {
            if result.is_err() {
                shutdown.trigger();
            }
            result
        };
        let Self {
            service,
            http_config,
            grpc_config,
            remote_storage_config,
            namespaces,
            http,
            grpc,
            remote_storage,
            purge,
        } = self;
        let http = async {
            stop_on_error(
                query_http::serve_on_with_namespaces(
                    http,
                    service.clone(),
                    &http_config,
                    namespaces.clone(),
                    shutdown.stopped(),
                )
                .await
                .context("query HTTP server failed"),
            )
        };
        let grpc = async {
            let Some(listener) = grpc else { return Ok(()) };
            stop_on_error(
                query_grpc::serve_grpc_with_config(
                    listener,
                    service.clone(),
                    &grpc_config,
                    namespaces.clone(),
                    shutdown.stopped(),
                )
                .await
                .context("query gRPC server failed"),
            )
        };
        let remote_storage = async {
            let Some(listener) = remote_storage else { return Ok(()) };
            stop_on_error(
                query_grpc::serve_remote_storage_with_config(
                    listener,
                    service.clone(),
                    &remote_storage_config,
                    namespaces.clone(),
                    shutdown.stopped(),
                )
                .await
                .context("remote-storage gRPC server failed"),
            )
        };
        let purge = async {
            let Some((listener, purger)) = purge else { return Ok(()) };
            stop_on_error(serve_purge(listener, purger, shutdown.stopped()).await.context("purge endpoint failed"))
        };
        let (http, grpc, remote_storage, purge) = tokio::join!(http, grpc, remote_storage, purge);
        http.and(grpc).and(remote_storage).and(purge)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn query_settings(args: &[&str]) -> Settings {
        let argv = ["spoor", "query"].into_iter().chain(args.iter().copied());
        let matches = crate::cli().try_get_matches_from(argv).expect("valid flags");
        let query = matches.subcommand_matches("query").expect("query role");
        let (_, _, specs) = crate::roles().into_iter().find(|(name, _, _)| *name == "query").expect("query specs");
        Settings::resolve(&specs, &crate::specs::all_keys(), query, &HashMap::new()).expect("settings")
    }

    fn namespaces_file(payments_propagates: bool) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let table = format!(
            "[default]\nserver_urls = [\"http://es-shared:9200\"]\n\n\
             [payments]\nserver_urls = [\"http://es-payments:9200\"]\nbearer_token_propagation = {payments_propagates}\n"
        );
        std::fs::write(file.path(), table).expect("write namespaces file");
        file
    }

    #[test]
    fn the_flag_turns_bearer_token_propagation_on() {
        let settings = query_settings(&["--span-storage.type=elasticsearch", "--es.bearer-token-propagation=true"]);
        assert!(bearer_token_propagation(&settings).unwrap());
        assert!(!bearer_token_propagation(&query_settings(&["--span-storage.type=elasticsearch"])).unwrap());
    }

    #[test]
    fn a_namespace_table_that_asks_for_callers_tokens_turns_propagation_on() {
        for payments_propagates in [true, false] {
            let file = namespaces_file(payments_propagates);
            let path = file.path().to_str().expect("utf-8 path");
            let settings = query_settings(&["--span-storage.type=elasticsearch", "--namespaces.config", path]);
            assert_eq!(bearer_token_propagation(&settings).unwrap(), payments_propagates);
        }
    }

    #[test]
    fn stores_without_elasticsearch_targets_never_read_the_namespace_tables_for_it() {
        let file = namespaces_file(true);
        let path = file.path().to_str().expect("utf-8 path");
        let settings = query_settings(&["--span-storage.type=memory", "--namespaces.config", path]);
        assert!(!bearer_token_propagation(&settings).unwrap());
    }
}
