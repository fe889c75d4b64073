//! Compiles `when` and `filter` conditions: exactly one form per object, paths parsed,
//! regular expressions compiled with a size limit.

use regex::RegexBuilder;

use super::*;
use crate::mapping::syntax::Condition;

impl Compiler<'_> {
    pub(super) fn cond(&mut self, c: &Condition, at: At<'_>) -> Option<Cond> {
        let forms = [
            c.exists.is_some(),
            c.missing.is_some(),
            c.equals.is_some(),
            c.not_equals.is_some(),
            c.one_of.is_some(),
            c.matches.is_some(),
            c.not.is_some(),
            c.all.is_some(),
            c.any.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            self.err(
                at,
                "a condition needs exactly one of exists, missing, equals, not_equals, in, matches, not, all, any",
                None,
            );
            return None;
        }
        let compares = c.equals.is_some()
            || c.not_equals.is_some()
            || c.one_of.is_some()
            || c.matches.is_some();
        if compares != c.path.is_some() {
            self.err(
                at,
                if compares {
                    "`equals`, `not_equals`, `in` and `matches` need `path`"
                } else {
                    "`path` is only used with `equals`, `not_equals`, `in` or `matches`"
                },
                None,
            );
            return None;
        }
        if let Some(p) = &c.exists {
            return self.path(p, at).map(Cond::Exists);
        }
        if let Some(p) = &c.missing {
            return self.path(p, at).map(Cond::Missing);
        }
        if let Some(inner) = &c.not {
            return self.cond(inner, at).map(|c| Cond::Not(Box::new(c)));
        }
        if let Some(cs) = &c.all {
            let out: Vec<Option<Cond>> = cs.iter().map(|c| self.cond(c, at)).collect();
            return out.into_iter().collect::<Option<Vec<_>>>().map(Cond::All);
        }
        if let Some(cs) = &c.any {
            let out: Vec<Option<Cond>> = cs.iter().map(|c| self.cond(c, at)).collect();
            return out.into_iter().collect::<Option<Vec<_>>>().map(Cond::Any);
        }
        let path = self.path(c.path.as_deref().unwrap_or_default(), at)?;
        if let Some(v) = &c.equals {
            return Some(Cond::Equals(path, v.clone()));
        }
        if let Some(v) = &c.not_equals {
            return Some(Cond::NotEquals(path, v.clone()));
        }
        if let Some(vs) = &c.one_of {
            return Some(Cond::In(path, vs.clone()));
        }
        let pattern = c.matches.as_deref().unwrap_or_default();
        match RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Some(Cond::Matches(path, re)),
            Err(e) => {
                self.err(
                    at,
                    format!("invalid regular expression `{pattern}`: {e}"),
                    None,
                );
                None
            }
        }
    }
}
