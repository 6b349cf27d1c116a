//! The drift check: folds the log into a shadow table up to exactly where
//! the live model stands, compares the two tables both ways, reports the
//! differing rows and throws the shadow away. Changes nothing live.
//!
//! A model split among projector shards stands at one checkpoint per
//! shard: the fresh fold is topped up with each shard's shows up to that
//! shard's checkpoint, with every shard's projector held still.

use sqlx::{AnyConnection, Row};
use ticketing_event_store::{delete_checkpoint, load_checkpoints, Backend, Store};

use crate::fill::{fill, Steps};
use crate::layout::{shards, span};
use crate::rebuild::{exclusive, only_one, reset_shadow, top_up, SHARD};
use crate::{Projection, ProjectionError, ReadModel};

/// How many 100 ms waits a drift check gives a lagging live projector.
const LAG_WAITS: usize = 100;
/// Rows of each side of a drift report that are printed.
const SHOWN_DIFFERENCES: usize = 20;

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

/// Compares `which` with a fresh fold of the log, changing nothing. Rows
/// of a model with several tables are prefixed with their table's name.
pub async fn drift(
    store: &Store,
    which: ReadModel,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<Drift, ProjectionError> {
    let alone = only_one(store, which).await?;
    let drift = drift_alone(store, which, progress).await;
    alone.release().await;
    drift
}

/// The check itself, under the model's shadow lock.
async fn drift_alone(
    store: &Store,
    which: ReadModel,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<Drift, ProjectionError> {
    let backend = store.backend();
    let shadow = reset_shadow(store, which).await?;
    let (_, folded) = fill(store, &shadow, Steps::default(), progress).await?;
    // Both must describe the same prefix of the log: wait (briefly) for the
    // live model (every shard) to reach the fresh fold, then fold the fresh
    // one up to it (each shard's shows up to that shard's checkpoint).
    let mut waited = 0;
    let mut tx = loop {
        let before = crate::layout::rows(store, which.name()).await?;
        let mut tx = exclusive(store, which, span(&before)).await?;
        let rows = load_checkpoints(&mut tx, backend, which.name()).await?;
        if span(&rows) > span(&before) {
            return Err(ProjectionError::LayoutChanged(which.name()));
        }
        let live = shards(&rows);
        let at = live.iter().map(|(_, at)| *at).min().unwrap_or(folded);
        if at >= folded {
            for (shard, at) in live {
                let (_, tail) = top_up(store, &mut tx, &shadow, folded, Some(at), shard).await?;
                progress(tail);
            }
            break tx;
        }
        tx.rollback().await?;
        waited += 1;
        if waited > LAG_WAITS {
            return Err(ProjectionError::Corrupt(format!(
                "the live {} model stays behind the log (at {at:?}, log at {folded:?}); is its projector (every shard's) running?",
                which.name()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (mut only_live, mut only_fresh) = (Vec::new(), Vec::new());
    let several = which.tables().len() > 1;
    for table in which.tables() {
        let (live, fresh) = (table.live(backend), table.name(backend, true));
        let columns = columns(&mut tx, &fresh, backend).await?;
        let only = |a: &str, b: &str| {
            format!("SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b}")
        };
        let label = |row: String| {
            if several {
                format!("{live}: {row}")
            } else {
                row
            }
        };
        only_live.extend(
            rows(&mut tx, &only(live, &fresh))
                .await?
                .into_iter()
                .map(label),
        );
        only_fresh.extend(
            rows(&mut tx, &only(&fresh, live))
                .await?
                .into_iter()
                .map(label),
        );
    }
    tx.rollback().await?;
    let mut conn = store.read_pool().acquire().await?;
    for table in which.tables() {
        let fresh = table.name(backend, true);
        sqlx::query(&format!("DROP TABLE IF EXISTS {fresh}"))
            .execute(&mut *conn)
            .await?;
    }
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
