//! The tracked set: directories with their listings, and one node per watched path.
//!
//! Paths are not stored per file: a node keeps its parent directory's id and where its name is in that
//! directory's name buffer, and the full path is built on demand into a reused buffer. Names are stored once,
//! each followed by a NUL, so a name is a C string for `fstatat` as it is, with no allocation per file. Ids are
//! indices into arenas whose slots are recycled.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::hash::BuildHasher;
use std::num::NonZeroU32;

use hashbrown::{DefaultHashBuilder, HashTable};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::IgnoreScope;
use super::stored::Stored;
use crate::compare::{Join, State};
use crate::vfs::DirHandle;

/// Index of a directory in [`Tree::dirs`].
pub(crate) type DirId = u32;
/// Index of a node in [`Tree::nodes`].
pub(crate) type NodeId = u32;

/// A vector of slots whose freed indices are reused.
#[derive(Debug)]
pub(crate) struct Arena<T> {
    pub(crate) items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Arena<T> {
    pub(crate) fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.items[id as usize] = Some(item);
                id
            }
            None => {
                self.items.push(Some(item));
                (self.items.len() - 1) as u32
            }
        }
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        let item = self.items.get_mut(id as usize)?.take();
        if item.is_some() {
            self.free.push(id);
        }
        item
    }

    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        self.items.get(id as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.items.get_mut(id as usize)?.as_mut()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.items.iter().enumerate().filter(|(_, x)| x.is_some()).map(|(i, _)| i as u32)
    }
}

/// A directory stator knows a path of.
#[derive(Debug)]
pub(crate) struct DirNode {
    /// Its path, as reached from a root.
    pub(crate) path: PathBuf,
    /// The root it was reached from (for root-relative glob matching); `None` for holders.
    pub(crate) root: Option<PathBuf>,
    /// Whether it is itself a watched root (its ignore scope comes from its ancestors).
    pub(crate) is_root: bool,
    /// The ignore rules for names inside it.
    pub(crate) scope: Arc<IgnoreScope>,
    /// An ignore file in it or above it changed: rebuild the rules and judge every name again at the next
    /// listing. The names the new rules admit join as this says: [`Join::Listed`] (new, as any name not in the
    /// previous listing) when the ignore file is a watched file whose edit was reported, [`Join::Unlisted`] (new
    /// only if changed lately) when it is tracked only for its rules (see [`Node::quiet`]).
    pub(crate) scope_stale: Option<Join>,
    /// Tracked names inside it: node ids, hashed by their names.
    pub(crate) children: HashTable<NodeId>,
    /// The names of the nodes inside it, each followed by a NUL.
    names: Vec<u8>,
    /// Bytes of `names` no node uses any more; the buffer is compacted when they are most of it.
    dead: usize,
    /// Its listing has been read at least once. A holder (the parent of an explicit path) is never listed.
    pub(crate) listed: bool,
    /// The directory itself was just created: its previous listing is the empty one, so everything in its
    /// first listing is new.
    pub(crate) fresh: bool,
    /// The node standing for this directory in its parent; `None` for holders.
    pub(crate) node: Option<NodeId>,
    /// `(dev, ino)`, for symlink loops and overlapping roots.
    pub(crate) ident: Option<(u64, u64)>,
    /// A listing error was reported and has not cleared yet.
    pub(crate) failing: bool,
    /// An open handle on the directory, to stat the names inside it without walking its path (local
    /// filesystems only; see [`crate::vfs::handle`]). Its identity always equals `ident`: a handle on a directory
    /// that no longer is the one at `path` is dropped.
    pub(crate) handle: Option<DirHandle>,
    /// Another filesystem took this directory over (it was replaced, or came back as another device), and this
    /// is the device it was on: what is below it and still on that device went with it (see `poll::outage`).
    /// Kept on the directory, which it leaves with, not in a map by id: ids are recycled.
    pub(crate) taken_from: Option<u64>,
}

impl DirNode {
    /// Whether it was last seen on one of the devices `devs`.
    pub(crate) fn on_any(&self, devs: &[u64]) -> bool {
        self.ident.is_some_and(|(dev, _)| devs.contains(&dev))
    }
}

