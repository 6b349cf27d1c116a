//! Rebuilding a read model without downtime.
//!
//! A rebuild folds the whole log into a shadow table (`<table>__rebuild`)
//! with its own checkpoint while queries keep reading the live table, builds
//! the shadow's secondary indexes once it is full, then, in one read-model
//! transaction that holds the live projectors' locks (every shard's),
//! applies the last events, drops the live table, renames the shadow into its
//! place and moves the checkpoints. Readers see the old model or the new one,
//! never a half-built one. The drift check (`drift.rs`) reuses the shadow.
//!
//! A model split among projector shards is rebuilt whole, every show, with
//! its projectors running or not: the swap sets every shard's checkpoint to
//! the position swapped in. [`reshard`] is the same rebuild that then lays
//! the checkpoints out for another count of shards (`layout.rs`).

use sqlx::AnyConnection;
use ticketing_event_store::{
    delete_checkpoint, load_checkpoints, save_checkpoint, Backend, FeedPosition, Store,
};

use crate::fill::{fill, Steps};
use crate::layout::span;
use crate::runner::{lock, lock_key};
use crate::schema::Table;
use crate::{AnyProjection, Projection, ProjectionError, ReadModel, Shard, Target};

/// The feed a rebuild reads, and the shard its shadow's checkpoint is
/// kept under: a shadow folds every show.
pub(crate) const SHARD: i32 = 0;
/// Events per batch of a rebuild: large, since nobody waits on a shadow.
pub(crate) const BATCH: usize = 5000;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events folded into the shadow, swap included.
    pub events: usize,
    pub position: FeedPosition,
    /// The projector shards that keep the model from `position` on.
    pub shards: u32,
}

/// Rebuilds `which` and swaps it in; `progress` gets the events folded so far.
pub async fn rebuild(
    store: &Store,
    which: ReadModel,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    rebuild_in_steps(store, which, Steps::default(), progress).await
}

/// [`rebuild`] with other read-batch and fold sizes (tests use tiny ones
/// to make a fold span and flush across batches).
pub async fn rebuild_in_steps(
    store: &Store,
    which: ReadModel,
    steps: Steps,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    rebuild_for(store, which, None, steps, progress).await
}

/// [`rebuild`], then leaves `which` to `shards` projector shards (`ticketing
/// projections rebuild NAME --shards N`): every shard's checkpoint, `0..N`,
/// is written at the position swapped in, so shard K of N resumes there,
/// and the projectors of the old count that still run write nothing more.
pub async fn reshard(
    store: &Store,
    which: ReadModel,
    shards: u32,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    Shard::new(0, shards)?;
    if shards > 1 && !which.sharded() {
        return Err(ProjectionError::NotSharded(which.name()));
    }
    rebuild_for(store, which, Some(shards), Steps::default(), progress).await
}

async fn rebuild_for(
    store: &Store,
    which: ReadModel,
    shards: Option<u32>,
    steps: Steps,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let alone = only_one(store, which).await?;
    let rebuilt = rebuild_alone(store, which, shards, steps, progress).await;
    alone.release().await;
    rebuilt
}

