//! The OpenAPI 3.1 document: the operations come from the handlers'
//! `#[utoipa::path]`s (`routes/`); this adds the document's info, the two
//! ways to send the token, the SSE event schemas, and a `default` problem
//! answer on every operation, so every status the API can give is
//! described.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, RefOr, ResponseBuilder};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};

use crate::extract::SESSION_COOKIE;
use crate::model::{Resync, SeatChange, SeatMapSnapshot};
use crate::problem::{Problem, PROBLEM_JSON};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ticketing",
        description = "Seated tickets: browse shows, hold seats, buy them, download tickets. \
                       The same operations as the gRPC API `ticketing.v1`, as JSON. \
                       Errors are RFC 9457 problem documents whose `reason` is the gRPC contract's.",
    ),
    servers((url = "/api/v1")),
    components(schemas(Problem, SeatMapSnapshot, SeatChange, Resync)),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "shows", description = "The catalog and seat maps"),
        (name = "reservations", description = "Holding seats"),
        (name = "orders", description = "Cart, checkout, orders"),
        (name = "tickets", description = "A paid order's tickets"),
    ),
)]
struct Info;

/// The routes' document with the parts above.
pub fn finish(mut document: OpenApi) -> OpenApi {
    let info = Info::openapi();
    document.info = info.info;
    document.servers = info.servers;
    document.tags = info.tags;
    let components = document.components.get_or_insert_with(Default::default);
    if let Some(extra) = info.components {
        components.schemas.extend(extra.schemas);
    }
    components
        .schemas
        .insert(Problem::name().into_owned(), Problem::schema());
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
    );
    let problem = ResponseBuilder::new()
        .description("Any other error, as an RFC 9457 problem")
        .content(
            PROBLEM_JSON,
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                Problem::name(),
            )))),
        )
        .build();
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.delete,
            &mut item.put,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| RefOr::T(problem.clone()));
        }
    }
    document
}
