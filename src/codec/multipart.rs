//! `multipart/form-data` bodies: like a form, plus file parts written as
//! `{ filename, content_type, content }` (text) or `{ filename, content_type, content_base64 }`.

use crate::value::Value;
use base64::Engine as _;

use super::CodecError;
use super::form::pairs;

/// Fixed so that the same order renders the same bytes (golden fixtures); checked against
/// every part's content so it can never be ambiguous.
pub const BOUNDARY: &str = "ordergate-7d3f9c2a1b";

pub fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let Value::Object(map) = value else {
        return Err(CodecError::encode(
            "multipart",
            "the body template must yield an object of fields",
        ));
    };
    let mut out = Vec::new();
    for (name, v) in map {
        if let Value::Object(file) = v {
            let filename = file
                .get("filename")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    CodecError::encode("multipart", format!("file field `{name}` needs `filename`"))
                })?;
            let ctype = file
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream");
            let content = match (file.get("content"), file.get("content_base64")) {
                (Some(Value::String(text)), _) => text.as_bytes().to_vec(),
                (_, Some(Value::String(b64))) => base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| {
                        CodecError::encode(
                            "multipart",
                            format!("file field `{name}`: bad base64 ({e})"),
                        )
                    })?,
                _ => {
                    return Err(CodecError::encode(
                        "multipart",
                        format!("file field `{name}` needs `content` or `content_base64`"),
                    ));
                }
            };
            check_header_text(name)?;
            check_header_text(filename)?;
            check_header_text(ctype)?;
            part_header(&mut out, name, Some(filename), Some(ctype));
            push_content(&mut out, &content)?;
        } else {
            let single = Value::Object([(name.to_string(), v.clone())].into_iter().collect());
            for (k, text) in pairs(&single, "multipart")? {
                check_header_text(&k)?;
                part_header(&mut out, &k, None, None);
                push_content(&mut out, text.as_bytes())?;
            }
        }
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Ok(out)
}

fn part_header(out: &mut Vec<u8>, name: &str, filename: Option<&str>, ctype: Option<&str>) {
    out.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
    );
    if let Some(f) = filename {
        out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(c) = ctype {
        out.extend_from_slice(format!("Content-Type: {c}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn push_content(out: &mut Vec<u8>, content: &[u8]) -> Result<(), CodecError> {
    if content
        .windows(BOUNDARY.len())
        .any(|w| w == BOUNDARY.as_bytes())
    {
        return Err(CodecError::encode(
            "multipart",
            "a field contains the multipart boundary",
        ));
    }
    out.extend_from_slice(content);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn check_header_text(text: &str) -> Result<(), CodecError> {
    if text.contains(['"', '\r', '\n']) {
        return Err(CodecError::encode(
            "multipart",
            format!("`{text}` cannot stand in a part header"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn fields_and_files() {
        let v = json!({"reference": "R1", "chequeImage": {"filename": "c.png", "content_type": "image/png", "content_base64": "aGk="}});
        let out = String::from_utf8(encode(&v).expect("encodes")).expect("utf8");
        assert!(out.contains("name=\"reference\"\r\n\r\nR1\r\n"), "{out}");
        assert!(
            out.contains("filename=\"c.png\"\r\nContent-Type: image/png\r\n\r\nhi\r\n"),
            "{out}"
        );
        assert!(out.ends_with(&format!("--{BOUNDARY}--\r\n")));
    }
}
