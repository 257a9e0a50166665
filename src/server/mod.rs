//! The public listener: accepts connections, serves HTTP/1.1 and HTTP/2, routes each request
//! to `handler`, and drains in-flight requests on shutdown.

pub mod admin;
pub mod handler;
pub mod respond;
pub mod router;
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
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
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
                    async move { Ok::<_, Infallible>(handler::handle(state, req).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                });
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

/// Binds the public listener.
pub async fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
