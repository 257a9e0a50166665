//! Every error path of the contract, through the real binary: each gets the documented
//! problem, and the upstream credentials never appear in an answer or a log line.

mod common;

use std::time::Duration;

use common::*;
use http::Method;
use serde_json::{Value, json};

fn order() -> Value {
    json!({"customer": {"id": "Test Customer"}, "lines": [{"sku": "SKU-001", "quantity": 1, "unit_price": 2}]})
}

fn frappe_error(status: u16, exc_type: &str, message: &str) -> Reply {
    let inner = json!({"message": message}).to_string();
    Reply::json(
        status,
        json!({"exc_type": exc_type, "exception": format!("frappe.exceptions.{exc_type}: x"), "_server_messages": json!([inner]).to_string(), "exc": "[\"Traceback ... secret stuff\"]"}),
    )
}

fn assert_problem(a: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    let p = a.json();
    assert_eq!(p["code"], code, "{p}");
    assert_eq!(p["status"], status);
    assert_eq!(p["type"], format!("https://ordergate.dev/problems/{code}"));
    assert!(p["request_id"].is_string());
    p
}

/// A path on the upstream that answers a fixed Frappe error, by the order id.
fn scripted(s: &Seen) -> Reply {
    let id = s.target.rsplit('/').next().unwrap_or("");
    match id {
        "missing" => frappe_error(404, "DoesNotExistError", "Sales Order missing not found"),
        "mandatory" => frappe_error(
            417,
            "MandatoryError",
            "Error: Value missing for Sales Order: Customer",
        ),
        "stale" => frappe_error(
            417,
            "TimestampMismatchError",
            "Document has been modified after you have opened it",
        ),
        "locked" => frappe_error(
            417,
            "UpdateAfterSubmitError",
            "Not allowed to change <strong>Customer</strong> after submission",
        ),
        "denied" => frappe_error(
            403,
            "PermissionError",
            "User <strong>Guest</strong> does not have doctype access",
        ),
        "badauth" => Reply::json(
            401,
            json!({"exc_type": "AuthenticationError", "exception": "frappe.exceptions.AuthenticationError"}),
        ),
        "crash" => frappe_error(500, "TypeError", "'NoneType' object is not iterable"),
        "html" => Reply {
            status: 200,
            content_type: "application/json",
            body: "<html>502 Bad Gateway</html>".into(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        },
        "throttled" => Reply::json(429, json!({"exc_type": "RateLimitExceededError"})),
        "slow" => Reply {
            status: 200,
            content_type: "application/json",
            body: "{}".into(),
            delay: Duration::from_millis(3000),
            headers: Vec::new(),
        },
        _ => Reply::json(
            200,
            json!({"data": {"name": id, "docstatus": 0, "customer": "C", "items": []}}),
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn error_paths_answer_the_documented_problems() {
    let up = Upstream::start(scripted).await;
    let unsupported = tempfile_mapping();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let extra = format!(
        "  refused:\n    vendor: dokos\n    base_url: http://127.0.0.1:{closed}\n    secrets: {{ api_key: \"${{TEST_DOKOS_KEY}}\", api_secret: \"${{TEST_DOKOS_SECRET}}\" }}\n  partial:\n    vendor: partial\n    base_url: {}\n",
        up.url()
    );
    let config = dokos_config(&up.url(), &extra).replace(
        &format!("mappings: {}", mappings_dir()),
        &format!("mappings: [{}, {}]", mappings_dir(), unsupported.display()),
    );
    let gw = Gateway::start(&config, &dokos_env());
    let http = Http::default();
    let mut answers = Vec::new();

    // invalid canonical body -> 422 with pointers, and nothing sent upstream
    let bad = json!({"customer": {}, "lines": [{"sku": "A", "quantity": 0}, {"quantity": "NaN"}], "colour": "red"});
    let a = http.post_json(&gw.url("/v1/orders"), &bad).await;
    let p = assert_problem(&a, 422, "validation_failed");
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    for expected in ["/customer", "/lines/0/quantity", "/lines/1/quantity", ""] {
        assert!(
            pointers.contains(&expected),
            "{expected} missing in {pointers:?}"
        );
    }
    assert!(
        up.requests().is_empty(),
        "an invalid order must not reach the ERP"
    );
    answers.push(a);

    // not JSON at all -> 400 validation_failed
    let a = http
        .send(
            Method::POST,
            &gw.url("/v1/orders"),
            &[("content-type", "application/json")],
            "{\"customer\": ",
        )
        .await;
    assert_problem(&a, 400, "validation_failed");
    answers.push(a);

    // wrong content type -> 415
    let a = http
        .send(
            Method::POST,
            &gw.url("/v1/orders"),
            &[("content-type", "text/plain")],
            order().to_string(),
        )
        .await;
    assert_problem(&a, 415, "unsupported_media_type");
    answers.push(a);

    // body over the limit -> 413
    let big = format!("{{\"notes\": \"{}\"}}", "x".repeat(70_000));
    let a = http
        .send(
            Method::POST,
            &gw.url("/v1/orders"),
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_problem(&a, 413, "payload_too_large");
    answers.push(a);

    // unknown connection, unknown route -> 404
    let a = http.get(&gw.url("/v1/connections/nope/orders/X")).await;
    assert_problem(&a, 404, "not_found");
    answers.push(a);
    let a = http.get(&gw.url("/v2/whatever")).await;
    assert_problem(&a, 404, "not_found");
    answers.push(a);

    // unknown order -> the ERP's 404 -> not_found with upstream details
    let a = http.get(&gw.url("/v1/orders/missing")).await;
    let p = assert_problem(&a, 404, "not_found");
    assert_eq!(p["upstream"]["code"], "DoesNotExistError");
    assert_eq!(p["upstream"]["message"], "Sales Order missing not found");
    assert_eq!(p["upstream"]["status"], 404);
    assert_eq!(p["connection"], "dokos");
    assert!(
        !a.body.windows(9).any(|w| w == b"Traceback"),
        "tracebacks never reach a client"
    );
    answers.push(a);

    // an operation the mapping lacks -> 501, with the mapping's reason
    let a = http
        .delete(&gw.url("/v1/connections/partial/orders/X"))
        .await;
    let p = assert_problem(&a, 501, "operation_not_supported");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("orders are never deleted"),
        "{p}"
    );
    let a2 = http
        .post_empty(&gw.url("/v1/connections/partial/orders/X/confirm"))
        .await;
    assert_problem(&a2, 501, "operation_not_supported");
    answers.push(a);
    answers.push(a2);

    // the ERP refuses the connection -> 502 upstream_unavailable, retryable
    let a = http.get(&gw.url("/v1/connections/refused/orders/X")).await;
    let p = assert_problem(&a, 502, "upstream_unavailable");
    assert_eq!(p["retryable"], true);
    answers.push(a);

    // the ERP is slower than the timeout (2 s) -> 504
    let a = http.get(&gw.url("/v1/orders/slow")).await;
    assert_problem(&a, 504, "upstream_timeout");
    answers.push(a);

    // Frappe error bodies -> the mapped canonical codes
    let cases = [
        (
            Method::PATCH,
            "/v1/orders/mandatory",
            422,
            "upstream_rejected",
            "MandatoryError",
        ),
        (
            Method::POST,
            "/v1/orders/stale/confirm",
            409,
            "conflict",
            "TimestampMismatchError",
        ),
        (
            Method::PATCH,
            "/v1/orders/locked",
            422,
            "business_rule",
            "UpdateAfterSubmitError",
        ),
        (
            Method::GET,
            "/v1/orders/denied",
            502,
            "upstream_auth_failed",
            "PermissionError",
        ),
        (
            Method::GET,
            "/v1/orders/badauth",
            502,
            "upstream_auth_failed",
            "AuthenticationError",
        ),
        (
            Method::GET,
            "/v1/orders/crash",
            502,
            "upstream_unavailable",
            "TypeError",
        ),
        (
            Method::GET,
            "/v1/orders/throttled",
            429,
            "rate_limited",
            "RateLimitExceededError",
        ),
    ];
    for (method, path, status, code, vendor_code) in cases {
        let body = if method == Method::PATCH {
            json!({"notes": "n"}).to_string()
        } else {
            String::new()
        };
        let a = http
            .send(
                method,
                &gw.url(path),
                &[("content-type", "application/json")],
                body,
            )
            .await;
        let p = assert_problem(&a, status, code);
        assert_eq!(p["upstream"]["code"], vendor_code, "{path}: {p}");
        answers.push(a);
    }
    let a = http
        .send(
            Method::PATCH,
            &gw.url("/v1/orders/locked"),
            &[("content-type", "application/json")],
            json!({"notes": "n"}).to_string(),
        )
        .await;
    assert_eq!(
        a.json()["upstream"]["message"],
        "Not allowed to change Customer after submission",
        "HTML is stripped"
    );
    answers.push(a);

    // HTML where JSON was promised -> 502, never a panic
    let a = http.get(&gw.url("/v1/orders/html")).await;
    assert_problem(&a, 502, "upstream_unavailable");
    answers.push(a);

    // the credentials never appear in any answer or log line
    let logs = gw.log_text();
    assert!(
        logs.contains("\"route\":\"/v1/orders/{id}\""),
        "one structured line per request: {logs}"
    );
    for secret in [KEY, SECRET] {
        assert!(!logs.contains(secret), "a secret reached the logs");
        for a in &answers {
            assert!(
                !String::from_utf8_lossy(&a.body).contains(secret),
                "a secret reached an answer"
            );
            for v in a.headers.values() {
                assert!(!v.to_str().unwrap_or("").contains(secret));
            }
        }
    }
    // but they did reach the ERP
    assert!(
        up.requests()
            .iter()
            .any(|s| s.header("authorization") == Some(&format!("token {KEY}:{SECRET}")))
    );
    let _ = std::fs::remove_dir_all(unsupported.parent().expect("dir"));
}

/// A mapping that documents the operations it lacks.
fn tempfile_mapping() -> std::path::PathBuf {
    let dir = temp_dir("partial");
    let path = dir.join("partial.yaml");
    std::fs::write(
        &path,
        "vendor: partial\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: \"/o/${path.id}\" }\n    result: { id: $got.body.data.name }\n  delete_order:\n    unsupported: orders are never deleted in this ERP, cancel them\n",
    )
    .expect("write mapping");
    path
}
