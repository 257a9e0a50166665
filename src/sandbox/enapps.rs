//! A simulated Enapps ERP (OpenERP-based, single tenant): the token login `POST /api/v1/auth`
//! (`Authorization: Bearer <secret key>` and a JSON `login`/`password`, answering an access token
//! valid 24 h), then, with `Authorization: Bearer <access token>` only, sale orders through
//! `GET|POST /api/v1/orders` (the list takes `_id`, `partner_id`, `create_date`, `page`,
//! `additional_fields` and the mapping's guessed `client_order_ref`; 100 orders a page) and the
//! confirm / cancel actions the mapping guesses (`POST /api/v1/orders/{id}/confirm`,
//! `/action_button_confirm`, `/cancel`).
//!
//! Answers are Odoo-shaped: many2one fields as `[id, "display name"]` or `false`, floats with a
//! decimal point. Enapps documents no error body; this one answers request-shape errors as its
//! FastAPI-style front does (422 `{"detail": [{"loc", "msg", "type"}]}`, `{"detail": "Not
//! Found"}`) and ERP refusals as `{"message", "code", "field"}` with Odoo's exception names
//! (`MissingError` 404, `ValidationError` 400, `UserError` 400, `AccessDenied` 401).
//!
//! Seeded master data: ordering contacts 1 (company 1, EUR price list) and 214005 (the
//! document's "Company #1", GBP price list); products 1, 19560 (the document's, with its
//! case-sensitive `FINISHING` parameter) and 19561; shops 1, 2 and 3.

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::{Duration, Instant};

use http::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use super::{SANDBOX_KEY, SANDBOX_SECRET, SandboxReply, SandboxRequest, Vendor};
use super::{dec, float};

/// The API user's login; the password is [`SANDBOX_SECRET`] and the "Bearer Secret Key" of the
/// auth call is [`SANDBOX_KEY`].
pub const SANDBOX_LOGIN: &str = "sandbox";

/// "Tokens as standard have a 24h validity".
const TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);
/// Tokens kept at most (the oldest are forgotten first).
const MAX_TOKENS: usize = 256;
const PAGE_SIZE: usize = 100;
const ORDERS: &str = "/api/v1/orders";

struct Pricelist {
    id: i64,
    name: &'static str,
    currency: &'static str,
}

const PRICELISTS: &[Pricelist] = &[
    Pricelist {
        id: 1,
        name: "UK Trade Pricelist (GBP)",
        currency: "GBP",
    },
    Pricelist {
        id: 2,
        name: "Sandbox Pricelist (EUR)",
        currency: "EUR",
    },
];

struct Contact {
    id: i64,
    name: &'static str,
    partner: i64,
    partner_name: &'static str,
    pricelist: i64,
}

const CONTACTS: &[Contact] = &[
    Contact {
        id: 1,
        name: "Sandbox Contact, 1 Sandbox Street, Paris, 75001 | Sandbox Customer (SANDBOX)",
        partner: 1,
        partner_name: "Sandbox Customer (SANDBOX)",
        pricelist: 2,
    },
    Contact {
        id: 214005,
        name: "John Smith, Studio 3, The Street, London, CE2 1HH | Company #1 (COMP_1)",
        partner: 61239,
        partner_name: "Company #1 (COMP_1)",
        pricelist: 1,
    },
];

struct Product {
    id: i64,
    name: &'static str,
    /// Unit price by price list id.
    prices: &'static [(i64, &'static str)],
    /// Parameter names (case-sensitive) and their options.
    parameters: &'static [(&'static str, &'static [&'static str])],
}

const PRODUCTS: &[Product] = &[
    Product {
        id: 1,
        name: "Sandbox Widget",
        prices: &[(1, "10.75"), (2, "12.5")],
        parameters: &[("COLOUR", &["RED", "BLUE", "GREEN"])],
    },
    Product {
        id: 19560,
        name: "Door Panel",
        prices: &[(1, "27.1005"), (2, "31.5")],
        parameters: &[
            ("FINISHING", &["DBZW", "GLOSS", "MATT"]),
            ("Size", &["1200x600", "600x600"]),
        ],
    },
    Product {
        id: 19561,
        name: "Door Handle",
        prices: &[(1, "3.5"), (2, "4.1")],
        parameters: &[],
    },
];

const SHOPS: &[(i64, &str)] = &[(1, "MainShop"), (2, "Trade Counter"), (3, "Web Shop")];

const SHIPPING_TEXT_FIELDS: &[&str] = &[
    "dropship_company",
    "dropship_name",
    "delivery_contact_phone",
    "delivery_contact_email",
    "state",
    "first_name",
    "last_name",
    "company_name",
    "country",
    "street_address_1",
    "street_address_2",
    "town_city",
    "postcode",
];

/// Fields `additional_fields` may ask for, beyond the standard answer.
const ADDITIONAL_FIELDS: &[&str] = &[
    "company_id",
    "date_confirm",
    "invoiced",
    "note",
    "order_policy",
    "origin",
    "partner_invoice_id",
    "shipped",
    "user_id",
];

struct Order {
    /// The order as the API answers it (without the list's `currency`).
    doc: Map<String, Value>,
    /// Fields shown only when `additional_fields` names them.
    extra: Map<String, Value>,
    currency: &'static str,
    partner: i64,
}

