//! The seat locks against real Redis servers: the machine's
//! (`TICKETING_TEST_REDIS_URL`, default redis://127.0.0.1:6379; the tests
//! fail, never skip, without it) for the lock protocol between two
//! "processes" (two adapters), and a `redis-server` of the test's own,
//! stopped and started again, for what happens when Redis goes away.

use std::time::{Duration, Instant};

use ticketing_commands::{LockAttempt, SeatLocks};
use ticketing_locks::testing::{redis_url, OwnRedis};
use ticketing_locks::{RedisSeatLocks, SeatLockConfig};

fn locks(url: &str, lock_ttl: Duration) -> RedisSeatLocks {
    let mut config = SeatLockConfig::new(url);
    config.lock_ttl = lock_ttl;
    config.timeout = Duration::from_millis(200); // a loaded CI machine
    RedisSeatLocks::new(config).expect("locks")
}

/// Seat ids of a show of this test's own.
fn seats(labels: &[&str]) -> Vec<String> {
    let show = format!("s_{}", ulid::Ulid::new());
    labels.iter().map(|l| format!("{show}/{l}")).collect()
}

fn outcome(attempt: &LockAttempt) -> String {
    match attempt {
        LockAttempt::Acquired(_) => "acquired".into(),
        LockAttempt::Contended(at) => format!("contended at {at}"),
        LockAttempt::Bypassed => "bypassed".into(),
    }
}

/// Retries `acquire` until it gives what `want` says, or panics after 5 s.
async fn eventually(locks: &RedisSeatLocks, seats: &[String], want: &str) -> LockAttempt {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = locks.acquire(seats).await;
        if outcome(&attempt) == want {
            return attempt;
        }
        assert!(
            Instant::now() < deadline,
            "still {} instead of {want}",
            outcome(&attempt)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn overlapping_seat_sets_never_both_lock_and_a_loss_frees_them() {
    let url = redis_url();
    let (a, b) = (
        locks(&url, Duration::from_secs(5)),
        locks(&url, Duration::from_secs(5)),
    );
    let ids = seats(&["A-1", "A-2", "A-3"]);
    let first = a.acquire(&ids[..2]).await;
    assert_eq!(outcome(&first), "acquired");
    let overlap = [ids[2].clone(), ids[1].clone()];
    assert_eq!(
        outcome(&b.acquire(&overlap).await),
        "contended at 1",
        "A-2 is locked"
    );
    // All or nothing: A-3 was not left locked by the failed attempt.
    let third = b.acquire(&ids[2..]).await;
    assert_eq!(outcome(&third), "acquired");
    drop(third);
    // A lost decision frees its locks (in the background).
    drop(first);
    eventually(&b, &overlap, "acquired").await;
}

#[tokio::test]
async fn a_won_seat_stays_marked_until_it_is_forgotten() {
    let url = redis_url();
    let (a, b) = (
        locks(&url, Duration::from_secs(5)),
        locks(&url, Duration::from_secs(5)),
    );
    let ids = seats(&["B-1"]);
    let LockAttempt::Acquired(lease) = a.acquire(&ids).await else {
        panic!("a free seat locks");
    };
    lease.taken(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(outcome(&b.acquire(&ids).await), "contended at 0");
    // Released: the mark goes, and the seat can be decided on again.
    a.forget(&ids);
    eventually(&b, &ids, "acquired").await;
}

#[tokio::test]
async fn a_lock_whose_holder_died_expires_by_itself() {
    let url = redis_url();
    let (a, b) = (
        locks(&url, Duration::from_millis(300)),
        locks(&url, Duration::from_millis(300)),
    );
    let ids = seats(&["C-1", "C-2"]);
    let LockAttempt::Acquired(lease) = a.acquire(&ids).await else {
        panic!("free seats lock");
    };
    // The holder dies: no release is ever sent.
    std::mem::forget(lease);
    assert_eq!(outcome(&b.acquire(&ids).await), "contended at 0");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(outcome(&b.acquire(&ids).await), "acquired");
}

#[tokio::test]
async fn without_redis_seats_are_decided_without_locks_until_it_returns() {
    let mut redis = OwnRedis::on_free_port();
    let url = redis.url();
    let mut config = SeatLockConfig::new(&url);
    config.timeout = Duration::from_millis(50);
    let locks = RedisSeatLocks::new(config).unwrap();
    let ids = seats(&["D-1"]);
    assert_eq!(outcome(&locks.acquire(&ids).await), "acquired");
    assert!(locks.health().is_up());

    redis.stop();
    let started = Instant::now();
    let attempt = locks.acquire(&ids).await;
    assert_eq!(outcome(&attempt), "bypassed");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "bounded by the timeout: {:?}",
        started.elapsed()
    );
    assert!(!locks.health().is_up());
    assert!(locks.health().describe().contains("bypassed"));

    let _redis = OwnRedis::start(redis.port());
    eventually(&locks, &ids, "acquired").await;
    assert!(locks.health().is_up(), "used again once Redis is back");
}
