//! The mapping language: `compile` (file -> plan, with file:line errors), `plan` (the compiled
//! form), `eval` (templates against a scope), `render` (a request plan -> a vendor request),
//! `write_xml` and `write_form` (XML and form bodies written from the template, as `eval`
//! writes JSON ones), `memo` (named templates computed once per focus), `selector` (JSONPath
//! roots), `convert` (types, dates, exact decimals) and `reads` (which answer keys a mapping
//! reads). No I/O here.

pub mod clock;
pub mod compile;
pub mod convert;
pub mod eval;
pub mod memo;
pub mod plan;
pub mod reads;
pub mod render;
pub mod selector;
#[cfg(test)]
mod test_body;
pub mod write_form;
pub mod write_xml;
pub mod zone;
