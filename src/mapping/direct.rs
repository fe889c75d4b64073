//! Writing a mapped document straight to JSON, checked against the target schema while it
//! is written.
//!
//! The general path builds the mapped document as a tree, walks the tree with the target
//! schema's compiled validator, serialises it and drops it. Most of what that walk decides
//! is known as soon as the map and the schema are compiled: the schema node each output key
//! lands on, whether the schema allows the key, which bit it sets among the required names,
//! where the arrays are. A [`DirectPlan`] records those answers field by field. Writing a
//! document then evaluates each value, checks it against its node, and appends it to the
//! output behind its key, escaped once at load; values copied from the source are never
//! cloned.
//!
//! The plan only ever says yes. A value or object that fails its check, an object whose
//! required names did not all appear, or any mapping error abandons the write, and the
//! caller takes the general path, which reports the failure exactly as it always has. What
//! the plan writes is byte for byte what the general path forwards: the fuzz targets and the
//! tests below hold the two equal.

use std::sync::Arc;

use serde_json::Value;

use super::compile::{EachBody, EachRule, Field, Finish, Node, ObjectRule, Source, ValueRule};
use super::eval::{Eval, Got, ITEM_FIELD, Scope};
use super::{CompiledMap, EvalContext, MapError};
use crate::schema::Schema;
use crate::schema::fast::{FastValidator, Id};
use crate::view::{Doc, View};

/// A compiled map joined to the compiled validator of its target schema.
pub struct DirectPlan {
    target: Arc<Schema>,
    root: ObjectPlan,
}

impl std::fmt::Debug for DirectPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPlan")
            .field("target", &self.target.name)
            .finish_non_exhaustive()
    }
}

/// What a value written at some place must meet.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anything (`additionalProperties` absent or `true`, `items` absent).
    Any,
    /// The schema node's check.
    Node(Id),
    /// Nothing: the schema forbids the key, so a value there abandons the write.
    Never,
}

/// The fields of an object whose schema node asks only for its members (see
/// [`FastValidator::plain_object`]), in the order of the map's fields.
struct ObjectPlan {
    /// Bits of the required names, as [`FieldPlan::bit`]s add up when all are present.
    required: u64,
    fields: Box<[FieldPlan]>,
}

struct FieldPlan {
    /// `"key":`, escaped as `serde_json` escapes it.
    key: Box<[u8]>,
    /// The key's bit among the required names (0 when not required).
    bit: u64,
    rule: Rule,
    how: How,
}

/// How a field's value is produced.
enum How {
    /// A value rule, written as it is evaluated.
    Value,
    /// A nested object whose node is a plain object.
    Object(ObjectPlan),
    /// An `each` whose node is a plain array.
    Each(Box<EachPlan>),
    /// Anything else: evaluated as the general path does, then checked whole.
    Whole,
}

struct EachPlan {
    min_items: u64,
    max_items: u64,
    /// What each item must meet.
    item: Rule,
    /// How each item is produced, from the `each` body.
    body: How,
}

/// The write was abandoned: the general path decides and reports.
struct Abandon;

impl DirectPlan {
    /// The plan of `map` writing documents of `target`, or None when the target schema has
    /// no compiled validator, or its root does not take a plain object.
    pub fn new(map: &CompiledMap, target: &Arc<Schema>) -> Option<DirectPlan> {
        let v = target.fast()?;
        let root = object_plan(v, &map.root, Rule::Node(v.root()))?;
        Some(DirectPlan {
            target: target.clone(),
            root,
        })
    }

    /// Writes the mapped document of `source` to `out` and returns true, or returns false
    /// (with `out` in any state) when the general path must decide.
    pub fn write(
        &self,
        map: &CompiledMap,
        source: View<'_>,
        ctx: &EvalContext<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(validator) = self.target.fast() else {
            return false;
        };
        let mut w = Writer {
            eval: Eval { source, ctx },
            validator,
            out,
        };
        matches!(w.object(&self.root, &map.root, None, 0), Ok(any) if any || self.root.required == 0)
    }
}

