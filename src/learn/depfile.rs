//! Makefile-style dependency files, pure: what `gcc -MD`/`-MMD` writes beside an object file and cargo writes as
//! `target/*/NAME.d` (rustc's `--emit dep-info` too).
//!
//! The subset of make syntax those tools write: rules `target...: dep...`, several per file; a backslash at the
//! end of a line continues it; `\ ` is a space inside a name, `\#` and `\:` are a literal `#` and `:`, `$$` is a
//! `$`; `#` starts a comment. A `:` separates targets from dependencies only when followed by whitespace or the
//! end of the line, so Windows drive letters (`C:\src\main.c`) stay in the name. Lines without a rule (variable
//! assignments, rustc's `# env-dep:` comments) are skipped.

use std::path::PathBuf;

use crate::sys::path_from_bytes;

/// One rule: the files it makes, and the files they depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The names before the `:`.
    pub targets: Vec<Vec<u8>>,
    /// The names after it (order-only `|` markers left out).
    pub deps: Vec<Vec<u8>>,
}

/// Every rule in `text`, in order.
pub fn rules(text: &[u8]) -> Vec<Rule> {
    logical_lines(text).iter().filter_map(|line| rule(line)).collect()
}

/// Every dependency named in `text`, once each, in order of first mention; relative paths are left relative.
/// Names that cannot be paths here (not UTF-8 outside Unix, or holding a NUL) are left out.
pub fn dependencies(text: &[u8]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    rules(text)
        .into_iter()
        .flat_map(|r| r.deps)
        .filter(|d| !d.contains(&0))
        .filter_map(|d| path_from_bytes(&d))
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Splits `text` into lines, joining a line that ends in a backslash with the next one (the pair becomes a space).
fn logical_lines(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for raw in text.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match raw.strip_suffix(b"\\") {
            Some(head) => {
                cur.extend_from_slice(head);
                cur.push(b' ');
            }
            None => {
                cur.extend_from_slice(raw);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The rule on one logical line, if it holds one.
fn rule(line: &[u8]) -> Option<Rule> {
    let mut targets = Vec::new();
    let mut deps = Vec::new();
    let mut word = Vec::new();
    let mut in_deps = false;
    let mut i = 0;
    let flush = |word: &mut Vec<u8>, in_deps: bool, targets: &mut Vec<Vec<u8>>, deps: &mut Vec<Vec<u8>>| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word);
        if in_deps {
            if w != b"|" {
                deps.push(w);
            }
        } else {
            targets.push(w);
        }
    };
    while i < line.len() {
        let c = line[i];
        let next = line.get(i + 1).copied();
        match c {
            b'\\' if matches!(next, Some(b' ' | b'\t' | b'#' | b':')) => {
                word.push(next.unwrap_or(b' '));
                i += 2;
                continue;
            }
            b'$' if next == Some(b'$') => {
                word.push(b'$');
                i += 2;
                continue;
            }
            b'#' => break,
            b' ' | b'\t' => flush(&mut word, in_deps, &mut targets, &mut deps),
            b':' if !in_deps && next.is_none_or(|n| n == b' ' || n == b'\t' || n == b':') => {
                flush(&mut word, in_deps, &mut targets, &mut deps);
                in_deps = true;
                if next == Some(b':') {
                    i += 1;
                }
            }
            _ => word.push(c),
        }
        i += 1;
    }
    flush(&mut word, in_deps, &mut targets, &mut deps);
    (in_deps && !targets.is_empty()).then_some(Rule { targets, deps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn deps_of(text: &str) -> Vec<String> {
        dependencies(text.as_bytes()).iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_formats_tools_write() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("gcc -MD, one line", "main.o: main.c main.h\n", &["main.c", "main.h"]),
            (
                "gcc continuation lines",
                "main.o: main.c \\\n  /usr/include/stdio.h \\\n  include/util.h\n",
                &["main.c", "/usr/include/stdio.h", "include/util.h"],
            ),
            ("CRLF continuation", "a.o: a.c \\\r\n b.h\r\n", &["a.c", "b.h"]),
            ("escaped space", "a.o: my\\ file.c other.h\n", &["my file.c", "other.h"]),
            ("escaped hash and dollar", "a.o: x\\#1.c cost$$.h\n", &["x#1.c", "cost$.h"]),
            ("gcc -MP phony targets add nothing", "a.o: a.c a.h\n\na.h:\n", &["a.c", "a.h"]),
            (
                "cargo's target/debug/app.d",
                "/p/target/debug/app: /p/src/main.rs /p/src/lib\\ x.rs\n",
                &["/p/src/main.rs", "/p/src/lib x.rs"],
            ),
            (
                "rustc dep-info with env-dep comments",
                "/p/target/debug/deps/app-1.d: src/main.rs src/a.rs\n\nsrc/main.rs:\nsrc/a.rs:\n\n# env-dep:FOO=bar\n",
                &["src/main.rs", "src/a.rs"],
            ),
            ("multiple rules, repeats once", "a.o: a.c x.h\nb.o: b.c x.h\n", &["a.c", "x.h", "b.c"]),
            ("several targets", "a.o a.d: a.c\n", &["a.c"]),
            ("double colon", "a.o:: a.c\n", &["a.c"]),
            ("order-only marker dropped", "a.o: a.c | dir\n", &["a.c", "dir"]),
            ("trailing comment", "a.o: a.c # b.c\n", &["a.c"]),
            ("windows drive letters", "C:\\o\\a.o: C:\\src\\a.c C:/src/b.h\n", &["C:\\src\\a.c", "C:/src/b.h"]),
            ("escaped colon", "a.o: we\\:ird.c\n", &["we:ird.c"]),
            ("variable assignment is no rule", "CC := gcc\nX = 1\n", &[]),
            ("no newline at the end", "a.o: a.c", &["a.c"]),
            ("continuation at end of file", "a.o: a.c \\", &["a.c"]),
            ("tabs", "a.o:\ta.c\tb.c\n", &["a.c", "b.c"]),
            ("empty", "", &[]),
            ("junk", "hello world\n", &[]),
        ];
        for (what, text, want) in cases {
            assert_eq!(deps_of(text), *want, "{what}");
        }
    }

    #[test]
    fn rules_keep_targets_apart_from_deps() {
        let got = rules(b"a.o a.d: a.c \\\n b.h\nb.h:\n");
        assert_eq!(
            got,
            [
                Rule { targets: names(&["a.o", "a.d"]), deps: names(&["a.c", "b.h"]) },
                Rule { targets: names(&["b.h"]), deps: vec![] },
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_kept() {
        use std::os::unix::ffi::OsStrExt;
        let got = dependencies(b"a.o: caf\xe9.c\n");
        assert_eq!(got[0].as_os_str().as_bytes(), b"caf\xe9.c");
    }
}
