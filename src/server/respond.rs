//! Builds every HTTP answer of the public API: canonical JSON, and problems (RFC 9457).

use crate::value::Value;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::canonical::problem::Problem;

pub type Body = Full<Bytes>;

/// The content types of our own answers, made once (a header value made from text is checked
/// and copied into a new allocation at every use).
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

pub fn json(status: u16, value: &Value, request_id: &str) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    build(status, Some(JSON), Bytes::from(bytes), request_id)
}

/// JSON already written as text.
pub fn json_text(status: u16, text: String, request_id: &str) -> Response<Body> {
    build(status, Some(JSON), Bytes::from(text), request_id)
}

pub fn raw_json(status: u16, text: &'static str, request_id: &str) -> Response<Body> {
    build(
        status,
        Some(JSON),
        Bytes::from_static(text.as_bytes()),
        request_id,
    )
}

pub fn empty(status: u16, request_id: &str) -> Response<Body> {
    build(status, None, Bytes::new(), request_id)
}

/// An answer stored under an `Idempotency-Key`, as it was first given.
pub fn replay(a: &crate::idempotency::StoredAnswer, request_id: &str) -> Response<Body> {
    let content_type = HeaderValue::from_str(&a.content_type).ok();
    let mut r = build(
        a.status,
        content_type,
        Bytes::from(a.body.clone()),
        request_id,
    );
    if a.status == 204 {
        r.headers_mut().remove(header::CONTENT_TYPE);
    }
    if let Some(loc) = a
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    r
}

pub fn problem(p: &Problem, request_id: &str) -> Response<Body> {
    let body = p.to_json(request_id);
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = build(
        p.status(),
        Some(PROBLEM_JSON),
        Bytes::from(bytes),
        request_id,
    );
    if let Some(secs) = p.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Header names made once (a name given as text is parsed and hashed at every use).
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_ORDERGATE_GENERATION: HeaderName = HeaderName::from_static("x-ordergate-generation");

fn build(
    status: u16,
    content_type: Option<HeaderValue>,
    body: Bytes,
    request_id: &str,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    // Content type, request id, generation, location: one allocation.
    r.headers_mut().reserve(4);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(v) = content_type {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert(X_REQUEST_ID, v);
    }
    r
}
