//! JSON bodies: the canonical request's and the vendors' answers, read into a [`Value`] by
//! jiter's pull parser (no serde visitor between: a string without escapes is a slice of the
//! body, [`Str::in_body`]; a member name the mappings or the contract know is their interned
//! copy, [`Name`], any other is copied; numbers keep their text), optionally only for the
//! parts a mapping reads ([`Need`]).

use bytes::Bytes;
use jiter::{Jiter, JiterError, JiterErrorType, JsonErrorType, Peek};

use crate::value::{Body, Map, Name, Names, Number, Str, Value, body_of};

use super::need::{Keys, Need};
use super::{CodecError, MAX_DEPTH, Scratch, Seen, Spare};

/// Why a JSON text could not be read, and where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at line {line} column {column}")]
pub struct JsonError {
    pub what: String,
    pub line: usize,
    pub column: usize,
}

/// Reads a whole JSON text (a request body): every part is kept; an empty text is an error.
/// (Not inlined: `bench/callgrind.sh` counts the canonical body's parse by this name.)
#[inline(never)]
pub fn parse(bytes: &Bytes) -> Result<Value, JsonError> {
    parse_needed(bytes, &Need::All)
}

/// Reads a JSON text, building only the parts `need` names; the rest is skipped but must still
/// be valid JSON. Nesting deeper than [`MAX_DEPTH`] is refused, kept or skipped.
pub fn parse_needed(bytes: &Bytes, need: &Need) -> Result<Value, JsonError> {
    // UTF-8 is checked once for the whole text, so no string needs its own check; the text is
    // shared by the strings read from it.
    let text = match body_of(bytes) {
        Ok(text) => text,
        Err(e) => return Err(error_at(bytes, e.valid_up_to(), "invalid UTF-8".into())),
    };
    let mut jiter = Jiter::new(bytes);
    let names = Names::current();
    let mut scratch = Spare::take();
    let read = jiter
        .peek()
        .map_err(Fault::from)
        .and_then(|peek| read(&mut jiter, (&text, &names, &mut scratch), peek, need, 1))
        .and_then(|value| jiter.finish().map(|()| value).map_err(Fault::from));
    read.or_else(|fault| match fault {
        // jiter stops at 4,300 digits (Python's limit); JSON has none. Such a text is read
        // whole by serde_json instead, so that a client is told which field is out of range.
        Fault::Json(JiterError {
            error_type: JiterErrorType::JsonError(JsonErrorType::NumberOutOfRange),
            ..
        }) => read_long_numbers(bytes),
        fault => Err(fault),
    })
    .map_err(|fault| match fault {
        Fault::Json(e) => error_at(bytes, e.index, e.error_type.to_string()),
        Fault::TooDeep(at) => error_at(bytes, at, format!("nested deeper than {MAX_DEPTH} levels")),
        Fault::NotANumber(at) => error_at(bytes, at, "not a JSON number".into()),
        Fault::Read(e) => e,
    })
}

/// Decodes a vendor answer; an empty body is `null`.
pub fn decode(bytes: &Bytes) -> Result<Value, CodecError> {
    decode_needed(bytes, &Need::All)
}

/// Decodes a vendor answer for the parts `need` names (see [`parse_needed`]); an empty body is
/// `null`.
pub fn decode_needed(bytes: &Bytes, need: &Need) -> Result<Value, CodecError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    parse_needed(bytes, need).map_err(|e| CodecError::decode("JSON", e.to_string()))
}

/// Why reading stopped, with the byte index it stopped at (or already placed).
enum Fault {
    Json(JiterError),
    TooDeep(usize),
    NotANumber(usize),
    Read(JsonError),
}

impl From<JiterError> for Fault {
    fn from(e: JiterError) -> Fault {
        Fault::Json(e)
    }
}

/// A text with a number too long for jiter, read by serde_json (through `Value`'s `Deserialize`),
/// whole whatever the need (a superset of it: the mapping reads only what it reads), and held to
/// the same depth limit.
fn read_long_numbers(bytes: &[u8]) -> Result<Value, Fault> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Fault::Read(JsonError {
            what: e.to_string(),
            line: e.line(),
            column: e.column(),
        })
    })?;
    if depth(&value) > MAX_DEPTH {
        return Err(Fault::Read(JsonError {
            what: format!("nested deeper than {MAX_DEPTH} levels"),
            line: 1,
            column: 1,
        }));
    }
    Ok(value)
}

