//! What the engine-level purchase tests share: a clock the test moves, an
//! engine on a migrated store with the simulated payment provider, and
//! [`on_both`], which runs each scenario on SQLite and on Postgres.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use ticketing_aggregates::Clock;
use ticketing_commands::{Engine, EngineConfig};
use ticketing_event_store::Store;
use ticketing_payment::SimulatedProvider;

/// Starts at noon on 2026-11-26 and moves only when told.
#[derive(Clone)]
pub struct TestClock(pub Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// An engine that takes payments, on a fresh store at `url`.
pub struct Paying {
    pub engine: Engine,
    pub clock: TestClock,
    pub store: Store,
    pub provider: SimulatedProvider,
}

pub async fn paying_engine(url: &str) -> Paying {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    ticketing_payment::migrate(store.read_pool()).await.unwrap();
    let provider = SimulatedProvider::new(store.read_pool().clone());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let clock = TestClock(Arc::new(Mutex::new(t0)));
    let engine = Engine::new(
        store.clone(),
        Arc::new(clock.clone()),
        EngineConfig::default(),
    )
    .with_provider(Arc::new(provider.clone()));
    Paying {
        engine,
        clock,
        store,
        provider,
    }
}

/// Runs each scenario `async fn name(url: String)` of the calling file on a
/// fresh SQLite database and on a fresh Postgres one.
macro_rules! on_both {
    ($($name:ident),*) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(ticketing_event_store::testing::fresh_sqlite_url()).await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(ticketing_event_store::testing::fresh_postgres_url().await).await; } )* }
    };
}
pub(crate) use on_both;
