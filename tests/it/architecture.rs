//! The shape of `src/` that ARCHITECTURE.md promises: no import circle between files, no
//! file over 500 lines, a root of at most 12 files, every file named in ARCHITECTURE.md and
//! saying whether it is pure, and printing only in `output.rs` (the lints enforce the last).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `src/`, as a path relative to it.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(src()).unwrap().to_owned());
        }
    }
}

/// The module path of a file: `commands/mod.rs` → `commands`, `urls/tests.rs` →
/// `urls::tests`, `lib.rs` → ``.
fn module_of(file: &Path) -> String {
    let mut parts: Vec<String> = file
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The file a module path lives in: the longest prefix that names a module.
fn resolve(path: &[&str], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// `crate::a::b`, `super::a` and (in a parent) `child::x` references, as module edges.
fn edges(file: &Path, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let me = module_of(file);
    let parent: Vec<&str> = if file.ends_with("mod.rs") || file == Path::new("lib.rs") {
        me.split("::").filter(|s| !s.is_empty()).collect()
    } else {
        let mut p: Vec<&str> = me.split("::").collect();
        p.pop();
        p
    };
    let mut found = BTreeSet::new();
    // A module's inline tests may use it freely, as its `tests.rs` may.
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or_default();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let idents = |rest: &str| -> Vec<String> {
        rest.split("::")
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| !s.is_empty())
            .collect()
    };
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
        for (i, _) in code.match_indices(prefix) {
            let mut path: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
            path.extend(idents(&code[i + prefix.len()..]));
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(m) = resolve(&path, modules) {
                found.insert(m);
            }
        }
    }
    // A parent naming its own children (`check::Check` in doctor/mod.rs).
    let is_parent = file.ends_with("mod.rs") || file == Path::new("lib.rs");
    let own: Vec<&str> = me.split("::").filter(|s| !s.is_empty()).collect();
    for child in modules.iter().filter(|_| is_parent).filter_map(|m| {
        let prefix = if own.is_empty() {
            String::new()
        } else {
            format!("{}::", own.join("::"))
        };
        m.strip_prefix(&prefix)
            .filter(|rest| !rest.contains("::") && !rest.is_empty())
    }) {
        if code.contains(&format!("{child}::")) {
            let mut path = own.clone();
            path.push(child);
            found.insert(path.join("::"));
        }
    }
    found.remove(&me);
    found
}

#[test]
fn src_has_no_import_circle() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let modules: BTreeSet<String> = all.iter().map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        if file == Path::new("main.rs") {
            continue;
        }
        let text = fs_err::read_to_string(src().join(file)).unwrap();
        graph.insert(module_of(file), edges(file, &text, &modules));
    }
    // Tests of a module may use it freely.
    graph.retain(|m, _| !m.ends_with("::tests"));
    let mut circles = Vec::new();
    for start in graph.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    circles.push(format!("{} → {start}", path.join(" → ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
    // The graph is not empty by accident: the dispatcher reaches the commands.
    assert!(graph[""].contains("commands"), "{:?}", graph[""]);
    assert!(graph["commands::setup"].contains("commands::steps"));
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let long: Vec<String> = all
        .iter()
        .filter_map(|f| {
            let n = fs_err::read_to_string(src().join(f))
                .unwrap()
                .lines()
                .count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

/// Every source file, as ARCHITECTURE.md names it (`src/…`).
fn source_files() -> Vec<String> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut names: Vec<String> = all.iter().map(|f| format!("src/{}", f.display())).collect();
    names.sort();
    names
}

#[test]
fn architecture_md_names_every_source_file() {
    let map = fs_err::read_to_string(src().join("../ARCHITECTURE.md")).unwrap();
    let missing: Vec<String> = source_files()
        .into_iter()
        .filter(|f| !map.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name {missing:?}"
    );
}

#[test]
fn the_root_holds_the_entry_points_and_what_everything_uses() {
    let root: Vec<String> = source_files()
        .into_iter()
        .filter(|f| f.matches('/').count() == 1)
        .collect();
    assert!(root.len() <= 12, "{} files in src/: {root:?}", root.len());
    assert!(root.contains(&"src/main.rs".to_owned()), "{root:?}");
}

#[test]
fn every_module_says_whether_it_is_pure() {
    let unsaid: Vec<String> = source_files()
        .into_iter()
        .filter(|f| !f.ends_with("/tests.rs"))
        .filter(|f| {
            let text = fs_err::read_to_string(src().join(f.trim_start_matches("src/"))).unwrap();
            let doc: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join(" ");
            !(doc.contains("Pure") || doc.contains("pure") || doc.contains("I/O"))
        })
        .collect();
    assert!(
        unsaid.is_empty(),
        "these modules' `//!` docs do not say pure or I/O: {unsaid:?}"
    );
}
