//! Value conversions (`as:`), exact decimal arithmetic and value comparison.
//! Numbers are `crate::value::Number` kept as their decimal text and computed with
//! `rust_decimal`: no value passes through a binary float.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::str::FromStr;

use std::sync::LazyLock;

use crate::value::{Number, Value};
use chrono::format::{DelayedFormat, Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::plan::{ArithOp, Convert};
use super::zone::{LocalError, TimeZone};

/// Why a value could not be converted; the caller adds where.
pub type ConvertError = String;

/// Reads a JSON value as an exact decimal (numbers and numeric strings).
pub fn to_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => parse_decimal(n.as_str()),
        Value::String(s) => parse_decimal(s.trim()),
        _ => None,
    }
}

/// A number's text as an exact decimal (scientific notation too: `Decimal::from_str` refuses
/// an exponent, so a text it reads has none, and only a refused text is looked at again).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok().or_else(|| {
        text.contains(['e', 'E'])
            .then(|| Decimal::from_scientific(text).ok())
            .flatten()
    })
}

/// A number's text as a decimal only when it is one exactly: none when its digits go beyond
/// what a `Decimal` holds (where [`parse_decimal`] rounds). Canonical input must be exact.
pub fn parse_exact_decimal(text: &str) -> Option<Decimal> {
    match text.split_once(['e', 'E']) {
        Some((base, _)) => {
            Decimal::from_str_exact(base).ok()?;
            Decimal::from_scientific(text).ok()
        }
        None => Decimal::from_str_exact(text).ok(),
    }
}

/// The text `decimal_value(d, None)` writes for a JSON number written plainly (digits with an
/// optional fraction, at most 28 digits, not negative zero): its trailing fraction zeros cut.
/// `as: decimal` then passes the number on without making a `Decimal` of it and back.
fn plain_normalized(text: &str) -> Option<&str> {
    // One pass over the bytes: ~40 numbers of every create go through here, twice.
    let b = text.as_bytes();
    let negative = b.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int = &b[int_start..i];
    if int.is_empty() {
        return None;
    }
    // Where the normalized text ends: after the last non-zero fraction digit, else before the
    // point.
    let mut end = i;
    let mut digits = int.len();
    if i < b.len() {
        if b[i] != b'.' || i + 1 == b.len() {
            return None;
        }
        for (j, &c) in b.iter().enumerate().skip(i + 1) {
            match c {
                b'0' => {}
                b'1'..=b'9' => end = j + 1,
                _ => return None,
            }
        }
        digits += b.len() - i - 1;
    }
    if digits > 28 || (negative && end == i && int.iter().all(|&c| c == b'0')) {
        return None;
    }
    Some(&text[..end])
}

/// Whether `text` is an integer as `decimal_value(d, None)` writes it: an optional minus, then
/// digits without a leading zero (at most 28), not negative zero. `as: integer` passes it on.
fn plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.len() <= 28
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && !(text.starts_with('-') && digits == "0")
}

/// A decimal as a JSON number, written without trailing zeros unless `scale` fixes them.
pub fn decimal_value(d: Decimal, scale: Option<u32>) -> Value {
    Value::Number(decimal_number(d, scale))
}

pub fn decimal_number(d: Decimal, scale: Option<u32>) -> Number {
    Number::from(scaled(d, scale))
}

pub fn decimal_text(d: Decimal, scale: Option<u32>) -> String {
    decimal_number(d, scale).as_str().to_owned()
}

/// `d` with exactly `scale` fraction digits, or without trailing zeros.
fn scaled(d: Decimal, scale: Option<u32>) -> Decimal {
    match scale {
        Some(places) => rounded(d, places),
        None => d.normalize(),
    }
}

/// `d` rounded half away from zero to exactly `places` fraction digits.
pub fn rounded(d: Decimal, places: u32) -> Decimal {
    let mut r = d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(places);
    r
}

