//! Attributes received spans to namespaces with the configured [`NamespaceRules`]
//! (`spoor_model::namespace_rules`), splitting a batch when its spans belong to several.

use std::sync::Arc;

use spoor_model::namespace_rules::NamespaceRules;
use spoor_model::{Namespace, Span, SpanBatch};

use crate::pipeline::{NamespaceResolver, Source};

/// A [`NamespaceResolver`] that applies [`NamespaceRules`] to every span.
#[derive(Clone, Debug)]
pub struct RulesResolver {
    rules: Arc<NamespaceRules>,
}

impl RulesResolver {
    pub fn new(rules: Arc<NamespaceRules>) -> Self {
        Self { rules }
    }

    pub fn rules(&self) -> &Arc<NamespaceRules> {
        &self.rules
    }
}

impl NamespaceResolver for RulesResolver {
    fn resolve(&self, _source: &Source, batch: SpanBatch) -> Vec<(Namespace, SpanBatch)> {
        split_by_namespace(&self.rules, batch)
    }
}

impl NamespaceResolver for NamespaceRules {
    fn resolve(&self, _source: &Source, batch: SpanBatch) -> Vec<(Namespace, SpanBatch)> {
        split_by_namespace(self, batch)
    }
}

/// Splits `batch` into one group per namespace, in the order each namespace first appears, keeping
/// the spans' order within a group. Every span lands in exactly one group; an empty batch yields no
/// group.
///
/// The common case, every span in one namespace (one process per request), costs one pass that
/// compares borrowed names and moves the batch as it is: no span is copied or moved.
pub fn split_by_namespace(rules: &NamespaceRules, batch: SpanBatch) -> Vec<(Namespace, SpanBatch)> {
    let Some(first) = batch.spans.first() else { return Vec::new() };
    let first_name = rules.namespace_name_of(first);
    let Some(split_at) = batch.spans.iter().position(|span| rules.namespace_name_of(span) != first_name) else {
        return vec![(rules.namespace_for_name(first_name), batch)];
    };
    let first_namespace = rules.namespace_for_name(first_name);

    let mut spans = batch.spans;
    let rest = spans.split_off(split_at);
    let mut groups: Vec<(Namespace, Vec<Span>)> = vec![(first_namespace, spans)];
    for span in rest {
        let name = rules.namespace_name_of(&span);
        match groups.iter().position(|(namespace, _)| namespace.as_str() == name) {
            Some(index) => groups[index].1.push(span),
            None => {
                let namespace = rules.namespace_for_name(name);
                groups.push((namespace, vec![span]));
            }
        }
    }
    groups.into_iter().map(|(namespace, spans)| (namespace, SpanBatch::new(spans))).collect()
}

#[cfg(test)]
mod tests {
    use spoor_model::namespace_rules::NamespaceRulesConfig;
    use spoor_model::{KeyValue, Process, SpanId, TraceId};

    use super::*;
    use crate::pipeline::{Format, Transport};

    const SOURCE: Source = Source { transport: Transport::Http, format: Format::Otlp };

    fn span(id: u64, process: &Arc<Process>) -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(id),
            operation_name: format!("op-{id}"),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 1_000,
            duration_nanos: 10,
            tags: vec![],
            logs: vec![],
            process: Arc::clone(process),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    fn process(service: &str, namespace: Option<&str>) -> Arc<Process> {
        let tags = namespace.map(|ns| vec![KeyValue::string("k8s.namespace.name", ns)]).unwrap_or_default();
        Arc::new(Process { service_name: service.into(), tags })
    }

    fn resolver() -> RulesResolver {
        let rules = NamespaceRules::from_config(&NamespaceRulesConfig::default())
            .unwrap()
            .with_known_namespaces(["bookinfo"])
            .unwrap();
        RulesResolver::new(Arc::new(rules))
    }

    fn summary(groups: &[(Namespace, SpanBatch)]) -> Vec<(String, Vec<u64>)> {
        groups.iter().map(|(ns, batch)| (ns.to_string(), batch.spans.iter().map(|s| s.span_id.0).collect())).collect()
    }

    #[test]
    fn keeps_a_single_namespace_batch_whole() {
        let shop = process("cart", Some("shop"));
        let batch = SpanBatch::new(vec![span(1, &shop), span(2, &shop), span(3, &shop)]);
        let groups = resolver().resolve(&SOURCE, batch);
        assert_eq!(summary(&groups), vec![("shop".to_owned(), vec![1, 2, 3])]);
    }

    #[test]
    fn splits_a_mixed_batch_in_first_appearance_order() {
        let shop = process("cart", Some("shop"));
        let sidecar = process("reviews.bookinfo", None);
        let gateway = process("istio-ingressgateway", None);
        let batch = SpanBatch::new(vec![
            span(1, &shop),
            span(2, &shop),
            span(3, &sidecar),
            span(4, &gateway),
            span(5, &shop),
            span(6, &sidecar),
        ]);
        let groups = resolver().resolve(&SOURCE, batch);
        assert_eq!(
            summary(&groups),
            vec![
                ("shop".to_owned(), vec![1, 2, 5]),
                ("bookinfo".to_owned(), vec![3, 6]),
                ("default".to_owned(), vec![4]),
            ]
        );
    }

    #[test]
    fn every_span_lands_in_exactly_one_group() {
        let processes = [process("a", Some("ns-a")), process("b", Some("ns-b")), process("c.bookinfo", None)];
        let spans: Vec<Span> = (0..30u64).map(|i| span(i, &processes[(i * 7 % 3) as usize])).collect();
        let groups = resolver().resolve(&SOURCE, SpanBatch::new(spans));
        let mut ids: Vec<u64> = groups.iter().flat_map(|(_, b)| b.spans.iter().map(|s| s.span_id.0)).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..30).collect::<Vec<_>>());
        assert_eq!(groups.len(), 3);
    }

    #[test]
    fn an_empty_batch_yields_no_group() {
        assert!(resolver().resolve(&SOURCE, SpanBatch::default()).is_empty());
    }

    #[test]
    fn the_rules_themselves_are_a_resolver() {
        let rules: Arc<dyn NamespaceResolver> = Arc::new(NamespaceRules::default());
        let groups = rules.resolve(&SOURCE, SpanBatch::new(vec![span(1, &process("svc", Some("team-a")))]));
        assert_eq!(summary(&groups), vec![("team-a".to_owned(), vec![1])]);
    }
}
