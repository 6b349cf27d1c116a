//! Rebuilding a read model without downtime, and checking it for drift.
//!
//! A rebuild folds the whole log into a shadow table (`<table>__rebuild`)
//! with its own checkpoint while queries keep reading the live table, then,
//! in one read-model transaction that holds the live projector's lock,
//! applies the last events, drops the live table, renames the shadow into its
//! place and moves the checkpoint. Readers see the old model or the new one,
//! never a half-built one. A dry run folds the shadow to exactly the live
//! checkpoint, compares the two tables both ways and throws the shadow away.

use sqlx::{AnyConnection, Row};
use ticketing_event_store::{
    delete_checkpoint, load_checkpoint, save_checkpoint, Backend, FeedPosition, Store,
};

use crate::schema::{seat_map_ddl, seat_map_table, shows_ddl, shows_table, table};
use crate::{Projection, ProjectionError, Projector, SeatMapProjection, ShowsProjection};

const SHARD: i32 = 0;
const BATCH: usize = 1000;
/// How many 100 ms waits a drift check gives a lagging live projector.
const LAG_WAITS: usize = 100;
/// Rows of each side of a drift report that are printed.
const SHOWN_DIFFERENCES: usize = 20;

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

    fn live_table(self, backend: Backend) -> &'static str {
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

/// What a dry run found: rows only in the live table, rows only in a fresh
/// fold (each rendered as text, at most a few), and their counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drift {
    pub only_live: Vec<String>,
    pub only_fresh: Vec<String>,
    pub only_live_count: usize,
    pub only_fresh_count: usize,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.only_live_count == 0 && self.only_fresh_count == 0
    }
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
            run(
                store,
                which,
                SeatMapProjection {
                    backend,
                    shadow: true,
                },
                progress,
            )
            .await
        }
        Rebuildable::Shows => {
            run(
                store,
                which,
                ShowsProjection {
                    backend,
                    shadow: true,
                },
                progress,
            )
            .await
        }
    }
}

/// Compares `which` with a fresh fold of the log, changing nothing.
pub async fn drift(
    store: &Store,
    which: Rebuildable,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<Drift, ProjectionError> {
    let backend = store.backend();
    match which {
        Rebuildable::SeatMap => {
            check(
                store,
                which,
                SeatMapProjection {
                    backend,
                    shadow: true,
                },
                progress,
            )
            .await
        }
        Rebuildable::Shows => {
            check(
                store,
                which,
                ShowsProjection {
                    backend,
                    shadow: true,
                },
                progress,
            )
            .await
        }
    }
}

async fn reset_shadow<P: Projection>(
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
async fn fill<P: Projection>(
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
async fn exclusive(
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
async fn top_up<P: Projection>(
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

async fn check<P: Projection + Clone>(
    store: &Store,
    which: Rebuildable,
    shadow: P,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<Drift, ProjectionError> {
    let backend = store.backend();
    let shadow_table = reset_shadow(store, which, &shadow).await?;
    let live = which.live_table(backend);
    let projector = Projector::new(store.clone(), shadow.clone()).with_batch_size(BATCH);
    fill(&projector, progress).await?;
    let folded = projector.checkpoint().await?;
    // Both must describe the same prefix of the log: wait (briefly) for the
    // live model to reach the fresh fold, then fold the fresh one up to it.
    let mut waited = 0;
    let mut tx = loop {
        let mut tx = exclusive(store, which).await?;
        let at = load_checkpoint(&mut tx, backend, which.name(), SHARD).await?;
        if at >= folded {
            let (_, tail) = top_up(store, &mut tx, &shadow, folded, Some(at)).await?;
            progress(tail);
            break tx;
        }
        tx.rollback().await?;
        waited += 1;
        if waited > LAG_WAITS {
            return Err(ProjectionError::Corrupt(format!(
                "the live {} model stays behind the log (at {at:?}, log at {folded:?}); is its projector running?",
                which.name()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let columns = columns(&mut tx, &shadow_table, backend).await?;
    let only =
        |a: &str, b: &str| format!("SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b}");
    let only_live = rows(&mut tx, &only(live, &shadow_table)).await?;
    let only_fresh = rows(&mut tx, &only(&shadow_table, live)).await?;
    tx.rollback().await?;
    let mut conn = store.read_pool().acquire().await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {shadow_table}"))
        .execute(&mut *conn)
        .await?;
    delete_checkpoint(&mut conn, backend, shadow.name(), SHARD).await?;
    Ok(Drift {
        only_live_count: only_live.len(),
        only_fresh_count: only_fresh.len(),
        only_live: only_live.into_iter().take(SHOWN_DIFFERENCES).collect(),
        only_fresh: only_fresh.into_iter().take(SHOWN_DIFFERENCES).collect(),
    })
}

/// The table's columns, cast to text so rows compare and print alike.
async fn columns(
    conn: &mut AnyConnection,
    table: &str,
    backend: Backend,
) -> Result<String, ProjectionError> {
    let names: Vec<String> = match backend {
        Backend::Postgres => {
            let (schema, name) = table.split_once('.').unwrap_or(("public", table));
            sqlx::query("SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position")
                .bind(schema)
                .bind(name)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get("name"))
                .collect::<Result<_, _>>()?
        }
        Backend::Sqlite => sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?,
    };
    Ok(names
        .iter()
        .map(|c| format!("CAST({c} AS TEXT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", "))
}

async fn rows(conn: &mut AnyConnection, sql: &str) -> Result<Vec<String>, ProjectionError> {
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect())
}
