//! The admin listener (default 127.0.0.1:9090, never the public one): `GET /metrics`,
//! `GET /healthz` (alive), `GET /readyz` (configured; `?check=upstreams` also dials every ERP),
//! `POST /admin/reload`, `GET /admin/config` (secrets masked).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use crate::json;
use crate::value::Value;
use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::State;
use super::respond::{self, Body};
use crate::canonical::operation::Operation;
use crate::reload::Reloader;
use crate::telemetry::metrics;

pub async fn serve(listener: TcpListener, state: Arc<State>, reloader: Arc<Reloader>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let reloader = reloader.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let state = state.clone();
                let reloader = reloader.clone();
                async move { Ok::<_, Infallible>(handle(&state, &reloader, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle<B>(state: &State, reloader: &Reloader, req: Request<B>) -> Response<Body> {
    let id = uuid::Uuid::new_v4().to_string();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let mut r = Response::new(Full::new(Bytes::from(metrics::render())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (&Method::GET, "/healthz") => respond::json(200, &json!({"status": "ok"}), &id),
        (&Method::GET, "/readyz") => {
            let check = req
                .uri()
                .query()
                .is_some_and(|q| q.contains("check=upstreams"));
            ready(state, check, &id).await
        }
        (&Method::POST, "/admin/reload") => match reloader.reload("admin").await {
            Ok(v) => respond::json(200, &v, &id),
            Err(errors) => respond::json(
                422,
                &json!({"status": "refused", "errors": errors, "generation": state.generation()}),
                &id,
            ),
        },
        (&Method::GET, "/admin/config") => respond::json(200, &config_view(state), &id),
        _ => respond::json(
            404,
            &json!({"error": "admin routes: /metrics /healthz /readyz /admin/reload /admin/config"}),
            &id,
        ),
    }
}

async fn ready(state: &State, check_upstreams: bool, id: &str) -> Response<Body> {
    let snapshot = state.snapshot.load_full();
    let mut body =
        json!({"status": "ready", "generation": state.generation(), "hash": snapshot.hash});
    if check_upstreams {
        let mut unreachable = Vec::new();
        for (name, c) in &snapshot.connections {
            let Ok(uri) = c.transport.base_url().parse::<http::Uri>() else {
                continue;
            };
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
            let dial = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await;
            if !matches!(dial, Ok(Ok(_))) {
                unreachable.push(name.clone());
            }
        }
        if !unreachable.is_empty() {
            if let Some(fields) = body.as_object_mut() {
                fields.insert("status", "unready".into());
                fields.insert("unreachable", json!(unreachable));
            }
            return respond::json(503, &body, id);
        }
    }
    respond::json(200, &body, id)
}

/// The active configuration, secrets masked.
fn config_view(state: &State) -> Value {
    let s = state.snapshot.load();
    let connections: Vec<Value> = s
        .connections
        .values()
        .map(|c| {
            let secrets: crate::value::Map = c
                .secrets
                .as_object()
                .map(|o| o.keys().map(|k| (k.clone(), json!("****"))).collect())
                .unwrap_or_default();
            json!({
                "name": c.name,
                "vendor": c.mapping.vendor,
                "base_url": c.transport.base_url(),
                "settings": c.settings,
                "secrets": secrets,
                "operations": Operation::ALL.iter().filter(|o| c.mapping.operations.contains_key(o)).map(|o| o.name()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "source": s.source,
        "generation": state.generation(),
        "hash": s.hash,
        "default_connection": s.default_connection,
        "limits": {"max_body_bytes": s.limits.max_body_bytes, "max_response_bytes": s.limits.max_response_bytes},
        "mappings": s.mappings.values().map(|m| json!({"vendor": m.vendor, "file": m.file.as_ref()})).collect::<Vec<_>>(),
        "connections": connections,
    })
}
