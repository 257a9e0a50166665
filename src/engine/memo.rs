//! Named templates computed once per focus.
//!
//! Mappings reuse helpers: Valomnia's `line_net` (a line's amount) is read by the line itself,
//! by the order's net total, by each line's tax and again by the gross total. A named template
//! that reads nothing of the enclosing `each` (`$parent`, `$index`) yields, within one
//! evaluation, the same value for the same focus: the roots do not change while a body or a
//! result is being written. So its value is kept, per evaluation, under the address of a focus
//! that lives as long as the roots (the request, an answer, an element of one of them); a focus
//! made during the evaluation (`with:`, `pipe:`) is never a key, as its address may be reused.
//!
//! [`kept_per_focus`] finds, at load, the named templates this holds for (and that compute
//! enough to be worth it); the evaluator keeps the values in a [`Memo`], emptied at the start
//! of every evaluation. Only absent and scalar values are kept: copying an object out of the
//! memo would cost what it saves.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::value::Value;

use super::eval::MAX_USE_DEPTH;
use super::plan::{InterpPart, ObjectKey, Predicate, Template, Zone};
use super::selector::{Root, Selector};

/// For each named template: true when its value is worth keeping per focus. It must depend
/// only on its focus and the roots (it reads no `$parent` or `$index`), and compute something
/// (arithmetic): a template that only selects or maps costs less than a trip to the memo.
pub fn kept_per_focus(templates: &[Template]) -> Vec<bool> {
    let reads_enclosing = |n: Seen<'_>| match n {
        Seen::Selector(sel) => matches!(sel.root, Root::Parent | Root::Index),
        Seen::Template(_) => false,
    };
    let computes =
        |n: Seen<'_>| matches!(n, Seen::Template(Template::Arith(..) | Template::Sum(..)));
    templates
        .iter()
        .map(|t| {
            !Walk::new(templates).any(t, 0, &reads_enclosing)
                && Walk::new(templates).any(t, 0, &computes)
        })
        .collect()
}

/// What the walk meets.
enum Seen<'t> {
    Template(&'t Template),
    Selector(&'t Selector),
}

struct Walk<'t> {
    templates: &'t [Template],
    /// Named templates already walked in this query: each is walked once (templates using
    /// each other twice per level would otherwise be walked 2^depth times).
    walked: RefCell<Vec<bool>>,
}

impl<'t> Walk<'t> {
    fn new(templates: &'t [Template]) -> Self {
        Walk {
            templates,
            walked: RefCell::new(vec![false; templates.len()]),
        }
    }

    /// True when `hit` holds for `t`, a template or selector inside it, or in a template it
    /// uses; also when templates are nested too deeply to tell.
    fn any(&self, t: &'t Template, depth: usize, hit: &dyn Fn(Seen<'t>) -> bool) -> bool {
        if depth >= MAX_USE_DEPTH || hit(Seen::Template(t)) {
            return true;
        }
        let any = |items: &'t [Template]| items.iter().any(|i| self.any(i, depth, hit));
        let parts = |parts: &'t [InterpPart]| {
            parts
                .iter()
                .any(|p| matches!(p, InterpPart::Value(sel) if hit(Seen::Selector(sel))))
        };
        match t {
            Template::Const(_) | Template::Number(..) | Template::Fail(..) => false,
            Template::Select(sel) => hit(Seen::Selector(sel)),
            Template::Interp(p) => parts(p),
            Template::Object(fields) => fields.iter().any(|(k, v)| {
                matches!(k, ObjectKey::Interp(p) if parts(p)) || self.any(v, depth, hit)
            }),
            Template::Array(items)
            | Template::Compact(items, _)
            | Template::Concat(items)
            | Template::Coalesce(items)
            | Template::Merge(items)
            | Template::Pipe(items)
            | Template::Arith(_, items, _) => any(items),
            Template::From(op) => {
                self.any(&op.source, depth, hit)
                    || [
                        op.default.as_ref(),
                        op.zone.as_ref().and_then(Zone::template),
                    ]
                    .into_iter()
                    .flatten()
                    .any(|t| self.any(t, depth, hit))
            }
            Template::Each(op) => {
                self.any(&op.source, depth, hit)
                    || op
                        .filter
                        .as_ref()
                        .is_some_and(|p| self.predicate(p, depth, hit))
                    || self.any(&op.to, depth, hit)
            }
            Template::If(p, then, otherwise) => {
                self.predicate(p, depth, hit)
                    || self.any(then, depth, hit)
                    || otherwise.as_ref().is_some_and(|o| self.any(o, depth, hit))
            }
            Template::Sum(inner, _)
            | Template::Json(inner)
            | Template::ParseJson(inner)
            | Template::Capture(inner, _)
            | Template::StripHtml(inner)
            | Template::Join(inner, _)
            | Template::Count(inner)
            | Template::Entries(inner)
            | Template::Base64(inner)
            | Template::Require(inner, _) => self.any(inner, depth, hit),
            Template::Use(idx, with) => {
                with.as_ref().is_some_and(|w| self.any(w, depth, hit))
                    || self.first_walk(*idx) && {
                        self.templates
                            .get(*idx)
                            .is_none_or(|named| self.any(named, depth + 1, hit))
                    }
            }
        }
    }

    /// True the first time named template `idx` is met in this query (and for an unknown one).
    fn first_walk(&self, idx: usize) -> bool {
        let mut walked = self.walked.borrow_mut();
        match walked.get_mut(idx) {
            Some(done) => !std::mem::replace(done, true),
            None => true,
        }
    }

    fn predicate(&self, p: &'t Predicate, depth: usize, hit: &dyn Fn(Seen<'t>) -> bool) -> bool {
        let (templates, conditions) = p.parts();
        templates.into_iter().any(|t| self.any(t, depth, hit))
            || conditions
                .into_iter()
                .any(|q| self.predicate(q, depth, hit))
    }
}

