//! The route-file format as a user writes it (serde + schemars).
//!
//! A map is an ordered list of entries keyed by target property name. Each key keeps its
//! line and column (YAML files) so every later diagnostic can point at the rule a person
//! has to edit. Whether a mapping value is a rule or a nested target object is decided by
//! its first key: a rule keyword (`from`, `const`, ...) makes a rule, anything else a
//! nested target object. A key that starts with a backslash (`\from`) is never a rule
//! keyword, so every target property name can be written. Deciding on the first key lets the decoder stream the value
//! straight from the YAML parser, so positions inside nested maps survive.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, IntoDeserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::codec::Format;

mod steps;

pub use steps::{CalcStep, ComputedOperand, OnEmpty, Operand, RoundSpec, RoundWith};

/// 1-based line and column of a key in its file, when the format reports it (YAML).
pub type Pos = Option<(u32, u32)>;

/// Which way a mapping runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Partner body -> internal body (`request:`).
    Request,
    /// Upstream body -> partner body (`response:`).
    Response,
}

impl Direction {
    /// The section name in the route file.
    pub fn section(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// A mapping section of a route file: the two directions, and the mapping of the
/// upstream's error answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `request:`.
    Request,
    /// `response:`.
    Response,
    /// `errors:`: an upstream 4xx body -> the partner's error document.
    Errors,
}

impl Section {
    /// The section name in the route file.
    pub fn name(self) -> &'static str {
        match self {
            Section::Request => "request",
            Section::Response => "response",
            Section::Errors => "errors",
        }
    }

    /// Whether `$request` may be read: sections that run after the request was mapped.
    pub fn runs_after_request(self) -> bool {
        matches!(self, Section::Response | Section::Errors)
    }
}

impl From<Direction> for Section {
    fn from(d: Direction) -> Section {
        match d {
            Direction::Request => Section::Request,
            Direction::Response => Section::Response,
        }
    }
}

/// One partner route: how it is reached, where it goes, and both mappings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub route: RouteSpec,
    /// Where a `transform` route forwards to (required there; `aggregate` routes name
    /// their services per call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamSpec>,
    /// Mapping of the partner's body to the upstream body. Absent for routes without a
    /// request body (GET, DELETE).
    #[serde(default)]
    pub request: Option<DirectionSpec>,
    /// Mapping of the upstream's answer to the partner's body.
    #[serde(default)]
    pub response: Option<DirectionSpec>,
    /// Mapping of the upstream's 4xx error body to the partner's error document. Without
    /// it, upstream errors reach the partner as a problem summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<DirectionSpec>,
    /// Settings of a `proxy` route (its body limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<crate::config::proxy_spec::ProxySpec>,
    /// The calls and answer mappings of an `aggregate` route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<crate::aggregate::AggregateSpec>,
}

impl RouteFile {
    /// The direction's section, when the file has it.
    pub fn direction(&self, direction: Direction) -> Option<&DirectionSpec> {
        match direction {
            Direction::Request => self.request.as_ref(),
            Direction::Response => self.response.as_ref(),
        }
    }

    /// Any mapping section, when the file has it.
    pub fn section(&self, section: Section) -> Option<&DirectionSpec> {
        match section {
            Section::Request => self.request.as_ref(),
            Section::Response => self.response.as_ref(),
            Section::Errors => self.errors.as_ref(),
        }
    }
}

