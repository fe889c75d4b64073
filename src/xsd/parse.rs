//! Reads an XSD file and every file it reaches through `xs:include` and `xs:import`
//! (`schemaLocation` relative to the including file; nothing is fetched from the network),
//! into a [`SchemaSet`].
//!
//! Each file is parsed with quick-xml into a tree of its `xs:` elements; namespace
//! declarations are tracked here so QName values come out resolved. Bounds on files,
//! bytes and nesting keep a hostile or runaway set from costing unbounded time or memory.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::model::{Global, Node, SchemaDoc, SchemaSet, Space};
use super::{Location, QName, Warning, XS, XsdError};

/// Files in one set: UBL 2.x, among the largest standards, has about 200.
pub const MAX_FILES: usize = 2000;
/// Bytes of one file: the largest code-list files of the standards are a few MiB.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Nesting of elements in one file: schemas nest a dozen levels; the bound keeps the
/// recursive walks far from the stack's end.
pub const MAX_DEPTH: usize = 128;

/// QName-valued attributes of XML Schema elements, resolved when read.
const QNAME_ATTRS: &[&str] = &["type", "base", "ref", "itemType", "substitutionGroup"];

/// Reads `root` and everything it includes or imports.
pub fn load(root: &Path) -> Result<(SchemaSet, Vec<Warning>), XsdError> {
    let mut set = SchemaSet::default();
    let mut warnings = Vec::new();
    let mut seen: HashSet<(PathBuf, String)> = HashSet::new();
    // (file, chameleon namespace, where it was referenced from)
    let mut queue: VecDeque<(PathBuf, Option<String>, Option<Location>)> = VecDeque::new();
    queue.push_back((root.to_path_buf(), None, None));
    while let Some((file, chameleon, from)) = queue.pop_front() {
        let canonical = std::fs::canonicalize(&file).map_err(|error| XsdError::Io {
            file: file.clone(),
            error,
        });
        let canonical = match (canonical, &from) {
            (Ok(c), _) => c,
            (Err(e), None) => return Err(e),
            (Err(XsdError::Io { error, .. }), Some(at)) => {
                return Err(XsdError::Invalid {
                    location: at.clone(),
                    message: format!("schemaLocation {} cannot be read: {error}", file.display()),
                });
            }
            (Err(e), Some(_)) => return Err(e),
        };
        if !seen.insert((canonical, chameleon.clone().unwrap_or_default())) {
            continue;
        }
        if set.docs.len() >= MAX_FILES {
            return Err(XsdError::Limit {
                what: "files",
                max: MAX_FILES,
            });
        }
        let text = read_text(&file)?;
        let mut doc = parse_doc(&file, text)?;
        if let Some(ns) = chameleon
            && doc.target_ns.is_empty()
        {
            doc.target_ns = ns;
        }
        let index = set.docs.len();
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        for child in &doc.root.children {
            match child.kind.as_str() {
                "include" | "import" | "redefine" | "override" => {
                    let at = doc.location(child.offset);
                    if matches!(child.kind.as_str(), "redefine" | "override") {
                        warnings.push(Warning {
                            location: Some(at.clone()),
                            pointer: None,
                            message: format!(
                                "xs:{} is not supported: the file is read as an include, without its redefinitions",
                                child.kind
                            ),
                        });
                    }
                    let Some(loc) = child.attr("schemaLocation") else {
                        continue;
                    };
                    if loc.contains("://") {
                        warnings.push(Warning {
                            location: Some(at),
                            pointer: None,
                            message: format!(
                                "schemaLocation {loc} is not fetched: only files beside the schema are read"
                            ),
                        });
                        continue;
                    }
                    let chameleon = (child.kind != "import").then(|| doc.target_ns.clone());
                    queue.push_back((dir.join(loc), chameleon, Some(at)));
                }
                _ => {}
            }
        }
        for (i, child) in doc.root.children.iter().enumerate() {
            let (Some(space), Some(name)) = (Space::of(&child.kind), child.attr("name")) else {
                continue;
            };
            set.globals
                .entry((space, QName::new(doc.target_ns.clone(), name)))
                .or_insert(Global {
                    doc: index,
                    index: i,
                });
        }
        set.docs.push(doc);
    }
    Ok((set, warnings))
}