pub fn arith(op: ArithOp, args: &[Decimal]) -> Result<Decimal, ConvertError> {
    let mut iter = args.iter().copied();
    let mut acc = iter.next().ok_or("no operands")?;
    for x in iter {
        acc = match op {
            ArithOp::Add => acc.checked_add(x),
            ArithOp::Sub => acc.checked_sub(x),
            ArithOp::Mul => acc.checked_mul(x),
            ArithOp::Div => {
                if x.is_zero() {
                    return Err("division by zero".into());
                }
                acc.checked_div(x)
            }
        }
        .ok_or("the result does not fit a 96-bit decimal")?;
    }
    Ok(acc)
}

/// The text a scalar stands for (map keys, interpolation, form fields, XML text), where it
/// lies: a string's own, a number's text, `true`/`false`, empty for null.
pub fn scalar_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.as_str()),
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        Value::Null => Some(""),
        _ => None,
    }
}

/// [`scalar_str`], owned.
pub fn scalar_text(v: &Value) -> Option<String> {
    scalar_str(v).map(str::to_owned)
}

/// Equality where numbers compare by value (`1` equals `1.0` and `"1"` does not).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (to_decimal(a), to_decimal(b)) {
            (Some(p), Some(q)) => p == q,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Ordering for `gt`/`lt`: numbers (and numeric text, as XML gives) by value, other text as
/// text (ISO dates sort right).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (to_decimal(a), to_decimal(b)) {
        return Some(x.cmp(&y));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub fn convert(v: Value, how: &Convert) -> Result<Value, ConvertError> {
    convert_in(v, how, None)
}

/// `convert`, with the vendor's time zone for zone-less input and for `format:` output.
pub fn convert_in(v: Value, how: &Convert, zone: Option<&TimeZone>) -> Result<Value, ConvertError> {
    convert_cow(Cow::Owned(v), how, zone).map(Cow::into_owned)
}

/// `convert_in`, passing on without a copy a value already in the asked form (a text as a
/// text, a plainly written number as a decimal, a plain date as a date).
pub fn convert_cow<'a>(
    v: Cow<'a, Value>,
    how: &Convert,
    zone: Option<&TimeZone>,
) -> Result<Cow<'a, Value>, ConvertError> {
    // The commonest conversions read once, without a copy of the value first: `as: decimal`
    // of a JSON number (passed on when normalized already, else cut to its normalized text) or
    // of a number written plainly as text (XML answers' numbers), and `as: integer` of such an
    // integer; the same values `converted` makes through a decimal (tests below). Any other
    // text (a leading zero, an exponent, spaces) takes the general way.
    match (how, v.as_ref()) {
        (Convert::Decimal(None), Value::Number(n)) => {
            if let Some(t) = plain_normalized(n.as_str()) {
                if t.len() == n.as_str().len() {
                    return Ok(v);
                }
                if let Some(n) = Number::from_json_text(t) {
                    return Ok(Cow::Owned(Value::Number(n)));
                }
            }
        }
        (Convert::Decimal(None), Value::String(text)) => {
            if let Some(n) = plain_normalized(text).and_then(Number::from_json_text) {
                return Ok(Cow::Owned(Value::Number(n)));
            }
        }
        (Convert::Integer, Value::String(text)) if plain_integer(text) => {
            if let Some(n) = Number::from_json_text(text) {
                return Ok(Cow::Owned(Value::Number(n)));
            }
        }
        _ => {}
    }
    if unchanged(&v, how, zone) {
        return Ok(v);
    }
    converted(v.into_owned(), how, zone).map(Cow::Owned)
}

fn unchanged(v: &Value, how: &Convert, zone: Option<&TimeZone>) -> bool {
    match (how, v) {
        // (`as: decimal` of a number is settled before, in `convert_cow`.)
        (Convert::String, Value::String(_)) => true,
        (Convert::Integer, Value::Number(n)) => plain_integer(n.as_str()),
        // Read as a date and written in the default form, with no zone to move it through.
        (
            Convert::Date {
                parse: None,
                format: None,
            },
            Value::String(s),
        ) => zone.is_none() && is_plain_date(s),
        _ => false,
    }
}

