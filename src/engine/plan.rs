//! The compiled form of a mapping file: what `compile` produces and `eval` runs.
//! Nothing here is parsed at request time.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rust_decimal::Decimal;

use crate::value::{Key, Value};
use regex_automata::meta::{BuildError, Config as RegexConfig, Regex};

use super::convert::TimePattern;
use super::selector::Selector;
use crate::canonical::operation::Operation;
use crate::yaml::Loc;

#[derive(Debug)]
pub struct Mapping {
    pub vendor: String,
    pub file: Arc<str>,
    pub description: Option<String>,
    pub settings: Vec<SettingSpec>,
    pub secrets: Vec<String>,
    /// Headers sent on every request of this vendor, the login included.
    pub headers: Vec<HeaderPlan>,
    pub auth: Option<AuthPlan>,
    /// Rules checked on every step's answer, after the operation's own rules.
    pub errors: Vec<ErrorRule>,
    pub operations: HashMap<Operation, OperationPlan>,
    /// Operations the mapping documents as impossible, with the reason (answered with 501).
    pub unsupported: HashMap<Operation, String>,
    /// Named reusable templates (`use: name`).
    pub templates: Vec<Template>,
    /// Per named template: its value is kept per focus within an evaluation (`engine::memo`).
    pub kept_per_focus: Vec<bool>,
    /// Golden fixture folder, relative to the mapping file.
    pub fixtures: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SettingSpec {
    pub name: String,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
    /// Read as a time zone by a `zone:` (`zone: $settings.timezone`): its value must be one.
    pub zone: bool,
}

#[derive(Debug)]
pub struct HeaderPlan {
    pub name: http::HeaderName,
    pub value: Template,
    /// The value, made at load, when the template is a constant (`Accept: application/json`).
    pub fixed: Option<http::HeaderValue>,
    /// Built from secrets or the auth token: masked in dry runs and logs.
    pub sensitive: bool,
}

#[derive(Debug)]
pub struct AuthPlan {
    pub headers: Vec<HeaderPlan>,
    pub login: Option<LoginPlan>,
    /// Statuses that mean "log in again and retry once" (default 401).
    pub renew_on: Vec<u16>,
}

#[derive(Debug)]
pub struct LoginPlan {
    pub loc: Loc,
    pub request: RequestPlan,
    /// Evaluated on the login answer (`$` = `{status, headers, cookies, body}`); becomes `$auth.token`.
    pub token: Template,
    /// Seconds the token lives, evaluated on the login answer; none = until refused.
    pub expires_in: Option<Template>,
    /// Statuses that mean the login worked (default 2xx; form logins often answer 302).
    pub accept: StatusMatch,
}

#[derive(Debug)]
pub struct OperationPlan {
    pub loc: Loc,
    pub steps: Vec<StepPlan>,
    pub errors: Vec<ErrorRule>,
    pub result: ResultPlan,
    pub paging: Paging,
    /// Number of step slots (`$name` roots).
    pub slots: usize,
}

#[derive(Debug)]
pub struct StepPlan {
    pub name: String,
    pub slot: usize,
    pub loc: Loc,
    pub when: Option<Predicate>,
    pub request: RequestPlan,
    /// What of this step's answer the mapping reads (worked out by `reads::annotate`).
    pub answer: crate::codec::need::AnswerNeed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Xml,
    Form,
    Multipart,
    Text,
    None,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        Some(match s {
            "json" => Encoding::Json,
            "xml" => Encoding::Xml,
            "form" => Encoding::Form,
            "multipart" => Encoding::Multipart,
            "text" => Encoding::Text,
            "none" => Encoding::None,
            _ => return None,
        })
    }
}

/// How a vendor's answer is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    /// By the answer's `Content-Type` (JSON, XML, form, else text).
    Auto,
    Json,
    Xml,
    Form,
    Text,
}

#[derive(Debug, Clone)]
pub struct XmlOptions {
    pub root: String,
    pub item: String,
    /// Attribute put on (and recognised on) list elements, e.g. `list="true"`.
    pub list_attribute: Option<(String, String)>,
    /// Paths of elements read as lists even without the attribute (`root/products`).
    pub always_list: Vec<ElementPath>,
    pub declaration: bool,
}

/// An element path (`root/products`): the names from the root, interned at load so that the
/// XML reader compares them with the names it reads by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementPath(pub Vec<Key>);

