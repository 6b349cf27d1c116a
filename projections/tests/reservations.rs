//! The reservations read model answers `get` and the expirer's `due` list
//! exactly as the log says, on both backends: a scripted history of
//! reservations that are extended, converted, released, expired, or left
//! active, read before and after the ends of their stories; the final reads
//! from a model a rebuild repaired from the log.

mod support;

use chrono::{DateTime, Duration};
use support::{labels, open_store, read_all, rebuild_over_corruption, Log};
use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Backend;
use ticketing_projections::*;

async fn scripted_history_answers_every_query(url: String) {
    let store = open_store(&url).await;
    let backend = store.backend();
    // Small batches, so reservations span batches; the rebuild below folds
    // the whole log in one, and its drift check compares the two.
    let projector = Projector::new(store.clone(), ReservationsProjection(Target::live(backend)))
        .with_batch_size(2);
    let reservations = Reservations {
        pool: store.read_pool().clone(),
        backend,
    };
    let mut log = Log::new(store.clone());

    let t0 = DateTime::from_timestamp_millis(1_900_000_000_000).unwrap();
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let customer = UserRef::generate();
    let show = ShowId::generate();
    let order = OrderId::generate();
    let [bought, released, expired, first, second] =
        std::array::from_fn(|_| ReservationId::generate());
    let created = |id: &ReservationId, seats: &[&str], until: i64| {
        vec![ReservationEvent::ReservationCreated {
            reservation_id: id.clone(),
            customer: customer.clone(),
            show_id: show.clone(),
            seats: labels(seats),
            until: at(until),
        }]
    };
    let ids = |list: &[&ReservationId]| list.iter().map(|r| r.to_string()).collect::<Vec<_>>();

    // Five live reservations; one moved its deadline from 30 to 60 minutes.
    let mut bought_events = created(&bought, &["A-1", "A-2"], 30);
    bought_events.push(ReservationEvent::ReservationExtended { until: at(60) });
    log.append("Reservation", bought.as_str(), &bought_events)
        .await;
    for (id, seat, until) in [
        (&released, "B-1", 30),
        (&expired, "C-1", 5),
        (&first, "D-1", 10),
        (&second, "E-1", 20),
    ] {
        log.append("Reservation", id.as_str(), &created(id, &[seat], until))
            .await;
    }
    ticketing_event_store::testing::settle_feed(&store).await;
    projector.catch_up().await.unwrap();

    assert_eq!(reservations.due(at(4), 10).await.unwrap(), ids(&[]));
    assert_eq!(reservations.due(at(5), 10).await.unwrap(), ids(&[&expired]));
    assert_eq!(
        reservations.due(at(25), 2).await.unwrap(),
        ids(&[&expired, &first])
    );
    assert_eq!(
        reservations.due(at(59), 10).await.unwrap(),
        ids(&[&expired, &first, &second, &released])
    );
    assert_eq!(
        reservations.due(at(60), 10).await.unwrap(),
        ids(&[&expired, &first, &second, &released, &bought])
    );

    // Their ends: bought, released, expired; two stay active.
    let converted = ReservationEvent::ReservationConverted {
        order_id: order.clone(),
    };
    log.append("Reservation", bought.as_str(), &[converted])
        .await;
    log.append(
        "Reservation",
        released.as_str(),
        &[ReservationEvent::ReservationReleased {}],
    )
    .await;
    log.append(
        "Reservation",
        expired.as_str(),
        &[ReservationEvent::ReservationExpired {}],
    )
    .await;
    ticketing_event_store::testing::settle_feed(&store).await;
    projector.catch_up().await.unwrap();

    // The final reads are answered by a model rebuilt from the log after it
    // was corrupted: one row lost, one deadline wrong (three rows differ).
    let schema = if backend == Backend::Postgres {
        "bc_inventory."
    } else {
        ""
    };
    rebuild_over_corruption(
        &store,
        ReadModel::Reservations,
        &[
            &format!("DELETE FROM {schema}reservations WHERE reservation_id = '{first}'"),
            &format!("UPDATE {schema}reservations SET until = 0 WHERE reservation_id = '{second}'"),
        ],
        3,
        &["reservations_status_until"],
    )
    .await;

    let feed = read_all(&store).await;
    let row = |id: &ReservationId,
               seats: &[&str],
               until: i64,
               status: ReservationStatus,
               order_id: Option<&OrderId>| ReservationRow {
        reservation_id: id.to_string(),
        customer_id: customer.to_string(),
        show_id: show.to_string(),
        seat_labels: seats.iter().map(|s| s.to_string()).collect(),
        until: at(until),
        status,
        order_id: order_id.map(|o| o.to_string()),
        global_seq: feed
            .iter()
            .filter(|e| e.event.aggregate_id == id.as_str())
            .map(|e| e.global_seq)
            .max()
            .unwrap(),
    };
    use ReservationStatus::*;
    for expected in [
        row(&bought, &["A-1", "A-2"], 60, Converted, Some(&order)),
        row(&released, &["B-1"], 30, Released, None),
        row(&expired, &["C-1"], 5, Expired, None),
        row(&first, &["D-1"], 10, Active, None),
        row(&second, &["E-1"], 20, Active, None),
    ] {
        let actual = reservations.get(&expected.reservation_id).await.unwrap();
        assert_eq!(actual, Some(expected));
    }
    let unknown = ReservationId::generate();
    assert_eq!(reservations.get(unknown.as_str()).await.unwrap(), None);
    assert_eq!(reservations.due(at(9), 10).await.unwrap(), ids(&[]));
    assert_eq!(
        reservations.due(at(60), 10).await.unwrap(),
        ids(&[&first, &second])
    );
}

#[tokio::test]
async fn sqlite_reservations_follow_the_log() {
    scripted_history_answers_every_query(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn postgres_reservations_follow_the_log() {
    scripted_history_answers_every_query(fresh_postgres_url().await).await;
}
