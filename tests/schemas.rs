//! The published JSON Schemas of gateway.toml and of route files: equal to what
//! `schemagate schema` prints, valid JSON Schema 2020-12, accepting every shipped file and
//! refusing, at the right place, the mistakes the loader refuses.

mod common;

use std::path::{Path, PathBuf};

use common::repo;
use serde_json::Value;

/// What `schemagate schema WHICH` prints (the command formats the same functions' output).
fn printed(which: &str) -> String {
    let schema = match which {
        "config" => schemagate::file_schema::config_schema(),
        _ => schemagate::file_schema::mapping_schema(),
    };
    format!("{}\n", serde_json::to_string_pretty(&schema).unwrap())
}

fn published(which: &str) -> Value {
    let path = repo().join(format!("docs/schema/{which}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text == printed(which),
        "{} differs from `schemagate schema {which}`: regenerate it with `schemagate schema {which} > docs/schema/{which}.schema.json`",
        path.display(),
    );
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("{which}: {e}"));
    schema
}

/// Instance locations of the schema's complaints, sorted; empty when the value is valid.
fn complaints(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    let mut at: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.instance_path().to_string())
        .collect();
    at.sort_unstable();
    at.dedup();
    at
}

/// Files named `name` or ending in `suffix` below the repository, build output aside.
fn shipped(accept: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![repo()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name();
            if entry.file_type().unwrap().is_dir() {
                if !matches!(name.to_str(), Some("target" | ".git" | "node_modules")) {
                    stack.push(path);
                }
            } else if accept(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// gateway.toml as an editor sees it, before substitution: a placeholder written bare where
/// a number goes (`workers = ${WORKERS:-1}`) is not TOML, so it is read as the placeholder
/// string it stands for.
fn config_value(text: &str) -> Value {
    let bare = regex::Regex::new(r#"(?m)^(\s*[A-Za-z0-9_.-]+\s*=\s*)(\$\{[^}]*\})"#).unwrap();
    let quoted = bare.replace_all(text, r#"$1"$2""#);
    let value: toml::Value = toml::from_str(&quoted).unwrap_or_else(|e| panic!("{e}\n{quoted}"));
    serde_json::to_value(value).unwrap()
}

#[test]
fn config_schema_accepts_every_shipped_configuration() {
    let schema = published("config");
    let files = shipped(&|p| p.file_name().is_some_and(|n| n == "gateway.toml"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    for expected in [
        "gateway.toml",
        "bench/gateway.toml",
        "deploy/kubernetes/gateway.toml",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    for file in &files {
        let value = config_value(&std::fs::read_to_string(file).unwrap());
        assert_eq!(
            complaints(&schema, &value),
            Vec::<String>::new(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn config_schema_refuses_what_the_loader_refuses() {
    let schema = published("config");
    for (text, at) in [
        ("[server]\nlisten = 8080\n", "/server/listen"),
        ("[server]\nworkers = \"four\"\n", "/server/workers"),
        ("[server]\nworkers = -1\n", "/server/workers"),
        ("[server]\nlistn = \"127.0.0.1:8080\"\n", "/server"),
        ("[logging]\nformat = \"xml\"\n", "/logging/format"),
        ("[logging]\nformat = \"${LOG_FORMAT\"\n", "/logging/format"),
        ("[admin]\nwatch = \"yes\"\n", "/admin/watch"),
        (
            "[upstreams.orders]\nurl = \"http://x\"\ntimeout = 5\n",
            "/upstreams/orders",
        ),
        ("[upstream.orders]\nurl = \"http://x\"\n", ""),
    ] {
        assert_eq!(complaints(&schema, &config_value(text)), [at], "{text}");
    }
    // Placeholders stand for any value, wherever values go.
    for text in [
        "[server]\nworkers = ${WORKERS:-4}\nlisten = \"${LISTEN}\"\n",
        "[server]\nmax_connections = \"${MAX_CONNECTIONS:-100}\"\n",
        "[logging]\nformat = \"${LOG_FORMAT:-json}\"\n",
        "[admin]\nwatch = \"${WATCH}\"\n",
    ] {
        assert_eq!(
            complaints(&schema, &config_value(text)),
            Vec::<String>::new(),
            "{text}"
        );
    }
}

/// For a document the schema refuses, where its complaints point: the deepest instance
/// location of all the errors every alternative reports (what an editor underlines);
/// `None` for a valid document.
fn deepest_complaint(schema: &Value, instance: &Value) -> Option<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    if validator.is_valid(instance) {
        return None;
    }
    let evaluation = validator.evaluate(instance);
    let mut at: Vec<String> = evaluation
        .iter_errors()
        .map(|e| e.instance_location.to_string())
        .collect();
    at.sort_by_key(|a| std::cmp::Reverse(a.matches('/').count()));
    Some(at.first().cloned().unwrap_or_default())
}

fn yaml_value(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Whether the gateway loads the route file, as `serve` and `check` would: in a tree of its
/// own, with schemas that admit anything and the upstream it names.
fn loader_accepts(text: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), text);
    loader_verdict(dir.path()).is_ok()
}

/// A gateway tree holding one route file.
fn write_tree(root: &Path, text: &str) {
    std::fs::create_dir_all(root.join("schemas")).unwrap();
    std::fs::create_dir_all(root.join("mappings/p")).unwrap();
    // Properties of any type, so the route files' mistakes are the only ones.
    std::fs::write(
        root.join("schemas/a.json"),
        r#"{"type": "object", "properties": {"x": {}, "y": {}, "list": {"type": "array"}}}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("schemas/b.json"),
        r#"{"type": "object", "properties": {"a": {}}}"#,
    )
    .unwrap();
    std::fs::write(root.join("mappings/p/route.yaml"), text).unwrap();
    std::fs::write(
        root.join("gateway.toml"),
        "[upstreams.s]\nurl = \"http://127.0.0.1:9\"\n[paths]\nfixtures = \"none\"\n",
    )
    .unwrap();
}

/// The diagnostics of loading the tree at `root`, if any.
fn loader_verdict(root: &Path) -> Result<(), String> {
    schemagate::config::load(&schemagate::config::LoadOptions {
        config_path: Some(root.join("gateway.toml")),
        ..Default::default()
    })
    .map(drop)
    .map_err(|d| {
        d.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn mapping_schema_accepts_every_shipped_route_file() {
    let schema = published("mapping");
    let files = shipped(&|p| {
        p.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && p.components().any(|c| c.as_os_str() == "mappings")
    });
    assert!(files.len() >= 4, "{files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(
            complaints(&schema, &yaml_value(&text)),
            Vec::<String>::new(),
            "{}",
            file.display()
        );
    }
}

const HEAD: &str = "route: { method: POST, path: /p, format: json }\nupstream: { service: s, path: /u }\nrequest:\n  schema: a.json\n  target: b.json\n  map:\n";

#[test]
fn mapping_schema_refuses_what_the_loader_refuses() {
    let schema = published("mapping");
    let mut wrong = Vec::new();
    for (text, at) in [
        (
            "route: { method: POTS, path: /p, format: json }\nupstream: { service: s, path: /u }\n".to_string(),
            "/route/method",
        ),
        (
            "route: { method: POST, path: /p, format: jsn }\nupstream: { service: s, path: /u }\n".to_string(),
            "/route/format",
        ),
        (
            "route: { method: POST, path: /p, format: json }\nupstream: { service: s, path: /u }\nreqest: {}\n".to_string(),
            "",
        ),
        (format!("{HEAD}    a: {{ from: /x, as: decmal }}\n"), "/request/map/a/as"),
        (format!("{HEAD}    a: {{ from: /x, frm: /y }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ from: /x, const: 1 }}\n"), "/request/map/a/const"),
        (format!("{HEAD}    a: {{ as: string }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ const: 1, apply: [trim] }}\n"), "/request/map/a/apply/0"),
        (format!("{HEAD}    a: {{ from: /x, map: {{}} }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ from: /x, fallback: 1 }}\n"), "/request/map/a/fallback"),
        (format!("{HEAD}    a: {{ from: /x, scale: 2 }}\n"), "/request/map/a/scale"),
        (format!("{HEAD}    a: {{ from: /x, rounding: half_even, as: string }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ from: /x, default: 1, on_missing: error }}\n"), "/request/map/a/default"),
        (format!("{HEAD}    a: {{ from: /x, on_null: default }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ each: /list }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ each: /list, item: ., as: string }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ each: /list, item: {{ from: ., as: integr }} }}\n"), "/request/map/a/item/as"),
        (format!("{HEAD}    a:\n      b: /x\n      as: integer\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ from: /x, apply: [trim, upcase] }}\n"), "/request/map/a/apply/1"),
        (format!("{HEAD}    a: {{ cases: [{{ when: {{ exists: /x }}, from: /x }}], as: string }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ from: /x, on_empty: default }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ template: x, on_empty: omit }}\n"), "/request/map/a"),
        (format!("{HEAD}    a: {{ from: /x, on_empty: blank }}\n"), "/request/map/a/on_empty"),
        (format!("{HEAD}    a: {{ from: /x, calc: [{{ divde: 2 }}] }}\n"), "/request/map/a/calc/0"),
        (format!("{HEAD}    a: {{ each: /list, item: ., on_empty: omit }}\n"), "/request/map/a"),
    ] {
        let got = deepest_complaint(&schema, &yaml_value(&text));
        if got.as_deref() != Some(at) || loader_accepts(&text) {
            wrong.push(format!(
                "{}\n  schema: {got:?} (expected {at}), loader accepts: {}",
                text.lines().last().unwrap_or(""),
                loader_accepts(&text)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // What the loader takes, the schema takes.
    for text in [
        format!("{HEAD}    a: {{ from: /x, as: decimal, scale: 2, rounding: half_even }}\n"),
        format!("{HEAD}    a: {{ const: null, when: {{ exists: /y }} }}\n"),
        format!("{HEAD}    a: {{ each: /list, item: {{ from: ., as: integer }} }}\n"),
        format!(
            "{HEAD}    a: {{ each: /list, map: {{ b: ., c.d: {{ from: ., as: string }} }} }}\n"
        ),
        format!("{HEAD}    a: {{ from: /x, lookup: {{ A: 1 }}, fallback: 0 }}\n"),
        format!("{HEAD}    a: {{ from: /x, on_null: default, default: 0 }}\n"),
        format!("{HEAD}    a:\n      b: /x\n      \\from: /y\n"),
        format!("{HEAD}    a: {{ from: /x, on_empty: null }}\n"),
        format!("{HEAD}    a: {{ from: /x, on_empty: default, default: 0 }}\n"),
        format!(
            "{HEAD}    a: {{ from: /x, calc: [{{ divide: 1000 }}, {{ round: {{ scale: 2, rounding: half_even }} }}], as: string }}\n"
        ),
        format!(
            "{HEAD}    a: {{ from: /x, calc: [{{ multiply: {{ from: /y, calc: [{{ add: \"0.5\" }}] }} }}, {{ round: 1 }}] }}\n"
        ),
        format!(
            "{HEAD}    a: {{ cases: [{{ when: {{ exists: /y }}, from: /y }}, {{ const: 1 }}] }}\n"
        ),
        format!("{HEAD}    a: {{ cases: [{{ when: {{ exists: /y }}, from: /y }}], default: 1 }}\n"),
        format!(
            "{HEAD}    a:\n      - {{ const: 1, when: {{ exists: /y }} }}\n      - {{ from: /x, when: {{ missing: /y }} }}\n"
        ),
        "route: { method: get, path: /p, format: json }\nupstream: { service: s, path: /u }\n"
            .to_string(),
    ] {
        assert_eq!(
            complaints(&schema, &yaml_value(&text)),
            Vec::<String>::new(),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &text);
        if let Err(d) = loader_verdict(dir.path()) {
            panic!("the loader refuses\n{text}\n{d}");
        }
    }
}
