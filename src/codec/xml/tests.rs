use super::*;
use serde_json::json;

/// The encoder as it was before it followed an [`EncodePlan`] and read a [`View`]: the
/// oracle the encoder's tests compare bytes and errors with.
mod reference {
    use std::borrow::Cow;

    use serde_json::{Map, Value};

    use super::super::{EncodeError, NodeId, Shape, is_xml_char};
    use crate::schema::xml_plan::{element_name, is_xml_name, member_element};

    /// Encodes a JSON view into an XML document (UTF-8, with declaration), children in the
    /// order of the target schema's `properties`, the route's namespace as default namespace.
    pub(super) fn encode(
        value: &Value,
        shape: &Shape,
        namespace: Option<&str>,
    ) -> Result<Vec<u8>, EncodeError> {
        let top = match value {
            Value::Object(map) if map.len() == 1 => map,
            _ => {
                return Err(EncodeError {
                    pointer: String::new(),
                    message:
                        "the XML view must be an object with exactly one member, the root element"
                            .to_string(),
                    by_value: false,
                });
            }
        };
        let mut enc = Encoder {
            shape,
            route_ns: namespace,
            out: String::with_capacity(256),
            prefixes: Vec::new(),
            uses_xsi: false,
            path: Vec::new(),
        };
        enc.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let mut declarations_at = 0;
        for (key, v) in top {
            let member = shape.property(shape.root(), key);
            enc.path.push(Seg::Key(key));
            if v.is_array() {
                return Err(enc.error("the root element cannot be an array"));
            }
            let element = member.map(|m| member_element(shape, m));
            let name = enc.name_of(key, member)?;
            declarations_at = enc.write_element(&name, v, element)?;
            enc.path.pop();
        }
        let decls = super::super::encode::declarations(namespace, &enc.prefixes, enc.uses_xsi);
        enc.out.insert_str(declarations_at, &decls);
        Ok(enc.out.into_bytes())
    }

    enum Seg<'v> {
        Key(&'v str),
        Index(usize),
    }

    struct Encoder<'s, 'v> {
        shape: &'s Shape,
        route_ns: Option<&'s str>,
        out: String,
        /// Namespaces other than the route's, with their prefixes, in first-use order.
        prefixes: Vec<(String, String)>,
        uses_xsi: bool,
        path: Vec<Seg<'v>>,
    }

    impl<'s, 'v> Encoder<'s, 'v> {
        fn error(&self, message: impl Into<String>) -> EncodeError {
            self.error_of(message, false)
        }

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

        /// The qualified element name of member `key` (prefixed when its namespace is not the
        /// route's).
        fn name_of(&mut self, key: &str, member: Option<NodeId>) -> Result<String, EncodeError> {
            let shape = self.shape;
            let (local, ns) = match member {
                Some(m) => {
                    let (l, ns) = element_name(shape, key, m);
                    (l.to_string(), ns.or(self.route_ns))
                }
                None => (key.to_string(), self.route_ns),
            };
            if !is_xml_name(&local) {
                return Err(
                    self.value_error(format!("\"{local}\" is not a valid XML element name"))
                );
            }
            match ns {
                Some(ns) if Some(ns) != self.route_ns => {
                    let preferred = member.and_then(|m| shape.node(m).xml.prefix.as_deref());
                    let prefix = self.prefix_for(ns, preferred);
                    Ok(format!("{prefix}:{local}"))
                }
                _ => Ok(local),
            }
        }

        fn prefix_for(&mut self, ns: &str, preferred: Option<&str>) -> String {
            if let Some((_, p)) = self.prefixes.iter().find(|(n, _)| n == ns) {
                return p.clone();
            }
            if ns == super::super::XML_NS {
                self.prefixes.push((ns.to_string(), "xml".to_string()));
                return "xml".to_string();
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
            self.prefixes.push((ns.to_string(), prefix.clone()));
            prefix
        }

        /// Writes one element; returns the offset just after its start-tag name, where the
        /// root's namespace declarations go.
        fn write_element(
            &mut self,
            qname: &str,
            value: &'v Value,
            node: Option<NodeId>,
        ) -> Result<usize, EncodeError> {
            self.out.push('<');
            self.out.push_str(qname);
            let after_name = self.out.len();
            match value {
                Value::Null => {
                    self.uses_xsi = true;
                    self.out.push_str(" xsi:nil=\"true\"/>");
                }
                Value::Object(map) => self.write_object(qname, map, node)?,
                Value::Array(_) => {
                    return Err(self.error("an array inside an array has no XML form"));
                }
                scalar => {
                    let text = self.scalar_text(scalar)?;
                    if text.is_empty() {
                        self.out.push_str("/>");
                    } else {
                        self.out.push('>');
                        self.escape_checked(&text, false)?;
                        self.out.push_str("</");
                        self.out.push_str(qname);
                        self.out.push('>');
                    }
                }
            }
            Ok(after_name)
        }

        fn write_object(
            &mut self,
            qname: &str,
            map: &'v Map<String, Value>,
            node: Option<NodeId>,
        ) -> Result<(), EncodeError> {
            let shape = self.shape;
            let order: Vec<&'s str> = match node {
                Some(n) => shape.property_list(n).into_iter().map(|(k, _)| k).collect(),
                None => Vec::new(),
            };
            let mut members: Vec<(&'v str, &'v Value)> = Vec::with_capacity(map.len());
            for k in &order {
                if let Some((key, v)) = map.get_key_value(*k) {
                    members.push((key.as_str(), v));
                }
            }
            for (k, v) in map {
                if !order.contains(&k.as_str()) {
                    members.push((k.as_str(), v));
                }
            }

            for &(key, v) in &members {
                let Some(bare) = key.strip_prefix('@') else {
                    continue;
                };
                self.path.push(Seg::Key(key));
                if !v.is_null() {
                    let prop = node.and_then(|n| shape.property(n, key));
                    let name = prop
                        .and_then(|p| shape.node(p).xml.name.as_deref())
                        .unwrap_or(bare);
                    if !is_xml_name(name) {
                        return Err(self
                            .value_error(format!("\"{name}\" is not a valid XML attribute name")));
                    }
                    let text = self.scalar_text(v)?;
                    self.out.push(' ');
                    let meta = prop.map(|p| &shape.node(p).xml);
                    if let Some(meta) = meta.filter(|m| m.namespace_given)
                        && let Some(ns) = meta.namespace.as_deref()
                    {
                        let prefix = self.prefix_for(ns, meta.prefix.as_deref());
                        self.out.push_str(&prefix);
                        self.out.push(':');
                    }
                    self.out.push_str(name);
                    self.out.push_str("=\"");
                    self.escape_checked(&text, true)?;
                    self.out.push('"');
                }
                self.path.pop();
            }

            let mut content = false;
            for &(key, v) in &members {
                if key.starts_with('@') {
                    continue;
                }
                if !content {
                    self.out.push('>');
                    content = true;
                }
                self.path.push(Seg::Key(key));
                if key == "#text" {
                    let text = self.scalar_text(v)?;
                    self.escape_checked(&text, false)?;
                } else {
                    let member = node.and_then(|n| shape.property(n, key));
                    let element = member.map(|m| member_element(shape, m));
                    let name = self.name_of(key, member)?;
                    match v {
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                self.path.push(Seg::Index(i));
                                self.write_element(&name, item, element)?;
                                self.path.pop();
                            }
                        }
                        _ => {
                            self.write_element(&name, v, element)?;
                        }
                    }
                }
                self.path.pop();
            }
            if content {
                self.out.push_str("</");
                self.out.push_str(qname);
                self.out.push('>');
            } else {
                self.out.push_str("/>");
            }
            Ok(())
        }

        fn scalar_text<'x>(&self, v: &'x Value) -> Result<Cow<'x, str>, EncodeError> {
            match v {
                Value::String(s) => Ok(Cow::Borrowed(s)),
                Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
                Value::Number(n) => Ok(Cow::Owned(crate::codec::number_text(n))),
                Value::Null => Ok(Cow::Borrowed("")),
                Value::Array(_) | Value::Object(_) => {
                    Err(self.error("an attribute or text must be a string, number or boolean"))
                }
            }
        }

        fn escape_checked(&mut self, text: &str, attribute: bool) -> Result<(), EncodeError> {
            if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                return Err(self.value_error(format!(
                    "character U+{:04X} cannot appear in XML",
                    u32::from(c)
                )));
            }
            escape_into(&mut self.out, text, attribute);
            Ok(())
        }
    }

    fn escape_into(out: &mut String, text: &str, attribute: bool) {
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#13;"),
                '"' if attribute => out.push_str("&quot;"),
                '\'' if attribute => out.push_str("&apos;"),
                '\n' if attribute => out.push_str("&#10;"),
                '\t' if attribute => out.push_str("&#9;"),
                c => out.push(c),
            }
        }
    }
}

const ORDER_XML: &str = include_str!("../../../tests/fixtures/xml/order.xml");
const ORDER_SCHEMA: &str = include_str!("../../../tests/fixtures/xml/order.schema.json");
const ACME: &str = "urn:acme:orders:v2";

fn shape(schema: Value) -> Shape {
    Shape::build("test.json", &schema, &|_| None).unwrap()
}

fn order_shape() -> Shape {
    shape(serde_json::from_str(ORDER_SCHEMA).unwrap())
}

fn dec(xml: &str, s: &Shape, ns: Option<&str>) -> Result<Value, CodecError> {
    decode(xml.as_bytes(), s, ns, &Limits::default())
}

/// A schema with one root element `R` whose properties are `props`.
fn root_with(props: Value) -> Shape {
    shape(json!({"properties": {"R": {"type": "object", "properties": props}}}))
}

fn malformed(line: u32, column: u32) -> impl Fn(&CodecError) -> bool {
    move |e| matches!(e, CodecError::Malformed { line: l, column: c, .. } if *l == line && *c == column)
}

