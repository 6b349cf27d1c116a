//! Filling a rebuild's (or drift check's) empty shadow from the start of
//! the log. A reader task reads the next batches while the current one is
//! folded, so reading and writing overlap.
//!
//! The seat map and the reservations fold across batches ([`Carry`]): a
//! seat held and released a hundred times in the log, or a reservation
//! created, extended and converted, is written a few times, not once per
//! event. The fold is written, with the shadow's checkpoint, whenever it
//! holds [`Steps::fold_rows`] rows and at the end, which bounds the memory a
//! rebuild needs whatever the log's size. The orders model deletes rows
//! while it folds, so it writes each batch as it comes.

use sqlx::AnyConnection;
use ticketing_event_store::{save_checkpoint, FeedEvent, FeedPosition, Store, StoreError};
use tokio::sync::mpsc;

use crate::rebuild::{BATCH, SHARD};
use crate::reservations::Fold as ReservationFold;
use crate::seat_map::SeatFold;
use crate::{AnyProjection, Projection, ProjectionError, Target};

/// Batches read ahead of the one being folded.
const READ_AHEAD: usize = 2;

/// How a fill reads and writes: events per read batch, and rows a fold may
/// hold before it is written (some 150 bytes each).
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub batch: usize,
    pub fold_rows: usize,
}

impl Default for Steps {
    fn default() -> Self {
        Self {
            batch: BATCH,
            fold_rows: 200_000,
        }
    }
}

/// A fold that can span batches.
pub(crate) trait Carry: Default + Send {
    /// Folds `event`; events of aggregates the model does not read are
    /// ignored.
    fn add(&mut self, event: &FeedEvent) -> Result<(), ProjectionError>;
    /// Rows it would write.
    fn rows(&self) -> usize;
    /// Writes what was folded into `target`'s tables.
    fn write(
        self,
        conn: &mut AnyConnection,
        target: Target,
    ) -> impl std::future::Future<Output = Result<(), ProjectionError>> + Send;
}

/// Folds `events` into a fresh `F` and writes it: how a projection with a
/// [`Carry`] applies one batch.
pub(crate) async fn fold_batch<F: Carry>(
    conn: &mut AnyConnection,
    events: &[FeedEvent],
    target: Target,
) -> Result<(), ProjectionError> {
    let mut fold = F::default();
    for event in events {
        fold.add(event)?;
    }
    fold.write(conn, target).await
}

/// Folds the whole log into the (empty) shadow; returns the events folded
/// and where the fold stopped.
pub(crate) async fn fill(
    store: &Store,
    shadow: &AnyProjection,
    steps: Steps,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(usize, FeedPosition), ProjectionError> {
    let (batches, incoming) = mpsc::channel(READ_AHEAD);
    let types = shadow.model().reads();
    let reader = tokio::spawn(read_ahead(
        store.clone(),
        types,
        steps.batch.max(1),
        batches,
    ));
    let rows = steps.fold_rows;
    let filled = match shadow {
        AnyProjection::SeatMap(p) => {
            carried::<SeatFold>(store, shadow, p.0, rows, incoming, progress).await
        }
        AnyProjection::Reservations(p) => {
            carried::<ReservationFold>(store, shadow, p.0, rows, incoming, progress).await
        }
        _ => batch_by_batch(store, shadow, incoming, progress).await,
    };
    reader.abort();
    filled
}

/// A batch of the events a model reads, and the feed position read
/// through: its last event's, or for the final empty batch the head of
/// the feed the reader passed.
type Batch = Result<(Vec<FeedEvent>, FeedPosition), StoreError>;
type Batches = mpsc::Receiver<Batch>;

async fn batch_by_batch(
    store: &Store,
    shadow: &AnyProjection,
    mut incoming: Batches,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(usize, FeedPosition), ProjectionError> {
    let (mut folded, mut at) = (0, FeedPosition::START);
    while let Some(batch) = incoming.recv().await {
        // The reader's last batch is empty: it only moves the checkpoint.
        let (batch, through) = batch?;
        let _turn = store.write_turn().await;
        let mut tx = store.begin_read_model().await?;
        shadow.apply_batch(&mut tx, &batch).await?;
        save_checkpoint(&mut tx, store.backend(), shadow.name(), SHARD, through).await?;
        tx.commit().await?;
        (folded, at) = (folded + batch.len(), through);
        progress(folded);
    }
    Ok((folded, at))
}

async fn carried<F: Carry>(
    store: &Store,
    shadow: &AnyProjection,
    target: Target,
    fold_rows: usize,
    mut incoming: Batches,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(usize, FeedPosition), ProjectionError> {
    let (mut folded, mut at) = (0, FeedPosition::START);
    let mut fold = F::default();
    while let Some(batch) = incoming.recv().await {
        // The reader's last batch is empty: it only moves the position.
        let (batch, through) = batch?;
        for event in &batch {
            fold.add(event)?;
        }
        (folded, at) = (folded + batch.len(), through);
        if fold.rows() >= fold_rows {
            write(store, shadow, target, std::mem::take(&mut fold), at).await?;
        }
        progress(folded);
    }
    write(store, shadow, target, fold, at).await?;
    Ok((folded, at))
}

/// Writes a fold and the shadow's checkpoint in one transaction.
async fn write<F: Carry>(
    store: &Store,
    shadow: &AnyProjection,
    target: Target,
    fold: F,
    at: FeedPosition,
) -> Result<(), ProjectionError> {
    let _turn = store.write_turn().await;
    let mut tx = store.begin_read_model().await?;
    fold.write(&mut tx, target).await?;
    save_checkpoint(&mut tx, store.backend(), shadow.name(), SHARD, at).await?;
    tx.commit().await?;
    Ok(())
}

/// Sends the batches of the events of `types` from the start of the feed
/// until none is left (or the receiver is gone, or a read fails: that
/// error is sent). The final batch is empty and carries the feed head
/// taken before its read: every event up to it was sent or is of another
/// type, so the shadow's checkpoint may move there.
async fn read_ahead(
    store: Store,
    types: &'static [&'static str],
    size: usize,
    batches: mpsc::Sender<Batch>,
) {
    let mut after = FeedPosition::START;
    loop {
        let batch = async {
            let head = store.feed_head(SHARD).await?;
            let events = store.read_feed_of(types, after, size).await?;
            let through = match events.last() {
                Some(event) => event.position,
                None => head.max(after),
            };
            Ok((events, through))
        }
        .await;
        let next = match &batch {
            Ok((events, through)) if !events.is_empty() => Some(*through),
            _ => None,
        };
        if batches.send(batch).await.is_err() {
            return;
        }
        match next {
            Some(through) => after = through,
            None => return,
        }
    }
}