/// Depth of a value, iteratively (a scalar is 1): what [`MAX_DEPTH`] limits.
pub fn depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    max
}

/// The error at byte `index` (the end of the text when past it), by line and column (bytes).
fn error_at(bytes: &[u8], index: usize, what: String) -> JsonError {
    let before = &bytes[..index.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    JsonError {
        what,
        line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
        column: 1 + index - line_start,
    }
}

/// What [`read`] reads with: the text `jiter` reads, the known names, the stacks.
type Reading<'r> = (&'r Body, &'r Names, &'r mut Scratch);

/// Reads the value `peek` starts, at `depth` (the root is 1), keeping what `need` names.
fn read(
    jiter: &mut Jiter<'_>,
    (text, names, scratch): Reading<'_>,
    peek: Peek,
    need: &Need,
    depth: usize,
) -> Result<Value, Fault> {
    if depth > MAX_DEPTH {
        return Err(Fault::TooDeep(jiter.current_index()));
    }
    Ok(match peek {
        Peek::Null => {
            jiter.known_null()?;
            Value::Null
        }
        Peek::True | Peek::False => Value::Bool(jiter.known_bool(peek)?),
        Peek::String => {
            let s = jiter.known_str()?;
            // A string without escapes is where it lies in the text; jiter unescapes the others
            // into its own buffer.
            Value::String(Str::in_body(text, s))
        }
        Peek::Array => {
            let start = scratch.items.len();
            let mut next = jiter.known_array()?;
            while let Some(peek) = next {
                let item = read(jiter, (text, names, &mut *scratch), peek, need, depth + 1)?;
                scratch.items.push(item);
                next = jiter.array_step()?;
            }
            Value::Array(scratch.items.split_off(start))
        }
        Peek::Object => match need {
            Need::All => whole_object(jiter, (text, names, scratch), depth)?,
            Need::Fields(keys) => needed_members(jiter, (text, names, scratch), keys, depth)?,
        },
        // A number, or something that is no JSON value (jiter says which).
        _ => {
            let at = jiter.current_index();
            let len = jiter.known_number_bytes(peek)?.len();
            // The number's own bytes, from the text already checked as UTF-8; jiter has read
            // them by JSON's number grammar (`numbers_are_what_json_calls_numbers`).
            let number = text
                .get(at..at + len)
                .map(Number::from_checked_text)
                .ok_or(Fault::NotANumber(at))?;
            Value::Number(number)
        }
    })
}

/// An object read whole (its `peek` seen), at `depth`: its members gathered on the stack,
/// then moved into a map of their number.
fn whole_object(
    jiter: &mut Jiter<'_>,
    (text, names, scratch): Reading<'_>,
    depth: usize,
) -> Result<Value, Fault> {
    let start = scratch.members.len();
    let mut seen = Seen::new(start);
    let mut key = jiter.known_object()?;
    while let Some(name) = key {
        let name = names.name(name);
        let peek = jiter.peek()?;
        let value = read(
            jiter,
            (text, names, &mut *scratch),
            peek,
            &Need::All,
            depth + 1,
        )?;
        add(&mut seen, &mut scratch.members, name, value);
        key = jiter.next_key()?;
    }
    Ok(Value::Object(Map::from_unique(
        scratch.members.split_off(start),
    )))
}

/// Member `name` of the object `seen` follows, pushed on `members`; a repeated name (which JSON
/// allows) keeps the last value, in the first one's place.
#[inline(always)]
fn add(seen: &mut Seen, members: &mut Vec<(Name, Value)>, name: Name, value: Value) {
    match seen.member(members, &name) {
        Some((_, slot)) => *slot = value,
        None => members.push((name, value)),
    }
}

