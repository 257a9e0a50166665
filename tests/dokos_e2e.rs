//! Every canonical operation through the real gateway binary to a real HTTP upstream that
//! behaves like Frappe/Dokos and checks method, path, headers and body as Dokos documents them.

mod common;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use common::*;
use http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A small Frappe: Sales Orders in memory, strict about what it accepts.
#[derive(Default)]
struct Frappe {
    docs: Vec<Value>,
    next: u32,
    tick: u32,
}

fn frappe_error(status: u16, exc_type: &str, message: &str) -> Reply {
    let inner = json!({"message": message, "title": "Message"}).to_string();
    Reply::json(
        status,
        json!({"exc_type": exc_type, "exception": format!("frappe.exceptions.{exc_type}: {message}"),
               "exc": "[\"Traceback (most recent call last): ...\"]",
               "_server_messages": json!([inner]).to_string()}),
    )
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).expect("a decimal")
}

fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).expect("number")
}

impl Frappe {
    fn handle(&mut self, s: &Seen) -> Reply {
        if s.header("authorization") != Some(&format!("token {KEY}:{SECRET}")) {
            return frappe_error(401, "AuthenticationError", "");
        }
        if s.header("accept") != Some("application/json") {
            return Reply {
                status: 200,
                content_type: "text/html",
                body: "<html>Frappe answers HTML without Accept: application/json</html>".into(),
                delay: std::time::Duration::ZERO,
                headers: Vec::new(),
            };
        }
        let (path, query) = s.target.split_once('?').unwrap_or((&s.target, ""));
        let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let has_json = s.header("content-type") == Some("application/json");
        self.tick += 1;
        let modified = format!("2026-11-23 10:00:{:02}.000001", self.tick % 60);
        match (s.method.clone(), path) {
            (Method::POST, "/api/resource/Sales%20Order") => {
                assert!(has_json, "create must be JSON");
                let body = s.json();
                let Some(customer) = body.get("customer").and_then(Value::as_str) else {
                    return frappe_error(417, "MandatoryError", "[Sales Order, new]: customer");
                };
                let items = body
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if items.is_empty() {
                    return frappe_error(500, "TypeError", "'NoneType' object is not iterable");
                }
                self.next += 1;
                let name = format!("SAL-ORD-2026-{:05}", self.next);
                let mut total = Decimal::ZERO;
                let mut lines = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    assert!(it["item_code"].is_string(), "item_code is required: {it}");
                    assert!(it["qty"].is_number(), "qty is a number: {it}");
                    let amount = dec(&it["qty"]) * dec(it.get("rate").unwrap_or(&json!(0)));
                    total += amount;
                    let mut line = it.clone();
                    line["name"] = json!(format!("row{i}"));
                    line["amount"] = num(amount);
                    line["item_name"] =
                        json!(format!("Item {}", it["item_code"].as_str().unwrap_or("")));
                    lines.push(line);
                }
                let docstatus = body.get("docstatus").and_then(Value::as_u64).unwrap_or(0);
                let doc = json!({
                    "name": name, "doctype": "Sales Order", "docstatus": docstatus,
                    "status": if docstatus == 1 { "To Deliver and Bill" } else { "Draft" },
                    "customer": customer, "customer_name": customer, "company": body["company"],
                    "transaction_date": body["transaction_date"], "delivery_date": body["delivery_date"],
                    "currency": body["currency"], "conversion_rate": 1.0, "po_no": body["po_no"],
                    "items": lines, "net_total": num(total), "total_taxes_and_charges": 0.0,
                    "discount_amount": 0.0, "grand_total": num(total), "advance_paid": 0.0,
                    "delivery_status": "Not Delivered",
                    "creation": "2026-11-23 10:00:00.000001", "modified": modified,
                });
                self.docs.push(doc.clone());
                Reply::json(200, json!({ "data": doc }))
            }
            (Method::GET, "/api/resource/Sales%20Order") => {
                let fields: Vec<String> =
                    serde_json::from_str(q.get("fields").map_or("[\"name\"]", String::as_str))
                        .expect("fields is JSON");
                let filters: Vec<Value> =
                    serde_json::from_str(q.get("filters").map_or("[]", String::as_str))
                        .expect("filters is JSON");
                let start: usize = q
                    .get("limit_start")
                    .map_or(0, |v| v.parse().expect("limit_start"));
                let len: usize = q
                    .get("limit_page_length")
                    .map_or(20, |v| v.parse().expect("limit_page_length"));
                let data: Vec<Value> = self
                    .docs
                    .iter()
                    .filter(|d| {
                        filters.iter().all(|f| {
                            let field = f[0].as_str().unwrap_or("");
                            match f[1].as_str() {
                                Some("=") => d[field] == f[2],
                                Some("in") => {
                                    f[2].as_array().is_some_and(|a| a.contains(&d[field]))
                                }
                                other => panic!("unexpected filter operator {other:?}"),
                            }
                        })
                    })
                    .skip(start)
                    .take(len)
                    .map(|d| {
                        let mut out = serde_json::Map::new();
                        for f in &fields {
                            out.insert(f.clone(), d[f.as_str()].clone());
                        }
                        Value::Object(out)
                    })
                    .collect();
                Reply::json(200, json!({ "data": data }))
            }
            (m, p) if p.starts_with("/api/resource/Sales%20Order/") => {
                let name = &p["/api/resource/Sales%20Order/".len()..];
                let Some(i) = self.docs.iter().position(|d| d["name"] == name) else {
                    return frappe_error(
                        404,
                        "DoesNotExistError",
                        &format!("Sales Order {name} not found"),
                    );
                };
                match m {
                    Method::GET => Reply::json(200, json!({ "data": self.docs[i] })),
                    Method::PUT => {
                        assert!(has_json);
                        let body = s.json();
                        for (k, v) in body.as_object().expect("object") {
                            if self.docs[i]["docstatus"] != 0 && k != "po_no" && k != "terms" {
                                return frappe_error(
                                    417,
                                    "UpdateAfterSubmitError",
                                    &format!("Not allowed to change {k} after submission"),
                                );
                            }
                            self.docs[i][k] = v.clone();
                        }
                        self.docs[i]["modified"] = json!(modified);
                        Reply::json(200, json!({ "data": self.docs[i] }))
                    }
                    Method::DELETE => {
                        if self.docs[i]["docstatus"] != 0 {
                            return frappe_error(
                                417,
                                "ValidationError",
                                "Submitted documents cannot be deleted",
                            );
                        }
                        self.docs.remove(i);
                        Reply::json(202, json!({ "data": "ok" }))
                    }
                    other => panic!("unexpected method {other}"),
                }
            }
            (Method::POST, "/api/method/frappe.client.submit") => {
                assert!(has_json);
                let doc = s.json()["doc"].clone();
                let Some(i) = self.docs.iter().position(|d| d["name"] == doc["name"]) else {
                    return frappe_error(404, "DoesNotExistError", "not found");
                };
                if self.docs[i]["modified"] != doc["modified"] {
                    return frappe_error(
                        417,
                        "TimestampMismatchError",
                        "Document has been modified after you have opened it",
                    );
                }
                self.docs[i]["docstatus"] = json!(1);
                self.docs[i]["status"] = json!("To Deliver and Bill");
                self.docs[i]["modified"] = json!(modified);
                Reply::json(200, json!({ "message": self.docs[i] }))
            }
            (Method::POST, "/api/method/frappe.client.cancel") => {
                let body = s.json();
                assert_eq!(body["doctype"], "Sales Order");
                let Some(i) = self.docs.iter().position(|d| d["name"] == body["name"]) else {
                    return frappe_error(404, "DoesNotExistError", "not found");
                };
                if self.docs[i]["docstatus"] != 1 {
                    return frappe_error(417, "ValidationError", "Cannot cancel: not submitted");
                }
                self.docs[i]["docstatus"] = json!(2);
                self.docs[i]["status"] = json!("Cancelled");
                Reply::json(200, json!({ "message": self.docs[i] }))
            }
            _ => frappe_error(404, "DoesNotExistError", "no such endpoint"),
        }
    }
}

