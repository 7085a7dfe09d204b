//! `cargo xtask deps`: import cycles between the modules of a crate.
//!
//! A module is a file under the crate's `src/`: `foo.rs` or `foo/mod.rs` is `foo`, `foo/bar.rs`
//! is `foo::bar`; `lib.rs` and `main.rs` are the crate root. Each file is read with its
//! comments (line, block, doc) and its string and char literals blanked out (raw strings
//! `r#"…"#` included; lifetimes such as `'a` are left alone), and every path that starts with
//! `crate::`, `super::`, `self::` (or `$crate::` in a macro) is a reference, including each
//! leaf of a `use crate::{a, b::{c, d}}` group. A reference resolves to the longest path that is
//! a module file: `crate::store::sql::Pool` is `store::sql` if `store/sql.rs` exists, else
//! `store`. Inline `mod name { … }` blocks are followed, so `super::` in a file's
//! `mod tests { use super::*; }` is the file itself.
//!
//! Cycles are looked for at every level, with Tarjan's strongly connected components:
//!
//! * **top level**: between `crate::a` and `crate::b`; a reference from anywhere in `a`'s
//!   subtree to anywhere in `b`'s is the edge `a → b`. The crate root is left out: it holds the
//!   `mod` lines, the re-exports and, in some crates, the shared vocabulary, all of which every
//!   module may use without that being a cycle.
//! * **inside each folder** `p`: between `p`'s children, from references made inside `p`'s
//!   subtree. `p`'s own file (`p/mod.rs` or `p.rs`) is left out the same way: a parent
//!   declaring and re-exporting its children is not a cycle. Because the parent has no edges of
//!   its own there, a child's reference to the parent's items (`super::Item`) could never close
//!   a cycle, so such references are not drawn as edges.
//!
//! Choices worth knowing:
//!
//! * `#[cfg(test)]` code counts. A test module is compiled code that names other modules; a
//!   cycle through tests tangles the modules just the same.
//! * Names brought in by `use crate::a;` and then used bare (`a::f()`) are covered by the `use`
//!   line itself. Relative paths that start with a sibling's bare name, `#[path]` attributes and
//!   `include!` are not followed, and `src/bin/` (separate crates) is not read.
//! * A visibility such as `pub(in crate::a)` names a module without using it and is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// What `cargo xtask deps` checks: `src/` folders relative to the workspace root.
pub const CHECKED: [&str; 2] = ["shared-physics/src", "server/src"];

/// A module's path below the crate root (empty for the root).
type Module = Vec<String>;

/// Checks the `src/` folders `srcs` (relative to `root`, e.g. `"shared-physics/src"`), prints
/// every import cycle with one example location per edge and a summary line per crate, and
/// fails if any folder has a cycle.
pub fn check(root: &Path, srcs: &[&str]) -> Result<(), String> {
    let mut cyclic = Vec::new();
    for src in srcs {
        let dir = root.join(src);
        let files = read_tree(&dir)?;
        let name =
            Path::new(src).parent().and_then(|p| p.file_name()).map_or_else(|| src.to_string(), |n| n.to_string_lossy().into_owned());
        let report = analyse(&files);
        print!("{}", report.render(&name, src));
        if !report.cycles.is_empty() {
            cyclic.push(format!("{name} ({})", report.cycles.len()));
        }
    }
    if cyclic.is_empty() {
        Ok(())
    } else {
        Err(format!("import cycles in {}", cyclic.join(", ")))
    }
}

/// Every `.rs` file under `dir` (but `bin/`), as `(path relative to dir with '/', contents)`.
fn read_tree(dir: &Path) -> Result<Vec<(String, String)>, String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if path.is_dir() {
                if child != "bin" {
                    walk(&path, &child, out)?;
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                out.push((child, text));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// The module a file under `src/` is (`a/b.rs` and `a/b/mod.rs` are `a::b`).
fn module_of(rel: &str) -> Module {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Module = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") || (parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main")) {
        parts.pop();
    }
    parts
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

/// One reference from a file to a module.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    from: Module,
    to: Module,
    file: String,
    line: usize,
}

