//! [`SenderConfig`]: how often the sender looks for work, how long it holds
//! a delivery, and how it spaces out retries.

use std::time::Duration;

/// How a [`super::Sender`] paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// How often the log is polled when nobody wakes the sender.
    pub poll_interval: Duration,
    /// How long a claimed delivery stays with this sender.
    pub lease: Duration,
    /// Deliveries claimed per pass.
    pub batch: usize,
    /// The wait after the first failed attempt.
    pub base_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: u32,
    /// The bound on composing and sending one mail; must be well below
    /// `lease`, or attempts would rarely start.
    pub send_timeout: Duration,
}

impl Default for SenderConfig {
    /// With these, a delivery is tried for roughly half an hour (12
    /// attempts, the waits capped at 5 minutes) before it fails.
    fn default() -> Self {
        SenderConfig {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            batch: 32,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_attempts: 12,
            send_timeout: Duration::from_secs(30),
        }
    }
}

impl SenderConfig {
    /// The wait after `failed_attempts` (≥ 1) failed attempts:
    /// `min(max_backoff, base_backoff · 2^(failed_attempts − 1)) · jitter`,
    /// with `jitter` drawn from [0.5, 1.0] (clamped to it here), so
    /// deliveries that failed together, as when the server went down, do
    /// not all come back at the same instant.
    pub fn backoff(&self, failed_attempts: u32, jitter: f64) -> Duration {
        let doublings = failed_attempts.saturating_sub(1);
        let factor = 2_u32.saturating_pow(doublings);
        let capped = self
            .base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        capped.mul_f64(jitter.clamp(0.5, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_down_to_half() {
        let config = SenderConfig {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            ..SenderConfig::default()
        };
        let full: Vec<u64> = (1..=11).map(|n| config.backoff(n, 1.0).as_secs()).collect();
        assert_eq!(full, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(config.backoff(3, 0.5), Duration::from_secs(2));
        assert_eq!(config.backoff(3, 0.0), Duration::from_secs(2), "clamped");
        assert_eq!(config.backoff(u32::MAX, 1.0), Duration::from_secs(300));
    }
}
