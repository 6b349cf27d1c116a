//! Bearer-token authentication and role checks, without a server: requests
//! are built by hand and verified against an [`Identity`] on SQLite.

use chrono::Duration;
use ticketing_event_store::Backend;
use ticketing_gateway::{caller, AppError};
use ticketing_identity::{migrate, DisplayName, Email, Identity, Password, Role, TokenConfig};

async fn identity(secret: &[u8], ttl: Duration) -> Identity {
    sqlx::any::install_default_drivers();
    // An in-memory database per test; one connection so it stays alive.
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("sqlite");
    migrate(&pool, Backend::Sqlite).await.expect("migrate");
    let config = TokenConfig {
        secret: secret.to_vec(),
        ttl,
        issuer: "ticketing-test".to_owned(),
    };
    Identity::new(pool, Backend::Sqlite, config)
}

async fn token_for(identity: &Identity, role: Role) -> String {
    identity
        .add_user(
            Email::parse("c@example.com").expect("email"),
            Password::parse("correct horse battery").expect("password"),
            DisplayName::parse("C").expect("name"),
            role,
        )
        .await
        .expect("add user");
    identity
        .login("c@example.com", "correct horse battery")
        .await
        .expect("login")
        .token
}

fn request(authorization: Option<&str>) -> tonic::Request<()> {
    let mut req = tonic::Request::new(());
    if let Some(value) = authorization {
        req.metadata_mut()
            .insert("authorization", value.parse().expect("ascii"));
    }
    req
}

fn assert_unauthenticated(result: Result<ticketing_gateway::Caller, AppError>) {
    match result {
        Err(AppError::Unauthenticated(message)) => assert!(!message.is_empty()),
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn bearer_token_identifies_the_caller() {
    let identity = identity(b"secret", Duration::minutes(5)).await;
    let token = token_for(&identity, Role::Organizer).await;
    for header in [format!("Bearer {token}"), format!("bearer  {token}")] {
        let caller = caller(&identity, &request(Some(&header))).expect("caller");
        assert_eq!(caller.role, Role::Organizer);
        assert!(caller.require(&[Role::Organizer, Role::Admin]).is_ok());
        assert!(matches!(
            caller.require(&[Role::Customer]),
            Err(AppError::PermissionDenied(_))
        ));
    }
}

#[tokio::test]
async fn missing_malformed_forged_and_expired_tokens_are_unauthenticated() {
    let identity = identity(b"secret", Duration::minutes(5)).await;
    let token = token_for(&identity, Role::Customer).await;
    assert_unauthenticated(caller(&identity, &request(None)));
    assert_unauthenticated(caller(&identity, &request(Some(&token))));
    assert_unauthenticated(caller(&identity, &request(Some("Basic dXNlcjpwdw=="))));
    assert_unauthenticated(caller(&identity, &request(Some("Bearer "))));
    assert_unauthenticated(caller(&identity, &request(Some("Bearer not.a.jwt"))));

    let forger = self::identity(b"other secret", Duration::minutes(5)).await;
    let forged = token_for(&forger, Role::Admin).await;
    assert_unauthenticated(caller(
        &identity,
        &request(Some(&format!("Bearer {forged}"))),
    ));

    let stale = self::identity(b"secret", Duration::seconds(-1)).await;
    let expired = token_for(&stale, Role::Customer).await;
    assert_unauthenticated(caller(
        &identity,
        &request(Some(&format!("Bearer {expired}"))),
    ));
}
