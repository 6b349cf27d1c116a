//! `OrderingService`: a customer's cart, checkout and orders. Commands and
//! GetOrder go through the engine (strongly consistent); ListMyOrders reads
//! the `orders` read model.

use ticketing_aggregates::{OrderId, OrderStatus, ReservationId, ValidationError};
use ticketing_commands::{Engine, OrderView};
use ticketing_identity::{Identity, Role};
use ticketing_projections::{OrderRow, Orders, ReadModel};
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::ordering_service_server::{OrderingService, OrderingServiceServer};
use tonic::{Request, Response, Status};

use crate::convert::{command_key, timestamp, user_ref};
use crate::paging::page;
use crate::{caller, AppError, Caller, Consistency};

const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
const MAX_TOKEN_LEN: usize = 64;

#[derive(Clone)]
pub struct OrderingApi {
    engine: Engine,
    identity: Identity,
    orders: Orders,
    consistency: Consistency,
}

impl OrderingApi {
    /// `consistency` is shared with the gateway's other services, so a
    /// caller's token issued by one applies to its queries to the others.
    pub fn new(
        engine: Engine,
        identity: Identity,
        orders: Orders,
        consistency: Consistency,
    ) -> Self {
        Self {
            engine,
            identity,
            orders,
            consistency,
        }
    }

    pub fn into_server(self) -> OrderingServiceServer<Self> {
        OrderingServiceServer::new(self)
    }

    async fn customer<T>(&self, request: &Request<T>) -> Result<Caller, AppError> {
        let caller = caller(&self.identity, request).await?;
        caller.require(&[Role::Customer])?;
        Ok(caller)
    }
}

fn status(status: OrderStatus) -> pb::OrderStatus {
    match status {
        OrderStatus::Unknown => pb::OrderStatus::Unspecified,
        OrderStatus::Cart => pb::OrderStatus::Cart,
        OrderStatus::Checkout => pb::OrderStatus::Checkout,
        OrderStatus::Paid => pb::OrderStatus::Paid,
        OrderStatus::PaymentFailed => pb::OrderStatus::PaymentFailed,
        OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
        OrderStatus::Expired => pb::OrderStatus::Expired,
        OrderStatus::Refunded => pb::OrderStatus::Refunded,
    }
}

fn order_view(view: OrderView) -> pb::Order {
    pb::Order {
        consistency_token: String::new(),
        order_id: view.order_id.to_string(),
        status: status(view.status) as i32,
        items: view
            .items
            .into_iter()
            .map(|item| pb::OrderItem {
                reservation_id: item.reservation_id.to_string(),
                show_id: item.show_id.to_string(),
                seat_labels: item.seat_labels.into_iter().map(String::from).collect(),
                price_minor: item.price_minor,
            })
            .collect(),
        total_minor: view.total_minor,
        currency: view.currency,
        expires_at: view.expires_at.map(timestamp),
        failure_reason: view.failure_reason.unwrap_or_default(),
    }
}

fn order_row(row: OrderRow) -> pb::Order {
    pb::Order {
        consistency_token: String::new(),
        order_id: row.order_id,
        status: status(row.status) as i32,
        items: row
            .items
            .into_iter()
            .map(|item| pb::OrderItem {
                reservation_id: item.reservation_id,
                show_id: item.show_id,
                seat_labels: item.seat_labels,
                price_minor: item.price_minor,
            })
            .collect(),
        total_minor: row.total_minor,
        currency: row.currency,
        expires_at: None,
        failure_reason: row.failure_reason.unwrap_or_default(),
    }
}

fn payment_token(raw: &str) -> Result<&str, ValidationError> {
    let ok =
        !raw.is_empty() && raw.len() <= MAX_TOKEN_LEN && raw.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(raw)
    } else {
        let why = format!(
            "a provider token of 1-{MAX_TOKEN_LEN} visible ASCII characters, e.g. tok_visa"
        );
        Err(ValidationError::new("payment_token", why))
    }
}

#[tonic::async_trait]
impl OrderingService for OrderingApi {
    async fn add_to_cart(
        &self,
        request: Request<pb::AddToCartRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.customer(&request).await?;
        let key = command_key(&request, &caller, "AddToCart", request.get_ref())?;
        let reservation = ReservationId::parse("reservation_id", &request.get_ref().reservation_id)
            .map_err(AppError::from)?;
        let view = self
            .engine
            .add_to_cart(&user_ref(&caller)?, &reservation, key.as_ref())
            .await
            .map_err(AppError::from)?;
        Ok(self.consistency.answer(&caller, order_view(view)).await?)
    }

    async fn remove_from_cart(
        &self,
        request: Request<pb::RemoveFromCartRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.customer(&request).await?;
        let key = command_key(&request, &caller, "RemoveFromCart", request.get_ref())?;
        let req = request.get_ref();
        let order = OrderId::parse("order_id", &req.order_id);
        let reservation = ReservationId::parse("reservation_id", &req.reservation_id);
        let (order, reservation) = match (order, reservation) {
            (Ok(o), Ok(r)) => (o, r),
            (o, r) => return Err(invalid([o.err(), r.err()]).into()),
        };
        let view = self
            .engine
            .remove_from_cart(&user_ref(&caller)?, &order, &reservation, key.as_ref())
            .await
            .map_err(AppError::from)?;
        Ok(self.consistency.answer(&caller, order_view(view)).await?)
    }

    async fn checkout(
        &self,
        request: Request<pb::CheckoutRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.customer(&request).await?;
        let key = command_key(&request, &caller, "Checkout", request.get_ref())?;
        let req = request.get_ref();
        let order = OrderId::parse("order_id", &req.order_id);
        let token = payment_token(&req.payment_token);
        let (order, token) = match (order, token) {
            (Ok(o), Ok(t)) => (o, t),
            (o, t) => return Err(invalid([o.err(), t.err()]).into()),
        };
        let view = self
            .engine
            .checkout(&user_ref(&caller)?, &order, token, key.as_ref())
            .await
            .map_err(AppError::from)?;
        Ok(self.consistency.answer(&caller, order_view(view)).await?)
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = self.customer(&request).await?;
        // Read from the log, which holds every write: nothing to wait for.
        self.consistency
            .check_token(&request, &request.get_ref().min_consistency_token)?;
        let order =
            OrderId::parse("order_id", &request.get_ref().order_id).map_err(AppError::from)?;
        let view = self
            .engine
            .order(&user_ref(&caller)?, &order)
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(order_view(view)))
    }

    async fn list_my_orders(
        &self,
        request: Request<pb::ListMyOrdersRequest>,
    ) -> Result<Response<pb::ListMyOrdersResponse>, Status> {
        let caller = self.customer(&request).await?;
        let req = request.get_ref();
        self.consistency
            .before_read(
                &request,
                &req.min_consistency_token,
                Some(&caller),
                &[ReadModel::Orders],
            )
            .await?;
        let page = page(
            req.page_size,
            &req.page_token,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
            OrderId::parse,
        )?;
        let page = self
            .orders
            .list_for_customer(
                caller.user_id.as_str(),
                page.after.as_ref().map(OrderId::as_str),
                page.size,
            )
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(pb::ListMyOrdersResponse {
            orders: page.orders.into_iter().map(order_row).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        }))
    }
}

/// All field violations of several parsed ids, as one INVALID_ARGUMENT.
fn invalid<const N: usize>(errors: [Option<ValidationError>; N]) -> AppError {
    AppError::InvalidArgument(
        errors
            .into_iter()
            .flatten()
            .map(|e| crate::FieldViolation {
                field: e.field,
                description: e.description,
            })
            .collect(),
    )
}
