//! Validation of canonical request bodies against the contract's JSON Schema
//! (`schemas/order.schema.json`, embedded), plus the one rule a schema cannot say: every
//! number must be an exact decimal the gateway can carry (28 significant digits).
//!
//! A body is first read into its typed struct (`order`), whose reading makes the same checks;
//! the schema's validators run only for a body that reading refuses, to say where it breaks
//! the contract.

use std::sync::{Once, OnceLock};

use jsonschema::Validator;

use crate::value::Schema;
use crate::value::Value;

use super::order::{OrderCreate, OrderUpdate, Payment};
use super::problem::FieldError;
use crate::engine::convert::parse_exact_decimal;

pub const ORDER_SCHEMA: &str = include_str!("../../schemas/order.schema.json");
pub const OPENAPI: &str = include_str!("../../schemas/openapi.json");

/// Which body is being validated.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    Create,
    Update,
    Payment,
}

/// The embedded contract. The tests parse it and build its three validators, so a failure
/// here is a bug.
fn order_schema() -> serde_json::Value {
    serde_json::from_str(ORDER_SCHEMA).expect("embedded order schema is JSON")
}

/// The schema's validator of one body, built the first time a body of its kind is refused by
/// its typed reading: a gateway whose clients send valid orders never builds one (they hold
/// ~0.8 MB, with the regular expressions of their patterns).
fn validator(which: Body) -> &'static Validator<Schema> {
    static CREATE: OnceLock<Validator<Schema>> = OnceLock::new();
    static UPDATE: OnceLock<Validator<Schema>> = OnceLock::new();
    static PAYMENT: OnceLock<Validator<Schema>> = OnceLock::new();
    let (cell, def) = match which {
        Body::Create => (&CREATE, "OrderCreate"),
        Body::Update => (&UPDATE, "OrderUpdate"),
        Body::Payment => (&PAYMENT, "PaymentCreate"),
    };
    cell.get_or_init(|| {
        let mut root = order_schema();
        if let Some(obj) = root.as_object_mut() {
            obj.insert(
                "$ref".into(),
                serde_json::Value::String(format!("#/$defs/{def}")),
            );
        }
        jsonschema::options_for::<Schema>()
            .should_validate_formats(true)
            .build(&root)
            .expect("embedded order schema compiles")
    })
}

