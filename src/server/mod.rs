//! The public listener: accepts connections, serves HTTP/1.1 and HTTP/2, routes each request
//! to `handler`, and drains in-flight requests on shutdown.

pub mod admin;
pub mod clients;
pub mod handler;
pub mod respond;
pub mod router;
pub mod runtime;
pub mod writes;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::config::Snapshot;
use crate::telemetry::metrics::metrics;

/// The answer to one request, as the connection's service yields it (see `serve`).
type BoxedAnswer = std::pin::Pin<
    Box<dyn Future<Output = Result<http::Response<respond::Body>, Infallible>> + Send>,
>;

/// What every request reads: the current configuration generation.
pub struct State {
    pub snapshot: ArcSwap<Snapshot>,
    generation: AtomicU64,
    /// Kept across reloads: keys in flight must outlive a configuration generation.
    pub idempotency: crate::idempotency::Store,
    pub idempotency_policy: crate::idempotency::Policy,
}

impl State {
    /// A state with the in-memory key store (tests, dry runs).
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        let policy = crate::idempotency::Policy {
            ttl: snapshot.idempotency.ttl,
            stale_after: snapshot.idempotency.stale_after,
        };
        State::with_store(
            snapshot,
            crate::idempotency::Store::Memory(Default::default()),
            policy,
        )
    }

    pub fn with_store(
        snapshot: Snapshot,
        store: crate::idempotency::Store,
        policy: crate::idempotency::Policy,
    ) -> Arc<Self> {
        let m = metrics();
        crate::telemetry::metrics::init();
        m.generation.set(1);
        m.config_info.with_label_values(&[&snapshot.hash]).set(1);
        crate::telemetry::metrics::register_connections(
            snapshot.connections.keys().map(String::as_str),
        );
        Arc::new(State {
            snapshot: ArcSwap::from_pointee(snapshot),
            generation: AtomicU64::new(1),
            idempotency: store,
            idempotency_policy: policy,
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Installs a new generation; requests in flight keep the one they loaded.
    pub fn swap(&self, next: Snapshot) -> u64 {
        let m = metrics();
        let new_hash = next.hash.clone();
        let old = self.snapshot.swap(Arc::new(next));
        let _ = m.config_info.remove_label_values(&[&old.hash]);
        m.config_info.with_label_values(&[&new_hash]).set(1);
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        m.generation.set(g as i64);
        g
    }
}

/// Serves until `shutdown` resolves, then waits up to `drain` for requests in flight.
/// With `tls`, every connection is a TLS one (rustls).
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    crate::canonical::validate::warm_up();
    let limits = state.snapshot.load().limits.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = tower::service_fn(move |req: http::Request<Incoming>| {
                    let state = state.clone();
                    // Boxed: hyper keeps a slot for the service's future for the whole life of
                    // an HTTP/1 connection; with the future itself there (~6 KB) every idle
                    // keep-alive connection would hold that much. Boxed, the slot is a pointer
                    // and the future is freed when its request is answered.
                    let answer: BoxedAnswer =
                        Box::pin(async move { Ok(handler::handle(state, req).await) });
                    answer
                });
                let service = TowerToHyperService::new(service);
                match &tls {
                    None => {
                        let builder = builder.clone();
                        let watcher = graceful.watcher();
                        let first_byte_timeout = limits.header_read_timeout;
                        tokio::spawn(async move {
                            // A client that connects and sends nothing is closed too.
                            let mut probe = [0u8; 1];
                            if !matches!(tokio::time::timeout(first_byte_timeout, stream.peek(&mut probe)).await, Ok(Ok(n)) if n > 0) {
                                return;
                            }
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                            if let Err(e) = watcher.watch(conn.into_owned()).await {
                                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let builder = builder.clone();
                        let watcher = graceful.watcher();
                        let handshake_timeout = limits.header_read_timeout;
                        tokio::spawn(async move {
                            let tls_stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => return,
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                            if let Err(e) = watcher.watch(conn.into_owned()).await {
                                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                            }
                        });
                    }
                }
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining requests in flight");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_ms = drain.as_millis() as u64,
            "drain timeout reached; closing the rest"
        );
    }
}

/// A TLS acceptor from PEM files (certificate chain, private key).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds the public listener.
pub async fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