type Values = HashMap<(usize, usize), Option<Value>, foldhash::fast::FixedState>;

/// The values of one evaluation, by (named template, address of its focus). A mutex only so
/// that an evaluator may be held across an await; one request uses it at a time.
#[derive(Default)]
pub struct Memo {
    values: Mutex<Values>,
}

impl Memo {
    fn values(&self) -> MutexGuard<'_, Values> {
        // A panic while holding it cannot leave a half-written entry: keep using it.
        self.values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn clear(&self) {
        let mut values = self.values();
        if !values.is_empty() {
            values.clear();
        }
    }

    pub fn get(&self, template: usize, focus: &Value) -> Option<Option<Value>> {
        self.values().get(&(template, address(focus))).cloned()
    }

    pub fn put(&self, template: usize, focus: &Value, value: Option<Value>) {
        self.values().insert((template, address(focus)), value);
    }

    /// How many values are kept (the tests check what is kept).
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.values().len()
    }
}

fn address(focus: &Value) -> usize {
    std::ptr::from_ref(focus) as usize
}

#[cfg(test)]
mod tests {
    use crate::engine::compile::compile_file;

    fn flags(templates: &str) -> Vec<bool> {
        let text = format!(
            "vendor: t\ntemplates:\n{templates}operations:\n  get_order:\n    steps:\n      - name: got\n        request: {{ method: GET, path: /x }}\n    result: $got.body\n"
        );
        let m = compile_file("t.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
        super::kept_per_focus(&m.templates)
    }

    #[test]
    fn each_named_template_is_walked_once() {
        // t0 uses t1 twice, t1 uses t2 twice...: walked per use, that is 2^28 walks of t28.
        let mut templates = String::new();
        for i in 0..28 {
            templates.push_str(&format!(
                "  t{i}: {{ add: [{{ use: t{n} }}, {{ use: t{n} }}] }}\n",
                n = i + 1
            ));
        }
        templates.push_str("  t28: { mul: [$.q, 2] }\n");
        assert_eq!(flags(&templates), vec![true; 29]);
    }

    #[test]
    fn templates_reading_the_enclosing_each_or_computing_nothing_are_not_kept() {
        assert_eq!(
            flags(
                "  net: { mul: [$.q, $.p] }\n  pos: { add: [$index, 1] }\n  up: { add: [$parent.id, 1] }\n  uses_up: { coalesce: [{ use: up }, 0] }\n  own_each: { each: $.lines, to: { id: { add: [$parent.id, 1] }, n: \"${index}\" } }\n  deep: { from: $.x, default: { use: uses_up } }\n  picks: { from: $.code, map: { a: A } }\n  uses_net: { coalesce: [$.total, { use: net }] }\n"
            ),
            // own_each reads the $parent of its own `each`: conservatively not kept either.
            vec![true, false, false, false, false, false, false, true]
        );
    }
}