/// `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, with up to 9 digits of fraction, read
/// without chrono's general parser; None for anything else (which then takes the general way,
/// `USUAL`'s first two patterns reading the same texts to the same times).
fn plain_time(s: &str) -> Option<chrono::NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let digits = &b[r];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if !is_plain_date(&s[..10]) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if sec > 59 {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20..b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    date.and_hms_nano_opt(h, m, sec, nanos)
}

/// `YYYY-MM-DD`, a day that exists.
fn is_plain_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) {
        return false;
    }
    if !digits(8..10) {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (s[0..4].parse(), s[5..7].parse(), s[8..10].parse()) else {
        return false;
    };
    NaiveDate::from_ymd_opt(y, m, d).is_some()
}

fn converted(v: Value, how: &Convert, zone: Option<&TimeZone>) -> Result<Value, ConvertError> {
    match how {
        Convert::String => match &v {
            Value::String(_) => Ok(v),
            Value::Number(_) | Value::Bool(_) => {
                Ok(Value::from(scalar_text(&v).unwrap_or_default()))
            }
            other => Err(format!("expected a text value, found {}", kind(other))),
        },
        // (An integer or a number written plainly as text is settled in `convert_cow`.)
        Convert::Integer => {
            let d =
                to_decimal(&v).ok_or_else(|| format!("expected an integer, found {}", kind(&v)))?;
            if !d.fract().is_zero() {
                return Err(format!("must be an integer, found {}", d.normalize()));
            }
            Ok(decimal_value(d.trunc(), None))
        }
        Convert::Decimal(scale) => {
            let d =
                to_decimal(&v).ok_or_else(|| format!("expected a number, found {}", kind(&v)))?;
            Ok(decimal_value(d, *scale))
        }
        Convert::DecimalString(scale) => {
            let d =
                to_decimal(&v).ok_or_else(|| format!("expected a number, found {}", kind(&v)))?;
            Ok(Value::from(decimal_text(d, *scale)))
        }
        Convert::Boolean => to_bool(&v).map(Value::Bool),
        Convert::Bit => to_bool(&v).map(|b| Value::Number(Number::from(u8::from(b)))),
        Convert::Date { parse, format } => {
            let text = v
                .as_str()
                .ok_or_else(|| format!("expected a date, found {}", kind(&v)))?;
            let dt = parse_time_in(text, parse.as_ref(), zone)?;
            let fmt = format.as_ref().unwrap_or(&DATE);
            Ok(Value::from(format_time_in(&dt, fmt, zone)?))
        }
        Convert::Timestamp { parse, format } => {
            let text = v
                .as_str()
                .ok_or_else(|| format!("expected a timestamp, found {}", kind(&v)))?;
            let dt = parse_time_in(text, parse.as_ref(), zone)?;
            Ok(Value::from(match format {
                None => dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                Some(f) => format_time_in(&dt, f, zone)?,
            }))
        }
        Convert::Upper => text_op(v, |s| s.to_uppercase()),
        Convert::Lower => text_op(v, |s| s.to_lowercase()),
        Convert::Trim => text_op(v, |s| s.trim().to_string()),
    }
}

fn text_op(v: Value, f: impl Fn(&str) -> String) -> Result<Value, ConvertError> {
    match v {
        Value::String(s) => Ok(Value::from(f(&s))),
        other => Err(format!("expected a text value, found {}", kind(&other))),
    }
}

fn to_bool(v: &Value) -> Result<bool, ConvertError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(_) | Value::String(_) => match scalar_str(v).unwrap_or_default().trim() {
            "1" | "true" | "True" | "TRUE" | "yes" => Ok(true),
            "0" | "false" | "False" | "FALSE" | "no" | "" => Ok(false),
            other => Err(format!("expected a boolean, found `{other}`")),
        },
        other => Err(format!("expected a boolean, found {}", kind(other))),
    }
}

/// A strftime pattern (`%Y-%m-%d %H:%M:%S`), parsed once at load into chrono's items: reading
/// and writing a date never parses the pattern again.
#[derive(Debug, Clone)]
pub struct TimePattern {
    text: String,
    items: Vec<Item<'static>>,
}

