//! Errors of the read side.

use ticketing_event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read model query failed: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(
        "event {global_seq} ({event_type}) has a payload this projection cannot read: {source}"
    )]
    Payload {
        global_seq: i64,
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("corrupt read model row: {0}")]
    Corrupt(String),
    /// Another rebuild or drift check of the same read model is running
    /// (in this process or another): they would fill one shadow table.
    #[error(
        "a rebuild or drift check of {0} is already running; wait for it to end, then try again"
    )]
    AlreadyRunning(&'static str),
    /// The task that applied a batch panicked (a bug); its transaction
    /// rolled back.
    #[error("the batch task failed: {0}")]
    BatchPanicked(String),
}

impl ProjectionError {
    /// Whether the database was busy, unreachable or restarting (worth a
    /// retry, [`ticketing_event_store::is_transient`]), as opposed to a bug
    /// or corrupt data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ProjectionError::Store(StoreError::Unavailable(_)) => true,
            ProjectionError::Sql(err) => ticketing_event_store::is_transient(err),
            _ => false,
        }
    }
}