/// One watched path: 80 bytes (a million tracked files must fit in little memory), hence the packed fields.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) parent: DirId,
    /// Where the name starts in the parent's name buffer.
    name_at: u32,
    /// The name's length (without the NUL) in the low 28 bits; [`QUIET`], [`OFFLINE`], [`PINNED`] and [`FAILING`]
    /// above.
    len_flags: u32,
    /// The descended directory this node is, as its id plus one.
    dir: Option<NonZeroU32>,
    pub(crate) state: Stored,
}

/// An explicit root: kept (as absent) when it disappears, exempt from filters.
const PINNED: u32 = 1 << 30;
/// The top of a tree whose filesystem went away (see `poll::outage`). Kept on the node, not only in a map by id:
/// ids are recycled, and a node that takes the id of a removed top is not offline.
const OFFLINE: u32 = 1 << 29;
/// Tracked only for the rules it holds (an ignore file the filters leave out): looked at, never reported.
const QUIET: u32 = 1 << 28;
/// A stat error was reported and has not cleared yet.
const FAILING: u32 = 1 << 31;
const LEN: u32 = QUIET - 1;

impl Node {
    fn new(parent: DirId, name_at: u32, name_len: u32, state: State, pinned: bool) -> Node {
        let flags = if pinned { PINNED } else { 0 };
        Node { parent, name_at, len_flags: (name_len & LEN) | flags, dir: None, state: state.into() }
    }

    fn name_len(&self) -> u32 {
        self.len_flags & LEN
    }

    /// Set when this node is a directory stator descends into.
    pub(crate) fn dir(&self) -> Option<DirId> {
        self.dir.map(|d| d.get() - 1)
    }

    fn set_dir(&mut self, dir: Option<DirId>) {
        self.dir = dir.and_then(|d| NonZeroU32::new(d.wrapping_add(1)));
    }

    /// An explicit root: kept (as absent) when it disappears, exempt from filters.
    pub(crate) fn pinned(&self) -> bool {
        self.len_flags & PINNED != 0
    }

    /// A stat error was reported and has not cleared yet.
    pub(crate) fn failing(&self) -> bool {
        self.len_flags & FAILING != 0
    }

    /// Records whether a stat error is being reported.
    pub(crate) fn set_failing(&mut self, failing: bool) {
        self.set_flag(FAILING, failing);
    }

    /// The top of a tree whose filesystem went away.
    pub(crate) fn offline(&self) -> bool {
        self.len_flags & OFFLINE != 0
    }

    /// Records whether this is the top of a tree whose filesystem went away.
    pub(crate) fn set_offline(&mut self, offline: bool) {
        self.set_flag(OFFLINE, offline);
    }

    /// An ignore file tracked only because its rules decide what else is watched (the filters leave it out, or it
    /// is outside the watched tree: an ignore file above a root, git's `info/exclude`): its changes re-judge the
    /// names it rules, and are not reported.
    pub(crate) fn quiet(&self) -> bool {
        self.len_flags & QUIET != 0
    }

    /// Records whether this node is tracked only for its rules (see [`Node::quiet`]).
    pub(crate) fn set_quiet(&mut self, quiet: bool) {
        self.set_flag(QUIET, quiet);
    }

    /// A regular file the user watches (not one tracked only for its rules) that exists, or was last seen existing.
    pub(crate) fn is_watched_file(&self) -> bool {
        self.state.is_file() && !self.quiet()
    }

    fn set_flag(&mut self, flag: u32, on: bool) {
        if on {
            self.len_flags |= flag;
        } else {
            self.len_flags &= !flag;
        }
    }
}

/// The bytes of `n`'s name in its parent's buffer, with the NUL that ends it. `None` only in a broken tree: every
/// node's name is copied into the buffer when it is added ([`Tree::add_node`] refuses a name it cannot record) and
/// moved only by [`Tree::compact_names`], which moves every node's name with it. Loud in debug builds, and never
/// an empty name: that would `stat` the directory itself, or nothing, and report a phantom removal.
fn span<'a>(names: &'a [u8], n: &Node) -> Option<&'a [u8]> {
    let at = n.name_at as usize;
    let span = names.get(at..=at + n.name_len() as usize).filter(|s| s.last() == Some(&0));
    debug_assert!(span.is_some(), "a node's name is not in its directory's name buffer");
    span
}

/// The bytes of `n`'s name in its parent's buffer, without the NUL (see [`span`]).
fn slice<'a>(names: &'a [u8], n: &Node) -> Option<&'a [u8]> {
    span(names, n).map(|s| &s[..s.len() - 1])
}

