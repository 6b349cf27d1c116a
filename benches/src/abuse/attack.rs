//! The attack and the customers it must not hurt: [`Reservers`] reserve one
//! fresh seat per call in a loop each; [`Attack`] opens idle watches and
//! fires wrong logins from the bench's one address (half at the
//! organizer's email, half at unknown ones) while gRPC health is polled.

use futures::stream::{self, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticketing_benches::fixture::{authed, SeatSupply};
use ticketing_benches::server::{Server, ORGANIZER_EMAIL};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

/// HTTP/2 connections the attack spreads its calls over (the server allows
/// 128 streams per connection), all from the same address.
const ATTACK_CHANNELS: usize = 20;
/// How often health is asked during the attack.
const HEALTH_EVERY: Duration = Duration::from_millis(100);

pub struct Reservers {
    pub channel: Channel,
    pub tokens: Vec<String>,
    pub show_id: String,
    pub seats: Arc<SeatSupply>,
}

/// What the reservers' calls took, and the errors among them.
#[derive(Default)]
pub struct Loop {
    pub latencies: Vec<Duration>,
    pub errors: Vec<String>,
}

impl Reservers {
    pub async fn run_for(&self, duration: Duration) -> Loop {
        let stop = Arc::new(AtomicBool::new(false));
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                stop.store(true, Ordering::Relaxed);
            })
        };
        let result = self.run_until(&stop).await;
        timer.abort();
        result
    }

    /// Every reserver loops until `stop`; their results merged.
    pub async fn run_until(&self, stop: &AtomicBool) -> Loop {
        let loops = self.tokens.iter().map(|token| async move {
            let mut inventory = InventoryServiceClient::new(self.channel.clone());
            let mut result = Loop::default();
            while !stop.load(Ordering::Relaxed) {
                let Some(seat) = self.seats.take() else { break };
                let request = pb::ReserveSeatsRequest {
                    show_id: self.show_id.clone(),
                    seat_labels: vec![seat.to_owned()],
                };
                let Ok(request) = authed(token, request) else {
                    break;
                };
                let began = Instant::now();
                let answer = inventory.reserve_seats(request).await;
                result.latencies.push(began.elapsed());
                if let Err(status) = answer {
                    result
                        .errors
                        .push(format!("{:?}: {}", status.code(), status.message()));
                }
            }
            result
        });
        let mut merged = Loop::default();
        for one in futures::future::join_all(loops).await {
            merged.latencies.extend(one.latencies);
            merged.errors.extend(one.errors);
        }
        merged
    }
}

pub struct Attack {
    pub logins: usize,
    pub watches: usize,
    pub show_id: String,
}

/// What the attacking calls got.
#[derive(Debug, Default)]
pub struct AttackReport {
    pub logins_unauthenticated: usize,
    /// RESOURCE_EXHAUSTED: throttled (LOGIN_THROTTLED) or shed.
    pub logins_throttled: usize,
    pub logins_other: usize,
    pub watches_open: usize,
    pub watches_refused: usize,
    pub watches_other: usize,
    /// What the other answers were (code: message), the first few.
    pub others: Vec<String>,
    pub health_checks: usize,
    pub health_failures: usize,
    /// The organizer's own login with the right password, just after.
    pub victim_login: String,
}

impl Attack {
    /// Runs the attack with the reservers beside it; the reservers run at
    /// least `duration`, and until every login has been answered.
    pub async fn run(
        &self,
        server: &Server,
        reservers: &Reservers,
        duration: Duration,
    ) -> anyhow::Result<(Loop, AttackReport)> {
        let mut channels = Vec::with_capacity(ATTACK_CHANNELS);
        for _ in 0..ATTACK_CHANNELS {
            channels.push(server.channel().await?);
        }
        let mut report = AttackReport::default();
        let stop = AtomicBool::new(false);
        let began = Instant::now();
        let attack = async {
            // Watches first: they stay open, unread, through the logins.
            let watches = self.open_watches(&channels, &mut report).await;
            self.wrong_logins(&channels, &mut report).await;
            let left = duration.saturating_sub(began.elapsed());
            tokio::time::sleep(left).await;
            stop.store(true, Ordering::Relaxed);
            drop(watches);
        };
        let health = async {
            let mut checks = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                checks.0 += 1;
                if !server.serving().await {
                    checks.1 += 1;
                }
                tokio::time::sleep(HEALTH_EVERY).await;
            }
            checks
        };
        let (_, reserved, (checks, failures)) =
            tokio::join!(attack, reservers.run_until(&stop), health);
        report.health_checks = checks;
        report.health_failures = failures;
        report.victim_login = login_outcome(&channels[0], ORGANIZER_EMAIL, server_password()).await;
        Ok((reserved, report))
    }

    async fn open_watches(
        &self,
        channels: &[Channel],
        report: &mut AttackReport,
    ) -> Vec<tonic::Streaming<pb::SeatMapUpdate>> {
        let opened: Vec<_> = stream::iter(0..self.watches)
            .map(|i| {
                let mut inventory =
                    InventoryServiceClient::new(channels[i % channels.len()].clone())
                        .max_decoding_message_size(64 << 20);
                let request = pb::WatchSeatMapRequest {
                    show_id: self.show_id.clone(),
                    ..Default::default()
                };
                async move { inventory.watch_seat_map(request).await }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let mut open = Vec::new();
        for answer in opened {
            match answer {
                Ok(stream) => {
                    report.watches_open += 1;
                    open.push(stream.into_inner());
                }
                Err(status) if status.code() == Code::ResourceExhausted => {
                    report.watches_refused += 1
                }
                Err(status) => {
                    report.watches_other += 1;
                    if report.others.len() < 5 {
                        report
                            .others
                            .push(format!("{:?}: {}", status.code(), status.message()));
                    }
                }
            }
        }
        open
    }

    async fn wrong_logins(&self, channels: &[Channel], report: &mut AttackReport) {
        let answers: Vec<_> = stream::iter(0..self.logins)
            .map(|i| {
                let mut identity = IdentityServiceClient::new(channels[i % channels.len()].clone());
                let email = if i % 2 == 0 {
                    ORGANIZER_EMAIL.to_owned()
                } else {
                    format!("nobody{i}@bench.example")
                };
                async move {
                    identity
                        .login(pb::LoginRequest {
                            email,
                            password: format!("wrong password {i}"),
                        })
                        .await
                }
            })
            .buffer_unordered(self.logins)
            .collect()
            .await;
        for answer in answers {
            match answer {
                Err(status) if status.code() == Code::Unauthenticated => {
                    report.logins_unauthenticated += 1
                }
                Err(status) if status.code() == Code::ResourceExhausted => {
                    report.logins_throttled += 1
                }
                other => {
                    report.logins_other += 1;
                    if report.others.len() < 5 {
                        report.others.push(format!("{other:?}"));
                    }
                }
            }
        }
    }
}

fn server_password() -> &'static str {
    ticketing_benches::server::PASSWORD
}

/// How a login ends, by code and reason.
async fn login_outcome(channel: &Channel, email: &str, password: &str) -> String {
    let answer = IdentityServiceClient::new(channel.clone())
        .login(pb::LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await;
    match answer {
        Ok(_) => "OK".into(),
        Err(status) => {
            let reason = status.get_details_error_info().map(|info| info.reason);
            format!("{:?} {}", status.code(), reason.unwrap_or_default())
        }
    }
}
