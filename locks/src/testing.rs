//! Test support (feature `testing`): the machine's Redis for the tests, and
//! Redis servers of a test's own to stop and start again.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tests' Redis (`TICKETING_TEST_REDIS_URL`, default
/// redis://127.0.0.1:6379), checked to answer: the tests fail, never skip,
/// without it.
pub fn redis_url() -> String {
    let url = std::env::var("TICKETING_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    client
        .get_connection_with_timeout(Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("no Redis at {url} ({e}): set TICKETING_TEST_REDIS_URL"));
    url
}

/// A `redis-server` of a test's own (Debian's package) on `port`, without
/// persistence: a restart comes back empty. Killed when dropped.
pub struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    pub fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package) on PATH");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child, port }
    }

    /// On a port nothing listens on.
    pub fn on_free_port() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start(port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
