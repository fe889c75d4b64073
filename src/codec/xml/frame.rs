//! The JSON view under construction while decoding: the open elements (frames), the
//! members each has gathered so far and how a repeated element becomes an array.

use super::*;

/// The text since the last tag. Usually one text token, borrowed from the input, so the
/// indentation between tags is looked at and dropped without being copied.
#[derive(Default)]
pub(super) struct Segment<'a> {
    pub(super) text: Cow<'a, str>,
    /// Whether `text` is known to be only whitespace: one [`Token::Space`], which the
    /// scanner classified while finding its end, so dropping it needs no second look.
    pub(super) blank: bool,
}

impl<'a> Segment<'a> {
    /// The segment of one [`Token::Space`].
    pub(super) fn space(text: &'a str) -> Self {
        Segment {
            text: Cow::Borrowed(text),
            blank: true,
        }
    }

    pub(super) fn push(&mut self, more: Cow<'a, str>) {
        if self.text.is_empty() {
            self.text = more;
        } else {
            self.text.to_mut().push_str(&more);
        }
        self.blank = false;
    }

    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    pub(super) fn take(&mut self) -> Cow<'a, str> {
        self.blank = false;
        std::mem::take(&mut self.text)
    }
}

/// One member of an object being decoded: its key (borrowed from the schema when the
/// schema names it) and its value.
pub(super) type Member<'a> = (Cow<'a, str>, Doc<'a>);

/// Members an element keeps in the decoder's member list, where a repeated key is found
/// by scanning back from the last member (a repeated element nearly always repeats the
/// last one). Past this many, the element's members move to an object, whose hash index
/// keeps an element with thousands of distinct children linear to decode; real elements
/// have a few dozen members at most.
pub(super) const MAX_LISTED_MEMBERS: usize = 32;

/// One open element while decoding.
pub(super) struct Frame<'a> {
    /// The schema node of this element's value (the item node for array members); None
    /// for an element the schema does not describe.
    pub(super) node: Option<NodeId>,
    /// Key of this element in its parent's object: borrowed from the schema when it
    /// describes the element, so it is copied once, into the finished object.
    pub(super) key: Cow<'a, str>,
    /// Whether the parent's schema says this member is an array.
    pub(super) array: bool,
    /// The start tag's qualified name, which the closing tag must repeat.
    pub(super) qname: &'a str,
    /// How many namespace declarations were in scope before this element's own.
    pub(super) ns_mark: usize,
    /// Where this element's attributes and children decoded so far start in the member
    /// list: an element's members are the list's tail while it is the innermost open one,
    /// so the object is built once, when it closes, with its final size.
    pub(super) members: usize,
    /// The members once there are more than [`MAX_LISTED_MEMBERS`].
    pub(super) spilled: Option<Box<Map<String, Value>>>,
    /// Non-blank text segments already closed by a child element (mixed content).
    pub(super) text: String,
    /// The text since the last tag.
    pub(super) segment: Segment<'a>,
    /// Where among this element's [`Shape::xml_elements`] its next child is looked for
    /// first: just after the last one matched, since children mostly come in the
    /// schema's order.
    pub(super) hint: usize,
    pub(super) has_children: bool,
    pub(super) has_attributes: bool,
    pub(super) nil: bool,
}

/// The members of the open elements, and how objects are built from them.
pub(super) struct Objects<'a> {
    /// Each open element's members, innermost last: an element's members are the tail
    /// from its [`Frame::members`] while it is the innermost open one, so its object is
    /// built once, when it closes, with its final size.
    pub(super) members: Vec<Member<'a>>,
}

impl<'a> Objects<'a> {
    pub(super) fn new() -> Self {
        Objects {
            // Room for the members of a few open elements, the usual peak.
            members: Vec::with_capacity(16),
        }
    }

    /// Where the members of an element opened now start.
    pub(super) fn mark(&self) -> usize {
        self.members.len()
    }

    /// Adds a child element's value to `frame`: a repeated key becomes an array of the
    /// occurrences, in document order; a member the schema says is an array is one from
    /// its first occurrence.
    #[inline(always)]
    pub(super) fn add(
        &mut self,
        frame: &mut Frame<'a>,
        key: Cow<'a, str>,
        value: Doc<'a>,
        array: bool,
    ) {
        if let Some(map) = frame.spilled.as_deref_mut() {
            add_to_map(map, key.into_owned(), value.into_value(), array);
            return;
        }
        let own = self.members.get_mut(frame.members..).unwrap_or_default();
        if let Some((_, seen)) = own.iter_mut().rev().find(|(k, _)| same_key(k, &key)) {
            repeat(seen, value);
            return;
        }
        let value = if array { Doc::List(vec![value]) } else { value };
        self.push(frame, key, value);
    }

