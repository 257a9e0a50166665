//! The canonical bodies as typed structs that borrow from the request body: an order to
//! create, an order's update, a payment. Reading one makes the contract's checks as it goes
//! (types, required fields, unknown members, enums, lengths, patterns, date formats, bounds,
//! exact decimals), so a valid body is checked by one pass that allocates only the lines'
//! and payments' vectors.
//!
//! The request body is parsed once, by `codec::json`, into the engine's [`Value`] (whose
//! strings are slices of the body's bytes); these structs borrow from that value, so their
//! `&str`s are the body's own bytes. The mappings' selectors keep reading the value itself: they
//! may select any member, `vendor_fields` and line `attributes` included.
//!
//! `schemas/order.schema.json` stays the contract: `validate` reads the typed struct first and
//! asks the JSON Schema validator only when the reading refuses a body, to say every place it
//! breaks the contract, with pointers. So a reading must never accept what the schema refuses;
//! it may refuse more (a leap second, a `t` separator, `-0` as a price), which costs the
//! schema's walk and nothing else. The tests here and the `typed_order` fuzz target hold it to
//! that.

use rust_decimal::Decimal;

use crate::engine::convert::parse_exact_decimal;
use crate::value::{Map, Value};

/// `OrderStatus` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Draft,
    Confirmed,
    Cancelled,
    Completed,
}

/// `PaymentStatus` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Unpaid,
    PartiallyPaid,
    Paid,
    Unknown,
}

/// `DeliveryStatus` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    PartiallyDelivered,
    Delivered,
    Rejected,
    Unknown,
}

/// `LineKind` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Product,
    Service,
}

/// `OrderCreate`: the body of `POST .../orders`.
#[derive(Debug, Default)]
pub struct OrderCreate<'a> {
    pub external_ref: Option<&'a str>,
    pub status: Option<OrderStatus>,
    pub payment_status: Option<PaymentStatus>,
    pub delivery_status: Option<DeliveryStatus>,
    pub customer: Customer<'a>,
    pub order_date: Option<&'a str>,
    pub delivery_date: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub exchange_rate: Option<Decimal>,
    pub prices_include_tax: Option<bool>,
    pub lines: Vec<Line<'a>>,
    pub billing_address: Option<Address<'a>>,
    pub shipping_address: Option<Address<'a>>,
    pub totals: Option<Totals>,
    pub payments: Vec<Payment<'a>>,
    pub notes: Option<&'a str>,
    pub vendor_fields: Option<&'a Map>,
}

/// `OrderUpdate`: the body of `PATCH .../orders/{id}`.
#[derive(Debug, Default)]
pub struct OrderUpdate<'a> {
    pub status: Option<OrderStatus>,
    pub payment_status: Option<PaymentStatus>,
    pub delivery_status: Option<DeliveryStatus>,
    pub delivery_date: Option<&'a str>,
    pub payments: Vec<Payment<'a>>,
    pub notes: Option<&'a str>,
    pub vendor_fields: Option<&'a Map>,
}

/// `Customer`; an order to create names its `id`.
#[derive(Debug, Default)]
pub struct Customer<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub tax_id: Option<&'a str>,
}

/// `Address`.
#[derive(Debug, Default)]
pub struct Address<'a> {
    pub name: Option<&'a str>,
    pub company: Option<&'a str>,
    pub line1: Option<&'a str>,
    pub line2: Option<&'a str>,
    pub city: Option<&'a str>,
    pub region: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// `LineCreate`: a line of an order to create.
#[derive(Debug, Default)]
pub struct Line<'a> {
    pub kind: Option<LineKind>,
    pub product_id: Option<&'a str>,
    pub sku: Option<&'a str>,
    pub variant_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub quantity: Decimal,
    pub unit: Option<&'a str>,
    pub unit_price: Option<Decimal>,
    pub discount_percent: Option<Decimal>,
    pub tax_code: Option<&'a str>,
    pub tax_rate: Option<Decimal>,
    pub tax_amount: Option<Decimal>,
    pub total: Option<Decimal>,
    pub delivery_date: Option<&'a str>,
    pub attributes: Option<&'a Map>,
    pub booking_ref: Option<&'a str>,
    pub service_address_id: Option<&'a str>,
    pub service_at: Option<&'a str>,
}

