//! The engine on real temporary directories: the behaviours of `src/poll/scenarios.rs` (which run on a
//! simulated filesystem) checked against the real disk, plus what only a real disk has: symlinks, permissions,
//! non-UTF-8 names.
//!
//! `Poller::tick` is synchronous, so no test sleeps: each makes a change on disk, ticks, and folds what the ticks
//! report into a `ChangeSet`. Timestamps that matter are set with `filetime`.

use std::fs;
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;

use filetime::FileTime;
use stator::change::ChangeKind::{Created, Modified, Removed};
use stator::change::{ChangeKind, ChangeSet, Reason};
use stator::config::FilterConfig;
use stator::fingerprint::Fields;
use stator::poll::Warning;

use crate::support::watch::Watch;
use crate::support::{mtime, now_plus, set_mtime, write};

const YEAR: i64 = 365 * 24 * 3600;

/// The single change in `set`, as `(absolute path, kind, reason)`.
fn only(set: &ChangeSet) -> (PathBuf, ChangeKind, Reason) {
    assert_eq!(set.len(), 1, "expected exactly one change, got {set:?}");
    let (p, k, r) = set.iter().next().expect("one change");
    (p.to_path_buf(), k, r)
}

#[test]
fn content_edit_is_one_modification() {
    let mut w = Watch::new(|d| write(d.join("a.rs"), "one"));
    write(w.path("a.rs"), "three");
    let set = w.settle();
    w.expect(&set, &[("a.rs", Modified)]);
}

#[test]
fn same_size_rewrite_keeping_the_mtime_is_seen_by_the_content_hash_alone() {
    // A coarse-timestamp filesystem, on the real disk: the second write keeps the first one's (whole-second)
    // mtime, the size and the inode; ctime is not trusted, so only the racy-window hash can tell.
    let mut w = Watch::with_config(|d| write(d.join("a.rs"), "aaaa"), |_, c| c.trust_ctime = false);
    let a = w.path("a.rs");
    write(&a, "bbbb");
    set_mtime(&a, FileTime::from_unix_time(now_plus(-5).unix_seconds(), 0));
    let first = w.tick();
    assert_eq!(first.changes.len(), 1, "{:?}", first.changes);
    assert_eq!(first.changes[0].kind, Modified);
    let stamp = mtime(&a);
    write(&a, "cccc");
    set_mtime(&a, stamp);
    let second = w.tick();
    assert_eq!(second.changes.len(), 1, "{:?}", second.changes);
    assert_eq!(second.changes[0].path, a);
    assert_eq!(second.changes[0].kind, Modified);
    assert_eq!(second.changes[0].reason, Reason::Fields(Fields::CONTENT));
    assert!(w.settle().is_empty(), "the rewrite is reported once");
}

#[test]
fn two_edits_300ms_apart_between_two_ticks_are_one_modification() {
    let mut w = Watch::new(|d| {
        write(d.join("a.rs"), "aaaa");
        set_mtime(d.join("a.rs"), now_plus(-60));
    });
    let a = w.path("a.rs");
    let t = now_plus(-10);
    write(&a, "bbbb");
    set_mtime(&a, t);
    write(&a, "cccc");
    set_mtime(&a, t.add_ms(300));
    let set = w.settle();
    w.expect(&set, &[("a.rs", Modified)]);
}

#[test]
fn two_edits_300ms_apart_straddling_a_tick_are_each_seen() {
    let mut w = Watch::new(|d| {
        write(d.join("a.rs"), "aaaa");
        set_mtime(d.join("a.rs"), now_plus(-60));
    });
    let a = w.path("a.rs");
    let t = now_plus(-10);
    write(&a, "bbbb");
    set_mtime(&a, t);
    let first = w.tick();
    write(&a, "cccc");
    set_mtime(&a, t.add_ms(300));
    let second = w.tick();
    assert_eq!(first.changes.len(), 1, "first edit: {:?}", first.changes);
    assert_eq!(second.changes.len(), 1, "second edit: {:?}", second.changes);
    let mut set = ChangeSet::new();
    set.extend(first.changes);
    set.extend(second.changes);
    w.expect(&set, &[("a.rs", Modified)]);
}