/// An object of which only the members `keys` names are kept (its `peek` seen), at `depth`; the
/// others are skipped. The kept members are gathered on the shared stack, as in
/// `whole_object`, and moved out at their exact count: a mapping may name more keys than an
/// answer holds, and sizing the map for the keys made a hashed map of an object that, as it
/// came, fits the small one (a Valomnia answer: more than 32 keys named, 32 present).
fn needed_members(
    jiter: &mut Jiter<'_>,
    (text, names, scratch): Reading<'_>,
    keys: &Keys,
    depth: usize,
) -> Result<Value, Fault> {
    let start = scratch.members.len();
    let mut seen = Seen::new(start);
    let mut key = jiter.known_object()?;
    while let Some(name) = key {
        match keys.get_key_value(name) {
            Some((key, inner)) => {
                let name = Name::known(*key);
                let peek = jiter.peek()?;
                let value = read(jiter, (text, names, &mut *scratch), peek, inner, depth + 1)?;
                add(&mut seen, &mut scratch.members, name, value);
            }
            None => {
                let peek = jiter.peek()?;
                skip(jiter, peek, depth + 1)?;
            }
        }
        key = jiter.next_key()?;
    }
    Ok(Value::Object(Map::from_unique(
        scratch.members.split_off(start),
    )))
}

