//! `/cart` and `/orders`: put holds in the cart, take them out, pay, and
//! read the caller's orders.

use axum::extract::{Path, State};
use axum::Json;
use ticketing_proto::v1 as pb;
use ticketing_proto::v1::ordering_service_server::OrderingService;

use crate::extract::{token_header, Body, Credentials, Params, TokenHeader};
use crate::model::{AddToCartRequest, CartOf, CheckoutRequest, Order, OrderPage, Page};
use crate::{Problem, Services};

/// Puts a hold in the caller's cart (opening one if needed), which extends
/// the hold.
#[utoipa::path(post, path = "/cart/items", tag = "orders",
    request_body = AddToCartRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The cart", body = Order),
        (status = 409, description = "The hold has ended (RESERVATION_EXPIRED) or is in another order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_to_cart(
    State(services): State<Services>,
    credentials: Credentials,
    Body(body): Body<AddToCartRequest>,
) -> Result<(TokenHeader, Json<Order>), Problem> {
    let request = credentials.request(pb::AddToCartRequest {
        reservation_id: body.reservation_id,
    });
    let order = OrderingService::add_to_cart(&services.ordering, request).await?;
    Ok((token_header(&order), Json(order.into_inner().into())))
}

/// Takes a hold out of a cart; the hold stays until its deadline.
#[utoipa::path(delete, path = "/cart/items/{reservation_id}", tag = "orders",
    params(
        ("reservation_id" = String, Path, description = "The reservation to take out"),
        CartOf,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The cart", body = Order)))]
pub async fn remove_from_cart(
    State(services): State<Services>,
    credentials: Credentials,
    Path(reservation_id): Path<String>,
    Params(cart): Params<CartOf>,
) -> Result<(TokenHeader, Json<Order>), Problem> {
    let request = credentials.request(pb::RemoveFromCartRequest {
        order_id: cart.order_id,
        reservation_id,
    });
    let order = OrderingService::remove_from_cart(&services.ordering, request).await?;
    Ok((token_header(&order), Json(order.into_inner().into())))
}

/// Pays for the cart. The answer is the order after the payment: `paid`,
/// or `payment_failed` with a `failure_reason` (pay again), or `checkout`
/// while the provider has not answered yet.
#[utoipa::path(post, path = "/orders/{order_id}/checkout", tag = "orders",
    request_body = CheckoutRequest,
    params(
        ("order_id" = String, Path, description = "The cart's order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a retried payment is not charged twice"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The order after the payment", body = Order),
        (status = 409, description = "The order cannot be paid now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkout(
    State(services): State<Services>,
    credentials: Credentials,
    Path(order_id): Path<String>,
    Body(body): Body<CheckoutRequest>,
) -> Result<(TokenHeader, Json<Order>), Problem> {
    let request = credentials.request(pb::CheckoutRequest {
        order_id,
        payment_token: body.payment_token,
    });
    let order = OrderingService::checkout(&services.ordering, request).await?;
    Ok((token_header(&order), Json(order.into_inner().into())))
}

/// The caller's orders, newest first, a page at a time.
#[utoipa::path(get, path = "/orders", tag = "orders",
    params(Page),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "A page of orders", body = OrderPage)))]
pub async fn list_orders(
    State(services): State<Services>,
    credentials: Credentials,
    Params(page): Params<Page>,
) -> Result<Json<OrderPage>, Problem> {
    let request = credentials.request(pb::ListMyOrdersRequest {
        page_size: page.page_size.unwrap_or_default(),
        page_token: page.page_token.unwrap_or_default(),
        min_consistency_token: String::new(),
    });
    let reply = OrderingService::list_my_orders(&services.ordering, request)
        .await?
        .into_inner();
    Ok(Json(OrderPage {
        orders: reply.orders.into_iter().map(Order::from).collect(),
        next_page_token: reply.next_page_token,
    }))
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path, description = "The order's id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order of the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order(
    State(services): State<Services>,
    credentials: Credentials,
    Path(order_id): Path<String>,
) -> Result<Json<Order>, Problem> {
    let request = credentials.request(pb::GetOrderRequest {
        order_id,
        min_consistency_token: String::new(),
    });
    let order = OrderingService::get_order(&services.ordering, request).await?;
    Ok(Json(order.into_inner().into()))
}
