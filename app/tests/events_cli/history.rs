//! The purchase history the `events` tests read, made through the command
//! engine, and how they run the binary and fold what it exports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use serde::Serialize;
use serde_json::Value;
use ticketing_aggregates::*;
use ticketing_commands::testing::{one_row_show, published_show};
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::{FeedPosition, Store};
use ticketing_payment::SimulatedProvider;

/// The columns docs/analysts.md documents, in order.
pub const COLUMNS: [&str; 9] = [
    "global_position",
    "recorded_at",
    "aggregate_type",
    "aggregate_id",
    "sequence",
    "event_type",
    "event_version",
    "payload",
    "metadata",
];

pub struct History {
    url: String,
    pub store: Store,
    pub show: ShowId,
    pub order: OrderId,
    /// Between the show going on sale and the first hold.
    pub sale_opened: DateTime<Utc>,
    dir: PathBuf,
}

impl Drop for History {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A show goes on sale; a customer holds two seats, is declined, pays with
/// another card; then holds a third seat and lets it go.
pub async fn purchase_history(url: String) -> History {
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    ticketing_payment::migrate(store.read_pool()).await.unwrap();
    let provider = SimulatedProvider::new(store.read_pool().clone());
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        EngineConfig::default(),
    )
    .with_provider(Arc::new(provider));
    let starts_at = Utc::now() + Duration::days(30);
    let input = one_row_show("Hamlet, \"the\" play", "Globe, Southwark", starts_at, 5);
    let show = published_show(&engine, input).await;
    // Both stores record times to the millisecond or finer.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let sale_opened = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;

    let customer = UserRef::generate();
    let reserve = |labels: &[&str]| {
        let labels = labels
            .iter()
            .map(|l| SeatLabel::parse("l", l).unwrap())
            .collect();
        engine.reserve_seats(&customer, &show, labels, None)
    };
    let bought = reserve(&["A-1", "A-2"]).await.unwrap().reservation_id;
    let cart = engine.add_to_cart(&customer, &bought, None).await.unwrap();
    let order = cart.order_id;
    let declined = engine
        .checkout(&customer, &order, "tok_declined", None)
        .await
        .unwrap();
    assert_eq!(declined.status, OrderStatus::PaymentFailed);
    let paid = engine
        .checkout(&customer, &order, "tok_visa", None)
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let released = reserve(&["A-3"]).await.unwrap().reservation_id;
    engine
        .release_reservation(&customer, &released, None)
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(format!("ticketing-events-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let history = History {
        url,
        store,
        show,
        order,
        sale_opened,
        dir,
    };
    ticketing_event_store::testing::settle_feed(&history.store).await;
    history
}

impl History {
    /// Runs `ticketing events <args> --database-url <url>`.
    pub fn events(&self, args: &[&str]) -> Output {
        let output = ticketing(&[&["events"], args, &["--database-url", &self.url]].concat());
        assert!(
            output.status.success(),
            "ticketing events {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `events export` with `args` to stdout, parsed.
    pub fn export(&self, args: &[&str]) -> Vec<Value> {
        let output = self.events(&[&["export"], args].concat());
        parse_jsonl(&String::from_utf8(output.stdout).unwrap())
    }

    /// `events export --output FILE` with `args`; returns the file.
    pub fn export_file(&self, name: &str, args: &[&str]) -> PathBuf {
        let path = self.dir.join(name);
        let output = self.events(&[&["export", "--output", path.to_str().unwrap()], args].concat());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("events to"), "{stderr}");
        assert!(!partial(&path).exists(), "the partial file is renamed");
        path
    }

    /// Every event in the store, counted through the feed.
    pub async fn event_count(&self) -> usize {
        let mut count = 0;
        let mut after = FeedPosition::START;
        loop {
            let page = self.store.read_feed(0, after, 100).await.unwrap();
            let Some(last) = page.last() else {
                return count;
            };
            after = last.position;
            count += page.len();
        }
    }
}

pub fn ticketing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(args)
        .env("TICKETING_LOG", "warn")
        .output()
        .expect("run ticketing")
}

fn partial(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", path.display()))
}

pub fn parse_jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

pub fn field<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {event}"))
}

/// The aggregate `payloads` fold into, as JSON.
fn fold<A: Aggregate + Serialize>(payloads: Vec<Value>) -> Value {
    let mut aggregate = A::default();
    for payload in payloads {
        aggregate.apply(serde_json::from_value(payload).unwrap());
    }
    serde_json::to_value(&aggregate).unwrap()
}

pub fn fold_as(aggregate_type: &str, payloads: Vec<Value>) -> Value {
    match aggregate_type {
        "Show" => fold::<Show>(payloads),
        "Seat" => fold::<Seat>(payloads),
        "Reservation" => fold::<Reservation>(payloads),
        "Order" => fold::<Order>(payloads),
        "Payment" => fold::<Payment>(payloads),
        "Cart" => fold::<Cart>(payloads),
        "CustomerHolds" => fold::<CustomerHolds>(payloads),
        other => panic!("unexpected aggregate type {other}"),
    }
}

/// One stream as the engine loads it, folded.
pub async fn stored(store: &Store, aggregate_type: &str, id: &str) -> Value {
    let events = match aggregate_type {
        "Show" => store.load::<Show>(id, 0).await,
        "Seat" => store.load::<Seat>(id, 0).await,
        "Reservation" => store.load::<Reservation>(id, 0).await,
        "Order" => store.load::<Order>(id, 0).await,
        "Payment" => store.load::<Payment>(id, 0).await,
        "Cart" => store.load::<Cart>(id, 0).await,
        "CustomerHolds" => store.load::<CustomerHolds>(id, 0).await,
        other => panic!("unexpected aggregate type {other}"),
    };
    let payloads = events.unwrap().into_iter().map(|e| e.payload).collect();
    fold_as(aggregate_type, payloads)
}
