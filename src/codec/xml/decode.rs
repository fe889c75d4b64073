//! The decoder: one pass over the scanner's tokens, namespaces in scope, references and
//! limits, building the view beside the schema's shape.

use super::*;

/// One namespace declaration in scope: `xmlns:prefix="uri"`, prefix "" for `xmlns="uri"`.
pub(super) struct Binding<'a> {
    pub(super) prefix: &'a str,
    pub(super) uri: &'a str,
    /// Whether `uri` is the route's namespace, worked out once for all the elements in
    /// it, since schemas name that namespace by leaving it unsaid.
    pub(super) route: bool,
}

/// The namespace bound to `prefix` ("" for the default namespace) by the innermost
/// declaration; None when unbound or un-declared with `xmlns=""`.
pub(super) fn lookup<'a>(bindings: &[Binding<'a>], prefix: &str) -> Option<&'a str> {
    match prefix {
        "xml" => Some(XML_NS),
        "xmlns" => Some(XMLNS_NS),
        _ => bindings
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map(|b| b.uri)
            .filter(|uri| !uri.is_empty()),
    }
}

pub(super) struct Decoder<'a> {
    pub(super) input: &'a [u8],
    /// `input` as text, without its byte-order mark: what every offset counts in.
    pub(super) text: &'a str,
    pub(super) bom: usize,
    /// What the bytes were read as: a declaration must not say otherwise.
    pub(super) encoding: Encoding,
    pub(super) shape: &'a Shape,
    pub(super) route_ns: Option<&'a str>,
    pub(super) limits: &'a Limits,
    /// Namespace declarations in scope before the text starts: those of the elements
    /// around a [`Fragment`] (a SOAP Body's child), empty for a whole document.
    pub(super) scope: &'a [(&'a str, &'a str)],
}

impl<'a> Decoder<'a> {
    pub(super) fn pos(&self, offset: usize) -> (u32, u32) {
        line_col(self.input, offset.saturating_add(self.bom))
    }

