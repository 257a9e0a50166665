//! A simulated OneEntry project (headless commerce): the orders of one order storage through the
//! content API the SDK's `Orders` module calls (`/api/content/orders-storage/marker/{marker}/...`),
//! with OneEntry's `IError` envelope `{statusCode, message, pageData, timestamp}` (`message` a list
//! of strings for body validation, class-validator style), `x-app-token` and the user's
//! `Authorization: Bearer` on every call, `formData` keyed by the language code on writes,
//! `{items, total}` lists, and `totalSum` a number on create/update but a decimal string on reads.
//!
//! Seeded: the order storage `my-order` (form `orderForm` with text fields name, email, phone,
//! customer_id, order_ref, notes, address; payment account `cash`; statuses inProgress (default),
//! confirmed, canceled, completed), catalogue products 1, 2 and 2957, coupon `SANDBOX10` (10 %).

use std::str::FromStr;

use bytes::Bytes;
use http::Method;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::dec;
use super::{SANDBOX_KEY, SANDBOX_SECRET, SandboxReply, SandboxRequest, Vendor};

/// The App Token (`x-app-token`) and the user accessToken (`Authorization: Bearer`) accepted.
pub const APP_TOKEN: &str = SANDBOX_KEY;
pub const ACCESS_TOKEN: &str = SANDBOX_SECRET;

const PREFIX: &str = "/api/content/orders-storage/marker/";
const DEFAULT_LANG: &str = "en_US";

/// The one order storage of the simulated project.
const STORAGE_ID: u64 = 1;
const STORAGE_MARKER: &str = "my-order";
const FORM: &str = "orderForm";
/// The fields of the order form: (marker, type).
const FORM_FIELDS: &[(&str, &str)] = &[
    ("name", "string"),
    ("email", "string"),
    ("phone", "string"),
    ("customer_id", "string"),
    ("order_ref", "string"),
    ("notes", "string"),
    ("address", "string"),
];
/// Payment accounts linked to the storage: (marker, title, currency).
const ACCOUNTS: &[(&str, &str, &str)] = &[("cash", "Cash", "EUR")];
/// Order statuses of the storage: (marker, title); the first is the default.
const STATUSES: &[(&str, &str)] = &[
    ("inProgress", "In progress"),
    ("confirmed", "Confirmed"),
    ("canceled", "Canceled"),
    ("completed", "Completed"),
];
/// The catalogue: (id, title, sku, price).
const PRODUCTS: &[(u64, &str, Option<&str>, &str)] = &[
    (1, "Sandbox mug", Some("1"), "12.50"),
    (2, "Sandbox teapot", Some("2"), "34.90"),
    (2957, "Cosmo", None, "150"),
];
/// Coupons: (code, percent off).
const COUPONS: &[(&str, u32)] = &[("SANDBOX10", 10)];

const BODY_KEYS: &[&str] = &[
    "formIdentifier",
    "paymentAccountIdentifier",
    "formData",
    "products",
    "couponCode",
    "bonusAmount",
    "additionalDiscountsMarkers",
    "statusIdentifier",
    "currency",
];

struct Order {
    id: u64,
    /// Form data per language code, each `{marker, value, type}` list.
    form_data: Vec<(String, Vec<Value>)>,
    products: Vec<(u64, Decimal)>,
    account: String,
    status: String,
    total: Decimal,
    created: String,
}

pub struct OneEntry {
    orders: Vec<Order>,
    next: u64,
}

impl Default for OneEntry {
    fn default() -> Self {
        OneEntry {
            orders: Vec::new(),
            next: 1,
        }
    }
}

/// A validated create/update body.
struct OrderBody {
    form_data: Vec<(String, Vec<Value>)>,
    account: String,
    products: Vec<(u64, Decimal)>,
    coupon: Option<u32>,
    status: Option<String>,
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn reply(status: u16, body: &Value) -> SandboxReply {
    SandboxReply {
        status,
        content_type: "application/json; charset=utf-8",
        body: Bytes::from(body.to_string()),
        headers: Vec::new(),
    }
}

/// OneEntry's `IError`.
fn error(status: u16, message: impl Into<Value>) -> SandboxReply {
    reply(
        status,
        &json!({"statusCode": status, "message": message.into(), "pageData": null, "timestamp": now()}),
    )
}

/// A JSON number, exact.
fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn is_lang(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_lowercase)
        && b[2] == b'_'
        && b[3..].iter().all(u8::is_ascii_uppercase)
}