/// Skips the value `peek` starts, at `depth`, held to [`MAX_DEPTH`] as [`read`] is.
fn skip(jiter: &mut Jiter<'_>, peek: Peek, depth: usize) -> Result<(), Fault> {
    if depth > MAX_DEPTH {
        return Err(Fault::TooDeep(jiter.current_index()));
    }
    match peek {
        Peek::Array => {
            let mut next = jiter.known_array()?;
            while let Some(peek) = next {
                skip(jiter, peek, depth + 1)?;
                next = jiter.array_step()?;
            }
        }
        Peek::Object => {
            let mut more = jiter.known_object()?.is_some();
            while more {
                let peek = jiter.peek()?;
                skip(jiter, peek, depth + 1)?;
                more = jiter.next_key_bytes()?.is_some();
            }
        }
        Peek::String => {
            jiter.known_bytes()?;
        }
        _ => jiter.known_skip(peek)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Key;

    fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
        super::parse(&Bytes::copy_from_slice(bytes))
    }

    fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
        super::decode(&Bytes::copy_from_slice(bytes))
    }

    fn decode_needed(bytes: &[u8], need: &Need) -> Result<Value, CodecError> {
        super::decode_needed(&Bytes::copy_from_slice(bytes), need)
    }

    #[test]
    fn numbers_round_trip_exactly() {
        let v = decode(br#"{"a": 0.1, "b": 12345678901234567890.123}"#).expect("decodes");
        assert_eq!(v.to_string(), r#"{"a":0.1,"b":12345678901234567890.123}"#);
    }

    fn fields(list: &[(&str, Need)]) -> Need {
        Need::Fields(list.iter().map(|(k, n)| (Key::new(k), n.clone())).collect())
    }

    #[test]
    fn projection_keeps_only_the_named_keys() {
        let body = br#"{"name": "SO-1", "owner": "x", "items": [{"qty": 2, "junk": {"a": [1]}},
            {"qty": 3.50, "junk": null}], "meta": {"deep": {"deeper": [true]}}}"#;
        let need = fields(&[
            ("name", Need::All),
            ("items", fields(&[("qty", Need::All)])),
        ]);
        let v = decode_needed(body, &need).expect("decodes");
        assert_eq!(
            v.to_string(),
            r#"{"name":"SO-1","items":[{"qty":2},{"qty":3.50}]}"#
        );
        // Everything the projection keeps is what a full decode has there.
        let full = decode(body).expect("decodes");
        assert_eq!(v["items"][1]["qty"], full["items"][1]["qty"]);
    }

    #[test]
    fn numbers_keep_their_text_when_projected() {
        // A need for fields meeting a number (a vendor answering a scalar where an object was
        // expected) keeps the number as it is, digits and all.
        let need = fields(&[("a", fields(&[("b", Need::All)]))]);
        let v = decode_needed(br#"{"a": 12345678901234567890.10}"#, &need).expect("decodes");
        assert_eq!(v.to_string(), r#"{"a":12345678901234567890.10}"#);
        let v = decode_needed(br#"-0.5"#, &need).expect("decodes");
        assert_eq!(v.to_string(), "-0.5");
    }

    #[test]
    fn projection_still_refuses_broken_json_in_skipped_parts() {
        let need = fields(&[("a", Need::All)]);
        assert!(decode_needed(br#"{"a": 1, "skipped": [1, 2"#, &need).is_err());
        assert!(decode_needed(br#"{"a": 1, "skipped": tru}"#, &need).is_err());
        assert!(decode_needed(br#"{"a": 1} trailing"#, &need).is_err());
        assert_eq!(decode_needed(b" ", &need).expect("empty"), Value::Null);
        // Skipped parts are held to the same depth limit as a full decode.
        let deep = format!("{{\"a\": 1, \"b\": {}1{}}}", "[".repeat(70), "]".repeat(70));
        assert!(decode(deep.as_bytes()).is_err());
        assert!(decode_needed(deep.as_bytes(), &need).is_err());
        let shallow = format!("{{\"a\": 1, \"b\": {}1{}}}", "[".repeat(60), "]".repeat(60));
        assert!(decode(shallow.as_bytes()).is_ok());
        assert!(decode_needed(shallow.as_bytes(), &need).is_ok());
        // Escaped keys are matched by their value.
        let v = decode_needed(br#"{"\u0061": 1}"#, &need).expect("decodes");
        assert_eq!(v.to_string(), r#"{"a":1}"#);
    }

    #[test]
    fn garbage_and_html_are_decode_errors() {
        assert!(decode(b"<html>oops</html>").is_err());
        assert!(decode(b"{\"a\": ").is_err());
        assert_eq!(decode(b"  ").expect("empty"), Value::Null);
    }

    #[test]
    fn texts_read_as_serde_json_reads_them() {
        // What serde_json reads, this reads the same; what it refuses, this refuses. (Numbers
        // keep the text they were written with, `1e5` where serde_json writes `1e+5`: compared
        // through serde_json's own number.)
        let texts: &[&[u8]] = &[
            br#"{"a": "\u00e9t\u00e9", "b": ["x\"y", 1.50, -0, 1e5, 2E-3, true, false, null]}"#,
            "{\"é\": \"ü\", \"emoji\": \"\\ud83d\\ude00\"}".as_bytes(),
            br#"{"z": 1, "a": [true, null, "x"], "z": 2, "m": {"k": {}}, "l": []}"#,
            br#"[[], {}, "", 0, 123456789012345678901234567890.000]"#,
            br#"  "just a string"  "#,
            b"42",
            b"{\"a\": \"\xff\"}",
            b"{\"a\": 1} \xc3",
            br#"{"a": }"#,
            br#"{"a": 1,}"#,
            br#"[1, 2,]"#,
            br#"{"a" 1}"#,
            br#"{'a': 1}"#,
            br#"[01]"#,
            br#"[1.]"#,
            br#"[.5]"#,
            br#"[-]"#,
            br#"[1e]"#,
            br#"[+1]"#,
            br#"[NaN]"#,
            br#"[Infinity]"#,
            br#"["\ud800"]"#,
            br#"["\x"]"#,
            br#"{"a\"b": "c\\d", "\u00e9\/": "\n\t\b\f\r", "\ud83d\ude00": "x\u0000y"}"#,
            br#"{"\ud800": 1}"#,
            br#"{"\udc00x": 1}"#,
            br#"{"a\q": 1}"#,
            b"{\"a\tb\": 1}",
            b"{\"a\": \"\xc3\xa9\\u00e9\"}",
            b"[\"tab\there\"]",
            br#"[tru]"#,
            br#"{"a": 1} {"b": 2}"#,
            b"",
            b"   ",
        ];
        for text in texts {
            let ours = parse(text).map(|v| serde_json::Value::from(v).to_string());
            let theirs = serde_json::from_slice::<serde_json::Value>(text).map(|v| v.to_string());
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(text)),
                (Err(_), Err(_)) => {}
                _ => panic!(
                    "{}: ours {ours:?}, serde_json {theirs:?}",
                    String::from_utf8_lossy(text)
                ),
            }
        }
    }

    #[test]
    fn strings_without_escapes_are_places_in_the_body() {
        let body = Bytes::from_static(
            br#"{"a": "a plain text of some thirty bytes", "b": "esc\"aped", "c": ["another text longer than 24", "", "short"]}"#,
        );
        let v = super::parse(&body).expect("JSON");
        let in_body = |v: &Value| {
            let Value::String(s) = v else { return false };
            s.is_shared() && body.as_ptr_range().contains(&s.as_ptr())
        };
        assert!(in_body(&v["a"]) && in_body(&v["c"][0]), "{v}");
        assert_eq!(v["a"], "a plain text of some thirty bytes");
        assert_eq!(v["c"][1], "");
        // A string of 24 bytes at most is copied in place (`Str::in_body`).
        assert!(!in_body(&v["c"][2]));
        assert_eq!(v["c"][2], "short");
        // An escaped string is unescaped into its own text.
        assert!(!in_body(&v["b"]));
        assert_eq!(v["b"], "esc\"aped");
    }

    #[test]
    fn repeated_names_keep_their_first_place_and_last_value() {
        // Names of one length and the same first and last bytes share a filter bit.
        let v = parse(br#"{"ab": 1, "a1b": 2, "axb": 3, "ab": 4, "a1b": 5, "c": 6, "ab": 7}"#)
            .expect("JSON");
        assert_eq!(v.to_string(), r#"{"ab":7,"a1b":5,"axb":3,"c":6}"#);
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}, \"k7\": \"last\"}}", many.join(", "));
        let v = parse(text.as_bytes()).expect("JSON");
        assert_eq!(v.as_object().map(Map::len), Some(100));
        assert_eq!(v["k7"], Value::from("last"));
        assert_eq!(v["k99"], Value::from(99));
    }

    #[test]
    fn wide_objects_find_their_repeats_through_the_index() {
        // Past 32 members the names are found through an index: repeats of a name met before
        // it was built (k3), after (k70), twice (k40), and one as the last member.
        let many: Vec<String> = (0..300).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!(
            "{{{}, \"k3\": \"a\", \"k70\": \"b\", \"k40\": \"c\", \"k40\": \"d\", \"new\": 1, \"k299\": \"e\"}}",
            many.join(", ")
        );
        let v = parse(text.as_bytes()).expect("JSON");
        let theirs: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v.to_string(), theirs.to_string());
        let names: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(Name::as_str)
            .collect();
        assert_eq!(
            (names.len(), names[3], names[40], names[300]),
            (301, "k3", "k40", "new")
        );
        assert_eq!(
            (&v["k3"], &v["k40"], &v["k299"]),
            (&Value::from("a"), &Value::from("d"), &Value::from("e"))
        );
        // The same through the reader of needed keys, 40 of them named.
        let keys: Vec<String> = (0..40).map(|i| format!("k{}", i * 7)).collect();
        let list: Vec<(&str, Need)> = keys.iter().map(|k| (k.as_str(), Need::All)).collect();
        let v = decode_needed(text.as_bytes(), &fields(&list)).expect("JSON");
        let object = v.as_object().expect("object");
        assert_eq!(object.len(), 40);
        assert_eq!(
            (&v["k0"], &v["k70"], &v["k273"]),
            (&Value::from(0), &Value::from("b"), &Value::from(273))
        );
    }

    #[test]
    fn nested_containers_and_large_objects_keep_their_parts() {
        // Objects and arrays inside others; a repeat after the nested ones still finds its place.
        let text = br#"{"a": [1, {"b": [2, 3], "c": {}}, [], [[4]]], "d": {"e": {"f": [5]}},
            "a": [6], "g": [{"h": 7}, {"h": 8, "h": 9}]}"#;
        let v = parse(text).expect("JSON");
        assert_eq!(
            v.to_string(),
            r#"{"a":[6],"d":{"e":{"f":[5]}},"g":[{"h":7},{"h":9}]}"#
        );
        assert_eq!(
            v,
            Value::from(serde_json::from_slice::<serde_json::Value>(text).expect("JSON"))
        );
        // An object of more than SMALL members, a nested one in its middle: every member in
        // written order, the repeated ones last-wins in their first place.
        let mut parts: Vec<String> = (0..40).map(|i| format!("\"k{i}\": [{i}]")).collect();
        parts.insert(20, r#""inner": {"x": 1, "y": [2]}"#.into());
        parts.push(r#""k3": "again", "k35": "again""#.into());
        let v = parse(format!("{{{}}}", parts.join(", ")).as_bytes()).expect("JSON");
        let names: Vec<&str> = v
            .as_object()
            .map_or(vec![], |m| m.keys().map(|k| k.as_str()).collect());
        assert_eq!(names.len(), 41);
        assert_eq!((names[0], names[20], names[40]), ("k0", "inner", "k39"));
        assert_eq!(v["k3"], Value::from("again"));
        assert_eq!(v["k35"], Value::from("again"));
        assert_eq!(v["inner"]["y"][0], Value::from(2));
    }

    #[test]
    fn numbers_are_what_json_calls_numbers() {
        // The reader takes jiter's number tokens as they are: every short text over the number
        // alphabet, in an array and as a member, is read as serde_json reads it or refused as
        // serde_json refuses it, and every number kept is one by JSON's grammar.
        let mut texts = crate::value::every_text(&['-', '+', '.', 'e', 'E', '0', '1', '9'], 5);
        texts.extend(
            [
                "NaN",
                "Infinity",
                "-Infinity",
                "1.5e+309",
                "-0.0e-0",
                "00",
                "0x1",
                "1_0",
                "٣",
            ]
            .map(String::from),
        );
        for t in &texts {
            for doc in [format!("[{t}]"), format!("{{\"a\":{t}}}"), t.clone()] {
                let ours = parse(doc.as_bytes());
                let theirs = serde_json::from_str::<serde_json::Value>(&doc);
                assert_eq!(ours.is_ok(), theirs.is_ok(), "{doc}: {ours:?}");
                // serde_json writes exponents its own way (`0e0` as `0e+0`): the same once our
                // text is read back by it.
                if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                    let again = serde_json::from_str::<serde_json::Value>(&ours.to_string());
                    assert_eq!(again.ok(), Some(theirs), "{doc}");
                }
            }
        }
    }

    #[test]
    fn numbers_of_any_length_are_read() {
        // Past jiter's 4,300 digits, serde_json reads the text: still exact, still limited.
        let long = format!("{{\"q\": {}.5, \"s\": \"x\"}}", "7".repeat(10_000));
        let v = parse(long.as_bytes()).expect("a long number is JSON");
        assert_eq!(v["q"].as_number().map(|n| n.as_str().len()), Some(10_002));
        assert_eq!(v["s"], Value::from("x"));
        let deep = format!(
            "[{}, {}1{}]",
            "7".repeat(5_000),
            "[".repeat(70),
            "]".repeat(70)
        );
        let e = parse(deep.as_bytes()).expect_err("too deep");
        assert!(e.what.starts_with("nested deeper"), "{e}");
        assert!(parse(format!("[{}", "7".repeat(5_000)).as_bytes()).is_err());
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = parse(b"{\n  \"a\": tru\n}").expect_err("broken");
        assert_eq!((e.line, e.column), (2, 11), "{e}");
        let e = parse(b"{\"a\": \"\xff\"}").expect_err("not UTF-8");
        assert_eq!(e.to_string(), "invalid UTF-8 at line 1 column 8");
        let e = parse(b"[1, 2").expect_err("cut short");
        assert!(
            e.to_string()
                .starts_with("EOF while parsing a list at line 1"),
            "{e}"
        );
        let e = parse(b"").expect_err("empty");
        assert!(
            e.to_string().starts_with("EOF while parsing a value"),
            "{e}"
        );
        let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
        let e = parse(deep.as_bytes()).expect_err("too deep");
        assert_eq!(
            e.to_string(),
            "nested deeper than 64 levels at line 1 column 65"
        );
    }
}
