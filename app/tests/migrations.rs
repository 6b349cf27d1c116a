//! Versioned schema migrations, through the real binary, on both backends:
//!
//! * a database made before versions existed (`fixtures/before-versions`)
//!   upgrades with `ticketing migrate`: its events are untouched, every
//!   version is recorded, and every read model still matches a fresh fold
//!   of the log;
//! * on Postgres, `serve` refuses an older schema and names the command to
//!   run; `migrate --status` lists what is pending;
//! * two `migrate` processes started at once apply each migration once;
//! * the same fixture's events of older versions (PaymentRequested 1, as
//!   the code before upcasting wrote it, and one older still that kept the
//!   card token) load, relay and export as today's version, and the read
//!   models a fresh fold makes equal the ones the old code made.

use std::process::Output;
use ticketing::schema::contexts;
use ticketing_event_store::migrations::{self, MigrationStatus};
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::{Backend, Store};
use ticketing_projections::{Projector, ReadModel, Target};

const SQLITE_FIXTURE: &str = include_str!("fixtures/before-versions/sqlite.sql");
const POSTGRES_FIXTURE: &str = include_str!("fixtures/before-versions/postgres.sql");

/// A fresh database holding the fixture of `backend`.
async fn before_versions(backend: Backend) -> String {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let url = fresh_sqlite_url();
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let mut conn = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
                .await
                .unwrap();
            sqlx::raw_sql(SQLITE_FIXTURE)
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            url
        }
        Backend::Postgres => {
            let url = fresh_postgres_url().await;
            // Its own connection: the dump empties the search path.
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(POSTGRES_FIXTURE)
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            url
        }
    }
}

