//! Projector checkpoints: how far each projector (by name and feed shard) has
//! applied the global feed.
//!
//! They live in the read database and are written through the caller's
//! connection, so a projector saves its read-model rows and its checkpoint in
//! one transaction and a restart at any instant neither loses nor repeats an
//! event. Positions are stored as two BIGINTs because those are what sqlx's
//! `Any` driver binds on both backends.

use sqlx::{AnyConnection, Row};

use crate::{Backend, FeedPosition, StoreError};

/// Postgres keeps the store's tables in their own schema.
fn checkpoints_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "event_store.checkpoints",
        Backend::Sqlite => "checkpoints",
    }
}

/// The SQL of the time a checkpoint is saved at.
fn now_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "now()",
        Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    }
}

/// The saved position of projector `name` on `shard`, or
/// [`FeedPosition::START`] when it has never saved one.
pub async fn load_checkpoint(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    shard: i32,
) -> Result<FeedPosition, StoreError> {
    let sql = format!(
        "SELECT tx, seq FROM {} WHERE name = $1 AND shard = $2",
        checkpoints_table(backend)
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .bind(shard)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(FeedPosition::START),
        Some(row) => Ok(FeedPosition {
            tx: row.try_get("tx")?,
            seq: row.try_get("seq")?,
        }),
    }
}

/// Every shard's saved position of consumer `name`, in shard order: a
/// consumer split into shards (a projector run as `--shard K/N`) keeps one
/// row per shard, and whoever follows it as a whole (read-your-writes, lag)
/// looks at all of them.
pub async fn load_checkpoints(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
) -> Result<Vec<(i32, FeedPosition)>, StoreError> {
    let sql = format!(
        "SELECT shard, tx, seq FROM {} WHERE name = $1 ORDER BY shard",
        checkpoints_table(backend)
    );
    let rows = sqlx::query(&sql).bind(name).fetch_all(&mut *conn).await?;
    rows.iter().map(position_of_shard).collect()
}

fn position_of_shard(row: &sqlx::any::AnyRow) -> Result<(i32, FeedPosition), StoreError> {
    Ok((
        row.try_get("shard")?,
        FeedPosition {
            tx: row.try_get("tx")?,
            seq: row.try_get("seq")?,
        },
    ))
}

/// Saves `pos` for `name` on `shard` unless a position is saved there
/// already, which it leaves alone: how the first of several shards to start
/// lays out all of them without overwriting what another shard saved since.
pub async fn claim_checkpoint(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    shard: i32,
    pos: FeedPosition,
) -> Result<(), StoreError> {
    insert_checkpoint(conn, backend, name, shard, pos, "DO NOTHING").await
}

/// Inserts `pos` for `name` on `shard`; an existing row gets
/// `ON CONFLICT (name, shard) <on_conflict>`.
async fn insert_checkpoint(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    shard: i32,
    pos: FeedPosition,
    on_conflict: &str,
) -> Result<(), StoreError> {
    let now = now_sql(backend);
    let sql = format!(
        "INSERT INTO {table} (name, shard, tx, seq, updated_at) VALUES ($1, $2, $3, $4, {now}) \
         ON CONFLICT (name, shard) {on_conflict}",
        table = checkpoints_table(backend),
    );
    sqlx::query(&sql)
        .bind(name)
        .bind(shard)
        .bind(pos.tx)
        .bind(pos.seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Locks checkpoint `name` on `shard` for the rest of the transaction
/// `conn` is in, then reads it, so two processes running the same consumer
/// never apply one batch twice: the lock is `pg_advisory_xact_lock` of
/// `hashtext(lock_key)` (what a rebuild takes too), and lock and read are one
/// statement. SQLite's writers take turns behind the store's write lock, so
/// there it is a plain read.
pub async fn lock_checkpoint(
    conn: &mut AnyConnection,
    backend: Backend,
    lock_key: &str,
    name: &str,
    shard: i32,
) -> Result<FeedPosition, StoreError> {
    if backend == Backend::Sqlite {
        return load_checkpoint(conn, backend, name, shard).await;
    }
    let row = sqlx::query("SELECT tx, seq FROM event_store.lock_checkpoint($1, $2, $3)")
        .bind(lock_key)
        .bind(name)
        .bind(shard)
        .fetch_one(&mut *conn)
        .await?;
    let tx: Option<i64> = row.try_get("tx")?;
    let seq: Option<i64> = row.try_get("seq")?;
    Ok(match (tx, seq) {
        (Some(tx), Some(seq)) => FeedPosition { tx, seq },
        _ => FeedPosition::START,
    })
}

/// Locks `lock_key` for the rest of the transaction `conn` is in, then
/// reads every shard's checkpoint of `name` (as [`load_checkpoints`]), in
/// one statement on Postgres: a projector's batch begins with it. SQLite's
/// writers take turns behind the store's write lock, so there it is a
/// plain read.
pub async fn lock_checkpoints(
    conn: &mut AnyConnection,
    backend: Backend,
    lock_key: &str,
    name: &str,
) -> Result<Vec<(i32, FeedPosition)>, StoreError> {
    if backend == Backend::Sqlite {
        return load_checkpoints(conn, backend, name).await;
    }
    let rows = sqlx::query("SELECT shard, tx, seq FROM event_store.lock_checkpoints($1, $2)")
        .bind(lock_key)
        .bind(name)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(position_of_shard).collect()
}

/// Inserts or overwrites the position of projector `name` on `shard`.
pub async fn save_checkpoint(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    shard: i32,
    pos: FeedPosition,
) -> Result<(), StoreError> {
    let update =
        "DO UPDATE SET tx = excluded.tx, seq = excluded.seq, updated_at = excluded.updated_at";
    insert_checkpoint(conn, backend, name, shard, pos, update).await
}

/// Forgets projector `name` on `shard`, so it rebuilds from the start.
pub async fn delete_checkpoint(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    shard: i32,
) -> Result<(), StoreError> {
    let sql = format!(
        "DELETE FROM {} WHERE name = $1 AND shard = $2",
        checkpoints_table(backend)
    );
    sqlx::query(&sql)
        .bind(name)
        .bind(shard)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
