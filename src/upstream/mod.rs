//! The upstream side: the HTTP client that reaches ERPs (`client`) and the login token cache
//! (`auth`). Knows no orders and no mappings: it sends a rendered request and returns bytes.

pub mod auth;
pub mod client;
pub mod resilience;

use std::future::Future;

use bytes::Bytes;
use http::HeaderMap;

use crate::engine::render::VendorRequest;

/// A vendor's raw answer.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why no answer came back. `Connect` means the request provably never reached the ERP.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not connect to the ERP: {0}")]
    Connect(String),
    #[error("the ERP did not answer within {0} ms")]
    Timeout(u64),
    #[error("the connection to the ERP failed: {0}")]
    Io(String),
    #[error("the ERP's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("invalid upstream URL: {0}")]
    BadUrl(String),
    /// Not sent: the circuit is open, the gateway is at its limit for this ERP, or throttled.
    #[error("{}", match .0 {
        resilience::Refusal::CircuitOpen => "the ERP keeps failing: the circuit is open, calls are refused for a while",
        resilience::Refusal::Overloaded => "too many calls to this ERP are in progress; the request was shed",
        resilience::Refusal::Throttled => "the rate limit for this ERP is reached",
    })]
    Refused(resilience::Refusal),
}

impl UpstreamError {
    /// A bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::TooLarge(_) => "too_large",
            UpstreamError::Io(_) | UpstreamError::BadUrl(_) => "io",
            UpstreamError::Refused(r) => r.reason(),
        }
    }
}

impl resilience::Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            resilience::Refusal::CircuitOpen => "circuit_open",
            resilience::Refusal::Overloaded => "shed",
            resilience::Refusal::Throttled => "throttled",
        }
    }
}

/// Sends one rendered request: the HTTP client in production, recorded exchanges in
/// `ordergate test`.
pub trait Transport: Sync {
    fn send(
        &self,
        req: &VendorRequest,
    ) -> impl Future<Output = Result<UpstreamResponse, UpstreamError>> + Send;
}