#[test]
fn order_fixture_decodes_per_schema() {
    let v = dec(ORDER_XML, &order_shape(), Some(ACME)).unwrap();
    let order = &v["Order"];
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(order["@id"], json!("A-10001"));
    assert_eq!(order["@currency"], json!("EUR"));
    assert_eq!(order["Placed"], json!("2026-11-24T09:15:30Z"));
    assert_eq!(
        order["Customer"],
        json!({"Name": "Jane Doe", "Email": "JANE.DOE@EXAMPLE.COM", "Phone": "+49 30 1234567"})
    );
    let items = order["Items"]["Item"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    assert_eq!(
        items[0],
        json!({"@line": 1, "Sku": "ACME-BOLT-M8-40", "Qty": 250, "Price": "0.18"})
    );
    assert_eq!(
        items[11],
        json!({"@line": 12, "Sku": "ACME-PANEL-AL-600", "Qty": 8, "Price": "42.00"})
    );
    assert_eq!(order["Priority"], json!("express"));
    assert!(
        order["Notes"]
            .as_str()
            .unwrap()
            .starts_with("Deliver to loading dock B")
    );
    assert_eq!(
        order.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![
            "@id",
            "@currency",
            "Placed",
            "Customer",
            "ShipTo",
            "Items",
            "Priority",
            "Notes"
        ]
    );
}

#[test]
fn single_element_becomes_array_where_schema_says_array() {
    let xml = r#"<Order xmlns="urn:acme:orders:v2" id="A" currency="EUR"><Items><Item line="7"><Sku>S</Sku><Qty>3</Qty><Price>1.50</Price></Item></Items></Order>"#;
    let v = dec(xml, &order_shape(), Some(ACME)).unwrap();
    assert_eq!(
        v,
        json!({"Order": {"@id": "A", "@currency": "EUR", "Items": {"Item": [
            {"@line": 7, "Sku": "S", "Qty": 3, "Price": "1.50"}
        ]}}})
    );
}

#[test]
fn repeated_child_without_array_schema_is_still_an_array() {
    let s = root_with(json!({"A": {"type": "string"}}));
    let v = dec("<R><A>1</A><B>x</B><A>2</A><B>y</B></R>", &s, None).unwrap();
    assert_eq!(v, json!({"R": {"A": ["1", "2"], "B": ["x", "y"]}}));
}

#[test]
fn conversions_follow_the_schema() {
    let s = root_with(json!({
        "i": {"type": "integer"}, "big": {"type": "integer"}, "neg": {"type": "integer"},
        "n": {"type": "number"}, "ni": {"type": "number"}, "exp": {"type": "integer"},
        "b1": {"type": "boolean"}, "b2": {"type": "boolean"}, "b3": {"type": "boolean"},
        "s": {"type": ["string", "integer"]}, "bad": {"type": "integer"}, "inf": {"type": "number"},
        "u": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "nul": {"type": ["integer", "null"]},
        "e": {"type": "string"}, "o": {"type": "object"}, "ws": {"type": "integer"},
        "@a": {"type": "number"}
    }));
    let xml = "<R a='2.5'><i>42</i><big>18446744073709551615</big><neg>-7</neg><n>1343.60</n><ni>5</ni>\
               <exp>1e3</exp><b1>true</b1><b2>0</b2><b3>yes</b3><s>007</s><bad>ten</bad><inf>INF</inf>\
               <u>3</u><nul></nul><e/><o/><ws> 12 </ws></R>";
    let v = dec(xml, &s, None).unwrap();
    assert_eq!(
        v,
        json!({"R": {
            "@a": 2.5, "i": 42, "big": 18446744073709551615u64, "neg": -7, "n": 1343.6, "ni": 5,
            "exp": "1e3", "b1": true, "b2": false, "b3": "yes", "s": "007", "bad": "ten",
            "inf": "INF", "u": 3, "nul": null, "e": "", "o": {}, "ws": 12
        }})
    );
}

#[test]
fn text_is_verbatim_with_entities_cdata_and_mixed_content() {
    let s = root_with(json!({"t": {"type": "string"}, "p": {"type": "object"}}));
    let xml = "<R>\n  <t>  a &lt;&amp;&gt; &#65;&#x42; <![CDATA[<raw> & ]]>z  </t>\n  \
               <p>Hello <b>big</b> world<!-- c --><?pi x?></p>\n</R>";
    let v = dec(xml, &s, None).unwrap();
    assert_eq!(
        v,
        json!({"R": {"t": "  a <&> AB <raw> & z  ", "p": {"b": "big", "#text": "Hello  world"}}})
    );
}

#[test]
fn attributes_text_and_nil() {
    let s = root_with(json!({
        "Total": {"type": "object", "properties": {"@currency": {"type": "string"}, "#text": {"type": "number"}}},
        "Gone": {"type": ["string", "null"]},
        "Flag": {"type": "object"}
    }));
    let xml = r#"<R xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:x="urn:x"><Total currency="EUR">12.5</Total><Gone xsi:nil="true"/><Flag x:on="1" off=""/></R>"#;
    let v = dec(xml, &s, None).unwrap();
    assert_eq!(
        v,
        json!({"R": {"Total": {"@currency": "EUR", "#text": 12.5}, "Gone": null, "Flag": {"@on": "1", "@off": ""}}})
    );
}

#[test]
fn refuses_dtds_and_unknown_entities() {
    let s = root_with(json!({}));
    let cases = [
        "<!DOCTYPE x [<!ENTITY a \"b\">]><R>&a;</R>",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\n<R>&lol2;</R>",
        "<!DOCTYPE R [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><R>&xxe;</R>",
    ];
    for xml in cases {
        let e = dec(xml, &s, None).unwrap_err();
        assert!(
            matches!(&e, CodecError::Forbidden { message, .. } if message == "a document type declaration (<!DOCTYPE>) is not allowed"),
            "{xml}: {e:?}"
        );
    }
    assert_eq!(
        dec("<R>\n  <a>&foo;</a></R>", &s, None).unwrap_err(),
        CodecError::Forbidden {
            line: 2,
            column: 6,
            message: "entity &foo; is not allowed: only the five predefined entities and character references are".into()
        }
    );
    assert!(matches!(
        dec("<R a=\"&foo;\"/>", &s, None).unwrap_err(),
        CodecError::Forbidden {
            line: 1,
            column: 4,
            ..
        }
    ));
}

#[test]
fn encoding_errors() {
    let s = root_with(json!({}));
    let mut bad = b"<R>\n  <a>ok".to_vec();
    bad.extend_from_slice(&[0xC3, 0x28]);
    bad.extend_from_slice(b"</a></R>");
    assert_eq!(
        decode(&bad, &s, None, &Limits::default()).unwrap_err(),
        CodecError::Encoding {
            line: 2,
            column: 8,
            message: "the document is not valid UTF-8".into()
        }
    );
    // Deliberately changed: a UTF-16 declaration used to be refused whatever the bytes;
    // now it must be true (UTF-16 with its byte order mark is decoded, below).
    assert_eq!(
        dec("<?xml version=\"1.0\" encoding=\"UTF-16\"?><R/>", &s, None).unwrap_err(),
        CodecError::Encoding {
            line: 1,
            column: 1,
            message: "the document declares encoding \"UTF-16\" but is not UTF-16: a UTF-16 document starts with a byte order mark".into()
        }
    );
    assert_eq!(
        dec(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<R/>",
            &s,
            None
        )
        .unwrap_err(),
        CodecError::UnsupportedEncoding {
            encoding: "ISO-8859-1".into(),
            line: 1,
            column: 1
        }
    );
    assert_eq!(
        dec(
            "<?xml version='1.0' encoding='us-ascii'?><R>x</R>",
            &s,
            None
        )
        .unwrap(),
        json!({"R": "x"})
    );
    assert_eq!(
        dec(
            "<?xml version='1.0' encoding='US-ASCII'?>\n<R>\u{e9}</R>",
            &s,
            None
        )
        .unwrap_err(),
        CodecError::Encoding {
            line: 2,
            column: 4,
            message: "the document declares encoding \"US-ASCII\" but holds a character outside it"
                .into()
        }
    );
    assert_eq!(
        decode(b"\xEF\xBB\xBF<R>x</R>", &s, None, &Limits::default()).unwrap(),
        json!({"R": "x"})
    );
}

/// `text` in UTF-16, little- or big-endian, after a byte order mark when `bom`.
fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for unit in std::iter::once(0xFEFF)
        .filter(|_| bom)
        .chain(text.encode_utf16())
    {
        out.extend_from_slice(&if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

#[test]
fn utf16_documents_decode_as_their_utf8_twins() {
    let s = order_shape();
    let utf8 = dec(ORDER_XML, &s, Some(ACME)).unwrap();
    let declared = ORDER_XML.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1);
    assert_ne!(declared, ORDER_XML, "the fixture declares its encoding");
    for (big_endian, bom, text) in [
        (false, true, &declared),
        (true, true, &declared),
        (
            false,
            true,
            &ORDER_XML.replacen("encoding=\"UTF-8\"", "encoding=\"utf-16le\"", 1),
        ),
        (
            true,
            false,
            &ORDER_XML.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16BE\"", 1),
        ),
    ] {
        let bytes = utf16(text, big_endian, bom);
        let limits = Limits::default();
        assert_eq!(
            decode(&bytes, &s, Some(ACME), &limits).unwrap(),
            utf8,
            "{big_endian} {bom}"
        );
        let doc = decode_doc(&bytes, &s, Some(ACME), &limits).unwrap();
        assert_eq!(doc.into_value(), utf8);
    }
    // Without a declaration, and outside the Basic Multilingual Plane.
    let r = root_with(json!({"a": {"type": "string"}}));
    let text = "<R><a>\u{e9}\u{1F600}\u{4E2D}</a></R>";
    for big_endian in [false, true] {
        assert_eq!(
            decode(&utf16(text, big_endian, true), &r, None, &Limits::default()).unwrap(),
            json!({"R": {"a": "\u{e9}\u{1F600}\u{4E2D}"}})
        );
    }
}

#[test]
fn utf16_errors_are_placed_as_in_the_text() {
    let s = root_with(json!({"a": {"type": "string"}}));
    // Positions count characters: the same as in the document's UTF-8 twin.
    for text in [
        "<R>\n  <a>\u{e9}\u{1F600}x</b></R>",
        "<R>\n\u{1F600}<a x='1' x='2'/></R>",
        "<?xml version=\"1.0\"?>\n<R>\n  <a>&nope;</a></R>",
    ] {
        let want = dec(text, &s, None).unwrap_err();
        for big_endian in [false, true] {
            assert_eq!(
                decode(&utf16(text, big_endian, true), &s, None, &Limits::default()).unwrap_err(),
                want,
                "{text}"
            );
        }
    }
    // The declaration must agree with the bytes.
    let utf8_declared = utf16(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><R/>",
        false,
        true,
    );
    assert_eq!(
        decode(&utf8_declared, &s, None, &Limits::default()).unwrap_err(),
        CodecError::Encoding {
            line: 1,
            column: 1,
            message:
                "the document is UTF-16LE (by its first bytes) but declares encoding \"UTF-8\""
                    .into()
        }
    );
    let other_order = utf16(
        "<?xml version=\"1.0\" encoding=\"UTF-16LE\"?><R/>",
        true,
        true,
    );
    assert_eq!(
        decode(&other_order, &s, None, &Limits::default()).unwrap_err(),
        CodecError::Encoding {
            line: 1,
            column: 1,
            message:
                "the document is UTF-16BE (by its first bytes) but declares encoding \"UTF-16LE\""
                    .into()
        }
    );
    // A surrogate without its pair, and a body cut inside a code unit.
    let mut lone = utf16("<R>\n<a>ab", false, true);
    lone.extend_from_slice(&0xD800u16.to_le_bytes());
    lone.extend_from_slice(&utf16("</a></R>", false, false));
    assert_eq!(
        decode(&lone, &s, None, &Limits::default()).unwrap_err(),
        CodecError::Encoding {
            line: 2,
            column: 6,
            message: "the document is not valid UTF-16LE: a surrogate code unit without its pair"
                .into()
        }
    );
    let mut cut = utf16("<R/>", true, true);
    cut.push(0);
    assert_eq!(
        decode(&cut, &s, None, &Limits::default()).unwrap_err(),
        CodecError::Encoding {
            line: 1,
            column: 5,
            message: "the document is not valid UTF-16BE: it ends in the middle of a code unit"
                .into()
        }
    );
    // Validation errors are placed in a UTF-16 document as in its UTF-8 twin.
    let text = "<R>\n\u{1F600}<a>x</a></R>";
    for pointer in ["/R/a", "/R"] {
        assert_eq!(
            locate(&utf16(text, false, true), &s, None, pointer),
            locate(text.as_bytes(), &s, None, pointer)
        );
    }
    assert_eq!(
        locate(&utf16(text, true, true), &s, None, "/R/a"),
        Some((2, 2))
    );
}

#[test]
fn malformed_documents_report_positions() {
    let s = root_with(json!({}));
    let check = |xml: &str, line: u32, column: u32| {
        let e = dec(xml, &s, None).unwrap_err();
        assert!(malformed(line, column)(&e), "{xml:?}: {e:?}");
    };
    check("<R>\n  <a>x</b>\n</R>", 2, 7);
    check("<R><a></R>", 1, 7);
    check("<R/>\n<R/>", 2, 1);
    check("<R/>trailing", 1, 5);
    check("text<R/>", 1, 1);
    check("", 1, 1);
    check("<R>", 1, 4);
    check("<R a='1' a='2'/>", 1, 1);
    check("<R><p:x/></R>", 1, 4);
    check("<R>&#0;</R>", 1, 4);
    assert_eq!(
        dec("<!-- c -->\n<R/>\n<!-- end -->\n", &s, None).unwrap(),
        json!({"R": {}})
    );
}

#[test]
fn limits_are_enforced() {
    let s = root_with(json!({}));
    let limits = Limits {
        max_depth: 3,
        max_elements: 5,
        max_attributes: 2,
        max_text_bytes: 8,
        max_name_bytes: 7,
    };
    let run = |xml: &str| decode(xml.as_bytes(), &s, None, &limits);
    assert_eq!(
        run("<R><a><b>x</b></a></R>").unwrap(),
        json!({"R": {"a": {"b": "x"}}})
    );
    assert_eq!(
        run("<R><a><b><c/></b></a></R>").unwrap_err(),
        CodecError::Limit {
            limit: "depth",
            max: 3,
            line: 1,
            column: 10
        }
    );
    assert_eq!(
        run("<R><a/><a/><a/><a/><a/></R>").unwrap_err(),
        CodecError::Limit {
            limit: "elements",
            max: 5,
            line: 1,
            column: 20
        }
    );
    assert_eq!(
        run("<R><a x='1' y='2' z='3'/></R>").unwrap_err(),
        CodecError::Limit {
            limit: "attributes",
            max: 2,
            line: 1,
            column: 4
        }
    );
    assert_eq!(
        run("<R><p:abcde xmlns:p='urn:p'>x</p:abcde></R>").unwrap(),
        json!({"R": {"abcde": "x"}})
    );
    assert_eq!(
        run("<R>\n <abcdefgh/></R>").unwrap_err(),
        CodecError::Limit {
            limit: "name length",
            max: 7,
            line: 2,
            column: 3
        }
    );
    assert_eq!(
        run("<R><a xy='1'\n abcdefgh='2'/></R>").unwrap_err(),
        CodecError::Limit {
            limit: "name length",
            max: 7,
            line: 2,
            column: 2
        }
    );
    assert!(matches!(
        run("<R><a>123456789</a></R>").unwrap_err(),
        CodecError::Limit {
            limit: "text",
            max: 8,
            ..
        }
    ));
    assert!(matches!(
        run("<R><a x='123456789'/></R>").unwrap_err(),
        CodecError::Limit {
            limit: "text",
            max: 8,
            ..
        }
    ));
    assert!(matches!(
        run("<R><a>1234&amp;5678</a></R>").unwrap_err(),
        CodecError::Limit {
            limit: "text",
            max: 8,
            ..
        }
    ));
}

#[test]
fn root_and_namespace_checks() {
    let s = order_shape();
    assert_eq!(
        dec("<?xml version=\"1.0\"?>\n<Invoice xmlns=\"urn:acme:orders:v2\"/>", &s, Some(ACME)).unwrap_err(),
        CodecError::Unexpected {
            pointer: String::new(),
            line: 2,
            column: 1,
            message: "expected root element <Order> in namespace \"urn:acme:orders:v2\", found <Invoice> in namespace \"urn:acme:orders:v2\"".into()
        }
    );
    assert_eq!(
        dec("<Order xmlns=\"urn:other\"/>", &s, Some(ACME)).unwrap_err(),
        CodecError::Unexpected {
            pointer: String::new(),
            line: 1,
            column: 1,
            message: "expected root element <Order> in namespace \"urn:acme:orders:v2\", found <Order> in namespace \"urn:other\"".into()
        }
    );
    assert!(matches!(
        dec("<Order/>", &s, Some(ACME)),
        Err(CodecError::Unexpected { .. })
    ));
    assert!(matches!(
        dec("<Order xmlns=\"urn:acme:orders:v2\"/>", &s, None),
        Err(CodecError::Unexpected { .. })
    ));
}

#[test]
fn prefixes_do_not_matter_only_namespace_uris() {
    let s = order_shape();
    let plain = r#"<Order xmlns="urn:acme:orders:v2" id="A" currency="EUR"><Items><Item line="1"><Qty>2</Qty></Item></Items></Order>"#;
    let prefixed = r#"<o:Order xmlns:o="urn:acme:orders:v2" id="A" currency="EUR"><o:Items><o:Item line="1"><o:Qty>2</o:Qty></o:Item></o:Items></o:Order>"#;
    let a = dec(plain, &s, Some(ACME)).unwrap();
    assert_eq!(a, dec(prefixed, &s, Some(ACME)).unwrap());
    assert_eq!(a["Order"]["Items"]["Item"], json!([{"@line": 1, "Qty": 2}]));
    // A known name in a foreign namespace is not the known element.
    let foreign = r#"<Order xmlns="urn:acme:orders:v2" xmlns:f="urn:f" id="A" currency="EUR"><Items><f:Item line="1"/></Items></Order>"#;
    assert_eq!(
        dec(foreign, &s, Some(ACME)).unwrap_err(),
        CodecError::Unexpected {
            pointer: "/Order/Items/Item".into(),
            line: 1,
            column: 80,
            message: "expected <Item> in namespace \"urn:acme:orders:v2\", found <Item> in namespace \"urn:f\"".into()
        }
    );
}

fn soap_shape() -> Shape {
    shape(json!({
        "properties": {"Envelope": {
            "xml": {"namespace": "http://schemas.xmlsoap.org/soap/envelope/", "prefix": "soap"},
            "type": "object",
            "properties": {
                "Header": {"type": "object"},
                "Body": {"type": "object", "properties": {"Ping": {
                    "xml": {"namespace": "urn:acme:ping"},
                    "type": "object",
                    "properties": {"Count": {"type": "integer"}, "Tags": {"type": "array", "items": {"type": "string"}}}
                }}}
            }
        }}
    }))
}

#[test]
fn soap_envelope_with_two_namespaces() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header/>
  <s:Body>
<Ping xmlns="urn:acme:ping"><Count>3</Count><Tags>a</Tags></Ping>
  </s:Body>
</s:Envelope>"#;
    let v = dec(xml, &soap_shape(), Some("urn:route")).unwrap();
    assert_eq!(
        v,
        json!({"Envelope": {"Header": {}, "Body": {"Ping": {"Count": 3, "Tags": ["a"]}}}})
    );
    let encoded = encode(&v, &soap_shape(), Some("urn:route")).unwrap();
    assert_eq!(
        String::from_utf8(encoded.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns=\"urn:route\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns1=\"urn:acme:ping\"><soap:Header/><soap:Body><ns1:Ping><ns1:Count>3</ns1:Count><ns1:Tags>a</ns1:Tags></ns1:Ping></soap:Body></soap:Envelope>"
    );
    assert_eq!(
        decode(
            &encoded,
            &soap_shape(),
            Some("urn:route"),
            &Limits::default()
        )
        .unwrap(),
        v
    );
}

fn ack_shape() -> Shape {
    shape(json!({
        "properties": {"OrderAck": {
            "type": "object",
            "properties": {
                "OrderId": {"type": "string"},
                "Status": {"enum": ["accepted", "rejected"]},
                "Total": {"type": "object", "properties": {"@currency": {"type": "string"}, "#text": {"type": "string"}}},
                "Eta": {"type": "string", "format": "date"}
            }
        }}
    }))
}

#[test]
fn encode_ack_exactly() {
    let v = json!({"OrderAck": {
        "Eta": "2026-11-30", "Total": {"#text": "1343.60", "@currency": "EUR"},
        "Status": "accepted", "OrderId": "A-10001"
    }});
    let out = encode(&v, &ack_shape(), Some(ACME)).unwrap();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OrderAck xmlns=\"urn:acme:orders:v2\"><OrderId>A-10001</OrderId><Status>accepted</Status><Total currency=\"EUR\">1343.60</Total><Eta>2026-11-30</Eta></OrderAck>"
    );
    assert_eq!(
        out,
        include_bytes!("../../../tests/fixtures/xml/ack.xml").trim_ascii_end()
    );
}

