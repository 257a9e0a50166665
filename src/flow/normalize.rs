//! Turns a vendor's answer into a value the mapping can read (`answer`), and a vendor's error
//! into a canonical problem (`check`, `transport_problem`), whatever the vendor.

use crate::value::{Map, Value};

use crate::canonical::problem::{ErrorCode, FieldError, Problem, UpstreamInfo};
use crate::codec::need::AnswerNeed;
use crate::codec::{self, CodecError};
use crate::engine::convert::{scalar_str, scalar_text};
use crate::engine::eval::{Evaluator, Scope};
use crate::engine::plan::{Decoding, ErrorRule, XmlOptions};
use crate::upstream::{UpstreamError, UpstreamResponse};

/// Longest vendor message passed on to a client.
const MAX_MESSAGE: usize = 1000;

/// The answer as the mapping sees it: `{status, headers, cookies, body}`. When the body cannot
/// be decoded, `body` holds its text (cut short) and the decode error is returned beside it.
pub fn answer(
    resp: &UpstreamResponse,
    decode: Decoding,
    xml: &XmlOptions,
    need: &AnswerNeed,
) -> (Value, Option<CodecError>) {
    let (headers, cookies) = if need.headers || need.cookies {
        headers_and_cookies(&resp.headers)
    } else {
        // Most mappings read only the body: no copy of the headers is made for them.
        (Map::new(), Map::new())
    };
    let decoding = match decode {
        Decoding::Auto => {
            let content_type = resp
                .headers
                .get(http::header::CONTENT_TYPE)
                .map_or(&b""[..], |v| v.as_bytes());
            let says = |word: &str| {
                content_type
                    .windows(word.len())
                    .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
            };
            if says("json") {
                Decoding::Json
            } else if says("xml") {
                Decoding::Xml
            } else if says("x-www-form-urlencoded") {
                Decoding::Form
            } else {
                Decoding::Text
            }
        }
        other => other,
    };
    let decoded = match decoding {
        Decoding::Json => codec::json::decode_needed(&resp.body, &need.body),
        Decoding::Xml => codec::xml::decode(&resp.body, xml),
        Decoding::Form => codec::form::decode(&resp.body),
        Decoding::Text | Decoding::Auto => Ok(text_body(&resp.body)),
    };
    let (body, error) = match decoded {
        Ok(v) => (v, None),
        Err(e) => (text_body(&resp.body), Some(e)),
    };
    let mut out = Map::new();
    out.insert("status", Value::from(resp.status));
    out.insert("headers", Value::Object(headers));
    out.insert("cookies", Value::Object(cookies));
    out.insert("body", body);
    (Value::Object(out), error)
}

/// The answer's headers (by lowercase name; repeated ones joined with `, `) and the cookies
/// it sets (name = value, attributes dropped).
fn headers_and_cookies(from: &http::HeaderMap) -> (Map, Map) {
    let mut headers = Map::new();
    let mut cookies = Map::new();
    for (name, value) in from {
        let Ok(text) = value.to_str() else { continue };
        if name == http::header::SET_COOKIE {
            if let Some((k, v)) = text.split(';').next().and_then(|kv| kv.split_once('=')) {
                cookies.insert(k.trim(), Value::from(v.trim()));
            }
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                let existing = existing.to_mut();
                existing.push_str(", ");
                existing.push_str(text);
            }
            _ => {
                headers.insert(name.as_str(), Value::from(text));
            }
        }
    }
    (headers, cookies)
}

fn text_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    Value::from(text.into_owned())
}

/// The first error rule that matches the answer, as a problem; `scope` has the answer's body
/// as its focus and the answer as `$response`.
pub fn check(
    rules: &[&[ErrorRule]],
    slot: usize,
    status: u16,
    ev: &Evaluator<'_>,
    scope: &Scope<'_>,
    secrets: &[String],
) -> Option<Problem> {
    for rule in rules.iter().flat_map(|r| r.iter()) {
        if !rule.status.matches(status) {
            continue;
        }
        if rule.steps.as_ref().is_some_and(|s| !s.contains(&slot)) {
            continue;
        }
        if let Some(when) = &rule.when {
            // A rule whose condition cannot be read does not match.
            if !ev.test(when, scope).unwrap_or(false) {
                continue;
            }
        }
        return Some(from_rule(rule, status, ev, scope, secrets));
    }
    None
}

fn text(
    ev: &Evaluator<'_>,
    t: Option<&crate::engine::plan::Template>,
    scope: &Scope<'_>,
    secrets: &[String],
) -> Option<String> {
    let v = ev.eval_owned(t?, scope).ok()??;
    let s = scalar_text(&v)?;
    if s.is_empty() {
        return None;
    }
    Some(clip(&mask(&s, secrets)))
}

