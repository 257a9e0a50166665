//! A simulated Mr.Doc installation (Russian SaaS ERP): customer orders (`DocSaleOrder`) through
//! its REST API, in JSON or XML as the URL extension says (`/api/1/DocSaleOrder.json` / `.xml`).
//!
//! What the Mr.Doc wiki documents ("Создание заказа покупателя через API"), checked strictly:
//! create = `PUT /api/1/DocSaleOrder.{json,xml}`; required `contractor_id` and, per product line,
//! `product_id`, `quantity`, `price`, `vat_rate_id` (per service line `service_id` instead of
//! `product_id`); the enums `status_id` (Черновик, Проведен, ПомеченНаУдаление) and `vat_rate_id`
//! (НДС18, НДС18_118, НДС10, НДС10_110, НДС0, БезНДС); SQL times `YYYY-MM-DD HH:MM:SS`; integer
//! ids; XML under `<root>`, lists marked `list="true"` of `<item>` elements, booleans 0/1; an
//! absent KEY is defaulted or computed (date_time now, number generated, status Черновик, the
//! first organization, the customer's first contract or a new one, the rouble, the product's main
//! modification and base unit, the unit's factor, `sum` and `vat_sum`), a present empty one is not.
//!
//! What the gateway's mapping guesses, simulated the same way: HTTP Basic auth (login
//! [`SANDBOX_LOGIN`], password [`SANDBOX_SECRET`]; [`SANDBOX_READONLY_LOGIN`] may only read: 403),
//! answers = the stored document in the request's format with integer ids, read
//! `GET /api/1/DocSaleOrder/{id}.{fmt}`, list `GET /api/1/DocSaleOrder.{fmt}` (bare array /
//! `<root list="true">`, filters `status_id`, `contractor_id`, `external_number`,
//! `date_time_from`, `date_time_to`, paging `limit` / `offset`), update
//! `POST /api/1/DocSaleOrder/{id}.{fmt}` with the changed attributes (posting = status Проведен,
//! voiding = ПомеченНаУдаление), delete `DELETE /api/1/DocSaleOrder/{id}.{fmt}`, and the error
//! envelope `{"error": "...", "errors": {"<attribute>": ["..."]}}` (XML `<root><error>` ...):
//! 422 for a malformed document, 400 for one naming unknown data, 404 for an unknown document.
//!
//! Seeded: organization 1; contractors 1, 50, 51, 52 (contracts 1 and 55); currencies 1 (RUB),
//! 2 (EUR), 3 (USD); price types 1, 2; products 1 (modifications 1, 2), 7, 113, 245; services
//! 1, 5; units 1, 5, 113, 245 (factor 1) and 2 (a pack of 10); addresses 1, 198.

use std::str::FromStr;

use base64::Engine as _;
use http::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use super::{SANDBOX_SECRET, SandboxReply, SandboxRequest, Vendor};
use crate::codec::{CodecError, xml as xml_codec};
use crate::engine::plan::XmlOptions;

/// The API user's login (password [`SANDBOX_SECRET`]).
pub const SANDBOX_LOGIN: &str = "sandbox";
/// A user whose role has only the reading API operations (same password): writes answer 403.
pub const SANDBOX_READONLY_LOGIN: &str = "sandbox-readonly";

const COLLECTION: &str = "/api/1/DocSaleOrder";

const DRAFT: &str = "Черновик";
const POSTED: &str = "Проведен";
const MARKED: &str = "ПомеченНаУдаление";
const STATUSES: &[&str] = &[MARKED, DRAFT, POSTED];
const VAT_RATES: &[&str] = &["НДС18", "НДС18_118", "НДС10", "НДС10_110", "НДС0", "БезНДС"];

const ORGANIZATIONS: &[i64] = &[1];
const CONTRACTORS: &[i64] = &[1, 50, 51, 52];
/// (id, ISO code)
const CURRENCIES: &[(i64, &str)] = &[(1, "RUB"), (2, "EUR"), (3, "USD")];
const PRICE_TYPES: &[i64] = &[1, 2];
/// (id, modifications (the first is the main one), base unit)
const PRODUCTS: &[(i64, &[i64], i64)] = &[
    (1, &[1, 2], 1),
    (7, &[7], 1),
    (113, &[145], 113),
    (245, &[645], 245),
];
const SERVICES: &[(i64, &[i64], i64)] = &[(1, &[1], 1), (5, &[5], 5)];
/// (id, factor: base units in this unit)
const UNITS: &[(i64, i64)] = &[(1, 1), (2, 10), (5, 1), (113, 1), (245, 1)];
const ADDRESSES: &[i64] = &[1, 198];

/// The document attributes the article names (besides the lists).
const DOC_KEYS: &[&str] = &[
    "date_time",
    "number",
    "status_id",
    "organization_id",
    "contractor_id",
    "contract_id",
    "currency_id",
    "price_type_id",
    "is_price_include_vat",
    "external_number",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Json,
    Xml,
}

/// One complaint about a document: the attribute (the article's name, `products.price`) and why.
type Problem = (String, String);

/// One list filter on a stored document.
type Filter = Box<dyn Fn(&Value) -> bool>;

pub struct MrDoc {
    orders: Vec<Value>,
    /// (contract id, contractor id)
    contracts: Vec<(i64, i64)>,
    next_id: i64,
    next_line: i64,
    next_number: u64,
    next_contract: i64,
}

impl Default for MrDoc {
    fn default() -> Self {
        MrDoc {
            orders: Vec::new(),
            contracts: vec![(1, 1), (55, 50)],
            next_id: 1,
            next_line: 1,
            next_number: 1,
            next_contract: 100,
        }
    }
}

// ---------------------------------------------------------------- answers

fn xml_options() -> XmlOptions {
    XmlOptions {
        root: "root".into(),
        item: "item".into(),
        list_attribute: Some(("list".into(), "true".into())),
        always_list: Vec::new(),
        declaration: true,
    }
}

/// XML writes booleans as 0/1.
fn xml_ready(v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!(if *b { "1" } else { "0" }),
        Value::Array(items) => Value::Array(items.iter().map(xml_ready).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), xml_ready(v))).collect())
        }
        other => other.clone(),
    }
}