impl ElementPath {
    pub fn parse(text: &str) -> Self {
        ElementPath(text.split('/').map(Key::new).collect())
    }
}

impl Default for XmlOptions {
    fn default() -> Self {
        XmlOptions {
            root: "root".into(),
            item: "item".into(),
            list_attribute: None,
            always_list: Vec::new(),
            declaration: true,
        }
    }
}

#[derive(Debug)]
pub struct RequestPlan {
    pub loc: Loc,
    pub method: http::Method,
    pub path: Vec<PathPart>,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<HeaderPlan>,
    pub encoding: Encoding,
    pub body: Option<Template>,
    pub xml: XmlOptions,
    pub decode: Decoding,
}

#[derive(Debug)]
pub enum PathPart {
    /// Written by the mapping author: sent as is.
    Literal(String),
    /// A value: percent-encoded as one path segment, so it can never change the path.
    Value(Template),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingStyle {
    Offset,
    /// The vendor gives a cursor (`result.next_cursor`); `$page.cursor` passes it back.
    Cursor,
}

#[derive(Debug, Clone)]
pub struct Paging {
    pub style: PagingStyle,
    pub default_limit: u64,
    pub max_limit: u64,
    /// First page number for `$page.page` (1 or 0).
    pub first_page: u64,
    /// The vendor's fixed page size, when the client cannot choose it: `$page.limit` is this
    /// size, and the gateway cuts the client's page out of the vendor's.
    pub page_size: Option<u64>,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            style: PagingStyle::Offset,
            default_limit: 20,
            max_limit: 100,
            first_page: 1,
            page_size: None,
        }
    }
}

#[derive(Debug)]
pub enum ResultPlan {
    /// One canonical order.
    Order(Template),
    /// A page of orders.
    List {
        items: Template,
        total: Option<Template>,
        next_cursor: Option<Template>,
    },
    /// No body (delete).
    Empty,
}

#[derive(Debug)]
pub struct ErrorRule {
    pub loc: Loc,
    pub status: StatusMatch,
    pub when: Option<Predicate>,
    /// Only for these step slots (none = every step).
    pub steps: Option<Vec<usize>>,
    /// Yields a canonical error code.
    pub code: Template,
    pub message: Option<Template>,
    pub vendor_code: Option<Template>,
    /// Yields the vendor's field name(s) the error is about.
    pub field: Option<Template>,
    /// Vendor field name -> canonical JSON pointer.
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum StatusMatch {
    /// Any status that is not 2xx.
    NonSuccess,
    Any,
    Set(Vec<StatusRange>),
}

#[derive(Debug, Clone, Copy)]
pub struct StatusRange {
    pub lo: u16,
    pub hi: u16,
}

impl StatusMatch {
    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusMatch::NonSuccess => !(200..300).contains(&status),
            StatusMatch::Any => true,
            StatusMatch::Set(ranges) => ranges.iter().any(|r| (r.lo..=r.hi).contains(&status)),
        }
    }
}

/// A value template.
#[derive(Debug)]
pub enum Template {
    Const(Value),
    /// A number constant of arithmetic (`100` of a percent), read as a decimal at load; it
    /// yields the number as written.
    Number(Decimal, Value),
    Select(Selector),
    /// A string with `${...}` parts; absent if any part is absent.
    Interp(Vec<InterpPart>),
    Object(Vec<(ObjectKey, Template)>),
    Array(Vec<Template>),
    /// A list of the items that are present (absent items dropped); absent when empty and
    /// `omit_empty`.
    Compact(Vec<Template>, bool),
    /// Lists joined into one (a non-list item is added as one element; absent items skipped).
    Concat(Vec<Template>),
    /// Refuses the request: the canonical value cannot be carried to this vendor.
    Fail(String, Option<String>),
    From(Box<FromOp>),
    Each(Box<EachOp>),
    If(Box<Predicate>, Box<Template>, Option<Box<Template>>),
    Coalesce(Vec<Template>),
    Arith(ArithOp, Vec<Template>, Option<u32>),
    Sum(Box<Template>, Option<u32>),
    /// Encodes the value as a JSON text (a JSON document inside a form field).
    Json(Box<Template>),
    /// Decodes a JSON text into a value.
    ParseJson(Box<Template>),
    /// Each template runs with `$` set to the previous one's result.
    Pipe(Vec<Template>),
    /// Objects merged left to right; absent parts skipped.
    Merge(Vec<Template>),
    /// A named template, with `$` moved to `with` when given.
    Use(usize, Option<Box<Template>>),
    /// The first capture group (or whole match) of a regex.
    Capture(Box<Template>, Pattern),
    StripHtml(Box<Template>),
    /// Joins an array of strings.
    Join(Box<Template>, String),
    /// Number of elements of an array.
    Count(Box<Template>),
    /// An object's entries as a list of `{key, value}` (to iterate over an object).
    Entries(Box<Template>),
    /// Standard base64 of a text (e.g. HTTP Basic credentials).
    Base64(Box<Template>),
    /// A value that must be present: absent is an error with this message.
    Require(Box<Template>, String),
}

