//! The envelope around a document (a SOAP `Envelope` with its `Header` and `Body`), read
//! with the codec's one scanner: where the Body's element is, which header entries there
//! are, and the namespace declarations in scope at each, so each is then decoded in place
//! as a [`Fragment`]. What the elements mean (versions, actions, faults) is
//! [`crate::soap`]'s business.
//!
//! Only the envelope's own tags are tokenised here: the Body's element is found by its
//! start, and its end by reading the envelope's two end tags back from the end of the
//! document, so the partner's document is scanned once, by the decoder. A document whose
//! end is not that plain (a comment after the envelope, say) is scanned forward instead.

use super::*;

/// One entry of the envelope's `Header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEntry<'a> {
    pub ns: Option<&'a str>,
    pub local: &'a str,
    pub fragment: Fragment<'a>,
}

/// The parts of an envelope, as fragments of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub headers: Vec<HeaderEntry<'a>>,
    /// The Body's one element.
    pub body: Fragment<'a>,
}

/// Why a document is not the envelope expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The document is not well-formed XML (or breaks a limit).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The root is an `Envelope` in another namespace: another version of the protocol.
    #[error(
        "the envelope is {found}, not an <Envelope> in namespace \"{expected}\", at line {line}, column {column}"
    )]
    Version {
        expected: String,
        found: String,
        line: u32,
        column: u32,
    },
    /// The envelope's own structure is wrong (no Body, two elements in it, text).
    #[error("{message} at line {line}, column {column}")]
    Structure {
        message: String,
        line: u32,
        column: u32,
    },
}

/// Where the reading of the envelope stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the root element.
    Prolog,
    /// Inside the Envelope, before or between Header and Body.
    Envelope,
    /// Inside the Header, between its entries.
    Header,
    /// Inside the Body, before its element.
    Body,
    /// Inside the Body, after its element.
    AfterBody,
    /// After the Envelope's end tag.
    Epilog,
}

