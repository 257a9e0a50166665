//! Engine benchmarks (issue 7): for each seed mapping, the cost of one `create_order`
//!
//! - `render/<vendor>/<lines>`: the vendor request from the canonical order (templates, path,
//!   headers and the body encoding: JSON, XML or form);
//! - `normalize/<vendor>/<lines>`: the vendor's create answer (raw bytes) decoded, checked
//!   against the error rules and turned into the canonical order;
//! - `normalize-whole/<vendor>/<lines>`: the same with the whole answer decoded, the baseline
//!   of reading JSON answers only for the fields the mapping needs;
//! - `flow/<vendor>/<lines>`: both, through `flow::run` as the server runs it, with a transport
//!   that hands back the recorded answer (the login, when the mapping has one, is cached);
//! - `canonical/parse/<lines>` and `canonical/parse+validate/<lines>`: reading the canonical
//!   JSON body as the server does (`codec::json::parse`), and validating it against the
//!   contract, which the server does once per request before the flow (the order read into
//!   its typed structs, `canonical::order`); `canonical/parse+schema/<lines>`: the same
//!   validation by the contract's JSON Schema alone, the same-run baseline of the typed
//!   reading (the server's path before it, and still its path for a body the reading
//!   refuses); `canonical/typed-baseline/<lines>`: the order read from the bytes by serde
//!   into other typed structs (`engine/typed_order.rs`), the other way typed structs could be
//!   made;
//! - `json-scan/<reader>/<text>`: only reading through a JSON text, building nothing, by
//!   jiter as `codec::json` drives it and by serde_json: the JSON readers' floor;
//! - `decode-wide/<format>/<members>`: one object of 1,000 and 10,000 distinct members read
//!   whole, JSON and XML: the time per member stays flat as an object widens.
//!
//! Orders of 1, 10, 100 and 1,000 lines are built from each vendor's create fixture
//! (`mappings/<vendor>/fixtures/`): its canonical lines repeated, and its recorded answer with
//! its line list repeated to the same length. Criterion reports time per order; the throughput
//! figure it prints is lines per second, which stays flat when the cost is linear in lines.
//!
//! Short run: `cargo bench --bench engine -- --warm-up-time 1 --measurement-time 3`.
//! `cargo test --benches` (and `cargo clippy --all-targets`) compile it; `cargo test` does not
//! run it, and nothing here fails on a timing.

#[path = "engine/typed_order.rs"]
mod typed_order;

use std::hint::black_box;
use std::path::Path;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ordergate::json;
use ordergate::value::{Map, Value};

use ordergate::canonical::operation::Operation;
use ordergate::canonical::validate::{Body as ValidBody, check_body, schema_accepts};
use ordergate::codec::json as json_codec;
use ordergate::codec::need::AnswerNeed;
use ordergate::engine::clock::Clock;
use ordergate::engine::compile::compile_file;
use ordergate::engine::eval::{Evaluator, Roots, Scope};
use ordergate::engine::plan::{Mapping, OperationPlan, ResultPlan};
use ordergate::engine::render::{VendorRequest, render};
use ordergate::flow::{self, OpInput, OpOutput, Target, normalize};
use ordergate::upstream::auth::TokenCache;
use ordergate::upstream::{Transport, UpstreamError, UpstreamResponse};
use ordergate::yaml::{self, Node, NodeKind};

// The allocator of the binary (src/main.rs), so the figures are the engine as it runs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: [usize; 4] = [1, 10, 100, 1000];
const NOW: &str = "2026-11-23T00:00:00Z";

