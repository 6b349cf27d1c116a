//! [`Store`] as a cqrs-es `PersistedEventRepository`, so single-stream
//! commands can use a plain `PersistedEventStore` on either backend.
//!
//! Pure event-store mode only: there are no snapshots (cqrs-es 0.5
//! double-applies events in aggregate/snapshot mode), so `get_snapshot` finds
//! none and a snapshot update is refused. `persist` is [`Store::append`] for
//! one stream, so it shares the append's conflict mapping and feed wakeups.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use serde_json::Value;

use crate::store::Db;
use crate::{NewEvent, SerializedEvent, Store, StoreError, StreamAppend};

#[derive(Debug, thiserror::Error)]
enum RepositoryError {
    #[error("snapshots are not supported: use the event store in pure event-store mode")]
    SnapshotsUnsupported,
    #[error("events passed to persist must be one stream with consecutive sequences")]
    NotOneStream,
}

impl From<StoreError> for PersistenceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => PersistenceError::OptimisticLockError,
            StoreError::Unavailable(e) => PersistenceError::ConnectionError(e),
            StoreError::Other(e) => PersistenceError::UnknownError(e),
        }
    }
}

impl PersistedEventRepository for Store {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.load::<A>(aggregate_id, 0).await?)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.load::<A>(aggregate_id, last_sequence).await?)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(unknown(RepositoryError::SnapshotsUnsupported));
        }
        let Some(first) = events.first() else {
            return Ok(());
        };
        let one_stream = events
            .iter()
            .zip(first.sequence..)
            .all(|(e, sequence)| e.aggregate_id == first.aggregate_id && e.sequence == sequence);
        if !one_stream || first.sequence == 0 {
            return Err(unknown(RepositoryError::NotOneStream));
        }
        let append = StreamAppend {
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: first.aggregate_id.clone(),
            expected_sequence: first.sequence - 1,
            events: events
                .iter()
                .map(|e| NewEvent {
                    event_type: e.event_type.clone(),
                    event_version: e.event_version.clone(),
                    payload: e.payload.clone(),
                    metadata: e.metadata.clone(),
                })
                .collect(),
        };
        Ok(self.append(&[append], None).await?)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        replay(self.load::<A>(aggregate_id, 0).await?).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let adapter = self.adapter();
        let events = match &adapter.db {
            Db::Postgres(s) => s.load_type(A::TYPE).await?,
            Db::Sqlite(s) => s.load_type(A::TYPE).await?,
        };
        replay(adapter.upcasters.upcast_all(events)).await
    }
}

/// A replay of events already in memory; the channel holds them all, so
/// pushing never waits for the consumer.
async fn replay(events: Vec<SerializedEvent>) -> Result<ReplayStream, PersistenceError> {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for event in events {
        feed.push(Ok(event)).await?;
    }
    Ok(stream)
}

fn unknown(err: RepositoryError) -> PersistenceError {
    PersistenceError::UnknownError(Box::new(err))
}
