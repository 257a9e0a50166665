//! jsonpath-rust reads a [`Value`] where it lies (`Queryable`): selectors richer than names and
//! indexes (filters, wildcards, slices) run on the engine's values without a conversion.

use std::borrow::Cow;

use jsonpath_rust::query::queryable::Queryable;

use super::{Number, Value};

impl From<f64> for Value {
    /// For jsonpath-rust's own results (`length()`, comparisons); the engine never makes an f64.
    fn from(f: f64) -> Value {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

impl Queryable for Value {
    fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    fn as_array(&self) -> Option<&Vec<Value>> {
        Value::as_array(self)
    }

    fn as_object(&self) -> Option<Vec<(&str, &Value)>> {
        Value::as_object(self).map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
    }

    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn as_i64(&self) -> Option<i64> {
        Value::as_i64(self)
    }

    fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn null() -> Value {
        Value::Null
    }

    /// jsonpath-rust's set functions (`in`, `nin`, `none_of`, `any_of`, `subset_of`), as its
    /// serde_json representation has them.
    fn extension_custom(name: &str, args: Vec<Cow<Value>>) -> Value {
        let [lhs, rhs] = args.as_slice() else {
            return Value::Null;
        };
        let (lhs, rhs) = (lhs.as_ref(), rhs.as_ref());
        let Some(set) = Value::as_array(rhs) else {
            return Value::Null;
        };
        let has = |v: &Value| set.iter().any(|item| item == v);
        match name {
            "in" => has(lhs).into(),
            "nin" => (!has(lhs)).into(),
            _ => match (name, Value::as_array(lhs)) {
                ("none_of", Some(items)) => items.iter().all(|v| !has(v)).into(),
                ("any_of", Some(items)) => items.iter().any(has).into(),
                ("subset_of", Some(items)) => items.iter().all(has).into(),
                _ => Value::Null,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonpath_rust::parser::parse_json_path;
    use jsonpath_rust::query::js_path_process;

    use super::*;

    #[test]
    fn filters_and_wildcards_run_on_values() {
        let v = crate::json!({"lines": [
            {"kind": "service", "q": 1}, {"kind": "product", "q": 2.5}, {"q": 3}
        ]});
        let run = |path: &str| -> Vec<Value> {
            let q = parse_json_path(path).expect("path");
            js_path_process(&q, &v)
                .expect("runs")
                .into_iter()
                .map(|r| r.val.clone())
                .collect()
        };
        assert_eq!(run("$.lines[?(@.kind == 'service')].q"), [crate::json!(1)]);
        assert_eq!(
            run("$.lines[?(@.q > 2)].q"),
            [crate::json!(2.5), crate::json!(3)]
        );
        assert_eq!(run("$.lines[*].kind").len(), 2);
        assert_eq!(run("$.lines[-1:].q"), [crate::json!(3)]);
        assert_eq!(run("$..q").len(), 3);
    }
}
