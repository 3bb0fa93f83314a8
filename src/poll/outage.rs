//! Filesystems that go away under a watched tree and come back: DESIGN.md section 2 rule 9 ("errors keep the
//! last known state") at the scale of a whole mount. Three shapes:
//!
//! - a filesystem unmounted *above* a watched directory: the path vanishes, and the nearest ancestor that still
//!   exists is an empty directory on another device (a removal leaves the ancestor on the same one);
//! - a filesystem unmounted *at* a watched directory (the mount point): the path is still a directory, now an
//!   empty one on its parent's device;
//! - a FUSE filesystem whose daemon died (or a network client that lost its server): every `stat` fails with
//!   ENOTCONN.
//!
//! None of these is an edit of the user's files, so none is reported as one, and nothing restarts. The tree that
//! went away is *offline*: one warning for it (for all the watched paths that went with it at once), its files
//! keep their last known state (what the sweep saw of them is dropped and their states restored), its
//! directories are not listed, and its top path is looked at again at each full scan. When a filesystem is there
//! again, every directory in the tree is listed again and every file compared with its last known state, so what
//! changed while it was away (an edit, a removal, a new file) is reported, once, and nothing else is. The
//! filesystem is identified again (a device number can come back as another filesystem), and its timestamp
//! granularity learned anew.
//!
//! A *different* filesystem at a watched directory (not an empty mount point) is no outage: it is what is there
//! now, compared with what was, with one warning.
//!
//! The watched roots are checked by path at each full scan, whatever the sweep does, so an outage is seen even
//! where the sweep looks through handles that outlive an unmount (a lazily unmounted filesystem stays reachable
//! through an open descriptor).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::filesystems::Filesystems;
use super::sweep::Sighting;
use super::warning::{Outage, Warning};
use crate::compare::State;
use crate::discover::tree::{DirId, NodeId, Tree};
use crate::fingerprint::{FileKind, Stat};
use crate::vfs::Vfs;

/// What a watched path shows now, judged against the device it was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Nothing to do with mounts: the engine's own rules apply (an edit, a removal, a per-path error).
    Normal,
    /// Its filesystem went away.
    Offline(Outage),
    /// Another filesystem is at this directory now, on device `dev`.
    Replaced {
        /// The new device.
        dev: u64,
    },
}

/// A watched tree whose filesystem went away.
#[derive(Debug)]
struct Offline {
    /// Its top path.
    path: PathBuf,
    /// The device it was on.
    dev: u64,
    /// How it went away.
    why: Outage,
}

/// What the outage checks work on, lent by the poller for one call.
pub(super) struct World<'a, V> {
    pub(super) tree: &'a mut Tree,
    pub(super) vfs: &'a V,
    pub(super) fs: &'a mut Filesystems,
    /// Where this tick's warnings go.
    pub(super) warnings: &'a mut Vec<Warning>,
}

/// The trees that are offline, and the device of each watched root. (The directories another filesystem took
/// over are marked in the tree: [`DirNode::taken_from`](crate::discover::tree::DirNode::taken_from).)
#[derive(Debug, Default)]
pub(super) struct Outages {
    /// By the node of the top path of each offline tree. An entry counts only while its node is marked
    /// [`offline`](crate::discover::tree::Node::offline): a top can leave the tree with the directory holding it,
    /// and its id go to another node.
    offline: HashMap<NodeId, Offline>,
    /// The device of each watched root (never removed from the tree), as of the last full scan that could `stat`
    /// it.
    root_devs: HashMap<NodeId, u64>,
}

/// Whether node `id` is the top of an offline tree.
fn is_top(tree: &Tree, id: NodeId) -> bool {
    tree.nodes.get(id).is_some_and(|n| n.offline())
}

/// Whether directory `d`, or one above it, was taken over by another filesystem and was on device `dev`.
fn went_with(tree: &Tree, d: DirId, dev: u64) -> bool {
    tree.ancestors(d).any(|d| tree.dirs.get(d).is_some_and(|dir| dir.taken_from == Some(dev)))
}