/// `Totals`.
#[derive(Debug, Default)]
pub struct Totals {
    pub net: Option<Decimal>,
    pub tax: Option<Decimal>,
    pub shipping: Option<Decimal>,
    pub discount: Option<Decimal>,
    pub gross: Option<Decimal>,
}

/// `Payment` with its `amount`: an order's payment, or the body of `POST .../payments`
/// (`PaymentCreate`, whose amount is above zero).
#[derive(Debug, Default)]
pub struct Payment<'a> {
    pub method: Option<&'a str>,
    pub amount: Decimal,
    pub paid_at: Option<&'a str>,
    pub reference: Option<&'a str>,
}

/// The contract's `maxLength`s.
const SHORT: usize = 255;
const LONG: usize = 4000;
const REFERENCE: usize = 140;
/// The contract's `maxItems` of lines and payments.
const MAX_ITEMS: usize = 1000;

impl<'a> OrderCreate<'a> {
    /// The order `body` holds; `None` when it breaks the contract anywhere.
    pub fn read(body: &'a Value) -> Option<OrderCreate<'a>> {
        let mut o = OrderCreate::default();
        let (mut customer, mut lines) = (false, false);
        for (name, v) in body.as_object()? {
            match name.as_str() {
                "external_ref" => o.external_ref = Some(text(v, REFERENCE)?),
                "status" => o.status = Some(OrderStatus::read(v)?),
                "payment_status" => o.payment_status = Some(PaymentStatus::read(v)?),
                "delivery_status" => o.delivery_status = Some(DeliveryStatus::read(v)?),
                "customer" => {
                    o.customer = Customer::read(v)?;
                    customer = true;
                }
                "order_date" => o.order_date = Some(date(v)?),
                "delivery_date" => o.delivery_date = Some(date(v)?),
                "currency" => o.currency = Some(upper_code(v, 3)?),
                "exchange_rate" => o.exchange_rate = Some(above_zero(v)?),
                "prices_include_tax" => o.prices_include_tax = Some(v.as_bool()?),
                "lines" => {
                    o.lines = items(v, 1, Line::read)?;
                    lines = true;
                }
                "billing_address" => o.billing_address = Some(Address::read(v)?),
                "shipping_address" => o.shipping_address = Some(Address::read(v)?),
                "totals" => o.totals = Some(Totals::read(v)?),
                "payments" => o.payments = items(v, 0, Payment::read)?,
                "notes" => o.notes = Some(text(v, LONG)?),
                "vendor_fields" => o.vendor_fields = Some(free_object(v)?),
                _ => return None,
            }
        }
        (customer && lines).then_some(o)
    }
}

impl<'a> OrderUpdate<'a> {
    /// The update `body` holds; `None` when it breaks the contract anywhere (an empty update
    /// does).
    pub fn read(body: &'a Value) -> Option<OrderUpdate<'a>> {
        let mut u = OrderUpdate::default();
        let members = body.as_object()?;
        if members.is_empty() {
            return None;
        }
        for (name, v) in members {
            match name.as_str() {
                "status" => u.status = Some(OrderStatus::read(v)?),
                "payment_status" => u.payment_status = Some(PaymentStatus::read(v)?),
                "delivery_status" => u.delivery_status = Some(DeliveryStatus::read(v)?),
                "delivery_date" => u.delivery_date = Some(date(v)?),
                "payments" => u.payments = items(v, 0, Payment::read)?,
                "notes" => u.notes = Some(text(v, LONG)?),
                "vendor_fields" => u.vendor_fields = Some(free_object(v)?),
                _ => return None,
            }
        }
        Some(u)
    }
}

impl<'a> Customer<'a> {
    fn read(v: &'a Value) -> Option<Customer<'a>> {
        let mut c = Customer::default();
        let mut id = false;
        for (name, v) in v.as_object()? {
            match name.as_str() {
                "id" => {
                    c.id = text(v, SHORT)?;
                    id = true;
                }
                "name" => c.name = Some(text(v, SHORT)?),
                "email" => c.email = Some(text(v, SHORT)?),
                "phone" => c.phone = Some(text(v, SHORT)?),
                "tax_id" => c.tax_id = Some(text(v, SHORT)?),
                _ => return None,
            }
        }
        id.then_some(c)
    }
}

impl<'a> Address<'a> {
    fn read(v: &'a Value) -> Option<Address<'a>> {
        let mut a = Address::default();
        for (name, v) in v.as_object()? {
            let field = match name.as_str() {
                "country" => {
                    a.country = Some(upper_code(v, 2)?);
                    continue;
                }
                "name" => &mut a.name,
                "company" => &mut a.company,
                "line1" => &mut a.line1,
                "line2" => &mut a.line2,
                "city" => &mut a.city,
                "region" => &mut a.region,
                "postal_code" => &mut a.postal_code,
                "phone" => &mut a.phone,
                "email" => &mut a.email,
                _ => return None,
            };
            *field = Some(text(v, SHORT)?);
        }
        Some(a)
    }
}

impl<'a> Line<'a> {
    fn read(v: &'a Value) -> Option<Line<'a>> {
        let mut l = Line::default();
        let mut quantity = false;
        for (name, v) in v.as_object()? {
            match name.as_str() {
                "kind" => l.kind = Some(LineKind::read(v)?),
                "product_id" => l.product_id = Some(text(v, SHORT)?),
                "sku" => l.sku = Some(text(v, SHORT)?),
                "variant_id" => l.variant_id = Some(text(v, SHORT)?),
                "description" => l.description = Some(text(v, LONG)?),
                "quantity" => {
                    l.quantity = above_zero(v)?;
                    quantity = true;
                }
                "unit" => l.unit = Some(text(v, SHORT)?),
                "unit_price" => l.unit_price = Some(at_least_zero(v)?),
                "discount_percent" => {
                    let d = at_least_zero(v).filter(|d| *d <= Decimal::ONE_HUNDRED)?;
                    l.discount_percent = Some(d);
                }
                "tax_code" => l.tax_code = Some(text(v, SHORT)?),
                "tax_rate" => l.tax_rate = Some(at_least_zero(v)?),
                "tax_amount" => l.tax_amount = Some(at_least_zero(v)?),
                "total" => l.total = Some(at_least_zero(v)?),
                "delivery_date" => l.delivery_date = Some(date(v)?),
                "attributes" => l.attributes = Some(attributes(v)?),
                "booking_ref" => l.booking_ref = Some(text(v, SHORT)?),
                "service_address_id" => l.service_address_id = Some(text(v, SHORT)?),
                "service_at" => l.service_at = Some(date_time(v)?),
                _ => return None,
            }
        }
        quantity.then_some(l)
    }
}

impl Totals {
    fn read(v: &Value) -> Option<Totals> {
        let mut t = Totals::default();
        for (name, v) in v.as_object()? {
            let field = match name.as_str() {
                "net" => &mut t.net,
                "tax" => &mut t.tax,
                "shipping" => &mut t.shipping,
                "discount" => &mut t.discount,
                "gross" => &mut t.gross,
                _ => return None,
            };
            *field = Some(at_least_zero(v)?);
        }
        Some(t)
    }
}

impl<'a> Payment<'a> {
    /// A payment of an order: its amount is at least zero.
    fn read(v: &'a Value) -> Option<Payment<'a>> {
        let mut p = Payment::default();
        let mut amount = false;
        for (name, v) in v.as_object()? {
            match name.as_str() {
                "method" => p.method = Some(text(v, SHORT)?),
                "amount" => {
                    p.amount = at_least_zero(v)?;
                    amount = true;
                }
                "paid_at" => p.paid_at = Some(date_time(v)?),
                "reference" => p.reference = Some(text(v, SHORT)?),
                _ => return None,
            }
        }
        amount.then_some(p)
    }

    /// The body of `POST .../payments`: a payment whose amount is above zero.
    pub fn read_create(body: &'a Value) -> Option<Payment<'a>> {
        let p = Payment::read(body)?;
        (p.amount > Decimal::ZERO).then_some(p)
    }
}

impl OrderStatus {
    fn read(v: &Value) -> Option<OrderStatus> {
        Some(match v.as_str()? {
            "draft" => OrderStatus::Draft,
            "confirmed" => OrderStatus::Confirmed,
            "cancelled" => OrderStatus::Cancelled,
            "completed" => OrderStatus::Completed,
            _ => return None,
        })
    }
}

impl PaymentStatus {
    fn read(v: &Value) -> Option<PaymentStatus> {
        Some(match v.as_str()? {
            "unpaid" => PaymentStatus::Unpaid,
            "partially_paid" => PaymentStatus::PartiallyPaid,
            "paid" => PaymentStatus::Paid,
            "unknown" => PaymentStatus::Unknown,
            _ => return None,
        })
    }
}

impl DeliveryStatus {
    fn read(v: &Value) -> Option<DeliveryStatus> {
        Some(match v.as_str()? {
            "pending" => DeliveryStatus::Pending,
            "partially_delivered" => DeliveryStatus::PartiallyDelivered,
            "delivered" => DeliveryStatus::Delivered,
            "rejected" => DeliveryStatus::Rejected,
            "unknown" => DeliveryStatus::Unknown,
            _ => return None,
        })
    }
}

impl LineKind {
    fn read(v: &Value) -> Option<LineKind> {
        Some(match v.as_str()? {
            "product" => LineKind::Product,
            "service" => LineKind::Service,
            _ => return None,
        })
    }
}

/// An array of `min..=MAX_ITEMS` items, each read by `read`.
fn items<'a, T>(v: &'a Value, min: usize, read: fn(&'a Value) -> Option<T>) -> Option<Vec<T>> {
    let items = v.as_array()?;
    if !(min..=MAX_ITEMS).contains(&items.len()) {
        return None;
    }
    // Sized once (collecting into an `Option` cannot know the length and grows the vector).
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(read(item)?);
    }
    Some(out)
}

/// A string of at most `max` characters (code points, as JSON Schema counts them).
fn text(v: &Value, max: usize) -> Option<&str> {
    v.as_str().filter(|s| short(s, max))
}

/// At most `max` characters; the bytes answer first when they are few enough.
fn short(s: &str, max: usize) -> bool {
    s.len() <= max || s.chars().count() <= max
}

/// `^[A-Z]{n}$`: a currency or country code.
fn upper_code(v: &Value, n: usize) -> Option<&str> {
    let s = v.as_str()?;
    (s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase())).then_some(s)
}

/// A number the gateway carries exactly.
fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => parse_exact_decimal(n.as_str()),
        _ => None,
    }
}

/// `minimum: 0`. `-0` is refused here (the schema says where it stands).
fn at_least_zero(v: &Value) -> Option<Decimal> {
    decimal(v).filter(|d| !d.is_sign_negative())
}

/// `exclusiveMinimum: 0`.
fn above_zero(v: &Value) -> Option<Decimal> {
    decimal(v).filter(|d| d.is_sign_positive() && !d.is_zero())
}

/// An object of any members whose numbers are all exact decimals (`vendor_fields`).
fn free_object(v: &Value) -> Option<&Map> {
    v.as_object().filter(|_| super::validate::all_exact(v))
}

/// A line's `attributes`: names and values of at most 255 characters.
fn attributes(v: &Value) -> Option<&Map> {
    let map = v.as_object()?;
    for (name, v) in map {
        if !short(name, SHORT) {
            return None;
        }
        text(v, SHORT)?;
    }
    Some(map)
}

/// `format: date` (RFC 3339 `full-date`): `YYYY-MM-DD`, a day the month has.
fn date(v: &Value) -> Option<&str> {
    let s = v.as_str()?;
    full_date(s.as_bytes()).then_some(s)
}

/// `format: date-time` (RFC 3339), as the subset `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`
/// with a capital `T` and `Z` and no leap second; others are left to the schema.
fn date_time(v: &Value) -> Option<&str> {
    let s = v.as_str()?;
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' || !full_date(&b[..10]) {
        return None;
    }
    let (hour, minute, second) = (two(&b[11..13])?, two(&b[14..16])?, two(&b[17..19])?);
    if b[13] != b':' || b[16] != b':' || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            two(&[*h1, *h2]).is_some_and(|h| h <= 23) && two(&[*m1, *m2]).is_some_and(|m| m <= 59)
        }
        _ => false,
    };
    offset.then_some(s)
}

