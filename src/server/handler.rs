//! One public request, start to end: route, resolve the connection, read and validate the
//! canonical body, run the operation's flow, answer. Every error becomes a problem here.

use std::sync::Arc;
use std::time::Instant;

use crate::json;
use crate::value::Value;
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Limited};

use super::State;
use super::clients;
use super::respond::{self, Body};
use super::router::{self, OrderRoute, Route, RouteError};
use super::writes::{self, Answer};
use crate::canonical::operation::Operation;
use crate::canonical::problem::{ErrorCode, FieldError, Problem};
use crate::canonical::query::list_query;
use crate::canonical::validate::{self, OPENAPI};
use crate::flow::OpInput;
use crate::telemetry::metrics::metrics;

/// What the log line of a request says about it.
struct Outcome {
    route: &'static str,
    connection: String,
    /// The connection exists (its name is a bounded metric label).
    connection_known: bool,
    operation: &'static str,
    code: &'static str,
}

pub async fn handle<B>(state: Arc<State>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let request_id = request_id(&req);
    let (trace_id, traceparent) = crate::telemetry::trace::continue_or_start(
        req.headers()
            .get(crate::telemetry::trace::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let m = metrics();
    m.in_flight.inc();
    let generation = state.snapshot.load().generation.clone();
    let method = req.method().clone();
    let mut outcome = Outcome {
        route: "(unmatched)",
        connection: String::new(),
        connection_known: false,
        operation: "",
        code: "",
    };
    let response = match router::route(req.method(), req.uri().path()) {
        Ok(Route::OpenApi) => {
            outcome.route = "/openapi.json";
            respond::raw_json(200, OPENAPI, &request_id)
        }
        Ok(Route::Health) => {
            outcome.route = "/healthz";
            respond::json(200, &json!({"status": "ok"}), &request_id)
        }
        Ok(Route::Connections) => {
            outcome.route = "/v1/connections";
            match clients::authenticate(&state.snapshot.load().clients, req.headers()) {
                Ok(_) => respond::json(200, &connections(&state), &request_id),
                Err(p) => {
                    outcome.code = p.code.as_str();
                    unauthorized(&p, &request_id)
                }
            }
        }
        Ok(Route::Order(r)) => {
            outcome.route = r.template();
            outcome.operation = r.op.name();
            // One span per canonical request (exported with the `otlp` feature).
            let span = tracing::info_span!(
                "request",
                route = outcome.route,
                operation = outcome.operation,
                request_id = %request_id,
                trace_id = %trace_id
            );
            match tracing::Instrument::instrument(
                order(&state, &r, req, &mut outcome, traceparent),
                span,
            )
            .await
            {
                Ok(resp) => finish(resp, &request_id),
                Err(p) if p.code == ErrorCode::Unauthorized => {
                    outcome.code = p.code.as_str();
                    unauthorized(&p, &request_id)
                }
                Err(p) => {
                    outcome.code = p.code.as_str();
                    if let (Some(direction), true) = (p.mapping_error, outcome.connection_known) {
                        metrics()
                            .mapping_errors
                            .with_label_values(&[&outcome.connection, direction.as_str()])
                            .inc();
                    }
                    respond::problem(&p, &request_id)
                }
            }
        }
        Err(e) => {
            let p = match e {
                RouteError::NotFound => {
                    Problem::new(ErrorCode::NotFound, "no such route; see /openapi.json")
                }
                RouteError::MethodNotAllowed(allowed) => Problem::new(
                    ErrorCode::NotFound,
                    format!("method not allowed here; allowed: {allowed}"),
                )
                .with_status(405),
                RouteError::BadSegment => Problem::new(
                    ErrorCode::ValidationFailed,
                    "a path segment is not valid UTF-8 or holds control characters",
                )
                .with_status(400),
            };
            outcome.code = p.code.as_str();
            let mut r = respond::problem(&p, &request_id);
            if let RouteError::MethodNotAllowed(allowed) = e {
                r.headers_mut()
                    .insert(header::ALLOW, http::HeaderValue::from_static(allowed));
            }
            r
        }
    };
    m.in_flight.dec();
    let mut response = response;
    response
        .headers_mut()
        .insert(respond::X_ORDERGATE_GENERATION, generation);
    if !outcome.operation.is_empty() {
        let code = if outcome.code.is_empty() {
            "ok"
        } else {
            outcome.code
        };
        let conn = if outcome.connection_known {
            outcome.connection.as_str()
        } else {
            "(unknown)"
        };
        m.requests
            .with_label_values(&[conn, outcome.operation, code])
            .inc();
        m.request_duration
            .with_label_values(&[conn, outcome.operation])
            .observe(started.elapsed().as_secs_f64());
    }
    tracing::info!(
        target: "ordergate::access",
        trace_id = %trace_id,
        request_id = %request_id,
        method = %method,
        route = outcome.route,
        connection = %outcome.connection,
        operation = outcome.operation,
        status = response.status().as_u16(),
        code = outcome.code,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

fn unauthorized(p: &Problem, request_id: &str) -> Response<Body> {
    let mut r = respond::problem(p, request_id);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    r
}

fn finish(a: Answer, request_id: &str) -> Response<Body> {
    match a {
        Answer::Created(order, location) => {
            let mut r = respond::json_text(201, order, request_id);
            if let Ok(v) = http::HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Answer::Ok(v) => respond::json_text(200, v, request_id),
        Answer::Made(v) => respond::json_text(201, v, request_id),
        Answer::NoContent => respond::empty(204, request_id),
        Answer::Replay(stored) => {
            let mut r = respond::replay(&stored, request_id);
            r.headers_mut().insert(
                "idempotency-replayed",
                http::HeaderValue::from_static("true"),
            );
            r
        }
    }
}

async fn order<B>(
    state: &State,
    r: &OrderRoute,
    req: Request<B>,
    outcome: &mut Outcome,
    traceparent: String,
) -> Result<Answer, Problem>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let snapshot = state.snapshot.load_full();
    let client = clients::authenticate(&snapshot.clients, req.headers())?;
    let name = match (&r.connection, &snapshot.default_connection) {
        (Some(c), _) => c.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => {
            return Err(Problem::new(
                ErrorCode::NotFound,
                "no default connection is configured: use /v1/connections/{connection}/orders",
            ));
        }
    };
    outcome.connection = name.clone();
    let conn = snapshot
        .connection(&name)
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::NotFound,
                format!("unknown connection `{name}`; see /v1/connections"),
            )
        })?
        .clone();
    outcome.connection_known = true;
    clients::authorize(client, &name, r.op)?;

    let query = if r.op == Operation::ListOrders {
        list_query(req.uri().query()).map_err(|errors| {
            Problem::new(
                ErrorCode::ValidationFailed,
                "the list query breaks the contract",
            )
            .with_errors(errors)
        })?
    } else {
        Value::Null
    };
    let idempotency_key = idempotency_key(&req)?;
    let body = match tokio::time::timeout(
        snapshot.limits.body_read_timeout,
        read_body(req, r.op, snapshot.limits.max_body_bytes),
    )
    .await
    {
        Ok(body) => body?,
        Err(_) => {
            return Err(Problem::new(
                ErrorCode::ValidationFailed,
                "the request body did not arrive in time",
            )
            .with_status(408));
        }
    };
    validate::check_body(r.op, &body)?;
    let path = match (&r.id, &r.external_ref) {
        (Some(id), _) => json!({ "id": id }),
        (None, Some(x)) => json!({ "external_ref": x }),
        _ => Value::Null,
    };
    let input = OpInput {
        body,
        path,
        query,
        now: None,
        traceparent: Some(traceparent),
    };
    writes::run(state, &conn, r, &input, idempotency_key.as_deref()).await
}

/// The `Idempotency-Key` header, checked: 1 to 255 visible ASCII characters.
fn idempotency_key<B>(req: &Request<B>) -> Result<Option<String>, Problem> {
    const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");
    let Some(v) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(Problem::new(
            ErrorCode::ValidationFailed,
            "Idempotency-Key: 1 to 255 visible ASCII characters",
        )
        .with_status(400)
        .with_errors(vec![FieldError {
            pointer: String::new(),
            message: "invalid Idempotency-Key header".into(),
        }])),
    }
}

