//! Whether a produced field can still be left out, and why: the analysis behind a
//! required target property that "may be omitted".
//!
//! A field is left out when its source is missing and the rule has neither `default` nor
//! `on_missing` other than `omit`; that, for a required target, is an error
//! (`optional-into-required`) when a schema states the source's absence: the mapped body
//! would break the target schema. A source whose absence nothing states (a query
//! parameter, a claim, a member of an answer with no schema) stays a warning. Other
//! reasons (a `when` condition, a null source with `on_null: omit`) depend on what the
//! rule means to do and stay warnings. A nested target object with no member is not
//! written at all, so a required member inside an optional object is no error when every
//! member of that object reads below the same optional part of the source: when that part
//! is absent the object goes with it, and when it is present so is the member.

use super::*;

/// The part of a source path whose absence is the absence of the path: the path up to
/// and including its last optional step (the steps after it are required, so they are
/// there whenever it is).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Point {
    root: Root,
    segments: Vec<String>,
}

impl Point {
    /// Whether `p` is missing whenever this point is (it reads at or below it).
    fn covers(&self, p: &SourcePath) -> bool {
        p.root == self.root && p.segments.starts_with(&self.segments)
    }
}

/// How a field may be left out; both parts empty when it is always written.
#[derive(Debug, Default)]
pub(super) struct Omission {
    /// Left out when a source is missing: why, and the point whose absence does it (None
    /// when no single point does, e.g. two optional sources).
    pub(super) missing: Option<(String, Option<Point>)>,
    /// Left out for a reason the rule states (`when`, `on_null: omit`).
    pub(super) other: Option<String>,
}

impl Omission {
    pub(super) fn never(&self) -> bool {
        self.missing.is_none() && self.other.is_none()
    }
}

/// Whether `node` writes nothing whenever `point` is missing: every source it could write
/// from reads below the point, with nothing (`default`, `on_missing`, a constant) to
/// stand in for it.
pub(super) fn vanishes_without(node: &Node, point: &Point) -> bool {
    let omits = |a: &Absence| a.default.is_none() && a.on_missing == OnMissing::Omit;
    match node {
        Node::Object(children) => children.iter().all(|c| vanishes_without(&c.node, point)),
        Node::Value(rule) => {
            omits(&rule.absence)
                && match &rule.source {
                    Source::Const(_) => false,
                    Source::Path(p) => point.covers(p),
                    Source::Template(parts) => parts
                        .iter()
                        .any(|part| matches!(part, TemplatePart::Path(p) if point.covers(p))),
                }
        }
        Node::Each(rule) => omits(&rule.absence) && point.covers(&rule.source),
        Node::Choice(c) => {
            c.default.is_none() && c.branches.iter().all(|b| vanishes_without(&b.node, point))
        }
    }
}

