//! Bounds on the work one client can make the gRPC server do: a deadline
//! per call, a cap on calls in flight in the process (the excess is shed at
//! once with RESOURCE_EXHAUSTED and RetryInfo, before any work), HTTP/2
//! streams per connection, keepalive pings, a maximum connection age and a
//! maximum decoded message size. [`ServerLimits`] holds them (flags
//! `--grpc-*` and `--max-in-flight`, docs/operations.md); [`LimitsLayer`]
//! applies the first two, `server.rs` and `app/src/roles.rs` the rest.
//! Health checks are exempt, so a busy server still answers its balancer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Semaphore;
use tonic::codegen::http;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

/// How long a shed client should wait before retrying.
const SHED_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest a call may take to answer (a stream: to open), then
    /// DEADLINE_EXCEEDED.
    pub request_timeout: Duration,
    /// Calls in flight in this process; more are shed.
    pub max_in_flight: usize,
    /// Concurrent HTTP/2 streams one connection may open.
    pub streams_per_connection: u32,
    /// How often an idle connection is pinged, and how long a ping may go
    /// unanswered before the connection is closed.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Connections are closed gracefully after this long, so none is held
    /// (and no balancer pinned) forever.
    pub max_connection_age: Duration,
    /// Largest request message a service decodes.
    pub max_message_bytes: usize,
    /// Seat-map watches open in this process, and from one peer address.
    pub max_watches: usize,
    pub watches_per_peer: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_in_flight: 1024,
            streams_per_connection: 128,
            keepalive_interval: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(20),
            max_connection_age: Duration::from_secs(30 * 60),
            max_message_bytes: 4 * 1024 * 1024,
            max_watches: crate::watch::DEFAULT_MAX_WATCHES,
            watches_per_peer: crate::watch::DEFAULT_WATCHES_PER_PEER,
        }
    }
}

/// Sheds calls beyond the in-flight cap and ends calls past their deadline.
#[derive(Debug, Clone)]
pub struct LimitsLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl LimitsLayer {
    pub fn new(limits: &ServerLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            timeout: limits.request_timeout,
        }
    }
}

impl<S> Layer<S> for LimitsLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limited {
            inner,
            permits: Arc::clone(&self.permits),
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limited<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl<S, B, R> Service<http::Request<B>> for Limited<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path().starts_with("/grpc.health.v1.Health/") {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            let status = Status::with_error_details(
                Code::ResourceExhausted,
                "the server is at capacity; retry later",
                ErrorDetails::with_retry_info(Some(SHED_RETRY)),
            );
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let timeout = self.timeout;
        let call = self.inner.call(request);
        Box::pin(async move {
            let _permit = permit;
            match tokio::time::timeout(timeout, call).await {
                Ok(answer) => answer,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call took longer than the server's {} ms limit",
                    timeout.as_millis()
                ))
                .into_http()),
            }
        })
    }
}
