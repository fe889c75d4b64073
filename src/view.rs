//! The decoded partner document in the form the request direction reads it.
//!
//! A `serde_json::Value` object owns every key as a `String` and hashes each one into its
//! index; the partner's document is read once by validation and once by the mapping and
//! then dropped, so that work buys nothing. [`Doc`] keeps objects as member lists whose keys
//! are borrowed from the schema (or from the body, for keys the schema does not name) and
//! holds scalars, and any subtree already built as a value, as plain [`Value`]s, except
//! strings, which stay text borrowed from the body wherever the body holds them as they
//! are: most of a partner's values are copied into the internal document or only checked,
//! so owning each would buy an allocation, a copy and a free apiece. [`View`] reads a `Doc`
//! and a `Value` alike, so validation and the mapping take either.
//!
//! A `Doc` becomes the `Value` the rest of the gateway knows with [`Doc::into_value`] (or
//! [`View::to_value`]), identical member for member to what decoding into a `Value` gives.

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A decoded document (or subtree).
#[derive(Debug, Clone, PartialEq)]
pub enum Doc<'a> {
    /// A subtree held as a plain value: every scalar, and objects built as maps (objects
    /// too wide for a member list, see the decoder).
    Json(Value),
    /// A string: exactly `Value::String` of the same text, without owning it when the
    /// decoder found it whole in the body.
    Text(Cow<'a, str>),
    /// An array.
    List(Vec<Doc<'a>>),
    /// An object's members in document order. Keys are unique.
    Members(Vec<(Cow<'a, str>, Doc<'a>)>),
}

/// The JSON type of a viewed value, `Integer` folded into `Number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn of(v: &Value) -> Kind {
        match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }
}

impl<'a> Doc<'a> {
    /// The value this document stands for.
    pub fn into_value(self) -> Value {
        match self {
            Doc::Json(v) => v,
            Doc::Text(s) => Value::String(s.into_owned()),
            Doc::List(items) => Value::Array(items.into_iter().map(Doc::into_value).collect()),
            Doc::Members(members) => {
                let mut map = Map::with_capacity(members.len());
                for (k, v) in members {
                    map.insert(k.into_owned(), v.into_value());
                }
                Value::Object(map)
            }
        }
    }

    pub fn view(&self) -> View<'_> {
        View::Doc(self)
    }

    /// `value` with every object and array as a member list and list (keys borrowed),
    /// as the decoder builds them: for tests that compare reading a `Doc` with reading
    /// its value.
    #[cfg(test)]
    pub(crate) fn deep(value: &'a Value) -> Doc<'a> {
        match value {
            Value::Array(items) => Doc::List(items.iter().map(Doc::deep).collect()),
            Value::Object(m) => Doc::Members(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Doc::deep(v)))
                    .collect(),
            ),
            Value::String(s) => Doc::Text(Cow::Borrowed(s)),
            scalar => Doc::Json(scalar.clone()),
        }
    }
}

/// Written exactly as its value would be: members in order, scalars as `serde_json` writes them.
impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Json(v) => v.serialize(s),
            Doc::Text(t) => s.serialize_str(t),
            Doc::List(items) => s.collect_seq(items),
            Doc::Members(m) => s.collect_map(m.iter().map(|(k, v)| (k.as_ref(), v))),
        }
    }
}

/// Written exactly as the value it shows.
impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            View::Value(v) => v.serialize(s),
            View::Doc(d) => d.serialize(s),
            View::Text(t) => s.serialize_str(t),
        }
    }
}

/// A borrowed look at a [`Doc`] or a [`Value`].
#[derive(Debug, Clone, Copy)]
pub enum View<'v> {
    Value(&'v Value),
    Doc(&'v Doc<'v>),
    /// A string held as text ([`Doc::Text`], or text from elsewhere read as a value).
    Text(&'v str),
}

impl<'v> From<&'v Value> for View<'v> {
    fn from(v: &'v Value) -> Self {
        View::Value(v)
    }
}

