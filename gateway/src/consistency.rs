//! Read-your-writes ([`Consistency`]): a client that wrote reads its write.
//!
//! * Every command that writes the log answers a **consistency token**: a
//!   bound past its commit (`Store::write_bound`, no query), in the response's
//!   `consistency_token` field and in the `consistency-token` response
//!   header, for clients that do not read the field.
//! * Every query that reads a read model takes a token, in its
//!   `min_consistency_token` field or the `min-consistency-token` request
//!   header, and answers only once that read model has applied everything
//!   below it (`Store::reached`): it waits up to [`Consistency::wait`]
//!   (2 s by default), then answers UNAVAILABLE `READ_MODEL_BEHIND`, never
//!   stale data. A token past anything the log has handed out is
//!   INVALID_ARGUMENT. A query of one show's seat map waits only for the
//!   projector shard that keeps that show ([`Consistency::before_show_read`]);
//!   any other waits for every shard of its model.
//! * The gateway also remembers, per caller, the last token it issued to
//!   them, for [`REMEMBER_FOR`], and applies it to their next queries to this
//!   process by itself: a plain client reads its own writes without doing
//!   anything.
//!
//! Tokens are opaque to clients: `c1.<tx>.<seq>`, a feed position.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ticketing_event_store::{FeedPosition, Reached, Store};
use ticketing_projections::ReadModel;
use ticketing_proto::v1 as pb;
use tonic::metadata::MetadataValue;

use crate::{AppError, Caller};

/// The response header that carries a command's token.
pub const TOKEN_HEADER: &str = "consistency-token";
/// The request header a query takes a token in.
pub const MIN_TOKEN_HEADER: &str = "min-consistency-token";
/// How long a query waits for its read model by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);
/// How long the gateway applies a caller's last token by itself.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30);
/// Callers remembered at most (emptied when full).
const CAPACITY: usize = 65_536;
/// Between two looks at a read model that is behind: the first pause,
/// doubled after each look up to the last. A lagging projector is met by
/// a few dozen looks per waiting query, not hundreds.
const POLL: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(100));

/// Sleeps `pause`, then doubles it up to `max` (the polls of a query
/// that waits for a read model).
pub(crate) async fn back_off(pause: &mut Duration, max: Duration) {
    tokio::time::sleep(*pause).await;
    *pause = (*pause * 2).min(max);
}

/// See the module doc. Cheap to clone; clones share the callers' tokens.
#[derive(Clone)]
pub struct Consistency {
    store: Store,
    wait: Duration,
    issued: Arc<Mutex<HashMap<String, (Instant, FeedPosition)>>>,
}

impl Consistency {
    pub fn new(store: Store, wait: Duration) -> Self {
        Self {
            store,
            wait,
            issued: Arc::default(),
        }
    }

    /// How long a query waits for its read model.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The token of a write `caller` has just made, remembered for them.
    pub async fn after_write(&self, caller: &Caller) -> Result<String, AppError> {
        let bound = self.store.write_bound().await.map_err(unavailable)?;
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        if issued.len() >= CAPACITY {
            issued.clear();
        }
        let key = caller.user_id.as_str().to_owned();
        let now = Instant::now();
        let entry = issued.entry(key).or_insert((now, bound));
        *entry = (now, entry.1.max(bound));
        Ok(encode(bound))
    }

    /// Waits until `model` has applied everything below the token the query
    /// names (field, else header) and the one last issued to `caller`.
    pub async fn before_read<T>(
        &self,
        request: &tonic::Request<T>,
        field: &str,
        caller: Option<&Caller>,
        models: &[ReadModel],
    ) -> Result<(), AppError> {
        self.before_show_read(request, field, caller, models, None)
            .await
    }

    /// [`Consistency::before_read`] of what a query reads of one show:
    /// a model split among projector shards is waited for only in the
    /// shard that keeps `show`.
    pub async fn before_show_read<T>(
        &self,
        request: &tonic::Request<T>,
        field: &str,
        caller: Option<&Caller>,
        models: &[ReadModel],
        show: Option<&str>,
    ) -> Result<(), AppError> {
        let asked = requested(request, field)?;
        let remembered = caller.and_then(|c| self.remembered(c));
        let Some(bound) = asked.max(remembered) else {
            return Ok(());
        };
        let deadline = Instant::now() + self.wait;
        for &model in models {
            self.until_reached(model, show, bound, asked, deadline)
                .await?;
        }
        Ok(())
    }

    /// Checks the token of a query answered from the log, which holds every
    /// write: only its form (it need not wait).
    pub fn check_token<T>(&self, request: &tonic::Request<T>, field: &str) -> Result<(), AppError> {
        requested(request, field).map(|_| ())
    }

