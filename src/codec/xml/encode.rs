//! The XML encoder: a JSON view written as a document in the target schema's order and
//! names, following the schema's [`EncodePlan`].

use super::*;

/// Encodes a JSON view into an XML document (UTF-8, with declaration), children in the
/// order of the target schema's `properties`, the route's namespace as default namespace.
///
/// Works the schema's [`EncodePlan`] out on every call; the gateway holds one per schema
/// and calls [`encode_view`].
pub fn encode(
    value: &Value,
    shape: &Shape,
    namespace: Option<&str>,
) -> Result<Vec<u8>, EncodeError> {
    encode_view(
        View::Value(value),
        shape,
        &EncodePlan::new(shape),
        namespace,
    )
}

/// [`encode`] reading a [`View`], so a mapped [`Doc`] is written without first becoming a
/// `Value`. `plan` is [`EncodePlan::new`] of `shape`; a plan of another shape gives wrong
/// names but never a panic.
pub fn encode_view(
    view: View<'_>,
    shape: &Shape,
    plan: &EncodePlan,
    namespace: Option<&str>,
) -> Result<Vec<u8>, EncodeError> {
    let top = match view.members() {
        Some(members) if view.len() == 1 => members,
        _ => {
            return Err(EncodeError {
                pointer: String::new(),
                message: "the XML view must be an object with exactly one member, the root element"
                    .to_string(),
                by_value: false,
            });
        }
    };
    let mut enc = Encoder {
        shape,
        plan,
        route_ns: namespace,
        out: String::with_capacity(256),
        prefixes: Vec::new(),
        uses_xsi: false,
        path: Vec::with_capacity(8),
        pending: Vec::with_capacity(16),
    };
    enc.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut declarations_at = 0;
    let root = Some(shape.root());
    for (key, v) in top {
        let member = enc.member(root, plan.slot(root, key, 0), key);
        enc.path.push(Seg::Key(key));
        if v.kind() == Kind::Array {
            return Err(enc.error("the root element cannot be an array"));
        }
        let name = enc.name_of(&member)?;
        declarations_at = enc.write_element(name, v, member.element)?;
        enc.path.pop();
    }
    let decls = declarations(namespace, &enc.prefixes, enc.uses_xsi);
    enc.out.insert_str(declarations_at, &decls);
    Ok(enc.out.into_bytes())
}

/// The root element's namespace declarations: the route's namespace as the default, the
/// foreign ones with their prefixes in first-use order, and `xsi` when a nil was written.
pub(super) fn declarations(
    namespace: Option<&str>,
    prefixes: &[(String, String)],
    uses_xsi: bool,
) -> String {
    let mut decls = String::with_capacity(64);
    if let Some(ns) = namespace {
        decls.push_str(" xmlns=\"");
        escape_into(&mut decls, ns, true);
        decls.push('"');
    }
    // The `xml` prefix is bound by definition and may not be declared.
    for (ns, prefix) in prefixes.iter().filter(|(ns, _)| ns != XML_NS) {
        decls.push_str(" xmlns:");
        decls.push_str(prefix);
        decls.push_str("=\"");
        escape_into(&mut decls, ns, true);
        decls.push('"');
    }
    if uses_xsi {
        decls.push_str(" xmlns:xsi=\"");
        decls.push_str(XSI);
        decls.push('"');
    }
    decls
}

pub(super) enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

/// An element name: its prefix (an index into [`Encoder::prefixes`]), if any, and local part.
#[derive(Clone, Copy)]
pub(super) struct QName<'x> {
    pub(super) prefix: Option<usize>,
    pub(super) local: &'x str,
}

/// One member of an object being written, with its slot in the object's plan.
#[derive(Clone, Copy)]
pub(super) struct Entry<'v> {
    pub(super) key: &'v str,
    pub(super) value: View<'v>,
    pub(super) slot: u32,
}

