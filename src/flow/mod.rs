//! Runs one canonical operation against one connection: for each step of the mapping, render
//! the vendor request, send it, read the answer and check it for errors; then build the
//! canonical result. `login` handles the auth token, `paging` the list cursor, `normalize`
//! the vendor's answers and errors.

pub mod login;
pub mod normalize;
pub mod paging;

use crate::value::Value;
use chrono::Utc;

use crate::engine::clock::Clock;

use crate::canonical::operation::Operation;
use crate::canonical::problem::{Direction, ErrorCode, FieldError, Problem};
use crate::engine::eval::{EvalError, Evaluator, Member, Roots, Scope};
use crate::engine::plan::{Mapping, ResultPlan};
use crate::engine::render::{RenderError, render};
use crate::upstream::Transport;
use crate::upstream::auth::TokenCache;

/// What a flow needs of a connection (the server's `Connection`, or a fixture's).
pub struct Target<'a> {
    pub name: &'a str,
    pub mapping: &'a Mapping,
    pub settings: &'a Value,
    pub secrets: &'a Value,
    pub info: &'a Value,
    pub secret_values: &'a [String],
    pub tokens: &'a TokenCache,
}

impl<'a> Target<'a> {
    pub fn of(c: &'a crate::config::Connection) -> Self {
        Target {
            name: &c.name,
            mapping: &c.mapping,
            settings: &c.settings,
            secrets: &c.secrets,
            info: &c.info,
            secret_values: &c.secret_values,
            tokens: &c.tokens,
        }
    }
}

/// The canonical request, parsed once.
#[derive(Debug, Clone, Default)]
pub struct OpInput {
    /// The JSON body (create, update), or null.
    pub body: Value,
    /// `{id}` or `{external_ref}`.
    pub path: Value,
    /// The list query, validated.
    pub query: Value,
    /// A fixed clock for `$now`/`$today` (golden fixtures); none = the real time.
    pub now: Option<chrono::DateTime<Utc>>,
    /// W3C `traceparent` to send with every vendor call.
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpOutput {
    Order(OrderJson),
    List {
        data: Vec<Value>,
        next_cursor: Option<String>,
        total: Option<u64>,
    },
    Empty,
}

/// One canonical order (invoice, receipt) as the JSON text the client gets, written straight
/// from the result template, and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderJson {
    pub id: String,
    pub text: String,
}

