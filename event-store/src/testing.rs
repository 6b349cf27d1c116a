//! Test support shared by every crate's tests: a fresh, empty database per
//! test on each backend.
//!
//! Postgres tests never skip: when the server cannot be reached they panic,
//! so a missing database shows up as a failure rather than a green run.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

/// The server tests use unless `TICKETING_TEST_PG_URL` says otherwise.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Creates database `t_<ulid>` on the test server and returns its URL.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("TICKETING_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let options: PgConnectOptions = base
        .parse()
        .unwrap_or_else(|e| panic!("TICKETING_TEST_PG_URL {base:?} is not a Postgres URL: {e}"));
    let mut conn = PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot reach Postgres at {base} (set TICKETING_TEST_PG_URL): {e}")
        });
    let name = format!("t_{}", ulid::Ulid::new().to_string().to_lowercase());
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name} at {base}: {e}"));
    // Best effort: the database exists either way.
    let _ = conn.close().await;
    options.database(&name).to_url_lossy().to_string()
}

/// The URL of a new SQLite file under the system temp directory; the file is
/// created on first connect.
pub fn fresh_sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!(
        "ticketing-test-{}.db",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    format!("sqlite://{}", path.display())
}
