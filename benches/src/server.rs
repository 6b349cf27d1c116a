//! The engine under test as a black box: a fresh database of the chosen
//! backend, an organizer made with `ticketing users add`, and `ticketing
//! serve` on a free local port. The child is killed when [`Server`] is
//! dropped, so an error or Ctrl-C never leaves a server running; the
//! Postgres database is dropped by [`Server::shutdown`].

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use ticketing_event_store::Store;

use crate::postgres::Postgres;
use crate::seed::{seed, Purchases};

/// Shared by `users add` and `serve` so the organizer's password hash and
/// every token are made with the same secret; at least 32 bytes.
const JWT_SECRET: &str = "ticketing-bench-secret-ticketing-bench-secret";
pub const ORGANIZER_EMAIL: &str = "organizer@bench.example";
pub const PASSWORD: &str = "correct horse battery";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fresh server on a seeded log may take to fold it.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// The options of a bench that starts `ticketing serve` on each backend.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "postgres,sqlite"
    )]
    pub backend: Vec<Backend>,
    #[arg(long, default_value = "target/release/ticketing")]
    pub ticketing_bin: PathBuf,
    /// Keep the scratch directory (server logs, SQLite data, any mail).
    #[arg(long)]
    pub keep: bool,
    #[arg(
        long,
        env = "TICKETING_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pub pg_url: String,
}

/// A running `ticketing serve` and the database it owns.
pub struct Server {
    pub addr: String,
    /// The HTTP/JSON API's address.
    pub http_addr: String,
    /// The URL the engine was started on.
    pub database_url: String,
    child: Child,
    log: PathBuf,
    database: Option<String>,
}

impl Server {
    /// Creates the database, the organizer, and starts the server; returns
    /// once gRPC health reports the inventory service SERVING.
    pub async fn start(
        binary: &Path,
        backend: Backend,
        postgres: &Postgres,
        work_dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::start_on_log(binary, backend, postgres, work_dir, 0).await
    }

    /// [`Server::start`] on a log first seeded with `events` events
    /// ([`crate::seed`], without purchases), the way a sale well under way
    /// would have it.
    pub async fn start_on_log(
        binary: &Path,
        backend: Backend,
        postgres: &Postgres,
        work_dir: &Path,
        events: usize,
    ) -> anyhow::Result<Self> {
        let data_dir = work_dir.join(format!("{}-{events}", backend.name()));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let database = match backend {
            Backend::Postgres => {
                let name = format!("ticketing_bench_{}", chrono::Utc::now().timestamp_millis());
                postgres.create_database(&name).await?;
                Some(name)
            }
            Backend::Sqlite => None,
        };
        let database_url = match &database {
            Some(name) => postgres.url(name),
            None => format!("sqlite://{}", data_dir.join("ticketing.db").display()),
        };
        if events > 0 {
            let started = std::time::Instant::now();
            let store = Store::connect(&database_url).await?;
            store.migrate().await?;
            let written = seed(&store, events, Purchases::None).await?;
            eprintln!(
                "{}: seeded {written} events in {:.1?}",
                backend.name(),
                started.elapsed()
            );
        }
        let mut db_args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
        if let Some(name) = &database {
            db_args.extend(["--database-url".to_owned(), postgres.url(name)]);
        }

        // On Postgres `serve` and `users` need the schema migrated first.
        run_cli(binary, &["migrate"], &db_args).await?;
        let organizer = [
            "users",
            "add",
            "--email",
            ORGANIZER_EMAIL,
            "--password",
            PASSWORD,
            "--role",
            "organizer",
        ];
        run_cli(binary, &organizer, &db_args).await?;

        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let http_addr = format!("127.0.0.1:{}", free_port()?);
        let log = work_dir.join(format!("{}-server.log", backend.name()));
        let log_file = std::fs::File::create(&log)?;
        let child = command(binary)
            .args(["serve", "--grpc-addr", &addr, "--admin-addr", "127.0.0.1:0"])
            .args(["--http-addr", &http_addr])
            .args(&db_args)
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {} serve", binary.display()))?;
        let mut server = Self {
            addr,
            http_addr,
            database_url,
            child,
            log,
            database,
        };
        if let Err(e) = server.wait_until_serving().await {
            // Best effort: the startup error is the one worth reporting.
            let _ = server.shutdown(postgres).await;
            return Err(e);
        }
        if events > 0 {
            // A fresh server on a seeded log first folds it into every
            // read model and passes it through the relay and the workers;
            // an engine in production is caught up, so measure after that.
            let started = std::time::Instant::now();
            server.wait_until_idle().await?;
            eprintln!(
                "{}: the server caught up with the seeded log in {:.1?}",
                backend.name(),
                started.elapsed()
            );
        }
        Ok(server)
    }

