//! Where things sit on a ticket page, and the page's content stream.
//!
//! An A4 page with the ticket in a framed panel on its upper half (it folds
//! or cuts to A5): title, venue and local start time across the top; the
//! seat, holder and price on the left; the QR code on the right; order and
//! ticket ids at the foot. Positions are in points from the bottom left.

use std::fmt::Write as _;

use qrcode::Color;

use crate::qr::QrModules;

use super::text::{fit, win_ansi, wrap, Font};

pub(super) const PAGE_WIDTH: f32 = 595.0;
pub(super) const PAGE_HEIGHT: f32 = 842.0;
/// The QR image's name in a page's resources.
pub(super) const QR_RESOURCE: &str = "Qr";

const PANEL_LEFT: f32 = 48.0;
const PANEL_RIGHT: f32 = 547.0;
const PANEL_TOP: f32 = 800.0;
const PANEL_BOTTOM: f32 = 430.0;
const PADDING: f32 = 20.0;
const TEXT_LEFT: f32 = PANEL_LEFT + PADDING;
const TEXT_RIGHT: f32 = PANEL_RIGHT - PADDING;
/// About 4.5 cm: a code of version 10 (57 modules) gets 0.8 mm modules,
/// comfortably above what phone cameras and door scanners resolve.
const QR_SIDE: f32 = 170.0;
const QR_LEFT: f32 = TEXT_RIGHT - QR_SIDE;
const VALUE_LEFT: f32 = TEXT_LEFT + 62.0;
const VALUE_RIGHT: f32 = QR_LEFT - 16.0;
/// Light modules around the code, as the QR standard asks, so a scanner
/// finds its edge on any background.
const QUIET_ZONE: usize = 4;

/// What a page says, already validated and formatted.
pub(super) struct PageText<'a> {
    pub title: &'a str,
    pub venue: &'a str,
    pub starts: String,
    pub section: &'a str,
    pub row: &'a str,
    pub seat: &'a str,
    pub holder: &'a str,
    pub price: String,
    pub order_id: &'a str,
    pub ticket_id: &'a str,
}

/// The content stream of one ticket page.
pub(super) fn page_content(page: &PageText<'_>) -> Vec<u8> {
    let mut canvas = Canvas(String::with_capacity(2048));
    let full_width = TEXT_RIGHT - TEXT_LEFT;

    canvas.stroke_gray(0.6);
    canvas.raw(&format!(
        "0.75 w {PANEL_LEFT} {PANEL_BOTTOM} {} {} re S\n",
        PANEL_RIGHT - PANEL_LEFT,
        PANEL_TOP - PANEL_BOTTOM
    ));

    let mut y = PANEL_TOP - PADDING - 20.0;
    let title = wrap(&win_ansi(page.title), Font::Bold, 20.0, full_width, 2);
    for (index, line) in title.iter().enumerate() {
        if index > 0 {
            y -= 24.0;
        }
        canvas.text(Font::Bold, 20.0, TEXT_LEFT, y, line);
    }
    y -= 22.0;
    canvas.fitted(Font::Regular, 12.0, TEXT_LEFT, y, full_width, page.venue);
    y -= 17.0;
    canvas.fitted(Font::Regular, 12.0, TEXT_LEFT, y, full_width, &page.starts);
    y -= 14.0;
    canvas.stroke_gray(0.8);
    canvas.raw(&format!("{TEXT_LEFT} {y} m {TEXT_RIGHT} {y} l S\n"));

    let qr_bottom = y - 14.0 - QR_SIDE;
    canvas.raw(&format!(
        "q {QR_SIDE} 0 0 {QR_SIDE} {QR_LEFT} {qr_bottom} cm /{QR_RESOURCE} Do Q\n"
    ));

    let details = [
        ("SECTION", page.section),
        ("ROW", page.row),
        ("SEAT", page.seat),
        ("HOLDER", page.holder),
        ("PRICE", page.price.as_str()),
    ];
    for (label, value) in details {
        y -= 26.0;
        canvas.fill_gray(0.4);
        canvas.text(Font::Regular, 8.0, TEXT_LEFT, y + 2.0, label.as_bytes());
        canvas.fill_gray(0.0);
        canvas.fitted(
            Font::Bold,
            13.0,
            VALUE_LEFT,
            y,
            VALUE_RIGHT - VALUE_LEFT,
            value,
        );
    }

    let footer = PANEL_BOTTOM + PADDING;
    canvas.fill_gray(0.3);
    let order = format!("Order {}", page.order_id);
    canvas.fitted(
        Font::Regular,
        8.0,
        TEXT_LEFT,
        footer + 10.0,
        full_width,
        &order,
    );
    let ticket = format!("Ticket {}", page.ticket_id);
    canvas.fitted(Font::Regular, 8.0, TEXT_LEFT, footer, full_width, &ticket);
    canvas.fill_gray(0.4);
    let notice = b"Show this code at the door. It admits one person, once.";
    canvas.text(Font::Regular, 8.0, PANEL_LEFT, PANEL_BOTTOM - 16.0, notice);

    canvas.0.into_bytes()
}

/// The QR code as a 1-bit DeviceGray image, one pixel per module plus the
/// quiet zone; the page scales it up without smoothing, so edges stay sharp
/// at any size. Returns the side in pixels and the rows, top first.
pub(super) fn qr_image(code: &QrModules) -> (usize, Vec<u8>) {
    let modules = code.width;
    let side = modules + 2 * QUIET_ZONE;
    let row_bytes = side.div_ceil(8);
    // 1 is white in DeviceGray: start white and clear the dark modules.
    let mut pixels = vec![0xFF; row_bytes * side];
    for (index, color) in code.colors.iter().enumerate() {
        if *color == Color::Dark {
            let x = index % modules + QUIET_ZONE;
            let y = index / modules + QUIET_ZONE;
            pixels[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
        }
    }
    (side, pixels)
}

/// PDF content operators, written directly: a page is a few dozen of them.
struct Canvas(String);

impl Canvas {
    fn raw(&mut self, operators: &str) {
        self.0.push_str(operators);
    }

    fn fill_gray(&mut self, level: f32) {
        let _ = writeln!(self.0, "{level} g");
    }

    fn stroke_gray(&mut self, level: f32) {
        let _ = writeln!(self.0, "{level} G");
    }

    /// Shows WinAnsi `text` as a hex string, which needs no escaping.
    fn text(&mut self, font: Font, size: f32, x: f32, y: f32, text: &[u8]) {
        let _ = write!(self.0, "BT /{} {size} Tf {x} {y} Td <", font.resource());
        for byte in text {
            let _ = write!(self.0, "{byte:02X}");
        }
        self.0.push_str("> Tj ET\n");
    }

    /// Shows `text`, cut short to `max_width` if it must be.
    fn fitted(&mut self, font: Font, size: f32, x: f32, y: f32, max_width: f32, text: &str) {
        let encoded = fit(win_ansi(text), font, size, max_width);
        self.text(font, size, x, y, &encoded);
    }
}
