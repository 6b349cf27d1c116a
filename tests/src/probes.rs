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

/// Every event in the log, in feed order: (aggregate type, id, event type).
pub async fn log(store: &Store) -> Vec<(String, String, String)> {
    let mut events = Vec::new();
    let mut after = ticketing_event_store::FeedPosition::START;
    loop {
        let batch = store.read_feed(0, after, 1000).await.expect("read feed");
        let Some(last) = batch.last() else {
            return events;
        };
        after = last.position;
        events.extend(batch.into_iter().map(|e| {
            (
                e.event.aggregate_type,
                e.event.aggregate_id,
                e.event.event_type,
            )
        }));
    }
}
