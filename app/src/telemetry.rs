//! Logs and traces. Logs go to stderr as JSON (or text), filtered by
//! `TICKETING_LOG` (default `info`); with `--otlp-endpoint` the spans
//! (gRPC calls, commands, projector batches, relay publishes) are also
//! exported over OTLP/gRPC to a collector, batched off the request path,
//! filtered on their own by `TICKETING_TRACES` (default `info`), so quiet
//! logs do not mean missing traces.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::cli::LogFormat;

/// Holds the trace exporter, if any, so what it batched is flushed at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporter; spans still queued are sent first.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: flushing traces failed: {error}");
            }
        }
    }
}

/// Installs the global subscriber; call once, inside the Tokio runtime
/// (the OTLP exporter's channel needs it).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Json => logs.json().boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let provider = otlp_endpoint.map(exporter).transpose()?;
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("ticketing"))
            .with_filter(filter("TICKETING_TRACES"))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter("TICKETING_LOG")))
        .with(traces)
        .init();
    Ok(Telemetry { provider })
}

fn filter(variable: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env(variable)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

fn exporter(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| anyhow::anyhow!("--otlp-endpoint {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("ticketing")
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
