//! Logs and projectors for the projector-shard tests: shows scheduled
//! until each of two shards owns some, rounds of holds, releases and sales
//! on them (the same appends to several databases at once), and a
//! seat-map projector of a shard.

use chrono::{Duration, Utc};
use ticketing_aggregates::*;
use ticketing_event_store::testing::settle_feed;
use ticketing_event_store::Store;
use ticketing_projections::*;

use super::{one_row_show, Log};

pub const SEATS: usize = 6;

/// The same appends to one log per database, in the same order.
pub struct Logs(pub Vec<Log>);

impl Logs {
    pub async fn append(&mut self, kind: &str, id: &str, events: &[impl cqrs_es::DomainEvent]) {
        for log in &mut self.0 {
            log.append(kind, id, events).await;
        }
    }

    /// Shows scheduled until each of two shards owns two of them.
    pub async fn shows(&mut self) -> Vec<ShowId> {
        let mut shows: Vec<ShowId> = Vec::new();
        let owned =
            |shows: &[ShowId], k| shows.iter().filter(|s| owner(s.as_str(), 2) == k).count();
        while owned(&shows, 0) < 2 || owned(&shows, 1) < 2 {
            let seats = (0..SEATS).map(|i| (format!("A-{i}"), 1000 + i as i64));
            let details = one_row_show(ShowId::generate(), seats.collect());
            let id = details.show_id.clone();
            self.append("Show", id.as_str(), &[ShowEvent::ShowScheduled(details)])
                .await;
            shows.push(id);
        }
        shows
    }

    /// Round `round` on every show: a seat held, held and released, or
    /// held and sold, in turn.
    pub async fn round(&mut self, shows: &[ShowId], round: usize) {
        for (n, show) in shows.iter().enumerate() {
            let seat = format!("{show}/A-{}", (round + n) % SEATS);
            let reservation = ReservationId::generate();
            let mut events = vec![SeatEvent::SeatHeld {
                reservation: reservation.clone(),
                until: Utc::now() + Duration::hours(1),
            }];
            match (round + n) % 3 {
                0 => {}
                1 => events.push(SeatEvent::SeatReleased {
                    reservation,
                    reason: ReleaseReason::Released,
                }),
                _ => events.push(SeatEvent::SeatSold { reservation }),
            }
            self.append("Seat", &seat, &events).await;
        }
    }
}

pub fn projector(store: &Store, shard: Shard) -> Projector<SeatMapProjection> {
    Projector::new(
        store.clone(),
        SeatMapProjection(Target::live(store.backend())),
    )
    .with_shard(shard)
    .with_batch_size(7)
}

pub fn shard(k: u32, n: u32) -> Shard {
    Shard::new(k, n).unwrap()
}

/// Every seat-map row, every column, in key order.
pub async fn rows(store: &Store) -> Vec<String> {
    let table = match store.backend() {
        ticketing_event_store::Backend::Postgres => "bc_inventory.seat_map",
        ticketing_event_store::Backend::Sqlite => "seat_map",
    };
    let sql = format!(
        "SELECT show_id || '|' || label || '|' || section || '|' || row_name || '|' || \
         CAST(position AS TEXT) || '|' || CAST(price_minor AS TEXT) || '|' || status || '|' || \
         COALESCE(reservation_id, '-') || '|' || COALESCE(CAST(held_until AS TEXT), '-') || '|' || \
         CAST(global_seq AS TEXT) FROM {table} ORDER BY show_id, label"
    );
    sqlx::query_scalar(&sql)
        .fetch_all(store.read_pool())
        .await
        .unwrap()
}

/// Waits until `shard`'s checkpoint has passed the end of the log.
pub async fn until_caught_up(store: &Store, shard: Shard) {
    settle_feed(store).await;
    let head = store.feed_head(0).await.unwrap();
    let checker = projector(store, shard);
    for _ in 0..600 {
        if checker.checkpoint().await.unwrap() >= head {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("shard {shard} never reached {head:?}");
}
