//! Which names under a watched root are watched: default ignores, exclude and include globs, extensions.
//!
//! Globs follow gitignore's conventions: a glob without `/` matches the file name at any depth (`*.pyc`,
//! `node_modules`), a glob with `/` matches the whole root-relative path (`src/**/*.rs`), a leading `/` anchors to
//! the root, and a trailing `/` matches directories only. `*` never crosses `/`; `**` does. On Windows and macOS
//! globs and extensions ignore case, as the filesystems there do ([`CASE_INSENSITIVE`](super::CASE_INSENSITIVE)).

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// Directories ignored by default: version-control metadata; Python's bytecode cache (which a Python child
/// rewrites as it runs: watching it would restart the child forever when no .gitignore covers it); npm's
/// `node_modules` (as nodemon does: installed code, thousands of files, never edited in place); and the caches
/// test runners and linters write into the project as they run (pytest's, mypy's, ruff's), whose creation would
/// otherwise rerun a test command once more.
const DEFAULT_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "_darcs",
    ".jj",
    ".pijul",
    "CVS",
    "__pycache__",
    "node_modules",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
];

/// Build output directories ignored by default, each where one of the build files beside it says whose output it
/// is: cargo's `target` beside a `Cargo.toml` (as cargo-watch does), Maven's beside a `pom.xml`. Elsewhere a
/// directory named `target` may well be source, and is watched.
const DEFAULT_BUILD_DIRS: &[(&str, &[&str])] = &[("target", &["Cargo.toml", "pom.xml"])];

/// Files ignored by default: editor swap, backup and lock files, vim's write probe `4913`, Finder metadata,
/// Python bytecode, databases with their journals (SQLite's `-journal`, `-wal` and `-shm`), and logs. A server
/// writes its database and its log as it serves (Django's `db.sqlite3` on every session saved; a log handler
/// writing each request to `access.log` beside `manage.py`, as Django's logging documentation shows): watching
/// them restarts it on every request, late in its run where no restart-loop guard can tell the command from the
/// user. Both are output in the projects that have them: GitHub's Python and Node `.gitignore` templates list
/// `*.log` (and the Python one `db.sqlite3`), so this is what the `.gitignore` a new project lacks would say. A
/// log that is an input can still be named with `-w`: an explicit path is watched whatever the filters say.
const DEFAULT_FILES: &[&str] = &[
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    "4913",
    ".DS_Store",
    "*.pyc",
    "*.pyo",
    "*.sqlite3",
    "*.sqlite",
    "*.db",
    "*-journal",
    "*-wal",
    "*-shm",
    "*.log",
];

/// A bad glob or extension given by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// An include or exclude glob that does not parse.
    Glob {
        /// The glob as the user gave it.
        pattern: String,
        /// Why it is rejected.
        reason: String,
    },
    /// An extension that cannot be the end of a file name.
    Extension {
        /// The entry as the user gave it (possibly a comma-separated list).
        given: String,
        /// Why it is rejected.
        reason: &'static str,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Glob { pattern, reason } => write!(f, "bad glob '{pattern}': {reason}"),
            PatternError::Extension { given, reason } => write!(f, "bad extension '{given}': {reason}"),
        }
    }
}

impl std::error::Error for PatternError {}

/// Decides, name by name, what under a watched root is watched. Built once from a
/// [`FilterConfig`](crate::config::FilterConfig); cheap to query.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Directories matching any of these are not admitted (and so never descended).
    dirs_out: GlobSet,
    /// Files matching any of these are not admitted.
    files_out: GlobSet,
    /// When present, only files matching one of these are admitted.
    include: Option<GlobSet>,
    /// When non-empty, only files whose name ends with one of these (each with its leading dot) are admitted.
    extensions: Vec<Box<[u8]>>,
    /// The default ignores apply (and with them [`DEFAULT_BUILD_DIRS`]).
    default_ignores: bool,
}

