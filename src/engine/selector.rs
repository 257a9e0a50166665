//! Selectors: `$` (the focus), `$.a.b[0]`, `$settings.shop_id`, `$created.body.data.name`.
//!
//! A selector names a root and a JSONPath below it. The path is parsed once, at load, by
//! jsonpath-rust. Paths made only of names and indexes (the common case) are walked directly;
//! so are queries that only pick names, indexes and wildcards, unions of them included
//! (`$['products','services'][*].sum`); anything richer (filters, slices, descendants) runs
//! through jsonpath-rust's compiled query, which writes the path of every node it visits.

use std::borrow::Cow;

use crate::value::{Hint, Key, Value};
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector as JpSelector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;

/// Where a selector starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the current focus (the canonical body, the current element of `each`, the
    /// vendor's answer in a result or an error rule).
    Focus,
    /// `$input`: the canonical request body, wherever you are.
    Input,
    /// `$path`: the canonical route parameters (`id`, `external_ref`).
    Path,
    /// `$query`: the canonical query parameters.
    Query,
    /// `$page`: list paging (`limit`, `offset`, `page`, `cursor`).
    Page,
    /// `$settings`: the connection's settings.
    Settings,
    /// `$secrets`: the connection's secrets.
    Secrets,
    /// `$auth`: what the login call yielded (`token`).
    Auth,
    /// `$connection`: `name` and `base_url` of the connection.
    Connection,
    /// `$now`: the current UTC timestamp (RFC 3339); `$today`: the current UTC date.
    Now,
    Today,
    /// `$parent`: the focus outside the current `each`; `$index`: the element's position.
    Parent,
    Index,
    /// `$response`: in an error rule or a login, the whole answer `{status, headers, cookies, body}`.
    Response,
    /// A saved step's answer `{status, headers, cookies, body}`, by the step's name.
    Step(usize),
}

/// The root names a mapping may use, besides its own step names.
pub const ROOT_NAMES: &[(&str, Root)] = &[
    ("input", Root::Input),
    ("path", Root::Path),
    ("query", Root::Query),
    ("page", Root::Page),
    ("settings", Root::Settings),
    ("secrets", Root::Secrets),
    ("auth", Root::Auth),
    ("connection", Root::Connection),
    ("now", Root::Now),
    ("today", Root::Today),
    ("parent", Root::Parent),
    ("index", Root::Index),
    ("response", Root::Response),
];

#[derive(Debug, Clone)]
pub enum Step {
    /// A member name (interned at load), with where it was found last (a hint: see
    /// `Map::get_hinted`).
    Key(Key, Hint),
    Index(i64),
}

#[derive(Debug, Clone)]
pub enum PathKind {
    /// Only names and indexes: walked directly.
    Simple(Vec<Step>),
    /// Anything else: a query that may match several values.
    Query(Box<Query>),
}

/// A query: picks walked here when its segments only pick names, indexes and wildcards, else
/// jsonpath-rust's compiled query.
#[derive(Debug, Clone)]
pub struct Query {
    parsed: JpQuery,
    picks: Option<Vec<Vec<Pick>>>,
}

/// One selector of a segment a query walks itself.
#[derive(Debug, Clone)]
enum Pick {
    /// A member name (interned at load), with where it was found last (as [`Step::Key`]).
    Key(Key, Hint),
    Index(i64),
    All,
}

/// A step of a match's location, for its JSON pointer.
enum At<'a> {
    Key(&'a str),
    Index(usize),
}

/// What [`fan_out`] keeps of each value it reaches: the value alone, or with its JSON pointer.
trait Trail<'v> {
    fn start(value: &'v Value) -> Self;
    fn value(&self) -> &'v Value;
    /// The trail of `v`, reached from this one's value by `step`.
    fn then(&self, v: &'v Value, step: At<'_>) -> Self;
}

impl<'v> Trail<'v> for &'v Value {
    fn start(value: &'v Value) -> Self {
        value
    }

    fn value(&self) -> &'v Value {
        self
    }

    fn then(&self, v: &'v Value, _: At<'_>) -> Self {
        v
    }
}

impl<'v> Trail<'v> for (&'v Value, String) {
    fn start(value: &'v Value) -> Self {
        (value, String::new())
    }

    fn value(&self) -> &'v Value {
        self.0
    }

    fn then(&self, v: &'v Value, step: At<'_>) -> Self {
        let mut at = self.1.clone();
        at.push('/');
        match step {
            At::Key(k) => at.push_str(&k.replace('~', "~0").replace('/', "~1")),
            At::Index(i) => at.push_str(&i.to_string()),
        }
        (v, at)
    }
}

