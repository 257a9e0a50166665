//! Configuration: the config file (`file`), `${...}` secrets (`secrets`), and the compiled
//! generation the server runs on (`snapshot`). The embedded default lives with the sandbox.

pub mod file;
pub mod secrets;
pub mod snapshot;

use std::path::Path;

pub use snapshot::{Connection, Snapshot};

/// Where the embedded default's connections point when no sandbox runs (checks only).
pub const NO_SANDBOX: &str = "http://127.0.0.1:9";

/// Loads the config at `path`, or the embedded default when there is none.
/// Every error is returned, each naming `file:line` where it can.
pub fn load(path: Option<&Path>) -> Result<Snapshot, Vec<String>> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| vec![format!("{}: cannot read the config file: {e}", p.display())])?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            let cfg = file::parse(&p.display().to_string(), &text, &base, &|k| {
                std::env::var(k).ok()
            })
            .map_err(|errs| errs.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
            let sources = snapshot::read_mappings(&cfg.mappings)?;
            snapshot::build(&cfg, &text, &sources)
        }
        None => crate::sandbox::embedded::load(NO_SANDBOX),
    }
}
