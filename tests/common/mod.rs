//! Test harness: the real `ordergate` binary, a real HTTP upstream on loopback, and a small
//! HTTP client. Every server binds 127.0.0.1 on a port chosen at run time.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;

pub const BIN: &str = env!("CARGO_BIN_EXE_ordergate");

/// A request the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query, exactly as sent.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the upstream answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: Duration,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A real HTTP server on loopback that records what it receives.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        let seen = seen.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let s = Seen {
                                method: parts.method,
                                target: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body,
                            };
                            let reply = handler(&s);
                            seen.lock().expect("lock").push(s);
                            if !reply.delay.is_zero() {
                                tokio::time::sleep(reply.delay).await;
                            }
                            let mut r = Response::new(Full::new(Bytes::from(reply.body)));
                            *r.status_mut() =
                                http::StatusCode::from_u16(reply.status).expect("status");
                            r.headers_mut()
                                .insert("content-type", reply.content_type.parse().expect("ctype"));
                            r.headers_mut()
                                .insert("set-cookie", "sid=Guest; Path=/".parse().expect("cookie"));
                            for (k, v) in &reply.headers {
                                r.headers_mut().append(*k, v.parse().expect("header value"));
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream { addr, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub fn clear(&self) {
        self.seen.lock().expect("lock").clear();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real binary, serving a config written to a temp folder.
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    child: Child,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub dir: PathBuf,
}

impl Gateway {
    /// Starts `ordergate serve` with `config` (YAML).
    pub fn start(config: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = temp_dir("gw");
        let path = dir.join("ordergate.yaml");
        std::fs::write(&path, config).expect("write config");
        Gateway::spawn(&["--config", path.to_str().expect("utf8 path")], env, dir)
    }

    /// Starts `ordergate serve` on its embedded default (the sandbox ERPs).
    pub fn start_default(env: &[(&str, &str)]) -> Gateway {
        Gateway::spawn(&[], env, temp_dir("gw-default"))
    }

    fn spawn(args: &[&str], env: &[(&str, &str)], dir: PathBuf) -> Gateway {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(args)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--drain-timeout",
                "5s",
            ])
            .env("ORDERGATE_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start ordergate");
        let stderr = child.stderr.take().expect("stderr");
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let logs2 = logs.clone();
        std::thread::spawn(move || {
            let mut public = None;
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line
                    .strip_prefix("ordergate listening on http://")
                    .or_else(|| line.strip_prefix("ordergate listening on https://"))
                {
                    public = Some(rest.trim().to_string());
                }
                if let Some(rest) = line.strip_prefix("ordergate admin on http://")
                    && let (Some(tx), Some(p)) = (tx.take(), public.clone())
                {
                    let _ = tx.send((p, rest.trim().to_string()));
                }
                logs2.lock().expect("lock").push(line);
            }
        });
        let (addr, admin) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((a, b)) => (
                a.parse().expect("address"),
                b.parse().expect("admin address"),
            ),
            Err(_) => {
                let _ = child.kill();
                panic!("ordergate did not start: {:?}", logs.lock().expect("lock"));
            }
        };
        Gateway {
            addr,
            admin,
            child,
            logs,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().expect("lock").join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("ordergate-test-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The repo's mappings folder.
pub fn mappings_dir() -> String {
    format!("{}/mappings", env!("CARGO_MANIFEST_DIR"))
}

/// An answer from the gateway.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .client
            .request(b.body(Full::new(body.into())).expect("request"))
            .await
            .expect("gateway answers");
        let (parts, body) = resp.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.collect().await.expect("body").to_bytes(),
        }
    }

    pub async fn get(&self, url: &str) -> Answer {
        self.send(Method::GET, url, &[], Bytes::new()).await
    }

    pub async fn post_json(&self, url: &str, body: &Value) -> Answer {
        self.send(
            Method::POST,
            url,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    pub async fn patch_json(&self, url: &str, body: &Value) -> Answer {
        self.send(
            Method::PATCH,
            url,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    pub async fn post_empty(&self, url: &str) -> Answer {
        self.send(Method::POST, url, &[], Bytes::new()).await
    }

    pub async fn delete(&self, url: &str) -> Answer {
        self.send(Method::DELETE, url, &[], Bytes::new()).await
    }
}

/// A config with one Dokos connection to `base_url`.
pub fn dokos_config(base_url: &str, extra: &str) -> String {
    format!(
        r#"default_connection: dokos
mappings: {mappings}
limits: {{ max_body_bytes: 65536 }}
connections:
  dokos:
    vendor: dokos
    base_url: {base_url}
    secrets:
      api_key: "${{TEST_DOKOS_KEY}}"
      api_secret: "${{TEST_DOKOS_SECRET}}"
    settings: {{ company: Gateway Test GmbH }}
    timeouts: {{ connect: 1s, request: 2s }}
{extra}"#,
        mappings = mappings_dir()
    )
}

pub const KEY: &str = "k3y-7f1e2d";
pub const SECRET: &str = "s3cr3t-9a8b7c6d";

pub fn dokos_env() -> Vec<(&'static str, &'static str)> {
    vec![("TEST_DOKOS_KEY", KEY), ("TEST_DOKOS_SECRET", SECRET)]
}
