//! The module graph of a crate, read from its sources with `syn`: which file module refers to
//! which (every `crate::`, `self::` and `super::` path, in `use` items and in code; test
//! modules left out). Two checks on it: no cycle between modules, and layer rules ("a module
//! under X never refers to one under Y").
//!
//! Nodes are file modules (`src/a/b.rs` is `a::b`, `src/a/mod.rs` is `a`, `lib.rs` and
//! `main.rs` the root ""). A path resolves to the longest file module it names. A reference
//! from a module to one of its ancestors (`super::Item`) is not an edge: items a parent shares
//! with its children are how Rust modules are built, not a dependency between layers.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use syn::visit::Visit;

/// Module → the modules it refers to.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads every `.rs` file under `src`.
pub fn read(src: &Path) -> Graph {
    let mut files = Vec::new();
    collect(src, src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = Graph::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut paths = Paths::default();
        paths.visit_file(&file);
        let edges = graph.entry(module.clone()).or_default();
        for path in paths.0 {
            let Some(absolute) = absolute(module, &path) else {
                continue;
            };
            let Some(target) = longest_module(&modules, &absolute) else {
                continue;
            };
            let ancestor = target.is_empty()
                || module == &target
                || module.starts_with(&format!("{target}::"));
            if !ancestor {
                edges.insert(target);
            }
        }
    }
    graph
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            out.push((parts.join("::"), path));
        }
    }
}

/// Every path of the file outside `#[cfg(test)]` items, as its segments.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        fn walk(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            match tree {
                syn::UseTree::Path(p) => {
                    prefix.push(p.ident.to_string());
                    walk(&p.tree, prefix, out);
                    prefix.pop();
                }
                syn::UseTree::Name(n) => {
                    let mut path = prefix.clone();
                    if n.ident != "self" {
                        path.push(n.ident.to_string());
                    }
                    out.push(path);
                }
                syn::UseTree::Rename(r) => {
                    let mut path = prefix.clone();
                    path.push(r.ident.to_string());
                    out.push(path);
                }
                syn::UseTree::Glob(_) => out.push(prefix.clone()),
                syn::UseTree::Group(g) => {
                    for tree in &g.items {
                        walk(tree, prefix, out);
                    }
                }
            }
        }
        if !is_test(&item.attrs) {
            walk(&item.tree, &mut Vec::new(), &mut self.0);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.0
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

/// `path` (as written in `module`) from the crate root, when it starts with `crate`, `self`
/// or `super`.
fn absolute(module: &str, path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn longest_module(modules: &BTreeSet<String>, path: &[String]) -> Option<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// Every cycle's modules (strongly connected components of more than one module).
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Tarjan's algorithm.
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn connect<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                connect(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            connect(&mut state, v);
        }
    }
    state.found
}

/// The module and its sub-modules: `a` is under `a`, `a::b` too, `ab` is not.
pub fn under(module: &str, layer: &str) -> bool {
    module == layer || module.starts_with(&format!("{layer}::"))
}

/// Every `from → to` edge where `from` is under `layer` (but under none of `except`) and
/// `to` is under one of `forbidden`.
pub fn violations(graph: &Graph, layer: &str, except: &[&str], forbidden: &[&str]) -> Vec<String> {
    graph
        .iter()
        .filter(|(from, _)| under(from, layer) && !except.iter().any(|e| under(from, e)))
        .flat_map(|(from, targets)| {
            targets
                .iter()
                .filter(|to| forbidden.iter().any(|f| under(to, f)))
                .map(move |to| format!("{from} → {to}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_reader_finds_uses_paths_and_cycles() {
        let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("lib.rs"), "pub mod a; pub mod b; pub mod c;").unwrap();
        std::fs::write(
            dir.join("a/mod.rs"),
            "pub mod x; use self::x::X; pub struct A;",
        )
        .unwrap();
        std::fs::write(
            dir.join("a/x.rs"),
            "pub struct X(super::A); fn f() { crate::b::g(); }",
        )
        .unwrap();
        std::fs::write(
            dir.join("b.rs"),
            "use crate::{c::C, a::x};\npub fn g() {}\n#[cfg(test)] mod tests { use crate::a::A; }",
        )
        .unwrap();
        std::fs::write(dir.join("c.rs"), "pub struct C; fn h() { crate::a::x::X; }").unwrap();
        let graph = read(&dir);
        let edges = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
        assert_eq!(edges("a"), ["a::x"]);
        assert_eq!(edges("a::x"), ["b"], "the parent is not an edge");
        assert_eq!(edges("b"), ["a::x", "c"], "test modules are left out");
        assert_eq!(edges("c"), ["a::x"]);
        assert_eq!(cycles(&graph), vec![vec!["a::x", "b", "c"]]);
        assert_eq!(violations(&graph, "b", &[], &["c"]), ["b → c"]);
        assert!(violations(&graph, "a", &["a::x"], &["b"]).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