/// The name of `n`, a node inside `dir` (`None` only in a broken tree, see [`span`]).
pub(crate) fn node_name<'a>(dir: &'a DirNode, n: &Node) -> Option<&'a OsStr> {
    slice(&dir.names, n).map(os_str)
}

/// Writes the full path of `n`, a node inside `dir`, into `buf`. `false`, with `buf` empty, only in a broken
/// tree (see [`span`]).
pub(crate) fn node_path_into(dir: &DirNode, n: &Node, buf: &mut PathBuf) -> bool {
    buf.clear();
    let Some(name) = node_name(dir, n) else { return false };
    buf.push(&dir.path);
    buf.push(name);
    true
}

/// The name of `n`, a node inside `dir`, as a C string (what `fstatat` takes); `None` only in a broken tree (see
/// [`span`]).
pub(crate) fn node_c_name<'a>(dir: &'a DirNode, n: &Node) -> Option<&'a CStr> {
    let name = span(&dir.names, n).and_then(|bytes| CStr::from_bytes_with_nul(bytes).ok());
    debug_assert!(name.is_some(), "a node's name holds a NUL");
    name
}

/// Bytes that [`OsStr::as_encoded_bytes`] produced, as an `OsStr` again.
#[cfg(unix)]
fn os_str(bytes: &[u8]) -> &OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(bytes)
}

/// Bytes that [`OsStr::as_encoded_bytes`] produced, as an `OsStr` again.
#[cfg(not(unix))]
#[allow(unsafe_code)]
fn os_str(bytes: &[u8]) -> &OsStr {
    // SAFETY: every name buffer holds whole names copied from `OsStr::as_encoded_bytes`, and `bytes` is exactly
    // one of them (the offsets and lengths are those recorded when it was copied), which is what
    // `from_encoded_bytes_unchecked` requires.
    unsafe { OsStr::from_encoded_bytes_unchecked(bytes) }
}

#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub(crate) dirs: Arena<DirNode>,
    pub(crate) nodes: Arena<Node>,
    /// Directories by path, for holders shared between explicit paths.
    holders: HashMap<PathBuf, DirId>,
    /// Descended directories by identity.
    pub(crate) by_ident: HashMap<(u64, u64), DirId>,
    /// Hashes names for the directories' child tables.
    hasher: DefaultHashBuilder,
}

impl DirNode {
    /// A directory at `path` that nothing was learned of yet: not listed, no node, no identity, no handle (a
    /// holder as it is; [`Tree::attach_dir`] fills in the rest for a descended directory).
    fn unlisted(path: PathBuf) -> DirNode {
        DirNode {
            path,
            root: None,
            is_root: false,
            scope: IgnoreScope::empty(),
            scope_stale: None,
            children: HashTable::new(),
            names: Vec::new(),
            dead: 0,
            listed: false,
            fresh: false,
            node: None,
            ident: None,
            failing: false,
            handle: None,
            taken_from: None,
        }
    }
}

impl Tree {
    /// The directory holding explicit paths inside `path` (created unlisted if new).
    pub(crate) fn holder(&mut self, path: &Path) -> DirId {
        if let Some(&id) = self.holders.get(path) {
            return id;
        }
        let id = self.dirs.insert(DirNode::unlisted(path.to_path_buf()));
        self.holders.insert(path.to_path_buf(), id);
        id
    }

    /// The node a walk from one of `roots` (root nodes) tracks for `path` (normalized), if one does: the root
    /// itself, or a name found by descending its listed directories.
    pub(crate) fn walked(&self, roots: &[NodeId], path: &Path) -> Option<NodeId> {
        roots.iter().find_map(|&root| {
            let rest = path.strip_prefix(self.path(root)).ok()?;
            rest.components().try_fold(root, |node, c| match c {
                std::path::Component::Normal(name) => self.child(self.nodes.get(node)?.dir()?, name),
                _ => None,
            })
        })
    }

    /// The node named `name` inside `parent`, if tracked.
    pub(crate) fn child(&self, parent: DirId, name: &OsStr) -> Option<NodeId> {
        let dir = self.dirs.get(parent)?;
        let nodes = &self.nodes;
        let bytes = name.as_encoded_bytes();
        dir.children
            .find(self.hasher.hash_one(bytes), |&id| nodes.get(id).is_some_and(|n| slice(&dir.names, n) == Some(bytes)))
            .copied()
    }

