//! The checked-in corpus of malformed inputs, `tests/corpus/<decoder>/*`: truncated bodies, huge
//! declared lengths, wrong types, deep nesting, invalid UTF-8. Every decoder must refuse every
//! file of its folder with an error, and never panic. To add a case, drop a file in the folder.

use std::path::{Path, PathBuf};

use spoor_model::thrift::{decode_agent_message, decode_batch_binary, Protocol};
use spoor_model::zipkin::{spans_from_v1_json, spans_from_v1_thrift, spans_from_v2_json, spans_from_v2_proto};

/// A decoder under test: `Err(message)` is the expected outcome, `Ok` a failure.
type Decoder = fn(&[u8]) -> Result<(), String>;

fn err<T, E: ToString>(result: Result<T, E>) -> Result<(), String> {
    result.map(|_| ()).map_err(|error| error.to_string())
}

fn corpus_folder(decoder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus").join(decoder)
}

fn every_file_is_refused(decoder: &str, decode: Decoder) {
    let folder = corpus_folder(decoder);
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{decoder}: the corpus should hold several cases");
    for file in files {
        let bytes = std::fs::read(&file).expect("readable corpus file");
        let outcome = std::panic::catch_unwind(|| decode(&bytes));
        match outcome {
            Ok(Err(message)) => assert!(!message.is_empty(), "{}: empty error message", file.display()),
            Ok(Ok(())) => panic!("{}: decoded, but it is malformed", file.display()),
            Err(_) => panic!("{}: the decoder panicked", file.display()),
        }
    }
}

#[test]
fn thrift_batch_binary_refuses_every_corpus_file() {
    every_file_is_refused("thrift_batch_binary", |bytes| err(decode_batch_binary(bytes)));
}

#[test]
fn thrift_agent_compact_refuses_every_corpus_file() {
    every_file_is_refused("thrift_agent_compact", |bytes| err(decode_agent_message(bytes, Protocol::Compact)));
}

#[test]
fn thrift_agent_binary_refuses_every_corpus_file() {
    every_file_is_refused("thrift_agent_binary", |bytes| err(decode_agent_message(bytes, Protocol::Binary)));
}

#[test]
fn zipkin_v2_json_refuses_every_corpus_file() {
    every_file_is_refused("zipkin_v2_json", |bytes| err(spans_from_v2_json(bytes)));
}

#[test]
fn zipkin_v2_proto_refuses_every_corpus_file() {
    every_file_is_refused("zipkin_v2_proto", |bytes| err(spans_from_v2_proto(bytes)));
}

#[test]
fn zipkin_v1_json_refuses_every_corpus_file() {
    every_file_is_refused("zipkin_v1_json", |bytes| err(spans_from_v1_json(bytes)));
}

#[test]
fn zipkin_v1_thrift_refuses_every_corpus_file() {
    every_file_is_refused("zipkin_v1_thrift", |bytes| err(spans_from_v1_thrift(bytes)));
}
