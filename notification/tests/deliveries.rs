//! The delivery log on both backends: one delivery per order however its
//! tickets arrive, attempts, leases, give-up and the operators' list and
//! retry. `concurrency.rs` races recorders and claimers.

mod common;

use std::time::Duration;

use serde_json::json;
use ticketing_event_store::Backend;
use ticketing_notification::deliveries::MAX_ERROR_CHARS;
use ticketing_notification::{DeliveryError, DeliveryStatus, Recorded};

use common::{deliveries, on_both_backends};

const NOW: i64 = 1_800_000_000_000;
const LEASE: Duration = Duration::from_secs(60);

fn ticket(seat: &str) -> serde_json::Value {
    json!({ "seat": seat, "show": "Hamlet" })
}

async fn tickets_out_of_order_and_twice_make_one_delivery(backend: Backend) {
    let log = deliveries(backend).await;
    let record = |ticket_id: &'static str| {
        let log = log.clone();
        async move {
            log.record_ticket("o_1", "c_1", ticket_id, 3, &ticket(ticket_id), NOW)
                .await
                .expect("record")
        }
    };
    assert_eq!(
        record("t_3").await,
        Recorded::Waiting {
            received: 1,
            expected: 3
        }
    );
    assert_eq!(
        record("t_1").await,
        Recorded::Waiting {
            received: 2,
            expected: 3
        }
    );
    assert_eq!(record("t_3").await, Recorded::Duplicate);

    let listed = log.list(None, 10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Pending);
    assert_eq!(
        (listed[0].tickets_received, listed[0].tickets_expected),
        (2, 3)
    );
    assert!(
        log.claim_due(NOW, LEASE, 10)
            .await
            .expect("claim")
            .is_empty(),
        "an incomplete order is not sent"
    );

    assert_eq!(record("t_2").await, Recorded::Ready);
    assert!(Recorded::Ready.became_ready());
    assert_eq!(record("t_1").await, Recorded::Duplicate);

    let listed = log.list(None, 10).await.expect("list");
    assert_eq!(listed.len(), 1, "one delivery per order");
    assert_eq!(listed[0].status, DeliveryStatus::Queued);
    assert_eq!(listed[0].customer_id, "c_1");
    assert_eq!(listed[0].next_attempt_at, Some(NOW));

    let due = log.claim_due(NOW, LEASE, 10).await.expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].order_id, "o_1");
    assert_eq!(due[0].attempts, 0);
    assert_eq!(
        due[0].tickets,
        vec![ticket("t_1"), ticket("t_2"), ticket("t_3")],
        "all tickets, ordered by ticket id"
    );

    let err = log
        .record_ticket("o_2", "c_1", "t_1", 0, &ticket("t_1"), NOW)
        .await
        .expect_err("no tickets expected");
    assert!(matches!(err, DeliveryError::Invalid(_)), "{err}");
}

async fn attempts_backoff_and_give_up(backend: Backend) {
    let log = deliveries(backend).await;
    log.record_ticket("o_1", "c_1", "t_1", 1, &ticket("A-1"), NOW)
        .await
        .expect("record");
    assert_eq!(log.backlog().await.expect("backlog"), 1);
    log.claim_due(NOW, LEASE, 1).await.expect("claim");

    let long_error = "é".repeat(2 * MAX_ERROR_CHARS);
    log.mark_failed("o_1", &long_error, NOW + 10, Some(NOW + 1_000))
        .await
        .expect("first failure");
    let row = &log.list(None, 1).await.expect("list")[0];
    assert_eq!(row.status, DeliveryStatus::Queued);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, Some(NOW + 1_000));
    assert_eq!(row.claimed_until, None, "the lease ends with the attempt");
    assert_eq!(
        row.last_error.as_deref().map(|e| e.chars().count()),
        Some(MAX_ERROR_CHARS)
    );
    assert!(log.claim_due(NOW + 999, LEASE, 1).await.unwrap().is_empty());
    let due = log.claim_due(NOW + 1_000, LEASE, 1).await.unwrap();
    assert_eq!(due[0].attempts, 1);

    log.mark_failed("o_1", "550 no such user", NOW + 1_010, None)
        .await
        .expect("give up");
    let row = &log
        .list(Some(DeliveryStatus::Failed), 10)
        .await
        .expect("list")[0];
    assert_eq!((row.attempts, row.next_attempt_at), (2, None));
    assert_eq!(row.last_error.as_deref(), Some("550 no such user"));
    assert_eq!(log.backlog().await.expect("backlog"), 0);
    assert!(log
        .claim_due(NOW + 99_999, LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    let err = log.mark_sent("o_1", NOW).await.expect_err("not queued");
    assert!(
        matches!(err, DeliveryError::NotQueued(ref id) if id == "o_1"),
        "{err}"
    );

    assert_eq!(log.retry(Some("o_2"), NOW + 2_000).await.expect("retry"), 0);
    assert_eq!(log.retry(Some("o_1"), NOW + 2_000).await.expect("retry"), 1);
    assert_eq!(log.retry(Some("o_1"), NOW + 2_000).await.expect("retry"), 0);
    let due = log.claim_due(NOW + 2_000, LEASE, 1).await.unwrap();
    assert_eq!(
        due[0].attempts, 0,
        "a retried delivery gets every attempt again"
    );
    log.mark_sent("o_1", NOW + 2_100).await.expect("sent");
    let row = &log.list(None, 1).await.expect("list")[0];
    assert_eq!(row.status, DeliveryStatus::Sent);
    assert_eq!((row.attempts, row.sent_at), (1, Some(NOW + 2_100)));
    assert!(log
        .claim_due(NOW + 99_999, LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        log.record_ticket("o_1", "c_1", "t_2", 1, &ticket("A-2"), NOW + 3_000)
            .await
            .expect("late ticket"),
        Recorded::Late
    );
}

async fn operators_list_and_retry(backend: Backend) {
    let log = deliveries(backend).await;
    for (n, expected) in [(1, 1), (2, 2), (3, 1), (4, 1)] {
        log.record_ticket(
            &format!("o_{n}"),
            "c_1",
            "t_1",
            expected,
            &ticket("A-1"),
            NOW + n,
        )
        .await
        .expect("record");
    }
    log.claim_due(NOW + 10, LEASE, 10).await.expect("claim");
    for n in [3, 4] {
        log.mark_failed(&format!("o_{n}"), "boom", NOW + 20, None)
            .await
            .expect("give up");
    }
    let order_ids = |rows: Vec<ticketing_notification::DeliveryRow>| -> Vec<String> {
        rows.into_iter().map(|row| row.order_id).collect()
    };
    assert_eq!(
        order_ids(log.list(None, 3).await.expect("list")),
        ["o_4", "o_3", "o_2"],
        "newest first, bounded"
    );
    assert_eq!(
        order_ids(
            log.list(Some(DeliveryStatus::Pending), 10)
                .await
                .expect("list")
        ),
        ["o_2"]
    );
    assert_eq!(
        order_ids(
            log.list(Some(DeliveryStatus::Failed), 10)
                .await
                .expect("list")
        ),
        ["o_4", "o_3"]
    );
    assert_eq!(log.retry(None, NOW + 30).await.expect("retry all"), 2);
    assert!(log
        .list(Some(DeliveryStatus::Failed), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(log.backlog().await.expect("backlog"), 3);
}

on_both_backends!(
    tickets_out_of_order_and_twice_make_one_delivery,
    attempts_backoff_and_give_up,
    operators_list_and_retry,
);
