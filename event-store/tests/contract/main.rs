//! The contract every event-store adapter must pass. Each test is a function
//! taking a fresh database URL; the macro below runs it once against
//! Postgres and once against SQLite, as `postgres::<name>` and
//! `sqlite::<name>`.

mod checkpoints;
mod conditions;
mod feed;
mod streams;
mod support;

macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let url = ticketing_event_store::testing::fresh_postgres_url().await;
                    crate::$module::$name(url).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let url = ticketing_event_store::testing::fresh_sqlite_url();
                    crate::$module::$name(url).await;
                }
            )*
        }
    };
}

on_both_backends!(
    streams::append_then_load_in_sequence_order,
    streams::stale_expected_sequence_conflicts_and_writes_nothing,
    streams::multi_stream_append_is_all_or_nothing,
    streams::a_large_append_is_all_or_nothing,
    streams::cqrs_repository_round_trip,
    streams::concurrent_migrations_succeed,
    streams::load_streams_reads_many_streams_at_once,
    streams::a_conflict_in_a_batch_fails_alone,
    feed::feed_delivers_every_event_once_in_commit_order,
    feed::feed_waker_changes_after_append,
    feed::followers_see_the_whole_feed_through_a_small_window,
    feed::skip_passes_over_unwanted_events_and_stops_at_a_wanted_one,
    feed::a_feed_of_some_types_delivers_each_of_them_once,
    checkpoints::checkpoint_commits_with_its_transaction,
    checkpoints::a_locked_checkpoint_waits_for_its_holder,
    checkpoints::locked_checkpoints_wait_for_their_holder,
    checkpoints::a_follower_reaches_a_write_bound_once_past_the_write,
    checkpoints::a_sharded_follower_reaches_a_bound_once_every_shard_has,
    checkpoints::read_your_writes_asks_the_feed_window_first,
    conditions::conditions_refuse_a_stream_that_moved,
    conditions::a_condition_and_a_writer_never_overlap,
);

/// Other crates run the store from spawned tasks, so every future it returns
/// must be `Send` (sqlx's generic executors make that easy to lose).
#[test]
fn store_futures_are_send() {
    use ticketing_event_store::{FeedPosition, Store};
    fn send<T: Send>(_: &T) {}
    fn check(store: &Store, conn: &mut sqlx::AnyConnection) {
        send(&Store::connect("sqlite::memory:"));
        send(&store.migrate());
        send(&store.load::<support::Seat>("id", 0));
        send(&store.append(&[], None));
        send(&store.idempotency("scope", "key"));
        send(&store.read_feed(0, FeedPosition::START, 1));
        send(&store.read_feed_of(&["Seat"], FeedPosition::START, 1));
        send(&store.feed_head(0));
        send(&store.begin_read_model());
        let backend = store.backend();
        send(&ticketing_event_store::load_checkpoint(
            conn, backend, "name", 0,
        ));
        send(&ticketing_event_store::lock_checkpoint(
            conn, backend, "key", "name", 0,
        ));
    }
    let _ = check;
}
