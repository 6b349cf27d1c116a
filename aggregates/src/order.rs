//! The Order aggregate: what a customer buys. It is a cart (status CART)
//! until checkout; then it waits for its payment and ends PAID,
//! PAYMENT_FAILED (the customer may try another card), CANCELLED or
//! EXPIRED. Holds and payments live in their own aggregates; the order
//! records which reservations it holds and which payment it waits for.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Currency, OrderId, PaymentId, ReservationId, SeatLabel, ShowId, UserRef};

/// Most reservations in one order (each of at most the reservation limit
/// of seats): everything an order costs to read, ticket and mail is bounded.
pub const MAX_ITEMS_PER_ORDER: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderStatus {
    #[default]
    Unknown,
    Cart,
    Checkout,
    Paid,
    PaymentFailed,
    Cancelled,
    Expired,
    /// Paid, then refunded (its show was cancelled).
    Refunded,
}

/// One reservation in an order, priced when it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub reservation_id: ReservationId,
    pub show_id: ShowId,
    pub seat_labels: Vec<SeatLabel>,
    /// The sum of the seats' prices.
    pub price_minor: i64,
    /// Each seat's price, in `seat_labels` order; empty in items added
    /// before seat prices were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seat_prices: Vec<i64>,
}

impl OrderItem {
    /// The price of the `index`th seat, when recorded.
    pub fn seat_price(&self, index: usize) -> Option<i64> {
        self.seat_prices.get(index).copied()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Order {
    pub status: OrderStatus,
    pub order_id: Option<OrderId>,
    pub customer: Option<UserRef>,
    pub currency: Option<Currency>,
    pub items: Vec<OrderItem>,
    pub payment: Option<PaymentId>,
    pub failure_reason: Option<String>,
}

#[derive(Debug)]
pub enum OrderCommand {
    /// Opens the order as a cart if it is new.
    AddItem {
        order_id: OrderId,
        customer: UserRef,
        currency: Currency,
        item: OrderItem,
    },
    RemoveItem {
        customer: UserRef,
        reservation_id: ReservationId,
    },
    Checkout {
        customer: UserRef,
        payment_id: PaymentId,
    },
    MarkPaid {
        payment_id: PaymentId,
    },
    MarkPaymentFailed {
        payment_id: PaymentId,
        reason: String,
    },
    Cancel {
        customer: UserRef,
    },
    /// Its holds ended before it was paid.
    Expire,
    /// The money of a paid order went back (its show was cancelled).
    Refund {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrderEvent {
    OrderOpened {
        order_id: OrderId,
        customer: UserRef,
        currency: Currency,
    },
    ItemAdded(OrderItem),
    ItemRemoved {
        reservation_id: ReservationId,
    },
    CheckoutStarted {
        payment_id: PaymentId,
        total_minor: i64,
    },
    OrderPaid {
        payment_id: PaymentId,
    },
    OrderPaymentFailed {
        payment_id: PaymentId,
        reason: String,
    },
    OrderCancelled {},
    OrderExpired {},
    OrderRefunded {
        reason: String,
    },
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> String {
        match self {
            OrderEvent::OrderOpened { .. } => "OrderOpened",
            OrderEvent::ItemAdded(_) => "ItemAdded",
            OrderEvent::ItemRemoved { .. } => "ItemRemoved",
            OrderEvent::CheckoutStarted { .. } => "CheckoutStarted",
            OrderEvent::OrderPaid { .. } => "OrderPaid",
            OrderEvent::OrderPaymentFailed { .. } => "OrderPaymentFailed",
            OrderEvent::OrderCancelled {} => "OrderCancelled",
            OrderEvent::OrderExpired {} => "OrderExpired",
            OrderEvent::OrderRefunded { .. } => "OrderRefunded",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("no such order")]
    NotFound,
    /// Deliberately the same answer as NotFound at the API, so order ids of
    /// other customers do not leak.
    #[error("the order belongs to another customer")]
    NotOwner,
    #[error("the order is no longer a cart")]
    NotCart,
    #[error("an order holds seats of one currency; this reservation is in another")]
    CurrencyMismatch,
    #[error("the reservation is not in this order")]
    NotInOrder,
    #[error("the cart is empty")]
    Empty,
    #[error("the order cannot be paid in its state")]
    NotPayable,
    #[error("another payment is in progress for this order")]
    OtherPayment,
    #[error("only a paid order can be refunded")]
    NotRefundable,
    #[error("an order holds at most {MAX_ITEMS_PER_ORDER} reservations")]
    Full,
}

impl Aggregate for Order {
    const TYPE: &'static str = "Order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(
        &mut self,
        command: OrderCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), OrderError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: OrderEvent) {
        match event {
            OrderEvent::OrderOpened {
                order_id,
                customer,
                currency,
            } => {
                self.status = OrderStatus::Cart;
                self.order_id = Some(order_id);
                self.customer = Some(customer);
                self.currency = Some(currency);
            }
            OrderEvent::ItemAdded(item) => self.items.push(item),
            OrderEvent::ItemRemoved { reservation_id } => {
                self.items.retain(|i| i.reservation_id != reservation_id)
            }
            OrderEvent::CheckoutStarted { payment_id, .. } => {
                self.status = OrderStatus::Checkout;
                self.payment = Some(payment_id);
                self.failure_reason = None;
            }
            OrderEvent::OrderPaid { .. } => self.status = OrderStatus::Paid,
            OrderEvent::OrderPaymentFailed { reason, .. } => {
                self.status = OrderStatus::PaymentFailed;
                self.failure_reason = Some(reason);
            }
            OrderEvent::OrderCancelled {} => self.status = OrderStatus::Cancelled,
            OrderEvent::OrderExpired {} => self.status = OrderStatus::Expired,
            OrderEvent::OrderRefunded { .. } => self.status = OrderStatus::Refunded,
        }
    }
}

impl Order {
    pub fn total_minor(&self) -> i64 {
        self.items.iter().map(|i| i.price_minor).sum()
    }

    fn owned_by(&self, customer: &UserRef) -> Result<(), OrderError> {
        match &self.customer {
            None => Err(OrderError::NotFound),
            Some(owner) if owner != customer => Err(OrderError::NotOwner),
            Some(_) => Ok(()),
        }
    }

    fn decide(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        use OrderStatus::*;
        match command {
            OrderCommand::AddItem {
                order_id,
                customer,
                currency,
                item,
            } => {
                let mut events = Vec::new();
                match self.status {
                    Unknown => events.push(OrderEvent::OrderOpened {
                        order_id,
                        customer,
                        currency,
                    }),
                    Cart => {
                        self.owned_by(&customer)?;
                        if self.currency.as_ref() != Some(&currency) {
                            return Err(OrderError::CurrencyMismatch);
                        }
                    }
                    _ => return Err(OrderError::NotCart),
                }
                // Adding a reservation twice only extends its hold (done by
                // the caller); the order already lists it.
                if !self
                    .items
                    .iter()
                    .any(|i| i.reservation_id == item.reservation_id)
                {
                    if self.items.len() >= MAX_ITEMS_PER_ORDER {
                        return Err(OrderError::Full);
                    }
                    events.push(OrderEvent::ItemAdded(item));
                }
                Ok(events)
            }
            OrderCommand::RemoveItem {
                customer,
                reservation_id,
            } => {
                self.owned_by(&customer)?;
                if self.status != Cart {
                    return Err(OrderError::NotCart);
                }
                if !self
                    .items
                    .iter()
                    .any(|i| i.reservation_id == reservation_id)
                {
                    return Err(OrderError::NotInOrder);
                }
                Ok(vec![OrderEvent::ItemRemoved { reservation_id }])
            }
            OrderCommand::Checkout {
                customer,
                payment_id,
            } => {
                self.owned_by(&customer)?;
                match self.status {
                    Cart | PaymentFailed if self.items.is_empty() => Err(OrderError::Empty),
                    Cart | PaymentFailed => Ok(vec![OrderEvent::CheckoutStarted {
                        payment_id,
                        total_minor: self.total_minor(),
                    }]),
                    Checkout => Err(OrderError::OtherPayment),
                    _ => Err(OrderError::NotPayable),
                }
            }
            OrderCommand::MarkPaid { payment_id } => match self.status {
                Checkout if self.payment.as_ref() == Some(&payment_id) => {
                    Ok(vec![OrderEvent::OrderPaid { payment_id }])
                }
                Paid if self.payment.as_ref() == Some(&payment_id) => Ok(vec![]),
                _ => Err(OrderError::NotPayable),
            },
            OrderCommand::MarkPaymentFailed { payment_id, reason } => match self.status {
                Checkout if self.payment.as_ref() == Some(&payment_id) => {
                    Ok(vec![OrderEvent::OrderPaymentFailed { payment_id, reason }])
                }
                _ if self.payment.as_ref() != Some(&payment_id) => Err(OrderError::OtherPayment),
                _ => Ok(vec![]),
            },
            OrderCommand::Cancel { customer } => {
                self.owned_by(&customer)?;
                match self.status {
                    Cart | PaymentFailed => Ok(vec![OrderEvent::OrderCancelled {}]),
                    Cancelled => Ok(vec![]),
                    _ => Err(OrderError::NotCart),
                }
            }
            OrderCommand::Refund { reason } => match self.status {
                Paid => Ok(vec![OrderEvent::OrderRefunded { reason }]),
                Refunded => Ok(vec![]),
                Unknown => Err(OrderError::NotFound),
                _ => Err(OrderError::NotRefundable),
            },
            OrderCommand::Expire => match self.status {
                Cart | Checkout | PaymentFailed => Ok(vec![OrderEvent::OrderExpired {}]),
                Unknown => Err(OrderError::NotFound),
                _ => Ok(vec![]),
            },
        }
    }
}
