//! A simulated Valomnia tenant (field sales): the operations resource `/api/v2.1/orders` (list,
//! show, create, update, delete, by id or by reference) behind a Spring Security form login.
//!
//! - `POST /j_spring_security_check` with the form fields `j_username`, `j_password` and
//!   `ajax=true` answers `{"success": true, "username": ...}` and sets the `JSESSIONID` cookie; a
//!   refused ajax login answers `{"error": ...}` (no session), a non-ajax one redirects (302) to
//!   the success page or to `/login/authfail?login_error=1`. `/j_spring_security_logout` ends the
//!   session. A session lasts 30 minutes without use.
//! - every `/api/...` call needs `Cookie: JSESSIONID=...` of a live session, else 401
//!   `{"error": "no_credentials", ...}`;
//! - create and update take `application/x-www-form-urlencoded` or `multipart/form-data`;
//!   `orderLines`, `orderPayments` and `orderPrepayments` are form fields holding JSON texts, a
//!   cheque image is a file part named by the payment's `chequeImage`;
//! - the documented required fields, enums, types, date formats, lookups (customer, user, delivery
//!   man, payment type, item unit, serial number, currency) and business rules (unique reference,
//!   credit limit, discount right, available quantity, payment amounts) are checked, and refused
//!   with Valomnia's `{"error": code, "error_description": text}` and its statuses (400, 404);
//! - lists answer `{"paging": {total, max, offset, previous, next}, "data": [...]}` with `max`
//!   (100 by default and at most), `offset`, `sort`, `order`, the `dateCreated_*` /
//!   `lastUpdated_*` filters and the wildcard reference searches; an unknown parameter is
//!   `invalid_param`.
//!
//! Master data: customers 1 (C0001), 3 (C0003, credit limit 100) and 5 (C0959); users 9
//! (emp-gateway, the connected user, may give discounts up to 50 %), 4 (emp-04), 5 (emp-06);
//! payment types 1 CASH, 3 TRANSFER, 8 CHEQUE; item units 1, 2, 101, 102, 103 (references
//! OIL-1L, OIL-1L-BOX6, OIL-5L, SOAP-100G, BAG-TOTE); serial numbers 700 to 799; currencies EUR
//! (the organization's), USD and TND configured, GBP, CHF, INR, MAD, JPY known but not configured.
//! The document's own example order (id 5, `marie_order_2014_12_20`) is there from the start.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use http::Method;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::{SANDBOX_KEY, SANDBOX_SECRET, SandboxReply, SandboxRequest, Vendor};

/// The login the sandbox accepts (the embedded default sends it).
pub const USERNAME: &str = SANDBOX_KEY;
pub const PASSWORD: &str = SANDBOX_SECRET;

const VERSION: &str = "v2.1";
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
const DEFAULT_MAX: usize = 100;
const ORGANIZATION: &str = "sandbox";

const OPERATION_TYPES: &[&str] = &["ORDER", "PREORDER", "INVOICE", "DELIVERYNOTE", "DELIVERY"];
const PAYMENT_STATUSES: &[&str] = &["NOT_PAID", "ADVANCE", "PAID", "IN_PROCESS"];
const DELIVERY_STATUSES: &[&str] = &["PENDING", "DELIVERED", "REJECTED"];
const LINE_TYPES: &[&str] = &["REGULAR", "GIFT", "ASSET"];

/// The create fields the document marks required.
const CREATE_REQUIRED: &[&str] = &[
    "reference",
    "operationType",
    "status",
    "customerId",
    "total",
    "totalExclTax",
    "totalDiscounted",
];

const LIST_PARAMS: &[&str] = &[
    "max",
    "offset",
    "order",
    "sort",
    "dateCreated_gt",
    "dateCreated_gte",
    "dateCreated_lt",
    "dateCreated_lte",
    "lastUpdated_gt",
    "lastUpdated_gte",
    "lastUpdated_lt",
    "lastUpdated_lte",
    "operationType",
    "reference",
    "employeeReference",
    "customerReference",
    "deliveredByReference",
];

const SORTABLE: &[&str] = &[
    "id",
    "reference",
    "operationType",
    "status",
    "total",
    "totalExclTax",
    "totalDiscounted",
    "taxAmount",
    "shippingFee",
    "currency",
    "customerReference",
    "employeeReference",
    "deliveryStatus",
    "deliveryDate",
    "dueDate",
    "paymentDate",
    "desiredDeliveryDate",
    "deliveredOn",
    "dateCreated",
    "lastUpdated",
];

struct Customer {
    id: u64,
    reference: &'static str,
    name: &'static str,
    country: &'static str,
    city: &'static str,
    postal_code: &'static str,
    address: &'static str,
    credit_limit: Option<u32>,
}

const CUSTOMERS: &[Customer] = &[
    Customer {
        id: 1,
        reference: "C0001",
        name: "Roslyn Lépicier",
        country: "TN",
        city: "Tunis",
        postal_code: "1002",
        address: "12 rue des Lilas",
        credit_limit: None,
    },
    Customer {
        id: 3,
        reference: "C0003",
        name: "Little Shop",
        country: "TN",
        city: "Sfax",
        postal_code: "3000",
        address: "4 avenue Habib Bourguiba",
        credit_limit: Some(100),
    },
    Customer {
        id: 5,
        reference: "C0959",
        name: "Marie's Jewelry",
        country: "FR",
        city: "Paris",
        postal_code: "75003",
        address: "8 rue de Turbigo",
        credit_limit: None,
    },
];

/// Users: id, reference. The first is the connected user.
const USERS: &[(u64, &str)] = &[(9, "emp-gateway"), (4, "emp-04"), (5, "emp-06")];
/// The largest discount percent the connected user may give.
const MAX_DISCOUNT: u32 = 50;

/// Payment types: id, reference, name.
const PAYMENT_TYPES: &[(u64, &str, &str)] = &[
    (1, "CASH", "Cash"),
    (3, "TRANSFER", "Bank transfer"),
    (8, "CHEQUE", "Cheque"),
];

/// Item units: id, reference, item, unit, available quantity.
const ITEM_UNITS: &[(u64, &str, u64, u64, i64)] = &[
    (1, "OIL-1L", 497, 1, 16944),
    (2, "OIL-1L-BOX6", 497, 2, 2000),
    (101, "OIL-5L", 498, 1, 500),
    (102, "SOAP-100G", 512, 1, 5000),
    (103, "BAG-TOTE", 530, 1, 300),
];

/// Configured currencies and their exchange rate to the organization's (EUR).
const CURRENCIES: &[(&str, &str)] = &[("EUR", "1"), ("USD", "1.08"), ("TND", "3.35")];
/// Currencies Valomnia knows but this tenant has not configured.
const UNCONFIGURED_CURRENCIES: &[&str] = &["GBP", "CHF", "INR", "MAD", "JPY"];

