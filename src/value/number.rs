//! A JSON number kept as its text: exact (never through an `f64`), written back as it was read.
//!
//! serde_json's `Number` with `arbitrary_precision` keeps the text too, but can only be made by
//! parsing it again (`Number::from_str`, a full number parse with a float conversion): every
//! number of every body read, and every decimal the engine computes, paid that twice. This one
//! is made from a text checked against JSON's number grammar in one pass ([`Number::from_json_text`]).
//! The cold paths (floats, serde_json conversions) still go through serde_json.

use std::fmt;
use std::str::FromStr;

use compact_str::{CompactString, ToCompactString};

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::NUMBER_KEY;

/// A JSON number: its text, which `is_json_number` holds for. Texts of up to 24 bytes (every
/// price, quantity and id an order carries) are kept inline, without an allocation of their own.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number(CompactString);

impl Number {
    /// `text` as a number when it is one by JSON's grammar (`-? int frac? exp?`, no leading
    /// zero, no sign `+`, no white space); `None` otherwise.
    pub fn from_json_text(text: &str) -> Option<Number> {
        is_json_number(text).then(|| Number(CompactString::new(text)))
    }

    /// `text` as a number, its grammar already checked by the caller (the JSON reader, whose
    /// number tokens `codec::json`'s `numbers_are_what_json_calls_numbers` holds to
    /// `is_json_number` on every short text). Debug builds check it again.
    pub fn from_checked_text(text: &str) -> Number {
        debug_assert!(is_json_number(text), "{text}");
        Number(CompactString::new(text))
    }

    /// The same, from an owned text (its allocation kept when it is longer than 24 bytes).
    pub fn from_json_string(text: String) -> Option<Number> {
        is_json_number(&text).then(|| Number(CompactString::from(text)))
    }

    /// A finite float as serde_json writes it (`1.5`, `1e100`); `None` for NaN and infinities.
    pub fn from_f64(f: f64) -> Option<Number> {
        serde_json::Number::from_f64(f).map(|n| Number::from(&n))
    }

    /// The number's text, as read or computed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As an `i64` when the text is an integer in its range (as serde_json's `as_i64`).
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// As a `u64` when the text is a non-negative integer in its range.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The nearest float, when finite.
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse::<f64>().ok().filter(|f| f.is_finite())
    }

    /// serde_json's number of the same text (for its `Value` and jsonschema's cold paths).
    pub fn to_serde(&self) -> serde_json::Number {
        // The text is a JSON number: serde_json reads it back as one.
        serde_json::Number::from_str(&self.0).unwrap_or_else(|_| serde_json::Number::from(0))
    }
}

/// Whether `text` is a JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

impl FromStr for Number {
    type Err = NotANumber;

    fn from_str(text: &str) -> Result<Number, NotANumber> {
        Number::from_json_text(text).ok_or(NotANumber)
    }
}

/// A text that is not a JSON number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON number")]
pub struct NotANumber;

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Number({})", self.0)
    }
}

impl From<&serde_json::Number> for Number {
    fn from(n: &serde_json::Number) -> Number {
        // With `arbitrary_precision`, serde_json's text is a JSON number already.
        Number(CompactString::new(n.as_str()))
    }
}

/// A decimal's text (digits, a point, a minus; never an exponent) is a JSON number.
impl From<rust_decimal::Decimal> for Number {
    fn from(d: rust_decimal::Decimal) -> Number {
        let text = decimal_text(d);
        debug_assert!(is_json_number(&text), "{text}");
        Number(text)
    }
}

