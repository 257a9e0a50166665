//! The HTTP(S) client of one connection: hyper-util's pooled client with rustls (webpki
//! roots), a connect timeout, a whole-request timeout and a cap on the answer's size.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::resilience::Circuit;
use super::{Transport, UpstreamError, UpstreamResponse};
use crate::engine::render::VendorRequest;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub resilience: super::resilience::ResilienceOptions,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            resilience: super::resilience::ResilienceOptions::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 8 * 1024 * 1024,
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: 64,
        }
    }
}

pub struct HttpTransport {
    resilience: super::resilience::Resilience,
    /// The connection's name: the metrics label.
    connection: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Scheme, authority and path prefix, without a trailing slash.
    base_url: String,
    options: ClientOptions,
}

impl HttpTransport {
    pub fn new(
        connection: &str,
        base_url: &str,
        options: ClientOptions,
    ) -> Result<Self, UpstreamError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let uri: Uri = base_url
            .parse()
            .map_err(|_| UpstreamError::BadUrl(base_url.clone()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(UpstreamError::BadUrl(format!(
                "{base_url} (expected http:// or https:// with a host)"
            )));
        }
        if uri.query().is_some() {
            return Err(UpstreamError::BadUrl(format!(
                "{base_url} (no query string in a base URL)"
            )));
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(options.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| UpstreamError::BadUrl(format!("TLS setup failed: {e}")))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .build(https);
        Ok(HttpTransport {
            resilience: super::resilience::Resilience::new(options.resilience.clone()),
            connection: connection.to_string(),
            client,
            base_url,
            options,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn exchange(&self, req: &VendorRequest) -> Result<UpstreamResponse, UpstreamError> {
        let mut url = String::with_capacity(self.base_url.len() + req.path_and_query.len());
        url.push_str(&self.base_url);
        url.push_str(&req.path_and_query);
        // Parsed in the allocation just made (`str::parse` would copy it into a new one).
        let uri = Uri::from_maybe_shared(Bytes::from(url)).map_err(|_| {
            UpstreamError::BadUrl(format!("{}{}", self.base_url, req.path_and_query))
        })?;
        let mut request = Request::new(Full::new(req.body.clone()));
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = uri;
        // Sized once for the rendered headers and the `Host` the client adds.
        let headers = request.headers_mut();
        headers.reserve(req.headers.len() + 1);
        for (name, value, _) in &req.headers {
            headers.append(name.clone(), value.clone());
        }
        let response = self.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                UpstreamError::Connect(error_chain(&e))
            } else {
                UpstreamError::Io(error_chain(&e))
            }
        })?;
        let (parts, body) = response.into_parts();
        let limit = self.options.max_response_bytes;
        let body = Limited::new(body, limit).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                UpstreamError::TooLarge(limit)
            } else {
                UpstreamError::Io(e.to_string())
            }
        })?;
        Ok(UpstreamResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.to_bytes(),
        })
    }
}

impl HttpTransport {
    /// One attempt, timed, with its metrics.
    async fn attempt(&self, req: &VendorRequest) -> Result<UpstreamResponse, UpstreamError> {
        let timeout = self.options.request_timeout;
        let started = std::time::Instant::now();
        let span =
            tracing::info_span!("upstream", connection = %self.connection, method = %req.method);
        let call = tracing::Instrument::instrument(self.exchange(req), span);
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout(timeout.as_millis() as u64)),
        };
        let m = crate::telemetry::metrics::metrics();
        m.upstream_duration
            .with_label_values(&[&self.connection])
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(r) => m
                .upstream_responses
                .with_label_values(&[&self.connection, &r.status.to_string()])
                .inc(),
            Err(e) => {
                m.upstream_failures
                    .with_label_values(&[&self.connection, e.reason()])
                    .inc();
            }
        }
        result
    }
}

impl Transport for HttpTransport {
    /// Admission (circuit, rate limit, concurrency), then attempts: a request that provably
    /// never reached the ERP is retried, and a read on any failure; a write that may have
    /// reached it, never.
    async fn send(&self, req: &VendorRequest) -> Result<UpstreamResponse, UpstreamError> {
        let r = &self.resilience;
        let _admission = r.admit().await.map_err(|refusal| {
            crate::telemetry::metrics::metrics()
                .upstream_failures
                .with_label_values(&[&self.connection, refusal.reason()])
                .inc();
            UpstreamError::Refused(refusal)
        })?;
        let safe = matches!(req.method, http::Method::GET | http::Method::HEAD);
        let mut attempt = 1;
        loop {
            let result = self.attempt(req).await;
            let failed = match &result {
                Ok(resp) => resp.status >= 500,
                Err(_) => true,
            };
            let state = r.record(failed);
            crate::telemetry::metrics::metrics()
                .circuit_state
                .with_label_values(&[&self.connection])
                .set(state.gauge());
            let retriable = match &result {
                Ok(resp) => safe && matches!(resp.status, 502..=504),
                Err(UpstreamError::Connect(_)) => true,
                // A read that failed mid-way is retried; a slow ERP is not asked twice.
                Err(UpstreamError::Io(_)) => safe,
                Err(_) => false,
            };
            if !retriable || state == Circuit::Open || !r.may_retry(attempt) {
                return result;
            }
            tokio::time::sleep(r.backoff(attempt)).await;
            attempt += 1;
        }
    }
}

/// The error and its sources on one line (hyper's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
