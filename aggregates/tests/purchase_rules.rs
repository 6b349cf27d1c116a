//! Given/when/then rules of the purchase aggregates: Cart, Order, Payment.

use cqrs_es::test::TestFramework;
use ticketing_aggregates::*;

fn customer(n: u8) -> UserRef {
    UserRef::parse("u", &format!("u_01JZ000000000000000000000{n}")).unwrap()
}

fn order_id(n: u8) -> OrderId {
    OrderId::parse("o", &format!("o_01JZ000000000000000000000{n}")).unwrap()
}

fn payment_id(n: u8) -> PaymentId {
    PaymentId::parse("p", &format!("p_01JZ000000000000000000000{n}")).unwrap()
}

fn eur() -> Currency {
    Currency::parse("c", "EUR").unwrap()
}

fn item(n: u8) -> OrderItem {
    OrderItem {
        reservation_id: ReservationId::parse("r", &format!("r_01JZ000000000000000000000{n}"))
            .unwrap(),
        show_id: ShowId::parse("s", "s_01JZ00000000000000000000AA").unwrap(),
        seat_labels: vec![SeatLabel::parse("l", &format!("A-{n}")).unwrap()],
        price_minor: 5000,
        seat_prices: vec![5000],
    }
}

fn opened() -> Vec<OrderEvent> {
    vec![
        OrderEvent::OrderOpened {
            order_id: order_id(1),
            customer: customer(1),
            currency: eur(),
        },
        OrderEvent::ItemAdded(item(1)),
    ]
}

fn add(n: u8, currency: Currency) -> OrderCommand {
    OrderCommand::AddItem {
        order_id: order_id(1),
        customer: customer(1),
        currency,
        item: item(n),
    }
}

#[tokio::test]
async fn the_first_item_opens_the_cart_and_a_second_add_is_idempotent() {
    TestFramework::<Order>::with(())
        .given_no_previous_events()
        .when_async(add(1, eur()))
        .await
        .then_expect_events(opened());
    TestFramework::<Order>::with(())
        .given(opened())
        .when_async(add(1, eur()))
        .await
        .then_expect_events(vec![]);
    TestFramework::<Order>::with(())
        .given(opened())
        .when_async(add(2, Currency::parse("c", "USD").unwrap()))
        .await
        .then_expect_error(OrderError::CurrencyMismatch);
}

#[tokio::test]
async fn only_its_customer_sees_or_changes_an_order() {
    TestFramework::<Order>::with(())
        .given(opened())
        .when_async(OrderCommand::Checkout {
            customer: customer(2),
            payment_id: payment_id(1),
        })
        .await
        .then_expect_error(OrderError::NotOwner);
    TestFramework::<Order>::with(())
        .given(opened())
        .when_async(OrderCommand::RemoveItem {
            customer: customer(2),
            reservation_id: item(1).reservation_id,
        })
        .await
        .then_expect_error(OrderError::NotOwner);
}

#[tokio::test]
async fn checkout_needs_items_and_one_payment_at_a_time() {
    let mut emptied = opened();
    emptied.push(OrderEvent::ItemRemoved {
        reservation_id: item(1).reservation_id,
    });
    TestFramework::<Order>::with(())
        .given(emptied)
        .when_async(OrderCommand::Checkout {
            customer: customer(1),
            payment_id: payment_id(1),
        })
        .await
        .then_expect_error(OrderError::Empty);
    TestFramework::<Order>::with(())
        .given(opened())
        .when_async(OrderCommand::Checkout {
            customer: customer(1),
            payment_id: payment_id(1),
        })
        .await
        .then_expect_events(vec![OrderEvent::CheckoutStarted {
            payment_id: payment_id(1),
            total_minor: 5000,
        }]);
    let mut in_checkout = opened();
    in_checkout.push(OrderEvent::CheckoutStarted {
        payment_id: payment_id(1),
        total_minor: 5000,
    });
    TestFramework::<Order>::with(())
        .given(in_checkout.clone())
        .when_async(OrderCommand::Checkout {
            customer: customer(1),
            payment_id: payment_id(2),
        })
        .await
        .then_expect_error(OrderError::OtherPayment);
    TestFramework::<Order>::with(())
        .given(in_checkout.clone())
        .when_async(add(2, eur()))
        .await
        .then_expect_error(OrderError::NotCart);
    TestFramework::<Order>::with(())
        .given(in_checkout)
        .when_async(OrderCommand::MarkPaid {
            payment_id: payment_id(2),
        })
        .await
        .then_expect_error(OrderError::NotPayable);
}