#[test]
fn encode_values_nil_escaping_and_unknown_members() {
    let s = root_with(json!({
        "n": {"type": "number"}, "i": {"type": "integer"}, "b": {"type": "boolean"},
        "z": {"type": ["string", "null"]}, "@k": {"type": "string"},
        "list": {"type": "array", "items": {"type": "integer", "xml": {"name": "entry"}}},
        "renamed": {"type": "string", "xml": {"name": "Other", "namespace": "urn:o", "prefix": "o"}}
    }));
    let v = json!({"R": {
        "extra": "e", "z": null, "b": false, "i": 5, "n": 5.0, "@k": "a\"b'c<&>\n",
        "list": [1, 2], "renamed": "r", "t": "x < y & z > w \r"
    }});
    let out = String::from_utf8(encode(&v, &s, None).unwrap()).unwrap();
    assert_eq!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns:o=\"urn:o\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" k=\"a&quot;b&apos;c&lt;&amp;&gt;&#10;\"><n>5</n><i>5</i><b>false</b><z xsi:nil=\"true\"/><entry>1</entry><entry>2</entry><o:Other>r</o:Other><extra>e</extra><t>x &lt; y &amp; z &gt; w &#13;</t></R>"
    );
    let back = decode(out.as_bytes(), &s, None, &Limits::default()).unwrap();
    assert_eq!(back["R"]["@k"], json!("a\"b'c<&>\n"));
    assert_eq!(back["R"]["t"], json!("x < y & z > w \r"));
    assert_eq!(back["R"]["z"], json!(null));
    assert_eq!(back["R"]["list"], json!([1, 2]));
    assert_eq!(back["R"]["renamed"], json!("r"));
}