struct Address {
    id: i64,
    partner: i64,
    key: String,
    display: String,
}

pub struct Enapps {
    /// Access tokens and when they expire.
    tokens: VecDeque<(String, Instant)>,
    lifetime: Duration,
    orders: Vec<Order>,
    addresses: Vec<Address>,
    next_order: i64,
    next_line: i64,
    next_address: i64,
}

impl Default for Enapps {
    fn default() -> Self {
        Enapps {
            tokens: VecDeque::new(),
            lifetime: TOKEN_LIFETIME,
            orders: Vec::new(),
            addresses: Vec::new(),
            next_order: 644_053,
            next_line: 1_197_190,
            next_address: 55_664,
        }
    }
}

/// An ERP refusal: `{"message", "code", "field"}`.
fn refusal(status: u16, code: &str, message: &str, field: Option<&str>) -> SandboxReply {
    let mut body = json!({ "message": message, "code": code });
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    SandboxReply::json(status, &body)
}

fn unauthorized(code: &str, message: &str) -> SandboxReply {
    let mut r = refusal(401, code, message, None);
    r.headers.push(("www-authenticate", "Bearer".to_string()));
    r
}

/// One request-validation error, pydantic style.
fn issue(loc: Vec<Value>, msg: &str, kind: &str) -> Value {
    json!({ "loc": loc, "msg": msg, "type": kind })
}

fn invalid(detail: Vec<Value>) -> SandboxReply {
    SandboxReply::json(422, &json!({ "detail": detail }))
}

fn route_not_found() -> SandboxReply {
    SandboxReply::json(404, &json!({ "detail": "Not Found" }))
}

fn method_not_allowed() -> SandboxReply {
    SandboxReply::json(405, &json!({ "detail": "Method Not Allowed" }))
}

fn at(base: &[Value], key: impl Into<Value>) -> Vec<Value> {
    let mut loc = base.to_vec();
    loc.push(key.into());
    loc
}

fn money(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A required or optional integer field of a JSON object.
fn int_field(
    obj: &Map<String, Value>,
    key: &str,
    base: &[Value],
    required: bool,
    errors: &mut Vec<Value>,
) -> Option<i64> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            if required {
                errors.push(issue(
                    at(base, key),
                    "field required",
                    "value_error.missing",
                ));
            }
            None
        }
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(_) => {
            errors.push(issue(
                at(base, key),
                "value is not a valid integer",
                "type_error.integer",
            ));
            None
        }
    }
}

/// A validated product line.
struct Line {
    product: i64,
    qty: i64,
    price_unit: Option<Decimal>,
    parameters: Vec<(String, String)>,
}

fn check_line(value: &Value, base: &[Value], errors: &mut Vec<Value>) -> Option<Line> {
    let Some(obj) = value.as_object() else {
        errors.push(issue(
            base.to_vec(),
            "value is not a valid dict",
            "type_error.dict",
        ));
        return None;
    };
    let before = errors.len();
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "product_id" | "qty" | "price_unit" | "parameters"
        ) {
            errors.push(issue(
                at(base, key.as_str()),
                "extra fields not permitted",
                "value_error.extra",
            ));
        }
    }
    let product = int_field(obj, "product_id", base, true, errors);
    let qty = int_field(obj, "qty", base, true, errors);
    if qty.is_some_and(|q| q < 1) {
        errors.push(issue(
            at(base, "qty"),
            "ensure this value is greater than or equal to 1",
            "value_error.number.not_ge",
        ));
    }
    let price_unit = match obj.get("price_unit") {
        None | Some(Value::Null) => None,
        Some(v) => match dec(v) {
            Some(d) if d >= Decimal::ZERO => Some(d),
            Some(_) => {
                errors.push(issue(
                    at(base, "price_unit"),
                    "ensure this value is greater than or equal to 0",
                    "value_error.number.not_ge",
                ));
                None
            }
            None => {
                errors.push(issue(
                    at(base, "price_unit"),
                    "value is not a valid float",
                    "type_error.float",
                ));
                None
            }
        },
    };
    let mut parameters = Vec::new();
    match obj.get("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let ploc = at(base, "parameters");
            for (i, item) in items.iter().enumerate() {
                let iloc = at(&ploc, i);
                match item.as_object() {
                    Some(p) if p.len() == 1 => {
                        for (name, option) in p {
                            match option.as_str() {
                                Some(o) => parameters.push((name.clone(), o.to_string())),
                                None => errors.push(issue(
                                    at(&iloc, name.as_str()),
                                    "str type expected",
                                    "type_error.str",
                                )),
                            }
                        }
                    }
                    Some(_) => errors.push(issue(
                        iloc,
                        "a parameter is one object holding one name and its option",
                        "value_error.dict.one_item",
                    )),
                    None => {
                        errors.push(issue(iloc, "value is not a valid dict", "type_error.dict"))
                    }
                }
            }
        }
        Some(_) => errors.push(issue(
            at(base, "parameters"),
            "value is not a valid list",
            "type_error.list",
        )),
    }
    if errors.len() > before {
        return None;
    }
    Some(Line {
        product: product?,
        qty: qty?,
        price_unit,
        parameters,
    })
}

