//! JSON text in and out of a [`Value`] (serde), and conversions from and to `serde_json::Value`
//! for the places that speak serde_json (YAML-loaded constants, problem bodies, the sandbox).

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{Map, Names, NotANumber, Number, Value};

/// How serde_json (`arbitrary_precision`) hands a number to a visitor: a one-entry map under
/// this key, its value the number's text (read here for YAML constants, tests and the long-number
/// fallback of `codec::json`). `numbers_keep_their_text` (here) and `numbers_of_any_length_are_read`
/// (`codec::json`) fail if a serde_json release changes it.
pub const NUMBER_KEY: &str = "$serde_json::private::Number";

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(t) => s.serialize_str(t),
            Value::Array(items) => items.serialize(s),
            Value::Object(map) => map.serialize(s),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            out.serialize_entry(k.as_str(), v)?;
        }
        out.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => Ok(map),
            _ => Err(de::Error::custom("expected a JSON object")),
        }
    }
}

struct ValueVisitor;

/// The scalar methods of a serde `Visitor` whose `Value` is this crate's [`Value`]: one
/// definition for every visitor that builds values (this one, `codec::json`'s projection).
#[macro_export]
#[doc(hidden)]
macro_rules! visit_scalars {
    () => {
        fn visit_bool<E>(self, v: bool) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::from(v))
        }

        fn visit_u64<E>(self, v: u64) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::from(v))
        }

        fn visit_f64<E: ::serde::de::Error>(self, v: f64) -> Result<$crate::value::Value, E> {
            $crate::value::Number::from_f64(v)
                .map($crate::value::Value::Number)
                .ok_or_else(|| E::custom("a number JSON cannot hold"))
        }

        fn visit_str<E>(self, v: &str) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::from(v.to_string()))
        }

        fn visit_string<E>(self, v: String) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::from(v))
        }

        fn visit_unit<E>(self) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::Null)
        }

        fn visit_none<E>(self) -> Result<$crate::value::Value, E> {
            Ok($crate::value::Value::Null)
        }
    };
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    crate::visit_scalars!();

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut first = true;
        // A name the mappings or the contract know is their interned copy, as the server's
        // reader makes it (`codec::json`): compared by address when a selector looks it up.
        let names = Names::current();
        while let Some(key) = map.next_key_seed(Key)? {
            if first && key == NUMBER_KEY {
                let text: String = map.next_value()?;
                return Number::from_json_string(text)
                    .map(Value::Number)
                    .ok_or_else(|| de::Error::custom(NotANumber));
            }
            first = false;
            let value = map.next_value()?;
            out.insert(names.name(&key), value);
        }
        Ok(Value::Object(out))
    }
}

/// Appends `v` as compact JSON text, as `serde_json::to_writer` writes it (numbers as their
/// text), without serde's serializer between: the engine writes every value of a body so.
pub fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.as_str().as_bytes()),
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, k);
                out.push(b':');
                write_json(out, v);
            }
            out.push(b'}');
        }
    }
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Most texts hold nothing JSON escapes (a control character, `"`, `\`): copied whole, after
    // a test of every byte that the compiler vectorizes (no early exit); the others are escaped
    // by serde_json, which looks up each byte in its table (`plain_texts_are_written_as_serde_json_writes_them`).
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a vector cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A member name, as an owned string.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        String::deserialize(d)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(Number::from(&n)),
            serde_json::Value::String(s) => Value::from(s),
            serde_json::Value::Array(items) => {
                Value::Array(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> serde_json::Value {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => serde_json::Value::Number(n.to_serde()),
            Value::String(s) => serde_json::Value::String(s.into_string()),
            Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(Into::into).collect())
            }
            Value::Object(map) => serde_json::Value::Object(
                map.into_iter()
                    .map(|(k, v)| (String::from(k), v.into()))
                    .collect(),
            ),
        }
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> serde_json::Value {
        serde_json::Value::from(v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_texts_are_written_as_serde_json_writes_them() {
        // Every text of up to 3 characters over the bytes around each escaped one, a multi-byte
        // character and DEL: the fast path and serde_json's escaper agree.
        let alphabet = [
            'a', '"', '\\', '\u{0}', '\u{1f}', ' ', '/', '\u{7f}', 'é', '\u{2028}', '\n',
        ];
        for text in crate::value::every_text(&alphabet, 3) {
            let mut out = b"x".to_vec();
            write_json_str(&mut out, &text);
            let theirs = serde_json::to_vec(&text).expect("serde_json writes it");
            assert_eq!(out[1..], theirs[..], "{text:?}");
        }
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let text = r#"{"a\"b":[1.10,-0,1e5,true,false,null,"tab\tquote\"\u0001é\u2028"],
            "o":{},"l":[],"n":{"x":{"y":[{"z":"\\"}]}}}"#;
        let v: Value = serde_json::from_str(text).expect("json");
        let mut out = Vec::new();
        write_json(&mut out, &v);
        assert_eq!(out, serde_json::to_vec(&v).expect("serde_json writes it"));
        let back: Value = serde_json::from_slice(&out).expect("written JSON reads back");
        assert_eq!(back, v);
    }

    #[test]
    fn numbers_keep_their_text() {
        let v: Value = serde_json::from_str(r#"{"a": 1.10, "b": 12345678901234567890.123456789}"#)
            .expect("json");
        assert_eq!(v["a"].as_number().map(Number::as_str), Some("1.10"));
        assert_eq!(
            serde_json::to_string(&v).expect("text"),
            r#"{"a":1.10,"b":12345678901234567890.123456789}"#
        );
    }

    #[test]
    fn order_and_duplicates_as_serde_json() {
        let text = r#"{"z": 1, "a": [true, null, "x"], "z": 2, "m": {"k": {}}}"#;
        let ours: Value = serde_json::from_str(text).expect("json");
        let theirs: serde_json::Value = serde_json::from_str(text).expect("json");
        assert_eq!(ours.to_string(), theirs.to_string());
        assert_eq!(Value::from(theirs.clone()), ours);
        assert_eq!(serde_json::Value::from(ours), theirs);
    }
}