pub(super) struct Encoder<'s, 'v> {
    pub(super) shape: &'s Shape,
    pub(super) plan: &'s EncodePlan,
    pub(super) route_ns: Option<&'s str>,
    pub(super) out: String,
    /// Namespaces other than the route's, with their prefixes, in first-use order.
    pub(super) prefixes: Vec<(String, String)>,
    pub(super) uses_xsi: bool,
    pub(super) path: Vec<Seg<'v>>,
    /// The members of the objects being written, outermost first, each object's in writing
    /// order: one buffer for the whole document instead of a list per object.
    pub(super) pending: Vec<Entry<'v>>,
}

impl<'s, 'v> Encoder<'s, 'v> {
    fn error(&self, message: impl Into<String>) -> EncodeError {
        self.error_of(message, false)
    }

    /// An error caused by the document's own content (see [`EncodeError::by_value`]).
    fn value_error(&self, message: impl Into<String>) -> EncodeError {
        self.error_of(message, true)
    }

    fn error_of(&self, message: impl Into<String>, by_value: bool) -> EncodeError {
        let mut pointer = String::new();
        for seg in &self.path {
            pointer.push('/');
            match seg {
                Seg::Key(k) => pointer.push_str(&crate::schema::escape_pointer(k)),
                Seg::Index(i) => pointer.push_str(&i.to_string()),
            }
        }
        EncodeError {
            pointer,
            message: message.into(),
            by_value,
        }
    }