fn product(id: u64) -> Option<&'static (u64, &'static str, Option<&'static str>, &'static str)> {
    PRODUCTS.iter().find(|p| p.0 == id)
}

fn price(p: &(u64, &str, Option<&str>, &str)) -> Decimal {
    Decimal::from_str(p.3).unwrap_or(Decimal::ZERO)
}

fn status_title(marker: &str) -> Value {
    STATUSES
        .iter()
        .find(|s| s.0 == marker)
        .map_or(Value::Null, |s| json!({"title": s.1}))
}

fn account(marker: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    ACCOUNTS.iter().find(|a| a.0 == marker)
}

fn non_empty_string(obj: &Map<String, Value>, key: &str, at: &str, msgs: &mut Vec<String>) {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) => msgs.push(format!("{at}{key} should not be empty")),
        _ => msgs.push(format!("{at}{key} must be a string")),
    }
}

/// The class-validator pass of NestJS's ValidationPipe (whitelist, forbidNonWhitelisted): every
/// message at once, as a list.
fn validate_shape(body: &Map<String, Value>) -> Vec<String> {
    let mut msgs = Vec::new();
    for k in body.keys() {
        if !BODY_KEYS.contains(&k.as_str()) {
            msgs.push(format!("property {k} should not exist"));
        }
    }
    non_empty_string(body, "formIdentifier", "", &mut msgs);
    non_empty_string(body, "paymentAccountIdentifier", "", &mut msgs);
    match body.get("formData") {
        Some(Value::Object(langs)) => {
            if langs.is_empty() {
                msgs.push("formData should not be empty".into());
            }
            for (lang, fields) in langs {
                if !is_lang(lang) {
                    msgs.push(format!(
                        "formData key {lang} must be a language code like en_US"
                    ));
                }
                let list: Vec<&Value> = match fields {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                for (i, f) in list.iter().enumerate() {
                    let at = format!("formData.{lang}.{i}.");
                    let Some(f) = f.as_object() else {
                        msgs.push(format!("formData.{lang}.{i} must be an object"));
                        continue;
                    };
                    for k in f.keys() {
                        if !matches!(k.as_str(), "marker" | "value" | "type") {
                            msgs.push(format!("{at}property {k} should not exist"));
                        }
                    }
                    non_empty_string(f, "marker", &at, &mut msgs);
                    non_empty_string(f, "type", &at, &mut msgs);
                    match f.get("value") {
                        Some(Value::String(_) | Value::Number(_) | Value::Bool(_))
                        | Some(Value::Array(_)) => {}
                        _ => msgs.push(format!("{at}value should not be empty")),
                    }
                }
            }
        }
        Some(Value::Array(_)) => msgs.push(
            "formData must be an object whose key is the language code, e.g. {\"en_US\": [...]}"
                .into(),
        ),
        _ => msgs.push("formData must be an object".into()),
    }
    match body.get("products") {
        Some(Value::Array(items)) => {
            for (i, p) in items.iter().enumerate() {
                let at = format!("products.{i}.");
                let Some(p) = p.as_object() else {
                    msgs.push(format!("products.{i} must be an object"));
                    continue;
                };
                for k in p.keys() {
                    if !matches!(k.as_str(), "productId" | "quantity" | "signedPrice") {
                        msgs.push(format!("{at}property {k} should not exist"));
                    }
                }
                match p.get("productId") {
                    Some(v) if v.as_u64().is_some_and(|id| id >= 1) => {}
                    Some(v) if v.as_u64().is_some() || v.as_i64().is_some() => {
                        msgs.push(format!("{at}productId must not be less than 1"))
                    }
                    _ => msgs.push(format!("{at}productId must be an integer number")),
                }
                match p.get("quantity").and_then(dec) {
                    Some(q) if q > Decimal::ZERO => {}
                    Some(_) => msgs.push(format!("{at}quantity must be a positive number")),
                    None => msgs.push(format!(
                        "{at}quantity must be a number conforming to the specified constraints"
                    )),
                }
                if p.get("signedPrice").is_some_and(|s| !s.is_string()) {
                    msgs.push(format!("{at}signedPrice must be a string"));
                }
            }
        }
        _ => msgs.push("products must be an array".into()),
    }
    for key in ["couponCode", "statusIdentifier", "currency"] {
        if body.get(key).is_some_and(|v| !v.is_string()) {
            msgs.push(format!("{key} must be a string"));
        }
    }
    if let Some(b) = body.get("bonusAmount") {
        match dec(b) {
            Some(d) if d >= Decimal::ZERO => {}
            Some(_) => msgs.push("bonusAmount must not be less than 0".into()),
            None => msgs.push(
                "bonusAmount must be a number conforming to the specified constraints".into(),
            ),
        }
    }
    if let Some(d) = body.get("additionalDiscountsMarkers")
        && !d.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        msgs.push("each value in additionalDiscountsMarkers must be a string".into());
    }
    msgs
}

