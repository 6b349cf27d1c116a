//! [`Exclusive`]: a named lock held by one process at a time, for work that
//! must not run twice at once (a read model's rebuild fills one shadow
//! table). It is freed when the holder drops it, or dies.
//!
//! * Postgres: a session advisory lock on a connection of its own, taken
//!   with `pg_try_advisory_lock`; dropping the guard closes the connection,
//!   which ends the session and its lock.
//! * SQLite: an exclusive `flock` on `<database file>.<name>.lock`, which
//!   the kernel frees with the process. An in-memory database has no file;
//!   its lock is kept in the process (nothing else can open it anyway).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{AnyConnection, Connection};

use crate::StoreError;

/// Held while the named work runs; see the module doc.
pub struct Exclusive {
    _held: Held,
}

/// Each variant is kept for its drop, which frees the lock.
#[allow(dead_code)]
enum Held {
    Session(AnyConnection),
    File(std::fs::File),
    Memory(MemoryLock),
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
            _held: Held::Session(conn),
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
            _held: Held::File(file),
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
        _held: Held::Memory(MemoryLock {
            names: Arc::clone(names),
            name: name.to_owned(),
        }),
    })
}
