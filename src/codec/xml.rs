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
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};

use super::{CodecError, MAX_DEPTH, Scratch, Seen, Spare};
use crate::engine::convert::scalar_str;
use crate::engine::plan::XmlOptions;

pub fn encode(value: &Value, opts: &XmlOptions) -> Result<Vec<u8>, CodecError> {
    let mut w = XmlWriter::new(opts);
    write_element(&mut w, &opts.root, value, opts, 0)?;
    Ok(w.into_bytes())
}

/// An XML document written straight into its buffer: tags as bytes, texts and attribute
/// values escaped by quick-xml's own functions, so the document is the one quick-xml's
/// `Writer` wrote (without indentation) and `tests::as_quick_xml_writes_it` holds it so.
/// The `Writer` took a `BytesStart` per element and appended each piece of a tag on its own:
/// 4% of a Mr.Doc XML create.
pub struct XmlWriter {
    out: Vec<u8>,
}

impl XmlWriter {
    /// A document, with the XML declaration when the mapping asks for one.
    pub fn new(opts: &XmlOptions) -> Self {
        let mut out = Vec::with_capacity(1024);
        if opts.declaration {
            out.extend_from_slice(br#"<?xml version="1.0" encoding="UTF-8"?>"#);
        }
        XmlWriter { out }
    }

    /// Where the document ends now, for [`XmlWriter::truncate`].
    pub fn mark(&self) -> usize {
        self.out.len()
    }

    /// Takes back what was written after `mark`.
    pub fn truncate(&mut self, mark: usize) {
        self.out.truncate(mark);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Opens the start tag of element `name`, checked, at nesting `depth`; attributes may
    /// follow, then [`XmlWriter::start_done`] or [`XmlWriter::empty_done`].
    pub fn open(&mut self, name: &str, depth: usize) -> Result<(), CodecError> {
        self.open_known(checked(name), depth)
    }

    /// [`XmlWriter::open`] for a name checked before, `(name, whether it is valid)`: a
    /// mapping's member names (at load), its root and item elements (once a document).
    pub fn open_known(
        &mut self,
        (name, valid): (&str, bool),
        depth: usize,
    ) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError::encode("XML", "nested too deeply"));
        }
        if !valid {
            return Err(not_an_element_name(name));
        }
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        Ok(())
    }

    /// Attribute `attr` (a key written `@attr`) of the open tag, with a scalar value.
    pub fn attribute(&mut self, attr: &str, v: &Value) -> Result<(), CodecError> {
        if !is_element_name(attr) {
            return Err(not_an_element_name(attr));
        }
        let text = scalar_str(v).ok_or_else(|| {
            CodecError::encode("XML", format!("attribute `{attr}` must be a scalar"))
        })?;
        self.raw_attribute(attr, text);
        Ok(())
    }

    /// The list attribute of the open tag, when the mapping names one.
    pub fn list_attribute(&mut self, opts: &XmlOptions) {
        if let Some((k, v)) = &opts.list_attribute {
            self.raw_attribute(k, v);
        }
    }

    fn raw_attribute(&mut self, attr: &str, text: &str) {
        let escaped = Attribute::from((attr, text)).value;
        self.out.push(b' ');
        self.out.extend_from_slice(attr.as_bytes());
        self.out.extend_from_slice(b"=\"");
        self.out.extend_from_slice(escaped.as_bytes());
        self.out.push(b'"');
    }

    /// Ends the open tag: content follows.
    pub fn start_done(&mut self) {
        self.out.push(b'>');
    }

    /// Ends the open tag as an empty element.
    pub fn empty_done(&mut self) {
        self.out.extend_from_slice(b"/>");
    }

    /// Empty element `name`, checked, at nesting `depth`.
    pub fn empty(&mut self, name: &str, depth: usize) -> Result<(), CodecError> {
        self.open(name, depth)?;
        self.empty_done();
        Ok(())
    }

    /// The end tag of element `name`.
    pub fn end(&mut self, name: &str) {
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }

    /// The text of a `#text` key or a scalar element.
    pub fn text(&mut self, v: &Value) {
        let text = scalar_str(v).unwrap_or_default();
        // Most texts hold nothing quick-xml's `escape` replaces: copied whole after a test of
        // every byte the compiler vectorizes (no early exit, where `escape` looks for the first
        // one byte by byte); the others escaped by it (`texts_are_escaped_as_quick_xml_escapes_them`).
        let plain = text.bytes().fold(true, |plain, b| {
            plain & !matches!(b, b'<' | b'>' | b'&' | b'\'' | b'"' | b'\r')
        });
        if plain {
            self.out.extend_from_slice(text.as_bytes());
        } else {
            self.out
                .extend_from_slice(quick_xml::escape::escape(text).as_bytes());
        }
    }
}