/// Reads the envelope of `source` whose elements are in namespace `ns` (matched by URI,
/// whatever the prefix).
pub fn envelope<'a>(
    source: &'a Source<'a>,
    ns: &str,
    limits: &'a Limits,
) -> Result<Envelope<'a>, EnvelopeError> {
    let whole = source.whole();
    let text = source.part(&whole)?;
    let bom = whole.range.start;
    let decoder = Decoder {
        input: source.text.as_bytes(),
        text,
        bom,
        encoding: source.encoding,
        shape: any_shape(),
        route_ns: None,
        limits,
        scope: &[],
    };
    let structure = |at: usize, message: String| {
        let (line, column) = decoder.pos(at);
        EnvelopeError::Structure {
            message,
            line,
            column,
        }
    };
    let mut scanner = Scanner::new(text, limits.max_attributes);
    let mut bindings: Vec<Binding<'a>> = Vec::new();
    // `bindings.len()` when the Envelope, Header and Body started.
    let mut marks: Vec<usize> = Vec::new();
    let mut place = Place::Prolog;
    // The qualified names of the Envelope, the Body and the Header as written.
    let mut qnames: [&'a str; 3] = ["", "", ""];
    let mut headers = Vec::new();
    let mut seen_header = false;
    let mut body: Option<Fragment<'a>> = None;
    loop {
        let at = scanner.position();
        let token = scanner.next().map_err(|e| decoder.scan_error(e))?;
        match token {
            Token::Decl if at == 0 => decoder.declaration(scanner.attributes(), at)?,
            Token::Decl => {
                return Err(decoder
                    .malformed(
                        at,
                        "the XML declaration must be at the very start of the document",
                    )
                    .into());
            }
            Token::DocType => {
                return Err(decoder
                    .forbidden(
                        at,
                        "a document type declaration (<!DOCTYPE>) is not allowed",
                    )
                    .into());
            }
            Token::Comment | Token::Pi | Token::Space(_) => {}
            Token::Text { text: t, .. } if is_blank(t) => {}
            Token::Text { .. } | Token::CData(_) | Token::Ref(_) => {
                return Err(structure(
                    at,
                    "the envelope holds text outside its elements".into(),
                ));
            }
            Token::Start { name, empty } => {
                let mark = bindings.len();
                decoder.bind(scanner.attributes(), &mut bindings, at)?;
                let (ens, local) = element_name(&decoder, &bindings, name, at)?;
                let ours = ens == Some(ns);
                match place {
                    Place::Prolog => {
                        if local != "Envelope" {
                            return Err(structure(
                                at,
                                format!(
                                    "expected a SOAP <Envelope>, found {}",
                                    describe(local, ens)
                                ),
                            ));
                        }
                        if !ours {
                            let (line, column) = decoder.pos(at);
                            return Err(EnvelopeError::Version {
                                expected: ns.to_string(),
                                found: describe(local, ens),
                                line,
                                column,
                            });
                        }
                        if empty {
                            return Err(structure(at, "the envelope has no Body".into()));
                        }
                        qnames[0] = name;
                        marks.push(mark);
                        place = Place::Envelope;
                    }
                    Place::Envelope
                        if ours && local == "Header" && !seen_header && body.is_none() =>
                    {
                        seen_header = true;
                        qnames[2] = name;
                        if !empty {
                            marks.push(mark);
                            place = Place::Header;
                        } else {
                            bindings.truncate(mark);
                        }
                    }
                    Place::Envelope if ours && local == "Body" && body.is_none() => {
                        if empty {
                            return Err(structure(at, "the SOAP Body is empty".into()));
                        }
                        qnames[1] = name;
                        marks.push(mark);
                        place = Place::Body;
                    }
                    Place::Envelope => {
                        return Err(structure(
                            at,
                            format!(
                                "unexpected {} in the envelope (expected Header, then Body)",
                                describe(local, ens)
                            ),
                        ));
                    }
                    Place::Header => {
                        // The entry's own declarations are in its text.
                        bindings.truncate(mark);
                        let end = skip_element(&decoder, &mut scanner, name, empty)?;
                        headers.push(HeaderEntry {
                            ns: ens,
                            local,
                            fragment: fragment(&bindings, bom, at, end),
                        });
                        if headers.len() > limits.max_elements {
                            return Err(decoder.limit(at, "elements", limits.max_elements).into());
                        }
                    }
                    Place::Body => {
                        bindings.truncate(mark);
                        let scope: Vec<(&'a str, &'a str)> =
                            bindings.iter().map(|b| (b.prefix, b.uri)).collect();
                        // The usual document ends with the two end tags: the element's end
                        // is found without reading it.
                        if let Some(end) = tail_start(text, [qnames[0], qnames[1]]) {
                            if end <= at {
                                return Err(structure(at, "the SOAP Body is empty".into()));
                            }
                            return Ok(Envelope {
                                headers,
                                body: Fragment {
                                    range: bom + at..bom + end,
                                    scope,
                                },
                            });
                        }
                        let end = skip_element(&decoder, &mut scanner, name, empty)?;
                        body = Some(Fragment {
                            range: bom + at..bom + end,
                            scope,
                        });
                        place = Place::AfterBody;
                    }
                    Place::AfterBody => {
                        return Err(structure(
                            at,
                            format!(
                                "the SOAP Body holds a second element, {}; one is expected",
                                describe(local, ens)
                            ),
                        ));
                    }
                    Place::Epilog => {
                        return Err(decoder
                            .malformed(at, "content after the root element")
                            .into());
                    }
                }
            }
            Token::End { name } => {
                let (expected, next) = match place {
                    Place::Envelope => (qnames[0], Place::Epilog),
                    Place::AfterBody => (qnames[1], Place::Envelope),
                    Place::Header => (qnames[2], Place::Envelope),
                    Place::Body => {
                        return Err(structure(at, "the SOAP Body is empty".into()));
                    }
                    Place::Prolog | Place::Epilog => {
                        return Err(decoder
                            .malformed(at, "closing tag without an opening tag")
                            .into());
                    }
                };
                if name != expected {
                    return Err(decoder
                        .malformed(
                            at,
                            format!("closing tag </{name}> does not match the open element"),
                        )
                        .into());
                }
                if let Some(mark) = marks.pop() {
                    bindings.truncate(mark);
                }
                place = next;
            }
            Token::Eof => {
                return match (place, body) {
                    (Place::Epilog, Some(body)) => Ok(Envelope { headers, body }),
                    (Place::Epilog, None) => Err(structure(at, "the envelope has no Body".into())),
                    (Place::Prolog, _) => Err(decoder
                        .malformed(at, "the document has no root element")
                        .into()),
                    _ => Err(decoder
                        .malformed(at, "the document ends inside an element")
                        .into()),
                };
            }
        }
    }
}

/// The namespace and local name of element `qname`.
fn element_name<'a>(
    decoder: &Decoder<'a>,
    bindings: &[Binding<'a>],
    qname: &'a str,
    at: usize,
) -> Result<(Option<&'a str>, &'a str), CodecError> {
    match split_qname(qname) {
        None => Ok((lookup(bindings, ""), qname)),
        Some((prefix, local)) => match lookup(bindings, prefix) {
            Some(ns) if !prefix.is_empty() => Ok((Some(ns), local)),
            _ => Err(decoder.malformed(at, format!("unknown namespace prefix \"{prefix}\""))),
        },
    }
}

/// A fragment from `start` to `end` of the text (after a byte-order mark of `bom` bytes),
/// with the declarations of `bindings` around it.
fn fragment<'a>(bindings: &[Binding<'a>], bom: usize, start: usize, end: usize) -> Fragment<'a> {
    Fragment {
        range: bom + start..bom + end,
        scope: bindings.iter().map(|b| (b.prefix, b.uri)).collect(),
    }
}

