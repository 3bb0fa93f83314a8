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
use crate::vfs::{DirEntry, DirHandle, FileKind, Stat, Vfs};

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

    /// Reads the listings of `dirs` (in parallel) and applies them in order, parents before children. A listing that fails with ENOTCONN goes to `cut_off` first, which says whether the
    /// directory's filesystem is gone (the listing is then no news, and is not applied).
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
        let join = if first {
            Join::Baseline
        } else if dir.listed || dir.fresh {
            Join::Listed
        } else {
            Join::Unlisted
        };
        let path = dir.path.clone();
        let root = dir.root.clone().unwrap_or_else(|| path.clone());
        // The filters and ignore rules only change when an ignore file does: until then, names already tracked
        // stay tracked and only new names are judged, so re-listing a directory costs little more than read_dir.
        let rejudge = !dir.listed || dir.scope_stale;
        let scope = if rejudge { self.scope_for(tree, vfs, d, &path, &entries, out) } else { dir.scope.clone() };
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
            let admitted = self.filter.admits(rel, is_dir) && !scope.is_ignored(&abs, is_dir);
            match (admitted, existing) {
                (true, None) => {
                    tree.add_node(d, &entry.name, State::Unseen(join), false);
                }
                (false, Some(id)) if tree.nodes.get(id).is_some_and(|n| !n.pinned()) => {
                    tree.remove_node(id);
                }
                _ => {}
            }
        }
        let Some(dir) = tree.dirs.get_mut(d) else { return };
        dir.scope = scope;
        dir.scope_stale = false;
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

    /// The ignore rules inside directory `d`, given its listing.
    fn scope_for<V: Vfs>(
        &mut self,
        tree: &Tree,
        vfs: &V,
        d: DirId,
        path: &Path,
        entries: &[DirEntry],
        out: &mut Walked,
    ) -> Arc<IgnoreScope> {
        if !self.vcs_ignores {
            return IgnoreScope::empty();
        }
        let Some(dir) = tree.dirs.get(d) else { return IgnoreScope::empty() };
        let (scope, warnings) = if dir.is_root {
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

/// Whether `path` is an ignore file, whose edit changes which names are watched around it.
pub(crate) fn is_ignore_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == ".gitignore" || n == ".ignore")
}