/// How partners reach the route.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// What the gateway does with the route's requests: `transform` (the default) or
    /// `proxy` (pass-through to the upstream, see `proxy:`), `aggregate` (several upstream
    /// calls, see `aggregate:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// HTTP method (GET, POST, PUT, PATCH, DELETE). Required for `transform` routes; a
    /// `proxy` route without it (or with `*`) serves every method.
    #[serde(default)]
    pub method: String,
    /// Path with `{name}` parameters: `/partners/acme/orders/{id}`.
    pub path: String,
    /// The partner's wire format.
    pub format: Format,
    /// Default XML namespace of the partner's documents (XML routes).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Media type of the route's successful answers, which the gateway writes from the
    /// `response` mapping: `application/xml` (XML routes) or `application/json` (JSON
    /// routes) by default; a media type of the route's format, e.g. `text/xml;
    /// charset=utf-8` or `application/vnd.acme.order-ack+xml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_media_type: Option<String>,
    /// Request headers a mapping may read as `$header.NAME` (case-insensitive names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Query parameters a mapping may read as `$query.NAME`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<String>,
    /// A SOAP route: `"1.1"` or `"1.2"` (quoted). The partner's schema describes the
    /// Body's element; the gateway reads and writes the Envelope, and answers every error
    /// as a SOAP Fault. Needs `format: xml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap: Option<String>,
    /// The SOAP action(s) the route serves: one URI or a list, compared with the
    /// `SOAPAction` header (1.1) or the `action` media-type parameter (1.2). Routes
    /// sharing a method and path must all be SOAP routes with actions none of them share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap_action: Option<SoapActions>,
    /// The status of a SOAP route's faults: `binding` (the default: 500, or 400 for a SOAP
    /// 1.2 Sender fault) or `problem` (the status of the problem in the fault's detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap_fault_status: Option<crate::soap::FaultStatus>,
}

/// `route.soap_action`: one action or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "an action URI or a list of action URIs")]
pub enum SoapActions {
    One(String),
    Many(Vec<String>),
}

impl SoapActions {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            SoapActions::One(a) => vec![a.clone()],
            SoapActions::Many(list) => list.clone(),
        }
    }
}

/// Where the route forwards to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Name of an upstream service in gateway.toml.
    pub service: String,
    /// Method to call upstream; defaults to the route's method.
    #[serde(default)]
    pub method: Option<String>,
    /// Upstream path, may use the route's `{name}` parameters.
    pub path: String,
    /// Which of the partner's query parameters reach the upstream: `none` (the default),
    /// `all` (the query string as sent), or a list of parameter names.
    #[serde(default, skip_serializing_if = "QueryForwarding::is_none")]
    pub query: QueryForwarding,
}

/// The `upstream.query` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "`none`, `all` or a list of query parameter names"
)]
pub enum QueryForwarding {
    /// `none` or `all`.
    Mode(QueryMode),
    /// Only these parameters, in the order and encoding the partner sent them.
    Names(Vec<String>),
}

/// The named `upstream.query` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueryMode {
    /// Nothing of the partner's query is forwarded.
    None,
    /// The partner's query string is forwarded as is.
    All,
}

impl Default for QueryForwarding {
    fn default() -> Self {
        QueryForwarding::Mode(QueryMode::None)
    }
}

impl QueryForwarding {
    pub fn is_none(&self) -> bool {
        *self == QueryForwarding::Mode(QueryMode::None)
    }

    /// The query string to send upstream for the partner's raw query string (without
    /// `?`), or `None` when nothing is forwarded. Listed names are compared decoded
    /// (`a%5Fb` is `a_b`); the pairs kept are passed on byte for byte.
    pub fn select(&self, raw: Option<&str>) -> Option<String> {
        let raw = raw.filter(|q| !q.is_empty())?;
        match self {
            QueryForwarding::Mode(QueryMode::None) => None,
            QueryForwarding::Mode(QueryMode::All) => Some(raw.to_owned()),
            QueryForwarding::Names(names) => {
                let kept: Vec<&str> = raw
                    .split('&')
                    .filter(|pair| {
                        let name = pair.split_once('=').map_or(*pair, |(n, _)| n);
                        form_urlencoded::parse(name.as_bytes())
                            .next()
                            .is_some_and(|(n, _)| names.iter().any(|w| *w == n))
                    })
                    .collect();
                (!kept.is_empty()).then(|| kept.join("&"))
            }
        }
    }
}

/// One direction's schemas and mapping.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectionSpec {
    /// Schema of the input of this direction, relative to schemas/.
    pub schema: String,
    /// Schema of the output of this direction, relative to schemas/.
    pub target: String,
    /// The mapping: mirrors the shape of the target. Keys are target property names
    /// (`a.b` is shorthand for nesting); values are source paths, rules or nested maps.
    pub map: MapSpec,
    /// Source paths dropped on purpose (`/Order/Notes`): the checker does not warn that
    /// they, or anything below them, are unread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Where the `map:` key is written, for diagnostics about the mapping as a whole.
    #[serde(skip)]
    #[schemars(skip)]
    pub pos: Pos,
}

