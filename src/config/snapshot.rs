//! One complete, validated generation of the gateway's configuration: every mapping compiled,
//! every connection checked against its mapping and given its HTTP client. Built whole or not
//! at all; the server swaps it in atomically.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::value::{Map, Value};

use super::file::{ConfigFile, Limits};
use crate::engine::compile::compile_file;
use crate::engine::plan::Mapping;
use crate::upstream::auth::TokenCache;
use crate::upstream::client::{ClientOptions, HttpTransport};

/// One configured ERP: a vendor mapping, a base URL, credentials and settings.
pub struct Connection {
    pub name: String,
    pub mapping: Arc<Mapping>,
    pub settings: Value,
    pub secrets: Value,
    /// `$connection`: `{name, vendor, base_url}`.
    pub info: Value,
    /// Every secret value, to mask wherever text leaves the gateway.
    pub secret_values: Vec<String>,
    pub transport: HttpTransport,
    pub tokens: TokenCache,
}

pub struct Snapshot {
    pub source: String,
    /// SHA-256 of the config text and every mapping text: names the generation.
    pub hash: String,
    /// The `x-ordergate-generation` header every answer carries: the hash's first 12 digits.
    pub generation: http::HeaderValue,
    /// Where the mappings were read from (watched for hot reload).
    pub mapping_paths: Vec<std::path::PathBuf>,
    pub listen: Option<String>,
    pub admin: Option<String>,
    pub default_connection: Option<String>,
    pub limits: Limits,
    pub idempotency: super::file::IdempotencyConfig,
    pub clients: super::file::Clients,
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub mappings: BTreeMap<String, Arc<Mapping>>,
    pub connections: BTreeMap<String, Arc<Connection>>,
}

impl Snapshot {
    pub fn connection(&self, name: &str) -> Option<&Arc<Connection>> {
        self.connections.get(name)
    }
}

/// A mapping file's name and text.
pub struct MappingSource {
    pub name: String,
    pub text: String,
}

/// Reads mapping files: a file, or every `*.yaml`/`*.yml` directly inside a folder.
pub fn read_mappings(paths: &[impl AsRef<Path>]) -> Result<Vec<MappingSource>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let files: Vec<std::path::PathBuf> = if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(entries) => {
                    let mut files: Vec<_> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| {
                            f.is_file()
                                && matches!(
                                    f.extension().and_then(|e| e.to_str()),
                                    Some("yaml" | "yml")
                                )
                        })
                        .collect();
                    files.sort();
                    files
                }
                Err(e) => {
                    errors.push(format!("{}: cannot list mapping folder: {e}", p.display()));
                    continue;
                }
            }
        } else {
            vec![p.to_path_buf()]
        };
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => out.push(MappingSource {
                    name: f.display().to_string(),
                    text,
                }),
                Err(e) => errors.push(format!("{}: cannot read mapping file: {e}", f.display())),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Compiles mappings, keyed by vendor.
