//! The upstream side: the HTTP client that reaches ERPs (`client`) and the login token cache
//! (`auth`). Knows no orders and no mappings: it sends a rendered request and returns bytes.

pub mod auth;
pub mod client;

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
}

/// Sends one rendered request: the HTTP client in production, recorded exchanges in
/// `ordergate test`.
pub trait Transport: Sync {
    fn send(
        &self,
        req: &VendorRequest,
    ) -> impl Future<Output = Result<UpstreamResponse, UpstreamError>> + Send;
}
