//! Real `ticketing` processes for black-box tests: `serve` started on a
//! free port with the test secret, reachable over gRPC ([`Server`]), and
//! killed with SIGKILL, also when the test panics.
//!
//! * `processes.rs` — roles without a gateway, the test Kafka broker, and
//!   the CLI's other commands on the same database.
//! * `journey.rs` — a buyer's journey over gRPC up to the emailed PDF.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use ticketing_proto::v1::catalog_service_client::CatalogServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, schedule_request, JWT_SECRET};
use tonic::transport::Channel;

pub mod journey;
pub mod processes;

/// A `ticketing serve` process with a gRPC gateway; SIGKILLed when dropped.
pub struct Server {
    pub child: Spawned,
    pub channel: Channel,
    /// Its gRPC address, for more connections.
    #[allow(dead_code)] // not every test binary opens more
    pub addr: String,
}

/// A child process that is SIGKILLed and reaped when dropped, so a
/// panicking test never leaves it running.
pub struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        // Already gone after `sigkill`.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Spawned {
    /// SIGKILL: no shutdown hook, no flush, no rollback but the database's.
    pub fn sigkill(mut self) {
        self.0.kill().expect("kill -9");
        self.0.wait().expect("reap");
    }

    /// Its process id.
    #[allow(dead_code)] // not every test binary reads it
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().expect("wait")
    }
}

fn free_addr() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").to_string()
}

fn ticketing(url: &str, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketing"));
    command
        .args(args)
        .args(["--database-url", url, "--data-dir"])
        .arg(dir)
        .env(
            "TICKETING_JWT_SECRET",
            std::str::from_utf8(JWT_SECRET).expect("utf8"),
        )
        .env("TICKETING_LOG", "warn")
        .env("TICKETING_PAYMENT_PROVIDER", "simulated");
    command
}

pub async fn start(url: &str, dir: &Path, hold_ttl: &str) -> Server {
    start_with(url, dir, hold_ttl, None).await
}

/// Starts the server with a fault injected (`TICKETING_FAULT`).
pub async fn start_with(url: &str, dir: &Path, hold_ttl: &str, fault: Option<&str>) -> Server {
    let mut envs = Vec::new();
    if let Some(fault) = fault {
        envs.push(("TICKETING_FAULT", fault));
    }
    start_serving(url, dir, &["--hold-ttl", hold_ttl], &envs).await
}

/// Starts `ticketing serve` with `extra` arguments (e.g. `--role gateway`)
/// and environment, and waits until its gateway answers.
pub async fn start_serving(url: &str, dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
    let addr = free_addr();
    let mut command = ticketing(
        url,
        dir,
        &[
            "serve",
            "--log-format",
            "text",
            "--grpc-addr",
            &addr,
            "--admin-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--resume-checkouts-after",
            "1s",
        ],
    );
    command.args(extra).envs(envs.iter().copied());
    command.stdout(Stdio::null());
    let mut child = Spawned(command.spawn().expect("spawn ticketing serve"));
    for _ in 0..400 {
        if let Some(status) = child.exited() {
            panic!("ticketing serve {extra:?} exited: {status}");
        }
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
        {
            let mut catalog = CatalogServiceClient::new(channel.clone());
            if catalog
                .list_shows(ListShowsRequest::default())
                .await
                .is_ok()
            {
                return Server {
                    child,
                    channel,
                    addr,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        channel: Channel::from_static("http://0.0.0.0:1").connect_lazy(),
        addr: addr.clone(),
    }
    .kill();
    panic!("ticketing serve did not come up on {addr}");
}

impl Server {
    /// SIGKILL: no shutdown hook, no flush, no rollback but the database's.
    pub fn kill(self) {
        self.child.sigkill();
    }

    /// The exit status, if the process has exited (crashed) by itself.
    #[allow(dead_code)]
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.exited()
    }

    async fn login(&self, email: &str) -> String {
        let mut identity = IdentityServiceClient::new(self.channel.clone());
        let login = LoginRequest {
            email: email.into(),
            password: "correct horse".into(),
        };
        identity
            .login(login)
            .await
            .expect("login")
            .into_inner()
            .access_token
    }

    pub async fn customer(&self) -> String {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut identity = IdentityServiceClient::new(self.channel.clone());
        let register = RegisterRequest {
            email: email.clone(),
            password: "correct horse".into(),
            display_name: "C".into(),
        };
        identity.register(register).await.expect("register");
        self.login(&email).await
    }

    pub async fn published_show(&self, url: &str, dir: &Path, seats: usize) -> String {
        self.published_show_by(url, dir, seats).await.0
    }

    /// A show of `seats` seats published by a new organizer (made with
    /// `ticketing users add`); returns the show id and the organizer's token.
    pub async fn published_show_by(&self, url: &str, dir: &Path, seats: usize) -> (String, String) {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let added = ticketing(
            url,
            dir,
            &[
                "users",
                "add",
                "--role",
                "organizer",
                "--email",
                &email,
                "--password",
                "correct horse",
            ],
        )
        .output()
        .expect("users add");
        assert!(
            added.status.success(),
            "users add: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let organizer = self.login(&email).await;
        let mut catalog = CatalogServiceClient::new(self.channel.clone());
        // Crash tests burst many holds from a few customers: no hold limit.
        let request = ScheduleShowRequest {
            max_held_seats_per_customer: Some(0),
            ..schedule_request(seats)
        };
        let show = catalog
            .schedule_show(authed(&organizer, request))
            .await
            .expect("schedule")
            .into_inner();
        let publish = PublishShowRequest {
            show_id: show.show_id.clone(),
        };
        catalog
            .publish_show(authed(&organizer, publish))
            .await
            .expect("publish");
        (show.show_id, organizer)
    }
}
