//! OTLP protobuf `ExportTraceServiceRequest` bodies, decoded and converted to model spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use spoor_model::otlp::spans_from_otlp_request;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ExportTraceServiceRequest::decode(data) {
        let _ = spans_from_otlp_request(request);
    }
});