    /// Sets an attribute (or `#text`) of `frame`: a second attribute with the same local
    /// name replaces the first's value, in the first's place.
    pub(super) fn set(&mut self, frame: &mut Frame<'a>, key: Cow<'a, str>, value: Doc<'a>) {
        if let Some(map) = frame.spilled.as_deref_mut() {
            map.insert(key.into_owned(), value.into_value());
            return;
        }
        let own = self.members.get_mut(frame.members..).unwrap_or_default();
        if let Some((_, seen)) = own.iter_mut().rev().find(|(k, _)| same_key(k, &key)) {
            *seen = value;
            return;
        }
        self.push(frame, key, value);
    }

    /// Adds a member whose key `frame` does not hold yet.
    #[inline]
    pub(super) fn push(&mut self, frame: &mut Frame<'a>, key: Cow<'a, str>, value: Doc<'a>) {
        let from = frame.members.min(self.members.len());
        if self.members.len() - from < MAX_LISTED_MEMBERS {
            self.members.push((key, value));
        } else {
            self.spill(frame, from, key, value);
        }
    }

    /// Moves `frame`'s members, and one more, to an object: the rare wide element.
    #[cold]
    fn spill(&mut self, frame: &mut Frame<'a>, from: usize, key: Cow<'a, str>, value: Doc<'a>) {
        let listed = self.members.len() - from;
        let mut map = Map::with_capacity(listed * 2);
        for (k, v) in self.members.drain(from..) {
            map.insert(k.into_owned(), v.into_value());
        }
        map.insert(key.into_owned(), value.into_value());
        frame.spilled = Some(Box::new(map));
    }

    /// Drops `frame`'s members (a nil element's).
    pub(super) fn discard(&mut self, frame: &Frame<'a>) {
        self.members.truncate(frame.members);
    }

    /// The object of `frame`'s members, taken off the member list.
    pub(super) fn take(&mut self, frame: &mut Frame<'a>) -> Doc<'a> {
        if let Some(map) = frame.spilled.take() {
            return Doc::Json(Value::Object(*map));
        }
        let from = frame.members.min(self.members.len());
        // One copy of the tail into a vector of its size, rather than a move per member.
        Doc::Members(self.members.split_off(from))
    }
}

/// One more occurrence of a member already present.
pub(super) fn repeat<'a>(seen: &mut Doc<'a>, value: Doc<'a>) {
    match seen {
        // Element values are never arrays themselves, so a list here is this member's
        // own list of occurrences.
        Doc::List(items) => items.push(value),
        existing => {
            let first = std::mem::replace(existing, Doc::Json(Value::Null));
            *existing = Doc::List(vec![first, value]);
        }
    }
}

/// Moves the current text segment into the element's text unless it is only the
/// whitespace between two tags.
pub(super) fn flush_segment(frame: &mut Frame<'_>) {
    if frame.segment.text.is_empty() {
        return;
    }
    if !frame.segment.blank && !is_blank(&frame.segment.text) {
        frame.text.push_str(&frame.segment.text);
    }
    frame.segment = Segment::default();
}

/// [`Objects::add`] for an element whose members have moved to an object.
pub(super) fn add_to_map(map: &mut Map<String, Value>, key: String, value: Value, array: bool) {
    match map.entry(key) {
        serde_json::map::Entry::Occupied(mut seen) => match seen.get_mut() {
            // As in [`repeat`]: an array here is the member's list of occurrences.
            Value::Array(items) => items.push(value),
            existing => {
                let first = std::mem::take(existing);
                *existing = Value::Array(vec![first, value]);
            }
        },
        serde_json::map::Entry::Vacant(slot) => {
            slot.insert(if array {
                Value::Array(vec![value])
            } else {
                value
            });
        }
    }
}

/// Where the next occurrence of child `key` of `parent` (whose listed members are `own`)
/// goes in its array: past the occurrences so far, when the member is or becomes an
/// array. Error path only.
pub(super) fn occurrence(
    parent: &Frame<'_>,
    own: &[Member<'_>],
    key: &str,
    array: bool,
) -> Option<usize> {
    if let Some(map) = parent.spilled.as_deref() {
        return match map.get(key) {
            Some(Value::Array(items)) => Some(items.len()),
            Some(_) => Some(1),
            None => array.then_some(0),
        };
    }
    match own.iter().rev().find(|(k, _)| k == key) {
        Some((_, Doc::List(items))) => Some(items.len()),
        Some(_) => Some(1),
        None => array.then_some(0),
    }
}
