//! Client authentication (API keys per connection and operation), the explicit open mode,
//! and TLS on the public listener.

mod common;

use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::Method;
use http_body_util::{BodyExt, Full};
use serde_json::json;

fn with_clients(base: &str) -> String {
    dokos_config(base, "").replacen(
        "connections:",
        "clients:\n  mode: api_keys\n  keys:\n    - { name: shop, key: \"${SHOP_KEY}\", connections: [dokos] }\n    - { name: reader, key: \"${READER_KEY}\", operations: [get_order, list_orders] }\nconnections:",
        1,
    )
}

const SHOP: &str = "shop-key-0123456789abcdef";
const READER: &str = "reader-key-0123456789abcdef";

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_required_and_scoped() {
    let up = Upstream::start(|_| {
        Reply::json(
            200,
            json!({"data": {"name": "SAL-1", "docstatus": 0, "customer": "C", "items": []}}),
        )
    })
    .await;
    let mut env = dokos_env();
    env.extend([("SHOP_KEY", SHOP), ("READER_KEY", READER)]);
    let gw = Gateway::start(&with_clients(&up.url()), &env);
    let http = Http::default();
    let get = |headers: Vec<(&'static str, String)>| {
        let url = gw.url("/v1/orders/SAL-1");
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Http::default().send(Method::GET, &url, &h, "").await
        }
    };
    let a = get(vec![]).await;
    assert_eq!(
        (a.status, a.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    assert_eq!(a.json()["code"], "unauthorized");
    assert_eq!(
        get(vec![(
            "authorization",
            "Bearer nope-0123456789abcdef".into()
        )])
        .await
        .status,
        401
    );
    assert_eq!(
        get(vec![("authorization", format!("Bearer {SHOP}"))])
            .await
            .status,
        200
    );
    assert_eq!(get(vec![("x-api-key", READER.into())]).await.status, 200);
    let create = http
        .send(
            Method::POST,
            &gw.url("/v1/orders"),
            &[("content-type", "application/json"), ("x-api-key", READER)],
            json!({"customer": {"id": "C"}, "lines": [{"sku": "A", "quantity": 1}]}).to_string(),
        )
        .await;
    assert_eq!(create.status, 403);
    assert_eq!(create.json()["code"], "forbidden");
    assert_eq!(http.get(&gw.url("/v1/connections")).await.status, 401);
    assert_eq!(
        http.get(&gw.url("/openapi.json")).await.status,
        200,
        "the contract stays public"
    );
    assert!(
        !gw.log_text().contains(SHOP) && !gw.log_text().contains(READER),
        "keys never logged"
    );
}

#[test]
fn no_authentication_beyond_loopback_unless_explicit() {
    let dir = temp_dir("open");
    let path = dir.join("ordergate.yaml");
    std::fs::write(&path, dokos_config("http://127.0.0.1:9", "")).expect("write");
    let out = Command::new(BIN)
        .args([
            "serve",
            "--config",
            path.to_str().expect("utf8"),
            "--listen",
            "0.0.0.0:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .envs(dokos_env())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without client authentication"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_listener_speaks_tls() {
    let dir = temp_dir("tls");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).expect("write key");
    let config = dokos_config("http://127.0.0.1:9", "").replacen(
        "connections:",
        &format!(
            "tls: {{ cert: {}, key: {} }}\nconnections:",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        ),
        1,
    );
    let gw = Gateway::start(&config, &dokos_env());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.cert.der().clone())
        .expect("trust the test certificate");
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
    let url = format!("https://localhost:{}/openapi.json", gw.addr.port());
    let resp = client
        .get(url.parse().expect("uri"))
        .await
        .expect("an answer over TLS");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert!(body.starts_with(b"{"));
    // plain HTTP on the TLS port gets no answer
    let plain = Http::default();
    let attempt = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        let c: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        c.get(
            format!("http://127.0.0.1:{}/openapi.json", gw.addr.port())
                .parse()
                .expect("uri"),
        )
        .await
    })
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(ref r)) if r.status() == 200),
        "plain HTTP must not be served"
    );
    drop(plain);
    let _ = std::fs::remove_dir_all(dir);
}