#[test]
fn mtime_set_backwards_is_a_modification() {
    let mut w = Watch::new(|d| write(d.join("a.rs"), "one"));
    // `cp -p`, `touch -d`, `tar -x`: an older mtime than before.
    set_mtime(w.path("a.rs"), FileTime::from_unix_time(1_000_000_000, 0));
    let set = w.settle();
    w.expect(&set, &[("a.rs", Modified)]);
    let (_, _, reason) = only(&set);
    assert!(matches!(reason, Reason::Fields(f) if f.contains(Fields::MTIME)), "{reason:?}");
}

#[test]
fn old_file_moved_in_from_outside_the_root_is_created() {
    let outside = tempfile::tempdir().expect("tempdir");
    let old = outside.path().join("old.rs");
    write(&old, "old");
    set_mtime(&old, now_plus(-YEAR));
    let mut w = Watch::new(|_| {});
    fs::rename(&old, w.path("old.rs")).expect("rename into the root");
    let set = w.settle();
    w.expect(&set, &[("old.rs", Created)]);
    assert_eq!(only(&set).2, Reason::NewName);
}

#[test]
fn new_file_is_created() {
    let mut w = Watch::new(|d| write(d.join("a.rs"), "a"));
    write(w.path("new.rs"), "x");
    let set = w.settle();
    w.expect(&set, &[("new.rs", Created)]);
    assert_eq!(only(&set).2, Reason::NewName);
}

#[test]
fn new_file_dated_an_hour_ahead_is_created_once_then_quiet() {
    let mut w = Watch::new(|_| {});
    let f = w.path("f.rs");
    write(&f, "x");
    set_mtime(&f, now_plus(3600));
    let (set, warnings) = w.settle_with_warnings();
    w.expect(&set, &[("f.rs", Created)]);
    assert!(
        warnings.iter().any(|x| matches!(x, Warning::Skew { path, .. } if *path == f)),
        "clock skew is warned about: {warnings:?}"
    );
    for round in 0..3 {
        let (later, warnings) = w.settle_with_warnings();
        assert!(later.is_empty(), "round {round}: a future-dated file must not keep firing: {later:?}");
        assert!(warnings.is_empty(), "round {round}: skew is warned once: {warnings:?}");
    }
}

#[test]
fn future_dated_file_edited_back_to_now_is_modified() {
    let mut w = Watch::new(|d| {
        write(d.join("f.rs"), "x");
        set_mtime(d.join("f.rs"), now_plus(3600));
    });
    assert!(w.settle().is_empty(), "idle before the edit");
    write(w.path("f.rs"), "y");
    let set = w.settle();
    w.expect(&set, &[("f.rs", Modified)]);
}

#[test]
fn deletion_is_reported_only_on_the_confirming_second_tick() {
    let mut w = Watch::new(|d| {
        write(d.join("a.rs"), "one");
        write(d.join("b.rs"), "two");
    });
    fs::remove_file(w.path("a.rs")).expect("remove");
    let first = w.tick();
    assert!(first.changes.is_empty(), "not yet confirmed: {:?}", first.changes);
    assert!(first.pending, "a removal waits for confirmation");
    let second = w.tick();
    assert!(!second.pending);
    let mut set = ChangeSet::new();
    set.extend(second.changes);
    w.expect(&set, &[("a.rs", Removed)]);
    assert_eq!(only(&set).2, Reason::Vanished);
    assert!(w.settle().is_empty());
}

#[test]
fn atomic_save_is_one_modification_and_the_temporary_is_nothing() {
    let mut w = Watch::new(|d| write(d.join("a"), "one"));
    write(w.path(".a.tmp"), "two, longer");
    fs::rename(w.path(".a.tmp"), w.path("a")).expect("rename over");
    let set = w.settle();
    w.expect(&set, &[("a", Modified)]);
}

