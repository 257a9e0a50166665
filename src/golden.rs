//! Golden fixtures of mappings (`ordergate test`): one YAML file per case, with the canonical
//! request, the exact vendor requests the mapping must send (and the vendor's recorded
//! replies), and the canonical answer expected. The flow runs as in production; only the
//! transport is the recording.
//!
//! ```yaml
//! name: create a draft
//! operation: create_order
//! now: 2026-11-23T00:00:00Z            # optional fixed clock ($now, $today)
//! connection: { settings: {...}, secrets: {...} }   # optional
//! request: { body: {...}, path: {id: X}, query: {limit: 5} }
//! exchanges:
//!   - expect: { method: POST, path: /api/x, headers: {...}, body: {...} | body_text: "..." }
//!     reply:  { status: 200, headers: {...}, body: {...} | body_text: "..." }
//! result: { status: 201, body: {...} }   # body compared whole; for errors: { status, problem: {code, ...} }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::json;
use crate::value::{Map, Value};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::canonical::operation::Operation;
use crate::canonical::query::list_query;
use crate::canonical::validate::check_body;
use crate::config::snapshot::compile_mappings;
use crate::config::snapshot::read_mappings;
use crate::engine::convert::values_equal;
use crate::engine::plan::Mapping;
use crate::engine::render::VendorRequest;
use crate::flow::{self, OpInput, OpOutput, Target};
use crate::upstream::auth::TokenCache;
use crate::upstream::{Transport, UpstreamError, UpstreamResponse};
use crate::yaml::{self, Node};

/// The outcome of one case.
pub struct CaseResult {
    pub file: String,
    pub name: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

/// Sends every request a fixture makes to a third-party validator of the vendor's API
/// description (a Stoplight Prism mock server started with `--errors`), and reports what it
/// finds wrong: an independent check that the mapping speaks the vendor's documented API.
pub struct ContractCheck {
    transport: crate::upstream::client::HttpTransport,
}

impl ContractCheck {
    pub fn new(base_url: &str) -> Result<Self, UpstreamError> {
        Ok(ContractCheck {
            transport: crate::upstream::client::HttpTransport::new(
                "contract-check",
                base_url,
                crate::upstream::client::ClientOptions::default(),
            )?,
        })
    }

    /// The validator's objections to `req`, if any.
    async fn check(&self, req: &VendorRequest) -> Option<String> {
        let resp = match self.transport.send(req).await {
            Ok(r) => r,
            Err(e) => return Some(format!("the validator did not answer: {e}")),
        };
        let violations = resp
            .headers
            .get("sl-violations")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let errors: Vec<String> = violations
            .iter()
            .filter(|v| {
                v.get("severity")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.eq_ignore_ascii_case("error"))
            })
            .map(|v| {
                format!(
                    "{} {}",
                    v.get("location").map(|l| l.to_string()).unwrap_or_default(),
                    v.get("message").and_then(Value::as_str).unwrap_or("")
                )
            })
            .collect();
        if !errors.is_empty() {
            return Some(format!(
                "{} {}: the vendor description refuses it: {}",
                req.method,
                req.path_and_query,
                errors.join("; ")
            ));
        }
        if resp.status == 422
            || resp.status == 404
                && resp
                    .headers
                    .get("content-type")
                    .is_some_and(|c| c.to_str().unwrap_or("").contains("problem"))
        {
            return Some(format!(
                "{} {}: the validator answered {}: {}",
                req.method,
                req.path_and_query,
                resp.status,
                String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(400)
                    .collect::<String>()
            ));
        }
        None
    }
}

/// Runs every fixture of the mappings found under `paths` (files or folders).
pub async fn run_paths(paths: &[PathBuf]) -> Result<Vec<CaseResult>, Vec<String>> {
    run_paths_checked(paths, None).await
}

/// `run_paths`, sending every vendor request to `check` too.
pub async fn run_paths_checked(
    paths: &[PathBuf],
    check: Option<&ContractCheck>,
) -> Result<Vec<CaseResult>, Vec<String>> {
    let sources = read_mappings(paths)?;
    let mappings = compile_mappings(&sources)?;
    let mut results = Vec::new();
    for m in mappings.values() {
        let dir = fixture_dir(m);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        for f in files {
            results.push(run_file_checked(m, &f, check).await);
        }
    }
    Ok(results)
}

/// `<mapping folder>/<fixtures>` (default `<vendor>/fixtures`).
pub fn fixture_dir(m: &Mapping) -> PathBuf {
    let base = Path::new(m.file.as_ref())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    base.join(
        m.fixtures
            .clone()
            .unwrap_or_else(|| format!("{}/fixtures", m.vendor)),
    )
}

pub async fn run_file(m: &Mapping, file: &Path) -> CaseResult {
    run_file_checked(m, file, None).await
}