/// Records that another filesystem took directory `d` over from device `dev`.
fn take_over(tree: &mut Tree, d: DirId, dev: u64) {
    if let Some(dir) = tree.dirs.get_mut(d) {
        dir.taken_from = Some(dev);
    }
}

impl Outages {
    /// The offline trees whose top is still in the tree.
    fn live<'a>(&'a self, tree: &'a Tree) -> impl Iterator<Item = &'a Offline> + 'a {
        self.offline.iter().filter(|&(&id, _)| is_top(tree, id)).map(|(_, o)| o)
    }

    /// Forgets the offline trees whose top left the tree.
    fn prune(&mut self, tree: &Tree) {
        self.offline.retain(|&id, _| is_top(tree, id));
    }

    /// Records an offline tree.
    fn insert(&mut self, tree: &mut Tree, id: NodeId, off: Offline) {
        if let Some(n) = tree.nodes.get_mut(id) {
            n.set_offline(true);
            self.offline.insert(id, off);
        }
    }

    /// Forgets an offline tree (it is back, or went with a larger one).
    fn remove(&mut self, tree: &mut Tree, id: NodeId) -> Option<Offline> {
        if let Some(n) = tree.nodes.get_mut(id) {
            n.set_offline(false);
        }
        self.offline.remove(&id)
    }

    /// Whether node `id` is in an offline tree (its top included).
    fn covers(&self, tree: &Tree, id: NodeId) -> bool {
        if self.offline.is_empty() {
            return false;
        }
        is_top(tree, id) || tree.nodes.get(id).is_some_and(|n| self.covers_dir(tree, n.parent))
    }

    /// Whether directory `d` is in an offline tree. A holder (the directory of explicit paths: roots, reported
    /// files) is when its path is inside the top path of one.
    pub(super) fn covers_dir(&self, tree: &Tree, d: DirId) -> bool {
        if self.offline.is_empty() {
            return false;
        }
        tree.ancestors(d).filter_map(|d| tree.dirs.get(d)).any(|dir| match dir.node {
            Some(id) => is_top(tree, id),
            None => self.live(tree).any(|o| dir.path.starts_with(&o.path)),
        })
    }
}

/// Judges what `path` shows (`seen`, its `stat` now) against device `dev`, the one it was on; `dir`: it was a
/// directory stator descends into. Looks further (the parent, the nearest existing ancestor, a listing) only when
/// `seen` is not the plain answer, so the usual case costs nothing more.
fn mount_verdict<V: Vfs>(vfs: &V, path: &Path, dev: u64, dir: bool, seen: io::Result<Stat>) -> Verdict {
    match seen {
        Ok(s) if s.dev == dev || !dir || s.kind != FileKind::Dir => Verdict::Normal,
        Ok(s) if bare(vfs, path, s.dev) => Verdict::Offline(Outage::UnmountedAt),
        Ok(s) => Verdict::Replaced { dev: s.dev },
        Err(e) if e.kind() == io::ErrorKind::NotFound => vanished(vfs, path, dev),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Verdict::Offline(Outage::Disconnected),
        Err(_) => Verdict::Normal,
    }
}

/// Whether the directory at `path`, on device `dev`, is a mount point with nothing mounted on it: on its
/// parent's device, and empty.
fn bare<V: Vfs>(vfs: &V, path: &Path, dev: u64) -> bool {
    path.parent().and_then(|p| vfs.stat(p).ok()).is_some_and(|p| p.dev == dev)
        && vfs.read_dir(path).is_ok_and(|entries| entries.is_empty())
}