/// Reads past the element whose start tag `name` the scanner just read, returning the
/// offset after its end tag. Its content is only tokenised (the decoder reads it again,
/// as a fragment); start and end tags are paired.
fn skip_element<'a>(
    decoder: &Decoder<'a>,
    scanner: &mut Scanner<'a>,
    name: &'a str,
    empty: bool,
) -> Result<usize, CodecError> {
    if empty {
        return Ok(scanner.position());
    }
    let mut open: Vec<&'a str> = vec![name];
    loop {
        let at = scanner.position();
        match scanner.next().map_err(|e| decoder.scan_error(e))? {
            Token::Start { name, empty: false } => {
                if open.len() >= decoder.limits.max_depth {
                    return Err(decoder.limit(at, "depth", decoder.limits.max_depth));
                }
                open.push(name);
            }
            Token::End { name } => {
                if open.pop() != Some(name) {
                    return Err(decoder.malformed(
                        at,
                        format!("closing tag </{name}> does not match the open element"),
                    ));
                }
                if open.is_empty() {
                    return Ok(scanner.position());
                }
            }
            Token::Eof => {
                return Err(decoder.malformed(at, "the document ends inside an element"));
            }
            _ => {}
        }
    }
}

/// Where the document's last two end tags, `</Body>` then `</Envelope>` (as `qnames`
/// spells them) with only whitespace around them, start: the end of the Body's content.
/// None when the document ends otherwise.
fn tail_start(text: &str, qnames: [&str; 2]) -> Option<usize> {
    let mut rest = text.trim_end_matches(|c: char| is_xml_ws_byte(c as u8) && c.is_ascii());
    for qname in [qnames[0], qnames[1]] {
        rest = rest.strip_suffix('>')?;
        rest = rest.trim_end_matches(|c: char| c.is_ascii() && is_xml_ws_byte(c as u8));
        rest = rest.strip_suffix(qname)?.strip_suffix("</")?;
        rest = rest.trim_end_matches(|c: char| c.is_ascii() && is_xml_ws_byte(c as u8));
    }
    Some(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

    static LIMITS: Limits = Limits {
        max_depth: 64,
        max_elements: 1000,
        max_attributes: 16,
        max_text_bytes: 1 << 20,
        max_name_bytes: 1024,
    };

    /// Why `doc` is not a SOAP 1.1 envelope.
    fn refusal(doc: &str) -> EnvelopeError {
        let source = Source::read(doc.as_bytes()).unwrap();
        envelope(&source, SOAP11, &LIMITS).unwrap_err()
    }

    #[test]
    fn finds_the_body_element_and_header_entries_with_their_scope() {
        let doc = "<?xml version=\"1.0\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:b=\"urn:b\">\n <SOAP-ENV:Header><b:Tx>42</b:Tx><Plain/></SOAP-ENV:Header>\n <SOAP-ENV:Body><b:Book><b:Id>1</b:Id></b:Book></SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n";
        let source = Source::read(doc.as_bytes()).unwrap();
        let env = envelope(&source, SOAP11, &LIMITS).unwrap();
        assert_eq!(
            &doc[env.body.range.clone()],
            "<b:Book><b:Id>1</b:Id></b:Book>"
        );
        assert_eq!(env.body.scope, vec![("SOAP-ENV", SOAP11), ("b", "urn:b")]);
        let names: Vec<_> = env.headers.iter().map(|h| (h.ns, h.local)).collect();
        assert_eq!(names, vec![(Some("urn:b"), "Tx"), (None, "Plain")]);
        assert_eq!(
            &doc[env.headers[0].fragment.range.clone()],
            "<b:Tx>42</b:Tx>"
        );
        assert_eq!(&doc[env.headers[1].fragment.range.clone()], "<Plain/>");
    }

    #[test]
    fn a_default_namespace_envelope_and_an_unusual_end_are_read_forward() {
        let doc = "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body><x:A xmlns:x=\"urn:a\"/></Body></Envelope><!-- end -->";
        let source = Source::read(doc.as_bytes()).unwrap();
        let env = envelope(&source, SOAP11, &LIMITS).unwrap();
        assert_eq!(&doc[env.body.range.clone()], "<x:A xmlns:x=\"urn:a\"/>");
        assert_eq!(env.body.scope, vec![("", SOAP11)]);
    }

    #[test]
    fn wrong_envelopes_are_named() {
        let e = refusal(
            "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>",
        );
        assert_eq!(
            e.to_string(),
            "the envelope is <Envelope> in namespace \"http://www.w3.org/2003/05/soap-envelope\", not an <Envelope> in namespace \"http://schemas.xmlsoap.org/soap/envelope/\", at line 1, column 1"
        );
        let e = refusal("<Order/>");
        assert_eq!(
            e.to_string(),
            "expected a SOAP <Envelope>, found <Order> in no namespace at line 1, column 1"
        );
        let e = refusal(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body></s:Body></s:Envelope>",
        );
        assert_eq!(e.to_string(), "the SOAP Body is empty at line 1, column 73");
        let e = refusal(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><a/><b/></s:Body></s:Envelope><!---->",
        );
        assert_eq!(
            e.to_string(),
            "the SOAP Body holds a second element, <b> in no namespace; one is expected at line 1, column 77"
        );
        let e = refusal(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/></s:Envelope>",
        );
        assert_eq!(
            e.to_string(),
            "the envelope has no Body at line 1, column 89"
        );
    }
}
