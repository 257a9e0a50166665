//! The mapping language: `compile` (file -> plan, with file:line errors), `plan` (the compiled
//! form), `eval` (templates against a scope), `render` (a request plan -> a vendor request),
//! `memo` (named templates computed once per focus), `selector` (JSONPath roots), `convert` (types, dates, exact decimals) and `write_xml` (XML
//! bodies written from the template, as `eval` writes JSON ones). No I/O here.

pub mod compile;
pub mod convert;
pub mod eval;
pub mod memo;
pub mod plan;
pub mod reads;
pub mod render;
pub mod selector;
pub mod write_xml;
