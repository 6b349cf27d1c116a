//! How a read model is laid out among projector shards, read from its
//! checkpoints: a model kept by N shards has exactly the rows `0..N` (one
//! per shard, `(name, K)`); a model kept whole has row 0, or none before its
//! first batch. The rows are the layout's only record, so whoever reads a
//! checkpoint (a projector, read-your-writes, a seat-map watch, the lag
//! metrics, a rebuild) sees the same N without being told it.
//!
//! * A projector shard K/N resumes from its own row only while the rows say
//!   N ([`resume`], in every batch): a projector started with another N, or
//!   one left running after the count was changed, writes nothing and
//!   reports [`ProjectionError::ShardLayout`]. The first shard of a model
//!   with no rows at all (never run, so its table is empty) lays out all N
//!   rows at the start of the log.
//! * The count changes only by a rebuild (`rebuild.rs`, `--shards`), which
//!   folds every show, then rewrites the rows `0..N'` at the position it
//!   swapped in.
//! * A reader of one show's rows follows the shard that owns it; a reader
//!   of the whole model follows the lowest checkpoint ([`applied_through`]).

use sqlx::AnyConnection;
use ticketing_event_store::{
    claim_checkpoint, load_checkpoints, lock_checkpoints, Backend, FeedPosition, Reached, Store,
};

use crate::shard::owner;
use crate::{ProjectionError, ReadModel, Shard};

/// Every shard's checkpoint of `name`, in shard order.
pub(crate) type Rows = Vec<(i32, FeedPosition)>;

/// The count the rows lay out: `Some(n)` when they are exactly `0..n`.
fn laid_out(rows: &Rows) -> Option<u32> {
    let consecutive = rows
        .iter()
        .enumerate()
        .all(|(k, (shard, _))| *shard == k as i32);
    (consecutive && !rows.is_empty()).then_some(rows.len() as u32)
}

/// How many shards the rows span (1 without rows): how many locks exclude
/// every projector that may write them.
pub(crate) fn span(rows: &Rows) -> u32 {
    rows.iter()
        .map(|(shard, _)| (*shard).max(0) as u32 + 1)
        .max()
        .unwrap_or(1)
}

/// The rows as shards of [`span`], each with its checkpoint; a model with
/// no rows is one shard at the start of the log.
pub(crate) fn shards(rows: &Rows) -> Vec<(Shard, FeedPosition)> {
    if rows.is_empty() {
        return vec![(Shard::WHOLE, FeedPosition::START)];
    }
    let count = span(rows);
    rows.iter()
        .filter_map(|(k, at)| Some((Shard::new(u32::try_from(*k).ok()?, count).ok()?, *at)))
        .collect()
}

/// Where `shard` of checkpoint `name` resumes, read inside the batch
/// transaction by the statement that takes the shard's lock `lock_key`
/// (module doc).
pub(crate) async fn lock_and_resume(
    conn: &mut AnyConnection,
    backend: Backend,
    lock_key: &str,
    name: &'static str,
    shard: Shard,
) -> Result<FeedPosition, ProjectionError> {
    let rows = lock_checkpoints(conn, backend, lock_key, name).await?;
    if rows.is_empty() {
        if shard.count() > 1 {
            for k in 0..shard.count() {
                claim_checkpoint(conn, backend, name, k as i32, FeedPosition::START).await?;
            }
        }
        return Ok(FeedPosition::START);
    }
    match laid_out(&rows) {
        Some(count) if count == shard.count() => Ok(rows[shard.index() as usize].1),
        _ => Err(mismatch(name, &rows, shard)),
    }
}

fn mismatch(name: &'static str, rows: &Rows, asked: Shard) -> ProjectionError {
    ProjectionError::ShardLayout {
        name,
        found: rows.iter().map(|(shard, _)| *shard).collect(),
        asked,
    }
}

/// Refuses, before a process starts its projectors, a shard that
/// a batch of its projector would refuse at once (the module doc).
pub async fn check_shard(
    store: &Store,
    model: ReadModel,
    shard: Shard,
) -> Result<(), ProjectionError> {
    let rows = rows(store, model.name()).await?;
    match laid_out(&rows) {
        _ if rows.is_empty() => Ok(()),
        Some(count) if count == shard.count() => Ok(()),
        _ => Err(mismatch(model.name(), &rows, shard)),
    }
}

/// The shards that keep `model` now, each with its checkpoint.
pub async fn model_shards(
    store: &Store,
    model: ReadModel,
) -> Result<Vec<(Shard, FeedPosition)>, ProjectionError> {
    Ok(shards(&rows(store, model.name()).await?))
}

pub(crate) async fn rows(store: &Store, name: &str) -> Result<Rows, ProjectionError> {
    let mut conn = store.read_pool().acquire().await?;
    Ok(load_checkpoints(&mut conn, store.backend(), name).await?)
}

/// How far `model` has applied the feed for `show`'s rows (the checkpoint
/// of the shard that owns it), or for all its rows (the lowest checkpoint)
/// when no show is named or the model is not split.
pub async fn applied_through(
    store: &Store,
    model: ReadModel,
    show: Option<&str>,
) -> Result<FeedPosition, ProjectionError> {
    let rows = rows(store, model.name()).await?;
    Ok(follow(&rows, model, show))
}

fn follow(rows: &Rows, model: ReadModel, show: Option<&str>) -> FeedPosition {
    match (laid_out(rows), show) {
        (Some(count), Some(show)) if model.sharded() => rows[owner(show, count) as usize].1,
        _ => rows
            .iter()
            .map(|(_, at)| *at)
            .min()
            .unwrap_or(FeedPosition::START),
    }
}

/// Read-your-writes ([`Store::reached_from`]) for `model`, or only for
/// `show`'s rows: a query of one show waits for the shard that keeps it,
/// not for the others.
pub async fn reached(
    store: &Store,
    model: ReadModel,
    show: Option<&str>,
    bound: FeedPosition,
) -> Result<Reached, ProjectionError> {
    let at = applied_through(store, model, show).await?;
    Ok(store.reached_from(at, model.reads(), bound).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(shards: &[i32]) -> Rows {
        shards
            .iter()
            .map(|k| {
                (
                    *k,
                    FeedPosition {
                        tx: 0,
                        seq: 10 + i64::from(*k),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn rows_lay_out_a_count_only_when_they_are_every_shard_from_zero() {
        assert_eq!(laid_out(&rows(&[0])), Some(1));
        assert_eq!(laid_out(&rows(&[0, 1, 2])), Some(3));
        assert_eq!(laid_out(&rows(&[])), None);
        assert_eq!(laid_out(&rows(&[0, 2])), None);
        assert_eq!(laid_out(&rows(&[1])), None);
        assert_eq!(span(&rows(&[0, 2])), 3);
        assert_eq!(span(&rows(&[])), 1);
    }

    #[test]
    fn a_show_follows_its_owner_and_the_whole_model_its_lowest_shard() {
        let three = rows(&[0, 1, 2]);
        for show in ["s_a", "s_b", "s_c"] {
            let at = follow(&three, ReadModel::SeatMap, Some(show));
            assert_eq!(at.seq, 10 + i64::from(owner(show, 3)));
        }
        assert_eq!(follow(&three, ReadModel::SeatMap, None).seq, 10);
        assert_eq!(follow(&three, ReadModel::Shows, Some("s_c")).seq, 10);
        assert_eq!(
            follow(&rows(&[]), ReadModel::SeatMap, Some("s_a")),
            FeedPosition::START
        );
    }
}
