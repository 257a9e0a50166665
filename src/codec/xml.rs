//! XML bodies.
//!
//! Writing: the value is an object put under the root element; an object becomes child
//! elements, a list becomes `<item>` children of its element (marked with the list attribute
//! when the mapping names one, e.g. `list="true"`), a scalar becomes text, null an empty
//! element. Keys starting with `@` are attributes.
//!
//! Reading: the root element's content becomes an object. An element marked with the list
//! attribute (or named in `always_list`) is a list even with one child, so a one-line order
//! stays a list. Text stays text (the mapping converts types). No DTD is accepted and only the
//! five predefined entities and character references are expanded: nothing can blow up. A text
//! made of one piece of the document (no reference, no carriage return) is a place in the body
//! ([`Str::in_body`]), not a copy; so is an attribute's value with nothing to normalize.

use std::borrow::Cow;

use bytes::Bytes;

use crate::value::{Body, Map, Name, Names, Str, Value, body_of};
use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{CodecError, MAX_DEPTH, name_bit};
use crate::engine::convert::scalar_str;
use crate::engine::plan::XmlOptions;

pub fn encode(value: &Value, opts: &XmlOptions) -> Result<Vec<u8>, CodecError> {
    let mut w = writer(opts)?;
    write_element(&mut w, &opts.root, value, opts, 0)?;
    Ok(w.into_inner())
}

/// A writer holding the XML declaration when the mapping asks for one.
pub fn writer(opts: &XmlOptions) -> Result<Writer<Vec<u8>>, CodecError> {
    let mut w = Writer::new(Vec::with_capacity(1024));
    if opts.declaration {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .map_err(io_err)?;
    }
    Ok(w)
}

fn io_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::encode("XML", e.to_string())
}

/// The start tag of element `name`, checked, at nesting `depth`.
pub fn start(name: &str, depth: usize) -> Result<BytesStart<'_>, CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::encode("XML", "nested too deeply"));
    }
    check_name(name)?;
    Ok(BytesStart::new(name))
}

/// Adds attribute `attr` (a key written `@attr`) with a scalar value.
pub fn push_attribute(start: &mut BytesStart<'_>, attr: &str, v: &Value) -> Result<(), CodecError> {
    check_name(attr)?;
    let text = scalar_str(v)
        .ok_or_else(|| CodecError::encode("XML", format!("attribute `{attr}` must be a scalar")))?;
    start.push_attribute((attr, text));
    Ok(())
}

/// The start tag of a list element: with the list attribute when the mapping names one.
pub fn push_list_attribute(start: &mut BytesStart<'_>, opts: &XmlOptions) {
    if let Some((k, v)) = &opts.list_attribute {
        start.push_attribute((k.as_str(), v.as_str()));
    }
}

pub fn write_start(w: &mut Writer<Vec<u8>>, start: BytesStart<'_>) -> Result<(), CodecError> {
    w.write_event(Event::Start(start)).map_err(io_err)
}

pub fn write_empty(w: &mut Writer<Vec<u8>>, start: BytesStart<'_>) -> Result<(), CodecError> {
    w.write_event(Event::Empty(start)).map_err(io_err)
}

pub fn write_end(w: &mut Writer<Vec<u8>>, name: &str) -> Result<(), CodecError> {
    w.write_event(Event::End(BytesEnd::new(name)))
        .map_err(io_err)
}

/// The text of a `#text` key or a scalar element.
pub fn write_text(w: &mut Writer<Vec<u8>>, v: &Value) -> Result<(), CodecError> {
    let text = scalar_str(v).unwrap_or_default();
    w.write_event(Event::Text(BytesText::new(text)))
        .map_err(io_err)
}

fn check_name(name: &str) -> Result<(), CodecError> {
    // Most names are ASCII, decided in one pass over the bytes; a name with any other
    // character goes through the Unicode classes (which answer ASCII the same way).
    let ok = ascii_name_ok(name.as_bytes()).unwrap_or_else(|| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    });
    if ok {
        Ok(())
    } else {
        Err(CodecError::encode(
            "XML",
            format!("`{name}` is not a valid element name"),
        ))
    }
}

