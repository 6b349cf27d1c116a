//! Group commit on Postgres (see `group.rs`): appends that find every
//! committer busy queue, and the next committer commits all of them in one
//! statement, `event_store.append_jobs` (`sql.rs`), so one round trip and
//! one transaction for the lot. An append that finds a committer free runs
//! alone, as one statement, as before.
//!
//! **Each append all or nothing, on its own.** The function first takes the
//! advisory lock of every stream of the batch, in the byte order every
//! fence uses (so batches and single appends never deadlock), exclusively
//! where a job writes the stream; then it reads every stream's head and
//! every key once, with a fresh snapshot that sees the commits before the
//! locks, and decides the jobs in order on what it read and the jobs of
//! the batch before them: a job whose stream moved past its expected
//! sequence, whose condition fails or whose idempotency key is taken is
//! skipped and answered with [`StoreError::Conflict`]; the others are
//! inserted by one statement, and the whole commits. The statements per
//! batch are a lock per stream and four, however many jobs it holds. Should it fail as a whole (a
//! key written meanwhile by another process; the table's unique keys stay
//! the guarantee), its jobs are committed one by one.

use serde_json::Value;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::sql::APPEND_BATCH;
use super::PgStore;
use crate::group::{Commit, Job, Queue};
use crate::{StoreError, StreamAppend};

/// How many appends or batches of this process commit at once; an append
/// that finds them all busy waits in the queue for the next batch.
pub(super) const COMMITTERS: usize = 2;