/// How a vendor's create answer is grown to `n` lines.
enum Grow {
    /// JSON pointer of the answer's line list.
    Json(&'static str),
    /// The XML element holding the answer's line items.
    Xml(&'static str),
}

struct Spec {
    name: &'static str,
    mapping: &'static str,
    fixture: &'static str,
    grow: Grow,
}

const SPECS: [Spec; 6] = [
    Spec {
        name: "dokos",
        mapping: "dokos.yaml",
        fixture: "dokos/fixtures/01-create-draft.yaml",
        grow: Grow::Json("/data/items"),
    },
    Spec {
        name: "enapps",
        mapping: "enapps.yaml",
        fixture: "enapps/fixtures/01-create-draft.yaml",
        grow: Grow::Json("/order_line"),
    },
    Spec {
        name: "mrdoc-json",
        mapping: "mrdoc.yaml",
        fixture: "mrdoc/fixtures/01-create-json-doc-example.yaml",
        grow: Grow::Json("/products"),
    },
    Spec {
        name: "mrdoc-xml",
        mapping: "mrdoc.yaml",
        fixture: "mrdoc/fixtures/02-create-xml-doc-example.yaml",
        grow: Grow::Xml("products"),
    },
    Spec {
        name: "oneentry",
        mapping: "oneentry.yaml",
        fixture: "oneentry/fixtures/02-create-full.yaml",
        grow: Grow::Json("/products"),
    },
    Spec {
        name: "valomnia",
        mapping: "valomnia.yaml",
        fixture: "valomnia/fixtures/02-create-draft-computed-totals.yaml",
        grow: Grow::Json("/orderLines"),
    },
];

/// One vendor's create, ready to run.
struct Case {
    name: &'static str,
    mapping: Mapping,
    settings: Value,
    secrets: Value,
    info: Value,
    secret_values: Vec<String>,
    /// The fixture's canonical order.
    body: Value,
    /// Recorded replies by request path (the login), and the create's answer.
    logins: Vec<(String, UpstreamResponse)>,
    answer: UpstreamResponse,
    grow: &'static Grow,
}

struct Fixed<'c> {
    logins: &'c [(String, UpstreamResponse)],
    answer: &'c UpstreamResponse,
}

impl Transport for Fixed<'_> {
    async fn send(&self, req: &VendorRequest) -> Result<UpstreamResponse, UpstreamError> {
        let reply = self
            .logins
            .iter()
            .find(|(p, _)| *p == req.path_and_query)
            .map(|(_, r)| r)
            .unwrap_or(self.answer);
        Ok(reply.clone())
    }
}

fn mappings_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings"))
}

