//! Login flows declared in mappings: a bearer token from a JSON login, cached for its lifetime
//! and renewed when refused; a session cookie from a form login.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;

const TOKEN_MAPPING: &str = r#"vendor: tokenvendor
secrets: [user, password]
auth:
  login:
    request:
      method: POST
      path: /api/v1/auth
      headers: { Authorization: "Bearer ${secrets.app_key}" }
      body: { login: $secrets.user, password: $secrets.password }
    token: $.body.access_token
    expires_in: $.body.expires_in
  headers:
    Authorization: "Bearer ${auth.token}"
operations:
  get_order:
    steps:
      - name: got
        request: { method: GET, path: "/api/v1/orders/${path.id}" }
    result: { id: { from: "$got.body.id", as: string } }
"#;

const COOKIE_MAPPING: &str = r#"vendor: cookievendor
secrets: [user, password]
auth:
  login:
    request:
      method: POST
      path: /j_spring_security_check
      encoding: form
      body: { j_username: $secrets.user, j_password: $secrets.password, ajax: "true" }
    token: $.cookies.JSESSIONID
  headers:
    Cookie: "JSESSIONID=${auth.token}"
operations:
  get_order:
    steps:
      - name: got
        request: { method: GET, path: "/api/v2.1/orders/${path.id}" }
    result: { id: $got.body.id }
"#;

#[derive(Default)]
struct Erp {
    logins: u32,
    valid: Option<String>,
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_is_cached_and_renewed_when_refused() {
    let erp = Arc::new(Mutex::new(Erp::default()));
    let e = erp.clone();
    let up = Upstream::start(move |s| {
        let mut erp = e.lock().expect("lock");
        if s.target == "/api/v1/auth" {
            assert_eq!(s.header("authorization"), Some("Bearer app-key-1"));
            assert_eq!(s.json(), json!({"login": "u1", "password": "p@ss-word-1"}));
            erp.logins += 1;
            let token = format!("tok-{}", erp.logins);
            erp.valid = Some(token.clone());
            return Reply::json(200, json!({"access_token": token, "expires_in": 86400}));
        }
        let expected = erp.valid.as_ref().map(|t| format!("Bearer {t}"));
        if s.header("authorization").map(str::to_string) != expected {
            return Reply::json(401, json!({"error": "invalid_token"}));
        }
        Reply::json(200, json!({"id": 42}))
    })
    .await;
    let dir = temp_dir("token");
    std::fs::write(
        dir.join("tokenvendor.yaml"),
        TOKEN_MAPPING.replace(
            "secrets: [user, password]",
            "secrets: [user, password, app_key]",
        ),
    )
    .expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: t\nconnections:\n  t:\n    vendor: tokenvendor\n    base_url: {}\n    secrets: {{ user: u1, password: \"p@ss-word-1\", app_key: app-key-1 }}\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let http = Http::default();
    for _ in 0..3 {
        let a = http.get(&gw.url("/v1/orders/42")).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.json()["id"], "42");
    }
    assert_eq!(erp.lock().expect("lock").logins, 1, "the token is cached");
    // the ERP forgets the token: the gateway logs in again and retries once
    erp.lock().expect("lock").valid = Some("revoked".into());
    let a = http.get(&gw.url("/v1/orders/42")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(erp.lock().expect("lock").logins, 2);
    let logs = gw.log_text();
    assert!(
        !logs.contains("p@ss-word-1") && !logs.contains("tok-1") && !logs.contains("app-key-1"),
        "{logs}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn session_cookie_from_a_form_login() {
    let logins = Arc::new(Mutex::new(0u32));
    let l = logins.clone();
    let up = Upstream::start(move |s| {
        if s.target == "/j_spring_security_check" {
            assert_eq!(
                s.header("content-type"),
                Some("application/x-www-form-urlencoded")
            );
            assert_eq!(
                String::from_utf8_lossy(&s.body),
                "j_username=u1&j_password=p%26w&ajax=true"
            );
            *l.lock().expect("lock") += 1;
            let mut r = Reply::json(200, json!({"success": true}));
            r.headers
                .push(("set-cookie", "JSESSIONID=ABC123; Path=/; HttpOnly".into()));
            return r;
        }
        if !s
            .header("cookie")
            .is_some_and(|c| c.contains("JSESSIONID=ABC123"))
        {
            return Reply::json(401, json!({"error": "unauthorized"}));
        }
        Reply::json(200, json!({"id": "7"}))
    })
    .await;
    let dir = temp_dir("cookie");
    std::fs::write(dir.join("cookievendor.yaml"), COOKIE_MAPPING).expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: v\nconnections:\n  v:\n    vendor: cookievendor\n    base_url: {}\n    secrets: {{ user: u1, password: \"p&w\" }}\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let http = Http::default();
    for _ in 0..2 {
        let a = http.get(&gw.url("/v1/orders/7")).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.json()["id"], "7");
    }
    assert_eq!(*logins.lock().expect("lock"), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_is_upstream_auth_failed() {
    let up = Upstream::start(|_| Reply::json(401, json!({"error": "bad credentials"}))).await;
    let dir = temp_dir("badlogin");
    std::fs::write(dir.join("cookievendor.yaml"), COOKIE_MAPPING).expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: v\nconnections:\n  v:\n    vendor: cookievendor\n    base_url: {}\n    secrets: {{ user: u1, password: wrong-pass }}\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let a = Http::default().get(&gw.url("/v1/orders/7")).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["code"], "upstream_auth_failed");
    assert!(!String::from_utf8_lossy(&a.body).contains("wrong-pass"));
    let _ = std::fs::remove_dir_all(dir);
}
