//! `ticketing events export|replay|stats`, run as the real binary against a
//! purchase history made through the command engine — a declined card, a
//! paid retry, a released hold — on SQLite and Postgres.
//!
//! The export must round-trip: folding its JSON Lines per aggregate gives
//! the aggregates the engine loads from the store.

#[path = "events_cli/history.rs"]
mod history;

use std::collections::BTreeMap;

use chrono::DateTime;
use serde_json::Value;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};

use history::*;

async fn jsonl_export_refolds_into_the_stored_aggregates(url: String) {
    let h = purchase_history(url).await;
    let path = h.export_file("history.jsonl", &["--format", "jsonl"]);
    let events = parse_jsonl(&std::fs::read_to_string(path).unwrap());
    assert_eq!(events.len(), h.event_count().await, "every event, once");

    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect();
    // The history's commands ran one after another, so commit order (the
    // export's order) is also position order here.
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let mut streams: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for event in &events {
        assert_eq!(
            field(event, "event_version"),
            ticketing::analyst::current_version(field(event, "event_type"))
        );
        DateTime::parse_from_rfc3339(field(event, "recorded_at")).unwrap();
        assert!(event["metadata"].is_object(), "{event}");
        let key = (
            field(event, "aggregate_type").to_owned(),
            field(event, "aggregate_id").to_owned(),
        );
        let stream = streams.entry(key).or_default();
        assert_eq!(event["sequence"], stream.len() + 1, "sequences rise by one");
        stream.push(event["payload"].clone());
    }
    let types: Vec<&str> = streams.keys().map(|(t, _)| t.as_str()).collect();
    let count = |t: &str| types.iter().filter(|x| **x == t).count();
    assert_eq!(
        ["Show", "Seat", "Reservation", "Order", "Payment", "Cart"].map(count),
        [1, 3, 2, 1, 2, 1],
        "{types:?}"
    );
    for ((aggregate_type, id), payloads) in streams {
        assert_eq!(
            fold_as(&aggregate_type, payloads),
            stored(&h.store, &aggregate_type, &id).await,
            "{aggregate_type} {id}"
        );
    }
    let order = stored(&h.store, "Order", h.order.as_str()).await;
    assert_eq!(order["status"], "Paid");
}

async fn csv_export_reads_back_in_a_csv_parser(url: String) {
    let h = purchase_history(url).await;
    let jsonl = h.export(&[]);
    let path = h.export_file("history.csv", &["--format", "csv"]);
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(reader.headers().unwrap(), COLUMNS.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), jsonl.len());
    for (row, event) in rows.iter().zip(&jsonl) {
        assert_eq!(row[0], event["global_position"].to_string());
        for (i, column) in COLUMNS.iter().enumerate().skip(1) {
            let cell = &row[i];
            match event[column].as_str() {
                Some(text) => assert_eq!(cell, text, "{column}"),
                None => {
                    let parsed: Value = serde_json::from_str(cell).unwrap();
                    assert_eq!(parsed, event[*column], "{column}");
                }
            }
        }
    }
    let scheduled = rows.iter().find(|r| &r[5] == "ShowScheduled").unwrap();
    assert!(
        scheduled[7].contains("Globe, Southwark"),
        "{}",
        &scheduled[7]
    );
}

async fn filters_narrow_the_export(url: String) {
    let h = purchase_history(url).await;
    let all = h.export(&[]);
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        all.iter().filter(|e| keep(e)).cloned().collect()
    };

    let orders = h.export(&["--aggregate-type", "Order"]);
    assert_eq!(orders, expect(&|e| field(e, "aggregate_type") == "Order"));
    assert_eq!(
        orders.len(),
        6,
        "opened, added, checkout, failed, checkout, paid"
    );
    assert_eq!(h.export(&["--aggregate-type", "order"]), orders);

    let seat = format!("{}/A-1", h.show);
    let held = h.export(&["--aggregate-id", &seat]);
    assert_eq!(held, expect(&|e| field(e, "aggregate_id") == seat));
    let types: Vec<&str> = held.iter().map(|e| field(e, "event_type")).collect();
    assert_eq!(types, ["SeatHeld", "SeatHoldExtended", "SeatSold"]);

    let since = h.sale_opened.to_rfc3339();
    let after = h.export(&["--since", &since]);
    let recorded = |e: &Value| DateTime::parse_from_rfc3339(field(e, "recorded_at")).unwrap();
    assert_eq!(after, expect(&|e| recorded(e) >= h.sale_opened));
    assert!(!after.is_empty() && after.len() < all.len());
    assert!(after.iter().all(|e| field(e, "aggregate_type") != "Show"));
    let before = h.export(&["--until", &since]);
    assert_eq!(
        before.len() + after.len(),
        all.len(),
        "the windows split it"
    );
    assert_eq!(
        h.export(&["--aggregate-type", "Show", "--since", &since]),
        Vec::<Value>::new()
    );
}

