//! Projector shards as real processes on Postgres (`ticketing serve --role
//! projector --shard K/N`): a shard killed with SIGKILL holds back only its
//! own shows (their seat maps and their readers' own writes) and loses
//! nothing once restarted; the count changes by the documented procedure
//! (stop the projectors, `projections rebuild seat_map --shards N`, start
//! N shards), and a projector of another count refuses to start; a bad
//! `--shard` is refused with one line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ticketing_event_store::Store;
use ticketing_projections::{model_shards, owner, ReadModel};
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, database_url, Backend};

#[allow(dead_code)] // each test binary uses part of it
mod support;
use support::processes::{cli, refused_role, spawn_role};
use support::{start_serving, Server};

const SEATS: usize = 40;

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ticketing-shards-{}", ulid::Ulid::new()))
}

/// Shows published until each of two shards owns one, with their owners.
async fn shows_of_both_shards(
    server: &Server,
    url: &str,
    dir: &std::path::Path,
) -> Vec<(String, u32)> {
    let mut shows: Vec<(String, u32)> = Vec::new();
    while !(0..2).all(|k| shows.iter().any(|(_, owner)| *owner == k)) {
        assert!(shows.len() < 40, "no show of one shard in 40");
        let show = server.published_show(url, dir, SEATS).await;
        let owner = owner(&show, 2);
        shows.push((show, owner));
    }
    shows
}

async fn reserve(server: &Server, customer: &str, show: &str, label: &str) -> Reservation {
    let request = ReserveSeatsRequest {
        show_id: show.into(),
        seat_labels: vec![label.into()],
    };
    InventoryServiceClient::new(server.channel.clone())
        .reserve_seats(authed(customer, request))
        .await
        .expect("reserve")
        .into_inner()
}

async fn seat_map(server: &Server, show: &str, token: &str) -> Result<SeatMap, tonic::Status> {
    let request = GetSeatMapRequest {
        show_id: show.into(),
        as_of: None,
        min_consistency_token: token.into(),
    };
    let map = InventoryServiceClient::new(server.channel.clone())
        .get_seat_map(request)
        .await?;
    Ok(map.into_inner())
}

fn status_of(map: &SeatMap, label: &str) -> i32 {
    let seat = map.seats.iter().find(|s| s.label == label);
    seat.expect("the seat is on the map").status
}