/// Whether `name` is a valid element name, when its bytes decide it: `None` once a non-ASCII
/// byte comes before any invalid one.
fn ascii_name_ok(name: &[u8]) -> Option<bool> {
    let (&first, rest) = name.split_first()?;
    if !first.is_ascii() {
        return None;
    }
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return Some(false);
    }
    for &b in rest {
        if !b.is_ascii() {
            return None;
        }
        if !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Some(false);
        }
    }
    Some(true)
}

/// Writes `value` as element `name` at nesting `depth`.
pub fn write_element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    value: &Value,
    opts: &XmlOptions,
    depth: usize,
) -> Result<(), CodecError> {
    let mut start = start(name, depth)?;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(attr) = k.strip_prefix('@') {
                    push_attribute(&mut start, attr, v)?;
                }
            }
            write_start(w, start)?;
            for (k, v) in map {
                if k.starts_with('@') {
                    continue;
                }
                if k == "#text" {
                    write_text(w, v)?;
                    continue;
                }
                write_element(w, k, v, opts, depth + 1)?;
            }
        }
        Value::Array(items) => {
            push_list_attribute(&mut start, opts);
            write_start(w, start)?;
            for item in items {
                write_element(w, &opts.item, item, opts, depth + 1)?;
            }
        }
        Value::Null => return write_empty(w, start),
        scalar => {
            write_start(w, start)?;
            write_text(w, scalar)?;
        }
    }
    write_end(w, name)
}

/// One element being read: its members gathered as its children close.
struct Frame<'a> {
    name: Name,
    /// Length of the decoder's path before this element's name was added.
    path_len: usize,
    /// Marked with the list attribute or named in `always_list`: its children's values.
    items: Option<Vec<Value>>,
    /// Attributes (`@name`), then children (a repeated name becomes a list).
    members: Map,
    /// The members' names as a Bloom filter ([`name_bit`]): a child whose name's bit is not set
    /// is new, added without a search.
    added: u64,
    text: Text<'a>,
}

/// An element's text so far: nothing, one piece of the document, or pieces joined.
enum Text<'a> {
    Empty,
    Piece(&'a str),
    Joined(String),
}

impl<'a> Text<'a> {
    fn is_empty(&self) -> bool {
        match self {
            Text::Empty => true,
            Text::Piece(p) => p.is_empty(),
            Text::Joined(s) => s.is_empty(),
        }
    }

    /// Adds a piece of the document, or text from elsewhere (`Cow::Owned`).
    fn push(&mut self, piece: Cow<'a, str>) {
        match (&mut *self, piece) {
            (Text::Empty, Cow::Borrowed(p)) => *self = Text::Piece(p),
            (Text::Empty, Cow::Owned(p)) => *self = Text::Joined(p),
            (Text::Piece(prev), piece) => *self = Text::Joined(format!("{prev}{piece}")),
            (Text::Joined(s), piece) => s.push_str(&piece),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Text::Empty => "",
            Text::Piece(p) => p,
            Text::Joined(s) => s,
        }
    }

    /// The text without surrounding white space: a place in `body` when it is one piece,
    /// else its own buffer (reused when there is nothing to trim).
    fn trimmed(self, body: &Body) -> Str {
        match self {
            Text::Empty => Str::default(),
            Text::Piece(p) => Str::in_body(body, p.trim()),
            Text::Joined(s) if s.trim().len() == s.len() => Str::from(s),
            Text::Joined(s) => Str::from(s.trim()),
        }
    }
}

impl Frame<'_> {
    fn add_child(&mut self, name: Name, v: Value) {
        if let Some(items) = &mut self.items {
            items.push(v);
            return;
        }
        let bit = name_bit(&name);
        if self.added & bit == 0 {
            self.added |= bit;
            self.members.insert_new(name, v);
            return;
        }
        match self.members.get_mut(&name) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => self.members.insert_new(name, v),
        }
    }

    fn finish(self, body: &Body) -> (Name, Value) {
        if let Some(items) = self.items {
            return (self.name, Value::Array(items));
        }
        if self.members.is_empty() {
            return (self.name, Value::String(self.text.trimmed(body)));
        }
        let mut map = self.members;
        if !self.text.as_str().trim().is_empty() {
            map.insert("#text", Value::String(self.text.trimmed(body)));
        }
        (self.name, Value::Object(map))
    }
}

