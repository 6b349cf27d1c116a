//! Group commit, the part both adapters share: appends queue as [`Job`]s,
//! and whoever gets to commit next takes every queued job and commits them
//! together, each with its own outcome (`sqlite/batch.rs`,
//! `postgres/batch.rs`). Nobody is answered before the commit, so a crash
//! at any instant of a batch loses only appends nobody was told about.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::{IdempotencyRecord, StoreError, StreamAppend, StreamCondition};

/// An append as `Store::append_as_one_batch` takes it: streams,
/// conditions, idempotency record.
#[cfg(feature = "testing")]
pub type Batched = (
    Vec<StreamAppend>,
    Vec<StreamCondition>,
    Option<IdempotencyRecord>,
);

/// The jobs of `appends`, for [`commit_as_one`]; nobody waits for their
/// replies.
#[cfg(feature = "testing")]
fn jobs_of(appends: &[Batched]) -> Vec<Job> {
    appends
        .iter()
        .map(|(appends, conditions, idempotency)| {
            Job::new(appends, conditions, idempotency.as_ref()).0
        })
        .collect()
}

/// Jobs per batch at most: bounds a batch's statement (binds, arrays)
/// and the time its first job waits for its last.
pub(crate) const MAX_BATCH: usize = 128;

/// One append waiting for its batch.
pub(crate) struct Job {
    pub(crate) appends: Vec<StreamAppend>,
    pub(crate) conditions: Vec<StreamCondition>,
    pub(crate) idempotency: Option<IdempotencyRecord>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl Job {
    /// The job of an append, and where its answer will arrive.
    fn new(
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
        idempotency: Option<&IdempotencyRecord>,
    ) -> (Job, oneshot::Receiver<Result<(), StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            appends: appends.to_vec(),
            conditions: conditions.to_vec(),
            idempotency: idempotency.cloned(),
            reply,
        };
        (job, answer)
    }
}

/// How an adapter commits queued jobs.
pub(crate) trait Commit: Clone + Send + Sync + 'static {
    /// The right to commit, held while a batch commits: a committer permit
    /// (Postgres), the write turn (SQLite).
    type Turn: Send;

    /// The adapter's queue of jobs waiting for a batch.
    fn queue(&self) -> &Queue;

    /// Waits for the right to commit.
    fn turn(&self) -> impl Future<Output = Self::Turn> + Send;

    /// One job in a transaction of its own.
    fn alone(&self, job: &Job) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Several jobs in one transaction, each all or nothing on its own; an
    /// error means none of them committed.
    fn together(
        &self,
        jobs: &[Job],
    ) -> impl Future<Output = Result<Vec<Result<(), StoreError>>, StoreError>> + Send;

    /// Events were appended: wake the feed's readers.
    fn committed(&self);
}

/// Commits an append in the next batch, from a task of its own, so a
/// caller that goes away cannot leave its job half-queued: the job is
/// queued, its task waits for the adapter's turn and commits every queued
/// job ([`commit_queued`]).
pub(crate) async fn submit<A: Commit>(
    adapter: &A,
    appends: &[StreamAppend],
    conditions: &[StreamCondition],
    idempotency: Option<&IdempotencyRecord>,
) -> Result<(), StoreError> {
    let (job, answer) = Job::new(appends, conditions, idempotency);
    let adapter = adapter.clone();
    tokio::spawn(async move {
        adapter.queue().push(job);
        let _turn = adapter.turn().await;
        commit_queued(&adapter).await;
    });
    answer
        .await
        .map_err(|_| StoreError::Other("the append's batch ended without an answer".into()))?
}

/// Commits `appends` (each with its conditions and record) as one batch,
/// now, in the adapter's turn: for tests that need a batch of known content.
#[cfg(feature = "testing")]
pub(crate) async fn commit_as_one<A: Commit>(
    adapter: &A,
    appends: &[Batched],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let jobs = jobs_of(appends);
    let _turn = adapter.turn().await;
    let outcomes = adapter.together(&jobs).await?;
    adapter.committed();
    Ok(outcomes)
}

/// Commits every queued job — one alone, several together, and one by
/// one if the batch fails as a whole (one of them may have caused it) —
/// and answers each; a caller that went away leaves its append standing.
/// The caller holds its adapter's turn to commit.
async fn commit_queued(adapter: &impl Commit) {
    // A batch is capped; whoever commits goes on until the queue is empty,
    // so no job is left behind by a committer that took its fill.
    loop {
        let batch = adapter.queue().take();
        if batch.is_empty() {
            return;
        }
        commit_batch(adapter, batch).await;
    }
}

async fn commit_batch(adapter: &impl Commit, batch: Vec<Job>) {
    let outcomes = match batch.as_slice() {
        [] => return,
        [job] => vec![adapter.alone(job).await],
        _ => match adapter.together(&batch).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::warn!(%error, jobs = batch.len(), "a batch of appends failed; committing them one by one");
                let mut outcomes = Vec::with_capacity(batch.len());
                for job in &batch {
                    outcomes.push(adapter.alone(job).await);
                }
                outcomes
            }
        },
    };
    if outcomes.iter().any(Result::is_ok) {
        adapter.committed();
    }
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let _ = job.reply.send(outcome);
    }
}

/// The jobs waiting for the next batch.
#[derive(Default)]
pub(crate) struct Queue(Mutex<Vec<Job>>);

impl Queue {
    pub(crate) fn push(&self, job: Job) {
        self.lock().push(job);
    }

    /// The oldest jobs, at most [`MAX_BATCH`].
    pub(crate) fn take(&self) -> Vec<Job> {
        let mut queued = self.lock();
        let at = queued.len().min(MAX_BATCH);
        let rest = queued.split_off(at);
        std::mem::replace(&mut *queued, rest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        // A panic while holding it leaves a valid list behind.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
