//! Client authentication of the public API: API keys (kept as SHA-256 hashes, compared in
//! constant time), each allowed a set of connections and operations.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::canonical::operation::Operation;
use crate::canonical::problem::{ErrorCode, Problem};
use crate::config::file::{ApiKey, Clients};

const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// Who is calling: `Ok(None)` when no authentication is configured.
pub fn authenticate<'a>(
    clients: &'a Clients,
    headers: &HeaderMap,
) -> Result<Option<&'a ApiKey>, Problem> {
    let Clients::ApiKeys(keys) = clients else {
        return Ok(None);
    };
    let presented = headers
        .get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::Unauthorized,
                "send an API key: `Authorization: Bearer <key>` or `X-Api-Key: <key>`",
            )
        })?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Every key is compared, so the time taken says nothing about which one matched.
    let mut found = None;
    for k in keys {
        if bool::from(k.sha256.ct_eq(&digest)) {
            found = Some(k);
        }
    }
    found
        .map(Some)
        .ok_or_else(|| Problem::new(ErrorCode::Unauthorized, "unknown API key"))
}

/// Whether `key` may run `op` on `connection`.
pub fn authorize(key: Option<&ApiKey>, connection: &str, op: Operation) -> Result<(), Problem> {
    let Some(k) = key else { return Ok(()) };
    let conn_ok = k
        .connections
        .as_ref()
        .is_none_or(|c| c.iter().any(|c| c == connection));
    let op_ok = k
        .operations
        .as_ref()
        .is_none_or(|o| o.iter().any(|o| o == op.name()));
    if conn_ok && op_ok {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::Forbidden,
            format!(
                "the API key `{}` may not run {op} on connection `{connection}`",
                k.name
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Clients {
        Clients::ApiKeys(vec![ApiKey {
            name: "shop".into(),
            sha256: Sha256::digest(b"0123456789abcdef-shop").into(),
            connections: Some(vec!["erp-a".into()]),
            operations: None,
        }])
    }

    #[test]
    fn keys_are_checked() {
        let c = keys();
        let mut h = HeaderMap::new();
        assert_eq!(
            authenticate(&c, &h).err().map(|p| p.code),
            Some(ErrorCode::Unauthorized)
        );
        h.insert("authorization", "Bearer wrong".parse().expect("h"));
        assert_eq!(
            authenticate(&c, &h).err().map(|p| p.code),
            Some(ErrorCode::Unauthorized)
        );
        h.insert(
            "authorization",
            "Bearer 0123456789abcdef-shop".parse().expect("h"),
        );
        let k = authenticate(&c, &h).expect("known").expect("a key");
        assert!(authorize(Some(k), "erp-a", Operation::CreateOrder).is_ok());
        assert_eq!(
            authorize(Some(k), "erp-b", Operation::CreateOrder)
                .err()
                .map(|p| p.code),
            Some(ErrorCode::Forbidden)
        );
        assert!(
            authenticate(&Clients::Open, &HeaderMap::new())
                .expect("open")
                .is_none()
        );
    }
}
