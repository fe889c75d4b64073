//! The config loader: a `gateway.toml`, a route file and a schema, written into a scratch
//! copy of the example tree and put through `check` (the one compile step `serve` and
//! reload use, then the golden fixtures). Every refusal must be a diagnostic.
//!
//! Input: `gateway.toml`, a `%%` line, the text of `mappings/globex/orders.yaml`, a `%%`
//! line, the text of `schemas/globex/order.schema.json`. A part left out keeps the example
//! file.

mod split;

use std::fs;
use std::path::{Path, PathBuf};

use schemagate::config::LoadOptions;

const ROUTE: &str = "mappings/globex/orders.yaml";
const SCHEMA: &str = "schemas/globex/order.schema.json";

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("schemagate-fuzz-config-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    for sub in ["schemas", "mappings", "tests/fixtures"] {
        copy_tree(&repo.join(sub), &dir.join(sub)).expect("copy the example tree");
    }
    let originals = [
        fs::read(repo.join("gateway.toml")).expect("gateway.toml"),
        fs::read(repo.join(ROUTE)).expect("route file"),
        fs::read(repo.join(SCHEMA)).expect("schema"),
    ];
    let files = [dir.join("gateway.toml"), dir.join(ROUTE), dir.join(SCHEMA)];
    let opts = LoadOptions {
        config_path: Some(files[0].clone()),
        ..Default::default()
    };
    afl::fuzz!(|data: &[u8]| {
        let parts = split::parts(data, 3);
        // The configuration names files and directories; one naming somewhere outside the
        // scratch tree (`/`, `/dev/zero`, `${HOME}`) would fuzz the machine, not the loader.
        if parts.first().is_some_and(|toml| leaves_the_tree(toml)) {
            return;
        }
        for (i, file) in files.iter().enumerate() {
            let body = parts.get(i).copied().unwrap_or(&originals[i]);
            fs::write(file, body).expect("write the scratch file");
        }
        let report = schemagate::check::run(&opts);
        // A refused configuration says why.
        assert!(
            report.ok || !report.diagnostics.is_empty(),
            "refused without a diagnostic"
        );
    });
}

/// Whether a configuration text could name a path outside the scratch tree: an absolute
/// or parent path, an environment variable, or a string form that could spell one.
fn leaves_the_tree(toml: &[u8]) -> bool {
    const SPELLINGS: [&[u8]; 9] = [
        b"$", b"..", b"~", b"\\u", b"\\U", b"\"\"\"", b"'''", b"\"/", b"'/",
    ];
    SPELLINGS
        .iter()
        .any(|s| toml.windows(s.len()).any(|w| w == *s))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