/// Parses and checks a create/update body against the storage's form, payment accounts,
/// statuses, catalogue and coupons.
fn order_body(req: &SandboxRequest) -> Result<OrderBody, SandboxReply> {
    // Without a JSON content type, NestJS's body parser leaves the body empty: {}.
    let body = if req.content_type() == "application/json" {
        match req.json() {
            Some(b) => b,
            None => {
                return Err(error(400, "Unexpected token in JSON at position 0"));
            }
        }
    } else {
        json!({})
    };
    let Some(obj) = body.as_object() else {
        return Err(error(400, json!(validate_shape(&Map::new()))));
    };
    let msgs = validate_shape(obj);
    if !msgs.is_empty() {
        return Err(error(400, json!(msgs)));
    }
    let form = obj["formIdentifier"].as_str().unwrap_or("");
    if form != FORM {
        return Err(error(
            400,
            format!("Form \"{form}\" is not linked to the order storage \"{STORAGE_MARKER}\""),
        ));
    }
    let acc = obj["paymentAccountIdentifier"].as_str().unwrap_or("");
    if account(acc).is_none() {
        return Err(error(
            400,
            format!(
                "Payment account \"{acc}\" is not linked to the order storage \"{STORAGE_MARKER}\""
            ),
        ));
    }
    let mut form_data = Vec::new();
    if let Some(langs) = obj["formData"].as_object() {
        for (lang, fields) in langs {
            let list: Vec<&Value> = match fields {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let mut stored = Vec::new();
            for f in list {
                let marker = f["marker"].as_str().unwrap_or("");
                let ty = f["type"].as_str().unwrap_or("");
                let Some((_, want)) = FORM_FIELDS.iter().find(|(m, _)| *m == marker) else {
                    return Err(error(
                        400,
                        format!("formData: the form \"{FORM}\" has no field \"{marker}\""),
                    ));
                };
                if ty != *want {
                    return Err(error(
                        400,
                        format!(
                            "formData: the field \"{marker}\" is of type \"{want}\", not \"{ty}\""
                        ),
                    ));
                }
                if *want == "string" && !f["value"].is_string() {
                    return Err(error(
                        400,
                        format!("formData: the value of the field \"{marker}\" must be a string"),
                    ));
                }
                stored.push(json!({"marker": marker, "value": f["value"], "type": ty}));
            }
            form_data.push((lang.clone(), stored));
        }
    }
    let items = obj["products"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(error(
            400,
            json!(["products should not be empty (order storage of products)"]),
        ));
    }
    let mut products = Vec::new();
    for p in &items {
        let id = p["productId"].as_u64().unwrap_or(0);
        if product(id).is_none() {
            return Err(error(404, format!("Product with id {id} not found")));
        }
        products.push((id, dec(&p["quantity"]).unwrap_or(Decimal::ZERO)));
    }
    let coupon = match obj.get("couponCode").and_then(Value::as_str) {
        None => None,
        Some(code) => match COUPONS.iter().find(|c| c.0 == code) {
            Some(c) => Some(c.1),
            None => return Err(error(400, format!("Coupon \"{code}\" is not valid"))),
        },
    };
    if obj
        .get("bonusAmount")
        .and_then(dec)
        .is_some_and(|b| b > Decimal::ZERO)
    {
        return Err(error(400, "Not enough bonuses: the user's balance is 0"));
    }
    if let Some(m) = obj
        .get("additionalDiscountsMarkers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return Err(error(
            400,
            format!("Discount \"{}\" not found", m.as_str().unwrap_or("")),
        ));
    }
    let status = match obj.get("statusIdentifier").and_then(Value::as_str) {
        None => None,
        Some(s) if STATUSES.iter().any(|st| st.0 == s) => Some(s.to_string()),
        Some(s) => {
            return Err(error(
                400,
                format!(
                    "Order status \"{s}\" does not exist in the order storage \"{STORAGE_MARKER}\""
                ),
            ));
        }
    };
    Ok(OrderBody {
        form_data,
        account: acc.to_string(),
        products,
        coupon,
        status,
    })
}

