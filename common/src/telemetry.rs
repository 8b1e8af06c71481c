//! The one telemetry setup both binaries call: JSON logs on stdout (for Loki), OpenTelemetry
//! spans (exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set), and W3C trace
//! context propagation. Trace ids exist whether or not an exporter is configured, so they
//! always appear in the logs.

use anyhow::Context;
use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Level, field::Field};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::filter_fn,
    layer::{Context as LayerContext, SubscriberExt},
    util::SubscriberInitExt,
};

use crate::settings::{LogFormat, TelemetrySettings, catalogue};

/// Flushes and shuts the tracer provider down when dropped (at the end of `main`).
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("failed to flush traces: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(service: &'static str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let mut provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if settings.otlp_endpoint.is_some() {
        // The exporter reads OTEL_EXPORTER_OTLP_* itself (endpoint, headers, timeout).
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .context("building the OTLP span exporter")?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_tracked_inactivity(false);

    let filter = EnvFilter::try_from_env(catalogue::LOG_FILTER.name)
        .unwrap_or_else(|_| EnvFilter::new(catalogue::LOG_FILTER_DEFAULT));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(ConnectionErrors {
            json: settings.log_format == LogFormat::Json,
        });
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(filter_fn(|meta| !is_connection_error(meta))),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_filter(filter_fn(|meta| !is_connection_error(meta))),
            )
            .try_init(),
    };
    result.context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider })
}

/// An error the HTTP server logs about a connection, with no request id.
fn is_connection_error(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target().starts_with("actix_http::")
}

/// The HTTP server's connection errors that the client causes (actix-http's `DispatchError`
/// texts: a request that does not parse, a connection that breaks or stalls).
const CLIENT_CAUSED: [&str; 4] = [
    "request parse error",
    "I/O error",
    "did not complete within the specified timeout",
    "connection shutdown timeout",
];

/// Re-logs the HTTP server's connection errors in the usual format with target `http` and the
/// server's message as `cause`: a WARN when the client caused it (so it does not trip
/// log-based alerts on ERROR), an ERROR otherwise (a response body that failed, an upgrade).
/// The regular layers drop the originals; a layer cannot re-emit an event through the
/// subscriber it is part of.
struct ConnectionErrors {
    json: bool,
}

impl<S: tracing::Subscriber> Layer<S> for ConnectionErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: LayerContext<'_, S>) {
        if !is_connection_error(event.metadata()) {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut cause = Message(String::new());
        event.record(&mut cause);
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let (level, message) = if CLIENT_CAUSED.iter().any(|c| cause.0.contains(c)) {
            ("WARN", "malformed request or broken connection")
        } else {
            ("ERROR", "HTTP connection failed")
        };
        let line = if self.json {
            serde_json::json!({
                "timestamp": timestamp,
                "level": level,
                "message": message,
                "cause": cause.0,
                "source": event.metadata().target(),
                "target": "http",
            })
            .to_string()
        } else {
            format!("{timestamp}  {level} http: {message} cause={:?}", cause.0)
        };
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// The current span's trace id as 32 hex digits (empty when there is no valid span).
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        span_context.trace_id().to_string()
    } else {
        String::new()
    }
}
