//! The SQL of the Postgres adapter: the schema `migrate` creates and the
//! statements of loads and appends, kept apart from the code that runs them.

/// One statement each: sqlx runs them as prepared statements, whose
/// futures stay `Send` (`raw_sql`'s do not, which breaks `tokio::spawn`).
pub(super) const SCHEMA: &[&str] = &[
    r#"CREATE SCHEMA IF NOT EXISTS event_store"#,
    r#"CREATE TABLE IF NOT EXISTS event_store.events (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    sequence bigint NOT NULL CHECK (sequence > 0),
    event_type text NOT NULL,
    event_version text NOT NULL,
    payload jsonb NOT NULL,
    metadata jsonb NOT NULL,
    global_seq bigint GENERATED ALWAYS AS IDENTITY,
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
)"#,
    r#"CREATE INDEX IF NOT EXISTS events_feed_idx ON event_store.events (tx_id, global_seq)"#,
    r#"CREATE OR REPLACE FUNCTION event_store.notify_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit, and collapsed to one per transaction.
    PERFORM pg_notify('event_store_feed', '');
    RETURN NULL;
END
$$"#,
    r#"CREATE OR REPLACE TRIGGER events_notify_feed
    AFTER INSERT ON event_store.events
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.notify_feed()"#,
    // The fence of an append (see `StreamCondition`): an exclusive advisory
    // lock on every stream it writes (expected = -1) and, for every
    // condition, a shared lock and then the check. Each statement of a
    // volatile function takes a fresh snapshot, so the check sees a writer
    // that committed while this transaction waited for its lock. Callers
    // pass the streams sorted, so two appends lock in the same order.
    r#"CREATE OR REPLACE FUNCTION event_store.fence(types text[], ids text[], expected bigint[])
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    current bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(types, 1), 0) LOOP
        IF expected[i] < 0 THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(types[i] || '/' || ids[i], 0));
        ELSE
            PERFORM pg_advisory_xact_lock_shared(hashtextextended(types[i] || '/' || ids[i], 0));
            SELECT coalesce(max(sequence), 0) INTO current FROM event_store.events
             WHERE aggregate_type = types[i] AND aggregate_id = ids[i];
            IF current <> expected[i] THEN
                RAISE unique_violation USING MESSAGE = 'stream ' || types[i] || '/' || ids[i] || ' moved past its condition';
            END IF;
        END IF;
    END LOOP;
    RETURN true;
END
$$"#,
    r#"CREATE TABLE IF NOT EXISTS event_store.checkpoints (
    name text NOT NULL,
    shard int NOT NULL,
    tx bigint NOT NULL,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, shard)
)"#,
    r#"CREATE TABLE IF NOT EXISTS event_store.idempotency (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
)"#,
];

/// postgres-es's event insert, taking one array per column so that a whole
/// append is one statement and one round trip.
///
/// The fence (`$8`–`$10`) is an uncorrelated subquery, so it runs once,
/// before the first row is inserted.
pub(super) const INSERT_EVENTS: &str = "
INSERT INTO event_store.events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
 WHERE (SELECT event_store.fence($8::text[], $9::text[], $10::bigint[]))";

pub(super) const INSERT_IDEMPOTENCY: &str = "
INSERT INTO event_store.idempotency (scope, key, request_hash, response) VALUES ($1, $2, $3, $4)";

/// The events of several streams, each after its own sequence, tagged with
/// the stream's place in the request.
pub(super) const LOAD_STREAMS: &str = "
SELECT k.stream_index, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
  FROM UNNEST($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(aggregate_type, aggregate_id, after_sequence, stream_index)
  JOIN event_store.events e
    ON e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id AND e.sequence > k.after_sequence
 ORDER BY k.stream_index, e.sequence";

/// Events and the idempotency record in one statement (so one transaction).
pub(super) const INSERT_EVENTS_AND_IDEMPOTENCY: &str = "
WITH appended AS (
    INSERT INTO event_store.events
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
     WHERE (SELECT event_store.fence($8::text[], $9::text[], $10::bigint[]))
    RETURNING 1
)
INSERT INTO event_store.idempotency (scope, key, request_hash, response) VALUES ($11, $12, $13, $14)";
