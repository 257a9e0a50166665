//! Vendor body formats: encode a rendered value into bytes, decode an answer into a value.
//! Pure functions on bytes; no I/O.

pub mod form;
pub mod json;
pub mod multipart;
pub mod need;
pub mod xml;

/// Why a body could not be encoded or decoded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CodecError {
    #[error("{format} body: {reason}")]
    Encode {
        format: &'static str,
        reason: String,
    },
    #[error("the answer is not valid {format}: {reason}")]
    Decode {
        format: &'static str,
        reason: String,
    },
}

impl CodecError {
    pub fn encode(format: &'static str, reason: impl Into<String>) -> Self {
        CodecError::Encode {
            format,
            reason: reason.into(),
        }
    }

    pub fn decode(format: &'static str, reason: impl Into<String>) -> Self {
        CodecError::Decode {
            format,
            reason: reason.into(),
        }
    }
}

/// Nesting deeper than this is refused when decoding vendor answers.
pub const MAX_DEPTH: usize = 64;
