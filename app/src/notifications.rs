//! `ticketing notifications list|retry`: the delivery log of ticket emails,
//! for ops to see what was sent, what waits, what failed, and to push a
//! failed delivery again.

use clap::Subcommand;
use ticketing_notification::{Deliveries, DeliveryStatus};

use crate::config::DatabaseArgs;
use crate::schema::open_store;

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Deliveries, newest first.
    List {
        /// Only these: pending, queued, sent or failed.
        #[arg(long)]
        status: Option<DeliveryStatus>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Queue failed deliveries again, now: one order's, or with --all every one.
    Retry {
        /// The order whose delivery to retry.
        order_id: Option<String>,
        #[arg(long, conflicts_with = "order_id")]
        all: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub async fn run(command: NotificationsCommand) -> anyhow::Result<()> {
    match command {
        NotificationsCommand::List { status, limit, db } => {
            let store = open_store(&db.url()?).await?;
            let deliveries = Deliveries::new(store.read_pool().clone(), store.backend());
            println!(
                "{:<28} {:<8} {:>7} {:>8}  {:<24} last error",
                "order", "status", "tickets", "attempts", "updated"
            );
            for row in deliveries.list(status, usize::from(limit)).await? {
                let updated = chrono::DateTime::from_timestamp_millis(row.updated_at)
                    .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default();
                println!(
                    "{:<28} {:<8} {:>3}/{:<3} {:>8}  {:<24} {}",
                    row.order_id,
                    row.status,
                    row.tickets_received,
                    row.tickets_expected,
                    row.attempts,
                    updated,
                    row.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        NotificationsCommand::Retry { order_id, all, db } => {
            anyhow::ensure!(
                order_id.is_some() || all,
                "name an order id, or --all for every failed delivery"
            );
            let store = open_store(&db.url()?).await?;
            let deliveries = Deliveries::new(store.read_pool().clone(), store.backend());
            let now = chrono::Utc::now().timestamp_millis();
            let queued = deliveries.retry(order_id.as_deref(), now).await?;
            println!("{queued} deliveries queued again");
            Ok(())
        }
    }
}
