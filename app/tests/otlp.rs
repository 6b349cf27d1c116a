//! `--otlp-endpoint`: a real `ticketing serve` exports its spans over
//! OTLP/gRPC to a collector (here a minimal one in the test): the gRPC
//! call, the command and the projector batch of a ScheduleShow all arrive,
//! even though the process logs only warnings.

// Shared with the kill tests; not every helper is used here.
#[allow(dead_code)]
mod support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ticketing_tests::{database_url, Backend};
use tonic::{Request, Response, Status};

/// Keeps the name of every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<String>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut names = self.0.lock().expect("lock");
        for resource in &request.get_ref().resource_spans {
            for scope in &resource.scope_spans {
                names.extend(scope.spans.iter().map(|span| span.name.clone()));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector() {
    let collector = Collector::default();
    let addr = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("addr")
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve(addr),
    );
    // Inherited by the server process; this test binary runs nothing else.
    std::env::set_var("TICKETING_OTLP_ENDPOINT", format!("http://{addr}"));
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "200");

    let url = database_url(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("ticketing-otlp-{}", std::process::id()));
    let server = support::start(&url, &dir, "30m").await;
    server.published_show(&url, &dir, 3).await;

    let wanted = ["grpc", "command.schedule_show", "projector_batch"];
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = collector.0.lock().expect("lock").clone();
        if wanted.iter().all(|w| seen.iter().any(|s| s == w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    for name in wanted {
        assert!(seen.iter().any(|s| s == name), "no {name} span in {seen:?}");
    }
}