/// A strongly connected component of more than one module at one level.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The folder whose children form the cycle (empty: the top level).
    pub parent: Module,
    /// The modules of the component, sorted.
    pub members: Vec<Module>,
    /// Every edge between members, with one example location (`file:line`, relative to `src/`).
    pub edges: Vec<(Module, Module, String)>,
}

/// What [`analyse`] found in one crate.
#[derive(Debug)]
pub struct Report {
    /// Module files, the crate root not counted.
    pub modules: usize,
    /// Distinct module-to-module references, the crate root and self-references not counted.
    pub edges: usize,
    /// Every cycle, top level first.
    pub cycles: Vec<Cycle>,
}

impl Report {
    /// The cycles and the summary line, file locations prefixed with `src` (the folder read).
    pub fn render(&self, name: &str, src: &str) -> String {
        let mut out = String::new();
        for c in &self.cycles {
            let level = if c.parent.is_empty() { "at the top level".to_string() } else { format!("inside `{}`", show(&c.parent)) };
            let members: Vec<String> = c.members.iter().map(|m| show(m)).collect();
            let _ = writeln!(out, "{name}: import cycle {level}: {}", members.join(", "));
            for (a, b, at) in &c.edges {
                let _ = writeln!(out, "    {} -> {}  ({src}/{at})", show(a), show(b));
            }
        }
        let n = self.cycles.len();
        let _ = writeln!(out, "{name}: {n} import cycle{} ({} modules, {} edges)", if n == 1 { "" } else { "s" }, self.modules, self.edges);
        out
    }
}

/// Finds the import cycles of a crate given as `(path under src/, contents)` pairs.
pub fn analyse(files: &[(String, String)]) -> Report {
    let mut modules: BTreeSet<Module> = files.iter().map(|(rel, _)| module_of(rel)).collect();
    modules.insert(Vec::new());
    let mut refs = Vec::new();
    for (rel, text) in files {
        references(rel, &module_of(rel), text, &modules, &mut refs);
    }
    refs.sort();
    modules.remove(&Vec::new());

    let edges: BTreeSet<(&Module, &Module)> =
        refs.iter().filter(|r| !r.from.is_empty() && !r.to.is_empty()).map(|r| (&r.from, &r.to)).collect();

    // Every folder with children, the crate root first.
    let mut parents: Vec<Module> = vec![Vec::new()];
    parents.extend(modules.iter().filter(|m| modules.iter().any(|c| c.len() == m.len() + 1 && c.starts_with(m))).cloned());
    let mut cycles = Vec::new();
    for parent in parents {
        let depth = parent.len() + 1;
        let children: Vec<Module> = modules.iter().filter(|m| m.len() == depth && m.starts_with(&parent)).cloned().collect();
        if children.len() < 2 {
            continue;
        }
        // Sibling edges, each with its first location.
        let mut sib: BTreeMap<(usize, usize), String> = BTreeMap::new();
        for r in &refs {
            if r.from.len() < depth || r.to.len() < depth || !r.from.starts_with(&parent) || !r.to.starts_with(&parent) {
                continue;
            }
            let a = children.iter().position(|c| r.from.starts_with(c));
            let b = children.iter().position(|c| r.to.starts_with(c));
            if let (Some(a), Some(b)) = (a, b) {
                if a != b {
                    sib.entry((a, b)).or_insert_with(|| format!("{}:{}", r.file, r.line));
                }
            }
        }
        let mut adj = vec![Vec::new(); children.len()];
        for &(a, b) in sib.keys() {
            adj[a].push(b);
        }
        for mut scc in tarjan(&adj) {
            if scc.len() < 2 {
                continue;
            }
            scc.sort_unstable();
            let edges = sib
                .iter()
                .filter(|((a, b), _)| scc.contains(a) && scc.contains(b))
                .map(|((a, b), at)| (children[*a].clone(), children[*b].clone(), at.clone()))
                .collect();
            cycles.push(Cycle { parent: parent.clone(), members: scc.iter().map(|&i| children[i].clone()).collect(), edges });
        }
    }
    Report { modules: modules.len(), edges: edges.len(), cycles }
}