#[test]
fn encode_errors_name_the_pointer() {
    let s = root_with(json!({}));
    assert_eq!(
        encode(&json!({"R": {"a": [{"bad name": 1}]}}), &s, None).unwrap_err(),
        EncodeError {
            pointer: "/R/a/0/bad name".into(),
            message: "\"bad name\" is not a valid XML element name".into(),
            by_value: true
        }
    );
    assert_eq!(
        encode(&json!({"R": {"a": "\u{1}"}}), &s, None).unwrap_err(),
        EncodeError {
            pointer: "/R/a".into(),
            message: "character U+0001 cannot appear in XML".into(),
            by_value: true
        }
    );
    assert_eq!(
        encode(&json!({"R": {"a": [[1]]}}), &s, None).unwrap_err(),
        EncodeError {
            pointer: "/R/a/0".into(),
            message: "an array inside an array has no XML form".into(),
            by_value: false
        }
    );
    assert_eq!(
        encode(&json!({"R": 1, "S": 2}), &s, None)
            .unwrap_err()
            .pointer,
        ""
    );
    assert_eq!(
        encode(&json!({"R": {"@a": {"x": 1}}}), &s, None).unwrap_err(),
        EncodeError {
            pointer: "/R/@a".into(),
            message: "an attribute or text must be a string, number or boolean".into(),
            by_value: false
        }
    );
}

/// Encodes `v` by the `&Value` entry point, by [`encode_view`] on `v` read as a `Doc`
/// built as the mapping builds one, and by the reference encoder: all three must give
/// the same bytes (or the same error).
fn enc_all(v: &Value, s: &Shape, ns: Option<&str>) -> Result<String, EncodeError> {
    let expected = reference::encode(v, s, ns);
    let by_value = encode(v, s, ns);
    assert_eq!(by_value, expected, "the Value path");
    let doc = Doc::deep(v);
    let by_doc = encode_view(doc.view(), s, &EncodePlan::new(s), ns);
    assert_eq!(by_doc, expected, "the Doc path");
    by_value.map(|b| String::from_utf8(b).unwrap())
}

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

#[test]
fn encode_view_writes_namespaces_in_first_use_order() {
    let s = shape(json!({"properties": {"R": {
        "type": "object",
        "properties": {
            "local": {"type": "string"},
            "b": {"type": "string", "xml": {"namespace": "urn:b"}},
            "a": {"type": "string", "xml": {"namespace": "urn:a", "prefix": "pa"}},
            "a2": {"type": "string", "xml": {"namespace": "urn:a", "prefix": "other"}},
            "same": {"type": "string", "xml": {"namespace": "urn:route", "prefix": "r"}},
            "clash": {"type": "string", "xml": {"namespace": "urn:c", "prefix": "pa"}},
            "xmlish": {"type": "string", "xml": {"namespace": "urn:d", "prefix": "xmlfoo"}}
        }
    }}}));
    let v = json!({"R": {
        "xmlish": "6", "clash": "5", "same": "4", "a2": "3", "a": "2", "b": "1", "local": "0"
    }});
    assert_eq!(
        enc_all(&v, &s, Some("urn:route")).unwrap(),
        format!(
            "{DECL}<R xmlns=\"urn:route\" xmlns:ns1=\"urn:b\" xmlns:pa=\"urn:a\" xmlns:ns2=\"urn:c\" xmlns:ns3=\"urn:d\"><local>0</local><ns1:b>1</ns1:b><pa:a>2</pa:a><pa:a2>3</pa:a2><same>4</same><ns2:clash>5</ns2:clash><ns3:xmlish>6</ns3:xmlish></R>"
        )
    );
    // Namespace URIs are escaped as attribute values, unchecked, as before.
    let odd = enc_all(&v, &s, Some("urn:\"&<>'\t\n\r\u{1}é")).unwrap();
    assert!(odd.contains("xmlns=\"urn:&quot;&amp;&lt;&gt;&apos;&#9;&#10;&#13;\u{1}é\""));
    // Without a route namespace every named namespace is foreign, the root's included.
    let s = shape(json!({"properties": {"R": {
        "type": "object",
        "xml": {"namespace": "urn:r", "prefix": "r"},
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "xml": {"namespace": "urn:y"}}}
    }}}));
    assert_eq!(
        enc_all(&json!({"R": {"y": 2, "x": 1}}), &s, None).unwrap(),
        format!(
            "{DECL}<r:R xmlns:r=\"urn:r\" xmlns:ns1=\"urn:y\"><r:x>1</r:x><ns1:y>2</ns1:y></r:R>"
        )
    );
    // A namespace used only by an empty array is still declared, where it was first used.
    let s = shape(json!({"properties": {"R": {
        "type": "object",
        "properties": {
            "e": {"type": "array", "items": {"type": "string", "xml": {"namespace": "urn:e"}}},
            "f": {"type": "string", "xml": {"namespace": "urn:f"}}
        }
    }}}));
    assert_eq!(
        enc_all(&json!({"R": {"f": "x", "e": []}}), &s, None).unwrap(),
        format!("{DECL}<R xmlns:ns1=\"urn:e\" xmlns:ns2=\"urn:f\"><ns2:f>x</ns2:f></R>")
    );
}

#[test]
fn encode_view_attributes_text_nil_arrays_and_unknown_members() {
    let s = shape(json!({"properties": {"R": {
        "type": "object",
        "properties": {
            "@id": {"type": "string"},
            "@kind": {"type": "string", "xml": {"name": "type"}},
            "money": {"type": "object", "properties": {
                "@cur": {"type": "string"}, "#text": {"type": "string"}
            }},
            "items": {"type": "array", "xml": {"name": "Item"}, "items": {
                "type": "object", "properties": {"@no": {"type": "integer"}, "q": {"type": "number"}}
            }},
            "gone": {"type": ["string", "null"]}
        },
        "additionalProperties": {"type": "string", "xml": {"name": "Extra"}}
    }}}));
    let v = json!({"R": {
        "zz": "last?", "gone": null, "@skip": null,
        "items": [{"q": 1.5, "@no": 1, "note": "n"}, {"@no": 2, "q": 2.0}, {}],
        "money": {"#text": "1.00", "@cur": "EUR"},
        "@kind": "k&\"'<>\t\n\r", "@id": "A", "aa": "é中😀 <x> \"'"
    }});
    assert_eq!(
        enc_all(&v, &s, Some("urn:x")).unwrap(),
        format!(
            "{DECL}<R xmlns=\"urn:x\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" id=\"A\" type=\"k&amp;&quot;&apos;&lt;&gt;&#9;&#10;&#13;\"><money cur=\"EUR\">1.00</money><Item no=\"1\"><q>1.5</q><note>n</note></Item><Item no=\"2\"><q>2</q></Item><Item/><gone xsi:nil=\"true\"/><Extra>last?</Extra><Extra>é中😀 &lt;x&gt; \"'</Extra></R>"
        )
    );
    // `#text` alone, empty text, booleans and numbers as text.
    let v = json!({"R": {"money": {"#text": ""}, "zz": "", "b": true, "n": -0.5, "big": 18446744073709551615u64}});
    assert_eq!(
        enc_all(&v, &s, None).unwrap(),
        format!(
            "{DECL}<R><money></money><Extra/><Extra>true</Extra><Extra>-0.5</Extra><Extra>18446744073709551615</Extra></R>"
        )
    );
}

#[test]
fn encode_view_errors_match() {
    let s = root_with(json!({"@bad": {"type": "string", "xml": {"name": "no good"}}}));
    let cases = [
        json!({"R": {"a": [{"bad name": 1}]}}),
        json!({"R": {"a": "\u{1}"}}),
        json!({"R": {"a": "ok\u{FFFE}"}}),
        json!({"R": {"a": "\u{FFFF}"}}),
        json!({"R": {"@a": "\u{FFFD}\u{1F}"}}),
        json!({"R": {"#text": "\u{0}"}}),
        json!({"R": {"a": [[1]]}}),
        json!({"R": 1, "S": 2}),
        json!({"R": [1]}),
        json!([1]),
        json!({"R": {"@a": {"x": 1}}}),
        json!({"R": {"#text": [1]}}),
        json!({"R": {"@bad": "x"}}),
        json!({"R": {"@bad": null, "k": {"ok": {"a/b~c": 1}}}}),
    ];
    for v in cases {
        assert!(enc_all(&v, &s, None).is_err(), "{v}");
    }
    assert_eq!(
        enc_all(&json!({"R": {"a": "ok\u{FFFE}"}}), &s, None).unwrap_err(),
        EncodeError {
            pointer: "/R/a".into(),
            message: "character U+FFFE cannot appear in XML".into(),
            by_value: true
        }
    );
    assert_eq!(
        enc_all(&json!({"R": {"k": {"a/b~c": {"1x": 1}}}}), &s, None)
            .unwrap_err()
            .pointer,
        "/R/k/a~1b~0c"
    );
}

#[test]
fn encode_view_keeps_wide_objects_linear_and_identical() {
    // 1,500 declared properties (found through the plan's index), a document of 5,000
    // members: the declared ones in reverse order, the others interleaved.
    let props: Map<String, Value> = (0..1500)
        .map(|i| (format!("p{i}"), json!({"type": "integer"})))
        .collect();
    let s = root_with(Value::Object(props));
    let mut members = Map::new();
    for i in (0..5000).rev() {
        if i < 1500 {
            members.insert(format!("p{i}"), json!(i));
        } else {
            members.insert(format!("x{i}"), json!(i));
        }
    }
    let v = json!({ "R": members });
    let out = enc_all(&v, &s, None).unwrap();
    assert!(out.starts_with(&format!("{DECL}<R><p0>0</p0><p1>1</p1>")));
    assert!(out.ends_with("<x1501>1501</x1501><x1500>1500</x1500></R>"));
}

#[test]
fn encode_view_reads_a_mapped_doc_with_json_subtrees() {
    // A `Doc` mixing member lists with subtrees held as values, as a mapping builds.
    let s = ack_shape();
    let doc = Doc::Members(vec![(
        Cow::Borrowed("OrderAck"),
        Doc::Members(vec![
            (Cow::Borrowed("Eta"), Doc::Json(json!("2026-11-30"))),
            (
                Cow::Borrowed("Total"),
                Doc::Json(json!({"#text": "1343.60", "@currency": "EUR"})),
            ),
            (Cow::Owned("OrderId".into()), Doc::Json(json!("A-10001"))),
            (Cow::Borrowed("Status"), Doc::Json(json!("accepted"))),
        ]),
    )]);
    let out = encode_view(doc.view(), &s, &EncodePlan::new(&s), Some(ACME)).unwrap();
    assert_eq!(
        out,
        include_bytes!("../../../tests/fixtures/xml/ack.xml").trim_ascii_end()
    );
    assert_eq!(encode(&doc.into_value(), &s, Some(ACME)).unwrap(), out);
}

fn shop_shape() -> Shape {
    shape(
        json!({"type": "object", "required": ["Order"], "properties": {"Order": {
            "type": "object", "required": ["@id", "Amount"],
            "properties": {"@id": {"type": "string"}, "Amount": {"type": "string"}}
        }}}),
    )
}

const SHOP: &str = "urn:shop:v1";

fn unexpected(pointer: &str, line: u32, column: u32, message: &str) -> CodecError {
    CodecError::Unexpected {
        pointer: pointer.into(),
        line,
        column,
        message: message.into(),
    }
}

