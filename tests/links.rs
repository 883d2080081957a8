//! The guide's links stay true as the code moves.
//!
//! `GUIDE.md` (and every other Markdown file at the root and under `docs/`) links to code by
//! line: `` [`Fetcher::connected`](crates/callbacks/src/crawl.rs#L214) ``. Each such link must
//! point at the definition of the identifier its text names (the last `::` segment, without
//! `()` or `!`), or, when the file defines none, at code that names it: not in a comment, and
//! not only inside a string literal (a trace line's `"write_all"` is not the call); each
//! linked file must exist. When code moves, this test fails and names the line the
//! identifier is now on; to rewrite every stale line number at once, run
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

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `path`, a link in `doc` (a path from the root), leads: from `doc`'s folder, as a
/// Markdown viewer follows it.
fn beside(doc: &str, path: &str) -> std::path::PathBuf {
    let folder = Path::new(doc).parent().unwrap_or(Path::new(""));
    root().join(folder).join(path)
}

/// Every Markdown file at the root and under `docs/`, as paths from the root.
fn docs() -> Vec<String> {
    let mut docs = Vec::new();
    for dir in ["", "docs"] {
        let Ok(entries) = fs::read_dir(root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".md") {
                docs.push(if dir.is_empty() {
                    name.into_owned()
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    docs.sort();
    assert!(docs.iter().any(|doc| doc == "GUIDE.md"), "{docs:?}");
    docs
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
    let pattern = Regex::new(
        r"\[([^\]]+)\]\(((?:\.\./)*(?:crates|src|tests|benches|scripts)/[^)#\s]+)#L(\d+)\)",
    )
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

/// The code of a line: without its string and character literals (their quotes kept, empty)
/// and without a comment at its end. A line that opens a string it does not close keeps
/// nothing after the quote.
fn code_of(line: &str) -> String {
    let mut code = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => break,
            '"' => {
                code.push('"');
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => {
                            code.push('"');
                            break;
                        }
                        _ => {}
                    }
                }
            }
            // A character literal ('x', '\n'), not a lifetime ('a): its closing quote comes
            // one or two characters on.
            '\'' => {
                code.push('\'');
                let rest: String = chars.clone().take(3).collect();
                let skip = if rest.starts_with('\\') {
                    rest.chars().skip(2).position(|c| c == '\'').map(|n| n + 3)
                } else {
                    rest.chars().nth(1).filter(|&c| c == '\'').map(|_| 2)
                };
                if let Some(skip) = skip {
                    for _ in 0..skip {
                        chars.next();
                    }
                    code.push('\'');
                }
            }
            c => code.push(c),
        }
    }
    code
}

/// Whether `line` names `ident` in code: not in a comment, nor only in a literal.
fn names_in_code(line: &str, ident: &str) -> bool {
    names(&code_of(line), ident)
}

/// Whether `line` holds `text` in code: not in a comment, nor only in a literal.
fn holds_in_code(line: &str, text: &str) -> bool {
    code_of(line).contains(text)
}

/// Whether `line` is what a link with `text` naming `ident` should point at: the identifier's
/// definition if the file has one (or the link's whole text, as `reactor.take`), else code
/// that names it — not a comment or a string that happens to.
fn points_at(lines: &[&str], line: &str, text: &str, ident: &str) -> bool {
    let code = text.split('`').nth(1).unwrap_or(text);
    if code != ident && holds_in_code(line, code) {
        return true;
    }
    let definition = definition(ident);
    if lines.iter().any(|line| definition.is_match(line)) {
        definition.is_match(line)
    } else {
        names_in_code(line, ident)
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
        .or_else(|| candidates(&|line| whole && holds_in_code(line, code)))
        .or_else(|| candidates(&|line| names_in_code(line, ident)))
}

/// A link must not land on a comment, nor on a line that names its identifier only in a
/// string: the trace call above `write_all` names it in `Event::Woke("write_all")`.
#[test]
fn a_line_that_names_the_identifier_only_in_a_string_or_comment_is_refused() {
    let lines = [
        "    config.trace(id, Event::Woke(\"write_all\"));",
        "    // write_all sends every byte",
        "    let c = '\"'; let s = \"it's\"; // write_all",
        "    stream.write_all(&request).await?;",
    ];
    for line in &lines[..3] {
        assert!(
            !points_at(&lines, line, "`write_all`", "write_all"),
            "{line}"
        );
    }
    assert!(points_at(&lines, lines[3], "`write_all`", "write_all"));
    let link = LineLink {
        start: 0,
        end: 0,
        text: "`write_all`".into(),
        path: String::new(),
        line: 1,
    };
    assert_eq!(best_line(&lines, &link, "write_all"), Some(4));
    // Lifetimes are code, and so is what follows them.
    assert!(names_in_code(
        "fn f<'a>(x: &'a str) -> write_all",
        "write_all"
    ));
}

#[test]
fn every_line_link_names_what_its_line_holds() {
    let fix = std::env::var_os("C10K_FIX_LINKS").is_some();
    let mut stale = Vec::new();
    let mut checked = 0;
    for doc_name in &docs() {
        let doc_path = root().join(doc_name);
        let doc = fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("{doc_name}: {e}"));
        let mut fixed = doc.clone();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        // Back to front, so that the offsets of the links still to fix stay valid.
        for link in links_to_lines(&doc).iter().rev() {
            checked += 1;
            let source = sources.entry(link.path.clone()).or_insert_with(|| {
                fs::read_to_string(beside(doc_name, &link.path))
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

/// Every file or folder the guide, the README and the docs link to exists.
#[test]
fn every_linked_path_exists() {
    let pattern =
        Regex::new(r"\]\(((?:\.\./)*(?:crates|src|tests|benches|scripts|results|docs)/[^)#\s]*)")
            .expect("a valid pattern");
    for doc_name in &docs() {
        let doc = fs::read_to_string(root().join(doc_name)).expect("the document");
        for caps in pattern.captures_iter(&doc) {
            let path = &caps[1];
            assert!(
                beside(doc_name, path).exists(),
                "{doc_name} links to {path}, which is not there from its folder"
            );
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
/// diffs each step against its namesake, in the first file's order, with the comments' text
/// but not their markers (which a piped word diff garbles into `[-///-]`), and shows the
/// helpers only one side has apart.
#[test]
fn compare_script_diffs_each_step_against_its_namesake_then_the_helpers() {
    let output = std::process::Command::new("bash")
        .arg(root().join("scripts/compare.sh"))
        .args(["threads", "async"])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("{+async+} fn worker("), "{stdout}");
    assert!(stdout.contains(".await"), "{stdout}");
    let steps = [
        "crawl",
        "run",
        "worker",
        "next_fetch",
        "complete",
        "fetch_page",
        "connect",
        "read_response",
    ];
    let at: Vec<usize> = steps
        .iter()
        .map(|step| {
            stdout
                .find(&format!("━━ fn {step}: crates/threads"))
                .unwrap_or_else(|| panic!("no diff of {step}:\n{stdout}"))
        })
        .collect();
    assert!(
        at.is_sorted(),
        "the steps out of order: {steps:?} at {at:?}"
    );
    for line in stdout.lines() {
        let text = line.trim_start_matches(['[', '{', '-', '+', ' ']);
        assert!(
            !text.starts_with("//") && !line.contains("///"),
            "a comment marker: {line:?}"
        );
    }
    let helpers = stdout
        .find("══ helpers only in crates/threads/src/crawl.rs")
        .expect("threads' helpers, apart");
    assert!(
        stdout[helpers..].contains("━━ fn peek: only in crates/threads/src/crawl.rs"),
        "{stdout}"
    );
    assert!(
        helpers > at[at.len() - 1],
        "the helpers come after the steps"
    );
    assert!(
        stdout.contains("━━ fn ticker: only in crates/async/src/crawl.rs"),
        "{stdout}"
    );
}
