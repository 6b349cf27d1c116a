//! What tests look at: request helpers (bearer tokens) and probes of the
//! answers (ErrorInfo reasons, BadRequest fields) and of the log itself.

use ticketing_event_store::Store;

/// Wraps a message with a bearer token.
pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// Wraps a message with a bearer token and an `idempotency-key`.
pub fn keyed<T>(token: &str, key: &str, message: T) -> tonic::Request<T> {
    let mut request = authed(token, message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().expect("ascii"));
    request
}

/// The ErrorInfo reason of a status, if any.
pub fn reason(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|info| info.reason)
}

/// The fields named by a status's BadRequest violations.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// How many events of `aggregate_type` the log holds for `aggregate_id`
/// with the given event type.
pub async fn count_events<A: cqrs_es::Aggregate>(
    store: &Store,
    aggregate_id: &str,
    event_type: &str,
) -> usize {
    store
        .load::<A>(aggregate_id, 0)
        .await
        .expect("load")
        .iter()
        .filter(|e| e.event_type == event_type)
        .count()
}

/// Every event the log holds, in append order: (aggregate type, id, event
/// type). Read from the table itself, not the global feed: the feed may hold
/// back a just-committed event while any older transaction on the server is
/// open (other tests' databases included), and tests want what was written.
pub async fn log(store: &Store) -> Vec<(String, String, String)> {
    log_with_payloads(store)
        .await
        .into_iter()
        .map(|e| (e.aggregate_type, e.aggregate_id, e.event_type))
        .collect()
}

/// One event as [`log_with_payloads`] reads it.
pub struct LoggedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
}

/// Every event the log holds with its payload, in append order.
pub async fn log_with_payloads(store: &Store) -> Vec<LoggedEvent> {
    use sqlx::Row;
    let (table, payload) = match store.backend() {
        ticketing_event_store::Backend::Postgres => ("event_store.events", "payload::text"),
        ticketing_event_store::Backend::Sqlite => ("events", "payload"),
    };
    let sql = format!(
        "SELECT aggregate_type, aggregate_id, event_type, {payload} AS payload FROM {table} ORDER BY global_seq"
    );
    sqlx::query(&sql)
        .fetch_all(store.read_pool())
        .await
        .expect("read the log")
        .iter()
        .map(|row| {
            let text = |column: &str| row.try_get::<String, _>(column).expect("column");
            LoggedEvent {
                aggregate_type: text("aggregate_type"),
                aggregate_id: text("aggregate_id"),
                event_type: text("event_type"),
                payload: serde_json::from_str(&text("payload")).expect("json payload"),
            }
        })
        .collect()
}
