//! Generated code for Jaeger's `jaeger.api_v2` protos (`model/proto/`, compiled by `build.rs`):
//! the model messages, `CollectorService`, `SamplingManager` and `QueryService`, each with a
//! tonic client and server; and for the query APIs `jaeger.api_v3` and `jaeger.storage.v2`, whose
//! OTLP messages are the `opentelemetry_proto` crate's types.

pub mod jaeger {
    pub mod api_v2 {
        #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("jaeger.api_v2");
    }

    /// `jaeger.api_v3`: the api_v3 `QueryService` (streams OTLP `TracesData`).
    pub mod api_v3 {
        #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("jaeger.api_v3");
    }

    pub mod storage {
        /// `jaeger.storage.v2`: the remote-storage `TraceReader`, `DependencyReader` and `Capabilities`.
        pub mod v2 {
            #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
            tonic::include_proto!("jaeger.storage.v2");
        }
    }
}
