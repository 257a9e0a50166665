//! The default the gateway runs on when no config file is given: the seed mappings, built into
//! the binary, and one connection per vendor.

use std::path::Path;

use crate::config::file;
use crate::config::snapshot::{self, MappingSource, Snapshot};

pub const CONFIG: &str = include_str!("embedded.yaml");

pub const MAPPINGS: &[(&str, &str)] = &[
    (
        "mappings/valomnia.yaml",
        include_str!("../../mappings/valomnia.yaml"),
    ),
    (
        "mappings/dokos.yaml",
        include_str!("../../mappings/dokos.yaml"),
    ),
    (
        "mappings/enapps.yaml",
        include_str!("../../mappings/enapps.yaml"),
    ),
    (
        "mappings/mrdoc.yaml",
        include_str!("../../mappings/mrdoc.yaml"),
    ),
    (
        "mappings/oneentry.yaml",
        include_str!("../../mappings/oneentry.yaml"),
    ),
];

pub fn sources() -> Vec<MappingSource> {
    MAPPINGS
        .iter()
        .map(|(name, text)| MappingSource {
            name: format!("(embedded) {name}"),
            text: (*text).to_string(),
        })
        .collect()
}

/// The embedded default, its sandbox connections pointing at `sandbox_url`.
pub fn load(sandbox_url: &str) -> Result<Snapshot, Vec<String>> {
    let text = CONFIG.replace("{sandbox}", sandbox_url.trim_end_matches('/'));
    let cfg = file::parse("(embedded) ordergate.yaml", &text, Path::new("."), &|k| {
        std::env::var(k).ok()
    })
    .map_err(|errs| errs.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    snapshot::build(&cfg, &text, &sources())
}
