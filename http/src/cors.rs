//! CORS for the HTTP API, from `--cors-origin`: off unless origins are
//! given (the page is served from the same origin and needs none).

use axum::http::{header, HeaderName, Method};
use ticketing_gateway::Origins;
use tower_http::cors::CorsLayer;

/// The API's CORS layer, or `None` when no origin is allowed.
pub fn cors_layer(origins: &Origins) -> Option<CorsLayer> {
    let allow = origins.allow()?;
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([header::RETRY_AFTER, header::CONTENT_DISPOSITION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
