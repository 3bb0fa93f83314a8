//! Unchanged saves: a settled change set whose files all hold the bytes the current run started with restarts
//! nothing. An editor's save without an edit, a `touch`, a code generator or formatter writing the same output
//! again: their fingerprints change, their content does not, and a restart would only cost the user a server's
//! startup time.
//!
//! [`Ledger`] decides, and is pure: it keeps, per path, the content hash the current run started with, as far as
//! stator knows it, and what each path held in the change sets since (for the next run). [`look`] does the I/O: one
//! `stat` and at most one hash per changed path of a *settled* set (never per sweep), and only files no larger than
//! [`Config::hash_limit`](crate::config::Config::hash_limit).
//!
//! What stator never read counts as changed: stator hashes nothing at startup nor on a sweep (hashing the tree is
//! what a poller must not do), so the first change to a file in a session always restarts, and from then on its
//! content is known. So do a file created or removed (whatever it holds), a directory, a file over the hash limit
//! and one that could not be read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::change::ChangeKind;
use crate::fingerprint::FileKind;
use crate::vfs::Vfs;

/// One changed path of a settled set, and what it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    /// The path.
    pub path: PathBuf,
    /// What the set says happened to it.
    pub kind: ChangeKind,
    /// Its content hash now; `None` when it has none that counts: removed, not a regular file, larger than the hash
    /// limit, unreadable.
    pub hash: Option<u64>,
}

/// What the current run started with, and what the next one will. See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// Path to the content hash it had when the current run started, for the paths known then.
    started: HashMap<PathBuf, u64>,
    /// What each path held at the last set that named it since the current run started; `None`: nothing known.
    /// The next run starts with these.
    next: HashMap<PathBuf, Option<u64>>,
}

impl Ledger {
    /// A ledger that knows nothing: every change restarts until stator has read the file once.
    pub(super) fn new() -> Ledger {
        Ledger::default()
    }

    /// The paths of a settled set (`seen`) whose bytes are those the current run started with, in `seen`'s order.
    /// The set restarts nothing when that is all of them. What every path holds now is remembered for the next
    /// run, whatever the decision (a file edited and then put back is unchanged again).
    pub(super) fn unchanged(&mut self, seen: &[Seen]) -> Vec<PathBuf> {
        let mut same = Vec::new();
        for s in seen {
            let content = if s.kind == ChangeKind::Removed { None } else { s.hash };
            if s.kind == ChangeKind::Modified && content.is_some() && self.started.get(&s.path) == content.as_ref() {
                same.push(s.path.clone());
            }
            self.next.insert(s.path.clone(), content);
        }
        same
    }

    /// A run started (or, with `--on-busy signal`, was told to reload): it sees what the sets since the last one
    /// saw.
    pub(super) fn run_started(&mut self) {
        for (path, content) in self.next.drain() {
            match content {
                Some(hash) => self.started.insert(path, hash),
                None => self.started.remove(&path),
            };
        }
    }
}

/// What `path` holds now: its content hash if it is a regular file no larger than `limit` that could be read.
pub(super) fn look(vfs: &impl Vfs, path: &Path, limit: u64) -> Option<u64> {
    let stat = vfs.stat(path).ok()?;
    if stat.kind != FileKind::File || stat.size > limit {
        return None;
    }
    vfs.hash(path).ok()
}

