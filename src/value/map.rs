//! A JSON object: its members in the order they were written, found by name.
//!
//! Most objects a gateway sees are small (an order line, an address, an ERP's answer projected
//! to the keys a mapping reads): up to [`SMALL`] members sit in a vector and are found by
//! comparing names, which costs less than hashing them. A larger object moves to an
//! insertion-ordered hash map (indexmap, seeded foldhash), so however large or hostile the
//! object, a lookup or an insert costs at most 32 name comparisons or one hash probe.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use indexmap::IndexMap;

use super::Value;
use super::name::{Key, Name};

/// Where a name was last found in an object (see [`Map::get_hinted`]); shared by the threads
/// that run one compiled selector, so only a hint: any value is safe, a wrong one costs a search.
#[derive(Debug, Default)]
pub struct Hint(AtomicU32);

impl Clone for Hint {
    fn clone(&self) -> Hint {
        Hint(AtomicU32::new(self.0.load(Ordering::Relaxed)))
    }
}

/// Members kept in a plain vector, found by comparing names.
const SMALL: usize = 32;

type Large = IndexMap<Name, Value, foldhash::fast::RandomState>;

#[derive(Clone)]
pub struct Map(Repr);

#[derive(Clone)]
enum Repr {
    Small(Vec<(Name, Value)>),
    Large(Box<Large>),
}

impl Default for Map {
    fn default() -> Self {
        Map::new()
    }
}

impl Map {
    pub fn new() -> Map {
        Map(Repr::Small(Vec::new()))
    }

    pub fn with_capacity(n: usize) -> Map {
        if n <= SMALL {
            Map(Repr::Small(Vec::with_capacity(n)))
        } else {
            Map(Repr::Large(Box::new(Large::with_capacity_and_hasher(
                n,
                Default::default(),
            ))))
        }
    }

    /// The members `members`, whose names the caller knows are distinct (a decoder that
    /// gathered them), in their order; the vector becomes the map when it is small. Debug
    /// builds check that the names are distinct.
    pub fn from_unique(members: Vec<(Name, Value)>) -> Map {
        debug_assert!(
            {
                let mut names = std::collections::HashSet::with_capacity(members.len());
                members.iter().all(|(k, _)| names.insert(k.as_str()))
            },
            "repeated names"
        );
        if members.len() <= SMALL {
            return Map(Repr::Small(members));
        }
        let mut large = Large::with_capacity_and_hasher(members.len(), Default::default());
        large.extend(members);
        Map(Repr::Large(Box::new(large)))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.0 {
            Repr::Small(v) => v.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Repr::Large(m) => m.get(key),
        }
    }

    /// `get`, trying first the member where `hint` says the name was found last time: objects
    /// of one kind (a vendor's documents, canonical lines) keep their members in one order, so
    /// a compiled selector's step mostly finds its name with one comparison.
    /// The name is a [`Key`]: a known name in the object is compared by address.
    pub fn get_hinted(&self, key: Key, hint: &Hint) -> Option<&Value> {
        match &self.0 {
            Repr::Small(v) => {
                let at = hint.0.load(Ordering::Relaxed) as usize;
                if let Some((k, value)) = v.get(at)
                    && k.is(key)
                {
                    return Some(value);
                }
                let at = v.iter().position(|(k, _)| k.is(key))?;
                // At most SMALL: fits.
                hint.0.store(at as u32, Ordering::Relaxed);
                Some(&v[at].1)
            }
            // The same guess first in a large map: its members keep their places too.
            Repr::Large(m) => {
                let at = hint.0.load(Ordering::Relaxed) as usize;
                if let Some((k, value)) = m.get_index(at)
                    && k.is(key)
                {
                    return Some(value);
                }
                let (at, _, value) = m.get_full(key.as_str())?;
                // A map of more than 4 billion members is no order's: its hint is left alone.
                if let Ok(at) = u32::try_from(at) {
                    hint.0.store(at, Ordering::Relaxed);
                }
                Some(value)
            }
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match &mut self.0 {
            Repr::Small(v) => v.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            Repr::Large(m) => m.get_mut(key),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; a key already present keeps its place and yields its old value.
    pub fn insert(&mut self, key: impl Into<Name>, value: Value) -> Option<Value> {
        let key = key.into();
        match &mut self.0 {
            Repr::Small(v) => {
                if let Some((_, slot)) = v.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(slot, value));
                }
                if v.len() < SMALL {
                    v.push((key, value));
                    return None;
                }
                let mut large = Large::with_capacity_and_hasher(v.len() * 2, Default::default());
                large.extend(v.drain(..));
                large.insert(key, value);
                self.0 = Repr::Large(Box::new(large));
                None
            }
            Repr::Large(m) => m.insert(key, value),
        }
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => {
                let at = v.iter().position(|(k, _)| k == key)?;
                Some(v.remove(at).1)
            }
            Repr::Large(m) => m.shift_remove(key),
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Name, &mut Value) -> bool) {
        match &mut self.0 {
            Repr::Small(v) => v.retain_mut(|(k, v)| keep(k, v)),
            Repr::Large(m) => m.retain(|k, v| keep(k, v)),
        }
    }

