//! The fuzz harness of ordergate: one function per fuzz target, each feeding raw bytes through
//! the gateway's public API the way untrusted input reaches it.
//!
//! Used twice, from the same source: by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, one
//! line each) and by `tests/fuzz_regressions.rs`, which includes this file with `#[path]` and
//! replays every checked-in input (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) on
//! stable without libFuzzer. A panic here is a crash; the few invariants checked with
//! `assert!` are promises of the gateway (say, no value ever changes the shape of the vendor
//! URL), not details of the implementation.
//!
//! The mapping targets run real mappings (`mappings/*.yaml`, compiled once) through
//! `ordergate::flow::run` with a transport that replays a golden fixture's recorded answers:
//! the mapping renders the vendor request from fuzzed input (`render_request`, `list_query`),
//! or reads a fuzzed vendor answer (`vendor_answer`).

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ordergate::canonical::operation::Operation;
use ordergate::canonical::query::list_query as parse_list_query;
use ordergate::canonical::validate::{Body, check_body, schema_accepts, typed_accepts, validate};
use ordergate::codec;
use ordergate::engine::compile::compile_file;
use ordergate::engine::plan::{ElementPath, Mapping, XmlOptions};
use ordergate::engine::render::VendorRequest;
use ordergate::flow::{self, OpInput, OpOutput, Target};
use ordergate::json;
use ordergate::upstream::auth::TokenCache;
use ordergate::upstream::{Transport, UpstreamError, UpstreamResponse};
use ordergate::value::{Map, Value};
use ordergate::yaml::{self, Node};

/// Every fuzz target, by name (the folder names under `fuzz/corpus/` and `fuzz/regressions/`).
pub const TARGETS: &[&str] = &[
    "canonical_body",
    "list_query",
    "render_request",
    "vendor_answer",
    "decode_json",
    "decode_xml",
    "decode_form",
    "mapping_compile",
];

/// Runs target `name` on `data`; false when there is no such target.
pub fn run_target(name: &str, data: &[u8]) -> bool {
    match name {
        "canonical_body" => canonical_body(data),
        "list_query" => list_query(data),
        "render_request" => render_request(data),
        "vendor_answer" => vendor_answer(data),
        "decode_json" => decode_json(data),
        "decode_xml" => decode_xml(data),
        "decode_form" => decode_form(data),
        "mapping_compile" => mapping_compile(data),
        _ => return false,
    }
    true
}

// ---------------------------------------------------------------------------------------------
// (a) Canonical requests: the body of create/update, the list query.

/// A client's JSON body: parsed as the server does, validated as create and as update.
pub fn canonical_body(data: &[u8]) {
    let Ok(body) = codec::json::parse(&Bytes::copy_from_slice(data)) else {
        return;
    };
    for (which, op) in [
        (Body::Create, Operation::CreateOrder),
        (Body::Update, Operation::UpdateOrder),
    ] {
        let errors = validate(&body, which);
        for e in &errors {
            // A client is told where the problem is: the pointer names a place in its body.
            assert!(
                body.pointer(&e.pointer).is_some(),
                "error pointer {:?} is not in the body ({})",
                e.pointer,
                e.message
            );
        }
        match check_body(op, &body) {
            Ok(()) => assert!(
                errors.is_empty(),
                "check_body accepts what validate refuses"
            ),
            Err(p) => {
                assert!(
                    !errors.is_empty(),
                    "check_body refuses what validate accepts"
                );
                let _ = p.to_json("fuzz").to_string();
            }
        }
    }
    // The typed reading that checks valid bodies in one pass never accepts what the contract's
    // schema refuses.
    for which in [Body::Create, Body::Update, Body::Payment] {
        if typed_accepts(&body, which) {
            assert!(
                schema_accepts(&body, which),
                "the typed reading accepts a {which:?} body the schema refuses"
            );
        }
    }
    assert!(check_body(Operation::GetOrder, &body).is_ok());
}

