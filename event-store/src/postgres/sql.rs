//! The SQL of the Postgres adapter: the schema `migrate` creates and the
//! statements of loads and appends, kept apart from the code that runs them.

/// The heads of the streams named by two text arrays, in their order
/// (0 for a stream with no events): the FROM part of a query whose select
/// list is `array_agg(coalesce(h.sequence, 0) ORDER BY s.n)`. The LATERAL
/// subquery is ordered like the primary key, so it stays an index scan at
/// any log size (tested below).
macro_rules! heads_of {
    ($types:literal, $ids:literal) => {
        concat!(
            "FROM unnest(",
            $types,
            ", ",
            $ids,
            ") WITH ORDINALITY AS s(t, i, n) ",
            "LEFT JOIN LATERAL (SELECT e.sequence FROM event_store.events e ",
            "WHERE e.aggregate_type = s.t AND e.aggregate_id = s.i ",
            "ORDER BY e.sequence DESC LIMIT 1) h ON true"
        )
    };
}

/// Set on every connection of the event pool: the command path's
/// statements are written so that their generic plan is an index lookup at
/// any log size (tested below), so planning them again on every call, as
/// the default `auto` mode may keep doing, is pure cost (0.37 against
/// 0.25 ms per `LOAD_STREAMS` call under a 32-client purchase run).
pub(super) const EVENT_SESSION: &str = "SET plan_cache_mode = force_generic_plan";

/// Begins a transaction whose statements are planned for their arguments
/// on every call: read-model updates (their tables start empty, and a
/// generic plan made then keeps scanning them as they grow) and replays by
/// type. One simple-protocol round trip, like a plain `BEGIN`.
pub(crate) const BEGIN_CUSTOM_PLANS: &str = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan";

