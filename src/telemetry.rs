//! Optional trace export to an OpenTelemetry collector, over OTLP/HTTP (protobuf), for operators
//! who run one. It is off unless the standard variable `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the
//! full URL, `…/v1/traces`) or `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL) is set;
//! the exporter reads those, and the other `OTEL_*` variables (`OTEL_SERVICE_NAME`, headers,
//! timeout, batch sizes) the way every OpenTelemetry SDK does. The spans are the ones in the
//! logs (`request` for each HTTP request, with its id), at the level `BATON_LOG` lets through.
//!
//! The SDK exports batches from a thread of its own, which has no Tokio reactor. The exporter's
//! HTTP client therefore sends with Baton's own `reqwest` client on the server's runtime
//! (`ExportClient`), so no second HTTP stack is linked and no blocking client is needed.

use async_trait::async_trait;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tokio::runtime::Handle;

/// The standard variables that name a collector.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Trace export while it runs; `shutdown` sends what is still batched.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// The tracer to hand to `tracing_opentelemetry::layer().with_tracer`.
pub type Tracer = opentelemetry_sdk::trace::Tracer;

impl Telemetry {
    /// Trace export to the collector the environment names, or `None` when it names none. Must
    /// be called on the Tokio runtime that will carry the exports.
    pub fn from_env() -> anyhow::Result<Option<(Telemetry, Tracer)>> {
        let named = ENDPOINT_VARS
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
        if !named {
            return Ok(None);
        }
        let client = ExportClient {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
            runtime: Handle::current(),
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .build()?;
        let mut resource = Resource::builder();
        if std::env::var("OTEL_SERVICE_NAME").is_err() {
            resource = resource.with_service_name("baton");
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer("baton");
        Ok(Some((Telemetry { provider }, tracer)))
    }

    /// Sends the spans still batched and stops the export thread.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "flushing the last traces failed");
        }
    }
}

/// The exporter's HTTP client: each request runs on the server's runtime, with Baton's reqwest.
#[derive(Debug, Clone)]
struct ExportClient {
    client: reqwest::Client,
    runtime: Handle,
}

#[async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let answer = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = answer.status();
            let headers = answer.headers().clone();
            let mut response = Response::builder()
                .status(status)
                .body(answer.bytes().await?)?;
            *response.headers_mut() = headers;
            Ok::<_, HttpError>(response)
        });
        sent.await?
    }
}