fn full_date(b: &[u8]) -> bool {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *b else {
        return false;
    };
    let (Some(hi), Some(lo), Some(month), Some(day)) = (
        two(&[y1, y2]),
        two(&[y3, y4]),
        two(&[m1, m2]),
        two(&[d1, d2]),
    ) else {
        return false;
    };
    let year = i32::from(hi) * 100 + i32::from(lo);
    chrono::NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day)).is_some()
}

/// Two ASCII digits.
fn two(b: &[u8]) -> Option<u8> {
    match *b {
        [t @ b'0'..=b'9', u @ b'0'..=b'9'] => Some((t - b'0') * 10 + (u - b'0')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::validate::{Body, schema_accepts, typed_accepts};
    use crate::json;

    /// An order to create with every member the contract has.
    fn full_order() -> serde_json::Value {
        serde_json::json!({
            "external_ref": "WEB-1001",
            "status": "confirmed",
            "payment_status": "partially_paid",
            "delivery_status": "pending",
            "customer": {"id": "C-1", "name": "Ada", "email": "ada@example.com",
                         "phone": "+33 1", "tax_id": "FR1"},
            "order_date": "2024-02-29",
            "delivery_date": "2026-12-01",
            "currency": "EUR",
            "exchange_rate": 1.25,
            "prices_include_tax": false,
            "lines": [
                {"kind": "product", "product_id": "P1", "sku": "SKU-1", "variant_id": "V1",
                 "description": "A thing", "quantity": 2, "unit": "pcs", "unit_price": 10.5,
                 "discount_percent": 100, "tax_code": "VAT20", "tax_rate": 20,
                 "tax_amount": 4.2, "total": 25.2, "delivery_date": "2026-12-02",
                 "attributes": {"colour": "red"}},
                {"kind": "service", "description": "Fitting", "quantity": 0.5,
                 "booking_ref": "B-1", "service_address_id": "A-9",
                 "service_at": "2026-12-03T09:30:00.250+01:00"}
            ],
            "billing_address": {"name": "Ada", "company": "AE", "line1": "1 rue", "line2": "b",
                                "city": "Paris", "region": "IDF", "postal_code": "75001",
                                "country": "FR", "phone": "+33", "email": "b@example.com"},
            "shipping_address": {"city": "Lyon", "country": "FR"},
            "totals": {"net": 21, "tax": 4.2, "shipping": 0, "discount": 0, "gross": 25.2},
            "payments": [{"method": "card", "amount": 10, "paid_at": "2026-11-23T10:00:00Z",
                          "reference": "PAY-1"}],
            "notes": "Leave at the door",
            "vendor_fields": {"custom_channel": "web", "weight": 1.5, "nested": [1, {"a": 2}]}
        })
    }

    fn full_update() -> serde_json::Value {
        serde_json::json!({
            "status": "cancelled", "payment_status": "paid", "delivery_status": "delivered",
            "delivery_date": "2026-12-05",
            "payments": [{"amount": 0, "paid_at": "2026-11-23T10:00:00-05:30"}],
            "notes": "n", "vendor_fields": {"x": 1}
        })
    }

    fn full_payment() -> serde_json::Value {
        serde_json::json!({"method": "wire", "amount": 12.5, "paid_at": "2026-11-23T10:00:00Z",
                           "reference": "R"})
    }

    #[test]
    fn a_full_order_reads_into_its_types() {
        let body = Value::from(full_order());
        let o = OrderCreate::read(&body).expect("the full order is valid");
        assert_eq!(o.external_ref, Some("WEB-1001"));
        assert_eq!(o.status, Some(OrderStatus::Confirmed));
        assert_eq!(o.payment_status, Some(PaymentStatus::PartiallyPaid));
        assert_eq!(o.customer.id, "C-1");
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0].quantity, Decimal::TWO);
        assert_eq!(o.lines[0].unit_price, Some(Decimal::new(105, 1)));
        assert_eq!(o.lines[1].kind, Some(LineKind::Service));
        assert_eq!(o.lines[1].quantity, Decimal::new(5, 1));
        assert_eq!(
            o.totals.as_ref().and_then(|t| t.gross),
            Some(Decimal::new(252, 1))
        );
        assert_eq!(o.payments[0].amount, Decimal::TEN);
        assert_eq!(
            o.shipping_address.as_ref().and_then(|a| a.city),
            Some("Lyon")
        );
        assert!(o.vendor_fields.is_some_and(|m| m.len() == 3));
        assert!(OrderUpdate::read(&Value::from(full_update())).is_some());
        assert!(Payment::read_create(&Value::from(full_payment())).is_some());
    }

    #[test]
    fn its_long_strings_are_the_request_bodys_bytes() {
        let mut order = full_order();
        order["notes"] = serde_json::json!("Leave at the loading dock, ring twice");
        let bytes = bytes::Bytes::from(order.to_string());
        let body = crate::codec::json::parse(&bytes).expect("JSON");
        let o = OrderCreate::read(&body).expect("valid");
        let within = |s: &str| bytes.as_ptr_range().contains(&s.as_ptr());
        // Longer than a string holds in place: read where it lies in the body.
        assert!(o.notes.is_some_and(|n| n.len() > 24 && within(n)));
        // Short ones are copies in the value.
        assert!(o.customer.id.len() <= 24 && !within(o.customer.id));
        assert_eq!(o.customer.id, full_order()["customer"]["id"]);
    }

    /// Values put in every place of a body: a reading must refuse each one the schema refuses,
    /// and accept each one it accepts but those listed in [`refused_more`].
    fn substitutes() -> Vec<serde_json::Value> {
        use serde_json::json as j;
        let long = |n: usize| j!("é".repeat(n));
        vec![
            j!(null),
            j!(true),
            j!(0),
            j!(-0.0),
            j!(-1),
            j!(0.5),
            j!(100),
            j!(100.5),
            serde_json::from_str("-0").expect("JSON"),
            serde_json::from_str("1e-30").expect("JSON"),
            serde_json::from_str("-1e-40").expect("JSON"),
            serde_json::from_str("12345678901234567890123456789012").expect("JSON"),
            serde_json::from_str("-0.00000000000000000000000000001").expect("JSON"),
            j!(""),
            j!("x"),
            long(140),
            long(141),
            long(255),
            long(256),
            long(4000),
            long(4001),
            j!("EUR"),
            j!("eur"),
            j!("FR"),
            j!("draft"),
            j!("paid"),
            j!("service"),
            j!("delivered"),
            j!("2026-02-28"),
            j!("2026-02-29"),
            j!("2000-02-29"),
            j!("1900-02-29"),
            j!("2026-04-31"),
            j!("2026-13-01"),
            j!("2026-1-01"),
            j!("0000-01-01"),
            j!("2026-11-23T10:00:00Z"),
            j!("2026-11-23T10:00:00.5+14:00"),
            j!("2026-11-23T10:00:00+24:00"),
            j!("2026-11-23T24:00:00Z"),
            j!("2026-11-23T10:00:00"),
            j!("2026-11-23t10:00:00z"),
            j!("2026-11-23 10:00:00Z"),
            j!("2026-11-23T10:00:00.Z"),
            j!("2016-12-31T23:59:60Z"),
            j!({}),
            j!([]),
            j!({"id": "C"}),
            j!({"x": 1}),
            j!({"x": "y"}),
            j!({"x": 1e-40}),
            j!([{"quantity": 1}]),
            j!([{"amount": 1}]),
        ]
    }

    /// What a reading may refuse though the schema accepts it (its doc says so).
    fn refused_more(v: &serde_json::Value) -> bool {
        let text = v.to_string();
        let negative_zero = v.as_number().is_some_and(|_| text.starts_with("-0"));
        let rare_time = ["t10:", ":60Z", "-0.0"].iter().any(|s| text.contains(s));
        negative_zero || rare_time
    }

    /// Every place of `v` (as JSON pointers), the root excepted.
    fn places(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, item) in m {
                    let p = format!("{at}/{k}");
                    out.push(p.clone());
                    places(item, p, out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    places(item, p, out);
                }
            }
            _ => {}
        }
    }

    /// Every body one change away from `base`: each place given each substitute, each member
    /// removed, an unknown member added to each object.
    fn neighbours(base: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
        let mut at = Vec::new();
        places(base, String::new(), &mut at);
        let mut out = Vec::new();
        for p in &at {
            for s in substitutes() {
                let mut b = base.clone();
                if let Some(slot) = b.pointer_mut(p) {
                    *slot = s.clone();
                }
                out.push((format!("{p} = {s}"), b));
            }
            let (parent, last) = p.rsplit_once('/').unwrap_or_default();
            let mut b = base.clone();
            match b.pointer_mut(parent) {
                Some(serde_json::Value::Object(m)) => {
                    m.remove(last);
                }
                Some(serde_json::Value::Array(items)) => {
                    items.clear();
                }
                _ => {}
            }
            out.push((format!("{p} removed"), b));
        }
        for p in std::iter::once(String::new()).chain(at) {
            let mut b = base.clone();
            if let Some(serde_json::Value::Object(m)) = b.pointer_mut(&p) {
                m.insert("unknown_member".into(), serde_json::json!(1));
                out.push((format!("{p}/unknown_member added"), b));
            }
        }
        out
    }

    fn agree_with_the_schema(which: Body, base: serde_json::Value) {
        assert!(typed_accepts(&Value::from(base.clone()), which));
        let mut tried = 0;
        for (change, body) in neighbours(&base) {
            let value = Value::from(body);
            let typed = typed_accepts(&value, which);
            let schema = schema_accepts(&value, which);
            assert!(
                !typed || schema,
                "{which:?}: the typed reading accepts what the schema refuses: {change}"
            );
            if schema && !typed {
                let substitute = change.rsplit_once(" = ").map(|(_, s)| s);
                let allowed = substitute
                    .and_then(|s| serde_json::from_str(s).ok())
                    .is_some_and(|s| refused_more(&s));
                assert!(
                    allowed,
                    "{which:?}: the typed reading refuses a valid body: {change}"
                );
            }
            tried += 1;
        }
        assert!(tried > 200, "{tried}");
    }

    #[test]
    fn an_order_to_create_is_refused_exactly_where_the_schema_refuses_it() {
        agree_with_the_schema(Body::Create, full_order());
    }

    #[test]
    fn an_update_is_refused_exactly_where_the_schema_refuses_it() {
        agree_with_the_schema(Body::Update, full_update());
        assert!(!typed_accepts(&json!({}), Body::Update));
        assert!(!schema_accepts(&json!({}), Body::Update));
    }

    #[test]
    fn a_payment_is_refused_exactly_where_the_schema_refuses_it() {
        agree_with_the_schema(Body::Payment, full_payment());
        for amount in [json!(0), json!(-1), json!("1")] {
            let body = json!({"amount": amount});
            assert!(!typed_accepts(&body, Body::Payment), "{amount}");
            assert!(!schema_accepts(&body, Body::Payment), "{amount}");
        }
    }
}

