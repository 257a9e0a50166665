//! A simulated Dokos (Frappe / ERPNext) site: Sales Orders through `/api/resource/Sales Order`
//! and `frappe.client.submit` / `cancel`, with Frappe's envelopes (`data`, `message`), statuses
//! (417 for validation errors, 404, 409, 401/403) and error bodies (`exc_type`,
//! `_server_messages`), as recorded from a real Frappe 15 server.

use std::str::FromStr;

use http::Method;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::{SANDBOX_KEY, SANDBOX_SECRET, SandboxReply, SandboxRequest, Vendor};

const RESOURCE: &str = "/api/resource/Sales%20Order";

#[derive(Default)]
pub struct Dokos {
    orders: Vec<Value>,
    next: u32,
    clock: u32,
}

fn error(status: u16, exc_type: &str, message: &str) -> SandboxReply {
    let inner =
        json!({"message": message, "title": "Message", "indicator": "red", "raise_exception": 1})
            .to_string();
    SandboxReply::json(
        status,
        &json!({
            "exception": format!("frappe.exceptions.{exc_type}: {message}"),
            "exc_type": exc_type,
            "_server_messages": json!([inner]).to_string(),
        }),
    )
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .ok()
            .or_else(|| Decimal::from_scientific(&n.to_string()).ok()),
        _ => None,
    }
}

