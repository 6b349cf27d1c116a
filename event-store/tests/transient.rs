//! `is_transient` and the store's error mapping against real failures:
//! errors a Postgres server raised with each SQLSTATE class (through the
//! event pool's driver and the read models' `Any` driver), a session the
//! server terminated, the dead connection it leaves behind, and a SQLite
//! database another connection holds locked.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url, raising};
use ticketing_event_store::{is_transient, StoreError};

/// One of each class the issue names: connection exception, transaction
/// rollback, insufficient resources, operator intervention.
const TRANSIENT: [&str; 9] = [
    "08003", "08006", "40001", "40P01", "53300", "57P01", "57P02", "57P03", "57014",
];

/// Bugs and bad data: never worth a retry.
const PERMANENT: [&str; 5] = ["42P01", "22P02", "23503", "P0001", "XX000"];

fn is_unavailable(err: sqlx::Error) -> bool {
    matches!(StoreError::from(err), StoreError::Unavailable(_))
}

fn is_other(err: sqlx::Error) -> bool {
    matches!(StoreError::from(err), StoreError::Other(_))
}

#[tokio::test]
async fn every_transient_sqlstate_class_is_unavailable_on_both_drivers() {
    let url = fresh_postgres_url().await;
    let mut pg = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::any::install_default_drivers();
    let mut any = sqlx::AnyConnection::connect(&url).await.expect("connect");
    for code in TRANSIENT.into_iter().chain(PERMANENT) {
        let transient = TRANSIENT.contains(&code);
        let on_pg = sqlx::query(&raising(code))
            .execute(&mut pg)
            .await
            .expect_err("raised");
        let on_any = sqlx::query(&raising(code))
            .execute(&mut any)
            .await
            .expect_err("raised");
        for err in [on_pg, on_any] {
            let db = err.as_database_error().expect("a server error");
            assert_eq!(db.code().as_deref(), Some(code), "{err}");
            assert_eq!(is_transient(&err), transient, "{code}: {err}");
            if transient {
                assert!(is_unavailable(err), "{code}");
            } else {
                assert!(is_other(err), "{code}");
            }
        }
    }
}

/// What a pooled connection meets when the server restarts: the session is
/// terminated by an administrator command (57P01), and the socket it
/// leaves is dead on the next use.
#[tokio::test]
async fn a_terminated_session_and_its_dead_connection_are_transient() {
    let url = fresh_postgres_url().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let terminated = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut conn)
        .await
        .expect_err("the server ends the session");
    let code = terminated.as_database_error().and_then(|db| db.code());
    assert_eq!(code.as_deref(), Some("57P01"), "{terminated}");
    assert!(is_transient(&terminated));
    assert!(is_unavailable(terminated));

    let dead = conn.execute("SELECT 1").await.expect_err("dead connection");
    assert!(is_transient(&dead), "{dead:?}");
    assert!(is_unavailable(dead));
}

/// A unique violation stays a lost race, not an outage.
#[tokio::test]
async fn a_unique_violation_is_a_conflict_not_an_outage() {
    let url = fresh_postgres_url().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    conn.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        .await
        .expect("table");
    let err = conn
        .execute("INSERT INTO t VALUES (1)")
        .await
        .expect_err("duplicate");
    assert!(!is_transient(&err));
    assert!(matches!(StoreError::from(err), StoreError::Conflict));
}

#[tokio::test]
async fn a_sqlite_database_locked_past_the_busy_timeout_is_transient() {
    let options = SqliteConnectOptions::from_str(&fresh_sqlite_url())
        .expect("url")
        .create_if_missing(true)
        .busy_timeout(Duration::ZERO);
    let mut holder = options.connect().await.expect("connect");
    holder.execute("BEGIN IMMEDIATE").await.expect("lock");
    let mut waiter = options.connect().await.expect("connect");
    let busy = waiter.execute("BEGIN IMMEDIATE").await.expect_err("locked");
    assert!(is_transient(&busy), "{busy}");
    assert!(is_unavailable(busy));

    let missing = waiter
        .execute("SELECT * FROM no_such_table")
        .await
        .expect_err("no table");
    assert!(!is_transient(&missing), "{missing}");
}

/// A server that refuses connections is an outage too (the pool's own
/// retries end in `PoolTimedOut`, a lone connection in an I/O error).
#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("addr").port()
    };
    let options = PgConnectOptions::new().host("127.0.0.1").port(port);
    let refused = options.connect().await.expect_err("nothing listens");
    assert!(is_transient(&refused), "{refused:?}");
}