impl TimePattern {
    /// None when the pattern is not valid chrono strftime syntax.
    pub fn new(text: &str) -> Option<TimePattern> {
        let items = StrftimeItems::new(text).parse_to_owned().ok()?;
        if items.iter().any(|i| matches!(i, Item::Error)) {
            return None;
        }
        Some(TimePattern {
            text: text.to_string(),
            items,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn parse(&self, text: &str) -> Option<Parsed> {
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, text, self.items.iter())
            .ok()
            .map(|()| parsed)
    }
}

/// The default date format, and the forms read without a pattern (after RFC 3339).
static DATE: LazyLock<TimePattern> = LazyLock::new(|| pattern("%Y-%m-%d"));
static USUAL: LazyLock<[TimePattern; 3]> = LazyLock::new(|| {
    [
        pattern("%Y-%m-%d %H:%M:%S%.f"),
        pattern("%Y-%m-%dT%H:%M:%S%.f"),
        pattern("%Y-%m-%d %H:%M"),
    ]
});

fn pattern(text: &str) -> TimePattern {
    TimePattern::new(text).unwrap_or_else(|| unreachable!("a built-in pattern is valid: {text}"))
}

/// `parse_time`, reading zone-less times as local times of `zone`.
pub fn parse_time_in(
    text: &str,
    pattern: Option<&TimePattern>,
    zone: Option<&TimeZone>,
) -> Result<DateTime<Utc>, ConvertError> {
    let (utc, has_offset) = read_time(text, pattern)?;
    let Some(tz) = zone else { return Ok(utc) };
    if has_offset {
        return Ok(utc);
    }
    tz.instant_of(&utc.naive_utc())
        .map_err(|e| zone_error(text, tz, e))
}

/// Why the time `text` cannot be placed in `tz`.
fn zone_error(text: &str, tz: &TimeZone, e: LocalError) -> ConvertError {
    match e {
        LocalError::Gap => format!(
            "`{text}` does not exist in time zone {} (a daylight-saving gap)",
            tz.name()
        ),
        LocalError::OutOfRange => format!(
            "`{text}` is outside the years time zone {} is known for",
            tz.name()
        ),
    }
}

fn format_time_in(
    dt: &DateTime<Utc>,
    pattern: &TimePattern,
    zone: Option<&TimeZone>,
) -> Result<String, ConvertError> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let written = match zone {
        None => write!(out, "{}", dt.format_with_items(pattern.items.iter())),
        Some(tz) => {
            let offset = tz
                .offset_at(dt)
                .map_err(|e| zone_error(&dt.to_rfc3339(), tz, e))?;
            let (date, time) = offset.local(dt);
            write!(
                out,
                "{}",
                DelayedFormat::new_with_offset(
                    Some(date),
                    Some(time),
                    &offset,
                    pattern.items.iter()
                )
            )
        }
    };
    written.map_err(|_| format!("invalid date format `{}`", pattern.as_str()))?;
    Ok(out)
}

/// Reads a date or timestamp: with `pattern` when given, else RFC 3339, SQL
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, or a plain date. Times without a zone are UTC.
pub fn parse_time(
    text: &str,
    pattern: Option<&TimePattern>,
) -> Result<DateTime<Utc>, ConvertError> {
    read_time(text, pattern).map(|(t, _)| t)
}

/// `parse_time`, and whether the text carried its own UTC offset.
fn read_time(
    text: &str,
    pattern: Option<&TimePattern>,
) -> Result<(DateTime<Utc>, bool), ConvertError> {
    let text = text.trim();
    if let Some(p) = pattern {
        // As chrono's `parse_from_str` of DateTime, NaiveDateTime and NaiveDate, in that
        // order, from one parse.
        if let Some(parsed) = p.parse(text) {
            if let Ok(dt) = parsed.to_datetime() {
                return Ok((dt.with_timezone(&Utc), true));
            }
            if let Ok(ndt) = parsed.to_naive_datetime_with_offset(0) {
                return Ok((ndt.and_utc(), false));
            }
            if let Ok(d) = parsed.to_naive_date() {
                let midnight = d
                    .and_hms_opt(0, 0, 0)
                    .map(|n| n.and_utc())
                    .unwrap_or_default();
                return Ok((midnight, false));
            }
        }
        return Err(format!(
            "`{text}` does not match the date format `{}`",
            p.as_str()
        ));
    }
    // The common case first: a plain `YYYY-MM-DD` (no other form below reads such a text).
    if text.len() == 10
        && let Ok(d) = text.parse::<NaiveDate>()
        && let Some(n) = d.and_hms_opt(0, 0, 0)
    {
        return Ok((n.and_utc(), false));
    }
    // Next, what ERPs write most: `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with `T`), no offset.
    if let Some(ndt) = plain_time(text) {
        return Ok((ndt.and_utc(), false));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok((dt.with_timezone(&Utc), true));
    }
    for p in USUAL.iter() {
        if let Some(ndt) = p
            .parse(text)
            .and_then(|parsed| parsed.to_naive_datetime_with_offset(0).ok())
        {
            return Ok((ndt.and_utc(), false));
        }
    }
    if let Some(n) = DATE
        .parse(text)
        .and_then(|parsed| parsed.to_naive_date().ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok((n.and_utc(), false));
    }
    Err(format!("`{text}` is not a date or timestamp"))
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `plain_normalized` as it was first written (string searches): the one-pass version
    /// must agree with it on every text.
    fn plain_normalized_reference(text: &str) -> Option<&str> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match digits.split_once('.') {
            Some((_, "")) => return None,
            Some(parts) => parts,
            None => (digits, ""),
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) || int.len() + frac.len() > 28 {
            return None;
        }
        let kept = frac.trim_end_matches('0');
        if text.starts_with('-') && kept.is_empty() && int.bytes().all(|b| b == b'0') {
            return None;
        }
        let cut = frac.len() - kept.len() + usize::from(kept.is_empty() && !frac.is_empty());
        Some(&text[..text.len() - cut])
    }