async fn run_file_checked(m: &Mapping, file: &Path, check: Option<&ContractCheck>) -> CaseResult {
    let name_of_file = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(&name_of_file, "?", format!("cannot read: {e}")),
    };
    let node = match yaml::parse(&name_of_file, &text) {
        Ok(n) => n,
        Err(e) => return fail(&name_of_file, "?", e.to_string()),
    };
    let name = node
        .get("name")
        .and_then(Node::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    match run_case(m, &node, check).await {
        Ok(failures) => CaseResult {
            file: name_of_file,
            name,
            failures,
        },
        Err(e) => fail(&name_of_file, &name, e),
    }
}

fn fail(file: &str, name: &str, message: String) -> CaseResult {
    CaseResult {
        file: file.to_string(),
        name: name.to_string(),
        failures: vec![message],
    }
}

struct Exchange {
    expect: Node,
    reply: UpstreamResponse,
}

/// Replays recorded exchanges and notes every difference from the expected requests.
struct Recording<'c> {
    check: Option<&'c ContractCheck>,
    exchanges: Vec<Exchange>,
    next: Mutex<usize>,
    failures: Mutex<Vec<String>>,
}

impl Transport for Recording<'_> {
    async fn send(&self, req: &VendorRequest) -> Result<UpstreamResponse, UpstreamError> {
        let index = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let i = *next;
            *next += 1;
            i
        };
        let Some(ex) = self.exchanges.get(index) else {
            self.note(format!(
                "unexpected request #{}: {} {}",
                index + 1,
                req.method,
                req.path_and_query
            ));
            return Err(UpstreamError::Connect("no recorded exchange left".into()));
        };
        for diff in compare_request(&ex.expect, req) {
            self.note(format!("request #{}: {diff}", index + 1));
        }
        if let Some(check) = self.check
            && let Some(objection) = check.check(req).await
        {
            self.note(format!("request #{}: {objection}", index + 1));
        }
        Ok(ex.reply.clone())
    }
}

impl Recording<'_> {
    fn note(&self, f: String) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }
}