/// Frappe writes floats with a decimal point (`3.0`).
fn float(d: Decimal) -> Value {
    let mut text = d.normalize().to_string();
    if !text.contains('.') {
        text.push_str(".0");
    }
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

impl Dokos {
    fn now(&mut self) -> String {
        self.clock += 1;
        format!(
            "2026-11-23 10:{:02}:{:02}.{:06}",
            (self.clock / 60) % 60,
            self.clock % 60,
            self.clock
        )
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.orders.iter().position(|o| o["name"] == name)
    }

    fn not_found(name: &str) -> SandboxReply {
        error(
            404,
            "DoesNotExistError",
            &format!("Sales Order {name} not found"),
        )
    }

    fn create(&mut self, body: &Value) -> SandboxReply {
        let Some(obj) = body.as_object() else {
            return error(500, "TypeError", "'NoneType' object is not iterable");
        };
        let Some(customer) = obj
            .get("customer")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        else {
            return error(417, "MandatoryError", "[Sales Order, new]: customer");
        };
        let items = obj
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            return error(500, "TypeError", "'NoneType' object is not iterable");
        }
        if let Some(po) = obj.get("po_no").and_then(Value::as_str)
            && let Some(existing) = self
                .orders
                .iter()
                .find(|o| o["po_no"] == po && o["customer"] == customer && o["docstatus"] != 2)
        {
            return error(
                417,
                "ValidationError",
                &format!(
                    "Sales Order <strong>{}</strong> already exists against Customer's Purchase Order <strong>{po}</strong>.",
                    existing["name"].as_str().unwrap_or("")
                ),
            );
        }
        let docstatus = obj.get("docstatus").and_then(Value::as_u64).unwrap_or(0);
        if docstatus > 1 {
            return error(417, "ValidationError", "A new document cannot be cancelled");
        }
        let transaction_date = obj
            .get("transaction_date")
            .and_then(Value::as_str)
            .unwrap_or("2026-11-23")
            .to_string();
        let delivery_date = obj.get("delivery_date").cloned().unwrap_or(Value::Null);
        if let Some(d) = delivery_date.as_str()
            && d < transaction_date.as_str()
        {
            return error(
                417,
                "ValidationError",
                "Expected Delivery Date should be after Sales Order Date",
            );
        }
        self.next += 1;
        let name = format!("SAL-ORD-2026-{:05}", self.next);
        let mut total = Decimal::ZERO;
        let mut lines = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(code) = item.get("item_code").and_then(Value::as_str) else {
                return error(
                    417,
                    "MandatoryError",
                    &format!("[Sales Order Item, row {}]: item_code", i + 1),
                );
            };
            let Some(qty) = item.get("qty").and_then(dec) else {
                return error(
                    417,
                    "MandatoryError",
                    &format!("[Sales Order Item, row {}]: qty", i + 1),
                );
            };
            if qty <= Decimal::ZERO {
                return error(
                    417,
                    "InvalidQtyError",
                    &format!(
                        "Row #{}: Quantity for Item <strong>{code}</strong> cannot be zero.",
                        i + 1
                    ),
                );
            }
            let rate = item.get("rate").and_then(dec).unwrap_or(Decimal::ZERO);
            let discount = item
                .get("discount_percentage")
                .and_then(dec)
                .unwrap_or(Decimal::ZERO);
            let net_rate = rate - rate * discount / Decimal::from(100);
            let amount = (qty * net_rate).round_dp(2);
            total += amount;
            let mut line = item.as_object().cloned().unwrap_or_default();
            line.insert(
                "name".into(),
                json!(format!("{:010x}", (self.next as u64) << 8 | i as u64)),
            );
            line.insert("idx".into(), json!(i + 1));
            line.insert("item_name".into(), json!(code));
            line.insert("qty".into(), float(qty));
            line.insert("rate".into(), float(net_rate));
            line.insert("amount".into(), float(amount));
            line.insert(
                "uom".into(),
                line.get("uom").cloned().unwrap_or(json!("Nos")),
            );
            line.insert(
                "delivery_date".into(),
                line.get("delivery_date")
                    .cloned()
                    .unwrap_or(delivery_date.clone()),
            );
            line.insert("discount_percentage".into(), float(discount));
            lines.push(Value::Object(line));
        }
        let now = self.now();
        let mut doc = Map::new();
        for (k, v) in obj {
            if k != "items" {
                doc.insert(k.clone(), v.clone());
            }
        }
        let extra = json!({
            "name": name, "doctype": "Sales Order", "docstatus": docstatus,
            "status": if docstatus == 1 { "To Deliver and Bill" } else { "Draft" },
            "customer": customer, "customer_name": customer,
            "transaction_date": transaction_date, "delivery_date": delivery_date,
            "currency": obj.get("currency").cloned().unwrap_or(json!("EUR")),
            "conversion_rate": 1.0, "items": lines,
            "net_total": float(total), "total_taxes_and_charges": 0.0, "discount_amount": 0.0,
            "grand_total": float(total), "advance_paid": 0.0,
            "delivery_status": "Not Delivered", "billing_status": "Not Billed",
            "creation": now, "modified": now,
        });
        if let Value::Object(e) = extra {
            doc.extend(e);
        }
        let doc = Value::Object(doc);
        self.orders.push(doc.clone());
        SandboxReply::json(200, &json!({ "data": doc }))
    }

    fn list(&self, req: &SandboxRequest) -> SandboxReply {
        let parse = |key: &str, default: &str| -> Result<Value, SandboxReply> {
            serde_json::from_str(req.query.get(key).map_or(default, String::as_str)).map_err(|_| {
                error(
                    500,
                    "JSONDecodeError",
                    &format!("Expecting value: `{key}` is not JSON"),
                )
            })
        };
        let fields = match parse("fields", "[\"name\"]") {
            Ok(Value::Array(f)) => f,
            Ok(_) => return error(417, "DataError", "fields must be a list"),
            Err(e) => return e,
        };
        let filters = match parse("filters", "[]") {
            Ok(Value::Array(f)) => f,
            Ok(_) => return error(417, "DataError", "filters must be a list"),
            Err(e) => return e,
        };
        let number = |key: &str, default: usize| {
            req.query
                .get(key)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(default)
        };
        let start = number("limit_start", 0);
        let length = number("limit_page_length", number("limit", 20));
        let descending = req
            .query
            .get("order_by")
            .is_none_or(|o| o.ends_with("desc"));
        let mut rows: Vec<&Value> = self
            .orders
            .iter()
            .filter(|o| filters.iter().all(|f| matches(o, f)))
            .collect();
        if descending {
            rows.reverse();
        }
        let take = if length == 0 { usize::MAX } else { length };
        let data: Vec<Value> = rows
            .into_iter()
            .skip(start)
            .take(take)
            .map(|o| {
                let mut out = Map::new();
                for f in &fields {
                    if let Some(name) = f.as_str() {
                        out.insert(
                            name.to_string(),
                            o.get(name).cloned().unwrap_or(Value::Null),
                        );
                    }
                }
                Value::Object(out)
            })
            .collect();
        SandboxReply::json(200, &json!({ "data": data }))
    }

    fn update(&mut self, i: usize, body: &Value) -> SandboxReply {
        let Some(changes) = body.as_object() else {
            return error(417, "ValidationError", "the body must be a document");
        };
        let current = self.orders[i]["docstatus"].as_u64().unwrap_or(0);
        for (k, v) in changes {
            if k == "docstatus" {
                let to = v.as_u64().unwrap_or(current);
                let allowed = matches!((current, to), (0, 0) | (0, 1) | (1, 1) | (1, 2) | (2, 2));
                if !allowed {
                    return error(
                        417,
                        "DocstatusTransitionError",
                        &format!("Cannot change docstatus from {current} to {to}"),
                    );
                }
                continue;
            }
            if current != 0 && !matches!(k.as_str(), "po_no" | "terms" | "delivery_date") {
                return error(
                    417,
                    "UpdateAfterSubmitError",
                    &format!("Not allowed to change {k} after submission"),
                );
            }
        }
        let now = self.now();
        let doc = &mut self.orders[i];
        for (k, v) in changes {
            doc[k.as_str()] = v.clone();
        }
        set_status(doc);
        doc["modified"] = json!(now);
        SandboxReply::json(200, &json!({ "data": doc }))
    }

    fn submit(&mut self, body: &Value) -> SandboxReply {
        let doc = match body.get("doc") {
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
            Some(d) => d.clone(),
            None => return error(417, "MandatoryError", "doc"),
        };
        let name = doc["name"].as_str().unwrap_or("");
        let Some(i) = self.find(name) else {
            return Self::not_found(name);
        };
        if self.orders[i]["modified"] != doc["modified"] {
            return error(
                417,
                "TimestampMismatchError",
                "Error: Document has been modified after you have opened it. Please refresh to get the latest document.",
            );
        }
        if self.orders[i]["docstatus"] != 0 {
            return error(417, "ValidationError", "Cannot edit cancelled document");
        }
        let now = self.now();
        let o = &mut self.orders[i];
        o["docstatus"] = json!(1);
        set_status(o);
        o["modified"] = json!(now);
        SandboxReply::json(200, &json!({ "message": o }))
    }

    fn cancel(&mut self, body: &Value) -> SandboxReply {
        if body["doctype"] != "Sales Order" {
            return error(404, "DoesNotExistError", "DocType not found");
        }
        let name = body["name"].as_str().unwrap_or("");
        let Some(i) = self.find(name) else {
            return Self::not_found(name);
        };
        if self.orders[i]["docstatus"] != 1 {
            return error(
                417,
                "ValidationError",
                "Cannot cancel before submitting. See Transition 0 - 2",
            );
        }
        let now = self.now();
        let o = &mut self.orders[i];
        o["docstatus"] = json!(2);
        set_status(o);
        o["modified"] = json!(now);
        SandboxReply::json(200, &json!({ "message": o }))
    }
}

