//! What `serve --demo` prints: a `curl` command per route that works pasted as printed.

use std::net::SocketAddr;

use crate::codec::Format;
use crate::config::{Gateway, Route};

/// The first golden input of a route, as an example body a person can send.
fn example_body(gw: &Gateway, route: &Route) -> Option<std::path::PathBuf> {
    let dir = gw.fixtures_dir.join(&route.name);
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    cases.sort();
    // Prefer a case named `valid`, then any case whose input maps without error.
    cases.sort_by_key(|c| c.file_name().is_none_or(|n| n != "valid"));
    let file = match route.format {
        Format::Xml => "input.xml",
        Format::Json => "input.json",
    };
    cases.into_iter().map(|c| c.join(file)).find(|f| {
        f.is_file()
            && f.parent()
                .is_some_and(|d| d.join("expected.json").is_file())
    })
}

/// `word` as one shell word: as it is when it holds nothing a shell would read, otherwise
/// in single quotes (a quote inside written `'\''`), so a printed command works pasted.
fn shell_word(word: &str) -> String {
    if word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The `-H` options of a request to `route`: its media type, and on a SOAP route the
/// action of the route (the `SOAPAction` header of 1.1, the media type's `action` of 1.2).
fn request_headers(route: &Route) -> String {
    let action = route
        .soap
        .as_ref()
        .and_then(|b| Some((b.version, b.actions.first()?)));
    match (&route.soap, action) {
        (_, Some((crate::soap::Version::V11, action))) => format!(
            "-H {} -H {}",
            shell_word(&format!(
                "Content-Type: {}",
                crate::soap::Version::V11.media_type()
            )),
            shell_word(&format!("SOAPAction: \"{action}\""))
        ),
        (_, Some((version, action))) => format!(
            "-H {}",
            shell_word(&format!(
                "Content-Type: {}; action=\"{action}\"",
                version.media_type()
            ))
        ),
        (Some(b), None) => format!(
            "-H {}",
            shell_word(&format!("Content-Type: {}", b.version.media_type()))
        ),
        (None, None) => format!("-H 'Content-Type: {}'", route.format.media_type()),
    }
}

/// What `serve --demo` prints: a `curl` command per route that works as printed (paths are
/// relative to the working directory, where the fixtures are). `admin` is where the admin
/// endpoints answer (their own listener, or `local` when shared).
pub(super) fn print_demo(local: SocketAddr, admin: SocketAddr, demo: SocketAddr, gw: &Gateway) {
    use std::fmt::Write as _;
    let mut text = format!(
        "schemagate is serving the example partners on http://{local} (demo upstream on http://{demo}; admin endpoints on http://{admin})\n\nTry:\n"
    );
    for r in &gw.routes {
        let mut path = r.path.clone();
        for p in &r.path_params {
            path = path.replace(&format!("{{{p}}}"), "A-10001");
        }
        // The demo upstream knows numeric ids: `1` for every query parameter the route reads.
        let query: Vec<String> = r
            .spec
            .route
            .query
            .iter()
            .map(|q| format!("{q}=1"))
            .collect();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let url = shell_word(&format!("http://{local}{path}"));
        let headers = request_headers(r);
        match (r.spec.request.is_some(), example_body(gw, r)) {
            (true, Some(body)) => {
                let _ = writeln!(
                    text,
                    "  curl -s -X {} {headers} --data-binary {} {url}",
                    r.method,
                    shell_word(&format!("@{}", body.display()))
                );
            }
            (true, None) => {
                let _ = writeln!(
                    text,
                    "  curl -s -X {} {headers} --data-binary @BODY {url}",
                    r.method,
                );
            }
            (false, _) => {
                let _ = writeln!(text, "  curl -s {url}");
                if let Some(plan) = &r.aggregate {
                    for (name, _) in &plan.profiles {
                        let choice = match &plan.selector {
                            Some(crate::aggregate::Selector::Header(h)) => {
                                format!("-H {} {url}", shell_word(&format!("{h}: {name}")))
                            }
                            Some(crate::aggregate::Selector::Query(q)) => {
                                let sep = if path.contains('?') { '&' } else { '?' };
                                shell_word(&format!("http://{local}{path}{sep}{q}={name}"))
                            }
                            None => continue,
                        };
                        let _ = writeln!(text, "  curl -s {choice}");
                    }
                }
            }
        }
    }
    let _ = writeln!(
        text,
        "  curl -s http://{admin}/openapi.json\n  curl -s http://{admin}/metrics\n"
    );
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_paths_are_one_shell_word() {
        assert_eq!(shell_word("@./tests/a.xml"), "@./tests/a.xml");
        assert_eq!(
            shell_word("@/tmp/my demo's/a.xml"),
            "'@/tmp/my demo'\\''s/a.xml'"
        );
    }
}