    /// How member `key` (in `slot` of the plan of `parent`) is written: from the plan, or
    /// worked out here for a member the schema does not list.
    fn member<'x>(&self, parent: Option<NodeId>, slot: u32, key: &'x str) -> Written<'x>
    where
        's: 'x,
    {
        let plan: &'s EncodePlan = self.plan;
        match plan.planned(parent, slot) {
            Some(p) => p,
            None => Written::describe(self.shape, parent, key),
        }
    }

    /// The qualified element name of `member` (prefixed when its namespace is not the
    /// route's).
    fn name_of<'x>(&mut self, member: &Written<'x>) -> Result<QName<'x>, EncodeError> {
        if !member.name_ok {
            return Err(self.value_error(format!(
                "\"{}\" is not a valid XML element name",
                member.local
            )));
        }
        let prefix = match member.namespace.or(self.route_ns) {
            Some(ns) if Some(ns) != self.route_ns => Some(self.prefix_for(ns, member.prefix)),
            _ => None,
        };
        Ok(QName {
            prefix,
            local: member.local,
        })
    }

    /// The index in `prefixes` of namespace `ns`, declaring it on first use.
    fn prefix_for(&mut self, ns: &str, preferred: Option<&str>) -> usize {
        if let Some(i) = self.prefixes.iter().position(|(n, _)| n == ns) {
            return i;
        }
        // The XML namespace (`xml:lang`, `xml:space`) has its one prefix, never declared.
        if ns == XML_NS {
            self.prefixes.push((ns.to_string(), "xml".to_string()));
            return self.prefixes.len() - 1;
        }
        let taken = |p: &str, list: &[(String, String)]| {
            p == "xsi" || p.starts_with("xml") || list.iter().any(|(_, q)| q == p)
        };
        let prefix = match preferred {
            Some(p) if is_xml_name(p) && !taken(p, &self.prefixes) => p.to_string(),
            _ => {
                let mut n = 1;
                loop {
                    let candidate = format!("ns{n}");
                    if !taken(&candidate, &self.prefixes) {
                        break candidate;
                    }
                    n += 1;
                }
            }
        };
        self.prefixes.push((ns.to_string(), prefix));
        self.prefixes.len() - 1
    }

    fn push_name(&mut self, name: QName<'_>) {
        if let Some((_, prefix)) = name.prefix.and_then(|i| self.prefixes.get(i)) {
            self.out.push_str(prefix);
            self.out.push(':');
        }
        self.out.push_str(name.local);
    }

    fn close(&mut self, name: QName<'_>) {
        self.out.push_str("</");
        self.push_name(name);
        self.out.push('>');
    }

    /// Writes one element; returns the offset just after its start-tag name, where the
    /// root's namespace declarations go.
    fn write_element(
        &mut self,
        name: QName<'_>,
        value: View<'v>,
        node: Option<NodeId>,
    ) -> Result<usize, EncodeError> {
        self.out.push('<');
        self.push_name(name);
        let after_name = self.out.len();
        match value.kind() {
            Kind::Null => {
                self.uses_xsi = true;
                self.out.push_str(" xsi:nil=\"true\"/>");
            }
            Kind::Object => self.write_object(name, value, node)?,
            Kind::Array => return Err(self.error("an array inside an array has no XML form")),
            _ => {
                if value.as_str().is_some_and(str::is_empty) {
                    self.out.push_str("/>");
                } else {
                    self.out.push('>');
                    self.write_text(value, false)?;
                    self.close(name);
                }
            }
        }
        Ok(after_name)
    }

    fn write_object(
        &mut self,
        name: QName<'_>,
        value: View<'v>,
        node: Option<NodeId>,
    ) -> Result<(), EncodeError> {
        let plan: &'s EncodePlan = self.plan;
        let start = self.pending.len();
        let mut in_order = true;
        let mut last = 0u32;
        let mut guess = 0u32;
        for (key, v) in value.members().into_iter().flatten() {
            let slot = plan.slot(node, key, guess);
            in_order &= slot >= last;
            last = slot;
            guess = slot.saturating_add(1);
            self.pending.push(Entry {
                key,
                value: v,
                slot,
            });
        }
        let end = self.pending.len();
        if !in_order && let Some(entries) = self.pending.get_mut(start..end) {
            // The schema's properties in its order, then the others as they come (a
            // stable sort: every listed slot is distinct, the unlisted share the last).
            entries.sort_by_key(|e| e.slot);
        }

        for i in start..end {
            let Some(&e) = self.pending.get(i) else { break };
            if !e.key.starts_with('@') {
                continue;
            }
            self.path.push(Seg::Key(e.key));
            if !e.value.is_null() {
                let member = self.member(node, e.slot, e.key);
                if !member.name_ok {
                    return Err(self.value_error(format!(
                        "\"{}\" is not a valid XML attribute name",
                        member.attribute
                    )));
                }
                self.check_scalar(e.value)?;
                self.out.push(' ');
                if let Some(ns) = member.attribute_namespace {
                    // Even the route's namespace needs a prefix: the default namespace
                    // does not apply to attributes.
                    let prefix = self.prefix_for(ns, member.prefix);
                    self.push_name(QName {
                        prefix: Some(prefix),
                        local: "",
                    });
                }
                self.out.push_str(member.attribute);
                self.out.push_str("=\"");
                self.write_text(e.value, true)?;
                self.out.push('"');
            }
            self.path.pop();
        }

        let mut content = false;
        for i in start..end {
            let Some(&e) = self.pending.get(i) else { break };
            if e.key.starts_with('@') {
                continue;
            }
            if !content {
                self.out.push('>');
                content = true;
            }
            self.path.push(Seg::Key(e.key));
            if e.key == "#text" {
                self.check_scalar(e.value)?;
                self.write_text(e.value, false)?;
            } else {
                let member = self.member(node, e.slot, e.key);
                let child = self.name_of(&member)?;
                match e.value.items() {
                    Some(items) => {
                        for (i, item) in items.enumerate() {
                            self.path.push(Seg::Index(i));
                            self.write_element(child, item, member.element)?;
                            self.path.pop();
                        }
                    }
                    None => {
                        self.write_element(child, e.value, member.element)?;
                    }
                }
            }
            self.path.pop();
        }
        self.pending.truncate(start);
        if content {
            self.close(name);
        } else {
            self.out.push_str("/>");
        }
        Ok(())
    }

    /// Refuses an object or array where an attribute value or text goes.
    fn check_scalar(&self, value: View<'_>) -> Result<(), EncodeError> {
        match value.kind() {
            Kind::Array | Kind::Object => {
                Err(self.error("an attribute or text must be a string, number or boolean"))
            }
            _ => Ok(()),
        }
    }

    /// Writes a scalar's text, escaped (`null` writes nothing).
    fn write_text(&mut self, value: View<'_>, attribute: bool) -> Result<(), EncodeError> {
        if let Some(s) = value.as_str() {
            return self.escape_checked(s, attribute);
        }
        match value.as_value() {
            Some(Value::Bool(b)) => {
                self.out.push_str(if *b { "true" } else { "false" });
                Ok(())
            }
            Some(Value::Number(n)) => {
                push_number(&mut self.out, n);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Escapes `text` into the output, refusing a character XML cannot carry.
    fn escape_checked(&mut self, text: &str, attribute: bool) -> Result<(), EncodeError> {
        escape(&mut self.out, text, attribute, true).map_err(|c| self.bad_char(u32::from(c)))
    }

    fn bad_char(&self, c: u32) -> EncodeError {
        self.value_error(format!("character U+{c:04X} cannot appear in XML"))
    }
}

/// Escapes markup characters; in attributes also quotes and the whitespace a parser would
/// otherwise normalise to spaces. `\r` is escaped everywhere so it survives line-end
/// normalisation.
pub(super) fn escape_into(out: &mut String, text: &str, attribute: bool) {
    // Without the check nothing is refused.
    let _ = escape(out, text, attribute, false);
}

/// The bytes [`escape`] looks at in text: markup, controls and the lead byte of U+FFFx.
pub(super) static ESCAPE_IN_TEXT: [bool; 256] = escape_table(false);

/// [`ESCAPE_IN_TEXT`] and the quotes and whitespace an attribute value escapes.
pub(super) static ESCAPE_IN_ATTRIBUTE: [bool; 256] = escape_table(true);

pub(super) const fn escape_table(attribute: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != b'\n' as usize && b != b'\t' as usize;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xef] = true;
    if attribute {
        table[b'"' as usize] = true;
        table[b'\'' as usize] = true;
        table[b'\n' as usize] = true;
        table[b'\t' as usize] = true;
    }
    table
}

/// [`escape_into`] in one pass that copies the runs needing no escape whole; with `check`,
/// it stops at the first character XML cannot carry and returns it.
pub(super) fn escape(
    out: &mut String,
    text: &str,
    attribute: bool,
    check: bool,
) -> Result<(), char> {
    let bytes = text.as_bytes();
    // Start of the text not yet copied; always at a character boundary, since only ASCII
    // bytes are replaced.
    let mut copied = 0;
    let mut i = 0;
    let table = if attribute {
        &ESCAPE_IN_ATTRIBUTE
    } else {
        &ESCAPE_IN_TEXT
    };
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if !table[usize::from(b)] {
            continue;
        }
        let replacement = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            b'"' if attribute => "&quot;",
            b'\'' if attribute => "&apos;",
            b'\n' if attribute => "&#10;",
            b'\t' if attribute => "&#9;",
            b'\n' | b'\t' => continue,
            0..=0x1f if check => return Err(char::from(b)),
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF): the only characters XML refuses that
            // a `str` can hold besides the controls.
            0xef if check && matches!(bytes.get(i..i + 2), Some([0xbf, 0xbe..=0xbf])) => {
                let c = text.get(i - 1..).and_then(|t| t.chars().next());
                return Err(c.unwrap_or('\u{fffe}'));
            }
            _ => continue,
        };
        out.push_str(text.get(copied..i - 1).unwrap_or_default());
        out.push_str(replacement);
        copied = i;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Ok(())
}
