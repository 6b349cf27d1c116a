//! The delivery log: one row per order whose tickets are to be mailed, with
//! the tickets collected so far, on the engine's database through the sqlx
//! `Any` driver (`bc_notification.*` on Postgres, unqualified on SQLite).
//!
//! A delivery moves `pending` → `queued` → `sent`, or → `failed` once the
//! sender gives up; ops move `failed` back to `queued`. Tickets arrive one
//! integration event each, in any order and possibly twice; the delivery
//! becomes `queued` in the transaction that records its last missing
//! ticket, so every order gets one mail with all its tickets.
//!
//! * `record.rs` — [`Deliveries::record_ticket`] and
//!   [`Deliveries::record_tickets`], fed by the handler.
//! * `claim.rs` — leases due deliveries to one sender at a time and records
//!   the outcome of each attempt.
//! * `ops.rs` — listing and retrying for operators.
//!
//! Instants are unix milliseconds ([`UnixMillis`]) and ticket data is JSON
//! text, because only plain scalars bind through `Any`. Writes that read
//! before they write lock first (`BEGIN IMMEDIATE` on SQLite, row locks on
//! Postgres), so several processes may share the log.

use std::fmt;
use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use ticketing_event_store::migrations::{self, Context, Migration, MigrationError};
use ticketing_event_store::Backend;

mod claim;
mod ops;
mod record;

pub use claim::MAX_ERROR_CHARS;
pub use ops::MAX_LIST;
pub use record::{NewTicket, TICKETS_PER_STATEMENT};

/// Milliseconds since the unix epoch.
pub type UnixMillis = i64;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Some tickets of the order have not arrived yet.
    Pending,
    /// Ready to send, now or at its next attempt.
    Queued,
    Sent,
    /// The sender gave up; [`Deliveries::retry`] queues it again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = DeliveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "queued" => Ok(DeliveryStatus::Queued),
            "sent" => Ok(DeliveryStatus::Sent),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(DeliveryError::Invalid(format!(
                "unknown delivery status {other:?} (pending, queued, sent, failed)"
            ))),
        }
    }
}

/// What [`Deliveries::record_ticket`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The ticket was recorded before; nothing changed.
    Duplicate,
    /// Recorded; the order still waits for more tickets.
    Waiting { received: i64, expected: i64 },
    /// Recorded, and it was the last one missing: the delivery is queued.
    Ready,
    /// Recorded for a delivery that was already queued, sent or failed (more
    /// tickets than announced). A queued mail still includes it.
    Late,
}

impl Recorded {
    /// Whether the sender should be woken.
    pub fn became_ready(self) -> bool {
        self == Recorded::Ready
    }
}

/// A delivery leased to one sender by [`Deliveries::claim_due`].
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub order_id: String,
    pub customer_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The tickets' data as recorded, ordered by ticket id.
    pub tickets: Vec<serde_json::Value>,
}

/// One delivery as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub order_id: String,
    pub customer_id: String,
    pub status: DeliveryStatus,
    pub tickets_expected: i64,
    pub tickets_received: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<UnixMillis>,
    /// While in the future, a sender holds the delivery.
    pub claimed_until: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    pub sent_at: Option<UnixMillis>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The caller passed something the log cannot store.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The delivery is not (or no longer) queued, so there is no attempt
    /// to record.
    #[error("delivery of order {0} is not queued")]
    NotQueued(String),
    /// A stored row does not decode; written by a bug or by hand.
    #[error("corrupt delivery log: {0}")]
    Corrupt(String),
    /// The database failed or could not be reached; try again later.
    #[error("delivery log database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<serde_json::Error> for DeliveryError {
    fn from(error: serde_json::Error) -> Self {
        DeliveryError::Corrupt(format!("ticket data: {error}"))
    }
}

/// The notification context's schema (`bc_notification`): the delivery log.
pub static NOTIFICATION: Context = Context {
    name: "notification",
    migrations: &[Migration {
        version: 1,
        description: "baseline: deliveries and their tickets",
        run: baseline,
    }],
};

/// Applies the delivery log's pending migrations ([`NOTIFICATION`]).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), DeliveryError> {
    migrations::apply(pool, backend, &[&NOTIFICATION])
        .await
        .map_err(MigrationError::into_sqlx)?;
    Ok(())
}

fn baseline(conn: &mut AnyConnection, backend: Backend) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    let Tables {
        deliveries,
        tickets,
    } = Tables::of(backend);
    let statements = [
        format!(
            "CREATE TABLE IF NOT EXISTS {deliveries} (
                order_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('pending', 'queued', 'sent', 'failed')),
                tickets_expected BIGINT NOT NULL,
                tickets_received BIGINT NOT NULL DEFAULT 0,
                attempts BIGINT NOT NULL DEFAULT 0,
                last_error TEXT,
                next_attempt_at BIGINT,
                claimed_until BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                sent_at BIGINT
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {tickets} (
                order_id TEXT NOT NULL,
                ticket_id TEXT NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (order_id, ticket_id)
            )"
        ),
        // The sender's claim: the few queued rows among millions sent.
        format!(
            "CREATE INDEX IF NOT EXISTS deliveries_due ON {deliveries} (status, next_attempt_at)"
        ),
        // Operators' listings, newest first, with and without a status.
        format!(
            "CREATE INDEX IF NOT EXISTS deliveries_status_created ON {deliveries} (status, created_at)"
        ),
        format!("CREATE INDEX IF NOT EXISTS deliveries_created ON {deliveries} (created_at)"),
    ];
    Box::pin(async move {
        if backend == Backend::Postgres {
            sqlx::query("CREATE SCHEMA IF NOT EXISTS bc_notification")
                .execute(&mut *conn)
                .await?;
        }
        migrations::run_all(conn, &statements).await
    })
}

/// The log's table names on one backend.
#[derive(Debug, Clone, Copy)]
struct Tables {
    deliveries: &'static str,
    tickets: &'static str,
}

impl Tables {
    fn of(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Tables {
                deliveries: "bc_notification.deliveries",
                tickets: "bc_notification.delivery_tickets",
            },
            Backend::Sqlite => Tables {
                deliveries: "deliveries",
                tickets: "delivery_tickets",
            },
        }
    }
}

/// Reads and writes the delivery log. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Deliveries {
    pool: AnyPool,
    backend: Backend,
    tables: Tables,
}

impl Deliveries {
    /// Expects [`migrate`] to have run on `pool`.
    pub fn new(pool: AnyPool, backend: Backend) -> Self {
        Deliveries {
            pool,
            backend,
            tables: Tables::of(backend),
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Any>, DeliveryError> {
        begin_write(&self.pool, self.backend).await
    }
}

/// A transaction that holds the database's write lock on SQLite from its
/// first statement: a deferred one that read and then wrote would fail with
/// `SQLITE_BUSY_SNAPSHOT` whenever another writer committed in between.
/// Postgres transactions lock the rows they touch instead.
async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<Transaction<'static, Any>, DeliveryError> {
    Ok(match backend {
        Backend::Postgres => pool.begin().await?,
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
    })
}

/// A stored status; one that does not parse was written by a bug or by hand.
fn stored_status(row: &sqlx::any::AnyRow) -> Result<DeliveryStatus, DeliveryError> {
    use sqlx::Row;
    let text: String = row.try_get("status")?;
    text.parse()
        .map_err(|_| DeliveryError::Corrupt(format!("status {text:?}")))
}

/// `$first, $first+1, …` for `count` values, for `IN (…)` lists: arrays do
/// not bind through `Any`.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
