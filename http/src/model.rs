//! The JSON shapes of `/api/v1`, with their OpenAPI schemas, and their
//! conversions to and from the protobuf messages of the gRPC contract.
//! Field names are the proto's (snake_case); times are RFC 3339; money is
//! integer minor units beside an ISO 4217 currency; statuses are lowercase
//! words. Requests refuse unknown fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticketing_proto::v1 as pb;
use utoipa::{IntoParams, ToSchema};

pub(crate) fn time(ts: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

/// The `status` word of a proto enum value: its name without the enum's
/// prefix, lowercased (`SEAT_STATUS_HELD` → `held`).
macro_rules! status_enum {
    ($name:ident, $pb:ty, [$($variant:ident),+ $(,)?]) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant,)+
            /// A value this server version does not know.
            Unspecified,
        }

        impl From<i32> for $name {
            fn from(value: i32) -> Self {
                match <$pb>::try_from(value) {
                    $(Ok(<$pb>::$variant) => Self::$variant,)+
                    _ => Self::Unspecified,
                }
            }
        }
    };
}

status_enum!(
    ShowStatus,
    pb::ShowStatus,
    [Scheduled, Published, Cancelled]
);
status_enum!(SeatStatus, pb::SeatStatus, [Available, Held, Sold]);
status_enum!(
    ReservationStatus,
    pb::ReservationStatus,
    [Active, Released, Expired, Converted]
);
status_enum!(
    OrderStatus,
    pb::OrderStatus,
    [
        Cart,
        Checkout,
        Paid,
        PaymentFailed,
        Cancelled,
        Expired,
        Refunded
    ]
);
status_enum!(TicketStatus, pb::TicketStatus, [Issued, CheckedIn, Voided]);

// ------------------------------------------------------------------ identity

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    pub display_name: String,
}

