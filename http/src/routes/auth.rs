//! `/auth`: register a customer account, log in (a bearer token, and the
//! same token in an HttpOnly cookie for the web page), log out.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use axum::Json;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::identity_service_server::IdentityService;

use crate::extract::{Body, Credentials, SESSION_COOKIE};
use crate::model::{time, LoginRequest, RegisterRequest, Session, User};
use crate::{Problem, Services};

/// Registers a customer account.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body answer as before")),
    responses(
        (status = 201, description = "The account exists", body = User),
        (status = 409, description = "The email is already registered (ALREADY_EXISTS)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(services): State<Services>,
    credentials: Credentials,
    Body(body): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<User>), Problem> {
    let request = credentials.request(pb::RegisterRequest::from(body));
    let user = IdentityService::register(&services.identity, request).await?;
    Ok((StatusCode::CREATED, Json(user.into_inner().into())))
}

/// Logs in: the token to send as `Authorization: Bearer …`; the answer
/// also sets it as an HttpOnly, SameSite=Strict cookie for the web page.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = Session),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this email or from this address (LOGIN_THROTTLED); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(services): State<Services>,
    credentials: Credentials,
    headers: HeaderMap,
    Body(body): Body<LoginRequest>,
) -> Result<impl IntoResponse, Problem> {
    let request = credentials.request(pb::LoginRequest {
        email: body.email,
        password: body.password,
    });
    let reply = IdentityService::login(&services.identity, request)
        .await?
        .into_inner();
    let session = Session {
        expires_at: time(reply.expires_at),
        access_token: reply.access_token,
    };
    let max_age = session
        .expires_at
        .map_or(0, |at| (at - chrono::Utc::now()).num_seconds().max(0));
    let cookie = session_cookie(&session.access_token, max_age, behind_https(&headers));
    Ok((AppendHeaders([(header::SET_COOKIE, cookie)]), Json(session)))
}

/// Logs out of the web page: forgets the session cookie. (A token already
/// handed out stays valid until it expires.)
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "The cookie is cleared")))]
pub async fn logout(headers: HeaderMap) -> impl IntoResponse {
    let cookie = session_cookie("", 0, behind_https(&headers));
    (
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, cookie)]),
    )
}

/// Whether a proxy in front terminated TLS: then the cookie is `Secure`.
fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/api/v1; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    // A JWT is base64url and dots, so the cookie is always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}
