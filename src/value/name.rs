//! The name of an object member: a name the loaded mappings or the contract know (interned:
//! one copy for the whole process, found by its address), or any other name, owned.
//!
//! Every object a request reads (the canonical body, the vendor's answer) names its members
//! with the names the mappings select and the contract declares. Reading such a name costs a
//! lookup in the table of known names instead of an allocation and a copy, dropping it costs
//! nothing, and a compiled selector ([`Key`]) finds it by comparing addresses, not bytes.
//!
//! Known names are never freed: they are the names written in the contract and in the mapping
//! files loaded since the start (a reload adds only the names it did not have), a few thousand
//! at most, whatever the requests carry. Names read from requests and answers are only looked
//! up, never added.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use arc_swap::ArcSwap;

/// An object member's name.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    /// A known name, the one copy [`intern`] keeps.
    Known(&'static str),
    Owned(String),
}

impl Name {
    /// `text` as the known name when it is one, else a copy (a reader of many names takes
    /// [`Names::current`] once instead).
    pub fn new(text: &str) -> Name {
        Names::current().name(text)
    }

    /// A name already interned (a [`Key`]'s text): no lookup.
    #[inline]
    pub fn known(key: Key) -> Name {
        Name(Repr::Known(key.0))
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(s) => s,
            Repr::Owned(s) => s,
        }
    }

    /// Whether this is `key`: by address when this name is known (a known name has one
    /// address), by bytes otherwise.
    #[inline]
    pub fn is(&self, key: Key) -> bool {
        match &self.0 {
            Repr::Known(s) => std::ptr::eq(s.as_ptr(), key.0.as_ptr()) && s.len() == key.0.len(),
            Repr::Owned(s) => s == key.0,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_known(&self) -> bool {
        matches!(self.0, Repr::Known(_))
    }
}

/// A name a compiled selector or template looks for: interned when the mapping was loaded, so
/// it is compared with a known [`Name`] by address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(&'static str);

impl Key {
    /// Interns `text` (at load: takes a lock).
    pub fn new(text: &str) -> Key {
        Key(intern(text))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Deref for Name {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Name {
    #[inline]
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl From<String> for Name {
    /// `text` itself, owned (not looked up: it is already made).
    fn from(text: String) -> Name {
        Name(Repr::Owned(text))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        match name.0 {
            Repr::Known(s) => s.to_owned(),
            Repr::Owned(s) => s,
        }
    }
}

type Table = HashSet<&'static str, NameHash>;

/// The hash of a table of names read only on the request path (the known names, the names a
/// mapping reads of an answer): a name's length and its first and last eight bytes, two loads
/// and one multiply. A request's names only probe such a table, never grow it, so names made
/// to collide cost a longer probe at most.
#[derive(Clone, Copy, Default, Debug)]
pub struct NameHash;

impl BuildHasher for NameHash {
    type Hasher = NameHasher;

    #[inline]
    fn build_hasher(&self) -> NameHasher {
        NameHasher(0)
    }
}

pub struct NameHasher(u64);

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 ^= head_hash(bytes);
    }

    /// `str`'s hash ends with a 0xff byte, which tells nothing here.
    #[inline]
    fn write_u8(&mut self, _: u8) {}

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[inline]
fn head_hash(b: &[u8]) -> u64 {
    let n = b.len();
    let word = |s: &[u8]| s.try_into().map_or(0, u64::from_le_bytes);
    let half = |s: &[u8]| s.try_into().map_or(0, |w| u64::from(u32::from_le_bytes(w)));
    let (first, last) = if n >= 8 {
        (word(&b[..8]), word(&b[n - 8..]))
    } else if n >= 4 {
        (half(&b[..4]), half(&b[n - 4..]))
    } else {
        (b.iter().rev().fold(0, |w, &c| (w << 8) | u64::from(c)), 0)
    };
    // A folded multiply (as foldhash's): every input bit reaches the high and low halves.
    let m = u128::from((first ^ 0x243f_6a88_85a3_08d3).wrapping_add(n as u64))
        * u128::from(last ^ 0x1319_8a2e_0370_7344);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The known names the readers see, swapped whole when names are published, so a reader
/// takes no lock.
static TABLE: LazyLock<ArcSwap<Table>> = LazyLock::new(|| ArcSwap::from_pointee(Table::default()));

/// The known names as they are now: a reader of a whole document takes it once.
pub struct Names(arc_swap::Guard<Arc<Table>>);

impl Names {
    #[inline]
    pub fn current() -> Names {
        Names(TABLE.load())
    }

    /// `text` as the known name when it is one, else a copy.
    #[inline]
    pub fn name(&self, text: &str) -> Name {
        match self.0.get(text).copied() {
            Some(known) => Name(Repr::Known(known)),
            None => Name(Repr::Owned(text.to_owned())),
        }
    }
}

/// The one copy of `text`, made (and kept for the life of the process) the first time. The
/// readers see it once [`publish`]ed; until then a name read with that text is owned, which
/// is slower but compares the same.
fn intern(text: &str) -> &'static str {
    if let Some(known) = TABLE.load().get(text) {
        return known;
    }
    let mut all = all_names();
    if let Some(known) = all.get(text) {
        return known;
    }
    let known: &'static str = Box::leak(text.to_owned().into_boxed_str());
    all.insert(known);
    known
}

/// Every name interned so far, published or not.
fn all_names() -> MutexGuard<'static, Table> {
    static ALL: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);
    // A poisoned lock only means another loader panicked; the set it guards is still whole.
    ALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands the names interned since the last call to the readers (one new table; called when a
/// mapping file has been compiled).
pub fn publish() {
    let all = all_names();
    if all.len() != TABLE.load().len() {
        TABLE.store(Arc::new(all.clone()));
    }
}

/// Interns every name in `names` and publishes them (the contract's names).
pub fn intern_all<'a>(names: impl IntoIterator<Item = &'a str>) {
    for text in names {
        intern(text);
    }
    publish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_found_by_address_and_others_are_owned() {
        let key = Key::new("name-test-known");
        publish();
        let read = Name::new("name-test-known");
        assert!(read.is_known());
        assert!(read.is(key));
        let other = Name::new("name-test-unknown");
        assert!(!other.is_known());
        assert!(!other.is(key));
        let made = Name::from("name-test-unknown".to_string());
        assert!(!made.is_known() && made.as_str() == "name-test-unknown");
        intern_all(["name-test-a", "name-test-b", "name-test-a"]);
        let names = Names::current();
        assert!(names.name("name-test-a").is_known() && names.name("name-test-b").is_known());
        // Interning twice gives the same copy.
        assert!(std::ptr::eq(Key::new("name-test-known").0, key.0));
        // An owned name equal to a key is that key.
        let owned = Name(Repr::Owned("name-test-known".into()));
        assert!(owned.is(key));
        assert_eq!(owned, read);
    }

    #[test]
    fn a_mappings_names_are_known_and_a_requests_never_are() {
        let mapping = "vendor: x\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: \"/o/${path.id}\" }\n    result: { name_test_written: $got.body.name_test_selected }\n";
        crate::engine::compile::compile_file("m.yaml", mapping).expect("compiles");
        let names = Names::current();
        assert!(names.name("name_test_selected").is_known());
        assert!(names.name("name_test_written").is_known());
        // Bodies only look names up: what they bring is never added.
        let json = bytes::Bytes::from_static(
            b"{\"name_test_from_a_request\": {\"name_test_selected\": 1}}",
        );
        let v = crate::codec::json::parse(&json).expect("JSON");
        let xml = bytes::Bytes::from_static(
            b"<name_test_from_xml><name_test_selected>1</name_test_selected></name_test_from_xml>",
        );
        crate::codec::xml::decode(&xml, &Default::default()).expect("XML");
        let all = all_names();
        assert!(!all.contains("name_test_from_a_request") && !all.contains("name_test_from_xml"));
        let inner = v.as_object().and_then(|m| m.iter().next()).expect("member");
        assert!(!inner.0.is_known());
        let read = inner
            .1
            .as_object()
            .and_then(|m| m.keys().next())
            .expect("name");
        assert!(read.is_known());
    }

    #[test]
    fn names_hash_apart() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "id",
            "sku",
            "qty",
            "name",
            "rate",
            "uom",
            "items",
            "status",
            "customer",
            "customer_name",
            "delivery_date",
            "transaction_date",
            "net_total",
            "grand_total",
            "total_taxes_and_charges",
            "discount_percentage",
            "item_code",
        ];
        let hashes: HashSet<u64> = names.iter().map(|n| NameHash.hash_one(n)).collect();
        assert_eq!(hashes.len(), names.len());
        // The same text hashes the same however it is held (the tables look a `&str` up).
        assert_eq!(
            NameHash.hash_one("status"),
            NameHash.hash_one(Key::new("status"))
        );
    }

    #[test]
    fn a_name_is_no_larger_than_a_string() {
        assert_eq!(std::mem::size_of::<Name>(), std::mem::size_of::<String>());
    }
}
