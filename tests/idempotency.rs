//! No order lost or created twice: idempotency keys (memory, disk, Redis), unknown outcomes
//! resolved by reference, and a fault-injection run of 1,000 creates against an ERP that drops
//! connections before and after committing, stalls past the timeout, and answers 500 or garbage.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// What the fake ERP does to one create.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    DropBefore,
    DropAfter,
    StallAfter,
    ServerError,
    Garbage,
}

/// A Frappe-like ERP: Sales Orders unique by `po_no`, found by a `po_no` list filter.
struct Erp {
    orders: Mutex<HashMap<String, Value>>,
    next: AtomicU64,
    creates: AtomicU64,
    /// Decides the fault of the n-th create.
    fault: Box<dyn Fn(u64) -> Fault + Send + Sync>,
    stall: Duration,
}

impl Erp {
    fn doc(name: &str, body: &Value) -> Value {
        json!({"name": name, "docstatus": 0, "customer": body["customer"], "po_no": body["po_no"],
               "items": body["items"], "grand_total": 1.0})
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let method = req.method().clone();
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let reply = |status: u16, v: Value| {
            let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
            *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
            r.headers_mut()
                .insert("content-type", "application/json".parse().expect("ctype"));
            Ok(r)
        };
        let drop_connection = || {
            Err(std::io::Error::other(
                "connection dropped by the fault injector",
            ))
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        match (method, path) {
            (Method::POST, "/api/resource/Sales%20Order") => {
                let n = self.creates.fetch_add(1, Ordering::SeqCst);
                let fault = (self.fault)(n);
                if fault == Fault::DropBefore {
                    return drop_connection();
                }
                if fault == Fault::ServerError && n.is_multiple_of(2) {
                    return reply(500, json!({"exc_type": "TypeError"}));
                }
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let po = v["po_no"].as_str().unwrap_or("").to_string();
                if v["customer"] == "Unknown Customer" {
                    let msg = json!([
                        json!({"message": "Customer Unknown Customer not found"}).to_string()
                    ])
                    .to_string();
                    return reply(
                        404,
                        json!({"exc_type": "DoesNotExistError", "_server_messages": msg}),
                    );
                }
                let doc = {
                    let mut orders = self.orders.lock().expect("lock");
                    if orders.contains_key(&po) {
                        return reply(
                            417,
                            json!({"exc_type": "ValidationError",
                            "exception": format!("frappe.exceptions.ValidationError: Sales Order X already exists against Customer's Purchase Order {po}")}),
                        );
                    }
                    let name = format!("SAL-ORD-{:06}", self.next.fetch_add(1, Ordering::SeqCst));
                    let doc = Erp::doc(&name, &v);
                    orders.insert(po, doc.clone());
                    doc
                };
                match fault {
                    Fault::DropAfter => drop_connection(),
                    Fault::StallAfter => {
                        tokio::time::sleep(self.stall).await;
                        reply(200, json!({"data": doc}))
                    }
                    Fault::ServerError => reply(500, json!({"exc_type": "QueryDeadlockError"})),
                    Fault::Garbage => {
                        let mut r =
                            Response::new(Full::new(Bytes::from_static(b"<html>Gateway Time-out")));
                        r.headers_mut()
                            .insert("content-type", "application/json".parse().expect("ctype"));
                        Ok(r)
                    }
                    _ => reply(200, json!({"data": doc})),
                }
            }
            (Method::GET, "/api/resource/Sales%20Order") => {
                let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
                let filters: Value =
                    serde_json::from_str(q.get("filters").map_or("[]", String::as_str))
                        .unwrap_or(Value::Null);
                let po = filters[0][2].as_str().unwrap_or("").to_string();
                let found: Vec<Value> = self
                    .orders
                    .lock()
                    .expect("lock")
                    .get(&po)
                    .map(|d| json!({"name": d["name"]}))
                    .into_iter()
                    .collect();
                reply(200, json!({"data": found}))
            }
            (Method::GET, p) if p.starts_with("/api/resource/Sales%20Order/") => {
                let name = &p["/api/resource/Sales%20Order/".len()..];
                let orders = self.orders.lock().expect("lock");
                match orders.values().find(|d| d["name"] == name) {
                    Some(d) => reply(200, json!({"data": d})),
                    None => reply(404, json!({"exc_type": "DoesNotExistError"})),
                }
            }
            _ => reply(404, json!({"exc_type": "DoesNotExistError"})),
        }
    }
}

async fn start_erp(
    fault: impl Fn(u64) -> Fault + Send + Sync + 'static,
    stall: Duration,
) -> (Arc<Erp>, SocketAddr) {
    let erp = Arc::new(Erp {
        orders: Mutex::new(HashMap::new()),
        next: AtomicU64::new(1),
        creates: AtomicU64::new(0),
        fault: Box::new(fault),
        stall,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let e = erp.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let e = e.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| e.clone().handle(req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (erp, addr)
}

fn config(erp: SocketAddr, idempotency: &str) -> String {
    dokos_config(&format!("http://{erp}"), "")
        .replace(
            "timeouts: { connect: 1s, request: 2s }",
            "timeouts: { connect: 1s, request: 400ms }",
        )
        .replacen("connections:", &format!("{idempotency}connections:"), 1)
}

fn order(reference: &str) -> Value {
    json!({"external_ref": reference, "customer": {"id": "Test Customer"}, "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 2}]})
}

async fn create(http: &Http, gw: &Gateway, key: &str, body: &Value) -> Answer {
    http.send(
        Method::POST,
        &gw.url("/v1/orders"),
        &[
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        body.to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_replays_the_first_answer_and_refuses_another_body() {
    let (erp, addr) = start_erp(|_| Fault::None, Duration::ZERO).await;
    let gw = Gateway::start(&config(addr, ""), &dokos_env());
    let http = Http::default();
    let first = create(&http, &gw, "key-1", &order("PO-1")).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = create(&http, &gw, "key-1", &order("PO-1")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(erp.creates.load(Ordering::SeqCst), 1, "one order only");
    let other = create(&http, &gw, "key-1", &order("PO-2")).await;
    assert_eq!(other.status, 409);
    assert_eq!(other.json()["code"], "conflict");
    // a definite failure is replayed too
    let mut bad = order("PO-3");
    bad["customer"]["id"] = json!("Unknown Customer");
    assert_eq!(create(&http, &gw, "key-3", &bad).await.status, 422);
    let replayed = create(&http, &gw, "key-3", &bad).await;
    assert_eq!(
        (replayed.status, replayed.header("idempotency-replayed")),
        (422, Some("true"))
    );
    assert_eq!(erp.creates.load(Ordering::SeqCst), 2);
    let bad_key = http
        .send(
            Method::POST,
            &gw.url("/v1/orders"),
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "a b"),
            ],
            order("PO-4").to_string(),
        )
        .await;
    assert_eq!(bad_key.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_request_while_the_first_runs_is_a_conflict() {
    let (_erp, addr) = start_erp(|_| Fault::StallAfter, Duration::from_millis(300)).await;
    let gw = Gateway::start(
        &config(addr, "").replace("request: 400ms", "request: 2s"),
        &dokos_env(),
    );
    let url = gw.url("/v1/orders");
    let slow = tokio::spawn(async move {
        Http::default()
            .send(
                Method::POST,
                &url,
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", "k"),
                ],
                order("PO-9").to_string(),
            )
            .await
            .status
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let http = Http::default();
    let second = create(&http, &gw, "k", &order("PO-9")).await;
    assert_eq!(
        second.status,
        409,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    assert_eq!(slow.await.expect("first"), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_never_came_is_found_by_reference() {
    // The ERP commits the order and stalls past the 400 ms timeout.
    let (erp, addr) = start_erp(
        |n| {
            if n == 0 {
                Fault::StallAfter
            } else {
                Fault::None
            }
        },
        Duration::from_secs(2),
    )
    .await;
    let gw = Gateway::start(&config(addr, ""), &dokos_env());
    let http = Http::default();
    let a = http
        .post_json(&gw.url("/v1/orders"), &order("PO-STALL"))
        .await;
    assert_eq!(
        a.status,
        201,
        "resolved by the lookup: {}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(
        erp.creates.load(Ordering::SeqCst),
        1,
        "never resent blindly"
    );
    assert_eq!(erp.orders.lock().expect("lock").len(), 1);

    // Without a reference the gateway cannot know: 504 outcome unknown, kept under the key.
    let (erp, addr) = start_erp(|_| Fault::StallAfter, Duration::from_secs(2)).await;
    let gw = Gateway::start(&config(addr, ""), &dokos_env());
    let mut no_ref = order("x");
    no_ref
        .as_object_mut()
        .expect("object")
        .remove("external_ref");
    let a = create(&http, &gw, "k-unknown", &no_ref).await;
    assert_eq!(a.status, 504);
    assert_eq!(a.json()["outcome"], "unknown");
    let b = create(&http, &gw, "k-unknown", &no_ref).await;
    assert_eq!(
        b.status, 504,
        "a retry with the key does not create a second order"
    );
    assert_eq!(b.json()["outcome"], "unknown");
    assert_eq!(erp.creates.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_keys_survive_a_restart() {
    let (erp, addr) = start_erp(|_| Fault::None, Duration::ZERO).await;
    let dir = temp_dir("redb");
    let store = format!(
        "idempotency: {{ store: disk, path: {} }}\n",
        dir.join("keys.redb").display()
    );
    let first = {
        let gw = Gateway::start(&config(addr, &store), &dokos_env());
        create(&Http::default(), &gw, "restart-key", &order("PO-R")).await
    };
    assert_eq!(first.status, 201);
    let gw = Gateway::start(&config(addr, &store), &dokos_env());
    let again = create(&Http::default(), &gw, "restart-key", &order("PO-R")).await;
    assert_eq!(
        (again.status, again.header("idempotency-replayed")),
        (201, Some("true"))
    );
    assert_eq!(erp.creates.load(Ordering::SeqCst), 1);
    let _ = std::fs::remove_dir_all(dir);
}

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(redis);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The promise, under faults: each create retried with its key until it gets a definite
/// answer; afterwards the ERP holds exactly one order per success and none per failure.
async fn fault_run(gateways: &[Gateway], erp: &Erp, creates: usize) {
    let outcomes = Arc::new(Mutex::new(HashMap::<String, u16>::new()));
    let next = Arc::new(AtomicU64::new(0));
    let urls: Vec<String> = gateways.iter().map(|g| g.url("/v1/orders")).collect();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (outcomes, next, urls) = (outcomes.clone(), next.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let http = Http::default();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                if i >= creates {
                    break;
                }
                let reference = format!("PO-{i:05}");
                let mut body = order(&reference);
                if i % 10 == 7 {
                    body["customer"]["id"] = json!("Unknown Customer"); // a definite failure
                }
                let key = format!("key-{i}");
                let mut attempt = 0;
                let status = loop {
                    let url = &urls[attempt % urls.len()];
                    attempt += 1;
                    let a = http
                        .send(
                            Method::POST,
                            url,
                            &[
                                ("content-type", "application/json"),
                                ("idempotency-key", &key),
                            ],
                            body.to_string(),
                        )
                        .await;
                    let code = if a.status >= 400 {
                        a.json()["code"].as_str().unwrap_or("").to_string()
                    } else {
                        String::new()
                    };
                    let definite = a.status == 201
                        || (a.status < 500 && a.status != 409 && a.status != 429)
                        || (a.status == 409 && code != "conflict");
                    if definite || attempt > 60 {
                        break a.status;
                    }
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10) as u64)).await;
                };
                outcomes.lock().expect("lock").insert(reference, status);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let outcomes = outcomes.lock().expect("lock");
    let orders = erp.orders.lock().expect("lock");
    assert_eq!(outcomes.len(), creates);
    let mut succeeded = 0;
    for (reference, status) in outcomes.iter() {
        match status {
            201 => {
                succeeded += 1;
                assert!(
                    orders.contains_key(reference),
                    "{reference} answered 201 but the ERP lacks it"
                );
            }
            422 => assert!(
                !orders.contains_key(reference),
                "{reference} failed but the ERP holds it"
            ),
            other => panic!("{reference} never got a definite answer (last {other})"),
        }
    }
    // po_no is unique in this ERP, so "exactly one per key" is: no order beyond the successes.
    assert_eq!(
        orders.len(),
        succeeded,
        "orders in the ERP = creates that succeeded"
    );
    assert!(
        erp.creates.load(Ordering::SeqCst) as usize >= creates,
        "faults forced retries"
    );
}

fn faults(n: u64) -> Fault {
    match (n.wrapping_mul(2654435761) >> 7) % 12 {
        0 => Fault::DropBefore,
        1 => Fault::DropAfter,
        2 => Fault::StallAfter,
        3 => Fault::ServerError,
        4 => Fault::Garbage,
        _ => Fault::None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_creates_through_faults_land_exactly_once() {
    let (erp, addr) = start_erp(faults, Duration::from_millis(600)).await;
    let gw = Gateway::start(&config(addr, ""), &dokos_env());
    fault_run(std::slice::from_ref(&gw), &erp, 1000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_sharing_redis_land_each_create_exactly_once() {
    let Some(redis) = start_redis() else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server must be installed in CI (.ci/run installs it)"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let (erp, addr) = start_erp(faults, Duration::from_millis(600)).await;
    let store = format!(
        "idempotency: {{ store: redis, url: \"redis://127.0.0.1:{}\" }}\n",
        redis.1
    );
    let a = Gateway::start(&config(addr, &store), &dokos_env());
    let b = Gateway::start(&config(addr, &store), &dokos_env());
    fault_run(&[a, b], &erp, 1000).await;
}
