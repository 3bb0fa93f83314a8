//! `.gitignore`, `.ignore`, `.git/info/exclude` and git's global excludes, as a chain of scopes that follows
//! the directory walk: each directory's scope is its parent's plus the directory's own ignore files.
//!
//! Files are read only through [`Vfs::read_small`], so the rules work the same over a simulated filesystem.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::fingerprint::FileKind;
use crate::vfs::{DirEntry, Vfs};

/// The per-directory ignore files, in decreasing precedence (ripgrep's order).
const DIR_FILES: [&str; 2] = [".ignore", ".gitignore"];

/// The ignore rules in force inside one directory: a chain from the watched root's ancestors down.
#[derive(Debug, Clone)]
pub struct IgnoreScope {
    /// The rules of the enclosing levels, which lose to this level's.
    parent: Option<Arc<IgnoreScope>>,
    /// This level's matchers, in decreasing precedence; never empty except in [`IgnoreScope::empty`].
    matchers: Vec<Gitignore>,
}

impl IgnoreScope {
    /// No rules at all (used when vcs ignores are turned off).
    pub fn empty() -> Arc<IgnoreScope> {
        Arc::new(IgnoreScope { parent: None, matchers: Vec::new() })
    }

    /// The scope for a watched root directory `root` (absolute): the `.gitignore` and `.ignore` files of the
    /// root and of each ancestor up to and including the top of the enclosing git repository (the nearest
    /// ancestor holding a `.git` entry; if there is none, only the root's own files), that repository's
    /// `.git/info/exclude` (only when `.git` is a directory: a worktree's or submodule's `.git` file is not
    /// followed), and, when `global` is given, git's global excludes matcher. Precedence, from lowest:
    /// global, exclude, then each directory from the outermost down. Also returns warnings about unreadable
    /// files and bad lines.
    pub fn for_root(vfs: &dyn Vfs, root: &Path, global: Option<&Gitignore>) -> (Arc<IgnoreScope>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut scope = global.filter(|g| !g.is_empty()).map(|g| Arc::new(level(None, vec![g.clone()])));
        let top = root.ancestors().find_map(|dir| vfs.stat(&dir.join(".git")).ok().map(|st| (dir, st.kind)));
        let dirs: Vec<&Path> = match top {
            Some((top, kind)) => {
                if kind == FileKind::Dir {
                    let exclude = top.join(".git").join("info").join("exclude");
                    if let Some(m) = load(vfs, top, &exclude, &mut warnings) {
                        scope = Some(Arc::new(level(scope, vec![m])));
                    }
                }
                root.ancestors().take_while(|dir| dir.starts_with(top)).collect()
            }
            None => vec![root],
        };
        for dir in dirs.into_iter().rev() {
            let matchers: Vec<Gitignore> =
                DIR_FILES.iter().filter_map(|name| load(vfs, dir, &dir.join(name), &mut warnings)).collect();
            if !matchers.is_empty() {
                scope = Some(Arc::new(level(scope, matchers)));
            }
        }
        (scope.unwrap_or_else(IgnoreScope::empty), warnings)
    }

    /// The ignore files [`IgnoreScope::for_root`] reads for root `root` besides the root's own: those of each
    /// ancestor inside the enclosing git repository, and its `.git/info/exclude` (when `.git` is a directory),
    /// whether they exist or not. (Git's global excludes file is not among them.)
    pub fn files_above(vfs: &dyn Vfs, root: &Path) -> Vec<PathBuf> {
        let top = root.ancestors().find_map(|dir| vfs.stat(&dir.join(".git")).ok().map(|st| (dir, st.kind)));
        let Some((top, kind)) = top else { return Vec::new() };
        let mut files = Vec::new();
        if kind == FileKind::Dir {
            files.push(top.join(".git").join("info").join("exclude"));
        }
        for dir in root.ancestors().skip(1).take_while(|dir| dir.starts_with(top)) {
            files.extend(DIR_FILES.iter().map(|name| dir.join(name)));
        }
        files
    }