impl PgStore {
    /// Commits `jobs` in one statement, each all or nothing (module doc).
    async fn commit_batch(&self, jobs: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let args = BatchArgs::of(jobs)?;
        let mut conn = self.keep.get().await?;
        let row = sqlx::query(APPEND_BATCH)
            .bind(index(jobs.len())?)
            .bind(args.sd_types)
            .bind(args.sd_ids)
            .bind(args.sd_writes)
            .bind(args.st_from)
            .bind(args.st_to)
            .bind(args.st_sid)
            .bind(args.st_expected)
            .bind(args.st_writes)
            .bind(args.st_after)
            .bind(args.ev_job)
            .bind(args.ev_types)
            .bind(args.ev_ids)
            .bind(args.ev_seqs)
            .bind(args.ev_event_types)
            .bind(args.ev_versions)
            .bind(args.ev_payloads)
            .bind(args.ev_metadata)
            .bind(args.kd_scopes)
            .bind(args.kd_keys)
            .bind(args.idem)
            .bind(args.idem_job)
            .bind(args.idem_kid)
            .bind(args.idem_hashes)
            .bind(args.idem_responses)
            .fetch_one(&mut *conn)
            .await?;
        conn.done();
        let committed: Vec<bool> = row.try_get(0)?;
        if committed.len() != jobs.len() {
            return Err(StoreError::Other(
                "append_jobs answered for the wrong number of jobs".into(),
            ));
        }
        if committed.contains(&true) {
            let tx: i64 = row.try_get("tx")?;
            self.committed.passed(crate::FeedPosition { tx, seq: 0 });
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
    type Turn = tokio::sync::OwnedSemaphorePermit;

    fn queue(&self) -> &Queue {
        &self.queue
    }

    async fn turn(&self) -> Self::Turn {
        // Never closed, so acquiring only waits.
        Arc::clone(&self.committers)
            .acquire_owned()
            .await
            .expect("the committers' semaphore is never closed")
    }

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

/// The arguments of `append_jobs`, one array per column (1-based
/// indexes, as SQL arrays count): the batch's distinct streams, sorted
/// (`sd_*`); each job's stream entries `st_from[j] ..= st_to[j]` (empty
/// when `to < from`), each naming its distinct stream (`st_sid`) and, if
/// written, its head after the job (`st_after`); every event with its job;
/// the distinct idempotency keys (`kd_*`); and each job's record (`idem[j]`,
/// 0: none) with its job and key.
#[derive(Default)]
struct BatchArgs {
    sd_types: Vec<String>,
    sd_ids: Vec<String>,
    sd_writes: Vec<bool>,
    st_from: Vec<i32>,
    st_to: Vec<i32>,
    st_sid: Vec<i32>,
    st_expected: Vec<i64>,
    st_writes: Vec<bool>,
    st_after: Vec<i64>,
    ev_job: Vec<i32>,
    ev_types: Vec<String>,
    ev_ids: Vec<String>,
    ev_seqs: Vec<i64>,
    ev_event_types: Vec<String>,
    ev_versions: Vec<String>,
    ev_payloads: Vec<Value>,
    ev_metadata: Vec<Value>,
    kd_scopes: Vec<String>,
    kd_keys: Vec<String>,
    idem: Vec<i32>,
    idem_job: Vec<i32>,
    idem_kid: Vec<i32>,
    idem_hashes: Vec<String>,
    idem_responses: Vec<Value>,
}

/// A stream entry before the distinct streams are numbered.
struct Entry<'a> {
    stream: (&'a str, &'a str),
    expected: i64,
    after: Option<i64>,
}

impl BatchArgs {
    fn of(jobs: &[Job]) -> Result<Self, StoreError> {
        let mut args = Self::default();
        let mut entries = Vec::new();
        let mut keys: BTreeMap<(&str, &str), i32> = BTreeMap::new();
        for (j, job) in jobs.iter().enumerate() {
            let job_number = index(j + 1)?;
            args.st_from.push(index(entries.len() + 1)?);
            let written: Vec<&StreamAppend> = job
                .appends
                .iter()
                .filter(|a| !a.events.is_empty())
                .collect();
            for append in &written {
                let expected = sequence(append.expected_sequence)?;
                let count = sequence(append.events.len())?;
                entries.push(Entry {
                    stream: (&append.aggregate_type, &append.aggregate_id),
                    expected,
                    after: Some(expected + count),
                });
                for (event, seq) in append.events.iter().zip(expected + 1..) {
                    args.ev_job.push(job_number);
                    args.ev_types.push(append.aggregate_type.clone());
                    args.ev_ids.push(append.aggregate_id.clone());
                    args.ev_seqs.push(seq);
                    args.ev_event_types.push(event.event_type.clone());
                    args.ev_versions.push(event.event_version.clone());
                    args.ev_payloads.push(event.payload.clone());
                    args.ev_metadata.push(event.metadata.clone());
                }
            }
            // A written stream is checked by its expected sequence already.
            for condition in &job.conditions {
                let is_written = written.iter().any(|a| {
                    a.aggregate_type == condition.aggregate_type
                        && a.aggregate_id == condition.aggregate_id
                });
                if !is_written {
                    entries.push(Entry {
                        stream: (&condition.aggregate_type, &condition.aggregate_id),
                        expected: sequence(condition.sequence)?,
                        after: None,
                    });
                }
            }
            args.st_to.push(index(entries.len())?);
            match &job.idempotency {
                Some(record) => {
                    let next = index(keys.len() + 1)?;
                    let kid = *keys
                        .entry((record.scope.as_str(), record.key.as_str()))
                        .or_insert(next);
                    args.idem_job.push(job_number);
                    args.idem_kid.push(kid);
                    args.idem_hashes.push(record.request_hash.clone());
                    args.idem_responses.push(record.response.clone());
                    args.idem.push(index(args.idem_job.len())?);
                }
                None => args.idem.push(0),
            }
        }
        // Distinct keys in the order their numbers were given.
        let mut distinct: Vec<_> = keys.into_iter().collect();
        distinct.sort_by_key(|(_, kid)| *kid);
        for ((scope, key), _) in distinct {
            args.kd_scopes.push(scope.to_owned());
            args.kd_keys.push(key.to_owned());
        }
        // Distinct streams in byte order (the order every fence locks in),
        // written if any job writes them.
        let mut streams: BTreeMap<(&str, &str), bool> = BTreeMap::new();
        for entry in &entries {
            *streams.entry(entry.stream).or_default() |= entry.after.is_some();
        }
        let mut numbers = BTreeMap::new();
        for (n, ((kind, id), writes)) in streams.into_iter().enumerate() {
            numbers.insert((kind, id), index(n + 1)?);
            args.sd_types.push(kind.to_owned());
            args.sd_ids.push(id.to_owned());
            args.sd_writes.push(writes);
        }
        for entry in entries {
            args.st_sid.push(numbers[&entry.stream]);
            args.st_expected.push(entry.expected);
            args.st_writes.push(entry.after.is_some());
            args.st_after.push(entry.after.unwrap_or(entry.expected));
        }
        Ok(args)
    }
}

fn sequence(n: usize) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(StoreError::other)
}

fn index(n: usize) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(StoreError::other)
}