impl Filter {
    /// Compiles the filter. Fails on the first glob or extension that is malformed.
    pub fn new(cfg: &crate::config::FilterConfig) -> Result<Filter, PatternError> {
        let mut dirs_out = GlobSetBuilder::new();
        let mut files_out = GlobSetBuilder::new();
        if cfg.default_ignores {
            for name in DEFAULT_DIRS {
                dirs_out.add(compile(name, &format!("**/{name}"))?);
            }
            for name in DEFAULT_FILES {
                files_out.add(compile(name, &format!("**/{name}"))?);
            }
        }
        for pattern in &cfg.exclude {
            let (glob, dir_only) = translate(pattern)?;
            let compiled = compile(pattern, &glob)?;
            if !dir_only {
                files_out.add(compiled.clone());
                // `target/**` excludes everything inside `target`: skip the directory itself rather than list it.
                if let Some(dir) = glob.strip_suffix("/**").filter(|d| !d.is_empty()) {
                    dirs_out.add(compile(pattern, dir)?);
                }
            }
            dirs_out.add(compiled);
        }
        let include = if cfg.include.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for pattern in &cfg.include {
                let (glob, dir_only) = translate(pattern)?;
                if dir_only {
                    return Err(PatternError::Glob {
                        pattern: pattern.clone(),
                        reason: "include globs select files, and a trailing '/' matches only directories \
                                 (for everything inside a directory, write 'dir/**')"
                            .into(),
                    });
                }
                set.add(compile(pattern, &glob)?);
            }
            Some(finish(set, &cfg.include)?)
        };
        Ok(Filter {
            dirs_out: finish(dirs_out, &cfg.exclude)?,
            files_out: finish(files_out, &cfg.exclude)?,
            include,
            extensions: extensions(&cfg.extensions)?,
            default_ignores: cfg.default_ignores,
        })
    }

    /// Whether directory `name` is a build's output, ignored by default (never descended) where the listing it
    /// is in holds the build file that makes it so (`has_sibling` says whether a name is in that listing): cargo's
    /// `target` beside a `Cargo.toml`, Maven's beside a `pom.xml`. Always `false` without the default ignores.
    pub fn is_build_output(&self, name: &OsStr, has_sibling: impl Fn(&str) -> bool) -> bool {
        self.default_ignores
            && DEFAULT_BUILD_DIRS.iter().any(|(dir, beside)| name == *dir && beside.iter().any(|f| has_sibling(f)))
    }

    /// Whether a name found while listing a directory under a watched root is watched.
    ///
    /// `rel` is the path relative to the watched root (e.g. `src/main.rs`; never empty, may be non-UTF-8), and
    /// `is_dir` says whether it is a directory (after following symlinks). Directories are only subject to the
    /// default ignores and exclude globs (a directory that is not admitted is never descended); files must
    /// also pass the extension filter and the include globs (each only if non-empty).
    pub fn admits(&self, rel: &Path, is_dir: bool) -> bool {
        let candidate = Candidate::new(rel);
        if is_dir {
            return !self.dirs_out.is_match_candidate(&candidate);
        }
        !self.files_out.is_match_candidate(&candidate)
            && self.has_wanted_extension(rel)
            && self.include.as_ref().is_none_or(|set| set.is_match_candidate(&candidate))
    }

    fn has_wanted_extension(&self, rel: &Path) -> bool {
        if self.extensions.is_empty() {
            return true;
        }
        let name = rel.file_name().unwrap_or(rel.as_os_str()).as_encoded_bytes();
        // Longer than the extension: `.rs` alone is a hidden file named "rs", not a Rust file.
        self.extensions.iter().any(|ext| name.len() > ext.len() && ends_with(name, ext))
    }
}

