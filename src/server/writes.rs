//! Running an operation so that no order is lost or created twice: idempotency keys on
//! writes, and unknown outcomes resolved by looking the order up by its reference.
//!
//! When a create was sent and its answer never came, the gateway never resends it blindly:
//! it looks the order up by `external_ref` (when the mapping can) and answers with it if it
//! exists, or sends the create once more if the ERP provably lacks it; otherwise the answer is
//! 504 with `"outcome": "unknown"`, and with an `Idempotency-Key` that state is kept so a retry
//! with the same key resolves it instead of creating a second order.

use crate::json;
use crate::value::Value;

use super::State;
use super::router::OrderRoute;
use crate::canonical::operation::Operation;
use crate::canonical::problem::{ErrorCode, Problem};
use crate::config::Connection;
use crate::engine::render::encode_segment;
use crate::flow::{self, OpInput, OpOutput, OrderJson, Target};
use crate::idempotency::{Begin, Record, State as KeyState, StoredAnswer, now_ms};
use crate::telemetry::metrics::metrics;

/// The canonical answer of an operation.
pub enum Answer {
    /// JSON text, `Location`.
    Created(String, String),
    /// JSON text.
    Ok(String),
    NoContent,
    /// A 201 without a `Location` (an invoice or a payment made from an order).
    Made(String),
    /// The stored answer of an earlier request with the same `Idempotency-Key`.
    Replay(StoredAnswer),
}

/// Runs `r.op`; writes with an `Idempotency-Key` go through the key store.
pub async fn run(
    state: &State,
    conn: &Connection,
    r: &OrderRoute,
    input: &OpInput,
    key: Option<&str>,
) -> Result<Answer, Problem> {
    let Some(key) = key.filter(|_| r.op.is_write()) else {
        return execute(conn, r, input).await;
    };
    let store_key = format!("{}:{key}", conn.name);
    let fingerprint = fingerprint(r, input);
    let policy = &state.idempotency_policy;
    let begin = state
        .idempotency
        .begin(&store_key, &fingerprint, policy)
        .await
        .map_err(store_problem)?;
    let result = match begin {
        Begin::Replay(answer) => {
            metrics()
                .idempotency_replays
                .with_label_values(&[&conn.name])
                .inc();
            return Ok(Answer::Replay(answer));
        }
        Begin::InFlight => {
            return Err(Problem::new(
                ErrorCode::Conflict,
                "a request with this Idempotency-Key is still being processed; retry later",
            ));
        }
        Begin::Mismatch => {
            return Err(Problem::new(
                ErrorCode::Conflict,
                "this Idempotency-Key was used for another request",
            ));
        }
        Begin::New => execute(conn, r, input).await,
        // The first attempt's outcome is unknown: find out before acting again.
        Begin::Unknown if r.op == Operation::CreateOrder => match lookup(conn, input).await {
            Lookup::Found(order) => Ok(created(conn, r, order)),
            Lookup::Absent => execute(conn, r, input).await,
            Lookup::Cannot => Err(unknown_problem()),
        },
        Begin::Unknown => execute(conn, r, input).await,
    };
    let record = |state, answer| Record {
        state,
        fingerprint: fingerprint.clone(),
        since: now_ms(),
        answer,
    };
    let store = &state.idempotency;
    match &result {
        Ok(a) => {
            store
                .finish(&store_key, &record(KeyState::Done, Some(stored(a))), policy)
                .await
        }
        Err(p) if p.outcome_unknown => {
            store
                .finish(&store_key, &record(KeyState::Unknown, None), policy)
                .await
        }
        // Nothing happened (no connection, circuit open, throttled): the key may be used again.
        Err(p) if p.code.retryable() => store.abandon(&store_key).await,
        Err(p) => {
            store
                .finish(
                    &store_key,
                    &record(KeyState::Done, Some(stored_problem(p))),
                    policy,
                )
                .await
        }
    }
    .map_err(store_problem)?;
    result
}

/// Runs the operation; an unknown create is resolved by a lookup.
async fn execute(conn: &Connection, r: &OrderRoute, input: &OpInput) -> Result<Answer, Problem> {
    let target = Target::of(conn);
    match flow::run(&target, &conn.transport, r.op, input).await {
        Err(p) if p.outcome_unknown && r.op == Operation::CreateOrder => {
            resolve_create(conn, r, input, p).await
        }
        Err(p) => Err(p),
        Ok(out) => Ok(answer(conn, r, out)),
    }
}

