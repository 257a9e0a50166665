//! The text of a string value: either its own, or a slice of the body it was read from.
//!
//! The canonical request and the vendors' JSON and XML answers arrive as one buffer each
//! ([`Body`]). A string in them that needs no unescaping is taken as a place in that buffer
//! ([`Str::in_body`]: the body's reference count and a range, no allocation, no copy), so a
//! request's strings borrow from its body for as long as the request lives, without a lifetime
//! on every value of the engine; one of 24 bytes at most (an id, a code, a date) is copied in
//! place instead, which costs less than the reference count's two atomic operations. A string
//! the engine computes (an interpolation, a conversion, an unescaped text) owns its text (in
//! place up to 24 bytes). A mapping's constant text (`then: paid`, a value map's `Draft`) is
//! the one copy kept for the process ([`Str::constant`]): copying it into a request's value
//! copies a pointer, no allocation. Each is 24 bytes, as a `String` is.

use std::fmt;
use std::ops::Deref;
use std::str::Utf8Error;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use compact_str::CompactString;

/// A body the strings read from it share: its bytes (not copied from the connection's buffer),
/// checked as UTF-8 once.
pub type Body = Arc<ByteString>;

/// `bytes` as a [`Body`], checked as UTF-8 once (the error says where it stops being UTF-8).
pub fn body_of(bytes: &Bytes) -> Result<Body, Utf8Error> {
    ByteString::try_from(bytes.clone()).map(Arc::new)
}

/// The longest text a [`Str`] holds in place.
const INLINE: usize = size_of::<String>();

#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    /// Its own text: up to 24 bytes in place (no allocation), longer on the heap.
    Owned(CompactString),
    Shared {
        body: Body,
        start: u32,
        len: u32,
    },
    /// A mapping's constant: interned at load, never freed.
    Constant(&'static str),
}

impl Str {
    /// `part` as a place in `body` when it lies in it, else a copy of it (a string jiter
    /// unescaped into its own buffer, say). A part of 24 bytes at most (most of an order's
    /// texts) is copied in place whatever: copying a few bytes costs less than taking a
    /// reference to the body and dropping it with the value, two atomic operations (~11 ns a
    /// pair on the benchmarks' machine; BENCHMARKS.md, step 18).
    // Inlined into the readers, as the code it replaced was (Dokos create 322,400 instructions
    // with a call per string, 321,068 inlined).
    #[inline]
    pub fn in_body(body: &Body, part: &str) -> Str {
        if part.len() <= INLINE {
            return Str(Repr::Owned(CompactString::new(part)));
        }
        Str::slice_of(body, part).unwrap_or_else(|| Str::from(part))
    }

    /// A mapping's constant text, interned (at load: takes a lock). Like the known member names
    /// ([`crate::value::Key`]), such texts are those written in the mapping files loaded since
    /// the start, never a text a request or an answer brings.
    pub fn constant(text: &str) -> Str {
        Str(Repr::Constant(super::Key::new(text).as_str()))
    }

    /// `part` as a place in `body`; `None` when it lies elsewhere or the body is longer than
    /// 4 GiB.
    fn slice_of(body: &Body, part: &str) -> Option<Str> {
        let start = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        if end > body.len() {
            return None;
        }
        Some(Str(Repr::Shared {
            body: Arc::clone(body),
            start: u32::try_from(start).ok()?,
            len: u32::try_from(part.len()).ok()?,
        }))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Owned(s) => s,
            Repr::Constant(s) => s,
            // In range and on character boundaries: `slice_of` took it from a `&str` there.
            Repr::Shared { body, start, len } => {
                let start = *start as usize;
                body.get(start..start + *len as usize).unwrap_or_default()
            }
        }
    }

    /// The text as a `String`: the owned one moved out (copied when held in place), a shared
    /// one copied.
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Owned(s) => s.into_string(),
            Repr::Shared { .. } | Repr::Constant(_) => self.as_str().to_owned(),
        }
    }

    /// The text as a `String` to change in place: a shared one is copied first (as
    /// `Cow::to_mut`).
    pub fn to_mut(&mut self) -> &mut CompactString {
        if !matches!(self.0, Repr::Owned(_)) {
            self.0 = Repr::Owned(CompactString::new(self.as_str()));
        }
        match &mut self.0 {
            Repr::Owned(s) => s,
            Repr::Shared { .. } | Repr::Constant(_) => unreachable!("made owned above"),
        }
    }

    /// Copies a text that is a place in a body into its own, so that the body can go.
    pub fn detach(&mut self) {
        if let Repr::Shared { .. } = self.0 {
            self.0 = Repr::Owned(CompactString::new(self.as_str()));
        }
    }

    /// Whether the text is a slice of a body rather than its own.
    #[cfg(test)]
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared { .. })
    }
}

impl Default for Str {
    fn default() -> Str {
        Str(Repr::Owned(CompactString::default()))
    }
}

impl Deref for Str {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str(Repr::Owned(CompactString::from(s)))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str(Repr::Owned(CompactString::new(s)))
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_the_body_are_shared_and_others_are_not() {
        let body = Body::new(ByteString::from_static(r#"{"a": "hello"}"#));
        let part = &body[7..12];
        let shared = Str::slice_of(&body, part).expect("inside");
        assert!(shared.is_shared());
        assert_eq!(shared, "hello");
        assert_eq!(shared.as_ptr(), part.as_ptr());
        assert!(Str::slice_of(&body, &String::from("hello")).is_none());
        let empty_end = &body[body.len()..];
        assert_eq!(Str::slice_of(&body, empty_end).expect("at the end"), "");
        assert_eq!(Str::from("hello"), shared);
        assert_eq!(shared.clone().into_string(), "hello");
        assert_eq!(size_of::<Str>(), size_of::<String>());
    }

    #[test]
    fn constants_are_one_copy() {
        let a = Str::constant("str-test-constant");
        let b = Str::constant(&String::from("str-test-constant"));
        assert_eq!(a, "str-test-constant");
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert_eq!(a.clone().as_ptr(), a.as_ptr());
        let mut c = a.clone();
        c.to_mut().push('!');
        assert_eq!(
            (c.as_str(), a.as_str()),
            ("str-test-constant!", "str-test-constant")
        );
    }
}
