//! Hostile inputs against the real binary, as one table: bodies, numbers, sizes, content types,
//! ids in paths, header values, request lines, query strings, slow clients, and ERPs that answer
//! HTML, garbage, truncated or endless bodies, deep nesting or billion-laughs XML.
//!
//! Every case says what is sent and what must come back: the documented problem (status,
//! canonical `code`, a JSON pointer where the contract gives one), or a refusal at the HTTP
//! layer (a bare 4xx or a closed connection) where the request is not HTTP at all. After every
//! case the process still serves (`GET /openapi.json` -> 200, and a real order on both
//! connections), no line of its log says it panicked, and after the run its memory is bounded.
//! Nothing the client puts in an id may leave its path segment on the way to the ERP.
//!
//! Requests are written on raw TCP connections: hyper's client refuses to send most of this.

mod common;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use http::Method;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `limits.header_read_timeout` in the test config.
const HEADER_READ_TIMEOUT: &str = "1s";
/// A client that stopped sending its headers must be gone by then.
const HEADER_STALL_BOUND: Duration = Duration::from_secs(5);
/// A client that stopped sending (or trickles) its body must be gone by then.
const BODY_STALL_BOUND: Duration = Duration::from_secs(15);
/// How long one exchange may take before it counts as "no answer".
const ANSWER_WAIT: Duration = Duration::from_secs(8);
/// `limits.max_body_bytes` in the test config.
const MAX_BODY: usize = 1024 * 1024;
/// Memory of the gateway after the run (VmRSS) and at its peak (VmHWM).
const MAX_RSS_KB: u64 = 200 * 1024;
const MAX_HWM_KB: u64 = 256 * 1024;

const ORDER_PREFIX: &str = "/api/resource/Sales%20Order/";

// ---------------------------------------------------------------------------------------------
// The table

/// What is sent.
enum Req {
    /// Bytes written on a fresh connection, then `Filler` streamed after them.
    Raw(Vec<u8>, Filler),
    /// A client that stalls or trickles; judged by when the gateway hangs up.
    Slow(Slow),
}

#[derive(Clone, Copy)]
enum Filler {
    None,
    /// `n` bytes of `x` (part of a JSON string), as they are.
    Plain(usize),
    /// `n` bytes of `x`, chunked, then the last chunk.
    Chunked(usize),
    /// Nothing more, but every answer is read until the gateway closes the connection
    /// (pipelined requests).
    Pipelined,
}

#[derive(Clone, Copy, Debug)]
enum Slow {
    /// Connects and sends nothing.
    Silent,
    /// Sends part of the headers, then nothing.
    HeaderStall,
    /// Sends headers one byte every 200 ms, never finishing.
    HeaderTrickle,
    /// Sends the headers and part of the body, then nothing.
    BodyStall,
    /// Sends the body one byte every 500 ms.
    BodyTrickle,
    /// 100 connections with unfinished headers at once, while the rest of the table runs.
    Crowd,
}

