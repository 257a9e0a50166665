//! A same-run comparison for `canonical/*`: the canonical create order read into Rust structs
//! that borrow from the body (serde derive, `Cow<str>`, exact `Decimal`s, enums), with the
//! contract's checks that the types do not make (lengths, dates, patterns, bounds): typed
//! structs made by serde from the bytes. The gateway makes its typed structs
//! (`canonical::order`) from the value the body is parsed into once, which its mappings'
//! selectors read (they select any canonical field, `vendor_fields` included). `totals`,
//! `payments`, line `attributes` and `vendor_fields` are skipped, not typed: the orders
//! measured carry none of them.
// What is measured is reading the fields into their types; not every field is looked at after.
#![allow(dead_code)]

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OrderStatus {
    Draft,
    Confirmed,
    Completed,
    Cancelled,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PaymentStatus {
    Unpaid,
    PartiallyPaid,
    Paid,
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum DeliveryStatus {
    Pending,
    PartiallyDelivered,
    Delivered,
    Rejected,
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LineKind {
    Product,
    Service,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
    #[serde(borrow)]
    phone: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tax_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Address<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    company: Option<Cow<'a, str>>,
    #[serde(borrow)]
    line1: Option<Cow<'a, str>>,
    #[serde(borrow)]
    line2: Option<Cow<'a, str>>,
    #[serde(borrow)]
    city: Option<Cow<'a, str>>,
    #[serde(borrow)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    postal_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    country: Option<Cow<'a, str>>,
    #[serde(borrow)]
    phone: Option<Cow<'a, str>>,
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    kind: Option<LineKind>,
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sku: Option<Cow<'a, str>>,
    #[serde(borrow)]
    variant_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    quantity: Decimal,
    #[serde(borrow)]
    unit: Option<Cow<'a, str>>,
    unit_price: Option<Decimal>,
    discount_percent: Option<Decimal>,
    #[serde(borrow)]
    tax_code: Option<Cow<'a, str>>,
    tax_rate: Option<Decimal>,
    tax_amount: Option<Decimal>,
    total: Option<Decimal>,
    #[serde(borrow)]
    delivery_date: Option<Cow<'a, str>>,
    attributes: Option<IgnoredAny>,
    #[serde(borrow)]
    booking_ref: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_address_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_at: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order<'a> {
    #[serde(borrow)]
    external_ref: Option<Cow<'a, str>>,
    status: Option<OrderStatus>,
    payment_status: Option<PaymentStatus>,
    delivery_status: Option<DeliveryStatus>,
    #[serde(borrow)]
    customer: Customer<'a>,
    #[serde(borrow)]
    order_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    delivery_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    currency: Option<Cow<'a, str>>,
    exchange_rate: Option<Decimal>,
    prices_include_tax: Option<bool>,
    #[serde(borrow)]
    lines: Vec<Line<'a>>,
    #[serde(borrow)]
    billing_address: Option<Address<'a>>,
    #[serde(borrow)]
    shipping_address: Option<Address<'a>>,
    totals: Option<IgnoredAny>,
    payments: Option<IgnoredAny>,
    #[serde(borrow)]
    notes: Option<Cow<'a, str>>,
    vendor_fields: Option<IgnoredAny>,
}

fn short(s: &Option<Cow<'_, str>>, max: usize) -> bool {
    s.as_deref().is_none_or(|s| s.chars().count() <= max)
}

fn date(s: &Option<Cow<'_, str>>) -> bool {
    s.as_deref()
        .is_none_or(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10)
}

fn upper(s: &Option<Cow<'_, str>>, n: usize) -> bool {
    s.as_deref()
        .is_none_or(|s| s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase()))
}

fn at_least(d: Option<Decimal>, min: Decimal) -> bool {
    d.is_none_or(|d| d >= min)
}

fn address(a: &Option<Address<'_>>) -> bool {
    a.as_ref().is_none_or(|a| {
        [
            &a.name,
            &a.company,
            &a.line1,
            &a.line2,
            &a.city,
            &a.region,
            &a.postal_code,
            &a.phone,
            &a.email,
        ]
        .into_iter()
        .all(|s| short(s, 255))
            && upper(&a.country, 2)
    })
}

fn line(l: &Line<'_>) -> bool {
    [
        &l.product_id,
        &l.sku,
        &l.variant_id,
        &l.unit,
        &l.tax_code,
        &l.booking_ref,
        &l.service_address_id,
    ]
    .into_iter()
    .all(|s| short(s, 255))
        && short(&l.description, 4000)
        && l.quantity > Decimal::ZERO
        && at_least(l.unit_price, Decimal::ZERO)
        && at_least(l.discount_percent, Decimal::ZERO)
        && l.discount_percent.is_none_or(|d| d <= Decimal::ONE_HUNDRED)
        && at_least(l.tax_rate, Decimal::ZERO)
        && at_least(l.tax_amount, Decimal::ZERO)
        && at_least(l.total, Decimal::ZERO)
        && date(&l.delivery_date)
        && l.service_at
            .as_deref()
            .is_none_or(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

/// The order read from `body` and checked: `None` when it breaks the contract.
pub fn read(body: &[u8]) -> Option<Order<'_>> {
    let o: Order<'_> = serde_json::from_slice(body).ok()?;
    let c = &o.customer;
    let valid = short(&o.external_ref, 140)
        && c.id.chars().count() <= 255
        && [&c.name, &c.email, &c.phone, &c.tax_id]
            .into_iter()
            .all(|s| short(s, 255))
        && date(&o.order_date)
        && date(&o.delivery_date)
        && upper(&o.currency, 3)
        && o.exchange_rate.is_none_or(|r| r > Decimal::ZERO)
        && (1..=1000).contains(&o.lines.len())
        && o.lines.iter().all(line)
        && address(&o.billing_address)
        && address(&o.shipping_address)
        && short(&o.notes, 4000);
    valid.then_some(o)
}
