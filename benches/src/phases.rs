//! The phases run against one server, in a fixed order — reserve, purchase,
//! contention — each optional. Before every timed run the projector is let
//! catch up with what the earlier runs wrote and Postgres settles inside
//! the pgbench baseline, so no run pays for the one before it.

use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

use crate::fixture::{self, SeatSupply};
use crate::freshness::Freshness;
use crate::postgres::Postgres;
use crate::report::{BackendReport, ContentionRow, PurchaseRow, ThroughputRow};
use crate::server::{Backend, Server};
use crate::{contention, http, purchase, throughput};

/// HTTP/2 connections per server; requests are spread over them so one
/// connection's flow control is not what gets measured.
const CHANNELS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// ReserveSeats of one fresh seat per call.
    Reserve,
    /// ReserveSeats + AddToCart + Checkout per order.
    Purchase,
    /// Many customers racing for one seat.
    Contention,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Purchase => "purchase",
            Self::Contention => "contention",
        }
    }
}

/// What to run, from the command line.
pub struct Plan {
    pub phases: Vec<Phase>,
    pub clients: Vec<usize>,
    pub duration: Duration,
    pub contenders: usize,
    pub customers: usize,
    /// Also over the HTTP/JSON API (reserve and contention).
    pub http: bool,
}

/// The server under test with its fixture, and what the phases so far left
/// on the seat map for the next one to wait for.
struct Target<'a> {
    name: &'static str,
    pg: &'a Postgres,
    channels: Vec<Channel>,
    /// The server's HTTP/JSON API.
    http_addr: String,
    /// A connection of its own for the WatchSeatMap stream.
    watch_channel: Channel,
    tokens: Vec<String>,
    organizer: String,
    show_id: String,
    seats: Arc<SeatSupply>,
    /// Seats held or sold so far.
    taken: u64,
    /// Of those, sold.
    sold: u64,
}

impl Target<'_> {
    /// Schedules and publishes another show, which the runs after use.
    async fn fresh_show(&mut self) -> anyhow::Result<()> {
        eprintln!("{}: scheduling a fresh show…", self.name);
        let (show_id, seats) = fixture::published_show(&self.channels[0], &self.organizer).await?;
        self.show_id = show_id;
        self.seats = Arc::new(seats);
        self.taken = 0;
        self.sold = 0;
        Ok(())
    }

    /// Lets the projector show every seat taken so far, then takes the
    /// pgbench baseline (which settles Postgres first) at `clients`.
    async fn settle_and_baseline(&self, clients: usize, duration: Duration) -> anyhow::Result<f64> {
        let name = self.name;
        let settled =
            fixture::wait_for_seats(&self.channels[0], &self.show_id, self.taken, self.sold)
                .await?;
        eprintln!("{name}: projector settled in {settled:.1?}; pgbench at {clients} clients…");
        let tps = self.pg.baseline_tps(clients, duration).await?;
        eprintln!("{name}: pgbench {tps:.0} tps");
        Ok(tps)
    }
}

/// Every phase of `plan` against one running server.
pub async fn measure(
    plan: &Plan,
    backend: Backend,
    log_events: usize,
    server: &Server,
    pg: &Postgres,
) -> anyhow::Result<BackendReport> {
    let name = backend.name();
    let mut channels = Vec::with_capacity(CHANNELS);
    for _ in 0..CHANNELS {
        channels.push(server.channel().await?);
    }
    eprintln!("{name}: registering {} customers…", plan.customers);
    let tokens = fixture::customers(&channels[0], plan.customers).await?;
    let organizer = fixture::organizer(&channels[0]).await?;
    eprintln!("{name}: scheduling and publishing the show…");
    let (show_id, seats) = fixture::published_show(&channels[0], &organizer).await?;
    let peak_rss_after_show_mb = server.peak_rss_mb();
    let mut target = Target {
        name,
        pg,
        watch_channel: server.channel().await?,
        channels,
        http_addr: server.http_addr.clone(),
        tokens,
        organizer,
        show_id,
        seats: Arc::new(seats),
        taken: 0,
        sold: 0,
    };
    let mut report = BackendReport {
        backend,
        log_events,
        throughput: Vec::new(),
        purchase: Vec::new(),
        contention: Vec::new(),
        peak_rss_after_show_mb: None,
        peak_rss_mb: None,
        seats_taken: 0,
    };
    for phase in &plan.phases {
        match phase {
            Phase::Reserve => reserve(plan, &mut target, &mut report).await?,
            Phase::Purchase => buy(plan, &mut target, &mut report).await?,
            Phase::Contention => race(plan, &mut target, &mut report).await?,
        }
    }
    report.peak_rss_after_show_mb = peak_rss_after_show_mb;
    report.peak_rss_mb = server.peak_rss_mb();
    report.seats_taken = target.taken;
    Ok(report)
}