/// The keys of a direction section, for the unknown-key message.
const DIRECTION_KEYS: &[&str] = &["schema", "target", "map", "ignore"];

impl<'de> Deserialize<'de> for DirectionSpec {
    /// Written by hand (not derived) to keep the position of the `map:` key.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DirectionVisitor;
        impl<'de> Visitor<'de> for DirectionVisitor {
            type Value = DirectionSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping section with `schema`, `target` and `map`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DirectionSpec, A::Error> {
                let mut schema = None;
                let mut target = None;
                let mut spec = None;
                let mut ignore = None;
                let mut pos = None;
                while let Some(key) = map.next_key::<serde_saphyr::Spanned<String>>()? {
                    let name = key.value.as_str();
                    let duplicate = match name {
                        "schema" => schema.replace(map.next_value::<String>()?).is_some(),
                        "target" => target.replace(map.next_value::<String>()?).is_some(),
                        "map" => {
                            pos = pos_of(&key.referenced);
                            spec.replace(map.next_value::<MapSpec>()?).is_some()
                        }
                        "ignore" => ignore.replace(map.next_value::<Vec<String>>()?).is_some(),
                        _ => return Err(de::Error::unknown_field(name, DIRECTION_KEYS)),
                    };
                    if duplicate {
                        return Err(de::Error::custom(format_args!("duplicate field `{name}`")));
                    }
                }
                Ok(DirectionSpec {
                    schema: schema.ok_or_else(|| de::Error::missing_field("schema"))?,
                    target: target.ok_or_else(|| de::Error::missing_field("target"))?,
                    map: spec.ok_or_else(|| de::Error::missing_field("map"))?,
                    ignore: ignore.unwrap_or_default(),
                    pos,
                })
            }
        }
        deserializer.deserialize_map(DirectionVisitor)
    }
}

/// A target object: entries in the order written, which is the output order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapSpec {
    pub entries: Vec<MapEntry>,
}

/// One `key: value` of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEntry {
    /// Target property name as written (may be dotted).
    pub key: String,
    /// Where the key is written.
    pub pos: Pos,
    pub value: Entry,
}

/// The value of a map entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A bare source path: `order_id: /Order/@id`.
    Path(String),
    /// An object whose first key is a rule keyword.
    Rule(Box<Rule>),
    /// An object of target properties: a nested target object.
    Nested(MapSpec),
    /// A list of rules writing one target, whose `when` conditions exclude each other.
    Rules(Vec<Rule>),
}

/// The keys that make an object a rule rather than a nested target object.
pub const RULE_KEYS: &[&str] = &[
    "from",
    "const",
    "template",
    "each",
    "cases",
    "map",
    "item",
    "filter",
    "default",
    "on_missing",
    "on_null",
    "on_empty",
    "as",
    "scale",
    "rounding",
    "apply",
    "lookup",
    "fallback",
    "date",
    "calc",
    "when",
];

