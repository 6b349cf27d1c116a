//! [`SimulatedProvider`]: charges, lookups, voids and refunds in two tables
//! of the engine's database. It decides by the test card a token names
//! ([`crate::cards`]) and records the card's fingerprint, never the token.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use std::time::Duration;
use ticketing_aggregates::{
    CardRef, ChargeOutcome, ChargeRequest, PaymentId, PaymentProvider, ProviderError,
    ProviderFuture, RefundRequest,
};

use crate::cards::{card_ref, TestCard, UNKNOWN_CARD};

/// How long a simulated timeout keeps the caller waiting.
const TIMEOUT_DELAY: Duration = Duration::from_millis(50);

/// The decline a voided key answers with.
pub const VOIDED: &str = "the checkout was interrupted before the card was charged";

#[derive(Clone)]
pub struct SimulatedProvider {
    pool: AnyPool,
    tables: Tables,
}

/// One charge as the simulated provider remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedCharge {
    pub key: String,
    /// The card's fingerprint; empty for a key voided before any charge.
    pub card: String,
    pub amount_minor: i64,
    pub succeeded: bool,
    pub refunded: bool,
    /// How often the key was asked for (a void counts none).
    pub attempts: i64,
    /// How often a refund of it was asked for (any key).
    pub refund_requests: i64,
}

/// The provider's two tables: in a `bc_payment` schema on Postgres, plain
/// on SQLite. Told apart by the pool's URL, so the provider needs nothing
/// of the event store.
#[derive(Debug, Clone, Copy)]
struct Tables {
    charges: &'static str,
    refunds: &'static str,
    postgres: bool,
}

impl Tables {
    fn of(pool: &AnyPool) -> Tables {
        Tables::named(
            pool.connect_options()
                .database_url
                .scheme()
                .starts_with("postgres"),
        )
    }

    fn named(postgres: bool) -> Tables {
        if postgres {
            Tables {
                charges: "bc_payment.simulated_card_charges",
                refunds: "bc_payment.simulated_refunds",
                postgres,
            }
        } else {
            Tables {
                charges: "simulated_card_charges",
                refunds: "simulated_refunds",
                postgres,
            }
        }
    }

    /// The table before tokens were left out; it held them.
    fn with_tokens(&self) -> &'static str {
        if self.postgres {
            "bc_payment.simulated_charges"
        } else {
            "simulated_charges"
        }
    }
}

/// Creates the provider's tables if missing, and drops the table of older
/// versions that kept tokens (its charges are forgotten with it: a payment
/// it charged and that is still unsettled is voided). Idempotent.
pub async fn migrate(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let postgres = Tables::of(pool).postgres;
    migrate_on(&mut *pool.acquire().await?, postgres).await
}

/// [`migrate`] on one connection (inside a caller's migration transaction).
pub async fn migrate_on(conn: &mut AnyConnection, postgres: bool) -> Result<(), sqlx::Error> {
    let tables = Tables::named(postgres);
    if tables.postgres {
        sqlx::query("CREATE SCHEMA IF NOT EXISTS bc_payment")
            .execute(&mut *conn)
            .await?;
    }
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (
            key TEXT PRIMARY KEY,
            card TEXT NOT NULL,
            amount_minor BIGINT NOT NULL,
            currency TEXT NOT NULL,
            succeeded BIGINT NOT NULL,
            reason TEXT NOT NULL,
            loses_first_answer BIGINT NOT NULL DEFAULT 0,
            refunded BIGINT NOT NULL DEFAULT 0,
            attempts BIGINT NOT NULL DEFAULT 0)",
        tables.charges
    );
    sqlx::query(&ddl).execute(&mut *conn).await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {}", tables.with_tokens()))
        .execute(&mut *conn)
        .await?;
    // One row per charge: at most one refund, however many keys ask.
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (
            charge_key TEXT PRIMARY KEY,
            refund_key TEXT NOT NULL,
            amount_minor BIGINT NOT NULL,
            requests BIGINT NOT NULL DEFAULT 1)",
        tables.refunds
    );
    sqlx::query(&ddl).execute(&mut *conn).await?;
    Ok(())
}

impl SimulatedProvider {
    /// Expects [`migrate`] to have run on `pool`.
    pub fn new(pool: AnyPool) -> Self {
        let tables = Tables::of(&pool);
        Self { pool, tables }
    }