/// Turns a user glob into a globset glob matched against the root-relative path, and whether it applies to
/// directories only.
fn translate(pattern: &str) -> Result<(String, bool), PatternError> {
    let dir_only = pattern.ends_with('/');
    let trimmed = pattern.trim_end_matches('/');
    let (body, anchored) = match trimmed.strip_prefix('/') {
        Some(rest) => (rest, true),
        None => (trimmed, false),
    };
    if body.is_empty() {
        return Err(PatternError::Glob { pattern: pattern.into(), reason: "matches nothing (empty pattern)".into() });
    }
    let glob = if anchored || body.contains('/') { body.to_owned() } else { format!("**/{body}") };
    Ok((glob, dir_only))
}

fn compile(pattern: &str, glob: &str) -> Result<globset::Glob, PatternError> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .case_insensitive(super::CASE_INSENSITIVE)
        .build()
        .map_err(|e| PatternError::Glob { pattern: pattern.into(), reason: e.kind().to_string() })
}

fn finish(builder: GlobSetBuilder, patterns: &[String]) -> Result<GlobSet, PatternError> {
    builder.build().map_err(|e| PatternError::Glob { pattern: patterns.join(", "), reason: e.kind().to_string() })
}

/// Normalizes the configured extensions to `.ext` byte strings, accepting `rs`, `.rs` and `rs,toml`.
fn extensions(given: &[String]) -> Result<Vec<Box<[u8]>>, PatternError> {
    let mut out = Vec::new();
    for entry in given {
        for part in entry.split(',') {
            let part = part.trim();
            let ext = part.strip_prefix('.').unwrap_or(part);
            let reason = if ext.is_empty() {
                Some("empty extension (a stray comma or dot?)")
            } else if ext.contains(['/', '\\']) {
                Some("an extension cannot contain a path separator")
            } else if ext.contains(['*', '?']) {
                Some("an extension is not a glob (use an include glob such as '*.rs')")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(PatternError::Extension { given: entry.clone(), reason });
            }
            out.push(format!(".{ext}").into_bytes().into_boxed_slice());
        }
    }
    Ok(out)
}