#[derive(Debug)]
pub enum ObjectKey {
    Literal(Name),
    Interp(Vec<InterpPart>),
}

/// A member name written in the mapping, with its JSON text made once at load (`"name":`, the
/// quotes, escapes and colon included) for the JSON writer, and whether the XML writer may
/// write it as an element (checked once, at load).
#[derive(Debug, Clone)]
pub struct Name {
    /// Interned: objects the engine builds name their members with the mapping's copy.
    text: Key,
    json: Box<str>,
    xml: bool,
}

impl Name {
    pub fn new(text: String) -> Name {
        // A string always encodes; the fallback is the same text written by hand.
        let quoted = serde_json::to_string(&text).unwrap_or_else(|_| format!("{text:?}"));
        Name {
            json: format!("{quoted}:").into_boxed_str(),
            xml: crate::codec::xml::is_element_name(&text),
            text: Key::new(&text),
        }
    }

    /// The name as an element the XML writer opens: the name, and whether it is a valid one.
    pub fn element(&self) -> (&str, bool) {
        (self.text.as_str(), self.xml)
    }

    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The name as an object member's name, without a copy.
    pub fn member(&self) -> crate::value::Name {
        crate::value::Name::known(self.text)
    }

    /// `"name":` as JSON text.
    pub fn json_with_colon(&self) -> &str {
        &self.json
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.text.as_str()
    }
}

#[derive(Debug)]
pub enum InterpPart {
    Literal(String),
    Value(Selector),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug)]
pub struct FromOp {
    pub loc: Loc,
    pub source: Template,
    pub default: Option<Template>,
    pub map: Option<ValueMap>,
    pub on_unmapped: Unmapped,
    pub convert: Option<Convert>,
    /// Keep an explicit JSON null instead of treating it as absent.
    pub keep_null: bool,
    /// The vendor's time zone (an IANA name, e.g. `Europe/Paris` or `$settings.timezone`):
    /// zone-less times are read in it, and `format:` writes in it.
    pub zone: Option<Zone>,
}

/// A `zone:`: a name written in the mapping is resolved at load; a template (a setting) is
/// evaluated where it is used (a setting a `zone:` reads is checked when the config is loaded).
#[derive(Debug)]
pub enum Zone {
    Fixed(super::zone::TimeZone),
    Template(Template),
}

