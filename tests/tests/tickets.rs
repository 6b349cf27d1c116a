//! The buyer's journey ends with tickets: a purchase over gRPC gives one
//! signed ticket per seat and one email with the PDF attached; the PDF
//! reads right and its QR codes verify with the published keys; only the
//! buyer sees them.

use mail_parser::{MessageParser, MimeHeaders};
use ticketing_fulfillment::testing::{page_qr_payloads, page_texts};
use ticketing_fulfillment::{published_keys, verify_claim, Verifier};
use ticketing_identity::Role;
use ticketing_tests::v1::*;
use ticketing_tests::*;
use tonic::Code;

async fn register(app: &TestApp, email: &str, name: &str) -> String {
    app.identity()
        .register(RegisterRequest {
            email: email.into(),
            password: "correct horse".into(),
            display_name: name.into(),
        })
        .await
        .expect("register");
    app.login(email, "correct horse").await
}

async fn verifier(app: &TestApp) -> Verifier {
    let keys = published_keys(app.store.read_pool(), app.store.backend())
        .await
        .expect("published keys");
    Verifier::from_raw(keys.into_iter().map(|k| (k.kid, k.raw))).expect("verifier")
}

async fn a_purchase_gives_one_ticket_per_seat_and_one_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let organizer = app.user_with_role(Role::Organizer).await;
    let show_id = app.published_show(&organizer, 4).await;
    let email = format!(
        "{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let customer = register(&app, &email, "Ann Example").await;

    let order = app.buy(&customer, &show_id, &["A-1", "A-2"]).await;
    let tickets = app.wait_for_tickets(&customer, &order.order_id, 2).await;
    let mut seats: Vec<&str> = tickets.iter().map(|t| t.seat_label.as_str()).collect();
    seats.sort();
    assert_eq!(seats, ["A-1", "A-2"], "one ticket per seat");
    assert_ne!(tickets[0].ticket_id, tickets[1].ticket_id);
    let verifier = verifier(&app).await;
    for ticket in &tickets {
        assert_eq!(ticket.status, TicketStatus::Issued as i32);
        assert_eq!(ticket.order_id, order.order_id);
        assert_eq!(ticket.holder_name, "Ann Example");
        assert_eq!(
            (ticket.price_minor, ticket.currency.as_str()),
            (5000, "EUR")
        );
        assert_eq!(
            (ticket.section.as_str(), ticket.row.as_str()),
            ("Stalls", "A")
        );
        let claim = verify_claim(&verifier, &ticket.qr_payload).expect("the QR payload verifies");
        assert_eq!(claim.ticket_id().as_str(), ticket.ticket_id);
        assert_eq!(claim.show_id().as_str(), show_id);
        assert_eq!(claim.seat_label().as_str(), ticket.seat_label);
    }

    // One email for the order, to the customer, with every ticket attached.
    let emails = app.wait_for_emails(1).await;
    let message = MessageParser::default()
        .parse(&emails[0])
        .expect("the outbox holds an RFC 5322 message");
    let to = message.to().and_then(|to| to.first()).expect("a recipient");
    assert_eq!(to.address(), Some(email.as_str()));
    assert!(message.subject().unwrap_or_default().contains("Hamlet"));
    let pdfs: Vec<_> = message
        .attachments()
        .filter(|a| a.content_type().is_some_and(|t| t.subtype() == Some("pdf")))
        .collect();
    assert_eq!(pdfs.len(), 1, "one PDF attached");
    let pdf = pdfs[0].contents();
    let texts = page_texts(pdf);
    assert_eq!(texts.len(), 2, "a page per ticket");
    let mut scanned = page_qr_payloads(pdf);
    let mut issued: Vec<String> = tickets.iter().map(|t| t.qr_payload.clone()).collect();
    scanned.sort();
    issued.sort();
    assert_eq!(
        scanned, issued,
        "each page's QR code is its ticket's payload"
    );
    for text in &texts {
        for wanted in [
            "Hamlet",
            "The Globe",
            "Stalls",
            "Ann Example",
            "EUR 50.00",
            order.order_id.as_str(),
            // schedule_request starts the show in 30 days, in Vienna time.
            "(Europe/Vienna)",
        ] {
            assert!(text.contains(wanted), "{wanted:?} missing from {text:?}");
        }
    }

    // The downloads: one ticket, and the whole order.
    let one = app
        .fulfillment()
        .get_ticket_pdf(authed(
            &customer,
            GetTicketPdfRequest {
                ticket_id: tickets[0].ticket_id.clone(),
            },
        ))
        .await
        .expect("ticket PDF")
        .into_inner();
    assert_eq!(
        page_qr_payloads(&one.content),
        [tickets[0].qr_payload.clone()]
    );
    assert!(one.filename.ends_with(".pdf"));
    let all = app
        .fulfillment()
        .get_order_tickets_pdf(authed(
            &customer,
            GetOrderTicketsPdfRequest {
                order_id: order.order_id.clone(),
            },
        ))
        .await
        .expect("order PDF")
        .into_inner();
    assert_eq!(page_texts(&all.content).len(), 2);

    // Nobody else sees them.
    let stranger = app.customer().await;
    let hidden = app
        .fulfillment()
        .list_tickets(authed(
            &stranger,
            ListTicketsRequest {
                order_id: order.order_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("not the buyer's");
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = app
        .fulfillment()
        .get_ticket_pdf(authed(
            &stranger,
            GetTicketPdfRequest {
                ticket_id: tickets[0].ticket_id.clone(),
            },
        ))
        .await
        .expect_err("not the holder's");
    assert_eq!(hidden.code(), Code::NotFound);
    let malformed = app
        .fulfillment()
        .get_ticket_pdf(authed(
            &customer,
            GetTicketPdfRequest {
                ticket_id: "t_nope".into(),
            },
        ))
        .await
        .expect_err("malformed id");
    assert_eq!(malformed.code(), Code::InvalidArgument);

    // Still one email once the workers are idle.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(emails_in(&app.outbox()).len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_purchase_gives_one_ticket_per_seat_and_one_email() {
    a_purchase_gives_one_ticket_per_seat_and_one_email(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_purchase_gives_one_ticket_per_seat_and_one_email() {
    a_purchase_gives_one_ticket_per_seat_and_one_email(Backend::Postgres).await;
}
