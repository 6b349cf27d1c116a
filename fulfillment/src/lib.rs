//! The fulfillment bounded context (design.md §9): what turns a sold seat
//! into a ticket its holder can carry and a door can check offline.
//!
//! * `keys` — the Ed25519 [`KeyRing`] that signs tickets (one active key
//!   plus the ones it replaced), its owner-only key file, and the
//!   [`Verifier`] built from public keys for scanners.
//! * `qr` — the signed QR payload of a ticket ([`TicketClaim`] in, compact
//!   text out, and back) and the QR code it is printed as.
//! * `pdf` — PDF tickets, one page per ticket, the QR code embedded as an
//!   image; `tickets` — the pages of issued tickets.
//! * `signer` — [`RingSigner`], the domain's `TicketSigner` port on the ring.
//! * `published` — the verifying keys in the database, and the
//!   [`Scanner`] that gateways check door scans with.
//! * `worker` — [`Fulfillment`], the handler of `order-paid` that issues
//!   the tickets.
//! * `testing` (feature `testing`) — PDF tickets read back: page text and
//!   decoded QR codes.

mod keys;
mod pdf;
mod published;
mod qr;
mod signer;
#[cfg(feature = "testing")]
pub mod testing;
mod tickets;
mod worker;

pub use keys::{KeyError, KeyRing, PublicKey, Verifier};
pub use pdf::{render_pdf, PdfError, TicketPage};
pub use published::{
    migrate, publish as publish_keys, published as published_keys, PublishedError, PublishedKey,
    ScanError, Scanner, FULFILLMENT,
};
pub use qr::{qr_code, sign_claim, verify_claim, QrError, QrModules, TicketClaim, MAX_PAYLOAD_LEN};
pub use signer::RingSigner;
pub use tickets::{page, render_tickets};
pub use worker::{Fulfillment, Holders};

/// The key type of [`PublicKey::key`], re-exported so callers use the same
/// ed25519-dalek version as this crate.
pub use ed25519_dalek::VerifyingKey;
/// What [`QrModules`] is made of, re-exported for the same reason.
pub use qrcode::{Color, EcLevel, Version};
