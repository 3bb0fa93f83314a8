//! The walk: reading directory listings (in parallel), applying them to the tracked [`Tree`], descending into
//! directories, and the ignore scopes each listing is judged with.
//!
//! A listing is judged name by name: a name the filters and ignore rules admit joins the tree (as
//! [`State::Unseen`], for the next sweep to look at), a tracked name no longer admitted leaves it, and a tracked
//! name missing from the listing is marked vanishing (removed if it is still missing at the next look). Ignored
//! directories are never listed, so they cost nothing. The filters and ignore rules only change when an ignore
//! file does: until then, a directory's names already tracked stay tracked and only new names are judged.
//!
//! The walk takes the tree and what it needs by argument; the poller ([`crate::poll`]) decides which directories
//! to list and when, and turns the walk's [`Notice`]s into warnings.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::Gitignore;
use rayon::ThreadPool;
use rayon::prelude::*;

use super::tree::{DirId, DirNode, NodeId, Tree, node_name};
use super::{Filter, IgnoreScope, PatternError};
use crate::change::{ChangeKind, Reason};
use crate::compare::{Join, State};
use crate::config::FilterConfig;
use crate::fingerprint::Fields;
use crate::fingerprint::{FileKind, Stat};
use crate::vfs::{DirEntry, DirHandle, Vfs};

/// Something the user should hear about, found while walking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A directory could not be listed.
    CannotList { path: PathBuf, error: io::ErrorKind },
    /// A problem in an ignore file (once per message).
    IgnoreFile(String),
    /// A directory reached a second time, inside itself (a symlink loop), at `path`.
    Loop { path: PathBuf, first: PathBuf },
}

/// What a round of listings did besides changing the tree.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// How many directories were listed.
    pub(crate) listings: usize,
    /// Some tracked name was missing from its directory's listing: look again soon.
    pub(crate) pending: bool,
    /// For the user.
    pub(crate) notices: Vec<Notice>,
}

/// How to read one round of listings: whether it is the baseline, and where the directories are (the devices of
/// local filesystems, whose directories get handles, and of network and FUSE ones, read by the wide pool).
pub(crate) struct Round<'a> {
    /// This is the first tick's walk: what it finds is the baseline, never a change.
    pub(crate) first: bool,
    /// Devices whose directories keep a handle.
    pub(crate) local: &'a [u64],
    /// Devices whose directories are read by `wide`.
    pub(crate) remote: &'a [u64],
    /// More threads than cores, for directories on `remote` devices.
    pub(crate) wide: Option<&'a ThreadPool>,
}

/// A directory's listing, and a handle on it when one was wanted and could be opened.
type Listing = (io::Result<Vec<DirEntry>>, Option<DirHandle>);

/// Directories read per parallel batch of listings.
const LIST_CHUNK: usize = 64;

/// The walk's own state: the filters, git's global excludes, and what was warned about already.
pub(crate) struct Walk {
    filter: Filter,
    /// Whether `.gitignore`, `.ignore` and git's excludes count.
    vcs_ignores: bool,
    global: Option<Gitignore>,
    ignore_warned: HashSet<String>,
    loops_warned: HashSet<PathBuf>,
}

impl Walk {
    /// A walk with the filters of `cfg`. Fails only on bad patterns.
    pub(crate) fn new(cfg: &FilterConfig) -> Result<Walk, PatternError> {
        Ok(Walk {
            filter: Filter::new(cfg)?,
            vcs_ignores: cfg.vcs_ignores,
            global: None,
            ignore_warned: HashSet::new(),
            loops_warned: HashSet::new(),
        })
    }

    /// Also applies git's global excludes file (core.excludesFile).
    pub(crate) fn set_global_excludes(&mut self, global: Option<Gitignore>) {
        self.global = global;
    }

