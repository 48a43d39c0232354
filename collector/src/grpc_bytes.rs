//! A unary gRPC method whose request reaches the handler as bytes.
//!
//! tonic's generated servers decode requests with prost inside tonic: a malformed message then
//! becomes INTERNAL, and a string that is not UTF-8 refuses the whole request. Receivers decode
//! the bytes themselves instead (with the same functions as their HTTP twins), so bad input is
//! INVALID_ARGUMENT naming the problem, and repairable input is repaired.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::server::NamedService;

/// The receiver side of one unary method.
pub trait BytesHandler: Clone + Send + Sync + 'static {
    /// The fully qualified service, e.g. `jaeger.api_v2.CollectorService`.
    const SERVICE_NAME: &'static str;
    /// The method's path, e.g. `/jaeger.api_v2.CollectorService/PostSpans`.
    const METHOD_PATH: &'static str;
    type Response: Message + Send + 'static;

    /// Decodes and handles one request message.
    fn handle(&self, message: Bytes) -> BoxFuture<'static, Result<Self::Response, tonic::Status>>;
}

/// The tower service to add to a tonic server: gzip accepted, the message size bounded, any
/// other path UNIMPLEMENTED, an over-large message RESOURCE_EXHAUSTED (as grpc-go answers; tonic
/// says OUT_OF_RANGE, which OTLP clients would retry forever).
#[derive(Clone)]
pub struct BytesUnaryService<H> {
    handler: H,
    max_message_bytes: usize,
}

impl<H: BytesHandler> BytesUnaryService<H> {
    pub fn new(handler: H, max_message_bytes: usize) -> Self {
        Self { handler, max_message_bytes }
    }
}

impl<H: BytesHandler> NamedService for BytesUnaryService<H> {
    const NAME: &'static str = H::SERVICE_NAME;
}

impl<H, B> tower::Service<http::Request<B>> for BytesUnaryService<H>
where
    H: BytesHandler,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != H::METHOD_PATH {
            return Box::pin(async move { Ok(tonic::Status::unimplemented("unknown method").into_http()) });
        }
        let handler = self.handler.clone();
        let max_message_bytes = self.max_message_bytes;
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(BytesCodec::<H::Response>::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(max_message_bytes), None);
            let response = grpc.unary(Method(handler), request).await;
            Ok(out_of_range_as_resource_exhausted(response))
        })
    }
}

/// tonic refuses an over-large message with OUT_OF_RANGE, which the OTLP specification lists as
/// retryable: a client would resend the same too-large request until it gives up. grpc-go (and so
/// Jaeger) says RESOURCE_EXHAUSTED without retry information, which OTLP clients do not retry.
/// Receivers never answer OUT_OF_RANGE themselves, so every such status is tonic's size check.
pub fn out_of_range_as_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let status = response.headers().get(tonic::Status::GRPC_STATUS);
    if status.is_some_and(|code| code.as_bytes() == b"11") {
        let resource_exhausted = http::HeaderValue::from(tonic::Code::ResourceExhausted as i32);
        response.headers_mut().insert(tonic::Status::GRPC_STATUS, resource_exhausted);
    }
    response
}

struct Method<H>(H);

impl<H: BytesHandler> tonic::server::UnaryService<Bytes> for Method<H> {
    type Response = H::Response;
    type Future = BoxFuture<'static, Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let future = self.0.handle(request.into_inner());
        Box::pin(async move { future.await.map(tonic::Response::new) })
    }
}

/// Requests stay bytes; responses are prost-encoded.
struct BytesCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for BytesCodec<R> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<R: Message + Send + 'static> Codec for BytesCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ResponseEncoder<R>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct ResponseEncoder<R>(PhantomData<fn() -> R>);

impl<R: Message> Encoder for ResponseEncoder<R> {
    type Item = R;
    type Error = tonic::Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst).map_err(|error| tonic::Status::internal(format!("encoding the response failed: {error}")))
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