/// A validated `shipping_details` object: its text fields (empty ones left out) and type.
struct Shipping {
    fields: Vec<(&'static str, String)>,
    dropship: bool,
}

fn check_shipping(value: &Value, base: &[Value], errors: &mut Vec<Value>) -> Option<Shipping> {
    let Some(obj) = value.as_object() else {
        errors.push(issue(
            base.to_vec(),
            "value is not a valid dict",
            "type_error.dict",
        ));
        return None;
    };
    let before = errors.len();
    for key in obj.keys() {
        if key != "is_dropship" && !SHIPPING_TEXT_FIELDS.contains(&key.as_str()) {
            errors.push(issue(
                at(base, key.as_str()),
                "extra fields not permitted",
                "value_error.extra",
            ));
        }
    }
    let dropship = match obj.get("is_dropship") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) if n.as_i64() == Some(0) => false,
        Some(Value::Number(n)) if n.as_i64() == Some(1) => true,
        Some(_) => {
            errors.push(issue(
                at(base, "is_dropship"),
                "value could not be parsed to a boolean",
                "type_error.bool",
            ));
            false
        }
    };
    let mut fields = Vec::new();
    for &key in SHIPPING_TEXT_FIELDS {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                if key == "country" && !(s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()))
                {
                    errors.push(issue(
                        at(base, key),
                        "string does not match regex \"^[A-Z]{2}$\"",
                        "value_error.str.regex",
                    ));
                } else if !s.trim().is_empty() {
                    fields.push((key, s.trim().to_string()));
                }
            }
            Some(_) => errors.push(issue(at(base, key), "str type expected", "type_error.str")),
        }
    }
    (errors.len() == before).then_some(Shipping { fields, dropship })
}

impl Shipping {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// "1 Grove Road, London, 12A BZ, GB, (Delivery)".
    fn display(&self) -> String {
        let mut parts: Vec<&str> = [
            "street_address_1",
            "street_address_2",
            "town_city",
            "postcode",
            "country",
        ]
        .iter()
        .filter_map(|k| self.get(k))
        .collect();
        let name = [self.get("first_name"), self.get("last_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if parts.is_empty() {
            parts.extend(
                [self.get("company_name"), self.get("dropship_company")]
                    .into_iter()
                    .flatten(),
            );
            if !name.is_empty() {
                parts.push(&name);
            }
        }
        let kind = if self.dropship {
            "(Dropship)"
        } else {
            "(Delivery)"
        };
        format!("{}, {kind}", parts.join(", "))
    }

    fn key(&self) -> String {
        let mut key: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        key.push(format!("dropship={}", self.dropship));
        key.join("\n")
    }
}

/// The query parameter `key` as an optional integer.
fn query_int(req: &SandboxRequest, key: &str, errors: &mut Vec<Value>) -> Option<i64> {
    let v = req.query.get(key)?;
    match v.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(issue(
                vec![json!("query"), json!(key)],
                "value is not a valid integer",
                "type_error.integer",
            ));
            None
        }
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

impl Enapps {
    #[cfg(test)]
    fn with_lifetime(lifetime: Duration) -> Self {
        Enapps {
            lifetime,
            ..Enapps::default()
        }
    }

    fn find(&self, id: i64) -> Option<usize> {
        self.orders.iter().position(|o| o.doc["id"] == json!(id))
    }

