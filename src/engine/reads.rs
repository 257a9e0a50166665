//! What of each vendor answer a mapping reads, worked out once at load.
//!
//! A step's answer body is read by the operation's and the mapping's error rules (`$`,
//! `$response.body`), by later steps (`$name.body...`) and by the result (`$` of the last step
//! that ran). Walking those templates gives, per step, a tree of the object keys they can reach
//! ([`Need`]); the JSON decoder then builds only those parts and skips the rest of the answer
//! (still checked to be valid JSON). Whatever the walk cannot follow precisely (a JSONPath query,
//! a whole answer passed on, templates nested too deep) keeps the whole subtree, so a projection
//! can only ever drop what no template can see.

use std::collections::HashSet;

use super::eval::MAX_USE_DEPTH;
use super::plan::{
    ErrorRule, InterpPart, Mapping, ObjectKey, OperationPlan, PathPart, Predicate, RequestPlan,
    ResultPlan, Template, Zone,
};
use super::selector::{PathKind, Root, Selector, Step};
use crate::codec::need::AnswerNeed;

/// Sets `answer` on every step of every operation of `mapping`.
pub fn annotate(mapping: &mut Mapping) {
    let mut found = Vec::new();
    for (op, plan) in &mapping.operations {
        found.push((*op, operation_needs(mapping, plan)));
    }
    for (op, mut needs) in found {
        if let Some(plan) = mapping.operations.get_mut(&op) {
            for step in &mut plan.steps {
                if let Some(need) = needs.get_mut(step.slot) {
                    step.answer = std::mem::replace(need, AnswerNeed::nothing());
                }
            }
        }
    }
}

/// One need per step slot.
fn operation_needs(mapping: &Mapping, plan: &OperationPlan) -> Vec<AnswerNeed> {
    let mut walk = Walk {
        templates: &mapping.templates,
        needs: vec![AnswerNeed::nothing(); plan.slots],
        rule_slot: None,
        too_deep: false,
        walked: HashSet::new(),
    };
    let request_scope = Ctx::top(Vec::new());
    let auth_headers = mapping.auth.iter().flat_map(|a| a.headers.iter());
    for h in mapping.headers.iter().chain(auth_headers) {
        walk.template(&h.value, &request_scope, 0);
    }
    for step in &plan.steps {
        if let Some(when) = &step.when {
            walk.predicate(when, &request_scope, 0);
        }
        walk.request(&step.request, &request_scope);
    }
    for step in &plan.steps {
        walk.rule_slot = Some(step.slot);
        let scope = Ctx::top(vec![(step.slot, Vec::new())]);
        for rule in plan.errors.iter().chain(&mapping.errors) {
            if rule.steps.as_ref().is_none_or(|s| s.contains(&step.slot)) {
                walk.rule(rule, &scope);
            }
        }
    }
    walk.rule_slot = None;
    // The result reads the last step that ran: the last one, or an earlier one when the
    // steps after it have a `when` and may be skipped.
    let mut last = Vec::new();
    for step in plan.steps.iter().rev() {
        last.push((step.slot, Vec::new()));
        if step.when.is_none() {
            break;
        }
    }
    let scope = Ctx::top(last);
    match &plan.result {
        ResultPlan::Empty => {}
        ResultPlan::Order(t) => walk.template(t, &scope, 0),
        ResultPlan::List {
            items,
            total,
            next_cursor,
        } => {
            walk.template(items, &scope, 0);
            for t in [total, next_cursor].into_iter().flatten() {
                walk.template(t, &scope, 0);
            }
        }
    }
    if walk.too_deep {
        return vec![AnswerNeed::whole(); plan.slots];
    }
    walk.needs
}

/// Where `$` points while walking: answer bodies by (step slot, path below the body), none
/// when `$` is not (directly) an answer; and the enclosing scope for `$parent`.
struct Ctx<'p> {
    focus: Vec<(usize, Vec<String>)>,
    parent: Option<&'p Ctx<'p>>,
}

impl<'p> Ctx<'p> {
    fn top(focus: Vec<(usize, Vec<String>)>) -> Self {
        Ctx {
            focus,
            parent: None,
        }
    }