#[test]
fn elements_below_the_root_are_matched_by_namespace_and_local_name() {
    let s = shop_shape();
    let ok = r#"<s:Order xmlns:s="urn:shop:v1" id="1"><s:Amount>5.00</s:Amount></s:Order>"#;
    assert_eq!(
        dec(ok, &s, Some(SHOP)).unwrap(),
        json!({"Order": {"@id": "1", "Amount": "5.00"}})
    );
    let foreign = r#"<Order xmlns="urn:shop:v1" xmlns:evil="urn:evil" id="1"><evil:Amount>999.00</evil:Amount></Order>"#;
    assert_eq!(
        dec(foreign, &s, Some(SHOP)).unwrap_err(),
        unexpected(
            "/Order/Amount",
            1,
            57,
            "expected <Amount> in namespace \"urn:shop:v1\", found <Amount> in namespace \"urn:evil\""
        )
    );
    let no_namespace =
        "<s:Order xmlns:s=\"urn:shop:v1\" id=\"1\">\n  <Amount>5.00</Amount></s:Order>";
    assert_eq!(
        dec(no_namespace, &s, Some(SHOP)).unwrap_err(),
        unexpected(
            "/Order/Amount",
            2,
            3,
            "expected <Amount> in namespace \"urn:shop:v1\", found <Amount> in no namespace"
        )
    );
    // An element the schema does not name is kept as any unknown element is.
    let unknown = r#"<Order xmlns="urn:shop:v1" xmlns:x="urn:x" id="1"><Amount>5</Amount><x:Note>n</x:Note></Order>"#;
    assert_eq!(
        dec(unknown, &s, Some(SHOP)).unwrap(),
        json!({"Order": {"@id": "1", "Amount": "5", "Note": "n"}})
    );
}

#[test]
fn a_payload_in_the_wrong_namespace_inside_an_envelope_is_refused() {
    let xml = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\n  <s:Body>\n    <Ping xmlns=\"urn:other\"><Count>3</Count></Ping>\n  </s:Body>\n</s:Envelope>";
    assert_eq!(
        dec(xml, &soap_shape(), Some("urn:route")).unwrap_err(),
        unexpected(
            "/Envelope/Body/Ping",
            3,
            5,
            "expected <Ping> in namespace \"urn:acme:ping\", found <Ping> in namespace \"urn:other\""
        )
    );
}

#[test]
fn the_pointer_of_an_element_conflict_counts_the_items_before_it() {
    let xml = r#"<Order xmlns="urn:acme:orders:v2" xmlns:f="urn:f" id="A" currency="EUR"><Items><Item line="1"><Qty>1</Qty></Item><Item line="2"><f:Qty>2</f:Qty></Item></Items></Order>"#;
    assert_eq!(
        dec(xml, &order_shape(), Some(ACME)).unwrap_err(),
        unexpected(
            "/Order/Items/Item/1/Qty",
            1,
            129,
            "expected <Qty> in namespace \"urn:acme:orders:v2\", found <Qty> in namespace \"urn:f\""
        )
    );
}

#[test]
fn an_element_never_stands_in_for_a_member_written_under_another_name() {
    let s = root_with(json!({
        "amount": {"type": "integer", "xml": {"name": "Amount"}},
        "lines": {"type": "array", "items": {"type": "string", "xml": {"name": "Line"}}}
    }));
    assert_eq!(
        dec(
            "<R><Amount>1</Amount><Line>a</Line><Line>b</Line></R>",
            &s,
            None
        )
        .unwrap(),
        json!({"R": {"amount": 1, "lines": ["a", "b"]}})
    );
    assert_eq!(
        dec("<R><Amount>1</Amount><amount>2</amount></R>", &s, None).unwrap_err(),
        unexpected(
            "/R/amount",
            1,
            22,
            "expected <Amount> in no namespace, found <amount> in no namespace"
        )
    );
    assert_eq!(
        dec("<R><lines>x</lines></R>", &s, None).unwrap_err(),
        unexpected(
            "/R/lines",
            1,
            4,
            "expected <Line> in no namespace, found <lines> in no namespace"
        )
    );
}

#[test]
fn attributes_are_matched_by_namespace_an_unprefixed_one_being_in_none() {
    let s = shop_shape();
    let foreign = r#"<Order xmlns="urn:shop:v1" xmlns:evil="urn:evil" id="1" evil:id="2"><Amount>5.00</Amount></Order>"#;
    let expected = unexpected(
        "/Order/@id",
        1,
        57,
        "expected attribute \"id\" in no namespace, found attribute \"id\" in namespace \"urn:evil\"",
    );
    assert_eq!(dec(foreign, &s, Some(SHOP)).unwrap_err(), expected);
    let first = r#"<Order xmlns="urn:shop:v1" xmlns:evil="urn:evil" evil:id="2" id="1"><Amount>5.00</Amount></Order>"#;
    let CodecError::Unexpected {
        pointer, message, ..
    } = expected
    else {
        unreachable!()
    };
    assert_eq!(
        dec(first, &s, Some(SHOP)).unwrap_err(),
        unexpected(&pointer, 1, 50, &message)
    );
    // The element's namespace is not the attribute's, even with the same prefix.
    let prefixed = r#"<s:Order xmlns:s="urn:shop:v1" s:id="1"><s:Amount>5</s:Amount></s:Order>"#;
    assert_eq!(
        dec(prefixed, &s, Some(SHOP)).unwrap_err(),
        unexpected(
            "/Order/@id",
            1,
            32,
            "expected attribute \"id\" in no namespace, found attribute \"id\" in namespace \"urn:shop:v1\""
        )
    );
    // A foreign attribute the schema does not name is kept as any unknown one is.
    let other = r#"<Order xmlns="urn:shop:v1" xmlns:x="urn:x" id="1" x:note="n"><Amount>5</Amount></Order>"#;
    assert_eq!(
        dec(other, &s, Some(SHOP)).unwrap(),
        json!({"Order": {"@id": "1", "@note": "n", "Amount": "5"}})
    );
    assert_eq!(
        dec("<Order xmlns='urn:shop:v1' p:id='1'/>", &s, Some(SHOP)).unwrap_err(),
        CodecError::Malformed {
            format: "XML",
            line: 1,
            column: 28,
            message: "unknown namespace prefix \"p\"".into()
        }
    );
}

#[test]
fn an_attribute_in_a_namespace_is_one_its_own_schema_names() {
    let s = shape(json!({"properties": {"R": {
        "type": "object", "xml": {"namespace": "urn:r"},
        "properties": {
            "@lang": {"type": "string", "xml": {"namespace": "urn:l", "prefix": "l"}},
            "@id": {"type": "integer", "xml": {"name": "ident"}},
            "@mode": {"$ref": "#/$defs/Mode"}
        }
    }}, "$defs": {"Mode": {"type": "string", "xml": {"namespace": "urn:r"}}}}));
    let ns = Some("urn:r");
    assert_eq!(
        dec(
            "<R xmlns='urn:r' xmlns:a='urn:l' xmlns:b='urn:r' a:lang='de' ident='7' b:mode='m'/>",
            &s,
            ns
        )
        .unwrap(),
        json!({"R": {"@lang": "de", "@id": 7, "@mode": "m"}})
    );
    assert_eq!(
        dec("<R xmlns='urn:r' lang='de'/>", &s, ns).unwrap_err(),
        unexpected(
            "/R/@lang",
            1,
            18,
            "expected attribute \"lang\" in namespace \"urn:l\", found attribute \"lang\" in no namespace"
        )
    );
    assert_eq!(
        dec("<R xmlns='urn:r' mode='m'/>", &s, ns).unwrap_err(),
        unexpected(
            "/R/@mode",
            1,
            18,
            "expected attribute \"mode\" in namespace \"urn:r\", found attribute \"mode\" in no namespace"
        )
    );
    // `id` is not `ident`, the attribute of member `@id`, and does not pass for it.
    assert_eq!(
        dec("<R xmlns='urn:r' id='7'/>", &s, ns).unwrap_err(),
        unexpected(
            "/R/@id",
            1,
            18,
            "expected attribute \"ident\" in no namespace, found attribute \"id\" in no namespace"
        )
    );
}

