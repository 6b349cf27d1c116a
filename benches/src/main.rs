//! `ticketing-bench`: measures a release `ticketing` binary from the
//! outside, per backend — ReserveSeats throughput on distinct seats against
//! a pgbench single-insert baseline taken just before at the same client
//! count (style.md rule 7: these machines are noisy, so only same-run ratios
//! compare), then rounds of many customers racing for one seat. It builds
//! nothing; see docs/benchmarks.md for the commands and the targets.

mod contention;
mod fixture;
mod postgres;
mod report;
mod server;
mod stats;
mod throughput;

use anyhow::{bail, Context};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use postgres::Postgres;
use report::{BackendReport, ContentionRow, Summary, ThroughputRow};
use server::{Backend, Server};

/// HTTP/2 connections per server; requests are spread over them so one
/// connection's flow control is not what gets measured.
const CHANNELS: usize = 8;
const CONTENTION_ROUNDS: usize = fixture::CONTENTION_SEATS;

#[derive(Debug, Parser)]
#[command(
    name = "ticketing-bench",
    about = "Benchmarks a running ticketing binary against a same-run pgbench baseline."
)]
struct Args {
    /// Which storage backend(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: Which,
    /// Length of each throughput run (engine and pgbench alike).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Concurrent clients of each throughput run.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    clients: Vec<usize>,
    /// Simultaneous ReserveSeats for one seat in each contention round.
    #[arg(long, default_value_t = 1000)]
    contenders: usize,
    /// Customers registered up front; calls take their tokens in turn.
    #[arg(long, default_value_t = 64)]
    customers: usize,
    /// The release binary under test.
    #[arg(long, default_value = "target/release/ticketing")]
    ticketing_bin: PathBuf,
    /// The Postgres server for the engine and the baseline, without a database name.
    #[arg(
        long,
        env = "TICKETING_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
    /// Also write the summary as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Which {
    Postgres,
    Sqlite,
    Both,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Dropping `run` on Ctrl-C drops the server's Child, which kills it.
    let result = tokio::select! {
        result = run(args) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the server was killed")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs one or more counts above zero");
    }
    if args.customers == 0 || args.contenders == 0 {
        bail!("--customers and --contenders must be at least one");
    }
    let binary = std::fs::canonicalize(&args.ticketing_bin).with_context(|| {
        format!(
            "{} not found; build it with cargo build --release -p ticketing",
            args.ticketing_bin.display()
        )
    })?;
    let backends = match args.backend {
        Which::Postgres => vec![Backend::Postgres],
        Which::Sqlite => vec![Backend::Sqlite],
        Which::Both => vec![Backend::Postgres, Backend::Sqlite],
    };
    let work_dir = WorkDir::create()?;
    let mut pg = Postgres::new(&args.pg_url, &work_dir.0);
    pg.prepare_baseline().await?;
    let mut summary = Summary::new(args.duration.as_secs_f64());
    let measured = measure_all(&args, &binary, &backends, &pg, &work_dir, &mut summary).await;
    let dropped = pg.drop_baseline().await;
    measured?;
    dropped?;

    println!("{}", report::render(&summary));
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Missed targets are findings; a broken invariant makes the run fail.
    if !report::sound(&summary) {
        bail!("the engine broke an invariant (see the MISSED lines on errors and winners)");
    }
    Ok(())
}

/// Starts, measures and stops one server per backend in turn.
async fn measure_all(
    args: &Args,
    binary: &std::path::Path,
    backends: &[Backend],
    pg: &Postgres,
    work_dir: &WorkDir,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    for &backend in backends {
        let server = Server::start(binary, backend, pg, &work_dir.0).await?;
        let measured = measure(args, backend, &server, pg)
            .await
            .with_context(|| format!("server log tail:\n{}", server.log_tail()));
        let stopped = server.shutdown(pg).await;
        summary.backends.push(measured?);
        stopped?;
    }
    Ok(())
}

/// Every phase against one running server.
async fn measure(
    args: &Args,
    backend: Backend,
    server: &Server,
    pg: &Postgres,
) -> anyhow::Result<BackendReport> {
    let name = backend.name();
    let mut channels = Vec::with_capacity(CHANNELS);
    for _ in 0..CHANNELS {
        channels.push(server.channel().await?);
    }
    eprintln!("{name}: registering {} customers…", args.customers);
    let tokens = fixture::customers(&channels[0], args.customers).await?;
    let organizer = fixture::organizer(&channels[0]).await?;
    eprintln!("{name}: scheduling and publishing the show…");
    let (show_id, seats) = fixture::published_show(&channels[0], &organizer).await?;
    let seats = Arc::new(seats);
    let mut held = 0;
    let mut report = BackendReport {
        backend,
        throughput: Vec::new(),
        contention: Vec::new(),
    };

    for &clients in &args.clients {
        let settled = fixture::wait_for_holds(&channels[0], &show_id, held).await?;
        eprintln!("{name}: projector settled in {settled:.1?}; pgbench at {clients} clients…");
        let pgbench_tps = pg.baseline_tps(clients, args.duration).await?;
        eprintln!("{name}: pgbench {pgbench_tps:.0} tps; ReserveSeats at {clients} clients…");
        let mut run =
            throughput::run(&channels, &tokens, &show_id, &seats, clients, args.duration).await?;
        held += run.warm_up_ok + run.tally.ok;
        let rate = run.per_second();
        eprintln!(
            "{name}: {rate:.0} reservations/s ({:.2}x)",
            rate / pgbench_tps
        );
        report.throughput.push(ThroughputRow {
            clients,
            reservations: run.tally.ok,
            reservations_per_s: rate,
            latency: run.tally.latency(),
            errors: run.tally.errors(),
            pgbench_tps,
            ratio: rate / pgbench_tps,
            seats_exhausted: run.exhausted,
        });
    }

    for round in 0..CONTENTION_ROUNDS {
        fixture::wait_for_holds(&channels[0], &show_id, held).await?;
        let seat = seats.contention_seat(round);
        eprintln!("{name}: contention round {} on {seat}…", round + 1);
        let mut tally =
            contention::round(&channels, &tokens, &show_id, seat, args.contenders).await?;
        held += tally.ok;
        report.contention.push(ContentionRow {
            round: round + 1,
            seat: seat.to_owned(),
            contenders: args.contenders,
            ok: tally.ok,
            seat_unavailable: tally.seat_unavailable,
            latency: tally.latency(),
            other: tally.other.clone(),
        });
    }
    Ok(report)
}

/// A scratch directory (SQLite data, server logs, the pgbench script),
/// removed when the run ends however it ends.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "ticketing-bench-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
