//! Compiles a mapping file (YAML with lines) into a `plan::Mapping`.
//!
//! Every check the language can make happens here, once, at load: unknown keys, bad JSONPath,
//! unknown value maps, encodings, methods, date formats, regexes, canonical error codes. Each
//! error names `file:line`. Errors are collected per section so one run reports them all.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};

use crate::value::{Str, Value};

use super::convert::{TimePattern, to_decimal};
use super::plan::*;
use super::reads;
use super::selector::{ROOT_NAMES, Root, Selector};
use super::zone::TimeZone;
use crate::canonical::operation::Operation;
use crate::canonical::problem::ErrorCode;
use crate::codec::need::AnswerNeed;
use crate::yaml::{self, Key, LocError, Node, NodeKind};

/// Every problem found in one mapping file.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct CompileErrors(pub Vec<LocError>);

/// Parses and compiles one mapping file.
pub fn compile_file(file: &str, text: &str) -> Result<Mapping, CompileErrors> {
    let root = yaml::parse(file, text).map_err(|e| CompileErrors(vec![e]))?;
    compile(&root)
}

type R<T> = Result<T, LocError>;

const TOP_KEYS: &[&str] = &[
    "vendor",
    "description",
    "settings",
    "secrets",
    "headers",
    "auth",
    "values",
    "templates",
    "errors",
    "operations",
    "fixtures",
];

/// A value map read both ways: canonical -> vendor, and vendor -> canonical.
type BothWays = (Entries, Entries);

struct Ctx<'a> {
    values: HashMap<String, BothWays>,
    template_names: &'a HashMap<String, usize>,
    steps: Vec<String>,
    /// Set when a compiled selector reads `$secrets` or `$auth`.
    sensitive: Cell<bool>,
    /// The settings a `zone:` reads (`zone: $settings.timezone`).
    zone_settings: RefCell<BTreeSet<String>>,
}

pub fn compile(root: &Node) -> Result<Mapping, CompileErrors> {
    let mapping = compile_root(root);
    // The member names its selectors and templates interned: answers name theirs with them.
    crate::value::publish();
    mapping
}