#[test]
fn attributes_in_a_namespace_are_written_with_a_prefix_and_read_back() {
    let s = shape(json!({"properties": {"R": {
        "type": "object",
        "properties": {
            "@id": {"type": "string"},
            "@lang": {"type": "string", "xml": {"namespace": "urn:l", "prefix": "l"}},
            "@mode": {"type": "string", "xml": {"namespace": "urn:r"}},
            "C": {"type": "string"}
        }
    }}}));
    let v = json!({"R": {"@id": "1", "@lang": "de", "@mode": "m", "C": "c"}});
    let xml = encode(&v, &s, Some("urn:r")).unwrap();
    assert_eq!(
        String::from_utf8(xml.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"urn:r\" xmlns:l=\"urn:l\" xmlns:ns1=\"urn:r\" id=\"1\" l:lang=\"de\" ns1:mode=\"m\"><C>c</C></R>"
    );
    assert_eq!(reference::encode(&v, &s, Some("urn:r")).unwrap(), xml);
    assert_eq!(
        decode(&xml, &s, Some("urn:r"), &Limits::default()).unwrap(),
        v
    );
}

#[test]
fn namespace_declarations_are_taken_as_written_or_refused() {
    let s = shape(json!({"properties": {"Doc": {"type": "object"}}}));
    for (xml, column, message) in [
        (
            r#"<Doc xmlns="urn&#58;a"/>"#,
            1,
            "a namespace name written with a character or entity reference is not accepted",
        ),
        (
            r#"<Doc xmlns:e="urn:&#1;"/>"#,
            1,
            "a namespace name written with a character or entity reference is not accepted",
        ),
        (
            r#"<Doc xmlns:e="a&amp;b"/>"#,
            1,
            "a namespace name written with a character or entity reference is not accepted",
        ),
        (
            r#"<Doc xmlns:p=""/>"#,
            1,
            "a namespace prefix cannot be bound to an empty name",
        ),
    ] {
        assert_eq!(
            dec(xml, &s, None).unwrap_err(),
            CodecError::Malformed {
                format: "XML",
                line: 1,
                column,
                message: message.into()
            },
            "{xml}"
        );
    }
    assert!(dec(r#"<Doc xmlns=""/>"#, &s, None).is_ok());
}

#[test]
fn one_attribute_spelt_twice_through_two_prefixes_is_refused() {
    let s = shape(
        json!({"properties": {"Doc": {"type": "object", "properties": {
            "@amt": {"type": "string", "xml": {"namespace": "urn:q"}}
        }}}}),
    );
    assert_eq!(
        dec(
            r#"<Doc xmlns:p="urn:q" xmlns:q="urn:q" p:amt="1.00" q:amt="999.00"/>"#,
            &s,
            None
        )
        .unwrap_err(),
        CodecError::Malformed {
            format: "XML",
            line: 1,
            column: 51,
            message: "attribute \"amt\" in namespace \"urn:q\" appears twice in one tag".into()
        }
    );
    // One spelling is the attribute.
    assert_eq!(
        dec(r#"<Doc xmlns:p="urn:q" p:amt="1.00"/>"#, &s, None).unwrap(),
        json!({"Doc": {"@amt": "1.00"}})
    );
}

#[test]
fn attributes_of_the_xml_namespace_keep_their_reserved_prefix() {
    let s = shape(json!({"properties": {"R": {
        "type": "object",
        "properties": {
            "@lang": {"type": "string", "xml": {"namespace": XML_NS, "prefix": "lang"}},
            "C": {"type": "string"}
        }
    }}}));
    let v = json!({"R": {"@lang": "en", "C": "c"}});
    let xml = encode(&v, &s, Some("urn:r")).unwrap();
    assert_eq!(
        String::from_utf8(xml.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"urn:r\" xml:lang=\"en\"><C>c</C></R>"
    );
    assert_eq!(reference::encode(&v, &s, Some("urn:r")).unwrap(), xml);
    assert_eq!(
        decode(&xml, &s, Some("urn:r"), &Limits::default()).unwrap(),
        v
    );
}

#[test]
fn characters_and_declarations_that_are_not_well_formed_are_refused() {
    let s = shape(
        json!({"properties": {"Doc": {"type": "object", "properties": {
            "@a": {"type": "string"}, "Val": {"type": "string"}
        }}}}),
    );
    let check = |xml: &str, line: u32, column: u32, message: &str| {
        assert_eq!(
            dec(xml, &s, None).unwrap_err(),
            CodecError::Malformed {
                format: "XML",
                line,
                column,
                message: message.into()
            },
            "{xml:?}"
        );
    };
    check(
        "<Doc><Val>a\u{1}b</Val></Doc>",
        1,
        12,
        "character U+0001 is not allowed in XML",
    );
    check(
        "<Doc>\n  <Val>\u{ffff}</Val></Doc>",
        2,
        8,
        "character U+FFFF is not allowed in XML",
    );
    check(
        "<Doc a='\u{1b}'/>",
        1,
        9,
        "character U+001B is not allowed in XML",
    );
    check(
        "<Doc a=\"x<y\"/>",
        1,
        10,
        "an attribute value cannot hold '<'",
    );
    let misplaced = "the XML declaration must be at the very start of the document";
    check("  <?xml version=\"1.0\"?><Doc/>", 1, 3, misplaced);
    check("\n<?xml version=\"1.0\"?><Doc/>", 2, 1, misplaced);
    check(
        "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><Doc/>",
        1,
        22,
        misplaced,
    );
    check("<Doc/><?xml version=\"1.0\"?>", 1, 7, misplaced);
    check(
        "<Doc><Val>&#1;</Val></Doc>",
        1,
        11,
        "invalid character reference &#1;",
    );
    check(
        "<Doc><Val>&#xFFFE;</Val></Doc>",
        1,
        11,
        "invalid character reference &#xFFFE;",
    );
    check(
        "<Doc><Val>&#xD800;</Val></Doc>",
        1,
        11,
        "invalid character reference &#xD800;",
    );
    check(
        "<Doc\n  a='&#x1;'/>",
        2,
        3,
        "invalid character reference &#x1;",
    );
    assert_eq!(
        decode(
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?><Doc a='\t\xEF\xBC\x81'/>",
            &s,
            None,
            &Limits::default()
        )
        .unwrap(),
        json!({"Doc": {"@a": " \u{ff01}"}})
    );
}

#[test]
fn errors_about_an_attribute_are_located_at_its_name() {
    let s = shape(
        json!({"properties": {"Doc": {"type": "object", "properties": {
            "@qty": {"type": "integer"}, "@id": {"type": "string"},
            "@lang": {"type": "string", "xml": {"namespace": "urn:l"}}
        }}}}),
    );
    let xml = b"<Doc\n  id=\"a\"\n  qty=\"two\"\n  xmlns:l=\"urn:l\" lang=\"x\" l:lang=\"de\"/>";
    assert_eq!(locate(xml, &s, None, "/Doc/@qty"), Some((3, 3)));
    assert_eq!(locate(xml, &s, None, "/Doc/@id"), Some((2, 3)));
    assert_eq!(locate(xml, &s, None, "/Doc/@lang"), Some((4, 28)));
    assert_eq!(locate(xml, &s, None, "/Doc/@missing"), Some((1, 1)));
    let limits = Limits {
        max_text_bytes: 4,
        ..Limits::default()
    };
    assert_eq!(
        decode(b"<Doc\n  id='a'\n  qty='12345'/>", &s, None, &limits).unwrap_err(),
        CodecError::Limit {
            limit: "text",
            max: 4,
            line: 3,
            column: 3
        }
    );
}

/// The shipped acme order, decoded into a `Value` or into the decoder's own `Doc`, is
/// judged valid by the compiled validator without falling back to `jsonschema`.
#[test]
fn shipped_acme_order_decodes_to_what_the_compiled_validator_accepts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (registry, _) = crate::schema::SchemaRegistry::load_dir(&root.join("schemas")).unwrap();
    let external = registry.get("acme/order.schema.json").unwrap();
    let body = std::fs::read(root.join("tests/fixtures/acme/orders/valid/input.xml")).unwrap();
    let limits = Limits::default();
    let decoded = decode(&body, &external.shape, Some(ACME), &limits).unwrap();
    assert_eq!(external.fast_valid(View::Value(&decoded)), Some(true));
    let doc = decode_doc(&body, &external.shape, Some(ACME), &limits).unwrap();
    assert_eq!(doc.view().to_value(), decoded);
    assert_eq!(external.fast_valid(doc.view()), Some(true));
}

#[test]
fn locate_keeps_namespace_declarations_to_their_element() {
    // `a` is written `<A>` in no namespace; a default namespace declared on an earlier
    // sibling (empty or not) must not reach it, and a prefix declared on an element
    // names the namespace of its own attributes only there.
    let s = root_with(json!({
        "a": {"type": "string", "xml": {"name": "A"}},
        "B": {"type": "object", "properties": {
            "@lang": {"type": "string", "xml": {"namespace": "urn:l"}}
        }}
    }));
    let xml = b"<R>\n<x xmlns=\"urn:p\"/>\n<y xmlns=\"urn:p\"></y>\n<A>1</A>\n\
                <B xmlns:l=\"urn:other\"><i xmlns:l=\"urn:l\"/></B>\n\
                <B xmlns:l=\"urn:l\" l:lang=\"de\"/></R>";
    assert_eq!(
        decode(xml, &s, None, &Limits::default()).unwrap(),
        json!({"R": {"x": "", "y": "", "a": "1", "B": [{"i": ""}, {"@lang": "de"}]}})
    );
    assert_eq!(locate(xml, &s, None, "/R/a"), Some((4, 1)));
    assert_eq!(locate(xml, &s, None, "/R/B/1/@lang"), Some((6, 20)));
    // The first `B` has no attribute that decodes to `@lang`: its element is the answer.
    assert_eq!(locate(xml, &s, None, "/R/B/0/@lang"), Some((5, 1)));
    // A document the scanner cannot read has no position to give.
    assert_eq!(locate(b"<R><A>1</A", &s, None, "/R/B"), None);
}

#[test]
fn text_converts_beside_a_string_only_when_spelled_canonically() {
    let s = root_with(json!({
        "limit": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["unlimited"]}]},
        "n": {"type": ["number", "string"]},
        "b": {"oneOf": [{"type": "boolean"}, {"type": "string", "pattern": "^[a-z]+$"}]},
        "e": {"enum": ["none", 5, true]},
        "@q": {"type": ["integer", "string"]}
    }));
    let read = |field: &str, text: &str| {
        let xml = format!("<R><{field}>{text}</{field}></R>");
        dec(&xml, &s, None).unwrap()["R"][field].clone()
    };
    for (text, value) in [
        ("5", json!(5)),
        ("0", json!(0)),
        ("-12", json!(-12)),
        ("18446744073709551615", json!(18446744073709551615u64)),
        ("unlimited", json!("unlimited")),
        ("007", json!("007")),
        ("+5", json!("+5")),
        ("-0", json!("-0")),
        (" 5", json!(" 5")),
        ("5.0", json!("5.0")),
        ("1e3", json!("1e3")),
        ("99999999999999999999", json!("99999999999999999999")),
    ] {
        assert_eq!(read("limit", text), value, "limit {text:?}");
    }
    for (text, value) in [
        ("5", json!(5)),
        ("0.5", json!(0.5)),
        ("-2.25", json!(-2.25)),
        ("0.001", json!(0.001)),
        ("1e21", json!("1e21")),
        ("5.0", json!("5.0")),
        ("1e3", json!("1e3")),
        ("0.50", json!("0.50")),
        (".5", json!(".5")),
        ("1E21", json!("1E21")),
        ("NaN", json!("NaN")),
    ] {
        assert_eq!(read("n", text), value, "n {text:?}");
    }
    for (text, value) in [
        ("true", json!(true)),
        ("false", json!(false)),
        ("1", json!("1")),
        ("True", json!("True")),
        (" true", json!(" true")),
    ] {
        assert_eq!(read("b", text), value, "b {text:?}");
    }
    assert_eq!(read("e", "5"), json!(5));
    assert_eq!(read("e", "true"), json!(true));
    assert_eq!(read("e", "none"), json!("none"));
    assert_eq!(read("e", ""), json!(""));
    assert_eq!(
        dec("<R q='42'/>", &s, None).unwrap(),
        json!({"R": {"@q": 42}})
    );
}

#[test]
fn locate_finds_start_tags() {
    let s = order_shape();
    let xml = ORDER_XML.as_bytes();
    assert_eq!(locate(xml, &s, Some(ACME), ""), Some((2, 1)));
    assert_eq!(locate(xml, &s, Some(ACME), "/Order"), Some((2, 1)));
    assert_eq!(
        locate(xml, &s, Some(ACME), "/Order/@currency"),
        Some((2, 48))
    );
    assert_eq!(
        locate(xml, &s, Some(ACME), "/Order/Customer/Email"),
        Some((6, 5))
    );
    assert_eq!(
        locate(xml, &s, Some(ACME), "/Order/Items/Item/0"),
        Some((16, 5))
    );
    assert_eq!(
        locate(xml, &s, Some(ACME), "/Order/Items/Item/1/Qty"),
        Some((23, 7))
    );
    assert_eq!(
        locate(xml, &s, Some(ACME), "/Order/Items/Item/2/@line"),
        Some((26, 11))
    );
    assert_eq!(
        locate(xml, &s, Some(ACME), "/Order/Customer/Missing"),
        Some((4, 3))
    );
    let repeated = root_with(json!({"A": {"type": "string"}}));
    assert_eq!(
        locate(b"<R>\n<A>1</A>\n<A>2</A></R>", &repeated, None, "/R/A/1"),
        Some((3, 1))
    );
    assert_eq!(locate(b"not xml", &repeated, None, "/R"), None);
}

#[test]
fn a_long_item_list_decodes_in_document_order() {
    // The item list of the order fixture repeated 200 times: every occurrence is
    // kept, in order, with its conversions.
    let start = ORDER_XML.find("<Item ").unwrap();
    let end = ORDER_XML.rfind("</Item>").unwrap() + "</Item>".len();
    let mut xml = ORDER_XML[..start].to_string();
    for n in 1..=200 {
        xml.push_str(&format!(
            "<Item line=\"{n}\"><Sku>S-{n}</Sku><Qty>{n}</Qty><Price>1.00</Price></Item>\n"
        ));
    }
    xml.push_str(&ORDER_XML[end..]);
    let v = dec(&xml, &order_shape(), Some(ACME)).unwrap();
    let items = v["Order"]["Items"]["Item"].as_array().unwrap();
    assert_eq!(items.len(), 200);
    assert_eq!(
        items[199],
        json!({"@line": 200, "Sku": "S-200", "Qty": 200, "Price": "1.00"})
    );
}

#[test]
fn members_keep_document_order_however_many_and_however_repeated() {
    let s = root_with(json!({"list": {"type": "array", "items": {"type": "integer"}}}));
    // More distinct children than are looked up by scanning, repeats of early and
    // late ones after that, and an array member first met late.
    let mut xml = String::from("<R a='1'>");
    let mut expected = serde_json::Map::new();
    expected.insert("@a".into(), json!("1"));
    for i in 0..40 {
        xml.push_str(&format!("<c{i}>{i}</c{i}>"));
        expected.insert(format!("c{i}"), json!(format!("{i}")));
    }
    xml.push_str("<c0>again</c0><c39><x/></c39><list>1</list><c0>3</c0><list>2</list></R>");
    expected.insert("c0".into(), json!(["0", "again", "3"]));
    expected.insert("c39".into(), json!(["39", {"x": ""}]));
    expected.insert("list".into(), json!([1, 2]));
    assert_eq!(
        dec(&xml, &s, None).unwrap(),
        json!({"R": Value::Object(expected)})
    );
    // The same on both sides of the switch: repeats adjacent and apart.
    let small = "<R><a>1</a><b>2</b><a>3</a><a>4</a><b>5</b></R>";
    assert_eq!(
        dec(small, &s, None).unwrap(),
        json!({"R": {"a": ["1", "3", "4"], "b": ["2", "5"]}})
    );
}

#[test]
fn list_items_with_varying_members_each_keep_their_own() {
    let s = root_with(json!({
        "item": {"type": "array", "items": {"type": "object", "properties": {
            "@n": {"type": "integer"}, "a": {"type": "integer"}, "b": {"type": "string"}, "c": {}
        }}},
        "one": {"type": "object", "properties": {"a": {"type": "integer"}}}
    }));
    let shapes: [&[&str]; 14] = [
        &["a", "b"],
        &["a", "b"],
        &["b", "a"],
        &["a"],
        &["a", "b", "c"],
        &["a", "b"],
        &[],
        &["c"],
        &["a", "x"],
        &["a", "b"],
        &["b"],
        &["c", "b", "a"],
        &["a", "b"],
        &["a", "b"],
    ];
    let mut xml = String::from("<R>");
    let mut items = Vec::new();
    for (i, keys) in shapes.iter().enumerate() {
        xml.push_str(&format!("<item n='{i}'>"));
        let mut item = serde_json::Map::new();
        item.insert("@n".into(), json!(i));
        for k in *keys {
            xml.push_str(&format!("<{k}>{i}</{k}>"));
            let v = if *k == "a" {
                json!(i)
            } else {
                json!(i.to_string())
            };
            item.insert((*k).into(), v);
        }
        xml.push_str("</item>");
        items.push(Value::Object(item));
        xml.push_str(&format!("<one><a>{i}</a></one>"));
    }
    xml.push_str("</R>");
    let ones: Vec<Value> = (0..shapes.len()).map(|i| json!({"a": i})).collect();
    assert_eq!(
        dec(&xml, &s, None).unwrap(),
        json!({"R": {"item": items, "one": ones}})
    );
}

#[test]
fn children_out_of_schema_order_and_unknown_between_known() {
    let s = root_with(json!({
        "a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "integer"},
        "d": {"type": "array", "items": {"type": "integer"}}
    }));
    let xml = "<R><c>3</c><x>u</x><a>1</a><y><a>2</a></y><d>4</d><b>t</b><z/><d>5</d></R>";
    assert_eq!(
        dec(xml, &s, None).unwrap(),
        json!({"R": {"c": 3, "x": "u", "a": 1, "y": {"a": "2"}, "d": [4, 5], "b": "t", "z": ""}})
    );
    // In order, out of order, then in order again, element after element.
    let xml = "<R><a>1</a><b>x</b><c>2</c><R><b>y</b><a>3</a></R><a>4</a><c>5</c></R>";
    assert_eq!(
        dec(xml, &s, None).unwrap(),
        json!({"R": {"a": [1, 4], "b": "x", "c": [2, 5], "R": {"b": "y", "a": "3"}}})
    );
}

#[test]
fn a_repeated_element_after_others_becomes_an_array_in_its_first_place() {
    let s = root_with(json!({"a": {"type": "integer"}, "b": {"type": "integer"}}));
    assert_eq!(
        dec("<R><a/><b/><a/></R>", &s, None).unwrap(),
        json!({"R": {"a": ["", ""], "b": ""}})
    );
    assert_eq!(
        dec("<R><a>1</a><b>2</b><a>3</a><b>4</b><a>5</a></R>", &s, None).unwrap(),
        json!({"R": {"a": [1, 3, 5], "b": [2, 4]}})
    );
}

#[test]
fn an_attribute_and_a_child_element_with_one_local_name_stay_apart() {
    let s = root_with(json!({
        "@id": {"type": "integer"}, "id": {"type": "string"}, "n": {"type": "integer"}
    }));
    assert_eq!(
        dec("<R id='1'><id>2</id><n>3</n><id>4</id></R>", &s, None).unwrap(),
        json!({"R": {"@id": 1, "id": ["2", "4"], "n": 3}})
    );
    // Unknown to the schema, on an element it does not describe.
    assert_eq!(
        dec("<R><e k='1'><k>2</k><k>3</k></e></R>", &s, None).unwrap(),
        json!({"R": {"e": {"@k": "1", "k": ["2", "3"]}}})
    );
}

#[test]
fn elements_repeated_past_the_member_list_keep_their_place() {
    let s = root_with(json!({"a": {"type": "integer"}, "b": {"type": "integer"}}));
    let mut xml = String::from("<R><a>0</a><b>0</b>");
    let mut expected = serde_json::Map::new();
    expected.insert("a".into(), json!([0]));
    expected.insert("b".into(), json!([0]));
    for i in 0..MAX_LISTED_MEMBERS + 8 {
        xml.push_str(&format!("<u{i}>{i}</u{i}>"));
        expected.insert(format!("u{i}"), json!(i.to_string()));
    }
    for i in 1..4 {
        xml.push_str(&format!("<a>{i}</a><b>{i}</b>"));
        for k in ["a", "b"] {
            if let Some(Value::Array(seen)) = expected.get_mut(k) {
                seen.push(json!(i));
            }
        }
    }
    xml.push_str("<u3>again</u3></R>");
    expected.insert("u3".into(), json!(["3", "again"]));
    assert_eq!(
        dec(&xml, &s, None).unwrap(),
        json!({"R": Value::Object(expected)})
    );
}

#[test]
fn the_first_entry_of_a_union_wins_whatever_came_before() {
    // Both alternatives describe `b`; the first says it is a string.
    let s = shape(json!({"properties": {"R": {"anyOf": [
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}},
        {"type": "object", "properties": {"b": {"type": "integer"}, "c": {"type": "integer"}}}
    ]}}}));
    assert_eq!(
        dec("<R><a>1</a><b>2</b><b>3</b><c>4</c><b>5</b></R>", &s, None).unwrap(),
        json!({"R": {"a": 1, "b": ["2", "3", "5"], "c": 4}})
    );
    // `additionalProperties` takes any name, but only the schema's own ones first.
    let s = root_with(json!({"a": {"type": "integer"}}));
    let open = shape(json!({"properties": {"R": {"type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": {"type": "integer"}}}}));
    let xml = "<R><x>1</x><a>2</a><a>3</a><y>4</y></R>";
    assert_eq!(
        dec(xml, &open, None).unwrap(),
        json!({"R": {"x": 1, "a": [2, 3], "y": 4}})
    );
    assert_eq!(
        dec(xml, &s, None).unwrap(),
        json!({"R": {"x": "1", "a": [2, 3], "y": "4"}})
    );
}

