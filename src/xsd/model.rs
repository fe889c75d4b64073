//! The parsed XSD set: each file as a small tree of its `xs:` elements, and an index of the
//! global components (elements, types, groups, attributes) of every file by qualified name.
//!
//! QName-valued attributes (`type`, `base`, `ref`, ...) are resolved against the namespace
//! declarations in scope when the file is read, so the importer never sees a prefix.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Location, QName};

/// One element of an XSD file (`xs:annotation` and foreign elements are left out).
#[derive(Debug, Clone)]
pub struct Node {
    /// The local name in the XML Schema namespace: `element`, `complexType`, ...
    pub kind: String,
    /// Attributes without a namespace, as written (entities decoded).
    pub attrs: Vec<(String, String)>,
    /// QName-valued attributes resolved: `type`, `base`, `ref`, `itemType`,
    /// `substitutionGroup`, and each of `memberTypes` under that name.
    pub refs: Vec<(String, QName)>,
    pub children: Vec<Node>,
    /// Byte offset of the element's `<` in its file's text.
    pub offset: usize,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn qref(&self, name: &str) -> Option<&QName> {
        self.refs.iter().find(|(k, _)| k == name).map(|(_, q)| q)
    }

    pub fn qrefs<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a QName> + 'a {
        self.refs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, q)| q)
    }

    pub fn children_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.kind == kind)
    }

    pub fn child(&self, kind: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.kind == kind)
    }
}

/// One XSD file of the set.
#[derive(Debug)]
pub struct SchemaDoc {
    pub file: PathBuf,
    /// The file's text, kept to turn offsets into lines and columns.
    pub text: String,
    /// `targetNamespace`, or the including file's for a chameleon include; empty for none.
    pub target_ns: String,
    pub element_qualified: bool,
    pub attribute_qualified: bool,
    pub root: Node,
}

impl SchemaDoc {
    pub fn location(&self, offset: usize) -> Location {
        let (line, column) = crate::codec::line_col(self.text.as_bytes(), offset);
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }
}

/// The symbol spaces of XML Schema: a type and an element may share a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    Element,
    Type,
    Group,
    AttributeGroup,
    Attribute,
}

impl Space {
    pub fn of(kind: &str) -> Option<Space> {
        Some(match kind {
            "element" => Space::Element,
            "complexType" | "simpleType" => Space::Type,
            "group" => Space::Group,
            "attributeGroup" => Space::AttributeGroup,
            "attribute" => Space::Attribute,
            _ => return None,
        })
    }

    pub fn noun(self) -> &'static str {
        match self {
            Space::Element => "element",
            Space::Type => "type",
            Space::Group => "group",
            Space::AttributeGroup => "attribute group",
            Space::Attribute => "attribute",
        }
    }
}

/// A global component: its file and its index among the file's top-level children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global {
    pub doc: usize,
    pub index: usize,
}

/// Every file of one XSD set and its global components.
#[derive(Debug, Default)]
pub struct SchemaSet {
    pub docs: Vec<SchemaDoc>,
    pub globals: HashMap<(Space, QName), Global>,
}

impl SchemaSet {
    pub fn node(&self, g: Global) -> &Node {
        &self.docs[g.doc].root.children[g.index]
    }

    /// The global component `name`; a chameleon-included file's unprefixed references
    /// name components of the including namespace.
    pub fn lookup(&self, space: Space, name: &QName, doc: usize) -> Option<Global> {
        if let Some(g) = self.globals.get(&(space, name.clone())) {
            return Some(*g);
        }
        if name.ns.is_empty() {
            let ns = &self.docs.get(doc)?.target_ns;
            return self
                .globals
                .get(&(space, QName::new(ns.clone(), name.local.clone())))
                .copied();
        }
        None
    }

    /// The global elements of file `doc`, in document order.
    pub fn elements_of(&self, doc: usize) -> Vec<(QName, Global)> {
        let Some(d) = self.docs.get(doc) else {
            return Vec::new();
        };
        d.root
            .children
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == "element")
            .filter_map(|(index, c)| {
                Some((
                    QName::new(d.target_ns.clone(), c.attr("name")?),
                    Global { doc, index },
                ))
            })
            .collect()
    }
}
