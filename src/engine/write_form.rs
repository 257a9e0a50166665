//! Form request bodies (`application/x-www-form-urlencoded`) written field by field from the
//! template, as `codec::form::encode` would write the object [`Evaluator::eval`] yields,
//! without building it: an object's fields are evaluated and written in order (a merge of
//! objects naming different fields too); `if`, named templates and a `merge` whose extra
//! parts are absent are walked (`Evaluator::through`);
//! anything else is evaluated and encoded by the codec.

use super::eval::{Evaluator, Scope};
use super::plan::{ObjectKey, Template};
use super::render::RenderError;
use crate::codec::form::{self, Fields};

impl Evaluator<'_> {
    /// The form body of `t`, which must yield an object of fields.
    pub fn write_form(&self, t: &Template, s: &Scope<'_>) -> Result<Vec<u8>, RenderError> {
        self.begin();
        let mut fields = Fields::new();
        if !self.write_fields(&mut fields, t, s, 0)? {
            // Absent: not an object of fields, as the codec says of a null body.
            return Err(form::not_an_object("form").into());
        }
        Ok(fields.finish())
    }

    /// Writes the fields of `t`; false (nothing written) when `t` is absent.
    fn write_fields(
        &self,
        fields: &mut Fields,
        t: &Template,
        s: &Scope<'_>,
        depth: usize,
    ) -> Result<bool, RenderError> {
        if let Some(written) = self.through(t, s, depth, &mut |t, s, d| {
            self.write_fields(fields, t, s, d)
        }) {
            return written;
        }
        if let Template::Merge(_) = t
            && let Some(walk) = self.object_walk(t, s, depth)
        {
            walk.members(|m| {
                let Some(v) = self.member_value(&m, s)? else {
                    return Ok(false);
                };
                fields.field(m.key(), &v)?;
                Ok::<_, RenderError>(true)
            })?;
            return Ok(true);
        }
        match t {
            Template::Object(entries)
                if entries
                    .iter()
                    .all(|(k, _)| matches!(k, ObjectKey::Literal(_))) =>
            {
                for (key, value) in entries {
                    if let ObjectKey::Literal(key) = key
                        && let Some(v) = self.eval_depth(value, s, depth)?
                    {
                        fields.field(key, &v)?;
                    }
                }
                Ok(true)
            }
            other => match self.eval_depth(other, s, depth)? {
                Some(v) => {
                    fields.object(&v)?;
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::value::Value;

    use crate::engine::test_body::with_create_body;

    /// The body written directly and by evaluating then encoding (each as its text, or its
    /// error).
    fn both(body: &str, input: &Value) -> (String, String) {
        let head = "  head: { ref: $.ref, n: $.n }\n";
        with_create_body(
            head,
            "          encoding: form\n",
            body,
            input,
            |ev, t, scope, _| {
                let show = |r: Result<Vec<u8>, String>| match r {
                    Ok(bytes) => String::from_utf8(bytes).expect("utf8"),
                    Err(e) => format!("error: {e}"),
                };
                let written = show(ev.write_form(t, scope).map_err(|e| e.to_string()));
                let value = ev.eval_owned(t, scope).expect("evaluates");
                let encoded = show(
                    crate::codec::form::encode(&value.unwrap_or(Value::Null))
                        .map_err(|e| e.to_string()),
                );
                (written, encoded)
            },
        )
    }

    #[test]
    fn writing_a_form_gives_the_bytes_evaluating_then_encoding_gives() {
        let input: Value = serde_json::from_str(
            r#"{"ref": "A&B 1", "n": 10.50, "flag": true, "none": null, "tags": ["x", "y"],
                "lines": [{"q": 1}, {"q": 2}], "extra": {"k": "v"}}"#,
        )
        .expect("JSON");
        for body in [
            "{ ref: $.ref, n: $.n, flag: $.flag, none: $.none, gone: $.nothing, tags: $.tags }",
            "{ lines: { json: $.lines }, count: { count: $.lines } }",
            "{ use: head }",
            "{ merge: [{ use: head }, $.nothing] }",
            "{ merge: [{ a: 1 }, $.nothing] }",
            "{ merge: [{ a: 1 }, $.extra] }",
            "{ merge: [{ use: head }, { extra: 1, none: $.nothing }] }",
            "{ merge: [{ a: 1 }, { a: 2, b: 3 }] }",
            "{ merge: [{ ref: $.ref, x: $.nothing }, $.extra] }",
            "{ merge: [{ k: 1, ref: $.ref }, $.extra] }",
            "{ merge: [{ k: 1 }, { use: head }, $.extra] }",
            "{ if: { exists: $.ref }, then: { a: $.ref }, else: { b: 1 } }",
            "{ if: { exists: $.nothing }, then: { a: $.ref } }",
            "{ lines: $.lines }",
            "$.extra",
            "$.ref",
            "$.nothing",
        ] {
            let (written, encoded) = both(body, &input);
            assert_eq!(written, encoded, "{body}");
        }
        let (fields, _) = both("{ ref: $.ref, n: $.n, tags: $.tags }", &input);
        assert_eq!(fields, "ref=A%26B+1&n=10.50&tags=x&tags=y");
        let (nested, _) = both("{ lines: $.lines }", &input);
        assert!(nested.contains("wrap it in `json:`"), "{nested}");
    }
}