fn reply(fmt: Format, status: u16, body: &Value) -> SandboxReply {
    match fmt {
        Format::Json => {
            SandboxReply::text(status, "application/json; charset=utf-8", body.to_string())
        }
        Format::Xml => match xml_codec::encode(&xml_ready(body).into(), &xml_options()) {
            Ok(bytes) => SandboxReply::text(
                status,
                "application/xml; charset=utf-8",
                String::from_utf8_lossy(&bytes).into_owned(),
            ),
            Err(e) => SandboxReply::text(
                500,
                "text/plain; charset=utf-8",
                format!("Internal Server Error: {e}"),
            ),
        },
    }
}

/// The error envelope: `error` the message, `errors` the messages per attribute (JSON lists,
/// XML one text per attribute).
fn rejected(fmt: Format, status: u16, error: &str, problems: &[Problem]) -> SandboxReply {
    let mut body = Map::new();
    // The message names what is wrong too (the gateway shows `error` as the problem's detail).
    let message = if problems.is_empty() {
        error.to_string()
    } else {
        let details: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
        format!("{error}: {}", details.join("; "))
    };
    body.insert("error".into(), json!(message));
    if !problems.is_empty() {
        let mut errors = Map::new();
        for (attr, msg) in problems {
            match errors.get_mut(attr) {
                Some(Value::Array(list)) => list.push(json!(msg)),
                _ => {
                    errors.insert(attr.clone(), json!([msg]));
                }
            }
        }
        if fmt == Format::Xml {
            for v in errors.values_mut() {
                let joined = v
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                *v = json!(joined);
            }
        }
        body.insert("errors".into(), Value::Object(errors));
    }
    reply(fmt, status, &Value::Object(body))
}

fn not_found(fmt: Format) -> SandboxReply {
    rejected(fmt, 404, "Документ не найден", &[])
}

fn unauthorized() -> SandboxReply {
    let mut r = SandboxReply::text(401, "text/plain; charset=utf-8", "Unauthorized");
    r.headers
        .push(("www-authenticate", "Basic realm=\"Mr.Doc API\"".to_string()));
    r
}

// ---------------------------------------------------------------- typed values