/// A client's list query string (`GET /orders?...`): validated, then (when valid) sent as a
/// list request through every mapping.
pub fn list_query(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let query = match parse_list_query(Some(&raw)) {
        Ok(q) => q,
        Err(errors) => {
            assert!(!errors.is_empty());
            return;
        }
    };
    let q = query.as_object().expect("a valid query is an object");
    if let Some(limit) = q.get("limit") {
        let n = limit.as_u64().expect("limit is a whole number");
        assert!((1..=1000).contains(&n), "limit {n} out of range");
    }
    for case in &cases().list {
        let input = OpInput {
            query: query.clone(),
            ..case.input()
        };
        case.run(&input, None);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Mapping rendering: the vendor request each mapping builds from a canonical body.

/// A client's JSON body rendered by every mapping as its create and update requests (whether
/// or not it passes the contract check, which runs first in the gateway), and its
/// `external_ref` as the path value of a get by id / by reference.
pub fn render_request(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let c = cases();
    for case in c.create.iter().chain(&c.update) {
        let input = OpInput {
            body: body.clone(),
            ..case.input()
        };
        case.run(&input, None);
    }
    if let Some(r) = body.get("external_ref").and_then(Value::as_str) {
        for case in &c.get {
            let by_id = OpInput {
                path: json!({ "id": r }),
                ..case.input()
            };
            case.run(&by_id, None);
            let by_ref = OpInput {
                path: json!({ "external_ref": r }),
                ..case.input()
            };
            case.run_op(Operation::GetOrderByRef, &by_ref, None);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Vendor answers, decoders, mapping files.

const STATUSES: &[u16] = &[
    200, 201, 202, 204, 302, 400, 401, 403, 404, 409, 417, 422, 429, 500, 502, 503,
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/xml",
    "text/xml; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/html",
    "text/plain; charset=utf-8",
    "",
];

/// A vendor's answer read by a mapping. `data[0]` picks the case (a golden fixture: create,
/// get, list or confirm of one vendor), `data[1]` the status (0 = the fixture's), `data[2]`
/// the content type (0 = the fixture's); the rest is the body of every answer after the
/// login.
pub fn vendor_answer(data: &[u8]) {
    let [pick, status, ctype, body @ ..] = data else {
        return;
    };
    let all = &cases().answer;
    let case = &all[usize::from(*pick) % all.len()];
    let status = match usize::from(*status) % (STATUSES.len() + 1) {
        0 => None,
        i => Some(STATUSES[i - 1]),
    };
    let ctype = match usize::from(*ctype) % (CONTENT_TYPES.len() + 1) {
        0 => None,
        i => Some(CONTENT_TYPES[i - 1]),
    };
    let fuzzed = Fuzzed {
        status,
        content_type: ctype,
        body: Bytes::copy_from_slice(body),
    };
    case.run(&case.input(), Some(&fuzzed));
}

/// A vendor's JSON answer: read as serde_json reads it (what one refuses, the other refuses;
/// what both read is the same value), never deeper than the limit, and written back the same.
pub fn decode_json(data: &[u8]) {
    let ours = codec::json::parse(&Bytes::copy_from_slice(data));
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    let v = match (ours, theirs) {
        (Ok(v), Ok(theirs)) => {
            // Through serde_json's number, which writes `1e5` as `1e+5`.
            assert_eq!(
                serde_json::Value::from(v.clone()),
                theirs,
                "read unlike serde_json"
            );
            v
        }
        (Err(_), Err(_)) => return,
        // serde_json nests up to 128 levels, the gateway up to MAX_DEPTH.
        (Err(e), Ok(theirs))
            if codec::json::depth(&Value::from(theirs.clone())) > codec::MAX_DEPTH =>
        {
            assert!(e.what.starts_with("nested deeper"), "{e}");
            return;
        }
        (ours, theirs) => panic!("ours {ours:?}, serde_json {theirs:?}"),
    };
    assert!(codec::json::depth(&v) <= codec::MAX_DEPTH);
    // Numbers keep their text: what was read is written back the same.
    let again =
        codec::json::parse(&Bytes::from(v.to_string())).expect("a written value reads back");
    assert_eq!(v, again, "JSON does not round-trip");
}

/// A vendor's XML answer, read with a list attribute (`list="true"`) and `always_list` paths as
/// Mr.Doc's mapping does, and with the defaults.
pub fn decode_xml(data: &[u8]) {
    let marked = XmlOptions {
        list_attribute: Some(("list".into(), "true".into())),
        always_list: vec![
            ElementPath::parse("root/products"),
            ElementPath::parse("root/services"),
        ],
        ..XmlOptions::default()
    };
    for opts in [&marked, &XmlOptions::default()] {
        if let Ok(v) = codec::xml::decode(&Bytes::copy_from_slice(data), opts) {
            // Whatever was read can be written (or refused) without a panic.
            let _ = codec::xml::encode(&v, opts);
        }
    }
}

/// A vendor's form-encoded answer.
pub fn decode_form(data: &[u8]) {
    let v = codec::form::decode(data).expect("form decoding never fails");
    // Only strings and lists of strings come out, so they can be written back and read again.
    let bytes = codec::form::encode(&v).expect("a decoded form encodes");
    let again = codec::form::decode(&bytes).expect("form decoding never fails");
    assert_eq!(v, again, "form does not round-trip");
}

/// A mapping file (operator input): parsed as YAML and compiled.
pub fn mapping_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(node) = yaml::parse("fuzz.yaml", text) {
        let _ = node.to_json();
    }
    match compile_file("fuzz.yaml", text) {
        Ok(m) => {
            let _ = format!("{m:?}");
        }
        Err(e) => {
            assert!(
                !e.0.is_empty(),
                "a compile failure names at least one error"
            );
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The golden fixtures the mapping targets replay.

struct Vendor {
    name: &'static str,
    text: &'static str,
}

const VENDORS: &[Vendor] = &[
    Vendor {
        name: "dokos",
        text: include_str!("../../mappings/dokos.yaml"),
    },
    Vendor {
        name: "enapps",
        text: include_str!("../../mappings/enapps.yaml"),
    },
    Vendor {
        name: "mrdoc",
        text: include_str!("../../mappings/mrdoc.yaml"),
    },
    Vendor {
        name: "oneentry",
        text: include_str!("../../mappings/oneentry.yaml"),
    },
    Vendor {
        name: "valomnia",
        text: include_str!("../../mappings/valomnia.yaml"),
    },
];

macro_rules! fixture {
    ($vendor:literal, $file:literal) => {
        (
            $vendor,
            $file,
            include_str!(concat!("../../mappings/", $vendor, "/fixtures/", $file)),
        )
    };
}

type FixtureRef = (&'static str, &'static str, &'static str);

const CREATE: &[FixtureRef] = &[
    fixture!("dokos", "01-create-draft.yaml"),
    fixture!("enapps", "01-create-draft.yaml"),
    fixture!("mrdoc", "01-create-json-doc-example.yaml"),
    fixture!("mrdoc", "02-create-xml-doc-example.yaml"),
    fixture!("oneentry", "01-create-minimal.yaml"),
    fixture!("valomnia", "01-create-document-example.yaml"),
];

const UPDATE: &[FixtureRef] = &[
    fixture!("dokos", "10-update-draft.yaml"),
    fixture!("mrdoc", "11-update-status-and-vendor-fields.yaml"),
    fixture!("oneentry", "15-update-notes.yaml"),
    fixture!("valomnia", "09-update-paid-by-cheque-multipart.yaml"),
];

const GET: &[FixtureRef] = &[
    fixture!("dokos", "04-get-order.yaml"),
    fixture!("enapps", "04-get-order.yaml"),
    fixture!("mrdoc", "05-get-order.yaml"),
    fixture!("mrdoc", "06-get-order-xml.yaml"),
    fixture!("oneentry", "10-get-order.yaml"),
    fixture!("valomnia", "05-get-order.yaml"),
];

const LIST: &[FixtureRef] = &[
    fixture!("dokos", "08-list-filters-paging.yaml"),
    fixture!("enapps", "08-list-created-from.yaml"),
    fixture!("mrdoc", "09-list-filters-paging.yaml"),
    fixture!("mrdoc", "10-list-xml-next-page.yaml"),
    fixture!("oneentry", "12-list-first-page.yaml"),
    fixture!("valomnia", "07-list-filters-paging.yaml"),
];

const CONFIRM: &[FixtureRef] = &[
    fixture!("dokos", "11-confirm.yaml"),
    fixture!("enapps", "12-confirm.yaml"),
    fixture!("mrdoc", "12-confirm.yaml"),
    fixture!("mrdoc", "13-confirm-xml.yaml"),
    fixture!("oneentry", "17-confirm.yaml"),
    fixture!("valomnia", "11-confirm.yaml"),
];

/// The `vendor_answer` cases, in the order `data[0]` picks them (the seed corpus relies on it).
pub fn answer_case_names() -> Vec<String> {
    cases().answer.iter().map(|c| c.name.clone()).collect()
}

struct Cases {
    mappings: Vec<Mapping>,
    create: Vec<Case>,
    update: Vec<Case>,
    get: Vec<Case>,
    list: Vec<Case>,
    answer: Vec<Case>,
}

fn cases() -> &'static Cases {
    static CASES: OnceLock<Cases> = OnceLock::new();
    CASES.get_or_init(|| {
        let mappings: Vec<Mapping> = VENDORS
            .iter()
            .map(|v| {
                compile_file(&format!("{}.yaml", v.name), v.text)
                    .unwrap_or_else(|e| panic!("mappings/{}.yaml: {e}", v.name))
            })
            .collect();
        let load = |list: &[FixtureRef]| -> Vec<Case> {
            list.iter()
                .map(|(vendor, file, text)| {
                    let m = VENDORS
                        .iter()
                        .position(|v| v.name == *vendor)
                        .expect("known vendor");
                    Case::load(m, &mappings[m], &format!("{vendor}/{file}"), text)
                })
                .collect()
        };
        let create = load(CREATE);
        let update = load(UPDATE);
        let get = load(GET);
        let list = load(LIST);
        let mut answer = load(CREATE);
        answer.extend(load(GET));
        answer.extend(load(LIST));
        answer.extend(load(CONFIRM));
        Cases {
            mappings,
            create,
            update,
            get,
            list,
            answer,
        }
    })
}

/// One golden fixture: its connection and its request, and the answers it recorded.
struct Case {
    name: String,
    mapping: usize,
    op: Operation,
    settings: Value,
    secrets: Value,
    secret_values: Vec<String>,
    info: Value,
    body: Value,
    path: Value,
    query: Value,
    replies: Vec<UpstreamResponse>,
    /// Answers from this index on are the vendor's (not the login's): `vendor_answer` fuzzes them.
    first_fuzzed: usize,
}

/// What `vendor_answer` puts in place of the recorded answers.
struct Fuzzed {
    status: Option<u16>,
    content_type: Option<&'static str>,
    body: Bytes,
}

impl Case {
    fn load(mapping_index: usize, m: &Mapping, name: &str, text: &str) -> Case {
        let node = yaml::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let op_name = node
            .get("operation")
            .and_then(Node::as_str)
            .unwrap_or_else(|| panic!("{name}: no operation"));
        let op = Operation::parse(op_name).unwrap_or_else(|| panic!("{name}: operation"));
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
        let secrets = part("secrets");
        let secret_values = secrets
            .as_object()
            .map(|o| {
                o.values()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let request = node.get("request");
        let get = |key: &str| {
            request
                .and_then(|r| r.get(key))
                .map(Node::to_json)
                .unwrap_or(Value::Null)
        };
        let query = match get("query") {
            Value::Object(o) => {
                let text = o
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            ordergate::engine::convert::scalar_text(v).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                parse_list_query(Some(&text)).unwrap_or_else(|e| panic!("{name}: query {e:?}"))
            }
            _ => Value::Null,
        };
        let replies = match node.get("exchanges").map(|e| &e.kind) {
            Some(yaml::NodeKind::Seq(items)) => items
                .iter()
                .map(|item| reply_of(item.get("reply").unwrap_or_else(|| panic!("{name}: reply"))))
                .collect(),
            _ => Vec::new(),
        };
        let has_login = m.auth.as_ref().is_some_and(|a| a.login.is_some());
        Case {
            name: name.to_string(),
            mapping: mapping_index,
            op,
            settings: Value::Object(settings),
            secrets,
            secret_values,
            info: json!({"name": "fuzz", "vendor": m.vendor, "base_url": "http://erp.test"}),
            body: get("body"),
            path: get("path"),
            query,
            replies,
            first_fuzzed: usize::from(has_login),
        }
    }

    fn input(&self) -> OpInput {
        OpInput {
            body: self.body.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            now: Some(
                "2026-11-23T00:00:00Z"
                    .parse()
                    .expect("a fixed clock parses"),
            ),
            traceparent: None,
        }
    }

    fn run(&self, input: &OpInput, fuzzed: Option<&Fuzzed>) {
        self.run_op(self.op, input, fuzzed);
    }

    fn run_op(&self, op: Operation, input: &OpInput, fuzzed: Option<&Fuzzed>) {
        let mapping = &cases().mappings[self.mapping];
        let tokens = TokenCache::default();
        let target = Target {
            name: "fuzz",
            mapping,
            settings: &self.settings,
            secrets: &self.secrets,
            info: &self.info,
            secret_values: &self.secret_values,
            tokens: &tokens,
        };
        let transport = Replay {
            case: self,
            fuzzed,
            next: AtomicUsize::new(0),
        };
        match block_on(flow::run(&target, &transport, op, input)) {
            Ok(OpOutput::Order(order)) => {
                // Written straight as text: it must be one JSON object holding its id.
                let value: Value =
                    serde_json::from_str(&order.text).expect("the order is valid JSON");
                assert_eq!(value["id"].as_str(), Some(order.id.as_str()));
            }
            Ok(OpOutput::List { data, .. }) => {
                let _ = Value::Array(data).to_string();
            }
            Ok(OpOutput::Empty) => {}
            Err(problem) => {
                let text = problem.to_json("fuzz").to_string();
                // A problem never shows a secret of the connection, whatever the ERP answers.
                // (Only secrets that cannot be words of the gateway's own messages: the
                // fixtures' user names, such as `gateway`, can.)
                let secret_like =
                    |s: &&String| s.len() >= 6 && s.chars().any(|c| !c.is_ascii_alphabetic());
                for secret in self.secret_values.iter().filter(|_| fuzzed.is_some()) {
                    if !secret_like(&secret) {
                        continue;
                    }
                    assert!(
                        !text.contains(secret.as_str()),
                        "{}: a problem shows the secret {secret:?}: {text}",
                        self.name
                    );
                }
            }
        }
    }
}

/// Answers each request with the fixture's next recorded answer (the last one again when the
/// fuzzed input makes the mapping send more requests than recorded), after checking that the
/// request is one the gateway may send.
struct Replay<'c> {
    case: &'c Case,
    fuzzed: Option<&'c Fuzzed>,
    next: AtomicUsize,
}

impl Transport for Replay<'_> {
    #[allow(clippy::manual_async_fn)]
    fn send(
        &self,
        req: &VendorRequest,
    ) -> impl Future<Output = Result<UpstreamResponse, UpstreamError>> + Send {
        check_request(&self.case.name, req);
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let answer = if self.case.replies.is_empty() {
            None
        } else {
            let mut reply = self.case.replies[i.min(self.case.replies.len() - 1)].clone();
            if let Some(f) = self.fuzzed
                && i >= self.case.first_fuzzed
            {
                if let Some(s) = f.status {
                    reply.status = s;
                }
                if let Some(ct) = f.content_type {
                    reply.headers.remove(http::header::CONTENT_TYPE);
                    if !ct.is_empty() {
                        reply.headers.insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static(ct),
                        );
                    }
                }
                reply.body = f.body.clone();
            }
            Some(reply)
        };
        async move {
            answer.ok_or_else(|| UpstreamError::Connect("the fixture records no answer".into()))
        }
    }
}

/// Values from the request never change the shape of the vendor request: the path is made of
/// unreserved characters and percent escapes, no segment is `.` or `..`, and nothing in the
/// target holds a character that would end or split it.
fn check_request(case: &str, req: &VendorRequest) {
    let pq = &req.path_and_query;
    assert!(
        pq.starts_with('/'),
        "{case}: path {pq:?} does not start with /"
    );
    assert!(
        pq.bytes().all(|b| b.is_ascii_graphic()) && !pq.contains('#'),
        "{case}: path {pq:?} holds a space, a control, a non-ASCII character or #"
    );
    let path = pq.split('?').next().unwrap_or_default();
    for segment in path.split('/').skip(1) {
        assert!(
            segment != "." && segment != "..",
            "{case}: path {pq:?} has a dot segment"
        );
        assert!(
            segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b)),
            "{case}: path segment {segment:?} of {pq:?} is not a single segment"
        );
    }
    for (name, value, _) in &req.headers {
        assert!(
            !value
                .as_bytes()
                .iter()
                .any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{case}: header {name} holds CR, LF or NUL"
        );
    }
}

fn reply_of(node: &Node) -> UpstreamResponse {
    let status = node
        .get("status")
        .and_then(|s| s.to_json().as_u64())
        .expect("a reply has a status") as u16;
    let mut headers = http::HeaderMap::new();
    if let Some(h) = node.get("headers").and_then(Node::as_map) {
        for (k, v) in h {
            let name = http::HeaderName::from_bytes(k.name.as_bytes()).expect("header name");
            let text = ordergate::engine::convert::scalar_text(&v.to_json()).unwrap_or_default();
            headers.append(
                name,
                http::HeaderValue::from_str(&text).expect("header value"),
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
            Bytes::from(serde_json::to_vec(&b.to_json()).expect("JSON"))
        }
        (None, Some(t)) => Bytes::from(t.as_str().unwrap_or_default().to_string()),
        (None, None) => Bytes::new(),
    };
    UpstreamResponse {
        status,
        headers,
        body,
    }
}

/// Runs a future that never waits: the replay transport answers at once, and the token cache
/// is never contended. No async runtime is needed (nor wanted, in a fuzz loop).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the flow waited on something the replay transport never provides");
}
