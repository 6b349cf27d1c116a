//! Connections kept between the hot statements (loads, batches, feed
//! reads), given back without a round trip.
//!
//! sqlx 0.8 pings every connection it takes back into its pool (a `Sync`
//! and its `ReadyForQuery`, whatever `test_before_acquire` says): one more
//! round trip per statement on both sides, 7.6% of the engine's samples in
//! a purchase profile (docs/benchmarks.md, part 4). A statement run
//! through [`Keep::get`] and finished with [`Kept::done`] puts its
//! connection here instead, where the next statement takes it. A statement
//! that failed, or whose future was dropped, never calls `done`: its
//! connection goes back to the pool as before, and the ping decides
//! whether it lives.
//!
//! Kept connections still count against the pool's size, so the keep holds
//! at most all but two of them: the pool's other users (the feed listener,
//! transactions) always find one. A caller that finds the keep empty waits
//! for the pool or the keep, whichever gives a connection first, so a
//! connection kept while it waited is not lost to it.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Postgres;
use tokio::sync::Notify;

/// The kept connections of one pool.
pub(super) struct Keep {
    pool: PgPool,
    idle: Mutex<Vec<PoolConnection<Postgres>>>,
    returned: Notify,
    most: usize,
}

/// A connection lent by a [`Keep`]; dropped without [`Kept::done`], it goes
/// back to the pool.
pub(super) struct Kept<'k> {
    keep: &'k Keep,
    conn: Option<PoolConnection<Postgres>>,
}

impl Keep {
    /// A keep for `pool`, whose size is `max_connections`.
    pub(super) fn new(pool: PgPool, max_connections: u32) -> Keep {
        let most = usize::try_from(max_connections)
            .unwrap_or(usize::MAX)
            .saturating_sub(2);
        Keep {
            pool,
            idle: Mutex::default(),
            returned: Notify::new(),
            most,
        }
    }

    /// A kept connection, else the first one the pool or the keep gives.
    pub(super) async fn get(&self) -> Result<Kept<'_>, sqlx::Error> {
        loop {
            if let Some(conn) = self.lock().pop() {
                return Ok(self.lend(conn));
            }
            // A connection kept after the pop above leaves a permit, so
            // this wait cannot miss it.
            tokio::select! {
                conn = self.pool.acquire() => return Ok(self.lend(conn?)),
                () = self.returned.notified() => {}
            }
        }
    }

    fn lend(&self, conn: PoolConnection<Postgres>) -> Kept<'_> {
        Kept {
            keep: self,
            conn: Some(conn),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PoolConnection<Postgres>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().len()
    }
}

impl Kept<'_> {
    /// The statement completed: the connection is kept for the next one,
    /// or, when the keep is full, goes back to the pool.
    pub(super) fn done(mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut idle = self.keep.lock();
        if idle.len() < self.keep.most {
            idle.push(conn);
            drop(idle);
            self.keep.returned.notify_one();
        } else {
            drop(idle);
            drop(conn);
        }
    }
}

impl Deref for Kept<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a lent connection until done")
    }
}

impl DerefMut for Kept<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a lent connection until done")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::postgres::PgPoolOptions;

    use super::Keep;

    async fn pool(max: u32) -> sqlx::PgPool {
        let url = crate::testing::fresh_postgres_url().await;
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .expect("pool")
    }

    async fn pid(conn: &mut sqlx::PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
            .expect("pid")
    }

    /// A finished statement's connection serves the next one; one that
    /// was not finished goes back to the pool.
    #[tokio::test]
    async fn a_finished_statement_keeps_its_connection() {
        let keep = Keep::new(pool(4).await, 4);
        let mut first = keep.get().await.expect("get");
        let first_pid = pid(&mut first).await;
        first.done();
        assert_eq!(keep.kept(), 1);
        let mut again = keep.get().await.expect("get");
        assert_eq!(pid(&mut again).await, first_pid, "the kept connection");
        let failed = sqlx::query("SELECT no_such_column")
            .execute(&mut *again)
            .await;
        assert!(failed.is_err());
        drop(again);
        assert_eq!(
            keep.kept(),
            0,
            "a failed statement's connection is not kept"
        );
    }

    /// The keep never holds more than all but two of the pool's
    /// connections: the others are back in the pool, free for its other
    /// users.
    #[tokio::test]
    async fn the_keep_leaves_the_pool_two_connections() {
        let pool = pool(4).await;
        let keep = Keep::new(pool.clone(), 4);
        let mut lent = Vec::new();
        for _ in 0..4 {
            lent.push(keep.get().await.expect("get"));
        }
        for conn in lent {
            conn.done();
        }
        assert_eq!(keep.kept(), 2);
        let others = tokio::time::timeout(Duration::from_secs(5), async {
            (pool.acquire().await, pool.acquire().await)
        })
        .await
        .expect("the pool's other users are not starved");
        assert!(others.0.is_ok() && others.1.is_ok());
    }

    /// A caller waiting on a full pool gets the connection another caller
    /// keeps meanwhile, not the pool's acquire timeout.
    #[tokio::test]
    async fn a_waiting_caller_takes_a_connection_kept_meanwhile() {
        let pool = pool(3).await;
        let keep = Keep::new(pool.clone(), 3);
        let _listener = pool.acquire().await.expect("a connection held elsewhere");
        let a = keep.get().await.expect("get");
        let b = keep.get().await.expect("get");
        let waiting = keep.get();
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), &mut waiting)
                .await
                .is_err(),
            "the pool is full and nothing is kept"
        );
        a.done();
        let c = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the kept connection reaches the waiting caller")
            .expect("get");
        drop((b, c));
    }
}