fn compile_root(root: &Node) -> Result<Mapping, CompileErrors> {
    let mut errors = Vec::new();
    let Some(entries) = root.as_map() else {
        return Err(CompileErrors(vec![root.err(
            "a mapping file is a YAML mapping (vendor:, operations:, ...)",
        )]));
    };
    for (k, _) in entries {
        if !TOP_KEYS.contains(&k.name.as_str()) {
            errors.push(LocError::new(&k.loc, unknown_key(&k.name, TOP_KEYS)));
        }
    }
    let vendor = match root.get("vendor").map(|n| string(n, "vendor")) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            errors.push(e);
            String::new()
        }
        None => {
            errors.push(root.err("missing `vendor:` (the vendor's name, used by connections)"));
            String::new()
        }
    };
    let description = root
        .get("description")
        .and_then(|n| n.as_str().map(str::to_string));
    let fixtures = root
        .get("fixtures")
        .and_then(|n| n.as_str().map(str::to_string));

    let mut settings = root
        .get("settings")
        .map(compile_settings)
        .unwrap_or(Ok(Vec::new()))
        .unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
    let secrets = root
        .get("secrets")
        .map(compile_secrets)
        .unwrap_or(Ok(Vec::new()))
        .unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });

    let mut values = HashMap::new();
    if let Some(node) = root.get("values") {
        match node.as_map() {
            None => errors.push(
                node.err("`values:` holds named value maps: `status: { draft: Draft, ... }`"),
            ),
            Some(maps) => {
                for (k, v) in maps {
                    match compile_value_map(v) {
                        Ok(pair) => {
                            values.insert(k.name.clone(), pair);
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
    }

    // Templates may use each other: names first, then bodies.
    let mut template_names = HashMap::new();
    let template_nodes: Vec<(&Key, &Node)> = match root.get("templates") {
        None => Vec::new(),
        Some(node) => match node.as_map() {
            None => {
                errors.push(
                    node.err("`templates:` holds named templates: `order: { id: $.name, ... }`"),
                );
                Vec::new()
            }
            Some(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        },
    };
    for (i, (k, _)) in template_nodes.iter().enumerate() {
        template_names.insert(k.name.clone(), i);
    }
    let mut ctx = Ctx {
        values,
        template_names: &template_names,
        steps: Vec::new(),
        sensitive: Cell::new(false),
        zone_settings: RefCell::default(),
    };
    let mut templates = Vec::with_capacity(template_nodes.len());
    for (_, node) in &template_nodes {
        templates.push(ctx.template(node).unwrap_or_else(|e| {
            errors.push(e);
            Template::Const(Value::Null)
        }));
    }

    let headers = match root.get("headers") {
        None => Vec::new(),
        Some(n) => ctx.headers(n).unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        }),
    };
    let auth = match root.get("auth") {
        None => None,
        Some(n) => match ctx.auth(n) {
            Ok(a) => Some(a),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    let mapping_errors = match root.get("errors") {
        None => Vec::new(),
        Some(n) => ctx.error_rules(n, &mut errors),
    };

    let mut operations = HashMap::new();
    let mut unsupported = HashMap::new();
    match root.get("operations") {
        None => errors.push(root.err("missing `operations:` (create_order, get_order, ...)")),
        Some(node) => match node.as_map() {
            None => errors.push(node.err("`operations:` maps operation names to their steps")),
            Some(ops) => {
                for (k, v) in ops {
                    let Some(op) = Operation::parse(&k.name) else {
                        let known: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
                        errors.push(LocError::new(&k.loc, unknown_key(&k.name, &known)));
                        continue;
                    };
                    if let Some(reason) = v.get("unsupported") {
                        // Documented absence: the gateway answers 501 with this reason.
                        if let Err(e) = check_keys(v, &["unsupported"]) {
                            errors.push(e);
                        }
                        match string(reason, "unsupported") {
                            Ok(r) => {
                                unsupported.insert(op, r);
                            }
                            Err(e) => errors.push(e),
                        }
                        continue;
                    }
                    if let Some(plan) = ctx.operation(op, v, &mut errors) {
                        operations.insert(op, plan);
                    }
                }
            }
        },
    }

    // A setting a `zone:` reads must hold a time zone: its default here, its value at config load.
    for spec in &mut settings {
        spec.zone = ctx.zone_settings.borrow().contains(&spec.name);
        let default = root
            .get("settings")
            .and_then(|n| n.get(&spec.name))
            .and_then(|n| n.get("default"));
        if let (true, Some(d)) = (spec.zone, default)
            && let Some(Err(e)) = d.as_str().map(|name| time_zone(d, name))
        {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(CompileErrors(errors));
    }
    let mut mapping = Mapping {
        vendor,
        file: root.loc.file.clone(),
        description,
        settings,
        secrets,
        headers,
        auth,
        errors: mapping_errors,
        operations,
        unsupported,
        kept_per_focus: super::memo::kept_per_focus(&templates),
        templates,
        fixtures,
    };
    reads::annotate(&mut mapping);
    Ok(mapping)
}

/// `name` as an IANA time zone, or an error at `node`.
fn time_zone(node: &Node, name: &str) -> R<TimeZone> {
    TimeZone::named(name).ok_or_else(|| {
        node.err(format!(
            "unknown time zone `{name}` (an IANA name such as Europe/Paris)"
        ))
    })
}

fn unknown_key(name: &str, known: &[&str]) -> String {
    format!(
        "unknown key `{name}`; expected one of: {}",
        known.join(", ")
    )
}

fn check_keys(node: &Node, known: &[&str]) -> R<()> {
    if let Some(entries) = node.as_map() {
        for (k, _) in entries {
            if !known.contains(&k.name.as_str()) {
                return Err(LocError::new(&k.loc, unknown_key(&k.name, known)));
            }
        }
    }
    Ok(())
}

fn string(node: &Node, what: &str) -> R<String> {
    match &node.kind {
        NodeKind::Str(s) => Ok(s.clone()),
        NodeKind::Number(n) => Ok(n.to_string()),
        _ => Err(node.err(format!(
            "`{what}` must be a string, found {}",
            node.type_name()
        ))),
    }
}

fn uint(node: &Node, what: &str) -> R<u64> {
    match &node.kind {
        NodeKind::Number(n) => n
            .as_u64()
            .ok_or_else(|| node.err(format!("`{what}` must be a whole number >= 0"))),
        _ => Err(node.err(format!(
            "`{what}` must be a number, found {}",
            node.type_name()
        ))),
    }
}

fn status_code(node: &Node, what: &str) -> R<u16> {
    let v = uint(node, what)?;
    if !(100..=599).contains(&v) {
        return Err(node.err(format!("{v} is not an HTTP status")));
    }
    Ok(v as u16)
}

/// An operand of arithmetic: a constant that reads as a number is read once, here.
fn number_read_at_load(t: Template) -> Template {
    match t {
        Template::Const(v) => match to_decimal(&v) {
            Some(d) => Template::Number(d, v),
            None => Template::Const(v),
        },
        other => other,
    }
}

/// A decimal scale: 0 to 28 places.
fn scale_of(node: &Node) -> R<u32> {
    let v = uint(node, "scale")?;
    if v > 28 {
        return Err(node.err("`scale:` is 0 to 28 decimal places"));
    }
    Ok(v as u32)
}

fn boolean(node: &Node, what: &str) -> R<bool> {
    match node.kind {
        NodeKind::Bool(b) => Ok(b),
        _ => Err(node.err(format!("`{what}` must be true or false"))),
    }
}

fn compile_settings(node: &Node) -> R<Vec<SettingSpec>> {
    let entries = node.as_map().ok_or_else(|| {
        node.err("`settings:` maps each setting name to `{ required, default, description }`")
    })?;
    let mut out = Vec::new();
    for (k, v) in entries {
        let mut spec = SettingSpec {
            name: k.name.clone(),
            required: false,
            default: None,
            description: None,
            zone: false,
        };
        match &v.kind {
            NodeKind::Map(_) => {
                check_keys(v, &["required", "default", "description"])?;
                if let Some(r) = v.get("required") {
                    spec.required = boolean(r, "required")?;
                }
                spec.default = v.get("default").map(Node::to_json);
                spec.description = v
                    .get("description")
                    .and_then(|d| d.as_str().map(str::to_string));
            }
            NodeKind::Null => {}
            _ => return Err(v.err("a setting is `{ required: true }` or `{ default: value }`")),
        }
        out.push(spec);
    }
    Ok(out)
}

fn compile_secrets(node: &Node) -> R<Vec<String>> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(|i| string(i, "secret name")).collect(),
        NodeKind::Map(entries) => Ok(entries.iter().map(|(k, _)| k.name.clone()).collect()),
        _ => Err(node
            .err("`secrets:` lists the secret names the mapping reads: `[api_key, api_secret]`")),
    }
}

/// A value map gives canonical -> vendor; its reverse is built here (first entry wins).
fn compile_value_map(node: &Node) -> R<BothWays> {
    let entries = node
        .as_map()
        .ok_or_else(|| node.err("a value map is `{ canonical_value: vendor_value, ... }`"))?;
    let mut forward = Entries::default();
    let mut reverse = Entries::default();
    for (k, v) in entries {
        let vendor = v.to_json().constant();
        let vendor_values: Vec<Value> = match &vendor {
            // A list gives several vendor values for one canonical value; the first is written.
            Value::Array(items) if !items.is_empty() => items.clone(),
            Value::Array(_) | Value::Object(_) => {
                return Err(v.err("a value map entry is a scalar or a non-empty list of scalars"));
            }
            other => vec![other.clone()],
        };
        forward.insert(k.name.clone(), vendor_values[0].clone());
        for vv in vendor_values {
            let key = super::convert::scalar_text(&vv).unwrap_or_default();
            reverse
                .entry(key)
                .or_insert_with(|| Value::from(Str::constant(&k.name)));
        }
    }
    Ok((forward, reverse))
}

const HEADS: &[&str] = &[
    "from",
    "const",
    "each",
    "if",
    "coalesce",
    "add",
    "sub",
    "mul",
    "div",
    "sum",
    "json",
    "parse_json",
    "pipe",
    "merge",
    "use",
    "capture",
    "strip_html",
    "join",
    "count",
    "require",
    "object",
    "compact",
    "fail",
    "entries",
    "base64",
    "concat",
];

/// Words that only modify an operator (never a head): seen beside the wrong head, they are an error.
const MODIFIERS: &[&str] = &[
    "default",
    "map",
    "reverse",
    "on_unmapped",
    "as",
    "format",
    "parse",
    "scale",
    "keep_null",
    "zone",
    "filter",
    "to",
    "omit_empty",
    "then",
    "else",
    "with",
    "regex",
    "separator",
    "message",
    "pointer",
];

const PREDICATES: &[&str] = &[
    "eq", "ne", "in", "exists", "missing", "empty", "gt", "ge", "lt", "le", "matches", "not",
    "all", "any",
];

impl Ctx<'_> {
    fn selector(&self, node: &Node, text: &str) -> R<Selector> {
        let steps = &self.steps;
        let sel = Selector::parse(text, &|name| steps.iter().position(|s| s == name))
            .map_err(|e| node.err(e.to_string()))?;
        if matches!(sel.root, Root::Secrets | Root::Auth) {
            self.sensitive.set(true);
        }
        Ok(sel)
    }

    fn interp_parts(&self, node: &Node, text: &str) -> R<Vec<InterpPart>> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                // `$${` writes a literal `${`.
                literal.push_str(&rest[..start - 1]);
                literal.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| node.err(format!("unclosed `${{` in `{text}`")))?;
            let inner = after[..end].trim();
            let sel_text = if inner.starts_with('$') {
                inner.to_string()
            } else {
                format!("${inner}")
            };
            if !literal.is_empty() {
                parts.push(InterpPart::Literal(std::mem::take(&mut literal)));
            }
            parts.push(InterpPart::Value(self.selector(node, &sel_text)?));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(InterpPart::Literal(literal));
        }
        Ok(parts)
    }

    fn template(&self, node: &Node) -> R<Template> {
        match &node.kind {
            NodeKind::Str(s) => {
                if s.contains("${") {
                    let parts = self.interp_parts(node, s)?;
                    if let [InterpPart::Literal(l)] = parts.as_slice() {
                        return Ok(Template::Const(Value::from(Str::constant(l))));
                    }
                    Ok(Template::Interp(parts))
                } else if s.starts_with('$') {
                    Ok(Template::Select(self.selector(node, s)?))
                } else {
                    Ok(Template::Const(Value::from(Str::constant(s))))
                }
            }
            NodeKind::Seq(items) => Ok(Template::Array(
                items.iter().map(|i| self.template(i)).collect::<R<_>>()?,
            )),
            NodeKind::Map(entries) => {
                let heads: Vec<&Key> = entries
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| HEADS.contains(&k.name.as_str()))
                    .collect();
                let is_operator_word =
                    |k: &str| HEADS.iter().any(|h| operator_keys(h).contains(&k));
                match heads.as_slice() {
                    [] => self.object(entries),
                    [head] => {
                        let allowed = operator_keys(&head.name);
                        let unknown: Vec<&Key> = entries
                            .iter()
                            .map(|(k, _)| k)
                            .filter(|k| !allowed.contains(&k.name.as_str()))
                            .collect();
                        if unknown.is_empty() {
                            return self.operator(node, head);
                        }
                        // A vendor object that happens to hold an operator word (`sum`, `count`)
                        // is a literal object, unless it looks like a misspelt operator.
                        let modifiers = entries
                            .iter()
                            .filter(|(k, _)| {
                                k.name != head.name && allowed.contains(&k.name.as_str())
                            })
                            .count();
                        let typo = unknown.iter().filter(|k| k.name.len() >= 4).find_map(|k| {
                            allowed
                                .iter()
                                .find(|a| edit_distance(a, &k.name) <= 2)
                                .map(|a| (k, *a))
                        });
                        // A modifier of another operator beside this head is a mistake, not a vendor field.
                        let misplaced = unknown
                            .iter()
                            .find(|k| MODIFIERS.contains(&k.name.as_str()));
                        match (modifiers, typo.or(misplaced.map(|k| (k, "")))) {
                            (_, Some((k, ""))) => Err(LocError::new(
                                &k.loc,
                                format!(
                                    "`{}` does not go with `{}` (it takes: {}); a literal object with these keys is written inside `object:`",
                                    k.name,
                                    head.name,
                                    allowed.join(", ")
                                ),
                            )),
                            (_, Some((k, a))) => Err(LocError::new(
                                &k.loc,
                                format!(
                                    "unknown key `{}` beside `{}` (did you mean `{a}`?); a literal object with these keys is written inside `object:`",
                                    k.name, head.name
                                ),
                            )),
                            (m, None) if m > 0 => Err(LocError::new(
                                &unknown[0].loc,
                                format!(
                                    "unknown key `{}` for `{}`; expected one of: {}",
                                    unknown[0].name,
                                    head.name,
                                    allowed.join(", ")
                                ),
                            )),
                            _ => self.object(entries),
                        }
                    }
                    [_, second, ..] => {
                        if entries.iter().all(|(k, _)| is_operator_word(&k.name)) {
                            Err(LocError::new(
                                &second.loc,
                                format!(
                                    "`{}` and `{}` cannot be in one template object; nest one inside the other, or wrap a literal object in `object:`",
                                    heads[0].name, second.name
                                ),
                            ))
                        } else {
                            self.object(entries)
                        }
                    }
                }
            }
            _ => Ok(Template::Const(node.to_json().constant())),
        }
    }

    fn object(&self, entries: &[(Key, Node)]) -> R<Template> {
        let mut fields = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let key = if k.name.contains("${") {
                let key_node = Node {
                    loc: k.loc.clone(),
                    kind: NodeKind::Str(k.name.clone()),
                };
                ObjectKey::Interp(self.interp_parts(&key_node, &k.name)?)
            } else {
                // Rendered straight to bytes, a key written twice would be sent twice.
                if fields
                    .iter()
                    .any(|(f, _)| matches!(f, ObjectKey::Literal(n) if n.as_str() == k.name))
                {
                    return Err(LocError::new(
                        &k.loc,
                        format!("key `{}` is written twice in this object", k.name),
                    ));
                }
                ObjectKey::Literal(Name::new(k.name.clone()))
            };
            fields.push((key, self.template(v)?));
        }
        Ok(Template::Object(fields))
    }

    fn operator(&self, node: &Node, head: &Key) -> R<Template> {
        let arg = node
            .get(&head.name)
            .ok_or_else(|| node.err("internal: head vanished"))?;
        let allowed = operator_keys(&head.name);
        check_keys(node, allowed)?;
        let scale = node.get("scale").map(scale_of).transpose()?;
        Ok(match head.name.as_str() {
            "const" => Template::Const(arg.to_json().constant()),
            "object" => match &arg.kind {
                NodeKind::Map(entries) => self.object(entries)?,
                _ => {
                    return Err(
                        arg.err("`object:` takes a mapping whose keys are written as they are")
                    );
                }
            },
            "from" => Template::From(Box::new(self.from(node, arg)?)),
            "each" => {
                let to = node
                    .get("to")
                    .ok_or_else(|| node.err("`each:` needs `to:`, the template for one element"))?;
                let source = self.template(arg)?;
                Template::Each(Box::new(EachOp {
                    source,
                    filter: node.get("filter").map(|f| self.predicate(f)).transpose()?,
                    to: self.template(to)?,
                    omit_empty: node
                        .get("omit_empty")
                        .map(|n| boolean(n, "omit_empty"))
                        .transpose()?
                        .unwrap_or(false),
                }))
            }
            "if" => {
                let then = node
                    .get("then")
                    .ok_or_else(|| node.err("`if:` needs `then:` (and optionally `else:`)"))?;
                Template::If(
                    Box::new(self.predicate(arg)?),
                    Box::new(self.template(then)?),
                    node.get("else")
                        .map(|e| self.template(e).map(Box::new))
                        .transpose()?,
                )
            }
            "coalesce" => Template::Coalesce(self.list(arg, "coalesce")?),
            "compact" => Template::Compact(
                self.list(arg, "compact")?,
                node.get("omit_empty")
                    .map(|n| boolean(n, "omit_empty"))
                    .transpose()?
                    .unwrap_or(false),
            ),
            "fail" => Template::Fail(
                string(arg, "fail")?,
                node.get("pointer")
                    .map(|p| string(p, "pointer"))
                    .transpose()?,
            ),
            "pipe" => Template::Pipe(self.list(arg, "pipe")?),
            "concat" => Template::Concat(self.list(arg, "concat")?),
            "merge" => Template::Merge(self.list(arg, "merge")?),
            "add" | "sub" | "mul" | "div" => {
                let op = match head.name.as_str() {
                    "add" => ArithOp::Add,
                    "sub" => ArithOp::Sub,
                    "mul" => ArithOp::Mul,
                    _ => ArithOp::Div,
                };
                let args: Vec<Template> = self
                    .list(arg, &head.name)?
                    .into_iter()
                    .map(number_read_at_load)
                    .collect();
                if args.len() < 2 {
                    return Err(arg.err(format!(
                        "`{}:` takes a list of at least two operands",
                        head.name
                    )));
                }
                Template::Arith(op, args, scale)
            }
            "sum" => Template::Sum(Box::new(self.template(arg)?), scale),
            "json" => Template::Json(Box::new(self.template(arg)?)),
            "parse_json" => Template::ParseJson(Box::new(self.template(arg)?)),
            "strip_html" => Template::StripHtml(Box::new(self.template(arg)?)),
            "count" => Template::Count(Box::new(self.template(arg)?)),
            "entries" => Template::Entries(Box::new(self.template(arg)?)),
            "base64" => Template::Base64(Box::new(self.template(arg)?)),
            "use" => {
                let name = string(arg, "use")?;
                let idx = *self.template_names.get(&name).ok_or_else(|| {
                    let mut known: Vec<&String> = self.template_names.keys().collect();
                    known.sort();
                    arg.err(format!("unknown template `{name}`; defined: {known:?}"))
                })?;
                Template::Use(
                    idx,
                    node.get("with")
                        .map(|w| self.template(w).map(Box::new))
                        .transpose()?,
                )
            }
            "capture" => {
                let re_node = node.get("regex").ok_or_else(|| {
                    node.err("`capture:` needs `regex:` (its first group is the result)")
                })?;
                Template::Capture(Box::new(self.template(arg)?), regex(re_node)?)
            }
            "join" => Template::Join(
                Box::new(self.template(arg)?),
                node.get("separator")
                    .map(|s| string(s, "separator"))
                    .transpose()?
                    .unwrap_or_else(|| ", ".into()),
            ),
            "require" => Template::Require(
                Box::new(self.template(arg)?),
                node.get("message")
                    .map(|m| string(m, "message"))
                    .transpose()?
                    .unwrap_or_else(|| "a required value is missing".into()),
            ),
            other => return Err(head_err(node, other)),
        })
    }

    fn list(&self, node: &Node, what: &str) -> R<Vec<Template>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().map(|i| self.template(i)).collect(),
            _ => Err(node.err(format!("`{what}:` takes a list"))),
        }
    }

    fn from(&self, node: &Node, arg: &Node) -> R<FromOp> {
        let reverse = node
            .get("reverse")
            .map(|r| boolean(r, "reverse"))
            .transpose()?
            .unwrap_or(false);
        let map = match node.get("map") {
            None => None,
            Some(m) => Some(match &m.kind {
                NodeKind::Str(name) => {
                    let (fwd, rev) = self.values.get(name).ok_or_else(|| {
                        let mut known: Vec<&String> = self.values.keys().collect();
                        known.sort();
                        m.err(format!(
                            "unknown value map `{name}`; defined under `values:`: {known:?}"
                        ))
                    })?;
                    ValueMap {
                        name: name.clone(),
                        entries: if reverse { rev.clone() } else { fwd.clone() },
                    }
                }
                NodeKind::Map(_) => {
                    let (fwd, rev) = compile_value_map(m)?;
                    ValueMap {
                        name: format!("(inline at line {})", m.loc.line),
                        entries: if reverse { rev } else { fwd },
                    }
                }
                _ => {
                    return Err(m.err(
                        "`map:` names a value map, or is an inline `{ from_value: to_value }`",
                    ));
                }
            }),
        };
        let on_unmapped = match node.get("on_unmapped") {
            None => Unmapped::Error,
            Some(n) => match string(n, "on_unmapped")?.as_str() {
                "error" => Unmapped::Error,
                "keep" => Unmapped::Keep,
                "omit" => Unmapped::Omit,
                other => {
                    return Err(n.err(format!(
                        "`on_unmapped: {other}`: expected error, keep or omit"
                    )));
                }
            },
        };
        let scale = node.get("scale").map(scale_of).transpose()?;
        let time_pattern = |key: &str| -> R<Option<TimePattern>> {
            match node.get(key) {
                None => Ok(None),
                Some(n) => {
                    let p = string(n, key)?;
                    TimePattern::new(&p).map(Some).ok_or_else(|| {
                        n.err(format!(
                            "invalid date format `{p}` (chrono strftime syntax: %Y-%m-%d %H:%M:%S)"
                        ))
                    })
                }
            }
        };
        let convert = match node.get("as") {
            None => {
                if node.get("format").is_some() || node.get("parse").is_some() {
                    return Err(
                        node.err("`format:`/`parse:` go with `as: date` or `as: timestamp`")
                    );
                }
                None
            }
            Some(n) => Some(match string(n, "as")?.as_str() {
                "string" => Convert::String,
                "integer" => Convert::Integer,
                "decimal" | "number" => Convert::Decimal(scale),
                "decimal_string" => Convert::DecimalString(scale),
                "boolean" => Convert::Boolean,
                "bit" => Convert::Bit,
                "date" => Convert::Date {
                    parse: time_pattern("parse")?,
                    format: time_pattern("format")?,
                },
                "timestamp" => Convert::Timestamp {
                    parse: time_pattern("parse")?,
                    format: time_pattern("format")?,
                },
                "upper" => Convert::Upper,
                "lower" => Convert::Lower,
                "trim" => Convert::Trim,
                other => {
                    return Err(n.err(format!(
                        "unknown conversion `as: {other}`; expected string, integer, decimal, decimal_string, boolean, bit, date, timestamp, upper, lower or trim"
                    )));
                }
            }),
        };
        let zone = match node.get("zone") {
            None => None,
            Some(z) => {
                if !matches!(
                    &convert,
                    Some(Convert::Timestamp { .. }) | Some(Convert::Date { .. })
                ) {
                    return Err(z.err("`zone:` goes with `as: timestamp` or `as: date`"));
                }
                match z.as_str() {
                    Some(name) if !name.starts_with('$') => Some(Zone::Fixed(time_zone(z, name)?)),
                    _ => {
                        let zone = self.template(z)?;
                        // A setting read as a zone (`$settings.timezone`, however written): its
                        // value is checked at config load.
                        if let Template::Select(sel) = &zone
                            && sel.root == Root::Settings
                            && let Some(setting) = sel
                                .pointer_suffix()
                                .and_then(|p| p.strip_prefix('/'))
                                .filter(|name| !name.contains('/'))
                        {
                            self.zone_settings.borrow_mut().insert(setting.to_string());
                        }
                        Some(Zone::Template(zone))
                    }
                }
            }
        };
        Ok(FromOp {
            loc: node.loc.clone(),
            source: self.template(arg)?,
            default: node.get("default").map(|d| self.template(d)).transpose()?,
            map,
            on_unmapped,
            convert,
            zone,
            keep_null: node
                .get("keep_null")
                .map(|n| boolean(n, "keep_null"))
                .transpose()?
                .unwrap_or(false),
        })
    }

    fn predicate(&self, node: &Node) -> R<Predicate> {
        let entries = node.as_map().ok_or_else(|| {
            node.err(format!(
                "a condition is a mapping with one of: {}",
                PREDICATES.join(", ")
            ))
        })?;
        let [(k, arg)] = entries else {
            return Err(
                node.err("a condition has exactly one key (combine several with `all:` or `any:`)")
            );
        };
        let pair = |what: &str| -> R<(Template, Template)> {
            match &arg.kind {
                NodeKind::Seq(items) if items.len() == 2 => {
                    Ok((self.template(&items[0])?, self.template(&items[1])?))
                }
                _ => Err(arg.err(format!(
                    "`{what}:` takes a list of two values: [left, right]"
                ))),
            }
        };
        let preds = |what: &str| -> R<Vec<Predicate>> {
            match &arg.kind {
                NodeKind::Seq(items) => items.iter().map(|i| self.predicate(i)).collect(),
                _ => Err(arg.err(format!("`{what}:` takes a list of conditions"))),
            }
        };
        Ok(match k.name.as_str() {
            "eq" => pair("eq").map(|(a, b)| Predicate::Eq(a, b))?,
            "ne" => pair("ne").map(|(a, b)| Predicate::Ne(a, b))?,
            "gt" => pair("gt").map(|(a, b)| Predicate::Gt(a, b))?,
            "ge" => pair("ge").map(|(a, b)| Predicate::Ge(a, b))?,
            "lt" => pair("lt").map(|(a, b)| Predicate::Lt(a, b))?,
            "le" => pair("le").map(|(a, b)| Predicate::Le(a, b))?,
            "in" => match &arg.kind {
                NodeKind::Seq(items) if items.len() == 2 => {
                    let options = match &items[1].kind {
                        NodeKind::Seq(opts) => {
                            opts.iter().map(|o| self.template(o)).collect::<R<_>>()?
                        }
                        _ => vec![self.template(&items[1])?],
                    };
                    Predicate::In(self.template(&items[0])?, options)
                }
                _ => return Err(arg.err("`in:` takes [value, [option, ...]]")),
            },
            "exists" => Predicate::Exists(self.template(arg)?),
            "missing" => Predicate::Missing(self.template(arg)?),
            "empty" => Predicate::Empty(self.template(arg)?),
            "matches" => match &arg.kind {
                NodeKind::Seq(items) if items.len() == 2 => {
                    Predicate::Matches(self.template(&items[0])?, regex(&items[1])?)
                }
                _ => return Err(arg.err("`matches:` takes [value, \"regex\"]")),
            },
            "not" => Predicate::Not(Box::new(self.predicate(arg)?)),
            "all" => Predicate::All(preds("all")?),
            "any" => Predicate::Any(preds("any")?),
            other => return Err(LocError::new(&k.loc, unknown_key(other, PREDICATES))),
        })
    }

    fn headers(&self, node: &Node) -> R<Vec<HeaderPlan>> {
        let entries = node
            .as_map()
            .ok_or_else(|| node.err("`headers:` maps header names to templates"))?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let name = http::HeaderName::from_bytes(k.name.as_bytes()).map_err(|_| {
                LocError::new(
                    &k.loc,
                    format!("`{}` is not a valid HTTP header name", k.name),
                )
            })?;
            self.sensitive.set(false);
            let value = self.template(v)?;
            let sensitive = self.sensitive.replace(false)
                || matches!(
                    name.as_str(),
                    "authorization" | "cookie" | "proxy-authorization"
                );
            // What rendering a constant gives, made once (a value no header may hold is still
            // refused when rendered, as any other).
            let fixed = match &value {
                Template::Const(v) => super::convert::scalar_str(v)
                    .and_then(|text| http::HeaderValue::from_str(text).ok()),
                _ => None,
            };
            out.push(HeaderPlan {
                name,
                value,
                fixed,
                sensitive,
            });
        }
        Ok(out)
    }

    fn auth(&mut self, node: &Node) -> R<AuthPlan> {
        check_keys(node, &["headers", "login", "renew_on"])?;
        let login = match node.get("login") {
            None => None,
            Some(l) => {
                check_keys(l, &["request", "token", "expires_in", "accept"])?;
                let req = l
                    .get("request")
                    .ok_or_else(|| l.err("`login:` needs `request:` (the login call)"))?;
                let token = l
                    .get("token")
                    .ok_or_else(|| l.err("`login:` needs `token:` (what to keep from the answer, e.g. $.body.access_token or $.cookies.JSESSIONID)"))?;
                let saved = std::mem::take(&mut self.steps);
                let request = self.request(req);
                self.steps = saved;
                Some(LoginPlan {
                    loc: l.loc.clone(),
                    request: request?,
                    token: self.template(token)?,
                    expires_in: l.get("expires_in").map(|e| self.template(e)).transpose()?,
                    accept: match l.get("accept") {
                        None => StatusMatch::Set(vec![StatusRange { lo: 200, hi: 299 }]),
                        Some(a) => status_match(a)?,
                    },
                })
            }
        };
        let renew_on = match node.get("renew_on") {
            None => vec![401],
            Some(n) => match &n.kind {
                NodeKind::Seq(items) => items
                    .iter()
                    .map(|i| status_code(i, "renew_on"))
                    .collect::<R<_>>()?,
                _ => vec![status_code(n, "renew_on")?],
            },
        };
        Ok(AuthPlan {
            headers: node
                .get("headers")
                .map(|h| self.headers(h))
                .transpose()?
                .unwrap_or_default(),
            login,
            renew_on,
        })
    }

    fn request(&self, node: &Node) -> R<RequestPlan> {
        check_keys(
            node,
            &[
                "method", "path", "query", "headers", "encoding", "body", "xml", "response",
            ],
        )?;
        let method_node = node
            .get("method")
            .ok_or_else(|| node.err("a request needs `method:`"))?;
        let method_text = string(method_node, "method")?;
        let method = match method_text.as_str() {
            "GET" => http::Method::GET,
            "POST" => http::Method::POST,
            "PUT" => http::Method::PUT,
            "PATCH" => http::Method::PATCH,
            "DELETE" => http::Method::DELETE,
            "HEAD" => http::Method::HEAD,
            other => {
                return Err(method_node.err(format!(
                    "unknown method `{other}`; expected GET, POST, PUT, PATCH, DELETE or HEAD"
                )));
            }
        };
        let path_node = node
            .get("path")
            .ok_or_else(|| node.err("a request needs `path:`"))?;
        let path = self.path(path_node)?;
        let query = match node.get("query") {
            None => Vec::new(),
            Some(q) => q
                .as_map()
                .ok_or_else(|| q.err("`query:` maps parameter names to templates"))?
                .iter()
                .map(|(k, v)| Ok((k.name.clone(), self.template(v)?)))
                .collect::<R<_>>()?,
        };
        let body = node.get("body").map(|b| self.template(b)).transpose()?;
        let encoding = match node.get("encoding") {
            None => {
                if body.is_some() {
                    Encoding::Json
                } else {
                    Encoding::None
                }
            }
            Some(e) => {
                let text = string(e, "encoding")?;
                Encoding::parse(&text).ok_or_else(|| {
                    e.err(format!("unknown encoding `{text}`; expected json, xml, form, multipart, text or none"))
                })?
            }
        };
        if body.is_none() && !matches!(encoding, Encoding::None) {
            return Err(node.err("`encoding:` is set but there is no `body:`"));
        }
        if body.is_some() && matches!(encoding, Encoding::None) {
            return Err(
                node.err("`encoding: none` sends no body: remove `body:` or choose an encoding")
            );
        }
        let xml = match node.get("xml") {
            None => XmlOptions::default(),
            Some(x) => xml_options(x)?,
        };
        let decode = match node.get("response") {
            None => Decoding::Auto,
            Some(r) => match string(r, "response")?.as_str() {
                "auto" => Decoding::Auto,
                "json" => Decoding::Json,
                "xml" => Decoding::Xml,
                "form" => Decoding::Form,
                "text" => Decoding::Text,
                other => return Err(r.err(format!(
                    "unknown response decoding `{other}`; expected auto, json, xml, form or text"
                ))),
            },
        };
        Ok(RequestPlan {
            loc: node.loc.clone(),
            method,
            path,
            query,
            headers: node
                .get("headers")
                .map(|h| self.headers(h))
                .transpose()?
                .unwrap_or_default(),
            encoding,
            body,
            xml,
            decode,
        })
    }

    fn path(&self, node: &Node) -> R<Vec<PathPart>> {
        let text = string(node, "path")?;
        if !text.starts_with('/') {
            return Err(node.err(format!(
                "`path: {text}` must start with `/` (it is joined to the connection's base_url)"
            )));
        }
        let mut out = Vec::new();
        for part in self.interp_parts(node, &text)? {
            match part {
                InterpPart::Literal(l) => {
                    if let Some(bad) = l.chars().find(|c| !is_path_char(*c)) {
                        return Err(node.err(format!(
                            "`{bad}` cannot stand in a path as written; percent-encode it (a space is %20) or use `query:` for parameters"
                        )));
                    }
                    out.push(PathPart::Literal(l));
                }
                InterpPart::Value(sel) => out.push(PathPart::Value(Template::Select(sel))),
            }
        }
        Ok(out)
    }

    fn error_rules(&self, node: &Node, errors: &mut Vec<LocError>) -> Vec<ErrorRule> {
        let NodeKind::Seq(items) = &node.kind else {
            errors.push(
                node.err("`errors:` is a list of rules: `- { status: 404, code: not_found }`"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match self.error_rule(item) {
                Ok(r) => out.push(r),
                Err(e) => errors.push(e),
            }
        }
        out
    }

    fn error_rule(&self, node: &Node) -> R<ErrorRule> {
        check_keys(
            node,
            &[
                "status",
                "when",
                "steps",
                "code",
                "message",
                "vendor_code",
                "field",
                "fields",
            ],
        )?;
        let status = match node.get("status") {
            None => StatusMatch::NonSuccess,
            Some(s) => status_match(s)?,
        };
        let code_node = node
            .get("code")
            .ok_or_else(|| node.err("an error rule needs `code:` (a canonical error code, or a `from:` with a value map)"))?;
        let code = self.template(code_node)?;
        check_codes(code_node, &code)?;
        let steps = match node.get("steps") {
            None => None,
            Some(s) => Some(match &s.kind {
                NodeKind::Seq(items) => items
                    .iter()
                    .map(|i| {
                        let name = string(i, "step name")?;
                        self.steps.iter().position(|s| *s == name).ok_or_else(|| {
                            i.err(format!("no step named `{name}` in this operation"))
                        })
                    })
                    .collect::<R<Vec<_>>>()?,
                _ => return Err(s.err("`steps:` lists step names")),
            }),
        };
        let fields = match node.get("fields") {
            None => Vec::new(),
            Some(f) => f
                .as_map()
                .ok_or_else(|| {
                    f.err("`fields:` maps vendor field names to canonical JSON pointers")
                })?
                .iter()
                .map(|(k, v)| {
                    let p = string(v, "pointer")?;
                    if !p.starts_with('/') {
                        return Err(
                            v.err(format!("`{p}` is not a JSON pointer (it starts with /)"))
                        );
                    }
                    Ok((k.name.clone(), p))
                })
                .collect::<R<_>>()?,
        };
        Ok(ErrorRule {
            loc: node.loc.clone(),
            status,
            when: node.get("when").map(|w| self.predicate(w)).transpose()?,
            steps,
            code,
            message: node.get("message").map(|m| self.template(m)).transpose()?,
            vendor_code: node
                .get("vendor_code")
                .map(|m| self.template(m))
                .transpose()?,
            field: node.get("field").map(|m| self.template(m)).transpose()?,
            fields,
        })
    }

    fn operation(
        &mut self,
        op: Operation,
        node: &Node,
        errors: &mut Vec<LocError>,
    ) -> Option<OperationPlan> {
        if let Err(e) = check_keys(
            node,
            &["steps", "errors", "result", "paging", "unsupported"],
        ) {
            errors.push(e);
            return None;
        }
        let Some(step_nodes) = node.get("steps") else {
            errors.push(node.err(format!(
                "`{op}` needs `steps:` (the vendor calls), or `unsupported: reason`"
            )));
            return None;
        };
        let NodeKind::Seq(step_items) = &step_nodes.kind else {
            errors.push(step_nodes.err("`steps:` is a list of `{ name, request, when }`"));
            return None;
        };
        // Names first: a step's templates may read earlier steps.
        let mut names = Vec::new();
        for (i, s) in step_items.iter().enumerate() {
            let name = match s.get("name") {
                Some(n) => match string(n, "name") {
                    Ok(name) => name,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                },
                None => format!("step{}", i + 1),
            };
            if ROOT_NAMES.iter().any(|(r, _)| *r == name) || names.contains(&name) {
                errors.push(s.err(format!(
                    "step name `{name}` is taken (a root name or another step)"
                )));
            }
            names.push(name);
        }
        self.steps = names.clone();
        let mut steps = Vec::new();
        for (slot, s) in step_items.iter().enumerate() {
            let compiled = (|| -> R<StepPlan> {
                check_keys(s, &["name", "when", "request"])?;
                let req = s
                    .get("request")
                    .ok_or_else(|| s.err("a step needs `request:`"))?;
                Ok(StepPlan {
                    name: names.get(slot).cloned().unwrap_or_default(),
                    slot,
                    loc: s.loc.clone(),
                    when: s.get("when").map(|w| self.predicate(w)).transpose()?,
                    request: self.request(req)?,
                    answer: AnswerNeed::whole(),
                })
            })();
            match compiled {
                Ok(p) => steps.push(p),
                Err(e) => errors.push(e),
            }
        }
        let op_errors = node
            .get("errors")
            .map(|e| self.error_rules(e, errors))
            .unwrap_or_default();
        let result = match self.result(op, node) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                return None;
            }
        };
        let paging = match node.get("paging") {
            None => Paging::default(),
            Some(p) => match paging(p) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e);
                    return None;
                }
            },
        };
        self.steps.clear();
        Some(OperationPlan {
            loc: node.loc.clone(),
            slots: names.len(),
            steps,
            errors: op_errors,
            result,
            paging,
        })
    }

    fn result(&self, op: Operation, node: &Node) -> R<ResultPlan> {
        let r = node.get("result");
        match op {
            Operation::DeleteOrder => match r {
                None => Ok(ResultPlan::Empty),
                Some(n) => Err(n.err("delete_order answers 204 with no body: remove `result:`")),
            },
            Operation::ListOrders => {
                let n = r.ok_or_else(|| {
                    node.err("list_orders needs `result: { items: ..., total: ... }`")
                })?;
                check_keys(n, &["items", "total", "next_cursor"])?;
                let items = n.get("items").ok_or_else(|| {
                    n.err("`result:` of list_orders needs `items:` (a list of canonical orders)")
                })?;
                Ok(ResultPlan::List {
                    items: self.template(items)?,
                    total: n.get("total").map(|t| self.template(t)).transpose()?,
                    next_cursor: n.get("next_cursor").map(|t| self.template(t)).transpose()?,
                })
            }
            _ => {
                let n = r.ok_or_else(|| {
                    node.err(format!(
                        "{op} needs `result:` (the canonical order, read from the answers)"
                    ))
                })?;
                Ok(ResultPlan::Order(self.template(n)?))
            }
        }
    }
}

