//! Bounds on the work HTTP clients can make the server do, the same two the
//! gRPC server applies (`ticketing_gateway::LimitsLayer`, from the same
//! [`ServerLimits`]): requests in flight in this process beyond
//! `max_in_flight` are answered at once with 503 `SERVER_AT_CAPACITY` and
//! `Retry-After`, before any work; a request that has no answer within
//! `request_timeout` gets 504 `DEADLINE_EXCEEDED`. A seat-map stream counts
//! until its head is sent, then the watch quotas bound it. The HTTP face
//! has its own budget beside gRPC's, so the process admits at most twice
//! `max_in_flight`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ticketing_gateway::ServerLimits;
use tokio::sync::Semaphore;

use crate::Problem;

#[derive(Debug, Clone)]
pub struct HttpLimits {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl HttpLimits {
    pub fn new(limits: &ServerLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            timeout: limits.request_timeout,
        }
    }
}

/// The middleware: sheds past the cap, ends requests past the deadline.
pub async fn limit(State(limits): State<HttpLimits>, request: Request, next: Next) -> Response {
    let Ok(permit) = Arc::clone(&limits.permits).try_acquire_owned() else {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_AT_CAPACITY",
            "the server is at capacity; retry later",
        )
        .into_response();
    };
    let answer = tokio::time::timeout(limits.timeout, next.run(request)).await;
    drop(permit);
    answer.unwrap_or_else(|_| {
        Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DEADLINE_EXCEEDED",
            format!(
                "the request took longer than the server's {} ms limit",
                limits.timeout.as_millis()
            ),
        )
        .into_response()
    })
}
