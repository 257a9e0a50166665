//! Renders a compiled request plan into the exact HTTP request a vendor receives.
//!
//! Values taken from the request never change the request's shape: path values are
//! percent-encoded as one segment, query values as one component, header values are refused
//! when they hold CR or LF.

use std::borrow::Cow;

use crate::value::Value;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::convert::{kind, scalar_str, scalar_text};
use super::eval::{EvalError, Evaluator, Scope};
use super::plan::{Encoding, HeaderPlan, PathPart, RequestPlan, Template};
use crate::codec::{self, CodecError};

/// RFC 3986 unreserved characters stay; everything else is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone)]
pub struct VendorRequest {
    pub method: Method,
    /// Path and query, to be joined to the connection's base URL.
    pub path_and_query: String,
    /// Header, value, sensitive (never printed).
    pub headers: Vec<(HeaderName, HeaderValue, bool)>,
    pub body: Bytes,
}

impl VendorRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _, _)| n.as_str().eq_ignore_ascii_case(name))
            .and_then(|(_, v, _)| v.to_str().ok())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("the path value `{0}` is missing")]
    MissingPathValue(String),
    #[error("header `{0}` would hold a character that is not allowed in a header (CR, LF or NUL)")]
    BadHeader(String),
    #[error("query parameter `{0}` is {1}; wrap it in `json:` to send it as text")]
    BadQuery(String, &'static str),
}

/// The body template's value (null when absent).
fn evaluated(ev: &Evaluator<'_>, t: &Template, scope: &Scope<'_>) -> Result<Value, RenderError> {
    Ok(ev
        .eval(t, scope)?
        .map(|v| v.into_owned())
        .unwrap_or(Value::Null))
}

/// Renders `plan`; `header_sets` are applied in order before the request's own headers
/// (vendor headers, then auth headers).
pub fn render(
    plan: &RequestPlan,
    header_sets: &[&[HeaderPlan]],
    ev: &Evaluator<'_>,
    scope: &Scope<'_>,
) -> Result<VendorRequest, RenderError> {
    let mut path = String::with_capacity(128);
    for part in &plan.path {
        match part {
            PathPart::Literal(l) => path.push_str(l),
            PathPart::Value(t) => {
                let v = ev
                    .eval(t, scope)?
                    .ok_or_else(|| RenderError::MissingPathValue(template_text(t)))?;
                let text = scalar_str(&v)
                    .ok_or_else(|| RenderError::MissingPathValue(template_text(t)))?;
                if text.is_empty() {
                    return Err(RenderError::MissingPathValue(template_text(t)));
                }
                path.push_str(&encode_segment(text));
            }
        }
    }
    let mut first = true;
    for (name, t) in &plan.query {
        let Some(v) = ev.eval(t, scope)? else {
            continue;
        };
        let values: Vec<String> = match v.as_ref() {
            Value::Array(items) => items
                .iter()
                .map(|i| scalar_text(i).ok_or_else(|| RenderError::BadQuery(name.clone(), kind(i))))
                .collect::<Result<_, _>>()?,
            Value::Object(_) => return Err(RenderError::BadQuery(name.clone(), "an object")),
            other => vec![scalar_text(other).unwrap_or_default()],
        };
        for value in values {
            path.push(if first { '?' } else { '&' });
            first = false;
            path.extend(utf8_percent_encode(name, COMPONENT));
            path.push('=');
            path.extend(utf8_percent_encode(&value, COMPONENT));
        }
    }

    let count = 1 + header_sets.iter().map(|set| set.len()).sum::<usize>() + plan.headers.len();
    let mut headers: Vec<(HeaderName, HeaderValue, bool)> = Vec::with_capacity(count);
    let (body, content_type) = match (&plan.body, plan.encoding) {
        (Some(t), Encoding::Json) => {
            // Written straight into the body buffer: no value tree is built.
            let mut bytes = Vec::with_capacity(1024);
            if !ev.write_json(t, scope, &mut bytes)? {
                bytes.extend_from_slice(b"null");
            }
            (
                Bytes::from(bytes),
                Some(HeaderValue::from_static("application/json")),
            )
        }
        (Some(t), Encoding::Form) => (
            Bytes::from(ev.write_form(t, scope)?),
            Some(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            )),
        ),
        (Some(t), Encoding::Xml) => (
            Bytes::from(ev.write_xml(t, scope, &plan.xml)?),
            Some(HeaderValue::from_static("application/xml; charset=utf-8")),
        ),
        // Multipart parts and a text body come from the evaluated value.
        (Some(t), Encoding::Multipart) => (
            Bytes::from(codec::multipart::encode(&evaluated(ev, t, scope)?)?),
            Some(
                HeaderValue::from_str(&codec::multipart::content_type())
                    .map_err(|_| RenderError::BadHeader("content-type".into()))?,
            ),
        ),
        (Some(t), Encoding::Text) => (
            Bytes::from(scalar_text(&evaluated(ev, t, scope)?).unwrap_or_default()),
            Some(HeaderValue::from_static("text/plain; charset=utf-8")),
        ),
        _ => (Bytes::new(), None),
    };
    if let Some(ct) = content_type {
        headers.push((http::header::CONTENT_TYPE, ct, false));
    }
    for set in header_sets
        .iter()
        .copied()
        .chain(std::iter::once(plan.headers.as_slice()))
    {
        for h in set {
            let value = match &h.fixed {
                Some(fixed) => fixed.clone(),
                None => {
                    let Some(v) = ev.eval(&h.value, scope)? else {
                        continue;
                    };
                    let text =
                        scalar_str(&v).ok_or_else(|| RenderError::BadHeader(h.name.to_string()))?;
                    HeaderValue::from_str(text)
                        .map_err(|_| RenderError::BadHeader(h.name.to_string()))?
                }
            };
            headers.retain(|(n, _, _)| *n != h.name);
            headers.push((h.name.clone(), value, h.sensitive));
        }
    }
    Ok(VendorRequest {
        method: plan.method.clone(),
        path_and_query: path,
        headers,
        body,
    })
}

/// One path segment: every reserved character encoded, and `.`/`..` made harmless.
pub fn encode_segment(text: &str) -> Cow<'_, str> {
    match text {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        // Borrowed when nothing needs encoding (an ERP's ids mostly).
        _ => utf8_percent_encode(text, COMPONENT).into(),
    }
}

fn template_text(t: &super::plan::Template) -> String {
    match t {
        super::plan::Template::Select(s) => s.text.clone(),
        _ => "(template)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_escape() {
        assert_eq!(encode_segment("../admin"), "..%2Fadmin");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a?b#c\r\n"), "a%3Fb%23c%0D%0A");
        assert_eq!(encode_segment("SAL-ORD-2026-00001"), "SAL-ORD-2026-00001");
        assert_eq!(encode_segment("x%2Fy"), "x%252Fy");
    }
}
