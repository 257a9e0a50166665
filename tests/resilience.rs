//! Per-connection resilience through the real binary: retries only where safe, the circuit
//! breaker, load shedding and the rate limit.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::json;

fn config(base: &str, resilience: &str) -> String {
    dokos_config(base, "").replace(
        "    timeouts: { connect: 1s, request: 2s }",
        &format!("    timeouts: {{ connect: 1s, request: 2s }}\n    resilience: {resilience}"),
    )
}

fn doc(name: &str) -> serde_json::Value {
    json!({"data": {"name": name, "docstatus": 0, "customer": "C", "items": []}})
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_retried_writes_are_not() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let up = Upstream::start(move |s| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        if s.method == http::Method::GET && n < 2 {
            return Reply::json(503, json!({"exc_type": "SessionStopped"}));
        }
        if s.method == http::Method::POST {
            return Reply::json(500, json!({"exc_type": "TypeError"}));
        }
        Reply::json(200, doc("SAL-1"))
    })
    .await;
    let gw = Gateway::start(
        &config(&up.url(), "{ retries: 2, backoff: 10ms }"),
        &dokos_env(),
    );
    let http = Http::default();
    let a = http.get(&gw.url("/v1/orders/SAL-1")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "two retries of a read");
    calls.store(10, Ordering::SeqCst);
    let body = json!({"customer": {"id": "C"}, "lines": [{"sku": "A", "quantity": 1}]});
    let a = http.post_json(&gw.url("/v1/orders"), &body).await;
    assert_eq!(a.status, 502);
    assert_eq!(
        a.json()["outcome"],
        "unknown",
        "a write answered 500 may have been applied"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 11, "a write is never resent");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circuit_opens_and_answers_at_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let up = Upstream::start(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Reply::json(500, json!({"exc_type": "TypeError"}))
    })
    .await;
    let gw = Gateway::start(
        &config(
            &up.url(),
            "{ retries: 0, circuit_failures: 3, circuit_open_for: 60s }",
        ),
        &dokos_env(),
    );
    let http = Http::default();
    for _ in 0..3 {
        assert_eq!(http.get(&gw.url("/v1/orders/X")).await.status, 502);
    }
    let a = http.get(&gw.url("/v1/orders/X")).await;
    assert_eq!(a.status, 503, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["code"], "upstream_unavailable");
    assert_eq!(a.json()["retryable"], true);
    assert!(a.header("retry-after").is_some());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "an open circuit sends nothing"
    );
    let metrics =
        String::from_utf8_lossy(&http.get(&gw.admin_url("/metrics")).await.body).to_string();
    assert!(
        metrics.contains("ordergate_circuit_state{connection=\"dokos\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn excess_load_is_shed_and_the_rate_limit_throttles() {
    let up = Upstream::start(|_| Reply {
        delay: Duration::from_millis(800),
        ..Reply::json(200, doc("SAL-1"))
    })
    .await;
    let gw = Gateway::start(
        &config(&up.url(), "{ max_concurrency: 1, queue_timeout: 100ms }"),
        &dokos_env(),
    );
    let url = gw.url("/v1/orders/SAL-1");
    let first = tokio::spawn({
        let url = url.clone();
        async move { Http::default().get(&url).await.status }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let shed = Http::default().get(&url).await;
    assert_eq!(shed.status, 503, "{}", String::from_utf8_lossy(&shed.body));
    assert_eq!(first.await.expect("first"), 200);

    let up = Upstream::start(|_| Reply::json(200, doc("SAL-1"))).await;
    let gw = Gateway::start(
        &config(&up.url(), "{ rate_limit: 1, queue_timeout: 10ms }"),
        &dokos_env(),
    );
    let http = Http::default();
    assert_eq!(http.get(&gw.url("/v1/orders/SAL-1")).await.status, 200);
    let a = http.get(&gw.url("/v1/orders/SAL-1")).await;
    assert_eq!(a.status, 429, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["code"], "rate_limited");
    assert_eq!(a.header("retry-after"), Some("1"));
}
