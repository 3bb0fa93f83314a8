//! The sweep: `stat` every wanted node of the tree in parallel and apply the rules of [`crate::compare`] to what
//! each stat returns, keeping what is worth acting on as [`Sighting`]s.
//!
//! Cost is the point here (DESIGN.md section 4: the floor is one `stat` per tracked file). Rayon hands out chunks
//! of the node arena, not nodes, and each chunk is a plain loop; within a chunk a batch of stats is made in a row
//! before the rules run over the batch; a node whose stat shows exactly its recorded fingerprint is confirmed in
//! place, without converting its state or allocating; a thread keeps one path buffer for the nodes it must name.
//! Files on network and FUSE filesystems are statted by the wide pool ([`super::wide`]).

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use rayon::ThreadPool;
use rayon::prelude::*;

use crate::compare::{self, Ctx, FsParams, Outcome, State};
use crate::discover::tree::{Arena, DirNode, Node, NodeId, Tree, node_c_name, node_path_into};
use crate::fingerprint::Granularity;
use crate::fingerprint::{FileKind, Stat};
use crate::vfs::Vfs;

/// One node the sweep saw something worth acting on at: a change, a directory to list, an error, a removal to
/// confirm, a directory on another device.
pub(super) struct Sighting {
    /// The node.
    pub(super) id: NodeId,
    /// Its state before this look.
    pub(super) before: State,
    /// What the rules made of this look.
    pub(super) out: Outcome,
    /// What the `stat` returned, when it succeeded.
    pub(super) stat: Option<Stat>,
}

/// Everything one look needs besides the node itself; shared by the parallel sweep and the hot tier.
pub(super) struct Look<'a, V> {
    pub(super) vfs: &'a V,
    /// Per device (a handful): the parameters of its filesystem.
    pub(super) params: Vec<(u64, FsParams)>,
    pub(super) ctx: &'a Ctx,
}

impl<V: Vfs> Look<'_, V> {
    /// Stats one node: relative to its directory's handle, or by its path built into `buf`. A node the tree cannot
    /// name (a broken tree, loud in debug builds) is an error, never a `stat` of something else.
    fn stat(&self, dirs: &Arena<DirNode>, node: &Node, buf: &mut PathBuf) -> Result<Stat, io::ErrorKind> {
        let parent = dirs.get(node.parent);
        let seen = match parent.and_then(|d| Some((d, d.handle.as_ref()?))) {
            Some((d, handle)) => match node_c_name(d, node) {
                Some(name) => self.vfs.stat_in(handle, name),
                None => return Err(UNNAMED),
            },
            None if path_of(parent, node, buf) => self.vfs.stat(buf),
            None => return Err(UNNAMED),
        };
        seen.map_err(|e| e.kind())
    }

    /// Stats one node, applies the rules and updates the node's state; records a sighting when there is something
    /// to act on.
    pub(super) fn at(&self, found: &mut Found, dirs: &Arena<DirNode>, id: NodeId, node: &mut Node, buf: &mut PathBuf) {
        let seen = self.stat(dirs, node, buf);
        self.apply_rules(found, dirs, id, node, seen, buf);
    }

    /// Applies the rules to what a stat of `node` found (see [`Look::at`]).
    fn apply_rules(
        &self,
        found: &mut Found,
        dirs: &Arena<DirNode>,
        id: NodeId,
        node: &mut Node,
        seen: Result<Stat, io::ErrorKind>,
        buf: &mut PathBuf,
    ) {
        const DEFAULT: FsParams = FsParams { window: COARSE_WINDOW, advisory: false };
        let parent = dirs.get(node.parent);
        // A directory on another device: something was mounted or unmounted there (see `outage`). The device is
        // not part of a fingerprint, so this is checked on its own.
        let dir_dev = node.dir().and_then(|d| dirs.get(d)?.ident).map(|(dev, _)| dev);
        let other_device = |s: &Stat| dir_dev.is_some_and(|dev| dev != s.dev);
        // The common case: nothing changed, and the mtime is not in the future (which is worth a warning).
        if let Ok(s) = &seen
            && s.mtime.unix_seconds() < self.ctx.scan.unix_seconds()
            && node.state.unchanged(s)
            && !other_device(s)
        {
            if node.failing() {
                node.set_failing(false);
            }
            found.looked += 1;
            return;
        }
        let fs = match &seen {
            Ok(s) => self.params.iter().find(|(dev, _)| *dev == s.dev).map_or(DEFAULT, |(_, p)| *p),
            Err(_) => DEFAULT,
        };
        let before = State::from(node.state);
        let vfs = self.vfs;
        let mut hash = || if path_of(parent, node, buf) { vfs.hash(buf).ok() } else { None };
        let mut out = compare::observe(&before, seen.as_ref().map_err(|e| *e), fs, self.ctx, &mut hash);
        node.state = out.state.into();
        match out.error {
            Some(_) if node.failing() => out.error = None,
            Some(_) => node.set_failing(true),
            None => node.set_failing(false),
        }
        let stat = seen.ok();
        let first_sight = matches!(before, State::Unseen(_) | State::Absent);
        found.looked += 1;
        // Fresh timestamps teach the filesystem's granularity; any stat identifies its device.
        if let Some(s) = stat.filter(|_| first_sight || out.change.is_some()) {
            let learner = &mut found.devices.entry(s.dev).or_insert((Granularity::default(), id)).0;
            if s.kind == FileKind::File {
                learner.observe(s.mtime);
            }
        }
        let interesting = out.change.is_some()
            || out.relist
            || out.error.is_some()
            || out.ahead.is_some()
            || matches!(out.state, State::Gone | State::Vanishing(_))
            || node.dir().is_some() && stat.is_some_and(|s| s.kind != FileKind::Dir)
            || stat.is_some_and(|s| other_device(&s));
        if interesting {
            found.sightings.push(Sighting { id, before, out, stat });
        }
    }
}

