//! `ticketing` processes other than a gateway [`Server`](super::Server):
//! roles without a gateway ([`Process`]), started against the test Kafka
//! broker (`ticketing_bus::testing::kafka_brokers`) or none, and the CLI's
//! one-shot commands.

// Not every test binary uses all of this.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use super::{free_addr, ticketing, Spawned};

/// Runs a `ticketing` command (not `serve`) on the database and data dir.
pub fn cli(url: &str, dir: &Path, args: &[&str]) -> Output {
    ticketing(url, dir, args).output().expect("run ticketing")
}

/// A `ticketing serve --role …` process without a gateway; SIGKILLed when
/// dropped, so a failing test leaves nothing running.
pub struct Process {
    child: Spawned,
    role: String,
    admin: String,
}

impl Process {
    /// SIGKILL, as for [`Server::kill`](super::Server::kill).
    pub fn kill(self) {
        self.child.sigkill();
    }

    /// Panics if the process has exited (a role that failed to start or died).
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.exited() {
            panic!("ticketing serve --role {} exited: {status}", self.role);
        }
    }

    /// The status line and body of its `/readyz`.
    pub fn readyz(&self) -> String {
        let reply = admin_get(&self.admin, "/readyz").unwrap_or_default();
        let status = reply.lines().next().unwrap_or_default().to_owned();
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        format!("{status} {body}")
    }

    /// The body of its `/metrics`.
    pub fn metrics(&self) -> String {
        let reply = admin_get(&self.admin, "/metrics").unwrap_or_default();
        reply
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned()
    }

    /// Waits until the process is up: its admin port answers, which it
    /// opens only once the role's workers started (Kafka topics ensured,
    /// consumers subscribed). Panics after 60 s or if it exits.
    pub async fn until_up(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !healthy(&self.admin) {
            self.assert_running();
            assert!(
                std::time::Instant::now() < deadline,
                "--role {} did not come up",
                self.role
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts `ticketing serve --role ROLE` with `extra` arguments; see
/// [`Process::until_up`] for when it is ready.
pub fn launch_role(url: &str, dir: &Path, role: &str, extra: &[&str]) -> Process {
    let admin = free_addr();
    let mut command = role_command(url, dir, role, &admin);
    command
        .args([
            "--http-addr",
            "127.0.0.1:0",
            "--resume-checkouts-after",
            "1s",
        ])
        .args(extra)
        .stdout(Stdio::null());
    Process {
        child: Spawned(command.spawn().expect("spawn ticketing serve")),
        role: role.to_owned(),
        admin,
    }
}

/// Starts `ticketing serve --role ROLE` with `extra` arguments, expecting
/// it to refuse to start: returns what it wrote to stderr once it exited
/// with a failure; panics if it succeeds or still runs after 30 s.
pub async fn refused_role(url: &str, dir: &Path, role: &str, extra: &[&str]) -> String {
    let mut command = role_command(url, dir, role, &free_addr());
    command
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = Spawned(command.spawn().expect("spawn ticketing serve"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.exited() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ticketing serve --role {role} {extra:?} did not refuse to start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success(), "--role {role} {extra:?} exited 0");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        use std::io::Read;
        pipe.read_to_string(&mut stderr).expect("read stderr");
    }
    stderr
}

/// `ticketing serve --role ROLE` with text logs and its admin port at
/// `admin`.
fn role_command(url: &str, dir: &Path, role: &str, admin: &str) -> std::process::Command {
    ticketing(
        url,
        dir,
        &[
            "serve",
            "--log-format",
            "text",
            "--role",
            role,
            "--admin-addr",
            admin,
        ],
    )
}

/// [`launch_role`], then [`Process::until_up`].
pub async fn spawn_role(url: &str, dir: &Path, role: &str, extra: &[&str]) -> Process {
    let mut process = launch_role(url, dir, role, extra);
    process.until_up().await;
    process
}

/// Whether `GET /healthz` on `addr` answers 200.
fn healthy(addr: &str) -> bool {
    admin_get(addr, "/healthz").is_some_and(|reply| reply.starts_with("HTTP/1.1 200"))
}

/// The whole reply to `GET path` on the admin port `addr`, if it answers.
fn admin_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    stream.write_all(request.as_bytes()).ok()?;
    stream.read_to_string(&mut reply).ok()?;
    Some(reply)
}