    /// `parse_decimal` as it was first written: the exponent looked for first.
    fn parse_decimal_reference(text: &str) -> Option<Decimal> {
        if text.contains(['e', 'E']) {
            Decimal::from_scientific(text).ok()
        } else {
            Decimal::from_str(text).ok()
        }
    }

    #[test]
    fn decimals_read_as_their_reference_reads_them() {
        let alphabet = ['-', '+', '.', '0', '1', '9', 'e', 'E', '_', ' '];
        for t in crate::value::every_text(&alphabet, 5) {
            let ours = parse_decimal(&t).map(|d| d.serialize());
            assert_eq!(
                ours,
                parse_decimal_reference(&t).map(|d| d.serialize()),
                "{t:?}"
            );
        }
    }

    #[test]
    fn plain_normalized_agrees_with_its_reference() {
        let mut texts = crate::value::every_text(&['-', '.', '0', '1', '9', 'e'], 6);
        for n in 26..31 {
            texts.push("1".repeat(n));
            texts.push(format!("1.{}", "0".repeat(n)));
            texts.push(format!("-{}.5", "9".repeat(n - 2)));
        }
        for t in &texts {
            assert_eq!(plain_normalized(t), plain_normalized_reference(t), "{t:?}");
        }
    }

    #[test]
    fn plain_numbers_pass_as_decimals_as_a_decimal_would_write_them() {
        for text in [
            "3",
            "3.0",
            "3.50",
            "0",
            "0.0",
            "-0",
            "-0.00",
            "-1.20",
            "100",
            "100.000",
            "0.000100",
            "12345678901234567890.12345678",
            "1234567890123456789012345678.9",
            "1e2",
            "1.5E-3",
            "-7.25",
        ] {
            let v: Value = serde_json::from_str(text).expect("a number");
            let fast = convert(v.clone(), &Convert::Decimal(None)).expect("converts");
            let d = to_decimal(&v).expect("a decimal");
            assert_eq!(
                fast.to_string(),
                decimal_value(d, None).to_string(),
                "{text}"
            );
        }
    }
    use crate::json;