/// What a sweep found: the nodes with something to act on, what was learned per device, how many nodes it looked
/// at. Folded per thread and merged, so a sweep allocates nothing per node it merely confirms.
#[derive(Default)]
pub(super) struct Found {
    pub(super) sightings: Vec<Sighting>,
    /// Per device: granularity evidence, and one node on it (to identify a filesystem seen for the first time).
    pub(super) devices: HashMap<u64, (Granularity, NodeId)>,
    pub(super) looked: usize,
}

impl Found {
    fn merge(mut self, other: Found) -> Found {
        self.looked += other.looked;
        self.sightings.extend(other.sightings);
        for (dev, (g, id)) in other.devices {
            self.devices.entry(dev).or_insert((Granularity::default(), id)).0.merge(&g);
        }
        self
    }
}

/// Looks at the `wanted` nodes of `tree` whose ids are in `range` (clamped to the arena): those on the `remote`
/// devices in the `wide` pool when there is one, the others in the current rayon pool. A sweep in parts looks at
/// one range of ids per part.
pub(super) fn sweep<V: Vfs>(
    look: &Look<'_, V>,
    tree: &mut Tree,
    range: Range<usize>,
    wanted: &(dyn Fn(&Node) -> bool + Sync),
    remote: &[u64],
    wide: Option<&ThreadPool>,
) -> Found {
    let dirs = &tree.dirs;
    let all = &mut tree.nodes.items;
    let end = range.end.min(all.len());
    let base = range.start.min(end);
    let items = &mut all[base..end];
    match wide {
        None => look_all(look, items, base, dirs, wanted),
        Some(pool) => {
            let far = |n: &Node| dirs.get(n.parent).is_some_and(|d| d.on_any(remote));
            let near = look_all(look, items, base, dirs, &|n| wanted(n) && !far(n));
            near.merge(pool.install(|| look_all(look, items, base, dirs, &|n| wanted(n) && far(n))))
        }
    }
}

/// Looks at the `wanted` nodes of `items` (a slice of the node arena starting at id `base`), in chunks over the
/// current rayon pool.
fn look_all<V: Vfs>(
    look: &Look<'_, V>,
    items: &mut [Option<Node>],
    base: usize,
    dirs: &Arena<DirNode>,
    wanted: &(dyn Fn(&Node) -> bool + Sync),
) -> Found {
    let chunk = sweep_chunk(items.len(), rayon::current_num_threads());
    // Rayon hands out chunks, not nodes: each chunk is a plain loop, so a sweep on one thread costs what a loop of
    // stats costs, and the chunks are small enough for every thread to get a share of uneven trees.
    items
        .par_chunks_mut(chunk)
        .enumerate()
        .fold(
            || (Found::default(), PathBuf::new()),
            |(mut found, mut buf), (c, slots)| {
                let first = base + c * chunk;
                // A batch of stats in a row, then the rules over the batch: measured (benches/sweep.rs), this costs
                // about 10% less CPU than judging each stat as it returns.
                let mut seen: [Option<Result<Stat, io::ErrorKind>>; BATCH] = [None; BATCH];
                for (b, batch) in slots.chunks_mut(BATCH).enumerate() {
                    for (slot, out) in batch.iter().zip(seen.iter_mut()) {
                        *out = slot.as_ref().filter(|n| wanted(n)).map(|n| look.stat(dirs, n, &mut buf));
                    }
                    for (i, (slot, out)) in batch.iter_mut().zip(seen.iter_mut()).enumerate() {
                        if let (Some(node), Some(s)) = (slot, out.take()) {
                            look.apply_rules(&mut found, dirs, (first + b * BATCH + i) as NodeId, node, s, &mut buf);
                        }
                    }
                }
                (found, buf)
            },
        )
        .map(|(found, _)| found)
        .reduce(Found::default, Found::merge)
}

/// Writes the full path of `node`, inside `parent`, into `buf`; `false` when it has none (no parent, or a name
/// the tree cannot give: neither happens in a sound tree).
fn path_of(parent: Option<&DirNode>, node: &Node, buf: &mut PathBuf) -> bool {
    match parent {
        Some(d) => node_path_into(d, node, buf),
        None => {
            debug_assert!(false, "a node whose directory is not in the tree");
            buf.clear();
            false
        }
    }
}

/// What a look at a node the tree cannot name gives: a per-path error (its last known state is kept, and it is
/// warned about), not a removal.
const UNNAMED: io::ErrorKind = io::ErrorKind::InvalidData;

/// The window assumed on a filesystem not identified yet (the first sight of a new device).
const COARSE_WINDOW: Duration = Duration::from_secs(3);

/// Nodes per parallel chunk of a sweep: about eight chunks per thread, so that a thread that finishes early (its
/// files were cheaper) takes over another's, but never so few nodes that handing a chunk out costs more than
/// its stats.
fn sweep_chunk(nodes: usize, threads: usize) -> usize {
    (nodes / (threads.max(1) * 8)).clamp(64, 4096)
}

/// Stats made in a row before their results are judged (any size from 8 to 128 measured the same).
const BATCH: usize = 32;
