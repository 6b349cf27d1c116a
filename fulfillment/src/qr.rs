//! The signed QR payload of a ticket: the text a door scanner reads and
//! checks offline, with nothing but public keys.
//!
//! ```text
//! T1.<ticket_id>.<show_id>.<seat_label>.<issued_at>.<kid>.<signature>
//! ```
//!
//! `T1` is the format version, `issued_at` Unix seconds, `kid` the signing
//! key's id, and `signature` the Ed25519 signature (base64url, no padding)
//! of everything before the last `.`. Seat labels may contain `.`, ids and
//! the trailing fields never do, so a payload is read by taking three fields
//! from the front and three from the back; what remains is the seat label.
//!
//! A payload is at most a few hundred bytes, which keeps its QR code at
//! version 10 or below at error-correction level M: small enough to scan
//! from a phone screen at a glance.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, SubsecRound, Utc};
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel, Version};
use ticketing_aggregates::{SeatLabel, ShowId, TicketId};

use crate::keys::{KeyRing, Verifier};

/// Longest payload [`verify_claim`] looks at; a well-formed one is about
/// 200 bytes, so anything longer is refused before any parsing.
pub const MAX_PAYLOAD_LEN: usize = 512;

const FORMAT_VERSION: &str = "T1";
const SIGNATURE_BASE64_LEN: usize = 86;

/// Why a payload was refused or could not be encoded. Messages never quote
/// the payload: it is untrusted input.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("payload is {len} bytes; a ticket payload has at most {MAX_PAYLOAD_LEN}")]
    TooLong { len: usize },
    #[error("payload is not a ticket payload of format {FORMAT_VERSION}")]
    UnknownFormat,
    #[error("payload has a malformed {0}")]
    Malformed(&'static str),
    #[error("payload is signed by unknown key {kid}")]
    UnknownKid { kid: String },
    #[error("payload signature does not verify")]
    BadSignature,
    #[error("payload does not fit a QR code: {0}")]
    Encode(qrcode::types::QrError),
}

/// What a ticket's QR code asserts: this ticket, for this seat of this
/// show, issued at this second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaim {
    ticket_id: TicketId,
    show_id: ShowId,
    seat_label: SeatLabel,
    issued_at: DateTime<Utc>,
}

impl TicketClaim {
    /// `issued_at` is cut to whole seconds, the precision the payload
    /// carries, so a claim equals the claim read back from its payload.
    pub fn new(
        ticket_id: TicketId,
        show_id: ShowId,
        seat_label: SeatLabel,
        issued_at: DateTime<Utc>,
    ) -> Self {
        Self {
            ticket_id,
            show_id,
            seat_label,
            issued_at: issued_at.trunc_subsecs(0),
        }
    }

    pub fn ticket_id(&self) -> &TicketId {
        &self.ticket_id
    }

    pub fn show_id(&self) -> &ShowId {
        &self.show_id
    }

    pub fn seat_label(&self) -> &SeatLabel {
        &self.seat_label
    }

    pub fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }
}

/// The payload of `claim`, signed with the ring's active key.
pub fn sign_claim(ring: &KeyRing, claim: &TicketClaim) -> String {
    let mut payload = format!(
        "{FORMAT_VERSION}.{}.{}.{}.{}.{}",
        claim.ticket_id,
        claim.show_id,
        claim.seat_label,
        claim.issued_at.timestamp(),
        ring.active_kid(),
    );
    let (_, signature) = ring.sign(payload.as_bytes());
    payload.push('.');
    payload.push_str(&URL_SAFE_NO_PAD.encode(signature));
    payload
}

/// The claim in `payload` if it is well formed and signed by a key the
/// verifier knows. Never panics, whatever the input.
pub fn verify_claim(verifier: &Verifier, payload: &str) -> Result<TicketClaim, QrError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(QrError::TooLong { len: payload.len() });
    }
    let malformed = QrError::Malformed;
    let (signed, signature) = payload.rsplit_once('.').ok_or(malformed("structure"))?;
    let (rest, kid) = signed.rsplit_once('.').ok_or(malformed("structure"))?;
    let (rest, issued_at) = rest.rsplit_once('.').ok_or(malformed("structure"))?;
    let (version, rest) = rest.split_once('.').ok_or(malformed("structure"))?;
    if version != FORMAT_VERSION {
        return Err(QrError::UnknownFormat);
    }
    let (ticket_id, rest) = rest.split_once('.').ok_or(malformed("structure"))?;
    let (show_id, seat_label) = rest.split_once('.').ok_or(malformed("structure"))?;

    let claim = TicketClaim {
        ticket_id: TicketId::parse("ticket_id", ticket_id).map_err(|_| malformed("ticket id"))?,
        show_id: ShowId::parse("show_id", show_id).map_err(|_| malformed("show id"))?,
        seat_label: SeatLabel::parse("seat_label", seat_label)
            .map_err(|_| malformed("seat label"))?,
        issued_at: parse_unix_seconds(issued_at).ok_or(malformed("issue time"))?,
    };
    if !is_kid(kid) {
        return Err(malformed("key id"));
    }
    if !verifier.knows(kid) {
        return Err(QrError::UnknownKid {
            kid: kid.to_owned(),
        });
    }
    if signature.len() != SIGNATURE_BASE64_LEN {
        return Err(malformed("signature"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| malformed("signature"))?;
    if !verifier.verify(kid, signed.as_bytes(), &signature) {
        return Err(QrError::BadSignature);
    }
    Ok(claim)
}

/// A QR code's modules, row by row, top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrModules {
    pub version: Version,
    pub ec_level: EcLevel,
    /// Modules per side.
    pub width: usize,
    pub colors: Vec<Color>,
}

/// The QR code of `payload` at error-correction level M (15 % of the code
/// may be smudged or covered and it still reads).
///
/// It uses one fixed mask pattern rather than scoring all eight: any mask
/// is valid and every reader handles it, and the scoring took 90 % of a
/// ticket page's rendering time (2.3 ms a code), which a sell-out pays for
/// every seat.
pub fn qr_code(payload: &str) -> Result<QrModules, QrError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(QrError::TooLong { len: payload.len() });
    }
    let bits =
        qrcode::bits::encode_auto(payload.as_bytes(), EcLevel::M).map_err(QrError::Encode)?;
    let version = bits.version();
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M)
        .map_err(QrError::Encode)?;
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    canvas.apply_mask(MaskPattern::Checkerboard);
    Ok(QrModules {
        version,
        ec_level: EcLevel::M,
        width: usize::try_from(version.width()).unwrap_or_default(),
        colors: canvas.into_colors(),
    })
}

/// Decimal Unix seconds in the one spelling [`sign_claim`] writes: no sign
/// for positive numbers, no leading zeros.
fn parse_unix_seconds(text: &str) -> Option<DateTime<Utc>> {
    let seconds: i64 = text.parse().ok()?;
    if seconds.to_string() != text {
        return None;
    }
    DateTime::from_timestamp(seconds, 0)
}

fn is_kid(text: &str) -> bool {
    text.len() == 8 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
