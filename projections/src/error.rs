//! Errors of the read side.

use ticketing_event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read model query failed: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("event {global_seq} ({event_type}) has a payload this projection cannot read: {source}")]
    Payload {
        global_seq: i64,
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("corrupt read model row: {0}")]
    Corrupt(String),
}