/// One statement each: sqlx runs them as prepared statements, whose
/// futures stay `Send` (`raw_sql`'s do not, which breaks `tokio::spawn`).
pub(crate) const SCHEMA: &[&str] = &[
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
    // Appends used to NOTIFY from a trigger, inside their transaction; the
    // store now announces them afterwards (see `feed.rs`).
    r#"DROP TRIGGER IF EXISTS events_notify_feed ON event_store.events"#,
    r#"DROP FUNCTION IF EXISTS event_store.notify_feed()"#,
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
            -- Ordered like the primary key: the cached plan is an index
            -- scan however small the log was when it was made.
            SELECT coalesce((SELECT sequence FROM event_store.events
                              WHERE aggregate_type = types[i] AND aggregate_id = ids[i]
                              ORDER BY sequence DESC LIMIT 1), 0)
              INTO current;
            IF current <> expected[i] THEN
                RAISE unique_violation USING MESSAGE = 'stream ' || types[i] || '/' || ids[i] || ' moved past its condition';
            END IF;
        END IF;
    END LOOP;
    RETURN true;
END
$$"#,
    // The first batch function decided job by job with a query per stream
    // and an insert per job; `append_jobs` replaced it.
    r#"DROP FUNCTION IF EXISTS event_store.append_batch(int, int[], int[], text[], text[], bigint[], boolean[], int[], int[], text[], text[], bigint[], text[], text[], jsonb[], jsonb[], int[], text[], text[], text[], jsonb[])"#,
    // A batch of appends (see `batch.rs`), each all or nothing on its own,
    // in a fixed number of statements whatever its size. The batch's
    // distinct streams (`sd_*`, sorted in the byte order `fence` uses) are
    // locked first, exclusively if a job writes them; then one query reads
    // their heads and one the idempotency keys already taken, each with a
    // fresh snapshot that sees every commit before the locks. The jobs are
    // decided in order on those arrays, a committed job moving its streams'
    // heads (`st_after`) and taking its key for the jobs after it; last, one
    // insert writes the events of every committed job (`ev_job`) and one
    // their idempotency records. Returns which jobs committed.
    concat!(
        r#"CREATE OR REPLACE FUNCTION event_store.append_jobs(
    jobs int,
    sd_types text[], sd_ids text[], sd_writes boolean[],
    st_from int[], st_to int[], st_sid int[], st_expected bigint[], st_writes boolean[], st_after bigint[],
    ev_job int[], ev_types text[], ev_ids text[], ev_seqs bigint[],
    ev_event_types text[], ev_versions text[], ev_payloads jsonb[], ev_metadata jsonb[],
    kd_scopes text[], kd_keys text[],
    idem int[], idem_job int[], idem_kid int[], idem_hashes text[], idem_responses jsonb[])
RETURNS boolean[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ok boolean[] := array_fill(true, ARRAY[jobs]);
    head bigint[];
    taken boolean[];
    r int;
BEGIN
    FOR k IN 1 .. coalesce(array_length(sd_types, 1), 0) LOOP
        IF sd_writes[k] THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(sd_types[k] || '/' || sd_ids[k], 0));
        ELSE
            PERFORM pg_advisory_xact_lock_shared(hashtextextended(sd_types[k] || '/' || sd_ids[k], 0));
        END IF;
    END LOOP;
    SELECT array_agg(coalesce(h.sequence, 0) ORDER BY s.n) INTO head
     "#,
        heads_of!("sd_types", "sd_ids"),
        r#";
    SELECT array_agg(EXISTS (SELECT 1 FROM event_store.idempotency d
                              WHERE d.scope = s.sc AND d.key = s.k) ORDER BY s.n) INTO taken
      FROM unnest(kd_scopes, kd_keys) WITH ORDINALITY AS s(sc, k, n);
    FOR j IN 1 .. jobs LOOP
        FOR k IN st_from[j] .. st_to[j] LOOP
            IF (st_writes[k] AND head[st_sid[k]] > st_expected[k])
               OR (NOT st_writes[k] AND head[st_sid[k]] <> st_expected[k]) THEN
                ok[j] := false;
                EXIT;
            END IF;
        END LOOP;
        r := idem[j];
        IF ok[j] AND r > 0 AND taken[idem_kid[r]] THEN
            ok[j] := false;
        END IF;
        IF ok[j] THEN
            FOR k IN st_from[j] .. st_to[j] LOOP
                IF st_writes[k] THEN
                    head[st_sid[k]] := st_after[k];
                END IF;
            END LOOP;
            IF r > 0 THEN
                taken[idem_kid[r]] := true;
            END IF;
        END IF;
    END LOOP;
    INSERT INTO event_store.events
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    SELECT e.t, e.i, e.s, e.et, e.v, e.p, e.m
      FROM unnest(ev_job, ev_types, ev_ids, ev_seqs, ev_event_types, ev_versions, ev_payloads, ev_metadata)
           AS e(j, t, i, s, et, v, p, m)
     WHERE ok[e.j];
    INSERT INTO event_store.idempotency (scope, key, request_hash, response)
    SELECT kd_scopes[d.kid], kd_keys[d.kid], d.h, d.resp
      FROM unnest(idem_job, idem_kid, idem_hashes, idem_responses) AS d(j, kid, h, resp)
     WHERE ok[d.j];
    RETURN ok;
END
$$"#
    ),
    r#"CREATE TABLE IF NOT EXISTS event_store.checkpoints (
    name text NOT NULL,
    shard int NOT NULL,
    tx bigint NOT NULL,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, shard)
)"#,
    // A consumer's batch begins by taking its checkpoint's lock and reading
    // the checkpoint: one statement. The read after the lock is a statement
    // of its own in this volatile function, so its fresh snapshot sees the
    // checkpoint the previous holder committed.
    r#"CREATE OR REPLACE FUNCTION event_store.lock_checkpoint(
    lock_key text, cp_name text, cp_shard int, OUT tx bigint, OUT seq bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(lock_key));
    SELECT c.tx, c.seq INTO tx, seq
      FROM event_store.checkpoints c
     WHERE c.name = cp_name AND c.shard = cp_shard;
END
$$"#,
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
 WHERE (SELECT event_store.fence($8::text[], $9::text[], $10::bigint[]))
RETURNING tx_id::text::bigint AS tx";

pub(super) const INSERT_IDEMPOTENCY: &str = "
INSERT INTO event_store.idempotency (scope, key, request_hash, response) VALUES ($1, $2, $3, $4)";