    /// Reads the listings of `dirs` (in parallel) and applies them in order, parents before children. A listing
    /// that fails with ENOTCONN goes to `cut_off` first, which says whether the directory's filesystem is gone (the
    /// listing is then no news, and is not applied).
    pub(crate) fn list<V: Vfs>(
        &mut self,
        tree: &mut Tree,
        vfs: &V,
        mut dirs: Vec<DirId>,
        round: &Round<'_>,
        out: &mut Walked,
        cut_off: &mut dyn FnMut(&mut Tree, DirId) -> bool,
    ) {
        let depth = |t: &Tree, d: DirId| t.dirs.get(d).map_or(0, |d| d.path.components().count());
        dirs.sort_unstable();
        dirs.dedup();
        dirs.sort_by_key(|&d| depth(tree, d));
        // In chunks, so that the listings held at once (every name of every directory read) stay few.
        for chunk in dirs.chunks(LIST_CHUNK) {
            let listings = read_all(tree, vfs, chunk, round);
            out.listings += listings.len();
            for (d, (listing, handle)) in listings {
                if listing.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::NotConnected) && cut_off(tree, d) {
                    continue;
                }
                if let Some(dir) = tree.dirs.get_mut(d) {
                    // Opened on the directory the last stat saw there, or not kept (it changed in between: the
                    // next sweep sees that and lists it again).
                    dir.handle = dir.handle.take().or(handle.filter(|h| Some(h.ident()) == dir.ident));
                }
                self.apply_listing(tree, vfs, d, listing, round.first, out);
            }
        }
    }

    /// Applies directory `d`'s listing to the tree.
    fn apply_listing<V: Vfs>(
        &mut self,
        tree: &mut Tree,
        vfs: &V,
        d: DirId,
        listing: io::Result<Vec<DirEntry>>,
        first: bool,
        out: &mut Walked,
    ) {
        let Some(dir) = tree.dirs.get_mut(d) else { return };
        let entries = match listing {
            Ok(entries) => entries,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound && !dir.failing {
                    dir.failing = true;
                    out.notices.push(Notice::CannotList { path: dir.path.clone(), error: e.kind() });
                }
                return;
            }
        };
        dir.failing = false;
        let join = match (first, dir.listed || dir.fresh, dir.scope_stale) {
            (true, _, _) => Join::Baseline,
            // Rules changed in a file tracked only for them: what they admit now was there before, and is news
            // only if it changed lately.
            (false, true, Some(Join::Unlisted)) => Join::Unlisted,
            (false, true, _) => Join::Listed,
            (false, false, _) => Join::Unlisted,
        };
        let path = dir.path.clone();
        let root = dir.root.clone().unwrap_or_else(|| path.clone());
        // The filters and ignore rules only change when an ignore file does: until then, names already tracked
        // stay tracked and only new names are judged, so re-listing a directory costs little more than read_dir.
        let rejudge = !dir.listed || dir.scope_stale.is_some();
        let scope = if rejudge { self.scope_for(tree, vfs, d, &entries, join, out) } else { dir.scope.clone() };
        let mut present: hashbrown::HashSet<&OsStr> = hashbrown::HashSet::with_capacity(entries.len());
        for entry in &entries {
            present.insert(&entry.name);
            let existing = tree.child(d, &entry.name);
            if existing.is_some() && !rejudge {
                continue;
            }
            let abs = path.join(&entry.name);
            let is_dir = match entry.kind {
                Some(FileKind::Dir) => true,
                Some(FileKind::File | FileKind::Other) => false,
                Some(FileKind::Symlink) | None => vfs.stat(&abs).is_ok_and(|s| s.kind == FileKind::Dir),
            };
            let rel = abs.strip_prefix(&root).unwrap_or(Path::new(&entry.name));
            let output = is_dir && self.filter.is_build_output(&entry.name, |n| entries.iter().any(|e| e.name == n));
            let admitted = !output && self.filter.admits(rel, is_dir) && !scope.is_ignored(&abs, is_dir);
            // An ignore file is looked at whatever the filters say: its rules decide what else is watched. Unless
            // the filters admit it too, it is tracked quietly (its edits re-judge names, and are not reported).
            let rules = !admitted && self.vcs_ignores && !is_dir && is_rules_name(&entry.name);
            match (admitted || rules, existing) {
                (true, None) => {
                    let id = tree.add_node(d, &entry.name, State::Unseen(join), false);
                    if let Some(node) = id.and_then(|id| tree.nodes.get_mut(id)) {
                        node.set_quiet(!admitted);
                    }
                }
                (true, Some(id)) => {
                    if let Some(node) = tree.nodes.get_mut(id).filter(|n| !n.pinned()) {
                        node.set_quiet(!admitted);
                    }
                }
                (false, Some(id)) if tree.nodes.get(id).is_some_and(|n| !n.pinned()) => {
                    tree.remove_node(id);
                }
                (false, _) => {}
            }
        }
        let Some(dir) = tree.dirs.get_mut(d) else { return };
        dir.scope = scope;
        dir.scope_stale = None;
        dir.listed = true;
        let nodes = &tree.nodes;
        let gone: Vec<NodeId> = dir
            .children
            .iter()
            .copied()
            .filter(|&id| nodes.get(id).is_some_and(|n| node_name(dir, n).is_some_and(|name| !present.contains(name))))
            .collect();
        for id in gone {
            let Some(node) = tree.nodes.get_mut(id) else { continue };
            match State::from(node.state) {
                State::Present(k) => {
                    node.state = State::Vanishing(k).into();
                    out.pending = true;
                }
                State::Unseen(_) if !node.pinned() => tree.remove_node(id),
                _ => {}
            }
        }
    }

    /// The ignore rules inside directory `d`, given its listing, whose new names join as `join`. For a watched root,
    /// the ignore files above it and git's `info/exclude` join the tree (quietly, see
    /// [`Node::quiet`](super::tree::Node::quiet)), so that an edit to them is seen too; those in the root and below
    /// are in their directories' listings.
    fn scope_for<V: Vfs>(
        &mut self,
        tree: &mut Tree,
        vfs: &V,
        d: DirId,
        entries: &[DirEntry],
        join: Join,
        out: &mut Walked,
    ) -> Arc<IgnoreScope> {
        if !self.vcs_ignores {
            return IgnoreScope::empty();
        }
        let Some(dir) = tree.dirs.get(d) else { return IgnoreScope::empty() };
        let path = dir.path.clone();
        let path = path.as_path();
        let (scope, warnings) = if dir.is_root {
            // Outside the tree, they joined without a listing.
            let join = if join == Join::Baseline { Join::Baseline } else { Join::Unlisted };
            for file in IgnoreScope::files_above(vfs, path) {
                track_quietly(tree, &file, join);
            }
            IgnoreScope::for_root(vfs, path, self.global.as_ref())
        } else {
            let parent = tree
                .ancestors(d)
                .nth(1)
                .and_then(|p| tree.dirs.get(p))
                .map(|p| p.scope.clone())
                .unwrap_or_else(IgnoreScope::empty);
            IgnoreScope::child(&parent, vfs, path, entries)
        };
        for w in warnings {
            if self.ignore_warned.insert(w.clone()) {
                out.notices.push(Notice::IgnoreFile(w));
            }
        }
        scope
    }

    /// Starts watching inside directory node `id` (at `path`, seen as `stat`, with `change` this tick), unless
    /// that directory is already watched (an overlapping root, another link to it) or the node is not somewhere
    /// stator descends. Returns the new directory, to be listed; a symlink loop is an error (once per path, then
    /// nothing).
    pub(crate) fn descend<V: Vfs>(
        &mut self,
        tree: &mut Tree,
        vfs: &V,
        id: NodeId,
        path: PathBuf,
        stat: Stat,
        change: Option<(ChangeKind, Reason)>,
    ) -> Result<Option<DirId>, Notice> {
        // A directory that did not exist (or was a file) at the previous scan had an empty listing.
        let fresh = match change {
            Some((ChangeKind::Created, _)) => true,
            Some((_, Reason::Fields(fields))) => fields.contains(Fields::KIND),
            _ => false,
        };
        let Some(node) = tree.nodes.get(id) else { return Ok(None) };
        let Some(parent) = tree.dirs.get(node.parent) else { return Ok(None) };
        if !node.pinned() && !parent.listed {
            return Ok(None);
        }
        let ident = (stat.dev, stat.ino.unwrap_or(u64::from(id)));
        if let Some(first) = tree.by_ident.get(&ident).and_then(|&d| tree.dirs.get(d)) {
            if path != first.path && path.starts_with(&first.path) {
                if self.loops_warned.insert(path.clone()) {
                    return Err(Notice::Loop { path, first: first.path.clone() });
                }
                return Ok(None);
            }
            // Already watched through another root or link: once is enough. But a directory that was just
            // renamed still has its old name on record, about to be confirmed gone: the new name takes over. The
            // old name may not have been looked at yet in this tick (a hot tick looks only at hot paths), so it
            // is looked at now: it is live only if the same directory is still there.
            let present = first.node.and_then(|n| tree.nodes.get(n)).is_some_and(|n| n.state.is_present());
            let still_there =
                || vfs.stat(&first.path).is_ok_and(|s| s.dev == ident.0 && s.ino.is_none_or(|ino| ino == ident.1));
            if present && still_there() {
                return Ok(None);
            }
        }
        let (root, is_root) =
            if node.pinned() { (path, true) } else { (parent.root.clone().unwrap_or_default(), false) };
        Ok(Some(tree.attach_dir(id, root, is_root, fresh, ident)))
    }
}

