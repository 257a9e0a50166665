//! Built-in sandbox ERPs: a simulated API of each seed vendor, in memory, strict about what
//! it accepts (the vendor's documented required fields, enums, content types and auth), and
//! answering in the vendor's own envelopes. `ordergate sandbox` serves them alone; the
//! embedded default starts them in-process so the gateway works with no ERP at hand.
//!
//! This is the only Rust that names vendors. Each vendor lives under its own path prefix:
//! `http://ADDR/<vendor>/...`.

pub mod dokos;
pub mod embedded;
pub mod enapps;
pub mod mrdoc;
pub mod oneentry;
pub mod valomnia;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;

/// The credentials the sandboxes accept (the embedded default config sends them).
pub const SANDBOX_KEY: &str = "sandbox-key";
pub const SANDBOX_SECRET: &str = "sandbox-secret";

/// One request, as a vendor simulator sees it (its prefix removed).
pub struct SandboxRequest {
    pub method: Method,
    /// The path below the vendor prefix, still percent-encoded.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SandboxRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

pub struct SandboxReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

impl SandboxReply {
    pub fn json(status: u16, body: &Value) -> Self {
        SandboxReply {
            status,
            content_type: "application/json",
            body: Bytes::from(body.to_string()),
            headers: Vec::new(),
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        SandboxReply {
            status,
            content_type,
            body: Bytes::from(body.into()),
            headers: Vec::new(),
        }
    }
}

/// A JSON number as an exact decimal (none for anything else).
pub fn dec(v: &Value) -> Option<rust_decimal::Decimal> {
    match v {
        Value::Number(n) => crate::engine::convert::parse_decimal(n.as_str()),
        _ => None,
    }
}

/// A decimal written the way Python ERPs write floats, with a decimal point (`3.0`).
pub fn float(d: rust_decimal::Decimal) -> Value {
    let mut text = d.normalize().to_string();
    if !text.contains('.') {
        text.push_str(".0");
    }
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A simulated vendor.
pub trait Vendor: Send {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply;
}

/// Every simulated vendor, by path prefix.
pub struct Sandbox {
    vendors: HashMap<&'static str, Mutex<Box<dyn Vendor>>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        let mut vendors: HashMap<&'static str, Mutex<Box<dyn Vendor>>> = HashMap::new();
        vendors.insert("dokos", Mutex::new(Box::new(dokos::Dokos::default())));
        vendors.insert(
            "valomnia",
            Mutex::new(Box::new(valomnia::Valomnia::default())),
        );
        vendors.insert("enapps", Mutex::new(Box::new(enapps::Enapps::default())));
        vendors.insert("mrdoc", Mutex::new(Box::new(mrdoc::MrDoc::default())));
        vendors.insert(
            "oneentry",
            Mutex::new(Box::new(oneentry::OneEntry::default())),
        );
        Sandbox { vendors }
    }
}

impl Sandbox {
    pub fn prefixes(&self) -> Vec<&'static str> {
        let mut p: Vec<&'static str> = self.vendors.keys().copied().collect();
        p.sort_unstable();
        p
    }

    fn dispatch(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> SandboxReply {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let trimmed = path.trim_start_matches('/');
        let (prefix, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let Some(vendor) = self.vendors.get(prefix) else {
            return SandboxReply::json(
                404,
                &serde_json::json!({"error": "no sandbox vendor here", "vendors": self.prefixes()}),
            );
        };
        let req = SandboxRequest {
            method,
            path: format!("/{rest}"),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
            body,
        };
        let mut v = vendor.lock().unwrap_or_else(|e| e.into_inner());
        v.handle(&req)
    }
}

/// Serves the sandbox on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, sandbox: Arc<Sandbox>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let sandbox = sandbox.clone();
                async move { Ok::<_, Infallible>(answer(&sandbox, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn answer(sandbox: &Sandbox, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let reply = match Limited::new(body, 4 * 1024 * 1024).collect().await {
        Ok(b) => {
            let body = b.to_bytes();
            // Requests and answers at debug; bodies (customer data) only at trace.
            tracing::debug!(target: "ordergate::sandbox", method = %parts.method, target = %target, bytes = body.len(), "sandbox request");
            tracing::trace!(target: "ordergate::sandbox", body = %String::from_utf8_lossy(&body), "sandbox request body");
            sandbox.dispatch(parts.method, &target, parts.headers, body)
        }
        Err(_) => SandboxReply::json(413, &serde_json::json!({"error": "body too large"})),
    };
    tracing::debug!(target: "ordergate::sandbox", status = reply.status, bytes = reply.body.len(), "sandbox answer");
    tracing::trace!(target: "ordergate::sandbox", body = %String::from_utf8_lossy(&reply.body), "sandbox answer body");
    let mut r = Response::new(Full::new(reply.body));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(reply.content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    for (k, v) in reply.headers {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

/// Binds and serves the sandbox in the background; returns its address.
pub async fn start(addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, Arc::new(Sandbox::default())));
    Ok(local)
}
