//! Runs compiled templates and predicates against a scope. Pure: no I/O.
//!
//! Absence is a value of its own: a template yields `None` when its source is missing (or
//! JSON null), and an object template then leaves the key out, so an absent canonical field
//! is never sent as an empty one.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use crate::value::{self, Map, Number, Value};
use rust_decimal::Decimal;

use super::convert::{self, arith, compare, decimal_value, scalar_str, to_decimal, values_equal};
use super::memo::Memo;
use super::plan::{
    ArithOp, EachOp, FromOp, InterpPart, Name, ObjectKey, Predicate, Template, Unmapped, Zone,
};
use super::selector::{PathKind, Root, Selector};
use super::zone::TimeZone;

/// Values every template can reach by name.
pub struct Roots<'a> {
    pub input: &'a Value,
    pub path: &'a Value,
    pub query: &'a Value,
    pub page: &'a Value,
    pub settings: &'a Value,
    pub secrets: &'a Value,
    pub auth: &'a Value,
    pub connection: &'a Value,
    /// `$now` and `$today`.
    pub clock: &'a super::clock::Clock,
    pub response: &'a Value,
    /// Saved step answers by slot; `Null` for a step that did not run.
    pub steps: &'a [Value],
}

#[cfg(test)]
impl<'a> Roots<'a> {
    /// `input` and `settings`, every other root null (the unit tests of the engine).
    pub(crate) fn for_test(input: &'a Value, settings: &'a Value) -> Self {
        static NULL: Value = Value::Null;
        static NO_CLOCK: super::clock::Clock = super::clock::Clock::none();
        Roots {
            input,
            path: &NULL,
            query: &NULL,
            page: &NULL,
            settings,
            secrets: &NULL,
            auth: &NULL,
            connection: &NULL,
            clock: &NO_CLOCK,
            response: &NULL,
            steps: &[],
        }
    }
}

/// Where a template runs: the roots, the focus (`$`) and the enclosing `each`.
pub struct Scope<'a> {
    pub roots: &'a Roots<'a>,
    pub focus: &'a Value,
    /// Where the focus sits inside the canonical input, when it comes from there.
    pub focus_pointer: Option<Pointer<'a>>,
    pub parent: Option<&'a Scope<'a>>,
    pub index: Option<usize>,
    /// The focus lives as long as the roots (not a value made during the evaluation): named
    /// templates may keep their value under its address (`engine::memo`).
    pub stable: bool,
}

impl<'a> Scope<'a> {
    pub fn new(roots: &'a Roots<'a>, focus: &'a Value) -> Self {
        Scope {
            roots,
            focus,
            focus_pointer: Some(Pointer::Text("")),
            parent: None,
            index: None,
            stable: true,
        }
    }
}

/// A JSON pointer into the canonical input, written out only when an error names it (an
/// element of `each` would otherwise cost a string per element of every list walked).
#[derive(Debug, Clone, Copy)]
pub enum Pointer<'a> {
    Text(&'a str),
    /// `{base}{suffix}`, then `/{index}` when the selection was a list.
    Element {
        base: &'a Pointer<'a>,
        suffix: &'a str,
        index: Option<usize>,
    },
    /// `{base}` then the path of match `index` of `query` on `value` (the query is run again
    /// only when the pointer is written: an error's).
    Match {
        base: &'a Pointer<'a>,
        query: &'a Selector,
        value: &'a Value,
        index: usize,
    },
}

impl Pointer<'_> {
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Pointer::Text(t) => out.push_str(t),
            Pointer::Element {
                base,
                suffix,
                index,
            } => {
                base.write(out);
                out.push_str(suffix);
                if let Some(i) = index {
                    out.push('/');
                    out.push_str(&i.to_string());
                }
            }
            Pointer::Match {
                base,
                query,
                value,
                index,
            } => {
                base.write(out);
                if let Some(Some(path)) = query.select_paths(value).get(*index) {
                    out.push_str(path);
                }
            }
        }
    }
}

/// A value the mapping could not produce: the canonical request cannot be expressed for this
/// vendor (request direction), or the vendor's answer cannot be read (response direction).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// JSON pointer into the canonical request, where the value came from there.
    pub pointer: Option<String>,
    pub message: String,
}

impl EvalError {
    fn new(pointer: Option<String>, message: impl Into<String>) -> Self {
        EvalError {
            pointer,
            message: message.into(),
        }
    }
}

pub type Out<'a> = Result<Option<Cow<'a, Value>>, EvalError>;

/// A value met as an operand of arithmetic.
enum Operand<'a> {
    Absent,
    Number(Decimal),
    /// Present but not a number (null included): an error, or skipped by `sum`.
    Other(Cow<'a, Value>),
}

impl<'a> Operand<'a> {
    /// A present or absent value as an operand: a number when it reads as one.
    fn of(value: Option<Cow<'a, Value>>) -> Operand<'a> {
        match value {
            None => Operand::Absent,
            Some(v) => match to_decimal(&v) {
                Some(d) => Operand::Number(d),
                None => Operand::Other(v),
            },
        }
    }
}

/// How deep named templates may use each other (a cycle ends here).
pub(crate) const MAX_USE_DEPTH: usize = 32;

/// Evaluates templates; `templates` are the mapping's named ones (`use:`).
pub struct Evaluator<'m> {
    pub templates: &'m [Template],
    /// Named templates whose value is kept per focus (none unless [`Evaluator::memoizing`]).
    kept_per_focus: &'m [bool],
    memo: Memo,
    /// While [`Evaluator::write_json_noting`] writes: where each member of the top-level object
    /// went, once that object is written from an object template.
    written: Mutex<Option<Noted>>,
}

/// A member of the object [`Evaluator::write_json_noting`] wrote: where its name (as JSON
/// text, quotes included) and its value's text are in the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// An object written member by member ([`Evaluator::object_walk`]).
pub(super) struct ObjectWalk<'t, 'v> {
    /// The field lists of its template parts, each with the `use` depth it runs at.
    parts: Vec<(&'t [(ObjectKey, Template)], usize)>,
    /// A selected object merged last: its members replace the template's (where the template
    /// wrote them) or follow them.
    extra: Option<Cow<'v, Value>>,
}

/// A member to write, in order.
pub(super) enum WalkMember<'t, 'x> {
    /// From a template: written when present.
    Template(&'t Name, &'t Template, usize),
    /// From the selected object, replacing a template member: written when that one is present.
    Replacing(&'t Name, &'t Template, usize, &'x Value),
    /// From the selected object.
    Value(&'x str, &'x Value),
}

impl WalkMember<'_, '_> {
    pub(super) fn key(&self) -> &str {
        match self {
            WalkMember::Template(key, ..) | WalkMember::Replacing(key, ..) => key.as_str(),
            WalkMember::Value(key, _) => key,
        }
    }

    /// `"name":` as JSON text, when made at load (a template's member).
    fn json_name(&self) -> Option<&str> {
        match self {
            WalkMember::Template(key, ..) | WalkMember::Replacing(key, ..) => {
                Some(key.json_with_colon())
            }
            WalkMember::Value(..) => None,
        }
    }
}

impl Evaluator<'_> {
    /// The value of a walked member, when present: a template's evaluated, a selected one as
    /// it is (replacing a template member only where that one is present).
    pub(super) fn member_value<'a>(
        &self,
        m: &WalkMember<'_, 'a>,
        s: &Scope<'a>,
    ) -> Result<Option<Cow<'a, Value>>, EvalError> {
        Ok(match m {
            WalkMember::Template(_, t, d) => self.eval_depth(t, s, *d)?,
            WalkMember::Replacing(_, t, d, v) => {
                self.eval_depth(t, s, *d)?.map(|_| Cow::Borrowed(*v))
            }
            WalkMember::Value(_, v) => Some(Cow::Borrowed(*v)),
        })
    }
}

