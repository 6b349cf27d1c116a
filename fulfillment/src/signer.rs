//! [`RingSigner`]: the [`TicketSigner`] port of the domain, backed by the
//! key ring — how a ticket gets its signed QR payload.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ticketing_aggregates::{SeatLabel, ShowId, TicketId, TicketSigner};

use crate::keys::KeyRing;
use crate::qr::{sign_claim, TicketClaim};

/// Signs with the ring's active key. Cheap to clone.
#[derive(Clone)]
pub struct RingSigner(Arc<KeyRing>);

impl RingSigner {
    pub fn new(ring: KeyRing) -> Self {
        Self(Arc::new(ring))
    }

    pub fn ring(&self) -> &KeyRing {
        &self.0
    }
}

impl TicketSigner for RingSigner {
    fn sign(
        &self,
        ticket: &TicketId,
        show: &ShowId,
        seat: &SeatLabel,
        issued_at: DateTime<Utc>,
    ) -> String {
        let claim = TicketClaim::new(ticket.clone(), show.clone(), seat.clone(), issued_at);
        sign_claim(&self.0, &claim)
    }
}