#[test]
fn whitespace_between_tags_is_dropped_and_kept_where_it_is_the_value() {
    let s = root_with(json!({"a": {"type": "string"}, "b": {"type": "integer"}}));
    let deep = format!("\n{}", " ".repeat(40));
    let xml = format!(
        "<R>{deep}<a>  </a>{deep}<b> 7 </b>{deep}<c>{deep}</c>{deep}<d>\t<e/>x \n<e/>{deep}</d>{deep}</R>"
    );
    assert_eq!(
        dec(&xml, &s, None).unwrap(),
        json!({"R": {"a": "  ", "b": 7, "c": deep, "d": {"e": ["", ""], "#text": "x \n"}}})
    );
    // Whitespace split by a reference or a comment is one text.
    let xml = "<R><a> &#32; </a><c> <!-- k --> </c></R>";
    assert_eq!(
        dec(xml, &s, None).unwrap(),
        json!({"R": {"a": "   ", "c": "  "}})
    );
    // Line ends normalised in whitespace too.
    assert_eq!(
        dec("<R>\r\n <a>\r\n</a>\r\n</R>", &s, None).unwrap(),
        json!({"R": {"a": "\n"}})
    );
}

#[test]
fn default_namespace_changes_apply_to_their_scope_only() {
    let s = shape(
        json!({"properties": {"R": {"type": "object", "properties": {
            "a": {"type": "integer"},
            "b": {"type": "object", "xml": {"namespace": "urn:b"},
                  "properties": {"c": {"type": "integer"}}}
        }}}}),
    );
    let xml = "<R xmlns='urn:r'><a>1</a><b xmlns='urn:b'><c>2</c></b><a>3</a><p:a xmlns:p='urn:r'>4</p:a><d xmlns=''>5</d></R>";
    assert_eq!(
        dec(xml, &s, Some("urn:r")).unwrap(),
        json!({"R": {"a": [1, 3, 4], "b": {"c": 2}, "d": "5"}})
    );
    let undeclared = "<R xmlns='urn:r'><a>1</a><a xmlns=''>5</a></R>";
    assert_eq!(
        dec(undeclared, &s, Some("urn:r")).unwrap_err(),
        CodecError::Unexpected {
            pointer: "/R/a".into(),
            line: 1,
            column: 26,
            message: "expected <a> in namespace \"urn:r\", found <a> in no namespace".into()
        }
    );
}

