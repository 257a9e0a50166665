//! Test support for the body writers: a one-step create mapping sending a given body.

use crate::value::Value;

use super::compile::compile_file;
use super::eval::{Evaluator, Roots, Scope};
use super::plan::{RequestPlan, Template};
use crate::canonical::operation::Operation;

/// Compiles a mapping whose `create_order` sends `body` with the request keys `request`
/// (e.g. `encoding: form`) and the named `templates` (YAML lines indented by two), then runs
/// `f` with its body template on `input`.
pub fn with_create_body<R>(
    templates: &str,
    request: &str,
    body: &str,
    input: &Value,
    f: impl FnOnce(&Evaluator<'_>, &Template, &Scope<'_>, &RequestPlan) -> R,
) -> R {
    let templates = if templates.is_empty() {
        String::new()
    } else {
        format!("templates:\n{templates}")
    };
    let text = format!(
        "vendor: t\n{templates}operations:\n  create_order:\n    steps:\n      - name: made\n        request:\n          method: POST\n          path: /x\n{request}          body: {body}\n    result: $made.body\n"
    );
    let m = compile_file("t.yaml", &text).unwrap_or_else(|e| panic!("{body}: {e}"));
    let plan = &m.operations[&Operation::CreateOrder].steps[0].request;
    let t = plan.body.as_ref().expect("a body");
    let roots = Roots::for_test(input, &Value::Null);
    let ev = Evaluator::new(&m.templates);
    f(&ev, t, &Scope::new(&roots, input), plan)
}
