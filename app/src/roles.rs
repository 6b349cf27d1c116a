//! What each role runs, assembled from the store and the settings: the
//! projectors, the expirer, the relay, and the gateway's services (gRPC and
//! HTTP).

use ticketing_event_store::Store;
use ticketing_fulfillment::Scanner;
use ticketing_gateway::{
    CatalogApi, Consistency, FulfillmentApi, GatewayServices, IdentityApi, InventoryApi,
    OrderingApi,
};
use ticketing_http::Services;
use ticketing_projections::{
    Orders, Projector, ReadModel, Reservations, SeatMaps, Shard, Shows, Target,
};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::application::{engine, identity, Settings};
use crate::expirer::Expirer;

/// Starts the projectors of this process's shard ([`Shard::keeps`]) and
/// returns which they are; refuses a shard count other than the one the
/// models' checkpoints are laid out for, before starting any.
pub async fn spawn_projectors(
    tasks: &mut JoinSet<()>,
    store: &Store,
    settings: &Settings,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<(ReadModel, Shard)>> {
    let kept = settings.projector_shard.keeps();
    for &(model, shard) in &kept {
        ticketing_projections::check_shard(store, model, shard).await?;
    }
    for &(model, shard) in &kept {
        let projection = model.projection(Target::live(store.backend()));
        let projector = Projector::new(store.clone(), projection)
            .with_shard(shard)
            .with_delay(settings.projection_delay);
        tasks.spawn(projector.run(stopped.clone()));
    }
    Ok(kept)
}

pub fn expirer(store: &Store, settings: &Settings) -> Expirer {
    let pool = store.read_pool().clone();
    let backend = store.backend();
    Expirer::new(
        engine(store, settings),
        Reservations {
            pool: pool.clone(),
            backend,
        },
        Orders { pool, backend },
        settings.expirer_interval,
        settings.resume_checkouts_after,
    )
}

/// The gateway's services, shared by the gRPC server and the HTTP face;
/// `stopped` ends open seat-map streams at shutdown, which graceful
/// shutdown otherwise waits on forever.
pub fn gateway_services(
    store: &Store,
    settings: &Settings,
    seat_locks: Option<ticketing_locks::RedisSeatLocks>,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<Services> {
    let mut engine = engine(store, settings);
    if let Some(locks) = seat_locks {
        engine = engine.with_seat_locks(std::sync::Arc::new(locks));
    }
    let identity = identity(store, settings.jwt_secret.clone(), settings.token_ttl)?;
    let pool = store.read_pool().clone();
    let backend = store.backend();
    let shows = Shows {
        pool: pool.clone(),
        backend,
    };
    let seat_maps = SeatMaps {
        pool: pool.clone(),
        backend,
    };
    let scanner = Scanner::new(pool.clone(), backend);
    let orders = Orders { pool, backend };
    // One per gateway: a caller's token issued by one service applies to
    // its queries to the others.
    let consistency = Consistency::new(store.clone(), settings.read_your_writes_wait);
    Ok(Services {
        identity: IdentityApi::new(identity.clone()),
        catalog: CatalogApi::new(
            engine.clone(),
            identity.clone(),
            shows.clone(),
            consistency.clone(),
        ),
        inventory: InventoryApi::new(
            engine.clone(),
            identity.clone(),
            seat_maps,
            shows,
            consistency.clone(),
        )
        .bound_watches(
            settings.limits.max_watches,
            settings.limits.watches_per_peer,
        )
        .stop_watches_on(stopped),
        ordering: OrderingApi::new(
            engine.clone(),
            identity.clone(),
            orders,
            consistency.clone(),
        ),
        fulfillment: FulfillmentApi::new(engine, identity, scanner, consistency),
    })
}

/// The gRPC server's services: the same values the HTTP face calls, each
/// decoding requests of at most `max_message` bytes.
pub fn grpc_services(services: &Services, max_message: usize) -> GatewayServices {
    let services = services.clone();
    GatewayServices::new()
        .add_service(
            services
                .identity
                .into_server()
                .max_decoding_message_size(max_message),
        )
        .add_service(
            services
                .catalog
                .into_server()
                .max_decoding_message_size(max_message),
        )
        .add_service(
            services
                .inventory
                .into_server()
                .max_decoding_message_size(max_message),
        )
        .add_service(
            services
                .ordering
                .into_server()
                .max_decoding_message_size(max_message),
        )
        .add_service(
            services
                .fulfillment
                .into_server()
                .max_decoding_message_size(max_message),
        )
}

/// The integration-event relay to Kafka, and its health for `/readyz`.
/// Without brokers there is nothing to relay: in-process workers read the
/// feed themselves.
pub fn spawn_relay(
    tasks: &mut JoinSet<()>,
    store: &Store,
    settings: &Settings,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Option<ticketing_relay::RelayHealth>> {
    use ticketing_relay::{KafkaConfig, KafkaPublisher, Relay};
    let Some(cluster) = &settings.kafka else {
        return Ok(None);
    };
    let kafka = KafkaPublisher::new(&KafkaConfig::new(cluster.clone()))?;
    let relay = Relay::new(store.clone(), kafka);
    let health = relay.health();
    tasks.spawn(relay.run(stopped.clone()));
    Ok(Some(health))
}
