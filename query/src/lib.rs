//! Spoor's query service: one transport-neutral `QueryService` with thin HTTP handlers serving
//! Jaeger's `/api/*` JSON API.
#![forbid(unsafe_code)]