/// A path that was on device `dev` does not exist: gone with its filesystem when the nearest ancestor that
/// exists is an empty directory on another device (the mount point, with nothing mounted on it) or does not
/// answer. Anything else is a removal, as the engine sees it: the ancestor on `dev` still, or holding other names
/// (a dangling symlink, a deleted btrfs subvolume). A removal taken for an unmount would lose a change; the other
/// way round only costs a restart.
fn vanished<V: Vfs>(vfs: &V, path: &Path, dev: u64) -> Verdict {
    for ancestor in path.ancestors().skip(1) {
        match vfs.stat(ancestor) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Verdict::Offline(Outage::Disconnected),
            Err(_) => return Verdict::Normal,
            Ok(a) if a.dev == dev => return Verdict::Normal,
            Ok(_) if vfs.read_dir(ancestor).is_ok_and(|entries| entries.is_empty()) => {
                return Verdict::Offline(Outage::Unmounted);
            }
            Ok(_) => return Verdict::Normal,
        }
    }
    Verdict::Normal
}

/// A directory the sweep gave reason to look at: it, or a file in it, went missing, moved to another device or
/// stopped answering.
#[derive(Clone, Copy)]
struct Suspect {
    /// Its own sighting, when the sweep looked at the directory itself.
    sighting: Option<usize>,
    /// Its node.
    node: NodeId,
    /// The device it was on.
    dev: u64,
    /// Something in it said ENOTCONN.
    cut: bool,
    /// It is on another device now.
    moved: bool,
}

/// A tree that went away in this scan, before it is recorded.
struct Top {
    id: NodeId,
    path: PathBuf,
    dev: u64,
    why: Outage,
}

impl Outages {
    /// At the start of a full scan (not the first): trees whose filesystem is back come online again (every
    /// directory in them goes to `to_list`), and each of the watched `roots` is checked, by path, for a filesystem
    /// that went away or was replaced.
    pub(super) fn watch_mounts<V: Vfs>(&mut self, w: &mut World<'_, V>, roots: &[NodeId], to_list: &mut Vec<DirId>) {
        self.prune(w.tree);
        self.recover(w, roots, to_list);
        let mut tops = Vec::new();
        for &id in roots {
            let Some(node) = w.tree.nodes.get(id) else { continue };
            if node.offline() || !(node.state.is_present() || node.state.is_vanishing()) {
                continue;
            }
            let ident = node.dir().and_then(|d| w.tree.dirs.get(d)).and_then(|d| d.ident);
            let known = self.root_devs.get(&id).copied().or(ident.map(|(dev, _)| dev));
            let path = w.tree.path(id);
            let seen = w.vfs.stat(&path);
            let stat = seen.as_ref().ok().copied();
            if let Some(s) = stat {
                self.root_devs.insert(id, s.dev);
            }
            let Some(dev) = known else { continue };
            match mount_verdict(w.vfs, &path, dev, node.dir().is_some(), seen) {
                Verdict::Normal => {}
                Verdict::Offline(why) => tops.push(Top { id, path, dev, why }),
                Verdict::Replaced { dev: now } => {
                    replaced(w, &path, dev, now);
                    if let (Some(d), Some(s)) = (w.tree.nodes.get(id).and_then(|n| n.dir()), stat) {
                        // The directory that is there now, listed again whatever its fingerprint says.
                        w.tree.set_ident(d, (s.dev, s.ino.unwrap_or(u64::from(id))));
                        take_over(w.tree, d, dev);
                        to_list.push(d);
                    }
                }
            }
        }
        self.go_offline(w, tops);
    }

