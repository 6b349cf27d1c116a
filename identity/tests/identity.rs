//! Adapter tests of [`Identity`] against real SQLite and Postgres: each
//! scenario runs once per backend on a fresh database.

mod support;

use chrono::{Duration, Utc};
use support::{tokens, TestDb};
use ticketing_event_store::Backend;
use ticketing_identity::{
    migrate, DisplayName, Email, Identity, IdentityError, Password, Role, TokenConfig, User,
};

const PASSWORD: &str = "correct horse battery";

async fn register(identity: &Identity, email: &str, name: &str) -> Result<User, IdentityError> {
    add_user(identity, email, name, Role::Customer).await
}

async fn add_user(
    identity: &Identity,
    email: &str,
    name: &str,
    role: Role,
) -> Result<User, IdentityError> {
    let email = Email::parse(email).expect("valid email");
    let password = Password::parse(PASSWORD).expect("valid password");
    let name = DisplayName::parse(name).expect("valid name");
    if role == Role::Customer {
        identity.register(email, password, name).await
    } else {
        identity.add_user(email, password, name, role).await
    }
}

async fn round_trip(db: &TestDb) {
    let identity = db.identity(tokens(
        &TokenConfig::generate_secret(),
        Duration::minutes(15),
    ));
    let user = register(&identity, "  Ada@Example.COM ", " Ada Lovelace ")
        .await
        .expect("register");
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.display_name.as_str(), "Ada Lovelace");
    assert_eq!(user.role, Role::Customer);
    assert!(user.user_id.as_str().starts_with("u_"));

    let before = Utc::now();
    let token = identity
        .login("ada@example.com", PASSWORD)
        .await
        .expect("login");
    assert!(token.expires_at > before + Duration::minutes(14));
    assert!(token.expires_at <= Utc::now() + Duration::minutes(15));

    let claims = identity.verify(&token.token).expect("verify");
    assert_eq!(claims.user_id, user.user_id);
    assert_eq!(claims.role, Role::Customer);
    assert_eq!(claims.expires_at, token.expires_at);

    let found = identity
        .user(&user.user_id)
        .await
        .expect("by id")
        .expect("found by id");
    assert_eq!(
        (
            &found.user_id,
            &found.email,
            &found.display_name,
            found.role
        ),
        (&user.user_id, &user.email, &user.display_name, user.role),
        "found by id, as registered"
    );
    let stranger = ticketing_identity::UserId::generate();
    assert_eq!(identity.user(&stranger).await.expect("by id"), None);

    let organizer = add_user(&identity, "org@example.com", "Org", Role::Organizer)
        .await
        .expect("add organizer");
    let token = identity
        .login("ORG@example.com", PASSWORD)
        .await
        .expect("login organizer");
    let claims = identity.verify(&token.token).expect("verify organizer");
    assert_eq!(claims.role, Role::Organizer);
    assert_eq!(claims.user_id, organizer.user_id);

    // Migrating an existing database again changes nothing.
    migrate(&db.pool, db.backend).await.expect("re-migrate");
    identity
        .login("ada@example.com", PASSWORD)
        .await
        .expect("login after re-migrate");
}

async fn duplicate_email(db: &TestDb) {
    let identity = db.identity(tokens(b"k", Duration::minutes(1)));
    register(&identity, "A@x.io", "First").await.expect("first");
    let err = register(&identity, "a@x.io", "Second")
        .await
        .expect_err("duplicate");
    assert!(matches!(err, IdentityError::EmailTaken), "{err:?}");
}

async fn bad_credentials(db: &TestDb) {
    let identity = db.identity(tokens(b"k", Duration::minutes(1)));
    register(&identity, "bob@example.com", "Bob")
        .await
        .expect("register");
    for (email, password) in [
        ("bob@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("not-an-email", PASSWORD),
        ("bob@example.com", "short"),
    ] {
        let err = identity.login(email, password).await.expect_err(email);
        assert!(
            matches!(err, IdentityError::InvalidCredentials),
            "{email}: {err:?}"
        );
    }
}

async fn rejected_tokens(db: &TestDb) {
    let secret = TokenConfig::generate_secret();
    let identity = db.identity(tokens(&secret, Duration::minutes(5)));
    register(&identity, "eve@example.com", "Eve")
        .await
        .expect("register");

    let forger = db.identity(tokens(
        &TokenConfig::generate_secret(),
        Duration::minutes(5),
    ));
    let forged = forger
        .login("eve@example.com", PASSWORD)
        .await
        .expect("login");
    let err = identity.verify(&forged.token).expect_err("forged");
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");

    let other_issuer = db.identity(TokenConfig {
        issuer: "someone-else".to_owned(),
        ..tokens(&secret, Duration::minutes(5))
    });
    let token = other_issuer
        .login("eve@example.com", PASSWORD)
        .await
        .expect("login");
    let err = identity.verify(&token.token).expect_err("issuer");
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");

    let stale = db.identity(tokens(&secret, Duration::seconds(-1)));
    let expired = stale
        .login("eve@example.com", PASSWORD)
        .await
        .expect("login");
    let err = identity.verify(&expired.token).expect_err("expired");
    assert!(matches!(err, IdentityError::TokenExpired), "{err:?}");

    for garbage in ["", "garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        let err = identity.verify(garbage).expect_err(garbage);
        assert!(
            matches!(err, IdentityError::InvalidToken),
            "{garbage}: {err:?}"
        );
    }
}

/// A users table made before accounts could be managed lacks `disabled`
/// and `generation`, and no schema versions: migrating adds them, and its accounts log in and their
/// tokens authorize as before.
async fn an_older_table_gains_the_account_columns(db: &TestDb) {
    let identity = db.identity(tokens(b"k", Duration::minutes(1)));
    register(&identity, "old@example.com", "Old")
        .await
        .expect("register");
    let table = match db.backend {
        Backend::Postgres => "bc_identity.users",
        Backend::Sqlite => "users",
    };
    for column in ["disabled", "generation"] {
        sqlx::query(&format!("ALTER TABLE {table} DROP COLUMN {column}"))
            .execute(&db.pool)
            .await
            .expect("the older shape");
    }
    // Made before schema versions existed: nothing recorded either.
    sqlx::query("DROP TABLE ticketing_schema_migrations")
        .execute(&db.pool)
        .await
        .expect("no versions");
    migrate(&db.pool, db.backend).await.expect("migrate");
    let token = identity
        .login("old@example.com", PASSWORD)
        .await
        .expect("login");
    identity.authorize(&token.token).await.expect("authorize");
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let db = super::TestDb::sqlite().await;
                    super::$scenario(&db).await;
                    db.drop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let db = super::TestDb::postgres().await;
                    super::$scenario(&db).await;
                    db.drop().await;
                }
            )*
        }
    };
}

on_both_backends!(
    round_trip,
    duplicate_email,
    bad_credentials,
    rejected_tokens,
    an_older_table_gains_the_account_columns
);