impl<'v> View<'v> {
    /// Looks through `Doc::Json` and `Doc::Text`, so that a plain value is always seen as
    /// `View::Value` and text as `View::Text`: a `View::Doc` is then a member list or a
    /// list.
    #[inline]
    pub fn norm(self) -> View<'v> {
        match self {
            View::Doc(Doc::Json(v)) => View::Value(v),
            View::Doc(Doc::Text(s)) => View::Text(s),
            other => other,
        }
    }

    /// The value itself when it is held as one: every scalar but text (see
    /// [`View::as_str`]).
    #[inline]
    pub fn as_value(self) -> Option<&'v Value> {
        match self.norm() {
            View::Value(v) => Some(v),
            View::Doc(_) | View::Text(_) => None,
        }
    }

    /// A string's text, however it is held.
    #[inline]
    pub fn as_str(self) -> Option<&'v str> {
        match self.norm() {
            View::Value(Value::String(s)) => Some(s),
            View::Text(s) => Some(s),
            _ => None,
        }
    }

    #[inline]
    pub fn kind(self) -> Kind {
        match self.norm() {
            View::Value(v) => Kind::of(v),
            View::Text(_) => Kind::String,
            View::Doc(Doc::List(_)) => Kind::Array,
            View::Doc(_) => Kind::Object,
        }
    }

    #[inline]
    pub fn is_null(self) -> bool {
        matches!(self.as_value(), Some(Value::Null))
    }

    /// An object's member.
    #[inline]
    pub fn get(self, key: &str) -> Option<View<'v>> {
        match self.norm() {
            View::Value(v) => v.as_object()?.get(key).map(View::Value),
            View::Doc(Doc::Members(m)) => m.iter().find(|(k, _)| k == key).map(|(_, d)| d.view()),
            View::Doc(_) | View::Text(_) => None,
        }
    }

    /// An array's items, `None` for anything else.
    pub fn items(self) -> Option<Items<'v>> {
        match self.norm() {
            View::Value(Value::Array(items)) => Some(Items::Value(items.iter())),
            View::Doc(Doc::List(items)) => Some(Items::Doc(items.iter())),
            _ => None,
        }
    }

    /// An object's members in order, `None` for anything else.
    pub fn members(self) -> Option<Members<'v>> {
        match self.norm() {
            View::Value(Value::Object(m)) => Some(Members::Value(m.iter())),
            View::Doc(Doc::Members(m)) => Some(Members::Doc(m.iter())),
            _ => None,
        }
    }

    /// Number of items or members (0 for scalars).
    pub fn len(self) -> usize {
        match self.norm() {
            View::Value(Value::Array(a)) => a.len(),
            View::Value(Value::Object(m)) => m.len(),
            View::Value(_) | View::Text(_) => 0,
            View::Doc(Doc::List(a)) => a.len(),
            View::Doc(Doc::Members(m)) => m.len(),
            View::Doc(Doc::Json(_) | Doc::Text(_)) => 0,
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// An owned copy as a plain value.
    pub fn to_value(self) -> Value {
        match self.norm() {
            View::Value(v) => v.clone(),
            View::Text(s) => Value::String(s.to_owned()),
            View::Doc(d) => d.clone().into_value(),
        }
    }
}

/// Iterator over an array's items.
pub enum Items<'v> {
    Value(std::slice::Iter<'v, Value>),
    Doc(std::slice::Iter<'v, Doc<'v>>),
}

impl<'v> Iterator for Items<'v> {
    type Item = View<'v>;
    #[inline]
    fn next(&mut self) -> Option<View<'v>> {
        match self {
            Items::Value(it) => it.next().map(View::Value),
            Items::Doc(it) => it.next().map(Doc::view),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Items::Value(it) => it.size_hint(),
            Items::Doc(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Items<'_> {}

impl DoubleEndedIterator for Items<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Items::Value(it) => it.next_back().map(View::Value),
            Items::Doc(it) => it.next_back().map(Doc::view),
        }
    }
}

/// Iterator over an object's members.
pub enum Members<'v> {
    Value(serde_json::map::Iter<'v>),
    Doc(std::slice::Iter<'v, (Cow<'v, str>, Doc<'v>)>),
}

impl<'v> Iterator for Members<'v> {
    type Item = (&'v str, View<'v>);
    #[inline]
    fn next(&mut self) -> Option<(&'v str, View<'v>)> {
        match self {
            Members::Value(it) => it.next().map(|(k, v)| (k.as_str(), View::Value(v))),
            Members::Doc(it) => it.next().map(|(k, d)| (k.as_ref(), d.view())),
        }
    }
}

impl DoubleEndedIterator for Members<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Members::Value(it) => it.next_back().map(|(k, v)| (k.as_str(), View::Value(v))),
            Members::Doc(it) => it.next_back().map(|(k, d)| (k.as_ref(), d.view())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Doc<'static> {
        Doc::Members(vec![
            (Cow::Borrowed("@id"), Doc::Json(json!("A-1"))),
            (
                Cow::Borrowed("Item"),
                Doc::List(vec![
                    Doc::Members(vec![(Cow::Borrowed("Qty"), Doc::Json(json!(2)))]),
                    Doc::Json(json!({"Qty": 3})),
                ]),
            ),
            (Cow::Owned("Notes".to_owned()), Doc::Json(Value::Null)),
        ])
    }

    #[test]
    fn into_value_keeps_member_order_and_nesting() {
        let v = sample().into_value();
        let expected = r#"{"@id":"A-1","Item":[{"Qty":2},{"Qty":3}],"Notes":null}"#;
        assert_eq!(serde_json::to_string(&v).unwrap(), expected);
        // Serialised as a Doc: the same bytes.
        assert_eq!(serde_json::to_string(&sample()).unwrap(), expected);
        let escaped = Doc::Members(vec![(Cow::Borrowed("a\"b"), Doc::Json(json!("x\ny")))]);
        assert_eq!(
            serde_json::to_string(&escaped).unwrap(),
            r#"{"a\"b":"x\ny"}"#
        );
    }

    #[test]
    fn a_view_reads_a_doc_as_its_value() {
        let doc = sample();
        let value = doc.clone().into_value();
        for view in [doc.view(), View::Value(&value)] {
            assert_eq!(view.kind(), Kind::Object);
            assert_eq!(view.len(), 3);
            assert_eq!(
                view.get("@id").and_then(View::as_value),
                Some(&json!("A-1"))
            );
            assert!(view.get("Notes").unwrap().is_null());
            assert!(view.get("missing").is_none());
            let items = view.get("Item").unwrap();
            assert_eq!(items.kind(), Kind::Array);
            let qty: Vec<Value> = items
                .items()
                .unwrap()
                .map(|i| i.get("Qty").unwrap().to_value())
                .collect();
            assert_eq!(qty, vec![json!(2), json!(3)]);
            let keys: Vec<&str> = view.members().unwrap().map(|(k, _)| k).collect();
            assert_eq!(keys, ["@id", "Item", "Notes"]);
            assert_eq!(view.to_value(), value);
            assert!(view.as_value().is_none() || matches!(view, View::Value(_)));
        }
    }
}