#[test]
fn new_nested_directory_with_a_file_creates_each_level() {
    let mut w = Watch::new(|d| write(d.join("a.rs"), "a"));
    write(w.path("d/e/f.rs"), "x");
    // Everything is found in the tick that sees the first directory: a new directory is listed at once.
    let first = w.tick();
    let mut set = ChangeSet::new();
    set.extend(first.changes);
    w.expect(&set, &[("d", Created), ("d/e", Created), ("d/e/f.rs", Created)]);
    set.extend(w.settle().into_changes());
    w.expect(&set, &[("d", Created), ("d/e", Created), ("d/e/f.rs", Created)]);
}

#[test]
fn directory_renamed_is_old_names_removed_and_new_names_created() {
    let mut w = Watch::new(|d| write(d.join("d1/f.rs"), "x"));
    fs::rename(w.path("d1"), w.path("d2")).expect("rename dir");
    let set = w.settle();
    w.expect(&set, &[("d1", Removed), ("d1/f.rs", Removed), ("d2", Created), ("d2/f.rs", Created)]);
    // The new name is watched.
    write(w.path("d2/f.rs"), "changed");
    let set = w.settle();
    w.expect(&set, &[("d2/f.rs", Modified)]);
}

#[test]
fn two_hundred_files_written_at_once_are_one_change_set() {
    let mut w = Watch::new(|d| write(d.join("a.rs"), "a"));
    for i in 0..200 {
        write(w.path(format!("gen/f{i:03}.rs")), format!("{i}"));
    }
    let first = w.tick();
    assert_eq!(first.changes.len(), 201, "all found by the first tick");
    let mut set = ChangeSet::new();
    set.extend(first.changes);
    set.extend(w.settle().into_changes());
    let mut want: Vec<(String, ChangeKind)> = (0..200).map(|i| (format!("gen/f{i:03}.rs"), Created)).collect();
    want.push(("gen".into(), Created));
    let want: Vec<(&str, ChangeKind)> = want.iter().map(|(p, k)| (p.as_str(), *k)).collect();
    w.expect(&set, &want);
}

#[test]
fn change_under_dot_git_is_nothing() {
    let mut w = Watch::new(|d| {
        write(d.join(".git/HEAD"), "ref: refs/heads/main\n");
        write(d.join("a.rs"), "a");
    });
    assert_eq!(w.files(), vec![PathBuf::from("a.rs")]);
    write(w.path(".git/HEAD"), "ref: refs/heads/other\n");
    write(w.path(".git/objects/ab/cdef"), "blob");
    let set = w.settle();
    w.expect(&set, &[]);
}

#[test]
fn change_inside_a_gitignored_directory_is_nothing_and_not_listed() {
    let mut w = Watch::new(|d| {
        write(d.join(".gitignore"), "target/\n");
        write(d.join("target/debug/app"), "bin");
        write(d.join("src/main.rs"), "fn main() {}");
    });
    let listed = vec![PathBuf::from(".gitignore"), PathBuf::from("src/main.rs")];
    assert_eq!(w.files(), listed);
    write(w.path("target/debug/app"), "bin, rebuilt");
    write(w.path("target/debug/new.rs"), "x");
    write(w.path("target/release/app"), "bin");
    let set = w.settle();
    w.expect(&set, &[]);
    assert_eq!(w.files(), listed);
}

