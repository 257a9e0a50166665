//! The config file (`ordergate.yaml`): listen address, limits, where the mappings are, and the
//! connections. Parsed from YAML with lines; every error names `file:line`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::value::{Map, Value};

use super::secrets;
use crate::yaml::{self, LocError, Node, NodeKind};

#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: String,
    /// Folder that relative paths are read from.
    pub base_dir: PathBuf,
    pub listen: Option<String>,
    /// The admin listener (metrics, health, reload).
    pub admin: Option<String>,
    pub default_connection: Option<String>,
    /// Mapping files or folders of mapping files.
    pub mappings: Vec<PathBuf>,
    pub limits: Limits,
    pub idempotency: IdempotencyConfig,
    pub clients: Clients,
    /// TLS on the public listener: certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub connections: Vec<ConnectionConfig>,
}

/// Where idempotency keys are kept.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyStore {
    Memory,
    Disk(PathBuf),
    Redis(String),
}

/// Who may call the public API.
#[derive(Debug, Clone, PartialEq)]
pub enum Clients {
    /// No `clients:` section: allowed only on a loopback listener.
    Unset,
    /// `mode: open`: every client is trusted (a localhost sidecar); explicit.
    Open,
    /// `mode: api_keys`.
    ApiKeys(Vec<ApiKey>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub name: String,
    /// SHA-256 of the key; the key itself is never kept.
    pub sha256: [u8; 32],
    /// None: every connection.
    pub connections: Option<Vec<String>>,
    /// None: every operation.
    pub operations: Option<Vec<String>>,
}

/// `clients: { mode: api_keys, keys: [{ name, key | sha256, connections, operations }] }`
fn clients(
    node: &Node,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Clients, LocError> {
    use sha2::{Digest, Sha256};
    for (k, _) in node.as_map().unwrap_or_default() {
        if !["mode", "keys"].contains(&k.name.as_str()) {
            return Err(LocError::new(
                &k.loc,
                format!("unknown key `{}`; expected mode or keys", k.name),
            ));
        }
    }
    match node.get("mode").and_then(Node::as_str) {
        Some("open") => return Ok(Clients::Open),
        Some("api_keys") => {}
        _ => {
            return Err(
                node.err("`clients:` needs `mode: api_keys` (with `keys:`) or `mode: open`")
            );
        }
    }
    let Some(NodeKind::Seq(items)) = node.get("keys").map(|k| &k.kind) else {
        return Err(node.err("`mode: api_keys` needs `keys:`, a list of { name, key or sha256, connections, operations }"));
    };
    let mut keys = Vec::new();
    for item in items {
        let name = item
            .get("name")
            .and_then(Node::as_str)
            .ok_or_else(|| item.err("a key needs `name:`"))?
            .to_string();
        let sha256: [u8; 32] = match (item.get("key"), item.get("sha256")) {
            (Some(k), None) => {
                let Value::String(secret) = resolve_value(k, base_dir, env)? else {
                    return Err(k.err("`key:` is a string, e.g. ${STOREFRONT_KEY}"));
                };
                if secret.len() < 16 {
                    return Err(k.err(format!("the key of `{name}` is shorter than 16 characters")));
                }
                Sha256::digest(secret.as_bytes()).into()
            }
            (None, Some(h)) => {
                let hex = h.as_str().unwrap_or_default();
                let bytes: Option<Vec<u8>> = (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                    })
                    .collect();
                bytes
                    .filter(|b| b.len() == 32)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| h.err("`sha256:` is 64 hex digits"))?
            }
            _ => {
                return Err(
                    item.err("a key has `key:` (from ${ENV} or ${file:..}) or `sha256:`, not both")
                );
            }
        };
        let list = |key: &str| -> Result<Option<Vec<String>>, LocError> {
            match item.get(key) {
                None => Ok(None),
                Some(n) => match n.to_json() {
                    Value::Array(a) if a.iter().any(|v| v == "*") => Ok(None),
                    Value::Array(a) => Ok(Some(
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                    )),
                    _ => Err(n.err(format!("`{key}:` is a list (or [\"*\"])"))),
                },
            }
        };
        keys.push(ApiKey {
            name,
            sha256,
            connections: list("connections")?,
            operations: list("operations")?,
        });
    }
    Ok(Clients::ApiKeys(keys))
}