/// The document's example order (58.2), there from the start.
const EXAMPLE_ORDER: &str = r#"{
  "id": 5, "operationType": "ORDER", "reference": "marie_order_2014_12_20", "status": "PAID",
  "latitude": 29.932, "longitude": 12.101, "checkInDate": null,
  "total": 1572, "totalExclTax": 1572, "totalDiscounted": 1572, "discount": null,
  "taxAmount": null, "shippingFee": 7, "paymentDate": "2014-12-20T23:00:00Z", "paymentTypeId": 8,
  "paymentType": {"id": 8, "reference": "CHEQUE", "name": "Cheque", "href": "/api/v2.1/paymentTypes/8"},
  "advanceAmount": null,
  "orderPayments": [{"id": 5, "reference": "5_8_2014_12_20", "href": "/api/v2.1/orderPayments/5"}],
  "orderPrepayments": [],
  "dueDate": null, "customerReference": "C0959",
  "customer": {"id": 5, "reference": "C0959", "reference2": null, "name": "Marie's Jewelry", "href": "/api/v2.1/customers/5"},
  "currency": "EUR", "exchangeRate": 1, "employeeReference": "emp-04",
  "user": {"id": 4, "reference": "emp-04", "href": "/api/v2.1/users/4"},
  "billingCountry": null, "billingCity": null, "billingPostalCode": null, "billingAddress": null,
  "deliveryStatus": "DELIVERED", "deliveryDate": "2014-12-20T23:00:00Z", "deliveryComment": null,
  "deliveryCountry": "FR", "deliveryCity": "Paris", "deliveryPostalCode": null, "deliveryAddress": null,
  "orderLines": [{"id": 5, "href": "/api/v2.1/orderDetails/5"}],
  "pdfUrl": null, "organization": "sandbox",
  "dateCreated": "2014-12-20T23:00:00Z", "lastUpdated": "2015-08-16T23:00:00Z",
  "deliveredBy": {"id": 5, "reference": "emp-06", "href": "/api/v2.1/users/5"},
  "desiredDeliveryDate": "2015-08-16T23:00:00Z", "deliveredOn": "2015-05-18T21:00:00Z",
  "assignmentDate": "2015-03-21T23:00:00Z"
}"#;

type R<T> = Result<T, SandboxReply>;

fn error(status: u16, code: &str, description: impl Into<String>) -> SandboxReply {
    SandboxReply::json(
        status,
        &json!({"error": code, "error_description": description.into()}),
    )
}

fn missing(name: &str) -> SandboxReply {
    error(400, "missing_param", format!("{name} parameter is missing"))
}

fn invalid_value(name: &str, must: &str) -> SandboxReply {
    error(
        400,
        "invalid_param_type",
        format!("An invalid value was specified for parameter: {name} ({must})"),
    )
}

fn invalid_type(name: &str) -> SandboxReply {
    error(
        400,
        "invalid_param_type",
        format!("The type of parameter {name} you provided is not valid for this request."),
    )
}

fn not_in_list(ctx: &str, name: &str, allowed: &[&str]) -> SandboxReply {
    error(
        400,
        "not_in_list_error",
        format!(
            "{ctx}: {name} can have only these values [ {} ]",
            allowed.join(",")
        ),
    )
}

fn not_found(label: &str, key: &str, external: bool) -> SandboxReply {
    let by = if external { "reference" } else { "id" };
    error(
        404,
        "not_found",
        format!("The {label} with the {by} {key} doesn't exist."),
    )
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn is_datetime(s: &str) -> bool {
    s.len() == 20
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ").is_ok()
}

fn is_date(s: &str) -> bool {
    s.len() == 10
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// A Java `Double` from text, exactly.
fn double(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.is_empty() || t.contains('_') {
        return None;
    }
    Decimal::from_str(t)
        .ok()
        .or_else(|| Decimal::from_scientific(t).ok())
}

fn json_double(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => double(&n.to_string()),
        Value::String(s) => double(s),
        _ => None,
    }
}

fn json_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id or reference given as a JSON number or string.
fn json_key(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn opt_num(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, num)
}

fn dec_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => double(&n.to_string()),
        _ => None,
    }
}

/// Valomnia's wildcard search: `*` stands for any text; case-insensitive.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p = pattern.to_lowercase();
    let t = text.to_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Form bodies

struct FilePart {
    name: String,
    content_type: String,
    size: usize,
}

#[derive(Default)]
struct Form {
    fields: Vec<(String, String)>,
    files: Vec<FilePart>,
}

impl Form {
    /// A field's value; an empty value counts as absent (as for an HTML form).
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    fn file(&self, name: &str) -> Option<&FilePart> {
        self.files.iter().find(|f| f.name == name)
    }

    /// A field holding a JSON list of objects.
    fn json_list(&self, name: &str) -> R<Option<Vec<Map<String, Value>>>> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
            return Err(invalid_value(name, "must be a JSON list"));
        };
        items
            .into_iter()
            .map(|i| match i {
                Value::Object(o) => Ok(o),
                _ => Err(invalid_value(name, "must be a JSON list of objects")),
            })
            .collect::<R<Vec<_>>>()
            .map(Some)
    }

    fn external_ids(&self) -> R<bool> {
        match self.get("useExternalId").map(str::to_ascii_lowercase) {
            None => Ok(false),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(invalid_value("useExternalId", "must be a Boolean")),
        }
    }
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_multipart(body: &[u8], boundary: &str) -> Option<Form> {
    let delim = format!("--{boundary}");
    let mut rest = &body[find(body, delim.as_bytes())? + delim.len()..];
    let mut form = Form::default();
    loop {
        if rest.starts_with(b"--") {
            return Some(form);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delim}").as_bytes())?;
        let content = &rest[..end];
        rest = &rest[end + 2 + delim.len()..];
        let mut name = None;
        let mut filename = None;
        let mut ctype = String::from("text/plain");
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                for p in v.split(';').skip(1) {
                    if let Some((pk, pv)) = p.split_once('=') {
                        let pv = pv.trim().trim_matches('"').to_string();
                        match pk.trim() {
                            "name" => name = Some(pv),
                            "filename" => filename = Some(pv),
                            _ => {}
                        }
                    }
                }
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                ctype = v.trim().to_string();
            }
        }
        let name = name?;
        if filename.is_some() {
            form.files.push(FilePart {
                name,
                content_type: ctype,
                size: content.len(),
            });
        } else {
            form.fields
                .push((name, String::from_utf8_lossy(content).into_owned()));
        }
    }
}

