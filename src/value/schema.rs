//! The JSON Schema validator reads a [`Value`] where it lies: jsonschema is generic over the
//! representation of the instance (`jsonschema::json::Json`), so a canonical body is parsed once,
//! into the value the engine reads, and validated there.

use std::borrow::Cow;

use jsonschema::json::{Array, Json, JsonNumber, Node, NodeIdentity, Object};
use jsonschema::types::JsonType;

use super::{Map, Number, Value};

/// The representation marker: `jsonschema::options_for::<Schema>()` builds validators of
/// [`Value`]s.
pub struct Schema;

impl Json for Schema {
    type Node<'a> = &'a Value;
    type PreparedKey = String;
    type StringBuffer = Value;

    // Small objects are scanned by name, as a members pass does.
    const KEYS_PER_LOOKUP: usize = 2;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(buffer: &mut Value, string: &str, f: impl FnOnce(&Value) -> T) -> T {
        if let Value::String(existing) = buffer {
            let existing = existing.to_mut();
            existing.clear();
            existing.push_str(string);
        } else {
            *buffer = Value::from(string.to_owned());
        }
        f(buffer)
    }
}

impl<'a> Node<'a, Schema> for &'a Value {
    type Object = &'a Map;
    type Array = &'a [Value];
    type Number = &'a Number;

    fn as_object(&self) -> Option<&'a Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&'a [Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Value::String(s) => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    fn json_type(&self) -> JsonType {
        match self {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }

    /// `enum`/`const` against a text (the contract's enums are texts): compared in place.
    fn equals_value(&self, expected: &serde_json::Value) -> bool {
        match (self, expected) {
            (Value::String(a), serde_json::Value::String(b)) => a.as_str() == b,
            (Value::String(_), _) | (_, serde_json::Value::String(_)) => false,
            _ => jsonschema::json::cmp::equal(&self.to_value(), expected),
        }
    }

    /// For error messages and the rare keyword that needs serde_json's own value.
    fn to_value(&self) -> Cow<'a, serde_json::Value> {
        Cow::Owned(serde_json::Value::from(*self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(std::ptr::from_ref::<Value>(self) as usize))
    }
}

impl<'a> Object<'a, Schema> for &'a Map {
    type Node = &'a Value;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        Map::len(self)
    }

    fn get(&self, key: &String) -> Option<&'a Value> {
        Map::get(self, key)
    }

    fn members(&self) -> Members<'a> {
        Members(Map::iter(self))
    }
}

pub struct Members<'a>(super::map::Iter<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_str(), v))
    }
}

impl<'a> Array<'a, Schema> for &'a [Value] {
    type Node = &'a Value;
    type ElementsIter = std::slice::Iter<'a, Value>;

    fn len(&self) -> usize {
        <[Value]>::len(self)
    }

    fn elements(&self) -> std::slice::Iter<'a, Value> {
        self.iter()
    }
}

/// Numbers as their text; serde_json's number only for jsonschema's cold paths (messages) and
/// for the integer check of a text with a point or an exponent (`1.0` is an integer).
impl JsonNumber for &Number {
    fn as_u64(&self) -> Option<u64> {
        Number::as_u64(self)
    }

    fn as_i64(&self) -> Option<i64> {
        Number::as_i64(self)
    }

    fn as_f64(&self) -> Option<f64> {
        Number::as_f64(self)
    }

    fn as_str(&self) -> Cow<'_, str> {
        Cow::Borrowed(Number::as_str(self))
    }

    fn to_number(&self) -> Cow<'_, serde_json::Number> {
        Cow::Owned(self.to_serde())
    }

    fn is_integer(&self) -> bool {
        !Number::as_str(self).contains(['.', 'e', 'E']) || JsonNumber::is_integer(&self.to_serde())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_values_in_place() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["status", "lines"],
            "additionalProperties": false,
            "properties": {
                "status": {"enum": ["draft", "confirmed"]},
                "lines": {"type": "array", "items": {"type": "object",
                    "properties": {"qty": {"type": "number", "minimum": 0}}}},
                "note": {"type": ["string", "null"], "maxLength": 3}
            }
        });
        let v = jsonschema::options_for::<Schema>()
            .build(&schema)
            .expect("schema compiles");
        assert!(v.is_valid(&crate::json!({"status": "draft", "lines": [{"qty": 1.5}]})));
        for bad in [
            crate::json!({"status": "gone", "lines": []}),
            crate::json!({"status": "draft", "lines": [{"qty": -1}]}),
            crate::json!({"status": "draft", "lines": [], "extra": 1}),
            crate::json!({"status": "draft", "lines": [], "note": "long"}),
            crate::json!({"lines": []}),
        ] {
            assert!(!v.is_valid(&bad), "{bad}");
            let pointers: Vec<String> = v
                .iter_errors(&bad)
                .map(|e| e.instance_path().to_string())
                .collect();
            assert!(!pointers.is_empty(), "{bad}");
        }
    }
}
