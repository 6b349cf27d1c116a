//! `ticketing-bench`: measures a release `ticketing` binary from the
//! outside, per backend — ReserveSeats throughput on distinct seats, then
//! whole purchases (reserve, add to cart, check out), each against a
//! pgbench single-insert baseline taken just before at the same client
//! count (style.md rule 7: these machines are noisy, so only same-run ratios
//! compare), then rounds of many customers racing for one seat. It builds
//! nothing; see docs/benchmarks.md for the commands and the targets.

mod contention;
mod driver;
mod freshness;
mod http;
mod phases;
mod purchase;
mod report;
mod throughput;

use ticketing_benches::{fixture, postgres, server, stats};

use anyhow::{bail, Context};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use phases::{Phase, Plan};
use postgres::Postgres;
use report::Summary;
use server::{Backend, Server};

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
    /// Concurrent clients of each reserve and purchase run.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    clients: Vec<usize>,
    /// Which phases to run; they always run in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "reserve,purchase,contention"
    )]
    phases: Vec<Phase>,
    /// Also run the reserve and contention phases over the HTTP/JSON API
    /// (`POST /api/v1/reservations`), each right after its gRPC run.
    #[arg(long)]
    http: bool,
    /// Simultaneous ReserveSeats for one seat in each contention round.
    #[arg(long, default_value_t = 1000)]
    contenders: usize,
    /// Customers registered up front; calls take their tokens in turn. The
    /// purchase phase needs one per client, so it raises this to the
    /// largest --clients if need be.
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
    /// Also measure each backend on a log first seeded with this many events
    /// (e.g. 1000000): every phase runs once on an empty log and once on the
    /// seeded one, so the report shows how cost grows with the log.
    #[arg(long, default_value_t = 0)]
    seed_events: usize,
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
    if args.phases.is_empty() {
        bail!("--phases needs at least one of reserve, purchase, contention");
    }
    let plan = plan(&args);
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
    let phase_names = plan.phases.iter().map(|p| p.name().to_owned()).collect();
    let mut summary = Summary::new(args.duration.as_secs_f64(), phase_names);
    let mut logs = vec![0];
    if args.seed_events > 0 {
        logs.push(args.seed_events);
    }
    let measured = measure_all(
        &plan,
        &binary,
        &backends,
        &logs,
        &pg,
        &work_dir,
        &mut summary,
    )
    .await;
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

/// The phases in their fixed order, without repeats, and enough customers
/// for a purchase client each.
fn plan(args: &Args) -> Plan {
    let phases: Vec<Phase> = [Phase::Reserve, Phase::Purchase, Phase::Contention]
        .into_iter()
        .filter(|p| args.phases.contains(p))
        .collect();
    let most_clients = args.clients.iter().copied().max().unwrap_or(0);
    let customers = if phases.contains(&Phase::Purchase) {
        args.customers.max(most_clients)
    } else {
        args.customers
    };
    Plan {
        phases,
        clients: args.clients.clone(),
        duration: args.duration,
        contenders: args.contenders,
        customers,
        http: args.http,
    }
}

/// Starts, measures and stops one server per backend and log size in turn.
async fn measure_all(
    plan: &Plan,
    binary: &std::path::Path,
    backends: &[Backend],
    logs: &[usize],
    pg: &Postgres,
    work_dir: &WorkDir,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    for &backend in backends {
        for &log_events in logs {
            let server = Server::start_on_log(binary, backend, pg, &work_dir.0, log_events).await?;
            let measured = phases::measure(plan, backend, log_events, &server, pg)
                .await
                .with_context(|| format!("server log tail:\n{}", server.log_tail()));
            let stopped = server.shutdown(pg).await;
            summary.backends.push(measured?);
            stopped?;
        }
    }
    Ok(())
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
