//! YAML documents with a line number on every node.
//!
//! Config files, mapping files and golden fixtures are all read through this module so that
//! every later error can name `file:line`. Scalars are resolved here, exactly: a plain scalar that
//! reads as a JSON number stays its decimal text (never an `f64`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::value::{Map, Number, Value};
use saphyr::{MarkedYamlOwned, ScalarStyle, YamlDataOwned, YamlLoader};

/// A place in a source file: `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// An error tied to a place in a source file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct LocError {
    pub loc: Loc,
    pub message: String,
}

impl LocError {
    pub fn new(loc: &Loc, message: impl Into<String>) -> Self {
        LocError {
            loc: loc.clone(),
            message: message.into(),
        }
    }
}

/// One YAML node.
#[derive(Debug, Clone)]
pub struct Node {
    pub loc: Loc,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own line; order is the file's order.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

impl Node {
    pub fn err(&self, message: impl Into<String>) -> LocError {
        LocError::new(&self.loc, message)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Number(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Plain data (no templating): the node as JSON.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::Str(s) => Value::from(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k.name.clone(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

/// Parses one YAML document. `file` is the name used in error messages.
pub fn parse(file: &str, text: &str) -> Result<Node, LocError> {
    let file: Arc<str> = Arc::from(file);
    let mut loader: YamlLoader<MarkedYamlOwned> = YamlLoader::default();
    loader.early_parse(false);
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut loader, false) {
        return Err(scan_error(&file, &e));
    }
    if let Some(e) = loader.error() {
        return Err(scan_error(&file, e));
    }
    let mut docs = loader.into_documents();
    if docs.is_empty() {
        return Ok(Node {
            loc: Loc { file, line: 1 },
            kind: NodeKind::Null,
        });
    }
    convert(&file, docs.swap_remove(0), 0)
}

fn scan_error(file: &Arc<str>, e: &saphyr::ScanError) -> LocError {
    LocError {
        loc: Loc {
            file: file.clone(),
            line: e.marker().line(),
        },
        message: format!("invalid YAML: {}", e.info()),
    }
}

const MAX_DEPTH: usize = 128;

fn convert(file: &Arc<str>, node: MarkedYamlOwned, depth: usize) -> Result<Node, LocError> {
    let loc = Loc {
        file: file.clone(),
        line: node.span.start.line(),
    };
    if depth > MAX_DEPTH {
        return Err(LocError::new(&loc, "YAML nested too deeply"));
    }
    let kind = match node.data {
        YamlDataOwned::Representation(text, style, _tag) => resolve_scalar(text, style),
        YamlDataOwned::Value(v) => match v {
            saphyr::ScalarOwned::Null => NodeKind::Null,
            saphyr::ScalarOwned::Boolean(b) => NodeKind::Bool(b),
            saphyr::ScalarOwned::Integer(i) => NodeKind::Number(Number::from(i)),
            saphyr::ScalarOwned::FloatingPoint(f) => {
                resolve_scalar(f.to_string(), ScalarStyle::Plain)
            }
            saphyr::ScalarOwned::String(s) => NodeKind::Str(s),
        },
        YamlDataOwned::Sequence(items) => NodeKind::Seq(
            items
                .into_iter()
                .map(|n| convert(file, n, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        YamlDataOwned::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key_loc = Loc {
                    file: file.clone(),
                    line: k.span.start.line(),
                };
                let name = match convert(file, k, depth + 1)?.kind {
                    NodeKind::Str(s) => s,
                    NodeKind::Number(n) => n.to_string(),
                    NodeKind::Bool(b) => b.to_string(),
                    NodeKind::Null => "null".to_string(),
                    _ => return Err(LocError::new(&key_loc, "a mapping key must be a scalar")),
                };
                entries.push((Key { name, loc: key_loc }, convert(file, v, depth + 1)?));
            }
            NodeKind::Map(entries)
        }
        YamlDataOwned::Tagged(tag, _) => {
            return Err(LocError::new(
                &loc,
                format!(
                    "YAML tags are not used by ordergate (found !{}); remove it",
                    tag.suffix
                ),
            ));
        }
        YamlDataOwned::Alias(_) => {
            return Err(LocError::new(&loc, "YAML aliases are not supported"));
        }
        YamlDataOwned::BadValue => return Err(LocError::new(&loc, "invalid YAML value")),
    };
    Ok(Node { loc, kind })
}

/// YAML 1.2 core schema for plain scalars; numbers stay exact decimal text.
fn resolve_scalar(text: String, style: ScalarStyle) -> NodeKind {
    if style != ScalarStyle::Plain {
        return NodeKind::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
        "true" | "True" | "TRUE" => NodeKind::Bool(true),
        "false" | "False" | "FALSE" => NodeKind::Bool(false),
        t => {
            let digits = t.strip_prefix('-').unwrap_or(t);
            let looks_numeric = digits.chars().next().is_some_and(|c| c.is_ascii_digit());
            match Number::from_str(t) {
                Ok(n) if looks_numeric => NodeKind::Number(n),
                _ => NodeKind::Str(text),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_exact_and_lines_are_kept() {
        let node = parse(
            "t.yaml",
            "a: 0.1\nb:\n  - x\n  - 'y'\nc: 12345678901234567890.5\n",
        )
        .expect("parses");
        let a = node.get("a").expect("a");
        assert_eq!(a.to_json().to_string(), "0.1");
        assert_eq!(node.get("b").expect("b").loc.line, 3);
        assert_eq!(
            node.get("c").expect("c").to_json().to_string(),
            "12345678901234567890.5"
        );
    }

    #[test]
    fn quoted_numbers_are_strings() {
        let node = parse("t.yaml", "a: '1'\nb: \"true\"\nc: 007x\n").expect("parses");
        assert_eq!(node.get("a").expect("a").as_str(), Some("1"));
        assert_eq!(node.get("b").expect("b").as_str(), Some("true"));
        assert_eq!(node.get("c").expect("c").as_str(), Some("007x"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("bad.yaml", "a: 1\nb: [1, 2\n").expect_err("fails");
        assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
    }
}