/// Whether `name` may name an element (or an attribute) as this codec writes them: a letter or
/// `_`, then letters, digits, `_`, `-` and `.`.
pub fn is_element_name(name: &str) -> bool {
    // Most names are ASCII, decided in one pass over the bytes; a name with any other
    // character goes through the Unicode classes (which answer ASCII the same way).
    ascii_name_ok(name.as_bytes()).unwrap_or_else(|| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

/// `name` with whether it is an element name, as [`XmlWriter::open_known`] and
/// [`write_element_known`] take it from a caller that did not check it before.
pub fn checked(name: &str) -> (&str, bool) {
    (name, is_element_name(name))
}

fn not_an_element_name(name: &str) -> CodecError {
    CodecError::encode("XML", format!("`{name}` is not a valid element name"))
}

/// What an ASCII byte may be in an element name: 2 first or later (a letter, `_`), 1 later
/// only (a digit, `-`, `.`), 0 neither; a byte above 127 is decided by the Unicode classes.
const NAME_BYTE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => 2,
            b'0'..=b'9' | b'-' | b'.' => 1,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// Whether `name` is a valid element name, when its bytes decide it: `None` once a non-ASCII
/// byte comes before any invalid one.
fn ascii_name_ok(name: &[u8]) -> Option<bool> {
    let (&first, rest) = name.split_first()?;
    match NAME_BYTE.get(usize::from(first)) {
        None => return None,
        Some(2) => {}
        Some(_) => return Some(false),
    }
    for &b in rest {
        match NAME_BYTE.get(usize::from(b)) {
            None => return None,
            Some(0) => return Some(false),
            Some(_) => {}
        }
    }
    Some(true)
}

/// Writes `value` as element `name` at nesting `depth`.
pub fn write_element(
    w: &mut XmlWriter,
    name: &str,
    value: &Value,
    opts: &XmlOptions,
    depth: usize,
) -> Result<(), CodecError> {
    write_element_known(w, checked(name), value, opts, depth)
}

/// [`write_element`] for a name checked before: `(name, whether it is valid)`.
pub fn write_element_known(
    w: &mut XmlWriter,
    (name, valid): (&str, bool),
    value: &Value,
    opts: &XmlOptions,
    depth: usize,
) -> Result<(), CodecError> {
    w.open_known((name, valid), depth)?;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(attr) = k.strip_prefix('@') {
                    w.attribute(attr, v)?;
                }
            }
            w.start_done();
            for (k, v) in map {
                if k.starts_with('@') {
                    continue;
                }
                if k == "#text" {
                    w.text(v);
                    continue;
                }
                write_element(w, k, v, opts, depth + 1)?;
            }
        }
        Value::Array(items) => {
            w.list_attribute(opts);
            w.start_done();
            for item in items {
                write_element(w, &opts.item, item, opts, depth + 1)?;
            }
        }
        Value::Null => {
            w.empty_done();
            return Ok(());
        }
        scalar => {
            w.start_done();
            w.text(scalar);
        }
    }
    w.end(name);
    Ok(())
}

/// `text.trim()`, looking at the two ends first: a text that starts and ends with printable
/// ASCII (most element texts) has nothing to trim, and no character is decoded.
fn trim(text: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    let b = text.as_bytes();
    if plain(b.first()) && plain(b.last()) {
        text
    } else {
        text.trim()
    }
}