fn is_int_text(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    is_int_text(int)
        && !int.starts_with('-')
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// An integer id: a JSON integer, or XML text of digits.
fn int(fmt: Format, v: &Value) -> Option<i64> {
    match (fmt, v) {
        (Format::Json, Value::Number(n)) => n.as_i64(),
        (Format::Xml, Value::String(s)) if is_int_text(s) => s.parse().ok(),
        _ => None,
    }
}

/// A number: a JSON number, or XML text `-?[0-9]+(.[0-9]+)?`.
fn dec(fmt: Format, v: &Value) -> Option<Decimal> {
    let text = match (fmt, v) {
        (Format::Json, Value::Number(n)) => n.to_string(),
        (Format::Xml, Value::String(s)) if is_decimal_text(s) => s.clone(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

fn text(v: &Value) -> Option<&str> {
    v.as_str()
}

/// A boolean: JSON true/false, XML 0/1.
fn boolean(fmt: Format, v: &Value) -> Option<bool> {
    match (fmt, v) {
        (Format::Json, Value::Bool(b)) => Some(*b),
        (Format::Xml, Value::String(s)) if s == "0" => Some(false),
        (Format::Xml, Value::String(s)) if s == "1" => Some(true),
        _ => None,
    }
}

fn sql_time(s: &str) -> bool {
    s.len() == 19 && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
}

fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn kopecks(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The rate's percent (НДС18 and НДС18_118 -> 18); none for БезНДС.
fn vat_percent(rate: &str) -> Option<Decimal> {
    match rate {
        "НДС18" | "НДС18_118" => Some(Decimal::from(18)),
        "НДС10" | "НДС10_110" => Some(Decimal::from(10)),
        "НДС0" => Some(Decimal::ZERO),
        _ => None,
    }
}

/// The VAT of a line sum: sum x r / (100 + r) when the price includes VAT (and always for the
/// calculated rates 18/118, 10/110), sum x r / 100 otherwise; kopecks.
fn vat_of(sum: Decimal, rate: &str, price_includes_vat: bool) -> Decimal {
    let Some(r) = vat_percent(rate).filter(|r| !r.is_zero()) else {
        return Decimal::ZERO;
    };
    let hundred = Decimal::from(100);
    let included = price_includes_vat || rate.ends_with("_118") || rate.ends_with("_110");
    if included {
        kopecks(sum * r / (hundred + r))
    } else {
        kopecks(sum * r / hundred)
    }
}

fn now_moscow() -> String {
    // Moscow has kept UTC+3 all year since 2014.
    chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).expect("a valid offset"))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

// ---------------------------------------------------------------- request bodies

/// Checks the XML shape the article describes: `<root>` document element, only `list="true"` as
/// attribute, the children of a list all `<item>`, `<item>` only inside a list.
fn check_xml_shape(body: &[u8]) -> Result<(), String> {
    use quick_xml::events::{BytesStart, Event};
    let text = std::str::from_utf8(body).map_err(|_| "XML не в кодировке UTF-8".to_string())?;
    let mut reader = quick_xml::Reader::from_str(text);
    // (name, is a list) of the open elements
    let mut stack: Vec<(String, bool)> = Vec::new();
    let mut roots = 0;
    let open = |e: &BytesStart<'_>, stack: &[(String, bool)], roots: &mut u32| {
        let name = e.name().as_ref().to_string();
        let mut is_list = false;
        for attr in e.attributes() {
            let attr = attr.map_err(|err| format!("Некорректный XML: {err}"))?;
            let key = attr.key.as_ref().to_string();
            if key == "list" && attr.value.as_ref() == "true" {
                is_list = true;
            } else {
                return Err(format!(
                    "Недопустимый атрибут {key} элемента <{name}>: списки помечаются list=\"true\""
                ));
            }
        }
        match stack.last() {
            None => {
                *roots += 1;
                if name != "root" {
                    return Err(format!(
                        "Корневой элемент документа должен называться <root>, а не <{name}>"
                    ));
                }
            }
            Some((parent, true)) if name != "item" => {
                return Err(format!(
                    "Элементы списка <{parent}> записываются как <item>, а не <{name}>"
                ));
            }
            Some((parent, false)) if name == "item" => {
                return Err(format!(
                    "Элемент <item> допустим только в списке (list=\"true\"); <{parent}> не помечен как список"
                ));
            }
            _ => {}
        }
        Ok((name, is_list))
    };
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("Некорректный XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::DocType(_)) => return Err("DTD в XML не допускается".into()),
            Ok(Event::Start(e)) => {
                let frame = open(&e, &stack, &mut roots)?;
                stack.push(frame);
            }
            Ok(Event::Empty(e)) => {
                open(&e, &stack, &mut roots)?;
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(_) => {}
        }
        if roots > 1 {
            return Err("Документ XML содержит больше одного корневого элемента".into());
        }
    }
    Ok(())
}

/// The request body as a document (attribute -> value): JSON, or XML with every value as text.
fn parse_body(fmt: Format, req: &SandboxRequest) -> Result<Map<String, Value>, SandboxReply> {
    let ct = req.content_type().to_ascii_lowercase();
    let bad = |msg: String| Err(rejected(fmt, 400, &msg, &[]));
    match fmt {
        Format::Json => {
            if ct != "application/json" {
                return Err(rejected(
                    fmt,
                    415,
                    "Для обмена в формате JSON тело запроса передается с Content-Type: application/json",
                    &[],
                ));
            }
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => {
                    bad("Тело запроса должно быть объектом JSON с атрибутами документа".into())
                }
                Err(e) => bad(format!("Некорректный JSON: {e}")),
            }
        }
        Format::Xml => {
            if ct != "application/xml" && ct != "text/xml" {
                return Err(rejected(
                    fmt,
                    415,
                    "Для обмена в формате XML тело запроса передается с Content-Type: application/xml",
                    &[],
                ));
            }
            if let Err(msg) = check_xml_shape(&req.body) {
                return bad(msg);
            }
            match xml_codec::decode(&req.body, &xml_options()).map(serde_json::Value::from) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(Value::String(s)) if s.is_empty() => Ok(Map::new()),
                Ok(_) => bad("Корневой элемент <root> должен содержать атрибуты документа".into()),
                Err(CodecError::Decode { reason, .. }) | Err(CodecError::Encode { reason, .. }) => {
                    bad(format!("Некорректный XML: {reason}"))
                }
            }
        }
    }
}

/// The attributes of one line list as given (`products` or `services`), typed; `line` is 1-based.
fn check_lines(
    fmt: Format,
    list: &str,
    value: &Value,
    problems: &mut Vec<Problem>,
) -> Option<Vec<Map<String, Value>>> {
    let Some(items) = value.as_array() else {
        problems.push((
            list.to_string(),
            match fmt {
                Format::Json => "Ожидается массив строк".to_string(),
                Format::Xml => {
                    format!("Список <{list}> помечается list=\"true\" и содержит элементы <item>")
                }
            },
        ));
        return None;
    };
    let service = list == "services";
    let id_key = if service { "service_id" } else { "product_id" };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Some(item) = item.as_object() else {
            problems.push((
                list.to_string(),
                format!("Строка {n}: ожидается объект с атрибутами строки"),
            ));
            continue;
        };
        let mut line = Map::new();
        for required in [id_key, "quantity", "price", "vat_rate_id"] {
            if !item.contains_key(required) {
                problems.push((
                    format!("{list}.{required}"),
                    format!("Строка {n}: обязательный атрибут {required} не заполнен"),
                ));
            }
        }
        for (k, v) in item {
            let attr = format!("{list}.{k}");
            let mut wrong = |what: &str| {
                problems.push((attr.clone(), format!("Строка {n}: {k} — {what}")));
            };
            match k.as_str() {
                "product_id" | "service_id" if k == id_key => match int(fmt, v) {
                    Some(id) => {
                        line.insert(k.clone(), json!(id));
                    }
                    None => wrong("ожидается целое число"),
                },
                "sku_id" | "unit_id" => match int(fmt, v) {
                    Some(id) => {
                        line.insert(k.clone(), json!(id));
                    }
                    None => wrong("ожидается целое число"),
                },
                "execution_address_id" if service => match int(fmt, v) {
                    Some(id) => {
                        line.insert(k.clone(), json!(id));
                    }
                    None => wrong("ожидается целое число"),
                },
                "quantity" => match dec(fmt, v) {
                    Some(q) if q > Decimal::ZERO => {
                        line.insert(k.clone(), number(q));
                    }
                    Some(_) => wrong("количество должно быть больше нуля"),
                    None => wrong("ожидается число"),
                },
                "factor" => match dec(fmt, v) {
                    Some(f) if f > Decimal::ZERO => {
                        line.insert(k.clone(), number(f));
                    }
                    Some(_) => wrong("коэффициент должен быть больше нуля"),
                    None => wrong("ожидается число"),
                },
                "price" | "sum" | "vat_sum" => match dec(fmt, v) {
                    Some(d) if d >= Decimal::ZERO => {
                        line.insert(k.clone(), number(d));
                    }
                    Some(_) => wrong("сумма не может быть отрицательной"),
                    None => wrong("ожидается число"),
                },
                "vat_rate_id" => match text(v) {
                    Some(r) if VAT_RATES.contains(&r) => {
                        line.insert(k.clone(), json!(r));
                    }
                    _ => wrong(&format!(
                        "недопустимая ставка НДС {}; возможные значения: {}",
                        show(v),
                        VAT_RATES.join(", ")
                    )),
                },
                "execution_date_time" if service => match text(v) {
                    Some(t) if t.is_empty() || sql_time(t) => {
                        line.insert(k.clone(), json!(t));
                    }
                    _ => wrong("ожидается дата в формате SQL (ГГГГ-ММ-ДД ЧЧ:ММ:СС)"),
                },
                _ => problems.push((attr.clone(), format!("Строка {n}: неизвестный атрибут {k}"))),
            }
        }
        out.push(line);
    }
    Some(out)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("«{s}»"),
        other => other.to_string(),
    }
}

