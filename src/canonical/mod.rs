//! The canonical contract: operations, validation of request bodies, and problems.
//! Knows no vendor.

pub mod operation;
pub mod order;
pub mod problem;
pub mod query;
pub mod validate;
