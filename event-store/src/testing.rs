//! Test support shared by every crate's tests: a fresh, empty database per
//! test on each backend, and statements that fail with a chosen SQLSTATE.
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

/// Waits until the global feed shows every committed event of `store`.
///
/// On Postgres the feed rightly holds back events while any older
/// transaction on the server is open — under parallel tests, another test's
/// in another database. A test that compares the feed, or a projection fed
/// by it, with what it wrote waits here first; once the feed shows an event
/// it always will. Panics after 30 s.
pub async fn settle_feed(store: &crate::Store) {
    let table = match store.backend() {
        crate::Backend::Postgres => "event_store.events",
        crate::Backend::Sqlite => "events",
    };
    let committed: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(store.read_pool())
        .await
        .expect("count the log");
    for _ in 0..600 {
        let mut seen = 0_i64;
        let mut after = crate::FeedPosition::START;
        loop {
            let page = store
                .read_feed(0, after, 1000)
                .await
                .expect("read the feed");
            let Some(last) = page.last() else { break };
            after = last.position;
            seen += page.len() as i64;
        }
        if seen >= committed {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the feed never showed all {committed} committed events");
}

/// A statement that fails on Postgres with SQLSTATE `code` (five
/// characters), for tests that need a real server error of a given class
/// without doing to the server what would cause it.
pub fn raising(code: &str) -> String {
    assert!(
        code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric()),
        "not a SQLSTATE: {code:?}"
    );
    format!("DO $$ BEGIN RAISE EXCEPTION 'raised by a test' USING ERRCODE = '{code}'; END $$")
}
