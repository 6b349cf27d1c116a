//! Group commit on SQLite (see `group.rs`): appends that wait for the
//! write lock at the same time commit together, in one transaction of a
//! few statements, each keeping its own outcome.
//!
//! Every append queues its job and then waits for the process's write turn.
//! Whoever gets the turn takes every queued job (its own, unless an earlier
//! turn already committed it) and commits them as one batch; then each
//! caller gets its own answer. SQLite has one writer, so under load the
//! queue fills while a batch commits, and the next batch takes it all: a
//! statement through sqlx's SQLite worker thread costs a thread hand-over
//! each way, and a batch costs about six of them however many appends it
//! holds, where one append alone cost five.
//!
//! **Each append all or nothing, on its own.** The batch runs under
//! `BEGIN IMMEDIATE`, so nothing else writes meanwhile: it reads the head
//! of every stream the jobs write or condition, and whether their
//! idempotency keys are taken, and then decides in order, as the jobs would
//! have committed one after another: a job whose stream moved past its
//! expected sequence (by the log or by an earlier job of the batch), whose
//! condition does not hold or whose key is taken fails alone with
//! [`StoreError::Conflict`]; the others' events are inserted, then the
//! transaction commits. Nobody is answered before the commit, so a crash
//! (kill -9) at any instant of a batch loses only unacknowledged appends,
//! and all of each. Should an insert fail anyway (the table's unique keys
//! stay the guarantee), the batch is rolled back and its jobs are committed
//! one by one.

use std::collections::{HashMap, HashSet};

use super::{SqliteStore, EVENT_COLUMNS};
use crate::group::{Commit, Job, Queue};
use crate::store::WriteTurn;
use crate::{IdempotencyRecord, StoreError, StreamAppend};

/// Rows per multi-row INSERT (seven parameters each; SQLite allows 32,766).
const INSERT_CHUNK: usize = 500;
/// Streams per head query (a compound SELECT allows 500 terms).
const HEADS_CHUNK: usize = 200;

type Stream = (String, String);

impl SqliteStore {
    /// Commits `jobs` in one transaction, each all or nothing (see the
    /// module doc). The caller holds the write turn.
    pub(crate) async fn commit_batch(
        &self,
        jobs: &[Job],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut streams: Vec<Stream> = jobs
            .iter()
            .flat_map(|job| {
                let written = job
                    .appends
                    .iter()
                    .filter(|a| !a.events.is_empty())
                    .map(|a| (a.aggregate_type.clone(), a.aggregate_id.clone()));
                let read = job
                    .conditions
                    .iter()
                    .map(|c| (c.aggregate_type.clone(), c.aggregate_id.clone()));
                written.chain(read)
            })
            .collect();
        streams.sort_unstable();
        streams.dedup();
        let mut heads: HashMap<Stream, i64> = HashMap::with_capacity(streams.len());
        for chunk in streams.chunks(HEADS_CHUNK) {
            let sql = vec![
                "SELECT ?, ?, coalesce(max(sequence), 0) FROM events WHERE aggregate_type = ? AND aggregate_id = ?";
                chunk.len()
            ]
            .join(" UNION ALL ");
            let mut query = sqlx::query_as::<_, (String, String, i64)>(&sql);
            for (kind, id) in chunk {
                query = query.bind(kind).bind(id).bind(kind).bind(id);
            }
            for (kind, id, head) in query.fetch_all(&mut *tx).await? {
                heads.insert((kind, id), head);
            }
        }
        let keys: Vec<Stream> = jobs
            .iter()
            .filter_map(|job| job.idempotency.as_ref())
            .map(|r| (r.scope.clone(), r.key.clone()))
            .collect();
        let mut taken: HashSet<Stream> = HashSet::new();
        for chunk in keys.chunks(HEADS_CHUNK) {
            let sql =
                vec!["SELECT scope, key FROM idempotency WHERE scope = ? AND key = ?"; chunk.len()]
                    .join(" UNION ALL ");
            let mut query = sqlx::query_as::<_, (String, String)>(&sql);
            for (scope, key) in chunk {
                query = query.bind(scope).bind(key);
            }
            taken.extend(query.fetch_all(&mut *tx).await?);
        }

        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut accepted = Vec::new();
        for job in jobs {
            if fits(job, &heads, &taken)? {
                for append in job.appends.iter().filter(|a| !a.events.is_empty()) {
                    let head = to_i64(append.expected_sequence + append.events.len())?;
                    heads.insert(
                        (append.aggregate_type.clone(), append.aggregate_id.clone()),
                        head,
                    );
                }
                if let Some(record) = &job.idempotency {
                    taken.insert((record.scope.clone(), record.key.clone()));
                }
                accepted.push(job);
                outcomes.push(Ok(()));
            } else {
                outcomes.push(Err(StoreError::Conflict));
            }
        }

        let last = insert_events(&mut tx, accepted.iter().flat_map(|job| &job.appends)).await?;
        let records: Vec<&IdempotencyRecord> = accepted
            .iter()
            .filter_map(|job| job.idempotency.as_ref())
            .collect();
        insert_records(&mut tx, &records).await?;
        crate::sqlite::crash_in_batch(jobs.len());
        tx.commit().await?;
        self.passed(last);
        Ok(outcomes)
    }
}