/// The events of several streams, each after its own sequence, tagged with
/// the stream's place in the request.
///
/// Each stream is a LATERAL subquery ordered like the primary key, so the
/// only plan is one primary-key range scan per stream. A plain join left
/// the planner free to pick a hash join over a sequential scan of the log,
/// and a prepared statement keeps the plan it picked on an empty table:
/// 390 ms per call on a 1,000,000-event log instead of 0.1 ms.
pub(super) const LOAD_STREAMS: &str = "
SELECT k.stream_index, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
  FROM UNNEST($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(aggregate_type, aggregate_id, after_sequence, stream_index)
 CROSS JOIN LATERAL (
    SELECT * FROM event_store.events e
     WHERE e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id
       AND e.sequence > k.after_sequence
     ORDER BY e.aggregate_type, e.aggregate_id, e.sequence) e
 ORDER BY k.stream_index, e.sequence";

/// The events of the given streams recorded at or before `$3`, by stream
/// then sequence (time travel): index lookups on the primary key, however
/// large the log.
pub(super) const HISTORY_OF: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM event_store.events
 WHERE aggregate_type = $1 AND aggregate_id = ANY($2::text[]) AND recorded_at <= $3
 ORDER BY aggregate_id, sequence";

/// Every event of one aggregate type, in log order (cqrs-es's replay of
/// all aggregates of a type; not on any command path).
pub(super) const LOAD_TYPE: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM event_store.events
 WHERE aggregate_type = $1
 ORDER BY global_seq";

/// A batch of appends in one statement, so one transaction (see `batch.rs`).
pub(super) const APPEND_BATCH: &str = "
SELECT event_store.append_jobs($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25),
       pg_current_xact_id()::text::bigint AS tx";

/// Events and the idempotency record in one statement (so one transaction).
pub(super) const INSERT_EVENTS_AND_IDEMPOTENCY: &str = "
WITH appended AS (
    INSERT INTO event_store.events
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
     WHERE (SELECT event_store.fence($8::text[], $9::text[], $10::bigint[]))
    RETURNING tx_id
)
INSERT INTO event_store.idempotency (scope, key, request_hash, response) VALUES ($11, $12, $13, $14)
RETURNING (SELECT max(tx_id)::text::bigint FROM appended) AS tx";

/// The feed after a position, in commit order: only transactions below the
/// snapshot's `xmin` (see `feed.rs`), through `events_feed_idx`.
pub(super) const READ_FEED: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
       tx_id::text::bigint AS tx, global_seq, recorded_at
  FROM event_store.events
 WHERE (tx_id, global_seq) > ($1::text::xid8, $2)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx_id, global_seq
 LIMIT $3";

/// [`READ_FEED`] of some aggregate types only (`$4`), still in feed
/// order through `events_feed_idx`: the other events are passed over by
/// the server.
pub(super) const READ_FEED_OF: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
       tx_id::text::bigint AS tx, global_seq, recorded_at
  FROM event_store.events
 WHERE (tx_id, global_seq) > ($1::text::xid8, $2)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
   AND aggregate_type = ANY($4::text[])
 ORDER BY tx_id, global_seq
 LIMIT $3";

/// The last position [`READ_FEED`] would return from the start.
pub(super) const FEED_HEAD: &str = "
SELECT tx_id::text::bigint AS tx, global_seq
  FROM event_store.events
 WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx_id DESC, global_seq DESC
 LIMIT 1";

/// A projector's batch begins by taking its shard's lock and reading every
/// shard's checkpoint of its model (the layout, `projections/src/layout.rs`):
/// one statement, as [`lock_checkpoint`](crate::lock_checkpoint) is for one
/// checkpoint. Migration 2 of the event store.
pub(crate) const LOCK_CHECKPOINTS: &str = r#"CREATE OR REPLACE FUNCTION event_store.lock_checkpoints(
    lock_key text, cp_name text)
RETURNS TABLE (shard int, tx bigint, seq bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(lock_key));
    RETURN QUERY
        SELECT c.shard, c.tx, c.seq
          FROM event_store.checkpoints c
         WHERE c.name = cp_name
         ORDER BY c.shard;
END
$$"#;

#[cfg(test)]
mod tests {
    //! The command path's reads stay index lookups on a log that grew after
    //! their plan was made: a prepared statement keeps the generic plan it
    //! got on an empty table, and the statistics of a log growing during an
    //! on-sale lag far behind it.

    use sqlx::{Connection, Executor, PgConnection};