/// Strongly connected components of the graph `adj` (Tarjan), each as node indices.
fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    struct State<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<usize>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = s.next;
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let adj = s.adj;
        for &w in &adj[v] {
            if s.index[w] == UNSEEN {
                visit(s, w);
                s.low[v] = s.low[v].min(s.low[w]);
            } else if s.on_stack[w] {
                s.low[v] = s.low[v].min(s.index[w]);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(scc);
        }
    }
    let n = adj.len();
    let mut s =
        State { adj, index: vec![UNSEEN; n], low: vec![0; n], on_stack: vec![false; n], stack: Vec::new(), next: 0, out: Vec::new() };
    for v in 0..n {
        if s.index[v] == UNSEEN {
            visit(&mut s, v);
        }
    }
    s.out
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `src` with comments and string, byte-string, raw-string and char literals replaced by
/// spaces (newlines kept, so line numbers stay).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, from: usize, to: usize| {
        for &ch in &c[from..to.min(c.len())] {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        let end = if ch == '/' && next == Some('/') {
            Some(c[i..].iter().position(|&x| x == '\n').map_or(c.len(), |p| i + p))
        } else if ch == '/' && next == Some('*') {
            let (mut j, mut depth) = (i + 2, 1);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            Some(j)
        } else if let Some(end) = raw_string_end(&c, i) {
            Some(end)
        } else if ch == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            Some(j + 1)
        } else if ch == '\'' {
            char_literal_end(&c, i)
        } else {
            None
        };
        match end {
            Some(end) => {
                blank(&mut out, i, end);
                i = end.min(c.len());
            }
            None => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// The end (exclusive) of a raw string literal (`r"…"`, `r#"…"#`, `br…`, `cr…`) starting at
/// `i`, if one does.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    if i > 0 && is_ident(c[i - 1]) {
        return None;
    }
    let mut j = match (c[i], c.get(i + 1)) {
        ('r', _) => i + 1,
        ('b' | 'c', Some('r')) => i + 2,
        _ => return None,
    };
    let hashes = c[j..].iter().take_while(|&&x| x == '#').count();
    j += hashes;
    if c.get(j) != Some(&'"') {
        return None; // `r#ident` or a plain identifier
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && c[j + 1..].iter().take(hashes).filter(|&&x| x == '#').count() == hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

/// The end (exclusive) of a char literal starting at the quote `i`; `None` for a lifetime or
/// a label (`'a`, `'static`, `'outer:`).
fn char_literal_end(c: &[char], i: usize) -> Option<usize> {
    match (c.get(i + 1), c.get(i + 2)) {
        (Some('\\'), _) => {
            // `'\n'`, `'\''`, `'\x7f'`, `'\u{1F600}'`: skip the escaped char, then find the quote.
            let mut j = i + 3;
            while j < c.len() && c[j] != '\'' && j - i < 12 {
                j += 1;
            }
            Some(j + 1)
        }
        (Some(&x), Some('\'')) if x != '\'' => Some(i + 3),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

/// The tokens of stripped source that paths are made of, each with its line.
fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = text.chars().collect();
    let (mut out, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if is_ident(ch) {
            let start = i;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw identifiers: `r#type` is the identifier `type`.
            if word == "r" && c.get(i) == Some(&'#') && c.get(i + 1).is_some_and(|&x| is_ident(x)) {
                continue;
            }
            let tok = if ch.is_ascii_digit() { Tok::Other } else { Tok::Ident(word) };
            out.push((tok, line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            let tok = match ch {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                '*' => Tok::Star,
                // A raw identifier's `#` (see above) joins nothing.
                '#' if i > 0 && c[i - 1] == 'r' && c.get(i + 1).is_some_and(|&x| is_ident(x)) => {
                    i += 1;
                    continue;
                }
                _ => Tok::Other,
            };
            out.push((tok, line));
            i += 1;
        }
    }
    out
}

fn ident(toks: &[(Tok, usize)], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some((Tok::Ident(w), _)) => Some(w),
        _ => None,
    }
}

/// Parses the use-tree or path starting at `toks[*i]` (an identifier): every leaf path, as
/// segments (a `self` segment, as in `a::{self, b}`, is dropped by [`absolute`]). Leaves `*i`
/// after it.
fn parse_tree(toks: &[(Tok, usize)], i: &mut usize, prefix: &[String], out: &mut Vec<Module>) {
    let mut segs = prefix.to_vec();
    loop {
        match toks.get(*i) {
            Some((Tok::Ident(w), _)) => {
                segs.push(w.clone());
                *i += 1;
            }
            Some((Tok::Open, _)) => {
                *i += 1;
                while let Some((t, _)) = toks.get(*i) {
                    match t {
                        Tok::Close => {
                            *i += 1;
                            break;
                        }
                        Tok::Comma => *i += 1,
                        // `X as Y`: the alias names nothing.
                        Tok::Ident(w) if w == "as" => *i += 2,
                        Tok::Ident(_) | Tok::Open | Tok::Star => parse_tree(toks, i, &segs, out),
                        _ => *i += 1,
                    }
                }
                return;
            }
            Some((Tok::Star, _)) => {
                *i += 1;
                break;
            }
            _ => break,
        }
        // Another segment, a group or a glob follows only after `::`.
        match (toks.get(*i), toks.get(*i + 1)) {
            (Some((Tok::PathSep, _)), Some((Tok::Ident(_) | Tok::Open | Tok::Star, _))) => *i += 1,
            _ => break,
        }
    }
    out.push(segs);
}

/// The absolute module path of `segs` (starting with `crate`, `self` or `super`) seen from
/// module `cur`, or `None` if it climbs above the root.
fn absolute(cur: &[String], segs: &[String]) -> Option<Module> {
    let mut base: Module = cur.to_vec();
    let mut rest = segs;
    while let Some(first) = rest.first() {
        match first.as_str() {
            "crate" => base.clear(),
            "self" => {}
            "super" => {
                base.pop()?;
            }
            _ => break,
        }
        rest = &rest[1..];
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// Collects the references of one file (module `module`, path `rel` under `src/`).
fn references(rel: &str, module: &Module, text: &str, modules: &BTreeSet<Module>, out: &mut Vec<Reference>) {
    let toks = tokens(&strip(text));
    // Inline `mod name { … }` blocks: (name, brace depth outside the block).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Open => {
                depth += 1;
                i += 1;
                continue;
            }
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|&(_, d)| d == depth) {
                    inline.pop();
                }
                i += 1;
                continue;
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(name), Some((Tok::Open, _))) = (ident(&toks, i + 1), toks.get(i + 2)) {
                    inline.push((name.to_string(), depth));
                    i += 2;
                    continue;
                }
            }
            _ => {}
        }
        let starts = matches!(ident(&toks, i), Some("crate" | "super" | "self"))
            && matches!(toks.get(i + 1), Some((Tok::PathSep, _)))
            && !matches!(i.checked_sub(1).map(|p| &toks[p].0), Some(Tok::PathSep))
            && i.checked_sub(1).and_then(|p| ident(&toks, p)) != Some("in");
        if !starts {
            i += 1;
            continue;
        }
        let line = toks[i].1;
        let mut leaves = Vec::new();
        parse_tree(&toks, &mut i, &[], &mut leaves);
        let mut cur = module.clone();
        cur.extend(inline.iter().map(|(n, _)| n.clone()));
        for leaf in leaves {
            let Some(path) = absolute(&cur, &leaf) else { continue };
            let to = (0..=path.len()).rev().map(|k| &path[..k]).find(|p| modules.contains(*p)).unwrap_or(&[]).to_vec();
            if to != *module {
                out.push(Reference { from: module.clone(), to, file: rel.to_string(), line });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
    }

    fn m(path: &str) -> Module {
        path.split("::").map(str::to_string).collect()
    }

    /// The distinct `from -> to` edges of a tree, as strings.
    fn edges(files: &[(&str, &str)]) -> Vec<String> {
        let files = tree(files);
        let mut modules: BTreeSet<Module> = files.iter().map(|(r, _)| module_of(r)).collect();
        modules.insert(Vec::new());
        let mut refs = Vec::new();
        for (rel, text) in &files {
            references(rel, &module_of(rel), text, &modules, &mut refs);
        }
        let set: BTreeSet<String> = refs.iter().map(|r| format!("{} -> {}", show(&r.from), show(&r.to))).collect();
        set.into_iter().collect()
    }

    #[test]
    fn files_are_modules() {
        assert_eq!(module_of("lib.rs"), Module::new());
        assert_eq!(module_of("main.rs"), Module::new());
        assert_eq!(module_of("store.rs"), m("store"));
        assert_eq!(module_of("store/mod.rs"), m("store"));
        assert_eq!(module_of("store/sql.rs"), m("store::sql"));
        assert_eq!(module_of("store/sql/mod.rs"), m("store::sql"));
    }

    #[test]
    fn a_two_module_cycle_is_found_with_its_edges() {
        let r = analyse(&tree(&[
            ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
            ("a.rs", "use crate::b::B;\npub struct A(B);\n"),
            ("b.rs", "pub struct B;\n\nfn f() -> crate::a::A {\n    todo!()\n}\n"),
        ]));
        assert_eq!(r.cycles.len(), 1);
        let c = &r.cycles[0];
        assert!(c.parent.is_empty());
        assert_eq!(c.members, [m("a"), m("b")]);
        assert_eq!(c.edges, [(m("a"), m("b"), "a.rs:1".to_string()), (m("b"), m("a"), "b.rs:3".to_string())]);
        assert_eq!((r.modules, r.edges), (2, 2));
        let text = r.render("demo", "demo/src");
        assert!(text.contains("demo: import cycle at the top level: a, b\n    a -> b  (demo/src/a.rs:1)\n"), "{text}");
        assert!(text.ends_with("demo: 1 import cycle (2 modules, 2 edges)\n"), "{text}");
    }

    #[test]
    fn a_longer_cycle_is_one_component_and_a_dag_is_none() {
        let cyclic = analyse(&tree(&[
            ("lib.rs", ""),
            ("a.rs", "use crate::b::X;"),
            ("b.rs", "use crate::c::Y;"),
            ("c.rs", "use crate::a::Z;"),
            ("d.rs", "use crate::a::Z;"),
        ]));
        assert_eq!(cyclic.cycles.len(), 1);
        assert_eq!(cyclic.cycles[0].members, [m("a"), m("b"), m("c")]);

        let dag = analyse(&tree(&[
            ("lib.rs", "pub use a::*; pub use b::*;"),
            ("a.rs", "use crate::b::X;\nuse crate::c::Y;\nuse crate::Root;"),
            ("b.rs", "use crate::c::Y;\nfn f() { crate::helper() }"),
            ("c.rs", "pub struct Y;"),
        ]));
        assert!(dag.cycles.is_empty(), "{:?}", dag.cycles);
        assert_eq!((dag.modules, dag.edges), (3, 3));
        assert!(dag.render("dag", "src").ends_with("dag: 0 import cycles (3 modules, 3 edges)\n"));
    }

    #[test]
    fn comments_strings_and_chars_are_not_references() {
        let a = r####"
// use crate::b::X;
/// See [`crate::b::X`].
//! crate::b
/* crate::b::X /* nested crate::b */ still a comment crate::b */
fn f<'a>(s: &'a str) -> &'a str {
    let _ = "crate::b::X \" crate::b";
    let _ = r#"crate::b "quoted" crate::b"#;
    let _ = br##"crate::b"# crate::b"##;
    let _ = ('"', '\'', b'x', '\u{1F600}');
    let _ = "crate::b";
    'outer: loop { break 'outer; }
    s
}
#[doc = "crate::b::X"]
fn g() -> crate::c::Y { crate::c::Y }
"####;
        let text = strip(a);
        assert_eq!(text.lines().count(), a.lines().count());
        assert!(!text.contains("crate::b"), "{text}");
        assert!(text.contains("fn f<'a>(s: &'a str) -> &'a str {"), "{text}");
        assert!(text.contains("'outer: loop { break 'outer; }"), "{text}");
        let files = [("lib.rs", ""), ("a.rs", a), ("b.rs", ""), ("c.rs", "")];
        assert_eq!(edges(&files), ["a -> c"]);
        let refs = {
            let modules = files.iter().map(|(r, _)| module_of(r)).collect();
            let mut out = Vec::new();
            references("a.rs", &m("a"), a, &modules, &mut out);
            out
        };
        assert_eq!(refs.iter().map(|r| r.line).collect::<Vec<_>>(), [16, 16]);
    }

    #[test]
    fn brace_groups_resolve_to_the_longest_module() {
        let files = [
            ("lib.rs", ""),
            ("a.rs", "use crate::{\n    store::{self, sql::{Pool, Row}},\n    net::*,\n    config::Config,\n    Kind,\n};\n"),
            ("store/mod.rs", ""),
            ("store/sql.rs", ""),
            ("net.rs", ""),
            ("config/mod.rs", ""),
        ];
        assert_eq!(edges(&files), ["a -> config", "a -> crate", "a -> net", "a -> store", "a -> store::sql"]);
        // An alias names nothing, even when it is spelt like a module.
        let files =
            [("lib.rs", ""), ("a.rs", "use crate::{store::Row as sql, net};"), ("store/mod.rs", ""), ("store/sql.rs", ""), ("net.rs", "")];
        assert_eq!(edges(&files), ["a -> net", "a -> store"]);
        // Generic arguments and struct literals end a path.
        let files = [("lib.rs", ""), ("a.rs", "fn f() { crate::b::make::<u8>(); let _ = crate::b::Thing { x: 1 }; }"), ("b.rs", "")];
        assert_eq!(edges(&files), ["a -> b"]);
    }

    #[test]
    fn super_self_and_inline_modules_resolve_from_where_they_are() {
        let files = [
            ("lib.rs", ""),
            ("store/mod.rs", "mod pool;\nmod sql;\npub use self::sql::Row;\nuse super::config::Config;\n"),
            ("store/pool.rs", "use super::Shared;\n"),
            ("store/sql.rs", "use super::pool::Pool;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::pool::Pool;\n}\npub(in crate::store) fn f() {}\n"),
            ("config.rs", "use self::inner::X;\nmod inner { pub use super::super::store::Row; }\n"),
        ];
        assert_eq!(
            edges(&files),
            ["config -> store", "store -> config", "store -> store::sql", "store::pool -> store", "store::sql -> store::pool"]
        );
    }

    #[test]
    fn sibling_cycles_inside_a_folder_are_found_but_a_parent_declaring_its_children_is_not_one() {
        let r = analyse(&tree(&[
            ("lib.rs", ""),
            (
                "store/mod.rs",
                "mod pool;\nmod sql;\npub use pool::Pool;\npub use sql::Row;\nfn f(_: self::sql::Row, _: self::pool::Pool) {}\n",
            ),
            ("store/pool.rs", "use super::sql::Row;\nuse super::Shared;\n"),
            ("store/sql.rs", "use crate::store::pool::Pool;\n"),
        ]));
        assert_eq!(r.cycles.len(), 1, "{:?}", r.cycles);
        assert_eq!(r.cycles[0].parent, m("store"));
        assert_eq!(r.cycles[0].members, [m("store::pool"), m("store::sql")]);
        assert!(r.render("x", "src").contains("x: import cycle inside `store`: store::pool, store::sql\n"));

        let ok = analyse(&tree(&[
            ("lib.rs", ""),
            ("store/mod.rs", "mod pool;\nmod sql;\npub use self::{pool::Pool, sql::Row};\nfn f(_: sql::Row) {}\n"),
            ("store/pool.rs", "use super::sql::Row;\nuse super::Shared;\n"),
            ("store/sql.rs", "pub struct Row;\nuse super::*;\n"),
        ]));
        assert!(ok.cycles.is_empty(), "{:?}", ok.cycles);
    }

    #[test]
    fn tarjan_finds_each_component() {
        // 0 ⇄ 1, 2 → 3 → 4 → 2, 5 alone.
        let adj = vec![vec![1], vec![0, 2], vec![3], vec![4], vec![2], vec![]];
        let mut sccs: Vec<Vec<usize>> = tarjan(&adj)
            .into_iter()
            .map(|mut s| {
                s.sort_unstable();
                s
            })
            .collect();
        sccs.sort();
        assert_eq!(sccs, [vec![0, 1], vec![2, 3, 4], vec![5]]);
    }
}
