//! Black-box tests: a real gateway on a random port, spoken to by the
//! generated clients, the health and reflection clients, and raw grpc-web
//! over HTTP/1.1.

mod support;

use prost::Message;
use support::spawn_app;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::{LoginRequest, LoginResponse, RegisterRequest, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_types::StatusExt;

fn register_request(email: &str) -> RegisterRequest {
    RegisterRequest {
        email: email.to_owned(),
        password: "correct horse battery".to_owned(),
        display_name: "Ada".to_owned(),
    }
}

#[tokio::test]
async fn register_then_duplicate_is_already_exists() {
    let app = spawn_app().await;
    let mut client = IdentityServiceClient::new(app.channel().await);

    let user = client
        .register(register_request("Ada@Example.com"))
        .await
        .expect("register")
        .into_inner();
    assert_eq!(user.role(), Role::Customer);
    assert_eq!(user.email, "ada@example.com");
    assert!(user.user_id.starts_with("u_"));

    let status = client
        .register(register_request("ada@example.com"))
        .await
        .expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
    app.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_bad_request_violations() {
    let app = spawn_app().await;
    let mut client = IdentityServiceClient::new(app.channel().await);

    let status = client
        .register(RegisterRequest {
            password: "short".to_owned(),
            ..register_request("not-an-email")
        })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status
        .get_details_bad_request()
        .expect("BadRequest details");
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    assert!(bad_request
        .field_violations
        .iter()
        .all(|v| !v.description.is_empty()));
    app.stop().await;
}

#[tokio::test]
async fn login_with_wrong_password_is_unauthenticated() {
    let app = spawn_app().await;
    let mut client = IdentityServiceClient::new(app.channel().await);
    client
        .register(register_request("bob@example.com"))
        .await
        .expect("register");

    let status = client
        .login(LoginRequest {
            email: "bob@example.com".to_owned(),
            password: "wrong password".to_owned(),
        })
        .await
        .expect_err("wrong password");
    assert_eq!(status.code(), Code::Unauthenticated);

    let token = client
        .login(LoginRequest {
            email: "bob@example.com".to_owned(),
            password: "correct horse battery".to_owned(),
        })
        .await
        .expect("login")
        .into_inner();
    assert!(!token.access_token.is_empty());
    assert!(token.expires_at.is_some());
    app.stop().await;
}

#[tokio::test]
async fn health_reports_identity_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel().await);
    let response = health
        .check(HealthCheckRequest {
            service: "ticketing.v1.IdentityService".to_owned(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(response.status(), ServingStatus::Serving);
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_contract() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let app = spawn_app().await;
    let mut reflection = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("stream")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected response {response:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "ticketing.v1.IdentityService",
        "ticketing.v1.InventoryService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn grpc_web_login_over_http1() {
    let app = spawn_app().await;
    let mut client = IdentityServiceClient::new(app.channel().await);
    client
        .register(register_request("web@example.com"))
        .await
        .expect("register");

    let message = LoginRequest {
        email: "web@example.com".to_owned(),
        password: "correct horse battery".to_owned(),
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).expect("len").to_be_bytes());
    body.extend_from_slice(&message);
    let head = format!(
        "POST /ticketing.v1.IdentityService/Login HTTP/1.1\r\n\
         Host: {}\r\n\
         Content-Type: application/grpc-web+proto\r\n\
         X-Grpc-Web: 1\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        app.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.expect("tcp");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body).await.expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");

    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: application/grpc-web+proto"),
        "{headers}"
    );
    let payload = &raw[split + 4..];
    let payload = if headers.contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_vec()
    };

    let frames = grpc_web_frames(&payload);
    let (_, data) = frames
        .iter()
        .find(|(flag, _)| *flag == 0)
        .expect("data frame");
    let response = LoginResponse::decode(data.as_slice()).expect("LoginResponse");
    assert!(!response.access_token.is_empty());
    let (_, trailers) = frames
        .iter()
        .find(|(flag, _)| *flag == 0x80)
        .expect("trailers frame");
    let trailers = String::from_utf8_lossy(trailers).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    app.stop().await;
}

/// The (flag, payload) frames of a grpc-web body.
fn grpc_web_frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        frames.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "trailing bytes after frames");
    frames
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size_line = std::str::from_utf8(&body[..eol]).expect("ascii");
        let size = usize::from_str_radix(size_line.split(';').next().expect("size").trim(), 16)
            .expect("hex size");
        body = &body[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// A guesser gets five tries per email, then RESOURCE_EXHAUSTED with
/// RetryInfo, the right password included; fifty failures from one
/// address throttle every email tried from it.
#[tokio::test]
async fn failed_logins_are_throttled_per_email_and_per_peer() {
    let app = spawn_app().await;
    let mut client = IdentityServiceClient::new(app.channel().await);
    for email in ["eve@example.com", "bob@example.com"] {
        client
            .register(register_request(email))
            .await
            .expect("register");
    }
    let login = |email: &str, password: &str| LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
    };
    for _ in 0..5 {
        let status = client
            .login(login("eve@example.com", "wrong password!"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = client
        .login(login("Eve@Example.com", "correct horse battery"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let delay = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("RetryInfo");
    assert!(delay > std::time::Duration::ZERO && delay <= std::time::Duration::from_secs(300));
    let reason = status.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("LOGIN_THROTTLED"));
    client
        .login(login("bob@example.com", "correct horse battery"))
        .await
        .expect("another email still logs in");

    for i in 0..45 {
        let status = client
            .login(login(&format!("nobody{i}@example.com"), "wrong password!"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "attempt {i}");
    }
    let status = client
        .login(login("bob@example.com", "correct horse battery"))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "the address is throttled"
    );
    app.stop().await;
}