impl<'t, 'v> ObjectWalk<'t, 'v> {
    /// Walks the members as `merge` would order them: the templates' members (a selected
    /// member replacing one where the template yields it), then the selected object's other
    /// members. `f` says whether it wrote the member.
    pub(super) fn members<E>(
        &self,
        mut f: impl FnMut(WalkMember<'t, '_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let extra = self.extra.as_deref().and_then(Value::as_object);
        let mut replaced: Vec<&str> = Vec::new();
        for (fields, d) in &self.parts {
            for (key, value) in fields.iter() {
                let ObjectKey::Literal(key) = key else {
                    continue;
                };
                match extra.and_then(|m| m.get(key)) {
                    Some(v) => {
                        if f(WalkMember::Replacing(key, value, *d, v))? {
                            replaced.push(key.as_str());
                        }
                    }
                    None => {
                        f(WalkMember::Template(key, value, *d))?;
                    }
                }
            }
        }
        if let Some(m) = extra {
            for (key, v) in m.iter() {
                if !replaced.contains(&key.as_str()) {
                    f(WalkMember::Value(key, v))?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Noted {
    object: bool,
    members: Vec<Member>,
}

impl<'m> Evaluator<'m> {
    pub fn new(templates: &'m [Template]) -> Self {
        Evaluator {
            templates,
            kept_per_focus: &[],
            memo: Memo::default(),
            written: Mutex::new(None),
        }
    }

    /// Keeps, within one evaluation, the value of each named template `kept_per_focus` marks
    /// (the mapping's [`super::plan::Mapping::kept_per_focus`]).
    pub fn memoizing(mut self, kept_per_focus: &'m [bool]) -> Self {
        // A mapping that keeps nothing never touches the memo.
        if kept_per_focus.contains(&true) {
            self.kept_per_focus = kept_per_focus;
        }
        self
    }

    /// Starts an evaluation: nothing kept from the one before (every public entry calls it:
    /// the roots may have changed since, and an address may now hold another value).
    pub(super) fn begin(&self) {
        if !self.kept_per_focus.is_empty() {
            self.memo.clear();
        }
    }

    /// Whether named template `idx`'s value on `s`'s focus may be kept.
    fn keeps(&self, idx: usize, s: &Scope<'_>) -> bool {
        s.stable && self.kept_per_focus.get(idx).copied().unwrap_or(false)
    }

    pub fn eval<'a>(&self, t: &Template, s: &Scope<'a>) -> Out<'a> {
        self.begin();
        self.eval_depth(t, s, 0)
    }

    /// Named template `idx` on the current focus, from the memo when it may be kept there.
    fn use_named<'a>(&self, idx: usize, s: &Scope<'a>, depth: usize) -> Out<'a> {
        let named = self.named(idx, depth)?;
        if !self.keeps(idx, s) {
            return self.eval_depth(named, s, depth + 1);
        }
        if let Some(kept) = self.memo.get(idx, s.focus) {
            return Ok(kept.map(Cow::Owned));
        }
        let value = self.eval_depth(named, s, depth + 1)?;
        // Only what is cheap to copy is kept: the reused helpers compute amounts, ids and
        // codes; a template yielding an object or a list (a line) is most often used once.
        match value.as_deref() {
            None => self.memo.put(idx, s.focus, None),
            Some(v) if !(v.is_object() || v.is_array()) => {
                self.memo.put(idx, s.focus, Some(v.clone()));
            }
            Some(_) => {}
        }
        Ok(value)
    }

    /// Evaluates to an owned value (absent stays `None`).
    pub fn eval_owned(&self, t: &Template, s: &Scope<'_>) -> Result<Option<Value>, EvalError> {
        Ok(self.eval(t, s)?.map(Cow::into_owned))
    }

    pub(super) fn eval_depth<'a>(&self, t: &Template, s: &Scope<'a>, depth: usize) -> Out<'a> {
        match t {
            Template::Const(v) | Template::Number(_, v) => Ok(Some(Cow::Owned(v.clone()))),
            Template::Select(sel) => Ok(select(sel, s).filter(|v| !v.is_null())),
            Template::Interp(parts) => {
                Ok(interpolate(parts, s)?.map(|text| Cow::Owned(Value::from(text))))
            }
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (key, value) in fields {
                    let Some(v) = self.eval_depth(value, s, depth)? else {
                        continue;
                    };
                    let key = match key {
                        ObjectKey::Literal(k) => k.member(),
                        ObjectKey::Interp(parts) => match interpolate(parts, s)? {
                            Some(k) => k.into(),
                            None => continue,
                        },
                    };
                    map.insert(key, v.into_owned());
                }
                Ok(Some(Cow::Owned(Value::Object(map))))
            }
            Template::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    // Positions matter in a literal array: an absent element is null.
                    out.push(
                        self.eval_depth(item, s, depth)?
                            .map_or(Value::Null, Cow::into_owned),
                    );
                }
                Ok(Some(Cow::Owned(Value::Array(out))))
            }
            Template::Compact(items, omit_empty) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(v) = self.eval_depth(item, s, depth)? {
                        out.push(v.into_owned());
                    }
                }
                if out.is_empty() && *omit_empty {
                    return Ok(None);
                }
                Ok(Some(Cow::Owned(Value::Array(out))))
            }
            Template::Concat(items) => {
                let mut out = Vec::new();
                for item in items {
                    match self.eval_depth(item, s, depth)?.map(Cow::into_owned) {
                        None | Some(Value::Null) => {}
                        Some(Value::Array(list)) => out.extend(list),
                        Some(other) => out.push(other),
                    }
                }
                Ok(Some(Cow::Owned(Value::Array(out))))
            }
            Template::Fail(message, pointer) => {
                // `./field` points below the current focus (the line being rendered).
                let pointer = match pointer.as_deref() {
                    Some(rel) if rel.starts_with("./") => s
                        .focus_pointer
                        .map(|base| format!("{}/{}", base.text(), &rel[2..])),
                    other => other.map(str::to_string),
                };
                Err(EvalError::new(pointer, message.clone()))
            }
            Template::From(op) => self.eval_from(op, s, depth),
            Template::Each(op) => self.eval_each(op, s, depth),
            Template::If(cond, then, otherwise) => {
                if self.test_depth(cond, s, depth)? {
                    self.eval_depth(then, s, depth)
                } else if let Some(e) = otherwise {
                    self.eval_depth(e, s, depth)
                } else {
                    Ok(None)
                }
            }
            Template::Coalesce(options) => {
                for o in options {
                    if let Some(v) = self.eval_depth(o, s, depth)? {
                        return Ok(Some(v));
                    }
                }
                Ok(None)
            }
            Template::Arith(op, args, scale) => Ok(self
                .arith_decimal(*op, args, s, depth)?
                .map(|r| Cow::Owned(decimal_value(r, *scale)))),
            Template::Sum(inner, scale) => Ok(self
                .sum_decimal(inner, s, depth)?
                .map(|r| Cow::Owned(decimal_value(r, *scale)))),
            // The JSON text is written from the template, as a JSON body is.
            Template::Json(inner) => {
                let mut text = Vec::with_capacity(256);
                if !self.write_json_depth(inner, s, &mut text, depth)? {
                    return Ok(None);
                }
                let text = String::from_utf8(text)
                    .map_err(|_| EvalError::new(None, "json: the text is not UTF-8"))?;
                Ok(Some(Cow::Owned(Value::from(text))))
            }
            Template::ParseJson(inner) => {
                let Some(v) = self.eval_depth(inner, s, depth)? else {
                    return Ok(None);
                };
                match v.as_ref() {
                    Value::String(text) => serde_json::from_str::<Value>(text)
                        .map(|parsed| Some(Cow::Owned(parsed)))
                        .map_err(|e| {
                            EvalError::new(None, format!("parse_json: not a JSON text ({e})"))
                        }),
                    // Already structured: accept it as is (some servers send either form).
                    _ => Ok(Some(v)),
                }
            }
            Template::Pipe(stages) => {
                // The first stage reads the focus where it is (it may be a whole document);
                // each later one reads what the stage before it yielded.
                let mut current: Option<Value> = None;
                for (i, stage) in stages.iter().enumerate() {
                    let focus = match &current {
                        Some(v) => v,
                        None if i == 0 => s.focus,
                        None => return Ok(None),
                    };
                    let inner = Scope {
                        roots: s.roots,
                        focus,
                        focus_pointer: None,
                        parent: Some(s),
                        index: s.index,
                        stable: false,
                    };
                    current = self.eval_depth(stage, &inner, depth)?.map(Cow::into_owned);
                    if current.is_none() {
                        return Ok(None);
                    }
                }
                Ok(match current {
                    Some(v) => Some(Cow::Owned(v)),
                    None => Some(Cow::Borrowed(s.focus)),
                })
            }
            Template::Merge(parts) => {
                let mut map = Map::new();
                for p in parts {
                    match self.eval_depth(p, s, depth)? {
                        None => {}
                        Some(v) => match v.into_owned() {
                            Value::Object(o) => map.extend(o),
                            other => {
                                return Err(EvalError::new(
                                    pointer_of(p, s),
                                    format!(
                                        "merge: expected an object, found {}",
                                        convert::kind(&other)
                                    ),
                                ));
                            }
                        },
                    }
                }
                Ok(Some(Cow::Owned(Value::Object(map))))
            }
            Template::Use(idx, None) => self.use_named(*idx, s, depth),
            Template::Use(idx, Some(with)) => Ok(self
                .in_named(*idx, Some(with), s, depth, &mut |named, inner, d| {
                    // `$` is a value made here: what the template yields is owned.
                    Ok::<_, EvalError>(
                        self.eval_depth(named, inner, d)?
                            .map(|v| Cow::Owned(v.into_owned())),
                    )
                })?
                .flatten()),
            Template::Capture(inner, re) => {
                let Some(v) = self.eval_depth(inner, s, depth)? else {
                    return Ok(None);
                };
                let Some(text) = scalar_str(&v) else {
                    return Ok(None);
                };
                let Some(re) = re.regex() else {
                    return Ok(None);
                };
                let group = usize::from(re.captures_len() > 1);
                let mut caps = re.create_captures();
                re.captures(text, &mut caps);
                Ok(caps
                    .get_group(group)
                    .and_then(|span| text.get(span.range()))
                    .map(|m| Cow::Owned(Value::from(m.to_string()))))
            }
            Template::StripHtml(inner) => Ok(self
                .eval_depth(inner, s, depth)?
                .and_then(|v| scalar_str(&v).map(|t| Cow::Owned(Value::from(strip_html(t)))))),
            Template::Join(inner, sep) => {
                let Some(v) = self.eval_depth(inner, s, depth)? else {
                    return Ok(None);
                };
                let parts: Vec<&str> = match v.as_ref() {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(scalar_str)
                        .filter(|t| !t.is_empty())
                        .collect(),
                    other => scalar_str(other).into_iter().collect(),
                };
                Ok(Some(Cow::Owned(Value::from(parts.join(sep)))))
            }
            Template::Count(inner) => Ok(self.eval_depth(inner, s, depth)?.map(|v| {
                let n = match v.as_ref() {
                    Value::Array(items) => items.len(),
                    _ => 1,
                };
                Cow::Owned(Value::Number(Number::from(n)))
            })),
            Template::Entries(inner) => Ok(self.eval_depth(inner, s, depth)?.map(|v| {
                let items = match v.as_ref() {
                    Value::Object(map) => map
                        .iter()
                        .map(|(k, v)| {
                            let mut e = Map::with_capacity(2);
                            e.insert("key", Value::from(k.as_str()));
                            e.insert("value", v.clone());
                            Value::Object(e)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Cow::Owned(Value::Array(items))
            })),
            Template::Base64(inner) => {
                use base64::Engine as _;
                Ok(self.eval_depth(inner, s, depth)?.and_then(|v| {
                    scalar_str(&v).map(|t| {
                        Cow::Owned(Value::from(
                            base64::engine::general_purpose::STANDARD.encode(t),
                        ))
                    })
                }))
            }
            Template::Require(inner, message) => match self.eval_depth(inner, s, depth)? {
                Some(v) => Ok(Some(v)),
                None => Err(EvalError::new(pointer_of(inner, s), message.clone())),
            },
        }
    }

    /// `add`/`sub`/`mul`/`div` over the operands' exact values; absent when one is absent.
    fn arith_decimal(
        &self,
        op: ArithOp,
        args: &[Template],
        s: &Scope<'_>,
        depth: usize,
    ) -> Result<Option<Decimal>, EvalError> {
        // Every operand is read before any arithmetic (an absent one makes the result absent,
        // even after a division by zero); up to four of them on the stack.
        const ON_STACK: usize = 4;
        let mut few = [Decimal::ZERO; ON_STACK];
        let mut many = Vec::new();
        for (i, a) in args.iter().enumerate() {
            match self.operand(a, s, depth)? {
                Operand::Absent => return Ok(None),
                Operand::Number(d) if args.len() <= ON_STACK => few[i] = d,
                Operand::Number(d) => many.push(d),
                Operand::Other(v) => {
                    return Err(EvalError::new(
                        pointer_of(a, s),
                        format!("expected a number, found {}", convert::kind(&v)),
                    ));
                }
            }
        }
        let nums = if args.len() <= ON_STACK {
            &few[..args.len()]
        } else {
            &many[..]
        };
        arith(op, nums)
            .map(Some)
            .map_err(|m| EvalError::new(None, m))
    }

    /// `sum` of a list's numbers (nulls skipped; a single value counts as a list of one).
    /// A sum over `each` adds its elements' values as they come, without building the list.
    fn sum_decimal(
        &self,
        inner: &Template,
        s: &Scope<'_>,
        depth: usize,
    ) -> Result<Option<Decimal>, EvalError> {
        let not_number = |v: &Value| {
            EvalError::new(
                None,
                format!("sum: expected numbers, found {}", convert::kind(v)),
            )
        };
        let add = |acc: Decimal, d: Decimal| {
            arith(ArithOp::Add, &[acc, d]).map_err(|m| EvalError::new(None, m))
        };
        let mut total = Decimal::ZERO;
        if let Template::Each(op) = inner {
            let mut present = 0usize;
            let found = self.each_element(op, s, depth, &mut |element| {
                match self.operand(&op.to, element, depth)? {
                    Operand::Absent => {}
                    Operand::Number(d) => {
                        present += 1;
                        total = add(total, d)?;
                    }
                    Operand::Other(v) if v.is_null() => present += 1,
                    Operand::Other(v) => return Err(not_number(&v)),
                }
                Ok(())
            })?;
            if !found || (present == 0 && op.omit_empty) {
                return Ok(None);
            }
            return Ok(Some(total));
        }
        // A query (`$.lines[*].amount`): its matches added where they are, not copied into a
        // list first. One match is taken as `select` gives it (a list's elements are added).
        if let Some(found) = query_matches(inner, s) {
            let items: Vec<&Value> = match found.as_slice() {
                found if no_match(found) => return Ok(None),
                [Value::Array(list)] => list.iter().collect(),
                _ => found,
            };
            for item in items.into_iter().filter(|i| !i.is_null()) {
                total = add(total, to_decimal(item).ok_or_else(|| not_number(item))?)?;
            }
            return Ok(Some(total));
        }
        let Some(v) = self.eval_depth(inner, s, depth)? else {
            return Ok(None);
        };
        let items: &[Value] = match v.as_ref() {
            Value::Array(items) => items,
            other => std::slice::from_ref(other),
        };
        for item in items.iter().filter(|i| !i.is_null()) {
            total = add(total, to_decimal(item).ok_or_else(|| not_number(item))?)?;
        }
        Ok(Some(total))
    }

    /// Whether a template has a value; a query's matches are counted, not copied.
    fn present(&self, t: &Template, s: &Scope<'_>, depth: usize) -> Result<bool, EvalError> {
        if let Some(found) = query_matches(t, s) {
            return Ok(!no_match(&found));
        }
        Ok(self.eval_depth(t, s, depth)?.is_some())
    }

    /// A template's value as an operand of arithmetic. Arithmetic nested in arithmetic (also
    /// through `coalesce` and named templates) stays an exact decimal: it is not written as a
    /// JSON number to be read back.
    fn operand<'a>(
        &self,
        t: &Template,
        s: &Scope<'a>,
        depth: usize,
    ) -> Result<Operand<'a>, EvalError> {
        let number = |d: Option<Decimal>, scale: &Option<u32>| match d {
            None => Operand::Absent,
            Some(d) => Operand::Number(match scale {
                Some(places) => convert::rounded(d, *places),
                None => d,
            }),
        };
        match t {
            Template::Arith(op, args, scale) => {
                Ok(number(self.arith_decimal(*op, args, s, depth)?, scale))
            }
            Template::Sum(inner, scale) => Ok(number(self.sum_decimal(inner, s, depth)?, scale)),
            Template::Coalesce(options) => {
                for o in options {
                    match self.operand(o, s, depth)? {
                        Operand::Absent => {}
                        found => return Ok(found),
                    }
                }
                Ok(Operand::Absent)
            }
            Template::Use(idx, None) if !self.keeps(*idx, s) => {
                self.operand(self.named(*idx, depth)?, s, depth + 1)
            }
            // A selected value read where it is, without the interpreter's dispatch (as
            // `eval_depth` selects: null is absent).
            Template::Select(sel) => Ok(Operand::of(select(sel, s).filter(|v| !v.is_null()))),
            // A constant (`100` of a percent), read at load.
            Template::Number(d, _) => Ok(Operand::Number(*d)),
            // Any other constant (no number, or not an operand itself: a `coalesce` option),
            // read in place, copied out only when it is no number.
            Template::Const(v) => Ok(match to_decimal(v) {
                Some(d) => Operand::Number(d),
                None => Operand::Other(Cow::Owned(v.clone())),
            }),
            other => Ok(Operand::of(self.eval_depth(other, s, depth)?)),
        }
    }

    fn eval_from<'a>(&self, op: &FromOp, s: &Scope<'a>, depth: usize) -> Out<'a> {
        let mut value = match &op.source {
            Template::Select(sel) if op.keep_null => select(sel, s),
            // As `eval_depth` selects, without going through it.
            Template::Select(sel) => select(sel, s).filter(|v| !v.is_null()),
            other => self.eval_depth(other, s, depth)?,
        };
        if value.is_none()
            && let Some(d) = &op.default
        {
            value = self.eval_depth(d, s, depth)?;
        }
        let Some(mut v) = value else {
            return Ok(None);
        };
        if let Some(map) = &op.map {
            let key = scalar_str(&v).unwrap_or_default();
            match map.entries.get(key) {
                Some(mapped) => v = Cow::Owned(mapped.clone()),
                None => match op.on_unmapped {
                    Unmapped::Keep => {}
                    Unmapped::Omit => return Ok(None),
                    Unmapped::Error => {
                        let mut known: Vec<&String> = map.entries.keys().collect();
                        known.sort();
                        return Err(EvalError::new(
                            pointer_of(&op.source, s),
                            format!(
                                "`{key}` has no equivalent in value map `{}` (known: {})",
                                map.name,
                                known
                                    .iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                },
            }
        }
        if let Some(how) = &op.convert {
            let named;
            let zone = match &op.zone {
                None => None,
                Some(Zone::Fixed(tz)) => Some(tz),
                Some(Zone::Template(z)) => {
                    let zone = self.eval_depth(z, s, depth)?;
                    let name = zone.as_deref().and_then(scalar_str).unwrap_or("UTC");
                    named = TimeZone::named(name).ok_or_else(|| {
                        EvalError::new(None, format!("unknown time zone `{name}`"))
                    })?;
                    Some(&named)
                }
            };
            v = convert::convert_cow(v, how, zone)
                .map_err(|m| EvalError::new(pointer_of(&op.source, s), m))?;
        }
        Ok(Some(v))
    }

    fn eval_each<'a>(&self, op: &EachOp, s: &Scope<'a>, depth: usize) -> Out<'a> {
        let mut out = Vec::new();
        let found = self.each_element(op, s, depth, &mut |inner| {
            if let Some(v) = self.eval_depth(&op.to, inner, depth)? {
                out.push(v.into_owned());
            }
            Ok(())
        })?;
        if !found || (out.is_empty() && op.omit_empty) {
            return Ok(None);
        }
        Ok(Some(Cow::Owned(Value::Array(out))))
    }

    /// Runs `f` with the scope of each element of `op`'s source that passes its filter;
    /// false when the source is absent.
    pub(super) fn each_element<E: From<EvalError>>(
        &self,
        op: &EachOp,
        s: &Scope<'_>,
        depth: usize,
        f: &mut dyn FnMut(&Scope<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        let owned;
        // Elements of a value made here are not stable (see `Scope::stable`).
        let mut stable = false;
        let (elements, pointers): (Vec<&Value>, Pointers<'_>) = match &op.source {
            Template::Select(sel) => {
                let (base, base_ptr) = match root_value(sel.root, s) {
                    None => return Ok(false),
                    Some(Cow::Borrowed(b)) => {
                        stable = root_is_stable(sel.root, s);
                        (b, root_pointer(sel.root, s))
                    }
                    Some(Cow::Owned(o)) => {
                        owned = o;
                        (&owned, None)
                    }
                };
                // Nothing to walk: the source is absent or null (for a query, no match or one
                // null match).
                let Some(walked) = element_refs(sel, base, base_ptr) else {
                    return Ok(false);
                };
                walked
            }
            other => match self.eval_depth(other, s, depth)? {
                None => return Ok(false),
                Some(v) => {
                    owned = v.into_owned();
                    match &owned {
                        Value::Array(items) => (items.iter().collect(), Pointers::None),
                        Value::Null => (Vec::new(), Pointers::None),
                        single => (vec![single], Pointers::None),
                    }
                }
            },
        };
        for (i, element) in elements.into_iter().enumerate() {
            let inner = Scope {
                roots: s.roots,
                focus: element,
                focus_pointer: pointers.at(i),
                parent: Some(s),
                index: Some(i),
                stable,
            };
            if let Some(filter) = &op.filter
                && !self.test_depth(filter, &inner, depth)?
            {
                continue;
            }
            f(&inner)?;
        }
        Ok(true)
    }

    /// Writes the JSON text of `t` to `out`, as `serde_json::to_writer` would write the value
    /// [`Evaluator::eval`] yields, without building it: objects (and merges of objects naming
    /// different members), lists, `each`, `if` and named templates are written as they are
    /// walked; selected values are written from where they are. False (and nothing written)
    /// when the value is absent.
    pub fn write_json(
        &self,
        t: &Template,
        s: &Scope<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, EvalError> {
        self.begin();
        self.write_json_depth(t, s, out, 0)
    }

    /// [`Evaluator::write_json`] into an empty `out`, also telling where each member of the
    /// object written at the top was written (none when the value is not an object of literal
    /// names, which is then built before it is written): what the caller needs of the result
    /// (an id, say) is read there, not parsed back from the whole text.
    pub fn write_json_noting(
        &self,
        t: &Template,
        s: &Scope<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Vec<Member>>, EvalError> {
        out.clear();
        *self.noted() = Some(Noted::default());
        let written = self.write_json(t, s, out);
        let noted = self.noted().take();
        if !written? {
            return Ok(None);
        }
        Ok(noted.filter(|n| n.object).map(|n| n.members))
    }

    fn noted(&self) -> MutexGuard<'_, Option<Noted>> {
        // A panic while holding it leaves at worst a partial list, which is then not used.
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes member `key` of an object (a comma before it unless it is the first), its value
    /// by `write`; nothing when `write` writes nothing. Noted when the object is the top one.
    /// `json_name`: the name's JSON text and colon, when made at load.
    fn json_member(
        &self,
        out: &mut Vec<u8>,
        any: &mut bool,
        top: bool,
        (key, json_name): (&str, Option<&str>),
        write: impl FnOnce(&mut Vec<u8>) -> Result<bool, EvalError>,
    ) -> Result<bool, EvalError> {
        let mut written = false;
        member(out, any, |out| {
            let name_start = out.len();
            match json_name {
                Some(text) => out.extend_from_slice(text.as_bytes()),
                None => {
                    value::write_json_str(out, key);
                    out.push(b':');
                }
            }
            let name = name_start..out.len() - 1;
            let value_start = out.len();
            written = write(out)?;
            if top
                && written
                && let Some(noted) = self.noted().as_mut()
            {
                noted.members.push(Member {
                    name,
                    value: value_start..out.len(),
                });
            }
            Ok(written)
        })?;
        Ok(written)
    }

    /// Whether the members of the object about to be written at the top are noted.
    fn note_object(&self) -> bool {
        match self.noted().as_mut() {
            Some(noted) => {
                noted.object = true;
                true
            }
            None => false,
        }
    }

    fn write_json_depth(
        &self,
        t: &Template,
        s: &Scope<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<bool, EvalError> {
        // Most members are a selected value or a constant: written where they lie, without
        // going through `eval` (what it gives for them, written).
        match t {
            Template::Select(sel) => {
                return Ok(match select(sel, s) {
                    Some(v) if !v.is_null() => {
                        value::write_json(out, &v);
                        true
                    }
                    _ => false,
                });
            }
            Template::Const(v) => {
                value::write_json(out, v);
                return Ok(true);
            }
            // A converted or mapped value (`from:`), as `eval_depth` gives it.
            Template::From(op) => {
                return Ok(match self.eval_from(op, s, depth)? {
                    Some(v) => {
                        value::write_json(out, &v);
                        true
                    }
                    None => false,
                });
            }
            _ => {}
        }
        if let Some(written) = self.through(t, s, depth, &mut |t, s, d| {
            self.write_json_depth(t, s, out, d)
        }) {
            return written;
        }
        if let Template::Merge(_) = t
            && let Some(walk) = self.object_walk(t, s, depth)
        {
            let top = out.is_empty() && self.note_object();
            out.push(b'{');
            let mut any = false;
            walk.members(|m| {
                self.json_member(
                    out,
                    &mut any,
                    top,
                    (m.key(), m.json_name()),
                    |out| match &m {
                        // Walked, not built: objects and lists below are written as they come.
                        WalkMember::Template(_, t, d) => self.write_json_depth(t, s, out, *d),
                        _ => match self.member_value(&m, s)? {
                            Some(v) => {
                                value::write_json(out, &v);
                                Ok(true)
                            }
                            None => Ok(false),
                        },
                    },
                )
            })?;
            out.push(b'}');
            return Ok(true);
        }
        match t {
            Template::Object(fields)
                if fields
                    .iter()
                    .all(|(k, _)| matches!(k, ObjectKey::Literal(_))) =>
            {
                // Only the top-level object starts an empty output.
                let top = out.is_empty() && self.note_object();
                out.push(b'{');
                let mut any = false;
                for (key, value) in fields {
                    let ObjectKey::Literal(key) = key else {
                        continue;
                    };
                    let name = (key.as_str(), Some(key.json_with_colon()));
                    self.json_member(out, &mut any, top, name, |out| {
                        self.write_json_depth(value, s, out, depth)
                    })?;
                }
                out.push(b'}');
                Ok(true)
            }
            Template::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // Positions matter in a literal array: an absent element is null.
                    if !self.write_json_depth(item, s, out, depth)? {
                        out.extend_from_slice(b"null");
                    }
                }
                out.push(b']');
                Ok(true)
            }
            Template::Compact(items, omit_empty) => {
                let start = out.len();
                out.push(b'[');
                let mut any = false;
                for item in items {
                    member(out, &mut any, |out| {
                        self.write_json_depth(item, s, out, depth)
                    })?;
                }
                if !any && *omit_empty {
                    out.truncate(start);
                    return Ok(false);
                }
                out.push(b']');
                Ok(true)
            }
            Template::Each(op) => {
                let start = out.len();
                out.push(b'[');
                let mut any = false;
                let found = self.each_element(op, s, depth, &mut |inner| {
                    member(out, &mut any, |out| {
                        self.write_json_depth(&op.to, inner, out, depth)
                    })
                })?;
                if !found || (!any && op.omit_empty) {
                    out.truncate(start);
                    return Ok(false);
                }
                out.push(b']');
                Ok(true)
            }
            other => match self.eval_depth(other, s, depth)? {
                Some(v) => {
                    value::write_json(out, &v);
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }

    /// Runs `f` on named template `idx`, with `$` moved to `with` when given; `None` when
    /// `with` is absent. Past [`MAX_USE_DEPTH`] (a cycle) it is an error.
    pub(super) fn in_named<R, E: From<EvalError>>(
        &self,
        idx: usize,
        with: Option<&Template>,
        s: &Scope<'_>,
        depth: usize,
        f: &mut dyn FnMut(&Template, &Scope<'_>, usize) -> Result<R, E>,
    ) -> Result<Option<R>, E> {
        let named = self.named(idx, depth)?;
        let Some(w) = with else {
            return f(named, s, depth + 1).map(Some);
        };
        let Some(focus) = self.eval_depth(w, s, depth)? else {
            return Ok(None);
        };
        let inner = Scope {
            roots: s.roots,
            focus: focus.as_ref(),
            focus_pointer: None,
            parent: Some(s),
            index: s.index,
            stable: false,
        };
        f(named, &inner, depth + 1).map(Some)
    }

    /// For the body writers: `t` seen through `if`, `use` and a `merge` whose extra parts are
    /// absent (`merge: [ {object}, $.extra_fields ]`, the usual case, is the object itself).
    /// Runs `write` on the template (and scope) `t` stands for; `None` when `t` is none of
    /// these, `Some(Ok(false))` when it stands for nothing (no branch taken, `with:` absent).
    pub(super) fn through<E: From<EvalError>>(
        &self,
        t: &Template,
        s: &Scope<'_>,
        depth: usize,
        write: &mut dyn FnMut(&Template, &Scope<'_>, usize) -> Result<bool, E>,
    ) -> Option<Result<bool, E>> {
        match t {
            Template::If(cond, then, otherwise) => Some(match self.test_depth(cond, s, depth) {
                Err(e) => Err(e.into()),
                Ok(true) => write(then, s, depth),
                Ok(false) => otherwise
                    .as_deref()
                    .map_or(Ok(false), |o| write(o, s, depth)),
            }),
            Template::Use(idx, with) => Some(
                self.in_named(*idx, with.as_deref(), s, depth, write)
                    .map(|w| w.unwrap_or(false)),
            ),
            Template::Merge(parts) if self.merge_is_its_first_object(parts, s) => {
                Some(write(&parts[0], s, depth))
            }
            _ => None,
        }
    }

    /// Named template `idx`, used at `depth`; past [`MAX_USE_DEPTH`] (a cycle) an error.
    fn named(&self, idx: usize, depth: usize) -> Result<&Template, EvalError> {
        if depth >= MAX_USE_DEPTH {
            return Err(EvalError::new(
                None,
                "templates use each other too deeply (a cycle?)",
            ));
        }
        self.templates
            .get(idx)
            .ok_or_else(|| EvalError::new(None, "unknown template"))
    }

    /// A `merge:` the body writers walk member by member without building it: objects of
    /// literal names (inline, or named templates used without `with:`) no two of which name
    /// the same member, the last part possibly a selected object (`merge: [ {...},
    /// $.vendor_fields ]`). None for anything else (built by `eval`, then written; so is a
    /// selected part that is not an object, to give `merge`'s error).
    pub(super) fn object_walk<'t, 'v>(
        &'t self,
        t: &'t Template,
        s: &Scope<'v>,
        depth: usize,
    ) -> Option<ObjectWalk<'t, 'v>> {
        let literal = |fields: &[(ObjectKey, Template)]| {
            fields
                .iter()
                .all(|(k, _)| matches!(k, ObjectKey::Literal(_)))
        };
        let Template::Merge(all) = t else {
            return None;
        };
        let (templates, extra) = match all.split_last() {
            Some((Template::Select(sel), init)) if !init.is_empty() => {
                match select(sel, s).filter(|v| !v.is_null()) {
                    None => (init, None),
                    Some(v) if v.is_object() => (init, Some(v)),
                    Some(_) => return None,
                }
            }
            _ => (all.as_slice(), None),
        };
        if templates.len() + usize::from(extra.is_some()) < 2 {
            return None;
        }
        let mut parts = Vec::with_capacity(templates.len());
        for part in templates {
            let (mut part, mut d) = (part, depth);
            while let Template::Use(idx, None) = part {
                part = self.named(*idx, d).ok()?;
                d += 1;
            }
            match part {
                Template::Object(fields) if literal(fields) => parts.push((fields.as_slice(), d)),
                _ => return None,
            }
        }
        let names = |fields: &'t [(ObjectKey, Template)]| {
            fields.iter().filter_map(|(k, _)| match k {
                ObjectKey::Literal(k) => Some(k.as_str()),
                ObjectKey::Interp(_) => None,
            })
        };
        // The parts' names are compared pair by pair: at most 64 names in all (2,016 pairs),
        // else the merge is built as before.
        if parts.iter().map(|(f, _)| f.len()).sum::<usize>() > 64 {
            return None;
        }
        for (i, (a, _)) in parts.iter().enumerate() {
            for (b, _) in &parts[i + 1..] {
                if names(a).any(|k| names(b).any(|l| l == k)) {
                    return None;
                }
            }
        }
        Some(ObjectWalk { parts, extra })
    }

    /// `merge: [ {object}, $.extra, ... ]` whose extra parts are all absent: the object itself,
    /// which the writers walk without building it.
    pub(super) fn merge_is_its_first_object(&self, parts: &[Template], s: &Scope<'_>) -> bool {
        matches!(parts.first(), Some(Template::Object(_)))
            && parts[1..].iter().all(
                |p| matches!(p, Template::Select(sel) if select(sel, s).is_none_or(|v| v.is_null())),
            )
    }

    pub fn test(&self, p: &Predicate, s: &Scope<'_>) -> Result<bool, EvalError> {
        self.begin();
        self.test_depth(p, s, 0)
    }

    pub(super) fn test_depth(
        &self,
        p: &Predicate,
        s: &Scope<'_>,
        depth: usize,
    ) -> Result<bool, EvalError> {
        let ev = |t: &Template| self.eval_depth(t, s, depth);
        Ok(match p {
            Predicate::Eq(a, b) => match (ev(a)?, ev(b)?) {
                (Some(x), Some(y)) => values_equal(&x, &y),
                (None, None) => true,
                _ => false,
            },
            Predicate::Ne(a, b) => match (ev(a)?, ev(b)?) {
                (Some(x), Some(y)) => !values_equal(&x, &y),
                (None, None) => false,
                _ => true,
            },
            Predicate::In(a, options) => match ev(a)? {
                None => false,
                Some(x) => {
                    let mut found = false;
                    for o in options {
                        // A constant list (`[true, "true"]`) is read where it lies.
                        let y = match o {
                            Template::Const(c) => Some(Cow::Borrowed(c)),
                            other => ev(other)?,
                        };
                        if let Some(y) = y {
                            match y.as_ref() {
                                Value::Array(items) => {
                                    found |= items.iter().any(|i| values_equal(&x, i))
                                }
                                other => found |= values_equal(&x, other),
                            }
                        }
                    }
                    found
                }
            },
            Predicate::Exists(a) => self.present(a, s, depth)?,
            Predicate::Missing(a) => !self.present(a, s, depth)?,
            Predicate::Empty(a) => match ev(a)? {
                None => true,
                Some(v) => match v.as_ref() {
                    Value::String(t) => t.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    Value::Null => true,
                    _ => false,
                },
            },
            Predicate::Gt(a, b) => cmp(ev(a)?, ev(b)?, |o| o.is_gt()),
            Predicate::Ge(a, b) => cmp(ev(a)?, ev(b)?, |o| o.is_ge()),
            Predicate::Lt(a, b) => cmp(ev(a)?, ev(b)?, |o| o.is_lt()),
            Predicate::Le(a, b) => cmp(ev(a)?, ev(b)?, |o| o.is_le()),
            Predicate::Matches(a, re) => ev(a)?.is_some_and(|v| {
                scalar_str(&v).is_some_and(|t| re.regex().is_some_and(|re| re.is_match(t)))
            }),
            Predicate::Not(inner) => !self.test_depth(inner, s, depth)?,
            Predicate::All(items) => {
                for i in items {
                    if !self.test_depth(i, s, depth)? {
                        return Ok(false);
                    }
                }
                true
            }
            Predicate::Any(items) => {
                for i in items {
                    if self.test_depth(i, s, depth)? {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }
}

/// Writes one member of a JSON list or object (after a comma when `any` came before); takes
/// it back when `write` finds it absent.
fn member(
    out: &mut Vec<u8>,
    any: &mut bool,
    write: impl FnOnce(&mut Vec<u8>) -> Result<bool, EvalError>,
) -> Result<(), EvalError> {
    let mark = out.len();
    if *any {
        out.push(b',');
    }
    if write(out)? {
        *any = true;
    } else {
        out.truncate(mark);
    }
    Ok(())
}

fn cmp(
    a: Option<Cow<'_, Value>>,
    b: Option<Cow<'_, Value>>,
    f: impl Fn(std::cmp::Ordering) -> bool,
) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => compare(&x, &y).is_some_and(f),
        _ => false,
    }
}

fn root_value<'a>(root: Root, s: &Scope<'a>) -> Option<Cow<'a, Value>> {
    match root {
        Root::Index => s.index.map(|i| Cow::Owned(Value::Number(Number::from(i)))),
        _ => root_ref(root, s).map(Cow::Borrowed),
    }
}

/// The value of a root other than `$index` (the one made, not found); `None` when it is
/// absent or null.
fn root_ref<'a>(root: Root, s: &Scope<'a>) -> Option<&'a Value> {
    let r = s.roots;
    let v: &'a Value = match root {
        Root::Focus => s.focus,
        Root::Input => r.input,
        Root::Path => r.path,
        Root::Query => r.query,
        Root::Page => r.page,
        Root::Settings => r.settings,
        Root::Secrets => r.secrets,
        Root::Auth => r.auth,
        Root::Connection => r.connection,
        Root::Now => r.clock.now(),
        Root::Today => r.clock.today(),
        Root::Response => r.response,
        Root::Parent => s.parent?.focus,
        Root::Index => return None,
        Root::Step(slot) => r.steps.get(slot)?,
    };
    (!v.is_null()).then_some(v)
}

/// Whether a value read from `root` lives as long as the roots (see `Scope::stable`).
fn root_is_stable(root: Root, s: &Scope<'_>) -> bool {
    match root {
        Root::Focus => s.stable,
        Root::Parent => s.parent.is_some_and(|p| p.stable),
        Root::Index => false,
        _ => true,
    }
}

fn root_pointer<'s>(root: Root, s: &'s Scope<'_>) -> Option<&'s Pointer<'s>> {
    static INPUT: Pointer<'static> = Pointer::Text("");
    match root {
        Root::Focus => s.focus_pointer.as_ref(),
        Root::Input => Some(&INPUT),
        Root::Parent => s.parent.and_then(|p| p.focus_pointer.as_ref()),
        _ => None,
    }
}

/// Selects with a selector in a scope.
pub fn select<'a>(sel: &Selector, s: &Scope<'a>) -> Option<Cow<'a, Value>> {
    match sel.root {
        // The one root made here, not found: what it selects is copied out of it.
        Root::Index => {
            let index = root_value(Root::Index, s)?;
            sel.select(&index).map(|v| Cow::Owned(v.into_owned()))
        }
        root => sel.select(root_ref(root, s)?),
    }
}

/// The matches of a query selector (`$.lines[*].amount`), read where they are: for callers
/// that count or add them, where `select` would copy several into a list. `None` for any
/// other template, or a root made during the evaluation.
fn query_matches<'a>(t: &Template, s: &Scope<'a>) -> Option<Vec<&'a Value>> {
    match t {
        Template::Select(sel) if !sel.is_single() => match root_value(sel.root, s)? {
            Cow::Borrowed(base) => Some(sel.select_all(base)),
            Cow::Owned(_) => None,
        },
        _ => None,
    }
}