    #[test]
    fn plain_texts_and_integers_convert_as_through_a_decimal() {
        let texts = [
            "0",
            "00",
            "007",
            "-0",
            "-00",
            "1",
            "-1",
            "12.5",
            "12.50",
            "-12.500",
            "0.0",
            "-0.0",
            "3.0",
            "1e3",
            " 4",
            "4 ",
            "+4",
            "1.",
            ".5",
            "abc",
            "",
            "-",
            "9999999999999999999999999999",
            "99999999999999999999999999999",
            "0.0000000000000000000000000001",
            "123456789012345678901234567.8",
        ];
        for text in texts {
            let mut values = vec![json!(text)];
            if let Ok(n) = serde_json::from_str::<Value>(text) {
                values.push(n);
            }
            for v in values {
                let decimal = to_decimal(&v).map(|d| decimal_value(d, None));
                let integer = to_decimal(&v)
                    .filter(|d| d.fract().is_zero())
                    .map(|d| decimal_value(d.trunc(), None));
                let as_decimal = convert_cow(Cow::Borrowed(&v), &Convert::Decimal(None), None);
                let as_integer = convert_cow(Cow::Borrowed(&v), &Convert::Integer, None);
                assert_eq!(
                    as_decimal.ok().map(Cow::into_owned),
                    decimal,
                    "{v} as decimal"
                );
                assert_eq!(
                    as_integer.ok().map(Cow::into_owned),
                    integer,
                    "{v} as integer"
                );
            }
        }
    }

    #[test]
    fn plain_times_read_as_chrono_reads_them() {
        let texts = [
            "2026-11-23 10:07:19",
            "2026-11-23 10:07:19.5",
            "2026-11-23 10:07:19.123456",
            "2026-11-23T23:59:59.123456789",
            "2024-02-29 00:00:00",
            "2026-02-29 10:00:00",
            "2026-11-23 24:00:00",
            "2026-11-23 10:60:00",
            "2026-11-23 10:07:60",
            "2026-11-23 10:07:19.",
            "2026-11-23 10:07:19.1234567891",
            "2026-11-23 10:07",
            "2026-11-23 10:07:19Z",
            "2026-11-23 1:07:19",
            "0999-01-01 00:00:00",
        ];
        let mut read = 0;
        for text in texts {
            let general = USUAL[..2].iter().find_map(|p| {
                p.parse(text)
                    .and_then(|parsed| parsed.to_naive_datetime_with_offset(0).ok())
            });
            if let Some(fast) = plain_time(text) {
                read += 1;
                assert_eq!(Some(fast), general, "{text}");
            }
        }
        assert_eq!(read, 6);
    }

    #[test]
    fn values_passed_on_are_what_converting_gives() {
        let date = Convert::Date {
            parse: None,
            format: None,
        };
        let texts = [
            "2026-11-23",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "0999-01-01",
            "2026-1-23",
            " 2026-11-23",
            "2026-11-23T10:00:00Z",
            "2026-11-23 10:00:00",
            "+202-11-23",
        ];
        let numbers = ["1", "1.5", "1.50", "-0.25", "1e3", "-0", "0.0"];
        let cases = texts
            .iter()
            .flat_map(|t| [(json!(t), &date), (json!(t), &Convert::String)])
            .chain(numbers.iter().flat_map(|n| {
                [
                    (num(n), &Convert::Decimal(None)),
                    (num(n), &Convert::String),
                    (json!(n), &Convert::Decimal(None)),
                ]
            }));
        let mut borrowed = 0;
        for (v, how) in cases {
            let passed = convert_cow(Cow::Borrowed(&v), how, None);
            borrowed += usize::from(matches!(passed, Ok(Cow::Borrowed(_))));
            let made = converted(v.clone(), how, None);
            assert_eq!(passed.map(Cow::into_owned), made, "{v} as {how:?}");
        }
        assert!(borrowed >= 10, "{borrowed} passed on");
    }

    fn num(text: &str) -> Value {
        serde_json::from_str(text).expect("number")
    }

    #[test]
    fn decimals_are_exact() {
        let tenth = to_decimal(&num("0.1")).expect("decimal");
        let sum = arith(ArithOp::Add, &[tenth, tenth, tenth]).expect("sum");
        assert_eq!(decimal_value(sum, None).to_string(), "0.3");
        assert_eq!(decimal_value(sum, Some(2)).to_string(), "0.30");
        assert!(to_decimal(&num("1e400")).is_none());
        assert_eq!(to_decimal(&num("1.5e2")), Some(Decimal::from(150)));
    }

