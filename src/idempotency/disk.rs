//! Keys in an embedded on-disk database (redb): one gateway, keys survive a restart.
//! A redb write transaction is exclusive, so claiming a key is atomic.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::{Begin, Policy, Record, StoreError, decide, in_flight, now_ms};

const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency_keys");

pub struct DiskStore {
    db: Arc<Database>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A record and the unix millisecond it expires at.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    record: Record,
    expires: u64,
}

impl DiskStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(KEYS).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(DiskStore { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(err)?
    }

    pub async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        policy: &Policy,
    ) -> Result<Begin, StoreError> {
        let (key, fingerprint, policy) = (key.to_string(), fingerprint.to_string(), policy.clone());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let begin = {
                let mut table = txn.open_table(KEYS).map_err(err)?;
                let now = now_ms();
                let existing: Option<Entry> = table
                    .get(key.as_str())
                    .map_err(err)?
                    .and_then(|v| serde_json::from_slice(v.value()).ok())
                    .filter(|e: &Entry| e.expires > now);
                let fresh = Entry {
                    record: in_flight(&fingerprint),
                    expires: now + policy.ttl.as_millis() as u64,
                };
                let (begin, claim) = match &existing {
                    None => (Begin::New, true),
                    Some(e) => decide(&e.record, &fingerprint, now, policy.stale_after),
                };
                if claim {
                    let bytes = serde_json::to_vec(&fresh).map_err(err)?;
                    table.insert(key.as_str(), bytes.as_slice()).map_err(err)?;
                }
                begin
            };
            txn.commit().map_err(err)?;
            Ok(begin)
        })
        .await
    }

    pub async fn put(&self, key: &str, record: &Record, policy: &Policy) -> Result<(), StoreError> {
        let entry = Entry {
            record: record.clone(),
            expires: now_ms() + policy.ttl.as_millis() as u64,
        };
        let bytes = serde_json::to_vec(&entry).map_err(err)?;
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut table = txn.open_table(KEYS).map_err(err)?;
                table.insert(key.as_str(), bytes.as_slice()).map_err(err)?;
            }
            txn.commit().map_err(err)
        })
        .await
    }

    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut table = txn.open_table(KEYS).map_err(err)?;
                table.remove(key.as_str()).map_err(err)?;
            }
            txn.commit().map_err(err)
        })
        .await
    }

    /// Reads a key (tests, diagnostics).
    pub fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(KEYS).map_err(err)?;
        Ok(table
            .get(key)
            .map_err(err)?
            .and_then(|v| serde_json::from_slice::<Entry>(v.value()).ok())
            .map(|e| e.record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::{State, StoredAnswer};

    #[tokio::test]
    async fn keys_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("og-redb-{}", std::process::id()));
        let path = dir.join("keys.redb");
        let p = Policy::default();
        {
            let s = DiskStore::open(&path).expect("open");
            assert_eq!(s.begin("k", "f", &p).await.expect("begin"), Begin::New);
            let answer = StoredAnswer {
                status: 201,
                content_type: "application/json".into(),
                body: "{}".into(),
                location: None,
            };
            let done = Record {
                state: State::Done,
                fingerprint: "f".into(),
                since: now_ms(),
                answer: Some(answer),
            };
            s.put("k", &done, &p).await.expect("put");
        }
        let s = DiskStore::open(&path).expect("reopen");
        assert!(matches!(
            s.begin("k", "f", &p).await.expect("begin"),
            Begin::Replay(_)
        ));
        assert_eq!(
            s.begin("k", "other", &p).await.expect("begin"),
            Begin::Mismatch
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