/// A rule: where a value comes from and what happens to it on the way.
///
/// Exactly one source: `from`, `const`, `template` or `each`. Steps then run in this
/// order: missing/null handling, `apply`, `lookup`, `date`, `as`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Source path: `/Order/@id`, `Qty` (inside `each`), `$path.id`, `$request/Order/@id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A constant value, written as is (`const: null` writes null).
    #[serde(
        default,
        rename = "const",
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub constant: Option<Value>,
    /// A string built from several sources: `"{/Order/First} {/Order/Last}"`; `{{` and
    /// `}}` are literal braces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Iterate over the array at this path; produces an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each: Option<String>,
    /// Ordered branches, each a rule with its `when`: the first whose condition holds
    /// writes the target; `default` is written when none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<Vec<Rule>>,
    /// With `each`: the map producing one object per item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<MapSpec>,
    /// With `each`: the rule producing one scalar per item (`.` is the item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<Entry>>,
    /// With `each`: keep only items for which the condition holds (paths relative to the item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Condition>,
    /// Value written when the source is missing (and on null with `on_null: default`).
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<Value>,
    /// What a missing source does when there is no `default` (default: omit).
    #[serde(
        default,
        deserialize_with = "on_missing_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_missing: Option<OnMissing>,
    /// What a null source does (default: keep, i.e. write null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_null: Option<OnNull>,
    /// What an empty source (`""`, `<Note/>`, `{}`) does (default: keep, i.e. write it).
    #[serde(
        default,
        deserialize_with = "on_empty_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_empty: Option<OnEmpty>,
    /// Type conversion of the result.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub convert: Option<Conversion>,
    /// Decimal places for `as: string` (fixed decimals) and `as: decimal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Rounding used with `scale` (default: half_up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Rounding>,
    /// String functions, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apply: Vec<StringFn>,
    /// Lookup table: source text -> output value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<IndexMap<String, Value>>,
    /// Value used when the lookup has no entry; without it a miss is an error.
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub fallback: Option<Value>,
    /// Date/time reformatting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateSpec>,
    /// Exact decimal arithmetic on the value, step by step: `[{ divide: 1000 }, { round: 3 }]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calc: Vec<CalcStep>,
    /// Write the field only when this condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

impl Rule {
    /// The rule keywords this rule is written with, in [`RULE_KEYS`] order: the checker
    /// names them when the target object has properties spelled the same way.
    pub fn keywords(&self) -> Vec<&'static str> {
        let written = [
            self.from.is_some(),
            self.constant.is_some(),
            self.template.is_some(),
            self.each.is_some(),
            self.cases.is_some(),
            self.map.is_some(),
            self.item.is_some(),
            self.filter.is_some(),
            self.default.is_some(),
            self.on_missing.is_some(),
            self.on_null.is_some(),
            self.on_empty.is_some(),
            self.convert.is_some(),
            self.scale.is_some(),
            self.rounding.is_some(),
            !self.apply.is_empty(),
            self.lookup.is_some(),
            self.fallback.is_some(),
            self.date.is_some(),
            !self.calc.is_empty(),
            self.when.is_some(),
        ];
        RULE_KEYS
            .iter()
            .zip(written)
            .filter_map(|(k, w)| w.then_some(*k))
            .collect()
    }
}

/// What a missing source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// The target field is not written.
    Omit,
    /// The target field is written as null.
    Null,
    /// The mapping fails with the source pointer (422 on a request).
    Error,
}

/// `on_missing: null` is a YAML null, not the string "null": read it as the variant.
fn on_missing_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OnMissing>, D::Error> {
    Ok(Some(
        Option::<OnMissing>::deserialize(d)?.unwrap_or(OnMissing::Null),
    ))
}

/// A value that was written, `null` included: without this, serde reads a written `null`
/// into `None`, the same as an absent key, and `equals: null` or `default: null` would
/// silently mean nothing. Absent keys still take `None` through `#[serde(default)]`.
fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `on_empty: null` is a YAML null, not the string "null": read it as the variant.
fn on_empty_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OnEmpty>, D::Error> {
    Ok(Some(
        Option::<OnEmpty>::deserialize(d)?.unwrap_or(OnEmpty::Null),
    ))
}

/// What a null source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnNull {
    /// The target field is written as null.
    Keep,
    /// The target field is not written.
    Omit,
    /// The rule's `default` is written.
    Default,
}

/// Target type of `as:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    String,
    Integer,
    /// Nearest double: fine for measurements, not for money.
    Number,
    Boolean,
    /// Exact decimal, written as a JSON number only when that number is exact.
    Decimal,
}

/// Rounding of `scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// 0.125 -> 0.13, -0.125 -> -0.13.
    HalfUp,
    /// Banker's rounding: 0.125 -> 0.12, 0.135 -> 0.14.
    HalfEven,
    /// Toward zero: 0.129 -> 0.12.
    Down,
}

