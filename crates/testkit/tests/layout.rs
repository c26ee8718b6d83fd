//! The workspace's shape, checked so that it stays as docs/architecture.md describes it:
//! small source files, modules that do not import each other in circles, a per-compile
//! client that links no service, and an architecture document naming only what exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The longest a non-test source file may grow; past it, a file is doing more than one
/// thing and should be split by concern.
const MOST_LINES: usize = 650;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// Every `*.rs` under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The crates' `src` directories, by crate directory name.
fn crate_sources() -> BTreeMap<String, PathBuf> {
    let crates = workspace().join("crates");
    std::fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src").is_dir())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                p.join("src"),
            )
        })
        .collect()
}

/// A file's code before its unit tests, without comment lines.
fn code_of(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .take_while(|line| !line.trim_start().starts_with("#[cfg(test)]"))
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(str::to_owned)
        .collect()
}

/// Whether `path` holds only tests (a `tests.rs` or `*_tests.rs` module).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_stem().unwrap().to_string_lossy();
    name == "tests" || name.ends_with("_tests")
}

#[test]
fn no_source_file_outgrows_one_concern() {
    let mut long = Vec::new();
    for src in crate_sources().values() {
        for path in sources(src) {
            if is_test_file(&path) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines = text
                .lines()
                .take_while(|line| !line.trim_start().starts_with("#[cfg(test)]"))
                .count();
            if lines > MOST_LINES {
                long.push(format!("{} ({lines} lines)", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split by concern: {long:?} (over {MOST_LINES} lines before its tests)"
    );
}

/// The module path of `path` under `src` (`a::b` for `a/b.rs` or `a/b/mod.rs`); `None`
/// for binaries, which nothing imports.
fn module_of(src: &Path, path: &Path) -> Option<Vec<String>> {
    let relative = path.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") || parts.last().is_some_and(|p| p == "main") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    Some(parts)
}

/// The modules `code` (in module `module`) names through `crate::` or `super::`: the
/// longest known module each path starts with, leaving out the module's own ancestors
/// and descendants (a parent declares its children, a child uses its parent's items).
fn imports(module: &[String], code: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let words = |rest: &str| -> Vec<String> {
        rest.split("::")
            .map(|w| {
                w.chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|w| !w.is_empty())
            .collect()
    };
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut path = base.clone();
            path.extend(words(&code[at + prefix.len()..]));
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|candidate| known.contains(candidate));
            if let Some(target) = target {
                let related = target.starts_with(module) || module.starts_with(&target);
                if !related {
                    found.insert(target);
                }
            }
        }
    }
    found
}

/// A module that reaches itself again through the edges of `graph`, as the circle.
fn circle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut names: Vec<String> = path[at..].iter().map(|n| n.join("::")).collect();
            names.push(node.join("::"));
            return Some(names);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let mut circles = Vec::new();
    for (name, src) in crate_sources() {
        let modules: BTreeMap<Vec<String>, PathBuf> = sources(&src)
            .into_iter()
            .filter(|path| !is_test_file(path))
            .filter_map(|path| Some((module_of(&src, &path)?, path)))
            .collect();
        let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
        let graph = modules
            .iter()
            .map(|(module, path)| {
                let code = code_of(path).join("\n");
                (module.clone(), imports(module, &code, &known))
            })
            .collect();
        if let Some(found) = circle(&graph) {
            circles.push(format!("{name}: {}", found.join(" -> ")));
        }
    }
    assert!(circles.is_empty(), "modules in a circle: {circles:?}");
}

#[test]
fn the_circle_finder_finds_a_circle_and_only_a_circle() {
    let known: BTreeSet<Vec<String>> = [vec!["a".into()], vec!["b".into()], vec!["c".into()]]
        .into_iter()
        .collect();
    let a = imports(
        &["a".into()],
        "use crate::b::Thing;\nsuper::c::f();",
        &known,
    );
    assert_eq!(
        a,
        [vec!["b".into()], vec!["c".into()]].into_iter().collect()
    );
    let mut graph = BTreeMap::new();
    graph.insert(vec!["a".to_string()], a);
    graph.insert(vec!["b".to_string()], BTreeSet::new());
    graph.insert(vec!["c".to_string()], BTreeSet::new());
    assert_eq!(circle(&graph), None);
    graph.insert(
        vec!["c".to_string()],
        imports(&["c".into()], "use crate::a::X;", &known),
    );
    assert_eq!(
        circle(&graph),
        Some(vec!["a".to_string(), "c".to_string(), "a".to_string()])
    );
}

#[test]
fn the_per_compile_client_links_no_service() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "tree",
            "--offline",
            "-p",
            "ccfarm-client",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("ccfarm-proto"), "{tree}");
    for service in ["ccfarm-daemon", "ccfarm-scheduler", "opendal", "axum"] {
        assert!(
            !tree.lines().any(|l| l.starts_with(&format!("{service} "))),
            "ccfarm-client links {service}"
        );
    }
}

#[test]
fn the_architecture_document_names_only_what_exists() {
    let root = workspace();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let crates = crate_sources();
    for name in crates.keys() {
        assert!(
            doc.contains(&format!("crates/{name}")),
            "docs/architecture.md does not describe crates/{name}"
        );
    }
    let mut missing = Vec::new();
    for word in doc.split(|c: char| c == '`' || c.is_whitespace() || c == '(' || c == ')') {
        let word = word.trim_end_matches([',', '.', ';', ':']);
        let named = if let Some(rest) = word.strip_prefix("crates/") {
            Some(PathBuf::from("crates").join(rest))
        } else {
            let first = word.split('/').next().unwrap_or_default();
            let in_crate = crates.contains_key(first)
                && (word.contains("/src/") || word.contains("/tests/"))
                && word.ends_with(".rs");
            in_crate.then(|| PathBuf::from("crates").join(word))
        };
        if let Some(path) = named.filter(|path| !root.join(path).exists()) {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what does not exist: {missing:?}"
    );
}
