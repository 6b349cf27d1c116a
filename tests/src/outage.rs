//! Judging the engine across an outage of something it depends on:
//! [`Answer`] is how a call answered as a client sees it — OK, retry later
//! (UNAVAILABLE with RetryInfo, or 503 with Retry-After) or wrong — and
//! [`Calls`] records the calls of concurrent clients with when each
//! started, so a test can wait until a kind of call is served again.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// How a call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// UNAVAILABLE with RetryInfo (gRPC), or a 503 problem with
    /// Retry-After (HTTP): the client should try again.
    Retry,
    /// Anything else, described.
    Wrong(String),
}

impl Answer {
    pub fn of_grpc<T>(result: &Result<T, Status>) -> Answer {
        match result {
            Ok(_) => Answer::Ok,
            Err(status) if is_retry(status) => Answer::Retry,
            Err(status) => Answer::Wrong(format!("{:?}: {}", status.code(), status.message())),
        }
    }

    /// 2xx is OK; 503 is a retry only with Retry-After and a problem body.
    pub fn of_http(answer: &crate::http::Answer) -> Answer {
        let status = answer.status.as_u16();
        let retry_after = answer.headers.contains_key("retry-after");
        match status {
            200..=299 => Answer::Ok,
            503 if retry_after && answer.body["status"] == 503 => Answer::Retry,
            _ => Answer::Wrong(format!("HTTP {status}: {}", answer.body)),
        }
    }
}

/// UNAVAILABLE with a RetryInfo saying when to come back.
pub fn is_retry(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.get_details_retry_info().is_some()
}

/// One recorded call: its kind, when it started, its answer and what the
/// test keeps of it (`T`).
#[derive(Debug)]
pub struct Call<T> {
    pub what: String,
    pub started: Instant,
    pub answer: Answer,
    pub kept: T,
}

/// The calls of every client so far; clones share them.
pub struct Calls<T>(Arc<Mutex<Vec<Call<T>>>>);

impl<T> Clone for Calls<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Calls<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T> Calls<T> {
    pub fn push(&self, what: impl Into<String>, started: Instant, answer: Answer, kept: T) {
        let what = what.into();
        self.lock().push(Call {
            what,
            started,
            answer,
            kept,
        });
    }

    /// Whether a call of `what` that started at or after `since` answered
    /// OK.
    pub fn served(&self, what: &str, since: Instant) -> bool {
        self.lock()
            .iter()
            .any(|c| c.what == what && c.started >= since && c.answer == Answer::Ok)
    }

    /// How many calls whose kind starts with `prefix` answered OK.
    pub fn ok(&self, prefix: &str) -> usize {
        let ok = |c: &&Call<T>| c.what.starts_with(prefix) && c.answer == Answer::Ok;
        self.lock().iter().filter(ok).count()
    }

    /// Waits until `done` holds; panics, naming `what`, after `within`.
    pub async fn until(&self, within: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while !done(self) {
            assert!(Instant::now() < deadline, "{what} within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every call so far, leaving none.
    pub fn take(&self) -> Vec<Call<T>> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Call<T>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