/// Types and enums of the attributes given (create: the whole document, update: the changes).
/// Returns the typed attributes; unknown scalar attributes are kept as given.
fn check_attributes(
    fmt: Format,
    body: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in body {
        let mut wrong = |what: String| problems.push((k.clone(), what));
        match k.as_str() {
            "organization_id" | "contractor_id" | "contract_id" | "currency_id"
            | "price_type_id" => match int(fmt, v) {
                Some(id) => {
                    out.insert(k.clone(), json!(id));
                }
                None => wrong(format!(
                    "Ожидается целочисленный идентификатор, получено {}",
                    show(v)
                )),
            },
            "date_time" => match text(v) {
                Some(t) if sql_time(t) => {
                    out.insert(k.clone(), json!(t));
                }
                Some("") => {
                    wrong("Дата документа не заполнена (атрибут передан с пустым значением)".into())
                }
                _ => wrong(format!(
                    "Ожидается дата в формате SQL (ГГГГ-ММ-ДД ЧЧ:ММ:СС), получено {}",
                    show(v)
                )),
            },
            "number" => match v {
                Value::String(s) if !s.trim().is_empty() => {
                    out.insert(k.clone(), json!(s));
                }
                Value::String(_) => {
                    wrong("Номер документа не заполнен (атрибут передан с пустым значением)".into())
                }
                _ => wrong(format!("Ожидается строка, получено {}", show(v))),
            },
            "external_number" => match v {
                Value::String(s) => {
                    out.insert(k.clone(), json!(s));
                }
                _ => wrong(format!("Ожидается строка, получено {}", show(v))),
            },
            "status_id" => match text(v) {
                Some(s) if STATUSES.contains(&s) => {
                    out.insert(k.clone(), json!(s));
                }
                _ => wrong(format!(
                    "Недопустимый статус {}; возможные значения: {}",
                    show(v),
                    STATUSES.join(", ")
                )),
            },
            "is_price_include_vat" => match boolean(fmt, v) {
                Some(b) => {
                    out.insert(k.clone(), json!(b));
                }
                None => wrong(match fmt {
                    Format::Json => {
                        format!("Ожидается булево значение true/false, получено {}", show(v))
                    }
                    Format::Xml => format!("Ожидается 0 или 1, получено {}", show(v)),
                }),
            },
            "products" | "services" => {
                if let Some(lines) = check_lines(fmt, k, v, problems) {
                    out.insert(
                        k.clone(),
                        Value::Array(lines.into_iter().map(Value::Object).collect()),
                    );
                }
            }
            "id" => wrong("Идентификатор документа назначается системой".into()),
            _ => match v {
                Value::Array(_) | Value::Object(_) => wrong(format!("Неизвестный атрибут {k}")),
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            },
        }
    }
    out
}

// ---------------------------------------------------------------- documents

impl MrDoc {
    fn find(&self, id: &str) -> Option<usize> {
        let id: i64 = id.parse().ok()?;
        self.orders.iter().position(|o| o["id"] == json!(id))
    }

    fn first_contract(&mut self, contractor: i64) -> i64 {
        if let Some((id, _)) = self.contracts.iter().find(|(_, c)| *c == contractor) {
            return *id;
        }
        // "При отсутствии такового, будет автоматически создан новый договор."
        let id = self.next_contract;
        self.next_contract += 1;
        self.contracts.push((id, contractor));
        id
    }

