//! Compiles Spoor's own `jaeger.api_v2` and `zipkin.proto3` protos with `protox` (pure Rust, no `protoc` needed) and
//! generates prost messages plus tonic clients and servers. `google.protobuf.*` map to
//! `::prost_types` (prost-build's default extern path).

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: [&str; 5] = [
    "proto/jaeger/api_v2/model.proto",
    "proto/jaeger/api_v2/collector.proto",
    "proto/jaeger/api_v2/sampling.proto",
    "proto/jaeger/api_v2/query.proto",
    "proto/zipkin/zipkin.proto",
];
/// The query APIs (`jaeger.api_v3`, `jaeger.storage.v2`). They use OTLP messages, mapped to the
/// `opentelemetry-proto` crate's types; `proto/opentelemetry/` only holds name-only stubs so
/// protox can resolve those names (nothing is generated from them).
const QUERY_API_PROTO_FILES: [&str; 4] = [
    "proto/jaeger/api_v3/query_service.proto",
    "proto/jaeger/storage/v2/trace_storage.proto",
    "proto/jaeger/storage/v2/dependency_storage.proto",
    "proto/jaeger/storage/v2/capabilities.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;

    for file in QUERY_API_PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let query_api_descriptors = protox::compile(QUERY_API_PROTO_FILES, [PROTO_ROOT])?;
    tonic_prost_build::configure()
        .extern_path(".opentelemetry.proto", "::opentelemetry_proto::tonic")
        .compile_fds(query_api_descriptors)?;
    Ok(())
}
