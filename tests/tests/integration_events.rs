//! Integration events are a public contract: a purchase that produces every
//! topic, and each real envelope it produced validates against the JSON
//! Schema of its topic as docs/integration-events.md writes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;
use ticketing_bus::{integration_events, Envelope, TOPICS};
use ticketing_commands::EngineConfig;
use ticketing_event_store::testing::settle_feed;
use ticketing_event_store::{FeedPosition, Store};
use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;

const DOC: &str = include_str!("../../docs/integration-events.md");

/// Each topic's schema: the fenced blocks opened with "```json schema
/// <topic> <topic>…".
fn schemas() -> BTreeMap<String, Value> {
    let mut schemas = BTreeMap::new();
    let mut rest = DOC;
    while let Some(start) = rest.find("```json schema ") {
        let block = &rest[start + "```json schema ".len()..];
        let (topics, body) = block.split_once('\n').expect("a schema block");
        let end = body.find("```").expect("a closed block");
        let schema: Value = serde_json::from_str(&body[..end])
            .unwrap_or_else(|e| panic!("the schema of {topics} is not JSON: {e}"));
        for topic in topics.split_whitespace() {
            schemas.insert(topic.to_owned(), schema.clone());
        }
        rest = &body[end..];
    }
    schemas
}

/// Every integration event of the log, as the relay would publish it.
async fn published(store: &Store) -> Vec<Envelope> {
    settle_feed(store).await;
    let mut envelopes = Vec::new();
    let mut after = FeedPosition::START;
    loop {
        let batch = store.read_feed(0, after, 500).await.expect("feed");
        let Some(last) = batch.last() else { break };
        after = last.position;
        let events = integration_events(store, &batch).await.expect("envelopes");
        envelopes.extend(events.into_iter().map(|e| e.envelope));
    }
    envelopes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_envelope_matches_its_documented_schema() {
    let schemas = schemas();
    let documented: BTreeSet<&str> = schemas.keys().map(String::as_str).collect();
    let topics: BTreeSet<&str> = TOPICS.iter().map(|t| t.name).collect();
    assert_eq!(documented, topics, "one schema per topic");

    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let clock = TestClock::at(t0);
    let app = spawn_app_at(
        database_url(Backend::Postgres).await,
        EngineConfig::default(),
        Arc::new(clock.clone()),
    )
    .await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 6).await;
    let customer = app.customer().await;
    let reserve = |labels: &[&str]| ReserveSeatsRequest {
        show_id: show_id.clone(),
        seat_labels: labels.iter().map(|l| l.to_string()).collect(),
    };

    // reservation-released
    let released = app
        .inventory()
        .reserve_seats(authed(&customer, reserve(&["A-1"])))
        .await
        .unwrap()
        .into_inner();
    app.inventory()
        .release_reservation(authed(
            &customer,
            ReleaseReservationRequest {
                reservation_id: released.reservation_id,
            },
        ))
        .await
        .unwrap();
    // payment-failed, then payment-succeeded, order-paid, ticket-issued
    let bought = app
        .inventory()
        .reserve_seats(authed(&customer, reserve(&["A-2", "A-3"])))
        .await
        .unwrap()
        .into_inner();
    let cart = app
        .ordering()
        .add_to_cart(authed(
            &customer,
            AddToCartRequest {
                reservation_id: bought.reservation_id,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    for token in ["tok_declined", "tok_visa"] {
        app.ordering()
            .checkout(authed(
                &customer,
                CheckoutRequest {
                    order_id: cart.order_id.clone(),
                    payment_token: token.into(),
                },
            ))
            .await
            .unwrap();
    }
    app.wait_for_tickets(&customer, &cart.order_id, 2).await;
    // reservation-expired
    let expiring = app
        .inventory()
        .reserve_seats(authed(&customer, reserve(&["A-4"])))
        .await
        .unwrap()
        .into_inner();
    clock.advance(Duration::minutes(31));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while count_events::<ticketing_aggregates::Reservation>(
        &app.store,
        &expiring.reservation_id,
        "ReservationExpired",
    )
    .await
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expirer never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let envelopes = published(&app.store).await;
    let mut seen = BTreeSet::new();
    for envelope in &envelopes {
        let schema = &schemas[envelope.event_type.as_str()];
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .expect("a valid JSON Schema");
        let errors: Vec<String> = validator
            .iter_errors(&envelope.data)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} envelope {} breaks its schema: {errors:?}\n{}",
            envelope.event_type,
            envelope.id,
            envelope.data
        );
        let topic = TOPICS
            .iter()
            .find(|t| t.name == envelope.event_type)
            .expect("a known topic");
        assert_eq!(envelope.schema_version, topic.schema_version);
        seen.insert(envelope.event_type.as_str());
    }
    assert_eq!(seen, topics, "the flow produced every topic");
    app.stop().await;
}
