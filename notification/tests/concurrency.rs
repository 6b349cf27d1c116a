//! Recorders and claimers racing on one delivery log, through two pools as
//! two processes would, on both backends: each order is queued exactly once
//! and no delivery is ever leased to two claimers at a time.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use ticketing_event_store::Backend;
use ticketing_notification::{DeliveryStatus, Recorded};

use common::{fresh_log, on_both_backends, open};

const NOW: i64 = 1_800_000_000_000;
const LEASE: Duration = Duration::from_secs(60);

fn ticket(seat: &str) -> serde_json::Value {
    json!({ "seat": seat, "show": "Hamlet" })
}

async fn concurrent_recorders_queue_each_order_once(backend: Backend) {
    let url = fresh_log(backend).await;
    // Two pools, as two processes would have.
    let logs = [open(&url).await, open(&url).await];
    let mut tasks = tokio::task::JoinSet::new();
    for order in 0..4 {
        for ticket_no in 0..6 {
            // Every ticket twice, through each pool.
            for log in &logs {
                let log = log.clone();
                tasks.spawn(async move {
                    let order_id = format!("o_{order}");
                    let ticket_id = format!("t_{order}_{ticket_no}");
                    let recorded = log
                        .record_ticket(&order_id, "c_1", &ticket_id, 6, &ticket(&ticket_id), NOW)
                        .await
                        .expect("record");
                    (order_id, recorded)
                });
            }
        }
    }
    let mut ready = Vec::new();
    let mut duplicates = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            (order_id, Recorded::Ready) => ready.push(order_id),
            (_, Recorded::Duplicate) => duplicates += 1,
            (_, Recorded::Waiting { .. }) => {}
            (_, Recorded::Late) => panic!("no order has more tickets than expected"),
        }
    }
    ready.sort();
    assert_eq!(
        ready,
        ["o_0", "o_1", "o_2", "o_3"],
        "each order queued once"
    );
    assert_eq!(duplicates, 24, "every second recording is a duplicate");

    let listed = logs[0].list(None, 100).await.expect("list");
    assert_eq!(listed.len(), 4);
    for row in listed {
        assert_eq!(row.status, DeliveryStatus::Queued, "{}", row.order_id);
        assert_eq!(row.tickets_received, 6, "{}", row.order_id);
    }
}

async fn concurrent_claimers_never_share_a_delivery(backend: Backend) {
    let url = fresh_log(backend).await;
    let logs = [open(&url).await, open(&url).await];
    for order in 0..40 {
        let order_id = format!("o_{order:02}");
        logs[0]
            .record_ticket(&order_id, "c_1", "t_1", 1, &ticket("A-1"), NOW + order)
            .await
            .expect("record");
    }
    let mut claimers = tokio::task::JoinSet::new();
    for claimer in 0..4 {
        let log = logs[claimer % 2].clone();
        claimers.spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let due = log.claim_due(NOW + 100, LEASE, 3).await.expect("claim");
                if due.is_empty() {
                    return claimed;
                }
                claimed.extend(due.into_iter().map(|d| d.order_id));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(claimed) = claimers.join_next().await {
        all.extend(claimed.expect("claimer"));
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a delivery claimed twice: {all:?}"
    );
    assert_eq!(all.len(), 40, "every due delivery claimed");

    // A lease holds until it lapses; a released or lapsed lease is taken again.
    let log = &logs[0];
    assert!(log
        .claim_due(NOW + 100 + 59_999, LEASE, 100)
        .await
        .unwrap()
        .is_empty());
    let lapsed = log.claim_due(NOW + 100 + 60_000, LEASE, 100).await.unwrap();
    assert_eq!(lapsed.len(), 40);
    log.release(&["o_00".to_owned(), "o_01".to_owned()])
        .await
        .expect("release");
    let released = log.claim_due(NOW + 60_200, LEASE, 100).await.unwrap();
    let ids: Vec<&str> = released.iter().map(|d| d.order_id.as_str()).collect();
    assert_eq!(ids, ["o_00", "o_01"], "oldest due first");
}

on_both_backends!(
    concurrent_recorders_queue_each_order_once,
    concurrent_claimers_never_share_a_delivery,
);
