//! The `ticketing` process runs without transparent huge pages (main.rs):
//! mimalloc's arenas grew in 2 MiB pages that stayed resident, 16–23 MB of
//! the peak RSS #13 bounds. `MIMALLOC_ALLOW_THP`, when an operator sets it,
//! is left to decide.

use ticketing_tests::{database_url, Backend};

#[allow(dead_code)] // each test binary uses part of it
mod support;
use support::start_serving;

/// `THP_enabled` of a process's status (0 once `PR_SET_THP_DISABLE` is set).
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(|value| value.trim().to_owned())
        .expect("a THP_enabled line (Linux 5.0 or later)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_without_transparent_huge_pages() {
    let url = database_url(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("ticketing-thp-{}", ulid::Ulid::new()));
    let server = start_serving(&url, &dir, &[], &[]).await;
    assert_eq!(thp_enabled(server.child.pid()), "0");
    drop(server);

    // The operator's setting stands: the process keeps what the system
    // gives every process (as this test's own).
    let server = start_serving(&url, &dir, &[], &[("MIMALLOC_ALLOW_THP", "1")]).await;
    assert_eq!(
        thp_enabled(server.child.pid()),
        thp_enabled(std::process::id())
    );
}
