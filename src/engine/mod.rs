//! The mapping language: `compile` (file -> plan, with file:line errors), `plan` (the compiled
//! form), `eval` (templates against a scope), `render` (a request plan -> a vendor request),
//! `selector` (JSONPath roots) and `convert` (types, dates, exact decimals). No I/O here.

pub mod compile;
pub mod convert;
pub mod eval;
pub mod plan;
pub mod reads;
pub mod render;
pub mod selector;
