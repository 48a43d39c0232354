//! Generated code for Jaeger's `jaeger.api_v2` protos (`model/proto/`, compiled by `build.rs`):
//! the model messages, `CollectorService`, `SamplingManager` and `QueryService`, each with a
//! tonic client and server.

pub mod jaeger {
    pub mod api_v2 {
        #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("jaeger.api_v2");
    }
}