fn ends_with(name: &[u8], suffix: &[u8]) -> bool {
    if super::CASE_INSENSITIVE {
        name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    } else {
        name.ends_with(suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilterConfig;

    fn filter(f: impl FnOnce(&mut FilterConfig)) -> Filter {
        let mut cfg = FilterConfig::default();
        f(&mut cfg);
        Filter::new(&cfg).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Checks a table of `(rel, is_dir, admitted)`.
    fn check(f: &Filter, cases: &[(&str, bool, bool)]) {
        for &(rel, is_dir, want) in cases {
            assert_eq!(f.admits(Path::new(rel), is_dir), want, "{rel} (dir: {is_dir})");
        }
    }

    #[test]
    fn default_ignores() {
        let cases = [
            (".git", true),
            ("sub/.hg", true),
            (".svn", true),
            (".bzr", true),
            ("_darcs", true),
            (".jj", true),
            (".pijul", true),
            ("a/b/CVS", true),
            (".main.rs.swp", false),
            ("src/.x.swo", false),
            ("x.swx", false),
            ("main.rs~", false),
            (".#main.rs", false),
            ("src/#main.rs#", false),
            ("4913", false),
            ("src/4913", false),
            (".DS_Store", false),
            ("app/__pycache__", true),
            ("app/views.pyc", false),
            ("old.pyo", false),
            ("node_modules", true),
            ("web/node_modules", true),
            (".pytest_cache", true),
            ("pkg/.mypy_cache", true),
            (".ruff_cache", true),
            ("db.sqlite3", false),
            ("data/app.sqlite", false),
            ("app.db", false),
            ("db.sqlite3-journal", false),
            ("app.db-journal", false),
            ("db.sqlite3-wal", false),
            ("db.sqlite3-shm", false),
            ("app.log", false),
            ("logs/access.log", false),
        ];
        let on = filter(|_| {});
        let off = filter(|c| c.default_ignores = false);
        for (rel, is_dir) in cases {
            assert!(!on.admits(Path::new(rel), is_dir), "{rel} should be ignored by default");
            assert!(off.admits(Path::new(rel), is_dir), "{rel} should be admitted without default ignores");
        }
        // Only the kind named: a file called `.git` (a worktree's) or a directory called `x~` is not a default.
        check(
            &on,
            &[
                (".git", false, true),
                ("x~", true, true),
                ("src/main.rs", false, true),
                ("src", true, true),
                ("#", false, true),
                ("a.swp.rs", false, true),
                ("49130", false, true),
                ("db.sqlite3.py", false, true),
                ("models.py", false, true),
                ("journal", false, true),
                ("app.log.py", false, true),
                ("logs", true, true),
                ("node_modules", false, true),
                // A directory named `target` is output only beside a build file: see below.
                ("target", true, true),
            ],
        );
    }

    #[test]
    fn target_is_ignored_by_default_only_beside_the_build_file_that_writes_it() {
        let on = filter(|_| {});
        let off = filter(|c| c.default_ignores = false);
        let beside = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        for (name, siblings, output) in [
            ("target", &["Cargo.toml", "src"][..], true),
            ("target", &["pom.xml"], true),
            ("target", &["setup.py", "src"], false),
            ("target", &[], false),
            ("build", &["Cargo.toml"], false),
            ("Cargo.toml", &["Cargo.toml"], false),
        ] {
            assert_eq!(on.is_build_output(OsStr::new(name), beside(siblings)), output, "{name} beside {siblings:?}");
            assert!(!off.is_build_output(OsStr::new(name), beside(siblings)), "{name}: no default ignores");
        }
    }

    #[test]
    fn exclude_name_path_anchored_and_dir_only() {
        let f = filter(|c| c.exclude = strings(&["*.pyc", "node_modules", "docs/*.md", "/build", "tmp/", "target/**"]));
        check(
            &f,
            &[
                // A glob without `/` matches the name at any depth, files and directories.
                ("a.pyc", false, false),
                ("deep/down/a.pyc", false, false),
                ("node_modules", true, false),
                ("web/node_modules", true, false),
                ("web/node_modules", false, false),
                ("a.py", false, true),
                // A glob with `/` matches the root-relative path; `*` does not cross `/`.
                ("docs/a.md", false, false),
                ("docs/sub/a.md", false, true),
                ("x/docs/a.md", false, true),
                // A leading `/` anchors to the root.
                ("build", true, false),
                ("build", false, false),
                ("src/build", true, true),
                // A trailing `/` means directories only.
                ("tmp", true, false),
                ("a/tmp", true, false),
                ("tmp", false, true),
                // `dir/**` excludes the contents and, to save listing it, the directory itself.
                ("target", true, false),
                ("target/debug/x", false, false),
                ("target", false, true),
                ("src/target", true, true),
            ],
        );
    }

    #[test]
    fn include_globs_apply_to_files_only() {
        let f = filter(|c| c.include = strings(&["src/**/*.rs", "Cargo.toml", "/top.txt"]));
        check(
            &f,
            &[
                ("src/main.rs", false, true),
                ("src/a/b/lib.rs", false, true),
                ("tests/t.rs", false, false),
                ("Cargo.toml", false, true),
                ("crates/x/Cargo.toml", false, true),
                ("top.txt", false, true),
                ("a/top.txt", false, false),
                ("README.md", false, false),
                // Directories are never subject to include globs.
                ("tests", true, true),
                ("docs/deep", true, true),
            ],
        );
    }

    #[test]
    fn extensions_with_and_without_dot_and_lists() {
        for exts in [&["rs", "toml"][..], &[".rs", " .toml "], &["rs,toml"], &[" rs , .toml"]] {
            let f = filter(|c| c.extensions = strings(exts));
            check(
                &f,
                &[
                    ("src/main.rs", false, true),
                    ("Cargo.toml", false, true),
                    ("README.md", false, false),
                    ("rs", false, false),
                    (".rs", false, false),
                    ("main.rs.bak", false, false),
                    // Directories are never subject to extensions.
                    ("src", true, true),
                    ("x.md", true, true),
                ],
            );
        }
        let ci = super::super::CASE_INSENSITIVE;
        check(&filter(|c| c.extensions = strings(&["rs"])), &[("MAIN.RS", false, ci)]);
        // A multi-dot extension matches the end of the name.
        check(&filter(|c| c.extensions = strings(&["tar.gz"])), &[("a.tar.gz", false, true), ("a.gz", false, false)]);
    }

    #[test]
    fn bad_extensions() {
        for (given, needle) in [("", "empty"), ("rs,,toml", "empty"), (".", "empty"), ("rs, ", "empty")] {
            let cfg = FilterConfig { extensions: strings(&[given]), ..FilterConfig::default() };
            let err = Filter::new(&cfg).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(needle) && msg.contains(&format!("'{given}'")), "{msg}");
            assert!(!msg.contains('\n'));
        }
        for given in ["*.rs", "src/rs"] {
            let cfg = FilterConfig { extensions: strings(&[given]), ..FilterConfig::default() };
            assert!(matches!(Filter::new(&cfg), Err(PatternError::Extension { .. })), "{given}");
        }
    }

    #[test]
    fn include_and_extension_combined() {
        let f = filter(|c| {
            c.include = strings(&["src/**"]);
            c.extensions = strings(&["rs"]);
            c.exclude = strings(&["generated.rs"]);
        });
        check(
            &f,
            &[
                ("src/main.rs", false, true),
                ("src/notes.md", false, false),
                ("build.rs", false, false),
                ("src/generated.rs", false, false),
                ("src/.main.rs.swp", false, false),
            ],
        );
    }

    #[test]
    fn bad_glob_is_one_line_naming_the_pattern() {
        for (include, exclude, pattern, reason) in [
            (vec![], vec!["[a-"], "[a-", "unclosed character class"),
            (vec!["src/{a,b"], vec![], "src/{a,b", "unclosed alternate group"),
            (vec![], vec!["/"], "/", "empty"),
            (vec!["src/"], vec![], "src/", "directories"),
        ] {
            let cfg =
                FilterConfig { include: strings(&include), exclude: strings(&exclude), ..FilterConfig::default() };
            let err = Filter::new(&cfg).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("bad glob '{pattern}': ")), "{msg}");
            assert!(msg.contains(reason), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    /// Globs, extensions and the default ignores match case-insensitively where the filesystems do (Windows,
    /// macOS), exactly elsewhere: `Target/` is `target/` on NTFS, and git there ignores it too.
    #[test]
    fn case_follows_the_platform() {
        let ci = crate::discover::CASE_INSENSITIVE;
        let f = filter(|c| c.exclude = strings(&["target/", "*.OUT"]));
        check(&f, &[("Target", true, !ci), ("target", true, false), ("a.out", false, !ci), ("a.OUT", false, false)]);
        let f = filter(|c| c.include = strings(&["src/**/*.rs"]));
        check(&f, &[("SRC/main.RS", false, ci), ("src/main.rs", false, true)]);
        check(&filter(|_| {}), &[(".GIT", true, !ci), ("x.PYC", false, !ci), (".DS_STORE", false, !ci)]);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let name = Path::new(OsStr::from_bytes(b"caf\xe9.rs"));
        let nested = Path::new("src").join(name);
        let swp = Path::new(OsStr::from_bytes(b".caf\xe9.rs.swp"));
        let f = filter(|c| {
            c.extensions = strings(&["rs"]);
            c.include = strings(&["src/*"]);
        });
        assert!(f.admits(&nested, false));
        assert!(!f.admits(name, false));
        assert!(!f.admits(&Path::new("src").join(swp), false));
        let f = filter(|c| c.exclude = strings(&["caf?.rs"]));
        assert!(!f.admits(&nested, false), "`?` matches one byte of a non-UTF-8 name");
        assert!(f.admits(Path::new(OsStr::from_bytes(b"\xff\xfe")), true));
    }
}