#[derive(Debug, Clone)]
pub struct Selector {
    pub root: Root,
    pub path: PathKind,
    /// The text as written, for messages.
    pub text: String,
    /// The JSON pointer suffix of a simple path (`/lines/0/quantity`), made once at load.
    suffix: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    #[error("a selector starts with `$`, found `{0}`")]
    NoDollar(String),
    #[error("unknown root `${name}` in `{text}`; use `$`, one of {known}, or a step name")]
    UnknownRoot {
        name: String,
        text: String,
        known: String,
    },
    #[error("invalid JSONPath in `{text}`: {reason}")]
    BadPath { text: String, reason: String },
}

impl Selector {
    /// Parses `text`; `step_slot` resolves a step name to its slot.
    pub fn parse(
        text: &str,
        step_slot: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Selector, SelectorError> {
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| SelectorError::NoDollar(text.to_string()))?;
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        let (name, path_text) = rest.split_at(name_len);
        let root = if name.is_empty() {
            Root::Focus
        } else if let Some((_, r)) = ROOT_NAMES.iter().find(|(n, _)| *n == name) {
            *r
        } else if let Some(slot) = step_slot(name) {
            Root::Step(slot)
        } else {
            return Err(SelectorError::UnknownRoot {
                name: name.to_string(),
                text: text.to_string(),
                known: ROOT_NAMES
                    .iter()
                    .map(|(n, _)| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let query_text = format!("${path_text}");
        let query = parse_json_path(&query_text).map_err(|e| SelectorError::BadPath {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        let path = match simple_steps(&query) {
            Some(steps) => PathKind::Simple(steps),
            None => PathKind::Query(Box::new(Query {
                picks: picks_of(&query),
                parsed: query,
            })),
        };
        Ok(Selector {
            suffix: suffix_of(&path),
            root,
            path,
            text: text.to_string(),
        })
    }

    /// True when the selector can yield at most one value.
    pub fn is_single(&self) -> bool {
        matches!(self.path, PathKind::Simple(_))
    }

    /// The JSON pointer suffix of a simple path (`/lines/0/quantity`), for error messages.
    pub fn pointer_suffix(&self) -> Option<&str> {
        self.suffix.as_deref()
    }

    /// Selects from `value`. A simple path yields its one value or nothing; a query yields
    /// one value when it matched one, and an array when it matched several.
    pub fn select<'v>(&self, value: &'v Value) -> Option<Cow<'v, Value>> {
        match &self.path {
            PathKind::Simple(steps) => walk(value, steps).map(Cow::Borrowed),
            PathKind::Query(q) => {
                let found = q.matches(value);
                match found.len() {
                    0 => None,
                    1 => found.into_iter().next().map(Cow::Borrowed),
                    _ => Some(Cow::Owned(Value::Array(
                        found.into_iter().cloned().collect(),
                    ))),
                }
            }
        }
    }

    /// What `each` walks: an array's elements, a single value, or the query's matches, and
    /// whether they are one array's elements; `None` when there is nothing to walk (the value
    /// absent or null; for a query, no match or one null match). The path is walked once.
    pub fn elements<'v>(&self, value: &'v Value) -> Option<(Vec<&'v Value>, bool)> {
        match &self.path {
            PathKind::Simple(steps) => match walk(value, steps)? {
                Value::Null => None,
                Value::Array(items) => Some((items.iter().collect(), true)),
                other => Some((vec![other], false)),
            },
            PathKind::Query(q) => {
                let found = q.matches(value);
                (!matches!(found[..], [] | [Value::Null])).then_some((found, false))
            }
        }
    }

    /// Selects every match, for iteration: an array's elements, or the query's matches.
    pub fn select_all<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        match &self.path {
            PathKind::Simple(steps) => match walk(value, steps) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(other) => vec![other],
            },
            PathKind::Query(q) => q.matches(value),
        }
    }
}

impl Query {
    /// Every match, in JSONPath's order.
    fn matches<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        match &self.picks {
            Some(picks) => fan_out::<&Value>(value, picks),
            None => js_path_process(&self.parsed, value)
                .map(|found| found.into_iter().map(|r| r.val).collect())
                .unwrap_or_default(),
        }
    }

