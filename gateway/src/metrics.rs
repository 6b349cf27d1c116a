//! Per-RPC metrics: a tower layer around the gRPC routes that records each
//! call's duration and outcome as `ticketing_rpc_duration_seconds` (a
//! histogram labelled by `rpc` and gRPC `code`). A handler's error comes back
//! as a trailers-only response with `grpc-status` in the headers; a response
//! without one is a success (its status travels in the trailers).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::codegen::http;
use tower::{Layer, Service};

#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // "/ticketing.v1.InventoryService/ReserveSeats" → "InventoryService/ReserveSeats"
        let path = request.uri().path();
        let rpc = path
            .rsplit_once('.')
            .map_or(path, |(_, rpc)| rpc)
            .to_owned();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| "0".to_owned(), str::to_owned);
            metrics::histogram!("ticketing_rpc_duration_seconds", "rpc" => rpc, "code" => code)
                .record(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}