impl OrderJson {
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// Runs `op`. Every failure is a problem naming the connection.
pub async fn run<T: Transport>(
    target: &Target<'_>,
    transport: &T,
    op: Operation,
    input: &OpInput,
) -> Result<OpOutput, Problem> {
    run_inner(target, transport, op, input)
        .await
        .map_err(|mut p| {
            p.connection = Some(target.name.to_string());
            mask_problem(&mut p, target.secret_values);
            p
        })
}

/// "Secrets never reach an error body", in one place: whatever the ERP echoed (a login in an
/// error message, a token in a date it could not read, a transport error) is masked here, on
/// every problem a flow returns. (Error rules mask before they clip a vendor message, so a cut
/// secret cannot slip through: see `normalize::check`.)
fn mask_problem(p: &mut Problem, secrets: &[String]) {
    p.detail = normalize::mask(&p.detail, secrets);
    for e in &mut p.errors {
        e.message = normalize::mask(&e.message, secrets);
    }
    if let Some(u) = p.upstream.as_deref_mut() {
        for text in [&mut u.code, &mut u.message].into_iter().flatten() {
            *text = normalize::mask(text, secrets);
        }
    }
}

async fn run_inner<T: Transport>(
    target: &Target<'_>,
    transport: &T,
    op: Operation,
    input: &OpInput,
) -> Result<OpOutput, Problem> {
    let mapping = target.mapping;
    let Some(plan) = mapping.operations.get(&op) else {
        let why = mapping
            .unsupported
            .get(&op)
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return Err(Problem::new(
            ErrorCode::OperationNotSupported,
            format!("the {} mapping has no {op} operation{why}", mapping.vendor),
        ));
    };
    let ev = Evaluator::new(&mapping.templates).memoizing(&mapping.kept_per_focus);
    let page = if op == Operation::ListOrders {
        paging::page(&plan.paging, &input.query)?
    } else {
        Value::Null
    };
    // One instant for the whole request; its texts are made only if a template reads them.
    let clock = Clock::at(input.now.unwrap_or_else(Utc::now));
    let mut auth = login::token(target, transport, &clock, None).await?;
    let auth_headers = mapping
        .auth
        .as_ref()
        .map(|a| a.headers.as_slice())
        .unwrap_or_default();
    let renew_on = mapping
        .auth
        .as_ref()
        .map(|a| a.renew_on.as_slice())
        .unwrap_or_default();
    let mut steps = vec![Value::Null; plan.slots];
    let mut last: Option<usize> = None;
    let mut write_sent = false;

    for step in &plan.steps {
        let mut attempt = 0;
        let (answer, decode_error, status, retry_after) = loop {
            attempt += 1;
            let request = {
                let roots = roots(target, input, &page, &auth, &clock, &steps, &Value::Null);
                let scope = Scope::new(&roots, &input.body);
                if let Some(when) = &step.when
                    && !ev.test(when, &scope).map_err(request_problem)?
                {
                    break (Value::Null, None, 0, None);
                }
                let mut r = render(
                    &step.request,
                    &[&mapping.headers, auth_headers],
                    &ev,
                    &scope,
                )
                .map_err(|e| render_problem(e, mapping))?;
                if let Some(tp) = input
                    .traceparent
                    .as_deref()
                    .and_then(|t| http::HeaderValue::from_str(t).ok())
                {
                    r.headers.push((crate::telemetry::trace::HEADER, tp, false));
                }
                r
            };
            let is_write =
                request.method != http::Method::GET && request.method != http::Method::HEAD;
            let response = transport
                .send(&request)
                .await
                .map_err(|e| normalize::transport_problem(&e, write_sent || is_write))?;
            if renew_on.contains(&response.status) && attempt == 1 && has_login(mapping) {
                // The ERP refused the token: it did not act on the request; log in and resend once.
                auth = login::token(target, transport, &clock, Some(&auth)).await?;
                continue;
            }
            write_sent |= is_write;
            let (answer, decode_error) = normalize::answer(
                &response,
                step.request.decode,
                &step.request.xml,
                &step.answer,
            );
            break (
                answer,
                decode_error,
                response.status,
                normalize::retry_after(&response),
            );
        };
        if status == 0 {
            continue; // `when` was false: the step did not run.
        }
        {
            let roots = roots(target, input, &page, &auth, &clock, &steps, &answer);
            let scope = Scope::new(&roots, &answer["body"]);
            let rules: [&[crate::engine::plan::ErrorRule]; 2] = [&plan.errors, &mapping.errors];
            let problem =
                normalize::check(&rules, step.slot, status, &ev, &scope, target.secret_values)
                    .or_else(|| {
                        (!(200..300).contains(&status)).then(|| normalize::default_problem(status))
                    });
            if let Some(mut p) = problem {
                p.retry_after = retry_after;
                // A write answered with a server error may have been applied before it failed.
                p.outcome_unknown |= write_sent && status >= 500;
                return Err(p);
            }
        }
        if let Some(e) = decode_error {
            let mut p = Problem::new(
                ErrorCode::UpstreamUnavailable,
                format!("step `{}`: {e}", step.name),
            );
            // The ERP accepted a write but its answer is unreadable: it may have applied it.
            p.outcome_unknown = write_sent;
            return Err(p);
        }
        steps[step.slot] = answer;
        last = Some(step.slot);
    }

    let focus = last.map(|s| &steps[s]["body"]).unwrap_or(&Value::Null);
    let roots = roots(target, input, &page, &auth, &clock, &steps, &Value::Null);
    let scope = Scope::new(&roots, focus);
    match &plan.result {
        ResultPlan::Empty => Ok(OpOutput::Empty),
        ResultPlan::Order(t) => {
            let mut text = Vec::with_capacity(2048);
            let Some(members) = ev
                .write_json_noting(t, &scope, &mut text)
                .map_err(answer_problem)?
            else {
                // Nothing written, or not as an object template: read back from its text.
                if text.is_empty() {
                    return Err(no_order());
                }
                return Ok(OpOutput::Order(order_json(text, target.name)?));
            };
            Ok(OpOutput::Order(written_order_json(
                text,
                &members,
                target.name,
            )?))
        }
        ResultPlan::List {
            items,
            total,
            next_cursor,
        } => {
            let data: Vec<Value> = match ev.eval_owned(items, &scope).map_err(answer_problem)? {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(|o| with_connection(o, target.name))
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(Problem::new(
                        ErrorCode::UpstreamUnavailable,
                        "the list answer's items are not a list",
                    ));
                }
            };
            let total = match total {
                None => None,
                Some(t) => ev
                    .eval_owned(t, &scope)
                    .map_err(answer_problem)?
                    .and_then(|v| crate::engine::convert::to_decimal(&v))
                    .filter(|d| d.fract().is_zero())
                    .and_then(|d| rust_decimal::prelude::ToPrimitive::to_u64(&d)),
            };
            let vendor_cursor = match next_cursor {
                None => None,
                Some(t) => ev
                    .eval_owned(t, &scope)
                    .map_err(answer_problem)?
                    .and_then(|v| crate::engine::convert::scalar_text(&v)),
            };
            let (data, more) = paging::window(&plan.paging, &page, data);
            let next_cursor =
                paging::next_cursor(&plan.paging, &page, data.len(), total, vendor_cursor, more);
            Ok(OpOutput::List {
                data,
                next_cursor,
                total,
            })
        }
    }
}