/// Reads the listings of `chunk`, in parallel; those on remote devices in the wide pool.
fn read_all<V: Vfs>(tree: &Tree, vfs: &V, chunk: &[DirId], round: &Round<'_>) -> Vec<(DirId, Listing)> {
    // Handles only on local filesystems: on a network mount the round trip, not the path walk, is the cost.
    let read = |dir: &DirNode| {
        let want = dir.handle.is_none() && dir.on_any(round.local);
        (vfs.read_dir(&dir.path), want.then(|| vfs.open_dir(&dir.path)).flatten())
    };
    let read_these = |ids: &[DirId]| -> Vec<(DirId, Listing)> {
        ids.par_iter().filter_map(|&d| tree.dirs.get(d).map(|dir| (d, read(dir)))).collect()
    };
    // Directories on network and FUSE filesystems are read by the wide pool, as their files are statted.
    let far = |d: &DirId| tree.dirs.get(*d).is_some_and(|dir| dir.on_any(round.remote));
    match round.wide {
        Some(pool) if chunk.iter().any(far) => {
            let (far, near): (Vec<DirId>, Vec<DirId>) = chunk.iter().partition(|d| far(d));
            let mut listings = read_these(&near);
            listings.extend(pool.install(|| read_these(&far)));
            listings
        }
        _ => read_these(chunk),
    }
}

