//! `${VAR}`, `${VAR:-default}` and `${file:/path}` references in config values. Secrets are
//! never required inline; a resolved value is kept only in memory.

use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecretError {
    #[error(
        "environment variable `{0}` is not set (give it a value, or write `${{{0}:-default}}`)"
    )]
    MissingEnv(String),
    #[error("cannot read secret file `{path}`: {reason}")]
    File { path: String, reason: String },
    #[error("unclosed `${{` in a config value")]
    Unclosed,
}

/// Replaces every reference in `text`. `base` resolves relative file paths.
pub fn resolve(
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SecretError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(SecretError::Unclosed)?;
        let reference = &after[..end];
        if let Some(path) = reference.strip_prefix("file:") {
            let full = base.join(path.trim());
            let content = std::fs::read_to_string(&full).map_err(|e| SecretError::File {
                path: full.display().to_string(),
                reason: e.to_string(),
            })?;
            out.push_str(content.trim_end_matches(['\n', '\r']));
        } else {
            let (name, default) = match reference.split_once(":-") {
                Some((n, d)) => (n.trim(), Some(d)),
                None => (reference.trim(), None),
            };
            match (env(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(SecretError::MissingEnv(name.to_string())),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "k1".to_string())
    }

    #[test]
    fn env_defaults_and_files() {
        let dir = std::env::temp_dir().join(format!("og-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("s.txt"), "s3cr3t\n").expect("write");
        assert_eq!(
            resolve("token ${KEY}:${file:s.txt}", &dir, &env).expect("ok"),
            "token k1:s3cr3t"
        );
        assert_eq!(resolve("${NOPE:-x}", &dir, &env).expect("ok"), "x");
        assert_eq!(
            resolve("${NOPE}", &dir, &env),
            Err(SecretError::MissingEnv("NOPE".into()))
        );
        assert!(resolve("${file:missing}", &dir, &env).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
