//! The guide's links stay true as the code moves.
//!
//! `GUIDE.md` (and the README) link to code by line: `` [`Fetcher::connected`](crates/callbacks/src/crawl.rs#L214) ``.
//! Each such link must point at the definition of the identifier its text names (the last
//! `::` segment, without `()` or `!`), or, when the file defines none, at code (not a
//! comment) that names it; each linked file must exist. When code moves, this
//! test fails and names the line the identifier is now on; to rewrite every stale line
//! number at once, run
//!
//! ```sh
//! C10K_FIX_LINKS=1 cargo test --test links
//! ```
//!
//! and read the diff: the fix takes the identifier's definition, else the line that holds
//! the link's whole text, else the identifier's occurrence nearest the old line.

use std::{collections::BTreeMap, fs, path::Path};

use c10k_harness::Strategy;
use regex::Regex;

const DOCS: &[&str] = &["GUIDE.md", "README.md"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A link to a line of code: where it is in its document, its text, its target.
struct LineLink {
    start: usize,
    end: usize,
    text: String,
    path: String,
    line: usize,
}

fn links_to_lines(doc: &str) -> Vec<LineLink> {
    let pattern =
        Regex::new(r"\[([^\]]+)\]\(((?:crates|src|tests|benches|scripts)/[^)#\s]+)#L(\d+)\)")
            .expect("a valid pattern");
    pattern
        .captures_iter(doc)
        .map(|caps| {
            let whole = caps.get(0).expect("the whole match");
            LineLink {
                start: whole.start(),
                end: whole.end(),
                text: caps[1].to_owned(),
                path: caps[2].to_owned(),
                line: caps[3].parse().expect("digits"),
            }
        })
        .collect()
}

/// The identifier a link's text names: `` `Fetcher::connected` `` → `connected`.
fn identifier(text: &str) -> String {
    let code = text.split('`').nth(1).unwrap_or(text);
    let code = code.split('(').next().unwrap_or(code);
    let last = code.rsplit("::").next().unwrap_or(code);
    last.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'))
        .to_owned()
}

fn names(line: &str, ident: &str) -> bool {
    Regex::new(&format!(r"\b{}\b", regex::escape(ident)))
        .expect("a valid pattern")
        .is_match(line)
}

/// Matches a line that defines `ident` (a function, type, constant, module or macro).
fn definition(ident: &str) -> Regex {
    let ident = regex::escape(ident);
    Regex::new(&format!(
        r"\b(fn|struct|enum|trait|type|const|static|mod|macro_rules!)\s+{ident}\b"
    ))
    .expect("a valid pattern")
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// Whether `line` is what a link with `text` naming `ident` should point at: the identifier's
/// definition if the file has one (or the link's whole text, as `reactor.take`), else code
/// that names it — not a comment that happens to.
fn points_at(lines: &[&str], line: &str, text: &str, ident: &str) -> bool {
    let code = text.split('`').nth(1).unwrap_or(text);
    if code != ident && line.contains(code) && !is_comment(line) {
        return true;
    }
    let definition = definition(ident);
    if lines.iter().any(|line| definition.is_match(line)) {
        definition.is_match(line)
    } else {
        names(line, ident) && !is_comment(line)
    }
}

/// The line (from 1) that a stale link should point at, if the identifier is in the file:
/// its definition, else the line holding the link's whole text (`lp.connect`), else its
/// occurrence; the one nearest the old line, if several.
fn best_line(lines: &[&str], link: &LineLink, ident: &str) -> Option<usize> {
    let code = link.text.split('`').nth(1).unwrap_or(&link.text);
    let whole = code != ident;
    let near = |n: &usize| n.abs_diff(link.line);
    let candidates = |keep: &dyn Fn(&str) -> bool| {
        (1..=lines.len())
            .filter(|&n| keep(lines[n - 1]))
            .min_by_key(near)
    };
    let definition = definition(ident);
    candidates(&|line| definition.is_match(line))
        .or_else(|| candidates(&|line| whole && line.contains(code) && !is_comment(line)))
        .or_else(|| candidates(&|line| names(line, ident) && !is_comment(line)))
}

#[test]
fn every_line_link_names_what_its_line_holds() {
    let fix = std::env::var_os("C10K_FIX_LINKS").is_some();
    let mut stale = Vec::new();
    let mut checked = 0;
    for doc_name in DOCS {
        let doc_path = root().join(doc_name);
        let doc = fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("{doc_name}: {e}"));
        let mut fixed = doc.clone();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        // Back to front, so that the offsets of the links still to fix stay valid.
        for link in links_to_lines(&doc).iter().rev() {
            checked += 1;
            let source = sources.entry(link.path.clone()).or_insert_with(|| {
                fs::read_to_string(root().join(&link.path))
                    .unwrap_or_else(|e| panic!("{doc_name} links to {}: {e}", link.path))
            });
            let lines: Vec<&str> = source.lines().collect();
            let ident = identifier(&link.text);
            assert!(
                !ident.is_empty(),
                "{doc_name}: no identifier in {:?}",
                link.text
            );
            let holds = link.line >= 1
                && link.line <= lines.len()
                && points_at(&lines, lines[link.line - 1], &link.text, &ident);
            if holds {
                continue;
            }
            let best = best_line(&lines, link, &ident);
            stale.push(format!(
                "{doc_name}: [{}]({}#L{}) — line {} is not where `{ident}` is defined (or, if nowhere, named in code); {}",
                link.text,
                link.path,
                link.line,
                link.line,
                best.map_or("it is not in the file".to_owned(), |n| format!(
                    "it is on line {n}"
                )),
            ));
            if let (true, Some(n)) = (fix, best) {
                let new = format!("[{}]({}#L{n})", link.text, link.path);
                fixed.replace_range(link.start..link.end, &new);
            }
        }
        if fix && fixed != doc {
            fs::write(&doc_path, fixed).unwrap_or_else(|e| panic!("{doc_name}: {e}"));
        }
    }
    assert!(
        checked >= 45,
        "the guide links the code by line ({checked} links)"
    );
    assert!(
        stale.is_empty(),
        "{} stale links (C10K_FIX_LINKS=1 cargo test --test links rewrites them{}):\n{}",
        stale.len(),
        if fix { "; done, rerun to check" } else { "" },
        stale.join("\n")
    );
}

/// Every file or folder the guide and the README link to exists.
#[test]
fn every_linked_path_exists() {
    let pattern = Regex::new(r"\]\(((?:crates|src|tests|benches|scripts|results)/[^)#\s]*)")
        .expect("a valid pattern");
    for doc_name in DOCS {
        let doc = fs::read_to_string(root().join(doc_name)).expect("the document");
        for caps in pattern.captures_iter(&doc) {
            let path = &caps[1];
            assert!(root().join(path).exists(), "{doc_name} links to {path}");
        }
    }
}

/// The table of the same step in every model has a column per strategy, in the registry's
/// order: a new model cannot join without its column.
#[test]
fn the_same_step_table_has_a_column_per_strategy() {
    let guide = fs::read_to_string(root().join("GUIDE.md")).expect("GUIDE.md");
    let header = guide
        .lines()
        .find(|line| line.starts_with("| step |"))
        .expect("the table of the same step in every model");
    let columns: Vec<&str> = header
        .split('|')
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .skip(1)
        .collect();
    let strategies: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(columns, strategies);
}

/// `scripts/compare.sh`, which the guide and the README give for comparing two models, word-
/// diffs a function against its namesake.
#[test]
fn compare_script_diffs_a_function_against_its_namesake() {
    let output = std::process::Command::new("bash")
        .arg(root().join("scripts/compare.sh"))
        .args(["threads", "async", "worker"])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("━━ fn worker:"), "{stdout}");
    assert!(stdout.contains("{+async+} fn worker("), "{stdout}");
    assert!(stdout.contains(".await"), "{stdout}");
}