fn total(products: &[(u64, Decimal)], coupon: Option<u32>) -> Decimal {
    let gross: Decimal = products
        .iter()
        .map(|(id, q)| product(*id).map_or(Decimal::ZERO, price) * q)
        .sum();
    let off = Decimal::from(coupon.unwrap_or(0));
    (gross - gross * off / Decimal::from(100)).round_dp(2)
}

/// `langCode` (optional; default en_US) and the other whitelisted query parameters.
fn check_query(req: &SandboxRequest, allowed: &[&str]) -> Result<String, SandboxReply> {
    let mut msgs = Vec::new();
    for k in req.query.keys() {
        if k != "langCode" && !allowed.contains(&k.as_str()) {
            msgs.push(format!("property {k} should not exist"));
        }
    }
    let lang = req
        .query
        .get("langCode")
        .cloned()
        .unwrap_or_else(|| DEFAULT_LANG.to_string());
    if !is_lang(&lang) {
        msgs.push("langCode must match /^[a-z]{2}_[A-Z]{2}$/ regular expression".into());
    }
    if msgs.is_empty() {
        Ok(lang)
    } else {
        Err(error(400, json!(msgs)))
    }
}

impl Order {
    fn form_for(&self, lang: &str) -> Value {
        self.form_data
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| self.form_data.first())
            .map_or(json!([]), |(_, f)| json!(f))
    }

    fn read_products(&self) -> Value {
        json!(
            self.products
                .iter()
                .map(|(id, q)| {
                    let p = product(*id);
                    json!({
                        "id": id,
                        "title": p.map(|p| p.1),
                        "sku": p.and_then(|p| p.2),
                        "price": p.map_or(Value::Null, |p| num(price(p))),
                        "quantity": num(*q),
                        "previewImage": null,
                    })
                })
                .collect::<Vec<_>>()
        )
    }

    fn currency(&self) -> &'static str {
        account(&self.account).map_or("", |a| a.2)
    }

    /// IBaseOrdersEntity: the create/update answer (`totalSum` a number).
    fn base(&self, lang: &str, products: Value, status: bool) -> Value {
        let mut o = json!({
            "id": self.id,
            "formIdentifier": FORM,
            "paymentAccountIdentifier": self.account,
            "formData": self.form_for(lang),
            "products": products,
            "currency": self.currency(),
            "totalSum": num(self.total),
            "createdDate": self.created,
        });
        if status {
            o["statusIdentifier"] = json!(self.status);
            o["statusLocalizeInfos"] = status_title(&self.status);
        }
        o
    }

    /// IOrderByMarkerEntity: an order as read or listed (`totalSum` a decimal string).
    fn entity(&self, lang: &str) -> Value {
        json!({
            "id": self.id,
            "storageId": STORAGE_ID,
            "createdDate": self.created,
            "statusIdentifier": self.status,
            "statusLocalizeInfos": status_title(&self.status),
            "fulfillmentStatusIdentifier": null,
            "fulfillmentStatusLocalizeInfos": null,
            "paymentStatusIdentifier": null,
            "paymentStatusLocalizeInfos": null,
            "formIdentifier": FORM,
            "formData": self.form_for(lang),
            "totalSum": format!("{:.2}", self.total),
            "currency": self.currency(),
            "paymentAccountIdentifier": self.account,
            "paymentAccountLocalizeInfos": account(&self.account).map(|a| json!({"title": a.1})),
            "products": self.read_products(),
            "paymentUrl": null,
            "isCompleted": null,
        })
    }
}