fn has_login(m: &Mapping) -> bool {
    m.auth.as_ref().is_some_and(|a| a.login.is_some())
}

fn roots<'a>(
    target: &'a Target<'a>,
    input: &'a OpInput,
    page: &'a Value,
    auth: &'a Value,
    clock: &'a Clock,
    steps: &'a [Value],
    response: &'a Value,
) -> Roots<'a> {
    Roots {
        input: &input.body,
        path: &input.path,
        query: &input.query,
        page,
        settings: target.settings,
        secrets: target.secrets,
        auth,
        connection: target.info,
        clock,
        response,
        steps,
    }
}

/// A canonical page of a list: `{data, next_cursor, total}`.
pub fn page_value(data: Vec<Value>, next_cursor: Option<String>, total: Option<u64>) -> Value {
    let mut page = crate::value::Map::with_capacity(3);
    page.insert("data", Value::Array(data));
    page.insert("next_cursor", next_cursor.into());
    page.insert("total", total.into());
    Value::Object(page)
}

fn with_connection(order: Value, connection: &str) -> Result<Value, Problem> {
    match order {
        // The contract: an order (invoice, payment) always has an id.
        Value::Object(mut map)
            if map
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty()) =>
        {
            map.insert("connection", Value::from(connection));
            Ok(Value::Object(map))
        }
        _ => Err(no_order()),
    }
}

fn no_order() -> Problem {
    Problem::new(
        ErrorCode::UpstreamUnavailable,
        "the ERP's answer did not hold an order with an id",
    )
}

/// [`order_json`], for a result written from an object template: its id read where the writer
/// says it wrote it (the text is not parsed back).
fn written_order_json(
    text: Vec<u8>,
    members: &[Member],
    connection: &str,
) -> Result<OrderJson, Problem> {
    let named = |name: &[u8]| {
        members
            .iter()
            .find(|m| text.get(m.name.clone()) == Some(name))
    };
    if named(b"\"connection\"").is_some() {
        return order_json(text, connection);
    }
    let id = named(b"\"id\"")
        .and_then(|m| text.get(m.value.clone()))
        .filter(|t| t.first() == Some(&b'"'))
        .and_then(|t| match t.get(1..t.len() - 1) {
            // Without an escape, the text between the quotes is the id.
            Some(inner) if !inner.contains(&b'\\') => {
                std::str::from_utf8(inner).ok().map(str::to_owned)
            }
            _ => serde_json::from_slice::<String>(t).ok(),
        })
        .filter(|id| !id.is_empty())
        .ok_or_else(no_order)?;
    Ok(OrderJson {
        id,
        text: connection_appended(text, connection)?,
    })
}

/// An object's JSON text as `write_json` wrote it (it ends with its closing brace), with a
/// last member `connection`.
fn connection_appended(mut text: Vec<u8>, connection: &str) -> Result<String, Problem> {
    text.pop();
    text.extend_from_slice(b",\"connection\":");
    crate::value::write_json_str(&mut text, connection);
    text.push(b'}');
    String::from_utf8(text).map_err(|_| no_order())
}

/// What `with_connection` does, on a result written as JSON text: the order must be an object
/// with a non-empty text `id`; `connection` is added (replaced, when the result wrote one).
fn order_json(text: Vec<u8>, connection: &str) -> Result<OrderJson, Problem> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<Value>,
        connection: Option<serde::de::IgnoredAny>,
    }
    let head: Head = serde_json::from_slice(&text).map_err(|_| no_order())?;
    let Some(Value::String(id)) = head
        .id
        .filter(|id| id.as_str().is_some_and(|t| !t.is_empty()))
    else {
        return Err(no_order());
    };
    let id = id.into_string();
    if head.connection.is_some() {
        let order = with_connection(
            crate::codec::json::parse(&bytes::Bytes::from(text)).map_err(|_| no_order())?,
            connection,
        )?;
        return Ok(OrderJson {
            id,
            text: order.to_string(),
        });
    }
    Ok(OrderJson {
        id,
        text: connection_appended(text, connection)?,
    })
}

/// The canonical request cannot be expressed for this vendor.
fn request_problem(e: EvalError) -> Problem {
    let pointer = e.pointer.clone().unwrap_or_default();
    Problem::new(
        ErrorCode::ValidationFailed,
        format!("the order cannot be sent to this ERP: {}", e.message),
    )
    .with_errors(vec![FieldError {
        pointer,
        message: e.message,
    }])
    .from_mapping(Direction::Request)
}

