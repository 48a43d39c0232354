//! The shared storage conformance suite against a real Elasticsearch (`ES_URL`, default
//! `http://127.0.0.1:9200`) and OpenSearch (`OPENSEARCH_URL`, default `http://127.0.0.1:9201`).
//! Start them with `tests/infra/elasticsearch start` and `tests/infra/opensearch start`, then
//! `cargo test -p spoor-storage --test es_conformance -- --include-ignored`.
//!
//! Each test gets its own index prefix, and each namespace a store of its own under it (as the
//! namespace router builds them); every write is followed by a refresh (see `es_common`).
//!
//! `storage_conformance_tests!` makes plain `#[tokio::test]`s; these must be `#[ignore]`d without
//! a cluster, so the behaviours are listed here, and `lists_every_conformance_behaviour` fails
//! when `src/conformance.rs` gains one that this list lacks.

mod es_common;

use std::sync::Arc;

use es_common::StorePerNamespace;

macro_rules! ignored_conformance_tests {
    ($reason:literal, $factory:expr) => {
        ignored_conformance_tests!(@tests $reason, $factory;
            gets_trace_by_64_bit_id_in_its_16_hex_form,
            gets_trace_by_128_bit_id,
            returns_every_field_of_a_span_unchanged,
            missing_trace_is_none,
            rewriting_the_same_spans_keeps_one_copy,
            different_spans_sharing_a_span_id_are_both_kept,
            trace_written_in_several_batches_is_returned_whole,
            empty_batch_is_accepted,
            services_are_listed_sorted,
            operations_carry_span_kind_and_filter_by_kind,
            finds_traces_by_service,
            finds_traces_by_operation,
            finds_traces_by_span_tag_process_tag_and_log_field,
            finds_traces_by_scope_attribute,
            finds_traces_by_link_attribute,
            scope_and_link_attributes_round_trip,
            matches_typed_tag_values_by_their_text_form,
            all_conditions_must_hold_on_the_same_span,
            duration_range_is_inclusive_and_applies_to_spans,
            start_time_range_is_inclusive,
            zero_time_bounds_cover_all_time,
            limit_keeps_the_most_recent_traces_first,
            default_limit_applies_when_limit_is_zero,
            found_traces_are_complete,
            namespaces_are_isolated,
            searches_without_service_when_capable,
            rejects_inverted_ranges,
            dependencies_count_calls_between_services,
            dependencies_follow_shared_span_ids,
            dependencies_count_only_spans_starting_in_the_window,
            dependencies_are_isolated_per_namespace,
            purge_deletes_every_namespace,
            purge_is_safe_while_writes_are_in_flight,
        );
    };
    (@tests $reason:literal, $factory:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = $reason]
            async fn $name() {
                spoor_storage::conformance::$name($factory).await;
            }
        )+
    };
}

/// The behaviour names in this file's list.
const LISTED: &str = include_str!("es_conformance.rs");

mod elasticsearch {
    use super::*;

    async fn store() -> Arc<StorePerNamespace> {
        Arc::new(StorePerNamespace::new(&es_common::es_url(), "es").await)
    }

    ignored_conformance_tests!("needs Elasticsearch (tests/infra/elasticsearch)", store);
}

mod opensearch {
    use super::*;

    async fn store() -> Arc<StorePerNamespace> {
        Arc::new(StorePerNamespace::new(&es_common::opensearch_url(), "os").await)
    }

    ignored_conformance_tests!("needs OpenSearch (tests/infra/opensearch)", store);
}

#[test]
fn lists_every_conformance_behaviour() {
    let suite = include_str!("../src/conformance.rs");
    let behaviours: Vec<&str> = suite
        .lines()
        .filter_map(|line| line.strip_prefix("pub async fn "))
        .filter_map(|rest| rest.split('<').next())
        .collect();
    assert!(behaviours.len() >= 30, "{behaviours:?}");
    for behaviour in behaviours {
        assert!(LISTED.contains(&format!("            {behaviour},")), "es_conformance.rs does not run {behaviour}");
    }
}