async fn frappe() -> Upstream {
    let state = Arc::new(Mutex::new(Frappe::default()));
    Upstream::start(move |s| state.lock().expect("lock").handle(s)).await
}

fn order() -> Value {
    json!({
        "external_ref": "GW-PO-0001",
        "customer": {"id": "Test Customer"},
        "order_date": "2026-11-23",
        "delivery_date": "2026-11-30",
        "currency": "EUR",
        "lines": [
            {"sku": "SKU-001", "quantity": 3, "unit_price": 12.5},
            {"sku": "SKU-002", "quantity": 10, "unit_price": 3.2}
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_round_trips_through_dokos() {
    let up = frappe().await;
    let gw = Gateway::start(&dokos_config(&up.url(), ""), &dokos_env());
    let http = Http::default();

    // create (draft)
    let a = http
        .post_json(&gw.url("/v1/connections/dokos/orders"), &order())
        .await;
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let created = a.json();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(
        a.header("location"),
        Some(format!("/v1/connections/dokos/orders/{id}").as_str())
    );
    assert_eq!(created["status"], "draft");
    assert_eq!(created["connection"], "dokos");
    assert_eq!(created["external_ref"], "GW-PO-0001");
    assert_eq!(created["totals"]["gross"].to_string(), "69.5");
    assert_eq!(created["lines"][1]["total"].to_string(), "32");
    let sent = &up.requests()[0];
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.target, "/api/resource/Sales%20Order");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.json(),
        json!({"customer": "Test Customer", "company": "Gateway Test GmbH", "transaction_date": "2026-11-23",
               "delivery_date": "2026-11-30", "currency": "EUR", "po_no": "GW-PO-0001", "docstatus": 0,
               "items": [{"item_code": "SKU-001", "qty": 3, "rate": 12.5}, {"item_code": "SKU-002", "qty": 10, "rate": 3.2}]})
    );

    // get, on the default connection's route
    let a = http.get(&gw.url(&format!("/v1/orders/{id}"))).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["id"], id.as_str());
    assert_eq!(a.json()["customer"]["id"], "Test Customer");

    // get by reference: a filtered list, then a read
    let a = http
        .get(&gw.url("/v1/connections/dokos/orders/by-ref/GW-PO-0001"))
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["id"], id.as_str());
    let a = http.get(&gw.url("/v1/orders/by-ref/NOPE")).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["code"], "not_found");

    // list
    let a = http.get(&gw.url("/v1/orders?status=draft&limit=10")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let page = a.json();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["data"][0]["id"], id.as_str());
    assert_eq!(page["next_cursor"], Value::Null);
    assert!(page.get("total").is_some());
    let list_req = up
        .requests()
        .into_iter()
        .rev()
        .find(|s| s.target.starts_with("/api/resource/Sales%20Order?"))
        .expect("list call");
    assert!(
        list_req.target.contains("limit_page_length=10"),
        "{}",
        list_req.target
    );
    assert!(
        list_req
            .target
            .contains("filters=%5B%5B%22docstatus%22%2C%22%3D%22%2C0%5D%5D"),
        "{}",
        list_req.target
    );

    // update
    let a = http
        .patch_json(
            &gw.url(&format!("/v1/orders/{id}")),
            &json!({"notes": "leave at the door", "delivery_date": "2026-12-01"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["notes"], "leave at the door");
    let put = up
        .requests()
        .into_iter()
        .rev()
        .find(|s| s.method == Method::PUT)
        .expect("PUT");
    assert_eq!(
        put.json(),
        json!({"delivery_date": "2026-12-01", "terms": "leave at the door"})
    );

    // confirm: read the draft, submit it whole
    up.clear();
    let a = http
        .post_empty(&gw.url(&format!("/v1/orders/{id}/confirm")))
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["status"], "confirmed");
    let calls = up.requests();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, Method::GET);
    assert_eq!(calls[1].target, "/api/method/frappe.client.submit");
    assert_eq!(calls[1].json()["doc"]["name"], id.as_str());

    // cancel
    let a = http
        .post_empty(&gw.url(&format!("/v1/connections/dokos/orders/{id}/cancel")))
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["status"], "cancelled");
    let cancel = up.requests().into_iter().last().expect("cancel call");
    assert_eq!(cancel.json(), json!({"doctype": "Sales Order", "name": id}));

    // a cancelled order cannot be deleted: Frappe's ValidationError is a business rule
    let a = http.delete(&gw.url(&format!("/v1/orders/{id}"))).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["code"], "business_rule");
    assert_eq!(a.json()["upstream"]["code"], "ValidationError");

    // create confirmed in one call, then a draft to delete
    let mut confirmed = order();
    confirmed["status"] = json!("confirmed");
    confirmed["external_ref"] = json!("GW-PO-0002");
    let a = http.post_json(&gw.url("/v1/orders"), &confirmed).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.json()["status"], "confirmed");
    assert_eq!(up.requests().last().expect("create").json()["docstatus"], 1);
    let mut draft = order();
    draft["external_ref"] = json!("GW-PO-0003");
    let a = http.post_json(&gw.url("/v1/orders"), &draft).await;
    let draft_id = a.json()["id"].as_str().expect("id").to_string();
    let a = http
        .delete(&gw.url(&format!("/v1/orders/{draft_id}")))
        .await;
    assert_eq!(a.status, 204);
    assert!(a.body.is_empty());
    let a = http.get(&gw.url(&format!("/v1/orders/{draft_id}"))).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["upstream"]["code"], "DoesNotExistError");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_and_openapi_are_served() {
    let up = frappe().await;
    let gw = Gateway::start(&dokos_config(&up.url(), ""), &dokos_env());
    let http = Http::default();
    let a = http.get(&gw.url("/v1/connections")).await;
    assert_eq!(a.status, 200);
    let c = &a.json()["data"][0];
    assert_eq!(c["name"], "dokos");
    assert_eq!(c["vendor"], "dokos");
    assert!(
        c["operations"].as_array().is_some_and(|o| o.len() >= 8),
        "{c}"
    );
    let a = http.get(&gw.url("/openapi.json")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["openapi"], "3.1.0");
    assert!(a.header("x-request-id").is_some());
}