    /// Judges the directories the sweep saw vanish, move to another device or stop answering; records the trees
    /// that went offline, then drops what the sweep saw inside offline trees, restoring those nodes' states.
    /// Returns the sightings left.
    pub(super) fn screen<V: Vfs>(&mut self, w: &mut World<'_, V>, mut sightings: Vec<Sighting>) -> Vec<Sighting> {
        self.prune(w.tree);
        let mut suspects: HashMap<DirId, Suspect> = HashMap::new();
        let mut relist = Vec::new();
        for (i, ev) in sightings.iter().enumerate() {
            let Some(node) = w.tree.nodes.get(ev.id) else { continue };
            let cut = ev.out.error == Some(io::ErrorKind::NotConnected);
            let Some(d) = node.dir() else {
                // A file that does not answer or is missing: its directory is the one to judge (a hot scan looks
                // at the files changed lately, maybe not at their directory; a scan may see the files of an
                // unmounted filesystem go before their directory).
                let gone = matches!(
                    (ev.before, ev.out.state),
                    (State::Present(_), State::Vanishing(_)) | (State::Vanishing(_), State::Gone)
                );
                let parent = w.tree.dirs.get(node.parent);
                if let (true, Some(dir), Some((dev, _))) =
                    (cut || gone, parent.and_then(|p| p.node), parent.and_then(|p| p.ident))
                {
                    let new = Suspect { sighting: None, node: dir, dev, cut, moved: false };
                    suspects.entry(node.parent).and_modify(|s| s.cut |= cut).or_insert(new);
                }
                continue;
            };
            let Some((dev, _)) = w.tree.dirs.get(d).and_then(|d| d.ident) else { continue };
            let missing = matches!((ev.before, ev.out.state), (State::Present(_), State::Vanishing(_)));
            let moved = ev.stat.filter(|s| s.kind == FileKind::Dir && s.dev != dev);
            if !(missing || moved.is_some() || cut) {
                continue;
            }
            // Inside a directory that another filesystem took over, what moved or vanished went with it, and was
            // judged with it: a directory there now is listed again as the one it is, a name not there any more is
            // a removal.
            if !cut && went_with(w.tree, node.parent, dev) {
                if moved.is_some() {
                    relist.push(i);
                }
                continue;
            }
            let cut = cut || suspects.get(&d).is_some_and(|s| s.cut);
            suspects.insert(d, Suspect { sighting: Some(i), node: ev.id, dev, cut, moved: moved.is_some() });
        }
        for i in relist {
            sightings[i].out.relist = true;
        }
        if !suspects.is_empty() {
            self.judge_suspects(w, suspects, &mut sightings);
        }
        if self.offline.is_empty() {
            return sightings;
        }
        let (kept, dropped): (Vec<Sighting>, Vec<Sighting>) =
            sightings.into_iter().partition(|ev| !self.covers(w.tree, ev.id));
        for ev in dropped {
            if let Some(node) = w.tree.nodes.get_mut(ev.id) {
                node.state = ev.before.into();
            }
        }
        kept
    }

    /// A listing of directory `d` failed with ENOTCONN: its filesystem is disconnected, whatever a `stat` of it
    /// says (FUSE serves cached attributes for a while after its daemon died). Returns whether `d` is offline now
    /// (the listing is then no news to report).
    pub(super) fn cut_off<V: Vfs>(&mut self, w: &mut World<'_, V>, d: DirId) -> bool {
        let Some(dir) = w.tree.dirs.get(d) else { return false };
        let (Some(id), Some((dev, _))) = (dir.node, dir.ident) else { return false };
        let path = dir.path.clone();
        if !self.covers(w.tree, id) {
            let (id, path) = climb(w, id, path, dev, Outage::Disconnected);
            self.go_offline(w, vec![Top { id, path, dev, why: Outage::Disconnected }]);
        }
        self.covers(w.tree, id)
    }

