//! Payment providers behind the [`PaymentProvider`] port of the domain.
//!
//! [`SimulatedProvider`] stands in for a card processor in tests, demos and
//! the embedded engine. It keeps its charges in its own table
//! (`bc_payment.simulated_charges` on Postgres), so like a real provider it
//! remembers every idempotency key across restarts of the engine:
//!
//! | token | outcome |
//! |---|---|
//! | `tok_visa` | succeeds |
//! | `tok_declined` | declined, reason "card declined" |
//! | `tok_timeout` | charged, but the first answer for a key is lost (timeout); asking again with the key returns the success |
//! | any other | declined, reason "unknown test card" |
//!
//! Refunds are kept in a second table, one row per refund key: a refund
//! asked for again with its key refunds nothing more, and a charge is
//! refunded at most once whatever the key.

use sqlx::{AnyPool, Row};
use std::time::Duration;
use ticketing_aggregates::{
    ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, ProviderFuture, RefundRequest,
};
use ticketing_event_store::Backend;

/// How long a simulated timeout keeps the caller waiting.
const TIMEOUT_DELAY: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct SimulatedProvider {
    pool: AnyPool,
    table: &'static str,
    refunds: &'static str,
}

/// One charge as the simulated provider remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedCharge {
    pub key: String,
    pub amount_minor: i64,
    pub succeeded: bool,
    pub refunded: bool,
    /// How often the key was asked for.
    pub attempts: i64,
    /// How often a refund of it was asked for (any key).
    pub refund_requests: i64,
}

fn table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_payment.simulated_charges",
        Backend::Sqlite => "simulated_charges",
    }
}

fn refunds_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "bc_payment.simulated_refunds",
        Backend::Sqlite => "simulated_refunds",
    }
}

/// Creates the provider's table if missing. Idempotent.
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("CREATE SCHEMA IF NOT EXISTS bc_payment")
            .execute(pool)
            .await?;
    }
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (
            key TEXT PRIMARY KEY,
            token TEXT NOT NULL,
            amount_minor BIGINT NOT NULL,
            currency TEXT NOT NULL,
            succeeded BIGINT NOT NULL,
            reason TEXT NOT NULL,
            refunded BIGINT NOT NULL DEFAULT 0,
            attempts BIGINT NOT NULL DEFAULT 0)",
        table(backend)
    );
    sqlx::query(&ddl).execute(pool).await?;
    // One row per charge: at most one refund, however many keys ask.
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (
            charge_key TEXT PRIMARY KEY,
            refund_key TEXT NOT NULL,
            amount_minor BIGINT NOT NULL,
            requests BIGINT NOT NULL DEFAULT 1)",
        refunds_table(backend)
    );
    sqlx::query(&ddl).execute(pool).await?;
    Ok(())
}

impl SimulatedProvider {
    /// Expects [`migrate`] to have run on `pool`.
    pub fn new(pool: AnyPool, backend: Backend) -> Self {
        Self {
            pool,
            table: table(backend),
            refunds: refunds_table(backend),
        }
    }

    /// Every charge, for tests and demos that check "charged once".
    pub async fn charges(&self) -> Result<Vec<SimulatedCharge>, sqlx::Error> {
        let sql = format!(
            "SELECT c.key, c.amount_minor, c.succeeded, c.refunded, c.attempts, \
                    coalesce(r.requests, 0) AS refund_requests \
             FROM {} c LEFT JOIN {} r ON r.charge_key = c.key ORDER BY c.key",
            self.table, self.refunds
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SimulatedCharge {
                    key: row.try_get("key")?,
                    amount_minor: row.try_get("amount_minor")?,
                    succeeded: row.try_get::<i64, _>("succeeded")? == 1,
                    refunded: row.try_get::<i64, _>("refunded")? == 1,
                    attempts: row.try_get("attempts")?,
                    refund_requests: row.try_get("refund_requests")?,
                })
            })
            .collect()
    }

    async fn charge_once(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        let (succeeded, reason) = match request.token.as_str() {
            "tok_visa" | "tok_timeout" => (1_i64, ""),
            "tok_declined" => (0, "card declined"),
            _ => (0, "unknown test card"),
        };
        // The first request for a key decides; later ones only count. One
        // statement either way.
        let sql = format!(
            "INSERT INTO {table} AS c (key, token, amount_minor, currency, succeeded, reason, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, 1) \
             ON CONFLICT (key) DO UPDATE SET attempts = c.attempts + 1 \
             RETURNING token, amount_minor, succeeded, reason, attempts",
            table = self.table
        );
        let row = sqlx::query(&sql)
            .bind(request.key.as_str())
            .bind(&request.token)
            .bind(request.amount_minor)
            .bind(request.currency.as_str())
            .bind(succeeded)
            .bind(reason)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        let amount: i64 = row.try_get("amount_minor").map_err(unavailable)?;
        if amount != request.amount_minor {
            return Ok(ChargeOutcome::Declined {
                reason: "idempotency key reused with another amount".into(),
            });
        }
        let token: String = row.try_get("token").map_err(unavailable)?;
        let attempts: i64 = row.try_get("attempts").map_err(unavailable)?;
        if token == "tok_timeout" && attempts == 1 {
            // Charged, but the answer is lost on the way back.
            tokio::time::sleep(TIMEOUT_DELAY).await;
            return Err(ProviderError::Timeout);
        }
        if row.try_get::<i64, _>("succeeded").map_err(unavailable)? == 1 {
            Ok(ChargeOutcome::Succeeded {
                provider_ref: format!("ch_{}", request.key.as_str().trim_start_matches("p_")),
            })
        } else {
            Ok(ChargeOutcome::Declined {
                reason: row.try_get("reason").map_err(unavailable)?,
            })
        }
    }
}

impl SimulatedProvider {
    async fn refund_once(&self, request: &RefundRequest) -> Result<(), ProviderError> {
        let refunded = format!(
            "UPDATE {} SET refunded = 1 WHERE key = $1 AND succeeded = 1 AND amount_minor = $2",
            self.table
        );
        let charged = sqlx::query(&refunded)
            .bind(request.payment.as_str())
            .bind(request.amount_minor)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if charged.rows_affected() == 0 {
            // Nothing was taken under this payment: nothing to give back.
            return Ok(());
        }
        let record = format!(
            "INSERT INTO {} (charge_key, refund_key, amount_minor) VALUES ($1, $2, $3) \
             ON CONFLICT (charge_key) DO UPDATE SET requests = {}.requests + 1",
            self.refunds,
            self.refunds.rsplit('.').next().unwrap_or(self.refunds)
        );
        sqlx::query(&record)
            .bind(request.payment.as_str())
            .bind(&request.key)
            .bind(request.amount_minor)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        tracing::info!(payment = %request.payment, "simulated refund");
        Ok(())
    }
}

fn unavailable(error: sqlx::Error) -> ProviderError {
    ProviderError::Unavailable(error.to_string())
}

impl PaymentProvider for SimulatedProvider {
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(self.charge_once(request))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, ()> {
        Box::pin(self.refund_once(request))
    }
}