#[tokio::test]
async fn a_declined_payment_can_be_retried_and_paid_once() {
    let mut failed = opened();
    failed.push(OrderEvent::CheckoutStarted {
        payment_id: payment_id(1),
        total_minor: 5000,
    });
    failed.push(OrderEvent::OrderPaymentFailed {
        payment_id: payment_id(1),
        reason: "card declined".into(),
    });
    TestFramework::<Order>::with(())
        .given(failed.clone())
        .when_async(OrderCommand::Checkout {
            customer: customer(1),
            payment_id: payment_id(2),
        })
        .await
        .then_expect_events(vec![OrderEvent::CheckoutStarted {
            payment_id: payment_id(2),
            total_minor: 5000,
        }]);
    let mut paid = failed;
    paid.push(OrderEvent::CheckoutStarted {
        payment_id: payment_id(2),
        total_minor: 5000,
    });
    paid.push(OrderEvent::OrderPaid {
        payment_id: payment_id(2),
    });
    TestFramework::<Order>::with(())
        .given(paid.clone())
        .when_async(OrderCommand::MarkPaid {
            payment_id: payment_id(2),
        })
        .await
        .then_expect_events(vec![]);
    TestFramework::<Order>::with(())
        .given(paid)
        .when_async(OrderCommand::Checkout {
            customer: customer(1),
            payment_id: payment_id(3),
        })
        .await
        .then_expect_error(OrderError::NotPayable);
}

fn requested() -> PaymentEvent {
    PaymentEvent::PaymentRequested(PaymentRequest {
        payment_id: payment_id(1),
        order_id: order_id(1),
        amount_minor: 5000,
        currency: eur(),
        card: visa(),
        requested_at: None,
    })
}

fn visa() -> CardRef {
    CardRef {
        provider: "simulated".into(),
        fingerprint: "fp_visa".into(),
        brand: Some("visa".into()),
        last4: Some("4242".into()),
    }
}

