//! The tracked set: directories with their listings, and one node per watched path.
//!
//! Paths are not stored per file: a node keeps its name and its parent directory's id, and the full path is
//! built on demand into a reused buffer. Ids are indices into arenas whose slots are recycled.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::stored::Stored;
use crate::compare::State;
use crate::discover::IgnoreScope;
use crate::vfs::DirHandle;

/// Index of a directory in [`Tree::dirs`].
pub type DirId = u32;
/// Index of a node in [`Tree::nodes`].
pub type NodeId = u32;

/// A vector of slots whose freed indices are reused.
#[derive(Debug)]
pub struct Arena<T> {
    pub items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Arena<T> {
    pub fn insert(&mut self, item: T) -> u32 {
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

    pub fn remove(&mut self, id: u32) -> Option<T> {
        let item = self.items.get_mut(id as usize)?.take();
        if item.is_some() {
            self.free.push(id);
        }
        item
    }

    pub fn get(&self, id: u32) -> Option<&T> {
        self.items.get(id as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.items.get_mut(id as usize)?.as_mut()
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.items.iter().enumerate().filter(|(_, x)| x.is_some()).map(|(i, _)| i as u32)
    }
}

/// A directory stator knows a path of.
#[derive(Debug)]
pub struct DirNode {
    /// Its path, as reached from a root.
    pub path: PathBuf,
    /// The root it was reached from (for root-relative glob matching); `None` for holders.
    pub root: Option<PathBuf>,
    /// Whether it is itself a watched root (its ignore scope comes from its ancestors).
    pub is_root: bool,
    /// The ignore rules for names inside it.
    pub scope: Arc<IgnoreScope>,
    /// An ignore file in it or above it changed: rebuild the rules and judge every name again at the next
    /// listing.
    pub scope_stale: bool,
    /// Tracked names inside it: node ids, hashed by their names (each name is stored once, in its node).
    pub children: HashTable<NodeId>,
    /// Its listing has been read at least once. A holder (the parent of an explicit path) is never listed.
    pub listed: bool,
    /// The directory itself was just created: its previous listing is the empty one, so everything in its
    /// first listing is new.
    pub fresh: bool,
    /// The node standing for this directory in its parent; `None` for holders.
    pub node: Option<NodeId>,
    /// `(dev, ino)`, for symlink loops and overlapping roots.
    pub ident: Option<(u64, u64)>,
    /// A listing error was reported and has not cleared yet.
    pub failing: bool,
    /// An open handle on the directory, to stat the names inside it without walking its path (local
    /// filesystems only; see [`crate::vfs::handle`]). Its identity always equals `ident`: a handle on a directory
    /// that no longer is the one at `path` is dropped.
    pub handle: Option<DirHandle>,
}

/// One watched path.
#[derive(Debug)]
pub struct Node {
    pub parent: DirId,
    pub name: Box<OsStr>,
    pub state: Stored,
    /// Set when this node is a directory stator descends into.
    pub dir: Option<DirId>,
    /// An explicit root: kept (as absent) when it disappears, exempt from filters.
    pub pinned: bool,
    /// A stat error was reported and has not cleared yet.
    pub failing: bool,
}

#[derive(Debug, Default)]
pub struct Tree {
    pub dirs: Arena<DirNode>,
    pub nodes: Arena<Node>,
    /// Directories by path, for holders shared between explicit paths.
    holders: HashMap<PathBuf, DirId>,
    /// Descended directories by identity.
    pub by_ident: HashMap<(u64, u64), DirId>,
    /// Hashes names for the directories' child tables.
    hasher: DefaultHashBuilder,
}

impl Tree {
    /// The directory holding explicit paths inside `path` (created unlisted if new).
    pub fn holder(&mut self, path: &Path) -> DirId {
        if let Some(&id) = self.holders.get(path) {
            return id;
        }
        let id = self.dirs.insert(DirNode {
            path: path.to_path_buf(),
            root: None,
            is_root: false,
            scope: IgnoreScope::empty(),
            scope_stale: false,
            children: HashTable::new(),
            listed: false,
            fresh: false,
            node: None,
            ident: None,
            failing: false,
            handle: None,
        });
        self.holders.insert(path.to_path_buf(), id);
        id
    }

    /// The node named `name` inside `parent`, if tracked.
    pub fn child(&self, parent: DirId, name: &OsStr) -> Option<NodeId> {
        let dir = self.dirs.get(parent)?;
        let nodes = &self.nodes;
        dir.children.find(self.hasher.hash_one(name), |&id| nodes.get(id).is_some_and(|n| &*n.name == name)).copied()
    }

    /// Adds `name` inside `parent`, or returns the node already there.
    pub fn add_node(&mut self, parent: DirId, name: &OsStr, state: State, pinned: bool) -> NodeId {
        if let Some(id) = self.child(parent, name) {
            if let Some(n) = self.nodes.get_mut(id) {
                n.pinned |= pinned;
            }
            return id;
        }
        let id = self.nodes.insert(Node {
            parent,
            name: name.into(),
            state: state.into(),
            dir: None,
            pinned,
            failing: false,
        });
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        if let Some(d) = self.dirs.get_mut(parent) {
            let rehash = |&id: &NodeId| nodes.get(id).map_or(0, |n| hasher.hash_one(&*n.name));
            d.children.insert_unique(hasher.hash_one(name), id, rehash);
        }
        id
    }

    /// Writes the node's full path into `buf`.
    pub fn path_into(&self, id: NodeId, buf: &mut PathBuf) {
        buf.clear();
        if let Some(n) = self.nodes.get(id) {
            if let Some(d) = self.dirs.get(n.parent) {
                buf.push(&d.path);
            }
            buf.push(&*n.name);
        }
    }

    /// The node's full path.
    pub fn path(&self, id: NodeId) -> PathBuf {
        let mut buf = PathBuf::new();
        self.path_into(id, &mut buf);
        buf
    }

    /// Makes node `id` a descended directory.
    pub fn attach_dir(&mut self, id: NodeId, root: PathBuf, is_root: bool, fresh: bool, ident: (u64, u64)) -> DirId {
        let path = self.path(id);
        let did = self.dirs.insert(DirNode {
            path,
            root: Some(root),
            is_root,
            scope: IgnoreScope::empty(),
            scope_stale: false,
            children: HashTable::new(),
            listed: false,
            fresh,
            node: Some(id),
            ident: Some(ident),
            failing: false,
            handle: None,
        });
        self.by_ident.insert(ident, did);
        if let Some(n) = self.nodes.get_mut(id) {
            n.dir = Some(did);
        }
        did
    }

    /// Records that directory `did` now has identity `ident` (another directory took its path), dropping its
    /// handle, which is open on the directory that used to be there.
    pub fn set_ident(&mut self, did: DirId, ident: (u64, u64)) {
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
    pub fn detach_dir(&mut self, did: DirId) {
        let Some(dir) = self.dirs.remove(did) else { return };
        if let Some(ident) = dir.ident
            && self.by_ident.get(&ident) == Some(&did)
        {
            self.by_ident.remove(&ident);
        }
        if let Some(n) = dir.node.and_then(|id| self.nodes.get_mut(id)) {
            n.dir = None;
        }
        for child in dir.children {
            self.forget_node(child);
        }
    }

    /// Removes node `id` from its parent, with its subtree.
    pub fn remove_node(&mut self, id: NodeId) {
        let Some(n) = self.nodes.get(id) else { return };
        let hash = self.hasher.hash_one(&*n.name);
        if let Some(d) = self.dirs.get_mut(n.parent)
            && let Ok(entry) = d.children.find_entry(hash, |&c| c == id)
        {
            entry.remove();
        }
        self.forget_node(id);
    }

    fn forget_node(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.remove(id)
            && let Some(did) = n.dir
        {
            self.detach_dir(did);
        }
    }

    /// `did` and every directory below it, parents before children.
    pub fn subtree_dirs(&self, did: DirId, out: &mut Vec<DirId>) {
        out.push(did);
        if let Some(d) = self.dirs.get(did) {
            for &child in d.children.iter() {
                if let Some(sub) = self.nodes.get(child).and_then(|n| n.dir) {
                    self.subtree_dirs(sub, out);
                }
            }
        }
    }
}
