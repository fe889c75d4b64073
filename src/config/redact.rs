//! Secrets kept out of what the gateway shows: diagnostics (`check`, `serve`, a refused
//! reload on `/admin/status`) and the logs that repeat them.
//!
//! Configuration text can carry credentials: a token in an upstream URL's query, a
//! `user:password@` an operator tried despite the rules, a value substituted from
//! `${VAR}`. A diagnostic quotes what it refuses, so before any diagnostic leaves the
//! compile step its message and location go through [`Secrets::redact`]: the user
//! information of every URL becomes `…`, every query value `…`, and every value the
//! environment supplied is written back as the `${NAME}` it came from.

use std::cell::RefCell;

/// Values shorter than this are not replaced: a `${WORKERS}` of `4` would otherwise turn
/// every `4` of every line number into the variable's name, and a value that short is no
/// secret.
pub const MIN_SECRET_LEN: usize = 3;

/// The values the environment supplied to one load, by variable name.
#[derive(Debug, Default)]
pub struct Secrets {
    values: RefCell<Vec<(String, String)>>,
}

impl Secrets {
    /// Records a value `${name}` was replaced with.
    pub fn record(&self, name: &str, value: &str) {
        if value.len() >= MIN_SECRET_LEN {
            let mut values = self.values.borrow_mut();
            if !values.iter().any(|(n, v)| n == name && v == value) {
                values.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// `text` with every environment value written as its `${NAME}`, and every URL's user
    /// information and query values as `…`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = urls(text);
        let mut values = self.values.borrow().clone();
        // The longest first, so a value holding another is replaced whole.
        values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (name, value) in values {
            if out.contains(&value) {
                out = out.replace(&value, &format!("${{{name}}}"));
            }
            // A value also appears with its own URL parts already redacted.
            let shown = urls(&value);
            if shown != value && out.contains(&shown) {
                out = out.replace(&shown, &format!("${{{name}}}"));
            }
        }
        out
    }
}

/// Where a URL written in a message ends.
fn url_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '<' | '>')
}

/// `text` with the user information and query values of every `scheme://` URL as `…`.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, url) = rest.split_at(at + 3);
        out.push_str(before);
        let end = url.find(url_end).unwrap_or(url.len());
        let (url, after) = url.split_at(end);
        out.push_str(&redact_url(url));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// One URL after its `scheme://`: user information and query values hidden.
fn redact_url(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(authority_end);
    let mut out = match authority.rfind('@') {
        Some(at) => format!("…{}", &authority[at..]),
        None => authority.to_string(),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    out.push_str(path);
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=…"),
                None if pair.is_empty() => String::new(),
                None => "…".to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_and_query_values_are_hidden() {
        assert_eq!(
            urls("upstream `a`: `http://bob:hunter2@10.0.0.1:8080/v1?token=abc&x=1#f` is bad"),
            "upstream `a`: `http://…@10.0.0.1:8080/v1?token=…&x=…#f` is bad"
        );
        assert_eq!(
            urls("https://h/p?secret and http://h2?=v&k"),
            "https://h/p?… and http://h2?=…&…"
        );
        assert_eq!(urls("no url here: a@b?c=d"), "no url here: a@b?c=d");
    }

    #[test]
    fn environment_values_are_shown_as_their_names() {
        let s = Secrets::default();
        s.record("API_TOKEN", "s3cr3t-value");
        s.record("SHORT", "ab");
        s.record("URL", "http://u:p@host:99999/x");
        assert_eq!(
            s.redact("header `s3cr3t-value` at line 12, ab; url `http://u:p@host:99999/x`"),
            "header `${API_TOKEN}` at line 12, ab; url `${URL}`"
        );
    }
}
