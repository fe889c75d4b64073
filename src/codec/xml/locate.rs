//! Line and column of the XML node behind a pointer into the decoded view, for the
//! errors validation reports. Error path only: the document is read again, by the same
//! scanner and with the same namespace and name matching as decoding, so a position
//! always names the node the decoder took the value from.

use super::*;

/// Finds the line and column (1-based) of the XML node that produced the value at
/// `pointer` in the decoded view. Error path only: re-reads the document.
pub fn locate(
    input: &[u8],
    shape: &Shape,
    namespace: Option<&str>,
    pointer: &str,
) -> Option<(u32, u32)> {
    let source = Source::read(input).ok()?;
    locate_fragment(&source, &source.whole(), shape, namespace, pointer)
}

/// [`locate`] within a [`Fragment`] of `source` (a SOAP Body's child): the position is
/// still the line and column in the whole document.
pub fn locate_fragment(
    source: &Source<'_>,
    fragment: &Fragment<'_>,
    shape: &Shape,
    namespace: Option<&str>,
    pointer: &str,
) -> Option<(u32, u32)> {
    let text = Text {
        input: source.text.as_bytes(),
        text: source.part(fragment).ok()?,
        bom: fragment.range.start,
        encoding: source.encoding,
        scope: &fragment.scope,
    };
    locate_in(&text, shape, namespace, pointer)
}

/// The document (or fragment) being searched: its bytes, its text, and what the decoder
/// needs to read it as decoding did.
struct Text<'a> {
    input: &'a [u8],
    text: &'a str,
    bom: usize,
    encoding: Encoding,
    scope: &'a [(&'a str, &'a str)],
}

fn locate_in(
    doc: &Text<'_>,
    shape: &Shape,
    namespace: Option<&str>,
    pointer: &str,
) -> Option<(u32, u32)> {
    let Text {
        input,
        text,
        bom,
        encoding,
        scope,
    } = *doc;
    let tokens: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let at = |offset: usize| line_col(input, offset.saturating_add(bom));

    // The document decoded under the route's limits before it came here; these only
    // give the decoder's namespace rules something to stand on.
    let limits = Limits::default();
    let decoder = Decoder {
        input,
        text,
        bom,
        encoding,
        shape,
        route_ns: namespace,
        limits: &limits,
        scope,
    };
    let mut scanner = Scanner::new(text, usize::MAX);
    let mut bindings: Vec<Binding<'_>> = decoder.scope_bindings();
    // `bindings.len()` when each open element started, to drop its declarations at its end.
    let mut marks: Vec<usize> = Vec::new();
    // The element on the pointer's path that is open, its depth and node, and how many
    // tokens it accounts for; `best` is the deepest match so far.
    let mut depth = 0usize;
    let mut target_depth = 0usize;
    let mut target_node: Option<NodeId> = None;
    let mut next = 0usize;
    let mut best: Option<(u32, u32)> = None;
    let mut seen: HashMap<String, usize> = HashMap::new();

    loop {
        let offset = scanner.position();
        match scanner.next().ok()? {
            Token::Start { name: qname, empty } => {
                let mark = bindings.len();
                decoder
                    .bind(scanner.attributes(), &mut bindings, offset)
                    .ok()?;
                let name = match split_qname(qname) {
                    None => {
                        let (ns, route) = decoder.resolve(&bindings, "");
                        ElementName {
                            ns,
                            local: qname,
                            route,
                        }
                    }
                    Some((prefix, local)) => {
                        let (ns, route) = decoder.resolve(&bindings, prefix);
                        ElementName {
                            ns: Some(ns?),
                            local,
                            route,
                        }
                    }
                };
                if depth == target_depth {
                    // A child of the element on the path (or the root).
                    let m = if depth == 0 {
                        find_element(shape, shape.root(), &name)
                            .unwrap_or_else(|| generic(name.local))
                    } else {
                        target_node
                            .and_then(|p| find_element(shape, p, &name))
                            .unwrap_or_else(|| generic(name.local))
                    };
                    let on_path = tokens.get(next).is_some_and(|t| *t == m.key);
                    if depth == 0 && tokens.is_empty() {
                        return Some(at(offset));
                    }
                    if on_path {
                        let count = seen.entry(m.key.to_string()).or_insert(0);
                        let index = *count;
                        *count += 1;
                        let wanted = tokens.get(next + 1).and_then(|t| t.parse::<usize>().ok());
                        let hit = match wanted {
                            Some(n) => n == index,
                            None => index == 0,
                        };
                        if hit {
                            next += if wanted.is_some() { 2 } else { 1 };
                            best = Some(at(offset));
                            let rest = tokens.get(next);
                            if let Some(key) = rest.filter(|t| t.starts_with('@')) {
                                // An attribute is located where its name starts.
                                let found = attribute_offset(
                                    text,
                                    scanner.attributes(),
                                    &bindings,
                                    shape,
                                    m.element,
                                    key,
                                );
                                return found.map(at).or(best);
                            }
                            if rest.is_none_or(|t| t == "#text") {
                                return best;
                            }
                            if empty {
                                return best;
                            }
                            target_depth = depth + 1;
                            target_node = m.element;
                            seen.clear();
                        }
                    }
                }
                if empty {
                    bindings.truncate(mark);
                } else {
                    depth += 1;
                    marks.push(mark);
                }
            }
            Token::End { .. } => {
                depth = depth.saturating_sub(1);
                if let Some(mark) = marks.pop() {
                    bindings.truncate(mark);
                }
                if depth < target_depth {
                    // The element on the path closed without the rest of the pointer.
                    return best;
                }
            }
            Token::Eof => return best,
            _ => {}
        }
    }
}

/// The offset in `text` of the name of the attribute among `attrs` (those of the start
/// tag just read, whose schema node is `node`, with `bindings` in scope) that decodes to
/// member `key`, matched as the decoder matches it.
fn attribute_offset(
    text: &str,
    attrs: &[Attr<'_>],
    bindings: &[Binding<'_>],
    shape: &Shape,
    node: Option<NodeId>,
    key: &str,
) -> Option<usize> {
    for attr in attrs {
        let qname = attr.name;
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            continue;
        }
        // An unprefixed attribute is in no namespace, whatever its element's.
        let (ns, local) = match split_qname(qname) {
            Some((prefix, local)) => (lookup(bindings, prefix), local),
            None => (None, qname),
        };
        let matched = match node {
            Some(n) => match shape.xml_attribute(n, ns, local) {
                Some((k, _)) => k == key,
                None => {
                    conflicting_attribute(shape, n, local).is_none()
                        && key.strip_prefix('@') == Some(local)
                }
            },
            None => key.strip_prefix('@') == Some(local),
        };
        if matched {
            let offset = (qname.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            return (offset <= text.len()).then_some(offset);
        }
    }
    None
}
