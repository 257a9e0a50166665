//! The canonical list query (`GET /orders?...`), validated into a JSON object for `$query`.

use crate::value::{Map, Value};

use super::problem::FieldError;
use crate::engine::convert::parse_time;

const KEYS: &[&str] = &[
    "status",
    "customer_id",
    "external_ref",
    "created_from",
    "created_to",
    "updated_from",
    "updated_to",
    "limit",
    "cursor",
];
const STATUSES: &[&str] = &["draft", "confirmed", "cancelled", "completed"];
pub const MAX_LIMIT: u64 = 1000;

pub fn list_query(raw: Option<&str>) -> Result<Value, Vec<FieldError>> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<FieldError>, key: &str, message: String| {
        errors.push(FieldError {
            pointer: format!("/{key}"),
            message,
        })
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let key = k.as_ref();
        if !KEYS.contains(&key) {
            err(
                &mut errors,
                key,
                format!(
                    "unknown query parameter; expected one of: {}",
                    KEYS.join(", ")
                ),
            );
            continue;
        }
        if out.contains_key(key) {
            err(&mut errors, key, "given more than once".into());
            continue;
        }
        if v.len() > 255 || v.chars().any(char::is_control) {
            err(
                &mut errors,
                key,
                "at most 255 characters, no control characters".into(),
            );
            continue;
        }
        let value = match key {
            "status" if !STATUSES.contains(&v.as_ref()) => {
                err(
                    &mut errors,
                    key,
                    format!("expected one of: {}", STATUSES.join(", ")),
                );
                continue;
            }
            "limit" => match v.parse::<u64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Value::from(n),
                _ => {
                    err(
                        &mut errors,
                        key,
                        format!("expected a whole number from 1 to {MAX_LIMIT}"),
                    );
                    continue;
                }
            },
            "created_from" | "created_to" | "updated_from" | "updated_to" => {
                if parse_time(&v, None).is_err() {
                    err(
                        &mut errors,
                        key,
                        "expected a date (YYYY-MM-DD) or an RFC 3339 timestamp".into(),
                    );
                    continue;
                }
                Value::from(v.into_owned())
            }
            _ => Value::from(v.into_owned()),
        };
        out.insert(key.to_string(), value);
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_validate() {
        let q = list_query(Some("status=draft&limit=5&created_from=2026-11-01")).expect("valid");
        assert_eq!(q["limit"], 5);
        let errors = list_query(Some("limit=0&status=weird&colour=red")).expect_err("invalid");
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/limit", "/status", "/colour"]);
    }
}