fn reply_of(node: &Node) -> UpstreamResponse {
    let status = node
        .get("status")
        .and_then(|s| s.to_json().as_u64())
        .expect("reply status") as u16;
    let mut headers = http::HeaderMap::new();
    if let Some(h) = node.get("headers").and_then(Node::as_map) {
        for (k, v) in h {
            let text = match v.to_json() {
                Value::String(s) => s.into_string(),
                other => other.to_string(),
            };
            headers.append(
                http::HeaderName::from_bytes(k.name.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(&text).expect("header value"),
            );
        }
    }
    let body = match (node.get("body"), node.get("body_text")) {
        (Some(b), _) => {
            headers
                .entry(http::header::CONTENT_TYPE)
                .or_insert(http::HeaderValue::from_static("application/json"));
            Bytes::from(serde_json::to_vec(&b.to_json()).expect("json"))
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

fn load(spec: &'static Spec) -> Case {
    let dir = mappings_dir();
    let file = dir.join(spec.mapping);
    let text = std::fs::read_to_string(&file).expect("mapping file");
    let mapping = compile_file(&file.display().to_string(), &text)
        .unwrap_or_else(|e| panic!("{}: {:?}", spec.mapping, e.0));
    let fixture_file = dir.join(spec.fixture);
    let fixture_text = std::fs::read_to_string(&fixture_file).expect("fixture file");
    let node = yaml::parse(&fixture_file.display().to_string(), &fixture_text).expect("fixture");
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
    for s in &mapping.settings {
        if let (false, Some(d)) = (settings.contains_key(&s.name), &s.default) {
            settings.insert(s.name.clone(), d.clone());
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
    let body = node
        .get("request")
        .and_then(|r| r.get("body"))
        .map(Node::to_json)
        .expect("request body");
    let Some(NodeKind::Seq(exchanges)) = node.get("exchanges").map(|e| &e.kind) else {
        panic!("{}: no exchanges", spec.fixture);
    };
    let mut replies: Vec<(String, UpstreamResponse)> = exchanges
        .iter()
        .map(|x| {
            let path = x
                .get("expect")
                .and_then(|e| e.get("path"))
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_string();
            (path, reply_of(x.get("reply").expect("reply")))
        })
        .collect();
    let (_, answer) = replies.pop().expect("the create's exchange");
    let info = json!({"name": "bench", "vendor": mapping.vendor, "base_url": "http://erp.test"});
    Case {
        name: spec.name,
        mapping,
        settings: Value::Object(settings),
        secrets,
        info,
        secret_values,
        body,
        logins: replies,
        answer,
        grow: &spec.grow,
    }
}

/// The canonical order with `n` lines (the fixture's lines, repeated).
fn order_of(base: &Value, n: usize) -> Value {
    let mut order = base.clone();
    let lines = base["lines"].as_array().expect("lines").clone();
    order["lines"] = Value::Array(lines.iter().cycle().take(n).cloned().collect());
    order
}

/// The vendor's answer with its line list grown (or cut) to `n` items.
fn answer_of(case: &Case, n: usize) -> UpstreamResponse {
    grown(case.name, &case.answer, case.grow, n)
}

/// `answer` with its line list grown (or cut) to `n` items.
fn grown(name: &str, answer: &UpstreamResponse, grow: &Grow, n: usize) -> UpstreamResponse {
    let mut resp = answer.clone();
    match grow {
        Grow::Json(pointer) => {
            let mut body: Value = serde_json::from_slice(&resp.body).expect("json answer");
            let list = body
                .pointer_mut(pointer)
                .and_then(Value::as_array_mut)
                .unwrap_or_else(|| panic!("{name}: no list at {pointer}"));
            let items: Vec<Value> = list.iter().cycle().take(n).cloned().collect();
            *list = items;
            resp.body = Bytes::from(serde_json::to_vec(&body).expect("json"));
        }
        Grow::Xml(element) => {
            let text = std::str::from_utf8(&resp.body).expect("utf-8");
            let open = text.find(&format!("<{element}")).expect("list element");
            let close = text[open..]
                .find(&format!("</{element}>"))
                .map(|i| open + i)
                .expect("list end");
            let inner_start = open + text[open..].find('>').expect("tag end") + 1;
            let inner = &text[inner_start..close];
            let mut items = Vec::new();
            let mut rest = inner;
            while let Some(s) = rest.find("<item>") {
                let e = rest[s..].find("</item>").expect("item end") + s + "</item>".len();
                items.push(&rest[s..e]);
                rest = &rest[e..];
            }
            let mut out = String::with_capacity(text.len() + n * 300);
            out.push_str(&text[..inner_start]);
            for item in items.iter().cycle().take(n) {
                out.push('\n');
                out.push_str(item);
            }
            out.push('\n');
            out.push_str(&text[close..]);
            resp.body = Bytes::from(out);
        }
    }
    resp
}

fn create_plan(m: &Mapping) -> &OperationPlan {
    m.operations
        .get(&Operation::CreateOrder)
        .expect("create_order")
}

fn clock() -> Clock {
    let at = chrono::DateTime::parse_from_rfc3339(NOW).expect("NOW is a time");
    Clock::at(at.with_timezone(&chrono::Utc))
}

fn roots<'a>(
    case: &'a Case,
    input: &'a Value,
    null: &'a Value,
    auth: &'a Value,
    clock: &'a Clock,
    steps: &'a [Value],
) -> Roots<'a> {
    Roots {
        input,
        path: null,
        query: null,
        page: null,
        settings: &case.settings,
        secrets: &case.secrets,
        auth,
        connection: &case.info,
        clock,
        response: null,
        steps,
    }
}

/// Renders the create's request as `flow::run` does: the first step whose `when` holds, with
/// the vendor's headers and the auth headers. Never inlined: profiles name it.
#[inline(never)]
fn render_create(case: &Case, input: &Value, auth: &Value, clock: &Clock) -> VendorRequest {
    let m = &case.mapping;
    let plan = create_plan(m);
    let ev = Evaluator::new(&m.templates).memoizing(&m.kept_per_focus);
    let null = Value::Null;
    let steps = vec![Value::Null; plan.slots];
    let roots = roots(case, input, &null, auth, clock, &steps);
    let scope = Scope::new(&roots, input);
    let auth_headers = m
        .auth
        .as_ref()
        .map(|a| a.headers.as_slice())
        .unwrap_or_default();
    for step in &plan.steps {
        if let Some(when) = &step.when
            && !ev.test(when, &scope).expect("when")
        {
            continue;
        }
        return render(&step.request, &[&m.headers, auth_headers], &ev, &scope)
            .unwrap_or_else(|e| panic!("{}: render: {e}", case.name));
    }
    panic!("{}: no create step runs", case.name)
}

/// Reads the create's answer as `flow::run` does: decode, error rules, result template.
#[inline(never)]
fn normalize_create(
    case: &Case,
    input: &Value,
    auth: &Value,
    clock: &Clock,
    resp: &UpstreamResponse,
    whole: bool,
) -> Vec<u8> {
    let m = &case.mapping;
    let plan = create_plan(m);
    let ev = Evaluator::new(&m.templates).memoizing(&m.kept_per_focus);
    let step = plan
        .steps
        .iter()
        .find(|s| {
            s.when.is_none() || {
                let null = Value::Null;
                let roots = roots(case, input, &null, auth, clock, &[]);
                ev.test(s.when.as_ref().expect("when"), &Scope::new(&roots, input))
                    .unwrap_or(false)
            }
        })
        .expect("a create step");
    let null = Value::Null;
    // `whole`: decode the whole answer, as before answers were read for what the mapping needs
    // (the same-run baseline of `normalize-whole/`).
    let all = AnswerNeed::whole();
    let need = if whole { &all } else { &step.answer };
    let (answer, error) = normalize::answer(resp, step.request.decode, &step.request.xml, need);
    assert!(error.is_none(), "{}: undecodable answer", case.name);
    {
        let no_steps: Vec<Value> = vec![Value::Null; plan.slots];
        let mut r = roots(case, input, &null, auth, clock, &no_steps);
        r.response = &answer;
        let scope = Scope::new(&r, &answer["body"]);
        let rules: [&[ordergate::engine::plan::ErrorRule]; 2] = [&plan.errors, &m.errors];
        let problem = normalize::check(
            &rules,
            step.slot,
            resp.status,
            &ev,
            &scope,
            &case.secret_values,
        );
        assert!(
            problem.is_none(),
            "{}: the answer reads as an error",
            case.name
        );
    }
    let mut steps = vec![Value::Null; plan.slots];
    steps[step.slot] = answer;
    let r = roots(case, input, &null, auth, clock, &steps);
    let scope = Scope::new(&r, &steps[step.slot]["body"]);
    let ResultPlan::Order(t) = &plan.result else {
        panic!("{}: create answers no order", case.name)
    };
    // As `flow::run` does: the canonical order written straight as JSON text.
    let mut text = Vec::with_capacity(2048);
    let written = ev
        .write_json(t, &scope, &mut text)
        .unwrap_or_else(|e| panic!("{}: normalize: {e}", case.name));
    assert!(written, "{}: no order", case.name);
    text
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The `$auth` value after the mapping's login (null without one).
fn auth_of(case: &Case, rt: &tokio::runtime::Runtime, tokens: &TokenCache) -> Value {
    let target = target_of(case, tokens);
    let transport = Fixed {
        logins: &case.logins,
        answer: &case.answer,
    };
    let token = rt
        .block_on(flow::login::token(&target, &transport, &clock(), None))
        .unwrap_or_else(|p| panic!("{}: login: {}", case.name, p.detail));
    if token.is_null() { Value::Null } else { token }
}

fn target_of<'a>(case: &'a Case, tokens: &'a TokenCache) -> Target<'a> {
    Target {
        name: "bench",
        mapping: &case.mapping,
        settings: &case.settings,
        secrets: &case.secrets,
        info: &case.info,
        secret_values: &case.secret_values,
        tokens,
    }
}

fn engine(c: &mut Criterion) {
    let rt = runtime();
    let cases: Vec<Case> = SPECS.iter().map(load).collect();
    let clock = clock();

    let mut g = c.benchmark_group("render");
    for case in &cases {
        let tokens = TokenCache::default();
        let auth = auth_of(case, &rt, &tokens);
        for n in SIZES {
            let input = order_of(&case.body, n);
            check_body(Operation::CreateOrder, &input)
                .unwrap_or_else(|p| panic!("{} x{n}: invalid order: {}", case.name, p.detail));
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new(case.name, n), &input, |b, input| {
                b.iter(|| render_create(case, black_box(input), &auth, &clock))
            });
        }
    }
    g.finish();

    // `normalize-whole`: the same with the whole answer decoded, the baseline of reading only
    // what the mapping needs (JSON answers; XML and form answers are decoded whole either way).
    for (group, sizes, whole) in [
        ("normalize", &SIZES[..], false),
        ("normalize-whole", &[10, 1000][..], true),
    ] {
        let mut g = c.benchmark_group(group);
        for case in &cases {
            let tokens = TokenCache::default();
            let auth = auth_of(case, &rt, &tokens);
            let input = order_of(&case.body, 1);
            for &n in sizes {
                let resp = answer_of(case, n);
                g.throughput(Throughput::Elements(n as u64));
                g.bench_with_input(BenchmarkId::new(case.name, n), &resp, |b, resp| {
                    b.iter(|| normalize_create(case, &input, &auth, &clock, black_box(resp), whole))
                });
            }
        }
        g.finish();
    }

    // A Dokos create answer as a real Frappe server sends it (72 fields, 71 per line, where the
    // fixtures keep only what the mapping reads): what reading only the needed fields is for.
    let mut g = c.benchmark_group("normalize-frappe-answer");
    if let Some(case) = cases.iter().find(|c| c.name == "dokos") {
        let tokens = TokenCache::default();
        let auth = auth_of(case, &rt, &tokens);
        let input = order_of(&case.body, 1);
        for n in [1, 10, 100] {
            let resp = frappe_answer(case, n);
            g.throughput(Throughput::Elements(n as u64));
            for (label, whole) in [("needed", false), ("whole", true)] {
                g.bench_with_input(BenchmarkId::new(label, n), &resp, |b, resp| {
                    b.iter(|| normalize_create(case, &input, &auth, &clock, black_box(resp), whole))
                });
            }
        }
    }
    g.finish();

    let mut g = c.benchmark_group("flow");
    for case in &cases {
        let tokens = TokenCache::default();
        let target = target_of(case, &tokens);
        for n in SIZES {
            let input = OpInput {
                body: order_of(&case.body, n),
                now: Some(
                    chrono::DateTime::parse_from_rfc3339(NOW)
                        .expect("now")
                        .into(),
                ),
                ..OpInput::default()
            };
            let answer = answer_of(case, n);
            let transport = Fixed {
                logins: &case.logins,
                answer: &answer,
            };
            match rt.block_on(flow::run(
                &target,
                &transport,
                Operation::CreateOrder,
                &input,
            )) {
                Ok(OpOutput::Order(_)) => {}
                Ok(other) => panic!("{} x{n}: {other:?}", case.name),
                Err(p) => panic!("{} x{n}: {}", case.name, p.detail),
            }
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new(case.name, n), &input, |b, input| {
                b.iter(|| {
                    rt.block_on(flow::run(
                        &target,
                        &transport,
                        Operation::CreateOrder,
                        black_box(input),
                    ))
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("canonical");
    let dokos = &cases[0];
    for n in SIZES {
        let bytes = serde_json::to_vec(&order_of(&dokos.body, n)).expect("json");
        g.throughput(Throughput::Elements(n as u64));
        // As the server reads a body: jiter, strings left in place (`codec::json::parse`).
        let bytes = Bytes::from(bytes);
        g.bench_with_input(BenchmarkId::new("parse", n), &bytes, |b, bytes| {
            b.iter(|| json_codec::parse(black_box(bytes)).expect("json"))
        });
        g.bench_with_input(BenchmarkId::new("parse+validate", n), &bytes, |b, bytes| {
            b.iter(|| {
                let v = json_codec::parse(black_box(bytes)).expect("json");
                check_body(Operation::CreateOrder, &v).expect("valid");
                v
            })
        });
        g.bench_with_input(BenchmarkId::new("parse+schema", n), &bytes, |b, bytes| {
            b.iter(|| {
                let v = json_codec::parse(black_box(bytes)).expect("json");
                assert!(schema_accepts(&v, ValidBody::Create));
                v
            })
        });
        // Typed structs read by serde straight from the bytes, checked as the contract says.
        g.bench_with_input(BenchmarkId::new("typed-baseline", n), &bytes, |b, bytes| {
            b.iter(|| typed_order::read(black_box(bytes)).is_some())
        });
        assert!(
            typed_order::read(&bytes).is_some(),
            "the typed baseline reads the order"
        );
    }
    g.finish();
}

/// A Dokos create answer as a real Frappe server sends it (72 fields, 71 per line), its line
/// list grown to `n` lines, in `case`'s recorded answer.
fn frappe_answer(case: &Case, n: usize) -> UpstreamResponse {
    let mut real = case.answer.clone();
    real.body = Bytes::from_static(include_bytes!("data/frappe-create-answer.json"));
    grown(case.name, &real, case.grow, n)
}

/// Walks a JSON text with jiter's pull parser as `codec::json` reads it (peek, then the
/// known token; numbers as their bytes), building nothing: the reader's floor.
fn jiter_walk(bytes: &[u8]) -> usize {
    fn walk(j: &mut jiter::Jiter<'_>, peek: jiter::Peek) -> usize {
        use jiter::Peek;
        match peek {
            Peek::Null => j.known_null().map(|()| 0).expect("json"),
            Peek::True | Peek::False => j.known_bool(peek).map(usize::from).expect("json"),
            Peek::String => j.known_str().map(str::len).expect("json"),
            Peek::Array => {
                let mut n = 0;
                let mut next = j.known_array().expect("json");
                while let Some(peek) = next {
                    n += walk(j, peek);
                    next = j.array_step().expect("json");
                }
                n
            }
            Peek::Object => {
                let mut n = 0;
                let mut key = j.known_object().expect("json").map(str::len);
                while let Some(len) = key {
                    let peek = j.peek().expect("json");
                    n += len + walk(j, peek);
                    key = j.next_key().expect("json").map(str::len);
                }
                n
            }
            _ => j.known_number_bytes(peek).map(<[u8]>::len).expect("json"),
        }
    }
    let mut j = jiter::Jiter::new(bytes);
    let peek = j.peek().expect("json");
    let n = walk(&mut j, peek);
    j.finish().expect("json");
    n
}

/// `json-scan/<reader>/<text>`: the cost of only reading through a JSON text, building
/// nothing, by jiter as `codec::json` drives it and by serde_json (`IgnoredAny`; numbers
/// handed over as this build's `arbitrary_precision` does): the canonical order of 1 and 10
/// lines and a real Frappe create answer of 1 and 10 lines.
fn json_scan(c: &mut Criterion) {
    let dokos = load(&SPECS[0]);
    let mut texts = Vec::new();
    for n in [1, 10] {
        let order = serde_json::to_vec(&order_of(&dokos.body, n)).expect("json");
        texts.push((format!("order-{n}"), Bytes::from(order)));
        texts.push((format!("frappe-answer-{n}"), frappe_answer(&dokos, n).body));
    }
    let mut g = c.benchmark_group("json-scan");
    for (name, bytes) in &texts {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("jiter", name), bytes, |b, bytes| {
            b.iter(|| jiter_walk(black_box(bytes)))
        });
        g.bench_with_input(BenchmarkId::new("serde_json", name), bytes, |b, bytes| {
            b.iter(|| {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(bytes)).expect("json")
            })
        });
    }
    g.finish();
}

/// `decode-wide/<format>/<members>`: one object of 1,000 and 10,000 distinct members, read
/// whole by the decoders (`codec::json`, `codec::xml`): past a few dozen members a repeated
/// name is found through an index, so the time per member stays flat as the object widens
/// (step 23: before, each new name searched all those before it, and a 1 MB body of 100,000
/// names took 14 s).
fn decode_wide(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode-wide");
    for n in [1_000, 10_000] {
        let json: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        let json = Bytes::from(format!("{{{}}}", json.join(",")));
        let xml: String = (0..n).map(|i| format!("<k{i}>{i}</k{i}>")).collect();
        let xml = Bytes::from(format!("<r>{xml}</r>"));
        let opts = ordergate::engine::plan::XmlOptions::default();
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("json", n), &json, |b, bytes| {
            b.iter(|| ordergate::codec::json::decode(black_box(bytes)).expect("json"))
        });
        g.bench_with_input(BenchmarkId::new("xml", n), &xml, |b, bytes| {
            b.iter(|| ordergate::codec::xml::decode(black_box(bytes), &opts).expect("xml"))
        });
    }
    g.finish();
}

criterion_group!(benches, engine, json_scan, decode_wide);
criterion_main!(benches);
