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
    /// A projector shard whose count differs from the one the model's
    /// checkpoints are laid out for (`layout.rs`): it writes nothing.
    #[error(
        "{name} is kept by {} but this projector is shard {asked}; \
         to change the count, stop its projectors and run \
         `ticketing projections rebuild {name} --shards {}` (docs/operations.md)",
        kept_by(found),
        asked.count()
    )]
    ShardLayout {
        name: &'static str,
        /// The shards that have a checkpoint.
        found: Vec<i32>,
        asked: crate::Shard,
    },
    #[error(transparent)]
    Shard(#[from] crate::BadShard),
    /// A model kept whole was asked to be split among shards.
    #[error("{0} is kept whole by shard 0; only seat_map is split among projector shards")]
    NotSharded(&'static str),
    /// A projector shard started while a rebuild was changing the count.
    #[error("the projector shards of {0} changed during the rebuild; run it again")]
    LayoutChanged(&'static str),
}

/// `2 shards (0/2, 1/2)`, or the odd rows as they are.
fn kept_by(found: &[i32]) -> String {
    let consecutive = found.iter().enumerate().all(|(k, s)| *s == k as i32);
    match found.len() {
        0 => "no shard yet".to_owned(),
        n if consecutive && n == 1 => "one projector (shard 0/1)".to_owned(),
        n if consecutive => format!("{n} shards (0/{n} to {}/{n})", n - 1),
        _ => format!("the checkpoints of shards {found:?}"),
    }
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
