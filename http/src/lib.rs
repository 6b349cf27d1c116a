//! The HTTP/JSON face of the engine, served by `ticketing serve` beside the
//! gRPC gateway: the REST API under `/api/v1`, its OpenAPI 3.1 document, the
//! seat map as Server-Sent Events, and the web page at `/`.
//!
//! A handler here only translates. It turns the JSON body, path and headers
//! into the protobuf request of one gRPC method, calls that method on the
//! in-process gRPC service (the same value the gRPC server serves), and
//! turns the answer into JSON or the `Status` into a [`Problem`]. So every
//! rule, authorization check and validation exists once, in the services
//! and the layers under them (design.md §7).
//!
//! * `extract.rs` — strict JSON bodies, query parameters, and the caller's
//!   token and idempotency key carried into gRPC metadata.
//! * `problem.rs` — RFC 9457 problem+json, and `Status` → HTTP.
//! * `model.rs` — the JSON shapes and their schemas.
//! * `routes/` — one module per service: `auth`, `shows`, `reservations`,
//!   `orders`, `tickets`; `routes/seat_map_events.rs` streams a show's seat
//!   map.
//! * `openapi.rs` — the document's info, security schemes and the error
//!   response every operation shares.
//! * `assets.rs` — the web page (`web/dist`, embedded at build time).
//! * `cors.rs` — the `--cors-origin` allow-list.
//! * `limits.rs` — requests in flight and the deadline per request, from
//!   the same [`ServerLimits`] as gRPC.

// Handlers answer `Result<_, Problem>`; a problem is the whole error answer
// (a few strings), built once on a path that is about to write it out, so
// its size on the stack does not matter.
#![allow(clippy::result_large_err)]

mod assets;
mod cors;
mod extract;
mod limits;
mod model;
mod openapi;
mod problem;
mod routes;

use std::future::Future;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;
use tracing::Instrument;

pub use cors::cors_layer;
pub use problem::{Problem, Violation, PROBLEM_JSON};
pub use ticketing_gateway::Origins;
pub use ticketing_gateway::ServerLimits;
use ticketing_gateway::{CatalogApi, FulfillmentApi, IdentityApi, InventoryApi, OrderingApi};

/// Largest request body the API reads; larger ones get 413.
pub const MAX_BODY: usize = 64 * 1024;

/// The gRPC services the handlers call, the same values the gRPC server
/// serves.
#[derive(Clone)]
pub struct Services {
    pub identity: IdentityApi,
    pub catalog: CatalogApi,
    pub inventory: InventoryApi,
    pub ordering: OrderingApi,
    pub fulfillment: FulfillmentApi,
}

/// The whole HTTP face: `/api/v1/…`, `/api/v1/openapi.json` and the page,
/// within `limits` (in flight, deadline; `limits.rs`).
pub fn router(services: Services, origins: &Origins, limits: &ServerLimits) -> Router {
    let (api, document) = routes::api().with_state(services).split_for_parts();
    let document = openapi::finish(document);
    let api = api
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document) }
            }),
        )
        .route_layer(middleware::from_fn(span))
        .fallback(routes::no_such_path)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY));
    let app = Router::new()
        .nest("/api/v1", api)
        .merge(assets::router())
        .layer(middleware::from_fn_with_state(
            limits::HttpLimits::new(limits),
            limits::limit,
        ));
    match cors_layer(origins) {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, document) = routes::api().split_for_parts();
    openapi::finish(document)
}

/// One tracing span per request, named by its route, not by its raw path.
async fn span(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!("http", method = %request.method(), route);
    next.run(request).instrument(span).await
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (open seat-map streams end when the services'
/// watches stop).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address reaches the services' per-peer limits.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}