    #[test]
    fn integer_check() {
        assert_eq!(
            convert(num("3.0"), &Convert::Integer).expect("int"),
            num("3")
        );
        assert!(convert(num("3.5"), &Convert::Integer).is_err());
        assert_eq!(
            convert(json!("42"), &Convert::Integer).expect("int"),
            num("42")
        );
    }

    #[test]
    fn dates() {
        let sql = Convert::Timestamp {
            parse: None,
            format: TimePattern::new("%Y-%m-%d %H:%M:%S"),
        };
        assert_eq!(
            convert(json!("2026-11-23T10:05:00Z"), &sql).expect("ts"),
            json!("2026-11-23 10:05:00")
        );
        let back = Convert::Timestamp {
            parse: None,
            format: None,
        };
        assert_eq!(
            convert(json!("2026-11-23 01:07:19.077371"), &back).expect("ts"),
            json!("2026-11-23T01:07:19.077371Z")
        );
        let d = Convert::Date {
            parse: None,
            format: None,
        };
        assert_eq!(
            convert(json!("2026-11-23 10:00:00"), &d).expect("d"),
            json!("2026-11-23")
        );
        assert!(convert(json!("23/11/2026"), &d).is_err());
        assert!(TimePattern::new("%Y-%m-%d").is_some());
        assert!(TimePattern::new("%Y-%Q").is_none());
    }

    #[test]
    fn time_zones() {
        let paris = &TimeZone::named("Europe/Paris").expect("tz");
        let read = Convert::Timestamp {
            parse: None,
            format: None,
        };
        // a zone-less vendor time in winter (UTC+1) and in summer (UTC+2)
        assert_eq!(
            convert_in(json!("2026-11-23 01:07:19"), &read, Some(paris)).expect("ts"),
            json!("2026-11-23T00:07:19Z")
        );
        assert_eq!(
            convert_in(json!("2026-07-01 12:00:00"), &read, Some(paris)).expect("ts"),
            json!("2026-07-01T10:00:00Z")
        );
        let write = Convert::Timestamp {
            parse: None,
            format: TimePattern::new("%Y-%m-%d %H:%M:%S"),
        };
        assert_eq!(
            convert_in(json!("2026-11-23T00:07:19Z"), &write, Some(paris)).expect("ts"),
            json!("2026-11-23 01:07:19")
        );
        assert_eq!(
            convert_in(json!("2026-11-23T00:07:19+00:00"), &read, Some(paris)).expect("ts"),
            json!("2026-11-23T00:07:19Z")
        );
        // `%Z` writes the zone's abbreviation for that date, `%z` its offset.
        let named = Convert::Timestamp {
            parse: None,
            format: TimePattern::new("%Y-%m-%d %H:%M %Z (%z)"),
        };
        assert_eq!(
            convert_in(json!("2026-07-01T10:00:00Z"), &named, Some(paris)).expect("ts"),
            json!("2026-07-01 12:00 CEST (+0200)")
        );
        assert_eq!(
            convert_in(json!("2026-11-23T00:07:19Z"), &named, Some(paris)).expect("ts"),
            json!("2026-11-23 01:07 CET (+0100)")
        );
        // A local time the clocks skipped is refused, naming the zone.
        let err = convert_in(json!("2026-03-29 02:30:00"), &read, Some(paris)).expect_err("gap");
        assert!(
            err.contains("Europe/Paris") && err.contains("daylight-saving gap"),
            "{err}"
        );
    }

    #[test]
    fn booleans_and_equality() {
        assert_eq!(convert(json!(true), &Convert::Bit).expect("bit"), num("1"));
        assert_eq!(
            convert(json!("0"), &Convert::Boolean).expect("b"),
            json!(false)
        );
        assert!(values_equal(&num("1"), &num("1.0")));
        assert!(!values_equal(&num("1"), &json!("1")));
    }
}
