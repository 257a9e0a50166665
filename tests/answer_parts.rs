//! An answer's headers and cookies reach the templates that read them: a list total from a
//! response header, an order field from a cookie, an error rule matching a header. (The gateway
//! builds an answer's headers and cookies only for the steps whose templates can read them.)

mod common;

use common::*;
use serde_json::json;

const MAPPING: &str = r#"vendor: partsvendor
errors:
  - status: 409
    when: { eq: ["$response.headers['x-reason']", locked] }
    code: conflict
    message: "locked by ${response.headers['x-locked-by']}"
operations:
  list_orders:
    paging: { style: offset, default_limit: 2, max_limit: 10 }
    steps:
      - name: listed
        request: { method: GET, path: /orders, query: { from: $page.offset, size: $page.limit } }
    result:
      items: { each: $listed.body.rows, to: { id: { from: $.id, as: string } } }
      total: { from: "$listed.headers['x-total-count']", as: integer }
  get_order:
    steps:
      - name: got
        request: { method: GET, path: "/orders/${path.id}" }
    result:
      id: { from: $got.body.id, as: string }
      external_ref: $got.cookies.ref
"#;

#[tokio::test(flavor = "multi_thread")]
async fn headers_and_cookies_of_answers_reach_the_templates_that_read_them() {
    let up = Upstream::start(|s| match s.target.as_str() {
        "/orders?from=0&size=2" => {
            let mut r = Reply::json(200, json!({"rows": [{"id": 1}, {"id": 2}]}));
            r.headers.push(("x-total-count", "7".into()));
            r
        }
        "/orders/9" => {
            let mut r = Reply::json(200, json!({"id": 9}));
            r.headers
                .push(("set-cookie", "ref=PO-9; Path=/; HttpOnly".into()));
            r
        }
        _ => {
            let mut r = Reply::json(409, json!({}));
            r.headers.push(("x-reason", "locked".into()));
            r.headers.push(("x-locked-by", "clerk-3".into()));
            r
        }
    })
    .await;
    let dir = temp_dir("answer-parts");
    std::fs::write(dir.join("partsvendor.yaml"), MAPPING).expect("write");
    let config = format!(
        "mappings: {}\ndefault_connection: p\nconnections:\n  p:\n    vendor: partsvendor\n    base_url: {}\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let http = Http::default();

    let a = http.get(&gw.url("/v1/orders")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let page = a.json();
    assert_eq!(page["total"], 7, "{page}");
    assert_eq!(page["data"][1]["id"], "2", "{page}");

    let a = http.get(&gw.url("/v1/orders/9")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["external_ref"], "PO-9", "{}", a.json());

    let a = http.get(&gw.url("/v1/orders/10")).await;
    assert_eq!(a.status, 409, "{}", String::from_utf8_lossy(&a.body));
    let problem = a.json();
    assert_eq!(problem["code"], "conflict", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("locked by clerk-3")),
        "{problem}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
