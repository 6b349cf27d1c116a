//! The results of a run: a serializable summary (written as JSON with
//! `--json-out`) and the plain-text tables printed at the end, with each
//! target of the issues (#2, #13) judged against the numbers, including
//! those that compare two servers of the run (SQLite against Postgres, a
//! seeded log against an empty one).

use serde::Serialize;
use std::collections::BTreeMap;

use crate::freshness::Measured;
use crate::server::Backend;
use crate::stats::Latency;

/// ReserveSeats/s at 32 clients on Postgres, as a share of pgbench's tps.
pub const TARGET_RATIO_AT_32: f64 = 0.30;
/// The server's peak RSS through the 100,000-seat show and the run.
pub const TARGET_PEAK_RSS_MB: f64 = 150.0;
/// Paid orders/s at 32 clients on Postgres.
pub const TARGET_ORDERS_AT_32: f64 = 500.0;
/// From a ReserveSeats answer to the change on a WatchSeatMap stream.
pub const TARGET_FRESHNESS_P99_MS: f64 = 50.0;
/// ReserveSeats/s on a seeded log, as a share of the empty log's.
pub const TARGET_FLAT: f64 = 0.9;
/// p99 latency of every contention round.
pub const TARGET_CONTENTION_P99_MS: f64 = 250.0;
const BASELINE_NOTE: &str = "pgbench single-row INSERT on the same Postgres server, \
same client count and duration, run just before the engine; used for both backends as the \
machine's reference speed";

#[derive(Debug, Serialize)]
pub struct Summary {
    pub date: String,
    pub cores: usize,
    pub duration_s: f64,
    /// The phases this run measured, in order.
    pub phases: Vec<String>,
    pub baseline: &'static str,
    pub backends: Vec<BackendReport>,
}

