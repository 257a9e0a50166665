//! The login token of one connection: cached for its lifetime, renewed on expiry or when the
//! ERP refuses it. One login at a time per connection (concurrent requests wait for it).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::value::Value;
use tokio::sync::Mutex;

#[derive(Debug, Default)]
pub struct TokenCache {
    inner: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    token: Value,
    expires_at: Option<Instant>,
}

/// A token is renewed this long before it expires.
const EARLY_RENEWAL: Duration = Duration::from_secs(30);

impl TokenCache {
    /// The current token, logging in with `login` when there is none, it has expired, or it
    /// equals `refused` (the token the ERP just refused).
    pub async fn get<E, F, Fut>(&self, refused: Option<&Value>, login: F) -> Result<Value, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Value, Option<Duration>), E>>,
    {
        let mut guard = self.inner.lock().await;
        if let Some(c) = guard.as_ref() {
            let fresh = c
                .expires_at
                .is_none_or(|at| Instant::now() + EARLY_RENEWAL < at);
            let was_refused = refused.is_some_and(|r| *r == c.token);
            if fresh && !was_refused {
                return Ok(c.token.clone());
            }
        }
        let (mut token, lifetime) = login().await?;
        // Kept for the connection's life: its own texts, not places in the login's answer.
        token.detach();
        *guard = Some(Cached {
            token: token.clone(),
            expires_at: lifetime.map(|d| Instant::now() + d),
        });
        Ok(token)
    }

    /// Installs a token without a login (dry runs).
    pub async fn seed(&self, token: Value) {
        *self.inner.lock().await = Some(Cached {
            token,
            expires_at: None,
        });
    }

    pub async fn clear(&self) {
        *self.inner.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn logs_in_once_then_renews_when_refused() {
        let cache = TokenCache::default();
        let logins = AtomicUsize::new(0);
        let login = || async {
            let n = logins.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>((
                Value::from(format!("t{n}")),
                Some(Duration::from_secs(3600)),
            ))
        };
        let a = cache.get(None, login).await.expect("token");
        let b = cache.get(None, login).await.expect("token");
        assert_eq!(a, b);
        let c = cache.get(Some(&a), login).await.expect("token");
        assert_ne!(a, c);
        assert_eq!(logins.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expired_tokens_are_renewed() {
        let cache = TokenCache::default();
        let logins = AtomicUsize::new(0);
        let login = || async {
            logins.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>((Value::from("t"), Some(Duration::from_secs(1))))
        };
        cache.get(None, login).await.expect("token");
        cache.get(None, login).await.expect("token");
        assert_eq!(
            logins.load(Ordering::SeqCst),
            2,
            "a token inside the early-renewal window is renewed"
        );
    }
}