/// The plan of an object rule whose values must meet `rule`; None when the object cannot be
/// checked field by field (repeated keys, or a node that asks more than its members).
fn object_plan(v: &FastValidator, object: &ObjectRule, rule: Rule) -> Option<ObjectPlan> {
    if !object.keys_unique() {
        return None;
    }
    let id = match rule {
        Rule::Any => None,
        Rule::Node(id) => Some(id),
        Rule::Never => return None,
    };
    let required = match id {
        Some(id) => v.plain_object(id)?,
        None => 0,
    };
    let fields = object
        .fields
        .iter()
        .map(|f| {
            let (rule, bit) = match id {
                None => (Rule::Any, 0),
                Some(id) => match v.member(id, &f.key) {
                    Some((Some(node), bit)) => (Rule::Node(node), bit),
                    Some((None, bit)) => (Rule::Any, bit),
                    None => (Rule::Never, 0),
                },
            };
            let mut key = serde_json::to_vec(&f.key).ok()?;
            key.push(b':');
            Some(FieldPlan {
                key: key.into_boxed_slice(),
                bit,
                rule,
                how: how(v, &f.node, rule),
            })
        })
        .collect::<Option<Box<[FieldPlan]>>>()?;
    Some(ObjectPlan { required, fields })
}

fn how(v: &FastValidator, node: &Node, rule: Rule) -> How {
    match node {
        Node::Value(_) => How::Value,
        Node::Choice(_) => How::Whole,
        Node::Object(object) => object_plan(v, object, rule).map_or(How::Whole, How::Object),
        Node::Each(each) => each_plan(v, each, rule).map_or(How::Whole, |p| How::Each(Box::new(p))),
    }
}

fn each_plan(v: &FastValidator, each: &EachRule, rule: Rule) -> Option<EachPlan> {
    let (min_items, max_items, item) = match rule {
        Rule::Any => (0, u64::MAX, Rule::Any),
        Rule::Node(id) => {
            let (min, max, items) = v.plain_array(id)?;
            (min, max, items.map_or(Rule::Any, Rule::Node))
        }
        Rule::Never => return None,
    };
    let body = match &each.body {
        EachBody::Map(object) => object_plan(v, object, item).map_or(How::Whole, How::Object),
        EachBody::Item(node) => how(v, node, item),
    };
    Some(EachPlan {
        min_items,
        max_items,
        item,
        body,
    })
}

struct Writer<'w, 'a, 'c> {
    eval: Eval<'a, 'c>,
    validator: &'w FastValidator,
    out: &'w mut Vec<u8>,
}