async fn stats_count_per_type_and_day(url: String) {
    let h = purchase_history(url).await;
    let all = h.export(&[]);
    let output = h.events(&["stats"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(&format!("{} events, recorded ", all.len())),
        "{text}"
    );
    let section = |title: &str| -> BTreeMap<String, usize> {
        text.split(&format!("\n{title}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {title} in {text}"))
            .lines()
            .take_while(|l| l.starts_with("  "))
            .map(|l| {
                let (name, count) = l.trim().split_once(' ').unwrap();
                (name.to_owned(), count.trim().parse().unwrap())
            })
            .collect()
    };
    let mut per_type = BTreeMap::new();
    let mut per_day = BTreeMap::new();
    for event in &all {
        *per_type
            .entry(field(event, "event_type").to_owned())
            .or_insert(0) += 1;
        let day = field(event, "recorded_at")[..10].to_owned();
        *per_day.entry(day).or_insert(0) += 1;
    }
    assert_eq!(section("per event type"), per_type);
    assert_eq!(section("per day (UTC)"), per_day);
    assert_eq!(per_type["SeatHeld"], 3);
    assert_eq!(per_type["PaymentRequested"], 2);
    assert_eq!(per_type["ReservationReleased"], 1);

    let orders = h.events(&["stats", "--aggregate-type", "Order"]);
    let orders = String::from_utf8(orders.stdout).unwrap();
    assert!(orders.starts_with("6 events, recorded "), "{orders}");
}

async fn replay_prints_every_event_of_an_order(url: String) {
    let h = purchase_history(url).await;
    let exported = h.export(&["--aggregate-id", h.order.as_str()]);
    let output = h.events(&["replay", "--aggregate-id", h.order.as_str()]);
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("Order {}: {} events", h.order, exported.len())
    );
    let steps: Vec<&[&str]> = lines[1..].chunks(3).collect();
    assert_eq!(steps.len(), exported.len());
    let mut states = Vec::new();
    for (step, event) in steps.iter().zip(&exported) {
        let sequence = &event["sequence"];
        let event_type = field(event, "event_type");
        assert_eq!(step[0], format!("#{sequence} {event_type} v1"));
        let json = |prefix: &str, line: &str| -> Value {
            let rest = line
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{line}"));
            serde_json::from_str(rest).unwrap()
        };
        assert_eq!(json("  event: ", step[1]), event["payload"]);
        states.push(json("  state: ", step[2]));
    }
    let status: Vec<&str> = states.iter().map(|s| field(s, "status")).collect();
    assert_eq!(
        status,
        [
            "Cart",
            "Cart",
            "Checkout",
            "PaymentFailed",
            "Checkout",
            "Paid"
        ]
    );
    assert_eq!(states[3]["failure_reason"], "card declined");
    assert_eq!(
        states.last().unwrap(),
        &stored(&h.store, "Order", h.order.as_str()).await
    );
}

/// The cards the customer paid with reach the log by reference only: no
/// export, JSON lines or CSV, and no replay holds a submitted token.
async fn no_export_holds_a_card_token(url: String) {
    let h = purchase_history(url).await;
    let jsonl = h.events(&["export"]).stdout;
    let csv = h.events(&["export", "--format", "csv"]).stdout;
    let replay = h
        .events(&["replay", "--aggregate-id", h.order.as_str()])
        .stdout;
    for output in [&jsonl, &csv, &replay] {
        let text = String::from_utf8_lossy(output);
        for token in ["tok_visa", "tok_declined"] {
            assert!(!text.contains(token), "{token} in {text}");
        }
    }
    let cards: Vec<(String, String)> = parse_jsonl(&String::from_utf8(jsonl).unwrap())
        .iter()
        .filter(|event| field(event, "event_type") == "PaymentRequested")
        .map(|event| {
            let card = &event["payload"]["PaymentRequested"]["card"];
            (
                field(card, "fingerprint").to_owned(),
                field(card, "last4").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        cards,
        [
            ("fp_sim_visa_0002".to_owned(), "0002".to_owned()),
            ("fp_sim_visa_4242".to_owned(), "4242".to_owned())
        ]
    );
}

#[test]
fn a_bad_since_is_refused_in_one_line() {
    let output = ticketing(&[
        "events",
        "export",
        "--database-url",
        "sqlite::memory:",
        "--since",
        "yesterday",
    ]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(
            "error: invalid value 'yesterday' for '--since <TIME>': expected an RFC 3339 time"
        ),
        "{stderr}"
    );
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::fresh_sqlite_url()).await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::fresh_postgres_url().await).await; } )* }
    };
}

on_both!(
    jsonl_export_refolds_into_the_stored_aggregates,
    csv_export_reads_back_in_a_csv_parser,
    filters_narrow_the_export,
    stats_count_per_type_and_day,
    replay_prints_every_event_of_an_order,
    no_export_holds_a_card_token
);
