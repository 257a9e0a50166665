//! Vendor body formats: encode a rendered value into bytes, decode an answer into a value.
//! Pure functions on bytes; no I/O.

pub mod form;
pub mod json;
pub mod multipart;
pub mod need;
pub mod xml;

use std::cell::Cell;
use std::collections::HashMap;

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

/// Members an object gathers before its names are found through an index rather than searched.
const SEARCHED: usize = 32;

/// The names of one object whose members a decoder gathers on the members stack, from `start`:
/// to find a repeated name (JSON allows one, XML repeats elements). Up to [`SEARCHED`]
/// members, a 64-bit Bloom filter of their names ([`name_bit`]) lets a name whose bit is not
/// set be added without a search, and the others are searched for; past it, an index by name
/// (a seeded hash map) finds them, so that a wide object costs a probe a member, not a search of
/// all those before it (a 1 MB body of 100,000 names took 14 s to read by searches).
struct Seen {
    start: usize,
    bloom: u64,
    /// Boxed: most objects never make one, and the XML decoder keeps a `Seen` in each open
    /// element's frame, where the box is one pointer wide and the map several words.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<value::Name, usize, foldhash::fast::RandomState>>>,
}

impl Seen {
    fn new(start: usize) -> Seen {
        Seen {
            start,
            bloom: 0,
            index: None,
        }
    }

    /// The member named `name` among `members[start..]`; `None` when there is none, and the
    /// caller then pushes `name` on `members` before it asks again.
    #[inline(always)]
    fn member<'s>(
        &mut self,
        members: &'s mut [(value::Name, value::Value)],
        name: &value::Name,
    ) -> Option<&'s mut (value::Name, value::Value)> {
        // Most names are new to their object: their bit is not set yet (all are set once the
        // index is made).
        let bit = name_bit(name.as_str());
        if self.bloom & bit == 0 {
            self.bloom |= bit;
            return None;
        }
        self.search(members, name)
    }

    /// [`Seen::member`] for a name whose bit is set: searched among up to [`SEARCHED`]
    /// members, else looked up in the index, made when first needed.
    fn search<'s>(
        &mut self,
        members: &'s mut [(value::Name, value::Value)],
        name: &value::Name,
    ) -> Option<&'s mut (value::Name, value::Value)> {
        let gathered = members.get_mut(self.start..)?;
        if self.index.is_none() {
            if gathered.len() < SEARCHED {
                return gathered.iter_mut().find(|(k, _)| k == name);
            }
            let mut index =
                HashMap::with_capacity_and_hasher(gathered.len() * 2, Default::default());
            for (at, (k, _)) in gathered.iter().enumerate() {
                // The first of a name stays: it is the one a repeat replaces or joins.
                index.entry(k.clone()).or_insert(at);
            }
            self.index = Some(Box::new(index));
            // Every name now goes through the index, which must learn the new ones.
            self.bloom = u64::MAX;
        }
        let index = self.index.as_mut()?;
        match index.get(name.as_str()) {
            Some(&at) => gathered.get_mut(at),
            None => {
                index.insert(name.clone(), gathered.len());
                None
            }
        }
    }
}

/// A member name's bit in a 64-bit Bloom filter (from its length and its first and last bytes):
/// the decoders keep one per object, so that a name whose bit is not yet set is added without
/// searching the members gathered so far (a repeated name always finds its bit set).
#[inline]
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
    use crate::value::{Name, Value};

    /// Adds `name` as the decoders do: a repeat counts up the member's number.
    fn add(seen: &mut Seen, members: &mut Vec<(Name, Value)>, name: &str) {
        let name = Name::from(name);
        match seen.member(members, &name) {
            Some((_, v)) => {
                let n: i32 = v.to_string().parse().expect("a count");
                *v = Value::from(n + 1);
            }
            None => members.push((name, Value::from(1))),
        }
    }

    #[test]
    fn seen_finds_repeats_before_and_after_its_index() {
        // Members of an outer object below `start` are not this object's.
        let mut members = vec![(Name::from("k1"), Value::from("outer"))];
        let mut seen = Seen::new(members.len());
        // `ab`, `a1b` and `axb` share a Bloom bit; 100 names cross SEARCHED.
        let mut names: Vec<String> = ["ab", "a1b", "axb"].map(String::from).to_vec();
        names.extend((0..100).map(|i| format!("k{i}")));
        names.extend(["ab", "k1", "k99", "k40", "a1b", "k40"].map(String::from));
        for name in &names {
            add(&mut seen, &mut members, name);
        }
        assert!(seen.index.is_some());
        assert_eq!(members.len(), 1 + 103);
        let count = |name: &str| {
            members[1..]
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(count("ab").as_deref(), Some("2"));
        assert_eq!(count("a1b").as_deref(), Some("2"));
        assert_eq!(count("axb").as_deref(), Some("1"));
        assert_eq!(count("k1").as_deref(), Some("2"));
        assert_eq!(count("k40").as_deref(), Some("3"));
        assert_eq!(count("k99").as_deref(), Some("2"));
        assert_eq!(count("k2").as_deref(), Some("1"));
        assert_eq!(members[0].1, Value::from("outer"));
    }

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