impl OneEntry {
    fn create(&mut self, req: &SandboxRequest) -> SandboxReply {
        if !req.query.is_empty() {
            // The SDK puts the language into `formData`, never into the query of a create.
            let keys: Vec<String> = req
                .query
                .keys()
                .map(|k| format!("property {k} should not exist"))
                .collect();
            return error(400, json!(keys));
        }
        let body = match order_body(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let order = Order {
            id: self.next,
            total: total(&body.products, body.coupon),
            form_data: body.form_data,
            products: body.products,
            account: body.account,
            status: body
                .status
                .clone()
                .unwrap_or_else(|| STATUSES[0].0.to_string()),
            created: now(),
        };
        self.next += 1;
        let lang = order
            .form_data
            .first()
            .map_or(DEFAULT_LANG.to_string(), |(l, _)| l.clone());
        let written = json!(
            order
                .products
                .iter()
                .map(|(id, q)| json!({"productId": id, "quantity": num(*q)}))
                .collect::<Vec<_>>()
        );
        let answer = order.base(&lang, written, body.status.is_some());
        self.orders.push(order);
        reply(201, &answer)
    }

    fn list(&self, req: &SandboxRequest) -> SandboxReply {
        let lang = match check_query(req, &["limit", "offset"]) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let mut msgs = Vec::new();
        let mut number = |key: &str, default: u64, min: u64| match req.query.get(key) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n >= min => n,
                Ok(_) => {
                    msgs.push(format!("{key} must not be less than {min}"));
                    default
                }
                Err(_) => {
                    msgs.push(format!("{key} must be an integer number"));
                    default
                }
            },
        };
        let limit = number("limit", 30, 1);
        let offset = number("offset", 0, 0);
        if !msgs.is_empty() {
            return error(400, json!(msgs));
        }
        let items: Vec<Value> = self
            .orders
            .iter()
            .rev()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|o| o.entity(&lang))
            .collect();
        reply(200, &json!({"items": items, "total": self.orders.len()}))
    }

    fn update(&mut self, i: usize, req: &SandboxRequest) -> SandboxReply {
        let lang = match check_query(req, &[]) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let body = match order_body(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let order = &mut self.orders[i];
        for (l, fields) in body.form_data {
            match order.form_data.iter_mut().find(|(have, _)| *have == l) {
                Some(slot) => slot.1 = fields,
                None => order.form_data.push((l, fields)),
            }
        }
        order.total = total(&body.products, body.coupon);
        order.products = body.products;
        order.account = body.account;
        if let Some(s) = body.status {
            order.status = s;
        }
        let products = order.read_products();
        reply(200, &order.base(&lang, products, true))
    }

    fn statuses(req: &SandboxRequest) -> SandboxReply {
        if let Err(e) = check_query(req, &["limit", "offset"]) {
            return e;
        }
        let list: Vec<Value> = STATUSES
            .iter()
            .enumerate()
            .map(|(i, (m, t))| {
                json!({"identifier": m, "localizeInfos": {"title": t}, "isUsed": true, "position": i + 1})
            })
            .collect();
        reply(200, &json!(list))
    }
}

