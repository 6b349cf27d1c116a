//! The README walkthrough as a program: against a running engine, logs in
//! an organizer, schedules and publishes a show, registers a customer,
//! reserves two seats, shows the seat map, releases one hold, and buys the
//! other: cart, a declined card, then a good one.
//!
//! ```text
//! cargo run -p ticketing --example walkthrough -- http://127.0.0.1:50051 org@example.com 'organizer-pass'
//! ```

use std::time::Duration;
use ticketing_proto::v1::catalog_service_client::CatalogServiceClient;
use ticketing_proto::v1::identity_service_client::IdentityServiceClient;
use ticketing_proto::v1::inventory_service_client::InventoryServiceClient;
use ticketing_proto::v1::ordering_service_client::OrderingServiceClient;
use ticketing_proto::v1::*;
use ticketing_tests::{authed, schedule_request};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, email, password] = args.as_slice() else {
        eprintln!("usage: walkthrough <grpc-url> <organizer-email> <organizer-password>");
        std::process::exit(2);
    };
    let channel = tonic::transport::Channel::from_shared(addr.clone())?
        .connect()
        .await?;
    let mut identity = IdentityServiceClient::new(channel.clone());
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let mut inventory = InventoryServiceClient::new(channel.clone());
    let mut ordering = OrderingServiceClient::new(channel);

    let login = LoginRequest {
        email: email.clone(),
        password: password.clone(),
    };
    let organizer = identity.login(login).await?.into_inner().access_token;
    let show = catalog
        .schedule_show(authed(&organizer, schedule_request(10)))
        .await?
        .into_inner();
    println!(
        "scheduled {} ({} seats, {:?})",
        show.show_id,
        show.seat_count,
        show.status()
    );
    let publish = PublishShowRequest {
        show_id: show.show_id.clone(),
    };
    let show = catalog
        .publish_show(authed(&organizer, publish))
        .await?
        .into_inner();
    println!("published: {:?}", show.status());

    let customer_email = format!(
        "walker-{}@example.com",
        chrono::Utc::now().timestamp_millis()
    );
    let register = RegisterRequest {
        email: customer_email.clone(),
        password: "walkthrough-pass".into(),
        display_name: "Walker".into(),
    };
    let user = identity.register(register).await?.into_inner();
    println!("registered customer {} ({:?})", user.user_id, user.role());
    let login = LoginRequest {
        email: customer_email,
        password: "walkthrough-pass".into(),
    };
    let customer = identity.login(login).await?.into_inner().access_token;

    let reserve = ReserveSeatsRequest {
        show_id: show.show_id.clone(),
        seat_labels: vec!["A-3".into(), "A-4".into()],
    };
    let reservation = inventory
        .reserve_seats(authed(&customer, reserve.clone()))
        .await?
        .into_inner();
    println!(
        "reserved {:?} as {} until {:?}",
        reservation.seat_labels, reservation.reservation_id, reservation.expires_at
    );
    match inventory.reserve_seats(authed(&customer, reserve)).await {
        Err(status) => println!(
            "the same seats again: {:?} {}",
            status.code(),
            status.message()
        ),
        Ok(_) => println!("unexpected: the seats were sold twice"),
    }

    // The seat map is a projection: it follows the log within milliseconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let map = inventory
        .get_seat_map(GetSeatMapRequest {
            min_consistency_token: Default::default(),
            show_id: show.show_id.clone(),
            as_of: None,
        })
        .await?
        .into_inner();
    for seat in map.seats.iter().take(5) {
        println!(
            "  {} {} row {} {:>6} {} {:?}",
            seat.label,
            seat.section,
            seat.row,
            seat.price_minor,
            map.currency,
            seat.status()
        );
    }
    let release = ReleaseReservationRequest {
        reservation_id: reservation.reservation_id,
    };
    let released = inventory
        .release_reservation(authed(&customer, release))
        .await?
        .into_inner();
    println!("released: {:?}", released.status());

    let reserve = ReserveSeatsRequest {
        show_id: show.show_id.clone(),
        seat_labels: vec!["A-5".into()],
    };
    let reservation = inventory
        .reserve_seats(authed(&customer, reserve))
        .await?
        .into_inner();
    let add = AddToCartRequest {
        reservation_id: reservation.reservation_id,
    };
    let cart = ordering
        .add_to_cart(authed(&customer, add))
        .await?
        .into_inner();
    println!(
        "cart {}: {} {} until {:?}",
        cart.order_id, cart.total_minor, cart.currency, cart.expires_at
    );
    for token in ["tok_declined", "tok_visa"] {
        let pay = CheckoutRequest {
            order_id: cart.order_id.clone(),
            payment_token: token.into(),
        };
        let order = ordering
            .checkout(authed(&customer, pay))
            .await?
            .into_inner();
        println!(
            "checkout with {token}: {:?} {}",
            order.status(),
            order.failure_reason
        );
    }
    Ok(())
}