    pub(super) fn malformed(&self, offset: usize, message: impl Into<String>) -> CodecError {
        let (line, column) = self.pos(offset);
        CodecError::Malformed {
            format: FORMAT,
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn forbidden(&self, offset: usize, message: impl Into<String>) -> CodecError {
        let (line, column) = self.pos(offset);
        CodecError::Forbidden {
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn limit(&self, offset: usize, limit: &'static str, max: usize) -> CodecError {
        let (line, column) = self.pos(offset);
        CodecError::Limit {
            limit,
            max,
            line,
            column,
        }
    }

    pub(super) fn scan_error(&self, e: ScanError) -> CodecError {
        match e {
            ScanError::Malformed { at, message } => self.malformed(at, message),
            ScanError::TooManyAttributes { at } => {
                self.limit(at, "attributes", self.limits.max_attributes)
            }
            ScanError::NameTooLong { at } => {
                self.limit(at, "name length", self.limits.max_name_bytes)
            }
            ScanError::Char { at, c } => self.malformed(
                at,
                format!("character U+{:04X} is not allowed in XML", u32::from(c)),
            ),
        }
    }

    /// The offset of `part`, a slice of the document, in it: where an attribute's name
    /// starts, for the errors about that attribute. Error path only.
    #[cold]
    fn offset_of(&self, part: &str) -> usize {
        (part.as_ptr() as usize)
            .checked_sub(self.text.as_ptr() as usize)
            .filter(|&at| at <= self.text.len())
            .unwrap_or(0)
    }

    /// The bindings a decoding starts with: the fragment's inherited scope.
    pub(super) fn scope_bindings(&self) -> Vec<Binding<'a>> {
        self.scope
            .iter()
            .map(|&(prefix, uri)| Binding {
                prefix,
                uri,
                route: self.route_ns == Some(uri),
            })
            .collect()
    }

    /// [`lookup`] of `prefix`, and whether that namespace is the route's.
    pub(super) fn resolve(
        &self,
        bindings: &[Binding<'a>],
        prefix: &str,
    ) -> (Option<&'a str>, bool) {
        match prefix {
            "xml" | "xmlns" => {
                let ns = lookup(bindings, prefix);
                (ns, ns == self.route_ns)
            }
            _ => match bindings.iter().rev().find(|b| b.prefix == prefix) {
                Some(b) if !b.uri.is_empty() => (Some(b.uri), b.route),
                _ => (None, self.route_ns.is_none()),
            },
        }
    }

    /// The types the schema gives node `id`; None when the schema does not describe it.
    fn types(&self, id: Option<NodeId>) -> Option<TypeSet> {
        id.map(|id| self.shape.xml_types(id))
    }

    pub(super) fn run(&self, text: &'a str) -> Result<Doc<'a>, CodecError> {
        let mut scanner = Scanner::new(text, self.limits.max_attributes)
            .max_name_bytes(self.limits.max_name_bytes);
        let mut bindings = self.scope_bindings();
        // What unprefixed names resolve to, looked up once each time the declarations in
        // scope change rather than once per element.
        let mut default_ns: Option<(Option<&'a str>, bool)> = None;
        // Room for the usual depth, so the stack of open elements rarely grows.
        let mut stack: Vec<Frame<'a>> = Vec::with_capacity(8);
        let mut objects = Objects::new();
        let mut root: Option<Doc<'a>> = None;
        let mut elements = 0usize;

        loop {
            let at = scanner.position();
            let token = scanner.next().map_err(|e| self.scan_error(e))?;
            match token {
                Token::Decl => {
                    // Only the byte-order mark, already set aside, may come before it.
                    if at != 0 {
                        return Err(self.malformed(
                            at,
                            "the XML declaration must be at the very start of the document",
                        ));
                    }
                    self.declaration(scanner.attributes(), at)?;
                }
                Token::DocType => {
                    return Err(self.forbidden(
                        at,
                        "a document type declaration (<!DOCTYPE>) is not allowed",
                    ));
                }
                Token::Start { .. } if root.is_some() => {
                    return Err(self.malformed(at, "content after the root element"));
                }
                Token::Start { name: qname, empty } => {
                    let attrs = scanner.attributes();
                    let ns_mark = bindings.len();
                    self.bind(attrs, &mut bindings, at)?;
                    if bindings.len() != ns_mark {
                        default_ns = None;
                    }
                    elements += 1;
                    if elements > self.limits.max_elements {
                        return Err(self.limit(at, "elements", self.limits.max_elements));
                    }
                    if stack.len() >= self.limits.max_depth {
                        return Err(self.limit(at, "depth", self.limits.max_depth));
                    }
                    let split = if scanner.prefixed() {
                        split_qname(qname)
                    } else {
                        None
                    };
                    let name = match split {
                        None => {
                            let (ns, route) =
                                *default_ns.get_or_insert_with(|| self.resolve(&bindings, ""));
                            ElementName {
                                ns,
                                local: qname,
                                route,
                            }
                        }
                        Some((prefix, local)) => match self.resolve(&bindings, prefix) {
                            (Some(ns), route) if !prefix.is_empty() => ElementName {
                                ns: Some(ns),
                                local,
                                route,
                            },
                            _ => {
                                return Err(self.malformed(
                                    at,
                                    format!("unknown namespace prefix \"{prefix}\""),
                                ));
                            }
                        },
                    };
                    let matched = match stack.last_mut() {
                        Some(parent) => {
                            flush_segment(parent);
                            parent.has_children = true;
                            self.match_child(parent.node, &mut parent.hint, &name)
                        }
                        None => Ok(self.match_root(&name, at)?),
                    };
                    let Ok(matched) = matched else {
                        return Err(self.element_conflict(&stack, &objects, &name, at));
                    };
                    // A leaf without attributes, the most common element, is read in one
                    // step and never opened. (One whose attributes all declare namespaces
                    // is opened and closed instead, to the same value.)
                    let has_attrs = !attrs.is_empty();
                    if !has_attrs
                        && !empty
                        && let Some(parent) = stack.last_mut()
                    {
                        let text_at = scanner.position();
                        if let Some((text, cr)) = scanner.leaf_text(qname) {
                            self.leaf(matched, parent, &mut objects, text, cr, text_at)?;
                            continue;
                        }
                    }
                    let mut frame = Frame {
                        node: matched.element,
                        key: matched.key,
                        array: matched.array,
                        qname,
                        ns_mark,
                        members: objects.mark(),
                        spilled: None,
                        text: String::new(),
                        segment: Segment::default(),
                        hint: 0,
                        has_children: false,
                        has_attributes: false,
                        nil: false,
                    };
                    if has_attrs {
                        let attrs = scanner.attributes();
                        self.attributes(attrs, &bindings, &mut frame, &mut objects, &stack)?;
                    }
                    if empty {
                        if bindings.len() != ns_mark {
                            bindings.truncate(ns_mark);
                            default_ns = None;
                        }
                        if let Some(v) = self.close(&mut frame, &mut stack, &mut objects) {
                            root = Some(v);
                        }
                    } else {
                        stack.push(frame);
                    }
                }
                Token::End { name } => {
                    // Closed where it lies on the stack, then dropped there: a frame is
                    // too large to move out for each closing tag.
                    let open_len = stack.len().saturating_sub(1);
                    let Some((frame, open)) = stack.split_last_mut() else {
                        return Err(self.malformed(at, "closing tag without an opening tag"));
                    };
                    if frame.qname != name {
                        return Err(self.malformed(
                            at,
                            format!(
                                "closing tag </{name}> does not match the open element <{}>",
                                frame.qname
                            ),
                        ));
                    }
                    if bindings.len() != frame.ns_mark {
                        bindings.truncate(frame.ns_mark);
                        default_ns = None;
                    }
                    if let Some(v) = self.close(frame, open, &mut objects) {
                        root = Some(v);
                    }
                    stack.truncate(open_len);
                }
                Token::Space(text) => {
                    // The indentation before a tag, kept aside as it is.
                    if let Some(frame) = stack.last_mut()
                        && frame.segment.text.is_empty()
                        && text.len() <= self.limits.max_text_bytes
                    {
                        frame.segment = Segment::space(text);
                        continue;
                    }
                    self.text(&mut stack, Cow::Borrowed(text), at)?;
                }
                Token::Text { text, cr } => {
                    // The usual case, the indentation before a tag, borrowed as it is.
                    if !cr
                        && let Some(frame) = stack.last_mut()
                        && frame.segment.text.is_empty()
                        && text.len() <= self.limits.max_text_bytes
                    {
                        frame.segment.text = Cow::Borrowed(text);
                        continue;
                    }
                    let text = if cr {
                        normalize_eols(text)
                    } else {
                        Cow::Borrowed(text)
                    };
                    self.text(&mut stack, text, at)?;
                }
                Token::CData(t) => {
                    self.text(&mut stack, normalize_eols(t), at)?;
                }
                Token::Ref(name) => {
                    let resolved = self.reference(name, at)?;
                    if stack.is_empty() {
                        return Err(self.malformed(at, "text outside the root element"));
                    }
                    self.text(&mut stack, resolved, at)?;
                }
                Token::Comment | Token::Pi => {}
                Token::Eof => {
                    if !stack.is_empty() {
                        return Err(self.malformed(at, "the document ends inside an element"));
                    }
                    return match root {
                        Some(v) => Ok(v),
                        None => Err(self.malformed(at, "the document has no root element")),
                    };
                }
            }
        }
    }

    /// Checks the declared encoding against the one the bytes were read in: UTF-8 (or
    /// its subset US-ASCII) or UTF-16. Any other is refused as unsupported, naming it.
    pub(super) fn declaration(&self, attrs: &[Attr<'_>], at: usize) -> Result<(), CodecError> {
        let Some(declared) = attrs.iter().find(|a| a.name == "encoding").map(|a| a.raw) else {
            return Ok(());
        };
        let is = |names: &[&str]| names.iter().any(|n| declared.eq_ignore_ascii_case(n));
        let utf16 = self.encoding != Encoding::Utf8;
        let error = |offset: usize, message: String| {
            let (line, column) = self.pos(offset);
            CodecError::Encoding {
                line,
                column,
                message,
            }
        };
        if is(&["UTF-8", "UTF8", "US-ASCII", "ASCII"]) {
            if utf16 {
                return Err(error(
                    at,
                    format!(
                        "the document is {} (by its first bytes) but declares encoding \"{declared}\"",
                        self.encoding.name()
                    ),
                ));
            }
            if is(&["US-ASCII", "ASCII"])
                && let Some(offset) = self.text.bytes().position(|b| !b.is_ascii())
            {
                return Err(error(
                    offset,
                    format!(
                        "the document declares encoding \"{declared}\" but holds a character outside it"
                    ),
                ));
            }
            return Ok(());
        }
        if is(&["UTF-16", "UTF16", "UTF-16LE", "UTF-16BE"]) {
            let contradicts = (is(&["UTF-16LE"]) && self.encoding != Encoding::Utf16Le)
                || (is(&["UTF-16BE"]) && self.encoding != Encoding::Utf16Be);
            if !utf16 {
                return Err(error(
                    at,
                    format!(
                        "the document declares encoding \"{declared}\" but is not UTF-16: a UTF-16 document starts with a byte order mark"
                    ),
                ));
            }
            if contradicts {
                return Err(error(
                    at,
                    format!(
                        "the document is {} (by its first bytes) but declares encoding \"{declared}\"",
                        self.encoding.name()
                    ),
                ));
            }
            return Ok(());
        }
        let (line, column) = self.pos(at);
        Err(CodecError::UnsupportedEncoding {
            encoding: declared.to_string(),
            line,
            column,
        })
    }

    /// Adds the namespace declarations among `attrs` to the scope, refusing those the
    /// Namespaces in XML recommendation forbids.
    // Inlined into the decoding loop for the same reason as `Scanner::next`.
    #[inline(always)]
    pub(super) fn bind(
        &self,
        attrs: &[Attr<'a>],
        bindings: &mut Vec<Binding<'a>>,
        at: usize,
    ) -> Result<(), CodecError> {
        for attr in attrs {
            let prefix = match attr.name.strip_prefix("xmlns") {
                Some("") => "",
                Some(rest) => match rest.strip_prefix(':') {
                    Some(prefix) => prefix,
                    None => continue,
                },
                None => continue,
            };
            let uri = attr.raw;
            let refused = match prefix {
                // A namespace name is compared as written; one spelt with a reference
                // would have to be decoded first, which no real namespace needs.
                _ if uri.contains('&') => Some(
                    "a namespace name written with a character or entity reference is not accepted",
                ),
                "" if attr.name != "xmlns" => Some("a namespace prefix cannot be empty"),
                "" => None,
                "xml" if uri == XML_NS => continue,
                "xml" => Some("the prefix \"xml\" cannot be bound to another namespace"),
                "xmlns" => Some("the prefix \"xmlns\" cannot be declared"),
                _ if uri == XML_NS || uri == XMLNS_NS => {
                    Some("a reserved namespace cannot be bound to another prefix")
                }
                // Namespaces in XML 1.0 cannot undeclare a prefix.
                _ if uri.is_empty() => Some("a namespace prefix cannot be bound to an empty name"),
                _ => None,
            };
            if let Some(message) = refused {
                return Err(self.malformed(at, message));
            }
            if bindings.len() >= MAX_NAMESPACE_BINDINGS {
                return Err(self.malformed(
                    at,
                    format!("more than {MAX_NAMESPACE_BINDINGS} namespace declarations in scope"),
                ));
            }
            bindings.push(Binding {
                prefix,
                uri,
                route: self.route_ns == Some(uri),
            });
        }
        Ok(())
    }

    /// The text a reference stands for: one of the five predefined entities or a
    /// character reference; any other entity is refused (no DTD declares one).
    fn reference(&self, name: &str, at: usize) -> Result<Cow<'a, str>, CodecError> {
        match resolve_reference(name) {
            Some(Resolved::Entity(s)) => Ok(Cow::Borrowed(s)),
            Some(Resolved::Char(c)) => Ok(Cow::Owned(c.to_string())),
            None if name.starts_with('#') => {
                Err(self.malformed(at, format!("invalid character reference &{name};")))
            }
            None => Err(self.forbidden(at, unknown_entity_message(name))),
        }
    }

    /// Appends decoded text to the open element (text outside the root must be blank).
    fn text(
        &self,
        stack: &mut [Frame<'a>],
        content: Cow<'a, str>,
        at: usize,
    ) -> Result<(), CodecError> {
        match stack.last_mut() {
            Some(frame) => {
                if frame.segment.len() + content.len() > self.limits.max_text_bytes {
                    return Err(self.limit(at, "text", self.limits.max_text_bytes));
                }
                frame.segment.push(content);
                Ok(())
            }
            None if is_blank(&content) => Ok(()),
            None => Err(self.malformed(at, "text outside the root element")),
        }
    }

    /// Adds the attributes of the element of `frame` (whose parents are `stack`) to it:
    /// each matched by namespace and local name, an unprefixed one being in no namespace.
    fn attributes(
        &self,
        attrs: &[Attr<'a>],
        bindings: &[Binding<'a>],
        frame: &mut Frame<'a>,
        objects: &mut Objects<'a>,
        stack: &[Frame<'a>],
    ) -> Result<(), CodecError> {
        for (i, attr) in attrs.iter().enumerate() {
            if attr.name == "xmlns" || attr.name.starts_with("xmlns:") {
                continue;
            }
            let value = if attr.plain {
                Cow::Borrowed(attr.raw)
            } else {
                self.attribute_value(attr)?
            };
            if value.len() > self.limits.max_text_bytes {
                let at = self.offset_of(attr.name);
                return Err(self.limit(at, "text", self.limits.max_text_bytes));
            }
            let (ns, local) = match split_qname(attr.name) {
                None => (None, attr.name),
                Some((prefix, local)) => match lookup(bindings, prefix) {
                    Some(ns) if !prefix.is_empty() => (Some(ns), local),
                    _ => {
                        return Err(self.malformed(
                            self.offset_of(attr.name),
                            format!("unknown namespace prefix \"{prefix}\""),
                        ));
                    }
                },
            };
            // Two prefixes bound to one namespace make two spellings of one attribute, which
            // Namespaces in XML forbids (§6.3): which value would count is anyone's guess.
            if let Some(uri) = ns
                && attrs.get(..i).unwrap_or_default().iter().any(|other| {
                    split_qname(other.name).is_some_and(|(p, l)| {
                        l == local && !p.is_empty() && lookup(bindings, p) == Some(uri)
                    })
                })
            {
                return Err(self.malformed(
                    self.offset_of(attr.name),
                    format!(
                        "attribute \"{local}\" in namespace \"{uri}\" appears twice in one tag"
                    ),
                ));
            }
            if local == "nil" && ns == Some(XSI) {
                frame.nil = matches!(trim_xml_ws(&value), "true" | "1");
                continue;
            }
            let shape: &'a Shape = self.shape;
            let (key, node) = match frame.node {
                Some(n) => match shape.xml_attribute(n, ns, local) {
                    Some((k, p)) => (Cow::Borrowed(k), Some(p)),
                    None => {
                        if let Some(known) = conflicting_attribute(shape, n, local) {
                            return Err(
                                self.attribute_conflict(stack, frame, objects, known, attr, ns)
                            );
                        }
                        (Cow::Owned(format!("@{local}")), None)
                    }
                },
                None => (Cow::Owned(format!("@{local}")), None),
            };
            let v = convert(self.types(node), value);
            objects.set(frame, key, v);
            frame.has_attributes = true;
        }
        Ok(())
    }

    /// The JSON Pointer of member `member` of the element of `frames`' last entry, whose
    /// ancestors are the entries before it: each element's key, and its index where it is,
    /// or is about to become, an array. Error path only.
    #[cold]
    fn pointer(&self, frames: &[&Frame<'a>], objects: &Objects<'a>, member: &str) -> String {
        let mut out = String::new();
        let mut parent: Option<&Frame<'a>> = None;
        for &frame in frames {
            out.push('/');
            out.push_str(&escape_pointer(&frame.key));
            let index = match parent {
                None => frame.array.then_some(0),
                Some(parent) => {
                    let own = objects
                        .members
                        .get(parent.members..frame.members)
                        .unwrap_or_default();
                    occurrence(parent, own, &frame.key, frame.array)
                }
            };
            if let Some(i) = index {
                out.push('/');
                out.push_str(&i.to_string());
            }
            parent = Some(frame);
        }
        out.push('/');
        out.push_str(&escape_pointer(member));
        out
    }

    /// The violation of a child element `name` of the innermost open element that is
    /// not the schema's element of the same local name or key (see
    /// [`conflicting_elements`]). Error path only.
    #[cold]
    fn element_conflict(
        &self,
        stack: &[Frame<'a>],
        objects: &Objects<'a>,
        name: &ElementName<'_>,
        at: usize,
    ) -> CodecError {
        let parent = stack.last().and_then(|f| f.node);
        let known: Vec<&XmlChild> = parent
            .map(|p| conflicting_elements(self.shape, p, name).collect())
            .unwrap_or_default();
        let mut expected: Vec<String> = Vec::new();
        for child in &known {
            let local = child.name.as_deref().unwrap_or(name.local);
            let text = describe(local, child.namespace.as_deref().or(self.route_ns));
            if !expected.contains(&text) {
                expected.push(text);
            }
        }
        let key = known
            .first()
            .and_then(|c| c.key.as_deref())
            .unwrap_or(name.local);
        let frames: Vec<&Frame<'a>> = stack.iter().collect();
        let (line, column) = self.pos(at);
        CodecError::Unexpected {
            pointer: self.pointer(&frames, objects, key),
            line,
            column,
            message: format!(
                "expected {}, found {}",
                expected.join(" or "),
                describe(name.local, name.ns)
            ),
        }
    }

    /// The violation of attribute `attr` (in namespace `ns`) of the element of `frame`
    /// that is not the schema's attribute `known` of the same local name or key. Error
    /// path only.
    #[cold]
    fn attribute_conflict(
        &self,
        stack: &[Frame<'a>],
        frame: &Frame<'a>,
        objects: &Objects<'a>,
        known: &XmlAttribute,
        attr: &Attr<'a>,
        ns: Option<&str>,
    ) -> CodecError {
        let local = split_qname(attr.name).map_or(attr.name, |(_, local)| local);
        let frames: Vec<&Frame<'a>> = stack.iter().chain(std::iter::once(frame)).collect();
        let (line, column) = self.pos(self.offset_of(attr.name));
        CodecError::Unexpected {
            pointer: self.pointer(&frames, objects, &known.key),
            line,
            column,
            message: format!(
                "expected {}, found {}",
                describe_attribute(&known.name, known.namespace.as_deref()),
                describe_attribute(local, ns)
            ),
        }
    }

    /// An attribute value as XML normalises it: references resolved, each line end, tab
    /// and newline a space. Borrowed when there is nothing to change, as is usual.
    /// Errors are reported where the attribute's name starts.
    fn attribute_value(&self, attr: &Attr<'a>) -> Result<Cow<'a, str>, CodecError> {
        let raw = attr.raw;
        if attr.plain {
            return Ok(Cow::Borrowed(raw));
        }
        let at = self.offset_of(attr.name);
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
            let (before, from) = rest.split_at_checked(i).unwrap_or((rest, ""));
            out.push_str(before);
            let mut chars = from.chars();
            match chars.next() {
                Some('&') => {
                    let after = chars.as_str();
                    let (name, tail) = after.split_once(';').unwrap_or((after, ""));
                    if name.is_empty() || name.len() == after.len() || !scan::is_reference(name) {
                        return Err(self.malformed(at, "a reference must be &name; or &#number;"));
                    }
                    match self.reference(name, at)? {
                        Cow::Borrowed(s) => out.push_str(s),
                        Cow::Owned(s) => out.push_str(&s),
                    }
                    rest = tail;
                }
                Some('\r') => {
                    out.push(' ');
                    let after = chars.as_str();
                    rest = after.strip_prefix('\n').unwrap_or(after);
                }
                _ => {
                    out.push(' ');
                    rest = chars.as_str();
                }
            }
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    fn match_root(&self, name: &ElementName<'_>, at: usize) -> Result<ChildMatch<'a>, CodecError> {
        let root = self.shape.root();
        if let Some(m) = find_element(self.shape, root, name) {
            return Ok(m);
        }
        let describes_elements = self
            .shape
            .property_list(root)
            .iter()
            .any(|(k, _)| !k.starts_with('@') && *k != "#text");
        if !describes_elements && self.shape.node(root).additional == Additional::Any {
            return Ok(generic(name.local));
        }
        let expected = self
            .shape
            .property_list(root)
            .iter()
            .filter(|(k, _)| !k.starts_with('@') && *k != "#text")
            .map(|(k, p)| {
                let n = self.shape.node(*p);
                let local = n.xml.name.as_deref().unwrap_or(k);
                describe(local, n.xml.namespace.as_deref().or(self.route_ns))
            })
            .collect::<Vec<_>>()
            .join(" or ");
        let (line, column) = self.pos(at);
        Err(CodecError::Unexpected {
            pointer: String::new(),
            line,
            column,
            message: format!(
                "expected root element {expected}, found {}",
                describe(name.local, name.ns)
            ),
        })
    }

    /// What the schema of element `parent` says of its child `name`; [`Conflict`] when
    /// the child is not, but would be taken for, one the schema names (see
    /// [`conflicting_elements`]).
    fn match_child(
        &self,
        parent: Option<NodeId>,
        hint: &mut usize,
        name: &ElementName<'_>,
    ) -> Result<ChildMatch<'a>, Conflict> {
        let Some(p) = parent else {
            return Ok(generic(name.local));
        };
        match find_child(self.shape, p, name, hint) {
            Some(m) if m.named => Ok(m),
            found => match conflicting_elements(self.shape, p, name).next() {
                Some(_) => Err(Conflict),
                None => Ok(found.unwrap_or_else(|| generic(name.local))),
            },
        }
    }

    /// Adds a leaf element read in one step (text, then its closing tag) to its parent:
    /// what [`Decoder::close`] would make of it, without keeping it open. `cr` says
    /// whether the text holds a `\r`.
    fn leaf(
        &self,
        element: ChildMatch<'a>,
        parent: &mut Frame<'a>,
        objects: &mut Objects<'a>,
        text: &'a str,
        cr: bool,
        at: usize,
    ) -> Result<(), CodecError> {
        let text = if cr {
            normalize_eols(text)
        } else {
            Cow::Borrowed(text)
        };
        if text.len() > self.limits.max_text_bytes {
            return Err(self.limit(at, "text", self.limits.max_text_bytes));
        }
        let value = convert(self.types(element.element), text);
        objects.add(parent, element.key, value, element.array);
        Ok(())
    }

    /// Turns a closed element into its value and adds it to its parent; returns the whole
    /// view when the root closes.
    fn close(
        &self,
        frame: &mut Frame<'a>,
        stack: &mut [Frame<'a>],
        objects: &mut Objects<'a>,
    ) -> Option<Doc<'a>> {
        let value = if frame.nil {
            // Whatever the element held is dropped: it is nil.
            objects.discard(frame);
            Doc::Json(Value::Null)
        } else if !frame.has_attributes && !frame.has_children {
            convert(self.types(frame.node), frame.segment.take())
        } else {
            let text = if frame.has_children {
                flush_segment(frame);
                Cow::Owned(std::mem::take(&mut frame.text))
            } else {
                frame.segment.take()
            };
            if !text.is_empty() {
                let node = frame.node.and_then(|n| self.shape.xml_text(n));
                let text = convert(self.types(node), text);
                objects.set(frame, Cow::Borrowed("#text"), text);
            }
            objects.take(frame)
        };
        let key = std::mem::take(&mut frame.key);
        match stack.last_mut() {
            Some(parent) => {
                objects.add(parent, key, value, frame.array);
                None
            }
            None => {
                let value = if frame.array {
                    Doc::List(vec![value])
                } else {
                    value
                };
                Some(Doc::Members(vec![(key, value)]))
            }
        }
    }
}

/// What a reference stands for.
pub(super) enum Resolved {
    Entity(&'static str),
    Char(char),
}

/// Resolves `&name;` given `name`: a predefined entity, or a character reference
/// (`#65`, `#x41`) to a character XML allows. None when it is neither.
pub(super) fn resolve_reference(name: &str) -> Option<Resolved> {
    let Some(number) = name.strip_prefix('#') else {
        return Some(Resolved::Entity(match name {
            "lt" => "<",
            "gt" => ">",
            "amp" => "&",
            "apos" => "'",
            "quot" => "\"",
            _ => return None,
        }));
    };
    let (digits, radix) = match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    // `from_str_radix` would accept a sign; a reference is digits only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    char::from_u32(code)
        .filter(|&c| is_xml_char(c))
        .map(Resolved::Char)
}

/// Text with its line ends normalised (`\r\n` and lone `\r` to `\n`), as XML requires of
/// every parser; borrowed when there is no `\r`, as in nearly every document.
pub(super) fn normalize_eols(text: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\r', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('\r') {
        out.push_str(before);
        out.push('\n');
        rest = after.strip_prefix('\n').unwrap_or(after);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

pub(super) fn unknown_entity_message(name: &str) -> String {
    format!(
        "entity &{name}; is not allowed: only the five predefined entities and character references are"
    )
}

/// Characters XML 1.0 allows in a document.
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