    /// The JSON pointer (below the root) of each match, in [`Query::matches`] order.
    fn pointers(&self, value: &Value) -> Vec<Option<String>> {
        match &self.picks {
            Some(picks) => fan_out::<(&Value, String)>(value, picks)
                .into_iter()
                .map(|(_, at)| Some(at))
                .collect(),
            None => js_path_process(&self.parsed, value)
                .map(|found| {
                    found
                        .into_iter()
                        .map(|r| path_to_pointer(&r.path))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Walks `segments` from `value` in jsonpath-rust's order (kept so that a query yields what it
/// yielded before it was walked here): each segment applies its first pick to every value the
/// segment before it yielded, in order, then its second pick, and so on. (RFC 9535 takes each
/// value in turn through all the picks; the two differ only for a union after a fan-out.)
/// Each match comes as a [`Trail`]: the value, or the value and its JSON pointer below `value`.
fn fan_out<'v, T: Trail<'v>>(value: &'v Value, segments: &[Vec<Pick>]) -> Vec<T> {
    let mut nodes = vec![T::start(value)];
    for picks in segments {
        // Room for every match at once: a key or an index picks at most one per node, `*` all
        // of a node's members or elements.
        let room = picks
            .iter()
            .map(|pick| match pick {
                Pick::All => nodes
                    .iter()
                    .map(|node| match node.value() {
                        Value::Object(map) => map.len(),
                        Value::Array(items) => items.len(),
                        _ => 0,
                    })
                    .sum(),
                _ => nodes.len(),
            })
            .sum();
        let mut next = Vec::with_capacity(room);
        for pick in picks {
            for node in &nodes {
                match (pick, node.value()) {
                    (Pick::Key(k, hint), Value::Object(map)) => {
                        if let Some(v) = map.get_hinted(*k, hint) {
                            next.push(node.then(v, At::Key(k)));
                        }
                    }
                    (Pick::Index(i), Value::Array(items)) => {
                        if let Some((idx, v)) = element(items, *i) {
                            next.push(node.then(v, At::Index(idx)));
                        }
                    }
                    (Pick::All, Value::Object(map)) => {
                        next.extend(map.iter().map(|(name, v)| node.then(v, At::Key(name))));
                    }
                    (Pick::All, Value::Array(items)) => {
                        let all = items.iter().enumerate();
                        next.extend(all.map(|(idx, v)| node.then(v, At::Index(idx))));
                    }
                    _ => {}
                }
            }
        }
        nodes = next;
    }
    nodes
}

/// Element `i` of `items` (from the end when negative), with its position.
fn element(items: &[Value], i: i64) -> Option<(usize, &Value)> {
    let idx = if i < 0 {
        items.len().checked_sub(i.unsigned_abs() as usize)?
    } else {
        usize::try_from(i).ok()?
    };
    items.get(idx).map(|v| (idx, v))
}

/// The picks of a query whose every segment only names members, indexes or `*`.
fn picks_of(query: &JpQuery) -> Option<Vec<Vec<Pick>>> {
    let pick = |s: &JpSelector| match s {
        JpSelector::Name(n) => Some(Pick::Key(Key::new(&unquote(n)), Hint::default())),
        JpSelector::Index(i) => Some(Pick::Index(*i)),
        JpSelector::Wildcard => Some(Pick::All),
        JpSelector::Slice(..) | JpSelector::Filter(_) => None,
    };
    query
        .segments
        .iter()
        .map(|seg| match seg {
            Segment::Selector(s) => pick(s).map(|p| vec![p]),
            Segment::Selectors(list) => list.iter().map(pick).collect(),
            Segment::Descendant(_) => None,
        })
        .collect()
}

impl Selector {
    /// For a query: the JSON pointer (below the root) of each match, in `select_all` order.
    pub fn select_paths(&self, value: &Value) -> Vec<Option<String>> {
        match &self.path {
            PathKind::Simple(_) => Vec::new(),
            PathKind::Query(q) => q.pointers(value),
        }
    }
}

/// `$['lines'][1]['qty']` -> `/lines/1/qty`.
fn path_to_pointer(path: &str) -> Option<String> {
    let mut rest = path.strip_prefix('$')?;
    let mut out = String::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[')?;
        let end;
        if let Some(r) = rest.strip_prefix('\'') {
            end = r.find("']")?;
            out.push('/');
            out.push_str(&r[..end].replace('~', "~0").replace('/', "~1"));
            rest = &r[end + 2..];
        } else {
            end = rest.find(']')?;
            out.push('/');
            out.push_str(&rest[..end]);
            rest = &rest[end + 1..];
        }
    }
    Some(out)
}

fn suffix_of(path: &PathKind) -> Option<String> {
    match path {
        PathKind::Simple(steps) => {
            let mut out = String::new();
            for s in steps {
                out.push('/');
                match s {
                    Step::Key(k, _) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                    Step::Index(i) => out.push_str(&i.to_string()),
                }
            }
            Some(out)
        }
        PathKind::Query(_) => None,
    }
}

fn simple_steps(query: &JpQuery) -> Option<Vec<Step>> {
    let mut steps = Vec::with_capacity(query.segments.len());
    for seg in &query.segments {
        match seg {
            Segment::Selector(JpSelector::Name(n)) => {
                steps.push(Step::Key(Key::new(&unquote(n)), Hint::default()))
            }
            Segment::Selector(JpSelector::Index(i)) => steps.push(Step::Index(*i)),
            _ => return None,
        }
    }
    Some(steps)
}

/// jsonpath-rust keeps the quotes of bracketed names (`['a b']`).
fn unquote(name: &str) -> String {
    let bytes = name.as_bytes();
    if bytes.len() >= 2
        && ((bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'')
            || (bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"'))
    {
        name[1..name.len() - 1].to_string()
    } else {
        name.to_string()
    }
}

fn walk<'v>(mut value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        value = match (step, value) {
            (Step::Key(k, hint), Value::Object(map)) => map.get_hinted(*k, hint)?,
            (Step::Index(i), Value::Array(items)) => element(items, *i)?.1,
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn sel(text: &str) -> Selector {
        Selector::parse(text, &|n| (n == "created").then_some(0)).expect("valid selector")
    }

    #[test]
    fn simple_paths_walk_directly() {
        let v = json!({"a": {"b": [10, 20]}, "x y": 1});
        let s = sel("$.a.b[1]");
        assert!(s.is_single());
        assert_eq!(s.select(&v).as_deref(), Some(&json!(20)));
        assert_eq!(sel("$['x y']").select(&v).as_deref(), Some(&json!(1)));
        assert_eq!(sel("$.a.b[-1]").select(&v).as_deref(), Some(&json!(20)));
        assert_eq!(sel("$.a.c").select(&v), None);
        assert_eq!(s.pointer_suffix(), Some("/a/b/1"));
    }

    #[test]
    fn roots_resolve() {
        assert_eq!(sel("$settings.shop_id").root, Root::Settings);
        assert_eq!(sel("$created.body").root, Root::Step(0));
        assert_eq!(sel("$").root, Root::Focus);
        assert!(Selector::parse("$nope.x", &|_| None).is_err());
        assert!(Selector::parse("nodollar", &|_| None).is_err());
    }

    #[test]
    fn picking_queries_match_what_jsonpath_rust_matches() {
        let values = [
            json!({"products": [{"sum": 1.5, "vat_sum": 0.3}, {"sum": 2}], "services": [{"sum": 10}, {"x": 1}],
                   "a/b": {"c~d": [1, [2, 3]]}, "o": {"k1": {"sum": 7}, "k2": 8}}),
            json!({"products": {"sum": 4}, "services": [], "o": [{"k1": 1}]}),
            json!([{"products": [1]}, 2, "three"]),
            json!("scalar"),
            json!(null),
        ];
        let queries = [
            "$['products','services'][*]",
            "$['products','services'][*].sum",
            "$['services','products'][*]['sum','vat_sum']",
            "$.products[*].sum",
            "$.products[0,1,-1,5].sum",
            "$[*]",
            "$[*][*]",
            "$.o[*].sum",
            "$.o.*",
            "$['a/b']['c~d'][*]",
            "$['a/b']['c~d'][1][*]",
            "$[0,2,-1]",
            "$['products','products'][*].sum",
        ];
        for text in queries {
            let s = sel(text);
            let PathKind::Query(q) = &s.path else {
                panic!("{text}: not a query");
            };
            assert!(q.picks.is_some(), "{text}: not walked here");
            for v in &values {
                let theirs = js_path_process(&q.parsed, v).expect("query");
                let ours = q.matches(v);
                assert_eq!(
                    ours,
                    theirs.iter().map(|r| r.val).collect::<Vec<_>>(),
                    "{text} on {v}"
                );
                assert_eq!(
                    q.pointers(v),
                    theirs
                        .iter()
                        .map(|r| path_to_pointer(&r.path))
                        .collect::<Vec<_>>(),
                    "{text} on {v}"
                );
            }
        }
        // Filters, slices and descendants stay jsonpath-rust's.
        for text in ["$.products[?(@.sum > 1)]", "$.products[0:1]", "$..sum"] {
            let PathKind::Query(q) = &sel(text).path else {
                panic!("{text}: not a query");
            };
            assert!(q.picks.is_none(), "{text}");
        }
    }

    #[test]
    fn filters_use_jsonpath() {
        let v =
            json!({"lines": [{"kind": "service", "q": 1}, {"kind": "product", "q": 2}, {"q": 3}]});
        let s = sel("$.lines[?(@.kind == 'service')]");
        assert!(!s.is_single());
        assert_eq!(s.select_all(&v).len(), 1);
        assert_eq!(s.select_paths(&v), vec![Some("/lines/0".to_string())]);
        let bad = Selector::parse("$.lines[?(@.kind ==", &|_| None);
        assert!(bad.is_err());
    }
}