/// Reads the canonical body: JSON only, within the size limit.
async fn read_body<B>(req: Request<B>, op: Operation, limit: usize) -> Result<Value, Problem>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        Problem::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        drain(req.into_body(), limit).await;
        return Err(too_large());
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase());
    let bytes = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                Problem::new(
                    ErrorCode::ValidationFailed,
                    "the request body could not be read",
                )
                .with_status(400)
            }
        })?
        .to_bytes();
    if !op.takes_body() {
        return Ok(Value::Null);
    }
    let is_json = content_type.as_deref().is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim();
        essence == "application/json" || essence.ends_with("+json")
    });
    if !is_json {
        return Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "send the order as application/json",
        ));
    }
    crate::codec::json::parse(&bytes).map_err(|e| {
        Problem::new(
            ErrorCode::ValidationFailed,
            format!("the body is not valid JSON: {e}"),
        )
        .with_status(400)
        .with_errors(vec![FieldError {
            pointer: String::new(),
            message: "not valid JSON".into(),
        }])
    })
}

/// Reads and drops a refused body (bounded in size and time), so that the client, still
/// sending it, is not reset before it reads the 413.
async fn drain<B>(body: B, limit: usize)
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bound = limit.saturating_mul(4).min(8 * 1024 * 1024);
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        Limited::new(body, bound).collect(),
    )
    .await;
}

fn connections(state: &State) -> Value {
    let snapshot = state.snapshot.load();
    let data: Vec<Value> = snapshot
        .connections
        .values()
        .map(|c| {
            let ops: Vec<&str> = Operation::ALL
                .iter()
                .filter(|op| c.mapping.operations.contains_key(op))
                .map(|op| op.name())
                .collect();
            json!({
                "name": c.name,
                "vendor": c.mapping.vendor,
                "operations": ops,
                "default": snapshot.default_connection.as_deref() == Some(c.name.as_str()),
            })
        })
        .collect();
    json!({ "data": data })
}

/// `X-Request-Id` when the client sent a sane one, else a new one.
fn request_id<B>(req: &Request<B>) -> String {
    req.headers()
        .get(respond::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            // Hyphenated, as `to_string` writes it, without the formatter.
            let mut buf = uuid::Uuid::encode_buffer();
            uuid::Uuid::new_v4()
                .hyphenated()
                .encode_lower(&mut buf)
                .to_owned()
        })
}
