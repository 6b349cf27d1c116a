//! Ports through which the outside world reaches the domain. Aggregates
//! never call them: application services read them and pass values in.

use chrono::{DateTime, Utc};

/// The source of "now". Production uses the system clock; tests inject one
/// they move by hand, so a 30-minute hold expires in a millisecond.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