fn read_text(file: &Path) -> Result<String, XsdError> {
    let meta = std::fs::metadata(file).map_err(|error| XsdError::Io {
        file: file.to_path_buf(),
        error,
    })?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(XsdError::Limit {
            what: "bytes in one file",
            max: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(file).map_err(|error| XsdError::Io {
        file: file.to_path_buf(),
        error,
    })?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(body.to_vec()).map_err(|e| XsdError::Malformed {
        location: Location {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
        },
        message: format!(
            "not UTF-8 (byte {}): save the schema as UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// One open element while parsing: its node and the namespace declarations it made.
struct Open {
    node: Option<Node>,
    bindings: usize,
}

/// Parses one file's text into its tree.
pub fn parse_doc(file: &Path, text: String) -> Result<SchemaDoc, XsdError> {
    let mut reader = Reader::from_str(&text);
    reader.config_mut().expand_empty_elements = false;
    let malformed = |offset: u64, message: String| XsdError::Malformed {
        location: location_in(file, &text, usize::try_from(offset).unwrap_or(usize::MAX)),
        message,
    };
    let mut bindings: Vec<(String, String)> = vec![("xml".into(), crate_xml_ns().into())];
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    // Depth below a foreign or annotation element, whose content is skipped.
    let mut skipping = 0usize;
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| malformed(reader.error_position(), e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if skipping > 0 {
                    if !empty {
                        skipping += 1;
                    }
                    continue;
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XsdError::Limit {
                        what: "levels of nesting",
                        max: MAX_DEPTH,
                    });
                }
                let before = bindings.len();
                let node = element(e, at, &mut bindings).map_err(|m| malformed(at as u64, m))?;
                let keep = node.as_ref().filter(|n| n.kind != "annotation").cloned();
                if keep.is_none() {
                    if root.is_none() && stack.is_empty() {
                        let found = e.name().as_ref().to_string();
                        return Err(XsdError::NotSchema {
                            file: file.to_path_buf(),
                            found,
                        });
                    }
                    bindings.truncate(before);
                    if !empty {
                        skipping = 1;
                    }
                    continue;
                }
                let open = Open {
                    node: keep,
                    bindings: before,
                };
                if empty {
                    bindings.truncate(before);
                    close(open, &mut stack, &mut root);
                } else {
                    stack.push(open);
                }
            }
            Event::End(_) => {
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                if let Some(open) = stack.pop() {
                    bindings.truncate(open.bindings);
                    close(open, &mut stack, &mut root);
                }
            }
            Event::DocType(_) => {
                return Err(malformed(
                    at as u64,
                    "a DTD is refused in a schema file".to_string(),
                ));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(root) = root else {
        return Err(malformed(0, "no root element".to_string()));
    };
    if root.kind != "schema" {
        return Err(XsdError::NotSchema {
            file: file.to_path_buf(),
            found: format!("xs:{}", root.kind),
        });
    }
    Ok(SchemaDoc {
        file: file.to_path_buf(),
        target_ns: root.attr("targetNamespace").unwrap_or_default().to_string(),
        element_qualified: root.attr("elementFormDefault") == Some("qualified"),
        attribute_qualified: root.attr("attributeFormDefault") == Some("qualified"),
        root,
        text,
    })
}

fn crate_xml_ns() -> &'static str {
    "http://www.w3.org/XML/1998/namespace"
}

fn close(open: Open, stack: &mut [Open], root: &mut Option<Node>) {
    let Some(node) = open.node else { return };
    match stack.last_mut().and_then(|p| p.node.as_mut()) {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn location_in(file: &Path, text: &str, offset: usize) -> Location {
    let (line, column) = crate::codec::line_col(text.as_bytes(), offset);
    Location {
        file: file.to_path_buf(),
        line,
        column,
    }
}

/// Reads one start tag: declares its namespaces into `bindings` and returns its node when
/// it is an element of XML Schema (None for a foreign one).
fn element(
    e: &BytesStart<'_>,
    offset: usize,
    bindings: &mut Vec<(String, String)>,
) -> Result<Option<Node>, String> {
    let mut plain = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let key = attr.key.as_ref().to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|e| e.to_string())?
            .into_owned();
        if key == "xmlns" {
            bindings.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            bindings.push((prefix.to_string(), value));
        } else {
            plain.push((key, value));
        }
    }
    let name = e.name().as_ref().to_string();
    let (prefix, local) = split(&name);
    if resolve_prefix(bindings, prefix) != Some(XS) {
        return Ok(None);
    }
    let mut attrs = Vec::new();
    let mut refs = Vec::new();
    for (key, value) in plain {
        if key.contains(':') {
            continue;
        }
        if QNAME_ATTRS.contains(&key.as_str()) {
            refs.push((key.clone(), qname(bindings, value.trim())?));
        } else if key == "memberTypes" {
            for member in value.split_ascii_whitespace() {
                refs.push((key.clone(), qname(bindings, member)?));
            }
        }
        attrs.push((key, value));
    }
    Ok(Some(Node {
        kind: local.to_string(),
        attrs,
        refs,
        children: Vec::new(),
        offset,
    }))
}

fn split(name: &str) -> (&str, &str) {
    match name.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", name),
    }
}

fn resolve_prefix<'b>(bindings: &'b [(String, String)], prefix: &str) -> Option<&'b str> {
    bindings
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.as_str())
}

fn qname(bindings: &[(String, String)], value: &str) -> Result<QName, String> {
    let (prefix, local) = split(value);
    match resolve_prefix(bindings, prefix) {
        Some(ns) => Ok(QName::new(ns, local)),
        None if prefix.is_empty() => Ok(QName::new("", local)),
        None => Err(format!(
            "the prefix `{prefix}` of `{value}` is not declared"
        )),
    }
}