fn form_body(req: &SandboxRequest) -> R<Form> {
    let ctype = req.content_type().to_ascii_lowercase();
    match ctype.as_str() {
        "application/x-www-form-urlencoded" => Ok(Form {
            fields: form_urlencoded::parse(&req.body).into_owned().collect(),
            files: Vec::new(),
        }),
        "multipart/form-data" => req
            .header("content-type")
            .and_then(boundary)
            .and_then(|b| parse_multipart(&req.body, &b))
            .ok_or_else(|| {
                error(
                    400,
                    "invalid_param",
                    "The multipart/form-data body could not be read.",
                )
            }),
        other => Err(error(
            400,
            "invalid_param",
            format!(
                "The content type [{other}] is not valid for this request: send application/x-www-form-urlencoded or multipart/form-data."
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Lookups

fn customer(key: &str, external: bool) -> R<&'static Customer> {
    let found = if external {
        CUSTOMERS.iter().find(|c| c.reference == key)
    } else {
        let id: u64 = key.parse().map_err(|_| invalid_type("customerId"))?;
        CUSTOMERS.iter().find(|c| c.id == id)
    };
    found.ok_or_else(|| not_found("Customer", key, external))
}

fn find_user(
    key: &str,
    external: bool,
    param: &str,
    label: &str,
) -> R<&'static (u64, &'static str)> {
    let found = if external {
        USERS.iter().find(|u| u.1 == key)
    } else {
        let id: u64 = key.parse().map_err(|_| invalid_type(param))?;
        USERS.iter().find(|u| u.0 == id)
    };
    found.ok_or_else(|| not_found(label, key, external))
}

fn payment_type(v: &Value, external: bool) -> R<&'static (u64, &'static str, &'static str)> {
    let key = json_key(v).ok_or_else(|| invalid_type("paymentTypeId"))?;
    let found = if external {
        PAYMENT_TYPES.iter().find(|p| p.1 == key)
    } else {
        let id: u64 = key.parse().map_err(|_| invalid_type("paymentTypeId"))?;
        PAYMENT_TYPES.iter().find(|p| p.0 == id)
    };
    found.ok_or_else(|| not_found("payment type", &key, external))
}

fn item_unit(v: &Value, external: bool) -> R<&'static (u64, &'static str, u64, u64, i64)> {
    if external {
        let key = json_key(v).ok_or_else(|| invalid_type("itemUnitId"))?;
        return ITEM_UNITS
            .iter()
            .find(|i| i.1 == key)
            .ok_or_else(|| not_found("item unit", &key, true));
    }
    let id = json_integer(v)
        .filter(|i| *i > 0)
        .ok_or_else(|| invalid_value("itemUnitId", "must be an Integer"))?;
    ITEM_UNITS
        .iter()
        .find(|i| i.0 == id as u64)
        .ok_or_else(|| not_found("item unit", &id.to_string(), false))
}

fn user_ref(id: u64, reference: &str) -> Value {
    json!({"id": id, "reference": reference, "href": format!("/api/{VERSION}/users/{id}")})
}

// ---------------------------------------------------------------------------------------------
// Payments

struct NewPayment {
    kind: Option<&'static (u64, &'static str, &'static str)>,
    date: Option<String>,
    amount: Option<Decimal>,
    reference: Option<String>,
}

/// `orderPayments` of a create or an update, checked.
fn read_payments(
    form: &Form,
    status: &str,
    external: bool,
    ctx: &str,
) -> R<Option<Vec<NewPayment>>> {
    let Some(items) = form.json_list("orderPayments")? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for p in &items {
        let date = match p.get("paymentDate") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if is_datetime(s) => Some(s.clone()),
            Some(_) => {
                return Err(error(
                    400,
                    "date_validation_error",
                    format!("{ctx}: paymentDate incorrect Date Format"),
                ));
            }
        };
        match p.get("desiredPaymentDate") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if is_date(s) => {}
            Some(_) => {
                return Err(error(
                    400,
                    "date_validation_error",
                    format!("{ctx}: desiredPaymentDate incorrect Date Format"),
                ));
            }
        }
        let kind = match p.get("paymentTypeId") {
            None | Some(Value::Null) => None,
            Some(v) => Some(payment_type(v, external)?),
        };
        let amount = match p.get("advanceAmount") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let a = json_double(v)
                    .ok_or_else(|| invalid_value("advanceAmount", "must be a Double"))?;
                if a < Decimal::ZERO {
                    return Err(invalid_value("advanceAmount", "must be positive"));
                }
                Some(a)
            }
        };
        if status == "ADVANCE" && amount.is_none() {
            return Err(missing("advanceAmount"));
        }
        if let Some(image) = p.get("chequeImage").and_then(Value::as_str) {
            let Some(file) = form.file(image) else {
                return Err(missing(image));
            };
            if !file.content_type.to_ascii_lowercase().starts_with("image/") {
                return Err(error(
                    400,
                    "unsupported_file_type",
                    "image format not supported.",
                ));
            }
        }
        let reference = p
            .get("paymentReference")
            .and_then(json_key)
            .filter(|r| !r.is_empty());
        out.push(NewPayment {
            kind,
            date,
            amount,
            reference,
        });
    }
    Ok(Some(out))
}

/// The sum of advance amounts may not exceed what is due; a paid order's amounts, when given,
/// must make it up exactly.
fn check_amounts(status: &str, due: Decimal, amounts: &[Decimal]) -> R<()> {
    let sum: Decimal = amounts.iter().sum();
    match status {
        "ADVANCE" if sum > due => Err(error(
            400,
            "invalid_advance_amount",
            "The sum of advance amounts can not exceed the total amount of the order.",
        )),
        "PAID" if !amounts.is_empty() && sum != due => Err(error(
            400,
            "invalid_paid_amount",
            "The sum of amounts should be equal to the total.",
        )),
        _ => Ok(()),
    }
}