/// Matches that a selected value reads as absent: none, or one null.
fn no_match(found: &[&Value]) -> bool {
    matches!(found, [] | [Value::Null])
}

/// The pointers of the elements `each` walks, made when asked for.
enum Pointers<'p> {
    None,
    /// A simple path below a known pointer: each element is `{base}{suffix}[/{i}]`.
    Below {
        base: &'p Pointer<'p>,
        suffix: &'p str,
        list: bool,
    },
    /// A query's matches, each with its own path (worked out when one is written).
    Matches {
        base: &'p Pointer<'p>,
        query: &'p Selector,
        value: &'p Value,
    },
}

impl Pointers<'_> {
    fn at(&self, i: usize) -> Option<Pointer<'_>> {
        match self {
            Pointers::None => None,
            Pointers::Below { base, suffix, list } => Some(Pointer::Element {
                base,
                suffix,
                index: list.then_some(i),
            }),
            Pointers::Matches { base, query, value } => Some(Pointer::Match {
                base,
                query,
                value,
                index: i,
            }),
        }
    }
}

/// The elements `each` walks over `base`, with their pointers; `None` when there is nothing to
/// walk ([`Selector::elements`]).
fn element_refs<'v: 'p, 'p>(
    sel: &'p Selector,
    base: &'v Value,
    base_ptr: Option<&'p Pointer<'p>>,
) -> Option<(Vec<&'v Value>, Pointers<'p>)> {
    let (elements, list) = sel.elements(base)?;
    let pointers = match (&sel.path, base_ptr, sel.pointer_suffix()) {
        (PathKind::Simple(_), Some(base_ptr), Some(suffix)) => Pointers::Below {
            base: base_ptr,
            suffix,
            list,
        },
        (PathKind::Query(_), Some(bp), _) => Pointers::Matches {
            base: bp,
            query: sel,
            value: base,
        },
        _ => Pointers::None,
    };
    Some((elements, pointers))
}

