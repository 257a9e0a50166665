//! Keys in Redis: several gateway replicas share them. Claiming a key is one Lua script, so
//! two replicas can never both own it.

use redis::aio::MultiplexedConnection;

use super::{Begin, Policy, Record, StoreError, in_flight, now_ms};

/// Claims KEYS[1] for fingerprint ARGV[2]; ARGV[1] is the in-flight record, ARGV[3] the TTL
/// (ms), ARGV[4] now (ms), ARGV[5] the staleness limit (ms). Returns the previous record, or
/// nil when the key was free; the caller reads the decision from it (and the script already
/// claimed the key when the decision claims it).
const BEGIN: &str = r#"
local old = redis.call('GET', KEYS[1])
if not old then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return false
end
local r = cjson.decode(old)
if r.fingerprint == ARGV[2] then
  local stale = r.state == 'in_flight' and (tonumber(ARGV[4]) - r.since) >= tonumber(ARGV[5])
  local empty_done = r.state == 'done' and (r.answer == nil or r.answer == cjson.null)
  if r.state == 'unknown' or stale or empty_done then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  end
end
return old
"#;

pub struct RedisStore {
    conn: MultiplexedConnection,
    prefix: String,
    script: redis::Script,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedisStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(err)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(err)?;
        Ok(RedisStore {
            conn,
            prefix: "ordergate:idempotency:".into(),
            script: redis::Script::new(BEGIN),
        })
    }

    pub async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        policy: &Policy,
    ) -> Result<Begin, StoreError> {
        let fresh = serde_json::to_string(&in_flight(fingerprint)).map_err(err)?;
        let mut conn = self.conn.clone();
        let old: Option<String> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(fresh)
            .arg(fingerprint)
            .arg(policy.ttl.as_millis() as u64)
            .arg(now_ms())
            .arg(policy.stale_after.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(err)?;
        let Some(old) = old else {
            return Ok(Begin::New);
        };
        let record: Record = serde_json::from_str(&old).map_err(err)?;
        Ok(super::decide(&record, fingerprint, now_ms(), policy.stale_after).0)
    }

    pub async fn put(&self, key: &str, record: &Record, policy: &Policy) -> Result<(), StoreError> {
        let text = serde_json::to_string(record).map_err(err)?;
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(format!("{}{key}", self.prefix))
            .arg(text)
            .arg("PX")
            .arg(policy.ttl.as_millis() as u64)
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(format!("{}{key}", self.prefix))
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }
}