    /// The scope for directory `dir` (absolute), child of the directory whose scope is `parent`, given `dir`'s
    /// listing `entries`: the parent's rules plus `dir`'s own `.gitignore` / `.ignore`. Those files are read only
    /// if they are among `entries`; if `dir` has none, this is `parent` itself. Also returns warnings about
    /// unreadable files and bad lines.
    pub fn child(
        parent: &Arc<IgnoreScope>,
        vfs: &dyn Vfs,
        dir: &Path,
        entries: &[DirEntry],
    ) -> (Arc<IgnoreScope>, Vec<String>) {
        let mut warnings = Vec::new();
        let matchers: Vec<Gitignore> = DIR_FILES
            .iter()
            .filter(|name| entries.iter().any(|e| e.name == **name && e.kind != Some(FileKind::Dir)))
            .filter_map(|name| load(vfs, dir, &dir.join(name), &mut warnings))
            .collect();
        if matchers.is_empty() {
            return (parent.clone(), warnings);
        }
        (Arc::new(level(Some(parent.clone()), matchers)), warnings)
    }

    /// Whether the absolute `path` (a direct child of the scope's directory) is ignored. The deepest level with a
    /// match decides (a `!pattern` whitelist un-ignores); within a level `.ignore` takes precedence over
    /// `.gitignore`.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let mut scope = Some(self);
        while let Some(s) = scope {
            for m in &s.matchers {
                match m.matched(path, is_dir) {
                    Match::None => {}
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                }
            }
            scope = s.parent.as_deref();
        }
        false
    }

    /// Git's global excludes file (`core.excludesFile`, else `$XDG_CONFIG_HOME/git/ignore` or
    /// `~/.config/git/ignore`), if there is one with rules in it, and warnings about reading it. What
    /// [`Gitignore::global`] does (it reads the real filesystem and anchors `/`-rooted patterns at the current
    /// directory), case-insensitive where [`CASE_INSENSITIVE`](super::CASE_INSENSITIVE) says.
    pub fn global() -> (Option<Gitignore>, Vec<String>) {
        let (gi, err) = match std::env::current_dir() {
            Ok(cwd) => {
                let mut builder = GitignoreBuilder::new(cwd);
                let _ = builder.case_insensitive(super::CASE_INSENSITIVE);
                builder.build_global()
            }
            Err(e) => (Gitignore::empty(), Some(e.into())),
        };
        let warnings = err.map(|e| e.to_string().lines().map(str::to_owned).collect()).unwrap_or_default();
        ((!gi.is_empty()).then_some(gi), warnings)
    }
}

fn level(parent: Option<Arc<IgnoreScope>>, matchers: Vec<Gitignore>) -> IgnoreScope {
    IgnoreScope { parent, matchers }
}