/// One string function of `apply:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StringFn {
    Trim,
    TrimStart,
    TrimEnd,
    Lowercase,
    Uppercase,
    /// Replace every occurrence of a literal.
    Replace {
        from: String,
        to: String,
    },
    /// Keep at most this many characters.
    Truncate(usize),
}

/// Date/time reformatting: each side is `rfc3339` or a strftime pattern (`%d.%m.%Y`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateSpec {
    pub from: String,
    pub to: String,
}

/// A condition for `when` and `filter`. Exactly one form per object:
/// `{exists: P}`, `{missing: P}`, `{path: P, equals: V}`, `{path: P, not_equals: V}`,
/// `{path: P, in: [V...]}`, `{path: P, matches: REGEX}`, `{not: C}`, `{all: [C...]}`,
/// `{any: [C...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// True when the path resolves to a value (null counts as present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<String>,
    /// True when the path does not resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// The path compared by `equals`, `not_equals`, `in`, `matches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// True when the value at `path` is present and equal to this one (`null` included).
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub equals: Option<Value>,
    /// True when the value at `path` is missing or differs from this one.
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_equals: Option<Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// A regular expression the string value must match (compiled at load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Condition>>,
}

/// A key with its position: YAML reports it, other formats leave it unknown.
fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    let (line, column) = (loc.line(), loc.column());
    if line == 0 {
        return None;
    }
    Some((
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    ))
}

/// True when `key` is read as a rule keyword: spelled like one and not escaped. A key
/// that starts with a backslash is always a target property (`\from` writes `from`).
fn is_rule_key(key: &str) -> bool {
    RULE_KEYS.contains(&key)
}

/// Fails with `message` while the value of the offending key is read, so the parser
/// reports it on that key's line.
struct Refuse(String);

impl<'de> de::DeserializeSeed<'de> for Refuse {
    type Value = std::convert::Infallible;

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(self.0))
    }
}

/// Feeds a rule's keys to the derived `Rule` decoder: the first key, already read, then
/// the rest of the map, refusing a key that is not a rule keyword with a message that
/// says why the object is a rule. Values still stream from the parser.
struct RuleKeys<A> {
    first: Option<String>,
    /// The keyword that made the object a rule, for messages.
    keyword: String,
    tail: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for RuleKeys<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let key = match self.first.take() {
            Some(key) => key,
            None => match self.tail.next_key::<String>()? {
                Some(key) => key,
                None => return Ok(None),
            },
        };
        if !is_rule_key(&key) {
            let first = &self.keyword;
            let message = format!(
                "`{key}` is not a rule keyword, but this object is a rule because its first key \
                 `{first}` is one; to write a target property named `{first}`, write `\\{first}`; \
                 rule keywords: {}",
                RULE_KEYS.join(", ")
            );
            match self.tail.next_value_seed(Refuse(message))? {}
        }
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.tail.next_value_seed(seed)
    }
}

/// What kind of object a target map is, for the message about a misplaced rule keyword.
enum Within {
    /// The value of a `map:` key: target properties only.
    Map,
    /// A nested target object, made one by this first key.
    Nested(String),
}

/// Reads the remaining entries of a target map whose first key is already read.
fn read_entries<'de, A: MapAccess<'de>>(
    mut map: A,
    first: Option<serde_saphyr::Spanned<String>>,
    within: Within,
) -> Result<MapSpec, A::Error> {
    let mut entries = Vec::new();
    let mut next = first;
    loop {
        let key = match next.take() {
            Some(k) => k,
            None => match map.next_key::<serde_saphyr::Spanned<String>>()? {
                Some(k) => k,
                None => break,
            },
        };
        if is_rule_key(&key.value) {
            let name = &key.value;
            let context = match &within {
                Within::Map => "the keys of a `map:` are target properties".to_owned(),
                Within::Nested(first) => {
                    format!("this object's first key `{first}` is a target property")
                }
            };
            let mut message = format!(
                "`{name}` is a rule keyword, but {context}; to write a target property named \
                 `{name}`, write `\\{name}`"
            );
            if matches!(within, Within::Nested(_)) {
                message.push_str("; to make the object a rule, write its rule keys first");
            }
            match map.next_value_seed(Refuse(message))? {}
        }
        if entries.iter().any(|e: &MapEntry| e.key == key.value) {
            return Err(de::Error::custom(format!(
                "duplicate target key `{}`",
                key.value
            )));
        }
        let value: Entry = map.next_value()?;
        entries.push(MapEntry {
            pos: pos_of(&key.referenced),
            key: key.value,
            value,
        });
    }
    Ok(MapSpec { entries })
}

