//! The Postgres global feed: events in commit order; the task that
//! announces this process's appends to the others, and the LISTEN task that
//! hears theirs.
//!
//! Announcements travel outside the appends: NOTIFY inside the appending
//! transaction takes, at commit, a lock global to the cluster, so commits
//! queued behind one another instead of overlapping their WAL flushes. An
//! append now only bumps a local signal; one task per store sends
//! `pg_notify` on its own connection, one at a time and at most one per
//! [`ANNOUNCE_EVERY`], so any number of appends meanwhile cost one more.
//! An append after a quiet spell is announced at once. The payload names the
//! sending store, whose own listener skips it: its readers were woken in
//! memory. Wake-ups are only hints (readers also poll), so the feed's
//! ordering proof below does not depend on them.
//!
//! Events are ordered by `(tx_id, global_seq)` and only those of transactions
//! below the snapshot's `xmin` are returned: every such transaction has ended,
//! so no event can later appear before a position already handed out. A
//! transaction still open holds back everything from its xid on, which is why
//! a long-open transaction anywhere in the cluster stalls the feed (expose
//! the lag). `tx` is sent as text because sqlx has no `xid8` type.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgRow};
use sqlx::Row;
use tokio::sync::watch;

use super::sql::{FEED_HEAD, READ_FEED, READ_FEED_OF};
use super::PgStore;
use crate::{FeedEvent, FeedPosition, StoreError};

/// The channel the events trigger notifies on every committed append.
const CHANNEL: &str = "event_store_feed";

/// How long the listener waits before reconnecting after an error.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The least time between two announcements: under load, a statement per
/// append batch (some 600 a second) becomes at most 200, and other
/// processes hear of an append at most this much later.
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_millis(5);

impl PgStore {
    /// The feed after `after`, of `aggregate_types` only if given.
    pub(crate) async fn read_feed(
        &self,
        after: FeedPosition,
        limit: usize,
        aggregate_types: Option<&[&str]>,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let query = sqlx::query(if aggregate_types.is_some() {
            READ_FEED_OF
        } else {
            READ_FEED
        })
        .bind(after.tx.to_string())
        .bind(after.seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let query = match aggregate_types {
            Some(types) => query.bind(types),
            None => query,
        };
        let mut conn = self.keep.get().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        conn.done();
        rows.iter().map(feed_event).collect()
    }

    pub(crate) async fn feed_head(&self) -> Result<FeedPosition, StoreError> {
        let mut conn = self.keep.get().await?;
        let row = sqlx::query(FEED_HEAD).fetch_optional(&mut *conn).await?;
        conn.done();
        match row {
            None => Ok(FeedPosition::START),
            Some(row) => Ok(FeedPosition {
                tx: row.try_get("tx")?,
                seq: row.try_get("global_seq")?,
            }),
        }
    }
}

fn feed_event(row: &PgRow) -> Result<FeedEvent, StoreError> {
    let global_seq: i64 = row.try_get("global_seq")?;
    Ok(FeedEvent {
        position: FeedPosition {
            tx: row.try_get("tx")?,
            seq: global_seq,
        },
        global_seq,
        recorded_at: row.try_get("recorded_at")?,
        event: std::sync::Arc::new(super::serialized_event(row)?),
    })
}

/// Starts listening before returning, so an append committed after
/// `connect` returns is never missed by a healthy listener; `origin` is the
/// payload of this store's own announcements, which it ignores.
pub(super) async fn spawn_listener(
    pool: &PgPool,
    waker: watch::Sender<u64>,
    origin: String,
) -> Result<(), StoreError> {
    let listener = subscribe(pool).await?;
    tokio::spawn(listen(pool.clone(), listener, waker, origin));
    Ok(())
}

/// Starts the task that announces appends: bump the returned sender after
/// each commit. The task ends when every sender is dropped.
pub(super) fn spawn_announcer(pool: &PgPool, origin: String) -> watch::Sender<u64> {
    let (appended, rx) = watch::channel(0u64);
    tokio::spawn(announce(pool.clone(), rx, origin));
    appended
}

async fn announce(pool: PgPool, mut appended: watch::Receiver<u64>, origin: String) {
    while appended.changed().await.is_ok() {
        // Seen before sending: an append during the NOTIFY sends another.
        appended.borrow_and_update();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&origin)
            .execute(&pool)
            .await;
        if let Err(error) = sent {
            if pool.is_closed() {
                return;
            }
            // Other processes still poll; try again with the next append.
            tracing::warn!(%error, "cannot announce appends to other processes");
            tokio::time::sleep(RECONNECT_DELAY).await;
            continue;
        }
        tokio::time::sleep(ANNOUNCE_EVERY).await;
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Runs until the store and every feed reader are gone. Every outcome wakes
/// readers: a notification means new events, and a lost connection means
/// notifications may have been missed. After an error the listener is
/// replaced, because sqlx only reconnects by itself for some I/O errors.
async fn listen(pool: PgPool, mut listener: PgListener, waker: watch::Sender<u64>, origin: String) {
    loop {
        let received = tokio::select! {
            _ = waker.closed() => return,
            received = listener.try_recv() => received,
        };
        let own = matches!(&received, Ok(Some(n)) if n.payload() == origin);
        if !own {
            waker.send_modify(|n| *n = n.wrapping_add(1));
        }
        let Err(err) = received else { continue };
        tracing::warn!(error = %err, "event feed listener failed; reconnecting");
        loop {
            if matches!(err, sqlx::Error::PoolClosed) || pool.is_closed() {
                return;
            }
            tokio::select! {
                _ = waker.closed() => return,
                _ = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
            match subscribe(&pool).await {
                Ok(fresh) => {
                    listener = fresh;
                    waker.send_modify(|n| *n = n.wrapping_add(1));
                    break;
                }
                Err(err) => tracing::warn!(error = %err, "event feed listener cannot reconnect"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sqlx::postgres::{PgListener, PgPoolOptions};

    use super::{spawn_announcer, ANNOUNCE_EVERY, CHANNEL};

    /// Appends in a steady stream share announcements (at most one per
    /// `ANNOUNCE_EVERY`), and the last of them is still announced.
    #[tokio::test]
    async fn a_stream_of_appends_is_announced_at_most_once_per_interval() {
        let url = crate::testing::fresh_postgres_url().await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("pool");
        let mut listener = PgListener::connect_with(&pool).await.expect("listener");
        listener.listen(CHANNEL).await.expect("listen");
        let appended = spawn_announcer(&pool, "test-origin".to_owned());

        const APPENDS: u64 = 200;
        let started = Instant::now();
        for n in 1..=APPENDS {
            appended.send_replace(n);
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let elapsed = started.elapsed();
        let mut heard = 0u32;
        while let Ok(Ok(notification)) =
            tokio::time::timeout(Duration::from_millis(500), listener.recv()).await
        {
            assert_eq!(notification.payload(), "test-origin");
            heard += 1;
        }
        // One at the first append, then at most one per interval, plus
        // the one for the appends of the last interval.
        let most = 2 + (elapsed.as_micros() / ANNOUNCE_EVERY.as_micros()) as u32;
        assert!(heard >= 1, "the appends were never announced");
        assert!(
            heard <= most,
            "{heard} announcements for {APPENDS} appends in {elapsed:?} (at most {most})"
        );
    }
}
