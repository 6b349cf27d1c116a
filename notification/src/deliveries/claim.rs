//! The sender's side of the log: leasing due deliveries and recording how
//! each attempt went.
//!
//! A lease is `claimed_until`: a queued delivery whose lease lies in the
//! future belongs to the sender that claimed it, and no other sender, in
//! this process or another, claims it until the lease lapses. Claiming
//! locks the rows it takes (Postgres: `FOR UPDATE SKIP LOCKED`, so two
//! claimers take different rows instead of waiting for each other; SQLite:
//! the database write lock). A sender that dies mid-send leaves its lease
//! to lapse, and the delivery is claimed again: mail is sent at least once.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::Row;
use ticketing_event_store::Backend;

use super::{placeholders, Deliveries, DeliveryError, DueDelivery, UnixMillis};

/// How much of an error message is kept, in characters.
pub const MAX_ERROR_CHARS: usize = 500;

impl Deliveries {
    /// Leases up to `limit` queued deliveries that are due at `now` and not
    /// leased, until `now + lease`, oldest due first, with their tickets.
    pub async fn claim_due(
        &self,
        now: UnixMillis,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, DeliveryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let deliveries = self.tables.deliveries;
        let due = format!(
            "SELECT order_id FROM {deliveries} \
             WHERE status = 'queued' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1) \
             ORDER BY next_attempt_at LIMIT $3"
        );
        let claim = match self.backend {
            // The locking CTE runs once; `IN (subquery … FOR UPDATE)` may not.
            Backend::Postgres => format!(
                "WITH due AS ({due} FOR UPDATE SKIP LOCKED) \
                 UPDATE {deliveries} AS d SET claimed_until = $2 FROM due \
                 WHERE d.order_id = due.order_id \
                 RETURNING d.order_id, d.customer_id, d.attempts, d.next_attempt_at"
            ),
            Backend::Sqlite => format!(
                "UPDATE {deliveries} SET claimed_until = $2 WHERE order_id IN ({due}) \
                 RETURNING order_id, customer_id, attempts, next_attempt_at"
            ),
        };
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);

        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&claim)
            .bind(now)
            .bind(now.saturating_add(lease_ms))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let due_at: i64 = row.try_get("next_attempt_at")?;
                let delivery = DueDelivery {
                    order_id: row.try_get("order_id")?,
                    customer_id: row.try_get("customer_id")?,
                    attempts: row.try_get("attempts")?,
                    tickets: Vec::new(),
                };
                Ok((due_at, delivery))
            })
            .collect::<Result<Vec<_>, DeliveryError>>()?;
        // RETURNING keeps no order.
        claimed.sort_by(|a, b| (a.0, &a.1.order_id).cmp(&(b.0, &b.1.order_id)));
        let mut claimed: Vec<DueDelivery> = claimed.into_iter().map(|(_, d)| d).collect();

        if !claimed.is_empty() {
            let sql = format!(
                "SELECT order_id, data FROM {} WHERE order_id IN ({}) ORDER BY order_id, ticket_id",
                self.tables.tickets,
                placeholders(1, claimed.len())
            );
            let mut query = sqlx::query(&sql);
            for delivery in &claimed {
                query = query.bind(delivery.order_id.clone());
            }
            for row in query.fetch_all(&mut *tx).await? {
                let order_id: String = row.try_get("order_id")?;
                let data: String = row.try_get("data")?;
                if let Some(delivery) = claimed.iter_mut().find(|d| d.order_id == order_id) {
                    delivery.tickets.push(serde_json::from_str(&data)?);
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Gives up the lease on queued deliveries this sender claimed but will
    /// not attempt (it is stopping, or its lease runs too short), so another
    /// sender can take them at once.
    pub async fn release(&self, order_ids: &[String]) -> Result<(), DeliveryError> {
        if order_ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE {} SET claimed_until = NULL WHERE status = 'queued' AND order_id IN ({})",
            self.tables.deliveries,
            placeholders(1, order_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for order_id in order_ids {
            query = query.bind(order_id.as_str());
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Records successful attempts, one statement for a sender's whole
    /// pass: each delivery is `sent`. A delivery that is no longer queued
    /// (an operator or another sender moved it) is not touched, and the
    /// first such one is the error, after the others were recorded.
    pub async fn mark_sent(
        &self,
        order_ids: &[String],
        now: UnixMillis,
    ) -> Result<(), DeliveryError> {
        if order_ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE {} SET status = 'sent', attempts = attempts + 1, sent_at = $1, updated_at = $1, \
             next_attempt_at = NULL, claimed_until = NULL \
             WHERE status = 'queued' AND order_id IN ({}) RETURNING order_id",
            self.tables.deliveries,
            placeholders(2, order_ids.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(now);
        for order_id in order_ids {
            query = query.bind(order_id.as_str());
        }
        let updated: HashSet<String> = query.fetch_all(&self.pool).await?.into_iter().collect();
        match order_ids.iter().find(|id| !updated.contains(*id)) {
            Some(missing) => Err(DeliveryError::NotQueued(missing.clone())),
            None => Ok(()),
        }
    }

    /// Records a failed attempt and its error (the first
    /// [`MAX_ERROR_CHARS`] characters). With `next_attempt_at` the delivery
    /// stays queued until then; without, the sender gave up and it is
    /// `failed`.
    pub async fn mark_failed(
        &self,
        order_id: &str,
        error: &str,
        now: UnixMillis,
        next_attempt_at: Option<UnixMillis>,
    ) -> Result<(), DeliveryError> {
        let status = match next_attempt_at {
            Some(_) => "queued",
            None => "failed",
        };
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let sql = format!(
            "UPDATE {} SET status = $2, attempts = attempts + 1, last_error = $3, \
             next_attempt_at = $4, claimed_until = NULL, updated_at = $5 \
             WHERE order_id = $1 AND status = 'queued'",
            self.tables.deliveries
        );
        let query = sqlx::query(&sql)
            .bind(order_id)
            .bind(status)
            .bind(error)
            .bind(next_attempt_at)
            .bind(now);
        self.update_queued(order_id, query).await
    }

    /// How many deliveries are queued, due or waiting for their next attempt.
    pub async fn backlog(&self) -> Result<i64, DeliveryError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE status = 'queued'",
            self.tables.deliveries
        );
        Ok(sqlx::query_scalar(&sql).fetch_one(&self.pool).await?)
    }

    async fn update_queued<'q>(
        &self,
        order_id: &str,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<(), DeliveryError> {
        let updated = query.execute(&self.pool).await?.rows_affected();
        if updated == 0 {
            return Err(DeliveryError::NotQueued(order_id.to_owned()));
        }
        Ok(())
    }
}
