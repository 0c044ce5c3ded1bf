//! Keeps the top-level modules of `src/` free of dependency cycles.
//!
//! A module of keyward is `src/<name>.rs` or `src/<name>/`; it uses another
//! when any of its files names that module by a path: `crate::store::Store`,
//! `use crate::{error::Error, store}`, or `super::super::auth` climbing out to
//! the crate root. With no cycle between them, every module can be read (and
//! tested) knowing only the modules below it. The crate root (`lib.rs`)
//! wires them all together, so a module that names something defined there
//! closes a cycle through it. `main.rs` is a crate of its own (it uses
//! keyward by name), and is not scanned.
//!
//! The scan reads code, not comments or string literals. It is written here,
//! some 200 lines, rather than taken from a crate (cargo-modules and the like
//! are whole tools, built from source in CI), and the tests at the end check
//! that it finds what it must.
#![allow(
    clippy::unwrap_used,
    reason = "a test: a panic is a failure, with its message"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// The crate root as a node of the graph.
const ROOT: &str = "lib.rs";

/// `from` → `to` → the files (relative to `src/`) where `from` names `to`.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn top_level_modules_depend_on_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_sources(&src, &src, &mut files);
    let graph = module_graph(&files);

    // The scan finds what is certainly there: were it to find nothing, the
    // absence of cycles would prove nothing.
    for (from, to) in [
        ("http", "graphql"),
        ("graphql", "store"),
        ("store", "error"),
    ] {
        assert!(
            graph.get(from).is_some_and(|uses| uses.contains_key(to)),
            "the scan missed {from} → {to}; it reads:\n{}",
            describe(&graph)
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "a dependency cycle between top-level modules of src/: {}\n\
             move one of these references so that the lower module does not \
             name the higher one (see ARCHITECTURE.md). The graph:\n{}",
            name_cycle(&graph, &cycle),
            describe(&graph)
        );
    }
}

/// Every `.rs` file under `dir`, with its path relative to `src`.
fn read_sources(src: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(src, &path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(src).unwrap();
            let relative = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(&path).unwrap();
            files.push((relative, text));
        }
    }
}

/// The graph between the top-level modules of `files` (paths relative to
/// `src/`, with `/` between folders).
fn module_graph(files: &[(String, String)]) -> Graph {
    let mut tops = BTreeSet::new();
    for (path, _) in files {
        let module = module_path(path);
        if let Some(top) = module.first() {
            tops.insert(top.clone());
        }
    }
    // What the root re-exports (`pub use config::{Config, ...}`) is named
    // `crate::Config` elsewhere, and belongs to the module it comes from.
    let mut reexports = BTreeMap::new();
    let mut graph = Graph::new();
    if let Some((_, root)) = files.iter().find(|(path, _)| path == "lib.rs") {
        reexports = root_reexports(&tokens(root), &tops);
        let uses = graph.entry(ROOT.to_owned()).or_default();
        for top in &tops {
            uses.entry(top.clone())
                .or_default()
                .insert("lib.rs".to_owned());
        }
    }
    for (path, text) in files {
        let module = module_path(path);
        let Some(top) = module.first() else { continue };
        graph.entry(top.clone()).or_default();
        for name in referenced_roots(&module, &tokens(text)) {
            let target = if tops.contains(&name) {
                name
            } else if let Some(owner) = reexports.get(&name) {
                owner.clone()
            } else {
                ROOT.to_owned()
            };
            if &target != top {
                graph
                    .entry(top.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(path.clone());
            }
        }
    }
    graph
}

/// The module a file defines: `auth/mod.rs` and `auth.rs` are `auth`,
/// `auth/guard.rs` is `auth::guard`; the crate roots are no module.
fn module_path(path: &str) -> Vec<String> {
    if path == "lib.rs" || path == "main.rs" || path.starts_with("bin/") {
        return Vec::new();
    }
    let mut parts: Vec<String> = path.split('/').map(str::to_owned).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
        if last == "mod" {
            parts.pop();
        }
    }
    parts
}