    /// Every charge, for tests and demos that check "charged once".
    pub async fn charges(&self) -> Result<Vec<SimulatedCharge>, sqlx::Error> {
        let sql = format!(
            "SELECT c.key, c.card, c.amount_minor, c.succeeded, c.refunded, c.attempts, \
                    coalesce(r.requests, 0) AS refund_requests \
             FROM {} c LEFT JOIN {} r ON r.charge_key = c.key ORDER BY c.key",
            self.tables.charges, self.tables.refunds
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SimulatedCharge {
                    key: row.try_get("key")?,
                    card: row.try_get("card")?,
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
        let card = TestCard::of(&request.token);
        let fingerprint = card_ref(&request.token).fingerprint;
        let reason = match card {
            Some(card) => card.declined.unwrap_or(""),
            None => UNKNOWN_CARD,
        };
        let succeeded = i64::from(card.is_some_and(|card| card.declined.is_none()));
        let loses_first_answer = i64::from(card.is_some_and(|card| card.loses_first_answer));
        // The first request for a key decides (a void too); later ones only
        // count. One statement either way.
        let sql = format!(
            "INSERT INTO {table} AS c \
                (key, card, amount_minor, currency, succeeded, reason, loses_first_answer, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1) \
             ON CONFLICT (key) DO UPDATE SET attempts = c.attempts + 1 \
             RETURNING card, amount_minor, succeeded, reason, loses_first_answer, attempts",
            table = self.tables.charges
        );
        let row = sqlx::query(&sql)
            .bind(request.key.as_str())
            .bind(fingerprint)
            .bind(request.amount_minor)
            .bind(request.currency.as_str())
            .bind(succeeded)
            .bind(reason)
            .bind(loses_first_answer)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        let voided = row
            .try_get::<String, _>("card")
            .map_err(unavailable)?
            .is_empty();
        if voided {
            return outcome(&request.key, &row);
        }
        let amount: i64 = row.try_get("amount_minor").map_err(unavailable)?;
        if amount != request.amount_minor {
            return Ok(ChargeOutcome::Declined {
                reason: "idempotency key reused with another amount".into(),
            });
        }
        let lost = row
            .try_get::<i64, _>("loses_first_answer")
            .map_err(unavailable)?
            == 1;
        let attempts: i64 = row.try_get("attempts").map_err(unavailable)?;
        if lost && attempts == 1 {
            // Charged, but the answer is lost on the way back.
            tokio::time::sleep(TIMEOUT_DELAY).await;
            return Err(ProviderError::Timeout);
        }
        outcome(&request.key, &row)
    }

    async fn lookup_once(&self, key: &PaymentId) -> Result<Option<ChargeOutcome>, ProviderError> {
        let sql = format!(
            "SELECT succeeded, reason FROM {} WHERE key = $1",
            self.tables.charges
        );
        let row = sqlx::query(&sql)
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| outcome(key, &row)).transpose()
    }

    async fn void_once(&self, key: &PaymentId) -> Result<ChargeOutcome, ProviderError> {
        // A declined row with no card and no attempt: a charge arriving
        // later finds the key decided, and one that came first keeps its row.
        let sql = format!(
            "INSERT INTO {} (key, card, amount_minor, currency, succeeded, reason, attempts) \
             VALUES ($1, '', 0, '', 0, $2, 0) ON CONFLICT (key) DO NOTHING",
            self.tables.charges
        );
        sqlx::query(&sql)
            .bind(key.as_str())
            .bind(VOIDED)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        self.lookup_once(key).await?.ok_or_else(|| {
            ProviderError::Unavailable(format!("the void of {key} was not recorded"))
        })
    }

    async fn refund_once(&self, request: &RefundRequest) -> Result<(), ProviderError> {
        let refunded = format!(
            "UPDATE {} SET refunded = 1 WHERE key = $1 AND succeeded = 1 AND amount_minor = $2",
            self.tables.charges
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
            self.tables.refunds,
            self.tables
                .refunds
                .rsplit('.')
                .next()
                .unwrap_or(self.tables.refunds)
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

/// The outcome a charge row stands for.
fn outcome(key: &PaymentId, row: &AnyRow) -> Result<ChargeOutcome, ProviderError> {
    if row.try_get::<i64, _>("succeeded").map_err(unavailable)? == 1 {
        Ok(ChargeOutcome::Succeeded {
            provider_ref: format!("ch_{}", key.as_str().trim_start_matches("p_")),
        })
    } else {
        Ok(ChargeOutcome::Declined {
            reason: row.try_get("reason").map_err(unavailable)?,
        })
    }
}

fn unavailable(error: sqlx::Error) -> ProviderError {
    ProviderError::Unavailable(error.to_string())
}

impl PaymentProvider for SimulatedProvider {
    fn card(&self, token: &str) -> CardRef {
        card_ref(token)
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(self.charge_once(request))
    }

    fn lookup<'a>(&'a self, key: &'a PaymentId) -> ProviderFuture<'a, Option<ChargeOutcome>> {
        Box::pin(self.lookup_once(key))
    }

    fn void<'a>(&'a self, key: &'a PaymentId) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(self.void_once(key))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, ()> {
        Box::pin(self.refund_once(request))
    }
}