/// Where a template's value came from in the canonical input, when it is a plain selector.
fn pointer_of(t: &Template, s: &Scope<'_>) -> Option<String> {
    match t {
        Template::Select(sel) => Some(format!(
            "{}{}",
            root_pointer(sel.root, s)?.text(),
            sel.pointer_suffix()?
        )),
        Template::From(op) => pointer_of(&op.source, s),
        _ => None,
    }
}

fn interpolate(parts: &[InterpPart], s: &Scope<'_>) -> Result<Option<String>, EvalError> {
    // Room for the literal parts and a short value each: most texts are made without growing.
    let room = parts
        .iter()
        .map(|p| match p {
            InterpPart::Literal(t) => t.len(),
            InterpPart::Value(_) => 32,
        })
        .sum();
    let mut out = String::with_capacity(room);
    for p in parts {
        match p {
            InterpPart::Literal(t) => out.push_str(t),
            InterpPart::Value(sel) => {
                let Some(v) = select(sel, s).filter(|v| !v.is_null()) else {
                    return Ok(None);
                };
                match scalar_str(&v) {
                    Some(t) => out.push_str(t),
                    None => {
                        return Err(EvalError::new(
                            None,
                            format!(
                                "`{}` is {}, not text: it cannot be interpolated",
                                sel.text,
                                convert::kind(&v)
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(Some(out))
}

/// Drops HTML tags and decodes the common entities (vendor messages often carry markup).
pub fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                // Block-level tags and line breaks separate words; inline ones do not.
                let name: String = tag
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "br" | "p"
                        | "div"
                        | "li"
                        | "ul"
                        | "ol"
                        | "tr"
                        | "td"
                        | "th"
                        | "h1"
                        | "h2"
                        | "h3"
                        | "h4"
                        | "table"
                ) {
                    out.push(' ');
                }
            }
            c if in_tag => tag.push(c),
            c => out.push(c),
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::operation::Operation;
    use crate::engine::compile::compile_file;
    use crate::engine::plan::ResultPlan;
    use crate::json;

    /// Compiles a get_order whose `result:` is `result` (`head` comes first in the file) and
    /// hands `f` the evaluator, the result template and a scope on `focus`.
    fn with_result<R>(
        head: &str,
        result: &str,
        focus: &Value,
        settings: &Value,
        f: impl FnOnce(&Evaluator<'_>, &Template, &Scope<'_>) -> R,
    ) -> Result<R, EvalError> {
        let text = format!(
            "vendor: t\n{head}operations:\n  get_order:\n    steps:\n      - name: got\n        request: {{ method: GET, path: /x }}\n    result: {result}\n"
        );
        let m = compile_file("t.yaml", &text).map_err(|e| EvalError {
            pointer: None,
            message: e.to_string(),
        })?;
        let Some(ResultPlan::Order(t)) = m.operations.get(&Operation::GetOrder).map(|p| &p.result)
        else {
            panic!("no result");
        };
        let roots = Roots::for_test(focus, settings);
        Ok(f(
            &Evaluator::new(&m.templates),
            t,
            &Scope::new(&roots, focus),
        ))
    }

    /// Compiles `result:` of a get_order and runs it on `focus`.
    fn run(result: &str, focus: Value) -> Result<Option<Value>, EvalError> {
        let head = "settings: { lang: { default: en_US } }\nvalues:\n  st: { draft: D, confirmed: [C, C2] }\n";
        with_result(
            head,
            result,
            &focus,
            &json!({"lang": "en_US"}),
            |ev, t, scope| ev.eval_owned(t, scope),
        )?
    }

    /// `write_json` of `result:` on `focus`, and the JSON text of what `eval` yields.
    fn written_and_evaluated(result: &str, focus: Value) -> (String, String) {
        let head = "templates:\n  line: { sku: $.sku, gone: $.nothing }\n";
        with_result(head, result, &focus, &Value::Null, |ev, t, scope| {
            let mut out = Vec::new();
            let written = ev.write_json(t, scope, &mut out).expect("writes");
            let evaluated = ev.eval_owned(t, scope).expect("evaluates");
            assert_eq!(written, evaluated.is_some(), "{result}");
            (
                String::from_utf8(out).expect("utf8"),
                evaluated.map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .unwrap_or_else(|e| panic!("{result}: {e}"))
    }

    /// `write_json_noting` of `result:` on `focus`: the text, and each noted member's name and
    /// value as text.
    fn noted(result: &str, focus: Value) -> (String, Option<Vec<(String, String)>>) {
        let head =
            "templates:\n  order: { id: $.id, lines: { each: $.lines, to: { id: $.id } } }\n";
        with_result(head, result, &focus, &Value::Null, |ev, t, scope| {
            let mut out = b"stale".to_vec();
            let members = ev.write_json_noting(t, scope, &mut out).expect("writes");
            let text = String::from_utf8(out).expect("utf8");
            let members = members.map(|ms| {
                ms.iter()
                    .map(|m| {
                        (
                            text[m.name.clone()].to_string(),
                            text[m.value.clone()].to_string(),
                        )
                    })
                    .collect()
            });
            (text, members)
        })
        .unwrap_or_else(|e| panic!("{result}: {e}"))
    }

    #[test]
    fn noting_tells_where_each_top_level_member_was_written() {
        let focus = json!({"id": "SO-1", "lines": [{"id": "L1"}, {"id": "L\"2"}], "n": 2.50});
        let pairs = |ms: &[(&str, &str)]| {
            Some(
                ms.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        // Nested objects are not noted; absent members neither.
        let (text, members) = noted(
            "{ id: $.id, gone: $.nope, n: $.n, lines: { each: $.lines, to: { id: $.id } } }",
            focus.clone(),
        );
        assert_eq!(
            text,
            r#"{"id":"SO-1","n":2.5,"lines":[{"id":"L1"},{"id":"L\"2"}]}"#
        );
        assert_eq!(
            members,
            pairs(&[
                ("\"id\"", "\"SO-1\""),
                ("\"n\"", "2.5"),
                ("\"lines\"", r#"[{"id":"L1"},{"id":"L\"2"}]"#)
            ])
        );
        // Through a named template, an `if`, a merge whose extras are absent, a merge of
        // objects naming different members.
        for result in [
            "{ use: order }",
            "{ if: { exists: $.id }, then: { use: order } }",
            "{ merge: [ { id: $.id }, $.nope ] }",
            "{ merge: [ { id: $.id }, { x: 1 } ] }",
        ] {
            let (text, members) = noted(result, focus.clone());
            let members = members.unwrap_or_else(|| panic!("{result}: not noted"));
            assert_eq!(
                members[0],
                ("\"id\"".to_string(), "\"SO-1\"".to_string()),
                "{result}: {text}"
            );
        }
        // Not written from an object template: nothing noted (the caller reads the text).
        for result in [
            "$.lines[0]",
            "{ merge: [ { id: $.id }, { id: 1 } ] }",
            "{ merge: [ { id: $.id }, \"$.lines[0]\", { x: 1 } ] }",
            "[ $.id ]",
        ] {
            let (text, members) = noted(result, focus.clone());
            assert!(
                !text.is_empty() && members.is_none(),
                "{result}: {text} {members:?}"
            );
        }
        // Nothing written.
        assert_eq!(noted("$.nope", focus), (String::new(), None));
    }

    #[test]
    fn writing_json_gives_the_bytes_evaluating_then_encoding_gives() {
        let focus = json!({
            "id": "A-1", "note": null, "qty": 2.50, "tags": ["x", null, "y"], "empty": [],
            "lines": [
                {"sku": "S1", "kind": "goods", "qty": 1, "price": 0.1},
                {"sku": "S2", "kind": "service", "qty": 3, "price": 0.1, "text": "q\"uote"},
                {"kind": "goods", "qty": 2, "price": 10}
            ]
        });
        for result in [
            "{ id: $.id, note: $.note, missing: $.nope, qty: $.qty, nested: { a: $.nope }, z: 1 }",
            "{ first: $.nope, second: $.id }",
            "{ only: $.nope }",
            "{ items: [ $.id, $.nope, 3, { from: $.qty, as: string } ] }",
            "{ some: { compact: [ $.nope, $.id, $.nope ] }, none: { compact: [ $.nope ], omit_empty: true } }",
            "{ goods: { each: $.lines, filter: { eq: [$.kind, goods] }, to: { sku: $.sku, total: { mul: [$.qty, $.price] }, parent: $parent.id, i: $index } } }",
            "{ none: { each: $.empty, omit_empty: true, to: $.x }, kept: { each: $.empty, to: $.x }, absent: { each: $.nope, to: $.x } }",
            "{ sparse: { each: $.lines, to: $.sku }, texts: { each: $.lines, to: { text: $.text } } }",
            "{ tags: { each: $.tags, to: $ } }",
            "{ branch: { if: { exists: $.note }, then: yes, else: { a: $.id } }, nobranch: { if: { exists: $.note }, then: 1 } }",
            "{ lines: { each: $.lines, to: { use: line } } }",
            "{ first: { use: line, with: \"$.lines[0]\" }, none: { use: line, with: $.nope } }",
            "{ \"k-${$.id}\": 1, plain: 2 }",
            "{ \"q\\\"uote\": $.id, \"é\": 1, \"t\\tab\": 2, \"<\\u0001>\": 3 }",
            "{ merged: { merge: [ { a: $.id, b: $.nope }, $.nope, $.note ] } }",
            "{ merged: { merge: [ { a: $.id, b: $.nope }, \"$.lines[0]\" ] } }",
            "{ merged: { merge: [ { sku: $.id, b: $.nope }, \"$.lines[1]\", { c: 1 } ] } }",
            "{ m: { merge: [ { a: $.id, b: $.nope }, { use: line }, { z: 1 } ] } }",
            "{ m: { merge: [ { sku: 1, b: $.nope }, { use: line } ] } }",
            "{ m: { each: $.lines, to: { merge: [ { i: $index }, { use: line } ] } } }",
            "{ m: { merge: [ { id: $.id, qty: $.qty, sku: $.nope }, \"$.lines[1]\" ] } }",
            "{ m: { merge: [ { a: $.id }, { use: line }, \"$.lines[0]\" ] } }",
            "{ m: { merge: [ { a: $.id }, $.nope ] }, n: { merge: [ { a: $.id }, { b: 1 }, $.note ] } }",
            "{ all: $, wrapped: { data: { each: $.lines, to: { k: { from: $.kind, map: { goods: G, service: S } } } } } }",
            "{ nul: null, selected_null: $.note, text: \"t\\\"x\", n: 2.50, yes: true, list: [1, x, null], obj: { const: { a: [1] } } }",
        ] {
            let (written, evaluated) = written_and_evaluated(result, focus.clone());
            assert_eq!(written, evaluated, "{result}");
        }
        // Member names are written from their JSON text made at load, escapes included.
        let (written, _) = written_and_evaluated("{ \"q\\\"uote\": $.id, \"t\\tab\": 2 }", focus);
        assert_eq!(written, r#"{"q\"uote":"A-1","t\tab":2}"#);
    }

    #[test]
    fn a_zone_written_in_the_mapping_and_one_from_a_setting_read_alike() {
        let head = "settings: { tz: { default: UTC } }\n";
        let result = "{ fixed: { from: $.at, as: timestamp, zone: Europe/Berlin }, set: { from: $.at, as: timestamp, zone: $settings.tz }, unset: { from: $.at, as: timestamp, zone: $settings.nope } }";
        let focus = json!({"at": "2026-11-23 10:00:00"});
        let out = with_result(
            head,
            result,
            &focus,
            &json!({"tz": "Europe/Berlin"}),
            |ev, t, scope| ev.eval_owned(t, scope),
        )
        .expect("compiles")
        .expect("evaluates")
        .expect("present");
        assert_eq!(
            out,
            json!({"fixed": "2026-11-23T09:00:00Z", "set": "2026-11-23T09:00:00Z", "unset": "2026-11-23T10:00:00Z"})
        );
        // The name written in the mapping is resolved once, at load.
        let text = format!("vendor: t\n{head}templates:\n  t: {result}\noperations: {{}}\n");
        let m = compile_file("t.yaml", &text).expect("compiles");
        let Some(Template::Object(fields)) = m.templates.first() else {
            panic!("an object");
        };
        let zones: Vec<bool> = fields
            .iter()
            .map(
                |(_, t)| matches!(t, Template::From(op) if matches!(op.zone, Some(Zone::Fixed(_)))),
            )
            .collect();
        assert_eq!(zones, [true, false, false]);
        assert!(m.settings.iter().all(|s| s.zone == (s.name == "tz")));
    }

    #[test]
    fn a_mappings_constant_texts_are_not_copied_per_evaluation() {
        let head = "values:\n  st: { draft: D }\n";
        let result = "{ c: paid, d: { from: $.nope, default: later }, m: { from: $.s, map: st }, r: { from: $.v, map: st, reverse: true } }";
        let focus = json!({"s": "draft", "v": "D"});
        let texts = |ev: &Evaluator<'_>, t: &Template, scope: &Scope<'_>| {
            let v = ev
                .eval_owned(t, scope)
                .expect("evaluates")
                .expect("present");
            ["c", "d", "m", "r"].map(|k| {
                let text = v.get(k).and_then(Value::as_str).expect("a text");
                (text.to_owned(), text.as_ptr())
            })
        };
        let first = with_result(head, result, &focus, &Value::Null, texts).expect("compiles");
        let second = with_result(head, result, &focus, &Value::Null, texts).expect("compiles");
        for ((text, at), (_, again)) in first.iter().zip(&second) {
            // The one interned copy, whatever evaluation (or compilation) gives it.
            assert_eq!(*at, crate::value::Str::constant(text).as_ptr(), "{text}");
            assert_eq!(at, again, "{text}");
        }
        assert_eq!(
            first.map(|(t, _)| t),
            ["paid", "later", "D", "draft"].map(String::from)
        );
    }

    #[test]
    fn a_json_text_is_the_evaluated_value_encoded() {
        let focus =
            json!({"id": "A\"1", "qty": 2.50, "lines": [{"sku": "S1", "n": null}, {"sku": "S2"}]});
        for inner in [
            "{ id: $.id, qty: $.qty, gone: $.nope }",
            "{ each: $.lines, to: { sku: $.sku, n: $.n, i: $index } }",
            "[$.id, $.nope, 1.50]",
            "{ merge: [{ a: 1 }, \"$.lines[0]\"] }",
        ] {
            let (text, evaluated) = with_result(
                "",
                &format!("{{ text: {{ json: {inner} }}, value: {inner} }}"),
                &focus,
                &Value::Null,
                |ev, t, scope| {
                    let out = ev
                        .eval_owned(t, scope)
                        .expect("evaluates")
                        .expect("present");
                    (out["text"].clone(), out["value"].to_string())
                },
            )
            .unwrap_or_else(|e| panic!("{inner}: {e}"));
            assert_eq!(text, Value::from(evaluated), "{inner}");
        }
        let absent = run("{ text: { json: $.nope } }", focus).expect("ok");
        assert_eq!(absent, Some(json!({})));
    }

    #[test]
    fn a_key_written_twice_in_one_object_is_refused_at_load() {
        let text = "vendor: t\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: /x }\n    result: { id: $.a, \"1\": 1, 1: 2 }\n";
        let e = compile_file("t.yaml", text)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("t.yaml:7:") && e.contains("written twice"),
            "{e}"
        );
    }

    #[test]
    fn absent_fields_are_omitted_and_null_is_absent() {
        let out = run(
            "{ a: $.a, b: $.missing, c: $.nul, d: { from: $.nul, keep_null: true } }",
            json!({"a": 1, "nul": null}),
        );
        assert_eq!(out.expect("ok"), Some(json!({"a": 1, "d": null})));
    }

    #[test]
    fn maps_work_both_ways() {
        assert_eq!(
            run("{ from: $.s, map: st }", json!({"s": "confirmed"})).expect("ok"),
            Some(json!("C"))
        );
        assert_eq!(
            run("{ from: $.s, map: st, reverse: true }", json!({"s": "C2"})).expect("ok"),
            Some(json!("confirmed"))
        );
        let e = run("{ from: $.s, map: st }", json!({"s": "weird"})).expect_err("unmapped");
        assert_eq!(e.pointer.as_deref(), Some("/s"));
        assert_eq!(
            run(
                "{ from: $.s, map: st, on_unmapped: keep }",
                json!({"s": "weird"})
            )
            .expect("ok"),
            Some(json!("weird"))
        );
    }

    #[test]
    fn each_filter_parent_index_and_pointers() {
        let input = json!({"cur": "EUR", "lines": [{"kind": "service", "q": 1}, {"q": 2}, {"kind": "service", "q": 3.5}]});
        let out = run(
            "{ each: $.lines, filter: { eq: [$.kind, service] }, to: { q: $.q, cur: $parent.cur, i: $index } }",
            input.clone(),
        );
        assert_eq!(
            out.expect("ok"),
            Some(json!([{"q": 1, "cur": "EUR", "i": 0}, {"q": 3.5, "cur": "EUR", "i": 2}]))
        );
        let e = run(
            "{ each: $.lines, to: { q: { from: $.q, as: integer } } }",
            input,
        )
        .expect_err("3.5 is no integer");
        assert_eq!(e.pointer.as_deref(), Some("/lines/2/q"));
    }

    #[test]
    fn sums_and_exists_over_queries_read_the_matches_in_place() {
        let input = json!({
            "a": [{"n": 1.5}, {"n": null}, {"n": "2.25"}],
            "one": [{"list": [1, 2]}],
            "none": [],
            "bad": [{"n": 1}, {"n": {"x": 1}}]
        });
        let sum = |path: &str| run(&format!("{{ sum: \"{path}\" }}"), input.clone());
        assert_eq!(sum("$.a[*].n").expect("ok"), Some(json!(3.75)));
        // One match is taken whole: a list's elements are added.
        assert_eq!(sum("$.one[*].list").expect("ok"), Some(json!(3)));
        assert_eq!(sum("$.none[*].n").expect("ok"), None);
        assert_eq!(sum("$.a[1:2].n").expect("ok"), None);
        let e = sum("$.bad[*].n").expect_err("an object is no number");
        assert!(e.message.contains("expected numbers"), "{}", e.message);
        // `exists`/`missing` on a query: present unless it matches nothing or one null.
        for (path, there) in [
            ("$.a[*].n", true),
            ("$.a[0:1].n", true),
            ("$.a[1:2].n", false),
            ("$.none[*].n", false),
        ] {
            let yes = run(
                &format!("{{ if: {{ exists: \"{path}\" }}, then: 1, else: 0 }}"),
                input.clone(),
            );
            assert_eq!(yes.expect("ok"), Some(json!(u8::from(there))), "{path}");
            let no = run(
                &format!("{{ if: {{ missing: \"{path}\" }}, then: 1, else: 0 }}"),
                input.clone(),
            );
            assert_eq!(no.expect("ok"), Some(json!(u8::from(!there))), "{path}");
        }
    }

    #[test]
    fn pointers_of_nested_and_queried_elements() {
        let input = json!({"groups": [
            {"lines": [{"q": 1}]},
            {"lines": [{"q": 2}, {"q": 2.5, "kind": "service"}], "one": {"q": 0.5}}
        ]});
        let err = |template: &str| {
            run(template, input.clone())
                .expect_err("no integer")
                .pointer
        };
        // An each inside an each: both positions.
        assert_eq!(
            err("{ each: $.groups, to: { each: $.lines, to: { from: $.q, as: integer } } }")
                .as_deref(),
            Some("/groups/1/lines/1/q")
        );
        // A single value walked as a list of one has no position of its own.
        assert_eq!(
            err("{ each: $.groups, to: { each: $.one, to: { from: $.q, as: integer } } }")
                .as_deref(),
            Some("/groups/1/one/q")
        );
        // A query's matches carry their own paths.
        assert_eq!(
            err("{ each: \"$.groups[*].lines[?(@.kind == 'service')]\", to: { from: $.q, as: integer } }")
                .as_deref(),
            Some("/groups/1/lines/1/q")
        );
        // `fail` with `./field` points below the element.
        assert_eq!(
            err("{ each: $.groups, to: { each: $.lines, to: { fail: no, pointer: ./q } } }")
                .as_deref(),
            Some("/groups/0/lines/0/q")
        );
    }

    #[test]
    fn arithmetic_json_text_and_interpolated_keys() {
        let input =
            json!({"lines": [{"q": 3, "p": 0.1}, {"q": 1, "p": 0.7}], "attrs": {"Colour": "red"}});
        let out = run(
            "{ total: { sum: { each: $.lines, to: { mul: [$.q, $.p] } } }, text: { json: [\"$.lines[0].q\", x] }, \"${settings.lang}\": [1], params: { each: { entries: $.attrs }, to: { \"${$.key}\": $.value } } }",
            input,
        );
        let out = out.expect("ok").expect("present");
        assert_eq!(out["total"].to_string(), "1");
        assert_eq!(out["text"], json!("[3,\"x\"]"));
        assert_eq!(out["en_US"], json!([1]));
        assert_eq!(out["params"], json!([{"Colour": "red"}]));
    }

    #[test]
    fn nested_arithmetic_stays_exact_and_sum_keeps_its_rules() {
        let input = json!({"lines": [
            {"q": 3, "p": "0.105"}, {"q": null, "p": 1}, {"q": 1, "p": 0.7, "n": null}
        ]});
        let head = "templates:\n  net: { coalesce: [$.total, { mul: [$.q, $.p], scale: 2 }] }\n";
        let eval = |result: &str| {
            with_result(head, result, &input, &Value::Null, |ev, t, scope| {
                ev.eval_owned(t, scope)
                    .map(|v| v.map(|v| v.to_string()).unwrap_or_else(|| "absent".into()))
                    .unwrap_or_else(|e| format!("error: {e}"))
            })
            .unwrap_or_else(|e| panic!("{result}: {e}"))
        };
        // 1/3 x 3 with the 28-digit quotient kept exact, as when it was written and read back.
        assert_eq!(
            eval("{ mul: [{ div: [1, 3] }, 3] }"),
            "0.9999999999999999999999999999"
        );
        // The scale of a nested operation rounds before the outer one uses it (0.315 -> 0.32).
        assert_eq!(
            eval("{ add: [{ use: net, with: '$.lines[0]' }, 0.001] }"),
            "0.321"
        );
        assert_eq!(
            eval("{ sum: { each: $.lines, to: { use: net } }, scale: 2 }"),
            "1.02"
        );
        // A sum skips absent and null elements; an empty `each` sums to 0 unless omit_empty.
        assert_eq!(eval("{ sum: { each: $.lines, to: $.n } }"), "0");
        assert_eq!(
            eval("{ sum: { each: $.lines, filter: { exists: $.n }, to: $.q, omit_empty: true } }"),
            "absent"
        );
        assert_eq!(eval("{ sum: { each: $.missing, to: $.q } }"), "absent");
        assert_eq!(
            eval("{ sum: { each: $.lines, to: [$.q] } }"),
            "error: sum: expected numbers, found a list"
        );
        // An absent operand makes the operation absent; a non-number one is an error.
        assert_eq!(eval("{ mul: ['$.lines[1].q', 2] }"), "absent");
        assert_eq!(
            eval("{ add: [{ coalesce: [$.nothing, x] }, 1] }"),
            "error: expected a number, found a string"
        );
        // Constant operands are read at load, a number written as text too; one that is no
        // number is still refused when evaluated.
        assert_eq!(eval("{ sub: [100, '2.50'] }"), "97.5");
        assert_eq!(eval("{ mul: ['$.lines[0].q', ' 1.5 '] }"), "4.5");
        assert_eq!(
            eval("{ add: [x, 1] }"),
            "error: expected a number, found a string"
        );
        assert_eq!(
            eval("{ add: [null, 1] }"),
            "error: expected a number, found null"
        );
    }

    #[test]
    fn named_templates_kept_per_focus_give_what_evaluating_them_again_gives() {
        let input = json!({
            "x": 2, "y": 3, "id": "O1",
            "lines": [{"q": 2, "p": "1.5"}, {"q": 1, "p": 4}, {"q": 2, "p": "1.5"}]
        });
        let head = "templates:\n  net: { mul: [$.q, $.p] }\n  twice: { mul: [$, 2] }\n  pos: { add: [$index, 1] }\n  total: { sum: { each: $.lines, to: { use: net } } }\n";
        let result = "{ lines: { each: $.lines, to: { net: { use: net }, again: { add: [{ use: net }, 0] }, pos: { use: pos } } }, total: { use: total }, gross: { add: [{ use: total }, { use: total }] }, a: { use: twice, with: $.x }, b: { use: twice, with: $.y }, made: { each: { compact: [$.x, $.y] }, to: { use: twice } }, piped: { pipe: [$.y, { use: twice }] } }";
        let (kept, again, entries) =
            with_result(head, result, &input, &Value::Null, |ev, t, scope| {
                let flags = crate::engine::memo::kept_per_focus(ev.templates);
                assert_eq!(flags, vec![true, true, false, true], "pos reads $index");
                let kept_ev = Evaluator::new(ev.templates).memoizing(&flags);
                let kept = kept_ev.eval_owned(t, scope).expect("evaluates");
                let entries = kept_ev.memo.kept();
                (kept, ev.eval_owned(t, scope).expect("evaluates"), entries)
            })
            .expect("compiles");
        assert_eq!(kept, again);
        let kept = kept.expect("present");
        assert_eq!(kept["gross"].to_string(), "20");
        assert_eq!(
            (kept["a"].to_string(), kept["b"].to_string()),
            ("4".into(), "6".into())
        );
        assert_eq!(kept["made"], json!([4, 6]));
        assert_eq!(kept["lines"][1]["pos"], json!(2));
        // net for each of the 3 lines and total for the order: values made here (`with:`,
        // the compacted list, the pipe) are never kept.
        assert_eq!(entries, 4);
    }

    #[test]
    fn fail_points_below_the_current_line() {
        let e = run(
            "{ each: $.lines, to: { if: { gt: [$.q, 2] }, then: { fail: too many, pointer: ./q }, else: $.q } }",
            json!({"lines": [{"q": 1}, {"q": 3}]}),
        )
        .expect_err("refused");
        assert_eq!(e.pointer.as_deref(), Some("/lines/1/q"));
    }

    #[test]
    fn html_is_stripped_to_words() {
        assert_eq!(
            strip_html("for document Sales Order<br>User <strong>Guest</strong> does not"),
            "for document Sales Order User Guest does not"
        );
        assert_eq!(strip_html("<p>a &amp; b</p><p>c</p>\n"), "a & b c");
    }

    #[test]
    fn pipe_parse_json_capture_and_compact() {
        let input =
            json!({"m": "[\"{\\\"message\\\": \\\"<b>Bad</b> qty\\\"}\"]", "e": "erp.X: boom"});
        let out = run(
            "{ msg: { strip_html: { pipe: [ { parse_json: $.m }, { parse_json: \"$[0]\" }, $.message ] } }, cap: { capture: $.e, regex: \": (.*)$\" }, list: { compact: [$.e, $.none, 1] }, none: { compact: [$.none], omit_empty: true } }",
            input,
        );
        assert_eq!(
            out.expect("ok"),
            Some(json!({"msg": "Bad qty", "cap": "boom", "list": ["erp.X: boom", 1]}))
        );
    }

    #[test]
    fn a_pipe_starts_on_the_focus_and_stops_at_an_absent_stage() {
        let input = json!({"a": {"b": [1, 2]}, "n": 1});
        let out = run(
            "{ whole: { pipe: [$] }, deep: { pipe: [$.a, $.b, \"$[1]\"] }, outer: { pipe: [$.a, $parent.n] }, gone: { pipe: [$.a, $.nope, $] }, first_gone: { pipe: [$.nope, $] } }",
            input.clone(),
        );
        assert_eq!(
            out.expect("ok"),
            Some(json!({"whole": input, "deep": 2, "outer": 1}))
        );
    }
}
