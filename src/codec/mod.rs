//! Vendor body formats: encode a rendered value into bytes, decode an answer into a value.
//! Pure functions on bytes; no I/O.

pub mod form;
pub mod json;
pub mod multipart;
pub mod need;
pub mod xml;

use crate::value;

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

/// The members and elements of the objects (elements) and lists a decoder is reading, from the
/// outermost to the innermost: each one's are on top of these stacks while it is read and are
/// moved, when it ends, into a map or a list of their own length (one allocation of the right
/// size each; grown one member at a time, a 5-line order's maps and lists reallocated ~18 times
/// in JSON and ~35 times in XML).
struct Scratch {
    members: Vec<(value::Name, value::Value)>,
    items: Vec<value::Value>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            members: Vec::with_capacity(32),
            items: Vec::with_capacity(16),
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
