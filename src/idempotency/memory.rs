//! Keys in process memory (the default): one gateway, keys lost on restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::{Begin, Policy, Record, decide, in_flight, now_ms};

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Record, Instant)>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Record, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn begin(&self, key: &str, fingerprint: &str, policy: &Policy) -> Begin {
        let mut map = self.lock();
        let now = Instant::now();
        if map.len() > 10_000 {
            map.retain(|_, (_, expires)| *expires > now);
        }
        match map.get(key).filter(|(_, expires)| *expires > now) {
            None => {
                map.insert(key.to_string(), (in_flight(fingerprint), now + policy.ttl));
                Begin::New
            }
            Some((existing, _)) => {
                let (begin, claim) = decide(existing, fingerprint, now_ms(), policy.stale_after);
                if claim {
                    map.insert(key.to_string(), (in_flight(fingerprint), now + policy.ttl));
                }
                begin
            }
        }
    }

    pub fn put(&self, key: &str, record: &Record, policy: &Policy) {
        self.lock().insert(
            key.to_string(),
            (record.clone(), Instant::now() + policy.ttl),
        );
    }

    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::{State, StoredAnswer};

    #[test]
    fn claim_replay_mismatch() {
        let s = MemoryStore::default();
        let p = Policy::default();
        assert_eq!(s.begin("k", "f", &p), Begin::New);
        assert_eq!(s.begin("k", "f", &p), Begin::InFlight);
        assert_eq!(s.begin("k", "g", &p), Begin::Mismatch);
        let answer = StoredAnswer {
            status: 201,
            content_type: "application/json".into(),
            body: "{\"id\":\"1\"}".into(),
            location: Some("/v1/orders/1".into()),
        };
        s.put(
            "k",
            &Record {
                state: State::Done,
                fingerprint: "f".into(),
                since: now_ms(),
                answer: Some(answer.clone()),
            },
            &p,
        );
        assert_eq!(s.begin("k", "f", &p), Begin::Replay(answer));
        s.remove("k");
        assert_eq!(s.begin("k", "g", &p), Begin::New);
    }
}