impl<'a, 'c: 'a> Writer<'_, 'a, 'c> {
    /// Writes an object and returns whether it has any member; its required names are
    /// checked only then, since an empty nested object is left out. Callers that write the
    /// object even when empty check `required == 0` themselves.
    fn object<'s>(
        &mut self,
        plan: &ObjectPlan,
        object: &'s ObjectRule,
        scope: Option<&Scope<'s>>,
        depth: u32,
    ) -> Result<bool, Abandon> {
        self.out.push(b'{');
        let mut seen = 0u64;
        let mut any = false;
        for (p, f) in plan.fields.iter().zip(object.fields.iter()) {
            let mark = self.out.len();
            if any {
                self.out.push(b',');
            }
            self.out.extend_from_slice(&p.key);
            if self.field(p.rule, &p.how, &f.node, f, scope, depth + 1)? {
                seen |= p.bit;
                any = true;
            } else {
                self.out.truncate(mark);
            }
        }
        self.out.push(b'}');
        if any && seen != plan.required {
            return Err(Abandon);
        }
        Ok(any)
    }

    /// Writes the value of one field (or `each` item) and returns whether it produced one.
    fn field<'s>(
        &mut self,
        rule: Rule,
        how: &How,
        node: &'s Node,
        field: &'s Field,
        scope: Option<&Scope<'s>>,
        depth: u32,
    ) -> Result<bool, Abandon> {
        match (how, node) {
            (How::Value, Node::Value(value)) => self.value(rule, value, field, scope, depth),
            (How::Object(plan), Node::Object(object)) => self.object(plan, object, scope, depth),
            (How::Each(plan), Node::Each(each)) => self.each(rule, plan, each, field, scope, depth),
            _ => self.produced(rule, self.eval.node(node, field, scope), depth),
        }
    }

    /// A value rule. A plain copy of a source value is checked and written from the source
    /// itself; every other rule is evaluated as the general path evaluates it.
    fn value<'s>(
        &mut self,
        rule: Rule,
        value: &'s ValueRule,
        field: &'s Field,
        scope: Option<&Scope<'s>>,
        depth: u32,
    ) -> Result<bool, Abandon> {
        if let (None, Source::Path(p), Finish::Copy) = (&value.when, &value.source, value.finish)
            && let Some(view) = self
                .eval
                .resolve(p, scope)
                .filter(|g| !g.is_null())
                .and_then(Got::view)
        {
            return self.put(rule, view, depth).map(|()| true);
        }
        // Matched here rather than through `produced`: converted values (numbers, lookups)
        // come this way, and wrapping each in a `Doc` costs a few percent of the write.
        match self.eval.value(value, field, scope) {
            Ok(Some(v)) => self.put(rule, View::Value(&v), depth).map(|()| true),
            Ok(None) => Ok(false),
            Err(_) => Err(Abandon),
        }
    }

    /// An `each`: its items written one by one, then its length checked.
    fn each<'s>(
        &mut self,
        rule: Rule,
        plan: &EachPlan,
        each: &'s EachRule,
        field: &'s Field,
        scope: Option<&Scope<'s>>,
        depth: u32,
    ) -> Result<bool, Abandon> {
        if let Some(w) = &each.when
            && !self.eval.cond(w, scope)
        {
            return Ok(false);
        }
        let items = match self.eval.resolve(&each.source, scope) {
            found @ (None | Some(Got::Json(Value::Null))) => {
                let absent =
                    self.eval
                        .absent(&each.absence, found.is_some(), field, || None, scope);
                return self.produced(rule, absent.map(|v| v.map(Doc::Json)), depth);
            }
            Some(g) => g.view().and_then(View::items),
        };
        let items = items.ok_or(Abandon)?;
        self.out.push(b'[');
        let mut written = 0usize;
        for (index, item) in items.enumerate() {
            let inner = Scope::new(item, index, written, each, &field.pointer, scope);
            if let Some(f) = &each.filter
                && !self.eval.cond(f, Some(&inner))
            {
                continue;
            }
            let mark = self.out.len();
            if written > 0 {
                self.out.push(b',');
            }
            if self.item(plan, each, &inner, depth + 1)? {
                written += 1;
            } else {
                self.out.truncate(mark);
            }
        }
        self.out.push(b']');
        let n = u64::try_from(written).unwrap_or(u64::MAX);
        if n < plan.min_items || n > plan.max_items {
            return Err(Abandon);
        }
        Ok(true)
    }

    /// One item of an `each`. Objects are written even when empty, as the general path
    /// builds them; a value item that produces nothing is left out.
    fn item<'s>(
        &mut self,
        plan: &EachPlan,
        each: &'s EachRule,
        scope: &Scope<'s>,
        depth: u32,
    ) -> Result<bool, Abandon> {
        if let How::Object(object) = &plan.body {
            let rule = match &each.body {
                EachBody::Map(rule) => rule,
                EachBody::Item(node) => match &**node {
                    Node::Object(rule) => rule,
                    _ => return Err(Abandon),
                },
            };
            let any = self.object(object, rule, Some(scope), depth)?;
            return if any || object.required == 0 {
                Ok(true)
            } else {
                Err(Abandon)
            };
        }
        match (&plan.body, &each.body) {
            (How::Whole, EachBody::Map(rule)) => self.produced(
                plan.item,
                self.eval.object(rule, Some(scope)).map(Some),
                depth,
            ),
            (How::Whole, EachBody::Item(node)) => {
                self.produced(plan.item, self.eval.item_node(node, scope), depth)
            }
            (how, EachBody::Item(node)) => {
                self.field(plan.item, how, node, &ITEM_FIELD, Some(scope), depth)
            }
            (_, EachBody::Map(_)) => Err(Abandon),
        }
    }

    /// What the general evaluation produced for a place: checked against `rule` and
    /// written, left out when nothing, abandoned on a mapping error. For the places the
    /// plan does not decide field by field; kept out of the value path (see `value`).
    #[inline(never)]
    fn produced(
        &mut self,
        rule: Rule,
        produced: Result<Option<Doc<'_>>, MapError>,
        depth: u32,
    ) -> Result<bool, Abandon> {
        match produced {
            Ok(Some(doc)) => self.put(rule, doc.view(), depth).map(|()| true),
            Ok(None) => Ok(false),
            Err(_) => Err(Abandon),
        }
    }

    /// Checks a value against `rule` and appends it.
    fn put(&mut self, rule: Rule, view: View<'_>, depth: u32) -> Result<(), Abandon> {
        let ok = match rule {
            Rule::Any => true,
            Rule::Node(id) => self.validator.check_at_node(id, view, depth) == Some(true),
            Rule::Never => false,
        };
        if !ok {
            return Err(Abandon);
        }
        serde_json::to_writer(&mut *self.out, &view).map_err(|_| Abandon)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::DirectPlan;
    use crate::mapping::test_support::compile_map;
    use crate::mapping::{CompiledMap, EvalContext};
    use crate::schema::Schema;
    use crate::view::Doc;

    /// A target that asks something of every kind of place a plan knows: required names
    /// at the root, in a nested object and in array items, a forbidden key, bounds, array
    /// lengths, and a `$ref` with a sibling (a node the plan checks whole).
    fn target() -> Arc<Schema> {
        let schema = json!({
            "type": "object",
            "required": ["id", "lines"],
            "additionalProperties": false,
            "properties": {
                "id": {"type": "string", "minLength": 2},
                "n": {"type": "integer", "maximum": 10},
                "customer": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "email": {"type": "string"}}
                },
                "lines": {
                    "type": "array", "minItems": 1, "maxItems": 3,
                    "items": {
                        "type": "object", "required": ["sku"],
                        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}
                    }
                },
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
                "meta": {"$ref": "#/$defs/meta", "type": "object"}
            },
            "$defs": {"meta": {"required": ["a"], "properties": {"a": {"type": "string"}}}}
        });
        Arc::new(
            Schema::compile("t.json", Path::new("t.json"), schema, &BTreeMap::new())
                .expect("the target compiles"),
        )
    }

    const MAP: &str = "id: /id\n\
        n: { from: /n, as: integer }\n\
        customer:\n  name: /name\n  email: /email\n\
        lines:\n  each: /items\n  map:\n    sku: sku\n    qty: { from: qty, as: integer }\n\
        tags:\n  each: /tags\n  item: { from: ., apply: [uppercase] }\n\
        meta:\n  a: /a\n\
        extra: /extra";

    fn map() -> CompiledMap {
        compile_map(MAP).expect("the map compiles")
    }

    /// What the plan writes, and what the general path forwards (None where it refuses).
    fn both(
        map: &CompiledMap,
        target: &Arc<Schema>,
        source: &Value,
    ) -> (Option<String>, Option<String>) {
        let headers = http::HeaderMap::new();
        let ctx = EvalContext {
            path_params: &[],
            query: &[],
            headers: &headers,
            claims: None,
            soap_header: None,
            partner: "p",
            correlation_id: "c",
            request: None,
        };
        let doc = Doc::deep(source);
        let plan = DirectPlan::new(map, target).expect("the target has a plan");
        let mut out = Vec::new();
        let written = plan
            .write(map, doc.view(), &ctx, &mut out)
            .then(|| String::from_utf8(out).expect("JSON is UTF-8"));
        let general = map
            .apply_doc(doc.view(), &ctx)
            .ok()
            .and_then(|mapped| target.check_doc(mapped).ok())
            .map(|checked| serde_json::to_string(&checked).expect("serialises"));
        (written, general)
    }

    #[test]
    fn writes_what_the_general_path_forwards_and_refuses_what_it_refuses() {
        let (map, target) = (map(), target());
        let full = json!({"id": "A1", "n": "7", "name": "Ann", "email": "a@x",
            "items": [{"sku": "S", "qty": "2"}, {"sku": "T"}], "tags": ["ab"], "a": "z"});
        let (plan, general) = both(&map, &target, &full);
        assert_eq!(
            plan.as_deref(),
            Some(
                r#"{"id":"A1","n":7,"customer":{"name":"Ann","email":"a@x"},"lines":[{"sku":"S","qty":2},{"sku":"T"}],"tags":["AB"],"meta":{"a":"z"}}"#
            )
        );
        assert_eq!(plan, general);

        let with = |patch: Value| {
            let mut source = full.clone();
            for (k, v) in patch.as_object().expect("an object") {
                if v.is_null() {
                    source.as_object_mut().expect("an object").remove(k);
                } else {
                    source[k] = v.clone();
                }
            }
            source
        };
        // Left out, so nothing is asked of them: an empty nested object, optional values.
        let (plan, general) = both(
            &map,
            &target,
            &with(json!({"name": null, "email": null, "n": null, "tags": null, "a": null})),
        );
        assert_eq!(
            plan.as_deref(),
            Some(r#"{"id":"A1","lines":[{"sku":"S","qty":2},{"sku":"T"}]}"#)
        );
        assert_eq!(plan, general);
        // Each refused by the target, in each kind of place.
        for refused in [
            json!({"id": null}),   // a required name missing
            json!({"id": "A"}),    // too short
            json!({"n": "11"}),    // above the maximum
            json!({"name": null}), // a nested object without its required name
            json!({"items": []}),  // fewer items than minItems
            json!({"items": [{"sku": "1"}, {"sku": "2"}, {"sku": "3"}, {"sku": "4"}]}),
            json!({"items": [{"qty": "1"}]}), // an item without its required name
            json!({"items": [{"sku": "S", "qty": "0"}]}), // an item's value below its minimum
            json!({"tags": ["abcd"]}),        // an item too long
            json!({"a": null, "n": "1"}),     // the whole-checked node without `a`... is left out
            json!({"extra": "x"}),            // a key the target forbids
            json!({"n": "seven"}),            // a mapping error
            json!({"items": {"sku": "S"}}),   // `each` on an object
        ] {
            let (plan, general) = both(&map, &target, &with(refused.clone()));
            if refused == json!({"a": null, "n": "1"}) {
                assert!(plan.is_some(), "an empty object is left out, not checked");
                assert_eq!(plan, general);
                continue;
            }
            assert_eq!((plan, general), (None, None), "{refused}");
        }
    }

    #[test]
    fn targets_without_a_compiled_validator_have_no_plan() {
        let any_of = Arc::new(
            Schema::compile(
                "o.json",
                Path::new("o.json"),
                json!({"anyOf": [{"type": "object"}]}),
                &BTreeMap::new(),
            )
            .expect("compiles"),
        );
        assert!(DirectPlan::new(&map(), &any_of).is_none());
    }

    fn text() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            "[a-z]{0,4}".prop_map(Value::String),
            "-?[0-9]{1,3}".prop_map(Value::String),
            (-20i64..20).prop_map(Value::from),
            Just(json!({"k": "v"})),
            Just(json!(["ab"])),
        ]
    }

    fn source() -> impl Strategy<Value = Value> {
        let item = (text(), text()).prop_map(|(sku, qty)| json!({"sku": sku, "qty": qty}));
        (
            (text(), text(), text(), text()),
            prop_oneof![
                proptest::collection::vec(item, 0..5).prop_map(Value::Array),
                text()
            ],
            prop_oneof![
                proptest::collection::vec(text(), 0..3).prop_map(Value::Array),
                text()
            ],
            (text(), text()),
        )
            .prop_map(|((id, n, name, email), items, tags, (a, extra))| {
                let mut source = serde_json::Map::new();
                for (k, v) in [
                    ("id", id),
                    ("n", n),
                    ("name", name),
                    ("email", email),
                    ("items", items),
                    ("tags", tags),
                    ("a", a),
                    ("extra", extra),
                ] {
                    // Null stands for a missing member half of the time.
                    if !(v.is_null() && k.len() % 2 == 0) {
                        source.insert(k.to_owned(), v);
                    }
                }
                Value::Object(source)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// On this target every question has an answer, so the plan writes exactly when the
        /// general path forwards, and the same bytes.
        #[test]
        fn the_plan_agrees_with_the_general_path(source in source()) {
            let (plan, general) = both(&map(), &target(), &source);
            prop_assert_eq!(plan, general);
        }
    }
}