/// Reads the ignore file `file`, whose patterns are relative to `dir`. `None` when it is missing, unreadable
/// (with a warning) or has no rules. A bad line is a warning; the rest of the file still counts.
fn load(vfs: &dyn Vfs, dir: &Path, file: &Path, warnings: &mut Vec<String>) -> Option<Gitignore> {
    let bytes = match vfs.read_small(file) {
        Ok(bytes) => bytes,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return None,
        Err(e) => {
            warnings.push(format!("{}: {e}", file.display()));
            return None;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut builder = GitignoreBuilder::new(dir);
    // As git with core.ignorecase, where names do not differ by case (see `CASE_INSENSITIVE`).
    let _ = builder.case_insensitive(super::CASE_INSENSITIVE);
    for (i, line) in text.lines().enumerate() {
        // As git does, ignore a byte-order mark at the start of the file.
        let line = if i == 0 { line.trim_start_matches('\u{feff}') } else { line };
        if let Err(e) = builder.add_line(Some(PathBuf::from(file)), line) {
            warnings.push(format!("{}:{}: {e}", file.display(), i + 1));
        }
    }
    match builder.build() {
        Ok(gi) => (!gi.is_empty()).then_some(gi),
        Err(e) => {
            warnings.push(format!("{}: {e}", file.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::sim::{self, Profile, SimFs};

    fn sim(files: &[(&str, &str)]) -> SimFs {
        let fs = SimFs::new(Profile::fine());
        for (path, text) in files {
            if let Some(dir) = path.strip_suffix('/') {
                fs.mkdir(dir);
            } else {
                fs.write(path, text.as_bytes());
            }
        }
        fs
    }

    /// The scope of `dir`, walking down from `root` as the scanner would.
    fn scope_of(fs: &SimFs, root: &str, dir: &str) -> Arc<IgnoreScope> {
        let (root, dir) = (sim::path(root), sim::path(dir));
        let (mut scope, warnings) = IgnoreScope::for_root(fs, &root, None);
        assert!(warnings.is_empty(), "{warnings:?}");
        let rest = dir.strip_prefix(&root).unwrap();
        let mut at = root.clone();
        for part in rest.components() {
            at.push(part);
            let entries = fs.read_dir(&at).unwrap();
            let (next, warnings) = IgnoreScope::child(&scope, fs, &at, &entries);
            assert!(warnings.is_empty(), "{warnings:?}");
            scope = next;
        }
        scope
    }

    /// Checks a table of `(path, is_dir, ignored)` against the scope of each path's parent.
    fn check(fs: &SimFs, root: &str, cases: &[(&str, bool, bool)]) {
        for &(path, is_dir, want) in cases {
            let parent = Path::new(path).parent().unwrap().to_str().unwrap();
            let scope = scope_of(fs, root, parent);
            assert_eq!(scope.is_ignored(&sim::path(path), is_dir), want, "{path} (dir: {is_dir})");
        }
    }

    #[test]
    fn gitignore_in_root() {
        let fs = sim(&[("/r/.gitignore", "target/\n*.log\n# comment\n\n/only-top\n"), ("/r/src/", "")]);
        check(
            &fs,
            "/r",
            &[
                ("/r/target", true, true),
                ("/r/target", false, false),
                ("/r/a.log", false, true),
                ("/r/src/b.log", false, true),
                ("/r/src/main.rs", false, false),
                ("/r/only-top", false, true),
                ("/r/src/only-top", false, false),
            ],
        );
    }

    #[test]
    fn nested_gitignore_whitelist_overrides_parent() {
        let fs =
            sim(&[("/r/.gitignore", "*.log\n"), ("/r/a/.gitignore", "!keep.log\n"), ("/r/a/sub/", ""), ("/r/b/", "")]);
        check(
            &fs,
            "/r",
            &[
                ("/r/a/keep.log", false, false),
                ("/r/a/other.log", false, true),
                ("/r/b/keep.log", false, true),
                ("/r/a/sub/keep.log", false, false),
            ],
        );
    }

    #[test]
    fn dot_ignore_takes_precedence_over_gitignore() {
        let fs = sim(&[("/r/.gitignore", "*.log\nkeep.txt\n"), ("/r/.ignore", "!keep.log\n*.txt\n")]);
        check(&fs, "/r", &[("/r/keep.log", false, false), ("/r/x.log", false, true), ("/r/a.txt", false, true)]);
        // ...but a deeper .gitignore beats a shallower .ignore.
        fs.write("/r/d/.gitignore", b"!a.txt\n");
        check(&fs, "/r", &[("/r/d/a.txt", false, false), ("/r/d/b.txt", false, true)]);
    }

    #[test]
    fn ancestors_inside_the_repo_count_and_beyond_it_do_not() {
        let fs = sim(&[
            ("/.gitignore", "*.rs\n"),
            ("/repo/.git/", ""),
            ("/repo/.gitignore", "*.log\nsrc/gen/\n/top.txt\n"),
            ("/repo/src/.gitignore", "*.tmp\n"),
            ("/repo/src/gen/", ""),
        ]);
        check(
            &fs,
            "/repo/src",
            &[
                ("/repo/src/a.log", false, true),
                ("/repo/src/a.tmp", false, true),
                ("/repo/src/gen", true, true),
                ("/repo/src/main.rs", false, false),
                ("/repo/src/top.txt", false, false),
            ],
        );
        // Outside any repository, only the root's own files count.
        let fs = sim(&[("/p/.gitignore", "*.log\n"), ("/p/q/.gitignore", "*.tmp\n")]);
        check(&fs, "/p/q", &[("/p/q/a.log", false, false), ("/p/q/a.tmp", false, true)]);
    }

    #[test]
    fn info_exclude_loses_to_gitignore_and_global_loses_to_both() {
        let fs = sim(&[
            ("/repo/.git/info/exclude", "*.log\n/secret\n"),
            ("/repo/.gitignore", "!keep.log\n"),
            ("/repo/src/", ""),
        ]);
        check(
            &fs,
            "/repo",
            &[
                ("/repo/a.log", false, true),
                ("/repo/keep.log", false, false),
                ("/repo/secret", false, true),
                ("/repo/src/secret", false, false),
            ],
        );
        let mut global = GitignoreBuilder::new("/");
        global.add_line(None, "*.bak").unwrap();
        global.add_line(None, "*.log").unwrap();
        let global = global.build().unwrap();
        let (scope, warnings) = IgnoreScope::for_root(&fs, &sim::path("/repo"), Some(&global));
        assert!(warnings.is_empty());
        assert!(scope.is_ignored(&sim::path("/repo/x.bak"), false));
        assert!(scope.is_ignored(&sim::path("/repo/x.log"), false));
        assert!(!scope.is_ignored(&sim::path("/repo/keep.log"), false));
    }

    #[test]
    fn bad_lines_and_unreadable_files_are_warnings() {
        let fs = sim(&[("/r/.gitignore", "*.log\nsrc/{a,b\n*.tmp\n"), ("/r/d/.ignore", "x\n")]);
        let (scope, warnings) = IgnoreScope::for_root(&fs, &sim::path("/r"), None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with(&format!("{}:2: ", sim::path("/r/.gitignore").display())), "{}", warnings[0]);
        assert!(warnings[0].contains("src/{a,b"), "{}", warnings[0]);
        assert!(scope.is_ignored(&sim::path("/r/a.log"), false));
        assert!(scope.is_ignored(&sim::path("/r/a.tmp"), false));

        fs.set_error("/r/d/.ignore", Some(io::ErrorKind::PermissionDenied));
        let entries = fs.read_dir(&sim::path("/r/d")).unwrap();
        let (child, warnings) = IgnoreScope::child(&scope, &fs, &sim::path("/r/d"), &entries);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let want = format!("{}: ", sim::path("/r/d/.ignore").display());
        assert!(warnings[0].starts_with(&want) && !warnings[0].contains('\n'), "{}", warnings[0]);
        assert!(Arc::ptr_eq(&child, &scope));
    }

    #[test]
    fn missing_files_are_silent_and_lossy_utf8_is_read() {
        let fs = SimFs::new(Profile::fine());
        fs.write("/r/.gitignore", b"\xef\xbb\xbf*.log\ncaf\xe9\n*.tmp\n");
        let (scope, warnings) = IgnoreScope::for_root(&fs, &sim::path("/r"), None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(scope.is_ignored(&sim::path("/r/a.log"), false), "a BOM does not spoil the first line");
        assert!(scope.is_ignored(&sim::path("/r/a.tmp"), false));
        let (scope, warnings) = IgnoreScope::for_root(&fs, &sim::path("/nowhere/at/all"), None);
        assert!(warnings.is_empty());
        assert!(!scope.is_ignored(&sim::path("/nowhere/at/all/a.log"), false));
    }

    #[test]
    fn child_without_ignore_files_shares_the_parent() {
        let fs = sim(&[("/r/.gitignore", "*.log\n"), ("/r/plain/a.rs", ""), ("/r/own/.ignore", "*.rs\n")]);
        let (root, _) = IgnoreScope::for_root(&fs, &sim::path("/r"), None);
        let entries = fs.read_dir(&sim::path("/r/plain")).unwrap();
        let (plain, warnings) = IgnoreScope::child(&root, &fs, &sim::path("/r/plain"), &entries);
        assert!(warnings.is_empty());
        assert!(Arc::ptr_eq(&plain, &root));
        let entries = fs.read_dir(&sim::path("/r/own")).unwrap();
        let (own, _) = IgnoreScope::child(&root, &fs, &sim::path("/r/own"), &entries);
        assert!(!Arc::ptr_eq(&own, &root));
        assert!(own.is_ignored(&sim::path("/r/own/a.rs"), false));
        // An ignore file that is not in the listing is not read, even if it exists.
        let (stale, _) = IgnoreScope::child(&root, &fs, &sim::path("/r/own"), &[]);
        assert!(Arc::ptr_eq(&stale, &root));
        assert!(!IgnoreScope::empty().is_ignored(&sim::path("/r/a.log"), false));
    }

    /// Ignore files match as git does with `core.ignorecase` on Windows and macOS, exactly elsewhere.
    #[test]
    fn ignore_files_follow_the_platform_s_case() {
        let ci = crate::discover::CASE_INSENSITIVE;
        let fs = sim(&[("/r/.gitignore", "Build/\n*.log\n"), ("/r/src/", "")]);
        check(&fs, "/r", &[("/r/build", true, ci), ("/r/Build", true, true), ("/r/A.LOG", false, ci)]);
    }

    #[test]
    fn the_files_above_a_root_are_those_its_scope_reads() {
        let fs = sim(&[("/repo/.git/HEAD", ""), ("/repo/src/app/", "")]);
        let files = IgnoreScope::files_above(&fs, &sim::path("/repo/src/app"));
        let want = [
            "/repo/.git/info/exclude",
            "/repo/src/.ignore",
            "/repo/src/.gitignore",
            "/repo/.ignore",
            "/repo/.gitignore",
        ];
        assert_eq!(files, want.map(sim::path));
        assert!(IgnoreScope::files_above(&fs, &sim::path("/repo")).ends_with(&[sim::path("/repo/.git/info/exclude")]));
        // A worktree's `.git` file: no exclude file of its own; outside any repository, nothing above the root.
        let fs = sim(&[("/wt/.git", "gitdir: /elsewhere"), ("/wt/src/", ""), ("/plain/src/", "")]);
        let files = IgnoreScope::files_above(&fs, &sim::path("/wt/src"));
        assert_eq!(files, ["/wt/.ignore", "/wt/.gitignore"].map(sim::path));
        assert!(IgnoreScope::files_above(&fs, &sim::path("/plain/src")).is_empty());
    }

    #[test]
    fn global_does_not_panic() {
        let (_global, warnings) = IgnoreScope::global();
        assert!(warnings.iter().all(|w| !w.contains('\n')));
    }

    #[test]
    fn works_on_a_real_disk() {
        use crate::vfs::real::RealFs;

        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join(".git/info")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join(".git/info/exclude"), "*.bak\n").unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(root.join("src/.gitignore"), "*.tmp\n").unwrap();
        let (scope, warnings) = IgnoreScope::for_root(&RealFs, &root, None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(scope.is_ignored(&root.join("target"), true));
        assert!(scope.is_ignored(&root.join("a.bak"), false));
        let src = root.join("src");
        let entries = RealFs.read_dir(&src).unwrap();
        let (child, warnings) = IgnoreScope::child(&scope, &RealFs, &src, &entries);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(child.is_ignored(&src.join("x.tmp"), false));
        assert!(!child.is_ignored(&src.join("x.rs"), false));
    }
}