    /// Moves every member of `other` into this map (a key present in both takes `other`'s value).
    pub fn append(&mut self, other: &mut Map) {
        let taken = std::mem::take(other);
        self.extend(taken);
    }

    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Small(v) => Iter(IterRepr::Small(v.iter())),
            Repr::Large(m) => Iter(IterRepr::Large(m.iter())),
        }
    }

    pub fn iter_mut(&mut self) -> IterMut<'_> {
        match &mut self.0 {
            Repr::Small(v) => IterMut(IterMutRepr::Small(v.iter_mut())),
            Repr::Large(m) => IterMut(IterMutRepr::Large(m.iter_mut())),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &Name> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.iter().map(|(_, v)| v)
    }
}

pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Small(std::slice::Iter<'a, (Name, Value)>),
    Large(indexmap::map::Iter<'a, Name, Value>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Name, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Small(it) => it.next().map(|(k, v)| (k, v)),
            IterRepr::Large(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::Small(it) => it.size_hint(),
            IterRepr::Large(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

pub struct IterMut<'a>(IterMutRepr<'a>);

enum IterMutRepr<'a> {
    Small(std::slice::IterMut<'a, (Name, Value)>),
    Large(indexmap::map::IterMut<'a, Name, Value>),
}

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a Name, &'a mut Value);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterMutRepr::Small(it) => it.next().map(|(k, v)| (&*k, v)),
            IterMutRepr::Large(it) => it.next(),
        }
    }
}

pub struct IntoIter(IntoIterRepr);

enum IntoIterRepr {
    Small(std::vec::IntoIter<(Name, Value)>),
    Large(indexmap::map::IntoIter<Name, Value>),
}

impl Iterator for IntoIter {
    type Item = (Name, Value);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IntoIterRepr::Small(it) => it.next(),
            IntoIterRepr::Large(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterRepr::Small(it) => it.size_hint(),
            IntoIterRepr::Large(it) => it.size_hint(),
        }
    }
}

impl IntoIterator for Map {
    type Item = (Name, Value);
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        match self.0 {
            Repr::Small(v) => IntoIter(IntoIterRepr::Small(v.into_iter())),
            Repr::Large(m) => IntoIter(IntoIterRepr::Large(m.into_iter())),
        }
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Name, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a Name, &'a mut Value);
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl<K: Into<Name>> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, items: I) {
        for (k, v) in items {
            self.insert(k, v);
        }
    }
}

impl<K: Into<Name>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(items: I) -> Map {
        let items = items.into_iter();
        let mut map = Map::with_capacity(items.size_hint().0);
        map.extend(items);
        map
    }
}

/// `map["key"]`: panics when the key is absent (as serde_json); for tests.
impl std::ops::Index<&str> for Map {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key)
            .unwrap_or_else(|| panic!("no member `{key}` in the object"))
    }
}