#[test]
fn watched_file_that_does_not_exist_yet_is_created_when_it_appears() {
    let mut w = Watch::with_config(
        |d| write(d.join("w/a.rs"), "a"),
        |d, c| c.roots = vec![d.join("w"), d.join("later/conf.toml")],
    );
    assert!(
        w.baseline.warnings.iter().any(|x| matches!(x, Warning::Missing { path } if path.ends_with("later/conf.toml"))),
        "{:?}",
        w.baseline.warnings
    );
    assert!(w.settle().is_empty());
    write(w.path("later/conf.toml"), "x = 1");
    let set = w.settle();
    w.expect(&set, &[("later/conf.toml", Created)]);
    assert_eq!(only(&set).2, Reason::Appeared);
    write(w.path("later/conf.toml"), "x = 22");
    let set = w.settle();
    w.expect(&set, &[("later/conf.toml", Modified)]);
}

#[test]
fn watched_directory_that_does_not_exist_yet_is_created_with_its_contents() {
    let mut w =
        Watch::with_config(|d| write(d.join("w/a.rs"), "a"), |d, c| c.roots = vec![d.join("w"), d.join("later-dir")]);
    assert!(w.settle().is_empty());
    write(w.path("later-dir/sub/a.rs"), "x");
    let set = w.settle();
    w.expect(&set, &[("later-dir", Created), ("later-dir/sub", Created), ("later-dir/sub/a.rs", Created)]);
    write(w.path("later-dir/sub/a.rs"), "changed");
    let set = w.settle();
    w.expect(&set, &[("later-dir/sub/a.rs", Modified)]);
}

#[test]
fn file_under_two_overlapping_roots_is_reported_once() {
    let mut w =
        Watch::with_config(|d| write(d.join("sub/a.rs"), "a"), |d, c| c.roots = vec![d.to_path_buf(), d.join("sub")]);
    assert_eq!(w.files(), vec![PathBuf::from("sub/a.rs")]);
    write(w.path("sub/a.rs"), "changed");
    let set = w.settle();
    w.expect(&set, &[("sub/a.rs", Modified)]);
}