/// One element being read: its members gathered as its children close.
struct Frame<'a> {
    name: Name,
    /// Marked with the list attribute or named in `always_list`: where its children's values
    /// start on the items stack.
    items: Option<usize>,
    /// Its members' names, to find a repeated one, and where they start on the members stack:
    /// attributes (`@name`), then children (a repeated name becomes a list).
    seen: Seen,
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
            Text::Piece(p) => Str::in_body(body, trim(p)),
            Text::Joined(s) if trim(&s).len() == s.len() => Str::from(s),
            Text::Joined(s) => Str::from(trim(&s)),
        }
    }
}

impl Frame<'_> {
    /// The member `name` of this element already added; `None` when it is new (then pushed).
    fn member<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        name: &Name,
    ) -> Option<&'s mut (Name, Value)> {
        self.seen.member(&mut scratch.members, name)
    }

    fn add_child(&mut self, scratch: &mut Scratch, name: Name, v: Value) {
        if self.items.is_some() {
            scratch.items.push(v);
            return;
        }
        match self.member(scratch, &name) {
            Some((_, existing)) => join(existing, v),
            None => scratch.members.push((name, v)),
        }
    }

    /// Sets attribute `key` (the last of a repeated one wins, in the first one's place).
    fn set_attribute(&mut self, scratch: &mut Scratch, key: Name, v: Value) {
        match self.member(scratch, &key) {
            Some((_, slot)) => *slot = v,
            None => scratch.members.push((key, v)),
        }
    }

    fn finish(self, scratch: &mut Scratch, body: &Body) -> (Name, Value) {
        if let Some(start) = self.items {
            // A list keeps its elements only: its attributes go.
            scratch.members.truncate(self.seen.start);
            return (self.name, Value::Array(scratch.items.split_off(start)));
        }
        if scratch.members.len() == self.seen.start {
            return (self.name, Value::String(self.text.trimmed(body)));
        }
        let mut members = scratch.members.split_off(self.seen.start);
        if !trim(self.text.as_str()).is_empty() {
            let text = Value::String(self.text.trimmed(body));
            // `#text` is no XML name, but the reader lets an element `<#text>` through: the
            // element's own text then joins that child's value, as a repeated child would.
            match members.iter_mut().find(|(k, _)| k == "#text") {
                Some((_, child)) => join(child, text),
                None => members.push((Name::from("#text"), text)),
            }
        }
        (self.name, Value::Object(Map::from_unique(members)))
    }
}

