//! "Did you mean": the known name closest to a misspelt one, for the diagnostics that
//! name something the file or schema does not have (a source path step, a target
//! property, a rule keyword, a lookup value, a key of a configuration file).
//!
//! Closeness is the edit distance with transpositions counted as one edit (`form` is one
//! edit from `from`), ignoring case; a name is suggested only when it is close for its
//! length, so a long list of known names does not turn every typo into a wild guess.

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`, compared by
/// character and without regard to case.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // Three rows of the optimal-string-alignment table: two back for transpositions.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The most edits a name of `len` characters may be from a suggestion: none but case
/// for names of one or two characters (one edit turns `x` into any other letter), one for
/// short names, where two edits reach nearly any other short name.
fn allowed(len: usize) -> usize {
    match len {
        0..=2 => 0,
        3..=4 => 1,
        5..=8 => 2,
        _ => 3,
    }
}

/// The candidate closest to `word`, when one is close enough and is not `word` itself;
/// the first listed wins a tie.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = allowed(word.chars().count());
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = distance(word, c);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// A hint for a parser's message about an unknown key or value that lists what is
/// expected: serde's "unknown field `form`, expected one of `from`, `const`, ..." (and
/// "unknown variant"), or a message ending in "rule keywords: from, const, ...".
pub fn for_message(message: &str) -> Option<String> {
    let (word, expected): (&str, Vec<&str>) = if let Some(rest) =
        ["unknown field `", "unknown variant `"]
            .iter()
            .find_map(|lead| message.split_once(lead).map(|(_, rest)| rest))
    {
        let (word, tail) = rest.split_once('`')?;
        let listed = tail.split_once("expected")?.1;
        (word, backticked(listed))
    } else {
        let rest = message.strip_prefix('`')?;
        let (word, tail) = rest.split_once('`')?;
        let (_, listed) = tail.split_once("rule keywords: ")?;
        (
            word,
            listed
                .split(',')
                .map(|k| k.trim().trim_end_matches('.'))
                .collect(),
        )
    };
    closest(word, expected).map(|c| format!("did you mean `{c}`?"))
}

/// The names listed in `text`: those between backticks (serde's spelling), else the
/// comma- or `or`-separated words (`one of kind, method, path`).
fn backticked(text: &str) -> Vec<&str> {
    if text.contains('`') {
        return text.split('`').skip(1).step_by(2).collect();
    }
    let text = text.trim().strip_prefix("one of").unwrap_or(text);
    text.split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty() && *w != "or")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpositions_and_case_count_little() {
        assert_eq!(distance("form", "from"), 1);
        assert_eq!(distance("Nope", "Note"), 1);
        assert_eq!(distance("EMAIL", "email"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn only_close_names_are_suggested() {
        let keys = ["from", "const", "template", "each", "default", "on_missing"];
        assert_eq!(closest("form", keys), Some("from"));
        assert_eq!(closest("defualt", keys), Some("default"));
        assert_eq!(closest("onmissing", keys), Some("on_missing"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("from", keys), None);
        assert_eq!(closest("y", ["x", "z"]), None);
        assert_eq!(closest("id", ["ID", "Id"]), Some("ID"));
    }

    #[test]
    fn parser_messages_listing_the_expected_keys_get_a_suggestion() {
        assert_eq!(
            for_message("unknown field `mehtod`, expected one of `kind`, `method`, `path`"),
            Some("did you mean `method`?".to_owned())
        );
        assert_eq!(
            for_message("unknown field `methd`, expected one of kind, method, path"),
            Some("did you mean `method`?".to_owned())
        );
        assert_eq!(
            for_message("unknown variant `integr`, expected one of `string`, `integer`"),
            Some("did you mean `integer`?".to_owned())
        );
        assert_eq!(
            for_message(
                "`defualt` is not a rule keyword, but this object is a rule because its first key `from` is one; to write a target property named `from`, write `\\from`; rule keywords: from, const, default"
            ),
            Some("did you mean `default`?".to_owned())
        );
        assert_eq!(
            for_message("unknown field `zzz`, expected `kind` or `method`"),
            None
        );
        assert_eq!(for_message("invalid type: integer"), None);
    }
}
