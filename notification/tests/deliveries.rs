//! The delivery log on both backends: one delivery per order however its
//! tickets arrive, attempts, leases, give-up and the operators' list and
//! retry. `concurrency.rs` races recorders and claimers.

mod common;

use std::time::Duration;

use serde_json::json;
use ticketing_event_store::Backend;
use ticketing_notification::deliveries::MAX_ERROR_CHARS;
use ticketing_notification::deliveries::TICKETS_PER_STATEMENT;
use ticketing_notification::{DeliveryError, DeliveryStatus, NewTicket, Recorded};

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
    let err = log
        .mark_sent(&["o_1".to_owned()], NOW)
        .await
        .expect_err("not queued");
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
    log.mark_sent(&["o_1".to_owned()], NOW + 2_100)
        .await
        .expect("sent");
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

/// A batch as the notifier gets it from one read of the feed: several
/// orders' tickets mixed, one of them twice, one order completed by a
/// ticket recorded before, one left waiting, and more tickets than one
/// Postgres statement takes.
async fn a_batch_of_tickets_records_each_order_as_single_tickets_would(backend: Backend) {
    let log = deliveries(backend).await;
    log.record_ticket("o_b", "c_2", "t_1", 2, &ticket("B-1"), NOW)
        .await
        .expect("earlier ticket");
    let data: Vec<serde_json::Value> = ["A-1", "A-2", "B-2", "C-1", "B-1"].map(ticket).to_vec();
    let new = |order_id, customer_id, ticket_id, expected, data| NewTicket {
        order_id,
        customer_id,
        ticket_id,
        tickets_expected: expected,
        data,
    };
    let batch = [
        new("o_c", "c_3", "t_1", 2, &data[3]),
        new("o_a", "c_1", "t_2", 2, &data[1]),
        new("o_b", "c_2", "t_2", 2, &data[2]),
        new("o_a", "c_1", "t_1", 2, &data[0]),
        new("o_a", "c_1", "t_2", 2, &data[1]),
        new("o_b", "c_2", "t_1", 2, &data[4]),
    ];
    let recorded = log.record_tickets(&batch, NOW + 5).await.expect("batch");
    assert_eq!(
        recorded,
        [
            ("o_a".to_owned(), Recorded::Ready),
            ("o_b".to_owned(), Recorded::Ready),
            (
                "o_c".to_owned(),
                Recorded::Waiting {
                    received: 1,
                    expected: 2
                }
            ),
        ]
    );
    assert_eq!(
        log.record_tickets(&batch, NOW + 6).await.expect("again"),
        [
            ("o_a".to_owned(), Recorded::Duplicate),
            ("o_b".to_owned(), Recorded::Duplicate),
            ("o_c".to_owned(), Recorded::Duplicate),
        ],
        "a redelivered batch changes nothing"
    );
    let due = log.claim_due(NOW + 10, LEASE, 10).await.expect("claim");
    let due: Vec<_> = due
        .iter()
        .map(|d| {
            (
                d.order_id.as_str(),
                d.customer_id.as_str(),
                d.tickets.clone(),
            )
        })
        .collect();
    assert_eq!(
        due,
        [
            ("o_a", "c_1", vec![ticket("A-1"), ticket("A-2")]),
            ("o_b", "c_2", vec![ticket("B-1"), ticket("B-2")]),
        ]
    );
    let pending = log
        .list(Some(DeliveryStatus::Pending), 10)
        .await
        .expect("list");
    assert_eq!(
        pending
            .iter()
            .map(|r| (r.order_id.as_str(), r.tickets_received))
            .collect::<Vec<_>>(),
        [("o_c", 1)]
    );

    // One order of more tickets than a statement takes: queued once, by
    // the statement that recorded its last ticket.
    let many = TICKETS_PER_STATEMENT + 7;
    let expected = i64::try_from(many).unwrap();
    let ids: Vec<String> = (0..many).map(|n| format!("t_{n:05}")).collect();
    let seat = ticket("Z");
    let mut big: Vec<NewTicket<'_>> = ids
        .iter()
        .map(|id| new("o_z", "c_9", id, expected, &seat))
        .collect();
    big.push(new("o_y", "c_9", "t_1", 1, &seat));
    let recorded = log.record_tickets(&big, NOW + 20).await.expect("big batch");
    let ready: Vec<&str> = recorded
        .iter()
        .filter(|(_, r)| r.became_ready())
        .map(|(order_id, _)| order_id.as_str())
        .collect();
    assert_eq!(ready, ["o_y", "o_z"]);
    let rows = log
        .list(Some(DeliveryStatus::Queued), 10)
        .await
        .expect("list");
    let z = rows
        .iter()
        .find(|r| r.order_id == "o_z")
        .expect("o_z queued");
    assert_eq!(
        (z.tickets_received, z.tickets_expected),
        (expected, expected)
    );

    let err = log
        .record_tickets(&[new("o_x", "c_1", "t_1", 0, &seat)], NOW)
        .await
        .expect_err("no tickets expected");
    assert!(matches!(err, DeliveryError::Invalid(_)), "{err}");
}

/// A sender's pass marks its mails sent in one call; one that is no longer
/// queued is named, and the others are sent all the same.
async fn a_pass_marks_its_mails_sent_together(backend: Backend) {
    let log = deliveries(backend).await;
    for n in 1..=3 {
        log.record_ticket(&format!("o_{n}"), "c_1", "t_1", 1, &ticket("A-1"), NOW)
            .await
            .expect("record");
    }
    assert_eq!(log.claim_due(NOW, LEASE, 10).await.expect("claim").len(), 3);
    log.mark_failed("o_2", "550", NOW + 1, None)
        .await
        .expect("fail o_2");
    let ids = ["o_1", "o_2", "o_3"].map(str::to_owned);
    let err = log.mark_sent(&ids, NOW + 2).await.expect_err("o_2 failed");
    assert!(
        matches!(err, DeliveryError::NotQueued(ref id) if id == "o_2"),
        "{err}"
    );
    let sent = log
        .list(Some(DeliveryStatus::Sent), 10)
        .await
        .expect("list");
    let mut sent: Vec<_> = sent
        .iter()
        .map(|r| (r.order_id.as_str(), r.sent_at))
        .collect();
    sent.sort();
    assert_eq!(sent, [("o_1", Some(NOW + 2)), ("o_3", Some(NOW + 2))]);
    log.mark_sent(&[], NOW + 3).await.expect("nothing to mark");
}

on_both_backends!(
    tickets_out_of_order_and_twice_make_one_delivery,
    attempts_backoff_and_give_up,
    operators_list_and_retry,
    a_batch_of_tickets_records_each_order_as_single_tickets_would,
    a_pass_marks_its_mails_sent_together,
);