async fn reserve(
    plan: &Plan,
    target: &mut Target<'_>,
    report: &mut BackendReport,
) -> anyhow::Result<()> {
    for &clients in &plan.clients {
        for &protocol in faces(plan) {
            if target.seats.half_spent() {
                // A run must not end for want of seats (the largest show
                // has 100,000).
                target.fresh_show().await?;
            }
            let pgbench_tps = target.settle_and_baseline(clients, plan.duration).await?;
            eprintln!(
                "{}: ReserveSeats over {protocol} at {clients} clients…",
                target.name
            );
            let t = &*target;
            let watcher = Arc::new(Freshness::watch(t.watch_channel.clone(), &t.show_id).await?);
            let mut run = match protocol {
                "http" => {
                    let run = http::run(
                        &t.http_addr,
                        &t.tokens,
                        &t.show_id,
                        &t.seats,
                        clients,
                        plan.duration,
                        &watcher,
                    )
                    .await?;
                    (run.tally, run.elapsed, run.warm_up_ok, run.exhausted)
                }
                _ => {
                    let run = throughput::run(
                        &t.channels,
                        &t.tokens,
                        &t.show_id,
                        &t.seats,
                        clients,
                        plan.duration,
                        &watcher,
                    )
                    .await?;
                    (run.tally, run.elapsed, run.warm_up_ok, run.exhausted)
                }
            };
            let freshness = watcher.finish().await?;
            eprintln!(
                "{}: seat-map freshness p50 {:.1} ms, p99 {:.1} ms, {} missing",
                target.name, freshness.latency.p50_ms, freshness.latency.p99_ms, freshness.missing
            );
            let (tally, elapsed, warm_up_ok, exhausted) = &mut run;
            target.taken += *warm_up_ok + tally.ok;
            let rate = tally.ok as f64 / elapsed.as_secs_f64();
            eprintln!(
                "{}: {rate:.0} reservations/s ({:.2}x)",
                target.name,
                rate / pgbench_tps
            );
            report.throughput.push(ThroughputRow {
                protocol,
                clients,
                reservations: tally.ok,
                reservations_per_s: rate,
                latency: tally.latency(),
                errors: tally.errors(),
                pgbench_tps,
                ratio: rate / pgbench_tps,
                seats_exhausted: *exhausted,
                freshness,
            });
        }
    }
    Ok(())
}

/// The faces a phase runs over: gRPC, then HTTP with `--http`.
fn faces(plan: &Plan) -> &'static [&'static str] {
    if plan.http {
        &["grpc", "http"]
    } else {
        &["grpc"]
    }
}

async fn buy(
    plan: &Plan,
    target: &mut Target<'_>,
    report: &mut BackendReport,
) -> anyhow::Result<()> {
    if plan.phases.contains(&Phase::Reserve) {
        // The reserve runs may have spent most of the largest show there
        // is (100,000 seats): the purchases get one of their own.
        target.fresh_show().await?;
    }
    for &clients in &plan.clients {
        let pgbench_tps = target.settle_and_baseline(clients, plan.duration).await?;
        eprintln!("{}: purchases at {clients} clients…", target.name);
        let t = &*target;
        let mut bought = purchase::run(
            &t.channels,
            &t.tokens,
            &t.show_id,
            &t.seats,
            clients,
            plan.duration,
        )
        .await?;
        target.taken += bought.reserved;
        target.sold += bought.sold;
        let run = &mut bought.run;
        let rate = run.per_second();
        eprintln!(
            "{}: {rate:.0} orders/s ({:.3}x)",
            target.name,
            rate / pgbench_tps
        );
        report.purchase.push(PurchaseRow {
            clients,
            orders: run.tally.ok,
            orders_per_s: rate,
            latency: run.tally.latency(),
            errors: run.tally.errors(),
            pgbench_tps,
            ratio: rate / pgbench_tps,
            seats_exhausted: run.exhausted,
        });
    }
    Ok(())
}

async fn race(
    plan: &Plan,
    target: &mut Target<'_>,
    report: &mut BackendReport,
) -> anyhow::Result<()> {
    for (face, &protocol) in faces(plan).iter().enumerate() {
        for round in 0..fixture::CONTENTION_ROUNDS {
            fixture::wait_for_seats(
                &target.channels[0],
                &target.show_id,
                target.taken,
                target.sold,
            )
            .await?;
            let seat = target
                .seats
                .contention_seat(face * fixture::CONTENTION_ROUNDS + round);
            eprintln!(
                "{}: contention round {} over {protocol} on {seat}…",
                target.name,
                round + 1
            );
            let mut tally = match protocol {
                "http" => {
                    http::round(
                        &target.http_addr,
                        &target.tokens,
                        &target.show_id,
                        seat,
                        plan.contenders,
                    )
                    .await?
                }
                _ => {
                    contention::round(
                        &target.channels,
                        &target.tokens,
                        &target.show_id,
                        seat,
                        plan.contenders,
                    )
                    .await?
                }
            };
            target.taken += tally.ok;
            report.contention.push(ContentionRow {
                protocol,
                round: round + 1,
                seat: seat.to_owned(),
                contenders: plan.contenders,
                ok: tally.ok,
                seat_unavailable: tally.seat_unavailable,
                latency: tally.latency(),
                other: tally.other.clone(),
            });
        }
    }
    Ok(())
}
