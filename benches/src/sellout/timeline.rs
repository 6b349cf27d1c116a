//! After the sale: waits until every seat has its ticket and every order
//! its email, then reads when each happened from the engine's own records —
//! OrderPaid and TicketIssued in the log, `sent_at` in the delivery log —
//! so the latencies are the engine's, not the benchmark client's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{AnyPool, Row};

use crate::buyers::Sold;
use crate::server::Backend;

/// The target for a Postgres sell-out, first reservation to last email.
const TARGET: Duration = Duration::from_secs(60);

pub struct Report {
    backend: Backend,
    orders: usize,
    seats: usize,
    errors: usize,
    /// First reservation to the last OrderPaid, to the last ticket, to the last email.
    sale: Duration,
    to_last_ticket: Duration,
    to_last_email: Duration,
    paid_to_ticket: Percentiles,
    ticket_to_email: Percentiles,
    paid_to_email: Percentiles,
    /// pgbench single-row inserts per second, measured just before.
    baseline_tps: f64,
}

impl Report {
    pub fn with_baseline(mut self, tps: f64) -> Self {
        self.baseline_tps = tps;
        self
    }
}

struct Percentiles {
    p50: i64,
    p99: i64,
}

impl Percentiles {
    fn of(mut millis: Vec<i64>) -> Self {
        millis.sort_unstable();
        let at = |q: f64| {
            let i = ((millis.len() as f64 * q).ceil() as usize).saturating_sub(1);
            millis.get(i).copied().unwrap_or_default()
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

struct Sql {
    events: &'static str,
    deliveries: &'static str,
    millis: &'static str,
    ticket_order: &'static str,
}

fn sql(backend: Backend) -> Sql {
    match backend {
        Backend::Postgres => Sql {
            events: "event_store.events",
            deliveries: "bc_notification.deliveries",
            millis: "CAST(extract(epoch FROM recorded_at) * 1000 AS BIGINT)",
            ticket_order: "payload->'TicketIssued'->>'order_id'",
        },
        Backend::Sqlite => Sql {
            events: "events",
            deliveries: "deliveries",
            millis: "CAST((julianday(recorded_at) - 2440587.5) * 86400000 AS INTEGER)",
            ticket_order: "json_extract(payload, '$.TicketIssued.order_id')",
        },
    }
}

pub async fn measure(
    backend: Backend,
    url: &str,
    sold: &Sold,
    timeout: Duration,
) -> anyhow::Result<Report> {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url)
        .await
        .context("connecting to the engine's database")?;
    let sql = sql(backend);
    let began = Instant::now();
    loop {
        let tickets: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {} WHERE event_type = 'TicketIssued'",
            sql.events
        ))
        .fetch_one(&pool)
        .await?;
        let emails: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {} WHERE status = 'sent'",
            sql.deliveries
        ))
        .fetch_one(&pool)
        .await?;
        if tickets as usize >= sold.seats && emails as usize >= sold.orders {
            break;
        }
        anyhow::ensure!(
            began.elapsed() < timeout,
            "after {timeout:?}: {tickets} of {} tickets, {emails} of {} emails",
            sold.seats,
            sold.orders
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let first: i64 = sqlx::query_scalar(&format!(
        "SELECT min({}) FROM {} WHERE event_type = 'ReservationCreated'",
        sql.millis, sql.events
    ))
    .fetch_one(&pool)
    .await?;
    let paid = times(
        &pool,
        &format!(
            "SELECT aggregate_id AS k, {} AS t FROM {} WHERE event_type = 'OrderPaid'",
            sql.millis, sql.events
        ),
    )
    .await?;
    let ticketed = times(
        &pool,
        &format!(
            "SELECT {} AS k, max({}) AS t FROM {} WHERE event_type = 'TicketIssued' GROUP BY 1",
            sql.ticket_order, sql.millis, sql.events
        ),
    )
    .await?;
    let emailed = times(
        &pool,
        &format!(
            "SELECT order_id AS k, sent_at AS t FROM {} WHERE status = 'sent'",
            sql.deliveries
        ),
    )
    .await?;
    let (mut to_ticket, mut to_email, mut end_to_end) = (vec![], vec![], vec![]);
    for (order, paid_at) in &paid {
        let (Some(ticket_at), Some(email_at)) = (ticketed.get(order), emailed.get(order)) else {
            anyhow::bail!("order {order} has no ticket or no email");
        };
        to_ticket.push(ticket_at - paid_at);
        to_email.push(email_at - ticket_at);
        end_to_end.push(email_at - paid_at);
    }
    let last = |times: &HashMap<String, i64>| times.values().copied().max().unwrap_or(first);
    let since_first = |at: i64| Duration::from_millis((at - first).max(0) as u64);
    Ok(Report {
        backend,
        orders: sold.orders,
        seats: sold.seats,
        errors: sold.errors,
        sale: since_first(last(&paid)),
        to_last_ticket: since_first(last(&ticketed)),
        to_last_email: since_first(last(&emailed)),
        paid_to_ticket: Percentiles::of(to_ticket),
        ticket_to_email: Percentiles::of(to_email),
        paid_to_email: Percentiles::of(end_to_end),
        baseline_tps: 0.0,
    })
}

async fn times(pool: &AnyPool, sql: &str) -> anyhow::Result<HashMap<String, i64>> {
    let rows = sqlx::query(sql).fetch_all(pool).await?;
    rows.iter()
        .map(|row| Ok((row.try_get::<String, _>("k")?, row.try_get::<i64, _>("t")?)))
        .collect()
}

pub fn render(reports: &[Report]) -> String {
    let mut out = String::from(
        "| backend | orders | seats | errors | sale | to last ticket | to last email | paid→ticket p50/p99 ms | ticket→email p50/p99 ms | paid→email p50/p99 ms | orders/s | pgbench tps | ratio | target ≤ 60 s (Postgres) |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for r in reports {
        let verdict = match r.backend {
            Backend::Postgres if r.to_last_email <= TARGET => "met",
            Backend::Postgres => "MISSED",
            Backend::Sqlite => "–",
        };
        let rate = r.orders as f64 / r.to_last_email.as_secs_f64().max(0.001);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} s | {:.1} s | {:.1} s | {} / {} | {} / {} | {} / {} | {rate:.0} | {:.0} | {:.4}× | {verdict} |\n",
            r.backend.name(),
            r.orders,
            r.seats,
            r.errors,
            r.sale.as_secs_f64(),
            r.to_last_ticket.as_secs_f64(),
            r.to_last_email.as_secs_f64(),
            r.paid_to_ticket.p50,
            r.paid_to_ticket.p99,
            r.ticket_to_email.p50,
            r.ticket_to_email.p99,
            r.paid_to_email.p50,
            r.paid_to_email.p99,
            r.baseline_tps,
            rate / r.baseline_tps.max(1.0),
        ));
    }
    out
}