/// Every name the schema declares under a `properties`.
fn property_names<'a>(schema: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match schema {
        serde_json::Value::Object(members) => {
            if let Some(serde_json::Value::Object(props)) = members.get("properties") {
                out.extend(props.keys().map(String::as_str));
            }
            members.values().for_each(|v| property_names(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

/// Learns the contract's names before the first request, so a canonical body's members are
/// read as their interned copies (found by address) from the first.
pub fn warm_up() {
    static NAMES: Once = Once::new();
    NAMES.call_once(|| {
        let schema = order_schema();
        let mut names = Vec::new();
        property_names(&schema, &mut names);
        crate::value::intern_all(names);
    });
}

/// Every way `body` breaks the contract, with JSON pointers; empty when it is valid.
pub fn validate(body: &Value, which: Body) -> Vec<FieldError> {
    // Most bodies are valid and read into their typed struct in one pass; the schema's yes/no
    // walk answers for the few valid bodies that reading refuses (see `order`), and the walk
    // that says where runs only for a body that breaks the contract.
    if typed_accepts(body, which) || schema_accepts(body, which) {
        return Vec::new();
    }
    let validator = validator(which);
    let exact = all_exact(body);
    let mut errors: Vec<FieldError> = validator
        .iter_errors(body)
        .map(|e| FieldError {
            pointer: e.instance_path().as_str().to_string(),
            message: e.masked().to_string(),
        })
        .collect();
    if !exact {
        inexact_numbers(body, String::new(), &mut errors);
    }
    errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    errors.dedup();
    errors
}

/// True when `body` reads into its typed struct, which makes the contract's checks.
pub fn typed_accepts(body: &Value, which: Body) -> bool {
    match which {
        Body::Create => OrderCreate::read(body).is_some(),
        Body::Update => OrderUpdate::read(body).is_some(),
        Body::Payment => Payment::read_create(body).is_some(),
    }
}

/// True when the contract's JSON Schema accepts `body` and its numbers are exact decimals.
pub fn schema_accepts(body: &Value, which: Body) -> bool {
    all_exact(body) && validator(which).is_valid(body)
}

/// The contract check of an operation's body, as the problem the client gets.
pub fn check_body(
    op: super::operation::Operation,
    body: &Value,
) -> Result<(), super::problem::Problem> {
    use super::operation::Operation;
    use super::problem::{ErrorCode, Problem};
    let which = match op {
        Operation::CreateOrder => Body::Create,
        Operation::UpdateOrder => Body::Update,
        Operation::RecordPayment => Body::Payment,
        _ => return Ok(()),
    };
    let errors = validate(body, which);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(
            Problem::new(ErrorCode::ValidationFailed, "the order breaks the contract")
                .with_errors(errors),
        )
    }
}

/// True when every number in `v` is an exact decimal the gateway can carry.
pub(super) fn all_exact(v: &Value) -> bool {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if parse_exact_decimal(n.as_str()).is_none() => return false,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    true
}

fn inexact_numbers(v: &Value, pointer: String, out: &mut Vec<FieldError>) {
    let mut stack = vec![(v, pointer)];
    while let Some((v, p)) = stack.pop() {
        match v {
            Value::Number(n) if parse_exact_decimal(n.as_str()).is_none() => out.push(FieldError {
                pointer: p,
                message: "not representable as an exact decimal (at most 28 significant digits)"
                    .into(),
            }),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    stack.push((item, format!("{p}/{i}")));
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    stack.push((
                        item,
                        format!("{p}/{}", k.replace('~', "~0").replace('/', "~1")),
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn order() -> Value {
        json!({"customer": {"id": "C1"}, "lines": [{"sku": "A", "quantity": 1, "unit_price": 2.5}]})
    }

    #[test]
    fn a_minimal_order_is_valid() {
        assert_eq!(validate(&order(), Body::Create), vec![]);
    }

    #[test]
    fn errors_point_at_fields() {
        let mut o = order();
        o["lines"][0]["quantity"] = json!(0);
        o["customer"] = json!({});
        o["order_date"] = json!("23/11/2026");
        let errors = validate(&o, Body::Create);
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/lines/0/quantity"), "{errors:?}");
        assert!(pointers.contains(&"/customer"), "{errors:?}");
        assert!(pointers.contains(&"/order_date"), "{errors:?}");
    }

    #[test]
    fn huge_numbers_are_refused() {
        let mut o = order();
        o["lines"][0]["unit_price"] = serde_json::from_str("1e400").expect("parses");
        let errors = validate(&o, Body::Create);
        assert!(
            errors.iter().any(|e| e.pointer == "/lines/0/unit_price"),
            "{errors:?}"
        );
    }

    #[test]
    fn numbers_a_decimal_would_round_are_refused() {
        // 29 digits after the point, and 30 significant digits: a `Decimal` would round both.
        for text in [
            "0.10000000000000000000000000001",
            "1.23456789012345678901234567891e2",
        ] {
            let mut o = order();
            o["lines"][0]["unit_price"] = serde_json::from_str(text).expect("parses");
            o["vendor_fields"] = json!({"weight": o["lines"][0]["unit_price"].clone()});
            let errors = validate(&o, Body::Create);
            let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
            assert_eq!(
                pointers,
                ["/lines/0/unit_price", "/vendor_fields/weight"],
                "{text}"
            );
        }
        let mut o = order();
        o["lines"][0]["unit_price"] = serde_json::from_str("1.5e-3").expect("parses");
        assert_eq!(validate(&o, Body::Create), vec![]);
    }

    #[test]
    fn no_lines_and_unknown_fields_are_refused() {
        let o = json!({"customer": {"id": "C1"}, "lines": [], "colour": "red"});
        let errors = validate(&o, Body::Create);
        assert!(errors.iter().any(|e| e.pointer == "/lines"), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.pointer.is_empty() && e.message.contains("colour")),
            "{errors:?}"
        );
    }

    #[test]
    fn openapi_components_match_the_order_schema() {
        let api: Value = serde_json::from_str(OPENAPI).expect("openapi parses");
        assert_eq!(api["openapi"], "3.1.0");
        let schema: Value = serde_json::from_str(ORDER_SCHEMA).expect("schema parses");
        let defs = schema["$defs"].as_object().expect("$defs");
        for (name, def) in defs {
            let rewritten = def.to_string().replace("#/$defs/", "#/components/schemas/");
            let component = api["components"]["schemas"][name.as_str()].to_string();
            assert_eq!(
                rewritten, component,
                "components/schemas/{name} differs from $defs/{name}"
            );
        }
    }
}