/// [`look`] at every changed path of a set (removed paths are not looked at), spread over the cores.
pub(super) fn look_all<V: Vfs>(vfs: &V, changes: &[(PathBuf, ChangeKind)], limit: u64) -> Vec<Seen> {
    changes
        .par_iter()
        .map(|(path, kind)| {
            let hash = if *kind == ChangeKind::Removed { None } else { look(vfs, path, limit) };
            Seen { path: path.clone(), kind: *kind, hash }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::sim::{Profile, SimFs};
    use ChangeKind::*;

    fn seen(path: &str, kind: ChangeKind, hash: Option<u64>) -> Seen {
        Seen { path: path.into(), kind, hash }
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    /// Runs `steps` on a fresh ledger: each is a set and the unchanged paths expected, then whether a run starts.
    fn table(steps: &[(&[Seen], &[&str], bool)]) {
        let mut ledger = Ledger::new();
        for (i, (set, want, starts)) in steps.iter().enumerate() {
            assert_eq!(ledger.unchanged(set), paths(want), "step {i}: {set:?}");
            if *starts {
                ledger.run_started();
            }
        }
    }

    #[test]
    fn a_file_never_read_is_a_change_then_its_content_is_known() {
        table(&[
            // The first change to a file: stator never read it, so it restarts.
            (&[seen("a", Modified, Some(1))], &[], true),
            // Saved again with the same bytes: nothing to restart for.
            (&[seen("a", Modified, Some(1))], &["a"], false),
            (&[seen("a", Modified, Some(1))], &["a"], false),
            // A real edit restarts, and becomes what the new run started with.
            (&[seen("a", Modified, Some(2))], &[], true),
            (&[seen("a", Modified, Some(2))], &["a"], false),
            (&[seen("a", Modified, Some(1))], &[], true),
        ]);
    }

    #[test]
    fn created_removed_unhashable_files_always_count_as_changed() {
        table(&[
            (&[seen("a", Modified, Some(1)), seen("big", Modified, None)], &[], true),
            // Over the limit, a directory, unreadable: no hash, always a change.
            (&[seen("big", Modified, None)], &[], true),
            (&[seen("big", Modified, None)], &[], true),
            // Removed, then created again with the same bytes in a later set: both are changes.
            (&[seen("a", Removed, None)], &[], true),
            (&[seen("a", Created, Some(1))], &[], true),
            (&[seen("a", Modified, Some(1))], &["a"], false),
            // A created file is a change even if the ledger has its bytes.
            (&[seen("a", Created, Some(1))], &[], false),
            // A removed path's hash, however it was reported, is not kept.
            (&[seen("a", Removed, Some(1))], &[], true),
            (&[seen("a", Modified, Some(1))], &[], true),
        ]);
    }

    #[test]
    fn a_set_restarts_when_any_path_changed_and_the_unchanged_ones_are_named() {
        table(&[
            (&[seen("a", Modified, Some(1)), seen("b", Modified, Some(1))], &[], true),
            (&[seen("a", Modified, Some(1)), seen("b", Modified, Some(2))], &["a"], true),
            (&[seen("a", Modified, Some(1)), seen("b", Modified, Some(2))], &["a", "b"], false),
            // A file stator has not read yet, beside known ones: it is a change.
            (&[seen("a", Modified, Some(1)), seen("c", Modified, Some(7))], &["a"], true),
        ]);
    }

    #[test]
    fn the_comparison_is_with_what_the_current_run_started_with() {
        table(&[
            (&[seen("a", Modified, Some(1))], &[], true),
            // Edited while a rerun waits (--on-busy queue): no run started with 2 yet.
            (&[seen("a", Modified, Some(2))], &[], false),
            // Put back before the rerun: the current run has these bytes.
            (&[seen("a", Modified, Some(1))], &["a"], false),
            // The rerun starts with what the last set saw (1), not the 2 of the set before.
            (&[], &[], true),
            (&[seen("a", Modified, Some(1))], &["a"], false),
            (&[seen("a", Modified, Some(2))], &[], false),
            // A restart that did not happen (the command could not start) changes nothing: 2 is still a change.
            (&[seen("a", Modified, Some(2))], &[], true),
            (&[seen("a", Modified, Some(2))], &["a"], false),
        ]);
    }

    #[test]
    fn look_hashes_small_regular_files_only() {
        let fs = SimFs::new(Profile::fine());
        fs.write("/p/a", b"same");
        fs.write("/p/b", b"same");
        fs.write("/p/c", b"other");
        fs.write("/p/big", &[0u8; 100]);
        fs.mkdir("/p/dir");
        let at = |p: &str| look(&fs, &crate::vfs::sim::path(p), 64);
        assert!(at("/p/a").is_some());
        assert_eq!(at("/p/a"), at("/p/b"));
        assert_ne!(at("/p/a"), at("/p/c"));
        assert_eq!(at("/p/big"), None, "over the limit");
        assert_eq!(at("/p/dir"), None, "a directory");
        assert_eq!(at("/p/gone"), None, "missing");
        let all = look_all(&fs, &[(crate::vfs::sim::path("/p/a"), Removed)], 64);
        assert_eq!(all[0].hash, None, "a removed path is not looked at");
    }
}