#[cfg(test)]
mod seed_fixtures {
    use crate::canonical::operation::Operation;
    use crate::canonical::validate::{Body, schema_accepts, typed_accepts};

    /// The fast path is the one real orders take: every canonical body of the seed mappings'
    /// fixtures that the schema accepts reads into its typed struct too, and so does every
    /// order of the load benchmark.
    #[test]
    fn every_valid_body_of_the_seed_fixtures_reads_into_its_types() {
        let mut read = 0;
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings");
        for vendor in std::fs::read_dir(root).expect("mappings/") {
            let Ok(files) = std::fs::read_dir(vendor.expect("entry").path().join("fixtures"))
            else {
                continue;
            };
            for file in files {
                let path = file.expect("entry").path();
                let text = std::fs::read_to_string(&path).expect("fixture");
                let node = crate::yaml::parse(&path.display().to_string(), &text).expect("YAML");
                let op = node.get("operation").and_then(|n| n.as_str());
                let which = match op.and_then(Operation::parse) {
                    Some(Operation::CreateOrder) => Body::Create,
                    Some(Operation::UpdateOrder) => Body::Update,
                    Some(Operation::RecordPayment) => Body::Payment,
                    _ => continue,
                };
                let Some(body) = node.get("request").and_then(|r| r.get("body")) else {
                    continue;
                };
                let body = body.to_json();
                if schema_accepts(&body, which) {
                    assert!(typed_accepts(&body, which), "{}", path.display());
                    read += 1;
                }
            }
        }
        assert!(read >= 15, "only {read} valid bodies found");
        // And the orders the load benchmark sends.
        let orders = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/orders");
        for file in std::fs::read_dir(orders).expect("bench/orders/") {
            let path = file.expect("entry").path();
            let text = std::fs::read(&path).expect("order");
            let body = crate::codec::json::parse(&text.into()).expect("JSON");
            assert!(typed_accepts(&body, Body::Create), "{}", path.display());
        }
    }
}