    /// The references of a complete document: unknown ids answer 400 with the attribute.
    fn check_references(&self, doc: &Map<String, Value>, problems: &mut Vec<Problem>) {
        let id = |k: &str| doc.get(k).and_then(Value::as_i64);
        if let Some(o) = id("organization_id")
            && !ORGANIZATIONS.contains(&o)
        {
            problems.push((
                "organization_id".into(),
                format!("Организация с идентификатором {o} не найдена"),
            ));
        }
        let contractor = id("contractor_id");
        if let Some(c) = contractor
            && !CONTRACTORS.contains(&c)
        {
            problems.push((
                "contractor_id".into(),
                format!("Покупатель с идентификатором {c} не найден"),
            ));
        }
        if let Some(k) = id("contract_id") {
            match self.contracts.iter().find(|(id, _)| *id == k) {
                None => problems.push((
                    "contract_id".into(),
                    format!("Договор с идентификатором {k} не найден"),
                )),
                Some((_, owner)) if Some(*owner) != contractor => problems.push((
                    "contract_id".into(),
                    format!("Договор {k} заключен с другим контрагентом"),
                )),
                Some(_) => {}
            }
        }
        if let Some(c) = id("currency_id")
            && !CURRENCIES.iter().any(|(id, _)| *id == c)
        {
            problems.push((
                "currency_id".into(),
                format!("Валюта с идентификатором {c} не найдена"),
            ));
        }
        if let Some(p) = id("price_type_id")
            && !PRICE_TYPES.contains(&p)
        {
            problems.push((
                "price_type_id".into(),
                format!("Тип цен с идентификатором {p} не найден"),
            ));
        }
        for (list, id_key, catalogue, what) in [
            ("products", "product_id", PRODUCTS, "Товар"),
            ("services", "service_id", SERVICES, "Услуга"),
        ] {
            let lines = doc
                .get(list)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, line) in lines.iter().enumerate() {
                let n = i + 1;
                let Some(item) = line[id_key].as_i64() else {
                    continue;
                };
                let Some((_, skus, _)) = catalogue.iter().find(|(id, _, _)| *id == item) else {
                    problems.push((
                        format!("{list}.{id_key}"),
                        format!("Строка {n}: {what} с идентификатором {item} не найден(а)"),
                    ));
                    continue;
                };
                if let Some(sku) = line["sku_id"].as_i64()
                    && !skus.contains(&sku)
                {
                    problems.push((
                        format!("{list}.sku_id"),
                        format!("Строка {n}: модификация {sku} не принадлежит номенклатуре {item}"),
                    ));
                }
                if let Some(unit) = line["unit_id"].as_i64()
                    && !UNITS.iter().any(|(id, _)| *id == unit)
                {
                    problems.push((
                        format!("{list}.unit_id"),
                        format!("Строка {n}: единица измерения {unit} не найдена"),
                    ));
                }
                if let Some(a) = line["execution_address_id"].as_i64()
                    && !ADDRESSES.contains(&a)
                {
                    problems.push((
                        format!("{list}.execution_address_id"),
                        format!("Строка {n}: адрес с идентификатором {a} не найден"),
                    ));
                }
            }
        }
    }

    /// Fills what an absent key leaves to Mr.Doc on a new line: its id, the main modification,
    /// the base unit, the unit's factor, the sum and the VAT sum.
    fn fill_line(
        &mut self,
        line: &Map<String, Value>,
        service: bool,
        price_includes_vat: bool,
    ) -> Value {
        let id_key = if service { "service_id" } else { "product_id" };
        let catalogue = if service { SERVICES } else { PRODUCTS };
        let item = line.get(id_key).and_then(Value::as_i64).unwrap_or_default();
        let (main_sku, base_unit) = catalogue
            .iter()
            .find(|(id, _, _)| *id == item)
            .map(|(_, skus, unit)| (skus.first().copied().unwrap_or(item), *unit))
            .unwrap_or((item, 1));
        let get = |k: &str| line.get(k).cloned();
        let d = |k: &str| get(k).and_then(|v| dec(Format::Json, &v));
        let unit = get("unit_id").and_then(|v| v.as_i64()).unwrap_or(base_unit);
        let factor = d("factor").unwrap_or_else(|| {
            UNITS
                .iter()
                .find(|(id, _)| *id == unit)
                .map_or(Decimal::ONE, |(_, f)| Decimal::from(*f))
        });
        let quantity = d("quantity").unwrap_or_default();
        let price = d("price").unwrap_or_default();
        let rate = get("vat_rate_id")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "БезНДС".into());
        let sum = d("sum").unwrap_or_else(|| kopecks(quantity * price));
        let vat_sum = d("vat_sum").unwrap_or_else(|| vat_of(sum, &rate, price_includes_vat));
        let id = self.next_line;
        self.next_line += 1;
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert(id_key.into(), json!(item));
        out.insert("sku_id".into(), get("sku_id").unwrap_or(json!(main_sku)));
        out.insert("unit_id".into(), json!(unit));
        out.insert("factor".into(), number(factor));
        out.insert("quantity".into(), number(quantity));
        out.insert("price".into(), number(price));
        out.insert("sum".into(), number(sum));
        out.insert("vat_rate_id".into(), json!(rate));
        out.insert("vat_sum".into(), number(vat_sum));
        if service {
            for k in ["execution_address_id", "execution_date_time"] {
                if let Some(v) = get(k) {
                    out.insert(k.into(), v);
                }
            }
        }
        Value::Object(out)
    }

    /// Orders the attributes as Mr.Doc answers them: id, the article's attributes, others, lists.
    fn arrange(doc: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        if let Some(id) = doc.get("id") {
            out.insert("id".into(), id.clone());
        }
        for k in DOC_KEYS {
            if let Some(v) = doc.get(*k) {
                out.insert((*k).into(), v.clone());
            }
        }
        for (k, v) in doc {
            if k != "id" && k != "products" && k != "services" && !DOC_KEYS.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
        for k in ["products", "services"] {
            if let Some(Value::Array(lines)) = doc.get(k)
                && !lines.is_empty()
            {
                out.insert(k.into(), Value::Array(lines.clone()));
            }
        }
        Value::Object(out)
    }

    fn has_lines(doc: &Map<String, Value>) -> bool {
        ["products", "services"].iter().any(|k| {
            doc.get(*k)
                .and_then(Value::as_array)
                .is_some_and(|l| !l.is_empty())
        })
    }

    fn number_taken(&self, number: &Value, except: Option<&Value>) -> bool {
        self.orders
            .iter()
            .any(|o| &o["number"] == number && Some(&o["id"]) != except)
    }

    fn create(&mut self, fmt: Format, req: &SandboxRequest) -> SandboxReply {
        let body = match parse_body(fmt, req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let mut problems = Vec::new();
        let mut doc = check_attributes(fmt, &body, &mut problems);
        if !body.contains_key("contractor_id") {
            problems.push((
                "contractor_id".into(),
                "Обязательный атрибут contractor_id не заполнен".into(),
            ));
        }
        if !problems.is_empty() {
            return rejected(
                fmt,
                422,
                "Документ не соответствует формату обмена",
                &problems,
            );
        }
        self.check_references(&doc, &mut problems);
        if let Some(n) = doc.get("number")
            && self.number_taken(n, None)
        {
            problems.push((
                "number".into(),
                format!("Документ с номером {} уже существует", show(n)),
            ));
        }
        let status = doc
            .get("status_id")
            .and_then(Value::as_str)
            .unwrap_or(DRAFT)
            .to_string();
        if status == POSTED && !Self::has_lines(&doc) {
            problems.push((
                "status_id".into(),
                "Документ без товаров и услуг не может быть проведен".into(),
            ));
        }
        if !problems.is_empty() {
            return rejected(fmt, 400, "Ошибка при сохранении документа", &problems);
        }
        // Defaults of absent keys.
        let contractor = doc
            .get("contractor_id")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let id = self.next_id;
        self.next_id += 1;
        doc.insert("id".into(), json!(id));
        if !doc.contains_key("date_time") {
            doc.insert("date_time".into(), json!(now_moscow()));
        }
        if !doc.contains_key("number") {
            loop {
                let n = json!(format!("{:08}", self.next_number));
                self.next_number += 1;
                if !self.number_taken(&n, None) {
                    doc.insert("number".into(), n);
                    break;
                }
            }
        }
        doc.insert("status_id".into(), json!(status));
        if !doc.contains_key("organization_id") {
            doc.insert("organization_id".into(), json!(ORGANIZATIONS[0]));
        }
        if !doc.contains_key("contract_id") {
            let c = self.first_contract(contractor);
            doc.insert("contract_id".into(), json!(c));
        }
        if !doc.contains_key("currency_id") {
            doc.insert("currency_id".into(), json!(CURRENCIES[0].0));
        }
        if !doc.contains_key("is_price_include_vat") {
            doc.insert("is_price_include_vat".into(), json!(false));
        }
        let includes = doc["is_price_include_vat"].as_bool().unwrap_or(false);
        self.fill_lists(&mut doc, includes);
        let stored = Self::arrange(&doc);
        self.orders.push(stored.clone());
        reply(fmt, 200, &stored)
    }

    fn fill_lists(&mut self, doc: &mut Map<String, Value>, includes: bool) {
        for (list, service) in [("products", false), ("services", true)] {
            if let Some(Value::Array(lines)) = doc.get(list).cloned() {
                let filled: Vec<Value> = lines
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|l| self.fill_line(l, service, includes))
                    .collect();
                doc.insert(list.into(), Value::Array(filled));
            }
        }
    }

    fn update(&mut self, fmt: Format, i: usize, req: &SandboxRequest) -> SandboxReply {
        let body = match parse_body(fmt, req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let mut problems = Vec::new();
        if body.is_empty() {
            problems.push((
                "root".into(),
                "Не передано ни одного атрибута для изменения".into(),
            ));
        }
        let mut changes = check_attributes(fmt, &body, &mut problems);
        if !problems.is_empty() {
            return rejected(
                fmt,
                422,
                "Документ не соответствует формату обмена",
                &problems,
            );
        }
        let current = self.orders[i].as_object().cloned().unwrap_or_default();
        let status_now = current
            .get("status_id")
            .and_then(Value::as_str)
            .unwrap_or(DRAFT)
            .to_string();
        let status_to = changes
            .get("status_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| status_now.clone());
        if status_now == MARKED {
            if status_to == POSTED {
                problems.push((
                    "status_id".into(),
                    "Документ помечен на удаление и не может быть проведен: сначала снимите пометку (status_id Черновик)".into(),
                ));
            } else if status_to == MARKED && changes.keys().any(|k| k != "status_id") {
                problems.push((
                    "status_id".into(),
                    "Документ помечен на удаление: изменение невозможно".into(),
                ));
            }
        }
        let mut merged = current.clone();
        if let Some(c) = changes.get("contractor_id")
            && current.get("contractor_id") != Some(c)
            && !changes.contains_key("contract_id")
        {
            let c = c.as_i64().unwrap_or_default();
            if CONTRACTORS.contains(&c) {
                let k = self.first_contract(c);
                changes.insert("contract_id".into(), json!(k));
            }
        }
        for (k, v) in &changes {
            merged.insert(k.clone(), v.clone());
        }
        self.check_references(&merged, &mut problems);
        if let Some(n) = changes.get("number")
            && self.number_taken(n, current.get("id"))
        {
            problems.push((
                "number".into(),
                format!("Документ с номером {} уже существует", show(n)),
            ));
        }
        if status_to == POSTED && !Self::has_lines(&merged) {
            problems.push((
                "status_id".into(),
                "Документ без товаров и услуг не может быть проведен".into(),
            ));
        }
        if !problems.is_empty() {
            return rejected(fmt, 400, "Ошибка при сохранении документа", &problems);
        }
        // New lines (given lists replace the stored ones) get ids and computed values.
        let includes = merged
            .get("is_price_include_vat")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut new_lists = Map::new();
        for list in ["products", "services"] {
            if let Some(v) = changes.get(list) {
                new_lists.insert(list.into(), v.clone());
            }
        }
        self.fill_lists(&mut new_lists, includes);
        for (k, v) in new_lists {
            merged.insert(k, v);
        }
        let stored = Self::arrange(&merged);
        self.orders[i] = stored.clone();
        reply(fmt, 200, &stored)
    }

    fn list(&self, fmt: Format, req: &SandboxRequest) -> SandboxReply {
        let mut problems = Vec::new();
        let mut limit = 50usize;
        let mut offset = 0usize;
        let mut keep: Vec<Filter> = Vec::new();
        let mut keys: Vec<&String> = req.query.keys().collect();
        keys.sort();
        for k in keys {
            let v = req.query.get(k).cloned().unwrap_or_default();
            match k.as_str() {
                "status_id" if STATUSES.contains(&v.as_str()) => {
                    keep.push(Box::new(move |o| o["status_id"] == v.as_str()));
                }
                "status_id" => problems.push((
                    k.clone(),
                    format!(
                        "Недопустимый статус «{v}»; возможные значения: {}",
                        STATUSES.join(", ")
                    ),
                )),
                "contractor_id" => match v.parse::<i64>() {
                    Ok(c) if is_int_text(&v) => {
                        keep.push(Box::new(move |o| o["contractor_id"] == json!(c)))
                    }
                    _ => problems.push((
                        k.clone(),
                        format!("Ожидается целочисленный идентификатор, получено «{v}»"),
                    )),
                },
                "external_number" => {
                    keep.push(Box::new(move |o| o["external_number"] == v.as_str()))
                }
                "date_time_from" | "date_time_to" if sql_time(&v) => {
                    let from = k == "date_time_from";
                    keep.push(Box::new(move |o| {
                        let d = o["date_time"].as_str().unwrap_or("");
                        if from {
                            d >= v.as_str()
                        } else {
                            d <= v.as_str()
                        }
                    }));
                }
                "date_time_from" | "date_time_to" => problems.push((
                    k.clone(),
                    format!("Ожидается дата в формате SQL (ГГГГ-ММ-ДД ЧЧ:ММ:СС), получено «{v}»"),
                )),
                "limit" => match v.parse::<usize>() {
                    Ok(n) if n >= 1 && is_int_text(&v) => limit = n,
                    _ => problems.push((
                        k.clone(),
                        format!("limit — целое число не меньше 1, получено «{v}»"),
                    )),
                },
                "offset" => match v.parse::<usize>() {
                    Ok(n) if is_int_text(&v) => offset = n,
                    _ => problems.push((
                        k.clone(),
                        format!("offset — целое число не меньше 0, получено «{v}»"),
                    )),
                },
                _ => problems.push((k.clone(), format!("Неизвестный параметр отбора {k}"))),
            }
        }
        if !problems.is_empty() {
            return rejected(fmt, 400, "Некорректные параметры запроса", &problems);
        }
        let rows: Vec<Value> = self
            .orders
            .iter()
            .filter(|o| keep.iter().all(|f| f(o)))
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        reply(fmt, 200, &Value::Array(rows))
    }

    fn delete(&mut self, fmt: Format, i: usize) -> SandboxReply {
        if self.orders[i]["status_id"] == POSTED {
            return rejected(
                fmt,
                400,
                "Проведенный документ не может быть удален: сначала пометьте его на удаление",
                &[("status_id".into(), "Документ проведен".into())],
            );
        }
        let doc = self.orders.remove(i);
        reply(fmt, 200, &json!({ "id": doc["id"] }))
    }
}

impl Vendor for MrDoc {
    fn handle(&mut self, req: &SandboxRequest) -> SandboxReply {
        // HTTP Basic with the API user's login and password.
        let user = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|pair| {
                let (login, password) = pair.split_once(':')?;
                (password == SANDBOX_SECRET
                    && (login == SANDBOX_LOGIN || login == SANDBOX_READONLY_LOGIN))
                    .then(|| login.to_string())
            });
        let Some(user) = user else {
            return unauthorized();
        };
        let Some(rest) = req.path.strip_prefix(COLLECTION) else {
            return rejected(Format::Json, 404, "Страница не найдена", &[]);
        };
        let (stem, fmt) = if let Some(s) = rest.strip_suffix(".json") {
            (s, Format::Json)
        } else if let Some(s) = rest.strip_suffix(".xml") {
            (s, Format::Xml)
        } else {
            return rejected(
                Format::Json,
                404,
                "Неизвестный формат обмена: адрес оканчивается на .json или .xml",
                &[],
            );
        };
        let writes = matches!(req.method, Method::PUT | Method::POST | Method::DELETE);
        if writes && user == SANDBOX_READONLY_LOGIN {
            return rejected(
                fmt,
                403,
                "Недостаточно прав для выполнения операции API: Заказ покупателя",
                &[],
            );
        }
        let method_not_allowed = || rejected(fmt, 405, "Метод не поддерживается", &[]);
        if stem.is_empty() {
            return match req.method {
                Method::PUT => self.create(fmt, req),
                Method::GET => self.list(fmt, req),
                _ => method_not_allowed(),
            };
        }
        let Some(id) = stem.strip_prefix('/').filter(|id| is_int_text(id)) else {
            return rejected(fmt, 404, "Страница не найдена", &[]);
        };
        let Some(i) = self.find(id) else {
            return not_found(fmt);
        };
        match req.method {
            Method::GET => reply(fmt, 200, &self.orders[i]),
            Method::POST => self.update(fmt, i, req),
            Method::DELETE => self.delete(fmt, i),
            _ => method_not_allowed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn basic(login: &str) -> String {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{login}:{SANDBOX_SECRET}"));
        format!("Basic {token}")
    }

    fn req_as(login: &str, method: Method, target: &str, ct: &str, body: &str) -> SandboxRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", basic(login).parse().expect("h"));
        if !ct.is_empty() {
            headers.insert("content-type", ct.parse().expect("h"));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        SandboxRequest {
            method,
            path: path.into(),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    fn json_req(method: Method, target: &str, body: Value) -> SandboxRequest {
        req_as(
            SANDBOX_LOGIN,
            method,
            target,
            "application/json",
            &body.to_string(),
        )
    }

    fn xml_req(method: Method, target: &str, body: &str) -> SandboxRequest {
        req_as(
            SANDBOX_LOGIN,
            method,
            target,
            "application/xml; charset=utf-8",
            body,
        )
    }

    fn body(r: &SandboxReply) -> Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    fn xml_body(r: &SandboxReply) -> Value {
        xml_codec::decode(&r.body, &xml_options())
            .expect("xml")
            .into()
    }

    #[test]
    fn json_create_fills_defaults_and_computes_sums() {
        let mut m = MrDoc::default();
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"contractor_id": 1, "currency_id": 2, "external_number": "WEB-1",
                   "products": [{"product_id": 1, "quantity": 3, "price": 0.1, "vat_rate_id": "НДС18"},
                                {"product_id": 113, "quantity": 2, "price": 59, "vat_rate_id": "НДС18_118"}]}),
        ));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let d = body(&r);
        assert_eq!(d["id"], 1);
        assert_eq!(d["number"], "00000001");
        assert_eq!(d["status_id"], "Черновик");
        assert_eq!(d["organization_id"], 1);
        assert_eq!(d["contract_id"], 1);
        assert_eq!(d["is_price_include_vat"], false);
        assert!(sql_time(d["date_time"].as_str().expect("date")));
        let p = &d["products"];
        assert_eq!(p[0]["sku_id"], 1);
        assert_eq!(p[0]["unit_id"], 1);
        assert_eq!(p[0]["sum"].to_string(), "0.3");
        assert_eq!(p[0]["vat_sum"].to_string(), "0.05");
        assert_eq!(p[1]["sku_id"], 145);
        assert_eq!(p[1]["sum"].to_string(), "118");
        assert_eq!(p[1]["vat_sum"].to_string(), "18");
        assert!(d.get("services").is_none());

        let r = m.handle(&json_req(
            Method::GET,
            "/api/1/DocSaleOrder/1.json",
            Value::Null,
        ));
        assert_eq!(body(&r), d);
        // a new contractor without a contract gets a new one
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"contractor_id": 51}),
        ));
        assert_eq!(body(&r)["contract_id"], 100);
    }

    #[test]
    fn json_create_is_checked_strictly() {
        let mut m = MrDoc::default();
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"contractor_id": "1", "status_id": "draft", "date_time": "2014-01-01T12:00:00",
                   "is_price_include_vat": 0,
                   "products": [{"product_id": 1.5, "quantity": 1, "vat_rate_id": "НДС20"}]}),
        ));
        assert_eq!(r.status, 422);
        let e = body(&r);
        for attr in [
            "contractor_id",
            "status_id",
            "date_time",
            "is_price_include_vat",
            "products.product_id",
            "products.price",
            "products.vat_rate_id",
        ] {
            assert!(e["errors"].get(attr).is_some(), "{attr}: {e}");
        }
        // required contractor; a present empty date_time is not absent
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"date_time": ""}),
        ));
        assert_eq!(r.status, 422);
        assert!(body(&r)["errors"]["contractor_id"].is_array());
        assert!(body(&r)["errors"]["date_time"].is_array());
        // unknown data: 400
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"contractor_id": 404, "contract_id": 55,
                   "services": [{"service_id": 5, "quantity": 1, "price": 1, "vat_rate_id": "БезНДС", "sku_id": 9}]}),
        ));
        assert_eq!(r.status, 400);
        let e = body(&r);
        assert!(
            e["error"]
                .as_str()
                .is_some_and(|t| t.starts_with("Ошибка при сохранении документа: Покупатель")),
            "{e}"
        );
        assert_eq!(
            e["errors"]["contractor_id"][0],
            "Покупатель с идентификатором 404 не найден"
        );
        assert!(e["errors"]["services.sku_id"].is_array());
        assert!(e["errors"]["contract_id"].is_array());
        // wrong content type
        let r = m.handle(&req_as(
            SANDBOX_LOGIN,
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            "application/xml",
            "<root/>",
        ));
        assert_eq!(r.status, 415);
    }

    #[test]
    fn xml_create_read_and_list_answer_in_xml() {
        let mut m = MrDoc::default();
        let doc = "<root><contractor_id>50</contractor_id><currency_id>1</currency_id>\
            <is_price_include_vat>1</is_price_include_vat><external_number>SF-1</external_number>\
            <services list=\"true\"><item><service_id>5</service_id><quantity>1.5</quantity>\
            <price>1180</price><vat_rate_id>НДС18</vat_rate_id>\
            <execution_address_id>198</execution_address_id>\
            <execution_date_time>2026-07-02 10:00:00</execution_date_time></item></services></root>";
        let r = m.handle(&xml_req(Method::PUT, "/api/1/DocSaleOrder.xml", doc));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.content_type, "application/xml; charset=utf-8");
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert!(
            text.contains("<is_price_include_vat>1</is_price_include_vat>"),
            "{text}"
        );
        assert!(
            text.contains("<services list=\"true\"><item><id>1</id>"),
            "{text}"
        );
        let d = xml_body(&r);
        assert_eq!(d["contract_id"], "55");
        assert_eq!(d["services"][0]["sum"], "1770");
        assert_eq!(d["services"][0]["vat_sum"], "270");

        let r = m.handle(&xml_req(
            Method::GET,
            "/api/1/DocSaleOrder.xml?external_number=SF-1&limit=1",
            "",
        ));
        assert_eq!(r.status, 200);
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert!(
            text.contains("<root list=\"true\"><item><id>1</id>"),
            "{text}"
        );
        let r = m.handle(&json_req(
            Method::GET,
            "/api/1/DocSaleOrder.json?external_number=nope",
            Value::Null,
        ));
        assert_eq!(body(&r), json!([]));
        let r = m.handle(&json_req(
            Method::GET,
            "/api/1/DocSaleOrder.json?status=draft",
            Value::Null,
        ));
        assert_eq!(r.status, 400);
    }

    #[test]
    fn xml_shape_and_types_are_checked() {
        let mut m = MrDoc::default();
        let put = |m: &mut MrDoc, doc: &str| {
            m.handle(&xml_req(Method::PUT, "/api/1/DocSaleOrder.xml", doc))
        };
        // a list without list="true"
        let r = put(
            &mut m,
            "<root><contractor_id>1</contractor_id><products><item><product_id>1</product_id></item></products></root>",
        );
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        // a list element that is not <item>
        let r = put(
            &mut m,
            "<root><contractor_id>1</contractor_id><products list=\"true\"><product><product_id>1</product_id></product></products></root>",
        );
        assert_eq!(r.status, 400);
        // another root
        let r = put(&mut m, "<order><contractor_id>1</contractor_id></order>");
        assert_eq!(r.status, 400);
        // XML booleans are 0/1, numbers plain
        let r = put(
            &mut m,
            "<root><contractor_id>1</contractor_id><is_price_include_vat>false</is_price_include_vat>\
            <products list=\"true\"><item><product_id>1</product_id><quantity>2,5</quantity><price>1</price>\
            <vat_rate_id>БезНДС</vat_rate_id></item></products></root>",
        );
        assert_eq!(r.status, 422);
        let e = xml_body(&r);
        assert!(e["errors"]["is_price_include_vat"].is_string(), "{e}");
        assert!(e["errors"]["products.quantity"].is_string(), "{e}");
    }

    #[test]
    fn post_void_delete_and_auth() {
        let mut m = MrDoc::default();
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"contractor_id": 1, "products": [{"product_id": 1, "quantity": 2, "price": 12.5, "vat_rate_id": "БезНДС"}]}),
        ));
        assert_eq!(r.status, 200);
        let r = m.handle(&xml_req(
            Method::POST,
            "/api/1/DocSaleOrder/1.xml",
            "<root><status_id>Проведен</status_id></root>",
        ));
        assert_eq!(r.status, 200);
        assert_eq!(xml_body(&r)["status_id"], "Проведен");
        let r = m.handle(&json_req(
            Method::DELETE,
            "/api/1/DocSaleOrder/1.json",
            Value::Null,
        ));
        assert_eq!(r.status, 400, "a posted document is not deleted");
        let r = m.handle(&json_req(
            Method::POST,
            "/api/1/DocSaleOrder/1.json",
            json!({"status_id": "ПомеченНаУдаление"}),
        ));
        assert_eq!(body(&r)["status_id"], "ПомеченНаУдаление");
        let r = m.handle(&json_req(
            Method::POST,
            "/api/1/DocSaleOrder/1.json",
            json!({"status_id": "Проведен"}),
        ));
        assert_eq!(r.status, 400, "a marked document cannot be posted");
        let r = m.handle(&json_req(
            Method::POST,
            "/api/1/DocSaleOrder/1.json",
            json!({}),
        ));
        assert_eq!(r.status, 422);
        let r = m.handle(&req_as(
            SANDBOX_READONLY_LOGIN,
            Method::DELETE,
            "/api/1/DocSaleOrder/1.json",
            "",
            "",
        ));
        assert_eq!(r.status, 403);
        let r = m.handle(&req_as(
            SANDBOX_READONLY_LOGIN,
            Method::GET,
            "/api/1/DocSaleOrder/1.json",
            "",
            "",
        ));
        assert_eq!(r.status, 200);
        let r = m.handle(&json_req(
            Method::DELETE,
            "/api/1/DocSaleOrder/1.json",
            Value::Null,
        ));
        assert_eq!(r.status, 200);
        assert_eq!(body(&r), json!({"id": 1}));
        let r = m.handle(&json_req(
            Method::GET,
            "/api/1/DocSaleOrder/1.json",
            Value::Null,
        ));
        assert_eq!(r.status, 404);
        let r = m.handle(&req_as(
            "intruder",
            Method::GET,
            "/api/1/DocSaleOrder.json",
            "",
            "",
        ));
        assert_eq!(r.status, 401);
        // a draft without lines cannot be posted
        let r = m.handle(&json_req(
            Method::PUT,
            "/api/1/DocSaleOrder.json",
            json!({"contractor_id": 1, "status_id": "Проведен"}),
        ));
        assert_eq!(r.status, 400);
    }
}