    /// Judges the suspects, parents first: records the trees that went offline and the directories another
    /// filesystem took over (their sightings then list them again).
    fn judge_suspects<V: Vfs>(
        &mut self,
        w: &mut World<'_, V>,
        suspects: HashMap<DirId, Suspect>,
        sightings: &mut [Sighting],
    ) {
        let mut order: Vec<(DirId, Suspect, PathBuf)> =
            suspects.iter().map(|(&d, &s)| (d, s, w.tree.path(s.node))).collect();
        order.sort_by_key(|(_, _, path)| path.components().count());
        let mut tops: Vec<Top> = Vec::new();
        for (d, Suspect { sighting, node: id, dev, cut, moved }, path) in order {
            let parent = w.tree.nodes.get(id).map(|n| n.parent);
            // A directory missing with its parent goes the way its parent goes; one on another device now is
            // judged on its own (it may be a mount point inside the tree), unless it went with a directory above
            // that another filesystem took over.
            if (!moved && parent.is_some_and(|p| suspects.contains_key(&p)))
                || self.covers(w.tree, id)
                || tops.iter().any(|t| path.starts_with(&t.path))
            {
                continue;
            }
            if moved && !cut && parent.is_some_and(|p| went_with(w.tree, p, dev)) {
                if let Some(i) = sighting {
                    sightings[i].out.relist = true;
                }
                continue;
            }
            // ENOTCONN is the answer already: a `stat` now may be served from FUSE's attribute cache.
            let verdict = if cut {
                Verdict::Offline(Outage::Disconnected)
            } else {
                let seen = w.vfs.stat(&path);
                mount_verdict(w.vfs, &path, dev, true, seen)
            };
            match verdict {
                Verdict::Normal => {}
                Verdict::Offline(why) => {
                    let (id, path) = climb(w, id, path, dev, why);
                    tops.push(Top { id, path, dev, why });
                }
                Verdict::Replaced { dev: now } => {
                    replaced(w, &path, dev, now);
                    // Listed again (and re-identified) as the directory that is there now.
                    if let Some(i) = sighting {
                        sightings[i].out.relist = true;
                    }
                    take_over(w.tree, d, dev);
                }
            }
        }
        self.go_offline(w, tops);
    }

    /// Records the trees that went away, with one warning for those that went with one filesystem at once (and
    /// none for a filesystem already offline: more of it was seen going, in the same episode).
    fn go_offline<V: Vfs>(&mut self, w: &mut World<'_, V>, mut tops: Vec<Top>) {
        self.prune(w.tree);
        // A top inside another top went with it.
        tops.sort_by_key(|t| t.path.components().count());
        let mut groups: Vec<(u64, Outage, Vec<usize>)> = Vec::new();
        for i in 0..tops.len() {
            let top = &tops[i];
            if tops[..i].iter().any(|t| top.path.starts_with(&t.path)) || self.covers(w.tree, top.id) {
                continue;
            }
            let why = match top.why {
                Outage::UnmountedAt => Outage::Unmounted,
                other => other,
            };
            match groups.iter_mut().find(|(d, y, _)| *d == top.dev && *y == why) {
                Some((_, _, members)) => members.push(i),
                None => groups.push((top.dev, why, vec![i])),
            }
        }
        for (dev, _, members) in groups {
            let inside: Vec<NodeId> = self
                .offline
                .iter()
                .filter(|(_, o)| members.iter().any(|&i| o.path.starts_with(&tops[i].path)))
                .map(|(&id, _)| id)
                .collect();
            let warned = !inside.is_empty() || self.offline.values().any(|o| o.dev == dev);
            for id in inside {
                self.remove(w.tree, id);
            }
            for &i in &members {
                let top = &tops[i];
                self.insert(w.tree, top.id, Offline { path: top.path.clone(), dev, why: top.why });
                drop_handles_below(w.tree, top.id);
            }
            if warned {
                continue;
            }
            let files: usize = members.iter().map(|&i| w.tree.files_below(tops[i].id)).sum();
            let first = &tops[members[0]];
            w.warnings.push(Warning::Offline {
                path: first.path.clone(),
                more: members.len() - 1,
                fs: w.fs.name(dev),
                files,
                why: first.why,
            });
        }
    }