pub fn decode(bytes: &Bytes, opts: &XmlOptions) -> Result<Value, CodecError> {
    let body = body_of(bytes).map_err(|_| CodecError::decode("XML", "not UTF-8"))?;
    let text: &str = &body;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut reader = Reader::from_str(text);
    let names = Names::current();
    let mut stack: Vec<Frame> = Vec::new();
    // The names from the root to the open element, `/`-separated (for `always_list`).
    let mut path = String::new();
    let mut root: Option<Value> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| CodecError::decode("XML", e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(CodecError::decode("XML", "a DTD is not accepted")),
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                let _ = e;
                return Err(CodecError::decode("XML", "content after the root element"));
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(CodecError::decode(
                        "XML",
                        format!("nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(open_frame(&e, &mut path, opts, (&body, &names))?);
            }
            Event::Empty(e) => {
                let frame = open_frame(&e, &mut path, opts, (&body, &names))?;
                close(frame, &mut stack, &mut path, &mut root, &body);
            }
            Event::End(_) => {
                let frame = stack
                    .pop()
                    .ok_or_else(|| CodecError::decode("XML", "unbalanced end tag"))?;
                close(frame, &mut stack, &mut path, &mut root, &body);
            }
            Event::Text(t) => {
                // White space before an element's first text is trimmed anyway: the lines and
                // indentation between elements are not gathered (nor allocated) at all.
                if let Some(top) = stack.last_mut()
                    && !(top.text.is_empty() && t.bytes().all(|b| b.is_ascii_whitespace()))
                {
                    // Borrowed from the document unless a carriage return was rewritten.
                    top.text.push(t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push(c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(CodecError::decode(
                                "XML",
                                format!("undefined entity `&{other};`"),
                            ));
                        }
                    },
                    Err(e) => return Err(CodecError::decode("XML", e.to_string())),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(Cow::Owned(c.to_string()));
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(CodecError::decode(
            "XML",
            "the document ends inside an element (truncated?)",
        ));
    }
    root.ok_or_else(|| CodecError::decode("XML", "no root element"))
}

fn open_frame<'a>(
    e: &BytesStart<'_>,
    path: &mut String,
    opts: &XmlOptions,
    (body, names): (&Body, &Names),
) -> Result<Frame<'a>, CodecError> {
    let name = names.name(local_name(e.name().as_ref()));
    let path_len = path.len();
    if !opts.always_list.is_empty() {
        if path_len > 0 {
            path.push('/');
        }
        path.push_str(&name);
    }
    let mut is_list = opts.always_list.iter().any(|p| p == path);
    let mut members = Map::new();
    let mut added = 0u64;
    for attr in e.attributes() {
        let attr = attr.map_err(|err| CodecError::decode("XML", err.to_string()))?;
        let key = local_name(attr.key.as_ref()).to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|err| CodecError::decode("XML", err.to_string()))?;
        if let Some((k, v)) = &opts.list_attribute
            && *k == key
            && *v == value
        {
            is_list = true;
            continue;
        }
        let value = match value {
            Cow::Borrowed(v) => Str::in_body(body, v),
            Cow::Owned(v) => Str::from(v),
        };
        let key = format!("@{key}");
        added |= name_bit(&key);
        members.insert(key, Value::String(value));
    }
    Ok(Frame {
        name,
        path_len,
        items: is_list.then(Vec::new),
        members,
        added,
        text: Text::Empty,
    })
}

/// The part of a name after its namespace prefix (`ns:item` -> `item`), as quick-xml's
/// `local_name` has it, found by a plain scan: names are short, and `str::find` calls memchr.
fn local_name(qname: &str) -> &str {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

fn close(
    frame: Frame<'_>,
    stack: &mut [Frame<'_>],
    path: &mut String,
    root: &mut Option<Value>,
    body: &Body,
) {
    path.truncate(frame.path_len);
    let (name, value) = frame.finish(body);
    match stack.last_mut() {
        Some(parent) => parent.add_child(name, value),
        None => *root = Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn decode(bytes: &[u8], opts: &XmlOptions) -> Result<Value, CodecError> {
        super::decode(&Bytes::copy_from_slice(bytes), opts)
    }

    fn opts() -> XmlOptions {
        XmlOptions {
            list_attribute: Some(("list".into(), "true".into())),
            ..XmlOptions::default()
        }
    }

    #[test]
    fn round_trip_keeps_one_element_lists() {
        let v = json!({"contractor_id": "5", "comment": "a < b & c", "empty": null,
                       "products": [{"product_id": "7", "quantity": "2"}]});
        let bytes = encode(&v, &opts()).expect("encodes");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(
            text.contains("<products list=\"true\"><item><product_id>7</product_id>"),
            "{text}"
        );
        assert!(
            text.contains("<comment>a &lt; b &amp; c</comment>"),
            "{text}"
        );
        assert!(text.contains("<empty/>"), "{text}");
        let back = decode(&bytes, &opts()).expect("decodes");
        assert_eq!(
            back["products"],
            json!([{"product_id": "7", "quantity": "2"}])
        );
        assert_eq!(back["comment"], json!("a < b & c"));
        assert_eq!(back["empty"], json!(""));
    }

    #[test]
    fn texts_are_trimmed_mixed_content_and_references_kept() {
        let xml = "<root>\n  <a> x &amp; y </a>\n  <b>\n    <c>1</c>\n  </b>\n  <d> <![CDATA[ z ]]> </d><e>  </e>\n  <f> t <g/> u </f><h> &lt;</h></root>";
        let v = decode(xml.as_bytes(), &opts()).expect("decodes");
        assert_eq!(
            v,
            json!({"a": "x & y", "b": {"c": "1"}, "d": "z", "e": "", "f": {"g": "", "#text": "t  u"}, "h": "<"})
        );
    }

    #[test]
    fn repeated_children_become_lists_in_their_first_place() {
        // `ab`, `a1b` and `axb` share a filter bit (length, first and last bytes); the repeats
        // find their first place, however many members came between.
        let xml = "<root id=\"7\">\n  <ab>1</ab><a1b>2</a1b><ab>3</ab>\n  <axb>4</axb><a1b>5</a1b><ab>6</ab><c/></root>";
        let v = decode(xml.as_bytes(), &opts()).expect("decodes");
        assert_eq!(
            v.to_string(),
            r#"{"@id":"7","ab":["1","3","6"],"a1b":["2","5"],"axb":"4","c":""}"#
        );
    }

    #[test]
    fn local_names_are_quick_xmls() {
        for name in ["item", "ns:item", "a:b:c", ":x", "x:", "", "é:ж"] {
            let theirs = quick_xml::name::QName(name).local_name();
            assert_eq!(local_name(name), theirs.as_ref() as &str, "{name:?}");
        }
    }

    #[test]
    fn element_names_are_letters_digits_and_three_marks() {
        // The check is the Unicode rule it always was: a letter or `_` first, then letters,
        // digits, `_`, `-` and `.`; held on every short text over a mixed alphabet.
        let rule = |name: &str| {
            name.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_-.".contains(c))
        };
        let alphabet = ['a', 'Z', '0', '_', '-', '.', ' ', 'é', '٣', '@', ':', 'Ж'];
        for name in crate::value::every_text(&alphabet, 3) {
            assert_eq!(check_name(&name).is_ok(), rule(&name), "{name:?}");
        }
    }

    #[test]
    fn one_piece_texts_and_attributes_are_places_in_the_body() {
        let body = Bytes::from_static(
            b"<root id=\"7\" note=\"a&amp;b\"><a> plain </a><b>x &amp; y</b><c>l1\r\nl2</c><d><![CDATA[z]]></d></root>",
        );
        let v = super::decode(&body, &opts()).expect("decodes");
        let in_body = |v: &Value| {
            let Value::String(s) = v else { return false };
            s.is_shared() && body.as_ptr_range().contains(&s.as_ptr())
        };
        assert!(
            in_body(&v["@id"]) && in_body(&v["a"]) && in_body(&v["d"]),
            "{v}"
        );
        assert_eq!(v["a"], "plain");
        // A reference, a rewritten line end or a normalized attribute is its own text.
        assert!(!in_body(&v["b"]) && !in_body(&v["c"]) && !in_body(&v["@note"]));
        assert_eq!(v["b"], "x & y");
        assert_eq!(v["c"], "l1\nl2");
        assert_eq!(v["@note"], "a&b");
    }

    #[test]
    fn hostile_xml_is_refused() {
        let laughs =
            br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><root>&lol;</root>"#;
        assert!(decode(laughs, &opts()).is_err());
        assert!(decode(b"<root><a>1</a>", &opts()).is_err());
        assert!(decode(b"<html><body>Bad gateway", &opts()).is_err());
        assert!(decode(b"<root>&foo;</root>", &opts()).is_err());
    }
}