/// Adds the ignore file `file`, outside the watched trees, as an explicit path tracked only for its rules (kept
/// when it does not exist: it fires when it appears); nothing when it is tracked already.
fn track_quietly(tree: &mut Tree, file: &Path, join: Join) {
    let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else { return };
    let holder = tree.holder(parent);
    if tree.child(holder, name).is_some() {
        return;
    }
    if let Some(node) = tree.add_node(holder, name, State::Unseen(join), true).and_then(|id| tree.nodes.get_mut(id)) {
        node.set_quiet(true);
    }
}

/// Whether `path` is an ignore file, whose edit changes which names are watched around it: a `.gitignore` or
/// `.ignore`, or git's `.git/info/exclude`.
pub(crate) fn is_ignore_file(path: &Path) -> bool {
    path.file_name().is_some_and(is_rules_name) || path_is_exclude(path)
}

/// Whether a name in a directory's listing is that of an ignore file.
fn is_rules_name(name: &OsStr) -> bool {
    name == ".gitignore" || name == ".ignore"
}

/// The ignore file at `file`, in directory `parent` of the tree, changed: every directory it rules is listed again
/// (through `to_list`) with its rules rebuilt and its names judged again. `quiet`: the file is tracked only for its
/// rules (see [`Node::quiet`](super::tree::Node::quiet)), so the names the new rules admit count as new only if
/// they changed lately; otherwise, as any name not in the previous listing.
pub(crate) fn rules_changed(tree: &mut Tree, parent: DirId, file: &Path, quiet: bool, to_list: &mut Vec<DirId>) {
    let join = if quiet { Join::Unlisted } else { Join::Listed };
    let start = to_list.len();
    if tree.dirs.get(parent).is_some_and(|d| d.node.is_some()) {
        tree.subtree_dirs(parent, to_list);
    } else {
        // An explicit path (above a root, git's exclude file, one the user named): every watched directory under
        // what it rules. Holders themselves are never listed.
        let ruled = if path_is_exclude(file) { file.ancestors().nth(3) } else { file.parent() };
        let Some(ruled) = ruled else { return };
        let under = |d: &DirNode| d.node.is_some() && d.path.starts_with(ruled);
        to_list.extend(tree.dirs.ids().filter(|&d| tree.dirs.get(d).is_some_and(under)));
    }
    for &d in &to_list[start..] {
        if let Some(dir) = tree.dirs.get_mut(d) {
            // A reported change wins: its names are new in any case.
            dir.scope_stale = Some(match dir.scope_stale {
                Some(Join::Listed) => Join::Listed,
                _ => join,
            });
        }
    }
}

fn path_is_exclude(path: &Path) -> bool {
    path.ends_with(".git/info/exclude")
}