    /// The plan `statement` (with `$1`-`$3` as in LOAD_STREAMS) keeps after
    /// its generic plan was made on an empty log that then grew to 300,000
    /// events without new statistics.
    async fn plan_after_growth(statement: &str, args: &str) -> String {
        let url = crate::testing::fresh_postgres_url().await;
        let store = crate::Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let mut conn = PgConnection::connect(&url).await.expect("connection");
        conn.execute("ALTER TABLE event_store.events SET (autovacuum_enabled = false)")
            .await
            .expect("no autovacuum");
        conn.execute(super::EVENT_SESSION)
            .await
            .expect("the event pool's session");
        conn.execute(format!("PREPARE probe AS {statement}").as_str())
            .await
            .expect("prepare");
        conn.execute(format!("EXECUTE probe{args}").as_str())
            .await
            .expect("planned on an empty log");
        conn.execute(
            "INSERT INTO event_store.events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT 'Seat', 's_' || (g / 5), (g % 5) + 1, 'SeatHeld', '1', '{}', '{}' \
             FROM generate_series(0, 299999) g",
        )
        .await
        .expect("grow the log");
        let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN EXECUTE probe{args}"))
            .fetch_all(&mut conn)
            .await
            .expect("explain");
        lines(rows)
    }

    /// The lines of an `EXPLAIN`, as one text.
    fn lines(rows: Vec<(String,)>) -> String {
        rows.into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn loading_streams_never_scans_the_log() {
        let plan = plan_after_growth(
            super::LOAD_STREAMS,
            "(ARRAY['Seat','Seat'], ARRAY['s_10','s_20'], ARRAY[0,0]::bigint[])",
        )
        .await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(plan.contains("Index Scan using events_pkey"), "{plan}");
    }

    /// The head lookup of `append_jobs`, run as a prepared statement.
    #[tokio::test]
    async fn a_batch_reads_its_heads_without_scanning_the_log() {
        let statement = concat!(
            "SELECT array_agg(coalesce(h.sequence, 0) ORDER BY s.n) ",
            heads_of!("$1::text[]", "$2::text[]")
        );
        let plan =
            plan_after_growth(statement, "(ARRAY['Seat','Seat'], ARRAY['s_10','s_20'])").await;
        assert!(!plan.contains("Seq Scan on events"), "{plan}");
        assert!(plan.contains("events_pkey"), "{plan}");
    }

    /// Time travel reads a show's seat streams by their ids.
    #[tokio::test]
    async fn history_reads_its_streams_without_scanning_the_log() {
        let plan = plan_after_growth(
            super::HISTORY_OF,
            "('Seat', ARRAY['s_10/A-1','s_20/A-1'], now())",
        )
        .await;
        assert!(!plan.contains("Seq Scan on events"), "{plan}");
        // The stream ids are part of the index condition, not a filter run
        // over every Seat event.
        let condition = plan
            .lines()
            .find(|line| line.contains("Index Cond"))
            .unwrap_or_default();
        assert!(condition.contains("aggregate_id = ANY"), "{plan}");
    }

    /// Followers and the tail read the feed after a recent position and ask
    /// for the head (lag metrics): both walk `events_feed_idx` from an end.
    #[tokio::test]
    async fn reading_the_feed_never_scans_the_log() {
        let plan = plan_after_growth(super::READ_FEED, "('0', 299000, 256)").await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(plan.contains("events_feed_idx"), "{plan}");
        let plan =
            plan_after_growth(super::READ_FEED_OF, "('0', 299000, 256, ARRAY['Show'])").await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(plan.contains("events_feed_idx"), "{plan}");
        let plan = plan_after_growth(super::FEED_HEAD, "").await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(plan.contains("events_feed_idx"), "{plan}");
    }

    /// The event pool's sessions plan once per statement (the statements
    /// above are written for it); a read-model transaction plans each call
    /// for its arguments (`SET LOCAL`: its connection goes back to the
    /// pool's default).
    #[tokio::test]
    async fn the_log_and_the_read_models_plan_as_their_statements_need() {
        let url = crate::testing::fresh_postgres_url().await;
        let store = crate::Store::connect(&url).await.expect("connect");
        let pg = super::super::PgStore::connect(&url).await.expect("connect");
        let mode = "SELECT current_setting('plan_cache_mode')";
        let mut conn = pg.pool().acquire().await.expect("event connection");
        let (event_mode,): (String,) = sqlx::query_as(mode)
            .fetch_one(&mut *conn)
            .await
            .expect("event pool mode");
        assert_eq!(event_mode, "force_generic_plan");
        let mut tx = store.begin_read_model().await.expect("read-model tx");
        let (read_model_mode,): (String,) = sqlx::query_as(mode)
            .fetch_one(&mut *tx)
            .await
            .expect("read-model mode");
        assert_eq!(read_model_mode, "force_custom_plan");
        tx.commit().await.expect("commit");
    }

    /// A projector's multi-row update (a batch of 32 changes), prepared on
    /// an empty read-model table that then grew (no new statistics):
    /// inside `Store::begin_read_model` it still finds its rows by key. The
    /// generic plan Postgres settles on after five calls on the empty table
    /// is a hash join over a scan of the whole table, kept as it grows.
    #[tokio::test]
    async fn a_read_model_update_finds_its_rows_by_key_after_the_table_grew() {
        let url = crate::testing::fresh_postgres_url().await;
        let store = crate::Store::connect(&url).await.expect("connect");
        let rows = 32;
        let values: Vec<String> = (0..rows)
            .map(|i| {
                format!(
                    "(CAST(${} AS TEXT), CAST(${} AS TEXT))",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        let args: Vec<String> = (0..rows).map(|i| format!("'h{i}', 'RELEASED'")).collect();
        let execute = format!("EXECUTE probe({})", args.join(", "));
        let mut statements = vec![
            "CREATE TABLE holds (hold_id text PRIMARY KEY, status text NOT NULL) \
             WITH (autovacuum_enabled = false)"
                .to_owned(),
            format!(
                "PREPARE probe AS WITH v (hold_id, status) AS (VALUES {}) \
                 UPDATE holds AS t SET status = v.status FROM v WHERE t.hold_id = v.hold_id",
                values.join(", ")
            ),
        ];
        statements.extend(std::iter::repeat_n(execute.clone(), 6));
        statements.push(
            "INSERT INTO holds SELECT 'h' || g, 'ACTIVE' FROM generate_series(1, 200000) g"
                .to_owned(),
        );
        let mut tx = store.begin_read_model().await.expect("read-model tx");
        for statement in &statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .expect(statement);
        }
        let plan: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {execute}"))
            .fetch_all(&mut *tx)
            .await
            .expect("explain");
        let plan = lines(plan);
        assert!(!plan.contains("Seq Scan on holds"), "{plan}");
        assert!(plan.contains("holds_pkey"), "{plan}");
    }

    /// A replay of one aggregate type: the few events of a rare type are a
    /// primary-key range, not a scan and sort of the whole log. A generic
    /// plan (the event pool's mode) would have to serve every type alike
    /// and scans.
    #[tokio::test]
    async fn replaying_a_rare_type_reads_only_its_events() {
        let url = crate::testing::fresh_postgres_url().await;
        let store = crate::Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let pg = super::super::PgStore::connect(&url).await.expect("connect");
        for statement in [
            "INSERT INTO event_store.events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT 'Seat', 's_' || (g / 5), (g % 5) + 1, 'SeatHeld', '1', '{}', '{}' \
             FROM generate_series(0, 199999) g",
            "INSERT INTO event_store.events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT 'Show', 'show_' || g, 1, 'ShowScheduled', '1', '{}', '{}' \
             FROM generate_series(1, 3) g",
            "ANALYZE event_store.events",
        ] {
            sqlx::query(statement)
                .execute(pg.pool())
                .await
                .expect(statement);
        }
        let shows = pg.load_type("Show").await.expect("replay");
        let ids: Vec<&str> = shows.iter().map(|e| e.aggregate_id.as_str()).collect();
        assert_eq!(ids, ["show_1", "show_2", "show_3"]);

        let plan_in = |begin: &'static str| {
            let pool = pg.pool().clone();
            async move {
                let mut tx = pool.begin_with(begin).await.expect("begin");
                let statement = format!("PREPARE probe AS {}", super::LOAD_TYPE);
                sqlx::query(&statement)
                    .execute(&mut *tx)
                    .await
                    .expect("prepare");
                let plan: Vec<(String,)> = sqlx::query_as("EXPLAIN EXECUTE probe('Show')")
                    .fetch_all(&mut *tx)
                    .await
                    .expect("explain");
                sqlx::query("DEALLOCATE probe")
                    .execute(&mut *tx)
                    .await
                    .expect("deallocate");
                lines(plan)
            }
        };
        let custom = plan_in(super::BEGIN_CUSTOM_PLANS).await;
        assert!(!custom.contains("Seq Scan"), "{custom}");
        assert!(custom.contains("events_pkey"), "{custom}");
        // What the replay is kept from: the pool's own plan for any type.
        let generic = plan_in("BEGIN").await;
        assert!(generic.contains("Seq Scan on events"), "{generic}");
    }
}
