//! CORS, from `--cors-origin`: off unless origins are given. [`Origins`]
//! is shared with the HTTP/JSON face; [`grpc_web_cors`] is the layer for
//! grpc-web, which browsers call cross-origin.

use std::time::Duration;

use tonic::codegen::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Origins allowed to call the API from a browser, e.g.
/// `https://shop.example.com`.
#[derive(Debug, Clone, Default)]
pub struct Origins(pub Vec<HeaderValue>);

impl Origins {
    /// Parses each origin; `*` allows any.
    pub fn parse(origins: &[String]) -> Result<Self, String> {
        origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin.trim_end_matches('/'))
                    .map_err(|_| format!("not a valid CORS origin: {origin:?}"))
            })
            .collect::<Result<_, _>>()
            .map(Origins)
    }

    /// `None` when no origin is allowed.
    pub fn allow(&self) -> Option<AllowOrigin> {
        if self.0.is_empty() {
            None
        } else if self.0.iter().any(|o| o == "*") {
            Some(AllowOrigin::any())
        } else {
            Some(AllowOrigin::list(self.0.clone()))
        }
    }
}

/// The layer that lets the allowed origins call the gRPC services with
/// grpc-web, or `None` when no origin is allowed.
pub fn grpc_web_cors(origins: &Origins) -> Option<CorsLayer> {
    let allow = origins.allow()?;
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-grpc-web"),
                HeaderName::from_static("x-user-agent"),
                HeaderName::from_static("grpc-timeout"),
            ])
            .expose_headers([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_star_allows_any() {
        assert!(Origins::parse(&[]).unwrap().allow().is_none());
        let origins = Origins::parse(&["https://shop.example.com/".to_owned()]).unwrap();
        assert_eq!(origins.0, ["https://shop.example.com"]);
        assert!(Origins::parse(&["bad\norigin".to_owned()]).is_err());
        assert!(grpc_web_cors(&Origins::parse(&["*".to_owned()]).unwrap()).is_some());
    }
}
