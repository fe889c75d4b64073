//! The checks of one field's value rule and of `each` rules: what the steps make of the
//! value read, whether it fits the target schema, and the source members nothing reads.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn value(
        &mut self,
        f: &Field,
        rule: &ValueRule,
        node: NodeId,
        items: &[ItemScope<'a>],
    ) {
        if let Some(w) = &rule.when {
            self.cond_paths(w, f, items);
            self.comparisons(w, "when", f, items);
        }
        let mut flow = match &rule.source {
            Source::Const(v) => Flow::of_value(v),
            Source::Path(p) => match self.resolve(p, f, items) {
                Some(flow) => flow,
                None => return,
            },
            Source::Template(parts) => {
                let mut ok = true;
                for part in parts {
                    if let TemplatePart::Path(p) = part {
                        match self.resolve(p, f, items) {
                            Some(fl)
                                if !fl.unknown
                                    && (fl.types.names(TypeSet::OBJECT)
                                        || fl.types.names(TypeSet::ARRAY)) =>
                            {
                                self.error(
                                    f.pos,
                                    &f.target,
                                    format!(
                                        "template placeholder `{}` may be an object or array",
                                        p.text
                                    ),
                                    "placeholders must be strings, numbers or booleans",
                                );
                            }
                            Some(_) => {}
                            None => ok = false,
                        }
                    }
                }
                if !ok {
                    return;
                }
                Flow::string()
            }
        };
        if let Some(d) = &rule.absence.default {
            self.fits_value(f, d, node, "default");
        }
        self.on_empty(f, rule, &mut flow, node);
        self.calc_operands(f, &rule.calc, items);
        // A rule that only ever writes null is judged by `fits`, as an error.
        if flow.nullable && flow.types != TypeSet::NULL {
            match rule.absence.on_null {
                OnNull::Keep => {
                    if !self.target.allows_null(node) {
                        self.warn(
                            f.pos,
                            &f.target,
                            format!(
                                "the source may be null and `{}` does not allow null",
                                f.target
                            ),
                            "add `on_null: omit` or `on_null: default`",
                        );
                    }
                }
                OnNull::Omit | OnNull::Default => {}
            }
            flow.nullable = false;
        }
        if rule.absence.on_missing == OnMissing::Null
            && rule.absence.default.is_none()
            && flow.maybe_missing
            && !self.target.allows_null(node)
        {
            self.error(
                f.pos,
                &f.target,
                format!(
                    "`on_missing: null` writes null, which `{}` does not allow",
                    f.target
                ),
                "use `default` or `on_missing: omit`",
            );
        }
        let Some(flow) = self.steps(f, rule, flow) else {
            return;
        };
        self.fits(f, &flow, node, rule);
        if let Some((shape, from)) = flow.origin
            && !rule.has_steps()
        {
            let mut problems = Vec::new();
            let mut seen = BTreeSet::new();
            structure(shape, from, self.target, node, "", &mut problems, &mut seen);
            if !problems.is_empty() {
                let loc = self.target.node(node).location.clone();
                let list: Vec<String> = problems
                    .into_iter()
                    .map(|(at, p)| {
                        if at.is_empty() {
                            p
                        } else {
                            format!("at `{at}`: {p}")
                        }
                    })
                    .collect();
                self.error(
                    f.pos,
                    &loc,
                    format!("`{}` copies a whole {}{} whose shape does not fit the target: {}", f.target, type_names(flow.types), source_note(&flow, &rule.source), list.join("; ")),
                    "map its members one by one (a nested map), renaming and converting as the target needs",
                );
            }
        }
    }

    /// Carries the flow through apply, lookup, date and as.
    pub(super) fn steps(
        &mut self,
        f: &Field,
        rule: &ValueRule,
        mut flow: Flow<'a>,
    ) -> Option<Flow<'a>> {
        let scalar = |flow: &Flow| {
            flow.unknown
                || !(flow.types.names(TypeSet::OBJECT) || flow.types.names(TypeSet::ARRAY))
                || flow.types.is_any()
        };
        if !rule.apply.is_empty() {
            if !scalar(&flow) {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`apply` needs text, but the source is {}{}",
                        type_names(flow.types),
                        source_note(&flow, &rule.source)
                    ),
                    "",
                );
                return None;
            }
            flow.enum_values = flow.enum_values.map(|vs| {
                vs.into_iter()
                    .map(|v| match v {
                        Value::String(s) => Value::String(
                            rule.apply.iter().fold(s, |s, func| apply_static(func, s)),
                        ),
                        other => Value::String(other.to_string()),
                    })
                    .collect()
            });
            flow.types = TypeSet::STRING;
            flow.unknown = false;
        }
        if let Some(l) = &rule.lookup {
            if l.fallback.is_none() {
                match &flow.enum_values {
                    Some(vs) => {
                        // Null never reaches the lookup: `on_null` decides it first.
                        let missing: Vec<&Value> = vs
                            .iter()
                            .filter(|v| !v.is_null() && !lookup_has(&l.table, v))
                            .collect();
                        if !missing.is_empty() {
                            let hint = lookup_hint(&l.entries, vs, &missing);
                            self.error(
                                f.pos,
                                &f.target,
                                format!(
                                    "lookup has no entry for source value{} {}",
                                    if missing.len() == 1 { "" } else { "s" },
                                    missing.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                                ),
                                &hint,
                            );
                        }
                    }
                    None => self.warn(
                        f.pos,
                        &f.target,
                        "the source has no enum, so the lookup may miss at runtime (422 with the source pointer)".to_owned(),
                        "add a `fallback` if unknown values should pass",
                    ),
                }
            }
            let mut outputs: Vec<Value> = l.entries.iter().map(|(_, v)| v.clone()).collect();
            if let Some(fb) = &l.fallback {
                outputs.push(fb.clone());
            }
            let types = outputs
                .iter()
                .fold(TypeSet(0), |acc, v| TypeSet(acc.0 | TypeSet::of(v).0));
            flow.nullable = outputs.iter().any(Value::is_null);
            flow.types = without_null(types);
            flow.enum_values = Some(outputs);
            flow.unknown = false;
        }
        if rule.date.is_some() {
            if !flow.unknown && !flow.types.is_any() && !flow.types.names(TypeSet::STRING) {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`date` needs a string, but the source is {}{}",
                        type_names(flow.types),
                        source_note(&flow, &rule.source)
                    ),
                    "",
                );
                return None;
            }
            flow = Flow {
                maybe_missing: flow.maybe_missing,
                ..Flow::string()
            };
        }
        if !rule.calc.is_empty() {
            flow = self.calc_flow(f, flow)?;
        }
        if let Some(c) = &rule.convert {
            let t = flow.types;
            let bad = !flow.unknown
                && !t.is_any()
                && (t.names(TypeSet::OBJECT)
                    || t.names(TypeSet::ARRAY)
                    || (matches!(
                        c.to,
                        Conversion::Integer | Conversion::Number | Conversion::Decimal
                    ) && t.names(TypeSet::BOOLEAN))
                    || (c.scale.is_some() && t.names(TypeSet::BOOLEAN)));
            if bad {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`as: {}` cannot convert a {} source{}",
                        conversion_name(c.to),
                        type_names(t),
                        source_note(&flow, &rule.source)
                    ),
                    "",
                );
                return None;
            }
            if let Some(vs) = &flow.enum_values {
                let bad: Vec<String> = vs
                    .iter()
                    .filter(|v| !converts(c.to, v))
                    .map(Value::to_string)
                    .collect();
                if !bad.is_empty() {
                    self.error(
                        f.pos,
                        &f.target,
                        format!(
                            "`as: {}` fails on source value{} {}",
                            conversion_name(c.to),
                            if bad.len() == 1 { "" } else { "s" },
                            bad.join(", ")
                        ),
                        "map those values with `lookup` first",
                    );
                    return None;
                }
            }
            let out = match c.to {
                Conversion::String => TypeSet::STRING,
                Conversion::Integer => TypeSet::INTEGER,
                Conversion::Number | Conversion::Decimal => TypeSet::NUMBER,
                Conversion::Boolean => TypeSet::BOOLEAN,
            };
            flow.enum_values = None;
            flow.types = out;
            flow.unknown = false;
        }
        Some(flow)
    }

    /// Checks that a flow fits the target node.
    pub(super) fn fits(&mut self, f: &Field, flow: &Flow<'a>, node: NodeId, rule: &ValueRule) {
        let (convert, keys) = (rule.convert.as_ref(), rule.keys.as_slice());
        let target = self.target;
        let want = without_null(target.scalar_types(node));
        let loc = target.node(node).location.clone();
        if flow.unknown {
            if !want.is_any() {
                self.warn(
                    f.pos,
                    &loc,
                    format!(
                        "the type of the source of `{}` is not known, so it is not proven to be {}",
                        f.target,
                        type_names(want)
                    ),
                    "add `as:` to convert it explicitly",
                );
            }
            return;
        }
        let got = flow.types;
        // Only null (`const: null`, a null default): fine wherever the target allows null.
        if got == TypeSet::NULL {
            let all = target.scalar_types(node);
            if !all.is_any() && !all.names(TypeSet::NULL) {
                self.error(
                    f.pos,
                    &loc,
                    format!(
                        "`{}` expects {}, but the rule produces null",
                        f.target,
                        type_names(all)
                    ),
                    "allow null in the target schema (`type: [..., \"null\"]`), or write a value",
                );
            }
            return;
        }
        if !got.is_any() && !want.is_any() && !want.contains(got) {
            let hint = if want.names(TypeSet::INTEGER) && got.names(TypeSet::STRING) {
                "convert with `as: integer`".to_owned()
            } else if want.names(TypeSet::NUMBER) && got.names(TypeSet::STRING) {
                "convert with `as: decimal` (exact) or `as: number`".to_owned()
            } else if want.names(TypeSet::STRING)
                && (got.names(TypeSet::NUMBER) || got.names(TypeSet::INTEGER))
            {
                "convert with `as: string` (add `scale` for fixed decimals)".to_owned()
            } else {
                self.keyword_hint(node, keys).unwrap_or_default()
            };
            self.error(
                f.pos,
                &loc,
                format!(
                    "`{}` expects {}, but the rule produces {}{}",
                    f.target,
                    type_names(want),
                    type_names(got),
                    source_note(flow, &rule.source)
                ),
                &hint,
            );
            return;
        }
        if got.is_any() && !want.is_any() && convert.is_none() {
            self.warn(
                f.pos,
                &loc,
                format!(
                    "the source of `{}` has no declared type, so it is not proven to be {}",
                    f.target,
                    type_names(want)
                ),
                "add `as:` to convert it explicitly",
            );
        }
        if let Some(allowed) = target.node(node).enum_values.clone() {
            match &flow.enum_values {
                Some(vs) => {
                    let bad: Vec<String> = vs
                        .iter()
                        .filter(|v| !allowed.contains(v))
                        .map(Value::to_string)
                        .collect();
                    if !bad.is_empty() {
                        let hint = enum_hint(rule, vs, &allowed);
                        self.error(
                            f.pos,
                            &loc,
                            format!(
                                "`{}` allows only {}; the rule can produce {}",
                                f.target,
                                list(&allowed),
                                bad.join(", ")
                            ),
                            &hint,
                        );
                    }
                }
                None => self.warn(
                    f.pos,
                    &loc,
                    format!(
                        "`{}` allows only {}; the rule's values are not known to be among them",
                        f.target,
                        list(&allowed)
                    ),
                    "use a `lookup` (or a source with the same enum) to prove it",
                ),
            }
        }
    }

    pub(super) fn fits_value(&mut self, f: &Field, v: &Value, node: NodeId, what: &str) {
        let target = self.target;
        let want = target.scalar_types(node);
        let loc = target.node(node).location.clone();
        if !want.contains(TypeSet::of(v)) {
            self.error(
                f.pos,
                &loc,
                format!(
                    "the {what} {v} of `{}` is not {}",
                    f.target,
                    type_names(want)
                ),
                "",
            );
        } else if let Some(allowed) = &target.node(node).enum_values
            && !allowed.contains(v)
        {
            let texts: Vec<String> = allowed.iter().map(text_of).collect();
            let hint = crate::suggest::closest(&text_of(v), texts.iter().map(String::as_str))
                .and_then(|near| allowed.iter().find(|a| text_of(a) == near))
                .map(|near| format!("did you mean {near}?"))
                .unwrap_or_default();
            self.error(
                f.pos,
                &loc,
                format!(
                    "the {what} {v} of `{}` is not one of {}",
                    f.target,
                    list(allowed)
                ),
                &hint,
            );
        }
    }

    pub(super) fn each(
        &mut self,
        f: &Field,
        rule: &EachRule,
        node: NodeId,
        items: &[ItemScope<'a>],
    ) {
        if let Some(w) = &rule.when {
            self.cond_paths(w, f, items);
            self.comparisons(w, "when", f, items);
        }
        let target = self.target;
        if !target.is_array(node) && !target.scalar_types(node).is_any() {
            let loc = target.node(node).location.clone();
            self.error(
                f.pos,
                &loc,
                format!(
                    "`each` produces an array, but `{}` is {}",
                    f.target,
                    type_names(target.scalar_types(node))
                ),
                &self.keyword_hint(node, &rule.keys).unwrap_or_default(),
            );
            return;
        }
        let (target_item, described) = match target.items(node) {
            Some(item) => (item, true),
            None => {
                let loc = target.node(node).location.clone();
                self.warn(f.pos, &loc, format!("the target schema does not describe the items of `{}`, so they are not checked", f.target), "");
                (node, false)
            }
        };
        let Some(scope) = self.each_scope(&rule.source, f, items) else {
            return;
        };
        let mut inner: Vec<ItemScope<'a>> = items.to_vec();
        inner.push(scope);
        if let Some(c) = &rule.filter {
            self.cond_paths(c, f, &inner);
            self.comparisons(c, "filter", f, &inner);
        }
        // Items the target does not describe: the body is checked against a schema that
        // admits anything, so its sources are still checked and counted.
        let described_target = self.target;
        let target_item = match UNDESCRIBED.as_ref() {
            Some(any) if !described => {
                self.target = any;
                any.root()
            }
            _ => target_item,
        };
        match &rule.body {
            EachBody::Map(fields) => self.object(
                fields,
                target_item,
                &format!("{}/*", f.target),
                &inner,
                Some((f, f.pos)),
                false,
            ),
            EachBody::Item(node) => {
                let item_field = Field {
                    key: String::new(),
                    pos: f.pos,
                    target: format!("{}/*", f.target),
                    pointer: String::new(),
                    node: Node::Object(ObjectRule::EMPTY),
                };
                match node.as_ref() {
                    Node::Object(children) => self.object(
                        children,
                        target_item,
                        &item_field.target,
                        &inner,
                        Some((&item_field, f.pos)),
                        false,
                    ),
                    Node::Value(r) => self.value(&item_field, r, target_item, &inner),
                    Node::Each(r) => self.each(&item_field, r, target_item, &inner),
                    Node::Choice(c) => self.choice(&item_field, c, target_item, &inner),
                }
            }
        }
        self.target = described_target;
    }

    /// Walks a field whose target the schema does not describe against [`UNDESCRIBED`]:
    /// nothing is said about what it writes, but what it reads is checked (paths,
    /// context sources, `each` over arrays) and counted as read.
    pub(super) fn walk_undescribed(&mut self, f: &Field, items: &[ItemScope<'a>]) {
        let Some(any) = UNDESCRIBED.as_ref() else {
            return;
        };
        let described = std::mem::replace(&mut self.target, any);
        self.field(f, any.root(), items);
        self.target = described;
    }

    /// The item scope of an `each` source: the array's item node.
    pub(super) fn each_scope(
        &mut self,
        p: &SourcePath,
        f: &Field,
        items: &[ItemScope<'a>],
    ) -> Option<ItemScope<'a>> {
        let (shape, start, base): (&'a Shape, NodeId, String) = match &p.root {
            Root::Document => (self.source, self.source.root(), String::new()),
            Root::Item => {
                let s = items.last()?;
                (s.shape, s.node, s.pointer.clone())
            }
            Root::Request => {
                self.resolve_mark(p, f, items, false)?;
                let shape = self.ctx.request_shape.as_ref()?;
                (shape, shape.root(), "$request".to_owned())
            }
            _ => {
                self.error(
                    f.pos,
                    &f.target,
                    format!("`each: {}` must name an array in the document", p.text),
                    "",
                );
                return None;
            }
        };
        if !matches!(p.root, Root::Request) {
            self.resolve_mark(p, f, items, false)?;
        }
        let (id, _) = walk_shape(shape, start, &p.segments).ok()?;
        if !shape.is_array(id) {
            let loc = shape.node(id).location.clone();
            self.error(
                f.pos,
                &loc,
                format!(
                    "`each: {}` is not an array in the source schema ({})",
                    p.text,
                    type_names(shape.scalar_types(id))
                ),
                "",
            );
            return None;
        }
        let item = shape.items(id)?;
        let mut pointer = base;
        let mut cur = start;
        for seg in &p.segments {
            if shape.is_array(cur) {
                pointer.push_str("/*");
            } else {
                push_pointer(&mut pointer, seg);
            }
            cur = step(shape, cur, seg).map(|(n, _)| n).unwrap_or(cur);
        }
        pointer.push_str("/*");
        Some(ItemScope {
            shape,
            node: item,
            pointer,
        })
    }

    /// Warns about leaf properties of the source schema that no rule reads.
    /// Marks the `ignore:` paths as read, so dropping them on purpose is not warned
    /// about; a path that is not in the source schema is an error (a typo would
    /// otherwise silence nothing).
    pub(super) fn ignored(&mut self, paths: &[String]) {
        let shape = self.source;
        for text in paths {
            let resolved = match SourcePath::parse(text) {
                Ok(p) if p.root == Root::Document => {
                    let mut pointer = String::new();
                    let mut cur = shape.root();
                    let mut failed = None;
                    for seg in &p.segments {
                        if shape.is_array(cur) && seg == "*" {
                            pointer.push_str("/*");
                            match shape.items(cur) {
                                Some(item) => cur = item,
                                None => {
                                    failed =
                                        Some(format!("`{seg}` at `{pointer}` has no item schema"));
                                    break;
                                }
                            }
                            continue;
                        }
                        match step(shape, cur, seg) {
                            Some((next, _)) => {
                                if shape.is_array(cur) {
                                    pointer.push_str("/*");
                                } else {
                                    push_pointer(&mut pointer, seg);
                                }
                                cur = next;
                            }
                            None => {
                                let near = crate::suggest::closest(
                                    seg,
                                    shape.property_list(cur).into_iter().map(|(k, _)| k),
                                )
                                .map(|k| format!(" (did you mean `{k}`?)"))
                                .unwrap_or_default();
                                failed = Some(format!(
                                    "no `{seg}` at `{}`{near}",
                                    if pointer.is_empty() {
                                        "/"
                                    } else {
                                        pointer.as_str()
                                    }
                                ));
                                break;
                            }
                        }
                    }
                    match failed {
                        None => Ok(pointer),
                        Some(why) => Err(why),
                    }
                }
                Ok(_) => {
                    Err("only source document paths (starting with `/`) can be ignored".to_owned())
                }
                Err(e) => Err(e.to_string()),
            };
            match resolved {
                // An empty pointer (the whole document) covers every leaf.
                Ok(pointer) => {
                    self.read.insert(pointer);
                }
                Err(why) => {
                    let location = format!("{}.ignore", self.section.name());
                    self.error(
                        self.map_pos,
                        &location,
                        format!("ignored path `{text}` does not exist in the source schema: {why}"),
                        "list source document paths such as `/Order/Notes`",
                    );
                }
            }
        }
    }

    pub(super) fn unread(&mut self) {
        let mut unread = Vec::new();
        collect_leaves(
            self.source,
            self.source.root(),
            String::new(),
            0,
            &mut Vec::new(),
            &mut unread,
        );
        let unread: Vec<String> = unread
            .into_iter()
            .filter(|leaf| {
                !self
                    .read
                    .iter()
                    .any(|r| leaf == r || leaf.starts_with(&format!("{r}/")))
            })
            .collect();
        if !unread.is_empty() {
            let d = Diagnostic::warning(
                self.file,
                format!(
                    "no rule of the {} mapping reads source propert{} {}",
                    self.section.name(),
                    if unread.len() == 1 { "y" } else { "ies" },
                    unread
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .at_opt(self.map_pos)
            .location(self.source.node(self.source.root()).location.clone())
            .hint("map them, or list them under `ignore:` if dropping them is intended");
            self.diags.push(d);
        }
    }
}

/// Where a value read as it is comes from, for type errors: the source path and its
/// place in the source schema (empty when the value is no such read).
pub(super) fn source_note(flow: &Flow<'_>, source: &Source) -> String {
    match (flow.origin, source) {
        (Some((shape, id)), Source::Path(p)) => {
            format!(" (source `{}` at {})", p.text, shape.node(id).location)
        }
        _ => String::new(),
    }
}

/// The hint for values outside a target enum: a constant or a lookup entry is fixed
/// by writing an allowed value (the closest one suggested); other values need a lookup.
fn enum_hint(rule: &ValueRule, produced: &[Value], allowed: &[Value]) -> String {
    let allowed_text: Vec<String> = allowed.iter().map(text_of).collect();
    let guesses = |what: &str| -> String {
        let guesses: Vec<String> = produced
            .iter()
            .filter(|v| !allowed.contains(v))
            .filter_map(|v| {
                let near =
                    crate::suggest::closest(&text_of(v), allowed_text.iter().map(String::as_str))?;
                let near = allowed.iter().find(|a| text_of(a) == near)?;
                Some(format!("did you mean {near} for {v}?"))
            })
            .collect();
        if guesses.is_empty() {
            format!("{what} one of {}", list(allowed))
        } else {
            format!("{what} one of {} ({})", list(allowed), guesses.join(" "))
        }
    };
    let plain = rule.apply.is_empty() && rule.date.is_none() && rule.convert.is_none();
    match (&rule.source, &rule.lookup) {
        (Source::Const(_), None) if plain => {
            guesses("the constant is not a value the target allows: write")
        }
        (_, Some(_)) if rule.date.is_none() && rule.convert.is_none() => {
            guesses("the lookup writes values the target does not allow: make each output")
        }
        _ => "map the values with `lookup`".to_owned(),
    }
}

pub(super) fn conversion_name(c: Conversion) -> &'static str {
    match c {
        Conversion::String => "string",
        Conversion::Integer => "integer",
        Conversion::Number => "number",
        Conversion::Decimal => "decimal",
        Conversion::Boolean => "boolean",
    }
}

/// Whether a known source value survives a conversion (for enums and constants).
pub(super) fn converts(to: Conversion, v: &Value) -> bool {
    match (to, v) {
        (Conversion::String, Value::Array(_) | Value::Object(_)) => false,
        (Conversion::String, _) => true,
        (Conversion::Integer, Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (Conversion::Integer, Value::String(s)) => {
            s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok()
        }
        (Conversion::Number | Conversion::Decimal, Value::Number(_)) => true,
        (Conversion::Number | Conversion::Decimal, Value::String(s)) => {
            s.parse::<f64>().is_ok_and(f64::is_finite) && !s.contains(char::is_alphabetic)
        }
        (Conversion::Boolean, Value::Bool(_)) => true,
        (Conversion::Boolean, Value::String(s)) => {
            matches!(s.as_str(), "true" | "false" | "1" | "0")
        }
        (Conversion::Boolean, Value::Number(n)) => matches!(n.as_u64(), Some(0 | 1)),
        _ => false,
    }
}

/// A scalar as it reads in a route file: strings without quotes.
pub(super) fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lookup key a source value is found under, as the runtime spells it.
pub(super) fn lookup_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::codec::number_text(n),
        other => other.to_string(),
    }
}

pub(super) fn lookup_has(table: &std::collections::HashMap<String, Value>, v: &Value) -> bool {
    table.contains_key(&lookup_key(v))
}

/// The hint for source values a lookup misses: a key that is no source value but is
/// spelled like a missed one is most likely meant for it.
fn lookup_hint(entries: &[(String, Value)], values: &[Value], missing: &[&Value]) -> String {
    let known: Vec<String> = values.iter().map(lookup_key).collect();
    let stray: Vec<&str> = entries
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !known.iter().any(|v| v == k))
        .collect();
    let guesses: Vec<String> = missing
        .iter()
        .filter_map(|v| {
            let key = lookup_key(v);
            let near = crate::suggest::closest(&key, stray.iter().copied())?;
            Some(format!(
                "the key `{near}` is no source value: did you mean `{key}`?"
            ))
        })
        .collect();
    if guesses.is_empty() {
        "add the entries or a `fallback`".to_owned()
    } else {
        format!("{}; add the entries or a `fallback`", guesses.join("; "))
    }
}

/// The string functions on a known value (for carrying enums through `apply`).
pub(super) fn apply_static(f: &StringFn, s: String) -> String {
    match f {
        StringFn::Trim => s.trim().to_owned(),
        StringFn::TrimStart => s.trim_start().to_owned(),
        StringFn::TrimEnd => s.trim_end().to_owned(),
        StringFn::Lowercase => s.to_lowercase(),
        StringFn::Uppercase => s.to_uppercase(),
        StringFn::Replace { from, to } if !from.is_empty() => s.replace(from.as_str(), to),
        StringFn::Replace { .. } => s,
        StringFn::Truncate(n) => s.chars().take(*n).collect(),
    }
}
