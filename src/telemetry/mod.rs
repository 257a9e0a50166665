//! Observability: Prometheus metrics (`metrics`), W3C trace context (`trace`) and how log lines
//! are written (`log`).
//! Logs are `tracing` events; one structured line per request is written by the server.

pub mod log;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod trace;
