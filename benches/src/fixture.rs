//! What every measurement needs on a fresh server: customers with tokens,
//! and one published show big enough that no reservation ever reuses a seat.
//! Seats are handed out by [`SeatSupply`], so concurrent clients never
//! contend with each other in the reserve and purchase phases; the last few
//! seats of the plan are kept apart for the contention rounds.

use anyhow::{ensure, Context};
use futures::{stream, StreamExt, TryStreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::catalog_service_client::CatalogServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use tonic::transport::Channel;

use crate::server::{ORGANIZER_EMAIL, PASSWORD};

/// 50 sections × 40 rows × 50 seats: the most a show may have (100,000),
/// several times what two 10-second rounds at the spike's rate consume.
const SECTIONS: usize = 50;
const ROWS: usize = 40;
const SEATS_PER_ROW: usize = 50;
/// Contention rounds per face (gRPC, and HTTP with `--http`).
pub const CONTENTION_ROUNDS: usize = 3;
/// Seats kept out of the throughput supply, one per contention round: the
/// gRPC rounds' first, then the HTTP rounds'.
pub const CONTENTION_SEATS: usize = 2 * CONTENTION_ROUNDS;
/// Argon2 makes Register and Login deliberately slow; a few at a time keep
/// setup short without starving the server.
const SIGNUP_CONCURRENCY: usize = 4;
/// Long enough for the projectors of a server started on a seeded log
/// (`--seed-events`) to fold it before the show appears.
const SEAT_MAP_TIMEOUT: Duration = Duration::from_secs(600);

/// Attaches a bearer token.
pub fn authed<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// Registers `count` customers through the API and logs each in.
pub async fn customers(channel: &Channel, count: usize) -> anyhow::Result<Vec<String>> {
    let run = chrono::Utc::now().timestamp_millis();
    stream::iter(0..count)
        .map(|i| {
            let mut identity = IdentityServiceClient::new(channel.clone());
            async move {
                let email = format!("customer{i}-{run}@bench.example");
                identity
                    .register(pb::RegisterRequest {
                        email: email.clone(),
                        password: PASSWORD.into(),
                        display_name: format!("Customer {i}"),
                    })
                    .await
                    .with_context(|| format!("registering {email}"))?;
                login(&mut identity, &email).await
            }
        })
        .buffer_unordered(SIGNUP_CONCURRENCY)
        .try_collect()
        .await
}

pub async fn organizer(channel: &Channel) -> anyhow::Result<String> {
    login(
        &mut IdentityServiceClient::new(channel.clone()),
        ORGANIZER_EMAIL,
    )
    .await
}

async fn login(
    identity: &mut IdentityServiceClient<Channel>,
    email: &str,
) -> anyhow::Result<String> {
    let response = identity
        .login(pb::LoginRequest {
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .with_context(|| format!("logging in {email}"))?;
    Ok(response.into_inner().access_token)
}

/// A seating plan of `sections` × `rows` × `seats_per_row` seats at
/// 50.00 EUR; labels read `S01-R01-01`.
pub fn plan(sections: usize, rows: usize, seats_per_row: usize) -> Vec<pb::SectionPlan> {
    (1..=sections)
        .map(|s| pb::SectionPlan {
            name: format!("S{s:02}"),
            rows: (1..=rows)
                .map(|r| pb::RowPlan {
                    name: format!("R{r:02}"),
                    seats: (1..=seats_per_row)
                        .map(|n| pb::SeatPlan {
                            label: format!("S{s:02}-R{r:02}-{n:02}"),
                            price_minor: 5000,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// Schedules and publishes the show, waits until its seat map is projected,
/// and returns its id with the supply of its seats.
pub async fn published_show(
    channel: &Channel,
    organizer: &str,
) -> anyhow::Result<(String, SeatSupply)> {
    let (show_id, labels) =
        show_on_sale(channel, organizer, plan(SECTIONS, ROWS, SEATS_PER_ROW)).await?;
    Ok((show_id, SeatSupply::new(labels)))
}

/// Schedules and publishes a show of `sections`, waits until its seat map is
/// projected, and returns its id with its seat labels in plan order.
pub async fn show_on_sale(
    channel: &Channel,
    organizer: &str,
    sections: Vec<pb::SectionPlan>,
) -> anyhow::Result<(String, Vec<String>)> {
    let labels: Vec<String> = sections
        .iter()
        .flat_map(|s| &s.rows)
        .flat_map(|r| &r.seats)
        .map(|seat| seat.label.clone())
        .collect();
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let request = pb::ScheduleShowRequest {
        title: "Benchmark".into(),
        venue: "Loopback Hall".into(),
        starts_at: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + 30 * 24 * 3600,
            nanos: 0,
        }),
        time_zone: "Europe/Vienna".into(),
        currency: "EUR".into(),
        sections,
        // The bench's few customers hold thousands of seats each.
        max_held_seats_per_customer: Some(0),
    };
    let show = catalog
        .schedule_show(authed(organizer, request)?)
        .await
        .context("scheduling the show")?
        .into_inner();
    catalog
        .publish_show(authed(
            organizer,
            pb::PublishShowRequest {
                show_id: show.show_id.clone(),
            },
        )?)
        .await
        .context("publishing the show")?;
    let seats = labels.len();
    wait_for_map(channel, &show.show_id, |map| map.seats.len() == seats).await?;
    Ok((show.show_id, labels))
}

/// Waits until the seat map shows at least `taken` seats HELD or SOLD, and
/// at least `sold` of them SOLD, so the projector's backlog from one phase
/// does not steal CPU from the next; returns how long that took. (More only
/// if a call that reported an error had committed anyway; that error is
/// reported.)
pub async fn wait_for_seats(
    channel: &Channel,
    show_id: &str,
    taken: u64,
    sold: u64,
) -> anyhow::Result<Duration> {
    let counts = |map: &pb::SeatMap| {
        let count = |status: pb::SeatStatus| {
            map.seats
                .iter()
                .filter(|s| s.status == status as i32)
                .count() as u64
        };
        let sold = count(pb::SeatStatus::Sold);
        (count(pb::SeatStatus::Held) + sold, sold)
    };
    let began = Instant::now();
    wait_for_map(channel, show_id, |map| {
        let (taken_now, sold_now) = counts(map);
        taken_now >= taken && sold_now >= sold
    })
    .await?;
    Ok(began.elapsed())
}

/// Polls GetSeatMap until `ready` holds: projections lag the log.
async fn wait_for_map(
    channel: &Channel,
    show_id: &str,
    ready: impl Fn(&pb::SeatMap) -> bool,
) -> anyhow::Result<()> {
    // A 100,000-seat map is about 3 MB, close to tonic's 4 MB default.
    let mut inventory =
        InventoryServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    let deadline = Instant::now() + SEAT_MAP_TIMEOUT;
    loop {
        let map = inventory
            .get_seat_map(pb::GetSeatMapRequest {
                show_id: show_id.into(),
                as_of: None,
                min_consistency_token: String::new(),
            })
            .await;
        if matches!(&map, Ok(map) if ready(map.get_ref())) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the seat map of {show_id} did not catch up within {SEAT_MAP_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Hands out each throughput seat once, to whichever client asks next.
pub struct SeatSupply {
    labels: Vec<String>,
    next: AtomicUsize,
}

impl SeatSupply {
    fn new(labels: Vec<String>) -> Self {
        Self {
            labels,
            next: AtomicUsize::new(0),
        }
    }

    /// A seat nobody has asked for yet; `None` once the supply is spent.
    pub fn take(&self) -> Option<&str> {
        let limit = self.labels.len() - CONTENTION_SEATS;
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < limit).then(|| self.labels[i].as_str())
    }

    /// Whether fewer than half the throughput seats are left.
    pub fn half_spent(&self) -> bool {
        let supply = self.labels.len() - CONTENTION_SEATS;
        self.next.load(Ordering::Relaxed) * 2 > supply
    }

    /// The seat of contention round `round` (0-based), never in the supply.
    pub fn contention_seat(&self, round: usize) -> &str {
        &self.labels[self.labels.len() - CONTENTION_SEATS + round]
    }
}