/// Objects are equal when they hold the same members, whatever their order (as in JSON).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for Map {}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: usize) -> Value {
        Value::from(i as u64)
    }

    #[test]
    fn hinted_lookups_find_what_get_finds() {
        let hint = Hint::default();
        for size in [0, 1, 5, SMALL, SMALL + 3] {
            let map: Map = (0..size).map(|i| (format!("k{i}"), n(i))).collect();
            for i in (0..size + 2).rev() {
                let key = format!("k{i}");
                // Twice: the second finds it where the first left the hint.
                assert_eq!(
                    map.get_hinted(Key::new(&key), &hint),
                    map.get(&key),
                    "{key} of {size}"
                );
                assert_eq!(
                    map.get_hinted(Key::new(&key), &hint),
                    map.get(&key),
                    "{key} of {size}"
                );
            }
        }
        // Any hint is safe, however far out.
        let far = Hint(AtomicU32::new(u32::MAX));
        let map: Map = [("a".to_string(), n(1))].into_iter().collect();
        assert_eq!(map.get_hinted(Key::new("a"), &far), Some(&n(1)));
        let large: Map = (0..2 * SMALL).map(|i| (format!("k{i}"), n(i))).collect();
        assert_eq!(large.get_hinted(Key::new("k40"), &far), Some(&n(40)));
        assert_eq!(far.0.load(Ordering::Relaxed), 40, "left where it was found");
    }

    #[test]
    fn known_and_owned_names_are_found_by_a_key() {
        let key = Key::new("map-test-known");
        let hint = Hint::default();
        // Read as the decoders read names: the known copy; and made by the engine: owned.
        let read: Map = [(Name::new("x"), n(0)), (Name::new("map-test-known"), n(1))]
            .into_iter()
            .collect();
        let made: Map = [
            ("x".to_string(), n(0)),
            ("map-test-known".to_string(), n(1)),
        ]
        .into_iter()
        .collect();
        for map in [&read, &made] {
            assert_eq!(map.get_hinted(key, &hint), Some(&n(1)));
            assert_eq!(map.get_hinted(key, &hint), Some(&n(1)));
            assert_eq!(map.get_hinted(Key::new("map-test-absent"), &hint), None);
        }
        assert_eq!(read, made);
    }

    #[test]
    fn members_keep_their_order_small_and_large() {
        for count in [3, SMALL, SMALL + 1, 200] {
            let mut m = Map::new();
            for i in (0..count).rev() {
                m.insert(format!("k{i}"), n(i));
            }
            // Re-inserting keeps the place and returns the old value.
            assert_eq!(m.insert("k0", n(1000)), Some(n(0)));
            let keys: Vec<&Name> = m.keys().collect();
            assert_eq!(keys.len(), count);
            assert_eq!(keys[0], &format!("k{}", count - 1));
            assert_eq!(keys[count - 1], "k0");
            assert_eq!(m.get("k0"), Some(&n(1000)));
            assert_eq!(m.get("missing"), None);
            // Removing keeps the others' order.
            assert_eq!(m.remove(&format!("k{}", count - 1)), Some(n(count - 1)));
            let first = format!("k{}", count - 2);
            assert_eq!(m.keys().next().map(|k| k.as_str()), Some(first.as_str()));
            assert_eq!(m.len(), count - 1);
        }
    }

    #[test]
    fn equality_ignores_order() {
        let a: Map = [("a".to_string(), n(1)), ("b".to_string(), n(2))]
            .into_iter()
            .collect();
        let b: Map = [("b".to_string(), n(2)), ("a".to_string(), n(1))]
            .into_iter()
            .collect();
        assert_eq!(a, b);
        let c: Map = [("a".to_string(), n(1))].into_iter().collect();
        assert_ne!(a, c);
    }

    #[test]
    fn retain_append_and_iter_mut() {
        let mut a: Map = (0..20).map(|i| (format!("k{i}"), n(i))).collect();
        a.retain(|k, _| k.ends_with('1'));
        assert_eq!(a.keys().cloned().collect::<Vec<_>>(), ["k1", "k11"]);
        let mut b: Map = [("k1".to_string(), n(9)), ("z".to_string(), n(0))]
            .into_iter()
            .collect();
        a.append(&mut b);
        assert!(b.is_empty());
        assert_eq!(a.get("k1"), Some(&n(9)));
        for (_, v) in a.iter_mut() {
            *v = Value::Null;
        }
        assert!(a.values().all(|v| v.is_null()));
    }
}