impl<'a> Checker<'a> {
    /// Reports a required target property whose rule may leave it out. `siblings` are the
    /// fields of the object it is a member of, when that object is left out once it has no
    /// member (a nested map; not the document, nor an array item).
    pub(super) fn required_member(
        &mut self,
        f: &Field,
        siblings: Option<&[Field]>,
        items: &[ItemScope<'a>],
    ) {
        let mut o = self.omission_of(&f.node, items);
        if let (Some((_, Some(point))), Some(siblings)) = (&o.missing, siblings)
            && siblings.iter().all(|g| vanishes_without(&g.node, point))
        {
            o.missing = None;
        }
        let hint = "give the rule a `default`, or `on_missing: error` to reject such input";
        if let Some((why, _)) = o.missing {
            let d = Diagnostic::error(
                self.file,
                format!("required target property `{}` may be omitted: {why}", f.target),
            )
            .code(crate::diagnostic::Code::OptionalIntoRequired)
            .at_opt(f.pos)
            .location(f.target.clone())
            .hint(format!(
                "{hint}; or map it inside an optional target object that is left out with its source"
            ));
            self.diags.push(d);
        } else if let Some(why) = o.other {
            self.warn(
                f.pos,
                &f.target,
                format!(
                    "required target property `{}` may be omitted: {why}",
                    f.target
                ),
                hint,
            );
        }
    }

    /// How a field may be left out.
    pub(super) fn omission_of(&self, node: &Node, items: &[ItemScope<'a>]) -> Omission {
        match node {
            Node::Object(children) => {
                let parts: Vec<Omission> = children
                    .iter()
                    .map(|c| self.omission_of(&c.node, items))
                    .collect();
                if parts.iter().any(Omission::never) && !parts.is_empty() {
                    return Omission::default();
                }
                let why = "every member of this object may be omitted".to_owned();
                if !parts.is_empty() && parts.iter().all(|p| p.missing.is_some()) {
                    let first = parts.first().and_then(|p| p.missing.as_ref()?.1.clone());
                    let common = first.filter(|point| {
                        parts
                            .iter()
                            .all(|p| matches!(&p.missing, Some((_, Some(q))) if q == point))
                    });
                    Omission {
                        other: parts.iter().any(|p| p.other.is_some()).then(|| why.clone()),
                        missing: Some((why, common)),
                    }
                } else {
                    Omission {
                        missing: None,
                        other: Some(why),
                    }
                }
            }
            Node::Value(rule) => {
                let mut o = match &rule.source {
                    Source::Const(_) => Omission::default(),
                    Source::Path(p) => self.source_omission(p, &rule.absence, items),
                    Source::Template(parts) => self.template_omission(parts, &rule.absence, items),
                };
                if rule.when.is_some() {
                    o.other = Some("the rule has a `when` condition".to_owned());
                }
                o
            }
            Node::Each(rule) => {
                let mut o = self.source_omission(&rule.source, &rule.absence, items);
                if rule.when.is_some() {
                    o.other = Some("the rule has a `when` condition".to_owned());
                }
                o
            }
            Node::Choice(choice) => self.choice_omission(choice, items),
        }
    }

    fn source_omission(
        &self,
        p: &SourcePath,
        absence: &Absence,
        items: &[ItemScope<'a>],
    ) -> Omission {
        let Some(flow) = self.peek(p, items) else {
            return Omission::default();
        };
        let mut o = Omission::default();
        if flow.maybe_missing && absence.default.is_none() && absence.on_missing == OnMissing::Omit
        {
            let why = format!(
                "its source `{}` is optional and `on_missing` is omit",
                p.text
            );
            if self.stated_absence(p, items) {
                o.missing = Some((why, self.point(p, items)));
            } else {
                o.other = Some(why);
            }
        }
        if flow.nullable && absence.on_null == OnNull::Omit {
            o.other = Some(format!(
                "its source `{}` may be null and `on_null` is omit",
                p.text
            ));
        }
        if absence.on_empty == OnEmpty::Omit && may_be_empty(&flow) {
            o.other = Some(format!(
                "its source `{}` may be empty and `on_empty` is omit",
                p.text
            ));
        }
        o
    }

    /// A template is missing when any placeholder is missing or null.
    fn template_omission(
        &self,
        parts: &[TemplatePart],
        absence: &Absence,
        items: &[ItemScope<'a>],
    ) -> Omission {
        if absence.default.is_some() || absence.on_missing != OnMissing::Omit {
            return Omission::default();
        }
        let absent: Vec<(&SourcePath, Flow<'a>)> = parts
            .iter()
            .filter_map(|part| match part {
                TemplatePart::Path(p) => Some((p, self.peek(p, items)?)),
                TemplatePart::Literal(_) => None,
            })
            .filter(|(_, flow)| flow.maybe_missing || flow.nullable)
            .collect();
        let Some((first, _)) = absent.first() else {
            return Omission::default();
        };
        let why = format!(
            "its placeholder `{}` may be missing or null and `on_missing` is omit",
            first.text
        );
        // An error only when a schema states a placeholder's absence (see
        // `stated_absence`); a null one, or one whose presence nothing states, is a warning.
        if !absent
            .iter()
            .any(|(p, flow)| flow.maybe_missing && self.stated_absence(p, items))
        {
            return Omission {
                missing: None,
                other: Some(why),
            };
        }
        let point = match absent.as_slice() {
            [(p, flow)] if !flow.nullable => self.point(p, items),
            _ => None,
        };
        Omission {
            missing: Some((why, point)),
            other: None,
        }
    }

    /// Whether a schema states that `p` may be absent: a path into a document (the
    /// partner's body, an array item, the original request, an aggregate's call answers)
    /// through a member its schema names but does not require, or through an array index.
    /// Other sources may be absent too, but nothing declares it: query parameters and
    /// headers a client may leave out, claims of a verified token, SOAP header entries,
    /// members only `additionalProperties` admits (the answer of a call without a
    /// `schema`). Those stay warnings: the error is for what the contract itself says.
    fn stated_absence(&self, p: &SourcePath, items: &[ItemScope<'a>]) -> bool {
        let (shape, start) = match &p.root {
            Root::Document => (self.source, self.source.root()),
            Root::Item => match items.last() {
                Some(s) => (s.shape, s.node),
                None => return false,
            },
            Root::Request => match self.ctx.request_shape.as_ref() {
                Some(shape) => (shape, shape.root()),
                None => return false,
            },
            _ => return false,
        };
        let mut cur = start;
        for seg in &p.segments {
            let Some((next, optional)) = step(shape, cur, seg) else {
                return false;
            };
            if optional && (shape.is_array(cur) || names_member(shape, cur, seg)) {
                return true;
            }
            cur = next;
        }
        false
    }

    /// The [`Point`] of a path that may be missing.
    fn point(&self, p: &SourcePath, items: &[ItemScope<'a>]) -> Option<Point> {
        let (shape, start) = match &p.root {
            Root::Document => (self.source, self.source.root()),
            Root::Item => {
                let s = items.last()?;
                (s.shape, s.node)
            }
            Root::Request => {
                let shape = self.ctx.request_shape.as_ref()?;
                (shape, shape.root())
            }
            Root::Query(_) | Root::Header(_) => {
                return Some(Point {
                    root: p.root.clone(),
                    segments: Vec::new(),
                });
            }
            _ => {
                return Some(Point {
                    root: p.root.clone(),
                    segments: p.segments.clone(),
                });
            }
        };
        let mut cur = start;
        let mut last = None;
        for (i, seg) in p.segments.iter().enumerate() {
            let (next, optional) = step(shape, cur, seg)?;
            if optional {
                last = Some(i);
            }
            cur = next;
        }
        Some(Point {
            root: p.root.clone(),
            segments: p.segments.get(..=last?)?.to_vec(),
        })
    }
}