fn set_status(doc: &mut Value) {
    doc["status"] = json!(match doc["docstatus"].as_u64() {
        Some(1) => "To Deliver and Bill",
        Some(2) => "Cancelled",
        _ => "Draft",
    });
}

/// One Frappe filter `[field, op, value]` (or `[doctype, field, op, value]`).
fn matches(doc: &Value, filter: &Value) -> bool {
    let f = filter.as_array().map(Vec::as_slice).unwrap_or_default();
    let (field, op, value) = match f {
        [field, op, value] => (field, op, value),
        [_, field, op, value] => (field, op, value),
        _ => return false,
    };
    let actual = &doc[field.as_str().unwrap_or("")];
    let cmp = || match (actual, value) {
        (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => Some(dec(actual)?.cmp(&dec(value)?)),
    };
    match op.as_str().unwrap_or("") {
        "=" => actual == value || cmp() == Some(std::cmp::Ordering::Equal),
        "!=" => actual != value,
        "in" => value.as_array().is_some_and(|a| a.contains(actual)),
        ">" => cmp().is_some_and(|o| o.is_gt()),
        ">=" => cmp().is_some_and(|o| o.is_ge()),
        "<" => cmp().is_some_and(|o| o.is_lt()),
        "<=" => cmp().is_some_and(|o| o.is_le()),
        _ => false,
    }
}

impl Vendor for Dokos {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply {
        let auth = format!("token {SANDBOX_KEY}:{SANDBOX_SECRET}");
        match req.header("authorization") {
            None => {
                return error(
                    403,
                    "PermissionError",
                    "User <strong>Guest</strong> does not have doctype access via role permission for document <strong>Sales Order</strong>",
                );
            }
            Some(a) if a != auth => {
                return SandboxReply::json(
                    401,
                    &json!({"exception": "frappe.exceptions.AuthenticationError", "exc_type": "AuthenticationError"}),
                );
            }
            Some(_) => {}
        }
        if !req
            .header("accept")
            .is_some_and(|a| a.contains("application/json"))
        {
            return SandboxReply::text(
                200,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><body>Send Accept: application/json</body></html>",
            );
        }
        let writes_json = matches!(req.method, Method::POST | Method::PUT);
        if writes_json && req.content_type() != "application/json" {
            return error(
                500,
                "JSONDecodeError",
                "Expecting value: line 1 column 1 (char 0)",
            );
        }
        let body = if writes_json {
            match req.json() {
                Some(b) => b,
                None => {
                    return error(
                        500,
                        "JSONDecodeError",
                        "Expecting value: line 1 column 1 (char 0)",
                    );
                }
            }
        } else {
            Value::Null
        };
        let path = req.path.as_str();
        match (&req.method, path) {
            (&Method::POST, RESOURCE) => self.create(&body),
            (&Method::GET, RESOURCE) => self.list(req),
            (&Method::POST, "/api/method/frappe.client.submit") => self.submit(&body),
            (&Method::POST, "/api/method/frappe.client.cancel") => self.cancel(&body),
            (m, p) if p.starts_with(RESOURCE) && p[RESOURCE.len()..].starts_with('/') => {
                let raw = &p[RESOURCE.len() + 1..];
                let name = percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into_owned();
                let Some(i) = self.find(&name) else {
                    return Self::not_found(&name);
                };
                match *m {
                    Method::GET => SandboxReply::json(200, &json!({ "data": self.orders[i] })),
                    Method::PUT => self.update(i, &body),
                    Method::DELETE => {
                        if self.orders[i]["docstatus"] != 0 {
                            return error(
                                417,
                                "ValidationError",
                                "Submitted or cancelled documents cannot be deleted",
                            );
                        }
                        self.orders.remove(i);
                        SandboxReply::json(202, &json!({ "data": "ok" }))
                    }
                    _ => error(405, "ValidationError", "method not allowed"),
                }
            }
            _ => error(404, "DoesNotExistError", "Page not found"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(method: Method, path: &str, body: Value) -> SandboxRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            format!("token {SANDBOX_KEY}:{SANDBOX_SECRET}")
                .parse()
                .expect("h"),
        );
        headers.insert("accept", "application/json".parse().expect("h"));
        headers.insert("content-type", "application/json".parse().expect("h"));
        SandboxRequest {
            method,
            path: path.into(),
            query: Default::default(),
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn create_submit_cancel() {
        let mut d = Dokos::default();
        let r = d.handle(&req(
            Method::POST,
            RESOURCE,
            json!({"customer": "C", "items": [{"item_code": "A", "qty": 3, "rate": 0.1}]}),
        ));
        assert_eq!(r.status, 200);
        let doc: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(doc["data"]["grand_total"].to_string(), "0.3");
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.submit",
            json!({"doc": doc["data"]}),
        ));
        assert_eq!(r.status, 200);
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.submit",
            json!({"doc": doc["data"]}),
        ));
        assert_eq!(r.status, 417, "a stale copy is refused");
        let r = d.handle(&req(
            Method::POST,
            "/api/method/frappe.client.cancel",
            json!({"doctype": "Sales Order", "name": "SAL-ORD-2026-00001"}),
        ));
        assert_eq!(r.status, 200);
        let r = d.handle(&req(
            Method::POST,
            RESOURCE,
            json!({"items": [{"item_code": "A", "qty": 1}]}),
        ));
        assert_eq!(r.status, 417);
    }
}
