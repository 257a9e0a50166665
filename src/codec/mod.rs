//! Vendor body formats: encode a rendered value into bytes, decode an answer into a value.
//! Pure functions on bytes; no I/O.

pub mod form;
pub mod json;
pub mod multipart;
pub mod need;
pub mod xml;

use std::cell::Cell;

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
/// in JSON and ~35 times in XML). A read takes its thread's [`Spare`] stacks.
#[derive(Default)]
struct Scratch {
    members: Vec<(value::Name, value::Value)>,
    items: Vec<value::Value>,
}

thread_local! {
    /// This thread's stacks between two reads, empty: once they have grown to the size of the
    /// documents read, a read allocates none for them.
    static SPARE: Cell<Scratch> = const {
        Cell::new(Scratch {
            members: Vec::new(),
            items: Vec::new(),
        })
    };
}

/// Stacks grown past this many entries are dropped after their read, not kept: one large
/// document does not hold its room for the thread's life.
const KEPT_ENTRIES: usize = 256;

/// A read's stacks: the thread's spare ones, given back (emptied) when the read ends, however
/// it ends.
struct Spare(Scratch);

impl Spare {
    fn take() -> Spare {
        Spare(SPARE.take())
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        let mut scratch = std::mem::take(&mut self.0);
        if scratch.members.capacity() <= KEPT_ENTRIES && scratch.items.capacity() <= KEPT_ENTRIES {
            scratch.members.clear();
            scratch.items.clear();
            // The thread may be ending: then there is nothing to keep them for.
            let _ = SPARE.try_with(|spare| spare.set(scratch));
        }
    }
}

impl std::ops::Deref for Spare {
    type Target = Scratch;

    fn deref(&self) -> &Scratch {
        &self.0
    }
}

impl std::ops::DerefMut for Spare {
    fn deref_mut(&mut self) -> &mut Scratch {
        &mut self.0
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// The entries the thread's spare stacks have room for, and whether they are empty.
    fn spare() -> (usize, usize, bool) {
        let s = SPARE.take();
        let seen = (
            s.members.capacity(),
            s.items.capacity(),
            s.members.is_empty() && s.items.is_empty(),
        );
        SPARE.set(s);
        seen
    }

    #[test]
    fn a_read_gives_its_stacks_back_empty_unless_they_grew_too_large() {
        let small = Bytes::from_static(br#"{"a": [1, 2, {"b": 3}], "c": {"d": [4]}}"#);
        json::parse(&small).expect("reads");
        let (members, items, empty) = spare();
        assert!(
            members > 0 && items > 0 && empty,
            "{members} {items} {empty}"
        );
        // A failed read gives them back as well, emptied.
        json::parse(&Bytes::from_static(br#"{"a": [1, {"b": "#)).expect_err("cut short");
        assert!(spare().2);
        let xml = Bytes::from_static(b"<r><a x=\"1\">t</a><l list=\"true\"><i>1</i></l></r>");
        xml::decode(&xml, &crate::engine::plan::XmlOptions::default()).expect("reads");
        assert!(spare().2);
        // Past KEPT_ENTRIES members, they are dropped with the read.
        let members: Vec<String> = (0..KEPT_ENTRIES + 1)
            .map(|i| format!("\"k{i}\": {i}"))
            .collect();
        let large = Bytes::from(format!("{{{}}}", members.join(",")));
        json::parse(&large).expect("reads");
        assert_eq!(spare(), (0, 0, true));
    }
}
