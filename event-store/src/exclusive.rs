//! [`Exclusive`]: a named lock held by one process at a time, for work that
//! must not run twice at once (a read model's rebuild fills one shadow
//! table). It is freed when the holder drops it, or dies.
//!
//! * Postgres: a session advisory lock on a connection of its own, taken
//!   with `pg_try_advisory_lock`. [`Exclusive::release`] unlocks it and
//!   closes the connection; a guard merely dropped does the same in a task
//!   of its own, so the lock is free a moment later (at the latest when the
//!   server sees the connection close).
//! * SQLite: an exclusive `flock` on `<database file>.<name>.lock`, which
//!   the kernel frees with the process. An in-memory database has no file;
//!   its lock is kept in the process (nothing else can open it anyway).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{AnyConnection, Connection};

use crate::StoreError;

/// Held while the named work runs; see the module doc.
pub struct Exclusive {
    held: Held,
}

/// The lock; the file's and the memory's are freed by their drop.
#[allow(dead_code)]
enum Held {
    /// `None` once released.
    Session(Option<AnyConnection>),
    File(std::fs::File),
    Memory(MemoryLock),
}

/// Unlocks a session lock and closes its connection.
async fn unlock(mut conn: AnyConnection) {
    let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
}

impl Exclusive {
    /// Frees the lock now: the next taker, in any process, gets it.
    pub async fn release(mut self) {
        if let Held::Session(conn) = &mut self.held {
            if let Some(conn) = conn.take() {
                unlock(conn).await;
            }
        }
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Held::Session(conn) = &mut self.held {
            if let (Some(conn), Ok(runtime)) = (conn.take(), tokio::runtime::Handle::try_current())
            {
                runtime.spawn(unlock(conn));
            }
        }
    }
}

/// Names locked in this process, for stores without a file.
struct MemoryLock {
    names: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// `Some` guard, or `None` while another holder has `name`.
pub(crate) async fn try_session_lock(
    pool: &sqlx::AnyPool,
    name: &str,
) -> Result<Option<Exclusive>, StoreError> {
    let mut conn = pool.acquire().await?.detach();
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(format!("ticketing:exclusive:{name}"))
        .fetch_one(&mut conn)
        .await?;
    if taken {
        Ok(Some(Exclusive {
            held: Held::Session(Some(conn)),
        }))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

pub(crate) fn try_file_lock(
    database: &std::path::Path,
    name: &str,
) -> Result<Option<Exclusive>, StoreError> {
    let mut path = database.as_os_str().to_owned();
    path.push(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(StoreError::other)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Exclusive {
            held: Held::File(file),
        })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(StoreError::other(error)),
    }
}

pub(crate) fn try_memory_lock(
    names: &Arc<Mutex<HashSet<String>>>,
    name: &str,
) -> Option<Exclusive> {
    let fresh = names
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_owned());
    fresh.then(|| Exclusive {
        held: Held::Memory(MemoryLock {
            names: Arc::clone(names),
            name: name.to_owned(),
        }),
    })
}
