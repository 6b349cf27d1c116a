//! Group commit on Postgres (see `group.rs`): appends that find every
//! committer busy queue, and the next committer commits all of them in one
//! statement, `event_store.append_batch` (`sql.rs`), so one round trip and
//! one transaction for the lot. An append that finds a committer free runs
//! alone, as one statement, as before.
//!
//! **Each append all or nothing, on its own.** The function first takes the
//! advisory lock of every stream of the batch, in the byte order every
//! fence uses (so batches and single appends never deadlock), exclusively
//! where a job writes the stream; then it decides the jobs in order, each
//! check with a fresh snapshot that sees the commits before the locks and
//! the jobs of the batch before it: a job whose stream moved past its
//! expected sequence, whose condition fails or whose idempotency key is
//! taken is skipped and answered with [`StoreError::Conflict`]; the others
//! are inserted, and the statement commits. Should it fail as a whole (a
//! key written meanwhile by another process; the table's unique keys stay
//! the guarantee), its jobs are committed one by one.

use serde_json::Value;
use sqlx::Row;

use super::sql::APPEND_BATCH;
use super::PgStore;
use crate::group::{commit_queued, Commit, Job};
use crate::{StoreError, StreamAppend};

/// How many appends or batches of this process commit at once; an append
/// that finds them all busy waits in the queue for the next batch.
pub(super) const COMMITTERS: usize = 2;

impl PgStore {
    /// Queues `job`, waits for a committer and commits every queued job;
    /// the job's answer arrives on its `reply`.
    pub(super) async fn enqueue(&self, job: Job) {
        self.queue.push(job);
        // The semaphore is never closed.
        let Ok(_committer) = self.committers.acquire().await else {
            return;
        };
        commit_queued(self, &self.queue).await;
    }

    /// Commits `appends` (each with its record) as one batch, now: for tests
    /// that need a batch of known content.
    #[cfg(feature = "testing")]
    pub(crate) async fn append_as_one_batch(
        &self,
        appends: &[crate::group::Batched],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let jobs = crate::group::jobs_of(appends);
        let outcomes = self.commit_batch(&jobs).await?;
        self.appended();
        Ok(outcomes)
    }

    /// Commits `jobs` in one statement, each all or nothing (module doc).
    async fn commit_batch(&self, jobs: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut args = BatchArgs::default();
        for job in jobs {
            args.push(job)?;
        }
        let row = sqlx::query(APPEND_BATCH)
            .bind(i32::try_from(jobs.len()).map_err(StoreError::other)?)
            .bind(args.st_from)
            .bind(args.st_to)
            .bind(args.st_types)
            .bind(args.st_ids)
            .bind(args.st_expected)
            .bind(args.st_writes)
            .bind(args.ev_from)
            .bind(args.ev_to)
            .bind(args.ev_types)
            .bind(args.ev_ids)
            .bind(args.ev_seqs)
            .bind(args.ev_event_types)
            .bind(args.ev_versions)
            .bind(args.ev_payloads)
            .bind(args.ev_metadata)
            .bind(args.idem)
            .bind(args.idem_scopes)
            .bind(args.idem_keys)
            .bind(args.idem_hashes)
            .bind(args.idem_responses)
            .fetch_one(&self.pool)
            .await?;
        let committed: Vec<bool> = row.try_get(0)?;
        if committed.len() != jobs.len() {
            return Err(StoreError::Other(
                "append_batch answered for the wrong number of jobs".into(),
            ));
        }
        Ok(committed
            .into_iter()
            .map(|ok| {
                if ok {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            })
            .collect())
    }
}

impl Commit for PgStore {
    async fn alone(&self, job: &Job) -> Result<(), StoreError> {
        self.append_alone(
            &job.appends,
            &job.conditions,
            job.idempotency.as_ref(),
            None,
        )
        .await
    }

    async fn together(&self, jobs: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.commit_batch(jobs).await
    }

    fn committed(&self) {
        self.appended();
    }
}

/// The arguments of `append_batch`: every job's streams, events and
/// idempotency record, flattened into one array per column; job `j`'s
/// streams are `st_from[j] ..= st_to[j]` (1-based, empty when `to < from`),
/// likewise its events, and `idem[j]` is its record's index (0: none).
#[derive(Default)]
struct BatchArgs {
    st_from: Vec<i32>,
    st_to: Vec<i32>,
    st_types: Vec<String>,
    st_ids: Vec<String>,
    st_expected: Vec<i64>,
    st_writes: Vec<bool>,
    ev_from: Vec<i32>,
    ev_to: Vec<i32>,
    ev_types: Vec<String>,
    ev_ids: Vec<String>,
    ev_seqs: Vec<i64>,
    ev_event_types: Vec<String>,
    ev_versions: Vec<String>,
    ev_payloads: Vec<Value>,
    ev_metadata: Vec<Value>,
    idem: Vec<i32>,
    idem_scopes: Vec<String>,
    idem_keys: Vec<String>,
    idem_hashes: Vec<String>,
    idem_responses: Vec<Value>,
}

impl BatchArgs {
    fn push(&mut self, job: &Job) -> Result<(), StoreError> {
        let written: Vec<&StreamAppend> = job
            .appends
            .iter()
            .filter(|a| !a.events.is_empty())
            .collect();
        self.st_from.push(index(self.st_types.len() + 1)?);
        for append in &written {
            self.stream(
                &append.aggregate_type,
                &append.aggregate_id,
                append.expected_sequence,
                true,
            )?;
        }
        // A written stream is checked by its expected sequence already.
        for condition in &job.conditions {
            let is_written = written.iter().any(|a| {
                a.aggregate_type == condition.aggregate_type
                    && a.aggregate_id == condition.aggregate_id
            });
            if !is_written {
                self.stream(
                    &condition.aggregate_type,
                    &condition.aggregate_id,
                    condition.sequence,
                    false,
                )?;
            }
        }
        self.st_to.push(index(self.st_types.len())?);

        self.ev_from.push(index(self.ev_types.len() + 1)?);
        for append in &written {
            let first = i64::try_from(append.expected_sequence)
                .map_err(StoreError::other)?
                .saturating_add(1);
            for (event, sequence) in append.events.iter().zip(first..) {
                self.ev_types.push(append.aggregate_type.clone());
                self.ev_ids.push(append.aggregate_id.clone());
                self.ev_seqs.push(sequence);
                self.ev_event_types.push(event.event_type.clone());
                self.ev_versions.push(event.event_version.clone());
                self.ev_payloads.push(event.payload.clone());
                self.ev_metadata.push(event.metadata.clone());
            }
        }
        self.ev_to.push(index(self.ev_types.len())?);

        match &job.idempotency {
            Some(record) => {
                self.idem_scopes.push(record.scope.clone());
                self.idem_keys.push(record.key.clone());
                self.idem_hashes.push(record.request_hash.clone());
                self.idem_responses.push(record.response.clone());
                self.idem.push(index(self.idem_keys.len())?);
            }
            None => self.idem.push(0),
        }
        Ok(())
    }

    fn stream(
        &mut self,
        kind: &str,
        id: &str,
        sequence: usize,
        writes: bool,
    ) -> Result<(), StoreError> {
        self.st_types.push(kind.to_owned());
        self.st_ids.push(id.to_owned());
        self.st_expected
            .push(i64::try_from(sequence).map_err(StoreError::other)?);
        self.st_writes.push(writes);
        Ok(())
    }
}

fn index(n: usize) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(StoreError::other)
}