    async fn until_reached(
        &self,
        model: ReadModel,
        show: Option<&str>,
        bound: FeedPosition,
        asked: Option<FeedPosition>,
        deadline: Instant,
    ) -> Result<(), AppError> {
        let mut pause = POLL.0;
        loop {
            let reached = ticketing_projections::reached(&self.store, model, show, bound)
                .await
                .map_err(unavailable)?;
            match reached {
                Reached::Yes => return Ok(()),
                Reached::Ahead if Some(bound) == asked => {
                    return Err(AppError::invalid(
                        "min_consistency_token",
                        "is ahead of the log: not a token this engine handed out",
                    ))
                }
                // A remembered token is one this process issued.
                Reached::Ahead | Reached::NotYet => {}
            }
            if Instant::now() >= deadline {
                return Err(AppError::ReadModelBehind(format!(
                    "the {} read model has not caught up with the write in {:?}",
                    model.name(),
                    self.wait
                )));
            }
            back_off(&mut pause, POLL.1).await;
        }
    }

    fn remembered(&self, caller: &Caller) -> Option<FeedPosition> {
        let issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        issued
            .get(caller.user_id.as_str())
            .filter(|(at, _)| at.elapsed() < REMEMBER_FOR)
            .map(|(_, bound)| *bound)
    }
}

/// A command's answer, which carries its token.
pub trait Tokened {
    fn set_token(&mut self, token: String);
}

macro_rules! tokened {
    ($($message:ty),*) => {
        $(impl Tokened for $message {
            fn set_token(&mut self, token: String) {
                self.consistency_token = token;
            }
        })*
    };
}
tokened!(pb::Show, pb::Reservation, pb::Order, pb::CheckInResponse);

impl Consistency {
    /// The answer to `caller`'s command, with its token in the message and
    /// in the `consistency-token` header.
    pub async fn answer<M: Tokened>(
        &self,
        caller: &Caller,
        mut message: M,
    ) -> Result<tonic::Response<M>, AppError> {
        let token = self.after_write(caller).await?;
        message.set_token(token.clone());
        let mut response = tonic::Response::new(message);
        if let Ok(value) = MetadataValue::try_from(token.as_str()) {
            response.metadata_mut().insert(TOKEN_HEADER, value);
        }
        Ok(response)
    }
}

/// The caller of a request that may come without a bearer token (a query
/// anyone may make): `None` without one, an error for a bad one.
pub async fn optional_caller<T>(
    identity: &ticketing_identity::Identity,
    request: &tonic::Request<T>,
) -> Result<Option<Caller>, AppError> {
    match request.metadata().get("authorization") {
        Some(_) => Ok(Some(crate::caller(identity, request).await?)),
        None => Ok(None),
    }
}

/// The token of the request's `field`, else of its header; none if both
/// are empty.
fn requested<T>(
    request: &tonic::Request<T>,
    field: &str,
) -> Result<Option<FeedPosition>, AppError> {
    let header = request
        .metadata()
        .get(MIN_TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or("?"));
    let raw = Some(field).filter(|f| !f.is_empty()).or(header);
    raw.map(decode).transpose()
}

fn encode(position: FeedPosition) -> String {
    format!("c1.{}.{}", position.tx, position.seq)
}

fn decode(token: &str) -> Result<FeedPosition, AppError> {
    let bad = || {
        AppError::invalid(
            "min_consistency_token",
            "not a consistency token (send back one a command answered)",
        )
    };
    if token.len() > 64 {
        return Err(bad());
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("c1"), Some(tx), Some(seq), None) => {
            let tx: i64 = tx.parse().map_err(|_| bad())?;
            let seq: i64 = seq.parse().map_err(|_| bad())?;
            if tx < 0 || seq < 0 {
                return Err(bad());
            }
            Ok(FeedPosition { tx, seq })
        }
        _ => Err(bad()),
    }
}

fn unavailable(error: impl std::fmt::Display) -> AppError {
    tracing::warn!(%error, "consistency check failed");
    AppError::Unavailable("event store".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let position = FeedPosition { tx: 812, seq: 0 };
        assert_eq!(decode(&encode(position)).unwrap(), position);
        for garbage in ["", "c1", "c1.1", "c1.1.2.3", "c2.1.2", "c1.-1.0", "c1.x.0"] {
            assert!(decode(garbage).is_err(), "{garbage}");
        }
        assert!(decode(&format!("c1.{}.0", "9".repeat(70))).is_err());
    }
}