/// The keys an operator object may hold: its head word and its modifiers.
fn operator_keys(head: &str) -> &'static [&'static str] {
    match head {
        "from" => &[
            "from",
            "default",
            "map",
            "reverse",
            "on_unmapped",
            "as",
            "format",
            "parse",
            "scale",
            "keep_null",
            "zone",
        ],
        "each" => &["each", "filter", "to", "omit_empty"],
        "if" => &["if", "then", "else"],
        "use" => &["use", "with"],
        "capture" => &["capture", "regex"],
        "join" => &["join", "separator"],
        "compact" => &["compact", "omit_empty"],
        "fail" => &["fail", "pointer"],
        "require" => &["require", "message"],
        "add" => &["add", "scale"],
        "sub" => &["sub", "scale"],
        "mul" => &["mul", "scale"],
        "div" => &["div", "scale"],
        "sum" => &["sum", "scale"],
        other => std::slice::from_ref(HEADS.iter().find(|h| **h == other).unwrap_or(&"const")),
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

fn head_err(node: &Node, head: &str) -> LocError {
    node.err(format!("internal: operator `{head}` has no compiler"))
}

fn regex(node: &Node) -> R<Pattern> {
    let text = string(node, "regex")?;
    Pattern::new(&text).map_err(|e| node.err(format!("invalid regex `{text}`: {e}")))
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c)
}

fn status_match(node: &Node) -> R<StatusMatch> {
    let one = |n: &Node| -> R<StatusRange> {
        match &n.kind {
            NodeKind::Number(_) => {
                let v = uint(n, "status")?;
                if !(100..=599).contains(&v) {
                    return Err(n.err(format!("{v} is not an HTTP status")));
                }
                Ok(StatusRange {
                    lo: v as u16,
                    hi: v as u16,
                })
            }
            NodeKind::Str(s) if s.len() == 3 && s.ends_with("xx") => {
                let d = s.as_bytes()[0];
                if !(b'1'..=b'5').contains(&d) {
                    return Err(n.err(format!("`{s}` is not a status class (1xx..5xx)")));
                }
                let base = u16::from(d - b'0') * 100;
                Ok(StatusRange {
                    lo: base,
                    hi: base + 99,
                })
            }
            _ => Err(n.err("a status is a number (404), a class (\"4xx\") or `any`")),
        }
    };
    match &node.kind {
        NodeKind::Str(s) if s == "any" => Ok(StatusMatch::Any),
        NodeKind::Seq(items) => Ok(StatusMatch::Set(items.iter().map(one).collect::<R<_>>()?)),
        _ => Ok(StatusMatch::Set(vec![one(node)?])),
    }
}

fn paging(node: &Node) -> R<Paging> {
    check_keys(
        node,
        &[
            "style",
            "default_limit",
            "max_limit",
            "first_page",
            "page_size",
        ],
    )?;
    let mut p = Paging::default();
    if let Some(s) = node.get("style") {
        p.style = match string(s, "style")?.as_str() {
            "offset" => PagingStyle::Offset,
            "cursor" => PagingStyle::Cursor,
            other => {
                return Err(s.err(format!(
                    "unknown paging style `{other}`; expected offset or cursor"
                )));
            }
        };
    }
    if let Some(n) = node.get("default_limit") {
        p.default_limit = uint(n, "default_limit")?.max(1);
    }
    if let Some(n) = node.get("max_limit") {
        p.max_limit = uint(n, "max_limit")?.max(1);
    }
    if let Some(n) = node.get("first_page") {
        p.first_page = uint(n, "first_page")?;
    }
    if let Some(n) = node.get("page_size") {
        p.page_size = Some(uint(n, "page_size")?.max(1));
    }
    Ok(p)
}

/// An element the XML writer opens in every document (`root:`, `item:`), checked here once.
fn element_name(node: &Node, what: &str) -> R<String> {
    let name = string(node, what)?;
    if crate::codec::xml::is_element_name(&name) {
        Ok(name)
    } else {
        Err(node.err(format!(
            "`{what}: {name}` is not a valid XML element name (a letter or `_`, then letters, digits, `_`, `-` or `.`)"
        )))
    }
}

fn xml_options(node: &Node) -> R<XmlOptions> {
    check_keys(
        node,
        &[
            "root",
            "item",
            "list_attribute",
            "always_list",
            "declaration",
        ],
    )?;
    let mut o = XmlOptions::default();
    if let Some(r) = node.get("root") {
        o.root = element_name(r, "root")?;
    }
    if let Some(i) = node.get("item") {
        o.item = element_name(i, "item")?;
    }
    if let Some(a) = node.get("list_attribute") {
        let text = string(a, "list_attribute")?;
        let (k, v) = text
            .split_once('=')
            .ok_or_else(|| a.err("`list_attribute:` is written name=value, e.g. list=true"))?;
        o.list_attribute = Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
    }
    if let Some(l) = node.get("always_list") {
        o.always_list = match &l.kind {
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| string(i, "always_list").map(|t| ElementPath::parse(&t)))
                .collect::<R<_>>()?,
            _ => return Err(l.err("`always_list:` lists element paths like root/products")),
        };
    }
    if let Some(d) = node.get("declaration") {
        o.declaration = boolean(d, "declaration")?;
    }
    Ok(o)
}