    /// Adds `name` inside `parent`, or returns the node already there. `None` when there is no such directory
    /// (ids come from the tree: a bug), or for a name no filesystem has: one holding a NUL, or too long to record
    /// (offsets are 32-bit and lengths 30-bit: a directory whose names pass 4 GiB, or a name of a gigabyte, is past
    /// any real listing; names are at most 255 bytes on the filesystems stator knows).
    pub(crate) fn add_node(&mut self, parent: DirId, name: &OsStr, state: State, pinned: bool) -> Option<NodeId> {
        if let Some(id) = self.child(parent, name) {
            if let Some(n) = self.nodes.get_mut(id)
                && pinned
            {
                // An explicit path is watched, and reported, whatever else it is.
                n.len_flags |= PINNED;
                n.set_quiet(false);
            }
            return Some(id);
        }
        let bytes = name.as_encoded_bytes();
        let Some(d) = self.dirs.get_mut(parent) else {
            debug_assert!(false, "a node added to directory {parent}, which is not in the tree");
            return None;
        };
        let (Ok(at), Ok(len)) = (u32::try_from(d.names.len()), u32::try_from(bytes.len())) else { return None };
        if len > LEN || at.checked_add(len + 1).is_none() || bytes.contains(&0) {
            return None;
        }
        d.names.extend_from_slice(bytes);
        d.names.push(0);
        let id = self.nodes.insert(Node::new(parent, at, len, state, pinned));
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        let DirNode { children, names, .. } = d;
        let rehash = |&c: &NodeId| nodes.get(c).map_or(0, |n| hasher.hash_one(slice(names, n).unwrap_or_default()));
        children.insert_unique(hasher.hash_one(bytes), id, rehash);
        Some(id)
    }

    /// Gives every directory's name buffer back the memory it does not use (after the first walk).
    pub(crate) fn shrink_names(&mut self) {
        for dir in self.dirs.items.iter_mut().flatten() {
            dir.names.shrink_to_fit();
        }
    }

    /// Writes the node's full path into `buf`.
    pub(crate) fn path_into(&self, id: NodeId, buf: &mut PathBuf) {
        buf.clear();
        if let Some(n) = self.nodes.get(id)
            && let Some(d) = self.dirs.get(n.parent)
        {
            node_path_into(d, n, buf);
        }
    }

    /// The node's full path.
    pub(crate) fn path(&self, id: NodeId) -> PathBuf {
        let mut buf = PathBuf::new();
        self.path_into(id, &mut buf);
        buf
    }

    /// Makes node `id` a descended directory.
    pub(crate) fn attach_dir(
        &mut self,
        id: NodeId,
        root: PathBuf,
        is_root: bool,
        fresh: bool,
        ident: (u64, u64),
    ) -> DirId {
        let path = self.path(id);
        let did = self.dirs.insert(DirNode {
            root: Some(root),
            is_root,
            fresh,
            node: Some(id),
            ident: Some(ident),
            ..DirNode::unlisted(path)
        });
        self.by_ident.insert(ident, did);
        if let Some(n) = self.nodes.get_mut(id) {
            n.set_dir(Some(did));
        }
        did
    }

    /// Records that directory `did` now has identity `ident` (another directory took its path), dropping its
    /// handle, which is open on the directory that used to be there.
    pub(crate) fn set_ident(&mut self, did: DirId, ident: (u64, u64)) {
        let Some(dir) = self.dirs.get_mut(did) else { return };
        if dir.ident == Some(ident) {
            return;
        }
        dir.handle = None;
        if let Some(old) = dir.ident.replace(ident)
            && self.by_ident.get(&old) == Some(&did)
        {
            self.by_ident.remove(&old);
        }
        self.by_ident.insert(ident, did);
    }

    /// Stops descending into directory `did`: forgets it and everything below it.
    pub(crate) fn detach_dir(&mut self, did: DirId) {
        let Some(dir) = self.dirs.remove(did) else { return };
        if let Some(ident) = dir.ident
            && self.by_ident.get(&ident) == Some(&did)
        {
            self.by_ident.remove(&ident);
        }
        if let Some(n) = dir.node.and_then(|id| self.nodes.get_mut(id)) {
            n.set_dir(None);
        }
        for child in dir.children {
            self.forget_node(child);
        }
    }

