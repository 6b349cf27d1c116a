//! Idempotency records written through the read database's connection, for
//! contexts that are not event-sourced (identity) but must store a
//! command's response in the same transaction as its effect. Event-sourced
//! commands pass their record to `Store::append` instead.

use sqlx::{AnyConnection, Row};

use crate::{Backend, IdempotencyRecord, StoreError};

fn table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "event_store.idempotency",
        Backend::Sqlite => "idempotency",
    }
}

/// Inserts `record`; [`StoreError::Conflict`] when its key is taken.
pub async fn insert_idempotency(
    conn: &mut AnyConnection,
    backend: Backend,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    // The Any driver binds text; Postgres keeps responses as jsonb.
    let value = match backend {
        Backend::Postgres => "CAST($4 AS jsonb)",
        Backend::Sqlite => "$4",
    };
    let sql = format!(
        "INSERT INTO {} (scope, key, request_hash, response) VALUES ($1, $2, $3, {value})",
        table(backend)
    );
    sqlx::query(&sql)
        .bind(&record.scope)
        .bind(&record.key)
        .bind(&record.request_hash)
        .bind(record.response.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The record stored under (`scope`, `key`), if any.
pub async fn find_idempotency(
    conn: &mut AnyConnection,
    backend: Backend,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let response = match backend {
        Backend::Postgres => "response::text AS response",
        Backend::Sqlite => "response",
    };
    let sql = format!(
        "SELECT request_hash, {response} FROM {} WHERE scope = $1 AND key = $2",
        table(backend)
    );
    let Some(row) = sqlx::query(&sql)
        .bind(scope)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let response: String = row.try_get("response")?;
    Ok(Some(IdempotencyRecord {
        scope: scope.to_owned(),
        key: key.to_owned(),
        request_hash: row.try_get("request_hash")?,
        response: serde_json::from_str(&response)?,
    }))
}
