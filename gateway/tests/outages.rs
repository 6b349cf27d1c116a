//! A database restart or failover answers the same on every path: a real
//! server error of each transient SQLSTATE class, met by a command (the
//! event store), a query (a read model), identity (login, register) or an
//! idempotency record, becomes UNAVAILABLE with RetryInfo; a bug stays
//! INTERNAL and echoes nothing.

use sqlx::{AnyConnection, Connection};
use ticketing_commands::CommandError;
use ticketing_event_store::testing::{fresh_postgres_url, raising};
use ticketing_event_store::{find_idempotency, Backend, StoreError};
use ticketing_gateway::AppError;
use ticketing_identity::IdentityError;
use ticketing_projections::ProjectionError;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Connection exception, transaction rollback, insufficient resources,
/// operator intervention (admin shutdown, crash shutdown, starting up).
const TRANSIENT: [&str; 8] = [
    "08003", "08006", "40001", "40P01", "53300", "57P01", "57P02", "57P03",
];

/// The status each path answers with when its database call fails with
/// the error `raise` makes.
async fn statuses(raise: impl AsyncFn() -> sqlx::Error) -> Vec<(&'static str, Status)> {
    let command = AppError::from(CommandError::from(StoreError::from(raise().await)));
    let read_model = AppError::from(ProjectionError::from(raise().await));
    let feed = AppError::from(ProjectionError::from(StoreError::from(raise().await)));
    let identity = AppError::from(IdentityError::from(raise().await));
    [
        ("command", command),
        ("read model", read_model),
        ("feed", feed),
        ("identity", identity),
    ]
    .into_iter()
    .map(|(path, error)| (path, Status::from(error)))
    .collect()
}

async fn connect() -> AnyConnection {
    sqlx::any::install_default_drivers();
    let url = fresh_postgres_url().await;
    AnyConnection::connect(&url).await.expect("connect")
}

#[tokio::test]
async fn transient_server_errors_are_unavailable_with_retry_info_on_every_path() {
    let conn = tokio::sync::Mutex::new(connect().await);
    for code in TRANSIENT {
        let raise = async || {
            let mut conn = conn.lock().await;
            sqlx::query(&raising(code))
                .execute(&mut *conn)
                .await
                .expect_err("raised")
        };
        for (path, status) in statuses(raise).await {
            assert_eq!(status.code(), Code::Unavailable, "{code} on {path}");
            assert!(
                status.get_details_retry_info().is_some(),
                "{code} on {path}: {status:?}"
            );
            assert!(!status.message().contains("raised by a test"), "{status:?}");
        }
    }
}

#[tokio::test]
async fn a_bug_is_still_internal_on_every_path() {
    let conn = tokio::sync::Mutex::new(connect().await);
    let raise = async || {
        let mut conn = conn.lock().await;
        sqlx::query(&raising("42P01"))
            .execute(&mut *conn)
            .await
            .expect_err("raised")
    };
    for (path, status) in statuses(raise).await {
        assert_eq!(status.code(), Code::Internal, "{path}");
        assert_eq!(status.message(), "internal error", "{path}");
    }
}

/// An idempotency lookup on a connection the server terminated, as every
/// pooled connection is after a restart: UNAVAILABLE, so the client
/// retries with the same key.
#[tokio::test]
async fn an_idempotency_lookup_on_a_terminated_session_is_unavailable() {
    let mut conn = connect().await;
    sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut conn)
        .await
        .expect_err("the server ends the session");
    let lost = find_idempotency(&mut conn, Backend::Postgres, "u_1:ReserveSeats", "k-1")
        .await
        .expect_err("dead connection");
    let status = Status::from(AppError::from(CommandError::from(lost)));
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.get_details_retry_info().is_some());
}