    fn inner(&'p self, focus: Vec<(usize, Vec<String>)>) -> Ctx<'p> {
        Ctx {
            focus,
            parent: Some(self),
        }
    }
}

struct Walk<'m> {
    templates: &'m [Template],
    needs: Vec<AnswerNeed>,
    /// The step whose answer an error rule is checking (`$response`).
    rule_slot: Option<usize>,
    too_deep: bool,
    /// Named templates already walked, with what they could read there: walking one again in
    /// the same place marks the same keys (and a mapping whose templates use the next one
    /// twice per level would be walked 2^depth times).
    walked: HashSet<Visit>,
}

/// A named template, the focus and enclosing focus it was walked with, and the rule's step.
type Visit = (usize, Focus, Option<Focus>, Option<usize>);

type Focus = Vec<(usize, Vec<String>)>;

impl Walk<'_> {
    fn request(&mut self, r: &RequestPlan, ctx: &Ctx<'_>) {
        for part in &r.path {
            if let PathPart::Value(t) = part {
                self.template(t, ctx, 0);
            }
        }
        for (_, t) in &r.query {
            self.template(t, ctx, 0);
        }
        for h in &r.headers {
            self.template(&h.value, ctx, 0);
        }
        if let Some(b) = &r.body {
            self.template(b, ctx, 0);
        }
    }

    fn rule(&mut self, rule: &ErrorRule, ctx: &Ctx<'_>) {
        if let Some(p) = &rule.when {
            self.predicate(p, ctx, 0);
        }
        self.template(&rule.code, ctx, 0);
        for t in [&rule.message, &rule.vendor_code, &rule.field]
            .into_iter()
            .flatten()
        {
            self.template(t, ctx, 0);
        }
    }

    /// Marks what `sel` reads; returns where it points (for `each` and `with`). `whole`: the
    /// selected value is read entirely.
    fn select(&mut self, sel: &Selector, ctx: &Ctx<'_>, whole: bool) -> Vec<(usize, Vec<String>)> {
        let (bases, path): (Vec<(usize, Vec<String>)>, &[Step]) = match (sel.root, &sel.path) {
            (Root::Focus, PathKind::Simple(p)) => (ctx.focus.clone(), p),
            (Root::Parent, PathKind::Simple(p)) => {
                (ctx.parent.map(|c| c.focus.clone()).unwrap_or_default(), p)
            }
            (Root::Focus, PathKind::Query(_)) => {
                self.mark_all(&ctx.focus);
                return Vec::new();
            }
            (Root::Parent, PathKind::Query(_)) => {
                if let Some(c) = ctx.parent {
                    self.mark_all(&c.focus);
                }
                return Vec::new();
            }
            (Root::Step(slot), path) => return self.answer_root(slot, path, whole),
            (Root::Response, path) => match self.rule_slot {
                Some(slot) => return self.answer_root(slot, path, whole),
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        let keys = keys_of(path);
        let mut out = Vec::with_capacity(bases.len());
        for (slot, base) in bases {
            let mut full = base;
            full.extend(keys.iter().cloned());
            self.mark(slot, &full, whole);
            out.push((slot, full));
        }
        out
    }

    /// `$name.body...` or `$response.body...`: the answer `{status, headers, cookies, body}`.
    fn answer_root(
        &mut self,
        slot: usize,
        path: &PathKind,
        whole: bool,
    ) -> Vec<(usize, Vec<String>)> {
        let steps = match path {
            PathKind::Simple(steps) => steps,
            PathKind::Query(_) => {
                self.mark_whole(slot);
                return Vec::new();
            }
        };
        match steps.split_first() {
            // The whole answer (`$created`, passed on).
            None => {
                self.mark_whole(slot);
                Vec::new()
            }
            Some((Step::Key(k, _), rest)) if k.as_str() == "body" => {
                let keys = keys_of(rest);
                self.mark(slot, &keys, whole);
                vec![(slot, keys)]
            }
            Some((Step::Key(k, _), _)) if k.as_str() == "headers" => {
                if let Some(n) = self.needs.get_mut(slot) {
                    n.headers = true;
                }
                Vec::new()
            }
            Some((Step::Key(k, _), _)) if k.as_str() == "cookies" => {
                if let Some(n) = self.needs.get_mut(slot) {
                    n.cookies = true;
                }
                Vec::new()
            }
            // status, or a part no answer has.
            Some(_) => Vec::new(),
        }
    }

    /// Marks `path` of step `slot`'s answer body as read.
    fn mark(&mut self, slot: usize, path: &[String], whole: bool) {
        if let Some(n) = self.needs.get_mut(slot) {
            n.body.mark(path, whole);
        }
    }

    /// Marks all of step `slot`'s answer as read: its body, headers and cookies.
    fn mark_whole(&mut self, slot: usize) {
        if let Some(n) = self.needs.get_mut(slot) {
            *n = AnswerNeed::whole();
        }
    }

    fn mark_all(&mut self, focus: &[(usize, Vec<String>)]) {
        for (slot, path) in focus {
            self.mark(*slot, path, true);
        }
    }

    /// Where `$` points inside an `each` over `source`, or a `use` with `with: source`.
    fn focus_of(
        &mut self,
        source: &Template,
        ctx: &Ctx<'_>,
        depth: usize,
    ) -> Vec<(usize, Vec<String>)> {
        match source {
            Template::Select(sel) => self.select(sel, ctx, false),
            other => {
                self.template(other, ctx, depth);
                Vec::new()
            }
        }
    }

    fn template(&mut self, t: &Template, ctx: &Ctx<'_>, depth: usize) {
        match t {
            Template::Const(_) | Template::Number(..) | Template::Fail(..) => {}
            Template::Select(sel) => {
                self.select(sel, ctx, true);
            }
            Template::Interp(parts) => self.interp(parts, ctx),
            Template::Object(fields) => {
                for (k, v) in fields {
                    if let ObjectKey::Interp(parts) = k {
                        self.interp(parts, ctx);
                    }
                    self.template(v, ctx, depth);
                }
            }
            Template::Array(items)
            | Template::Compact(items, _)
            | Template::Concat(items)
            | Template::Coalesce(items)
            | Template::Merge(items)
            | Template::Arith(_, items, _) => {
                for i in items {
                    self.template(i, ctx, depth);
                }
            }
            Template::From(op) => {
                self.template(&op.source, ctx, depth);
                let zone = op.zone.as_ref().and_then(Zone::template);
                for t in [op.default.as_ref(), zone].into_iter().flatten() {
                    self.template(t, ctx, depth);
                }
            }
            Template::Each(op) => {
                let focus = self.focus_of(&op.source, ctx, depth);
                let inner = ctx.inner(focus);
                if let Some(f) = &op.filter {
                    self.predicate(f, &inner, depth);
                }
                self.template(&op.to, &inner, depth);
            }
            Template::If(p, then, otherwise) => {
                self.predicate(p, ctx, depth);
                self.template(then, ctx, depth);
                if let Some(o) = otherwise {
                    self.template(o, ctx, depth);
                }
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
            | Template::Require(inner, _) => self.template(inner, ctx, depth),
            Template::Pipe(stages) => {
                // The first stage sees the current `$`; later ones see the previous result.
                for (i, stage) in stages.iter().enumerate() {
                    let focus = if i == 0 {
                        ctx.focus.clone()
                    } else {
                        Vec::new()
                    };
                    self.template(stage, &ctx.inner(focus), depth);
                }
            }
            Template::Use(idx, with) => {
                if depth >= MAX_USE_DEPTH {
                    self.too_deep = true;
                    return;
                }
                let Some(named) = self.templates.get(*idx) else {
                    return;
                };
                match with {
                    None => {
                        if self.first_walk(*idx, ctx) {
                            self.template(named, ctx, depth + 1);
                        }
                    }
                    Some(w) => {
                        let focus = self.focus_of(w, ctx, depth);
                        let inner = ctx.inner(focus);
                        if self.first_walk(*idx, &inner) {
                            self.template(named, &inner, depth + 1);
                        }
                    }
                }
            }
        }
    }

    /// True the first time named template `idx` is met with this focus, enclosing focus and
    /// rule step (`$parent` reaches one level up only).
    fn first_walk(&mut self, idx: usize, ctx: &Ctx<'_>) -> bool {
        let parent = ctx.parent.map(|p| p.focus.clone());
        self.walked
            .insert((idx, ctx.focus.clone(), parent, self.rule_slot))
    }

    fn interp(&mut self, parts: &[InterpPart], ctx: &Ctx<'_>) {
        for p in parts {
            if let InterpPart::Value(sel) = p {
                self.select(sel, ctx, true);
            }
        }
    }

    fn predicate(&mut self, p: &Predicate, ctx: &Ctx<'_>, depth: usize) {
        let (templates, conditions) = p.parts();
        for t in templates {
            self.template(t, ctx, depth);
        }
        for q in conditions {
            self.predicate(q, ctx, depth);
        }
    }
}

/// The object keys of a simple path; indexes are transparent (a need covers every element).
fn keys_of(path: &[Step]) -> Vec<String> {
    path.iter()
        .filter_map(|s| match s {
            Step::Key(k, _) => Some(k.to_string()),
            Step::Index(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::canonical::operation::Operation;
    use crate::codec::need::Need;
    use crate::engine::compile::compile_file;

    /// The need of `op`'s steps, as compact text: `{a,b:{c}}`, `*` for whole.
    fn needs_of(text: &str, op: Operation) -> Vec<String> {
        let m = compile_file("m.yaml", text).expect("compiles");
        m.operations[&op]
            .steps
            .iter()
            .map(|s| show(&s.answer.body))
            .collect()
    }

    fn show(n: &Need) -> String {
        match n {
            Need::All => "*".into(),
            Need::Fields(keys) => {
                let mut sorted: Vec<_> = keys.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let parts: Vec<String> = sorted
                    .into_iter()
                    .map(|(k, v)| match v {
                        Need::All => k.to_string(),
                        other => format!("{k}:{}", show(other)),
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
        }
    }

    const HEAD: &str = "vendor: x\nerrors:\n  - { status: 400, code: validation_failed, message: $.error.text }\noperations:\n";

    #[test]
    fn result_rules_and_later_steps_name_what_they_read() {
        let text = format!(
            "{HEAD}  create_order:\n    steps:\n      - name: made\n        request: {{ method: POST, path: /o, body: {{ a: $.x }} }}\n      - name: read\n        request: {{ method: GET, path: \"/o/${{made.body.data.name}}\" }}\n    result:\n      id: $.data.name\n      status: {{ from: $.data.state, map: {{ draft: [Draft] }}, reverse: true }}\n      lines:\n        each: $.data.items\n        to: {{ sku: $.code, qty: {{ from: $.qty, as: decimal }}, currency: $parent.data.currency }}\n"
        );
        assert_eq!(
            needs_of(&text, Operation::CreateOrder),
            [
                "{data:{name},error:{text}}",
                "{data:{currency,items:{code,qty},name,state},error:{text}}"
            ]
        );
    }

    /// Whether each step of `op` has its answer's headers and cookies made.
    fn parts_of(text: &str, op: Operation) -> Vec<(bool, bool)> {
        let m = compile_file("m.yaml", text).expect("compiles");
        m.operations[&op]
            .steps
            .iter()
            .map(|s| (s.answer.headers, s.answer.cookies))
            .collect()
    }

    #[test]
    fn headers_and_cookies_are_made_only_for_the_steps_that_read_them() {
        // Headers read by the result from the first step, a cookie by the second step's path.
        let text = format!(
            "{HEAD}  list_orders:\n    steps:\n      - name: one\n        request: {{ method: GET, path: /o }}\n      - name: two\n        request: {{ method: GET, path: \"/p/${{one.cookies.sid}}\" }}\n    result:\n      items: {{ each: $two.body.rows, to: {{ id: $.id }} }}\n      total: \"$one.headers['x-total-count']\"\n"
        );
        assert_eq!(
            parts_of(&text, Operation::ListOrders),
            [(true, true), (false, false)]
        );
        // An error rule reading `$response.headers` reads them of every step it checks.
        let text = "vendor: x\nerrors:\n  - { status: 409, code: conflict, message: \"$response.headers['x-reason']\" }\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: /o }\n    result: { id: $.id }\n";
        assert_eq!(parts_of(text, Operation::GetOrder), [(true, false)]);
        // The status alone reads neither; a whole answer passed on reads both.
        let text = format!(
            "{HEAD}  get_order:\n    steps:\n      - name: got\n        request: {{ method: GET, path: /o }}\n    result: {{ id: $.name, code: $got.status }}\n"
        );
        assert_eq!(parts_of(&text, Operation::GetOrder), [(false, false)]);
        let text = format!(
            "{HEAD}  get_order:\n    steps:\n      - name: got\n        request: {{ method: GET, path: /o }}\n    result: {{ id: $.name, all: $got }}\n"
        );
        assert_eq!(parts_of(&text, Operation::GetOrder), [(true, true)]);
    }

    #[test]
    fn a_named_template_is_walked_once_per_place() {
        // t0 uses t1 twice, t1 uses t2 twice...: walked per use, that is 2^28 walks of t28.
        let mut text = String::from("vendor: t\ntemplates:\n");
        for i in 0..28 {
            text.push_str(&format!(
                "  t{i}: {{ a: {{ use: t{n} }}, b: {{ use: t{n} }} }}\n",
                n = i + 1
            ));
        }
        text.push_str(
            "  t28: { id: $.name, line: { use: at, with: $.items } }\n  at: { q: $.qty }\n",
        );
        text.push_str("operations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: /o }\n    result: { use: t0 }\n");
        assert_eq!(needs_of(&text, Operation::GetOrder), ["{items:{qty},name}"]);
    }

    #[test]
    fn what_cannot_be_followed_keeps_everything_below() {
        // A JSONPath query on `$` (the whole answer is kept), a whole answer passed on.
        let text = format!(
            "{HEAD}  get_order:\n    steps:\n      - name: got\n        request: {{ method: GET, path: /o }}\n    result:\n      id: $.data.name\n      raw: \"$.data.items[?(@.qty > 1)]\"\n"
        );
        assert_eq!(needs_of(&text, Operation::GetOrder), ["*"]);
        let text = format!(
            "{HEAD}  get_order:\n    steps:\n      - name: got\n        request: {{ method: GET, path: /o }}\n    result: {{ id: $.name, all: $got }}\n"
        );
        assert_eq!(needs_of(&text, Operation::GetOrder), ["*"]);
    }

    #[test]
    fn a_step_that_may_be_skipped_lets_the_result_read_the_one_before() {
        let text = format!(
            "{HEAD}  confirm_order:\n    steps:\n      - name: one\n        request: {{ method: GET, path: /o }}\n      - name: two\n        when: {{ eq: [$input.x, 1] }}\n        request: {{ method: GET, path: /p }}\n    result: {{ id: $.name }}\n"
        );
        assert_eq!(
            needs_of(&text, Operation::ConfirmOrder),
            ["{error:{text},name}", "{error:{text},name}"]
        );
    }

    #[test]
    fn pipes_and_named_templates_follow_the_focus() {
        let text = "vendor: x\ntemplates:\n  line: { sku: $.code }\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: /o }\n    result:\n      id: { pipe: [$.wrap, { parse_json: $ }] }\n      first: { use: line, with: $.lines }\n      note: \"${parent.x}\"\n";
        assert_eq!(needs_of(text, Operation::GetOrder), ["{lines:{code},wrap}"]);
    }

    #[test]
    fn the_dokos_create_reads_what_its_result_and_rules_name() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/dokos.yaml"),
        )
        .expect("the Dokos mapping");
        let m = compile_file("dokos.yaml", &text).expect("compiles");
        let answer = &m.operations[&Operation::CreateOrder].steps[0].answer;
        // No rule and no template reads a header or a cookie of Frappe's answer.
        assert!(!answer.headers && !answer.cookies);
        let need = &answer.body;
        let data = need.field("data").expect("the document is read");
        for key in ["name", "po_no", "grand_total", "creation", "items"] {
            assert!(data.field(key).is_some(), "{key}");
        }
        let items = data.field("items").expect("items");
        assert!(items.field("qty").is_some() && items.field("rate").is_some());
        // Frappe's answer holds ~70 fields per document and per line the mapping never reads.
        for key in ["owner", "modified_by", "naming_series", "base_grand_total"] {
            assert!(data.field(key).is_none(), "{key}");
        }
        assert!(items.field("warehouse").is_none());
        // The error rules read the Frappe error envelope.
        for key in ["exc_type", "exception", "_server_messages"] {
            assert!(need.field(key).is_some(), "{key}");
        }
    }
}