/// A vendor we have not seen: a mapping file alone, with a computed total.
#[tokio::test(flavor = "multi_thread")]
async fn decimals_stay_exact_in_the_vendor_request() {
    let up =
        Upstream::start(|s| Reply::json(200, json!({"id": 7, "total": s.json()["total"].clone()})))
            .await;
    let dir = temp_dir("sum");
    std::fs::write(
        dir.join("sumvendor.yaml"),
        r#"vendor: sumvendor
operations:
  create_order:
    steps:
      - name: created
        request:
          method: POST
          path: /orders
          body:
            lines: { each: $.lines, to: { qty: $.quantity, price: $.unit_price, sum: { mul: [$.quantity, $.unit_price] } } }
            total: { sum: { each: $.lines, to: { mul: [$.quantity, $.unit_price] } } }
    result:
      id: { from: $created.body.id, as: string }
      totals: { gross: $created.body.total }
"#,
    )
    .expect("write mapping");
    let config = format!(
        "mappings: {}\nconnections:\n  s:\n    vendor: sumvendor\n    base_url: {}\n",
        dir.display(),
        up.url()
    );
    let gw = Gateway::start(&config, &[]);
    let body = json!({"customer": {"id": "C"}, "lines": [
        {"sku": "a", "quantity": 1, "unit_price": 0.1},
        {"sku": "b", "quantity": 1, "unit_price": 0.1},
        {"sku": "c", "quantity": 1, "unit_price": 0.1}]});
    let a = Http::default()
        .post_json(&gw.url("/v1/connections/s/orders"), &body)
        .await;
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let sent = String::from_utf8(up.requests()[0].body.to_vec()).expect("utf8");
    assert!(sent.contains("\"total\":0.3"), "{sent}");
    assert!(sent.contains("\"price\":0.1"), "{sent}");
    assert_eq!(a.json()["totals"]["gross"].to_string(), "0.3");
    assert_eq!(a.json()["id"], "7");
    let _ = std::fs::remove_dir_all(dir);
}
