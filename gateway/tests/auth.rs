//! Bearer-token authentication and role checks, without a server: requests
//! are built by hand and verified against an [`Identity`] on SQLite.

use chrono::Duration;
use ticketing_event_store::Backend;
use ticketing_gateway::{caller, AppError};
use ticketing_identity::{migrate, DisplayName, Email, Identity, Password, Role, TokenConfig};

async fn identity(secret: &[u8], ttl: Duration) -> Identity {
    on_pool(memory_database().await, secret, ttl)
}

/// An in-memory database per test; one connection so it stays alive.
async fn memory_database() -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("sqlite");
    migrate(&pool, Backend::Sqlite).await.expect("migrate");
    pool
}

/// Another process's [`Identity`] on the same database.
fn on_pool(pool: sqlx::AnyPool, secret: &[u8], ttl: Duration) -> Identity {
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
        let caller = caller(&identity, &request(Some(&header)))
            .await
            .expect("caller");
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
    assert_unauthenticated(caller(&identity, &request(None)).await);
    assert_unauthenticated(caller(&identity, &request(Some(&token))).await);
    assert_unauthenticated(caller(&identity, &request(Some("Basic dXNlcjpwdw=="))).await);
    assert_unauthenticated(caller(&identity, &request(Some("Bearer "))).await);
    assert_unauthenticated(caller(&identity, &request(Some("Bearer not.a.jwt"))).await);

    let forger = self::identity(b"other secret", Duration::minutes(5)).await;
    let forged = token_for(&forger, Role::Admin).await;
    assert_unauthenticated(caller(&identity, &request(Some(&format!("Bearer {forged}")))).await);

    let stale = self::identity(b"secret", Duration::seconds(-1)).await;
    let expired = token_for(&stale, Role::Customer).await;
    assert_unauthenticated(caller(&identity, &request(Some(&format!("Bearer {expired}")))).await);
}

/// Disabling an account, changing its role and resetting its password each
/// end its sessions: the token is refused at once by the process that made
/// the change, and by another process within `STANDING_TTL`. A disabled
/// account cannot log in; enabled again, it logs in with a fresh token.
#[tokio::test]
async fn tokens_of_a_changed_account_stop_working() {
    let pool = memory_database().await;
    let here = on_pool(pool.clone(), b"secret", Duration::minutes(5));
    let elsewhere = on_pool(pool, b"secret", Duration::minutes(5));
    let token = token_for(&here, Role::Organizer).await;
    let header = format!("Bearer {token}");
    let user = caller(&here, &request(Some(&header)))
        .await
        .expect("caller")
        .user_id;
    caller(&elsewhere, &request(Some(&header)))
        .await
        .expect("valid elsewhere, and now remembered there");

    here.disable(&user).await.expect("disable");
    assert_unauthenticated(caller(&here, &request(Some(&header))).await);
    let started = std::time::Instant::now();
    while caller(&elsewhere, &request(Some(&header))).await.is_ok() {
        assert!(
            started.elapsed()
                < ticketing_identity::STANDING_TTL + std::time::Duration::from_secs(1),
            "another process still takes the token after the standing ttl"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(matches!(
        here.login("c@example.com", "correct horse battery").await,
        Err(ticketing_identity::IdentityError::AccountDisabled)
    ));
    assert!(
        matches!(
            here.login("c@example.com", "wrong horse battery").await,
            Err(ticketing_identity::IdentityError::InvalidCredentials)
        ),
        "a wrong password learns nothing of the account"
    );

    here.enable(&user).await.expect("enable");
    assert_unauthenticated(caller(&here, &request(Some(&header))).await);
    let fresh = login(&here, "correct horse battery").await;
    let organizer = caller(&here, &request(Some(&fresh))).await.expect("caller");
    assert_eq!(organizer.role, Role::Organizer);

    here.set_role(&user, Role::Analyst).await.expect("set role");
    assert_unauthenticated(caller(&here, &request(Some(&fresh))).await);
    let analyst = login(&here, "correct horse battery").await;
    let caller_now = caller(&here, &request(Some(&analyst)))
        .await
        .expect("caller");
    assert_eq!(caller_now.role, Role::Analyst);

    let new_password = Password::parse("a brand new secret").expect("password");
    here.reset_password(&user, new_password)
        .await
        .expect("reset");
    assert_unauthenticated(caller(&here, &request(Some(&analyst))).await);
    assert!(here
        .login("c@example.com", "correct horse battery")
        .await
        .is_err());
    login(&here, "a brand new secret").await;
}

async fn login(identity: &Identity, password: &str) -> String {
    let token = identity
        .login("c@example.com", password)
        .await
        .expect("login")
        .token;
    format!("Bearer {token}")
}
