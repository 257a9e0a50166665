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
    out: Vec<u8>,
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

impl Fields {
    pub fn new() -> Self {
        Fields {
            out: Vec::with_capacity(512),
        }
    }

    /// Field `key`: a scalar, or a list of scalars (the key repeated).
    pub fn field(&mut self, key: &str, v: &Value) -> Result<(), CodecError> {
        texts(key, v, "form", |text| {
            if !self.out.is_empty() {
                self.out.push(b'&');
            }
            push_encoded(&mut self.out, key);
            self.out.push(b'=');
            push_encoded(&mut self.out, text);
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

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Each byte as the urlencoded serializer writes it: up to three bytes, then how many of them
/// count. ASCII letters and digits and `*-._` are kept as they are, a space is `+`, any other
/// byte `%XX` (the WHATWG URL standard's `application/x-www-form-urlencoded` serializer, as
/// `form_urlencoded::byte_serialize`).
const ENCODED: [[u8; 4]; 256] = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut table = [[0u8; 4]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                [b as u8, 0, 0, 1]
            }
            b' ' => [b'+', 0, 0, 1],
            _ => [b'%', HEX[b >> 4], HEX[b & 15], 3],
        };
        b += 1;
    }
    table
};

/// Appends `text` urlencoded (a space as `+`, other bytes not kept as `%XX`), exactly as
/// `form_urlencoded::byte_serialize` writes it. The serializer yields a piece per run of kept
/// bytes and per escaped byte, each appended on its own: with JSON texts in fields (a third of
/// their bytes escaped) that was 8% of a Valomnia create. Here every byte is looked up in
/// [`ENCODED`] and written as four bytes in one store, without a branch on what it is; the
/// cursor moves by the encoding's length, so the next store or the end cuts what is extra.
/// The text goes in blocks of [`BLOCK`] bytes, each written into a window of [`WINDOW`] bytes
/// taken once: a cursor within a block is below 64 (at most 3 x 16 = 48), so masked to 6 bits
/// every store is inside the window without a check of its own.
fn push_encoded(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    // Room for the longest result, plus a whole window past it for the last block.
    out.resize(start + 3 * text.len() + WINDOW, 0);
    let mut n = start;
    for block in text.as_bytes().chunks(BLOCK) {
        let Some(window) = out
            .get_mut(n..n + WINDOW)
            .and_then(|w| <&mut [u8; WINDOW]>::try_from(w).ok())
        else {
            // Never: n grows by at most 3 bytes a byte of text.
            break;
        };
        let mut m = 0;
        for &b in block {
            let encoded = ENCODED[usize::from(b)];
            // At most 3 * BLOCK = 48 bytes a block: the mask changes nothing but shows the
            // compiler the store is in the window.
            let at = m & (CURSOR - 1);
            window[at..at + 4].copy_from_slice(&encoded);
            m += usize::from(encoded[3]);
        }
        n += m;
    }
    out.truncate(n);
}

/// Bytes of text encoded at a time by [`push_encoded`].
const BLOCK: usize = 16;
/// Above the furthest a block's cursor goes (3 x [`BLOCK`]), a power of two.
const CURSOR: usize = 64;
/// The bytes a block may touch: a cursor below [`CURSOR`] plus a four-byte store.
const WINDOW: usize = CURSOR + 4;
const _: () = assert!(3 * BLOCK <= CURSOR && CURSOR.is_power_of_two());

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
    fn texts_are_encoded_as_the_urlencoded_serializer_encodes_them() {
        // Every character up to U+07FF (one- and two-byte UTF-8), a few longer ones, alone
        // and between runs of kept bytes.
        let mut texts: Vec<String> = (0u32..0x800)
            .chain([0xFFFD, 0x20AC, 0x1F600])
            .filter_map(char::from_u32)
            .flat_map(|c| [c.to_string(), format!("ab{c}cd{c}{c}"), format!("{c} x")])
            .collect();
        texts.push(String::new());
        texts.push("[{\"itemUnitId\":145,\"comment\":\"Oak shelf board 120 x 30 cm\"}]".into());
        // Across blocks of 16 bytes: every length up to four blocks, all escaped, none, mixed.
        for len in 1..70 {
            texts.push("\"".repeat(len));
            texts.push("k".repeat(len));
            texts.push(
                (0..len)
                    .map(|i| ["a", "é", " ", "%", "€", "{"][i % 6])
                    .collect(),
            );
        }
        for text in texts {
            // After what the body holds already, which stays as it is.
            let mut out = b"a=1&b=".to_vec();
            push_encoded(&mut out, &text);
            let expected: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
            let expected = format!("a=1&b={expected}");
            assert_eq!(String::from_utf8(out).expect("ascii"), expected, "{text:?}");
        }
    }

    #[test]
    fn nested_objects_are_refused() {
        let err = encode(&json!({"lines": [{"q": 1}]})).expect_err("refused");
        assert!(err.to_string().contains("json:"), "{err}");
    }
}
