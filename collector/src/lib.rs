//! Spoor's collector: receivers decode their protocol into model spans, the sanitizer records
//! problems as warnings, and a bounded pipeline hands batches to a writer.
#![forbid(unsafe_code)]
