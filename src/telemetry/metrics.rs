//! Prometheus metrics (text format at the admin listener's `GET /metrics`). Label values are
//! bounded: connection names from the config, operation names, canonical codes, HTTP statuses;
//! never ids or raw paths.

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub upstream_duration: HistogramVec,
    pub upstream_responses: IntCounterVec,
    pub upstream_failures: IntCounterVec,
    pub mapping_errors: IntCounterVec,
    pub reloads: IntCounterVec,
    pub generation: IntGauge,
    pub config_info: IntGaugeVec,
    pub idempotency_replays: IntCounterVec,
    pub circuit_state: IntGaugeVec,
    pub workers: IntGauge,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "ordergate_requests_total",
            "Canonical requests answered, by connection, operation and outcome code (ok or a canonical error code).",
        ),
        &["connection", "operation", "code"],
    )?;
    let request_duration = HistogramVec::new(
        HistogramOpts::new(
            "ordergate_request_duration_seconds",
            "Time to answer a canonical request, by connection and operation.",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["connection", "operation"],
    )?;
    let in_flight = IntGauge::new(
        "ordergate_requests_in_flight",
        "Canonical requests being answered now.",
    )?;
    let upstream_duration = HistogramVec::new(
        HistogramOpts::new(
            "ordergate_upstream_request_duration_seconds",
            "Time of one call to an ERP, by connection.",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["connection"],
    )?;
    let upstream_responses = IntCounterVec::new(
        Opts::new(
            "ordergate_upstream_responses_total",
            "ERP answers by connection and HTTP status.",
        ),
        &["connection", "status"],
    )?;
    let upstream_failures = IntCounterVec::new(
        Opts::new(
            "ordergate_upstream_failures_total",
            "ERP calls that got no answer, by connection and reason (connect, timeout, io, too_large).",
        ),
        &["connection", "reason"],
    )?;
    let mapping_errors = IntCounterVec::new(
        Opts::new(
            "ordergate_mapping_errors_total",
            "Requests or answers a mapping could not translate, by connection and direction (request or response).",
        ),
        &["connection", "direction"],
    )?;
    let reloads = IntCounterVec::new(
        Opts::new(
            "ordergate_config_reloads_total",
            "Configuration reloads by result (success or failure).",
        ),
        &["result"],
    )?;
    let generation = IntGauge::new(
        "ordergate_config_generation",
        "Number of the active configuration generation (1 at start).",
    )?;
    let config_info = IntGaugeVec::new(
        Opts::new(
            "ordergate_config_info",
            "The active configuration: 1 for its content hash.",
        ),
        &["hash"],
    )?;
    let idempotency_replays = IntCounterVec::new(
        Opts::new(
            "ordergate_idempotency_replays_total",
            "Answers replayed for a repeated Idempotency-Key, by connection.",
        ),
        &["connection"],
    )?;
    let circuit_state = IntGaugeVec::new(
        Opts::new(
            "ordergate_circuit_state",
            "Circuit breaker state per connection: 0 closed, 1 half-open, 2 open.",
        ),
        &["connection"],
    )?;
    let workers = IntGauge::new(
        "ordergate_runtime_workers",
        "Threads serving requests (--workers, or one per CPU the process may use); 1 is the single-threaded scheduler.",
    )?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(request_duration.clone()))?;
    registry.register(Box::new(in_flight.clone()))?;
    registry.register(Box::new(upstream_duration.clone()))?;
    registry.register(Box::new(upstream_responses.clone()))?;
    registry.register(Box::new(upstream_failures.clone()))?;
    registry.register(Box::new(mapping_errors.clone()))?;
    registry.register(Box::new(reloads.clone()))?;
    registry.register(Box::new(generation.clone()))?;
    registry.register(Box::new(config_info.clone()))?;
    registry.register(Box::new(idempotency_replays.clone()))?;
    registry.register(Box::new(circuit_state.clone()))?;
    registry.register(Box::new(workers.clone()))?;
    Ok(Metrics {
        registry,
        requests,
        request_duration,
        in_flight,
        upstream_duration,
        upstream_responses,
        upstream_failures,
        mapping_errors,
        reloads,
        generation,
        config_info,
        idempotency_replays,
        circuit_state,
        workers,
    })
}

/// The process's metrics. The names and help texts are constants: building them cannot fail
/// unless the code is wrong, which the unit test catches.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| build().expect("metric definitions are valid"))
}

/// Series that exist from the start, so dashboards and alerts see zeros, not gaps.
pub fn init() {
    let m = metrics();
    m.reloads.with_label_values(&["success"]);
    m.reloads.with_label_values(&["failure"]);
}

/// Prepares the label sets of every connection, so their series exist from the start.
pub fn register_connections<'a>(names: impl Iterator<Item = &'a str>) {
    let m = metrics();
    for name in names {
        m.circuit_state.with_label_values(&[name]).set(0);
        m.idempotency_replays.with_label_values(&[name]);
        m.upstream_duration.with_label_values(&[name]);
    }
}

/// The text exposition format.
pub fn render() -> String {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&metrics().registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_build_and_render() {
        assert!(build().is_ok());
        metrics()
            .requests
            .with_label_values(&["c", "get_order", "ok"])
            .inc();
        let text = render();
        assert!(
            text.contains(
                "ordergate_requests_total{code=\"ok\",connection=\"c\",operation=\"get_order\"}"
            ),
            "{text}"
        );
    }
}
