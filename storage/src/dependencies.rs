//! Service dependency links from spans, shared by the backends that compute them at read time
//! (the rules are those of [`crate::api::SpanReader::dependencies`]).
//!
//! A backend hands [`LinkCounter::count_trace`] the spans of one trace at a time, reduced to what
//! the links need ([`LinkSpan`]), sorted by span id.

use std::collections::HashMap;
use std::hash::Hash;

use spoor_model::{Span, SpanKind};

use crate::api::{DependencyLink, DEPENDENCY_SOURCE_SPANS};

/// What a span contributes to dependency links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinkSpan<S> {
    pub span_id: u64,
    /// The first CHILD_OF reference within the trace; 0 when there is none.
    pub parent_span_id: u64,
    pub start: u64,
    /// The span's service, as the backend names it (a name, or an index into a name table).
    pub service: S,
    pub role: Role,
}

/// The span kinds that matter for Zipkin-style shared span ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
    Other,
}

impl Role {
    pub(crate) fn of(kind: SpanKind) -> Self {
        match kind {
            SpanKind::Client => Self::Client,
            SpanKind::Server => Self::Server,
            _ => Self::Other,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Other => 0,
            Self::Client => 1,
            Self::Server => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Client,
            2 => Self::Server,
            _ => Self::Other,
        }
    }
}

impl<'a> LinkSpan<&'a str> {
    pub(crate) fn of(span: &'a Span) -> Self {
        Self {
            span_id: span.span_id.0,
            parent_span_id: span.parent_span_id().map_or(0, |parent| parent.0),
            start: span.start_time_unix_nano,
            service: span.service_name(),
            role: Role::of(span.kind()),
        }
    }
}

/// Counts calls between services over the traces it is given.
#[derive(Debug)]
pub(crate) struct LinkCounter<S> {
    window_start: u64,
    window_end: u64,
    calls: HashMap<(S, S), u64>,
}

impl<S: Copy + Eq + Hash> LinkCounter<S> {
    /// Counts the spans that start in `[window_start, window_end]`.
    pub(crate) fn new(window_start: u64, window_end: u64) -> Self {
        Self { window_start, window_end, calls: HashMap::new() }
    }

    /// Adds the calls of one trace. `trace` holds every stored span of the trace, each once,
    /// sorted by span id.
    pub(crate) fn count_trace(&mut self, trace: &[LinkSpan<S>]) {
        debug_assert!(trace.windows(2).all(|pair| pair[0].span_id <= pair[1].span_id));
        for (position, child) in trace.iter().enumerate() {
            if child.start < self.window_start || child.start > self.window_end {
                continue;
            }
            let Some(parent) = parent_of(trace, position) else { continue };
            if parent.service != child.service {
                *self.calls.entry((parent.service, child.service)).or_insert(0) += 1;
            }
        }
    }

    /// The links, one per (parent, child), named by `name` and sorted by parent then child.
    pub(crate) fn into_links(self, name: impl Fn(S) -> String) -> Vec<DependencyLink> {
        let mut links: Vec<DependencyLink> = self
            .calls
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent: name(parent),
                child: name(child),
                call_count,
                source: DEPENDENCY_SOURCE_SPANS.to_owned(),
            })
            .collect();
        links.sort_unstable();
        links
    }
}

/// The spans of `trace` (sorted by span id) whose id is `span_id`.
fn with_id<S>(trace: &[LinkSpan<S>], span_id: u64) -> &[LinkSpan<S>] {
    let first = trace.partition_point(|span| span.span_id < span_id);
    let end = trace.partition_point(|span| span.span_id <= span_id);
    &trace[first..end]
}

/// A server span sharing its id with a client span of the trace (Zipkin style).
fn is_shared_server<S>(trace: &[LinkSpan<S>], span: &LinkSpan<S>) -> bool {
    span.role == Role::Server && with_id(trace, span.span_id).iter().any(|other| other.role == Role::Client)
}