/// Events from before the log left tokens out still read, through their
/// upcast to version 2 (the token dropped); what is written now holds the
/// card's reference and no token.
#[test]
fn a_payment_request_keeps_the_card_not_the_token() {
    let old = serde_json::json!({"PaymentRequested": {
        "payment_id": payment_id(1), "order_id": order_id(1), "amount_minor": 5000,
        "currency": "EUR", "token": "tok_visa"}});
    let (version, upcast) =
        ticketing_aggregates::upcast::upcast_payload("PaymentRequested", "1", old);
    assert_eq!(version, "2");
    assert!(!upcast.to_string().contains("tok_visa"), "{upcast}");
    let PaymentEvent::PaymentRequested(read) = serde_json::from_value(upcast).unwrap() else {
        panic!("not a request");
    };
    assert_eq!((read.amount_minor, read.card), (5000, CardRef::default()));
    let written = serde_json::to_string(&requested()).unwrap();
    assert!(!written.contains("token"), "{written}");
    assert!(written.contains(r#""last4":"4242""#), "{written}");
}

#[tokio::test]
async fn a_payment_has_one_outcome_and_refunds_only_success() {
    let succeed = || PaymentCommand::Succeed {
        provider_ref: "ch_1".into(),
    };
    TestFramework::<Payment>::with(())
        .given(vec![requested()])
        .when_async(succeed())
        .await
        .then_expect_events(vec![PaymentEvent::PaymentSucceeded {
            provider_ref: "ch_1".into(),
        }]);
    TestFramework::<Payment>::with(())
        .given(vec![
            requested(),
            PaymentEvent::PaymentSucceeded {
                provider_ref: "ch_1".into(),
            },
        ])
        .when_async(succeed())
        .await
        .then_expect_events(vec![]);
    TestFramework::<Payment>::with(())
        .given(vec![
            requested(),
            PaymentEvent::PaymentFailed {
                reason: "declined".into(),
            },
        ])
        .when_async(succeed())
        .await
        .then_expect_error(PaymentError::Settled);
    TestFramework::<Payment>::with(())
        .given(vec![requested()])
        .when_async(PaymentCommand::Refund {
            reason: "late".into(),
        })
        .await
        .then_expect_error(PaymentError::NotRefundable);
    TestFramework::<Payment>::with(())
        .given(vec![
            requested(),
            PaymentEvent::PaymentSucceeded {
                provider_ref: "ch_1".into(),
            },
        ])
        .when_async(PaymentCommand::Refund {
            reason: "expired".into(),
        })
        .await
        .then_expect_events(vec![PaymentEvent::PaymentRefunded {
            reason: "expired".into(),
        }]);
}

#[tokio::test]
async fn a_customer_has_one_open_cart() {
    TestFramework::<Cart>::with(())
        .given(vec![CartEvent::CartOpened {
            order_id: order_id(1),
        }])
        .when_async(CartCommand::Open {
            order_id: order_id(2),
        })
        .await
        .then_expect_error(CartAlreadyOpen(order_id(1)));
    TestFramework::<Cart>::with(())
        .given(vec![
            CartEvent::CartOpened {
                order_id: order_id(1),
            },
            CartEvent::CartClosed {
                order_id: order_id(1),
            },
        ])
        .when_async(CartCommand::Open {
            order_id: order_id(2),
        })
        .await
        .then_expect_events(vec![CartEvent::CartOpened {
            order_id: order_id(2),
        }]);
}

#[tokio::test]
async fn only_a_paid_order_is_refunded_and_only_once() {
    let paid = {
        let mut events = opened();
        events.push(OrderEvent::CheckoutStarted {
            payment_id: payment_id(1),
            total_minor: 5000,
        });
        events.push(OrderEvent::OrderPaid {
            payment_id: payment_id(1),
        });
        events
    };
    let refund = || OrderCommand::Refund {
        reason: "show cancelled".into(),
    };
    TestFramework::<Order>::with(())
        .given(paid.clone())
        .when_async(refund())
        .await
        .then_expect_events(vec![OrderEvent::OrderRefunded {
            reason: "show cancelled".into(),
        }]);
    let mut refunded = paid;
    refunded.push(OrderEvent::OrderRefunded {
        reason: "show cancelled".into(),
    });
    TestFramework::<Order>::with(())
        .given(refunded)
        .when_async(refund())
        .await
        .then_expect_events(vec![]);
    TestFramework::<Order>::with(())
        .given(opened())
        .when_async(refund())
        .await
        .then_expect_error(OrderError::NotRefundable);
}

#[tokio::test]
async fn an_order_holds_a_bounded_number_of_reservations() {
    let mut full = opened();
    full.truncate(1);
    for n in 0..MAX_ITEMS_PER_ORDER {
        let mut item = item(1);
        item.reservation_id = ReservationId::generate();
        item.seat_labels = vec![SeatLabel::parse("l", &format!("A-{n}")).unwrap()];
        full.push(OrderEvent::ItemAdded(item));
    }
    let mut one_more = item(2);
    one_more.reservation_id = ReservationId::generate();
    TestFramework::<Order>::with(())
        .given(full)
        .when_async(OrderCommand::AddItem {
            order_id: order_id(1),
            customer: customer(1),
            currency: eur(),
            item: one_more,
        })
        .await
        .then_expect_error(OrderError::Full);
}