fn render_problem(e: RenderError, mapping: &Mapping) -> Problem {
    match e {
        RenderError::Eval(e) => request_problem(e),
        RenderError::BadHeader(h) => Problem::new(
            ErrorCode::ValidationFailed,
            format!("a value for header `{h}` holds a forbidden character"),
        ),
        // A path value from an earlier answer: the ERP's answer lacked it.
        RenderError::MissingPathValue(what) if !is_request_value(&what) => Problem::new(
            ErrorCode::UpstreamUnavailable,
            format!("a value the next call needs is missing from the ERP's answer: {what}"),
        ),
        RenderError::MissingPathValue(what) => Problem::new(
            ErrorCode::ValidationFailed,
            format!("the request lacks a value this ERP needs in its path: {what}"),
        )
        .from_mapping(Direction::Request),
        // The body cannot be written in the vendor's format (e.g. a nested value in a form
        // field, often from vendor_fields): the request cannot be sent as it is.
        RenderError::Codec(e) => Problem::new(
            ErrorCode::ValidationFailed,
            format!("the order cannot be sent to this ERP: {e}"),
        )
        .from_mapping(Direction::Request),
        other => Problem::new(
            ErrorCode::Internal,
            format!("mapping {}: {other}", mapping.file),
        ),
    }
}

fn is_request_value(selector: &str) -> bool {
    ["$path", "$input", "$query", "$.", "$["]
        .iter()
        .any(|p| selector.starts_with(p))
        || selector == "$"
}

/// The vendor's answer cannot be read into the canonical form.
fn answer_problem(e: EvalError) -> Problem {
    Problem::new(
        ErrorCode::UpstreamUnavailable,
        format!("the ERP's answer could not be read: {}", e.message),
    )
    .from_mapping(Direction::Response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(text: &str) -> Result<OrderJson, Problem> {
        order_json(text.as_bytes().to_vec(), "shop \"eu\"")
    }

    #[test]
    fn a_written_order_gets_its_connection_and_keeps_its_id() {
        let o = order(r#"{"id":"SO-1","lines":[{"id":"x"}],"total":1.50}"#).expect("an order");
        assert_eq!(o.id, "SO-1");
        assert_eq!(
            o.text,
            r#"{"id":"SO-1","lines":[{"id":"x"}],"total":1.50,"connection":"shop \"eu\""}"#
        );
        // A result that writes `connection` itself gets it replaced, where it stood.
        let o = order(r#"{"connection":"x","id":"SO-2"}"#).expect("an order");
        assert_eq!(o.text, r#"{"connection":"shop \"eu\"","id":"SO-2"}"#);
    }

    /// `written_order_json` with the members of each top-level `"name":value` pair of `text`
    /// (found here by parsing it; the writer notes them as it writes).
    fn written(text: &str) -> Result<OrderJson, Problem> {
        let mut members = Vec::new();
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
            // Members follow each other: each is looked for after the one before.
            let mut from = 1;
            for (name, value) in map {
                let name_text = serde_json::Value::String(name).to_string();
                let at = from + text[from..].find(&format!("{name_text}:")).expect("member");
                let value_text = value.to_string();
                let value_at = at + name_text.len() + 1;
                assert!(text[value_at..].starts_with(&value_text), "{text}");
                from = value_at + value_text.len();
                members.push(Member {
                    name: at..at + name_text.len(),
                    value: value_at..from,
                });
            }
        }
        written_order_json(text.as_bytes().to_vec(), &members, "shop \"eu\"")
    }

    #[test]
    fn an_order_read_where_it_was_written_is_the_order_read_back_from_its_text() {
        for text in [
            r#"{"id":"SO-1","lines":[{"id":"x"}],"total":1.5}"#,
            r#"{"lines":[{"id":"x"}],"id":"S\"Oé"}"#,
            r#"{"id":"é-1","total":2}"#,
            r#"{"connection":"x","id":"SO-2"}"#,
            r#"{"name":"SO-1"}"#,
            r#"{"id":""}"#,
            r#"{"id":7}"#,
            r#"{"id":null}"#,
            r#"{}"#,
        ] {
            match (order(text), written(text)) {
                (Ok(a), Ok(b)) => {
                    assert_eq!((a.id, a.text), (b.id, b.text), "{text}");
                }
                (Err(a), Err(b)) => assert_eq!(a.code, b.code, "{text}"),
                (a, b) => panic!("{text}: {:?} vs {:?}", a.map(|o| o.text), b.map(|o| o.text)),
            }
        }
    }

    #[test]
    fn an_order_without_a_text_id_is_refused() {
        for text in [
            r#"{"name":"SO-1"}"#,
            r#"{"id":""}"#,
            r#"{"id":7}"#,
            r#"{"id":null}"#,
            r#"["SO-1"]"#,
            r#""SO-1""#,
        ] {
            let p = order(text).expect_err(text);
            assert_eq!(p.code, ErrorCode::UpstreamUnavailable, "{text}");
        }
    }
}