#[derive(Debug, Clone)]
pub struct IdempotencyConfig {
    pub store: IdempotencyStore,
    pub ttl: Duration,
    pub stale_after: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            store: IdempotencyStore::Memory,
            ttl: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    /// Request line and headers together (431 above).
    pub max_header_bytes: usize,
    /// A client that has not sent its whole header by then is disconnected.
    pub header_read_timeout: Duration,
    /// A request body that has not fully arrived by then is answered 408.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub name: String,
    pub line: usize,
    pub vendor: String,
    pub base_url: String,
    pub secrets: Map,
    pub settings: Map,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub resilience: crate::upstream::resilience::ResilienceOptions,
}

const TOP: &[&str] = &[
    "listen",
    "admin",
    "default_connection",
    "mappings",
    "limits",
    "idempotency",
    "clients",
    "tls",
    "connections",
];
const CONN: &[&str] = &[
    "vendor",
    "base_url",
    "secrets",
    "settings",
    "timeouts",
    "resilience",
];

/// Parses config text; `env` resolves `${VAR}` references.
pub fn parse(
    name: &str,
    text: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConfigFile, Vec<LocError>> {
    let root = yaml::parse(name, text).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let Some(entries) = root.as_map() else {
        return Err(vec![
            root.err("the config is a YAML mapping (listen:, connections:, ...)"),
        ]);
    };
    for (k, _) in entries {
        if !TOP.contains(&k.name.as_str()) {
            errors.push(LocError::new(
                &k.loc,
                format!(
                    "unknown key `{}`; expected one of: {}",
                    k.name,
                    TOP.join(", ")
                ),
            ));
        }
    }
    let text_of = |key: &str, errors: &mut Vec<LocError>| -> Option<String> {
        let n = root.get(key)?;
        match n.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                errors.push(n.err(format!("`{key}` must be a string")));
                None
            }
        }
    };
    let listen = text_of("listen", &mut errors);
    let admin = text_of("admin", &mut errors);
    // The sidecar case: the environment may name the default connection.
    let default_connection = env("ORDERGATE_DEFAULT_CONNECTION")
        .filter(|v| !v.is_empty())
        .or_else(|| text_of("default_connection", &mut errors));
    let mappings = match root.get("mappings") {
        None => vec![base_dir.join("mappings")],
        Some(n) => match &n.kind {
            NodeKind::Str(s) => vec![base_dir.join(s)],
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| match i.as_str() {
                    Some(s) => Some(base_dir.join(s)),
                    None => {
                        errors.push(i.err("a mappings entry is a path"));
                        None
                    }
                })
                .collect(),
            _ => {
                errors.push(n.err("`mappings:` is a path or a list of paths (files or folders)"));
                Vec::new()
            }
        },
    };
    let mut limits = Limits::default();
    if let Some(l) = root.get("limits") {
        for (k, v) in l.as_map().unwrap_or_default() {
            let n = v.to_json().as_u64();
            match (k.name.as_str(), n) {
                ("max_body_bytes", Some(n)) => limits.max_body_bytes = n as usize,
                ("max_response_bytes", Some(n)) => limits.max_response_bytes = n as usize,
                ("max_header_bytes", Some(n)) => limits.max_header_bytes = (n as usize).max(8192),
                ("header_read_timeout", _) => match duration(v) {
                    Ok(d) => limits.header_read_timeout = d,
                    Err(e) => errors.push(e),
                },
                ("body_read_timeout", _) => match duration(v) {
                    Ok(d) => limits.body_read_timeout = d,
                    Err(e) => errors.push(e),
                },
                _ => errors.push(LocError::new(
                    &k.loc,
                    format!(
                        "`{}`: expected max_body_bytes, max_response_bytes or max_header_bytes (whole numbers) or header_read_timeout (a duration)",
                        k.name
                    ),
                )),
            }
        }
    }
    let idempotency = match root.get("idempotency") {
        None => IdempotencyConfig::default(),
        Some(n) => idempotency(n, base_dir, env).unwrap_or_else(|e| {
            errors.push(e);
            IdempotencyConfig::default()
        }),
    };
    let clients = match root.get("clients") {
        None => Clients::Unset,
        Some(n) => clients(n, base_dir, env).unwrap_or_else(|e| {
            errors.push(e);
            Clients::Unset
        }),
    };
    let tls = match root.get("tls") {
        None => None,
        Some(n) => {
            let mut path = |key: &str| match n.get(key).and_then(Node::as_str) {
                Some(p) => Some(base_dir.join(p)),
                None => {
                    errors.push(n.err(format!("`tls:` needs `{key}:` (a PEM file)")));
                    None
                }
            };
            match (path("cert"), path("key")) {
                (Some(c), Some(k)) => Some((c, k)),
                _ => None,
            }
        }
    };
    let mut connections = Vec::new();
    match root.get("connections") {
        None => errors
            .push(root.err("missing `connections:` (name -> vendor, base_url, secrets, settings)")),
        Some(c) => match c.as_map() {
            None => errors.push(c.err("`connections:` maps connection names to their settings")),
            Some(conns) => {
                for (k, v) in conns {
                    if !valid_name(&k.name) {
                        errors.push(LocError::new(
                            &k.loc,
                            format!(
                                "connection name `{}`: use 1-64 letters, digits, - or _",
                                k.name
                            ),
                        ));
                        continue;
                    }
                    match connection(&k.name, v, base_dir, env) {
                        Ok(c) => connections.push(c),
                        Err(e) => errors.extend(e),
                    }
                }
            }
        },
    }
    if let Some(d) = &default_connection
        && !connections.iter().any(|c| &c.name == d)
    {
        let line = root
            .get("default_connection")
            .map(|n| n.loc.clone())
            .unwrap_or(root.loc.clone());
        errors.push(LocError::new(
            &line,
            format!("default_connection `{d}` is not one of the connections"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConfigFile {
        path: name.to_string(),
        base_dir: base_dir.to_path_buf(),
        listen,
        admin,
        default_connection,
        mappings,
        limits,
        idempotency,
        clients,
        tls,
        connections,
    })
}

/// `idempotency: { store: memory | disk | redis, path: keys.redb, url: redis://..., ttl: 24h }`
fn idempotency(
    node: &Node,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<IdempotencyConfig, LocError> {
    let mut c = IdempotencyConfig::default();
    for (k, _) in node.as_map().unwrap_or_default() {
        if !["store", "path", "url", "ttl", "stale_after"].contains(&k.name.as_str()) {
            return Err(LocError::new(
                &k.loc,
                format!(
                    "unknown key `{}`; expected store, path, url, ttl or stale_after",
                    k.name
                ),
            ));
        }
    }
    let text = |key: &str| -> Result<Option<String>, LocError> {
        match node.get(key) {
            None => Ok(None),
            Some(n) => match resolve_value(n, base_dir, env)? {
                Value::String(s) => Ok(Some(s.into_string())),
                _ => Err(n.err(format!("`{key}` is a string"))),
            },
        }
    };
    c.store = match text("store")?.as_deref() {
        None | Some("memory") => IdempotencyStore::Memory,
        Some("disk") => IdempotencyStore::Disk(
            base_dir.join(text("path")?.unwrap_or_else(|| "ordergate-keys.redb".into())),
        ),
        Some("redis") => IdempotencyStore::Redis(
            text("url")?
                .ok_or_else(|| node.err("`store: redis` needs `url:` (redis://host:6379)"))?,
        ),
        Some(other) => {
            return Err(node.err(format!(
                "unknown idempotency store `{other}`; expected memory, disk or redis"
            )));
        }
    };
    if let Some(t) = node.get("ttl") {
        c.ttl = duration(t)?;
    }
    if let Some(t) = node.get("stale_after") {
        c.stale_after = duration(t)?;
    }
    Ok(c)
}

pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn connection(
    name: &str,
    node: &Node,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectionConfig, Vec<LocError>> {
    let mut errors = Vec::new();
    for (k, _) in node.as_map().unwrap_or_default() {
        if !CONN.contains(&k.name.as_str()) {
            errors.push(LocError::new(
                &k.loc,
                format!(
                    "unknown key `{}`; expected one of: {}",
                    k.name,
                    CONN.join(", ")
                ),
            ));
        }
    }
    let resolve = |n: &Node, errors: &mut Vec<LocError>| -> Value {
        resolve_value(n, base_dir, env).unwrap_or_else(|e| {
            errors.push(e);
            Value::Null
        })
    };
    let vendor = node
        .get("vendor")
        .and_then(|n| n.as_str().map(str::to_string));
    if vendor.is_none() {
        errors.push(node.err(format!(
            "connection `{name}` needs `vendor:` (the `vendor:` of a mapping file)"
        )));
    }
    let base_url = match node.get("base_url") {
        Some(n) => resolve(n, &mut errors).as_str().map(str::to_string),
        None => None,
    };
    if base_url.is_none() {
        errors.push(node.err(format!(
            "connection `{name}` needs `base_url:` (http:// or https://)"
        )));
    }
    let object = |key: &str, errors: &mut Vec<LocError>| -> Map {
        match node.get(key) {
            None => Map::new(),
            Some(n) => match resolve(n, errors) {
                Value::Object(m) => m,
                Value::Null => Map::new(),
                _ => {
                    errors.push(n.err(format!("`{key}:` maps names to values")));
                    Map::new()
                }
            },
        }
    };
    let secrets = object("secrets", &mut errors);
    let settings = object("settings", &mut errors);
    let mut connect_timeout = Duration::from_secs(5);
    let mut request_timeout = Duration::from_secs(30);
    if let Some(t) = node.get("timeouts") {
        for (k, v) in t.as_map().unwrap_or_default() {
            match (k.name.as_str(), duration(v)) {
                ("connect", Ok(d)) => connect_timeout = d,
                ("request", Ok(d)) => request_timeout = d,
                (_, Err(e)) => errors.push(e),
                (other, _) => errors.push(LocError::new(
                    &k.loc,
                    format!("unknown timeout `{other}`; expected connect or request"),
                )),
            }
        }
    }
    let resilience = match node.get("resilience") {
        None => Default::default(),
        Some(r) => resilience(r).unwrap_or_else(|e| {
            errors.push(e);
            Default::default()
        }),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConnectionConfig {
        resilience,
        name: name.to_string(),
        line: node.loc.line,
        vendor: vendor.unwrap_or_default(),
        base_url: base_url.unwrap_or_default(),
        secrets,
        settings,
        connect_timeout,
        request_timeout,
    })
}

/// `resilience: { retries, backoff, backoff_max, retry_budget_percent, max_concurrency,
/// queue_timeout, rate_limit, circuit_failures, circuit_open_for }`
fn resilience(node: &Node) -> Result<crate::upstream::resilience::ResilienceOptions, LocError> {
    let mut o = crate::upstream::resilience::ResilienceOptions::default();
    let count = |v: &Node, what: &str| -> Result<u64, LocError> {
        v.to_json()
            .as_u64()
            .ok_or_else(|| v.err(format!("`{what}` is a whole number")))
    };
    for (k, v) in node.as_map().unwrap_or_default() {
        match k.name.as_str() {
            "retries" => o.retries = count(v, "retries")?.min(10) as u32,
            "backoff" => o.backoff_base = duration(v)?,
            "backoff_max" => o.backoff_max = duration(v)?,
            "retry_budget_percent" => {
                o.retry_budget_percent =
                    (count(v, "retry_budget_percent")?.min(100) as f32) / 100.0;
            }
            "max_concurrency" => o.max_concurrency = count(v, "max_concurrency")?.max(1) as usize,
            "queue_timeout" => o.queue_timeout = duration(v)?,
            "rate_limit" => o.rate_limit = Some(count(v, "rate_limit (calls per second)")? as u32),
            "circuit_failures" => o.circuit_failures = count(v, "circuit_failures")?.max(1) as u32,
            "circuit_open_for" => o.circuit_open_for = duration(v)?,
            other => {
                return Err(LocError::new(
                    &k.loc,
                    format!(
                        "unknown resilience key `{other}`; expected retries, backoff, backoff_max, retry_budget_percent, max_concurrency, queue_timeout, rate_limit, circuit_failures or circuit_open_for"
                    ),
                ));
            }
        }
    }
    Ok(o)
}

/// `250ms`, `5s`, `2m`, or a number of milliseconds.
pub fn duration(node: &Node) -> Result<Duration, LocError> {
    let bad = || node.err("a duration is written 250ms, 5s, 2m or 1h");
    match &node.kind {
        NodeKind::Number(n) => n.as_u64().map(Duration::from_millis).ok_or_else(bad),
        NodeKind::Str(s) => {
            let s = s.trim();
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: u64 = num.parse().map_err(|_| bad())?;
            Ok(match unit {
                "ms" => Duration::from_millis(n),
                "s" | "" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return Err(bad()),
            })
        }
        _ => Err(bad()),
    }
}

/// A config value with every string's `${...}` resolved.
fn resolve_value(
    node: &Node,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, LocError> {
    Ok(match &node.kind {
        NodeKind::Str(s) => {
            Value::from(secrets::resolve(s, base_dir, env).map_err(|e| node.err(e.to_string()))?)
        }
        NodeKind::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| resolve_value(i, base_dir, env))
                .collect::<Result<_, _>>()?,
        ),
        NodeKind::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                m.insert(k.name.clone(), resolve_value(v, base_dir, env)?);
            }
            Value::Object(m)
        }
        _ => node.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "ERP_KEY").then(|| "key1".to_string())
    }

    #[test]
    fn a_config_parses_and_resolves_secrets() {
        let text = "listen: 127.0.0.1:0\ndefault_connection: d\nconnections:\n  d:\n    vendor: acme\n    base_url: http://erp\n    secrets: { api_key: \"${ERP_KEY}\" }\n    timeouts: { request: 250ms }\n";
        let c = parse("c.yaml", text, Path::new("."), &env).expect("parses");
        assert_eq!(c.connections[0].secrets["api_key"], "key1");
        assert_eq!(c.connections[0].request_timeout, Duration::from_millis(250));
    }

    #[test]
    fn the_environment_names_the_default_connection() {
        let text = "default_connection: a\nconnections:\n  a: { vendor: v, base_url: \"http://x\" }\n  b: { vendor: v, base_url: \"http://y\" }\n";
        let env = |k: &str| (k == "ORDERGATE_DEFAULT_CONNECTION").then(|| "b".to_string());
        let c = parse("c.yaml", text, Path::new("."), &env).expect("parses");
        assert_eq!(c.default_connection.as_deref(), Some("b"));
    }

    #[test]
    fn errors_name_lines() {
        let text = "connections:\n  d:\n    vendor: acme\n    base_url: http://erp\n    secrets: { api_key: \"${MISSING}\" }\n    colour: red\n";
        let errs = parse("c.yaml", text, Path::new("."), &env).expect_err("fails");
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            all.iter()
                .any(|e| e.starts_with("c.yaml:5:") && e.contains("MISSING")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|e| e.starts_with("c.yaml:6:") && e.contains("colour")),
            "{all:?}"
        );
    }
}
