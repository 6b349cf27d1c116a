//! The engine's read models by name: which tables each owns, where its
//! projection writes ([`Target`]: live tables or a rebuild's shadow), and one
//! [`AnyProjection`] that runs any of them, so the runner, the rebuild and
//! the drift check are written once for all.

use cqrs_es::Aggregate;
use sqlx::AnyConnection;
use ticketing_aggregates::{Order, Reservation, Seat, Show};
use ticketing_event_store::{Backend, FeedEvent};

use crate::schema::{Table, ORDERS, ORDER_ITEMS, RESERVATIONS, SEAT_MAP, SHOWS};
use crate::{
    OrdersProjection, Projection, ProjectionError, ReservationsProjection, SeatMapProjection,
    ShowsProjection,
};

/// Where a projection writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub backend: Backend,
    /// The shadow tables of a rebuild instead of the live ones.
    pub shadow: bool,
}

impl Target {
    pub fn live(backend: Backend) -> Self {
        Self {
            backend,
            shadow: false,
        }
    }

    pub fn shadow(backend: Backend) -> Self {
        Self {
            backend,
            shadow: true,
        }
    }

    /// The name of `table` this target writes.
    pub(crate) fn table(self, table: &Table) -> String {
        table.name(self.backend, self.shadow)
    }
}

/// One of the engine's read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadModel {
    SeatMap,
    Shows,
    Reservations,
    Orders,
}

impl ReadModel {
    pub const ALL: [ReadModel; 4] = [
        ReadModel::SeatMap,
        ReadModel::Shows,
        ReadModel::Reservations,
        ReadModel::Orders,
    ];

    /// The name ops use, which also keys the live projector's checkpoint.
    pub fn name(self) -> &'static str {
        self.checkpoint(false)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The checkpoint name of the live projector or of a rebuild's.
    pub(crate) fn checkpoint(self, shadow: bool) -> &'static str {
        match (self, shadow) {
            (ReadModel::SeatMap, false) => "seat_map",
            (ReadModel::SeatMap, true) => "seat_map__rebuild",
            (ReadModel::Shows, false) => "shows",
            (ReadModel::Shows, true) => "shows__rebuild",
            (ReadModel::Reservations, false) => "reservations",
            (ReadModel::Reservations, true) => "reservations__rebuild",
            (ReadModel::Orders, false) => "orders",
            (ReadModel::Orders, true) => "orders__rebuild",
        }
    }

    /// Whether projector shards split the model by show (`shard.rs` says
    /// why only the seat map is).
    pub fn sharded(self) -> bool {
        matches!(self, ReadModel::SeatMap)
    }

    /// The tables the model owns; a rebuild swaps them all at once.
    pub(crate) fn tables(self) -> &'static [&'static Table] {
        match self {
            ReadModel::SeatMap => &[&SEAT_MAP],
            ReadModel::Shows => &[&SHOWS],
            ReadModel::Reservations => &[&RESERVATIONS],
            ReadModel::Orders => &[&ORDERS, &ORDER_ITEMS],
        }
    }

    /// The aggregate types whose events the model folds (every other
    /// event is ignored by its projection): a rebuild reads only these.
    pub fn reads(self) -> &'static [&'static str] {
        match self {
            ReadModel::SeatMap => &[<Show as Aggregate>::TYPE, <Seat as Aggregate>::TYPE],
            ReadModel::Shows => &[<Show as Aggregate>::TYPE],
            ReadModel::Reservations => &[<Reservation as Aggregate>::TYPE],
            ReadModel::Orders => &[<Order as Aggregate>::TYPE],
        }
    }

    /// Whether the model folds `event` ([`ReadModel::reads`]): what its
    /// projection's [`Projection::wants`] answers.
    pub(crate) fn folds(self, event: &FeedEvent) -> bool {
        self.reads().contains(&event.event.aggregate_type.as_str())
    }

    /// The model's projection, writing to `target`.
    pub fn projection(self, target: Target) -> AnyProjection {
        match self {
            ReadModel::SeatMap => AnyProjection::SeatMap(SeatMapProjection(target)),
            ReadModel::Shows => AnyProjection::Shows(ShowsProjection(target)),
            ReadModel::Reservations => AnyProjection::Reservations(ReservationsProjection(target)),
            ReadModel::Orders => AnyProjection::Orders(OrdersProjection(target)),
        }
    }
}

/// Any of the read models' projections.
#[derive(Clone)]
pub enum AnyProjection {
    SeatMap(SeatMapProjection),
    Shows(ShowsProjection),
    Reservations(ReservationsProjection),
    Orders(OrdersProjection),
}

impl AnyProjection {
    /// The read model this projection writes.
    pub fn model(&self) -> ReadModel {
        match self {
            AnyProjection::SeatMap(_) => ReadModel::SeatMap,
            AnyProjection::Shows(_) => ReadModel::Shows,
            AnyProjection::Reservations(_) => ReadModel::Reservations,
            AnyProjection::Orders(_) => ReadModel::Orders,
        }
    }
}

impl Projection for AnyProjection {
    fn name(&self) -> &'static str {
        match self {
            AnyProjection::SeatMap(p) => p.name(),
            AnyProjection::Shows(p) => p.name(),
            AnyProjection::Reservations(p) => p.name(),
            AnyProjection::Orders(p) => p.name(),
        }
    }

    async fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[FeedEvent],
    ) -> Result<(), ProjectionError> {
        match self {
            AnyProjection::SeatMap(p) => p.apply_batch(conn, events).await,
            AnyProjection::Shows(p) => p.apply_batch(conn, events).await,
            AnyProjection::Reservations(p) => p.apply_batch(conn, events).await,
            AnyProjection::Orders(p) => p.apply_batch(conn, events).await,
        }
    }

    fn wants(&self, event: &FeedEvent) -> bool {
        self.model().folds(event)
    }
}