/// The span that called `trace[position]`: for a shared server span, the client span with its
/// id; otherwise the span named by its parent id, preferring a shared server span among several
/// with that id (the callee side of a shared id is the parent of what it does next).
fn parent_of<S>(trace: &[LinkSpan<S>], position: usize) -> Option<&LinkSpan<S>> {
    let child = &trace[position];
    if child.role == Role::Server {
        if let Some(client) = with_id(trace, child.span_id).iter().find(|span| span.role == Role::Client) {
            return Some(client);
        }
    }
    if child.parent_span_id == 0 || child.parent_span_id == child.span_id {
        return None;
    }
    let candidates = with_id(trace, child.parent_span_id);
    candidates.iter().find(|candidate| is_shared_server(trace, candidate)).or_else(|| candidates.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link_span(span_id: u64, parent_span_id: u64, service: &'static str, role: Role) -> LinkSpan<&'static str> {
        LinkSpan { span_id, parent_span_id, start: 100, service, role }
    }

    fn count(mut trace: Vec<LinkSpan<&'static str>>) -> Vec<(String, String, u64)> {
        trace.sort_by_key(|span| span.span_id);
        let mut counter = LinkCounter::new(0, u64::MAX);
        counter.count_trace(&trace);
        counter.into_links(str::to_owned).into_iter().map(|link| (link.parent, link.child, link.call_count)).collect()
    }

    fn link(parent: &str, child: &str, calls: u64) -> (String, String, u64) {
        (parent.to_owned(), child.to_owned(), calls)
    }

    #[test]
    fn a_child_of_another_service_is_one_call_and_same_service_children_are_none() {
        let trace = vec![
            link_span(1, 0, "frontend", Role::Server),
            link_span(2, 1, "frontend", Role::Client),
            link_span(3, 2, "cart", Role::Server),
            link_span(4, 3, "cart", Role::Other),
            link_span(5, 1, "cart", Role::Server),
        ];
        assert_eq!(count(trace), vec![link("frontend", "cart", 2)]);
    }

    #[test]
    fn a_missing_parent_counts_nothing() {
        assert_eq!(count(vec![link_span(2, 1, "cart", Role::Server)]), vec![]);
    }

    #[test]
    fn shared_span_ids_link_client_to_server_and_server_to_its_children() {
        // Envoy with shared span context: the server span carries the client's id and parent.
        let trace = vec![
            link_span(1, 0, "frontend", Role::Server),
            link_span(2, 1, "frontend", Role::Client),
            link_span(2, 1, "backend", Role::Server),
            link_span(3, 2, "db", Role::Client),
        ];
        assert_eq!(count(trace), vec![link("backend", "db", 1), link("frontend", "backend", 1)]);
    }

    #[test]
    fn only_spans_starting_in_the_window_count_and_parents_may_start_before_it() {
        let mut parent = link_span(1, 0, "frontend", Role::Server);
        parent.start = 10;
        let mut early = link_span(2, 1, "cart", Role::Server);
        early.start = 20;
        let mut inside = link_span(3, 1, "billing", Role::Server);
        inside.start = 50;
        let mut late = link_span(4, 1, "email", Role::Server);
        late.start = 101;
        let mut counter = LinkCounter::new(50, 100);
        counter.count_trace(&[parent, early, inside, late]);
        let links = counter.into_links(str::to_owned);
        assert_eq!(links.len(), 1);
        assert_eq!((links[0].parent.as_str(), links[0].child.as_str()), ("frontend", "billing"));
        assert_eq!(links[0].source, "jaeger");
    }

    #[test]
    fn calls_are_summed_over_traces_and_links_sorted() {
        let mut counter = LinkCounter::new(0, u64::MAX);
        for _ in 0..3 {
            counter.count_trace(&[link_span(1, 0, "b", Role::Other), link_span(2, 1, "a", Role::Other)]);
        }
        counter.count_trace(&[link_span(1, 0, "a", Role::Other), link_span(2, 1, "b", Role::Other)]);
        let links: Vec<_> = counter.into_links(str::to_owned).into_iter().map(|l| (l.parent, l.call_count)).collect();
        assert_eq!(links, vec![("a".to_owned(), 1), ("b".to_owned(), 3)]);
    }
}
