//! `application/x-www-form-urlencoded` bodies: a flat object of scalars. A list of scalars
//! repeats its key; anything nested must be made a JSON text first (`json:` in the mapping).

use crate::value::{Map, Value};

use super::CodecError;
use crate::engine::convert::scalar_str;

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let mut fields = Fields::new();
    fields.object(value)?;
    Ok(fields.finish())
}

/// A form body written field by field, in order.
pub struct Fields {
    ser: form_urlencoded::Serializer<'static, String>,
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

impl Fields {
    pub fn new() -> Self {
        Fields {
            ser: form_urlencoded::Serializer::new(String::with_capacity(512)),
        }
    }

    /// Field `key`: a scalar, or a list of scalars (the key repeated).
    pub fn field(&mut self, key: &str, v: &Value) -> Result<(), CodecError> {
        texts(key, v, "form", |text| {
            self.ser.append_pair(key, text);
        })
    }

    /// Every field of an object, in order; anything else is refused.
    pub fn object(&mut self, value: &Value) -> Result<(), CodecError> {
        let Value::Object(map) = value else {
            return Err(not_an_object("form"));
        };
        for (k, v) in map {
            self.field(k, v)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.ser.finish().into_bytes()
    }
}

/// The body template yielded something other than an object of fields.
pub fn not_an_object(format: &'static str) -> CodecError {
    CodecError::encode(format, "the body template must yield an object of fields")
}

/// The (name, text) pairs of a flat object, in order.
pub fn pairs(value: &Value, format: &'static str) -> Result<Vec<(String, String)>, CodecError> {
    let Value::Object(map) = value else {
        return Err(not_an_object(format));
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        texts(k, v, format, |text| {
            out.push((k.to_string(), text.to_owned()))
        })?;
    }
    Ok(out)
}

/// The texts of field `key`: one for a scalar, one per element of a list of scalars.
fn texts(
    key: &str,
    v: &Value,
    format: &'static str,
    mut each: impl FnMut(&str),
) -> Result<(), CodecError> {
    match v {
        Value::Array(items) => {
            for item in items {
                each(scalar(key, item, format)?);
            }
        }
        other => each(scalar(key, other, format)?),
    }
    Ok(())
}

fn scalar<'v>(key: &str, v: &'v Value, format: &'static str) -> Result<&'v str, CodecError> {
    scalar_str(v).ok_or_else(|| {
        CodecError::encode(
            format,
            format!(
                "field `{key}` is {}; wrap it in `json:` to send it as a JSON text",
                crate::engine::convert::kind(v)
            ),
        )
    })
}

pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        let v = Value::from(v.into_owned());
        match map.get_mut(k.as_ref()) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(k.into_owned(), v);
            }
        }
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn flat_objects_encode() {
        let v = json!({"reference": "A&B 1", "total": serde_json::from_str::<Value>("10.50").expect("n"), "tags": ["x", "y"], "orderLines": "[{\"q\":1}]"});
        let out = String::from_utf8(encode(&v).expect("encodes")).expect("utf8");
        assert_eq!(
            out,
            "reference=A%26B+1&total=10.50&tags=x&tags=y&orderLines=%5B%7B%22q%22%3A1%7D%5D"
        );
        assert_eq!(
            decode(out.as_bytes()).expect("decodes")["tags"],
            json!(["x", "y"])
        );
    }

    #[test]
    fn nested_objects_are_refused() {
        let err = encode(&json!({"lines": [{"q": 1}]})).expect_err("refused");
        assert!(err.to_string().contains("json:"), "{err}");
    }
}