/// Value `v` added to the `existing` value of the same name: the two become a list, or `v`
/// joins the list already there.
fn join(existing: &mut Value, v: Value) {
    match existing {
        Value::Array(items) => items.push(v),
        _ => {
            let first = existing.take();
            *existing = Value::Array(vec![first, v]);
        }
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
    let mut scratch = Spare::take();
    let mut root: Option<Value> = None;
    loop {
        // White space before an element's first text is trimmed anyway (below): while the open
        // element has no text yet (or none is open), the reader skips it itself, so the lines
        // and indentation between elements make no event at all. Once it has text, white space
        // is kept (mixed content, the spaces after a reference).
        reader.config_mut().trim_text_start = stack.last().is_none_or(|top| top.text.is_empty());
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
                let frame = open_frame(&e, &stack, opts, (&body, &names), &mut scratch)?;
                stack.push(frame);
            }
            Event::Empty(_) | Event::End(_) => {
                // An empty element ends as soon as it is opened.
                let frame = match &event {
                    Event::Empty(e) => open_frame(e, &stack, opts, (&body, &names), &mut scratch)?,
                    _ => stack
                        .pop()
                        .ok_or_else(|| CodecError::decode("XML", "unbalanced end tag"))?,
                };
                let open = (stack.as_mut_slice(), &mut *scratch);
                close(frame, open, &mut root, &body);
            }
            Event::Text(t) => {
                // White space before an element's first text is trimmed anyway: what the reader
                // did not skip (a form feed) is not gathered either.
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
    open: &[Frame<'_>],
    opts: &XmlOptions,
    (body, names): (&Body, &Names),
    scratch: &mut Scratch,
) -> Result<Frame<'a>, CodecError> {
    let name = names.name(local_name(e.name().as_ref()));
    // Named in `always_list`: the path's names are the open elements' and this one's.
    let mut is_list = opts.always_list.iter().any(|p| {
        p.0.len() == open.len() + 1
            && p.0.last().is_some_and(|&k| name.is(k))
            && p.0.iter().zip(open).all(|(&k, f)| f.name.is(k))
    });
    let mut frame = Frame {
        name,
        items: None,
        seen: Seen::new(scratch.members.len()),
        text: Text::Empty,
    };
    // Most elements have no attribute: nothing after the name, no iterator made.
    if !e.attributes_raw().is_empty() {
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
            let key = Name::from(format!("@{key}"));
            frame.set_attribute(scratch, key, Value::String(value));
        }
    }
    frame.items = is_list.then_some(scratch.items.len());
    Ok(frame)
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
    (stack, scratch): (&mut [Frame<'_>], &mut Scratch),
    root: &mut Option<Value>,
    body: &Body,
) {
    let (name, value) = frame.finish(scratch, body);
    match stack.last_mut() {
        Some(parent) => parent.add_child(scratch, name, value),
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
    fn elements_named_in_always_list_are_lists_at_that_path_only() {
        use crate::engine::plan::ElementPath;
        let opts = XmlOptions {
            always_list: ["root", "root/item/products", "root/b"]
                .into_iter()
                .map(ElementPath::parse)
                .collect(),
            ..opts()
        };
        // `root` is a list of its one child; `products` under `item` is, under `other` it is
        // not; `b` at the top of `root` is, and a prefix does not change a name.
        let xml = "<root><item><ns:products><item><id>1</id></item></ns:products>\
                   <other><products><id>2</id></products></other><b/></item></root>";
        let v = decode(xml.as_bytes(), &opts).expect("decodes");
        assert_eq!(
            v,
            json!([{"products": [{"id": "1"}], "other": {"products": {"id": "2"}}, "b": ""}])
        );
        let xml = "<root><b><x>1</x></b><c><b><x>2</x></b></c></root>";
        let v = decode(xml.as_bytes(), &opts).expect("decodes");
        assert_eq!(v, json!([["1"], {"b": {"x": "2"}}]));
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

    /// What quick-xml's `Writer` wrote for `value` (the codec's writer before it wrote bytes
    /// itself): the oracle of [`XmlWriter`].
    fn quick_xml_writes(value: &Value, opts: &XmlOptions) -> Vec<u8> {
        use quick_xml::Writer;
        use quick_xml::events::{BytesDecl, BytesEnd, BytesText};
        fn element(w: &mut Writer<Vec<u8>>, name: &str, value: &Value, opts: &XmlOptions) {
            let mut start = BytesStart::new(name);
            let text = |v: &Value| scalar_str(v).unwrap_or_default().to_string();
            let write = |w: &mut Writer<Vec<u8>>, e: Event<'_>| w.write_event(e).expect("writes");
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        if let Some(attr) = k.strip_prefix('@') {
                            start.push_attribute((attr, text(v).as_str()));
                        }
                    }
                    write(w, Event::Start(start));
                    for (k, v) in map {
                        if k == "#text" {
                            write(w, Event::Text(BytesText::new(&text(v))));
                        } else if !k.starts_with('@') {
                            element(w, k, v, opts);
                        }
                    }
                }
                Value::Array(items) => {
                    if let Some((k, v)) = &opts.list_attribute {
                        start.push_attribute((k.as_str(), v.as_str()));
                    }
                    write(w, Event::Start(start));
                    for item in items {
                        element(w, &opts.item, item, opts);
                    }
                }
                Value::Null => return write(w, Event::Empty(start)),
                scalar => {
                    write(w, Event::Start(start));
                    write(w, Event::Text(BytesText::new(&text(scalar))));
                }
            }
            write(w, Event::End(BytesEnd::new(name)));
        }
        let mut w = Writer::new(Vec::new());
        if opts.declaration {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
                .expect("writes");
        }
        element(&mut w, &opts.root, value, opts);
        w.into_inner()
    }

    #[test]
    fn as_quick_xml_writes_it() {
        let marks = "<a & 'b' \"c\" > d\r\ne\tf ж €";
        let values = [
            json!({"contractor_id": "5", "comment": marks, "empty": null,
                   "products": [{"product_id": "7", "quantity": "2"}, null, "x"]}),
            json!({"@id": marks, "@n": 1, "#text": marks, "b": {"@c": "d", "#text": "e"}}),
            json!({"list": [], "zero": 0, "yes": true, "ж": "u"}),
            json!("just text"),
            Value::Null,
        ];
        for declaration in [false, true] {
            let opts = XmlOptions {
                declaration,
                ..opts()
            };
            for v in &values {
                let ours = String::from_utf8(encode(v, &opts).expect("encodes")).expect("utf8");
                let theirs = String::from_utf8(quick_xml_writes(v, &opts)).expect("utf8");
                assert_eq!(ours, theirs, "{v}");
            }
        }
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

    /// Found by fuzzing (`fuzz/regressions/decode_xml/element-named-text-beside-text`): an
    /// element `<#text>` (no XML name, but the reader lets it through) beside its parent's own
    /// text made two members `#text`. Both values are kept, as a list.
    #[test]
    fn an_element_named_like_the_text_key_keeps_both_values() {
        let v = decode(b"<r><#text>x</#text>y<b/></r>", &opts()).expect("decodes");
        assert_eq!(v, json!({"#text": ["x", "y"], "b": ""}));
        let v = decode(b"<r><#text>x</#text><#text>z</#text>y</r>", &opts()).expect("decodes");
        assert_eq!(v, json!({"#text": ["x", "z", "y"]}));
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
    fn wide_elements_find_their_repeats_through_the_index() {
        // Past 32 members the names are found through an index: a repeat of an attribute and
        // of children met before it was built (c3) and after (c90), twice (c50).
        let children: String = (0..200).map(|i| format!("<c{i}>{i}</c{i}>")).collect();
        let xml = format!(
            "<root a=\"1\">{children}<c3>x</c3><c90>y</c90><c50>z</c50><c50>w</c50><last/></root>"
        );
        let v = decode(xml.as_bytes(), &opts()).expect("decodes");
        let object = v.as_object().expect("object");
        assert_eq!(object.len(), 202);
        let names: Vec<&str> = object.keys().map(Name::as_str).collect();
        assert_eq!((names[0], names[4], names[201]), ("@a", "c3", "last"));
        assert_eq!(v["c3"], json!(["3", "x"]));
        assert_eq!(v["c90"], json!(["90", "y"]));
        assert_eq!(v["c50"], json!(["50", "z", "w"]));
        assert_eq!(v["c199"], "199");
    }

    #[test]
    fn texts_are_trimmed_as_str_trims_them() {
        let alphabet = [
            'a', ' ', '\t', '\n', '\r', '\u{b}', '\u{85}', '\u{a0}', '\u{3000}', 'ж', '~',
        ];
        for text in crate::value::every_text(&alphabet, 3) {
            assert_eq!(trim(&text), text.trim(), "{text:?}");
        }
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
            assert_eq!(is_element_name(&name), rule(&name), "{name:?}");
        }
    }

    #[test]
    fn texts_are_escaped_as_quick_xml_escapes_them() {
        let alphabet = ['a', '<', '>', '&', '\'', '"', '\r', '\n', 'é', ' ', ';'];
        for text in crate::value::every_text(&alphabet, 3) {
            let mut w = XmlWriter::new(&opts());
            let start = w.mark();
            w.text(&Value::from(text.clone()));
            let written = &w.into_bytes()[start..];
            let expected = quick_xml::escape::escape(text.as_str());
            assert_eq!(written, expected.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn one_piece_texts_and_attributes_are_places_in_the_body() {
        let body = Bytes::from_static(
            b"<root id=\"7-and-more-than-24-bytes-long\" note=\"a&amp;b\"><a> a plain text of some thirty bytes </a><b>x &amp; y</b><c>l1\r\nl2</c><d><![CDATA[a character data section, long]]></d><e>short</e></root>",
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
        assert_eq!(v["a"], "a plain text of some thirty bytes");
        // A reference, a rewritten line end or a normalized attribute is its own text; so is
        // a text of 24 bytes at most (`Str::in_body`).
        assert!(!in_body(&v["b"]) && !in_body(&v["c"]) && !in_body(&v["@note"]));
        assert!(!in_body(&v["e"]));
        assert_eq!(v["e"], "short");
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
