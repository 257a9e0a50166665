//! What a platform team relies on: reloads that drop nothing, a drain on SIGTERM, valid
//! Prometheus metrics, health endpoints, trace propagation, and logs free of secrets and
//! personal data.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use http::Method;
use serde_json::{Value, json};

/// A mapping whose answer carries its version twice: a torn generation would show two versions.
fn versioned_mapping(version: u32) -> String {
    format!(
        r#"vendor: gen
operations:
  get_order:
    steps:
      - name: got
        request: {{ method: GET, path: "/orders/${{path.id}}" }}
    result:
      id: {{ from: $got.body.id, as: string }}
      notes: "v{version}"
      external_ref: "v{version}"
"#
    )
}

fn broken_mapping(version: u32) -> String {
    versioned_mapping(version).replace("$got.body.id", "\"$got.body[?(@.id ==\"")
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_reloads_under_load_drop_no_request() {
    let up = Upstream::start(|_| Reply::json(200, json!({"id": 7}))).await;
    let dir = temp_dir("reload");
    let mappings = dir.join("mappings");
    std::fs::create_dir_all(&mappings).expect("mkdir");
    let mapping = mappings.join("gen.yaml");
    write_atomically(&mapping, &versioned_mapping(0));
    let config = format!(
        "mappings: {}\ndefault_connection: g\nconnections:\n  g:\n    vendor: gen\n    base_url: {}\n",
        mappings.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let url = gw.url("/v1/orders/7");
        tokio::spawn(async move {
            let http = Http::default();
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let a = http.get(&url).await;
                assert_eq!(
                    a.status,
                    200,
                    "a request failed during reloads: {}",
                    String::from_utf8_lossy(&a.body)
                );
                let body = a.json();
                assert_eq!(
                    body["notes"], body["external_ref"],
                    "an answer mixed two generations: {body}"
                );
                seen.push(body["notes"].as_str().unwrap_or("").to_string());
            }
            seen
        })
    };

    let http = Http::default();
    let mut valid = HashSet::from(["v0".to_string()]);
    let mut refused = 0;
    for round in 1..=60u32 {
        let good = round % 3 != 0;
        write_atomically(
            &mapping,
            &if good {
                versioned_mapping(round)
            } else {
                broken_mapping(round)
            },
        );
        let a = http
            .send(Method::POST, &gw.admin_url("/admin/reload"), &[], "")
            .await;
        if good {
            // The file watcher may have loaded this version first: either way it is active.
            assert_eq!(
                a.status,
                200,
                "round {round}: {}",
                String::from_utf8_lossy(&a.body)
            );
            valid.insert(format!("v{round}"));
        } else {
            assert_eq!(
                a.status, 422,
                "round {round}: an invalid mapping was accepted"
            );
            let errors = a.json()["errors"].to_string();
            assert!(
                errors.contains("gen.yaml:") && errors.contains("invalid JSONPath"),
                "{errors}"
            );
            refused += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.expect("load task");
    assert!(
        seen.len() > 50,
        "the load kept going: {} requests",
        seen.len()
    );
    for v in &seen {
        assert!(
            valid.contains(v),
            "an answer came from a generation that was refused: {v}"
        );
    }
    assert_eq!(refused, 20);
    let metrics = http.get(&gw.admin_url("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(
        text.contains("ordergate_config_reloads_total{result=\"failure\"}"),
        "{text}"
    );
    let logs = gw.log_text();
    assert!(
        logs.contains("configuration refused"),
        "refusals are logged with their reasons"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Kubernetes mounts a ConfigMap as `..data -> ..2026_xx` symlinks and swaps the link.
#[tokio::test(flavor = "multi_thread")]
async fn a_configmap_symlink_swap_is_reloaded() {
    let up = Upstream::start(|_| Reply::json(200, json!({"id": 7}))).await;
    let dir = temp_dir("symlink");
    let v1 = dir.join("..2026_11_23_v1");
    let v2 = dir.join("..2026_11_23_v2");
    std::fs::create_dir_all(&v1).expect("mkdir");
    std::fs::create_dir_all(&v2).expect("mkdir");
    std::fs::write(v1.join("gen.yaml"), versioned_mapping(1)).expect("write");
    std::fs::write(v2.join("gen.yaml"), versioned_mapping(2)).expect("write");
    std::os::unix::fs::symlink("..2026_11_23_v1", dir.join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/gen.yaml", dir.join("gen.yaml")).expect("symlink");
    let config = format!(
        "mappings: {}\ndefault_connection: g\nconnections:\n  g:\n    vendor: gen\n    base_url: {}\n",
        dir.join("gen.yaml").display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let http = Http::default();
    assert_eq!(
        http.get(&gw.url("/v1/orders/7")).await.json()["notes"],
        "v1"
    );
    // the swap, as the kubelet does it: a new link, renamed over the old one
    std::os::unix::fs::symlink("..2026_11_23_v2", dir.join("..data_tmp")).expect("symlink");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("rename");
    let mut notes = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        notes = http.get(&gw.url("/v1/orders/7")).await.json()["notes"].clone();
        if notes == "v2" {
            break;
        }
    }
    assert_eq!(
        notes, "v2",
        "the file watch did not pick up the symlink swap"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_requests_in_flight_and_exits_zero() {
    let up = Upstream::start(|_| Reply {
        delay: Duration::from_millis(1500),
        ..Reply::json(200, json!({"id": 7}))
    })
    .await;
    let dir = temp_dir("drain");
    std::fs::write(dir.join("gen.yaml"), versioned_mapping(1)).expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: g\nconnections:\n  g:\n    vendor: gen\n    base_url: {}\n",
        dir.display(),
        up.url()
    );
    let mut gw = Gateway::start(&config, &[]);
    let url = gw.url("/v1/orders/7");
    let mut slow = Vec::new();
    for _ in 0..5 {
        let url = url.clone();
        slow.push(tokio::spawn(async move {
            Http::default().get(&url).await.status
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // new connections are refused while the old ones drain
    let refused = tokio::net::TcpStream::connect(gw.addr).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    for s in slow {
        assert_eq!(
            s.await.expect("request task"),
            200,
            "a request in flight was dropped"
        );
    }
    let exit = gw.wait(Duration::from_secs(10)).expect("the gateway exits");
    assert_eq!(exit.code(), Some(0));
    assert!(gw.log_text().contains("draining"), "{}", gw.log_text());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_pass_promtool_and_health_endpoints_answer() {
    let up = Upstream::start(|_| Reply::json(200, json!({"id": 7}))).await;
    let dir = temp_dir("metrics");
    std::fs::write(dir.join("gen.yaml"), versioned_mapping(1)).expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: g\nconnections:\n  g:\n    vendor: gen\n    base_url: {}\n  down:\n    vendor: gen\n    base_url: http://127.0.0.1:9\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[("ORDERGATE_WORKERS", "2")]);
    let http = Http::default();
    for _ in 0..3 {
        assert_eq!(http.get(&gw.url("/v1/orders/7")).await.status, 200);
    }
    assert_eq!(
        http.get(&gw.url("/v1/connections/down/orders/7"))
            .await
            .status,
        502
    );
    assert_eq!(
        http.get(&gw.url("/v1/connections/nope/orders/7"))
            .await
            .status,
        404
    );
    let a = http.get(&gw.admin_url("/metrics")).await;
    assert_eq!(a.status, 200);
    let text = String::from_utf8_lossy(&a.body).to_string();
    for needle in [
        "ordergate_requests_total{code=\"ok\",connection=\"g\",operation=\"get_order\"} 3",
        "ordergate_requests_total{code=\"upstream_unavailable\",connection=\"down\",operation=\"get_order\"} 1",
        "ordergate_request_duration_seconds_bucket",
        "ordergate_upstream_request_duration_seconds_bucket{connection=\"g\"",
        "ordergate_upstream_responses_total{connection=\"g\",status=\"200\"} 3",
        "ordergate_upstream_failures_total{connection=\"down\",reason=\"connect\"} 3",
        "ordergate_requests_in_flight",
        "ordergate_config_generation 1",
        "ordergate_config_info{hash=",
        "ordergate_circuit_state{connection=\"g\"} 0",
        "ordergate_idempotency_replays_total{connection=\"g\"} 0",
        "ordergate_runtime_workers 2",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    assert!(
        !text.contains("nope"),
        "unknown connection names never become label values"
    );
    assert!(!text.contains("/orders/7"), "no raw paths in labels");
    // promtool (Debian's prometheus package; .ci/run installs it) checks the exposition
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("feed promtool");
            let out = child.wait_with_output().expect("promtool");
            assert!(
                out.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => assert!(
            std::env::var("CI").is_err(),
            "promtool must be installed in CI (.ci/run installs prometheus)"
        ),
    }

    let a = http.get(&gw.admin_url("/healthz")).await;
    assert_eq!((a.status, a.json()["status"].clone()), (200, json!("ok")));
    let a = http.get(&gw.admin_url("/readyz")).await;
    assert_eq!(a.status, 200);
    let a = http.get(&gw.admin_url("/readyz?check=upstreams")).await;
    assert_eq!(a.status, 503, "the `down` connection is unreachable");
    assert_eq!(a.json()["unreachable"], json!(["down"]));
    let a = http.get(&gw.admin_url("/admin/config")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["generation"], 1);
    assert_eq!(a.json()["hash"].as_str().map(str::len), Some(64));
    // the admin surface is not on the public listener
    assert_eq!(http.get(&gw.url("/metrics")).await.status, 404);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_and_trace_context_are_carried() {
    let up = Upstream::start(|_| Reply::json(200, json!({"id": 7}))).await;
    let dir = temp_dir("trace");
    std::fs::write(dir.join("gen.yaml"), versioned_mapping(1)).expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: g\nconnections:\n  g:\n    vendor: gen\n    base_url: {}\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let http = Http::default();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let a = http
        .send(
            Method::GET,
            &gw.url("/v1/orders/7"),
            &[
                ("x-request-id", "req-123"),
                ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
            ],
            "",
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-request-id"), Some("req-123"));
    assert_eq!(a.header("x-ordergate-generation").map(str::len), Some(12));
    let sent = up.requests().pop().expect("upstream call");
    let tp = sent
        .header("traceparent")
        .expect("traceparent sent to the ERP");
    assert!(
        tp.starts_with(&format!("00-{trace}-")) && !tp.contains("00f067aa0ba902b7"),
        "{tp}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let entry: Value = gw
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["message"] == "request" && e["request_id"] == "req-123")
        .expect("one access log line for the request");
    assert_eq!(entry["trace_id"], trace);
    assert_eq!(entry["route"], "/v1/orders/{id}");
    assert_eq!(entry["connection"], "g");
    assert_eq!(entry["operation"], "get_order");
    assert_eq!(entry["status"], 200);
    let a = http.get(&gw.url("/v1/orders/7")).await;
    assert!(
        a.header("x-request-id").is_some_and(|id| id.len() == 36),
        "a request id is generated"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A full create/get/list round with everything logged: no secret and no personal field of
/// the customer appears in any log line.
#[tokio::test(flavor = "multi_thread")]
async fn logs_hold_no_secret_and_no_personal_data() {
    let created = json!({"data": {"name": "SAL-ORD-2026-00001", "docstatus": 0, "customer": "Roslyn Lepicier",
        "contact_email": "roslyn.lepicier@example.org", "contact_phone": "+33 4 37 73 66 41",
        "items": [{"name": "r1", "item_code": "SKU-1", "qty": 1.0, "rate": 5.0, "amount": 5.0}]}});
    let list = json!({"data": [created["data"].clone()]});
    let up = Upstream::start(move |s| {
        if s.method == Method::GET && s.target.contains('?') {
            Reply::json(200, list.clone())
        } else {
            Reply::json(200, created.clone())
        }
    })
    .await;
    let gw = Gateway::start(&dokos_config(&up.url(), ""), &dokos_env());
    let http = Http::default();
    let order = json!({
        "external_ref": "WEB-PII-1",
        "customer": {"id": "Roslyn Lepicier", "name": "Roslyn Lepicier", "email": "roslyn.lepicier@example.org", "phone": "+33 4 37 73 66 41", "tax_id": "FR40303265045"},
        "shipping_address": {"name": "Roslyn Lepicier", "line1": "23 rue Clement Marot", "city": "Perpignan", "postal_code": "66100", "country": "FR", "phone": "+33 4 37 73 66 41", "email": "roslyn.lepicier@example.org"},
        "billing_address": {"line1": "23 rue Clement Marot", "city": "Perpignan", "postal_code": "66100", "country": "FR"},
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 5}]
    });
    assert_eq!(
        http.post_json(&gw.url("/v1/orders"), &order).await.status,
        201
    );
    assert_eq!(
        http.get(&gw.url("/v1/orders/SAL-ORD-2026-00001"))
            .await
            .status,
        200
    );
    assert_eq!(http.get(&gw.url("/v1/orders?limit=5")).await.status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = gw.log_text();
    assert!(logs.lines().count() >= 4, "debug logging was on: {logs}");
    for needle in [
        KEY,
        SECRET,
        "roslyn.lepicier@example.org",
        "+33 4 37 73 66 41",
        "23 rue Clement Marot",
        "FR40303265045",
        "66100",
    ] {
        for line in logs.lines() {
            assert!(
                !line.contains(needle),
                "`{needle}` reached a log line: {line}"
            );
        }
    }
}

/// The access lines of a gateway's requests, as its JSON log holds them.
fn access_lines(gw: &Gateway) -> usize {
    gw.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["target"] == "ordergate::access" && e["message"] == "request")
        .count()
}

/// The access lines once `expected` of them are read from the gateway's stderr, or what there
/// is after 10 s (the bound is what a loaded CI machine may take to run the pipe's reader, not
/// a target).
async fn access_lines_once_read(gw: &Gateway, expected: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while access_lines(gw) < expected && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    access_lines(gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn access_lines_come_out_while_serving_and_every_one_by_a_clean_stop() {
    // Lines are written in batches by the runtime's threads (telemetry::log_batch): under
    // both schedulers a gateway gone idle has written its lines, and one stopped by SIGTERM
    // right after answering has written every one.
    for workers in ["1", "2"] {
        let mut gw = Gateway::start_default(&[("ORDERGATE_WORKERS", workers)]);
        let http = Http::default();
        let url = gw.url("/v1/connections");
        for _ in 0..20 {
            assert_eq!(http.get(&url).await.status, 200);
        }
        // Idle now: the lines come out without another request.
        assert_eq!(
            access_lines_once_read(&gw, 20).await,
            20,
            "workers {workers}: {}",
            gw.log_text()
        );
        let busy: Vec<_> = (0..40)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Http::default().get(&url).await.status })
            })
            .collect();
        for b in busy {
            assert_eq!(b.await.expect("request task"), 200);
        }
        let status = Command::new("kill")
            .args(["-TERM", &gw.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = gw.wait(Duration::from_secs(10)).expect("the gateway exits");
        assert_eq!(exit.code(), Some(0));
        assert_eq!(
            access_lines_once_read(&gw, 60).await,
            60,
            "workers {workers}: {}",
            gw.log_text()
        );
    }
}
