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

/// A member name's bit in a 64-bit Bloom filter (from its length and its first and last bytes):
/// the decoders keep one per object, so that a name whose bit is not yet set is added without
/// searching the members gathered so far (a repeated name always finds its bit set).
fn name_bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let (first, last) = (
        b.first().copied().unwrap_or(0),
        b.last().copied().unwrap_or(0),
    );
    1 << ((b.len() ^ usize::from(first) ^ (usize::from(last) << 2)) & 63)
}
