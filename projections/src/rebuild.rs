//! Rebuilding a read model without downtime.
//!
//! A rebuild folds the whole log into a shadow table (`<table>__rebuild`)
//! with its own checkpoint while queries keep reading the live table, then,
//! in one read-model transaction that holds the live projector's lock,
//! applies the last events, drops the live table, renames the shadow into its
//! place and moves the checkpoint. Readers see the old model or the new one,
//! never a half-built one. The drift check (`drift.rs`) reuses the shadow.

use sqlx::AnyConnection;
use ticketing_event_store::{
    delete_checkpoint, load_checkpoint, save_checkpoint, Backend, FeedPosition, Store,
};

use crate::schema::{seat_map_ddl, seat_map_table, shows_ddl, shows_table, table};
use crate::{Projection, ProjectionError, Projector, SeatMapProjection, ShowsProjection};

pub(crate) const SHARD: i32 = 0;
pub(crate) const BATCH: usize = 1000;

/// The read models that can be rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuildable {
    SeatMap,
    Shows,
}

impl Rebuildable {
    pub const ALL: [Rebuildable; 2] = [Rebuildable::SeatMap, Rebuildable::Shows];

    pub fn name(self) -> &'static str {
        match self {
            Rebuildable::SeatMap => "seat_map",
            Rebuildable::Shows => "shows",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    pub(crate) fn live_table(self, backend: Backend) -> &'static str {
        match self {
            Rebuildable::SeatMap => seat_map_table(backend),
            Rebuildable::Shows => shows_table(backend),
        }
    }

    fn ddl(self, name: &str) -> String {
        match self {
            Rebuildable::SeatMap => seat_map_ddl(name),
            Rebuildable::Shows => shows_ddl(name),
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events folded into the shadow, swap included.
    pub events: usize,
    pub position: FeedPosition,
}

/// Rebuilds `which` and swaps it in; `progress` gets the events folded so far.
pub async fn rebuild(
    store: &Store,
    which: Rebuildable,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let backend = store.backend();
    match which {
        Rebuildable::SeatMap => {
            run(store, which, SeatMapProjection::shadow(backend), progress).await
        }
        Rebuildable::Shows => run(store, which, ShowsProjection::shadow(backend), progress).await,
    }
}

pub(crate) async fn reset_shadow<P: Projection>(
    store: &Store,
    which: Rebuildable,
    shadow: &P,
) -> Result<String, ProjectionError> {
    let backend = store.backend();
    let name = table(which.live_table(backend), true);
    let mut conn = store.read_pool().acquire().await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&which.ddl(&name)).execute(&mut *conn).await?;
    delete_checkpoint(&mut conn, backend, shadow.name(), SHARD).await?;
    Ok(name)
}

/// Folds the shadow in batches until it reaches `until` (or the head).
pub(crate) async fn fill<P: Projection>(
    projector: &Projector<P>,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<usize, ProjectionError> {
    let mut folded = 0;
    loop {
        let applied = projector.step().await?;
        if applied == 0 {
            return Ok(folded);
        }
        folded += applied;
        progress(folded);
    }
}

/// Opens the transaction that excludes the live projector of `which`.
pub(crate) async fn exclusive(
    store: &Store,
    which: Rebuildable,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, ProjectionError> {
    let mut tx = store.begin_read_model().await?;
    if store.backend() == Backend::Postgres {
        // The key the live runner takes for each batch (runner.rs).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("projector:{}:{SHARD}", which.name()))
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Applies the feed after `from` to the shadow, up to `until` if given.
pub(crate) async fn top_up<P: Projection>(
    store: &Store,
    conn: &mut AnyConnection,
    shadow: &P,
    mut from: FeedPosition,
    until: Option<FeedPosition>,
) -> Result<(FeedPosition, usize), ProjectionError> {
    let mut applied = 0;
    loop {
        let batch = store.read_feed(SHARD, from, BATCH).await?;
        let batch: Vec<_> = batch
            .into_iter()
            .filter(|e| until.is_none_or(|u| e.position <= u))
            .collect();
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok((from, applied));
        };
        for event in &batch {
            shadow.apply(conn, event).await?;
        }
        applied += batch.len();
        from = last;
    }
}

async fn run<P: Projection + Clone>(
    store: &Store,
    which: Rebuildable,
    shadow: P,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let backend = store.backend();
    let shadow_table = reset_shadow(store, which, &shadow).await?;
    let projector = Projector::new(store.clone(), shadow.clone()).with_batch_size(BATCH);
    let mut events = fill(&projector, progress).await?;
    let mut tx = exclusive(store, which).await?;
    let from = load_checkpoint(&mut tx, backend, shadow.name(), SHARD).await?;
    let (position, tail) = top_up(store, &mut tx, &shadow, from, None).await?;
    events += tail;
    let live = which.live_table(backend);
    let bare = live.rsplit('.').next().unwrap_or(live);
    sqlx::query(&format!("DROP TABLE IF EXISTS {live}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("ALTER TABLE {shadow_table} RENAME TO {bare}"))
        .execute(&mut *tx)
        .await?;
    save_checkpoint(&mut tx, backend, which.name(), SHARD, position).await?;
    delete_checkpoint(&mut tx, backend, shadow.name(), SHARD).await?;
    tx.commit().await?;
    progress(events);
    Ok(RebuildReport { events, position })
}
