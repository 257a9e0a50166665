//! Idempotency keys: the first outcome of a write is stored with a fingerprint of the
//! canonical request and replayed for the same key; the same key with another request, or
//! while the first is still running, is a conflict. Stores: process memory (default), an
//! embedded on-disk database (keys survive a restart), Redis (several replicas).
//!
//! A key's record moves `in_flight` -> `done` (an answer to replay) or `unknown` (the write
//! was sent and no answer came: the next attempt must find out before acting again). An
//! `in_flight` record older than `stale_after` (its gateway died) counts as `unknown`.

pub mod disk;
pub mod memory;
pub mod redis;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    InFlight,
    Done,
    Unknown,
}

/// What is kept under a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub state: State,
    pub fingerprint: String,
    /// Unix milliseconds when this state was written.
    pub since: u64,
    /// The answer to replay (`done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StoredAnswer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// The result of claiming a key.
#[derive(Debug, PartialEq)]
pub enum Begin {
    /// Nobody used the key: it is now ours (`in_flight`).
    New,
    /// The first request finished: replay its answer.
    Replay(StoredAnswer),
    /// The first request is still running.
    InFlight,
    /// The key was used for another request.
    Mismatch,
    /// The first attempt's outcome is unknown (or its gateway died): the key is now ours,
    /// and we must find out what happened before acting.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("idempotency store: {0}")]
    Backend(String),
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// How long a key is remembered.
    pub ttl: Duration,
    /// An `in_flight` record this old belongs to a gateway that died.
    pub stale_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ttl: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(120),
        }
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The decision for an existing record, the same for every store (Redis runs it in Lua).
/// Returns the outcome and whether the key is now claimed (to be rewritten `in_flight`).
pub fn decide(
    existing: &Record,
    fingerprint: &str,
    now: u64,
    stale_after: Duration,
) -> (Begin, bool) {
    if existing.fingerprint != fingerprint {
        return (Begin::Mismatch, false);
    }
    match existing.state {
        State::Done => match &existing.answer {
            Some(a) => (Begin::Replay(a.clone()), false),
            None => (Begin::Unknown, true),
        },
        State::Unknown => (Begin::Unknown, true),
        State::InFlight if now.saturating_sub(existing.since) >= stale_after.as_millis() as u64 => {
            (Begin::Unknown, true)
        }
        State::InFlight => (Begin::InFlight, false),
    }
}

pub fn in_flight(fingerprint: &str) -> Record {
    Record {
        state: State::InFlight,
        fingerprint: fingerprint.to_string(),
        since: now_ms(),
        answer: None,
    }
}

/// Where keys are kept.
pub enum Store {
    Memory(memory::MemoryStore),
    Disk(disk::DiskStore),
    Redis(redis::RedisStore),
}

impl Store {
    /// Claims `key` for a request with `fingerprint`.
    pub async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        policy: &Policy,
    ) -> Result<Begin, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.begin(key, fingerprint, policy)),
            Store::Disk(s) => s.begin(key, fingerprint, policy).await,
            Store::Redis(s) => s.begin(key, fingerprint, policy).await,
        }
    }

    /// Records the final answer (`done`) or an unknown outcome.
    pub async fn finish(
        &self,
        key: &str,
        record: &Record,
        policy: &Policy,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => {
                s.put(key, record, policy);
                Ok(())
            }
            Store::Disk(s) => s.put(key, record, policy).await,
            Store::Redis(s) => s.put(key, record, policy).await,
        }
    }

    /// Forgets a key whose request provably did nothing (it may be retried as new).
    pub async fn abandon(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => {
                s.remove(key);
                Ok(())
            }
            Store::Disk(s) => s.remove(key).await,
            Store::Redis(s) => s.remove(key).await,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Disk(_) => "disk",
            Store::Redis(_) => "redis",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: State, since: u64) -> Record {
        Record {
            state,
            fingerprint: "f".into(),
            since,
            answer: (state == State::Done).then(|| StoredAnswer {
                status: 201,
                content_type: "application/json".into(),
                body: "{}".into(),
                location: None,
            }),
        }
    }

    #[test]
    fn decisions() {
        let stale = Duration::from_secs(60);
        assert_eq!(
            decide(&rec(State::Done, 0), "g", 0, stale).0,
            Begin::Mismatch
        );
        assert!(matches!(
            decide(&rec(State::Done, 0), "f", 0, stale),
            (Begin::Replay(_), false)
        ));
        assert_eq!(
            decide(&rec(State::InFlight, 1000), "f", 2000, stale),
            (Begin::InFlight, false)
        );
        assert_eq!(
            decide(&rec(State::InFlight, 1000), "f", 61_000, stale),
            (Begin::Unknown, true)
        );
        assert_eq!(
            decide(&rec(State::Unknown, 0), "f", 0, stale),
            (Begin::Unknown, true)
        );
    }
}
