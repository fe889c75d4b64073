//! Line and column of the XML node behind a pointer into the decoded view, for the
//! errors validation reports. Error path only: the document is read again.

use super::*;

/// Finds the line and column (1-based) of the XML node that produced the value at
/// `pointer` in the decoded view. Error path only: re-reads the document.
pub fn locate(
    input: &[u8],
    shape: &Shape,
    namespace: Option<&str>,
    pointer: &str,
) -> Option<(u32, u32)> {
    let (text, bom) = utf8_body(input).ok()?;
    let tokens: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let at = |offset: u64| {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        line_col(input, offset.saturating_add(bom))
    };

    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = false;
    // The element on the pointer's path that is open, its depth and node, and how many
    // tokens it accounts for; `best` is the deepest match so far.
    let mut depth = 0usize;
    let mut target_depth = 0usize;
    let mut target_node: Option<NodeId> = None;
    let mut next = 0usize;
    let mut best: Option<(u32, u32)> = None;
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();

    loop {
        let offset = reader.buffer_position();
        let (resolved, event) = reader.read_resolved_event().ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let ns = match resolved {
                    ResolveResult::Bound(Namespace(n)) => Some(n),
                    _ => None,
                };
                let name = ElementName {
                    ns,
                    local: e.local_name().into_inner(),
                    route: ns == namespace,
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
                                let found =
                                    attribute_offset(text, &reader, shape, m.element, e, key);
                                return found.map(|o| at(o as u64)).or(best);
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
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth < target_depth {
                    // The element on the path closed without the rest of the pointer.
                    return best;
                }
            }
            Event::Eof => return best,
            _ => {}
        }
    }
}

/// The offset in `text` of the name of the attribute of start tag `tag` (just read by
/// `reader`, whose schema node is `node`) that decodes to member `key`, matched as the
/// decoder matches it.
pub(super) fn attribute_offset(
    text: &str,
    reader: &NsReader<&[u8]>,
    shape: &Shape,
    node: Option<NodeId>,
    tag: &quick_xml::events::BytesStart<'_>,
    key: &str,
) -> Option<usize> {
    for attr in tag.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let qname: &str = attr.key.into_inner();
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attr.key);
        let ns = match resolved {
            ResolveResult::Bound(Namespace(n)) => Some(n),
            _ => None,
        };
        let local = local.into_inner();
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