impl Summary {
    pub fn new(duration_s: f64, phases: Vec<String>) -> Self {
        Self {
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            duration_s,
            phases,
            baseline: BASELINE_NOTE,
            backends: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BackendReport {
    pub backend: Backend,
    /// Events the log held before the run (`--seed-events`), 0 for empty.
    pub log_events: usize,
    pub throughput: Vec<ThroughputRow>,
    pub purchase: Vec<PurchaseRow>,
    pub contention: Vec<ContentionRow>,
    /// The server's peak RSS once the 100,000-seat show was scheduled and
    /// published, and at the end of the run, in MB.
    pub peak_rss_after_show_mb: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    /// Seats held or sold by the end of the run.
    pub seats_taken: u64,
}

#[derive(Debug, Serialize)]
pub struct ThroughputRow {
    /// `grpc`, or `http` for the JSON API.
    pub protocol: &'static str,
    pub clients: usize,
    pub reservations: u64,
    pub reservations_per_s: f64,
    pub latency: Latency,
    /// Non-OK calls by code (and reason); a correct run has none.
    pub errors: BTreeMap<String, u64>,
    pub pgbench_tps: f64,
    pub ratio: f64,
    pub seats_exhausted: bool,
    /// From each OK answer to the seat's change on a WatchSeatMap stream.
    pub freshness: Measured,
}

/// The whole flow: ReserveSeats, AddToCart, Checkout with `tok_visa`.
#[derive(Debug, Serialize)]
pub struct PurchaseRow {
    pub clients: usize,
    /// Flows whose Checkout answered PAID.
    pub orders: u64,
    pub orders_per_s: f64,
    /// Of the whole three-call flow, as one customer waits for it.
    pub latency: Latency,
    /// Failed flows by the call that failed and its code; a correct run has none.
    pub errors: BTreeMap<String, u64>,
    pub pgbench_tps: f64,
    pub ratio: f64,
    pub seats_exhausted: bool,
}

#[derive(Debug, Serialize)]
pub struct ContentionRow {
    /// `grpc`, or `http` for the JSON API.
    pub protocol: &'static str,
    pub round: usize,
    pub seat: String,
    pub contenders: usize,
    pub ok: u64,
    pub seat_unavailable: u64,
    pub other: BTreeMap<String, u64>,
    pub latency: Latency,
}

impl BackendReport {
    /// The backend, and the log it started on if not empty.
    pub fn label(&self) -> String {
        match self.log_events {
            0 => self.backend.name().to_owned(),
            n => format!("{}+{}k", self.backend.name(), n / 1000),
        }
    }

    /// The label, with the face unless it is gRPC (the targets' face).
    pub fn label_of(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => self.label(),
            other => format!("{} {other}", self.label()),
        }
    }
}

fn errors_cell(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    errors
        .iter()
        .map(|(what, n)| format!("{what}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// p99 of the seat-map freshness, and how many changes never arrived.
fn freshness_cell(measured: &Measured) -> String {
    match measured.missing {
        0 => format!("{:.1}", measured.latency.p99_ms),
        missing => format!("{:.1} ({missing} lost)", measured.latency.p99_ms),
    }
}

fn ran(summary: &Summary, phase: &str) -> bool {
    summary.phases.iter().any(|p| p == phase)
}

fn exhausted_note(exhausted: bool) -> &'static str {
    if exhausted {
        " (show ran out of seats)"
    } else {
        ""
    }
}

/// The tables and verdicts as printed at the end of a run.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n{} on {} cores, {} s per throughput run\nbaseline: {}\n",
        summary.date, summary.cores, summary.duration_s, summary.baseline
    ));
    if ran(summary, "reserve") {
        out.push_str("\nReserve throughput: ReserveSeats of one fresh seat per call\n");
        out.push_str(&format!(
            "{:<13} {:>7} {:>10} {:>9} {:>9} {:>12} {:>7} {:>14}  errors\n",
            "backend",
            "clients",
            "reserve/s",
            "p50 ms",
            "p99 ms",
            "pgbench tps",
            "ratio",
            "fresh p99 ms"
        ));
        for report in &summary.backends {
            for row in &report.throughput {
                out.push_str(&format!(
                    "{:<13} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>12.0} {:>6.2}x {:>14}  {}{}\n",
                    report.label_of(row.protocol),
                    row.clients,
                    row.reservations_per_s,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.pgbench_tps,
                    row.ratio,
                    freshness_cell(&row.freshness),
                    errors_cell(&row.errors),
                    exhausted_note(row.seats_exhausted),
                ));
            }
        }
    }
    if ran(summary, "purchase") {
        out.push_str("\nPurchase: ReserveSeats + AddToCart + Checkout(tok_visa) per order, one customer per client\n");
        out.push_str(&format!(
            "{:<13} {:>7} {:>10} {:>9} {:>9} {:>12} {:>7}  errors\n",
            "backend", "clients", "orders/s", "p50 ms", "p99 ms", "pgbench tps", "ratio"
        ));
        for report in &summary.backends {
            for row in &report.purchase {
                // Three decimals: a purchase is a small fraction of an insert.
                out.push_str(&format!(
                    "{:<13} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>12.0} {:>6.3}x  {}{}\n",
                    report.label(),
                    row.clients,
                    row.orders_per_s,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.pgbench_tps,
                    row.ratio,
                    errors_cell(&row.errors),
                    exhausted_note(row.seats_exhausted),
                ));
            }
        }
    }
    if ran(summary, "contention") {
        out.push_str("\nContention: every contender asks for the same fresh seat at once\n");
        out.push_str(&format!(
            "{:<13} {:>5} {:>11} {:>4} {:>16} {:>9} {:>9} {:>9}  other\n",
            "backend",
            "round",
            "contenders",
            "ok",
            "SEAT_UNAVAILABLE",
            "p50 ms",
            "p99 ms",
            "max ms"
        ));
        for report in &summary.backends {
            for row in &report.contention {
                out.push_str(&format!(
                    "{:<13} {:>5} {:>11} {:>4} {:>16} {:>9.1} {:>9.1} {:>9.1}  {}\n",
                    report.label_of(row.protocol),
                    row.round,
                    row.contenders,
                    row.ok,
                    row.seat_unavailable,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.latency.max_ms,
                    errors_cell(&row.other),
                ));
            }
        }
    }
    out.push_str("\nTargets\n");
    for line in verdicts(summary) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// No reserve or purchase step failed and every contention round had one
/// winner.
pub fn sound(summary: &Summary) -> bool {
    summary.backends.iter().all(|report| {
        report.throughput.iter().all(|r| r.errors.is_empty())
            && report.purchase.iter().all(|r| r.errors.is_empty())
            && report
                .contention
                .iter()
                .all(|r| r.ok == 1 && r.other.is_empty())
    })
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met   "
    } else {
        "MISSED"
    }
}

/// One line per target that this run measured.
fn verdicts(summary: &Summary) -> Vec<String> {
    let mut lines = Vec::new();
    for report in &summary.backends {
        let name = report.label();
        let at = |clients: usize| {
            report
                .throughput
                .iter()
                .find(|r| r.clients == clients && r.protocol == "grpc")
        };
        if let (Some(few), Some(many)) = (at(8), at(32)) {
            lines.push(format!(
                "{} {name}: 32 clients reserve at least as fast as 8: {:.0}/s vs {:.0}/s",
                verdict(many.reservations_per_s >= few.reservations_per_s),
                many.reservations_per_s,
                few.reservations_per_s
            ));
        }
        if let Some(row) = at(32) {
            lines.push(format!(
                "{} {name}: seat-map freshness p99 <= {TARGET_FRESHNESS_P99_MS:.0} ms at 32 clients: {:.1} ms, {} lost",
                verdict(row.freshness.latency.p99_ms <= TARGET_FRESHNESS_P99_MS && row.freshness.missing == 0),
                row.freshness.latency.p99_ms,
                row.freshness.missing
            ));
        }
        if let (Some(show), Some(end)) = (report.peak_rss_after_show_mb, report.peak_rss_mb) {
            lines.push(format!(
                "{} {name}: server peak RSS <= {TARGET_PEAK_RSS_MB:.0} MB: {show:.0} MB after scheduling the 100,000-seat show, {end:.0} MB after {} seats taken",
                verdict(end <= TARGET_PEAK_RSS_MB),
                report.seats_taken
            ));
        }
        if report.backend == Backend::Postgres && report.log_events == 0 {
            if let Some(row) = report.purchase.iter().find(|r| r.clients == 32) {
                lines.push(format!(
                    "{} {name}: paid orders/s at 32 clients >= {TARGET_ORDERS_AT_32:.0}: {:.0}/s",
                    verdict(row.orders_per_s >= TARGET_ORDERS_AT_32),
                    row.orders_per_s
                ));
            }
        }
        if report.backend == Backend::Postgres {
            if let Some(row) = at(32) {
                lines.push(format!(
                    "{} {name}: ReserveSeats/s at 32 clients >= {:.0}% of pgbench: {:.2}x",
                    verdict(row.ratio >= TARGET_RATIO_AT_32),
                    TARGET_RATIO_AT_32 * 100.0,
                    row.ratio
                ));
            }
        }
        for row in &report.contention {
            let single_winner = row.ok == 1 && row.other.is_empty();
            let face = report.label_of(row.protocol);
            lines.push(format!(
                "{} {face}: contention round {} p99 <= {TARGET_CONTENTION_P99_MS:.0} ms: {:.1} ms",
                verdict(row.latency.p99_ms <= TARGET_CONTENTION_P99_MS),
                row.round,
                row.latency.p99_ms
            ));
            lines.push(format!(
                "{} {face}: contention round {} has exactly one winner, no other errors: {} ok",
                verdict(single_winner),
                row.round,
                row.ok
            ));
        }
        for row in &report.purchase {
            lines.push(format!(
                "info   {name}: orders/s at {} clients vs pgbench: {:.0} orders/s, {:.3}x",
                row.clients, row.orders_per_s, row.ratio
            ));
        }
        let throughput_errors: u64 = report
            .throughput
            .iter()
            .map(|r| r.errors.values().sum::<u64>())
            .sum();
        if !report.throughput.is_empty() {
            lines.push(format!(
                "{} {name}: reserve runs without errors: {throughput_errors} errors",
                verdict(throughput_errors == 0)
            ));
        }
        let purchase_errors: u64 = report
            .purchase
            .iter()
            .map(|r| r.errors.values().sum::<u64>())
            .sum();
        if !report.purchase.is_empty() {
            lines.push(format!(
                "{} {name}: purchase runs without errors: {purchase_errors} errors",
                verdict(purchase_errors == 0)
            ));
        }
    }
    lines.extend(across_reports(summary));
    lines
}

/// Targets that compare two servers of the run: the embedded backend
/// against Postgres, and a seeded log against an empty one.
fn across_reports(summary: &Summary) -> Vec<String> {
    let rate = |backend: Backend, log_events: usize| {
        summary
            .backends
            .iter()
            .find(|r| r.backend == backend && r.log_events == log_events)
            .and_then(|r| r.throughput.iter().find(|t| t.clients == 32))
            .map(|t| t.reservations_per_s)
    };
    let mut lines = Vec::new();
    if let (Some(sqlite), Some(postgres)) = (rate(Backend::Sqlite, 0), rate(Backend::Postgres, 0)) {
        lines.push(format!(
            "{} ReserveSeats/s at 32 clients, SQLite >= Postgres: {sqlite:.0}/s vs {postgres:.0}/s ({:.2}x)",
            verdict(sqlite >= postgres),
            sqlite / postgres
        ));
    }
    for report in summary.backends.iter().filter(|r| r.log_events > 0) {
        if let (Some(seeded), Some(empty)) = (
            rate(report.backend, report.log_events),
            rate(report.backend, 0),
        ) {
            lines.push(format!(
                "{} {}: ReserveSeats/s at 32 clients on a {}-event log >= {TARGET_FLAT:.1}x the empty log's: {seeded:.0}/s vs {empty:.0}/s ({:.2}x)",
                verdict(seeded >= TARGET_FLAT * empty),
                report.backend.name(),
                report.log_events,
                seeded / empty
            ));
        }
    }
    lines
}
