//! OpenTelemetry export of the request spans over OTLP (gRPC), behind the `otlp` cargo
//! feature and switched on with `--otlp-endpoint` (or `ORDERGATE_OTLP_ENDPOINT`).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The provider to keep alive (and shut down at exit) and the tracing layer to install.
pub fn layer<S>(
    endpoint: &str,
) -> Result<
    (
        SdkTracerProvider,
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
    ),
    String,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("ordergate").build())
        .build();
    let tracer = provider.tracer("ordergate");
    Ok((provider, tracing_opentelemetry::layer().with_tracer(tracer)))
}
