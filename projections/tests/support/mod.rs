//! Helpers shared by the projection tests: a log writer that turns typed
//! events into appends and keeps each stream's sequence, and the whole feed
//! read back, which is what the read models are checked against.
//! `shards.rs` writes the logs of the projector-shard tests.

#[allow(dead_code)] // only the shard tests use it
pub mod shards;

use chrono::{Duration, Utc};
use serde_json::json;
use std::collections::HashMap;
use ticketing_aggregates::{
    Currency, RawRow, RawSection, SeatLabel, SeatingPlan, ShowDetails, ShowId, TimeZoneName,
    UserRef,
};
use ticketing_event_store::{FeedEvent, FeedPosition, NewEvent, Store, StreamAppend};

/// A migrated store (log and read models) at `url`; migrating twice shows
/// the read models' migration is idempotent.
pub async fn open_store(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    for _ in 0..2 {
        ticketing_projections::migrate(store.read_pool(), store.backend())
            .await
            .unwrap();
    }
    store
}

/// Appends to the log as the engine would, each stream after the events
/// this writer already appended to it.
pub struct Log {
    store: Store,
    sequences: HashMap<String, usize>,
}

impl Log {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            sequences: HashMap::new(),
        }
    }

    /// The append of `events` to one stream; counts them as appended, so
    /// every append built must be committed.
    pub fn stream<E: cqrs_es::DomainEvent>(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
        events: &[E],
    ) -> StreamAppend {
        let sequence = self.sequences.entry(aggregate_id.to_owned()).or_default();
        let expected_sequence = *sequence;
        *sequence += events.len();
        StreamAppend {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            expected_sequence,
            events: events
                .iter()
                .map(|event| NewEvent {
                    event_type: event.event_type(),
                    event_version: event.event_version(),
                    payload: serde_json::to_value(event).unwrap(),
                    metadata: json!({}),
                })
                .collect(),
        }
    }

    /// Appends to several streams in one transaction.
    /// A busy SQLite (a killed projector's connection still rolling back
    /// past the 5 s busy timeout, under a loaded machine) answers
    /// UNAVAILABLE, which a client retries; anything else fails the test.
    pub async fn commit(&self, appends: &[StreamAppend]) {
        for attempt in 1..=3 {
            match self.store.append(appends, None).await {
                Ok(()) => return,
                Err(ticketing_event_store::StoreError::Unavailable(e)) if attempt < 3 => {
                    eprintln!("append unavailable (attempt {attempt}), retrying: {e}");
                }
                Err(other) => panic!("append failed: {other}"),
            }
        }
    }

    pub async fn append<E: cqrs_es::DomainEvent>(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
        events: &[E],
    ) {
        let append = self.stream(aggregate_type, aggregate_id, events);
        self.commit(&[append]).await;
    }
}

/// A show of one row, `A`, of `seats` (label, price in minor units),
/// starting tomorrow.
pub fn one_row_show(show_id: ShowId, seats: Vec<(String, i64)>) -> ShowDetails {
    ShowDetails {
        show_id,
        organizer: UserRef::generate(),
        title: "T".into(),
        venue: "V".into(),
        starts_at: Utc::now() + Duration::days(1),
        time_zone: TimeZoneName::utc(),
        currency: Currency::parse("c", "EUR").unwrap(),
        plan: SeatingPlan::parse(&[RawSection {
            name: "Stalls".into(),
            rows: vec![RawRow {
                name: "A".into(),
                seats,
            }],
        }])
        .unwrap(),
        max_held_seats: None,
    }
}

pub fn labels(names: &[&str]) -> Vec<SeatLabel> {
    names
        .iter()
        .map(|name| SeatLabel::parse("seat", name).unwrap())
        .collect()
}

/// Every event of the log in feed order.
pub async fn read_all(store: &Store) -> Vec<FeedEvent> {
    let mut events = Vec::new();
    let mut after = FeedPosition::START;
    loop {
        let batch = store.read_feed(0, after, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        events.extend(batch);
    }
    events
}

/// Corrupts the live `model` with `corrupt` (SQL naming tables as on the
/// store's backend), checks the drift check sees `differences` rows, then
/// rebuilds twice (the second shows a rebuilt model can be rebuilt again,
/// index names included) and checks the model is clean and its indexes are
/// back under their live names (and, on Postgres, the tables logged).
pub async fn rebuild_over_corruption(
    store: &Store,
    model: ticketing_projections::ReadModel,
    corrupt: &[&str],
    differences: usize,
    indexes: &[&str],
) {
    use ticketing_projections::{drift, rebuild, rebuild_in_steps, Steps};
    let clean = drift(store, model, &mut |_| {}).await.unwrap();
    assert!(clean.is_clean(), "before corruption: {clean:?}");
    for statement in corrupt {
        sqlx::query(statement)
            .execute(store.read_pool())
            .await
            .unwrap();
    }
    let found = drift(store, model, &mut |_| {}).await.unwrap();
    assert_eq!(
        found.only_live_count + found.only_fresh_count,
        differences,
        "{found:?}"
    );
    // Once as ops would, once in steps of 2 events with a fold written
    // every 3 rows, so folds span and flush across batches.
    let report = rebuild(store, model, &mut |_| {}).await.unwrap();
    assert!(report.events > 0);
    let tiny = Steps {
        batch: 2,
        fold_rows: 3,
    };
    let report = rebuild_in_steps(store, model, tiny, &mut |_| {})
        .await
        .unwrap();
    assert!(report.events > 0);
    let clean = drift(store, model, &mut |_| {}).await.unwrap();
    assert!(clean.is_clean(), "after rebuild: {clean:?}");
    let sql = match store.backend() {
        ticketing_event_store::Backend::Postgres => {
            "SELECT indexname::text AS name FROM pg_indexes WHERE indexname = $1"
        }
        ticketing_event_store::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name = $1"
        }
    };
    for index in indexes {
        let found: Vec<String> = sqlx::query_scalar(sql)
            .bind(*index)
            .fetch_all(store.read_pool())
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "index {index} after rebuild");
    }
    if store.backend() == ticketing_event_store::Backend::Postgres {
        // Shadows are filled UNLOGGED; a live table left so would be
        // emptied by crash recovery while its checkpoint stayed put.
        let unlogged: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname LIKE 'bc\\_%' AND c.relpersistence = 'u'",
        )
        .fetch_one(store.read_pool())
        .await
        .unwrap();
        assert_eq!(unlogged, 0, "a read-model table was left UNLOGGED");
    }
    let sql = match store.backend() {
        ticketing_event_store::Backend::Postgres => {
            "SELECT indexname::text AS name FROM pg_indexes WHERE indexname LIKE '%rebuild%'"
        }
        ticketing_event_store::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE name LIKE '%rebuild%'"
        }
    };
    let leftovers: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(store.read_pool())
        .await
        .unwrap();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "shadow objects left behind"
    );
}