/// The source as tokens: identifiers, `::`, and single punctuation
/// characters, without comments, string and character literals.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1F600}'), or a lifetime.
            if at(i + 1) == '\\' {
                // Past the backslash and the escaped character.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // Raw strings: r"..", r#".."#, br#".."#.
            let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
            if (word == "r" || word == "br") && at(i + hashes) == '"' {
                i += hashes + 1;
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !chars[i..].iter().collect::<String>().starts_with(&close)
                {
                    i += 1;
                }
                i += close.len();
            } else if word == "b" && at(i) == '"' {
                // A byte string: the next round skips it as a string.
            } else if word == "b" && at(i) == '\'' {
                // A byte literal: the next round skips it as a character.
            } else {
                out.push(word);
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push("::".to_owned());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// The names, at the crate root, that code of `module` refers to: the
/// first segment after `crate::`, or after as many `super::` as climb out
/// of the file's module (and the inline modules around the path).
fn referenced_roots(module: &[String], tokens: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    // Inline modules (`mod tests { .. }`) open at a brace depth.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        let after_path = i > 0 && tokens[i - 1] == "::";
        match token {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last().is_some_and(|(_, open)| *open == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                inline.push((tokens[i + 1].clone(), depth));
            }
            "crate" if !after_path && next_is(tokens, i + 1, "::") => {
                first_segments(tokens, i + 2, &mut names);
            }
            "super" if !after_path && next_is(tokens, i + 1, "::") => {
                let mut here: Vec<&String> = module
                    .iter()
                    .chain(inline.iter().map(|(name, _)| name))
                    .collect();
                let mut j = i;
                while tokens.get(j).is_some_and(|t| t == "super") && next_is(tokens, j + 1, "::") {
                    here.pop();
                    j += 2;
                }
                if here.is_empty() {
                    first_segments(tokens, j, &mut names);
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

fn next_is(tokens: &[String], i: usize, expected: &str) -> bool {
    tokens.get(i).is_some_and(|t| t == expected)
}

/// The first segment of the path at `i`, or of each path of a `{..}` group.
fn first_segments(tokens: &[String], i: usize, names: &mut BTreeSet<String>) {
    match tokens.get(i).map(String::as_str) {
        Some("{") => {
            let mut depth = 0;
            let mut expecting = true;
            for token in &tokens[i..] {
                match token.as_str() {
                    "{" => {
                        depth += 1;
                        expecting = depth == 1;
                    }
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "," if depth == 1 => expecting = true,
                    name if expecting && depth == 1 => {
                        if name != "self" && is_identifier(name) {
                            names.insert(name.to_owned());
                        }
                        expecting = false;
                    }
                    _ => {}
                }
            }
        }
        Some(name) if is_identifier(name) => {
            names.insert(name.to_owned());
        }
        _ => {}
    }
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The names the root re-exports from a top-level module, with that
/// module: `pub use error::{Error, StartupError};` and the like.
fn root_reexports(tokens: &[String], tops: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    for (i, window) in tokens.windows(3).enumerate() {
        if window[0] != "pub" || window[1] != "use" || !tops.contains(&window[2]) {
            continue;
        }
        let statement = tokens[i + 2..].iter().take_while(|t| *t != ";");
        let statement: Vec<&String> = statement.collect();
        // A name is the last segment of a path: followed by `,`, `}` or the end.
        for (j, token) in statement.iter().enumerate() {
            let next = statement.get(j + 1).map(|t| t.as_str());
            if is_identifier(token)
                && matches!(next, None | Some(",") | Some("}"))
                && token.as_str() != "self"
            {
                owners.insert((*token).clone(), window[2].clone());
            }
        }
    }
    owners
}

/// A cycle of the graph, as its modules in order, if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    // Depth-first, marking modules on the current path: an edge back to one
    // of them closes a cycle.
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

/// `a → b (src/a/x.rs) → a (src/b.rs)`: each edge with (the first few of)
/// the files that make it.
fn name_cycle(graph: &Graph, cycle: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = cycle[0].clone();
    for (i, from) in cycle.iter().enumerate() {
        let to = &cycle[(i + 1) % cycle.len()];
        let files = &graph[from][to];
        let shown: Vec<String> = files
            .iter()
            .take(SHOWN)
            .map(|f| format!("src/{f}"))
            .collect();
        let more = match files.len().saturating_sub(SHOWN) {
            0 => String::new(),
            more => format!(" and {more} more"),
        };
        write!(text, " → {to} ({}{more})", shown.join(", ")).unwrap();
    }
    text
}

/// One line per module: the modules it uses.
fn describe(graph: &Graph) -> String {
    let mut text = String::new();
    for (from, uses) in graph {
        let uses: Vec<&str> = uses.keys().map(String::as_str).collect();
        writeln!(text, "  {from} → {}", uses.join(", ")).unwrap();
    }
    text
}

/// A synthetic crate: (path relative to `src/`, source).
fn synthetic(files: &[(&str, &str)]) -> Graph {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))
        .collect();
    module_graph(&files)
}

fn uses(graph: &Graph, from: &str) -> Vec<String> {
    graph
        .get(from)
        .map(|uses| uses.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn a_cycle_between_modules_is_found_and_named_with_its_files() {
    let graph = synthetic(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a.rs", "use crate::b::Thing;"),
        ("b/mod.rs", "mod inner;"),
        ("b/inner.rs", "pub fn f() { crate::c::g() }"),
        ("c.rs", "use crate::{a, d::D};"),
        ("d.rs", ""),
    ]);
    let cycle = find_cycle(&graph).expect("a → b → c → a is a cycle");
    assert_eq!(cycle, ["a", "b", "c"]);
    assert_eq!(
        name_cycle(&graph, &cycle),
        "a → b (src/a.rs) → c (src/b/inner.rs) → a (src/c.rs)"
    );

    // Without c's use of a, the same modules have no cycle.
    let graph = synthetic(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a.rs", "use crate::b::Thing;"),
        ("b/mod.rs", "mod inner;"),
        ("b/inner.rs", "pub fn f() { crate::c::g() }"),
        ("c.rs", "use crate::d::D;"),
        ("d.rs", ""),
    ]);
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn paths_are_read_from_use_groups_super_chains_and_expressions() {
    let graph = synthetic(&[
        (
            "lib.rs",
            "pub mod a; pub mod b; pub mod c; pub mod d; pub mod e; pub mod f; pub mod g;",
        ),
        (
            "a/x/y.rs",
            r##"
            use crate::{
                b::{self, B},
                c,
            };
            use super::super::super::d::D; // from a::x::y: out to the root, then d
            use super::super::Same; // a, still

            fn h() -> u8 {
                let _ = '{'; // a brace in a character, not a block
                let _: &'static str = "crate::g::not_code";
                let _ = r#"super::super::super::g"#;
                /* crate::g /* nested */ crate::g */
                crate::e::f(b'{')
            }

            #[cfg(test)]
            mod tests {
                // Inside a::x::y::tests: one more super to the root.
                use super::super::super::super::f::F;
            }
            "##,
        ),
        ("b.rs", ""),
        ("c.rs", ""),
        ("d.rs", ""),
        ("e.rs", ""),
        ("f.rs", ""),
        ("g.rs", ""),
    ]);
    assert_eq!(uses(&graph, "a"), ["b", "c", "d", "e", "f"]);
}

#[test]
fn a_module_naming_what_the_root_defines_closes_a_cycle_through_it() {
    let graph = synthetic(&[
        (
            "lib.rs",
            "pub mod config; pub mod store; pub use config::{Config, Options as DbOptions};
             pub struct Application;",
        ),
        ("config.rs", "pub struct Config; pub struct Options;"),
        (
            "store.rs",
            "fn f(_: crate::DbOptions, _: &crate::Config) {}",
        ),
    ]);
    // Re-exports lead to their module...
    assert_eq!(uses(&graph, "store"), ["config"]);
    assert_eq!(find_cycle(&graph), None);

    // ...what the root defines leads back to the root, which uses everything.
    let graph = synthetic(&[
        ("lib.rs", "pub mod store; pub struct Application;"),
        ("store.rs", "fn f(_: crate::Application) {}"),
    ]);
    assert_eq!(
        find_cycle(&graph).map(|c| c.join(" → ")),
        Some("lib.rs → store".to_owned())
    );
}
