//! The JSON value the engine works on: the canonical request, the vendors' answers, the
//! settings and every value a template computes.
//!
//! Shaped like `serde_json::Value` (same variants, same accessors), with the difference that
//! matters on every request: objects keep their members in written order in a [`Map`] made for
//! small objects (no hashing up to 32 members; serde_json's `preserve_order` hashes every key
//! with SipHash). Numbers are [`Number`], their JSON text exactly as written (never an `f64`).
//! JSON text is read into a value by `codec::json` (jiter) and written by [`write_json`].
//!
//! - `map`: the object type; `name`: its members' names (known names interned);
//! - `text`: writing JSON text, serde in and out (YAML constants, tests), and conversions from
//!   and to `serde_json`;
//! - `schema`: the JSON Schema validator's view of a value (canonical validation);
//! - `query`: jsonpath-rust's view of a value (selectors richer than names and indexes).

mod map;
mod name;
mod number;
mod query;
mod schema;
mod string;
mod text;

use std::fmt;

pub use map::{Hint, Map};
pub use name::{Key, Name, NameHash, Names, intern_all, publish};
#[cfg(test)]
pub(crate) use number::every_text;
pub use number::{NotANumber, Number};
pub use schema::Schema;
pub use string::{Body, Str, body_of};
pub use text::{NUMBER_KEY, write_json, write_json_str};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Str),
    Array(Vec<Value>),
    Object(Map),
}

/// `json!` for this crate's [`Value`]: serde_json's macro, converted. For tests and cold paths.
#[macro_export]
macro_rules! json {
    ($($t:tt)+) => {
        $crate::value::Value::from(::serde_json::json!($($t)+))
    };
}

static NULL: Value = Value::Null;

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The member `key` of an object, or the element at a position of an array.
    pub fn get<I: Index>(&self, index: I) -> Option<&Value> {
        index.index_into(self)
    }

    /// The value at a JSON pointer (RFC 6901), `""` being the value itself.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        pointer_tokens(pointer)?.try_fold(self, |v, token| match v {
            Value::Object(map) => map.get(&token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
    }

    pub fn pointer_mut(&mut self, pointer: &str) -> Option<&mut Value> {
        pointer_tokens(pointer)?.try_fold(self, |v, token| match v {
            Value::Object(map) => map.get_mut(&token),
            Value::Array(items) => token
                .parse::<usize>()
                .ok()
                .and_then(move |i| items.get_mut(i)),
            _ => None,
        })
    }

    /// Leaves `null` in its place.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// Makes every string of the value its own text, so that it keeps no body alive: for a
    /// value kept past its request (a cached login token), not the request's own values.
    pub fn detach(&mut self) {
        match self {
            Value::String(s) => s.detach(),
            Value::Array(items) => items.iter_mut().for_each(Value::detach),
            Value::Object(map) => map.iter_mut().for_each(|(_, v)| v.detach()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// This value with its texts made the process's one copy of each ([`Str::constant`]): a
    /// mapping's constants, at load, so that a request copies them without allocating.
    pub fn constant(mut self) -> Value {
        self.make_constant();
        self
    }

    fn make_constant(&mut self) {
        match self {
            Value::String(s) => *s = Str::constant(s),
            Value::Array(items) => items.iter_mut().for_each(Value::make_constant),
            Value::Object(map) => map.iter_mut().for_each(|(_, v)| v.make_constant()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The reference tokens of a JSON pointer, unescaped; none for `""`, `None` when it is no pointer.
fn pointer_tokens(pointer: &str) -> Option<impl Iterator<Item = String> + '_> {
    let rest = match pointer {
        "" => None,
        p => Some(p.strip_prefix('/')?),
    };
    Some(
        rest.into_iter()
            .flat_map(|r| r.split('/'))
            .map(|t| t.replace("~1", "/").replace("~0", "~")),
    )
}

/// What a value can be indexed by: a member name or an array position.
pub trait Index: sealed::Sealed {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value>;
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for usize {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

impl Index for str {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_object()?.get(self)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        if v.is_null() {
            *v = Value::Object(Map::new());
        }
        let Value::Object(map) = v else {
            panic!("cannot set member `{self}` of a non-object")
        };
        if !map.contains_key(self) {
            map.insert(self.to_string(), Value::Null);
        }
        map.get_mut(self)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }
}

impl Index for String {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.as_str().index_into(v)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        self.as_str().index_or_insert(v)
    }
}

impl Index for usize {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_array()?.get(*self)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        let len = v.as_array().map_or(0, Vec::len);
        v.as_array_mut()
            .and_then(|items| items.get_mut(*self))
            .unwrap_or_else(|| panic!("cannot set position {self} of an array of {len}"))
    }
}

impl<T: Index + ?Sized> Index for &T {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        (**self).index_into(v)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        (**self).index_or_insert(v)
    }
}

/// `value["key"]`, `value[0]`: `null` when absent, as serde_json does.
impl<I: Index> std::ops::Index<I> for Value {
    type Output = Value;

    fn index(&self, index: I) -> &Value {
        index.index_into(self).unwrap_or(&NULL)
    }
}

/// `value["key"] = ...` (a `null` becomes an object first), `value[0] = ...`; as serde_json,
/// it panics on any other value or a missing position: for tests and values the code built.
impl<I: Index> std::ops::IndexMut<I> for Value {
    fn index_mut(&mut self, index: I) -> &mut Value {
        index.index_or_insert(self)
    }
}

/// JSON text: compact, or indented with `{:#}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        }
        .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

macro_rules! eq_integer {
    ($($t:ty)*) => {$(
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                match i64::try_from(*other) {
                    Ok(n) => self.as_i64() == Some(n),
                    Err(_) => u64::try_from(*other).is_ok_and(|n| self.as_u64() == Some(n)),
                }
            }
        }
    )*};
}

eq_integer!(i32 i64 u32 u64 usize);

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::String(s)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Value {
        Value::Object(map)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

macro_rules! from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(Number::from(n))
            }
        }
    )*};
}