/// A constant code, or the values of the value map a `from:` uses, must be canonical codes.
fn check_codes(node: &Node, t: &Template) -> R<()> {
    let check = |v: &Value| -> R<()> {
        match v.as_str() {
            Some(c) if ErrorCode::parse(c).is_some() => Ok(()),
            _ => Err(node.err(format!(
                "`{v}` is not a canonical error code; expected one of: {}",
                ErrorCode::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    };
    match t {
        Template::Const(v) => check(v),
        Template::From(op) => {
            if let Some(map) = &op.map {
                for v in map.entries.values() {
                    check(v)?;
                }
            }
            if let Some(Template::Const(d)) = &op.default {
                check(d)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> String {
        match compile_file("m.yaml", text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    const MINIMAL: &str = "vendor: x\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: \"/o/${path.id}\" }\n    result: { id: $got.body.id }\n";

    #[test]
    fn minimal_mapping_compiles() {
        let m = compile_file("m.yaml", MINIMAL).expect("compiles");
        assert_eq!(m.vendor, "x");
        assert!(m.operations.contains_key(&Operation::GetOrder));
    }

    #[test]
    fn unknown_key_names_its_line() {
        let e = errors_of("vendor: x\nbogus: 1\noperations: {}\n");
        assert!(e.contains("m.yaml:2: unknown key `bogus`"), "{e}");
    }

    #[test]
    fn bad_jsonpath_names_its_line() {
        let e = errors_of(&MINIMAL.replace("$got.body.id", "\"$got.body[?(@.x ==\""));
        assert!(
            e.contains("m.yaml:7:") && e.contains("invalid JSONPath"),
            "{e}"
        );
    }

    #[test]
    fn unknown_encoding_and_code_are_refused() {
        let e = errors_of(&MINIMAL.replace(
            "path: \"/o/${path.id}\" }",
            "path: /o, encoding: yaml, body: {} }",
        ));
        assert!(
            e.contains("m.yaml:6:") && e.contains("unknown encoding `yaml`"),
            "{e}"
        );
        let e = errors_of(&format!(
            "{MINIMAL}errors:\n  - {{ status: 404, code: missing }}\n"
        ));
        assert!(
            e.contains("m.yaml:9:") && e.contains("not a canonical error code"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_regex_names_its_line_and_a_good_one_is_built_when_used() {
        let e = errors_of(&MINIMAL.replace(
            "$got.body.id",
            "{ capture: $got.body.id, regex: \"(unclosed\" }",
        ));
        assert!(
            e.contains("m.yaml:7:") && e.contains("invalid regex `(unclosed`"),
            "{e}"
        );
        let p = Pattern::new(r"^(\w+):").expect("a pattern");
        let re = p.regex().expect("built");
        assert!(re.is_match("Größe: 3"));
        assert!(std::ptr::eq(re, p.regex().expect("built")), "built once");
    }

    #[test]
    fn xml_root_and_item_must_be_element_names() {
        let xml = |opts: &str| {
            errors_of(&MINIMAL.replace(
                "path: \"/o/${path.id}\" }",
                &format!("path: /o, encoding: xml, xml: {opts}, body: {{ a: 1 }} }}"),
            ))
        };
        let e = xml("{ root: \"sales order\" }");
        assert!(
            e.contains("m.yaml:6:")
                && e.contains("`root: sales order` is not a valid XML element name"),
            "{e}"
        );
        let e = xml("{ item: 2nd }");
        assert!(
            e.contains("`item: 2nd` is not a valid XML element name"),
            "{e}"
        );
        assert_eq!(xml("{ root: Заказ, item: _line.x-1 }"), "");
    }

    #[test]
    fn unknown_root_and_map_are_refused() {
        let e = errors_of(&MINIMAL.replace("$got.body.id", "$gto.body.id"));
        assert!(e.contains("unknown root `$gto`"), "{e}");
        let e = errors_of(&MINIMAL.replace("$got.body.id", "{ from: $got.body.id, map: nope }"));
        assert!(e.contains("unknown value map `nope`"), "{e}");
    }

    #[test]
    fn vendor_fields_named_like_operators_stay_literal() {
        let m = compile_file(
            "m.yaml",
            &MINIMAL.replace(
                "{ id: $got.body.id }",
                "{ id: $got.body.id, sum: { add: [1, 2] }, vat_sum: 0 }",
            ),
        )
        .expect("compiles");
        assert!(m.operations.contains_key(&Operation::GetOrder));
        let e = errors_of(&MINIMAL.replace("$got.body.id", "{ from: $got.body.id, defualt: 1 }"));
        assert!(e.contains("did you mean `default`"), "{e}");
        let e = errors_of(
            &MINIMAL.replace("$got.body.id", "{ from: $got.body.id, map: x, colour: 1 }"),
        );
        assert!(e.contains("unknown key `colour` for `from`"), "{e}");
    }

    #[test]
    fn paths_refuse_raw_spaces() {
        let e = errors_of(&MINIMAL.replace("/o/${path.id}", "/api/resource/Sales Order"));
        assert!(e.contains("percent-encode"), "{e}");
    }

    /// The reference's table of load-time checks names the functions that write each
    /// message: each must still exist here.
    #[test]
    fn the_reference_names_functions_that_exist() {
        // Read, not embedded: the container build leaves docs/ out.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/mapping-language.md");
        let doc = std::fs::read_to_string(path).expect("docs/mapping-language.md is readable");
        let source = include_str!("compile.rs");
        let mut named = 0;
        for row in doc.lines().filter(|l| l.starts_with('|')) {
            let Some((_, cited)) = row.rsplit_once("| compile.rs: ") else {
                continue;
            };
            for name in cited.trim_end_matches(" |").split(", ") {
                let name = name.trim_matches('`');
                named += 1;
                assert!(
                    source.contains(&format!("fn {name}("))
                        || source.contains(&format!("fn {name}<")),
                    "docs/mapping-language.md names compile.rs `{name}`, which is not a function there"
                );
            }
        }
        assert!(named > 30, "the table of load-time checks was not found");
    }
}