fn from_rule(
    rule: &ErrorRule,
    status: u16,
    ev: &Evaluator<'_>,
    scope: &Scope<'_>,
    secrets: &[String],
) -> Problem {
    let code = ev
        .eval_owned(&rule.code, scope)
        .ok()
        .flatten()
        .and_then(|v| v.as_str().and_then(ErrorCode::parse))
        .unwrap_or_else(|| ErrorCode::from_upstream_status(status));
    let message = text(ev, rule.message.as_ref(), scope, secrets);
    // A message the mapping wrote itself is the gateway's words, not the ERP's.
    let vendor_message = match &rule.message {
        Some(crate::engine::plan::Template::Const(_)) | None => None,
        Some(_) => message.clone(),
    };
    let vendor_code = text(ev, rule.vendor_code.as_ref(), scope, secrets);
    let mut errors = Vec::new();
    if let Some(field_t) = &rule.field
        && let Ok(Some(v)) = ev.eval_owned(field_t, scope)
    {
        let names: Vec<&str> = match &v {
            Value::Array(items) => items.iter().filter_map(scalar_str).collect(),
            other => scalar_str(other).into_iter().collect(),
        };
        for name in names {
            if let Some((_, pointer)) = rule.fields.iter().find(|(f, _)| *f == name) {
                errors.push(FieldError {
                    pointer: pointer.clone(),
                    message: message
                        .clone()
                        .unwrap_or_else(|| format!("refused by the ERP (field `{name}`)")),
                });
            }
        }
    }
    let mut p = Problem::new(
        code,
        message.clone().unwrap_or_else(|| code.title().to_string()),
    )
    .with_errors(errors);
    p.upstream = Some(Box::new(UpstreamInfo {
        status: Some(status),
        code: vendor_code,
        message: vendor_message,
    }));
    if code == ErrorCode::UpstreamUnavailable && status == 503 {
        p.status = Some(503);
    }
    p
}

/// A non-2xx answer no rule explained.
pub fn default_problem(status: u16) -> Problem {
    let code = ErrorCode::from_upstream_status(status);
    let mut p = Problem::new(code, format!("the ERP answered HTTP {status}"));
    p.upstream = Some(Box::new(UpstreamInfo {
        status: Some(status),
        ..UpstreamInfo::default()
    }));
    if code == ErrorCode::UpstreamUnavailable && status == 503 {
        p.status = Some(503);
    }
    p
}

/// `Retry-After` in seconds, when the vendor gave one.
pub fn retry_after(resp: &UpstreamResponse) -> Option<u64> {
    resp.headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// No answer came: connect failures never reached the ERP; anything else after a write was
/// sent leaves its outcome unknown. (`flow::run` masks the connection's secrets in it.)
pub fn transport_problem(e: &UpstreamError, write_sent: bool) -> Problem {
    let detail = e.to_string();
    let mut p = match e {
        UpstreamError::Connect(_) => Problem::new(ErrorCode::UpstreamUnavailable, detail),
        UpstreamError::Timeout(_) => Problem::new(ErrorCode::UpstreamTimeout, detail),
        UpstreamError::Io(_) | UpstreamError::TooLarge(_) => {
            Problem::new(ErrorCode::UpstreamUnavailable, detail)
        }
        UpstreamError::BadUrl(_) => Problem::new(ErrorCode::Internal, detail),
        UpstreamError::Refused(crate::upstream::resilience::Refusal::Throttled) => {
            let mut p = Problem::new(ErrorCode::RateLimited, detail);
            p.retry_after = Some(1);
            p
        }
        UpstreamError::Refused(_) => {
            let mut p = Problem::new(ErrorCode::UpstreamUnavailable, detail).with_status(503);
            p.retry_after = Some(1);
            p
        }
    };
    if write_sent
        && !matches!(
            e,
            UpstreamError::Connect(_) | UpstreamError::BadUrl(_) | UpstreamError::Refused(_)
        )
    {
        p.outcome_unknown = true;
    }
    p
}

/// Replaces every secret value in `text`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() && out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "****");
        }
    }
    out
}

fn clip(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn resp(status: u16, ctype: &str, body: &str) -> UpstreamResponse {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, ctype.parse().expect("header"));
        headers.append(
            http::header::SET_COOKIE,
            "sid=Guest; Path=/".parse().expect("header"),
        );
        UpstreamResponse {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn answers_are_decoded_by_content_type() {
        let (a, err) = answer(
            &resp(200, "application/json", r#"{"data": {"name": "X"}}"#),
            Decoding::Auto,
            &XmlOptions::default(),
            &AnswerNeed::whole(),
        );
        assert!(err.is_none());
        assert_eq!(a["body"]["data"]["name"], "X");
        assert_eq!(a["cookies"]["sid"], "Guest");
        let (a, err) = answer(
            &resp(200, "application/json", "<html>"),
            Decoding::Auto,
            &XmlOptions::default(),
            &AnswerNeed::whole(),
        );
        assert!(err.is_some());
        assert_eq!(a["body"], "<html>");
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask("token abc:def refused", &["abc".into(), "def".into()]),
            "token ****:**** refused"
        );
    }
}
#[cfg(test)]
mod cookie_tests {
    use super::*;
    #[test]
    fn several_cookies() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::SET_COOKIE,
            "sid=Guest; Path=/".parse().expect("h"),
        );
        headers.append(
            "set-cookie",
            "JSESSIONID=ABC123; Path=/; HttpOnly".parse().expect("h"),
        );
        let r = UpstreamResponse {
            status: 200,
            headers,
            body: bytes::Bytes::from_static(b"{}"),
        };
        let (a, _) = answer(
            &r,
            Decoding::Auto,
            &XmlOptions::default(),
            &AnswerNeed::whole(),
        );
        assert_eq!(a["cookies"]["JSESSIONID"], "ABC123", "{a}");
    }
}
