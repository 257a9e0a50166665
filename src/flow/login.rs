//! The login step of mappings that need one: render the login call, send it, keep the token
//! (`$auth.token`) in the connection's cache for its lifetime.

use std::time::Duration;

use crate::json;
use crate::value::Value;
use rust_decimal::prelude::ToPrimitive;

use super::Target;
use super::normalize;
use crate::canonical::problem::{ErrorCode, Problem, UpstreamInfo};
use crate::codec::need::AnswerNeed;
use crate::engine::clock::Clock;
use crate::engine::convert::to_decimal;
use crate::engine::eval::{Evaluator, Roots, Scope};
use crate::engine::render::render;
use crate::upstream::Transport;

/// `{token}` for `$auth`, or null when the mapping has no login. `refused` is the token the
/// ERP just refused, to force a new login.
pub async fn token<T: Transport>(
    target: &Target<'_>,
    transport: &T,
    clock: &Clock,
    refused: Option<&Value>,
) -> Result<Value, Problem> {
    let Some(login) = target.mapping.auth.as_ref().and_then(|a| a.login.as_ref()) else {
        return Ok(Value::Null);
    };
    let ev = Evaluator::new(&target.mapping.templates).memoizing(&target.mapping.kept_per_focus);
    target
        .tokens
        .get(refused, || async {
            let null = Value::Null;
            let roots = Roots {
                input: &null,
                path: &null,
                query: &null,
                page: &null,
                settings: target.settings,
                secrets: target.secrets,
                auth: &null,
                connection: target.info,
                clock,
                response: &null,
                steps: &[],
            };
            let request = render(
                &login.request,
                &[&target.mapping.headers],
                &ev,
                &Scope::new(&roots, &null),
            )
            .map_err(|e| {
                Problem::new(
                    ErrorCode::Internal,
                    format!("login request of {}: {e}", target.mapping.file),
                )
            })?;
            let response = transport
                .send(&request)
                .await
                .map_err(|e| normalize::transport_problem(&e, false))?;
            if !login.accept.matches(response.status) {
                let mut p = Problem::new(
                    ErrorCode::UpstreamAuthFailed,
                    format!("the ERP refused the login (HTTP {})", response.status),
                );
                p.upstream = Some(Box::new(UpstreamInfo {
                    status: Some(response.status),
                    ..UpstreamInfo::default()
                }));
                return Err(p);
            }
            let (answer, _) = normalize::answer(
                &response,
                login.request.decode,
                &login.request.xml,
                &AnswerNeed::whole(),
            );
            let roots = Roots {
                response: &answer,
                ..roots
            };
            let scope = Scope::new(&roots, &answer);
            let token = ev
                .eval_owned(&login.token, &scope)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    Problem::new(
                        ErrorCode::UpstreamAuthFailed,
                        "the ERP's login answer holds no token",
                    )
                })?;
            let lifetime = match &login.expires_in {
                None => None,
                Some(t) => ev
                    .eval_owned(t, &scope)
                    .ok()
                    .flatten()
                    .and_then(|v| to_decimal(&v))
                    .and_then(|d| d.to_u64())
                    .map(Duration::from_secs),
            };
            Ok((json!({ "token": token }), lifetime))
        })
        .await
}
