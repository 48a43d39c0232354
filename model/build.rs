//! Compiles Spoor's own `jaeger.api_v2` protos with `protox` (pure Rust, no `protoc` needed) and
//! generates prost messages plus tonic clients and servers. `google.protobuf.*` map to
//! `::prost_types` (prost-build's default extern path).

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: [&str; 4] = [
    "proto/jaeger/api_v2/model.proto",
    "proto/jaeger/api_v2/collector.proto",
    "proto/jaeger/api_v2/sampling.proto",
    "proto/jaeger/api_v2/query.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
