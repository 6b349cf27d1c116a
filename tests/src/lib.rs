//! Test support for black-box tests: [`spawn_app`] starts the engine the
//! binary runs (on a random port, a fresh database of the chosen backend),
//! and [`TestApp`] speaks gRPC to it like any client (and HTTP/JSON, see
//! [`http`]). [`cluster::PgCluster`] is a Postgres server of a test's own,
//! for tests that restart the database under the engine, and [`outage`]
//! judges the answers clients got across such a restart.

use std::sync::Arc;
use std::time::Duration;
use ticketing::{Application, Settings};
use ticketing_aggregates::{Clock, SystemClock};
use ticketing_commands::EngineConfig;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Store;
use ticketing_identity::{DisplayName, Email, Password};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::catalog_service_client::CatalogServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub use ticketing_proto::v1;

mod buying;
pub mod cluster;
pub mod http;
pub mod mail;
pub mod outage;
mod probes;

pub use buying::emails_in;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// The admin HTTP port (/metrics, /healthz, /readyz).
    pub admin_addr: std::net::SocketAddr,
    /// The HTTP/JSON API and the web page.
    pub http_addr: std::net::SocketAddr,
    pub database_url: String,
    pub store: Store,
    pub channel: Channel,
    /// The engine's data dir: its key ring and mail outbox.
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow_free::Result>>,
}

mod anyhow_free {
    pub type Result = std::result::Result<(), String>;
}

pub async fn database_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => {
            // Postgres roles refuse an unmigrated schema: migrate it the way
            // a deployment does, before any role starts.
            let url = fresh_postgres_url().await;
            ticketing::migrate_store(&url).await.expect("migrate");
            url
        }
        Backend::Sqlite => fresh_sqlite_url(),
    }
}

/// Starts the engine on a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(database_url(backend).await, EngineConfig::default()).await
}

/// Starts the engine on `database_url` (which may hold an earlier run's data).
pub async fn spawn_app_with(database_url: String, engine: EngineConfig) -> TestApp {
    spawn_app_at(database_url, engine, Arc::new(SystemClock)).await
}

/// Starts the engine with the clock the test moves.
pub async fn spawn_app_at(
    database_url: String,
    engine: EngineConfig,
    clock: Arc<dyn Clock>,
) -> TestApp {
    spawn_app_configured(database_url, |settings| {
        settings.engine = engine;
        settings.clock = clock;
    })
    .await
}

