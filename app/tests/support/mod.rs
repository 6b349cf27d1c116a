//! A real `ticketing serve` process for kill tests: started on a free port
//! with the test secret, reachable over gRPC, and killed with SIGKILL.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use ticketing_proto::v1::catalog_service_client::CatalogServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, schedule_request, JWT_SECRET};
use tonic::transport::Channel;

pub struct Server {
    child: Child,
    pub channel: Channel,
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
        .env("TICKETING_LOG", "warn");
    command
}

pub async fn start(url: &str, dir: &Path, hold_ttl: &str) -> Server {
    start_with(url, dir, hold_ttl, None).await
}

/// Starts the server with a fault injected (`TICKETING_FAULT`).
pub async fn start_with(url: &str, dir: &Path, hold_ttl: &str, fault: Option<&str>) -> Server {
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
            "--hold-ttl",
            hold_ttl,
        ],
    );
    command.stdout(Stdio::null());
    if let Some(fault) = fault {
        command.env("TICKETING_FAULT", fault);
    }
    let child = command.spawn().expect("spawn ticketing serve");
    for _ in 0..400 {
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
                return Server { child, channel };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        channel: Channel::from_static("http://0.0.0.0:1").connect_lazy(),
    }
    .kill();
    panic!("ticketing serve did not come up on {addr}");
}

impl Server {
    /// SIGKILL: no shutdown hook, no flush, no rollback but the database's.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
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
        let show = catalog
            .schedule_show(authed(&organizer, schedule_request(seats)))
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
        show.show_id
    }
}