#[test]
fn attributes_sharing_a_local_name_keep_the_first_place_and_last_value() {
    let s = root_with(json!({}));
    let xml = r#"<R xmlns:p="urn:p" xmlns:q="urn:q"><e p:x="1" y="2" q:x="3">t</e><n xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true" a="1"><c>1</c></n><f/></R>"#;
    assert_eq!(
        dec(xml, &s, None).unwrap(),
        json!({"R": {"e": {"@x": "3", "@y": "2", "#text": "t"}, "n": null, "f": ""}})
    );
    let many: String = (0..40).map(|i| format!(" a{i}='{i}'")).collect();
    let xml = format!("<R><e{many} p:a3='x' xmlns:p='urn:p'><c/></e></R>");
    let v = dec(&xml, &s, None).unwrap();
    let e = v["R"]["e"].as_object().unwrap();
    assert_eq!(e.len(), 41);
    assert_eq!(e.keys().nth(3).map(String::as_str), Some("@a3"));
    assert_eq!(e["@a3"], json!("x"));
    assert_eq!(e.keys().next_back().map(String::as_str), Some("c"));
}

/// The schema walk the decoder once did for every element and attribute, kept as the
/// definition the shape's precomputed lists must agree with.
mod walk {
    use super::*;
    use crate::schema::xml_plan::element_name;

    const DEPTH: usize = 16;

    fn member(shape: &Shape, key: String, member: NodeId) -> (String, Option<NodeId>, bool) {
        let array = shape.is_array(member);
        let element = if array {
            shape.items(member)
        } else {
            Some(member)
        };
        (key, element, array)
    }

    pub fn element(
        shape: &Shape,
        id: NodeId,
        local: &str,
        ns: Option<&str>,
        route_ns: Option<&str>,
        depth: usize,
    ) -> Option<(String, Option<NodeId>, bool)> {
        let node = shape.nodes.get(id as usize)?;
        for (k, &p) in &node.properties {
            if k.starts_with('@') || k == "#text" {
                continue;
            }
            let n = shape.node(p);
            let (l, n_ns) = if n.xml.name.is_some() || (n.items.is_none() && n.union.is_empty()) {
                (
                    n.xml.name.as_deref().unwrap_or(k),
                    n.xml.namespace.as_deref(),
                )
            } else {
                element_name(shape, k, p)
            };
            if l == local && n_ns.or(route_ns) == ns {
                return Some(member(shape, k.clone(), p));
            }
        }
        if depth < DEPTH {
            for &alt in &node.union {
                if let Some(m) = element(shape, alt, local, ns, route_ns, depth + 1) {
                    return Some(m);
                }
            }
        }
        if let Additional::Schema(a) = node.additional
            && shape.node(a).xml.namespace.as_deref().or(route_ns) == ns
        {
            return Some(member(shape, local.to_string(), a));
        }
        None
    }

    pub fn attribute(
        shape: &Shape,
        id: NodeId,
        ns: Option<&str>,
        local: &str,
        depth: usize,
    ) -> Option<(String, NodeId)> {
        let node = shape.nodes.get(id as usize)?;
        for (k, &p) in &node.properties {
            if let Some(bare) = k.strip_prefix('@') {
                let meta = &shape.node(p).xml;
                let name = meta.name.as_deref().unwrap_or(bare);
                let own = if meta.namespace_given {
                    meta.namespace.as_deref()
                } else {
                    None
                };
                if name == local && own == ns {
                    return Some((k.clone(), p));
                }
            }
        }
        if depth < DEPTH {
            for &alt in &node.union {
                if let Some(found) = attribute(shape, alt, ns, local, depth + 1) {
                    return Some(found);
                }
            }
        }
        None
    }
}

#[test]
fn precomputed_lookups_agree_with_the_schema_walk() {
    let schemas = [
        serde_json::from_str(ORDER_SCHEMA).unwrap(),
        json!({
            "$defs": {
                "Node": {"anyOf": [
                    {"$ref": "#/$defs/Node"},
                    {"$ref": "#/$defs/Node"},
                    {"properties": {"a": {"type": "string"}, "@x": {"type": "integer"}}},
                    {"properties": {"a": {"type": "integer", "xml": {"name": "A2"}}}},
                    {"additionalProperties": {"type": "integer", "xml": {"namespace": "urn:add"}}}
                ]}
            },
            "properties": {"Root": {"$ref": "#/$defs/Node"}}
        }),
        json!({
            "properties": {"R": {
                "xml": {"namespace": "urn:r"},
                "properties": {
                    "list": {"type": "array", "items": {"type": "integer", "xml": {"name": "entry", "namespace": "urn:i"}}},
                    "named": {"type": "array", "xml": {"name": "Named"}, "items": {"xml": {"name": "ignored", "namespace": "urn:i"}}},
                    "u": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"xml": {"name": "uitem"}}}]},
                    "plain": {"items": {"type": "string"}},
                    "other": {"type": "string", "xml": {"namespace": "urn:o", "name": "Other"}},
                    "@k": {"type": "boolean", "xml": {"name": "kk"}},
                    "@k2": {"type": "string", "xml": {"name": "kk"}},
                    "@k3": {"type": "string", "xml": {"name": "kk", "namespace": "urn:i"}},
                    "@k4": {"type": "string", "xml": {"namespace": "urn:r"}},
                    "#text": {"type": "number"}
                },
                "anyOf": [
                    {"properties": {"list": {"type": "string"}, "extra": {"type": "number"}, "@z": {}}},
                    {"additionalProperties": {"type": "boolean"}}
                ],
                "additionalProperties": {"type": "string", "xml": {"namespace": "urn:late"}}
            }}
        }),
    ];
    for schema in schemas {
        let s = shape(schema);
        let mut locals: Vec<String> = vec!["zzz".into(), "Item".into()];
        let mut namespaces: Vec<Option<String>> = vec![None, Some("urn:route".into())];
        for node in &s.nodes {
            for k in node.properties.keys() {
                locals.push(k.trim_start_matches('@').to_string());
            }
            locals.extend(node.xml.name.clone());
            namespaces.push(node.xml.namespace.clone());
        }
        for id in 0..s.nodes.len() as NodeId {
            for local in &locals {
                for ns in &namespaces {
                    assert_eq!(
                        s.xml_attribute(id, ns.as_deref(), local)
                            .map(|(k, p)| (k.to_string(), p)),
                        walk::attribute(&s, id, ns.as_deref(), local, 0),
                        "attribute {local} in {ns:?} of node {id}"
                    );
                    for route in &namespaces {
                        let name = ElementName {
                            ns: ns.as_deref(),
                            local,
                            route: ns == route,
                        };
                        let found = find_element(&s, id, &name)
                            .map(|m| (m.key.into_owned(), m.element, m.array));
                        assert_eq!(
                            found,
                            walk::element(&s, id, local, ns.as_deref(), route.as_deref(), 0),
                            "element {local} in {ns:?} (route {route:?}) of node {id}"
                        );
                    }
                }
            }
            assert_eq!(s.xml_types(id), s.scalar_types(id));
            assert_eq!(s.xml_text(id), s.property(id, "#text"));
        }
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip_shape() -> Shape {
        shape(json!({"properties": {"Doc": {
            "type": "object",
            "properties": {
                "@id": {"type": "string"},
                "@n": {"type": "integer"},
                "name": {"type": "string"},
                "count": {"type": "integer"},
                "ratio": {"type": "number"},
                "ok": {"type": "boolean"},
                "maybe": {"type": ["integer", "null"]},
                "lines": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"@no": {"type": "integer"}, "sku": {"type": "string"}, "qty": {"type": "integer"}}
                }},
                "money": {"type": "object", "properties": {"@cur": {"type": "string"}, "#text": {"type": "string"}}}
            }
        }}}))
    }

    /// Unions, additional properties, foreign namespaces and renamed items: what the
    /// encoder looks up besides plain properties.
    fn union_shape() -> Shape {
        shape(json!({"properties": {"Doc": {
            "type": "object",
            "properties": {"@a": {"type": "string", "xml": {"name": "aa"}}, "b": {"type": "integer"}},
            "anyOf": [
                {"properties": {"c": {"type": "array", "items": {"type": "string", "xml": {"name": "C", "namespace": "urn:c"}}}}},
                {"properties": {"b": {"type": "string"}, "d": {"type": "object", "xml": {"namespace": "urn:d", "prefix": "d"}, "properties": {"e": {"type": "string"}}}},
                 "additionalProperties": {"type": "object", "xml": {"prefix": "ns1", "namespace": "urn:x"}}}
            ],
            "additionalProperties": {"type": "string", "xml": {"name": "Other"}}
        }}}))
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let key = proptest::sample::select(vec![
            "@a",
            "@z",
            "b",
            "c",
            "d",
            "e",
            "#text",
            "x",
            "bad name",
            "@bad name",
            "1",
            "",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            (-1.0e3f64..1.0e3).prop_map(|f| json!(f)),
            "[ -~\u{1}\u{fffe}\u{e9}]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..6).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    fn text() -> impl Strategy<Value = String> {
        "[ -~\t\n\r\u{e9}\u{4e2d}\u{1F600}]{0,12}"
    }

    fn line() -> impl Strategy<Value = Value> {
        (any::<u32>(), text(), any::<i64>())
            .prop_map(|(no, sku, qty)| json!({"@no": no, "sku": sku, "qty": qty}))
    }

    fn doc() -> impl Strategy<Value = Value> {
        (
            text(),
            any::<i32>(),
            text(),
            any::<i64>(),
            (-1.0e12f64..1.0e12).prop_filter("fraction", |f| f.fract() != 0.0),
            any::<bool>(),
            proptest::option::of(any::<i16>()),
            proptest::collection::vec(line(), 0..4),
            ("[A-Z]{3}", "[0-9]{1,6}\\.[0-9]{2}"),
        )
            .prop_map(
                |(id, n, name, count, ratio, ok, maybe, lines, (cur, amount))| {
                    let mut doc = json!({
                        "@id": id, "@n": n, "name": name, "count": count, "ratio": ratio, "ok": ok,
                        "maybe": maybe, "money": {"@cur": cur, "#text": amount}
                    });
                    if !lines.is_empty() {
                        doc["lines"] = Value::Array(lines);
                    }
                    json!({"Doc": doc})
                },
            )
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let s = roundtrip_shape();
            let _ = decode(&bytes, &s, None, &Limits::default());
            let _ = locate(&bytes, &s, None, "/Doc/lines/0/sku");
        }

        #[test]
        fn decode_never_panics_on_xmlish_text(text in "[<>/a-c=\"' &;#x0-9!\\[\\]CDATA?-]{0,200}") {
            let s = roundtrip_shape();
            let _ = decode(text.as_bytes(), &s, None, &Limits::default());
        }

        #[test]
        fn encode_view_matches_the_reference(v in doc(), ns in proptest::option::of("urn:[a-c]")) {
            let s = roundtrip_shape();
            enc_all(&v, &s, ns.as_deref()).unwrap();
        }

        #[test]
        fn encode_view_matches_the_reference_on_any_value(v in any_value()) {
            let s = union_shape();
            let _ = enc_all(&json!({"Doc": v}), &s, Some("urn:p"));
        }

        #[test]
        fn decode_inverts_encode(v in doc()) {
            let s = roundtrip_shape();
            let bytes = encode(&v, &s, Some("urn:p")).unwrap();
            let back = decode(&bytes, &s, Some("urn:p"), &Limits::default()).unwrap();
            prop_assert_eq!(back, v);
        }
    }
}
