//! Which parts of a JSON answer to build: a projection, worked out from a mapping at load
//! (`engine::reads`) and applied by the JSON decoder (`json::decode_needed`).

use std::collections::HashMap;

use crate::value::{Key, NameHash};

/// Key lookups happen once per key of every answer: a fast hash of names (keys come from the
/// mapping, the table is only read per request). The keys are interned: a key read is named
/// by the mapping's copy, not a new one.
pub type Keys = HashMap<Key, Need, NameHash>;

/// What of one vendor answer a mapping reads: the parts of its body, and whether any template
/// can read its headers or its cookies (each read answer is otherwise built with both empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerNeed {
    pub body: Need,
    pub headers: bool,
    pub cookies: bool,
}

impl AnswerNeed {
    /// The whole answer.
    pub fn whole() -> AnswerNeed {
        AnswerNeed {
            body: Need::All,
            headers: true,
            cookies: true,
        }
    }

    /// Nothing of it (what the walk over a mapping starts from).
    pub fn nothing() -> AnswerNeed {
        AnswerNeed {
            body: Need::Fields(Keys::default()),
            headers: false,
            cookies: false,
        }
    }
}

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
                .entry(Key::new(first))
                .or_insert_with(|| Need::Fields(Keys::default()))
                .mark(rest, whole),
        }
    }
}