    /// `POST /api/v1/auth`.
    fn auth(&mut self, req: &SandboxRequest) -> SandboxReply {
        if req.method != Method::POST {
            return method_not_allowed();
        }
        if req.header("authorization") != Some(format!("Bearer {SANDBOX_KEY}").as_str()) {
            return unauthorized("invalid_token", "Invalid secret key");
        }
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Some(obj) = body.as_object() else {
            return invalid(vec![issue(
                vec![json!("body")],
                "value is not a valid dict",
                "type_error.dict",
            )]);
        };
        let mut errors = Vec::new();
        let mut text = |key: &str| match obj.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => {
                errors.push(issue(
                    vec![json!("body"), json!(key)],
                    "field required",
                    "value_error.missing",
                ));
                None
            }
            Some(_) => {
                errors.push(issue(
                    vec![json!("body"), json!(key)],
                    "str type expected",
                    "type_error.str",
                ));
                None
            }
        };
        let login = text("login");
        let password = text("password");
        if !errors.is_empty() {
            return invalid(errors);
        }
        if login.as_deref() != Some(SANDBOX_LOGIN) || password.as_deref() != Some(SANDBOX_SECRET) {
            return unauthorized("AccessDenied", "Invalid login or password");
        }
        let token = format!("enapps-sandbox.{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        self.tokens.retain(|(_, until)| *until > now);
        while self.tokens.len() >= MAX_TOKENS {
            self.tokens.pop_front();
        }
        self.tokens.push_back((token.clone(), now + self.lifetime));
        SandboxReply::json(
            200,
            &json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.lifetime.as_secs(),
            }),
        )
    }

    /// `Authorization: Bearer <access token>` of a token issued and not expired.
    fn authorized(&self, req: &SandboxRequest) -> Result<(), SandboxReply> {
        let Some(token) = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Err(unauthorized("invalid_token", "Not authenticated"));
        };
        match self.tokens.iter().find(|(t, _)| t == token) {
            Some((_, until)) if Instant::now() < *until => Ok(()),
            Some(_) => Err(unauthorized("token_expired", "Token has expired")),
            None => Err(unauthorized("invalid_token", "Invalid token")),
        }
    }

    fn create(&mut self, req: &SandboxRequest) -> SandboxReply {
        let body = match json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let base = [json!("body")];
        let Some(obj) = body.as_object() else {
            return invalid(vec![issue(
                base.to_vec(),
                "value is not a valid dict",
                "type_error.dict",
            )]);
        };
        let mut errors = Vec::new();
        let contact_id = int_field(obj, "partner_order_id", &base, true, &mut errors);
        let shop_id = int_field(obj, "shop_id", &base, true, &mut errors);
        let mut lines = Vec::new();
        match obj.get("products") {
            None | Some(Value::Null) => errors.push(issue(
                at(&base, "products"),
                "field required",
                "value_error.missing",
            )),
            Some(Value::Array(items)) if items.is_empty() => errors.push(issue(
                at(&base, "products"),
                "ensure this value has at least 1 items",
                "value_error.list.min_items",
            )),
            Some(Value::Array(items)) => {
                let ploc = at(&base, "products");
                for (i, item) in items.iter().enumerate() {
                    if let Some(l) = check_line(item, &at(&ploc, i), &mut errors) {
                        lines.push(l);
                    }
                }
            }
            Some(_) => errors.push(issue(
                at(&base, "products"),
                "value is not a valid list",
                "type_error.list",
            )),
        }
        let reference = match obj.get("client_order_ref") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
            Some(_) => {
                errors.push(issue(
                    at(&base, "client_order_ref"),
                    "str type expected",
                    "type_error.str",
                ));
                None
            }
        };
        let sloc = at(&base, "shipping_details");
        let shipping = match obj.get("shipping_details") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => match items.as_slice() {
                [] => None,
                [one] => check_shipping(one, &at(&sloc, 0), &mut errors),
                _ => {
                    errors.push(issue(
                        sloc.clone(),
                        "ensure this value has at most 1 items",
                        "value_error.list.max_items",
                    ));
                    None
                }
            },
            Some(one) => check_shipping(one, &sloc, &mut errors),
        };
        if !errors.is_empty() {
            return invalid(errors);
        }
        let (Some(contact_id), Some(shop_id)) = (contact_id, shop_id) else {
            return invalid(errors);
        };

        // What the ERP checks against its records.
        let Some(contact) = CONTACTS.iter().find(|c| c.id == contact_id) else {
            return refusal(
                404,
                "MissingError",
                &format!("Contact {contact_id} not found"),
                Some("partner_order_id"),
            );
        };
        let Some(shop) = SHOPS.iter().find(|(id, _)| *id == shop_id) else {
            return refusal(
                404,
                "MissingError",
                &format!("Shop {shop_id} not found"),
                Some("shop_id"),
            );
        };
        let Some(pricelist) = PRICELISTS.iter().find(|p| p.id == contact.pricelist) else {
            return refusal(500, "ValueError", "the contact has no price list", None);
        };
        let mut untaxed = Decimal::ZERO;
        for line in &lines {
            let Some(product) = PRODUCTS.iter().find(|p| p.id == line.product) else {
                return refusal(
                    404,
                    "MissingError",
                    &format!("Product {} not found", line.product),
                    Some("product_id"),
                );
            };
            let mut seen: Vec<&str> = Vec::new();
            for (name, option) in &line.parameters {
                let Some((_, options)) = product.parameters.iter().find(|(n, _)| n == name) else {
                    return refusal(
                        400,
                        "ValidationError",
                        &format!(
                            "Product {} ({}) has no parameter '{name}' (parameter names are case-sensitive)",
                            product.id, product.name
                        ),
                        Some("parameters"),
                    );
                };
                if !options.contains(&option.as_str()) {
                    return refusal(
                        400,
                        "ValidationError",
                        &format!(
                            "'{option}' is not an option of the parameter '{name}' of product {} ({})",
                            product.id, product.name
                        ),
                        Some("parameters"),
                    );
                }
                if seen.contains(&name.as_str()) {
                    return refusal(
                        400,
                        "ValidationError",
                        &format!("The parameter '{name}' is given twice"),
                        Some("parameters"),
                    );
                }
                seen.push(name);
            }
            let Some(price) = product
                .prices
                .iter()
                .find(|(p, _)| *p == pricelist.id)
                .and_then(|(_, text)| Decimal::from_str(text).ok())
            else {
                return refusal(
                    400,
                    "UserError",
                    &format!(
                        "Product {} has no price in the price list {}",
                        product.id, pricelist.name
                    ),
                    Some("product_id"),
                );
            };
            if let Some(sent) = line.price_unit
                && sent != price
            {
                return refusal(
                    400,
                    "ValidationError",
                    &format!(
                        "price_unit {sent} of product {} does not match the partner's price {price} ({})",
                        product.id, pricelist.name
                    ),
                    Some("price_unit"),
                );
            }
            untaxed += money(Decimal::from(line.qty) * price);
        }
        if let Some(r) = &reference
            && let Some(other) = self.orders.iter().find(|o| {
                o.partner == contact.partner
                    && o.doc["client_order_ref"] == json!(r)
                    && o.doc["state"] != "cancel"
            })
        {
            return refusal(
                409,
                "duplicate_client_order_ref",
                &format!(
                    "The reference {r} is already used by the sale order {} of this customer",
                    other.doc["name"].as_str().unwrap_or_default()
                ),
                Some("client_order_ref"),
            );
        }

        let delivery = match shipping.filter(|s| !s.fields.is_empty() || s.dropship) {
            None => Value::Bool(false),
            Some(s) => {
                let key = s.key();
                let existing = self
                    .addresses
                    .iter()
                    .find(|a| a.partner == contact.partner && a.key == key);
                let (id, display) = match existing {
                    Some(a) => (a.id, a.display.clone()),
                    None => {
                        let a = Address {
                            id: self.next_address,
                            partner: contact.partner,
                            key,
                            display: s.display(),
                        };
                        self.next_address += 1;
                        let out = (a.id, a.display.clone());
                        self.addresses.push(a);
                        out
                    }
                };
                json!([id, display])
            }
        };
        let tax = money(untaxed * Decimal::new(20, 2));
        let id = self.next_order;
        self.next_order += 1;
        let line_ids: Vec<i64> = lines
            .iter()
            .map(|_| {
                let l = self.next_line;
                self.next_line += 1;
                l
            })
            .collect();
        let stamp = now();
        let doc = json!({
            "id": id,
            "name": format!("SO{:06}", id - 644_053 + 94_322),
            "client_order_ref": reference.map_or(Value::Bool(false), Value::String),
            "delivery_address_id": delivery,
            "state": "draft",
            "amount_total": float(untaxed + tax),
            "amount_tax": float(tax),
            "amount_untaxed": float(untaxed),
            "date_order": stamp.format("%Y-%m-%d").to_string(),
            "pricelist_id": [pricelist.id, pricelist.name],
            "partner_id": [contact.partner, contact.partner_name],
            "shop_id": [shop.0, shop.1],
            "partner_shipping_id": false,
            "partner_order_id": [contact.id, contact.name],
            "create_date": stamp.format("%Y-%m-%d %H:%M:%S").to_string(),
            "order_line": line_ids,
        });
        let extra = json!({
            "company_id": [1, "Sandbox Company"],
            "date_confirm": false,
            "invoiced": false,
            "note": false,
            "order_policy": "manual",
            "origin": false,
            "partner_invoice_id": [contact.id, contact.name],
            "shipped": false,
            "user_id": [1, "API User"],
        });
        let (Value::Object(doc), Value::Object(extra)) = (doc, extra) else {
            return refusal(500, "ValueError", "internal error", None);
        };
        self.orders.push(Order {
            doc: doc.clone(),
            extra,
            currency: pricelist.currency,
            partner: contact.partner,
        });
        SandboxReply::json(200, &Value::Object(doc))
    }

    /// `GET /api/v1/orders`: 100 orders a page, newest first.
    fn list(&self, req: &SandboxRequest) -> SandboxReply {
        let mut errors = Vec::new();
        let id = query_int(req, "_id", &mut errors);
        let partner = query_int(req, "partner_id", &mut errors);
        let page = query_int(req, "page", &mut errors).unwrap_or(1);
        if page < 1 {
            errors.push(issue(
                vec![json!("query"), json!("page")],
                "ensure this value is greater than or equal to 1",
                "value_error.number.not_ge",
            ));
        }
        let created_from = req.query.get("create_date");
        if let Some(c) = created_from
            && chrono::NaiveDateTime::parse_from_str(c, "%Y-%m-%d %H:%M:%S").is_err()
        {
            errors.push(issue(
                vec![json!("query"), json!("create_date")],
                "invalid datetime format: %Y-%m-%d %H:%M:%S expected",
                "value_error.datetime",
            ));
        }
        if !errors.is_empty() {
            return invalid(errors);
        }
        let mut additional = Vec::new();
        if let Some(text) = req.query.get("additional_fields") {
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !ADDITIONAL_FIELDS.contains(&name) {
                    return refusal(
                        400,
                        "ValueError",
                        &format!("Invalid field '{name}' on model 'sale.order'"),
                        Some("additional_fields"),
                    );
                }
                additional.push(name);
            }
        }
        let reference = req.query.get("client_order_ref");
        let skip = usize::try_from(page - 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(PAGE_SIZE);
        let rows: Vec<Value> = self
            .orders
            .iter()
            .rev()
            .filter(|o| id.is_none_or(|i| o.doc["id"] == json!(i)))
            .filter(|o| partner.is_none_or(|p| o.partner == p))
            .filter(|o| {
                created_from.is_none_or(|c| o.doc["create_date"].as_str() >= Some(c.as_str()))
            })
            .filter(|o| reference.is_none_or(|r| o.doc["client_order_ref"] == json!(r)))
            .skip(skip)
            .take(PAGE_SIZE)
            .map(|o| {
                let mut row = o.doc.clone();
                row.insert("currency".into(), json!(o.currency));
                for name in &additional {
                    row.insert(
                        (*name).to_string(),
                        o.extra.get(*name).cloned().unwrap_or(Value::Bool(false)),
                    );
                }
                Value::Object(row)
            })
            .collect();
        SandboxReply::json(200, &Value::Array(rows))
    }

    /// `POST /api/v1/orders/{id}/{action}`.
    fn action(&mut self, raw_id: &str, action: &str) -> SandboxReply {
        let Ok(id) = raw_id.parse::<i64>() else {
            return invalid(vec![issue(
                vec![json!("path"), json!("id")],
                "value is not a valid integer",
                "type_error.integer",
            )]);
        };
        let Some(i) = self.find(id) else {
            return refusal(
                404,
                "MissingError",
                &format!("Sale Order {id} not found"),
                None,
            );
        };
        let order = &mut self.orders[i];
        let state = order.doc["state"].as_str().unwrap_or_default().to_string();
        let name = order.doc["name"].as_str().unwrap_or_default().to_string();
        match action {
            "confirm" | "action_button_confirm" => {
                if !matches!(state.as_str(), "draft" | "sent") {
                    return refusal(
                        400,
                        "UserError",
                        &format!(
                            "Only a draft or sent sale order can be confirmed: {name} is in state '{state}'"
                        ),
                        None,
                    );
                }
                // OpenERP 7, invoicing "on demand": a confirmed order waits in "manual".
                order.doc.insert("state".into(), json!("manual"));
                order.extra.insert(
                    "date_confirm".into(),
                    json!(now().format("%Y-%m-%d").to_string()),
                );
            }
            _ => {
                if state == "cancel" {
                    return refusal(
                        400,
                        "UserError",
                        &format!("The sale order {name} is already cancelled"),
                        None,
                    );
                }
                if state == "done" {
                    return refusal(
                        400,
                        "UserError",
                        &format!("You cannot cancel the sale order {name}: it is done"),
                        None,
                    );
                }
                order.doc.insert("state".into(), json!("cancel"));
            }
        }
        if action == "action_button_confirm" {
            // OpenERP's button method answers True.
            return SandboxReply::json(200, &Value::Bool(true));
        }
        SandboxReply::json(200, &Value::Object(order.doc.clone()))
    }
}

