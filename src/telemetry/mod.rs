//! Observability: Prometheus metrics (`metrics`), W3C trace context (`trace`), how log lines
//! are written (`log`) and when they reach stderr (`log_batch`).
//! Logs are `tracing` events; one structured line per request is written by the server.

pub mod log;
pub mod log_batch;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod trace;