/// Waits until every read model, every shard of it, has passed the end of
/// the log.
async fn until_caught_up(store: &Store) {
    ticketing_event_store::testing::settle_feed(store).await;
    let head = store.feed_head(0).await.expect("head");
    for _ in 0..600 {
        let mut behind = false;
        for model in ReadModel::ALL {
            let shards = model_shards(store, model).await.expect("shards");
            behind |= shards.iter().any(|(_, at)| *at < head);
        }
        if !behind {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the projectors never reached {head:?}");
}

/// `ticketing projections ARGS` on `url`; panics unless it succeeds.
fn projections(url: &str, dir: &std::path::Path, args: &[&str]) -> String {
    let output = cli(url, dir, &[&["projections"], args].concat());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "projections {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Every seat-map row, every column.
async fn seat_map_rows(store: &Store) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CAST(t AS TEXT) FROM bc_inventory.seat_map t ORDER BY show_id, label",
    )
    .fetch_all(store.read_pool())
    .await
    .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shard_holds_back_only_its_shows_and_loses_nothing() {
    let url = database_url(Backend::Postgres).await;
    let dir = data_dir();
    let store = Store::connect(&url).await.expect("store");
    let wait = ["--role", "gateway", "--read-your-writes-wait", "500ms"];
    let gateway = start_serving(&url, &dir, &wait, &[]).await;
    let first = spawn_role(&url, &dir, "projector", &["--shard", "0/2"]).await;
    let second = spawn_role(&url, &dir, "projector", &["--shard", "1/2"]).await;
    let shows = shows_of_both_shards(&gateway, &url, &dir).await;
    let customer = gateway.customer().await;
    for (show, _) in &shows {
        gateway.buy(&customer, show, &["A-1"]).await;
        reserve(&gateway, &customer, show, "A-2").await;
    }
    until_caught_up(&store).await;

    // A burst on every show (its last two seats left free), and shard 1
    // killed in the middle of it.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let burst: Vec<_> = (3..SEATS - 1)
        .flat_map(|seat| {
            shows
                .iter()
                .map(move |(show, _)| (show.clone(), format!("A-{seat}")))
        })
        .map(|(show, label)| {
            let (channel, customer) = (gateway.channel.clone(), customer.clone());
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let request = ReserveSeatsRequest {
                    show_id: show,
                    seat_labels: vec![label],
                };
                let reply = InventoryServiceClient::new(channel)
                    .reserve_seats(authed(&customer, request))
                    .await;
                acknowledged.fetch_add(1, Ordering::SeqCst);
                reply
            })
        })
        .collect();
    let calls = burst.len();
    // Killed at the first answer: on a fast machine the whole burst is
    // answered within milliseconds, and waiting for more lost the race.
    while acknowledged.load(Ordering::SeqCst) < 1 {
        tokio::task::yield_now().await;
    }
    second.kill();
    assert!(
        acknowledged.load(Ordering::SeqCst) < calls,
        "killed before the burst ended"
    );
    for call in burst {
        call.await
            .expect("call")
            .expect("the gateway keeps taking holds");
    }
    let (show_0, show_1) = (
        &shows.iter().find(|(_, k)| *k == 0).expect("shard 0's").0,
        &shows.iter().find(|(_, k)| *k == 1).expect("shard 1's").0,
    );
    // Shard 0's show reads its writes; shard 1's waits, then says so.
    let last = format!("A-{SEATS}");
    let mine = reserve(&gateway, &customer, show_0, &last).await;
    let map = seat_map(&gateway, show_0, &mine.consistency_token).await;
    let map = map.expect("shard 0 keeps its shows current");
    assert_eq!(status_of(&map, &last), SeatStatus::Held as i32);
    assert_eq!(status_of(&map, "A-1"), SeatStatus::Sold as i32);
    let theirs = reserve(&gateway, &customer, show_1, &last).await;
    let behind = seat_map(&gateway, show_1, &theirs.consistency_token).await;
    let behind = behind.expect_err("shard 1 is down");
    assert_eq!(behind.code(), tonic::Code::Unavailable, "{behind:?}");
    assert!(behind.message().contains("seat_map"), "{behind:?}");

    let _second = spawn_role(&url, &dir, "projector", &["--shard", "1/2"]).await;
    let map = seat_map(&gateway, show_1, &theirs.consistency_token).await;
    let map = map.expect("shard 1 caught up within the wait");
    assert_eq!(status_of(&map, &last), SeatStatus::Held as i32);
    until_caught_up(&store).await;
    let dry = projections(&url, &dir, &["rebuild", "seat_map", "--dry-run"]);
    assert!(
        dry.contains("0 rows only in the live model, 0 only in a fresh fold"),
        "{dry}"
    );
    let sharded = seat_map_rows(&store).await;
    assert_eq!(sharded.len(), shows.len() * SEATS);
    let rebuilt = projections(&url, &dir, &["rebuild", "seat_map"]);
    assert!(rebuilt.contains("kept by 2 projector shards"), "{rebuilt}");
    assert_eq!(
        seat_map_rows(&store).await,
        sharded,
        "a fresh fold has the same rows"
    );

    let listed = projections(&url, &dir, &["list"]);
    for line in ["seat_map 0/2", "seat_map 1/2", "shows ", "orders "] {
        assert!(
            listed.lines().any(|l| l.starts_with(line)),
            "{line}: {listed}"
        );
    }
    let ready = first.readyz();
    assert!(
        ready.contains("seat_map 0/2 is") && ready.contains("shows is"),
        "{ready}"
    );
    let metrics = first.metrics();
    let lag = r#"ticketing_projection_lag_seconds{projection="seat_map",shard="0"}"#;
    assert!(metrics.contains(lag), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_changes_by_a_rebuild_and_other_counts_refuse_to_start() {
    let url = database_url(Backend::Postgres).await;
    let dir = data_dir();
    let store = Store::connect(&url).await.expect("store");
    let gateway = start_serving(&url, &dir, &["--role", "gateway"], &[]).await;
    let whole = spawn_role(&url, &dir, "projector", &[]).await;
    let shows = shows_of_both_shards(&gateway, &url, &dir).await;
    let customer = gateway.customer().await;
    for (show, _) in &shows {
        gateway.buy(&customer, show, &["A-1"]).await;
    }
    until_caught_up(&store).await;
    let refused = refused_role(&url, &dir, "projector", &["--shard", "1/2"]).await;
    assert!(
        refused.contains("seat_map is kept by one projector"),
        "{refused}"
    );

    whole.kill();
    let rebuilt = projections(&url, &dir, &["rebuild", "seat_map", "--shards", "2"]);
    assert!(
        rebuilt.contains("start them as --shard 0/2 to 1/2"),
        "{rebuilt}"
    );
    let refused = refused_role(&url, &dir, "projector", &[]).await;
    assert!(
        refused.contains("seat_map is kept by 2 shards"),
        "{refused}"
    );
    let _shards = [
        spawn_role(&url, &dir, "projector", &["--shard", "0/2"]).await,
        spawn_role(&url, &dir, "projector", &["--shard", "1/2"]).await,
    ];
    for (show, _) in &shows {
        let bought = gateway.buy(&customer, show, &["A-2"]).await;
        let map = seat_map(&gateway, show, &bought.consistency_token).await;
        assert_eq!(
            status_of(&map.expect("read"), "A-2"),
            SeatStatus::Sold as i32
        );
    }
    until_caught_up(&store).await;
    let dry = projections(&url, &dir, &["rebuild", "--all", "--dry-run"]);
    let clean = "0 rows only in the live model, 0 only in a fresh fold";
    assert_eq!(dry.matches(clean).count(), 4, "{dry}");
}

#[tokio::test]
async fn a_bad_shard_is_refused_with_one_line() {
    let url = ticketing_event_store::testing::fresh_sqlite_url();
    let dir = data_dir();
    for (bad, reason) in [
        ("2/2", "shard 2/2 does not exist"),
        ("0/0", "a shard count must be 1 to 256, not 0"),
        ("1", "\"1\" is not a shard: write K/N"),
    ] {
        let output = cli(
            &url,
            &dir,
            &["serve", "--role", "projector", "--shard", bad],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{bad} accepted");
        assert!(stderr.contains(reason), "{bad}: {stderr}");
    }
}
