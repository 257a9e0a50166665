//! XML request bodies written straight from the template into the buffer, as
//! `codec::xml::encode` would write the value [`Evaluator::eval`] yields, without building it:
//! objects (attributes from `@` keys, `#text`) and merges of objects, lists (`each`,
//! `compact`, literal arrays), `if` and named templates are written as they are walked;
//! anything else is evaluated and written by the codec.

use super::eval::{Evaluator, Scope, WalkMember};
use super::plan::{ObjectKey, Template, XmlOptions};
use super::render::RenderError;
use crate::codec::xml::{self, XmlWriter};

impl Evaluator<'_> {
    /// The XML document of `t` under the mapping's root element (an empty root when absent).
    pub fn write_xml(
        &self,
        t: &Template,
        s: &Scope<'_>,
        opts: &XmlOptions,
    ) -> Result<Vec<u8>, RenderError> {
        self.begin();
        let mut w = XmlWriter::new(opts);
        let mut element = Element {
            w: &mut w,
            opts,
            depth: 0,
        };
        if !self.write_element(&mut element, xml::checked(&opts.root), t, s, 0)? {
            w.empty(&opts.root, 0)?;
        }
        Ok(w.into_bytes())
    }

    /// Writes element `name` holding `t`; false (nothing written) when `t` is absent. The name
    /// comes with whether it is a valid one, decided once (a mapping's names at load).
    fn write_element(
        &self,
        e: &mut Element<'_>,
        name: (&str, bool),
        t: &Template,
        s: &Scope<'_>,
        use_depth: usize,
    ) -> Result<bool, RenderError> {
        if let Some(written) = self.through(t, s, use_depth, &mut |t, s, d| {
            self.write_element(e, name, t, s, d)
        }) {
            return written;
        }
        if let Template::Merge(_) = t
            && let Some(walk) = self.object_walk(t, s, use_depth)
        {
            e.w.open_known(name, e.depth)?;
            walk.members(|m| {
                let Some(attr) = m.key().strip_prefix('@') else {
                    return Ok(false);
                };
                let Some(v) = self.member_value(&m, s)? else {
                    return Ok(false);
                };
                e.w.attribute(attr, &v)?;
                Ok::<_, RenderError>(true)
            })?;
            e.w.start_done();
            e.depth += 1;
            walk.members(|m| {
                let key = m.key();
                if key.starts_with('@') {
                    return Ok(false);
                }
                if let WalkMember::Template(key, t, d) = m
                    && key.as_str() != "#text"
                {
                    // Walked, not built: objects and lists below are written as they come.
                    return self.write_element(e, key.element(), t, s, d);
                }
                let element = match &m {
                    WalkMember::Template(key, ..) | WalkMember::Replacing(key, ..) => key.element(),
                    WalkMember::Value(key, _) => xml::checked(key),
                };
                let Some(v) = self.member_value(&m, s)? else {
                    return Ok(false);
                };
                if key == "#text" {
                    e.w.text(&v);
                } else {
                    xml::write_element_known(e.w, element, &v, e.opts, e.depth)?;
                }
                Ok::<_, RenderError>(true)
            })?;
            e.depth -= 1;
            e.w.end(name.0);
            return Ok(true);
        }
        match t {
            Template::Object(fields)
                if fields
                    .iter()
                    .all(|(k, _)| matches!(k, ObjectKey::Literal(_))) =>
            {
                e.w.open_known(name, e.depth)?;
                for (key, value) in fields {
                    let ObjectKey::Literal(key) = key else {
                        continue;
                    };
                    if let Some(attr) = key.strip_prefix('@')
                        && let Some(v) = self.eval_depth(value, s, use_depth)?
                    {
                        e.w.attribute(attr, &v)?;
                    }
                }
                e.w.start_done();
                e.depth += 1;
                for (key, value) in fields {
                    let ObjectKey::Literal(key) = key else {
                        continue;
                    };
                    if key.starts_with('@') {
                        continue;
                    }
                    if key.as_str() == "#text" {
                        if let Some(v) = self.eval_depth(value, s, use_depth)? {
                            e.w.text(&v);
                        }
                        continue;
                    }
                    self.write_element(e, key.element(), value, s, use_depth)?;
                }
                e.depth -= 1;
                e.w.end(name.0);
                Ok(true)
            }
            Template::Array(_) | Template::Compact(..) | Template::Each(_) => {
                self.write_list(e, name, t, s, use_depth)
            }
            other => match self.eval_depth(other, s, use_depth)? {
                Some(v) => {
                    xml::write_element_known(e.w, name, &v, e.opts, e.depth)?;
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }

    /// A list element: its items as `item` elements. A literal array writes an absent item as
    /// an empty element (positions matter); `compact` and `each` leave it out, and are absent
    /// when empty with `omit_empty` (or, for `each`, when its source is absent).
    fn write_list(
        &self,
        e: &mut Element<'_>,
        name: (&str, bool),
        t: &Template,
        s: &Scope<'_>,
        use_depth: usize,
    ) -> Result<bool, RenderError> {
        let mark = e.w.mark();
        e.w.open_known(name, e.depth)?;
        e.w.list_attribute(e.opts);
        e.w.start_done();
        e.depth += 1;
        let item = xml::checked(&e.opts.item);
        let mut any = false;
        let keep = match t {
            Template::Array(items) => {
                for i in items {
                    if !self.write_element(e, item, i, s, use_depth)? {
                        e.w.empty(item.0, e.depth)?;
                    }
                }
                true
            }
            Template::Compact(items, omit_empty) => {
                for i in items {
                    any |= self.write_element(e, item, i, s, use_depth)?;
                }
                any || !omit_empty
            }
            Template::Each(op) => {
                let found = self.each_element::<RenderError>(op, s, use_depth, &mut |inner| {
                    any |= self.write_element(e, item, &op.to, inner, use_depth)?;
                    Ok(())
                })?;
                found && (any || !op.omit_empty)
            }
            _ => true,
        };
        e.depth -= 1;
        if !keep {
            e.w.truncate(mark);
            return Ok(false);
        }
        e.w.end(name.0);
        Ok(true)
    }
}

/// The writer and where it is in the document.
struct Element<'w> {
    w: &'w mut XmlWriter,
    opts: &'w XmlOptions,
    /// Nesting of the element being written (the codec's depth limit applies).
    depth: usize,
}

#[cfg(test)]
mod tests {
    use crate::json;
    use crate::value::Value;

    use crate::engine::test_body::with_create_body;

    /// The body written directly and by evaluating then encoding.
    fn both(body: &str, input: &Value) -> (String, String) {
        let head = "  line: { \"@sku\": $.sku, name: $.name, gone: $.nothing }\n";
        let request = "          encoding: xml\n          xml: { root: order, item: line, list_attribute: \"type=list\", declaration: false }\n";
        with_create_body(head, request, body, input, |ev, t, scope, plan| {
            let written = ev.write_xml(t, scope, &plan.xml).expect("writes");
            let value = ev.eval_owned(t, scope).expect("evaluates");
            let encoded = crate::codec::xml::encode(&value.unwrap_or(Value::Null), &plan.xml)
                .expect("encodes");
            (
                String::from_utf8(written).expect("utf8"),
                String::from_utf8(encoded).expect("utf8"),
            )
        })
    }

    #[test]
    fn writing_xml_gives_the_bytes_evaluating_then_encoding_gives() {
        let input = json!({
            "ref": "A&B <1>", "n": 3, "flag": true, "none": null,
            "lines": [{"sku": "S1", "name": "x"}, {"sku": "S2", "kind": "service"}, {"sku": "S3"}],
            "meta": {"k": "v", "list": [1, 2]}, "attrs": {"@id": 7, "b": 2, "#text": "t"}
        });
        for body in [
            "{ ref: $.ref, n: $.n, flag: $.flag, none: $.none, gone: $.nothing }",
            "{ \"@id\": $.n, \"@gone\": $.nothing, \"#text\": $.ref }",
            "{ lines: { each: $.lines, to: { use: line } } }",
            "{ lines: { each: $.lines, filter: { eq: [$.kind, service] }, to: $.sku } }",
            "{ lines: { each: $.lines, filter: { eq: [$.kind, nope] }, to: $.sku, omit_empty: true }, after: x }",
            "{ lines: { each: $.missing, to: $.sku }, after: x }",
            "{ pair: [$.n, $.nothing, $.ref] }",
            "{ some: { compact: [$.nothing, $.n] }, none: { compact: [$.nothing], omit_empty: true } }",
            "{ kept: { compact: [$.nothing] } }",
            "{ first: { use: line, with: '$.lines[0]' }, absent: { use: line, with: $.nothing } }",
            "{ maybe: { if: { eq: [$.n, 3] }, then: { a: 1 }, else: { b: 2 } }, not: { if: { eq: [$.n, 4] }, then: x } }",
            "{ meta: $.meta, merged: { merge: [{ a: $.n }, $.nothing] }, both: { merge: [{ a: 1 }, $.meta] } }",
            "{ total: { mul: [$.n, 0.5] }, text: { json: $.meta } }",
            "{ l: { each: $.lines, to: { merge: [ { kind: $.kind }, { use: line } ] } } }",
            "{ m: { merge: [ { \"@x\": 1, a: 1 }, { \"@y\": $.n, b: $.ref } ] } }",
            "{ m: { merge: [ { a: 1 }, { a: 2, b: 3 } ] } }",
            "{ m: { merge: [ { \"@sku\": $.n, name: $.nothing, x: 1 }, \"$.lines[0]\" ] } }",
            "{ m: { merge: [ { \"@id\": 1, \"@y\": 2, b: 1, c: 3 }, $.attrs ] } }",
            "{ m: { merge: [ { a: 1 }, $.meta ] } }",
            "$.meta",
            "$.nothing",
            "{ lines: { each: $.lines, to: { \"@sku\": $.sku, \"#text\": $.name } } }",
        ] {
            let (written, encoded) = both(body, &input);
            assert_eq!(written, encoded, "{body}");
        }
        let (lines, _) = both("{ lines: { each: $.lines, to: { use: line } } }", &input);
        assert_eq!(
            lines,
            "<order><lines type=\"list\"><line sku=\"S1\"><name>x</name></line>\
             <line sku=\"S2\"></line><line sku=\"S3\"></line></lines></order>"
        );
        let (escaped, _) = both("{ \"@id\": $.n, \"#text\": $.ref }", &input);
        assert_eq!(escaped, "<order id=\"3\">A&amp;B &lt;1&gt;</order>");
    }

    #[test]
    fn a_bad_element_name_is_refused_in_either_path() {
        let input = json!({"meta": {"bad name": 1}});
        let request = "          encoding: xml\n";
        let err = with_create_body(
            "",
            request,
            "{ m: $.meta }",
            &input,
            |ev, t, scope, plan| ev.write_xml(t, scope, &plan.xml).expect_err("refused"),
        );
        assert!(
            err.to_string()
                .contains("`bad name` is not a valid element name"),
            "{err}"
        );
    }
}
