//! PDF tickets, read back the way a person or a scanner would: the text of
//! each page, and the QR image on it decoded and verified.

mod support;

use chrono::{TimeZone, Utc};
use support::{claim, ring};
use ticketing_fulfillment::testing::{page_qr_payloads, page_texts};
use ticketing_fulfillment::{render_pdf, sign_claim, verify_claim, PdfError, TicketPage, Verifier};

fn page(ring_byte: u8, seat_label: &str) -> TicketPage {
    let claim = claim(seat_label, Utc::now());
    TicketPage {
        ticket_id: claim.ticket_id().to_string(),
        order_id: "o_01JZ00000000000000000000AA".into(),
        show_title: "Die Zauberflöte".into(),
        venue: "Wiener Staatsoper".into(),
        starts_at: Utc.with_ymd_and_hms(2030, 1, 1, 18, 30, 0).unwrap(),
        time_zone: "Europe/Vienna".into(),
        section: "Parkett".into(),
        row: "12".into(),
        seat_label: seat_label.into(),
        holder_name: "Anna Huber".into(),
        price_minor: 5000,
        currency: "EUR".into(),
        qr_payload: sign_claim(&ring(ring_byte), &claim),
    }
}

#[test]
fn each_ticket_gets_a_page_with_its_details_and_a_scannable_code() {
    let mut second = page(1, "ORC-B.7");
    second.show_title = "Hamlet".into();
    second.venue = "Burgtheater".into();
    second.starts_at = Utc.with_ymd_and_hms(2030, 7, 14, 17, 0, 0).unwrap();
    second.section = "Balkon links".into();
    second.row = "3".into();
    second.holder_name = "Ben Gruber".into();
    second.price_minor = 12_345;
    second.order_id = "o_01JZ00000000000000000000BB".into();
    let pages = [page(1, "A-1"), second];

    let pdf = render_pdf(&pages).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let texts = page_texts(&pdf);
    assert_eq!(texts.len(), 2);

    let expected = [
        vec![
            "Die Zauberflöte",
            "Wiener Staatsoper",
            "Tue 1 Jan 2030, 19:30 CET (Europe/Vienna)",
        ],
        vec![
            "Hamlet",
            "Burgtheater",
            "Sun 14 Jul 2030, 19:00 CEST (Europe/Vienna)",
        ],
    ];
    for ((text, page), expected) in texts.iter().zip(&pages).zip(expected) {
        for wanted in expected {
            assert!(text.contains(wanted), "{wanted:?} missing from {text:?}");
        }
        for wanted in [
            &page.section,
            &page.row,
            &page.seat_label,
            &page.holder_name,
            &page.order_id,
            &page.ticket_id,
        ] {
            assert!(
                text.contains(wanted.as_str()),
                "{wanted:?} missing from {text:?}"
            );
        }
    }
    assert!(texts[0].contains("EUR 50.00"), "{}", texts[0]);
    assert!(texts[1].contains("EUR 123.45"), "{}", texts[1]);

    let verifier = ring(1).verifier();
    let scanned = page_qr_payloads(&pdf);
    for (payload, page) in scanned.iter().zip(&pages) {
        assert_eq!(payload, &page.qr_payload);
        let claim = verify_claim(&verifier, payload).unwrap();
        assert_eq!(claim.ticket_id().as_str(), page.ticket_id);
        assert_eq!(claim.seat_label().as_str(), page.seat_label);
    }
    assert!(verify_claim(&Verifier::default(), &scanned[0]).is_err());
}

#[test]
fn names_outside_western_european_letters_render_readably() {
    let mut page = page(1, "A-1");
    page.holder_name = "Zoë Łukasiewicz 李 Пётр".into();
    page.show_title = "(Re)mix \\ Night — ✨ 東京".into();

    let text = page_texts(&render_pdf(&[page]).unwrap()).remove(0);
    assert!(text.contains("Zoë Lukasiewicz Li Piotr"), "{text:?}");
    assert!(text.contains("(Re)mix \\ Night — "), "{text:?}");
    assert!(text.contains("Dong Jing"), "{text:?}");
}

#[test]
fn prices_follow_their_currency_and_long_titles_are_cut() {
    let mut yen = page(1, "A-1");
    yen.currency = "JPY".into();
    yen.price_minor = 12_000;
    yen.time_zone = "Asia/Tokyo".into();
    yen.show_title = "The Very Long Anniversary Gala ".repeat(8);
    let mut dinar = page(1, "A-2");
    dinar.currency = "KWD".into();
    dinar.price_minor = 12_500;

    let texts = page_texts(&render_pdf(&[yen, dinar]).unwrap());
    assert!(texts[0].contains("JPY 12000"), "{}", texts[0]);
    assert!(
        texts[0].contains("Wed 2 Jan 2030, 03:30 JST (Asia/Tokyo)"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains('…'), "the title is cut: {}", texts[0]);
    assert!(texts[1].contains("KWD 12.500"), "{}", texts[1]);
}

/// The error of rendering a good page and one spoilt by `spoil`, which
/// must name the spoilt ticket.
fn refusal(spoil: impl FnOnce(&mut TicketPage)) -> PdfError {
    let mut bad = page(1, "A-1");
    spoil(&mut bad);
    let err = render_pdf(&[page(1, "A-2"), bad.clone()]).unwrap_err();
    assert!(err.to_string().contains(&bad.ticket_id), "{err}");
    err
}

#[test]
fn tickets_that_cannot_be_printed_are_refused_by_name() {
    assert!(matches!(render_pdf(&[]), Err(PdfError::NoPages)));
    let err = refusal(|p| p.time_zone = "Mars/Olympus".into());
    assert!(matches!(err, PdfError::UnknownTimeZone { .. }), "{err:?}");
    let err = refusal(|p| p.currency = "EURO".into());
    assert!(matches!(err, PdfError::UnknownCurrency { .. }), "{err:?}");
    let err = refusal(|p| p.price_minor = -1);
    assert!(matches!(err, PdfError::Price { .. }), "{err:?}");
    let err = refusal(|p| p.qr_payload = "x".repeat(600));
    assert!(matches!(err, PdfError::Qr { .. }), "{err:?}");
}
