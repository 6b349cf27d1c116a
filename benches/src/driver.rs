//! Closed-loop clients, shared by the reserve and purchase phases: each
//! client runs one [`Step`] after another, never two at once, for a fixed
//! duration, and the latency of a step is what its caller would wait for.
//! Every client warms up first and they all start the timed loop together,
//! so connection set-up and the engine's first load of the show stay out of
//! the numbers.

use anyhow::bail;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

use crate::stats::{Outcome, Tally};

/// Unmeasured steps per client before the timed loop.
const WARM_UP_STEPS: usize = 3;

/// One client's unit of work, on a seat nobody has asked for before.
pub trait Step: Send + 'static {
    /// Does the work once; `None` when the show has no fresh seat left.
    fn step(&mut self) -> impl Future<Output = Option<Outcome>> + Send;
}

/// What one run measured; `clients` come back so a phase can read what
/// they counted on the way.
pub struct Run<S> {
    pub tally: Tally,
    pub elapsed: Duration,
    /// Steps that succeeded during the warm-up, outside the numbers.
    pub warm_up_ok: u64,
    /// Set when the show ran out of fresh seats before the time was up.
    pub exhausted: bool,
    pub clients: Vec<S>,
}

impl<S> Run<S> {
    pub fn per_second(&self) -> f64 {
        self.tally.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs every client in its own task for `duration` after the common start.
pub async fn run<S: Step>(clients: Vec<S>, duration: Duration) -> anyhow::Result<Run<S>> {
    let start = Arc::new(Barrier::new(clients.len() + 1));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(client_loop(client, Arc::clone(&start), duration)))
        .collect();
    start.wait().await;
    let began = Instant::now();
    let mut run = Run {
        tally: Tally::default(),
        elapsed: Duration::ZERO,
        warm_up_ok: 0,
        exhausted: false,
        clients: Vec::with_capacity(tasks.len()),
    };
    for task in tasks {
        let (client, warm_up, tally, ran_out) = task.await?;
        run.warm_up_ok += warm_up.ok;
        run.tally.merge(tally);
        run.exhausted |= ran_out;
        run.clients.push(client);
    }
    run.elapsed = began.elapsed();
    if run.tally.ok == 0 {
        bail!("no step succeeded: {:?}", run.tally.errors());
    }
    Ok(run)
}

/// Warms up, then loops until `duration` after the start; returns the
/// client, the warm-up and timed tallies, and whether the seats ran out.
async fn client_loop<S: Step>(
    mut client: S,
    start: Arc<Barrier>,
    duration: Duration,
) -> (S, Tally, Tally, bool) {
    let mut warm_up = Tally::default();
    let mut tally = Tally::default();
    for _ in 0..WARM_UP_STEPS {
        if !timed(&mut client, &mut warm_up).await {
            // Still meet the others at the barrier, or they wait forever.
            start.wait().await;
            return (client, warm_up, tally, true);
        }
    }
    start.wait().await;
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        if !timed(&mut client, &mut tally).await {
            return (client, warm_up, tally, true);
        }
    }
    (client, warm_up, tally, false)
}

/// One step, recorded with its latency; false when no seat was left.
async fn timed<S: Step>(client: &mut S, tally: &mut Tally) -> bool {
    let sent = Instant::now();
    match client.step().await {
        Some(outcome) => {
            tally.record(outcome, sent.elapsed());
            true
        }
        None => false,
    }
}