impl Zone {
    /// The template the zone is evaluated from, if it is one.
    pub fn template(&self) -> Option<&Template> {
        match self {
            Zone::Fixed(_) => None,
            Zone::Template(t) => Some(t),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ValueMap {
    pub name: String,
    /// Lookup key (the value's text) -> result.
    pub entries: Entries,
}

/// A value map's entries. Looked up on every mapped value of every request, never added to
/// after load (so no input can crowd a bucket): a fast hash, not SipHash.
pub type Entries = HashMap<String, Value, foldhash::fast::FixedState>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    Error,
    Keep,
    Omit,
}

#[derive(Debug, Clone)]
pub enum Convert {
    String,
    Integer,
    /// An exact decimal number, optionally rounded to `scale` places.
    Decimal(Option<u32>),
    /// A decimal written as a string ("300.00").
    DecimalString(Option<u32>),
    Boolean,
    /// A boolean written as 0 / 1.
    Bit,
    /// A date, read with `parse` (or any usual form) and written with `format` (default `%Y-%m-%d`).
    Date {
        parse: Option<TimePattern>,
        format: Option<TimePattern>,
    },
    /// A timestamp, written with `format` (default RFC 3339).
    Timestamp {
        parse: Option<TimePattern>,
        format: Option<TimePattern>,
    },
    Upper,
    Lower,
    Trim,
}

#[derive(Debug)]
pub struct EachOp {
    pub source: Template,
    pub filter: Option<Predicate>,
    pub to: Template,
    /// Omit the whole array when it would be empty.
    pub omit_empty: bool,
}

#[derive(Debug)]
pub enum Predicate {
    Eq(Template, Template),
    Ne(Template, Template),
    In(Template, Vec<Template>),
    Exists(Template),
    Missing(Template),
    Empty(Template),
    Gt(Template, Template),
    Ge(Template, Template),
    Lt(Template, Template),
    Le(Template, Template),
    Matches(Template, Pattern),
    Not(Box<Predicate>),
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
}

impl Predicate {
    /// The templates a condition tests and the conditions it combines (load-time analyses).
    pub fn parts(&self) -> (Vec<&Template>, Vec<&Predicate>) {
        match self {
            Predicate::Eq(a, b)
            | Predicate::Ne(a, b)
            | Predicate::Gt(a, b)
            | Predicate::Ge(a, b)
            | Predicate::Lt(a, b)
            | Predicate::Le(a, b) => (vec![a, b], Vec::new()),
            Predicate::In(a, list) => (std::iter::once(a).chain(list).collect(), Vec::new()),
            Predicate::Exists(a)
            | Predicate::Missing(a)
            | Predicate::Empty(a)
            | Predicate::Matches(a, _) => (vec![a], Vec::new()),
            Predicate::Not(inner) => (Vec::new(), vec![inner]),
            Predicate::All(list) | Predicate::Any(list) => (Vec::new(), list.iter().collect()),
        }
    }
}

/// A mapping's regular expression (`capture`, `matches`): its syntax checked when the mapping is
/// compiled, so a bad pattern fails there with its `file:line`, and the regex built the first
/// time a request uses it. Most patterns read vendors' error messages, which most gateways
/// rarely see: an idle gateway need not hold their NFAs (~15 KB for a Unicode class, `\w`),
/// nor the ~0.8 MB that building them all at load, only to check them, left with the allocator
/// (the NFA compiler's tables for Unicode classes; step 17 of BENCHMARKS.md).
#[derive(Debug)]
pub struct Pattern {
    text: Box<str>,
    built: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// The pattern, checked by the parser the regex engine itself uses (with the same syntax
    /// configuration): what is left to fail when it is built is only its size (an NFA over 10
    /// MB), which no pattern of a few dozen characters reaches.
    pub fn new(text: &str) -> Result<Pattern, String> {
        regex_automata::util::syntax::parse(text).map_err(|e| e.to_string())?;
        Ok(Pattern {
            text: text.into(),
            built: OnceLock::new(),
        })
    }

    /// The regex, built on first use; a pattern that cannot be built (too large) matches
    /// nothing, and says so once in the log.
    pub fn regex(&self) -> Option<&Regex> {
        self.built
            .get_or_init(|| {
                build_regex(&self.text)
                    .inspect_err(|e| {
                        tracing::warn!(pattern = %self.text, error = %e, "a mapping's regex cannot be built; it matches nothing");
                    })
                    .ok()
            })
            .as_ref()
    }
}

/// No DFA of any kind, only the NFA's own engines (the bounded backtracker, the PikeVM): these
/// patterns read error messages and a few short fields, and a Unicode class (`\w`) costs a DFA
/// megabytes (one-pass) or the reverse NFA the lazy DFA needs, ~20 KB a pattern (the seed
/// mappings' patterns held 906 KB with the lazy DFA, 383 KB without).
fn build_regex(text: &str) -> Result<Regex, Box<BuildError>> {
    Regex::builder()
        .configure(RegexConfig::new().onepass(false).hybrid(false).dfa(false))
        .build(text)
        .map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check at load and the build at first use agree: what the parser refuses the engine
    /// refuses, what it accepts the engine builds.
    #[test]
    fn a_pattern_checked_at_load_is_one_the_engine_builds() {
        for text in [
            r"^(\w+):",
            r"\]: (\w+)$",
            r"^[\w.]+: (.*)$",
            r"\p{Greek}+",
            r"(?P<code>[A-Z]{3})-\d{2,4}",
            r"[[:alpha:]]+\b",
            r"(?i)error|warn",
            r"(unclosed",
            r"a{2,1}",
            r"(?=lookahead)",
            r"\p{NoSuchClass}",
            r"[z-a]",
            r"\",
        ] {
            assert_eq!(
                Pattern::new(text).is_ok(),
                build_regex(text).is_ok(),
                "{text}"
            );
        }
        assert!(Pattern::new(r"(unclosed").is_err());
    }
}