/// The body as JSON, or the framework's 422.
fn json_body(req: &SandboxRequest) -> Result<Value, SandboxReply> {
    if req.content_type() != "application/json" {
        return Err(invalid(vec![issue(
            vec![json!("body")],
            "value is not a valid dict",
            "type_error.dict",
        )]));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        invalid(vec![issue(
            vec![json!("body"), json!(e.column())],
            &e.to_string(),
            "value_error.jsondecode",
        )])
    })
}

impl Vendor for Enapps {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply {
        if let Some(accept) = req.header("accept")
            && !["application/json", "application/*", "*/*"]
                .iter()
                .any(|a| accept.contains(a))
        {
            return refusal(
                406,
                "not_acceptable",
                "This API answers application/json only",
                None,
            );
        }
        let path = req.path.as_str();
        if path == "/api/v1/auth" || path == "/api/v1/auth/" {
            return self.auth(req);
        }
        if let Err(r) = self.authorized(req) {
            return r;
        }
        if path == ORDERS || path == "/api/v1/orders/" {
            return match req.method {
                Method::GET => self.list(req),
                Method::POST => self.create(req),
                _ => method_not_allowed(),
            };
        }
        let Some(rest) = path.strip_prefix("/api/v1/orders/") else {
            return route_not_found();
        };
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [id, action] if matches!(*action, "confirm" | "action_button_confirm" | "cancel") => {
                if req.method == Method::POST {
                    self.action(id, action)
                } else {
                    method_not_allowed()
                }
            }
            _ => route_not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn request(
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> SandboxRequest {
        let mut headers = http::HeaderMap::new();
        if let Some(a) = auth {
            headers.insert("authorization", a.parse().expect("header"));
        }
        headers.insert("accept", "application/json".parse().expect("header"));
        if body.is_some() {
            headers.insert("content-type", "application/json".parse().expect("header"));
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        SandboxRequest {
            method,
            path: path.into(),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
            body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
        }
    }

    fn json_of(r: &SandboxReply) -> Value {
        serde_json::from_slice(&r.body).expect("json answer")
    }

    fn login(e: &mut Enapps) -> String {
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/auth",
            Some(&format!("Bearer {SANDBOX_KEY}")),
            Some(json!({"login": SANDBOX_LOGIN, "password": SANDBOX_SECRET})),
        ));
        assert_eq!(r.status, 200);
        let body = json_of(&r);
        assert_eq!(body["expires_in"], json!(e.lifetime.as_secs()));
        format!("Bearer {}", body["access_token"].as_str().expect("token"))
    }