    /// Removes node `id` from its parent, with its subtree.
    pub(crate) fn remove_node(&mut self, id: NodeId) {
        let Some(n) = self.nodes.get(id) else { return };
        if let Some(d) = self.dirs.get_mut(n.parent) {
            let hash = self.hasher.hash_one(slice(&d.names, n).unwrap_or_default());
            if let Ok(entry) = d.children.find_entry(hash, |&c| c == id) {
                entry.remove();
            }
            d.dead += n.name_len() as usize + 1;
        }
        let parent = n.parent;
        self.forget_node(id);
        self.compact_names(parent);
    }

    /// Rewrites directory `d`'s name buffer without the names of removed nodes, once those are most of it.
    fn compact_names(&mut self, d: DirId) {
        let Some(dir) = self.dirs.get_mut(d) else { return };
        if dir.dead < 4096 || dir.dead * 2 < dir.names.len() {
            return;
        }
        let mut names = Vec::with_capacity(dir.names.len() - dir.dead);
        for &id in dir.children.iter() {
            if let Some(n) = self.nodes.get_mut(id)
                && let Some(name) = span(&dir.names, n)
            {
                let at = names.len() as u32;
                names.extend_from_slice(name);
                n.name_at = at;
            }
        }
        dir.names = names;
        dir.dead = 0;
    }

    fn forget_node(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.remove(id)
            && let Some(did) = n.dir()
        {
            self.detach_dir(did);
        }
    }

    /// Directory `did` and the directories above it, nearest first, up to the holder (or descended root) the
    /// chain starts from: each directory's node is in its parent directory.
    pub(crate) fn ancestors(&self, did: DirId) -> Ancestors<'_> {
        // A chain is never longer than the number of directories; the bound only guards against a broken tree.
        Ancestors { tree: self, next: Some(did), left: self.dirs.items.len() }
    }

    /// The watched nodes (not [quiet](Node::quiet) ones) inside directory `did` and below it that exist (or were
    /// last seen existing).
    pub(crate) fn present_below(&self, did: DirId) -> Vec<NodeId> {
        let mut dirs = Vec::new();
        self.subtree_dirs(did, &mut dirs);
        let live = |id: &NodeId| {
            self.nodes.get(*id).is_some_and(|n| !n.quiet() && (n.state.is_present() || n.state.is_vanishing()))
        };
        dirs.iter()
            .filter_map(|&d| self.dirs.get(d))
            .flat_map(|dir| dir.children.iter().copied().filter(live))
            .collect()
    }

    /// How many watched regular files node `id` stands for: itself, or what its directory tree holds.
    pub(crate) fn files_below(&self, id: NodeId) -> usize {
        let Some(node) = self.nodes.get(id) else { return 0 };
        let Some(d) = node.dir() else { return usize::from(node.is_watched_file()) };
        let mut dirs = Vec::new();
        self.subtree_dirs(d, &mut dirs);
        let file = |c: &&NodeId| self.nodes.get(**c).is_some_and(Node::is_watched_file);
        dirs.iter().filter_map(|&d| self.dirs.get(d)).map(|dir| dir.children.iter().filter(file).count()).sum()
    }

    /// `did` and every directory below it, parents before children.
    pub(crate) fn subtree_dirs(&self, did: DirId, out: &mut Vec<DirId>) {
        out.push(did);
        if let Some(d) = self.dirs.get(did) {
            for &child in d.children.iter() {
                if let Some(sub) = self.nodes.get(child).and_then(|n| n.dir()) {
                    self.subtree_dirs(sub, out);
                }
            }
        }
    }
}

/// The directories up a parent chain; see [`Tree::ancestors`].
pub(crate) struct Ancestors<'a> {
    tree: &'a Tree,
    next: Option<DirId>,
    left: usize,
}

