//! Which parts of a JSON answer to build: a projection, worked out from a mapping at load
//! (`engine::reads`) and applied by the JSON decoder (`json::decode_needed`).

use std::collections::HashMap;

/// Key lookups happen once per key of every answer: a fast hash (keys come from the mapping).
pub type Keys = HashMap<String, Need, foldhash::fast::FixedState>;

/// The part of a JSON value a mapping reads. Arrays are transparent: a need applies to each
/// element. Scalars are always kept whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Need {
    /// The whole value.
    #[default]
    All,
    /// Of an object, only these keys (each with its own need); nothing else.
    Fields(Keys),
}

impl Need {
    /// The need of `key` below this one: `None` when the key is not read.
    pub fn field(&self, key: &str) -> Option<&Need> {
        match self {
            Need::All => Some(&Need::All),
            Need::Fields(keys) => keys.get(key),
        }
    }

    /// Marks `path` as read: its end whole when `whole`, else only as far as the path goes.
    pub fn mark(&mut self, path: &[String], whole: bool) {
        let Need::Fields(keys) = self else { return };
        match path.split_first() {
            None => {
                if whole {
                    *self = Need::All;
                }
            }
            Some((first, rest)) => keys
                .entry(first.clone())
                .or_insert_with(|| Need::Fields(Keys::default()))
                .mark(rest, whole),
        }
    }
}