#[test]
fn overlapping_roots_are_not_a_symlink_loop() {
    let mut w =
        Watch::with_config(|d| write(d.join("sub/a.rs"), "a"), |d, c| c.roots = vec![d.to_path_buf(), d.join("sub")]);
    write(w.path("sub/b.rs"), "new");
    let (_, mut warnings) = w.settle_with_warnings();
    warnings.extend(w.baseline.warnings.iter().cloned());
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn overlapping_root_created_and_deleted_within_one_burst_is_nothing() {
    let mut w =
        Watch::with_config(|d| write(d.join("a.rs"), "a"), |d, c| c.roots = vec![d.to_path_buf(), d.join("sub")]);
    fs::create_dir(w.path("sub")).expect("mkdir");
    let mut set = ChangeSet::new();
    set.extend(w.tick().changes);
    fs::remove_dir(w.path("sub")).expect("rmdir");
    // Folded tick by tick, as `Settle` does.
    for _ in 0..3 {
        set.extend(w.tick().changes);
    }
    w.expect(&set, &[]);
}

#[cfg(unix)]
#[test]
fn file_reachable_through_a_symlinked_directory_is_reported_once() {
    let mut w = Watch::new(|d| {
        write(d.join("real/a.rs"), "a");
        std::os::unix::fs::symlink("real", d.join("link")).expect("symlink");
    });
    let files = w.files();
    assert_eq!(files.len(), 1, "one file, tracked once: {files:?}");
    write(w.path("real/a.rs"), "changed");
    let set = w.settle();
    let (path, kind, _) = only(&set);
    assert_eq!(kind, Modified);
    let rel = w.relative(&path);
    assert!(rel == Path::new("real/a.rs") || rel == Path::new("link/a.rs"), "{}", rel.display());
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_one_warning_no_hang_and_the_rest_is_watched() {
    let mut w = Watch::new(|d| {
        write(d.join("a.rs"), "a");
        write(d.join("sub/b.rs"), "b");
        // sub/loop -> .. is the watched root again.
        std::os::unix::fs::symlink("..", d.join("sub/loop")).expect("symlink");
    });
    let loops = |ws: &[Warning]| ws.iter().filter(|x| matches!(x, Warning::Loop { .. })).count();
    assert_eq!(loops(&w.baseline.warnings), 1, "{:?}", w.baseline.warnings);
    assert_eq!(w.files(), vec![PathBuf::from("a.rs"), PathBuf::from("sub/b.rs")]);
    write(w.path("new.rs"), "x");
    write(w.path("sub/b.rs"), "changed");
    let (set, _) = w.settle_with_warnings();
    w.expect(&set, &[("new.rs", Created), ("sub/b.rs", Modified)]);
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_warned_once_not_on_every_later_tick() {
    let mut w = Watch::new(|d| {
        write(d.join("sub/b.rs"), "b");
        std::os::unix::fs::symlink("..", d.join("sub/loop")).expect("symlink");
    });
    write(w.path("new.rs"), "x");
    let (_, warnings) = w.settle_with_warnings();
    assert!(warnings.is_empty(), "already warned at the baseline: {warnings:?}");
}

#[cfg(unix)]
#[test]
fn non_utf8_file_name_is_reported_with_its_exact_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let name = OsStr::from_bytes(b"caf\xe9.rs");
    let mut w = Watch::new(|d| write(d.join("a.rs"), "a"));
    write(w.path(name), "x");
    let set = w.settle();
    let (path, kind, _) = only(&set);
    assert_eq!(kind, Created);
    assert_eq!(path.file_name().map(OsStr::as_bytes), Some(&b"caf\xe9.rs"[..]));
    assert_eq!(path, w.path(name));
    write(w.path(name), "changed");
    let set = w.settle();
    let (path, kind, _) = only(&set);
    assert_eq!((path.as_os_str().as_bytes(), kind), (w.path(name).as_os_str().as_bytes(), Modified));
}

/// Makes `dir` unreadable (chmod 000). Returns `false`, with the mode restored, when this process can still list
/// it: root ignores permissions, so the behaviour cannot be shown (the test is skipped, see
/// [`crate::support::skip_as_root`]).
#[cfg(unix)]
fn lock(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    if fs::read_dir(dir).is_ok() {
        unlock(dir);
        crate::support::skip_as_root("chmod 000 does not stop this process from listing a directory");
        return false;
    }
    true
}

#[cfg(unix)]
fn unlock(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod 755");
}

/// Warnings about `dir` or anything under it.
#[cfg(unix)]
fn warnings_under<'a>(warnings: &'a [Warning], dir: &Path) -> Vec<&'a Warning> {
    warnings
        .iter()
        .filter(|x| match x {
            Warning::CannotList { path, .. } | Warning::Unreadable { path, .. } => path.starts_with(dir),
            Warning::UnreadableIn { dir: d, .. } => d.starts_with(dir),
            _ => false,
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn unreadable_directory_keeps_its_files_warns_once_and_the_rest_is_watched() {
    let mut w = Watch::new(|d| {
        write(d.join("a.rs"), "a");
        write(d.join("locked/in.rs"), "x");
    });
    let locked = w.path("locked");
    if !lock(&locked) {
        return;
    }
    let (set, warnings) = w.settle_with_warnings();
    assert!(!warnings_under(&warnings, &locked).is_empty(), "the user is told: {warnings:?}");
    assert_eq!(warnings_under(&warnings, &locked).len(), warnings.len(), "{warnings:?}");
    assert!(set.is_empty(), "an unreadable file is not a removed one: {set:?}");
    assert!(w.files().contains(&PathBuf::from("locked/in.rs")), "last known state kept: {:?}", w.files());
    write(w.path("a.rs"), "changed");
    let (set, warnings) = w.settle_with_warnings();
    w.expect(&set, &[("a.rs", Modified)]);
    assert!(warnings.is_empty(), "each warning once, not every tick: {warnings:?}");
    // Readable again: a file added meanwhile is new, the old one is not.
    unlock(&locked);
    write(w.path("locked/new.rs"), "x");
    let set = w.settle();
    w.expect(&set, &[("locked/new.rs", Created)]);
}

#[cfg(unix)]
#[test]
fn unreadable_directory_is_one_warning_not_one_per_file_inside() {
    let mut w = Watch::new(|d| {
        for i in 0..5 {
            write(d.join(format!("locked/f{i}.rs")), "x");
        }
    });
    let locked = w.path("locked");
    if !lock(&locked) {
        return;
    }
    let (_, warnings) = w.settle_with_warnings();
    unlock(&locked);
    assert_eq!(warnings_under(&warnings, &locked).len(), 1, "{warnings:?}");
}

#[test]
fn root_that_never_appears_is_one_warning_and_the_other_roots_are_watched() {
    let mut w =
        Watch::with_config(|d| write(d.join("w/a.rs"), "a"), |d, c| c.roots = vec![d.join("nope"), d.join("w")]);
    assert_eq!(w.baseline.warnings, vec![Warning::Missing { path: w.path("nope") }]);
    write(w.path("w/a.rs"), "changed");
    write(w.path("w/b.rs"), "new");
    let (set, warnings) = w.settle_with_warnings();
    w.expect(&set, &[("w/a.rs", Modified), ("w/b.rs", Created)]);
    assert!(warnings.is_empty(), "warned once only: {warnings:?}");
}

#[test]
fn file_created_and_deleted_between_two_ticks_is_nothing() {
    let mut w = Watch::new(|d| write(d.join("a.rs"), "a"));
    write(w.path("ghost.rs"), "boo");
    fs::remove_file(w.path("ghost.rs")).expect("remove");
    let set = w.settle();
    w.expect(&set, &[]);
}

#[test]
fn files_lists_exactly_what_list_would_print() {
    let w = Watch::with_config(
        |d| {
            for (path, text) in [
                (".git/HEAD", "ref: refs/heads/main\n"),
                (".gitignore", "target/\n/scratch.rs\n"),
                ("target/debug/build.rs", ""),
                ("node_modules/m/index.rs", ""),
                ("web/node_modules/x.rs", ""),
                ("src/main.rs", ""),
                ("src/lib.rs", ""),
                ("src/api_gen.rs", ""),
                ("src/deep/more/mod.rs", ""),
                ("src/notes.md", ""),
                ("src/.main.rs.swp", ""),
                ("src/main.rs~", ""),
                ("scratch.rs", ""),
                ("sub/scratch.rs", ""),
                ("build.rs", ""),
                ("Cargo.toml", ""),
            ] {
                write(d.join(path), text);
            }
        },
        |_, c| {
            c.filter = FilterConfig {
                extensions: vec!["rs".into()],
                exclude: vec!["node_modules".into(), "*_gen.rs".into()],
                ..FilterConfig::default()
            }
        },
    );
    let want: Vec<PathBuf> = ["build.rs", "src/deep/more/mod.rs", "src/lib.rs", "src/main.rs", "sub/scratch.rs"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(w.files(), want);
}

#[test]
fn idle_tree_stays_quiet_for_many_ticks() {
    let mut w = Watch::new(|d| {
        write(d.join("a.rs"), "a");
        write(d.join("d/b.rs"), "b");
    });
    for _ in 0..4 {
        let (set, warnings) = w.settle_with_warnings();
        assert!(set.is_empty() && warnings.is_empty(), "{set:?} {warnings:?}");
    }
}

/// Milliseconds added to a `FileTime`, for mtimes "300 ms later" without waiting for them.
trait AddMs {
    fn add_ms(self, ms: i64) -> FileTime;
}

impl AddMs for FileTime {
    fn add_ms(self, ms: i64) -> FileTime {
        let n = i128::from(self.unix_seconds()) * 1_000_000_000
            + i128::from(self.nanoseconds())
            + i128::from(ms) * 1_000_000;
        stator::time::from_nanos(n)
    }
}