/// Starts the engine (role all) with the tests' settings — a data dir of
/// its own, fast expirer and mail retries — changed by `configure`.
pub async fn spawn_app_configured(
    database_url: String,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut settings = Settings::new(database_url.clone(), data_dir.path(), JWT_SECRET.to_vec());
    settings.token_ttl = Duration::from_secs(3600);
    settings.expirer_interval = Duration::from_millis(50);
    settings.resume_checkouts_after = Duration::from_secs(1);
    settings.admin_addr = Some("127.0.0.1:0".parse().expect("addr"));
    settings.http_addr = Some("127.0.0.1:0".parse().expect("addr"));
    settings.mail.sender.poll_interval = Duration::from_millis(50);
    settings.mail.sender.base_backoff = Duration::from_millis(50);
    settings.mail.sender.max_backoff = Duration::from_millis(500);
    configure(&mut settings);
    let app = Application::build(settings).await.expect("engine starts");
    let addr = app.grpc_addr().expect("gateway address");
    let admin_addr = app.admin_addr().expect("admin address");
    let http_addr = app.http_addr().expect("HTTP address");
    let store = app.store().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| format!("{e:#}"))
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect to gateway");
    TestApp {
        addr,
        admin_addr,
        http_addr,
        database_url,
        store,
        channel,
        data_dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel.clone())
    }

    pub fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel.clone())
    }

    pub fn inventory(&self) -> InventoryServiceClient<Channel> {
        InventoryServiceClient::new(self.channel.clone())
    }

    /// A fresh channel (its own HTTP/2 connection), for spreading load.
    pub async fn new_channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// Graceful stop: in-flight calls finish, projectors stop between batches.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("engine task")
                .expect("engine stops cleanly");
        }
    }

    /// Creates a user with any role directly (as `ticketing users add`
    /// does) and logs in; returns the access token.
    pub async fn user_with_role(&self, role: ticketing_identity::Role) -> String {
        let identity = ticketing::application::identity(
            &self.store,
            JWT_SECRET.to_vec(),
            Duration::from_secs(3600),
        )
        .expect("identity");
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        identity
            .add_user(
                Email::parse(&email).expect("email"),
                Password::parse("correct horse").expect("password"),
                DisplayName::parse("Someone").expect("name"),
                role,
            )
            .await
            .expect("add user");
        self.login(&email, "correct horse").await
    }

    /// Registers a customer through the API and logs in.
    pub async fn customer(&self) -> String {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        self.identity()
            .register(pb::RegisterRequest {
                email: email.clone(),
                password: "correct horse".into(),
                display_name: "Customer".into(),
            })
            .await
            .expect("register");
        self.login(&email, "correct horse").await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        self.identity()
            .login(pb::LoginRequest {
                email: email.into(),
                password: password.into(),
            })
            .await
            .expect("login")
            .into_inner()
            .access_token
    }

    /// Schedules and publishes a show with one row `A` of `seats` seats
    /// labelled `A-1…`, and waits until its seat map is projected.
    pub async fn published_show(&self, organizer: &str, seats: usize) -> String {
        self.published_show_from(organizer, schedule_request(seats))
            .await
    }

    /// [`TestApp::published_show`] with the show's hold limit lifted: for
    /// tests whose few customers hold many seats of one show.
    pub async fn unlimited_show(&self, organizer: &str, seats: usize) -> String {
        let request = pb::ScheduleShowRequest {
            max_held_seats_per_customer: Some(0),
            ..schedule_request(seats)
        };
        self.published_show_from(organizer, request).await
    }

    /// Schedules and publishes the show of `request` (one row `A`, as
    /// [`schedule_request`] makes it), and waits until its seat map is
    /// projected.
    pub async fn published_show_from(
        &self,
        organizer: &str,
        request: pb::ScheduleShowRequest,
    ) -> String {
        let seats: usize = request
            .sections
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.seats.len())
            .sum();
        let show = self
            .catalog()
            .schedule_show(authed(organizer, request))
            .await
            .expect("schedule")
            .into_inner();
        self.catalog()
            .publish_show(authed(
                organizer,
                pb::PublishShowRequest {
                    show_id: show.show_id.clone(),
                },
            ))
            .await
            .expect("publish");
        self.wait_for_seat_map(&show.show_id, |map| map.seats.len() == seats)
            .await;
        show.show_id
    }

    /// Polls GetSeatMap until `ready` holds (projections are eventually
    /// consistent); panics after 10 s. An answer may not hold every seat
    /// yet, so `ready` checks every seat the caller then asserts, and never
    /// indexes one that may be missing (nor trusts `all` over an empty map).
    pub async fn wait_for_seat_map(
        &self,
        show_id: &str,
        ready: impl Fn(&pb::SeatMap) -> bool,
    ) -> pb::SeatMap {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let map = self
                .inventory()
                .get_seat_map(pb::GetSeatMapRequest {
                    min_consistency_token: Default::default(),
                    show_id: show_id.into(),
                    as_of: None,
                })
                .await;
            if let Ok(map) = map {
                let map = map.into_inner();
                if ready(&map) {
                    return map;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "seat map of {show_id} never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A show starting in 30 days with one row `A` of `seats` seats at 50.00 EUR.
pub fn schedule_request(seats: usize) -> pb::ScheduleShowRequest {
    pb::ScheduleShowRequest {
        title: "Hamlet".into(),
        venue: "The Globe".into(),
        starts_at: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + 30 * 24 * 3600,
            nanos: 0,
        }),
        time_zone: "Europe/Vienna".into(),
        currency: "EUR".into(),
        sections: vec![pb::SectionPlan {
            name: "Stalls".into(),
            rows: vec![pb::RowPlan {
                name: "A".into(),
                seats: (1..=seats)
                    .map(|i| pb::SeatPlan {
                        label: format!("A-{i}"),
                        price_minor: 5000,
                    })
                    .collect(),
            }],
        }],
        max_held_seats_per_customer: None,
    }
}

pub use probes::{
    authed, count_events, keyed, log, log_with_payloads, reason, violated_fields, LoggedEvent,
};

/// A clock the test moves by hand; the engine (and its expirer) read it.
#[derive(Clone)]
pub struct TestClock(Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>);

impl TestClock {
    pub fn at(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(Arc::new(std::sync::Mutex::new(now)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("clock")
    }
}
