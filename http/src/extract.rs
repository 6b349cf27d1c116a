//! What a handler takes from an HTTP request, with every refusal answered as
//! a [`Problem`]:
//!
//! * [`Body`] — a strict JSON body: `application/json` only (415), at most
//!   the router's body limit (413), well-formed (400 `MALFORMED_JSON`), of
//!   the right shape with no unknown fields (422 `INVALID_JSON`, with the
//!   offending field's path as a violation).
//! * [`Params`] — query parameters (400 on a bad one).
//! * [`Credentials`] — the bearer token (the `Authorization` header, else
//!   the session cookie set at login) and the `Idempotency-Key` header,
//!   carried into the gRPC request the in-process service receives. The
//!   services check them; this layer only moves them.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::server::TcpConnectInfo;

use crate::problem::{Problem, Violation};

/// The cookie that carries the access token for the web page.
pub const SESSION_COOKIE: &str = "ticketing_session";

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = read_body(req).await?;
        parse(&bytes).map(Body)
    }
}

/// Bodies up to this size are read to their end even when too large, so a
/// client that writes its whole body before reading the answer gets the
/// 413 instead of a broken connection; larger ones are cut off at once.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// The body if it is at most [`MAX_BODY`](crate::MAX_BODY) bytes, else 413.
async fn read_body(req: Request) -> Result<Vec<u8>, Problem> {
    use futures::StreamExt;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let mut stream = req.into_body().into_data_stream();
    let (mut bytes, mut total) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_BODY",
                "the request body could not be read",
            )
        })?;
        total += chunk.len();
        if total > DRAIN_LIMIT {
            return Err(too_large());
        }
        if total <= crate::MAX_BODY {
            bytes.extend_from_slice(&chunk);
        }
    }
    if total > crate::MAX_BODY {
        return Err(too_large());
    }
    Ok(bytes)
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
        "the request body is larger than the 64 KiB this API accepts",
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.rsplit_once('+').is_some_and(|(kind, suffix)| {
            kind.starts_with("application/") && suffix.eq_ignore_ascii_case("json")
        })
}

/// Parses `bytes` as `T`, telling a syntax error (400) from a value of the
/// wrong shape (422, naming the field).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return malformed(&inner);
        }
        let field = if path == "." { "body".to_owned() } else { path };
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_JSON",
            format!("{field}: {inner}"),
        );
        problem.violations.push(Violation {
            field,
            description: inner.to_string(),
        });
        problem
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(error: &serde_json::Error) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
        format!("the body is not valid JSON: {error}"),
    )
}

/// Query parameters of type `T`.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                rejection.body_text(),
            )),
        }
    }
}

/// The caller's token and idempotency key, as gRPC metadata, and its peer
/// address (for the services' per-peer limits, e.g. failed logins).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    metadata: MetadataMap,
    peer: Option<SocketAddr>,
}

impl Credentials {
    /// A gRPC request for an in-process service, carrying the credentials
    /// and the peer address as a gRPC connection would.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: self.peer,
        });
        request
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let headers = &parts.headers;
        let mut metadata = MetadataMap::new();
        let authorization = match headers.get(header::AUTHORIZATION) {
            Some(value) => Some(ascii(value.as_bytes(), "Authorization")?),
            None => session_cookie(headers)
                .map(|token| ascii(format!("Bearer {token}").as_bytes(), "Cookie"))
                .transpose()?,
        };
        if let Some(value) = authorization {
            metadata.insert("authorization", value);
        }
        if let Some(value) = min_token(headers)? {
            metadata.insert(ticketing_gateway::MIN_TOKEN_HEADER, value);
        }
        if let Some(value) = headers.get("idempotency-key") {
            metadata.insert(
                ticketing_gateway::IDEMPOTENCY_KEY,
                ascii(value.as_bytes(), "Idempotency-Key")?,
            );
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        Ok(Self { metadata, peer })
    }
}

/// Read-your-writes: the token a command answered, sent back on a query.
fn min_token(headers: &HeaderMap) -> Result<Option<AsciiMetadataValue>, Problem> {
    headers
        .get(ticketing_gateway::MIN_TOKEN_HEADER)
        .map(|value| ascii(value.as_bytes(), "Min-Consistency-Token"))
        .transpose()
}

/// What a public query (no credentials needed) forwards: its
/// `Min-Consistency-Token` only. Credentials are left out on purpose: a
/// stale session cookie must not turn a public page into a 401.
pub struct ReadToken(Option<AsciiMetadataValue>);

impl ReadToken {
    /// A gRPC request for an in-process service, carrying the token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert(ticketing_gateway::MIN_TOKEN_HEADER, value.clone());
        }
        request
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReadToken {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        Ok(Self(min_token(&parts.headers)?))
    }
}

fn ascii(bytes: &[u8], field: &str) -> Result<AsciiMetadataValue, Problem> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Problem::invalid(field, "must be visible ASCII"))
}

/// The token in the session cookie, if the request sent one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, token)| token.to_owned())
        .filter(|token| !token.is_empty())
}

/// A command's consistency token (`consistency-token` of its gRPC answer)
/// as the HTTP `Consistency-Token` header: send it back as
/// `Min-Consistency-Token` on a query to read the write.
pub type TokenHeader = axum::response::AppendHeaders<Option<(&'static str, String)>>;

/// [`TokenHeader`] of `response`.
pub fn token_header<T>(response: &tonic::Response<T>) -> TokenHeader {
    let token = response
        .metadata()
        .get(ticketing_gateway::TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| (ticketing_gateway::TOKEN_HEADER, v.to_owned()));
    axum::response::AppendHeaders(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Hold {
        show_id: String,
        seat_labels: Vec<String>,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422_naming_the_field() {
        let problem = parse::<Hold>(b"{\"show_id\": ").unwrap_err();
        assert_eq!(
            (problem.status, problem.reason.as_str()),
            (400, "MALFORMED_JSON")
        );

        let problem = parse::<Hold>(br#"{"show_id": "s", "seat_labels": [1]}"#).unwrap_err();
        assert_eq!(
            (problem.status, problem.reason.as_str()),
            (422, "INVALID_JSON")
        );
        assert_eq!(problem.violations[0].field, "seat_labels[0]");

        let problem = parse::<Hold>(br#"{"show_id": "s", "seat_labels": [], "x": 1}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert!(
            problem.detail.contains("unknown field `x`"),
            "{}",
            problem.detail
        );

        let problem =
            parse::<Hold>(br#"{"show_id": "s", "seat_labels": []} trailing"#).unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn json_media_types_are_recognised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; ticketing_session=tok.en; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("tok.en"));
        headers.insert(header::COOKIE, "ticketing_session=".parse().unwrap());
        assert_eq!(session_cookie(&headers), None);
    }
}
