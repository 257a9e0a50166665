//! JSON bodies. Numbers keep their decimal text (serde_json `arbitrary_precision`).

use std::borrow::Cow;
use std::fmt;

use crate::value::{Map, NUMBER_KEY, NotANumber, Number, Value};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::need::Need;
use super::{CodecError, MAX_DEPTH};

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(|e| CodecError::encode("JSON", e.to_string()))
}

/// Decodes a vendor answer; an empty body is `null`.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_needed(bytes, &Need::All)
}

/// Decodes a vendor answer, building only the parts `need` names; the rest is skipped (but
/// must still be valid JSON and no deeper than [`MAX_DEPTH`]). An empty body is `null`.
pub fn decode_needed(bytes: &[u8], need: &Need) -> Result<Value, CodecError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let bad = |e: serde_json::Error| CodecError::decode("JSON", e.to_string());
    // UTF-8 checked once, not string by string (see `value::from_json_bytes`).
    let value = match std::str::from_utf8(bytes) {
        Ok(text) => project(serde_json::Deserializer::from_str(text), need),
        Err(_) => project(serde_json::Deserializer::from_slice(bytes), need),
    }
    .map_err(bad)?;
    // Skipped parts are held to the limit as they are read; kept ones are measured here.
    if depth(&value) > MAX_DEPTH {
        return Err(CodecError::decode(
            "JSON",
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(value)
}

fn project<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    need: &Need,
) -> Result<Value, serde_json::Error> {
    let value = Project { need, depth: 1 }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Deserializes one value at `depth` (the root is 1), keeping what the need names.
#[derive(Clone)]
struct Project<'n> {
    need: &'n Need,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.need {
            Need::All => Value::deserialize(d),
            Need::Fields(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Project<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    crate::visit_scalars!();

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let inner = Project {
            need: self.need,
            depth: self.depth + 1,
        };
        while let Some(item) = seq.next_element_seed(inner.clone())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // At most the needed keys are kept: sized once, the map never grows.
        let mut out = match self.need {
            Need::Fields(keys) => Map::with_capacity(keys.len()),
            Need::All => Map::new(),
        };
        let mut first = true;
        while let Some(key) = map.next_key_seed(Text)? {
            if first && key == NUMBER_KEY {
                let text: Cow<'de, str> = map.next_value_seed(Text)?;
                let number = match text {
                    Cow::Owned(text) => Number::from_json_string(text),
                    Cow::Borrowed(text) => Number::from_json_text(text),
                };
                return number
                    .map(Value::Number)
                    .ok_or_else(|| de::Error::custom(NotANumber));
            }
            first = false;
            match self.need.field(&key) {
                Some(need) => {
                    let value = map.next_value_seed(Project {
                        need,
                        depth: self.depth + 1,
                    })?;
                    out.insert(key.into_owned(), value);
                }
                None => map.next_value_seed(Skip(self.depth + 1))?,
            }
        }
        Ok(Value::Object(out))
    }
}

/// Skips a value at `depth`, refusing one nested deeper than [`MAX_DEPTH`] as [`decode`] does.
struct Skip(usize);

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0 > MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip(self.0 + 1))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Text)? {
            if key == NUMBER_KEY {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Skip(self.0 + 1))?;
            }
        }
        Ok(())
    }
}

/// A string (a key, or a number's text), borrowed from the input when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Depth of a value, iteratively (no recursion on untrusted input).
pub fn depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_exactly() {
        let v = decode(br#"{"a": 0.1, "b": 12345678901234567890.123}"#).expect("decodes");
        assert_eq!(
            String::from_utf8(encode(&v).expect("encodes")).expect("utf8"),
            r#"{"a":0.1,"b":12345678901234567890.123}"#
        );
    }

    fn fields(list: &[(&str, Need)]) -> Need {
        Need::Fields(
            list.iter()
                .map(|(k, n)| (k.to_string(), n.clone()))
                .collect(),
        )
    }

    #[test]
    fn projection_keeps_only_the_named_keys() {
        let body = br#"{"name": "SO-1", "owner": "x", "items": [{"qty": 2, "junk": {"a": [1]}},
            {"qty": 3.50, "junk": null}], "meta": {"deep": {"deeper": [true]}}}"#;
        let need = fields(&[
            ("name", Need::All),
            ("items", fields(&[("qty", Need::All)])),
        ]);
        let v = decode_needed(body, &need).expect("decodes");
        assert_eq!(
            v.to_string(),
            r#"{"name":"SO-1","items":[{"qty":2},{"qty":3.50}]}"#
        );
        // Everything the projection keeps is what a full decode has there.
        let full = decode(body).expect("decodes");
        assert_eq!(v["items"][1]["qty"], full["items"][1]["qty"]);
    }

    #[test]
    fn numbers_keep_their_text_when_projected() {
        // A need for fields meeting a number (a vendor answering a scalar where an object was
        // expected) keeps the number as it is, digits and all.
        let need = fields(&[("a", fields(&[("b", Need::All)]))]);
        let v = decode_needed(br#"{"a": 12345678901234567890.10}"#, &need).expect("decodes");
        assert_eq!(v.to_string(), r#"{"a":12345678901234567890.10}"#);
        let v = decode_needed(br#"-0.5"#, &need).expect("decodes");
        assert_eq!(v.to_string(), "-0.5");
    }

    #[test]
    fn projection_still_refuses_broken_json_in_skipped_parts() {
        let need = fields(&[("a", Need::All)]);
        assert!(decode_needed(br#"{"a": 1, "skipped": [1, 2"#, &need).is_err());
        assert!(decode_needed(br#"{"a": 1, "skipped": tru}"#, &need).is_err());
        assert!(decode_needed(br#"{"a": 1} trailing"#, &need).is_err());
        assert_eq!(decode_needed(b" ", &need).expect("empty"), Value::Null);
        // Skipped parts are held to the same depth limit as a full decode.
        let deep = format!("{{\"a\": 1, \"b\": {}1{}}}", "[".repeat(70), "]".repeat(70));
        assert!(decode(deep.as_bytes()).is_err());
        assert!(decode_needed(deep.as_bytes(), &need).is_err());
        let shallow = format!("{{\"a\": 1, \"b\": {}1{}}}", "[".repeat(60), "]".repeat(60));
        assert!(decode(shallow.as_bytes()).is_ok());
        assert!(decode_needed(shallow.as_bytes(), &need).is_ok());
        // Escaped keys are matched by their value.
        let v = decode_needed(br#"{"\u0061": 1}"#, &need).expect("decodes");
        assert_eq!(v.to_string(), r#"{"a":1}"#);
    }

    #[test]
    fn garbage_and_html_are_decode_errors() {
        assert!(decode(b"<html>oops</html>").is_err());
        assert!(decode(b"{\"a\": ").is_err());
        assert_eq!(decode(b"  ").expect("empty"), Value::Null);
    }
}