/// `d` as its `Display` writes it (`decimal_texts_are_what_display_writes`). Every amount the
/// engine computes is written so; `Display` goes through the formatter's machinery and takes
/// each digit off a 96-bit mantissa by a long division, ~550 instructions a number (3% of a
/// Valomnia create, callgrind). A mantissa below 2^64 (any price or quantity) is written here
/// from the last digit, by divisions the compiler turns into multiplications: the fraction's
/// `scale` digits, the point, the whole part (at least `0`), the sign.
fn decimal_text(d: rust_decimal::Decimal) -> CompactString {
    let Ok(mut m) = u64::try_from(d.mantissa().unsigned_abs()) else {
        return d.to_compact_string();
    };
    let scale = d.scale() as usize;
    // At most a sign, 20 whole digits or `0.`, and 28 fraction digits.
    let mut buf = [0u8; 52];
    let mut i = buf.len();
    let mut written = 0;
    // The last digit first; the point after `scale` of them; at least one whole digit.
    while written <= scale || m > 0 {
        if written == scale && scale > 0 {
            i -= 1;
            buf[i] = b'.';
        }
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        written += 1;
    }
    if d.is_sign_negative() {
        i -= 1;
        buf[i] = b'-';
    }
    // ASCII digits, a point and a sign: UTF-8.
    std::str::from_utf8(&buf[i..]).map_or_else(|_| d.to_compact_string(), CompactString::new)
}

macro_rules! from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Number {
                Number(n.to_compact_string())
            }
        }
    )*};
}
from_integer!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

/// Written as its text by serde_json (the `arbitrary_precision` form serde_json's own `Number`
/// uses: a struct whose one field, named by [`NUMBER_KEY`], is the text).
impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct(NUMBER_KEY, 1)?;
        out.serialize_field(NUMBER_KEY, self.0.as_str())?;
        out.end()
    }
}

/// Every text of at most `max` characters drawn from `alphabet`, the empty one included: the
/// input of tests that hold a hand-written reader to a reference on all short texts.
#[cfg(test)]
pub(crate) fn every_text(alphabet: &[char], max: usize) -> Vec<String> {
    let mut texts = vec![String::new()];
    let mut level = vec![String::new()];
    for _ in 0..max {
        level = level
            .iter()
            .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
            .collect();
        texts.extend(level.iter().cloned());
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_is_serde_jsons() {
        // Every text of up to 5 characters over the grammar's alphabet, and some longer ones.
        let mut texts = every_text(&['-', '+', '.', 'e', 'E', '0', '1', '9', ' '], 5);
        texts.extend(
            [
                "12345678901234567890123456789.5",
                "-0.000001e-7",
                "1E+99",
                "0.1.2",
                "01",
                "-",
            ]
            .map(String::from),
        );
        for t in &texts {
            let serde = serde_json::Number::from_str(t).is_ok();
            assert_eq!(is_json_number(t), serde, "{t:?}");
        }
    }

    #[test]
    fn decimal_texts_are_what_display_writes() {
        use rust_decimal::Decimal;
        let mantissas: [i128; 14] = [
            0,
            1,
            5,
            9,
            10,
            99,
            100,
            12_345,
            1_000_000_007,
            i128::from(u64::MAX) - 1,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            (1 << 95) + 12_345,
            (1 << 96) - 1,
        ];
        for m in mantissas {
            for scale in 0..=28 {
                for m in [m, -m] {
                    let d = Decimal::from_i128_with_scale(m, scale);
                    assert_eq!(decimal_text(d), d.to_string(), "{m} scale {scale}");
                }
            }
        }
        // Negative zero keeps its sign, as Display writes it.
        let mut zero = Decimal::new(0, 2);
        zero.set_sign_negative(true);
        assert_eq!(decimal_text(zero), zero.to_string());
        assert_eq!(Number::from(Decimal::new(-5, 3)).as_str(), "-0.005");
    }

    #[test]
    fn numbers_keep_their_text() {
        let n = Number::from_json_text("1.10").unwrap();
        assert_eq!(n.as_str(), "1.10");
        assert_eq!(serde_json::to_string(&n).unwrap(), "1.10");
        assert_eq!(n.to_serde().as_str(), "1.10");
        assert_eq!(n.as_f64(), Some(1.1));
        assert_eq!(n.as_i64(), None);
        assert_eq!(Number::from(-7i64).as_i64(), Some(-7));
        assert_eq!(Number::from(7u64).as_u64(), Some(7));
        assert_eq!(Number::from_f64(1.5).unwrap().as_str(), "1.5");
        assert_eq!(Number::from_f64(f64::NAN), None);
        assert_eq!("1e400".parse::<Number>().unwrap().as_f64(), None);
        assert_eq!("+1".parse::<Number>(), Err(NotANumber));
    }
}