/// `orderPrepayments` (or `prepaymentPayment` on update): the sandbox holds no prepayment.
fn check_prepayments(form: &Form, field: &str, operation_type: &str) -> R<()> {
    let Some(items) = form.json_list(field)? else {
        return Ok(());
    };
    if items.is_empty() {
        return Ok(());
    }
    if operation_type != "ORDER" {
        return Err(error(
            400,
            "invalid_param",
            "Prepayments are accepted only if operation type is equal to ORDER.",
        ));
    }
    let mut ids = Vec::new();
    for p in &items {
        let Some(id) = p.get("prepaymentId").and_then(json_key) else {
            return Err(missing("prepaymentId"));
        };
        match p.get("amountToCredit") {
            None | Some(Value::Null) => return Err(missing("amountToCredit")),
            Some(v) if json_double(v).is_none() => {
                return Err(invalid_value("amountToCredit", "must be a Double"));
            }
            Some(_) => {}
        }
        ids.push(id);
    }
    match ids.first() {
        Some(id) => Err(not_found("prepayment", id, false)),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The tenant

struct Order {
    doc: Map<String, Value>,
    /// The amounts of the order's payments (`advanceAmount`), when given.
    paid: Vec<Decimal>,
}

impl Order {
    fn id(&self) -> u64 {
        self.doc.get("id").and_then(Value::as_u64).unwrap_or(0)
    }

    fn text(&self, key: &str) -> &str {
        self.doc.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

pub struct Valomnia {
    sessions: HashMap<String, Instant>,
    orders: Vec<Order>,
    next_order: u64,
    next_line: u64,
    next_payment: u64,
}

impl Default for Valomnia {
    fn default() -> Self {
        let example = serde_json::from_str::<Value>(EXAMPLE_ORDER).unwrap_or(Value::Null);
        let doc = match example {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Valomnia {
            sessions: HashMap::new(),
            orders: vec![Order {
                doc,
                paid: vec![Decimal::from(1572)],
            }],
            next_order: 812,
            next_line: 2031,
            next_payment: 901,
        }
    }
}

impl Valomnia {
    // --- session -----------------------------------------------------------------------------

    fn login(&mut self, req: &SandboxRequest) -> SandboxReply {
        let mut params: HashMap<String, String> = req.query.clone();
        if req
            .content_type()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            params.extend(form_urlencoded::parse(&req.body).into_owned());
        }
        let ajax = params.get("ajax").is_some_and(|a| a == "true")
            || req
                .header("x-requested-with")
                .is_some_and(|h| h.eq_ignore_ascii_case("XMLHttpRequest"));
        let ok = req.method == Method::POST
            && params.get("j_username").map(String::as_str) == Some(USERNAME)
            && params.get("j_password").map(String::as_str) == Some(PASSWORD);
        if !ok {
            if ajax {
                return SandboxReply::json(
                    200,
                    &json!({"error": "Sorry, we were not able to find a user with that username and password."}),
                );
            }
            let mut r = SandboxReply::text(302, "text/html;charset=UTF-8", "");
            r.headers
                .push(("location", "/login/authfail?login_error=1".into()));
            return r;
        }
        self.sessions
            .retain(|_, last| last.elapsed() < SESSION_IDLE);
        let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        self.sessions.insert(id.clone(), Instant::now());
        let cookie = format!("JSESSIONID={id}; Path=/; HttpOnly");
        let mut r = if ajax {
            SandboxReply::json(200, &json!({"success": true, "username": USERNAME}))
        } else {
            let mut r = SandboxReply::text(302, "text/html;charset=UTF-8", "");
            r.headers.push(("location", "/".into()));
            r
        };
        r.headers.push(("set-cookie", cookie));
        r
    }

    fn session(req: &SandboxRequest) -> Option<String> {
        req.headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == "JSESSIONID").then(|| v.trim().to_string())
            })
    }

    fn logout(&mut self, req: &SandboxRequest) -> SandboxReply {
        if let Some(id) = Self::session(req) {
            self.sessions.remove(&id);
        }
        let mut r = SandboxReply::text(302, "text/html;charset=UTF-8", "");
        r.headers.push(("location", "/".into()));
        r.headers
            .push(("set-cookie", "JSESSIONID=; Path=/; Max-Age=0".into()));
        r
    }

    fn authenticated(&mut self, req: &SandboxRequest) -> bool {
        let Some(id) = Self::session(req) else {
            return false;
        };
        match self.sessions.get_mut(&id) {
            Some(last) if last.elapsed() < SESSION_IDLE => {
                *last = Instant::now();
                true
            }
            Some(_) => {
                self.sessions.remove(&id);
                false
            }
            None => false,
        }
    }

    // --- orders ------------------------------------------------------------------------------

    fn position(&self, by_reference: bool, key: &str) -> R<usize> {
        if by_reference {
            return self
                .orders
                .iter()
                .position(|o| o.text("reference") == key)
                .ok_or_else(|| not_found("order", key, true));
        }
        let id: u64 = key.parse().map_err(|_| invalid_type("id"))?;
        self.orders
            .iter()
            .position(|o| o.id() == id)
            .ok_or_else(|| not_found("order", key, false))
    }

    fn create(&mut self, req: &SandboxRequest) -> R<SandboxReply> {
        let form = form_body(req)?;
        for name in CREATE_REQUIRED {
            if form.get(name).is_none() {
                return Err(missing(name));
            }
        }
        let get = |k: &str| form.get(k).unwrap_or("").trim().to_string();
        let reference = get("reference");
        let ctx = format!("Failed to add the Order with the reference {reference}");
        let operation_type = get("operationType");
        if !OPERATION_TYPES.contains(&operation_type.as_str()) {
            return Err(not_in_list(&ctx, "operationType", OPERATION_TYPES));
        }
        let status = get("status");
        if !PAYMENT_STATUSES.contains(&status.as_str()) {
            return Err(not_in_list(&ctx, "status", PAYMENT_STATUSES));
        }
        let delivery_status = form.get("deliveryStatus").map(str::trim);
        if let Some(d) = delivery_status
            && !DELIVERY_STATUSES.contains(&d)
        {
            return Err(not_in_list(&ctx, "deliveryStatus", DELIVERY_STATUSES));
        }
        let external = form.external_ids()?;

        let amount = |k: &str, positive: bool| -> R<Option<Decimal>> {
            let Some(text) = form.get(k) else {
                return Ok(None);
            };
            let d = double(text).ok_or_else(|| invalid_value(k, "must be a Double"))?;
            if positive && d < Decimal::ZERO {
                return Err(invalid_value(k, "must be positive"));
            }
            Ok(Some(d))
        };
        let total = amount("total", true)?.unwrap_or_default();
        let total_excl_tax = amount("totalExclTax", true)?.unwrap_or_default();
        let total_discounted = amount("totalDiscounted", true)?.unwrap_or_default();
        let discount = amount("discount", true)?;
        let tax_amount = amount("taxAmount", false)?;
        let exchange_rate = amount("exchangeRate", true)?;
        let shipping_fee = amount("shippingFee", true)?;
        // Invalid coordinates are kept as null, as the document says.
        let latitude = form
            .get("latitude")
            .and_then(double)
            .filter(|l| l.abs() <= Decimal::from(90));
        let longitude = form
            .get("longitude")
            .and_then(double)
            .filter(|l| l.abs() <= Decimal::from(180));

        for k in [
            "deliveryDate",
            "checkInDate",
            "desiredDeliveryDate",
            "deliveredOn",
        ] {
            if let Some(v) = form.get(k)
                && !is_datetime(v.trim())
            {
                return Err(error(
                    400,
                    "invalid_datetime_format",
                    format!(
                        "Invalid datetime format for {k} it must be in this format : YYYY-MM-DDTHH:MM:SSZ"
                    ),
                ));
            }
        }
        if let Some(v) = form.get("dueDate")
            && !is_date(v.trim())
        {
            return Err(error(
                400,
                "invalid_datetime_format",
                "Invalid date format for dueDate it must be in this format : YYYY-MM-DD",
            ));
        }

        let customer = customer(&get("customerId"), external)?;
        let user = match form.get("userId") {
            Some(u) => find_user(u.trim(), external, "userId", "User")?,
            None => &USERS[0],
        };
        let delivered_by = match form.get("deliveredBy") {
            Some(u) => Some(find_user(
                u.trim(),
                external,
                "deliveredBy",
                "User (deliveredBy)",
            )?),
            None if operation_type == "DELIVERY" => return Err(missing("deliveredBy")),
            None => None,
        };
        let currency = form.get("currency").unwrap_or("EUR").trim().to_uppercase();
        let rate = match CURRENCIES.iter().find(|c| c.0 == currency) {
            Some((_, rate)) => exchange_rate.or_else(|| double(rate)),
            None if UNCONFIGURED_CURRENCIES.contains(&currency.as_str()) => {
                return Err(error(
                    404,
                    "not_found",
                    format!("The currency with name {currency} is not configured."),
                ));
            }
            None => {
                return Err(error(
                    404,
                    "not_found",
                    format!("The currency with name {currency} doesn't exist."),
                ));
            }
        };
        if discount.is_some_and(|d| d > Decimal::from(MAX_DISCOUNT)) {
            return Err(error(
                400,
                "can_not_apply_discount",
                "The user can not apply discount.",
            ));
        }

        let lines = form.json_list("orderLines")?.unwrap_or_default();
        let with_serials = matches!(operation_type.as_str(), "DELIVERYNOTE" | "INVOICE");
        for line in &lines {
            self.check_line(line, external, with_serials, &ctx)?;
        }

        let payments = read_payments(&form, &status, external, &ctx)?;
        let payments = match payments {
            Some(p) if !p.is_empty() => p,
            _ if matches!(status.as_str(), "ADVANCE" | "PAID") => {
                return Err(missing("orderPayments"));
            }
            p => p.unwrap_or_default(),
        };
        let amounts: Vec<Decimal> = payments.iter().filter_map(|p| p.amount).collect();
        check_amounts(&status, total_discounted, &amounts)?;
        check_prepayments(&form, "orderPrepayments", &operation_type)?;
        let pdf = form.file("pdfFile");
        if let Some(f) = pdf {
            if !f.content_type.eq_ignore_ascii_case("application/pdf") {
                return Err(error(
                    400,
                    "unsupported_file_type",
                    "file format not supported.",
                ));
            }
            if f.size >= 10 * 1024 * 1024 {
                return Err(error(400, "save_failed", "Failed to save instance."));
            }
        }

        if self.orders.iter().any(|o| o.text("reference") == reference) {
            return Err(error(400, "not_unique", "reference already used"));
        }
        if let Some(limit) = customer.credit_limit
            && status != "PAID"
        {
            let outstanding: Decimal = self
                .orders
                .iter()
                .filter(|o| {
                    o.doc["customer"]["id"].as_u64() == Some(customer.id)
                        && o.text("status") != "PAID"
                        && o.text("deliveryStatus") != "REJECTED"
                })
                .filter_map(|o| dec_of(&o.doc["totalDiscounted"]))
                .sum();
            if outstanding + total_discounted - amounts.iter().sum::<Decimal>()
                > Decimal::from(limit)
            {
                return Err(error(
                    400,
                    "credit_limit_exceeded",
                    "The customer credit limit has been exceeded.",
                ));
            }
        }

        // Saved.
        self.next_order += 1;
        let id = self.next_order;
        let stamp = now();
        let mut doc = Map::new();
        let text = |k: &str| form.get(k).map_or(Value::Null, |v| json!(v.trim()));
        let delivery_kept = !with_serials;
        let invoice_fields = operation_type != "DELIVERYNOTE";
        let group = |prefix: &str, c: &Customer| -> [(String, Value); 4] {
            let given = ["Country", "City", "PostalCode", "Address"]
                .iter()
                .any(|s| form.get(&format!("{prefix}{s}")).is_some());
            let pick = |s: &str, default: &str| {
                let k = format!("{prefix}{s}");
                let v = if given { text(&k) } else { json!(default) };
                (k, v)
            };
            [
                pick("Country", c.country),
                pick("City", c.city),
                pick("PostalCode", c.postal_code),
                pick("Address", c.address),
            ]
        };
        doc.insert("id".into(), json!(id));
        doc.insert("operationType".into(), json!(operation_type));
        doc.insert("reference".into(), json!(reference));
        doc.insert("status".into(), json!(status));
        doc.insert("latitude".into(), opt_num(latitude));
        doc.insert("longitude".into(), opt_num(longitude));
        doc.insert("checkInDate".into(), text("checkInDate"));
        doc.insert("total".into(), num(total));
        doc.insert("totalExclTax".into(), num(total_excl_tax));
        doc.insert("totalDiscounted".into(), num(total_discounted));
        doc.insert("discount".into(), opt_num(discount));
        doc.insert(
            "taxAmount".into(),
            if invoice_fields {
                opt_num(tax_amount)
            } else {
                Value::Null
            },
        );
        doc.insert("shippingFee".into(), opt_num(shipping_fee));
        doc.insert("paymentDate".into(), Value::Null);
        doc.insert("paymentTypeId".into(), Value::Null);
        doc.insert("paymentType".into(), Value::Null);
        doc.insert("advanceAmount".into(), Value::Null);
        doc.insert("orderPayments".into(), json!([]));
        doc.insert("orderPrepayments".into(), json!([]));
        let due = match form.get("dueDate") {
            Some(d) if invoice_fields => json!(d.trim()),
            None if operation_type == "INVOICE" => json!(
                (chrono::Utc::now().date_naive() + chrono::Days::new(30))
                    .format("%Y-%m-%d")
                    .to_string()
            ),
            _ => Value::Null,
        };
        doc.insert("dueDate".into(), due);
        doc.insert("customerReference".into(), json!(customer.reference));
        doc.insert(
            "customer".into(),
            json!({"id": customer.id, "reference": customer.reference, "reference2": null,
                   "name": customer.name, "href": format!("/api/{VERSION}/customers/{}", customer.id)}),
        );
        doc.insert("currency".into(), json!(currency));
        doc.insert("exchangeRate".into(), opt_num(rate));
        doc.insert("employeeReference".into(), json!(user.1));
        doc.insert("user".into(), user_ref(user.0, user.1));
        for (k, v) in group("billing", customer) {
            doc.insert(k, v);
        }
        let kept = |k: &str| if delivery_kept { text(k) } else { Value::Null };
        doc.insert("deliveryStatus".into(), kept("deliveryStatus"));
        doc.insert("deliveryDate".into(), kept("deliveryDate"));
        doc.insert("deliveryComment".into(), text("deliveryComment"));
        for (k, v) in group("delivery", customer) {
            doc.insert(k, v);
        }
        let line_refs: Vec<Value> = lines
            .iter()
            .map(|_| {
                self.next_line += 1;
                json!({"id": self.next_line, "href": format!("/api/{VERSION}/orderDetails/{}", self.next_line)})
            })
            .collect();
        doc.insert("orderLines".into(), Value::Array(line_refs));
        doc.insert(
            "pdfUrl".into(),
            pdf.map_or(Value::Null, |_| {
                json!(format!(
                    "/{ORGANIZATION}/orderPDF/{}_{reference}.pdf",
                    user.0
                ))
            }),
        );
        doc.insert("organization".into(), json!(ORGANIZATION));
        doc.insert("dateCreated".into(), json!(stamp));
        doc.insert("lastUpdated".into(), json!(stamp));
        doc.insert(
            "deliveredBy".into(),
            delivered_by.map_or(Value::Null, |u| user_ref(u.0, u.1)),
        );
        doc.insert("desiredDeliveryDate".into(), kept("desiredDeliveryDate"));
        doc.insert("deliveredOn".into(), kept("deliveredOn"));
        doc.insert(
            "assignmentDate".into(),
            delivered_by.map_or(Value::Null, |_| json!(stamp)),
        );
        let mut order = Order {
            doc,
            paid: Vec::new(),
        };
        self.add_payments(&mut order, payments);
        set_delivered_on(&mut order.doc);
        let answer = Value::Object(order.doc.clone());
        self.orders.push(order);
        Ok(SandboxReply::json(201, &answer))
    }

    fn check_line(
        &self,
        line: &Map<String, Value>,
        external: bool,
        with_serials: bool,
        ctx: &str,
    ) -> R<()> {
        let present = |k: &str| line.get(k).filter(|v| !v.is_null());
        let Some(unit) = present("itemUnitId") else {
            return Err(missing("itemUnitId"));
        };
        let Some(quantity) = present("quantity") else {
            return Err(missing("quantity"));
        };
        let quantity = json_integer(quantity)
            .ok_or_else(|| invalid_value("quantity", "must be an Integer"))?;
        if quantity <= 0 {
            return Err(invalid_value("quantity", "must be positive"));
        }
        for k in ["unitPrice", "finalPrice"] {
            let Some(v) = present(k) else {
                return Err(missing(k));
            };
            json_double(v).ok_or_else(|| invalid_value(k, "must be a Double"))?;
        }
        let mut discount = None;
        for k in ["tax", "discount", "customerDiscount"] {
            if let Some(v) = present(k) {
                let d = json_double(v).ok_or_else(|| invalid_value(k, "must be a Double"))?;
                if k == "discount" {
                    discount = Some(d);
                }
            }
        }
        if let Some(t) = present("type")
            && !t.as_str().is_some_and(|t| LINE_TYPES.contains(&t))
        {
            // The document's own message says "Add" here.
            let ctx = ctx.replacen("Failed to add", "Failed to Add", 1);
            return Err(not_in_list(&ctx, "type", LINE_TYPES));
        }
        let unit = item_unit(unit, external)?;
        if discount.is_some_and(|d| d > Decimal::from(MAX_DISCOUNT) || d < Decimal::ZERO) {
            return Err(error(
                400,
                "can_not_apply_discount",
                "The user can not apply discount.",
            ));
        }
        if quantity > unit.4 {
            return Err(error(
                400,
                "quantity_not_available",
                format!(
                    "Quantity should be less than or equal to the available quantity: [[quantity:{}, item:{}, unit:{}, itemUnit:{}]]",
                    unit.4, unit.2, unit.3, unit.0
                ),
            ));
        }
        if with_serials && let Some(serials) = present("serialNumbers") {
            let Some(serials) = serials.as_array() else {
                return Err(invalid_type("serial number id"));
            };
            for s in serials {
                let id = json_integer(s).ok_or_else(|| invalid_type("serial number id"))?;
                if !(700..=799).contains(&id) {
                    return Err(not_found("serial number", &id.to_string(), false));
                }
            }
            if serials.len() as i64 != quantity {
                return Err(error(
                    400,
                    "invalid_serial_number",
                    "The number of serial codes should be equal to the quantity intended to be sold",
                ));
            }
        }
        Ok(())
    }

    fn add_payments(&mut self, order: &mut Order, payments: Vec<NewPayment>) {
        let order_id = order.id();
        let status = order.text("status").to_string();
        for p in payments {
            self.next_payment += 1;
            let day = p
                .date
                .as_deref()
                .map_or_else(|| now()[..10].to_string(), |d| d[..10].to_string())
                .replace('-', "_");
            let reference = p
                .reference
                .unwrap_or_else(|| format!("{order_id}_{}_{day}", p.kind.map_or(0, |k| k.0)));
            if let Some(list) = order
                .doc
                .get_mut("orderPayments")
                .and_then(Value::as_array_mut)
            {
                list.push(json!({"id": self.next_payment, "reference": reference,
                    "href": format!("/api/{VERSION}/orderPayments/{}", self.next_payment)}));
            }
            if let Some(k) = p.kind {
                order.doc.insert("paymentTypeId".into(), json!(k.0));
                order.doc.insert(
                    "paymentType".into(),
                    json!({"id": k.0, "reference": k.1, "name": k.2,
                           "href": format!("/api/{VERSION}/paymentTypes/{}", k.0)}),
                );
            }
            if let Some(d) = p.date {
                order.doc.insert("paymentDate".into(), json!(d));
            }
            if let Some(a) = p.amount {
                order.paid.push(a);
            }
        }
        let advance = (status == "ADVANCE").then(|| order.paid.iter().sum::<Decimal>());
        order.doc.insert("advanceAmount".into(), opt_num(advance));
    }

    fn update(&mut self, i: usize, req: &SandboxRequest) -> R<SandboxReply> {
        let form = form_body(req)?;
        let reference = self.orders[i].text("reference").to_string();
        let ctx = format!("Failed to update the Order with the reference {reference}");
        let Some(status) = form.get("status").map(str::trim) else {
            return Err(missing("status"));
        };
        if !PAYMENT_STATUSES.contains(&status) {
            return Err(not_in_list(&ctx, "status", PAYMENT_STATUSES));
        }
        let delivery_status = form.get("deliveryStatus").map(str::trim);
        if let Some(d) = delivery_status
            && !DELIVERY_STATUSES.contains(&d)
        {
            return Err(not_in_list(&ctx, "deliveryStatus", DELIVERY_STATUSES));
        }
        let delivery_date = form.get("deliveryDate").map(str::trim);
        if let Some(d) = delivery_date
            && !is_datetime(d)
        {
            return Err(error(
                400,
                "invalid_datetime_format",
                "Invalid datetime format for deliveryDate it must be in this format : YYYY-MM-DDTHH:MM:SSZ",
            ));
        }
        let external = form.external_ids()?;
        let payments = read_payments(&form, status, external, &ctx)?.unwrap_or_default();
        let current = self.orders[i].text("status").to_string();
        if payments.is_empty() && current != status && matches!(status, "ADVANCE" | "PAID") {
            return Err(missing("orderPayments"));
        }
        let due = dec_of(&self.orders[i].doc["totalDiscounted"]).unwrap_or_default();
        let mut amounts = self.orders[i].paid.clone();
        amounts.extend(payments.iter().filter_map(|p| p.amount));
        check_amounts(status, due, &amounts)?;
        let operation_type = self.orders[i].text("operationType").to_string();
        check_prepayments(&form, "orderPrepayments", &operation_type)?;
        check_prepayments(&form, "prepaymentPayment", &operation_type)?;

        // Saved.
        let mut order = std::mem::replace(
            &mut self.orders[i],
            Order {
                doc: Map::new(),
                paid: Vec::new(),
            },
        );
        order.doc.insert("status".into(), json!(status));
        if !matches!(operation_type.as_str(), "INVOICE" | "DELIVERYNOTE") {
            if let Some(d) = delivery_status {
                order.doc.insert("deliveryStatus".into(), json!(d));
            }
            if let Some(d) = delivery_date {
                order.doc.insert("deliveryDate".into(), json!(d));
            }
        }
        if let Some(c) = form.get("deliveryComment") {
            order.doc.insert("deliveryComment".into(), json!(c));
        }
        self.add_payments(&mut order, payments);
        set_delivered_on(&mut order.doc);
        order.doc.insert("lastUpdated".into(), json!(now()));
        let answer = Value::Object(order.doc.clone());
        self.orders[i] = order;
        Ok(SandboxReply::json(200, &answer))
    }

    fn delete(&mut self, i: usize) -> SandboxReply {
        let o = &self.orders[i];
        // Deliveries cannot be deleted (the document lists every other type), nor an order
        // already delivered (GUESS).
        if o.text("operationType") == "DELIVERY" || o.text("deliveryStatus") == "DELIVERED" {
            return error(400, "delete_failed", "Failed to delete instance.");
        }
        self.orders.remove(i);
        SandboxReply::json(
            200,
            &json!({"success": "true", "success_description": "Instance deleted successfully"}),
        )
    }

    fn list(&self, req: &SandboxRequest) -> R<SandboxReply> {
        let mut unknown: Vec<&str> = req
            .query
            .keys()
            .map(String::as_str)
            .filter(|k| !LIST_PARAMS.contains(k))
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            return Err(error(
                400,
                "invalid_param",
                format!(
                    "The parameters [{}] you provided are not valid for this request.",
                    unknown.join(", ")
                ),
            ));
        }
        let q = |k: &str| {
            req.query
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let count = |k: &str| -> R<Option<usize>> {
            q(k).map(|v| v.trim().parse::<usize>().map_err(|_| invalid_type(k)))
                .transpose()
        };
        let max = count("max")?.unwrap_or(DEFAULT_MAX).min(DEFAULT_MAX);
        let offset = count("offset")?.unwrap_or(0);
        let order = q("order").unwrap_or("asc").to_ascii_lowercase();
        if order != "asc" && order != "desc" {
            return Err(not_in_list(
                "Invalid list parameter",
                "order",
                &["asc", "desc"],
            ));
        }
        let sort = q("sort").unwrap_or("id");
        if !SORTABLE.contains(&sort) {
            return Err(error(
                400,
                "invalid_param",
                format!("The sort field [{sort}] is not valid for this request."),
            ));
        }
        let mut bounds = Vec::new();
        for field in ["dateCreated", "lastUpdated"] {
            for op in ["gt", "gte", "lt", "lte"] {
                let key = format!("{field}_{op}");
                if let Some(v) = q(&key) {
                    if !is_datetime(v) {
                        return Err(error(
                            400,
                            "invalid_datetime_format",
                            format!("Invalid datetime filter (not ISO-8601 formatted): [{v}]"),
                        ));
                    }
                    bounds.push((field, op, v));
                }
            }
        }
        if let Some(t) = q("operationType")
            && !OPERATION_TYPES.contains(&t)
        {
            return Err(not_in_list(
                "Invalid list parameter",
                "operationType",
                OPERATION_TYPES,
            ));
        }
        let wild = [
            ("reference", "reference"),
            ("employeeReference", "employeeReference"),
            ("customerReference", "customerReference"),
        ];
        let mut rows: Vec<&Order> = self
            .orders
            .iter()
            .filter(|o| q("operationType").is_none_or(|t| o.text("operationType") == t))
            .filter(|o| {
                wild.iter()
                    .all(|(param, field)| q(param).is_none_or(|p| wildcard(p, o.text(field))))
            })
            .filter(|o| {
                q("deliveredByReference").is_none_or(|p| {
                    o.doc["deliveredBy"]["reference"]
                        .as_str()
                        .is_some_and(|r| wildcard(p, r))
                })
            })
            .filter(|o| {
                bounds.iter().all(|(field, op, v)| {
                    let at = o.text(field);
                    match *op {
                        "gt" => at > *v,
                        "gte" => at >= *v,
                        "lt" => at < *v,
                        _ => at <= *v,
                    }
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            let (x, y) = (&a.doc[sort], &b.doc[sort]);
            let by_field = match (dec_of(x), dec_of(y)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => match (x, y) {
                    (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
                    (Value::Null, _) => std::cmp::Ordering::Less,
                    (_, Value::Null) => std::cmp::Ordering::Greater,
                    _ => x.as_str().unwrap_or("").cmp(y.as_str().unwrap_or("")),
                },
            };
            let c = by_field.then(a.id().cmp(&b.id()));
            if order == "desc" { c.reverse() } else { c }
        });
        let total = rows.len();
        let data: Vec<Value> = rows
            .into_iter()
            .skip(offset)
            .take(max)
            .map(|o| Value::Object(o.doc.clone()))
            .collect();
        let link = |at: usize| {
            let mut s = format!("/api/{VERSION}/orders?sort={sort}&max={max}&order={order}");
            let mut keys: Vec<&String> = req
                .query
                .keys()
                .filter(|k| !matches!(k.as_str(), "sort" | "max" | "order" | "offset"))
                .collect();
            keys.sort_unstable();
            for k in keys {
                let v: String = form_urlencoded::byte_serialize(req.query[k].as_bytes()).collect();
                s.push_str(&format!("&{k}={v}"));
            }
            s.push_str(&format!("&offset={at}"));
            s
        };
        let previous = (offset > 0 && max > 0).then(|| link(offset.saturating_sub(max)));
        let next = (max > 0 && offset + max < total).then(|| link(offset + max));
        Ok(SandboxReply::json(
            200,
            &json!({"paging": {"total": total, "max": max, "offset": offset,
                               "previous": previous, "next": next},
                    "data": data}),
        ))
    }

    fn api(&mut self, req: &SandboxRequest, rest: &str) -> R<SandboxReply> {
        let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let unknown = || {
            error(
                404,
                "not_found",
                format!("The resource {} doesn't exist.", req.path),
            )
        };
        if version != VERSION {
            return Err(unknown());
        }
        let segments: Vec<String> = rest
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let (by_reference, key) = match segments.as_slice() {
            [o] if o == "orders" => {
                return match req.method {
                    Method::GET => self.list(req),
                    Method::POST => self.create(req),
                    _ => Err(error(405, "method_not_allowed", "Method not allowed.")),
                };
            }
            [o, r, key] if o == "orders" && r == "reference" => (true, key.as_str()),
            [o, key] if o == "orders" => (false, key.as_str()),
            _ => return Err(unknown()),
        };
        let i = self.position(by_reference, key)?;
        match req.method {
            Method::GET => Ok(SandboxReply::json(
                200,
                &Value::Object(self.orders[i].doc.clone()),
            )),
            Method::POST => self.update(i, req),
            Method::DELETE => Ok(self.delete(i)),
            _ => Err(error(405, "method_not_allowed", "Method not allowed.")),
        }
    }
}

/// A delivered order records when it was delivered.
fn set_delivered_on(doc: &mut Map<String, Value>) {
    if doc.get("deliveryStatus").and_then(Value::as_str) == Some("DELIVERED")
        && doc.get("deliveredOn").is_none_or(Value::is_null)
    {
        doc.insert("deliveredOn".into(), json!(now()));
    }
}

impl Vendor for Valomnia {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply {
        let path = req.path.as_str();
        match path {
            "/j_spring_security_check" => return self.login(req),
            "/j_spring_security_logout" | "/logout" => return self.logout(req),
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/api/") else {
            return error(
                404,
                "not_found",
                format!("The resource {path} doesn't exist."),
            );
        };
        if !self.authenticated(req) {
            return error(
                401,
                "no_credentials",
                "Full authentication is required to access this resource",
            );
        }
        match self.api(req, rest) {
            Ok(r) | Err(r) => r,
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
        ctype: Option<&str>,
        cookie: Option<&str>,
        body: impl Into<Bytes>,
    ) -> SandboxRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert("accept", "application/json".parse().expect("h"));
        if let Some(c) = ctype {
            headers.insert("content-type", c.parse().expect("h"));
        }
        if let Some(c) = cookie {
            headers.insert("cookie", format!("JSESSIONID={c}").parse().expect("h"));
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        SandboxRequest {
            method,
            path: path.into(),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
            body: body.into(),
        }
    }

    fn body(r: &SandboxReply) -> Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    fn form(pairs: &[(&str, &str)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    fn login(v: &mut Valomnia) -> String {
        let r = v.handle(&request(
            Method::POST,
            "/j_spring_security_check",
            Some("application/x-www-form-urlencoded"),
            None,
            form(&[
                ("j_username", USERNAME),
                ("j_password", PASSWORD),
                ("ajax", "true"),
            ]),
        ));
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["success"], true);
        let cookie = r
            .headers
            .iter()
            .find(|(k, _)| *k == "set-cookie")
            .map(|(_, v)| v.clone())
            .expect("cookie");
        cookie
            .split(';')
            .next()
            .and_then(|kv| kv.strip_prefix("JSESSIONID="))
            .expect("JSESSIONID")
            .to_string()
    }

    const ORDERS: &str = "/api/v2.1/orders";
    const FORM: &str = "application/x-www-form-urlencoded";

    fn create_fields<'a>(reference: &'a str, lines: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("reference", reference),
            ("operationType", "ORDER"),
            ("status", "NOT_PAID"),
            ("customerId", "1"),
            ("total", "25"),
            ("totalExclTax", "25"),
            ("totalDiscounted", "25"),
            ("currency", "EUR"),
            ("deliveryDate", "2030-12-01T00:00:00Z"),
            ("orderLines", lines),
        ]
    }

    const LINE: &str = r#"[{"itemUnitId":1,"quantity":2,"finalPrice":25,"unitPrice":12.5}]"#;

    #[test]
    fn login_is_required_and_refused_credentials_get_no_session() {
        let mut v = Valomnia::default();
        let r = v.handle(&request(Method::GET, ORDERS, None, None, ""));
        assert_eq!(r.status, 401);
        assert_eq!(body(&r)["error"], "no_credentials");
        let r = v.handle(&request(Method::GET, ORDERS, None, Some("NOPE"), ""));
        assert_eq!(r.status, 401);
        let r = v.handle(&request(
            Method::POST,
            "/j_spring_security_check",
            Some(FORM),
            None,
            form(&[
                ("j_username", USERNAME),
                ("j_password", "wrong"),
                ("ajax", "true"),
            ]),
        ));
        assert_eq!(r.status, 200);
        assert!(body(&r)["error"].is_string());
        assert!(r.headers.iter().all(|(k, _)| *k != "set-cookie"));
        let r = v.handle(&request(
            Method::POST,
            "/j_spring_security_check",
            Some(FORM),
            None,
            form(&[("j_username", USERNAME), ("j_password", "wrong")]),
        ));
        assert_eq!(r.status, 302);
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| *k == "location" && v.contains("authfail"))
        );

        let s = login(&mut v);
        let r = v.handle(&request(Method::GET, ORDERS, None, Some(&s), ""));
        assert_eq!(r.status, 200);
        v.handle(&request(
            Method::POST,
            "/j_spring_security_logout",
            None,
            Some(&s),
            "",
        ));
        let r = v.handle(&request(Method::GET, ORDERS, None, Some(&s), ""));
        assert_eq!(r.status, 401, "the session ended");
    }

    #[test]
    fn create_show_list_update_delete() {
        let mut v = Valomnia::default();
        let s = login(&mut v);
        let r = v.handle(&request(
            Method::POST,
            ORDERS,
            Some(FORM),
            Some(&s),
            form(&create_fields("WEB-1", LINE)),
        ));
        assert_eq!(r.status, 201, "{}", body(&r));
        let created = body(&r);
        let id = created["id"].as_u64().expect("id");
        assert_eq!(created["status"], "NOT_PAID");
        assert_eq!(created["deliveryStatus"], Value::Null);
        assert_eq!(created["total"].to_string(), "25");
        assert_eq!(created["customer"]["name"], "Roslyn Lépicier");
        assert_eq!(created["orderLines"].as_array().map(Vec::len), Some(1));

        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}/{id}"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(body(&r)["reference"], "WEB-1");
        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}/reference/WEB-1"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(body(&r)["id"], id);

        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}?max=1&offset=0&sort=dateCreated&order=desc&operationType=ORDER"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(r.status, 200, "{}", body(&r));
        let page = body(&r);
        assert_eq!(page["paging"]["total"], 2);
        assert_eq!(page["data"][0]["id"], id, "newest first");
        assert!(
            page["paging"]["next"]
                .as_str()
                .is_some_and(|n| n.ends_with("offset=1"))
        );
        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}?reference=WEB*&dateCreated_gte=2020-01-01T00:00:00Z"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(body(&r)["paging"]["total"], 1);

        let r = v.handle(&request(
            Method::POST,
            &format!("{ORDERS}/{id}"),
            Some(FORM),
            Some(&s),
            form(&[("status", "NOT_PAID"), ("deliveryStatus", "PENDING")]),
        ));
        assert_eq!(r.status, 200, "{}", body(&r));
        assert_eq!(body(&r)["deliveryStatus"], "PENDING");
        let r = v.handle(&request(
            Method::POST,
            &format!("{ORDERS}/{id}"),
            Some(FORM),
            Some(&s),
            form(&[("deliveryStatus", "REJECTED")]),
        ));
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["error"], "missing_param");

        let r = v.handle(&request(
            Method::DELETE,
            &format!("{ORDERS}/reference/WEB-1"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["success"], "true");
        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}/{id}"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(r.status, 404);
        assert_eq!(
            body(&r)["error_description"],
            format!("The order with the id {id} doesn't exist.")
        );
        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}/SO-12"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["error"], "invalid_param_type");
    }

    #[test]
    fn create_refusals() {
        let mut v = Valomnia::default();
        let s = login(&mut v);
        let mut post = |fields: Vec<(&str, &str)>| {
            let r = v.handle(&request(
                Method::POST,
                ORDERS,
                Some(FORM),
                Some(&s),
                form(&fields),
            ));
            (r.status, body(&r))
        };
        let (st, b) = post(create_fields("marie_order_2014_12_20", LINE));
        assert_eq!((st, b["error"].as_str()), (400, Some("not_unique")));
        let (st, b) = post(create_fields(
            "R2",
            r#"[{"itemUnitId":1,"quantity":2.5,"finalPrice":25,"unitPrice":12.5}]"#,
        ));
        assert_eq!((st, b["error"].as_str()), (400, Some("invalid_param_type")));
        assert!(
            b["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("quantity"))
        );
        let mut f = create_fields("R3", LINE);
        f[1].1 = "SALE";
        let (st, b) = post(f);
        assert_eq!((st, b["error"].as_str()), (400, Some("not_in_list_error")));
        let mut f = create_fields("R4", LINE);
        f[2].1 = "PAID";
        let (st, b) = post(f);
        assert_eq!(
            b["error_description"], "orderPayments parameter is missing",
            "{st}"
        );
        let mut f = create_fields("R5", LINE);
        f[3].1 = "10";
        let (st, b) = post(f);
        assert_eq!(st, 404);
        assert_eq!(
            b["error_description"],
            "The Customer with the id 10 doesn't exist."
        );
        let mut f = create_fields("R6", LINE);
        f.retain(|(k, _)| *k != "totalDiscounted");
        let (st, b) = post(f);
        assert_eq!((st, b["error"].as_str()), (400, Some("missing_param")));
        let mut f = create_fields("R7", LINE);
        f[8].1 = "2030-12-01";
        let (_, b) = post(f);
        assert_eq!(b["error"], "invalid_datetime_format");
        let mut f = create_fields("R8", LINE);
        f[7].1 = "INR";
        let (st, b) = post(f);
        assert_eq!(st, 404);
        assert_eq!(
            b["error_description"],
            "The currency with name INR is not configured."
        );
        let (_, b) = post(create_fields(
            "R9",
            r#"[{"itemUnitId":1,"quantity":2,"type":"FREE","finalPrice":25,"unitPrice":12.5}]"#,
        ));
        assert_eq!(b["error"], "not_in_list_error");
        let mut f = create_fields("R10", LINE);
        f[3].1 = "3";
        f[4].1 = "500";
        f[6].1 = "500";
        let (_, b) = post(f);
        assert_eq!(b["error"], "credit_limit_exceeded");
        let r = v.handle(&request(
            Method::POST,
            ORDERS,
            Some("application/json"),
            Some(&s),
            "{}",
        ));
        assert_eq!(r.status, 400);
        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}?dateCreated_gta=2016-08-15T14:52:48Z"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(body(&r)["error"], "invalid_param");
        let r = v.handle(&request(
            Method::GET,
            &format!("{ORDERS}?dateCreated_gte=2016-08-1Z"),
            None,
            Some(&s),
            "",
        ));
        assert_eq!(body(&r)["error"], "invalid_datetime_format");
    }

    #[test]
    fn multipart_create_paid_by_cheque() {
        let mut v = Valomnia::default();
        let s = login(&mut v);
        let b = "ordergate-7d3f9c2a1b";
        let part = |name: &str, value: &str| {
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        };
        let mut text = String::new();
        for (k, val) in create_fields("GW-PO-0002", LINE) {
            text.push_str(&part(if k == "status" { "ignored" } else { k }, val));
        }
        text.push_str(&part("status", "PAID"));
        text.push_str(&part(
            "orderPayments",
            r#"[{"paymentDate":"2026-11-23T09:00:00Z","paymentTypeId":8,"advanceAmount":25,"chequeImage":"checkFile"}]"#,
        ));
        let with_file = |ctype: &str| {
            format!(
                "{text}--{b}\r\nContent-Disposition: form-data; name=\"checkFile\"; filename=\"c.png\"\r\nContent-Type: {ctype}\r\n\r\nPNG\r\n--{b}--\r\n"
            )
        };
        let ctype = format!("multipart/form-data; boundary={b}");
        let r = v.handle(&request(
            Method::POST,
            ORDERS,
            Some(&ctype),
            Some(&s),
            with_file("text/plain"),
        ));
        assert_eq!(body(&r)["error"], "unsupported_file_type");
        let r = v.handle(&request(
            Method::POST,
            ORDERS,
            Some(&ctype),
            Some(&s),
            with_file("image/png"),
        ));
        assert_eq!(r.status, 201, "{}", body(&r));
        let o = body(&r);
        assert_eq!(o["status"], "PAID");
        assert_eq!(o["paymentType"]["reference"], "CHEQUE");
        assert_eq!(o["paymentDate"], "2026-11-23T09:00:00Z");
        let pay_ref = format!("{}_8_2026_11_23", o["id"]);
        assert_eq!(o["orderPayments"][0]["reference"], pay_ref.as_str());
    }

    #[test]
    fn advance_payments_are_checked_against_the_total() {
        let mut v = Valomnia::default();
        let s = login(&mut v);
        let r = v.handle(&request(
            Method::POST,
            ORDERS,
            Some(FORM),
            Some(&s),
            form(&create_fields("ADV-1", LINE)),
        ));
        let id = body(&r)["id"].clone();
        let mut update = |fields: &[(&str, &str)]| {
            let r = v.handle(&request(
                Method::POST,
                &format!("{ORDERS}/{id}"),
                Some(FORM),
                Some(&s),
                form(fields),
            ));
            (r.status, body(&r))
        };
        let (_, b) = update(&[
            ("status", "ADVANCE"),
            ("orderPayments", r#"[{"paymentTypeId":1}]"#),
        ]);
        assert_eq!(b["error_description"], "advanceAmount parameter is missing");
        let (_, b) = update(&[
            ("status", "ADVANCE"),
            (
                "orderPayments",
                r#"[{"paymentTypeId":1,"advanceAmount":30}]"#,
            ),
        ]);
        assert_eq!(b["error"], "invalid_advance_amount");
        let (st, b) = update(&[
            ("status", "ADVANCE"),
            (
                "orderPayments",
                r#"[{"paymentTypeId":1,"advanceAmount":10}]"#,
            ),
        ]);
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["advanceAmount"].to_string(), "10");
        let (_, b) = update(&[
            ("status", "PAID"),
            (
                "orderPayments",
                r#"[{"paymentTypeId":1,"advanceAmount":10}]"#,
            ),
        ]);
        assert_eq!(b["error"], "invalid_paid_amount");
        let (st, b) = update(&[
            ("status", "PAID"),
            (
                "orderPayments",
                r#"[{"paymentTypeId":8000,"advanceAmount":15}]"#,
            ),
        ]);
        assert_eq!(st, 404);
        assert_eq!(
            b["error_description"],
            "The payment type with the id 8000 doesn't exist."
        );
        let (st, b) = update(&[
            ("status", "PAID"),
            (
                "orderPayments",
                r#"[{"paymentTypeId":1,"advanceAmount":15}]"#,
            ),
        ]);
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["orderPayments"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("Ref-6*", "ref-678"));
        assert!(wildcard("*ef-6", "Ref-6"));
        assert!(wildcard("*ef-6*", "xRef-6y"));
        assert!(!wildcard("Ref-6", "Ref-67"));
        assert!(!wildcard("a*b*c", "abx"));
    }
}
