//! Per-RPC metrics: a tower layer around the gRPC routes that records each
//! call's duration and outcome as `ticketing_rpc_duration_seconds` (a
//! histogram labelled by `rpc` and gRPC `code`). A handler's error comes back
//! as a trailers-only response with `grpc-status` in the headers; a response
//! without one is a success (its status travels in the trailers).
//!
//! The `rpc` label is one of the contract's methods (read from the served
//! descriptor sets: ticketing, health, reflection) or `unknown`: a path is
//! whatever a client sends, and every distinct label value is a time series
//! the server keeps forever.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
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
        let rpc = rpc_label(request.uri().path());
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

/// Every method the server serves, as `/package.Service/Method`.
static KNOWN: LazyLock<HashSet<String>> = LazyLock::new(|| {
    use prost::Message;
    [
        ticketing_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ]
    .into_iter()
    .filter_map(|bytes| prost_types::FileDescriptorSet::decode(bytes).ok())
    .flat_map(|set| set.file)
    .flat_map(|file| {
        let package = file.package().to_owned();
        file.service.into_iter().flat_map(move |service| {
            let prefix = format!("/{package}.{}/", service.name());
            service
                .method
                .into_iter()
                .map(move |method| format!("{prefix}{}", method.name()))
        })
    })
    .collect()
});

/// `/ticketing.v1.InventoryService/ReserveSeats` → `InventoryService/ReserveSeats`;
/// any path the server does not serve → `unknown`.
fn rpc_label(path: &str) -> &'static str {
    match KNOWN.get(path) {
        Some(known) => known.rsplit_once('.').map_or("unknown", |(_, rpc)| rpc),
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_name_a_series() {
        assert_eq!(
            rpc_label("/ticketing.v1.InventoryService/ReserveSeats"),
            "InventoryService/ReserveSeats"
        );
        assert_eq!(rpc_label("/grpc.health.v1.Health/Check"), "Health/Check");
        for path in [
            "/ticketing.v1.InventoryService/Nope",
            "/x.y.z/1796028639734",
            "/",
            "/ticketing.v1.InventoryService/ReserveSeats/extra",
        ] {
            assert_eq!(rpc_label(path), "unknown", "{path}");
        }
    }
}