impl From<RegisterRequest> for pb::RegisterRequest {
    fn from(r: RegisterRequest) -> Self {
        Self {
            email: r.email,
            password: r.password,
            display_name: r.display_name,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    /// `customer`, `organizer`, `admin` or `analyst`.
    pub role: String,
}

impl From<pb::User> for User {
    fn from(u: pb::User) -> Self {
        let role = match pb::Role::try_from(u.role) {
            Ok(pb::Role::Customer) => "customer",
            Ok(pb::Role::Organizer) => "organizer",
            Ok(pb::Role::Admin) => "admin",
            Ok(pb::Role::Analyst) => "analyst",
            _ => "unspecified",
        };
        Self {
            user_id: u.user_id,
            email: u.email,
            display_name: u.display_name,
            role: role.to_owned(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    pub expires_at: Option<DateTime<Utc>>,
}

// -------------------------------------------------------------------- shows

/// `page_size` (1–100, default 20 when 0 or absent) and the
/// `next_page_token` of the previous page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    #[param(minimum = 0, maximum = 1000)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// A page of the published shows that have not started, soonest first,
/// optionally at one venue or starting within `[starts_after, starts_before)`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowFilter {
    #[param(minimum = 0, maximum = 1000)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
    /// The venue's exact name.
    pub venue: Option<String>,
    /// RFC 3339.
    pub starts_after: Option<DateTime<Utc>>,
    /// RFC 3339.
    pub starts_before: Option<DateTime<Utc>>,
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Show {
    pub show_id: String,
    pub title: String,
    pub venue: String,
    pub starts_at: Option<DateTime<Utc>>,
    /// IANA time zone of the venue, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub currency: String,
    pub status: ShowStatus,
    pub seat_count: u32,
}

impl From<pb::Show> for Show {
    fn from(s: pb::Show) -> Self {
        Self {
            show_id: s.show_id,
            title: s.title,
            venue: s.venue,
            starts_at: time(s.starts_at),
            time_zone: s.time_zone,
            currency: s.currency,
            status: s.status.into(),
            seat_count: s.seat_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowPage {
    pub shows: Vec<Show>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMapSeat {
    pub label: String,
    pub section: String,
    pub row: String,
    pub price_minor: i64,
    pub status: SeatStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMap {
    pub show_id: String,
    pub currency: String,
    /// In plan order: section, row, seat.
    pub seats: Vec<SeatMapSeat>,
}

impl From<pb::SeatMap> for SeatMap {
    fn from(m: pb::SeatMap) -> Self {
        Self {
            show_id: m.show_id,
            currency: m.currency,
            seats: m
                .seats
                .into_iter()
                .map(|s| SeatMapSeat {
                    label: s.label,
                    section: s.section,
                    row: s.row,
                    price_minor: s.price_minor,
                    status: s.status.into(),
                })
                .collect(),
        }
    }
}

/// The first event of a seat-map stream (`event: snapshot`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMapSnapshot {
    pub seat_map: SeatMap,
    /// The stream's position; also the event's `id`.
    pub position: String,
}

/// A seat's new status (`event: change`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatChange {
    pub label: String,
    pub status: SeatStatus,
    /// The event's position in the log; also the event's `id`.
    pub position: String,
}

/// The client fell behind and the stream ends (`event: resync`): reconnect
/// without `Last-Event-ID` for a fresh snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resync {
    pub reason: String,
}

// ------------------------------------------------------------- reservations

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveSeatsRequest {
    pub show_id: String,
    /// 1 to the server's limit (default 10) distinct seat labels.
    pub seat_labels: Vec<String>,
}

impl From<ReserveSeatsRequest> for pb::ReserveSeatsRequest {
    fn from(r: ReserveSeatsRequest) -> Self {
        Self {
            show_id: r.show_id,
            seat_labels: r.seat_labels,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reservation {
    pub reservation_id: String,
    pub show_id: String,
    pub seat_labels: Vec<String>,
    /// When the hold ends unless the seats are bought.
    pub expires_at: Option<DateTime<Utc>>,
    pub status: ReservationStatus,
}

impl From<pb::Reservation> for Reservation {
    fn from(r: pb::Reservation) -> Self {
        Self {
            reservation_id: r.reservation_id,
            show_id: r.show_id,
            seat_labels: r.seat_labels,
            expires_at: time(r.expires_at),
            status: r.status.into(),
        }
    }
}

// ------------------------------------------------------------------- orders

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddToCartRequest {
    pub reservation_id: String,
}

/// The cart the reservation is removed from.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CartOf {
    pub order_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A provider's card token; the simulated provider takes `tok_visa`
    /// (pays), `tok_declined` (declined) and `tok_timeout` (times out).
    pub payment_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItem {
    pub reservation_id: String,
    pub show_id: String,
    pub seat_labels: Vec<String>,
    pub price_minor: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    pub order_id: String,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total_minor: i64,
    pub currency: String,
    /// When an unpaid cart lapses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the last payment failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl From<pb::Order> for Order {
    fn from(o: pb::Order) -> Self {
        Self {
            order_id: o.order_id,
            status: o.status.into(),
            items: o
                .items
                .into_iter()
                .map(|i| OrderItem {
                    reservation_id: i.reservation_id,
                    show_id: i.show_id,
                    seat_labels: i.seat_labels,
                    price_minor: i.price_minor,
                })
                .collect(),
            total_minor: o.total_minor,
            currency: o.currency,
            expires_at: time(o.expires_at),
            failure_reason: Some(o.failure_reason).filter(|r| !r.is_empty()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Empty on the last page.
    pub next_page_token: String,
}

// ------------------------------------------------------------------ tickets

#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    pub ticket_id: String,
    pub order_id: String,
    pub show_id: String,
    pub seat_label: String,
    pub section: String,
    pub row: String,
    pub holder_name: String,
    pub price_minor: i64,
    pub currency: String,
    pub status: TicketStatus,
    /// The signed payload the ticket's QR code encodes.
    pub qr_payload: String,
    pub issued_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
}

impl From<pb::Ticket> for Ticket {
    fn from(t: pb::Ticket) -> Self {
        Self {
            ticket_id: t.ticket_id,
            order_id: t.order_id,
            show_id: t.show_id,
            seat_label: t.seat_label,
            section: t.section,
            row: t.row,
            holder_name: t.holder_name,
            price_minor: t.price_minor,
            currency: t.currency,
            status: t.status.into(),
            qr_payload: t.qr_payload,
            issued_at: time(t.issued_at),
            checked_in_at: time(t.checked_in_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    /// Empty on the last page.
    pub next_page_token: String,
}
