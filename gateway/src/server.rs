//! Assembles the gRPC server: the ticketing services, `grpc.health.v1.Health`
//! (each added service reported SERVING until shutdown), server reflection
//! (v1 and v1alpha) and grpc-web over HTTP/1.1, with one tracing span per
//! call. `app/src/application.rs` shows the assembly: build a
//! [`GatewayServices`] with one `add_service` per generated server, then
//! [`serve`] it until the shutdown future resolves.

use std::convert::Infallible;
use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_web::GrpcWebLayer;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The embedded descriptor set is unusable: a build bug.
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The ticketing services to serve, in the order added. Health, reflection
/// and grpc-web are added by [`serve`].
#[derive(Debug, Default)]
pub struct GatewayServices {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl GatewayServices {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a generated `…ServiceServer`; health reports it by its full
    /// name (e.g. `ticketing.v1.IdentityService`).
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.names.push(S::NAME);
        self
    }
}

/// Reflection over the contract and the health service.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ticketing_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Serves `services` on `listener` until `shutdown` completes, then lets
/// in-flight calls finish; browsers on `origins` may call with grpc-web.
pub async fn serve(
    listener: TcpListener,
    services: GatewayServices,
    origins: crate::Origins,
    limits: crate::ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let GatewayServices { mut routes, names } = services;

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in &names {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    routes
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);

    // Load balancers polling health stop routing here as soon as shutdown
    // starts, while in-flight calls still finish.
    let shutdown = async move {
        shutdown.await;
        for name in names.iter().copied().chain([""]) {
            health
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    };

    Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(Some(limits.streams_per_connection))
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_connection_age(limits.max_connection_age)
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
        .layer(tower::util::option_layer(crate::grpc_web_cors(&origins)))
        .layer(GrpcWebLayer::new())
        .layer(crate::metrics::RpcMetricsLayer)
        .layer(crate::LimitsLayer::new(&limits))
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