    fn order_body() -> Value {
        json!({
            "partner_order_id": 1,
            "products": [{"product_id": 1, "qty": 2, "price_unit": 12.5, "parameters": []}],
            "shop_id": 1,
            "client_order_ref": "WEB-1",
        })
    }

    #[test]
    fn login_is_required_and_checked() {
        let mut e = Enapps::default();
        assert_eq!(e.lifetime.as_secs(), 86_400);
        let r = e.handle(&request(Method::GET, ORDERS, None, None));
        assert_eq!(r.status, 401);
        let r = e.handle(&request(Method::GET, ORDERS, Some("Bearer nope"), None));
        assert_eq!(r.status, 401);
        assert_eq!(json_of(&r)["code"], "invalid_token");
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/auth",
            Some("Bearer wrong-key"),
            Some(json!({"login": SANDBOX_LOGIN, "password": SANDBOX_SECRET})),
        ));
        assert_eq!(r.status, 401);
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/auth",
            Some(&format!("Bearer {SANDBOX_KEY}")),
            Some(json!({"login": SANDBOX_LOGIN, "password": "wrong"})),
        ));
        assert_eq!(r.status, 401);
        assert_eq!(json_of(&r)["message"], "Invalid login or password");
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/auth",
            Some(&format!("Bearer {SANDBOX_KEY}")),
            Some(json!({"login": SANDBOX_LOGIN})),
        ));
        assert_eq!(r.status, 422);
        assert_eq!(json_of(&r)["detail"][0]["loc"], json!(["body", "password"]));
        let token = login(&mut e);
        let r = e.handle(&request(Method::GET, ORDERS, Some(&token), None));
        assert_eq!(r.status, 200);
        assert_eq!(json_of(&r), json!([]));
        let secret = format!("Bearer {SANDBOX_KEY}");
        let r = e.handle(&request(Method::GET, ORDERS, Some(&secret), None));
        assert_eq!(r.status, 401, "the secret key is no access token");
    }

    #[test]
    fn an_expired_token_is_refused() {
        let mut e = Enapps::with_lifetime(Duration::ZERO);
        let token = login(&mut e);
        let r = e.handle(&request(Method::GET, ORDERS, Some(&token), None));
        assert_eq!(r.status, 401);
        assert_eq!(json_of(&r)["code"], "token_expired");
    }

    #[test]
    fn create_read_list_confirm_cancel() {
        let mut e = Enapps::default();
        let token = login(&mut e);
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/",
            Some(&token),
            Some(order_body()),
        ));
        assert_eq!(r.status, 200, "{}", json_of(&r));
        let order = json_of(&r);
        assert_eq!(order["id"], json!(644_053));
        assert_eq!(order["name"], "SO094322");
        assert_eq!(order["state"], "draft");
        assert_eq!(order["amount_untaxed"].to_string(), "25.0");
        assert_eq!(order["amount_tax"].to_string(), "5.0");
        assert_eq!(order["amount_total"].to_string(), "30.0");
        assert_eq!(order["partner_order_id"][0], json!(1));
        assert_eq!(order["delivery_address_id"], json!(false));
        assert!(order.get("currency").is_none());

        let r = e.handle(&request(
            Method::POST,
            ORDERS,
            Some(&token),
            Some(order_body()),
        ));
        assert_eq!(r.status, 409, "the reference is unique per customer");

        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?_id=644053",
            Some(&token),
            None,
        ));
        let rows = json_of(&r);
        assert_eq!(rows[0]["id"], json!(644_053));
        assert_eq!(rows[0]["currency"], "EUR");
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?_id=1",
            Some(&token),
            None,
        ));
        assert_eq!(json_of(&r), json!([]));
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?client_order_ref=WEB-1&additional_fields=note,user_id",
            Some(&token),
            None,
        ));
        let rows = json_of(&r);
        assert_eq!(rows.as_array().map(Vec::len), Some(1));
        assert_eq!(rows[0]["user_id"], json!([1, "API User"]));
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?additional_fields=nope",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 400);
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?create_date=2024-02-29",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 422);
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?create_date=2999-01-01%2000:00:00",
            Some(&token),
            None,
        ));
        assert_eq!(json_of(&r), json!([]));

        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/644053/confirm",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 200);
        assert_eq!(json_of(&r)["state"], "manual");
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/644053/confirm",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 400);
        assert_eq!(json_of(&r)["code"], "UserError");
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/644053/cancel",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 200);
        assert_eq!(json_of(&r)["state"], "cancel");
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/644053/cancel",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 400);
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/999/cancel",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 404);
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/abc/cancel",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 422);

        // Cancelled: the reference is free again; action_button_confirm answers true.
        let r = e.handle(&request(
            Method::POST,
            ORDERS,
            Some(&token),
            Some(order_body()),
        ));
        assert_eq!(r.status, 200);
        let r = e.handle(&request(
            Method::POST,
            "/api/v1/orders/644054/action_button_confirm",
            Some(&token),
            None,
        ));
        assert_eq!(json_of(&r), json!(true));
    }

    #[test]
    fn the_documents_order_and_its_delivery_address() {
        let mut e = Enapps::default();
        let token = login(&mut e);
        let body = json!({
            "partner_order_id": 214005,
            "products": [{"product_id": 19560, "qty": 40, "parameters": [{"FINISHING": "DBZW"}]}],
            "shop_id": 1,
            "client_order_ref": "TEST_REF",
            "shipping_details": {"first_name": "John", "last_name": "Smith", "street_address_1": "1 Grove Road",
                "town_city": "London", "postcode": "12A BZ", "country": "GB"},
        });
        let r = e.handle(&request(
            Method::POST,
            ORDERS,
            Some(&token),
            Some(body.clone()),
        ));
        let order = json_of(&r);
        assert_eq!(r.status, 200, "{order}");
        assert_eq!(order["amount_untaxed"].to_string(), "1084.02");
        assert_eq!(order["amount_tax"].to_string(), "216.8");
        assert_eq!(
            order["delivery_address_id"],
            json!([55664, "1 Grove Road, London, 12A BZ, GB, (Delivery)"])
        );
        assert_eq!(
            order["pricelist_id"],
            json!([1, "UK Trade Pricelist (GBP)"])
        );
        assert_eq!(order["partner_id"], json!([61239, "Company #1 (COMP_1)"]));
        let mut again = body;
        again["client_order_ref"] = json!("TEST_REF_2");
        again["shipping_details"] = json!([again["shipping_details"].clone()]);
        let r = e.handle(&request(Method::POST, ORDERS, Some(&token), Some(again)));
        assert_eq!(r.status, 200);
        assert_eq!(
            json_of(&r)["delivery_address_id"][0],
            json!(55664),
            "the address is reused"
        );
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?partner_id=61239",
            Some(&token),
            None,
        ));
        assert_eq!(json_of(&r).as_array().map(Vec::len), Some(2));
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?partner_id=1",
            Some(&token),
            None,
        ));
        assert_eq!(json_of(&r), json!([]));
    }

    #[test]
    fn refusals() {
        let mut e = Enapps::default();
        let token = login(&mut e);
        let mut send = |body: Value| {
            let r = e.handle(&request(Method::POST, ORDERS, Some(&token), Some(body)));
            (r.status, json_of(&r))
        };
        let (s, b) =
            send(json!({"partner_order_id": 1, "products": [{"product_id": 1, "qty": 2.5}]}));
        assert_eq!(s, 422);
        assert_eq!(b["detail"][0]["loc"], json!(["body", "shop_id"]));
        assert_eq!(b["detail"][1]["loc"], json!(["body", "products", 0, "qty"]));
        let (s, b) = send(json!({"partner_order_id": "1", "products": [], "shop_id": 1}));
        assert_eq!(s, 422);
        assert_eq!(b["detail"][1]["type"], "value_error.list.min_items");
        let (s, b) = send(json!({"partner_order_id": 1, "shop_id": 1,
            "products": [{"product_id": 1, "qty": 0, "sku": "X"}]}));
        assert_eq!(s, 422);
        assert_eq!(b["detail"].as_array().map(Vec::len), Some(2));
        let (s, b) = send(
            json!({"partner_order_id": 1, "shop_id": 1, "products": [{"product_id": 1, "qty": 1}],
            "shipping_details": {"country": "gb"}}),
        );
        assert_eq!(s, 422);
        assert_eq!(
            b["detail"][0]["loc"],
            json!(["body", "shipping_details", "country"])
        );
        let (s, b) = send(
            json!({"partner_order_id": 999999, "shop_id": 1, "products": [{"product_id": 1, "qty": 1}]}),
        );
        assert_eq!((s, b["field"].as_str()), (404, Some("partner_order_id")));
        let (s, _) = send(
            json!({"partner_order_id": 1, "shop_id": 9, "products": [{"product_id": 1, "qty": 1}]}),
        );
        assert_eq!(s, 404);
        let (s, _) = send(
            json!({"partner_order_id": 1, "shop_id": 1, "products": [{"product_id": 5, "qty": 1}]}),
        );
        assert_eq!(s, 404);
        let (s, b) = send(json!({"partner_order_id": 1, "shop_id": 1,
            "products": [{"product_id": 1, "qty": 1, "price_unit": 12}]}));
        assert_eq!((s, b["field"].as_str()), (400, Some("price_unit")));
        let (s, b) = send(json!({"partner_order_id": 1, "shop_id": 1,
            "products": [{"product_id": 1, "qty": 1, "parameters": [{"colour": "RED"}]}]}));
        assert_eq!((s, b["code"].as_str()), (400, Some("ValidationError")));
        let (s, _) = send(json!({"partner_order_id": 1, "shop_id": 1,
            "products": [{"product_id": 1, "qty": 1, "parameters": [{"COLOUR": "RED"}]}]}));
        assert_eq!(s, 200);

        let mut form = request(Method::POST, ORDERS, Some(&token), Some(order_body()));
        form.headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().expect("header"),
        );
        assert_eq!(e.handle(&form).status, 422);
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?page=0",
            Some(&token),
            None,
        ));
        assert_eq!(r.status, 422);
        let r = e.handle(&request(Method::GET, "/api/v1/nothing", Some(&token), None));
        assert_eq!(r.status, 404);
        let r = e.handle(&request(Method::DELETE, ORDERS, Some(&token), None));
        assert_eq!(r.status, 405);
    }

    #[test]
    fn pages_of_one_hundred() {
        let mut e = Enapps::default();
        let token = login(&mut e);
        for i in 0..101 {
            let mut body = order_body();
            body["client_order_ref"] = json!(format!("REF-{i}"));
            let r = e.handle(&request(Method::POST, ORDERS, Some(&token), Some(body)));
            assert_eq!(r.status, 200);
        }
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?page=1",
            Some(&token),
            None,
        ));
        let first = json_of(&r);
        assert_eq!(first.as_array().map(Vec::len), Some(100));
        assert_eq!(first[0]["client_order_ref"], "REF-100", "newest first");
        let r = e.handle(&request(
            Method::GET,
            "/api/v1/orders?page=2",
            Some(&token),
            None,
        ));
        let second = json_of(&r);
        assert_eq!(second.as_array().map(Vec::len), Some(1));
        assert_eq!(second[0]["client_order_ref"], "REF-0");
    }
}
