//! Dependencies flow one way: the core never names a chat adapter, and the domain names nothing
//! outside itself. Read from the source, so that a new import breaks the build's tests at once.

use std::path::{Path, PathBuf};

/// Every `.rs` file under these paths (files or folders) of the crate.
fn sources(paths: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    assert!(!files.is_empty(), "no sources under {paths:?}");
    files
}

/// The `crate::…` modules a line of Rust refers to, including inside `use crate::{…}` groups.
fn crate_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            found.extend(group.split(',').map(|item| first_segment(item.trim())));
        } else {
            found.push(first_segment(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// `file:line: text` for every line of these sources that refers to one of `forbidden`, or to
/// anything but `allowed`.
fn offending(paths: &[&str], is_forbidden: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for file in sources(paths) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if crate_modules(line).iter().any(|m| is_forbidden(m)) {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn the_core_names_no_chat_adapter() {
    let core = [
        "src/access",
        "src/domain",
        "src/store",
        "src/providers",
        "src/graph.rs",
        "src/retry.rs",
        "src/scheduler.rs",
    ];
    let found = offending(&core, |module| {
        ["slack", "teams", "app", "http", "cli", "scheduler"].contains(&module)
    });
    assert!(
        found.is_empty(),
        "the core reaches into an adapter:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_domain_names_nothing_outside_itself() {
    let found = offending(&["src/domain"], |module| module != "domain");
    assert!(
        found.is_empty(),
        "the domain reaches out:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_import_reader_sees_groups_and_paths() {
    assert_eq!(
        crate_modules("use crate::{access, slack::api};"),
        ["access", "slack"]
    );
    assert_eq!(
        crate_modules("    crate::teams::delivery::post(app)"),
        ["teams"]
    );
    assert!(crate_modules("use super::Core;").is_empty());
}