impl Iterator for Ancestors<'_> {
    type Item = DirId;

    fn next(&mut self) -> Option<DirId> {
        let d = self.next.take()?;
        let dir = self.tree.dirs.get(d)?;
        self.left = self.left.checked_sub(1)?;
        debug_assert!(self.left > 0 || dir.node.is_none(), "a parent chain longer than the tree");
        self.next = dir.node.and_then(|id| self.tree.nodes.get(id)).map(|n| n.parent);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn name(i: usize) -> OsString {
        OsString::from(format!("file-{i:05}.rs"))
    }

    #[test]
    fn names_survive_removals_and_the_buffer_is_compacted() {
        let mut tree = Tree::default();
        let d = tree.holder(Path::new("/w"));
        let ids: Vec<NodeId> =
            (0..10_000).map(|i| tree.add_node(d, &name(i), State::Unseen(Join::Baseline), false).unwrap()).collect();
        let full = tree.dirs.get(d).unwrap().names.len();
        assert_eq!(full, 10_000 * ("file-00000.rs".len() + 1));
        for (i, &id) in ids.iter().enumerate().filter(|(i, _)| i % 10 != 0) {
            assert_eq!(tree.child(d, &name(i)), Some(id));
            tree.remove_node(id);
        }
        let dir = tree.dirs.get(d).unwrap();
        assert_eq!(std::mem::size_of::<Option<Node>>(), 80);
        assert!(dir.names.len() < full / 2, "compacted: {} of {full} bytes", dir.names.len());
        for (i, &id) in ids.iter().enumerate() {
            let want = (i % 10 == 0).then_some(id);
            assert_eq!(tree.child(d, &name(i)), want, "{i}");
            if want.is_some() {
                assert_eq!(tree.path(id), Path::new("/w").join(name(i)));
                let n = tree.nodes.get(id).unwrap();
                assert_eq!(node_c_name(tree.dirs.get(d).unwrap(), n).unwrap().to_bytes(), name(i).as_encoded_bytes());
            }
        }
        // A name added after the compaction is found, and the ones before it still are.
        let new = tree.add_node(d, OsStr::new("new.rs"), State::Unseen(Join::Listed), false).unwrap();
        assert_eq!(tree.child(d, OsStr::new("new.rs")), Some(new));
        assert_eq!(tree.child(d, &name(0)), Some(ids[0]));
    }

    /// What a broken tree (a bug) gives instead of a name: a panic in debug builds, `None` in release ones, never
    /// an empty name, which would `stat` the directory itself (or nothing) and report a phantom removal.
    #[test]
    fn a_name_the_tree_cannot_give_is_loud_and_never_empty() {
        let mut tree = Tree::default();
        let d = tree.holder(Path::new("/w"));
        let id = tree.add_node(d, OsStr::new("a.rs"), State::Unseen(Join::Baseline), false).unwrap();
        // Break the invariant as a bug would: the name's offset points past the buffer.
        tree.nodes.get_mut(id).unwrap().name_at = 1000;
        let (dir, node) = (tree.dirs.get(d).unwrap(), tree.nodes.get(id).unwrap());
        let guard = |f: &dyn Fn() -> bool| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let c_name = guard(&|| node_c_name(dir, node).is_none());
        let name = guard(&|| node_name(dir, node).is_none());
        let path = guard(&|| {
            let mut buf = PathBuf::from("/stale");
            !node_path_into(dir, node, &mut buf) && buf.as_os_str().is_empty()
        });
        for (what, got) in [("C name", c_name), ("name", name), ("path", path)] {
            if cfg!(debug_assertions) {
                assert!(got.is_err(), "{what}: a debug build panics");
            } else {
                assert!(got.unwrap(), "{what}: none");
            }
        }
    }

    #[test]
    fn a_name_no_filesystem_has_is_refused() {
        let mut tree = Tree::default();
        let d = tree.holder(Path::new("/w"));
        assert_eq!(tree.add_node(d, OsStr::new("a\0b"), State::Unseen(Join::Baseline), false), None);
        let id = tree.add_node(d, OsStr::new("ab"), State::Unseen(Join::Baseline), false).unwrap();
        assert_eq!(node_c_name(tree.dirs.get(d).unwrap(), tree.nodes.get(id).unwrap()), Some(c"ab"));
    }

    #[test]
    fn ancestors_climb_to_the_holder() {
        let mut tree = Tree::default();
        let holder = tree.holder(Path::new("/"));
        let root = tree.add_node(holder, OsStr::new("w"), State::Unseen(Join::Baseline), true).unwrap();
        let w = tree.attach_dir(root, "/w".into(), true, false, (1, 2));
        let sub = tree.add_node(w, OsStr::new("sub"), State::Unseen(Join::Listed), false).unwrap();
        let s = tree.attach_dir(sub, "/w".into(), false, false, (1, 3));
        assert_eq!(tree.ancestors(s).collect::<Vec<_>>(), [s, w, holder]);
        assert_eq!(tree.ancestors(holder).collect::<Vec<_>>(), [holder]);
        assert_eq!(tree.ancestors(999).count(), 0);
    }
}