/// The rebuild itself, under [`shadow_lock`]; `shards` is the new count,
/// `None` to keep the current one.
async fn rebuild_alone(
    store: &Store,
    which: ReadModel,
    shards: Option<u32>,
    steps: Steps,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let backend = store.backend();
    let before = crate::layout::rows(store, which.name()).await?;
    let shadow = reset_shadow(store, which).await?;
    let (mut events, from) = fill(store, &shadow, steps, progress).await?;
    for table in which.tables() {
        for statement in table
            .index_shadow(backend)
            .into_iter()
            .chain(table.logged(backend))
        {
            sqlx::query(&statement).execute(store.read_pool()).await?;
        }
    }
    // Every shard that may write the live rows, and every one to be.
    let locked = span(&before).max(shards.unwrap_or(1));
    let mut tx = exclusive(store, which, locked).await?;
    let rows = load_checkpoints(&mut tx, backend, which.name()).await?;
    if span(&rows) > locked {
        return Err(ProjectionError::LayoutChanged(which.name()));
    }
    let shards = shards.unwrap_or(span(&rows));
    let (position, tail) = top_up(store, &mut tx, &shadow, from, None, Shard::WHOLE).await?;
    events += tail;
    for table in which.tables() {
        let primary_key = shadow_primary_key(&mut tx, backend, table).await?;
        for statement in table.swap(backend) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        if let Some(key) = primary_key {
            // The key keeps the shadow's name through the rename; give it
            // the live one so the next rebuild's shadow finds its name free.
            sqlx::query(&format!(
                "ALTER TABLE {} RENAME CONSTRAINT \"{key}\" TO {}_pkey",
                table.live(backend),
                table.bare()
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    for (shard, _) in rows.iter().filter(|(shard, _)| *shard >= shards as i32) {
        delete_checkpoint(&mut tx, backend, which.name(), *shard).await?;
    }
    for shard in 0..shards {
        save_checkpoint(&mut tx, backend, which.name(), shard as i32, position).await?;
    }
    delete_checkpoint(&mut tx, backend, shadow.name(), SHARD).await?;
    tx.commit().await?;
    progress(events);
    Ok(RebuildReport {
        events,
        position,
        shards,
    })
}

/// On Postgres, the name of the shadow table's primary-key constraint.
async fn shadow_primary_key(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &Table,
) -> Result<Option<String>, ProjectionError> {
    if backend != Backend::Postgres {
        return Ok(None);
    }
    let key = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'",
    )
    .bind(table.name(backend, true))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(key)
}

/// Creates empty shadow tables for `which` (dropping a stale rebuild's) and
/// returns the projection that fills them, with no checkpoint yet.
pub(crate) async fn reset_shadow(
    store: &Store,
    which: ReadModel,
) -> Result<AnyProjection, ProjectionError> {
    let backend = store.backend();
    let shadow = which.projection(Target::shadow(backend));
    let mut conn = store.read_pool().acquire().await?;
    for table in which.tables() {
        let name = table.name(backend, true);
        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(&mut *conn)
            .await?;
        for statement in table.create(backend, true) {
            sqlx::query(&statement).execute(&mut *conn).await?;
        }
    }
    delete_checkpoint(&mut conn, backend, shadow.name(), SHARD).await?;
    Ok(shadow)
}

/// The name of the lock a rebuild or a drift check of `which` holds from
/// start to end.
pub fn shadow_lock(which: ReadModel) -> String {
    format!("shadow:{}", which.name())
}

/// Holds [`shadow_lock`] for the caller, or refuses at once: two rebuilds
/// (or a rebuild and a drift check) of one model would fill, reset and swap
/// the same shadow table under each other.
pub(crate) async fn only_one(
    store: &Store,
    which: ReadModel,
) -> Result<ticketing_event_store::Exclusive, ProjectionError> {
    store
        .try_exclusive(&shadow_lock(which))
        .await?
        .ok_or(ProjectionError::AlreadyRunning(which.name()))
}

/// Opens the transaction that excludes the live projectors of `which`, of
/// shards `0..shards`, from the rest of the transaction.
pub(crate) async fn exclusive(
    store: &Store,
    which: ReadModel,
    shards: u32,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, ProjectionError> {
    let mut tx = store.begin_read_model().await?;
    // In shard order, as no runner holds more than one: no deadlock.
    for shard in 0..shards {
        lock(
            &mut tx,
            store.backend(),
            &lock_key(which.name(), shard as i32),
        )
        .await?;
    }
    Ok(tx)
}

/// Applies the feed after `from` to the shadow, up to `until` if given,
/// only the events of `shard`'s shows.
pub(crate) async fn top_up<P: Projection>(
    store: &Store,
    conn: &mut AnyConnection,
    shadow: &P,
    mut from: FeedPosition,
    until: Option<FeedPosition>,
    shard: Shard,
) -> Result<(FeedPosition, usize), ProjectionError> {
    let mut applied = 0;
    loop {
        let batch = store.read_feed(SHARD, from, BATCH).await?;
        let mut batch: Vec<_> = batch
            .into_iter()
            .filter(|e| until.is_none_or(|u| e.position <= u))
            .collect();
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok((from, applied));
        };
        batch.retain(|event| shard.owns_event(event));
        shadow.apply_batch(conn, &batch).await?;
        applied += batch.len();
        from = last;
    }
}