impl Commit for SqliteStore {
    type Turn = WriteTurn;

    fn queue(&self) -> &Queue {
        &self.queue
    }

    async fn turn(&self) -> WriteTurn {
        self.write_turn().await
    }

    async fn alone(&self, job: &Job) -> Result<(), StoreError> {
        self.append_in_turn(
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
        self.waker.wake();
    }
}

/// Inserts the events of `appends` after each one's expected sequence, in
/// multi-row statements of [`INSERT_CHUNK`] rows; a stream moved past its
/// expected sequence is a unique violation. Returns the last row id.
pub(super) async fn insert_events<'a>(
    tx: &mut sqlx::SqliteConnection,
    appends: impl IntoIterator<Item = &'a StreamAppend>,
) -> Result<Option<i64>, StoreError> {
    let mut rows = Vec::new();
    for append in appends {
        let first = to_i64(append.expected_sequence)?.saturating_add(1);
        for (event, sequence) in append.events.iter().zip(first..) {
            rows.push((append, event, sequence));
        }
    }
    let mut last = None;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES {values}");
        let mut query = sqlx::query(&sql);
        for (append, event, sequence) in chunk {
            query = query
                .bind(&append.aggregate_type)
                .bind(&append.aggregate_id)
                .bind(*sequence)
                .bind(&event.event_type)
                .bind(&event.event_version)
                .bind(serde_json::to_string(&event.payload)?)
                .bind(serde_json::to_string(&event.metadata)?);
        }
        last = Some(query.execute(&mut *tx).await?.last_insert_rowid());
    }
    Ok(last)
}

/// Inserts idempotency records in multi-row statements; a key taken is a
/// unique violation.
pub(super) async fn insert_records(
    tx: &mut sqlx::SqliteConnection,
    records: &[&IdempotencyRecord],
) -> Result<(), StoreError> {
    for chunk in records.chunks(INSERT_CHUNK) {
        let values = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql =
            format!("INSERT INTO idempotency (scope, key, request_hash, response) VALUES {values}");
        let mut query = sqlx::query(&sql);
        for record in chunk {
            query = query
                .bind(&record.scope)
                .bind(&record.key)
                .bind(&record.request_hash)
                .bind(serde_json::to_string(&record.response)?);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Whether `job` commits on top of `heads` and `taken`: every written
/// stream not past its expected sequence, every condition's stream at its
/// sequence, its idempotency key free.
fn fits(
    job: &Job,
    heads: &HashMap<Stream, i64>,
    taken: &HashSet<Stream>,
) -> Result<bool, StoreError> {
    let head = |kind: &str, id: &str| {
        heads
            .get(&(kind.to_owned(), id.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    for append in job.appends.iter().filter(|a| !a.events.is_empty()) {
        if head(&append.aggregate_type, &append.aggregate_id) > to_i64(append.expected_sequence)? {
            return Ok(false);
        }
    }
    for condition in &job.conditions {
        if head(&condition.aggregate_type, &condition.aggregate_id) != to_i64(condition.sequence)? {
            return Ok(false);
        }
    }
    Ok(job
        .idempotency
        .as_ref()
        .is_none_or(|r| !taken.contains(&(r.scope.clone(), r.key.clone()))))
}

fn to_i64(n: usize) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(StoreError::other)
}