/// What must come back.
#[derive(Clone)]
enum Want {
    /// An RFC 9457 problem: status, code, and a pointer that must be among `errors[].pointer`.
    Problem(u16, &'static str, Option<&'static str>),
    /// A success with this status.
    Success(u16),
    /// Not HTTP the gateway can serve: one of these bare statuses, or the connection closed.
    Refused(&'static [u16]),
    /// Any of these.
    Either(Vec<Want>),
    /// A problem whose `X-Request-Id` (and `request_id`) is a fresh UUID, not what was sent.
    FreshRequestId(String),
    /// A write whose outcome is unknown: 502 `upstream_unavailable` (an answer came but could
    /// not be read) or 504 `upstream_timeout`, with `"outcome": "unknown"`.
    Unknown,
    /// The gateway hangs up (with or without a 408/400 first) within this time.
    ClosedWithin(Duration),
}

/// What the ERP (the recording upstream) must have received.
#[derive(Clone)]
enum Up {
    /// Nothing at all: a refused input never reaches the ERP.
    Nothing,
    /// Not checked (the answer's own checks suffice).
    Any,
    /// The id reached the ERP as ONE percent-encoded segment after `/Sales%20Order/`,
    /// decoding to one of these texts, never to `.` or `..`; or the request was refused
    /// (400/404/414, or at the HTTP layer) and nothing reached the ERP.
    Segment(Vec<String>),
    /// Checked by a function of the answer and the requests.
    Custom(fn(&Got, &[Seen]) -> Result<(), String>),
}

struct Case {
    name: String,
    req: Req,
    want: Want,
    up: Up,
}

fn case(name: impl Into<String>, req: Req, want: Want, up: Up) -> Case {
    Case {
        name: name.into(),
        req,
        want,
        up,
    }
}

/// A refused input: the problem, and nothing sent to the ERP. `ptr` is the JSON pointer that
/// must be among the problem's errors (`""`: the whole body), or `-` for none.
fn refused(
    name: impl Into<String>,
    req: Req,
    status: u16,
    code: &'static str,
    ptr: &'static str,
) -> Case {
    let ptr = (ptr != "-").then_some(ptr);
    case(name, req, Want::Problem(status, code, ptr), Up::Nothing)
}

// ---------------------------------------------------------------------------------------------
// Building requests

/// A request with `Host`, `Connection: close` and (unless `headers` set a length or a
/// transfer coding) a correct `Content-Length`.
fn request(method: &str, target: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\nHost: gateway\r\n").as_bytes());
    let mut framed = false;
    for (k, v) in headers {
        framed |=
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding");
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if !framed && (!body.is_empty() || method == "POST" || method == "PATCH") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

fn raw(bytes: impl Into<Vec<u8>>) -> Req {
    Req::Raw(bytes.into(), Filler::None)
}

fn get(target: &str) -> Req {
    raw(request("GET", target, &[], b""))
}

fn get_with(target: &str, headers: &[(&str, &[u8])]) -> Req {
    raw(request("GET", target, headers, b""))
}

/// `POST /v1/orders` with `application/json`.
fn post(body: impl AsRef<[u8]>) -> Req {
    post_as(Some("application/json"), body)
}

fn post_as(content_type: Option<&str>, body: impl AsRef<[u8]>) -> Req {
    let headers: Vec<(&str, &[u8])> = content_type
        .map(|ct| vec![("Content-Type", ct.as_bytes())])
        .unwrap_or_default();
    raw(request("POST", "/v1/orders", &headers, body.as_ref()))
}

fn post_with(headers: &[(&str, &[u8])], body: impl AsRef<[u8]>) -> Req {
    let mut h: Vec<(&str, &[u8])> = vec![("Content-Type", b"application/json")];
    h.extend_from_slice(headers);
    raw(request("POST", "/v1/orders", &h, body.as_ref()))
}

fn patch(target: &str, body: impl AsRef<[u8]>) -> Req {
    raw(request(
        "PATCH",
        target,
        &[("Content-Type", b"application/json")],
        body.as_ref(),
    ))
}

/// A valid order whose first line's quantity and unit price are these JSON texts.
fn order_with(quantity: &str, unit_price: &str) -> String {
    format!(
        r#"{{"customer":{{"id":"C-1"}},"lines":[{{"sku":"SKU-1","quantity":{quantity},"unit_price":{unit_price}}}]}}"#
    )
}

fn order() -> String {
    order_with("1", "2")
}

/// `order()` with `"key": value` added at the top level (value is JSON text).
fn order_plus(key: &str, value: &str) -> String {
    format!(
        r#"{{"customer":{{"id":"C-1"}},"lines":[{{"sku":"SKU-1","quantity":1}}],"{key}":{value}}}"#
    )
}

/// The body of the first request the ERP got, as text (empty when none came).
fn first_body(seen: &[Seen]) -> String {
    seen.first()
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .unwrap_or_default()
}

fn nested(open: &str, close: &str, depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

fn cursor(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

// ---------------------------------------------------------------------------------------------
// The cases

fn cases() -> Vec<Case> {
    use Want::*;
    let mut c: Vec<Case> = Vec::new();
    let vf = "validation_failed";

    // -- bodies that are not JSON, or not an order --------------------------------------------
    let mut bad_utf8 = br#"{"customer":{"id":"C-"#.to_vec();
    bad_utf8.extend_from_slice(b"\xff\xfe\xc3");
    bad_utf8.extend_from_slice(br#""},"lines":[{"sku":"A","quantity":1}]}"#);
    c.push(refused(
        "invalid UTF-8 inside a string",
        post(&bad_utf8),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "invalid UTF-8 outside strings",
        post(b"{\xff: 1}"),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "a lone UTF-16 surrogate escape",
        post(order_plus("notes", r#""\ud800""#)),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "10,000-deep arrays",
        post(nested("[", "]", 10_000, "")),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "10,000-deep objects",
        post(nested(r#"{"a":"#, "}", 10_000, "1")),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "10,000-deep vendor_fields inside a valid order",
        post(order_plus(
            "vendor_fields",
            &nested(r#"{"a":"#, "}", 10_000, "1"),
        )),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "10,000-deep arrays as a line's quantity",
        post(order_with(&nested("[", "]", 10_000, "1"), "2")),
        400,
        vf,
        "",
    ));
    c.push(refused("an empty body", post(b""), 400, vf, ""));
    c.push(refused("whitespace only", post(b" \r\n\t "), 400, vf, ""));
    c.push(refused("the body `null`", post("null"), 422, vf, ""));
    c.push(refused("the body `[]`", post("[]"), 422, vf, ""));
    c.push(refused("the body `\"x\"`", post(r#""x""#), 422, vf, ""));
    c.push(refused("the body `123`", post("123"), 422, vf, ""));
    c.push(refused("truncated JSON", post(&order()[..40]), 400, vf, ""));
    c.push(refused(
        "trailing garbage after the JSON",
        post(format!("{} xyz", order())),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "two JSON documents",
        post(format!("{}{}", order(), order())),
        400,
        vf,
        "",
    ));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(order().as_bytes());
    c.push(refused("a UTF-8 byte-order mark", post(&bom), 400, vf, ""));
    c.push(refused(
        "a bare NaN token",
        post(order_with("NaN", "2")),
        400,
        vf,
        "",
    ));
    c.push(case(
        "duplicate keys: refused, or the last one wins and is the only one the ERP sees",
        post(
            r#"{"customer":{"id":"FIRST"},"customer":{"id":"LAST"},"lines":[{"sku":"A","quantity":1}]}"#,
        ),
        Either(vec![Problem(400, vf, None), Success(201)]),
        Up::Custom(|got, seen| {
            if got.status == Some(201) {
                let body = seen.first().ok_or("nothing reached the ERP")?;
                let text = String::from_utf8_lossy(&body.body);
                if body.json()["customer"] != "LAST" || text.contains("FIRST") {
                    return Err(format!("the ERP got {text}"));
                }
            } else if !seen.is_empty() {
                return Err("a refused body reached the ERP".into());
            }
            Ok(())
        }),
    ));

    // -- numbers -------------------------------------------------------------------------------
    let price = Some("/lines/0/unit_price");
    let qty = Some("/lines/0/quantity");
    let digits = format!("1{}", "0".repeat(10_000));
    for (name, q, p, ptr) in [
        ("1e400 as unit_price", "1", "1e400", price),
        ("-1e400 as unit_price", "1", "-1e400", price),
        ("1e400 as quantity", "1e400", "2", qty),
        ("1e-400 as quantity", "1e-400", "2", qty),
        ("1e999999999999 as quantity", "1e999999999999", "2", qty),
        ("a 10,000-digit quantity", digits.as_str(), "2", qty),
        (
            "2^96 (29 digits) as unit_price",
            "1",
            "79228162514264337593543950336",
            price,
        ),
        ("\"NaN\" as quantity", r#""NaN""#, "2", qty),
        ("\"Infinity\" as quantity", r#""Infinity""#, "2", qty),
        ("null as quantity", "null", "2", qty),
        ("true as quantity", "true", "2", qty),
        ("a string as quantity", r#""5""#, "2", qty),
        ("an array as quantity", "[1]", "2", qty),
        ("an object as quantity", r#"{"value":1}"#, "2", qty),
        ("a negative quantity", "-1", "2", qty),
        ("a zero quantity", "0", "2", qty),
        ("-0 as quantity", "-0", "2", qty),
        ("0.0 as quantity", "0.0", "2", qty),
        ("a negative unit_price", "1", "-0.01", price),
    ] {
        c.push(case(
            name,
            post(order_with(q, p)),
            Problem(422, vf, ptr),
            Up::Nothing,
        ));
    }
    c.push(refused(
        "a discount over 100 percent",
        post(
            r#"{"customer":{"id":"C-1"},"lines":[{"sku":"A","quantity":1,"discount_percent":100.0000000001}]}"#,
        ),
        422,
        vf,
        "/lines/0/discount_percent",
    ));
    // Wide objects: each new name once searched all those before it (a 1 MB body of 100,000
    // names took 14 s of CPU to read); now one probe of an index each. Answered well within
    // the exchange's wait.
    let wide = |n: usize| {
        let members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        format!("{{{}}}", members.join(","))
    };
    c.push(refused(
        "an order with 65,000 unknown members (~1 MB)",
        post(format!(
            "{{\"customer\":{{\"id\":\"C-1\"}},\"lines\":[{{\"sku\":\"SKU-1\",\"quantity\":1}}],{}",
            &wide(65_000)[1..]
        )),
        422,
        vf,
        "",
    ));
    c.push(case(
        "vendor_fields of 60,000 members reach the ERP, all of them",
        post(order_plus("vendor_fields", &wide(60_000))),
        Success(201),
        Up::Custom(|_, seen| {
            let text = first_body(seen);
            if text.contains(r#""k0":0"#) && text.contains(r#""k59999":59999"#) {
                Ok(())
            } else {
                Err(format!(
                    "the ERP got {} bytes without k0 and k59999",
                    text.len()
                ))
            }
        }),
    ));
    c.push(case(
        "0.1 and 0.2 are exact decimals and reach the ERP as written",
        post(order_with("0.1", "0.2")),
        Success(201),
        Up::Custom(|_, seen| {
            let text = first_body(seen);
            if text.contains(r#""qty":0.1"#) && text.contains(r#""rate":0.2"#) {
                Ok(())
            } else {
                Err(format!("the ERP got {text}"))
            }
        }),
    ));
    c.push(case(
        "0.30000000000000004 is kept to the last digit",
        post(order_with("3", "0.30000000000000004")),
        Success(201),
        Up::Custom(|_, seen| {
            let text = first_body(seen);
            if text.contains(r#""rate":0.30000000000000004"#) {
                Ok(())
            } else {
                Err(format!("the ERP got {text}"))
            }
        }),
    ));

    // -- sizes and shapes ------------------------------------------------------------------------
    c.push(refused(
        "a 100 KB string in notes (maxLength 4000)",
        post(order_plus("notes", &format!("\"{}\"", "x".repeat(100_000)))),
        422,
        vf,
        "/notes",
    ));
    let line = r#"{"sku":"A","quantity":1}"#;
    let lines = vec![line; 1001].join(",");
    c.push(refused(
        "1,001 lines (maxItems 1000)",
        post(format!(
            r#"{{"customer":{{"id":"C-1"}},"lines":[{lines}]}}"#
        )),
        422,
        vf,
        "/lines",
    ));
    c.push(refused(
        "no lines",
        post(r#"{"customer":{"id":"C-1"},"lines":[]}"#),
        422,
        vf,
        "/lines",
    ));
    c.push(refused(
        "an unknown top-level field",
        post(order_plus("colour", r#""red""#)),
        422,
        vf,
        "",
    ));
    c.push(refused(
        "an unknown line field",
        post(r#"{"customer":{"id":"C-1"},"lines":[{"sku":"A","quantity":1,"colour":"red"}]}"#),
        422,
        vf,
        "/lines/0",
    ));
    c.push(refused(
        "an unknown customer field",
        post(r#"{"customer":{"id":"C-1","admin":true},"lines":[{"sku":"A","quantity":1}]}"#),
        422,
        vf,
        "/customer",
    ));
    c.push(refused(
        "a 10 KB customer id (maxLength 255)",
        post(format!(
            r#"{{"customer":{{"id":"{}"}},"lines":[{{"sku":"A","quantity":1}}]}}"#,
            "C".repeat(10_240)
        )),
        422,
        vf,
        "/customer/id",
    ));
    c.push(refused(
        "a read-only id on create",
        post(order_plus("id", r#""SO-FORGED""#)),
        422,
        vf,
        "",
    ));
    c.push(case(
        "CR, LF and NUL in notes reach the ERP escaped inside its JSON",
        post(order_plus("notes", r#""a\r\nb\u0000c""#)),
        Success(201),
        Up::Custom(|_, seen| {
            let s = seen.first().ok_or("nothing reached the ERP")?;
            if s.body.iter().any(|b| *b == b'\r' || *b == 0) {
                return Err("a raw CR or NUL in the ERP's body".into());
            }
            if s.json()["terms"] != "a\r\nb\u{0}c" {
                return Err(format!("terms: {}", s.json()["terms"]));
            }
            Ok(())
        }),
    ));
    c.push(case(
        "an external_ref that tries to close the JSON string stays one value",
        post(order_plus(
            "external_ref",
            r#""x\",\"docstatus\":1,\"y\":\"""#,
        )),
        Success(201),
        Up::Custom(|_, seen| {
            let j = seen.first().ok_or("nothing reached the ERP")?.json();
            if j["po_no"] != r#"x","docstatus":1,"y":""# || j["docstatus"] != 0 {
                return Err(format!("the ERP got {j}"));
            }
            Ok(())
        }),
    ));
    c.push(case(
        "a 10 MB body with its Content-Length",
        Req::Raw(
            request(
                "POST",
                "/v1/orders",
                &[
                    ("Content-Type", b"application/json"),
                    ("Content-Length", b"10485776"),
                ],
                br#"{"notes":""#,
            ),
            Filler::Plain(10 * 1024 * 1024 + 6),
        ),
        Problem(413, "payload_too_large", None),
        Up::Nothing,
    ));
    c.push(case(
        "a 10 MB body, chunked, without a length",
        Req::Raw(
            request(
                "POST",
                "/v1/orders",
                &[
                    ("Content-Type", b"application/json"),
                    ("Transfer-Encoding", b"chunked"),
                ],
                b"",
            ),
            Filler::Chunked(10 * 1024 * 1024),
        ),
        Problem(413, "payload_too_large", None),
        Up::Nothing,
    ));
    c.push(case(
        "a 10 MB body behind a lying Content-Length of 100",
        Req::Raw(
            request(
                "POST",
                "/v1/orders",
                &[
                    ("Content-Type", b"application/json"),
                    ("Content-Length", b"100"),
                ],
                br#"{"customer":{"id":"C-1"},"lines":[{"sku":"A","quantity":1}],"notes":""#,
            ),
            Filler::Plain(10 * 1024 * 1024),
        ),
        Problem(400, vf, Some("")),
        Up::Nothing,
    ));
    c.push(case(
        "a body one byte over max_body_bytes",
        post(format!(
            r#"{{"notes":"{}"}}"#,
            "x".repeat(MAX_BODY + 1 - r#"{"notes":""}"#.len())
        )),
        Problem(413, "payload_too_large", None),
        Up::Nothing,
    ));
    c.push(case(
        "Content-Length and Transfer-Encoding together: the connection is closed after the \
         answer (RFC 9112 6.1), a request pipelined behind it never runs",
        Req::Raw(
            {
                let body = order();
                let mut r = format!(
                    "POST /v1/orders HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n\
                     Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&request("DELETE", "/v1/orders/SMUGGLED", &[], b""));
                r
            },
            Filler::Pipelined,
        ),
        Either(vec![Refused(&[400]), Problem(400, vf, None), Success(201)]),
        Up::Custom(|_, seen| {
            if seen.len() > 1 || seen.iter().any(|s| s.target.contains("SMUGGLED")) {
                Err(format!(
                    "{} requests reached the ERP: {:?}",
                    seen.len(),
                    targets(seen)
                ))
            } else {
                Ok(())
            }
        }),
    ));
    c.push(case(
        "an invalid chunk size",
        raw(request(
            "POST",
            "/v1/orders",
            &[
                ("Content-Type", b"application/json"),
                ("Transfer-Encoding", b"chunked"),
            ],
            b"zz\r\n{}\r\n0\r\n\r\n",
        )),
        Either(vec![Refused(&[400]), Problem(400, vf, None)]),
        Up::Nothing,
    ));
    c.push(case(
        "a negative Content-Length",
        raw(request(
            "POST",
            "/v1/orders",
            &[
                ("Content-Type", b"application/json"),
                ("Content-Length", b"-1"),
            ],
            b"{}",
        )),
        Refused(&[400]),
        Up::Nothing,
    ));
    c.push(case(
        "two different Content-Lengths",
        raw({
            let body = order();
            let mut r = format!(
                "POST /v1/orders HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: {}\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        }),
        Refused(&[400]),
        Up::Nothing,
    ));

    // -- content types ---------------------------------------------------------------------------
    let ums = "unsupported_media_type";
    for (name, ct) in [
        ("text/plain", Some("text/plain")),
        ("application/xml", Some("application/xml")),
        (
            "multipart/form-data",
            Some("multipart/form-data; boundary=x"),
        ),
        (
            "application/x-www-form-urlencoded",
            Some("application/x-www-form-urlencoded"),
        ),
        ("application/jsonp", Some("application/jsonp")),
        ("no Content-Type", None),
    ] {
        c.push(refused(
            format!("content type: {name}"),
            post_as(ct, order()),
            415,
            ums,
            "-",
        ));
    }
    c.push(refused(
        "PATCH with text/plain",
        raw(request(
            "PATCH",
            "/v1/orders/SO-1",
            &[("Content-Type", b"text/plain")],
            br#"{"notes":"n"}"#,
        )),
        415,
        ums,
        "-",
    ));
    c.push(case(
        "application/json; charset=utf-8 is accepted",
        post_as(Some("application/json; charset=utf-8"), order()),
        Success(201),
        Up::Any,
    ));
    c.push(case(
        "APPLICATION/JSON (media types are case-insensitive)",
        post_as(Some("APPLICATION/JSON"), order()),
        Success(201),
        Up::Any,
    ));
    c.push(refused(
        "PATCH with {}",
        patch("/v1/orders/SO-1", "{}"),
        422,
        vf,
        "",
    ));
    c.push(refused(
        "PATCH with 10,000-deep nesting",
        patch("/v1/orders/SO-1", nested(r#"{"a":"#, "}", 10_000, "1")),
        400,
        vf,
        "",
    ));
    c.push(refused(
        "PATCH with a read-only field",
        patch("/v1/orders/SO-1", r#"{"customer":{"id":"C-2"}}"#),
        422,
        vf,
        "",
    ));

    // -- ids in paths ----------------------------------------------------------------------------
    let seg = |texts: &[&str]| Up::Segment(texts.iter().map(|s| s.to_string()).collect());
    let id_case = |name: &str, method: &str, target: &str, body: &[u8], decoded: &[&str]| {
        let headers: &[(&str, &[u8])] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", b"application/json")]
        };
        let ok = match method {
            "DELETE" => 204,
            _ => 200,
        };
        case(
            format!("id: {name}"),
            raw(request(method, target, headers, body)),
            Either(vec![
                Problem(400, vf, None),
                Problem(404, "not_found", None),
                Refused(&[400, 404, 414]),
                Success(ok),
            ]),
            seg(decoded),
        )
    };
    for (name, target, decoded) in [
        (
            "../ as path segments",
            "/v1/orders/../admin",
            &["../admin"][..],
        ),
        ("a bare ..", "/v1/orders/..", &[".."][..]),
        ("a bare .", "/v1/orders/.", &["."][..]),
        ("%2e%2e", "/v1/orders/%2e%2e", &[".."][..]),
        ("%2E", "/v1/orders/%2E", &["."][..]),
        (
            "..%2F..%2Fadmin",
            "/v1/orders/..%2F..%2Fadmin",
            &["../../admin"][..],
        ),
        ("%2e%2e%2f", "/v1/orders/%2e%2e%2f", &["../"][..]),
        ("a%2Fb", "/v1/orders/a%2Fb", &["a/b"][..]),
        (
            "a%5Cb (backslash)",
            "/v1/orders/a%5C..%5Cb",
            &["a\\..\\b"][..],
        ),
        ("a literal ?query", "/v1/orders/a?limit_start=1", &["a"][..]),
        ("an encoded %3F", "/v1/orders/a%3Fx=1", &["a?x=1"][..]),
        (
            "a literal #fragment",
            "/v1/orders/a#frag",
            &["a", "a#frag"][..],
        ),
        ("an encoded %23", "/v1/orders/a%23frag", &["a#frag"][..]),
        ("%0D%0A", "/v1/orders/a%0D%0AHost:%20evil", &[][..]),
        ("%00", "/v1/orders/a%00b", &[][..]),
        ("%FF (not UTF-8)", "/v1/orders/%FF", &[][..]),
        ("double-encoded %252F", "/v1/orders/%252F", &["%2F"][..]),
        (
            "unicode",
            "/v1/orders/%C3%A9%E2%82%AC%F0%9F%A6%80",
            &["é€🦀"][..],
        ),
        (
            "@ and :",
            "/v1/orders/user:pw@evil.example",
            &["user:pw@evil.example"][..],
        ),
        (
            "a semicolon",
            "/v1/orders/a;jsessionid=1",
            &["a;jsessionid=1"][..],
        ),
        ("%20 spaces", "/v1/orders/a%20b", &["a b"][..]),
    ] {
        c.push(id_case(name, "GET", target, b"", decoded));
    }
    let long_id = "A".repeat(10_240);
    c.push(id_case(
        "10 KB",
        "GET",
        &format!("/v1/orders/{long_id}"),
        b"",
        &[long_id.as_str()],
    ));
    let mut utf8_line = b"GET /v1/orders/".to_vec();
    utf8_line.extend_from_slice("é€".as_bytes());
    utf8_line.extend_from_slice(b" HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n");
    c.push(case(
        "id: raw UTF-8 bytes in the request line",
        raw(utf8_line),
        Either(vec![
            Problem(400, vf, None),
            Problem(404, "not_found", None),
            Refused(&[400]),
            Success(200),
        ]),
        seg(&["é€"]),
    ));
    c.push(id_case(
        "PATCH ..%2Fx",
        "PATCH",
        "/v1/orders/..%2Fx",
        br#"{"notes":"n"}"#,
        &["../x"],
    ));
    c.push(id_case(
        "DELETE %2e%2e",
        "DELETE",
        "/v1/orders/%2e%2e",
        b"",
        &[".."],
    ));
    c.push(id_case(
        "confirm ..%2F..%2Fapi%2Fmethod%2Fevil",
        "POST",
        "/v1/orders/..%2F..%2Fapi%2Fmethod%2Fevil/confirm",
        b"",
        &["../../api/method/evil"],
    ));
    c.push(case(
        "id: cancel a%2F..%2Fb goes in the ERP's body, the path stays fixed",
        raw(request("POST", "/v1/orders/a%2F..%2Fb/cancel", &[], b"")),
        Success(200),
        Up::Custom(|_, seen| {
            let s = seen.first().ok_or("nothing reached the ERP")?;
            if s.target != "/api/method/frappe.client.cancel" || s.json()["name"] != "a/../b" {
                return Err(format!("{} {}", s.target, s.json()));
            }
            Ok(())
        }),
    ));
    c.push(case(
        "by-ref: a reference that tries to break out of the JSON filter",
        get(r#"/v1/orders/by-ref/x%22%5D%2C%5B%22docstatus%22%2C%22%3D%22%2C%222"#),
        Success(200),
        Up::Custom(|_, seen| {
            let s = seen.first().ok_or("nothing reached the ERP")?;
            let filters = query_param(&s.target, "filters").ok_or("no filters")?;
            let f: Value = serde_json::from_str(&filters).map_err(|e| e.to_string())?;
            if f != json!([["po_no", "=", r#"x"],["docstatus","=","2"#]]) {
                return Err(format!("filters: {f}"));
            }
            Ok(())
        }),
    ));
    c.push(case(
        "by-ref: the ERP names the order ../../x?y=1#z; the next call keeps it in one segment",
        get("/v1/orders/by-ref/inject-name"),
        Success(200),
        Up::Custom(|_, seen| {
            let get = seen
                .iter()
                .find(|s| s.target.starts_with(ORDER_PREFIX))
                .ok_or(format!("no second call: {:?}", targets(seen)))?;
            one_segment(&get.target, &["../../x?y=1#z".to_string()])
        }),
    ));
    c.push(refused(
        "connection: ..%2Fevil",
        get("/v1/connections/..%2Fevil/orders/X"),
        404,
        "not_found",
        "-",
    ));
    c.push(refused(
        "connection: a 10 KB name",
        get(&format!("/v1/connections/{}/orders/X", "c".repeat(10_240))),
        404,
        "not_found",
        "-",
    ));
    c.push(case(
        "absolute-form target and a hostile Host cannot move the upstream",
        raw(
            b"GET http://169.254.169.254/v1/orders/X HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        Success(200),
        seg(&["X"]),
    ));

    // -- header values and request lines ---------------------------------------------------------
    for (name, bytes) in [
        (
            "a bare CR in a header value",
            &b"GET /v1/orders/X HTTP/1.1\r\nHost: g\r\nX-Note: a\rInjected: 1\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "a NUL in a header value",
            &b"GET /v1/orders/X HTTP/1.1\r\nHost: g\r\nX-Request-Id: a\0b\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "CR in Content-Type",
            &b"POST /v1/orders HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\rX: y\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"[..],
        ),
        (
            "an obs-fold continuation line",
            &b"GET /v1/orders/X HTTP/1.1\r\nHost: g\r\nX-Request-Id: abc\r\n def\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "a header without a colon",
            &b"GET /v1/orders/X HTTP/1.1\r\nHost: g\r\nno colon here\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "a space before the colon",
            &b"GET /v1/orders/X HTTP/1.1\r\nHost: g\r\nContent-Length : 5\r\nConnection: close\r\n\r\n"[..],
        ),
        ("a garbage request line", &b"GARBAGE\r\n\r\n"[..]),
        (
            "HTTP/9.9",
            &b"GET /v1/orders HTTP/9.9\r\nHost: g\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "double spaces in the request line",
            &b"GET  /v1/orders  HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "a NUL in the request target",
            &b"GET /v1/orders/a\0b HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "a TLS ClientHello on the plain port",
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07"[..],
        ),
        (
            "the HTTP/2 preface, then garbage",
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        ),
    ] {
        c.push(case(name, raw(bytes), Refused(&[400, 505]), Up::Nothing));
    }
    let mut noise = Vec::with_capacity(4096);
    let mut x: u32 = 0x2545_f491;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    c.push(case(
        "4 KB of binary noise",
        raw(noise),
        Refused(&[400]),
        Up::Nothing,
    ));
    c.push(case(
        "a 100 KB request target",
        get(&format!("/v1/orders/{}", "a".repeat(100 * 1024))),
        Refused(&[400, 414, 431]),
        Up::Nothing,
    ));
    c.push(case(
        "a 100 KB header",
        get_with(
            "/v1/orders/X",
            &[("X-Big", "b".repeat(100 * 1024).as_bytes())],
        ),
        Refused(&[431, 400]),
        Up::Nothing,
    ));
    let many: String = (0..10_000).fold(String::new(), |mut s, i| {
        let _ = write!(s, "X-H{i}: v\r\n");
        s
    });
    c.push(case(
        "10,000 headers",
        raw(format!(
            "GET /v1/orders/X HTTP/1.1\r\nHost: g\r\n{many}Connection: close\r\n\r\n"
        )),
        Refused(&[431, 400]),
        Up::Nothing,
    ));
    c.push(case(
        "an unknown method",
        raw(request("FOO", "/v1/orders", &[], b"")),
        Either(vec![
            Problem(405, "not_found", None),
            Refused(&[400, 405, 501]),
        ]),
        Up::Nothing,
    ));
    c.push(case(
        "CONNECT to another host",
        raw(b"CONNECT 169.254.169.254:443 HTTP/1.1\r\nHost: 169.254.169.254:443\r\n\r\n".to_vec()),
        Either(vec![
            Problem(404, "not_found", None),
            Problem(405, "not_found", None),
            Refused(&[400, 405]),
        ]),
        Up::Nothing,
    ));
    c.push(case(
        "TRACE",
        raw(request("TRACE", "/v1/orders/X", &[], b"")),
        Problem(405, "not_found", None),
        Up::Nothing,
    ));
    for (name, value) in [
        ("10 KB", "r".repeat(10_240)),
        ("percent-encoded CRLF", "abc%0D%0ASet-Cookie:%20x=1".into()),
        ("spaces and markup", "a b <script>alert(1)</script>".into()),
        ("quotes and JSON", r#"","admin":true,""#.into()),
    ] {
        c.push(case(
            format!("X-Request-Id with {name} is replaced"),
            get_with("/v2/nothing", &[("X-Request-Id", value.as_bytes())]),
            FreshRequestId(value),
            Up::Nothing,
        ));
    }
    c.push(case(
        "X-Request-Id followed by a CRLF and Set-Cookie: nothing is reflected into the answer",
        raw(b"GET /v2/nothing HTTP/1.1\r\nHost: g\r\nX-Request-Id: abc\r\nSet-Cookie: pwned=1\r\nConnection: close\r\n\r\n".to_vec()),
        Problem(404, "not_found", None),
        Up::Custom(|got, _| {
            let reflected = got
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("set-cookie") || v.contains("pwned"));
            if reflected {
                Err(format!("the answer reflects a request header: {:?}", got.headers))
            } else {
                Ok(())
            }
        }),
    ));
    c.push(case(
        "X-Request-Id with raw non-ASCII bytes is replaced",
        get_with("/v2/nothing", &[("X-Request-Id", "idé€".as_bytes())]),
        FreshRequestId("idé€".into()),
        Up::Nothing,
    ));
    for (name, value) in [
        ("300 characters of garbage", "z".repeat(300)),
        (
            "an all-zero trace id",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".into(),
        ),
        (
            "an extra field",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-evil".into(),
        ),
    ] {
        c.push(case(
            format!("traceparent with {name}: the ERP gets a well-formed one"),
            get_with("/v1/orders/TP-1", &[("traceparent", value.as_bytes())]),
            Success(200),
            Up::Custom(|_, seen| {
                let s = seen.first().ok_or("nothing reached the ERP")?;
                let tp = s.header("traceparent").unwrap_or("");
                let parts: Vec<&str> = tp.split('-').collect();
                let hex = |p: &str, n: usize| {
                    p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()) && p != "0".repeat(n)
                };
                if parts.len() == 4
                    && parts[0] == "00"
                    && hex(parts[1], 32)
                    && hex(parts[2], 16)
                    && parts[3].len() == 2
                {
                    Ok(())
                } else {
                    Err(format!("the ERP got traceparent {tp:?}"))
                }
            }),
        ));
    }
    for (name, key) in [
        ("spaces", "a key with spaces".as_bytes().to_vec()),
        ("300 characters", "k".repeat(300).into_bytes()),
        ("an empty value", Vec::new()),
        ("raw non-ASCII bytes", "clé-€".as_bytes().to_vec()),
        ("a tab", b"a\tb".to_vec()),
    ] {
        c.push(refused(
            format!("Idempotency-Key with {name}"),
            post_with(&[("Idempotency-Key", &key)], order()),
            400,
            vf,
            "",
        ));
    }

    // -- list queries ----------------------------------------------------------------------------
    let long_cursor = format!("cursor={}", "a".repeat(300));
    let negative_cursor = format!("cursor={}", cursor("o:-5"));
    let long_customer = format!("customer_id={}", "c".repeat(300));
    for (name, query, ptr) in [
        ("an unknown parameter", "colour=red", "/colour"),
        ("limit=0", "limit=0", "/limit"),
        ("limit=1001", "limit=1001", "/limit"),
        ("limit=-1", "limit=-1", "/limit"),
        ("limit=abc", "limit=abc", "/limit"),
        ("limit=1e3", "limit=1e3", "/limit"),
        (
            "limit=99999999999999999999999",
            "limit=99999999999999999999999",
            "/limit",
        ),
        ("status=weird", "status=weird", "/status"),
        (
            "a repeated parameter",
            "status=draft&status=draft",
            "/status",
        ),
        ("a 300-character cursor", long_cursor.as_str(), "/cursor"),
        (
            "a garbage cursor",
            "cursor=%21%21not-base64%21%21",
            "/cursor",
        ),
        (
            "a cursor with a negative offset",
            negative_cursor.as_str(),
            "/cursor",
        ),
        (
            "a date that is not one",
            "created_from=yesterday",
            "/created_from",
        ),
        ("CRLF in a value", "customer_id=a%0D%0Ab", "/customer_id"),
        ("NUL in a value", "customer_id=a%00b", "/customer_id"),
        (
            "a 300-character customer_id",
            long_customer.as_str(),
            "/customer_id",
        ),
    ] {
        c.push(refused(
            format!("list query: {name}"),
            get(&format!("/v1/orders?{query}")),
            422,
            vf,
            ptr,
        ));
    }
    c.push(case(
        "list query: a cursor at offset u64::MAX: refused, or a page whose next cursor moves on",
        get(&format!(
            "/v1/orders?limit=1&cursor={}",
            cursor(&format!("o:{}", u64::MAX))
        )),
        Either(vec![Problem(422, vf, Some("/cursor")), Success(200)]),
        Up::Custom(|got, _| {
            if got.status != Some(200) {
                return Ok(());
            }
            let page: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
            let sent = cursor(&format!("o:{}", u64::MAX));
            if page["next_cursor"].as_str() == Some(sent.as_str()) {
                Err(format!(
                    "next_cursor is the cursor sent: a client following it pages forever ({page})"
                ))
            } else {
                Ok(())
            }
        }),
    ));
    c.push(case(
        "list query: customer_id smuggling &limit_start= and &fields= stays one value",
        get("/v1/orders?customer_id=a%26limit_start%3D999%26fields%3D%5B%22*%22%5D"),
        Success(200),
        Up::Custom(|_, seen| {
            let s = seen.first().ok_or("nothing reached the ERP")?;
            let query = s.target.split_once('?').map(|q| q.1).unwrap_or("");
            let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let count = |k: &str| pairs.iter().filter(|(n, _)| n == k).count();
            let starts: Vec<&str> = pairs
                .iter()
                .filter(|(n, _)| n == "limit_start")
                .map(|(_, v)| v.as_str())
                .collect();
            if count("fields") != 1 || starts != ["0"] {
                return Err(format!("the ERP got {}", s.target));
            }
            let filters = query_param(&s.target, "filters").unwrap_or_default();
            if !filters.contains(r#"a&limit_start=999&fields=[\"*\"]"#) {
                return Err(format!("filters: {filters}"));
            }
            Ok(())
        }),
    ));

    // -- a hostile ERP -------------------------------------------------------------------------
    let ua = "upstream_unavailable";
    for (name, id) in [
        ("HTML with 200 and text/html", "html"),
        ("HTML with 200 and application/json", "htmljson"),
        ("binary garbage as application/json", "garbage"),
        (
            "a truncated JSON body (Content-Length promises more)",
            "truncated",
        ),
        ("a truncated chunked body", "truncchunk"),
        ("a 20 MB body with its Content-Length", "huge"),
        ("a 20 MB chunked body", "hugechunk"),
        ("1,000-deep JSON", "deep"),
        ("100-deep JSON (past the decoder's depth limit)", "deepish"),
        ("JSON served as text/plain", "textjson"),
        ("a PNG", "png"),
        ("an empty 200", "empty"),
        ("hanging up before answering", "hangup"),
        ("hanging up in the middle of the headers", "midheaders"),
        ("a malformed status line", "badstatus"),
        ("1 MB of headers", "bigheaders"),
        ("status 999", "status999"),
        ("`data` a string", "datastring"),
        ("`data` null", "datanull"),
        ("`data` an empty object (no name)", "dataempty"),
        ("`data` a list", "dataarray"),
        ("`data` a number", "datanumber"),
        ("`data.name` an object", "nameobject"),
        ("a 1e400 amount", "hugenum"),
        ("JSON with a NUL byte", "nuljson"),
    ] {
        c.push(case(
            format!("ERP answers {name}"),
            get(&format!("/v1/connections/evil/orders/{id}")),
            Problem(502, ua, None),
            Up::Any,
        ));
    }
    c.push(case(
        "ERP answers a body that drips past the request timeout",
        get("/v1/connections/evil/orders/drip"),
        Problem(504, "upstream_timeout", None),
        Up::Any,
    ));
    c.push(case(
        "ERP answers a create with garbage (the order may exist: outcome unknown)",
        raw(request(
            "POST",
            "/v1/connections/evil/orders",
            &[("Content-Type", b"application/json")],
            order().as_bytes(),
        )),
        Unknown,
        Up::Any,
    ));
    for (name, id) in [
        ("billion-laughs XML", "xml-laughs"),
        ("an external entity (XXE) on /etc/passwd", "xml-xxe"),
        ("an external DTD", "xml-extdtd"),
        ("1,000-deep XML", "xml-deep"),
        ("truncated XML", "xml-trunc"),
        ("HTML as application/xml", "xml-html"),
        ("20 MB of XML", "xml-huge"),
        ("an undefined entity", "xml-undef"),
        ("two root elements", "xml-tworoots"),
    ] {
        c.push(case(
            format!("XML ERP answers {name}"),
            get(&format!("/v1/connections/evilxml/orders/{id}")),
            Problem(502, ua, None),
            Up::Custom(|got, _| {
                let text = String::from_utf8_lossy(&got.body);
                if text.contains("root:") || text.contains("lollollol") {
                    Err(format!("the answer leaks entity content: {text}"))
                } else {
                    Ok(())
                }
            }),
        ));
    }

    c.push(case(
        "ERP answers an object of 100,000 members",
        get("/v1/connections/evil/orders/wide"),
        Success(200),
        Up::Any,
    ));
    c.push(case(
        "XML ERP answers an element of 100,000 children",
        get("/v1/connections/evilxml/orders/xml-wide"),
        Success(200),
        Up::Custom(|got, _| {
            let text = String::from_utf8_lossy(&got.body);
            if text.contains(r#""id":"XML-W""#) {
                Ok(())
            } else {
                Err(format!("not the wide order: {text}"))
            }
        }),
    ));

    // -- slow clients ----------------------------------------------------------------------------
    c.push(case(
        "a client that connects and sends nothing",
        Req::Slow(Slow::Silent),
        ClosedWithin(HEADER_STALL_BOUND),
        Up::Nothing,
    ));
    c.push(case(
        "a client that never finishes its headers",
        Req::Slow(Slow::HeaderStall),
        ClosedWithin(HEADER_STALL_BOUND),
        Up::Nothing,
    ));
    c.push(case(
        "a client that trickles its headers (slowloris)",
        Req::Slow(Slow::HeaderTrickle),
        ClosedWithin(HEADER_STALL_BOUND),
        Up::Nothing,
    ));
    c.push(case(
        "a client that stops in the middle of its body",
        Req::Slow(Slow::BodyStall),
        ClosedWithin(BODY_STALL_BOUND),
        Up::Nothing,
    ));
    c.push(case(
        "a client that trickles its body (slowloris body)",
        Req::Slow(Slow::BodyTrickle),
        ClosedWithin(BODY_STALL_BOUND),
        Up::Nothing,
    ));
    c.push(case(
        "100 clients with unfinished headers at once",
        Req::Slow(Slow::Crowd),
        ClosedWithin(HEADER_STALL_BOUND + Duration::from_secs(2)),
        Up::Nothing,
    ));
    c
}

// ---------------------------------------------------------------------------------------------
// Answers

/// What came back on one connection.
#[derive(Debug, Default)]
struct Got {
    /// None: no HTTP/1 answer (the connection closed, was reset, or stayed silent).
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Why reading stopped.
    end: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(400).collect();
        match self.status {
            Some(s) => format!("{s} {body}"),
            None => format!("no answer ({})", self.end),
        }
    }
}

/// A complete HTTP/1 answer at the start of `buf`, if there is one.
fn parse_answer(buf: &[u8], complete_only: bool) -> Option<Got> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match length {
        Some(n) if rest.len() >= n => rest[..n].to_vec(),
        Some(_) if complete_only => return None,
        _ if complete_only && length.is_none() => return None,
        _ => rest.to_vec(),
    };
    Some(Got {
        status: Some(status),
        headers,
        body,
        end: String::new(),
    })
}

/// Writes `bytes` (and the filler) on a new connection while reading the answer.
async fn exchange(addr: SocketAddr, bytes: Vec<u8>, filler: Filler, wait: Duration) -> Got {
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            return Got {
                end: format!("connect failed: {e}"),
                ..Got::default()
            };
        }
    };
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        if wr.write_all(&bytes).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        match filler {
            Filler::None | Filler::Pipelined => {}
            Filler::Plain(mut n) => {
                while n > 0 {
                    let k = n.min(chunk.len());
                    if wr.write_all(&chunk[..k]).await.is_err() {
                        return;
                    }
                    n -= k;
                }
            }
            Filler::Chunked(mut n) => {
                while n > 0 {
                    let k = n.min(chunk.len());
                    let mut frame = format!("{k:x}\r\n").into_bytes();
                    frame.extend_from_slice(&chunk[..k]);
                    frame.extend_from_slice(b"\r\n");
                    if wr.write_all(&frame).await.is_err() {
                        return;
                    }
                    n -= k;
                }
                let _ = wr.write_all(b"0\r\n\r\n").await;
            }
        }
        // Keep the write half open: closing it could end the exchange early.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(wr);
    });
    let deadline = Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let end = loop {
        if !matches!(filler, Filler::Pipelined)
            && let Some(g) = parse_answer(&buf, true)
        {
            writer.abort();
            return g;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rd.read(&mut chunk)).await {
            Err(_) => break format!("nothing more within {wait:?}"),
            Ok(Ok(0)) => break "closed".to_string(),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => break format!("read error: {e}"),
        }
    };
    writer.abort();
    let answers = buf.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    match parse_answer(&buf, false) {
        Some(mut g) => {
            g.end = format!("{end} after {answers} answer(s)");
            g
        }
        None => Got {
            end: format!("{end}; {} bytes that are no HTTP/1 answer", buf.len()),
            ..Got::default()
        },
    }
}

/// A slow client: how long until the gateway hung up (None: still open at `bound`).
async fn slow_client(addr: SocketAddr, kind: Slow, bound: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let deadline = started + bound + Duration::from_secs(1);
    let head = b"POST /v1/orders HTTP/1.1\r\nHost: x\r\n".to_vec();
    let full_head = b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"customer\"".to_vec();
    let (prefix, trickle): (Vec<u8>, Vec<u8>) = match kind {
        Slow::Silent => (Vec::new(), Vec::new()),
        Slow::HeaderStall | Slow::Crowd => (head, Vec::new()),
        Slow::HeaderTrickle => (
            b"GET /openapi.json HTTP/1.1\r\n".to_vec(),
            b"X-Slow: "
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b'a', 500))
                .collect(),
        ),
        Slow::BodyStall => (full_head, Vec::new()),
        Slow::BodyTrickle => (full_head, vec![b' '; 900]),
    };
    let every = match kind {
        Slow::HeaderTrickle => Duration::from_millis(200),
        _ => Duration::from_millis(500),
    };
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if !prefix.is_empty() {
        stream
            .write_all(&prefix)
            .await
            .map_err(|e| format!("write: {e}"))?;
    }
    let mut trickle = trickle.into_iter();
    let mut buf = [0u8; 4096];
    let mut answered = String::new();
    loop {
        if Instant::now() >= deadline {
            return Err(format!(
                "still open after {:?}{answered}",
                started.elapsed()
            ));
        }
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(started.elapsed()),
            Ok(Ok(n)) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                answered = format!(
                    " (answered {:?} but kept the connection)",
                    text.lines().next().unwrap_or("")
                );
            }
            Err(_) => {
                if let Some(b) = trickle.next()
                    && stream.write_all(&[b]).await.is_err()
                {
                    return Ok(started.elapsed());
                }
            }
        }
    }
}

async fn crowd(addr: SocketAddr, bound: Duration) -> Result<Duration, String> {
    let tasks: Vec<_> = (0..100)
        .map(|_| tokio::spawn(slow_client(addr, Slow::Crowd, bound)))
        .collect();
    let mut worst = Duration::ZERO;
    let mut open = 0;
    let mut first_err = String::new();
    for t in tasks {
        match t.await {
            Ok(Ok(d)) => worst = worst.max(d),
            Ok(Err(e)) => {
                open += 1;
                first_err = e;
            }
            Err(e) => return Err(format!("task: {e}")),
        }
    }
    if open > 0 {
        Err(format!("{open} of 100 still open: {first_err}"))
    } else {
        Ok(worst)
    }
}

// ---------------------------------------------------------------------------------------------
// Checks

fn targets(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| {
            let t: String = s.target.chars().take(200).collect();
            format!("{} {t}", s.method)
        })
        .collect()
}

fn query_param(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `target` is `/api/resource/Sales%20Order/<one segment>` and the segment decodes to one of
/// `decoded` (and is not a dot-segment under any spelling).
fn one_segment(target: &str, decoded: &[String]) -> Result<(), String> {
    let short: String = target.chars().take(200).collect();
    let rest = target
        .strip_prefix(ORDER_PREFIX)
        .ok_or(format!("the id left its place: {short}"))?;
    if let Some(bad) = rest
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || b"-._~%".contains(b)))
    {
        return Err(format!(
            "the ERP got {:?} unencoded in the id segment: {short}",
            bad as char
        ));
    }
    let text = percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| format!("the segment is not UTF-8: {short}"))?;
    if text == "." || text == ".." {
        return Err(format!(
            "the id reached the ERP as the dot-segment {text:?} (spelt {rest}): \
             a normalizing server or proxy resolves it to the parent path"
        ));
    }
    if !decoded.iter().any(|d| d == text.as_ref()) {
        return Err(format!(
            "the segment decodes to {text:?}, expected {decoded:?}"
        ));
    }
    Ok(())
}

fn check_want(want: &Want, got: &Got) -> Result<(), String> {
    match want {
        Want::Problem(status, code, pointer) => {
            if got.status != Some(*status) {
                return Err(format!("expected {status} {code}, got {}", got.describe()));
            }
            if got.header("content-type") != Some("application/problem+json") {
                return Err(format!("content-type {:?}", got.header("content-type")));
            }
            let p: Value = serde_json::from_slice(&got.body)
                .map_err(|_| format!("not JSON: {}", got.describe()))?;
            if p["code"] != *code || p["status"] != *status {
                return Err(format!("expected {status} {code}, got {p}"));
            }
            if p["type"] != format!("https://ordergate.dev/problems/{code}")
                || !p["request_id"].is_string()
            {
                return Err(format!("not a complete problem: {p}"));
            }
            if *code == "upstream_unavailable" && p["retryable"] != true {
                return Err(format!("upstream_unavailable must be retryable: {p}"));
            }
            if let Some(ptr) = pointer {
                let pointers: Vec<&str> = p["errors"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|e| e["pointer"].as_str()).collect())
                    .unwrap_or_default();
                if !pointers.contains(ptr) {
                    return Err(format!("pointer {ptr:?} not among {pointers:?}: {p}"));
                }
            }
            Ok(())
        }
        Want::Success(status) => {
            if got.status == Some(*status) {
                Ok(())
            } else {
                Err(format!("expected {status}, got {}", got.describe()))
            }
        }
        Want::Refused(statuses) => match got.status {
            None => Ok(()),
            Some(s) if statuses.contains(&s) => Ok(()),
            Some(_) => Err(format!(
                "expected {statuses:?} or a closed connection, got {}",
                got.describe()
            )),
        },
        Want::Either(options) => {
            let mut why = Vec::new();
            for w in options {
                match check_want(w, got) {
                    Ok(()) => return Ok(()),
                    Err(e) => why.push(e),
                }
            }
            Err(format!("none of the accepted answers: {}", why.join(" | ")))
        }
        Want::FreshRequestId(sent) => {
            check_want(&Want::Problem(404, "not_found", None), got)?;
            let id = got.header("x-request-id").unwrap_or("");
            let p: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
            let uuid = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
            if id == sent || !uuid || p["request_id"] != id {
                Err(format!(
                    "X-Request-Id {id:?}, request_id {}: expected a fresh UUID in both",
                    p["request_id"]
                ))
            } else {
                Ok(())
            }
        }
        Want::Unknown => {
            check_want(
                &Want::Either(vec![
                    Want::Problem(502, "upstream_unavailable", None),
                    Want::Problem(504, "upstream_timeout", None),
                ]),
                got,
            )?;
            let p: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
            if p["outcome"] == "unknown" {
                Ok(())
            } else {
                Err(format!("expected \"outcome\": \"unknown\": {p}"))
            }
        }
        Want::ClosedWithin(_) => Ok(()),
    }
}

fn check_up(up: &Up, got: &Got, seen: &[Seen]) -> Result<(), String> {
    for s in seen {
        if !s.target.starts_with("/api/") {
            return Err(format!("the ERP got a request outside /api/: {}", s.target));
        }
    }
    match up {
        Up::Any => Ok(()),
        Up::Nothing => {
            if seen.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "a refused input reached the ERP: {:?}",
                    targets(seen)
                ))
            }
        }
        Up::Custom(f) => f(got, seen),
        Up::Segment(decoded) => {
            let hits: Vec<&Seen> = seen
                .iter()
                .filter(|s| s.target.starts_with(ORDER_PREFIX) || s.target.contains("/.."))
                .collect();
            for s in seen {
                for part in s.target.split('?').next().unwrap_or("").split('/') {
                    let d = percent_decode_str(part).decode_utf8_lossy();
                    if d == "." || d == ".." {
                        return Err(format!(
                            "the ERP got the dot-segment {d:?} (spelt {part:?}) in {}: \
                             a normalizing server or proxy resolves it to the parent path",
                            s.target
                        ));
                    }
                }
            }
            match got.status {
                Some(200..=299) => {
                    if hits.is_empty() {
                        return Err(format!(
                            "a success, but the id never reached the ERP: {:?}",
                            targets(seen)
                        ));
                    }
                    for s in hits {
                        one_segment(&s.target, decoded)?;
                    }
                    Ok(())
                }
                _ if seen.is_empty() => Ok(()),
                _ => Err(format!("refused, yet the ERP got {:?}", targets(seen))),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The upstreams

/// A Frappe that answers valid JSON for every Sales Order call.
fn frappe(s: &Seen) -> Reply {
    let doc = |name: &str, docstatus: u8| {
        json!({"name": name, "docstatus": docstatus, "customer": "C-1", "po_no": "PO-1",
               "grand_total": 2, "advance_paid": 0, "items": []})
    };
    let path = s.target.split('?').next().unwrap_or("");
    match (s.method.clone(), path) {
        (Method::GET, "/api/resource/Sales%20Order") => {
            if s.target.contains("inject-name") {
                Reply::json(200, json!({"data": [{"name": "../../x?y=1#z"}]}))
            } else {
                Reply::json(200, json!({"data": [doc("SO-1", 0)]}))
            }
        }
        (Method::POST, "/api/resource/Sales%20Order") => {
            Reply::json(200, json!({"data": doc("SO-NEW", 0)}))
        }
        (Method::GET | Method::PUT, p) if p.starts_with(ORDER_PREFIX) => {
            Reply::json(200, json!({"data": doc("SO-1", 0)}))
        }
        (Method::DELETE, p) if p.starts_with(ORDER_PREFIX) => {
            Reply::json(202, json!({"data": "ok"}))
        }
        (Method::POST, "/api/method/frappe.client.submit") => {
            Reply::json(200, json!({"message": doc("SO-1", 1)}))
        }
        (Method::POST, "/api/method/frappe.client.cancel") => {
            Reply::json(200, json!({"message": doc("SO-1", 2)}))
        }
        _ => Reply::json(
            404,
            json!({"exc_type": "DoesNotExistError", "exception": "frappe.exceptions.DoesNotExistError: no route"}),
        ),
    }
}

/// A hostile ERP on raw TCP: what it answers depends on the last path segment.
struct Evil {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Evil {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn evil_start() -> Evil {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind evil");
    let addr = listener.local_addr().expect("evil address");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen2.clone();
            tokio::spawn(async move {
                let _ = evil_conn(stream, seen, addr.port()).await;
            });
        }
    });
    Evil { addr, seen, task }
}

fn doc_json(name: &str) -> String {
    json!({"data": {"name": name, "docstatus": 0, "customer": "C-1", "items": []}}).to_string()
}

async fn evil_conn(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<String>>>,
    port: u16,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 1 << 20 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end - 4;
    while have < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
    }
    seen.lock()
        .expect("lock")
        .push(format!("{method} {target}"));
    let path = target.split('?').next().unwrap_or("");
    let id = if method == "POST" {
        "garbage"
    } else {
        path.rsplit('/').next().unwrap_or("")
    };

    let answer = |status: &str, ctype: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let json_ok = |body: &[u8]| answer("200 OK", "application/json", body);
    let xml_ok = |body: &[u8]| answer("200 OK", "application/xml", body);
    let big = 20 * 1024 * 1024;

    let bytes: Vec<u8> = match id {
        "ok" => json_ok(doc_json("EVIL-OK").as_bytes()),
        "html" => answer(
            "200 OK",
            "text/html",
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        "htmljson" => json_ok(b"<!DOCTYPE html><html><body>Maintenance</body></html>"),
        "garbage" => json_ok(&(0..=255u8).cycle().take(4096).collect::<Vec<u8>>()),
        "truncated" => {
            let body = doc_json("TRUNC");
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len() + 500
            )
            .into_bytes();
            out.extend_from_slice(&body.as_bytes()[..body.len() / 2]);
            out
        }
        "truncchunk" => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{\"data\": {\"name\": \"TR".to_vec(),
        "huge" | "hugechunk" | "xml-huge" => {
            let chunked = id == "hugechunk";
            let (ctype, open): (&str, &[u8]) = if id == "xml-huge" {
                ("application/xml", b"<order><id>")
            } else {
                ("application/json", br#"{"data": {"name": ""#)
            };
            let framing = if chunked {
                "Transfer-Encoding: chunked".to_string()
            } else {
                format!("Content-Length: {}", big + open.len())
            };
            stream
                .write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{framing}\r\n\r\n")
                        .as_bytes(),
                )
                .await?;
            let write = |data: &[u8]| {
                if chunked {
                    let mut f = format!("{:x}\r\n", data.len()).into_bytes();
                    f.extend_from_slice(data);
                    f.extend_from_slice(b"\r\n");
                    f
                } else {
                    data.to_vec()
                }
            };
            stream.write_all(&write(open)).await?;
            let block = write(&vec![b'x'; 64 * 1024]);
            for _ in 0..big / (64 * 1024) {
                stream.write_all(&block).await?;
            }
            if chunked {
                stream.write_all(b"0\r\n\r\n").await?;
            }
            return stream.shutdown().await;
        }
        "deep" => json_ok(format!(r#"{{"data": {}}}"#, nested("[", "]", 1000, "")).as_bytes()),
        "deepish" => json_ok(
            format!(
                r#"{{"data": {{"name": "D", "docstatus": 0, "items": [], "x": {}}}}}"#,
                nested(r#"{"a":"#, "}", 100, "1")
            )
            .as_bytes(),
        ),
        "textjson" => answer("200 OK", "text/plain", doc_json("TEXT").as_bytes()),
        "png" => answer(
            "200 OK",
            "image/png",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01",
        ),
        "empty" => json_ok(b""),
        "hangup" => return Ok(()),
        "midheaders" => b"HTTP/1.1 200 OK\r\nContent-Ty".to_vec(),
        "badstatus" => b"HTTP/1.1 abc nope\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        "bigheaders" => {
            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
            for i in 0..1024 {
                out.extend_from_slice(format!("X-Junk-{i}: {}\r\n", "j".repeat(1000)).as_bytes());
            }
            let body = doc_json("BIG");
            out.extend_from_slice(
                format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
            out
        }
        "status999" => answer("999 Weird", "application/json", doc_json("W").as_bytes()),
        "datastring" => json_ok(br#"{"data": "just a string"}"#),
        "datanull" => json_ok(br#"{"data": null}"#),
        "dataempty" => json_ok(br#"{"data": {}}"#),
        "dataarray" => json_ok(br#"{"data": [1, 2]}"#),
        "datanumber" => json_ok(br#"{"data": 42}"#),
        "nameobject" => json_ok(br#"{"data": {"name": {"x": 1}, "docstatus": 0, "items": []}}"#),
        "hugenum" => json_ok(
            br#"{"data": {"name": "N", "docstatus": 0, "grand_total": 1e400, "advance_paid": 1e400, "items": [{"item_code": "A", "qty": 1e400, "rate": -1e400}]}}"#,
        ),
        "nuljson" => json_ok(b"{\"data\": {\"name\": \"N\0\", \"docstatus\": 0, \"items\": []}}"),
        "drip" => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
                )
                .await?;
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stream.write_all(b" ").await?;
            }
            return Ok(());
        }
        "wide" => {
            let members: String = (0..100_000).map(|i| format!(r#","k{i}":{i}"#)).collect();
            json_ok(format!(r#"{{"data": {{"name": "WIDE", "docstatus": 0, "items": []{members}}}, "x": {{"k": 0{members}}}}}"#).as_bytes())
        }
        "xml-ok" => xml_ok(b"<order><id>XML-1</id></order>"),
        "xml-wide" => {
            let children: String = (0..100_000).map(|i| format!("<k{i}>{i}</k{i}>")).collect();
            xml_ok(format!("<order><id>XML-W</id>{children}<k7>again</k7></order>").as_bytes())
        }
        "xml-laughs" => {
            let mut dtd = String::from(r#"<?xml version="1.0"?><!DOCTYPE order [<!ENTITY lol "lol">"#);
            dtd.push_str(r#"<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">"#);
            for i in 2..=9 {
                let p = i - 1;
                let refs = format!("&lol{p};").repeat(10);
                let _ = write!(dtd, r#"<!ENTITY lol{i} "{refs}">"#);
            }
            dtd.push_str("]><order><id>&lol9;</id></order>");
            xml_ok(dtd.as_bytes())
        }
        "xml-xxe" => xml_ok(
            br#"<?xml version="1.0"?><!DOCTYPE order [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><order><id>&xxe;</id></order>"#,
        ),
        "xml-extdtd" => xml_ok(
            format!(
                r#"<?xml version="1.0"?><!DOCTYPE order SYSTEM "http://127.0.0.1:{port}/api/dtd"><order><id>&ext;</id></order>"#
            )
            .as_bytes(),
        ),
        "xml-deep" => xml_ok(format!("<order>{}</order>", nested("<a>", "</a>", 1000, "x")).as_bytes()),
        "xml-trunc" => xml_ok(b"<order><id>XML-1</id><lines><item><sku>A</sku>"),
        "xml-html" => xml_ok(b"<html><body><h1>502 Bad Gateway</h1><br></body></html>"),
        "xml-undef" => xml_ok(b"<order><id>&foo;</id></order>"),
        "xml-tworoots" => xml_ok(b"<order><id>1</id></order><order><id>2</id></order>"),
        _ => answer(
            "404 Not Found",
            "application/json",
            br#"{"exc_type": "DoesNotExistError"}"#,
        ),
    };
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// The gateway

fn config(up: &str, evil: &str, xml_mapping: &str) -> String {
    let extra = format!(
        r#"  evil:
    vendor: dokos
    base_url: {evil}
    secrets: {{ api_key: "${{TEST_DOKOS_KEY}}", api_secret: "${{TEST_DOKOS_SECRET}}" }}
    timeouts: {{ connect: 1s, request: 2s }}
  evilxml:
    vendor: evilxml
    base_url: {evil}
    timeouts: {{ connect: 1s, request: 2s }}
"#
    );
    dokos_config(up, &extra)
        .replace(
            "limits: { max_body_bytes: 65536 }",
            &format!(
                "limits: {{ max_body_bytes: {MAX_BODY}, header_read_timeout: {HEADER_READ_TIMEOUT}, body_read_timeout: 3s }}"
            ),
        )
        .replace(
            &format!("mappings: {}", mappings_dir()),
            &format!("mappings: [{}, {xml_mapping}]", mappings_dir()),
        )
}

const XML_MAPPING: &str = r#"vendor: evilxml
description: an XML ERP for hostile-answer tests
operations:
  get_order:
    steps:
      - name: got
        request:
          method: GET
          path: "/api/xml/${path.id}"
          response: xml
          xml: { root: order }
    result: { id: $got.body.id }
"#;

/// `VmRSS` and `VmHWM` of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The gateway still serves: its contract, and a real order on both connections.
async fn still_up(gw: &Gateway) -> Result<(), String> {
    for (path, want) in [
        ("/openapi.json", 200),
        ("/v1/orders/PROBE", 200),
        ("/v1/connections/evil/orders/ok", 200),
    ] {
        let got = exchange(
            gw.addr,
            request("GET", path, &[], b""),
            Filler::None,
            Duration::from_secs(5),
        )
        .await;
        if got.status != Some(want) {
            return Err(format!(
                "the gateway no longer serves {path}: {}",
                got.describe()
            ));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_inputs_get_documented_problems_and_the_gateway_stays_up() {
    let started = Instant::now();
    let up = Upstream::start(frappe).await;
    let evil = evil_start().await;
    let dir = temp_dir("hostile");
    let xml_mapping = dir.join("evilxml.yaml");
    std::fs::write(&xml_mapping, XML_MAPPING).expect("write the XML mapping");
    let gw = Gateway::start(
        &config(
            &up.url(),
            &format!("http://{}", evil.addr),
            xml_mapping.to_str().expect("utf8 path"),
        ),
        &dokos_env(),
    );
    let pid = gw.pid();
    still_up(&gw)
        .await
        .expect("the gateway serves before the run");
    let (rss_before, _) = memory_kb(pid);

    let cases = cases();
    let total = cases.len();
    let mut failures: Vec<String> = Vec::new();
    let mut passed: Vec<String> = Vec::new();

    // Slow clients run in the background while the rest of the table runs.
    let mut slow = Vec::new();
    let mut sequential = Vec::new();
    for c in cases {
        match c.req {
            Req::Slow(kind) => {
                let Want::ClosedWithin(bound) = c.want else {
                    panic!("{}: a slow client is judged by ClosedWithin", c.name);
                };
                let addr = gw.addr;
                let task = tokio::spawn(async move {
                    match kind {
                        Slow::Crowd => crowd(addr, bound).await,
                        _ => slow_client(addr, kind, bound).await,
                    }
                });
                slow.push((c.name, bound, task));
            }
            _ => sequential.push(c),
        }
    }

    let mut growth: Vec<(u64, String)> = Vec::new();
    let mut rss_last = rss_before;
    for c in sequential {
        let Req::Raw(bytes, filler) = c.req else {
            unreachable!()
        };
        up.clear();
        evil.seen.lock().expect("lock").clear();
        let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
        let to_evil = first_line.windows(17).any(|w| w == b"/connections/evil");
        let log_mark = gw.logs.lock().expect("lock").len();
        let got = exchange(gw.addr, bytes, filler, ANSWER_WAIT).await;
        let seen = up.requests();
        let evil_seen = evil.seen.lock().expect("lock").clone();
        let mut errors = Vec::new();
        if to_evil && evil_seen.is_empty() {
            errors.push("the hostile ERP was never asked: the case tests nothing".into());
        }
        if let Err(e) = check_want(&c.want, &got) {
            errors.push(e);
        }
        if let Err(e) = check_up(&c.up, &got, &seen) {
            errors.push(e);
        }
        if got.status == Some(500) {
            errors.push("a 500".into());
        }
        if let Err(e) = still_up(&gw).await {
            errors.push(e);
        }
        let panics: Vec<String> = gw.logs.lock().expect("lock")[log_mark..]
            .iter()
            .filter(|l| l.contains("panicked"))
            .map(|l| l.chars().take(300).collect())
            .collect();
        if !panics.is_empty() {
            errors.push(format!("the gateway panicked: {panics:?}"));
        }
        if std::env::var_os("HOSTILE_VERBOSE").is_some() {
            eprintln!(
                "{:<80} -> {} | ERP got {:?}",
                c.name,
                match serde_json::from_slice::<Value>(&got.body) {
                    Ok(p) if p["code"].is_string() => format!(
                        "{} {} {} {}",
                        got.status.unwrap_or(0),
                        p["code"],
                        p["detail"],
                        p["errors"]
                    ),
                    _ => got.describe().chars().take(160).collect::<String>(),
                },
                targets(&seen)
                    .iter()
                    .map(|t| t.chars().take(90).collect::<String>())
                    .collect::<Vec<_>>()
            );
        }
        let (rss_now, _) = memory_kb(pid);
        growth.push((rss_now.saturating_sub(rss_last), c.name.clone()));
        rss_last = rss_now;
        if errors.is_empty() {
            passed.push(c.name);
        } else {
            failures.push(format!("{}: {}", c.name, errors.join("; ")));
        }
    }

    for (name, bound, task) in slow {
        match task.await {
            Ok(Ok(after)) if after <= bound => passed.push(name),
            Ok(Ok(after)) => failures.push(format!(
                "{name}: closed only after {after:?} (bound {bound:?})"
            )),
            Ok(Err(e)) => failures.push(format!("{name}: {e} (bound {bound:?})")),
            Err(e) => failures.push(format!("{name}: the client task failed: {e}")),
        }
    }
    if let Err(e) = still_up(&gw).await {
        failures.push(format!("after the slow clients: {e}"));
    }

    // The gateway's memory after the run, and at its peak.
    let (rss, hwm) = memory_kb(pid);
    eprintln!(
        "hostile inputs: {total} cases, {} passed, {} failed in {:?}; VmRSS {rss_before} kB before, {rss} kB after, VmHWM {hwm} kB",
        passed.len(),
        failures.len(),
        started.elapsed()
    );
    growth.sort_by_key(|g| std::cmp::Reverse(g.0));
    let top: Vec<String> = growth
        .iter()
        .take(5)
        .map(|(kb, name)| format!("+{kb} kB after {name:?}"))
        .collect();
    if std::env::var_os("HOSTILE_VERBOSE").is_some() {
        eprintln!("largest VmRSS steps: {top:?}");
    }
    if rss == 0 || rss > MAX_RSS_KB {
        failures.push(format!(
            "VmRSS after the run: {rss} kB (bound {MAX_RSS_KB} kB); largest steps: {top:?}"
        ));
    }
    if hwm > MAX_HWM_KB {
        failures.push(format!("VmHWM: {hwm} kB (bound {MAX_HWM_KB} kB)"));
    }
    let external_dtd = evil
        .seen
        .lock()
        .expect("lock")
        .iter()
        .any(|s| s.contains("/api/dtd"));
    if external_dtd {
        failures.push("the gateway fetched an external DTD named by the ERP".into());
    }
    let logs = gw.log_text();
    if logs.contains("panicked") {
        failures.push("the gateway's log shows a panic".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(total >= 50, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} of {total} hostile inputs were not handled as documented:\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}
