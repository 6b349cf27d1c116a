//! PDF tickets: one A4 page per ticket, with the show, the seat, the
//! holder, the price and the signed QR code, written with lopdf.
//!
//! Text is set in the builtin Helvetica fonts, so no font file is embedded
//! and a page is a few kilobytes; the QR code is an image XObject (1 bit per
//! module) that a reader scales up sharply and a test can take back out and
//! decode. Layout lives in `pdf/layout.rs`, text encoding and fitting in
//! `pdf/text.rs`, price and time formatting in `pdf/format.rs`.

mod format;
mod layout;
mod text;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lopdf::{dictionary, Document, Object, Stream};
use ticketing_aggregates::{Currency, PriceMinor};

use crate::qr::{qr_code, QrError};
use layout::{PageText, PAGE_HEIGHT, PAGE_WIDTH, QR_RESOURCE};
use text::Font;

/// Everything printed on one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPage {
    pub ticket_id: String,
    pub order_id: String,
    pub show_title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    /// IANA name of the show's time zone, e.g. `Europe/Vienna`: the start
    /// is printed in the show's local time.
    pub time_zone: String,
    pub section: String,
    pub row: String,
    pub seat_label: String,
    pub holder_name: String,
    /// Minor units of `currency` (cents for EUR, yen for JPY, fils for KWD).
    pub price_minor: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// The signed payload from [`crate::sign_claim`], printed as a QR code.
    pub qr_payload: String,
}

/// Why tickets could not be rendered; each names the ticket at fault.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("no tickets to render")]
    NoPages,
    #[error("ticket {ticket_id}: {zone:?} is not an IANA time zone")]
    UnknownTimeZone { ticket_id: String, zone: String },
    #[error("ticket {ticket_id}: {currency:?} is not an ISO 4217 currency code")]
    UnknownCurrency { ticket_id: String, currency: String },
    #[error("ticket {ticket_id}: price {price_minor} is out of range")]
    Price { ticket_id: String, price_minor: i64 },
    #[error("ticket {ticket_id}: {source}")]
    Qr { ticket_id: String, source: QrError },
    #[error("cannot write the PDF: {0}")]
    Write(#[from] std::io::Error),
}

/// One PDF with a page per ticket, in the order given.
pub fn render_pdf(pages: &[TicketPage]) -> Result<Vec<u8>, PdfError> {
    if pages.is_empty() {
        return Err(PdfError::NoPages);
    }
    let mut doc = Document::with_version("1.4");
    let pages_id = doc.new_object_id();
    let fonts = dictionary! {
        Font::Regular.resource() => doc.add_object(font(Font::Regular)),
        Font::Bold.resource() => doc.add_object(font(Font::Bold)),
    };
    let fonts_id = doc.add_object(fonts);
    let media_box: Vec<Object> = vec![0.into(), 0.into(), PAGE_WIDTH.into(), PAGE_HEIGHT.into()];

    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        let (content, qr) = draw(page)?;
        let image_id = doc.add_object(qr);
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => media_box.clone(),
            "Contents" => content_id,
            "Resources" => dictionary! {
                "Font" => fonts_id,
                "XObject" => dictionary! { QR_RESOURCE => image_id },
            },
        });
        kids.push(Object::from(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::from(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);

    let mut pdf = Vec::with_capacity(pages.len() * 4096);
    doc.save_to(&mut pdf)?;
    Ok(pdf)
}

/// Checks one ticket and draws it: its content stream and its QR image.
fn draw(page: &TicketPage) -> Result<(Vec<u8>, Stream), PdfError> {
    let ticket_id = || page.ticket_id.clone();
    let zone: Tz = page
        .time_zone
        .parse()
        .map_err(|_| PdfError::UnknownTimeZone {
            ticket_id: ticket_id(),
            zone: page.time_zone.clone(),
        })?;
    let currency =
        Currency::parse("currency", &page.currency).map_err(|_| PdfError::UnknownCurrency {
            ticket_id: ticket_id(),
            currency: page.currency.clone(),
        })?;
    let price_minor =
        PriceMinor::parse("price_minor", page.price_minor).map_err(|_| PdfError::Price {
            ticket_id: ticket_id(),
            price_minor: page.price_minor,
        })?;
    let code = qr_code(&page.qr_payload).map_err(|source| PdfError::Qr {
        ticket_id: ticket_id(),
        source,
    })?;

    let content = layout::page_content(&PageText {
        title: &page.show_title,
        venue: &page.venue,
        starts: format::local_time(page.starts_at, zone),
        section: &page.section,
        row: &page.row,
        seat: &page.seat_label,
        holder: &page.holder_name,
        price: format::price(price_minor.get(), currency.as_str()),
        order_id: &page.order_id,
        ticket_id: &page.ticket_id,
    });
    let (side, pixels) = layout::qr_image(&code);
    let side = side as i64;
    let image = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => side,
            "Height" => side,
            "ColorSpace" => "DeviceGray",
            "BitsPerComponent" => 1,
            "Interpolate" => false,
        },
        pixels,
    );
    Ok((content, image))
}

fn font(font: Font) -> lopdf::Dictionary {
    dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => font.base_font(),
        "Encoding" => "WinAnsiEncoding",
    }
}