/// Runs the binary to its end (on a blocking thread, so two can run at
/// once).
async fn ticketing(url: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ticketing"));
    let dir = tempfile::tempdir().unwrap();
    command
        .args(args)
        .args(["--database-url", url, "--data-dir"])
        .arg(dir.path())
        .env(
            "TICKETING_JWT_SECRET",
            "test-secret-test-secret-test-secret!",
        )
        .env("TICKETING_PAYMENT_PROVIDER", "simulated")
        .env("TICKETING_LOG", "warn");
    tokio::task::spawn_blocking(move || {
        let output = command.output().expect("run ticketing");
        drop(dir);
        output
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every event as text, in feed order.
async fn log(store: &Store) -> Vec<String> {
    use sqlx::Row;
    let sql = match store.backend() {
        Backend::Postgres => {
            "SELECT aggregate_type || '/' || aggregate_id || '/' || sequence || ' ' || event_type \
             || ' v' || event_version || ' ' || payload::text || ' ' || metadata::text AS e \
             FROM event_store.events ORDER BY global_seq"
        }
        Backend::Sqlite => {
            "SELECT aggregate_type || '/' || aggregate_id || '/' || sequence || ' ' || event_type \
             || ' v' || event_version || ' ' || payload || ' ' || metadata AS e \
             FROM events ORDER BY global_seq"
        }
    };
    sqlx::query(sql)
        .fetch_all(store.read_pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("e"))
        .collect()
}

/// Each read model, caught up as `serve` would (the fixture's processes
/// were killed before their last checkpoint), equals a fresh fold of the
/// log by today's code.
async fn every_model_equals_a_fresh_fold(store: &Store) {
    for model in ReadModel::ALL {
        let projection = model.projection(Target::live(store.backend()));
        Projector::new(store.clone(), projection)
            .catch_up()
            .await
            .unwrap();
        let drift = ticketing_projections::drift(store, model, &mut |_| {})
            .await
            .unwrap();
        assert!(drift.is_clean(), "{}: {drift:?}", model.name());
    }
}

fn every_migration() -> usize {
    contexts().iter().map(|c| c.migrations.len()).sum()
}

async fn an_older_database_upgrades(backend: Backend) {
    let url = before_versions(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let events = log(&store).await;
    assert_eq!(events.len(), 54, "the fixture's log");

    let status = ticketing(&url, &["migrate", "--status"]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains(&format!("{} pending", every_migration())),
        "{}",
        stdout(&status)
    );
    if backend == Backend::Postgres {
        let refused = ticketing(&url, &["serve", "--grpc-addr", "127.0.0.1:0"]).await;
        assert!(!refused.status.success(), "serve ran on an older schema");
        assert!(
            stderr(&refused).contains("run `ticketing migrate`"),
            "{}",
            stderr(&refused)
        );
    }

    let migrated = ticketing(&url, &["migrate"]).await;
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert_eq!(
        stdout(&migrated).matches("applied ").count(),
        every_migration(),
        "{}",
        stdout(&migrated)
    );
    let again = ticketing(&url, &["migrate"]).await;
    assert!(
        stdout(&again).contains("schema is current"),
        "{}",
        stdout(&again)
    );

    let all = migrations::status(store.read_pool(), &contexts())
        .await
        .unwrap();
    let pending: Vec<&MigrationStatus> = all.iter().filter(|m| m.applied_at.is_none()).collect();
    assert!(pending.is_empty(), "{pending:?}");
    ticketing::open_store(&url)
        .await
        .expect("serve's check passes");
    assert_eq!(log(&store).await, events, "the log is untouched");
    every_model_equals_a_fresh_fold(&store).await;
    // The new column is filled for the orders of before that had a payment:
    // two paid ones (one after a declined card), not the open cart.
    let orders = match backend {
        Backend::Postgres => "bc_ordering.orders",
        Backend::Sqlite => "orders",
    };
    let kept: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {orders} WHERE checkout_at IS NOT NULL"
    ))
    .fetch_one(store.read_pool())
    .await
    .unwrap();
    assert_eq!(kept, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_older_database_upgrades() {
    an_older_database_upgrades(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_older_database_upgrades() {
    an_older_database_upgrades(Backend::Postgres).await;
}

async fn two_migrations_at_once(url: String) {
    let (first, second) =
        tokio::join!(ticketing(&url, &["migrate"]), ticketing(&url, &["migrate"]));
    for output in [&first, &second] {
        assert!(output.status.success(), "{}", stderr(output));
    }
    let applied =
        stdout(&first).matches("applied ").count() + stdout(&second).matches("applied ").count();
    assert_eq!(
        applied,
        every_migration(),
        "each once:\n{}\n{}",
        stdout(&first),
        stdout(&second)
    );
    let store = Store::connect(&url).await.unwrap();
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM ticketing_schema_migrations")
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    assert_eq!(recorded as usize, every_migration());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_migrations_at_once() {
    two_migrations_at_once(fresh_sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_migrations_at_once() {
    two_migrations_at_once(fresh_postgres_url().await).await;
}

async fn an_older_log_reads_as_today(backend: Backend) {
    use cqrs_es::Aggregate;
    use ticketing_aggregates::{Payment, PaymentEvent, PaymentStatus};
    use ticketing_event_store::{FeedPosition, NewEvent, StreamAppend};

    let url = before_versions(backend).await;
    let migrated = ticketing(&url, &["migrate"]).await;
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let store = ticketing::schema::connect(&url, 4).await.unwrap();
    let stored_v1 = log(&store)
        .await
        .iter()
        .filter(|e| e.contains(" PaymentRequested v1 "))
        .count();
    assert_eq!(
        stored_v1, 3,
        "the fixture's requests are stored as version 1"
    );
    // One older still, from before the log left tokens out.
    let leaked = ticketing_aggregates::PaymentId::generate();
    let token_era = StreamAppend {
        aggregate_type: "Payment".into(),
        aggregate_id: leaked.to_string(),
        expected_sequence: 0,
        events: vec![NewEvent {
            event_type: "PaymentRequested".into(),
            event_version: "1".into(),
            payload: serde_json::json!({ "PaymentRequested": {
                "payment_id": leaked, "order_id": ticketing_aggregates::OrderId::generate(),
                "amount_minor": 4200, "currency": "EUR", "token": "tok_leaked_4242"
            } }),
            metadata: serde_json::json!({}),
        }],
    };
    store.append(&[token_era], None).await.unwrap();
    ticketing_event_store::testing::settle_feed(&store).await;

    // The feed (projections, relay, workers, export) reads today's version.
    let feed = store
        .read_feed(0, FeedPosition::START, 10_000)
        .await
        .unwrap();
    let requests: Vec<_> = feed
        .iter()
        .filter(|e| e.event.event_type == "PaymentRequested")
        .collect();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(request.event.event_version, "2");
        let payload = request.event.payload.to_string();
        assert!(payload.contains("\"card\""), "{payload}");
        assert!(!payload.contains("tok_"), "{payload}");
    }
    // Aggregate loads fold them into payments with their outcomes.
    let mut outcomes = Vec::new();
    for request in &requests {
        let mut payment = Payment::default();
        let events = store
            .load::<Payment>(&request.event.aggregate_id, 0)
            .await
            .unwrap();
        for event in events {
            assert_eq!(
                event.event_version,
                ticketing_aggregates::upcast::current_version(&event.event_type)
            );
            let event: PaymentEvent = serde_json::from_value(event.payload).unwrap();
            payment.apply(event);
        }
        outcomes.push(payment.status);
    }
    outcomes.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(
        outcomes,
        [
            PaymentStatus::Failed,
            PaymentStatus::Requested,
            PaymentStatus::Succeeded,
            PaymentStatus::Succeeded
        ]
    );
    // The relay's mapping folds each payment's stream to build its
    // envelope: the two successes and the decline of the fixture.
    let published = ticketing_bus::integration_events(&store, &feed)
        .await
        .unwrap();
    let topics: Vec<&str> = published.iter().map(|e| e.topic).collect();
    assert_eq!(
        topics.iter().filter(|t| **t == "payment-succeeded").count(),
        2,
        "{topics:?}"
    );
    assert_eq!(
        topics.iter().filter(|t| **t == "payment-failed").count(),
        1,
        "{topics:?}"
    );
    // Export: version 2, no token.
    let export = ticketing(&url, &["events", "export", "--format", "jsonl"]).await;
    assert!(export.status.success(), "{}", stderr(&export));
    let lines = stdout(&export);
    let exported: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains("\"PaymentRequested\""))
        .collect();
    assert_eq!(exported.len(), 4);
    for line in exported {
        assert!(line.contains("\"event_version\":\"2\""), "{line}");
    }
    assert!(!lines.contains("tok_leaked"), "no token is exported");
    // Projected by today's code from the old log, every read model equals
    // what the old code projected (the token-era payment touches none).
    every_model_equals_a_fresh_fold(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_older_log_reads_as_today() {
    an_older_log_reads_as_today(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_older_log_reads_as_today() {
    an_older_log_reads_as_today(Backend::Postgres).await;
}