pub fn compile_mappings(
    sources: &[MappingSource],
) -> Result<BTreeMap<String, Arc<Mapping>>, Vec<String>> {
    let mut mappings: BTreeMap<String, Arc<Mapping>> = BTreeMap::new();
    let mut errors = Vec::new();
    for s in sources {
        match compile_file(&s.name, &s.text) {
            Ok(m) => {
                if let Some(previous) = mappings.get(&m.vendor) {
                    errors.push(format!(
                        "{}: vendor `{}` is already defined in {}",
                        s.name, m.vendor, previous.file
                    ));
                    continue;
                }
                mappings.insert(m.vendor.clone(), Arc::new(m));
            }
            Err(e) => errors.extend(e.0.into_iter().map(|e| e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(mappings)
    } else {
        Err(errors)
    }
}

/// Builds a snapshot; every problem is reported, each with `file:line`.
/// The content hash of a generation.
pub fn content_hash(config_text: &str, sources: &[MappingSource]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(config_text.as_bytes());
    let mut sorted: Vec<&MappingSource> = sources.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for s in sorted {
        h.update([0u8]);
        h.update(s.name.as_bytes());
        h.update([0u8]);
        h.update(s.text.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn build(
    config: &ConfigFile,
    config_text: &str,
    sources: &[MappingSource],
) -> Result<Snapshot, Vec<String>> {
    let mappings = compile_mappings(sources)?;
    let mut errors = Vec::new();
    let mut connections = BTreeMap::new();
    for c in &config.connections {
        let at = format!("{}:{}", config.path, c.line);
        let Some(mapping) = mappings.get(&c.vendor) else {
            let known: Vec<&String> = mappings.keys().collect();
            errors.push(format!(
                "{at}: connection `{}`: no mapping has `vendor: {}` (loaded: {known:?})",
                c.name, c.vendor
            ));
            continue;
        };
        let mut settings = Map::new();
        for spec in &mapping.settings {
            match (c.settings.get(&spec.name), &spec.default) {
                (Some(v), _) => {
                    settings.insert(spec.name.clone(), v.clone());
                }
                (None, Some(d)) => {
                    settings.insert(spec.name.clone(), d.clone());
                }
                (None, None) if spec.required => {
                    errors.push(format!(
                        "{at}: connection `{}` needs setting `{}` (vendor {})",
                        c.name, spec.name, c.vendor
                    ));
                }
                (None, None) => {}
            }
        }
        // A setting a `zone:` reads: a wrong zone is refused here, not at the first request.
        for spec in mapping.settings.iter().filter(|s| s.zone) {
            // Absent or null, the zone is UTC.
            let Some(value) = settings.get(&spec.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let text = crate::engine::convert::scalar_str(value).unwrap_or_default();
            if crate::engine::zone::TimeZone::named(text).is_none() {
                errors.push(format!(
                    "{at}: connection `{}`: setting `{}` is `{text}`, not a time zone (an IANA name such as Europe/Paris)",
                    c.name, spec.name
                ));
            }
        }
        for k in c.settings.keys() {
            if !mapping.settings.iter().any(|s| s.name == k.as_str()) {
                let known: Vec<&str> = mapping.settings.iter().map(|s| s.name.as_str()).collect();
                errors.push(format!(
                    "{at}: connection `{}`: unknown setting `{k}` for vendor {} (known: {known:?})",
                    c.name, c.vendor
                ));
            }
        }
        for name in &mapping.secrets {
            if !c.secrets.contains_key(name) {
                errors.push(format!(
                    "{at}: connection `{}` needs secret `{name}` (vendor {})",
                    c.name, c.vendor
                ));
            }
        }
        let secret_values: Vec<String> = c
            .secrets
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .filter(|v| v.len() >= 3)
            .collect();
        let options = ClientOptions {
            connect_timeout: c.connect_timeout,
            request_timeout: c.request_timeout,
            resilience: c.resilience.clone(),
            max_response_bytes: config.limits.max_response_bytes,
            ..ClientOptions::default()
        };
        let transport = match HttpTransport::new(&c.name, &c.base_url, options) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{at}: connection `{}`: {e}", c.name));
                continue;
            }
        };
        let info =
            crate::json!({"name": c.name, "vendor": c.vendor, "base_url": transport.base_url()});
        connections.insert(
            c.name.clone(),
            Arc::new(Connection {
                name: c.name.clone(),
                mapping: mapping.clone(),
                settings: Value::Object(settings),
                secrets: Value::Object(c.secrets.clone()),
                info,
                secret_values,
                transport,
                tokens: TokenCache::default(),
            }),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let hash = content_hash(config_text, sources);
    // Hex digits: always a valid header value.
    let generation = http::HeaderValue::from_str(hash.get(..12).unwrap_or_default())
        .unwrap_or_else(|_| http::HeaderValue::from_static(""));
    Ok(Snapshot {
        source: config.path.clone(),
        hash,
        generation,
        mapping_paths: config.mappings.clone(),
        listen: config.listen.clone(),
        admin: config.admin.clone(),
        default_connection: config.default_connection.clone(),
        limits: config.limits.clone(),
        idempotency: config.idempotency.clone(),
        clients: config.clients.clone(),
        tls: config.tls.clone(),
        mappings,
        connections,
    })
}