    /// Waits until the server uses under 5% of a core over a second (the
    /// followers have caught up with the log), at most [`CATCH_UP_TIMEOUT`].
    async fn wait_until_idle(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the server has no pid")?;
        let ticks = || -> anyhow::Result<u64> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
            // After the command name in parentheses: utime and stime are
            // fields 14 and 15 of the line, 12 and 13 after the `)`.
            let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |n: usize| -> anyhow::Result<u64> {
                Ok(fields.get(n).context("short /proc stat")?.parse()?)
            };
            Ok(field(11)? + field(12)?)
        };
        let deadline = tokio::time::Instant::now() + CATCH_UP_TIMEOUT;
        let mut before = ticks()?;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = ticks()?;
            // Clock ticks are 1/100 s on Linux: 5 ticks a second is 5%.
            if now - before <= 5 {
                return Ok(());
            }
            before = now;
        }
        bail!("the server was still busy with the seeded log after {CATCH_UP_TIMEOUT:?}")
    }

    /// A new HTTP/2 connection to the server.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?)
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("ticketing serve exited with {status}: {}", self.log_tail());
            }
            if self.serving().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "ticketing serve did not become healthy in {STARTUP_TIMEOUT:?}: {}",
            self.log_tail()
        )
    }

    /// Whether gRPC health reports the inventory service SERVING.
    pub async fn serving(&self) -> bool {
        let Ok(channel) = self.channel().await else {
            return false;
        };
        let check = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: "ticketing.v1.InventoryService".into(),
            })
            .await;
        matches!(check, Ok(r) if r.get_ref().status == ServingStatus::Serving as i32)
    }

    /// The server's peak resident memory so far (`VmHWM`), in MB (10^6
    /// bytes); `None` where `/proc` does not tell.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024.0 / 1e6)
    }

    /// The last lines the server logged, to explain a failure.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Kills the server, then drops its Postgres database (the kill leaves
    /// connections behind, hence `WITH (FORCE)` in [`Postgres::drop_database`]).
    pub async fn shutdown(mut self, postgres: &Postgres) -> anyhow::Result<()> {
        self.child.kill().await?;
        if let Some(name) = self.database.take() {
            postgres.drop_database(&name).await?;
        }
        Ok(())
    }
}

fn command(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    // Warnings only: logging every call would measure the log writer
    // (TICKETING_BENCH_SERVER_LOG sets another filter, e.g. to count the
    // statements a run sends with `warn,sqlx::query=debug`).
    let filter = std::env::var("TICKETING_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into());
    command
        .args(["--log-format", "text"])
        .env("TICKETING_LOG", filter)
        .env("TICKETING_JWT_SECRET", JWT_SECRET)
        .env("TICKETING_PAYMENT_PROVIDER", "simulated");
    command
}

/// A port nobody listens on right now; the tiny race until the server binds
/// it is acceptable for a benchmark on a quiet machine.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Runs a one-shot `ticketing` command on the bench's database.
async fn run_cli(binary: &Path, args: &[&str], db_args: &[String]) -> anyhow::Result<()> {
    let output = command(binary)
        .args(args)
        .args(db_args)
        .output()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "ticketing {} failed: {}",
            args[..2.min(args.len())].join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