    /// The trees whose filesystem is back: each is a notice, its filesystem is identified again, and every
    /// directory in it goes to `to_list`, so the scan compares the whole tree with its last known state.
    fn recover<V: Vfs>(&mut self, w: &mut World<'_, V>, roots: &[NodeId], to_list: &mut Vec<DirId>) {
        let ids: Vec<NodeId> = self.offline.keys().copied().collect();
        for id in ids {
            let Some(off) = self.offline.get(&id) else { continue };
            let Ok(s) = w.vfs.stat(&off.path) else { continue };
            // Listed, not only `stat`ed: FUSE may answer a `stat` from its cache a while after its daemon died.
            let listing = || w.vfs.read_dir(&off.path).map(|_| ());
            if s.kind == FileKind::Dir && listing().is_err_and(|e| e.kind() == io::ErrorKind::NotConnected) {
                continue;
            }
            // A mount point with nothing on it yet (the dead FUSE mount was unmounted, the new one is not there).
            let mount_point = matches!(off.why, Outage::UnmountedAt | Outage::Disconnected);
            if mount_point && s.kind == FileKind::Dir && s.dev != off.dev && bare(w.vfs, &off.path, s.dev) {
                continue;
            }
            let Some(off) = self.remove(w.tree, id) else { continue };
            let info = w.fs.identify(w.vfs, s.dev, &off.path, s.dev == off.dev);
            w.warnings.push(Warning::Back { path: off.path, fs: info.name });
            if roots.contains(&id) {
                self.root_devs.insert(id, s.dev);
            }
            if let Some(d) = w.tree.nodes.get(id).and_then(|n| n.dir())
                && s.kind == FileKind::Dir
            {
                w.tree.set_ident(d, (s.dev, s.ino.unwrap_or(u64::from(id))));
                if s.dev != off.dev {
                    take_over(w.tree, d, off.dev);
                }
                w.tree.subtree_dirs(d, to_list);
            }
        }
    }
}

/// The topmost watched directory that went away with node `id` (at `path`, on device `dev`): the scan may have
/// noticed a directory deep in the tree first (a hot scan looks at recently changed paths only; FUSE answers from
/// its caches for a while after its daemon died, so the directories fail one by one). A disconnected filesystem
/// is disconnected everywhere: every directory above on the same device went with it.
fn climb<V: Vfs>(w: &World<'_, V>, mut id: NodeId, mut path: PathBuf, dev: u64, why: Outage) -> (NodeId, PathBuf) {
    let tree = &*w.tree;
    let Some(start) = tree.nodes.get(id).map(|n| n.parent) else { return (id, path) };
    for parent in tree.ancestors(start).filter_map(|d| tree.dirs.get(d)) {
        let (Some(up), Some((up_dev, _))) = (parent.node, parent.ident) else { break };
        if up_dev != dev {
            break;
        }
        let gone = match why {
            Outage::Disconnected => true,
            Outage::Unmounted => w.vfs.stat(&parent.path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound),
            Outage::UnmountedAt => false,
        };
        if !gone {
            break;
        }
        (id, path) = (up, parent.path.clone());
    }
    (id, path)
}

/// Closes the directory handles in the tree under node `id`: they would keep a lazily unmounted filesystem alive
/// (its loop device busy), and show its old content. Listing the tree again when it is back opens new ones.
fn drop_handles_below(tree: &mut Tree, id: NodeId) {
    let Some(d) = tree.nodes.get(id).and_then(|n| n.dir()) else { return };
    let mut dirs = Vec::new();
    tree.subtree_dirs(d, &mut dirs);
    for d in dirs {
        if let Some(dir) = tree.dirs.get_mut(d) {
            dir.handle = None;
        }
    }
}

/// Warns that the directory at `path` moved from device `was` to `now`, and identifies the new one.
fn replaced<V: Vfs>(w: &mut World<'_, V>, path: &Path, was: u64, now: u64) {
    let was = w.fs.name(was);
    let info = w.fs.identify(w.vfs, now, path, false);
    w.warnings.push(Warning::Replaced { path: path.to_path_buf(), was, now: info.name });
}

#[cfg(test)]
mod tests;
