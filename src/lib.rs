//! ordergate: one canonical sales-order API in front of many ERPs.
//!
//! The request path, one module per step (see ARCHITECTURE.md):
//! `server` (listener, router) -> `canonical` (validation) -> `engine` (render the vendor
//! request, `codec` for the body) -> `upstream` (HTTP client, auth) -> `flow` (runs the
//! steps and normalizes answers and errors) -> `server` (the canonical answer).
//! `value` is the JSON value every step reads and writes; `config` loads connections and mappings; `golden` runs mapping fixtures; `cli` is the binary.

pub mod canonical;
pub mod cli;
pub mod codec;
pub mod config;
pub mod engine;
pub mod flow;
pub mod golden;
pub mod idempotency;
pub mod reload;
pub mod sandbox;
pub mod server;
pub mod telemetry;
pub mod upstream;
pub mod value;
pub mod yaml;