async fn resolve_create(
    conn: &Connection,
    r: &OrderRoute,
    input: &OpInput,
    first: Problem,
) -> Result<Answer, Problem> {
    match lookup(conn, input).await {
        Lookup::Found(order) => Ok(created(conn, r, order)),
        Lookup::Cannot => Err(first),
        Lookup::Absent => {
            // Provably not created: send it once more.
            let target = Target::of(conn);
            match flow::run(&target, &conn.transport, r.op, input).await {
                Ok(out) => Ok(answer(conn, r, out)),
                // The first one landed after all (the ERP refuses a second with this reference).
                Err(p) if p.code == ErrorCode::Conflict || p.outcome_unknown => {
                    match lookup(conn, input).await {
                        Lookup::Found(order) => Ok(created(conn, r, order)),
                        _ => Err(if p.outcome_unknown {
                            p
                        } else {
                            unknown_problem()
                        }),
                    }
                }
                Err(p) => Err(p),
            }
        }
    }
}

enum Lookup {
    Found(OrderJson),
    Absent,
    Cannot,
}

async fn lookup(conn: &Connection, input: &OpInput) -> Lookup {
    let Some(reference) = input.body.get("external_ref").and_then(Value::as_str) else {
        return Lookup::Cannot;
    };
    if !conn
        .mapping
        .operations
        .contains_key(&Operation::GetOrderByRef)
    {
        return Lookup::Cannot;
    }
    let probe = OpInput {
        body: Value::Null,
        path: json!({ "external_ref": reference }),
        query: Value::Null,
        now: None,
        traceparent: input.traceparent.clone(),
    };
    match flow::run(
        &Target::of(conn),
        &conn.transport,
        Operation::GetOrderByRef,
        &probe,
    )
    .await
    {
        Ok(OpOutput::Order(order)) => Lookup::Found(order),
        Err(p) if p.code == ErrorCode::NotFound => Lookup::Absent,
        _ => Lookup::Cannot,
    }
}

fn unknown_problem() -> Problem {
    let mut p = Problem::new(
        ErrorCode::UpstreamTimeout,
        "the ERP did not answer an earlier attempt and the order cannot be looked up: whether it was created is unknown",
    );
    p.outcome_unknown = true;
    p
}

fn answer(conn: &Connection, r: &OrderRoute, out: OpOutput) -> Answer {
    match out {
        OpOutput::Empty => Answer::NoContent,
        OpOutput::List {
            data,
            next_cursor,
            total,
        } => Answer::Ok(flow::page_value(data, next_cursor, total).to_string()),
        OpOutput::Order(order) if r.op == Operation::CreateOrder => created(conn, r, order),
        OpOutput::Order(made) if r.op.success_status() == 201 => Answer::Made(made.text),
        OpOutput::Order(order) => Answer::Ok(order.text),
    }
}

fn created(conn: &Connection, r: &OrderRoute, order: OrderJson) -> Answer {
    let id = order.id.as_str();
    let id = encode_segment(id);
    let location = match &r.connection {
        Some(_) => {
            let name = encode_segment(&conn.name);
            ["/v1/connections/", &name, "/orders/", &id].concat()
        }
        None => ["/v1/orders/", &id].concat(),
    };
    Answer::Created(order.text, location)
}

/// What identifies a request: a different body under the same key is a conflict.
fn fingerprint(r: &OrderRoute, input: &OpInput) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(r.op.name().as_bytes());
    h.update([0]);
    h.update(input.path.to_string().as_bytes());
    h.update([0]);
    h.update(input.body.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn stored(a: &Answer) -> StoredAnswer {
    let (status, body, location) = match a {
        Answer::Created(v, loc) => (201, v.clone(), Some(loc.clone())),
        Answer::Ok(v) => (200, v.clone(), None),
        Answer::NoContent => (204, String::new(), None),
        Answer::Made(v) => (201, v.clone(), None),
        Answer::Replay(s) => return s.clone(),
    };
    StoredAnswer {
        status,
        content_type: "application/json".into(),
        body,
        location,
    }
}

fn stored_problem(p: &Problem) -> StoredAnswer {
    StoredAnswer {
        status: p.status(),
        content_type: "application/problem+json".into(),
        body: p.to_json("replayed").to_string(),
        location: None,
    }
}

fn store_problem(e: crate::idempotency::StoreError) -> Problem {
    tracing::error!(error = %e, "idempotency store failed");
    Problem::new(
        ErrorCode::UpstreamUnavailable,
        "the idempotency store is unavailable; retry later",
    )
    .with_status(503)
}
