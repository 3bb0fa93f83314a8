//! Regressions: the engine bugs the torture test (`torture`) found, each pinned down by a small deterministic test
//! when it was found (ignored while the bug was open), and fixed since. Each test's doc says what the bug was. The
//! torture's `avoid_known_bugs` variants still stay clear of these cases; `torture_every_operation...` does not.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use filetime::FileTime;
use stator::change::{ChangeKind, ChangeSet};
use stator::config::Config;
use stator::poll::Poller;
use stator::vfs::real::RealFs;

use crate::support::set_mtime;

/// A poller over `root` (in a fresh temporary directory, laid out by `setup`), with the baseline taken.
struct Small {
    tmp: tempfile::TempDir,
    root: PathBuf,
    poller: Poller<RealFs>,
}

impl Small {
    fn new(setup: impl FnOnce(&Path, &Path)) -> Small {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        fs::create_dir(&root).expect("mkdir root");
        setup(tmp.path(), &root);
        let mut poller =
            Poller::new(Config { roots: vec![root.clone()], ..Config::default() }, RealFs).expect("config");
        assert!(poller.tick().changes.is_empty(), "the baseline reports nothing");
        Small { tmp, root, poller }
    }

    /// Three full ticks, folded.
    fn settle(&mut self, set: &mut ChangeSet) {
        for _ in 0..3 {
            set.extend(self.poller.tick().changes);
        }
    }

    /// The net changes as `(path relative to the root, kind)`; the root itself is "".
    fn net(&self, set: &ChangeSet) -> Vec<(String, ChangeKind)> {
        set.iter()
            .map(|(p, k, _)| (p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().into_owned(), k))
            .collect()
    }

    fn tracked(&self) -> Vec<String> {
        self.poller
            .files()
            .iter()
            .map(|p| p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().into_owned())
            .collect()
    }
}

fn tree_with_a_directory(root: &Path) {
    fs::create_dir_all(root.join("d/sub")).expect("mkdir");
    for (p, c) in [("d/a", "a"), ("d/b", "b"), ("d/sub/c", "c"), ("top", "t")] {
        fs::write(root.join(p), c).expect("write");
    }
}

fn want(list: &[(&str, ChangeKind)]) -> Vec<(String, ChangeKind)> {
    list.iter().map(|(p, k)| ((*p).to_owned(), *k)).collect()
}

/// The bug: a directory that turned into a file was forgotten with what was in it, without reporting those files
/// removed (the poller detached the directory's subtree silently).
#[test]
fn a_directory_replaced_by_a_file_reports_the_files_that_were_in_it() {
    use ChangeKind::{Modified, Removed};
    let mut s = Small::new(|_, root| tree_with_a_directory(root));
    fs::remove_dir_all(s.root.join("d")).expect("rm -r d");
    fs::write(s.root.join("d"), "now a file").expect("write d");
    let mut set = ChangeSet::new();
    s.settle(&mut set);
    assert_eq!(
        s.net(&set),
        want(&[("d", Modified), ("d/a", Removed), ("d/b", Removed), ("d/sub", Removed), ("d/sub/c", Removed)])
    );
}

/// The bug: a file that turned into a directory had the directory's contents joined as if without a listing
/// (`Join::Unlisted`), so old files in it were never reported.
#[test]
fn a_file_replaced_by_a_directory_of_old_files_reports_them_created() {
    use ChangeKind::{Created, Modified};
    let mut s = Small::new(|_, root| tree_with_a_directory(root));
    let staged = s.tmp.path().join("staged");
    fs::create_dir(&staged).expect("mkdir staged");
    fs::write(staged.join("old.txt"), "old").expect("write");
    set_mtime(staged.join("old.txt"), FileTime::from_unix_time(1_000_000_000, 0));
    fs::remove_file(s.root.join("top")).expect("rm top");
    fs::rename(&staged, s.root.join("top")).expect("mv staged top");
    let mut set = ChangeSet::new();
    s.settle(&mut set);
    assert!(s.tracked().contains(&"top/old.txt".to_owned()), "{:?}", s.tracked());
    assert_eq!(s.net(&set), want(&[("top", Modified), ("top/old.txt", Created)]));
}

/// The bug: a directory's identity was recorded once and never updated when another directory took its path
/// (`ln -sfn`, a rename over it, `rm -r` and `mkdir`); a directory later seen with the old identity was taken for
/// one already watched and never descended into.
#[test]
fn a_directory_linked_again_after_its_link_was_retargeted_is_watched() {
    use ChangeKind::Created;
    let mut s = Small::new(|tmp, root| {
        for (dir, file) in [("A", "in_a"), ("B", "in_b")] {
            fs::create_dir(tmp.join(dir)).expect("mkdir");
            fs::write(tmp.join(dir).join(file), file).expect("write");
        }
        symlink(tmp.join("A"), root.join("current")).expect("symlink");
    });
    // A deployment switches `current` to the new release (`ln -sfn B current`)...
    symlink(s.tmp.path().join("B"), s.root.join(".tmp-link")).expect("symlink");
    fs::rename(s.root.join(".tmp-link"), s.root.join("current")).expect("rename over");
    let mut set = ChangeSet::new();
    s.settle(&mut set);
    // ...and keeps the old one reachable as `previous`.
    symlink(s.tmp.path().join("A"), s.root.join("previous")).expect("symlink");
    let mut set = ChangeSet::new();
    s.settle(&mut set);
    assert!(s.tracked().contains(&"previous/in_a".to_owned()), "{:?}", s.tracked());
    assert_eq!(s.net(&set), want(&[("previous", Created), ("previous/in_a", Created)]));
}

/// The bug: when a hot tick saw a directory vanish first, the next full tick confirmed it removed and forgot the
/// files inside it that had only just been seen missing, without reporting them.
#[test]
fn a_removed_directory_reports_its_files_even_when_a_hot_tick_saw_it_first() {
    use ChangeKind::{Modified, Removed};
    let mut s = Small::new(|_, root| tree_with_a_directory(root));
    // An edit makes d/a, and d, hot.
    fs::write(s.root.join("d/a"), "edited").expect("write");
    let mut set = ChangeSet::new();
    set.extend(s.poller.tick().changes);
    assert_eq!(s.net(&set), want(&[("d/a", Modified)]));
    fs::remove_dir_all(s.root.join("d")).expect("rm -r d");
    let mut set = ChangeSet::new();
    set.extend(s.poller.tick_hot().changes);
    s.settle(&mut set);
    assert_eq!(
        s.net(&set),
        want(&[("d", Removed), ("d/a", Removed), ("d/b", Removed), ("d/sub", Removed), ("d/sub/c", Removed)])
    );
}

/// The bug: a watched root that was removed was reported, but the files in it were forgotten unreported (the
/// root's subtree was detached before its children's events were applied).
#[test]
fn a_removed_root_reports_the_files_that_were_in_it() {
    use ChangeKind::Removed;
    let mut s = Small::new(|_, root| tree_with_a_directory(root));
    fs::remove_dir_all(&s.root).expect("rm -r root");
    let mut set = ChangeSet::new();
    s.settle(&mut set);
    assert_eq!(
        s.net(&set),
        want(&[
            ("", Removed),
            ("d", Removed),
            ("d/a", Removed),
            ("d/b", Removed),
            ("d/sub", Removed),
            ("d/sub/c", Removed),
            ("top", Removed)
        ])
    );
}
