//! The Cart aggregate (stream = the customer's user id): which order is the
//! customer's open cart. It makes "open a cart if none is open" one
//! decision, so two AddToCart calls racing never open two carts.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::OrderId;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cart {
    pub open: Option<OrderId>,
}

#[derive(Debug)]
pub enum CartCommand {
    /// Makes `order_id` the open cart unless one is open already.
    Open { order_id: OrderId },
    /// The order stopped being a cart (checkout, cancel, expiry).
    Close { order_id: OrderId },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CartEvent {
    CartOpened { order_id: OrderId },
    CartClosed { order_id: OrderId },
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> String {
        match self {
            CartEvent::CartOpened { .. } => "CartOpened",
            CartEvent::CartClosed { .. } => "CartClosed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cart {0} is already open")]
pub struct CartAlreadyOpen(pub OrderId);

impl Aggregate for Cart {
    const TYPE: &'static str = "Cart";
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartAlreadyOpen;
    type Services = ();

    async fn handle(
        &mut self,
        command: CartCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CartAlreadyOpen> {
        match command {
            CartCommand::Open { order_id } => match &self.open {
                Some(open) if *open == order_id => {}
                Some(open) => return Err(CartAlreadyOpen(open.clone())),
                None => sink.write(CartEvent::CartOpened { order_id }, self).await,
            },
            CartCommand::Close { order_id } => {
                if self.open.as_ref() == Some(&order_id) {
                    sink.write(CartEvent::CartClosed { order_id }, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: CartEvent) {
        self.open = match event {
            CartEvent::CartOpened { order_id } => Some(order_id),
            CartEvent::CartClosed { .. } => None,
        };
    }
}