from_integer!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_index_and_pointer() {
        let v = crate::json!({"a": {"b/c": [1, "two", null]}, "n": 12});
        assert_eq!(v["a"]["b/c"][1], "two");
        assert_eq!(v["nope"][3], Value::Null);
        assert_eq!(v.pointer("/a/b~1c/0").and_then(Value::as_u64), Some(1));
        assert_eq!(v.pointer("/a/b~1c/7"), None);
        assert_eq!(v.pointer(""), Some(&v));
        assert_eq!(v.get("n").and_then(Value::as_i64), Some(12));
        assert!(v.get(0).is_none());
        assert!(v["a"]["b/c"][2].is_null());
    }

    #[test]
    fn a_detached_value_keeps_no_body_alive() {
        let body = bytes::Bytes::from_static(
            br#"{"token": "a token of more than 24 bytes", "list": ["x", {"y": "another long text here, 30 b"}]}"#,
        );
        let mut v = crate::codec::json::parse(&body).expect("JSON");
        let shared = |v: &Value| matches!(v, Value::String(s) if s.is_shared());
        assert!(shared(&v["token"]) && shared(&v["list"][1]["y"]));
        let before = v.clone();
        v.detach();
        assert_eq!(v, before);
        assert!(!shared(&v["token"]) && !shared(&v["list"][0]) && !shared(&v["list"][1]["y"]));
    }

    #[test]
    fn display_is_json_text() {
        let v: Value = serde_json::from_str(r#"{"b": 1.10, "a": ["x\"y"]}"#).expect("json");
        assert_eq!(v.to_string(), r#"{"b":1.10,"a":["x\"y"]}"#);
        assert!(format!("{v:#}").contains("\n"));
    }
}
