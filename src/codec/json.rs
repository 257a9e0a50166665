//! JSON bodies. Numbers keep their decimal text (serde_json `arbitrary_precision`).

use serde_json::Value;

use super::{CodecError, MAX_DEPTH};

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(|e| CodecError::encode("JSON", e.to_string()))
}

/// Decodes a vendor answer; an empty body is `null`.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| CodecError::decode("JSON", e.to_string()))?;
    if depth(&value) > MAX_DEPTH {
        return Err(CodecError::decode(
            "JSON",
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(value)
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

    #[test]
    fn garbage_and_html_are_decode_errors() {
        assert!(decode(b"<html>oops</html>").is_err());
        assert!(decode(b"{\"a\": ").is_err());
        assert_eq!(decode(b"  ").expect("empty"), Value::Null);
    }
}