impl<'de> Deserialize<'de> for MapSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = MapSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of target properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MapSpec, A::Error> {
                read_entries(map, None, Within::Map)
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a source path, a rule or a nested map of target properties")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Path(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Entry, E> {
                Ok(Entry::Path(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                let mut rules = Vec::new();
                while let Some(ListedRule(rule)) = seq.next_element()? {
                    rules.push(rule);
                }
                Ok(Entry::Rules(rules))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let Some(first) = map.next_key::<serde_saphyr::Spanned<String>>()? else {
                    return Ok(Entry::Nested(MapSpec::default()));
                };
                if is_rule_key(&first.value) {
                    let rule =
                        Rule::deserialize(de::value::MapAccessDeserializer::new(RuleKeys {
                            keyword: first.value.clone(),
                            first: Some(first.value),
                            tail: map,
                        }))?;
                    Ok(Entry::Rule(Box::new(rule)))
                } else {
                    let within = Within::Nested(first.value.clone());
                    read_entries(map, Some(first), within).map(Entry::Nested)
                }
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

/// One rule of a list of rules under a target key, read as any rule is: its first key
/// must be a rule keyword.
struct ListedRule(Rule);

impl<'de> Deserialize<'de> for ListedRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListedVisitor;
        impl<'de> Visitor<'de> for ListedVisitor {
            type Value = ListedRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rule (an object whose first key is a rule keyword)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListedRule, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("an empty object is not a rule"));
                };
                if !is_rule_key(&first) {
                    let message = format!(
                        "`{first}` is not a rule keyword, but the items of a list under a target \
                         key are rules; rule keywords: {}",
                        RULE_KEYS.join(", ")
                    );
                    match map.next_value_seed(Refuse(message))? {}
                }
                Rule::deserialize(de::value::MapAccessDeserializer::new(RuleKeys {
                    keyword: first.clone(),
                    first: Some(first),
                    tail: map,
                }))
                .map(ListedRule)
            }
        }
        deserializer.deserialize_any(ListedVisitor)
    }
}

impl Serialize for MapSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(self.entries.len()))?;
        for e in &self.entries {
            m.serialize_entry(&e.key, &e.value)?;
        }
        m.end()
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Entry::Path(p) => serializer.serialize_str(p),
            Entry::Rule(r) => r.serialize(serializer),
            Entry::Nested(m) => m.serialize(serializer),
            Entry::Rules(rules) => rules.serialize(serializer),
        }
    }
}

impl JsonSchema for MapSpec {
    fn schema_name() -> Cow<'static, str> {
        "MapSpec".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let entry = generator.subschema_for::<Entry>();
        json_schema!({
            "description": "Target properties in output order. A key `a.b` is shorthand for a nested object `a` with property `b`. A backslash makes the next character part of the name: `version\\.major` writes `version.major`, and `\\from` writes `from` (a key starting with a backslash is never a rule keyword).",
            "type": "object",
            "additionalProperties": entry,
        })
    }
}

impl JsonSchema for Entry {
    fn schema_name() -> Cow<'static, str> {
        "Entry".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let rule = generator.subschema_for::<Rule>();
        let map = generator.subschema_for::<MapSpec>();
        json_schema!({
            "description": "A source path (`/Order/@id`, `Qty`, `$path.id`), a rule (an object whose first key is a rule keyword), a nested target object, or a list of rules whose `when` conditions exclude each other.",
            "anyOf": [
                { "type": "string", "description": "source path" },
                rule.clone(),
                map,
                {
                    "type": "array",
                    "description": "rules writing one target; each has a `when`, and no two can hold at once",
                    "items": rule,
                    "minItems": 1,
                },
            ],
        })
    }
}

#[cfg(test)]
mod tests;