impl Vendor for OneEntry {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply {
        let not_found = || error(404, format!("Cannot {} {}", req.method, req.path));
        let Some(rest) = req.path.strip_prefix(PREFIX) else {
            return not_found();
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (marker, tail) = match parts.as_slice() {
            [m, tail @ ..] if !m.is_empty() => (*m, tail),
            _ => return not_found(),
        };
        let route = match (&req.method, tail) {
            (&Method::GET, ["order-statuses"]) => 0,
            (&Method::GET | &Method::POST, ["orders"]) => 1,
            (&Method::GET | &Method::PUT, ["orders", _]) => 2,
            _ => return not_found(),
        };
        // Guards: the project's App Token, then the signed-in user.
        if req.header("x-app-token") != Some(APP_TOKEN) {
            return error(403, "Forbidden resource");
        }
        if req.header("authorization") != Some(&format!("Bearer {ACCESS_TOKEN}")) {
            return error(401, "Unauthorized");
        }
        let marker = percent_encoding::percent_decode_str(marker).decode_utf8_lossy();
        if marker != STORAGE_MARKER {
            return error(404, format!("Order storage \"{marker}\" not found"));
        }
        match (route, &req.method) {
            (0, _) => Self::statuses(req),
            (1, &Method::POST) => self.create(req),
            (1, _) => self.list(req),
            _ => {
                let raw = tail.get(1).copied().unwrap_or("");
                let Some(id) = raw.parse::<u64>().ok().filter(|id| *id >= 1) else {
                    return error(400, "Validation failed (numeric string is expected)");
                };
                let Some(i) = self.orders.iter().position(|o| o.id == id) else {
                    return error(404, "Order not found");
                };
                if req.method == Method::PUT {
                    return self.update(i, req);
                }
                match check_query(req, &[]) {
                    Ok(lang) => reply(200, &self.orders[i].entity(&lang)),
                    Err(e) => e,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ORDERS: &str = "/api/content/orders-storage/marker/my-order/orders";

    fn req(method: Method, target: &str, body: Value) -> SandboxRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-app-token", APP_TOKEN.parse().expect("h"));
        headers.insert(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").parse().expect("h"),
        );
        headers.insert("accept", "application/json".parse().expect("h"));
        headers.insert("content-type", "application/json".parse().expect("h"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        SandboxRequest {
            method,
            path: path.into(),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect::<HashMap<_, _>>(),
            headers,
            body: if body.is_null() {
                Bytes::new()
            } else {
                Bytes::from(body.to_string())
            },
        }
    }

    fn json_of(r: &SandboxReply) -> Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    fn order() -> Value {
        json!({
            "formIdentifier": "orderForm",
            "paymentAccountIdentifier": "cash",
            "formData": {"en_US": [
                {"marker": "name", "type": "string", "value": "Ivan"},
                {"marker": "order_ref", "type": "string", "value": "WEB-1"}
            ]},
            "products": [{"productId": 1, "quantity": 2}, {"productId": 2, "quantity": 1}]
        })
    }

    #[test]
    fn create_read_list_confirm_cancel() {
        let mut o = OneEntry::default();
        let r = o.handle(&req(Method::POST, ORDERS, order()));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let created = json_of(&r);
        assert_eq!(created["id"], json!(1));
        assert_eq!(created["totalSum"].to_string(), "59.9");
        assert!(created.get("statusIdentifier").is_none());
        assert_eq!(
            created["products"][0],
            json!({"productId": 1, "quantity": 2})
        );
        assert_eq!(created["formData"][1]["value"], "WEB-1");

        let r = o.handle(&req(
            Method::GET,
            &format!("{ORDERS}/1?langCode=en_US"),
            Value::Null,
        ));
        assert_eq!(r.status, 200);
        let read = json_of(&r);
        assert_eq!(read["totalSum"], "59.90");
        assert_eq!(read["statusIdentifier"], "inProgress");
        assert_eq!(read["products"][0]["price"].to_string(), "12.5");
        assert_eq!(read["products"][0]["id"], json!(1));

        o.handle(&req(Method::POST, ORDERS, order()));
        let r = o.handle(&req(
            Method::GET,
            &format!("{ORDERS}?langCode=en_US&limit=1&offset=1"),
            Value::Null,
        ));
        assert_eq!(r.status, 200);
        let page = json_of(&r);
        assert_eq!(page["total"], json!(2));
        assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(page["items"][0]["id"], json!(1), "newest first");

        let mut put = order();
        put["statusIdentifier"] = json!("confirmed");
        put["couponCode"] = json!("SANDBOX10");
        let r = o.handle(&req(
            Method::PUT,
            &format!("{ORDERS}/1?langCode=en_US"),
            put,
        ));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let updated = json_of(&r);
        assert_eq!(updated["statusIdentifier"], "confirmed");
        assert_eq!(updated["totalSum"].to_string(), "53.91");
        assert_eq!(updated["products"][0]["title"], "Sandbox mug");

        let mut put = order();
        put["statusIdentifier"] = json!("canceled");
        let r = o.handle(&req(
            Method::PUT,
            &format!("{ORDERS}/1?langCode=en_US"),
            put,
        ));
        assert_eq!(r.status, 200);
        let r = o.handle(&req(Method::GET, &format!("{ORDERS}/1"), Value::Null));
        assert_eq!(json_of(&r)["statusIdentifier"], "canceled");
        assert_eq!(json_of(&r)["totalSum"], "59.90");
    }

    #[test]
    fn auth_is_checked_on_every_call() {
        let mut o = OneEntry::default();
        let mut r = req(Method::GET, ORDERS, Value::Null);
        r.headers.remove("authorization");
        let a = o.handle(&r);
        assert_eq!(a.status, 401);
        assert_eq!(json_of(&a)["statusCode"], json!(401));
        r.headers
            .insert("authorization", "Bearer expired".parse().expect("h"));
        assert_eq!(o.handle(&r).status, 401);
        let mut r = req(Method::GET, ORDERS, Value::Null);
        r.headers.remove("x-app-token");
        assert_eq!(o.handle(&r).status, 403);
    }

    #[test]
    fn bodies_are_validated_like_the_vendor() {
        let mut o = OneEntry::default();
        // formData as a bare list (not keyed by language)
        let mut b = order();
        b["formData"] = json!([{"marker": "name", "type": "string", "value": "Ivan"}]);
        let r = o.handle(&req(Method::POST, ORDERS, b));
        assert_eq!(r.status, 400);
        assert!(json_of(&r)["message"].is_array());

        // missing fields and a stray property, all reported at once
        let r = o.handle(&req(
            Method::POST,
            ORDERS,
            json!({"products": [{"productId": "x", "quantity": 0}], "payments": []}),
        ));
        assert_eq!(r.status, 400);
        let msgs = json_of(&r)["message"].clone();
        let text = msgs.to_string();
        for m in [
            "property payments should not exist",
            "formIdentifier must be a string",
            "products.0.productId must be an integer number",
            "products.0.quantity must be a positive number",
        ] {
            assert!(text.contains(m), "{m} in {text}");
        }

        // a single field object under the language is accepted
        let mut b = order();
        b["formData"] = json!({"fr_FR": {"marker": "name", "type": "string", "value": "Ivan"}});
        assert_eq!(o.handle(&req(Method::POST, ORDERS, b)).status, 201);

        // a langCode query on create is refused
        assert_eq!(
            o.handle(&req(
                Method::POST,
                &format!("{ORDERS}?langCode=en_US"),
                order()
            ))
            .status,
            400
        );

        // unknown form field, product, status, payment account
        let mut b = order();
        b["formData"]["en_US"][0]["marker"] = json!("nickname");
        assert_eq!(o.handle(&req(Method::POST, ORDERS, b)).status, 400);
        let mut b = order();
        b["products"][0]["productId"] = json!(99);
        let r = o.handle(&req(Method::POST, ORDERS, b));
        assert_eq!(r.status, 404);
        assert_eq!(json_of(&r)["message"], "Product with id 99 not found");
        let mut b = order();
        b["statusIdentifier"] = json!("shipped");
        assert_eq!(o.handle(&req(Method::POST, ORDERS, b)).status, 400);
        let mut b = order();
        b["paymentAccountIdentifier"] = json!("stripe");
        assert_eq!(o.handle(&req(Method::POST, ORDERS, b)).status, 400);

        // reads and lists
        assert_eq!(
            o.handle(&req(Method::GET, &format!("{ORDERS}/999"), Value::Null))
                .status,
            404
        );
        assert_eq!(
            o.handle(&req(Method::GET, &format!("{ORDERS}/abc"), Value::Null))
                .status,
            400
        );
        assert_eq!(
            o.handle(&req(Method::GET, &format!("{ORDERS}?limit=0"), Value::Null))
                .status,
            400
        );
        assert_eq!(
            o.handle(&req(
                Method::GET,
                &format!("{ORDERS}?status=x"),
                Value::Null
            ))
            .status,
            400
        );
        assert_eq!(
            o.handle(&req(
                Method::GET,
                "/api/content/orders-storage/marker/other/orders",
                Value::Null
            ))
            .status,
            404
        );
        assert_eq!(
            o.handle(&req(Method::DELETE, &format!("{ORDERS}/1"), Value::Null))
                .status,
            404
        );
    }
}
