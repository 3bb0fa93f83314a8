//! What the engine reports: one [`Change`] per path, and the [`ChangeSet`] that coalesces a burst of them into
//! the net effect (an atomic save is one modification; a file created and deleted in one burst is nothing).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::fingerprint::Fields;

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The path exists now and did not before.
    Created,
    /// The path existed before and still does, but is different.
    Modified,
    /// The path existed before and no longer does (checked twice).
    Removed,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Created => "created",
            ChangeKind::Modified => "modified",
            ChangeKind::Removed => "removed",
        })
    }
}

/// Why the engine believes a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A name that was not in the previous listing of its directory, whatever its mtime.
    NewName,
    /// A path that joined without a listing, with an mtime newer than the previous scan (minus the racy window).
    Recent,
    /// A watched path that did not exist at the previous scan exists now.
    Appeared,
    /// These fingerprint fields differ, or ([`Fields::CONTENT`]) the content hash does.
    Fields(Fields),
    /// The path was missing on two scans in a row.
    Vanished,
    /// Found by a first scan that ran while the command was starting, with an mtime newer than the command's start.
    Started,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NewName => f.write_str("new name in its directory"),
            Reason::Recent => f.write_str("joined with a recent mtime"),
            Reason::Appeared => f.write_str("watched path appeared"),
            Reason::Fields(fields) => write!(f, "{fields} changed"),
            Reason::Vanished => f.write_str("missing on two scans"),
            Reason::Started => f.write_str("changed as the command started"),
        }
    }
}

/// One path that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The path, as stator reached it (under the root it was found from).
    pub path: PathBuf,
    /// Created, modified or removed.
    pub kind: ChangeKind,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.path.display(), self.reason)
    }
}

/// The net effect of several changes, one entry per path, in path order.
///
/// Per path it remembers whether the path existed before the first change and whether it exists after the last
/// one; the net change follows from those two: absent then present is created, present then present is modified,
/// present then absent is removed, absent then absent is nothing. So created-then-removed cancels out, removed-then-
/// created (a delete-and-recreate save) is one modification, and the same change reported twice (a path reached
/// through two roots) counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    by_path: BTreeMap<PathBuf, Net>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    before: bool,
    after: bool,
    reason: Reason,
}

impl Net {
    fn kind(&self) -> Option<ChangeKind> {
        match (self.before, self.after) {
            (false, true) => Some(ChangeKind::Created),
            (true, true) => Some(ChangeKind::Modified),
            (true, false) => Some(ChangeKind::Removed),
            (false, false) => None,
        }
    }
}

impl ChangeSet {
    /// An empty set.
    pub fn new() -> ChangeSet {
        ChangeSet::default()
    }

    /// Folds one more change in.
    pub fn add(&mut self, change: Change) {
        let after = change.kind != ChangeKind::Removed;
        match self.by_path.get_mut(&change.path) {
            None => {
                let before = change.kind != ChangeKind::Created;
                self.by_path.insert(change.path, Net { before, after, reason: change.reason });
            }
            Some(net) => {
                // A file created in this set keeps its creation's reason through later edits.
                if net.before || change.kind != ChangeKind::Modified {
                    net.reason = merge_reason(net.reason, change.reason);
                }
                net.after = after;
            }
        }
    }

    /// Folds every change in.
    pub fn extend(&mut self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            self.add(c);
        }
    }

    /// Whether nothing changed, net.
    pub fn is_empty(&self) -> bool {
        self.by_path.values().all(|n| n.kind().is_none())
    }

    /// How many paths changed, net.
    pub fn len(&self) -> usize {
        self.by_path.values().filter(|n| n.kind().is_some()).count()
    }

    /// The net changes, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, ChangeKind, Reason)> {
        self.by_path.iter().filter_map(|(p, n)| n.kind().map(|k| (p.as_path(), k, n.reason)))
    }

    /// The net changes as owned values, in path order.
    pub fn into_changes(self) -> Vec<Change> {
        self.by_path
            .into_iter()
            .filter_map(|(path, n)| n.kind().map(|kind| Change { path, kind, reason: n.reason }))
            .collect()
    }
}

fn merge_reason(a: Reason, b: Reason) -> Reason {
    match (a, b) {
        (Reason::Fields(x), Reason::Fields(y)) => Reason::Fields(x | y),
        (_, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChangeKind::*;

    fn ch(path: &str, kind: ChangeKind) -> Change {
        let reason = match kind {
            Created => Reason::NewName,
            Modified => Reason::Fields(Fields::MTIME),
            Removed => Reason::Vanished,
        };
        Change { path: path.into(), kind, reason }
    }

    #[test]
    fn coalescing_table() {
        let cases: &[(&[ChangeKind], Option<ChangeKind>)] = &[
            (&[Created], Some(Created)),
            (&[Created, Modified], Some(Created)),
            (&[Created, Removed], None),
            (&[Removed, Created], Some(Modified)),
            (&[Modified, Modified], Some(Modified)),
            (&[Modified, Removed], Some(Removed)),
            (&[Created, Removed, Created], Some(Created)),
            (&[Removed, Created, Removed], Some(Removed)),
        ];
        for (seq, want) in cases {
            let mut set = ChangeSet::new();
            set.extend(seq.iter().map(|k| ch("/a", *k)));
            let got = set.iter().next().map(|(_, k, _)| k);
            assert_eq!(got, *want, "{seq:?}");
        }
    }

    #[test]
    fn same_path_from_two_roots_is_reported_once() {
        let mut set = ChangeSet::new();
        set.add(ch("/a/x", Modified));
        set.add(ch("/a/x", Modified));
        set.add(ch("/a/y", Created));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn modified_reasons_are_merged() {
        let mut set = ChangeSet::new();
        set.add(Change { path: "/a".into(), kind: Modified, reason: Reason::Fields(Fields::MTIME) });
        set.add(Change { path: "/a".into(), kind: Modified, reason: Reason::Fields(Fields::CONTENT) });
        let (_, _, reason) = set.iter().next().unwrap();
        assert_eq!(reason, Reason::Fields(Fields::MTIME | Fields::CONTENT));
    }
}