async fn run_case(
    m: &Mapping,
    node: &Node,
    check: Option<&ContractCheck>,
) -> Result<Vec<String>, String> {
    let op_name = node
        .get("operation")
        .and_then(Node::as_str)
        .ok_or("missing `operation:`")?;
    let op = Operation::parse(op_name).ok_or_else(|| format!("unknown operation `{op_name}`"))?;
    let now: Option<DateTime<Utc>> = match node.get("now").and_then(Node::as_str) {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| format!("`now`: {e}"))?
                .with_timezone(&Utc),
        ),
        None => Some(
            DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
                .map_err(|e| e.to_string())?
                .with_timezone(&Utc),
        ),
    };
    let conn = node.get("connection");
    let part = |key: &str| {
        conn.and_then(|c| c.get(key))
            .map(Node::to_json)
            .unwrap_or_else(|| json!({}))
    };
    let mut settings = match part("settings") {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    for spec in &m.settings {
        if let (false, Some(d)) = (settings.contains_key(&spec.name), &spec.default) {
            settings.insert(spec.name.clone(), d.clone());
        }
    }
    let settings = Value::Object(settings);
    let secrets = part("secrets");
    let secret_values: Vec<String> = secrets
        .as_object()
        .map(|o| {
            o.values()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let info = json!({"name": "fixture", "vendor": m.vendor, "base_url": "http://erp.test"});
    let tokens = TokenCache::default();
    let target = Target {
        name: "fixture",
        mapping: m,
        settings: &settings,
        secrets: &secrets,
        info: &info,
        secret_values: &secret_values,
        tokens: &tokens,
    };
    let request = node.get("request");
    let get = |key: &str| {
        request
            .and_then(|r| r.get(key))
            .map(Node::to_json)
            .unwrap_or(Value::Null)
    };
    let body = get("body");
    let query = match request.and_then(|r| r.get("query")) {
        None => Value::Null,
        Some(q) => {
            let text = match q.to_json() {
                Value::Object(o) => o
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            crate::engine::convert::scalar_text(v).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
                _ => String::new(),
            };
            list_query(Some(&text)).map_err(|e| format!("invalid query: {e:?}"))?
        }
    };
    let mut exchanges = Vec::new();
    if let Some(list) = node.get("exchanges") {
        let yaml::NodeKind::Seq(items) = &list.kind else {
            return Err("`exchanges:` is a list".into());
        };
        for item in items {
            let expect = item
                .get("expect")
                .cloned()
                .ok_or_else(|| item.err("exchange needs `expect:`").to_string())?;
            let reply = item
                .get("reply")
                .ok_or_else(|| item.err("exchange needs `reply:`").to_string())?;
            exchanges.push(Exchange {
                expect,
                reply: reply_of(reply)?,
            });
        }
    }
    let recording = Recording {
        check,
        exchanges,
        next: Mutex::new(0),
        failures: Mutex::new(Vec::new()),
    };
    let input = OpInput {
        body,
        path: get("path"),
        query,
        now,
        traceparent: None,
    };
    let outcome = match check_body(op, &input.body) {
        Err(p) => Err(p),
        Ok(()) => flow::run(&target, &recording, op, &input).await,
    };
    let mut failures = recording
        .failures
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let used = *recording.next.lock().unwrap_or_else(|e| e.into_inner());
    if used < recording.exchanges.len() {
        failures.push(format!(
            "{} recorded exchange(s) were never requested",
            recording.exchanges.len() - used
        ));
    }
    let result = node.get("result").ok_or("missing `result:`")?;
    let expected_status = result.get("status").map(Node::to_json);
    let (status, actual) = match outcome {
        Ok(OpOutput::Empty) => (204, Value::Null),
        Ok(OpOutput::Order(o)) => (op.success_status(), o.to_value()),
        Ok(OpOutput::List {
            data,
            next_cursor,
            total,
        }) => (200, crate::flow::page_value(data, next_cursor, total)),
        Err(p) => (p.status(), Value::from(p.to_json("fixture"))),
    };
    if let Some(s) = expected_status
        && s.as_u64() != Some(u64::from(status))
    {
        failures.push(format!("status: expected {s}, got {status}"));
    }
    if let Some(expected) = result.get("body") {
        let expected = expected.to_json();
        if !values_equal(&expected, &actual) {
            failures.push(format!(
                "canonical answer differs:\n{}",
                diff(&expected, &actual)
            ));
        }
    }
    if let Some(problem) = result.get("problem") {
        let expected = problem.to_json();
        let mut subset = Map::new();
        for k in expected
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let found = actual.get(k.as_str()).cloned();
            subset.insert(k, found.unwrap_or(Value::Null));
        }
        let subset = Value::Object(subset);
        if !values_equal(&expected, &subset) {
            failures.push(format!("problem differs:\n{}", diff(&expected, &subset)));
        }
    }
    Ok(failures)
}

fn reply_of(node: &Node) -> Result<UpstreamResponse, String> {
    let status = node
        .get("status")
        .and_then(|s| s.to_json().as_u64())
        .ok_or_else(|| node.err("reply needs `status:`").to_string())? as u16;
    let mut headers = http::HeaderMap::new();
    if let Some(h) = node.get("headers").and_then(Node::as_map) {
        for (k, v) in h {
            let name =
                http::HeaderName::from_bytes(k.name.as_bytes()).map_err(|e| e.to_string())?;
            let text = crate::engine::convert::scalar_text(&v.to_json()).unwrap_or_default();
            headers.append(
                name,
                http::HeaderValue::from_str(&text).map_err(|e| e.to_string())?,
            );
        }
    }
    let body = match (node.get("body"), node.get("body_text")) {
        (Some(b), _) => {
            if !headers.contains_key(http::header::CONTENT_TYPE) {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
            }
            Bytes::from(serde_json::to_vec(&b.to_json()).map_err(|e| e.to_string())?)
        }
        (None, Some(t)) => Bytes::from(t.as_str().unwrap_or_default().to_string()),
        (None, None) => Bytes::new(),
    };
    Ok(UpstreamResponse {
        status,
        headers,
        body,
    })
}

/// Every way `req` differs from `expect`.
pub fn compare_request(expect: &Node, req: &VendorRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = expect.get("method").and_then(Node::as_str)
        && m != req.method.as_str()
    {
        out.push(format!("method: expected {m}, got {}", req.method));
    }
    if let Some(p) = expect.get("path").and_then(Node::as_str)
        && p != req.path_and_query
    {
        out.push(format!(
            "path: expected\n    {p}\n  got\n    {}",
            req.path_and_query
        ));
    }
    if let Some(h) = expect.get("headers").and_then(Node::as_map) {
        for (k, v) in h {
            let want = crate::engine::convert::scalar_text(&v.to_json()).unwrap_or_default();
            match req.header(&k.name) {
                Some(got) if got == want => {}
                Some(got) => out.push(format!("header {}: expected `{want}`, got `{got}`", k.name)),
                None => out.push(format!("header {}: expected `{want}`, missing", k.name)),
            }
        }
    }
    if let Some(b) = expect.get("body") {
        let expected = b.to_json();
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(actual) if values_equal_exact(&expected, &actual) => {}
            Ok(actual) => out.push(format!("body differs:\n{}", diff(&expected, &actual))),
            Err(_) => out.push(format!(
                "body: expected JSON, got `{}`",
                String::from_utf8_lossy(&req.body)
            )),
        }
    }
    if let Some(t) = expect.get("body_text").and_then(Node::as_str) {
        let got = String::from_utf8_lossy(&req.body);
        if t.trim_end() != got.trim_end() {
            out.push(format!(
                "body differs:\n{}",
                text_diff(t.trim_end(), got.trim_end())
            ));
        }
    }
    out
}

/// Request bodies are compared by their exact number text too: `3` and `3.0` are two requests.
fn values_equal_exact(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal_exact(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal_exact(p, q))
        }
        _ => a == b,
    }
}

fn diff(expected: &Value, actual: &Value) -> String {
    let e = serde_json::to_string_pretty(expected).unwrap_or_default();
    let a = serde_json::to_string_pretty(actual).unwrap_or_default();
    text_diff(&e, &a)
}

fn text_diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(2)
        .header("expected", "actual")
        .to_string()
}
