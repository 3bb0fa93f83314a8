//! The poller: one [`Poller::tick`] stats every tracked path in parallel, applies the rules of
//! [`crate::compare`], re-lists the directories that need it, and returns what changed.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use filetime::FileTime;
use ignore::gitignore::Gitignore;
use rayon::prelude::*;

mod outage;

use super::wide::Wide;

use super::tree::{Arena, DirId, DirNode, Node, NodeId, Tree, node_c_name, node_name, node_path_into};
use super::warning::Warning;
use crate::change::{Change, ChangeKind, Reason};
use crate::compare::{self, Ctx, FsParams, Join, Outcome, State};
use crate::config::Config;
use crate::discover::{Filter, IgnoreScope, PatternError};
use crate::fingerprint::{Fields, FileKind, Granularity, Stat, racy_window};
use crate::time::{diff, dur, nanos};
use crate::vfs::{DirEntry, DirHandle, FsInfo, Vfs, real::RealFs};

/// What one tick found.
#[derive(Debug, Default)]
pub struct Tick {
    /// Paths that changed since the previous tick (empty on the first, which only takes the baseline).
    pub changes: Vec<Change>,
    /// Notices for the user, each reported once per episode.
    pub warnings: Vec<Warning>,
    /// Some path was missing and will be confirmed removed (or not) at the next tick: look again soon.
    pub pending: bool,
    /// How many `stat` calls the sweep made.
    pub stats: usize,
    /// How many directories were listed.
    pub listings: usize,
}

/// What stator learned about one filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsSummary {
    /// Device number.
    pub dev: u64,
    /// Filesystem type and whether it is remote.
    pub info: FsInfo,
    /// Timestamp granularity in use (learned, or the override).
    pub granularity: Duration,
    /// How many timestamps it was learned from.
    pub samples: u32,
    /// The racy window in use.
    pub window: Duration,
}

#[derive(Debug)]
struct FsState {
    info: FsInfo,
    granularity: Granularity,
    skew_warned: bool,
}

/// One interesting observation from the parallel sweep.
struct Event {
    id: NodeId,
    before: State,
    out: Outcome,
    stat: Option<Stat>,
}

/// Everything one observation needs besides the node itself; shared by the parallel sweep and the hot tier.
struct Look<'a, V> {
    vfs: &'a V,
    /// Per device (a handful): the parameters of its filesystem.
    params: Vec<(u64, FsParams)>,
    ctx: &'a Ctx,
}

impl<V: Vfs> Look<'_, V> {
    /// Stats one node: relative to its directory's handle, or by its path built into `buf`.
    fn stat(&self, dirs: &Arena<DirNode>, node: &Node, buf: &mut PathBuf) -> Result<Stat, io::ErrorKind> {
        let parent = dirs.get(node.parent);
        match parent.and_then(|d| Some((d, d.handle.as_ref()?))) {
            Some((d, handle)) => self.vfs.stat_in(handle, node_c_name(d, node)),
            None => {
                path_of(parent, node, buf);
                self.vfs.stat(buf)
            }
        }
        .map_err(|e| e.kind())
    }

    /// Stats one node, applies the rules and updates the node's state; records an event when there is something to
    /// act on.
    fn at(&self, found: &mut Found, dirs: &Arena<DirNode>, id: NodeId, node: &mut Node, buf: &mut PathBuf) {
        let seen = self.stat(dirs, node, buf);
        self.judge(found, dirs, id, node, seen, buf);
    }

    /// Applies the rules to what a stat of `node` found (see [`Look::at`]).
    fn judge(
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
        let mut hash = || {
            path_of(parent, node, buf);
            vfs.hash(buf).ok()
        };
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
            found.events.push(Event { id, before, out, stat });
        }
    }
}

/// What a sweep found: the nodes with something to act on, what was learned per device, how many nodes it looked
/// at. Folded per thread and merged, so a sweep allocates nothing per node it merely confirms.
#[derive(Default)]
struct Found {
    events: Vec<Event>,
    /// Per device: granularity evidence, and one node on it (to identify a filesystem seen for the first time).
    devices: HashMap<u64, (Granularity, NodeId)>,
    looked: usize,
}

impl Found {
    fn merge(mut self, other: Found) -> Found {
        self.looked += other.looked;
        self.events.extend(other.events);
        for (dev, (g, id)) in other.devices {
            self.devices.entry(dev).or_insert((Granularity::default(), id)).0.merge(&g);
        }
        self
    }
}

/// Looks at the `wanted` nodes of `items` (the node arena), in chunks over the current rayon pool.
fn look_all<V: Vfs>(
    look: &Look<'_, V>,
    items: &mut [Option<Node>],
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
                let first = c * chunk;
                // A batch of stats in a row, then the rules over the batch: measured (benches/sweep.rs), this costs
                // about 10% less CPU than judging each stat as it returns.
                let mut seen: [Option<Result<Stat, io::ErrorKind>>; BATCH] = [None; BATCH];
                for (b, batch) in slots.chunks_mut(BATCH).enumerate() {
                    for (slot, out) in batch.iter().zip(seen.iter_mut()) {
                        *out = slot.as_ref().filter(|n| wanted(n)).map(|n| look.stat(dirs, n, &mut buf));
                    }
                    for (i, (slot, out)) in batch.iter_mut().zip(seen.iter_mut()).enumerate() {
                        if let (Some(node), Some(s)) = (slot, out.take()) {
                            look.judge(&mut found, dirs, (first + b * BATCH + i) as NodeId, node, s, &mut buf);
                        }
                    }
                }
                (found, buf)
            },
        )
        .map(|(found, _)| found)
        .reduce(Found::default, Found::merge)
}

/// Writes the full path of `node`, inside `parent`, into `buf` (empty without a parent).
fn path_of(parent: Option<&DirNode>, node: &Node, buf: &mut PathBuf) {
    match parent {
        Some(d) => node_path_into(d, node, buf),
        None => buf.clear(),
    }
}

/// Whether directory `d` was last seen on one of the devices `devs`.
fn on_any(dirs: &Arena<DirNode>, d: DirId, devs: &[u64]) -> bool {
    dirs.get(d).and_then(|d| d.ident).is_some_and(|(dev, _)| devs.contains(&dev))
}

/// A directory's listing, and a handle on it when one was wanted and could be opened.
type Listing = (io::Result<Vec<DirEntry>>, Option<DirHandle>);

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

/// Directories read per parallel batch of listings.
const LIST_CHUNK: usize = 64;

/// At most this many paths are hot at once; beyond, changes are left to the full sweeps.
const HOT_MAX: usize = 1024;

/// The polling engine. Drive it with [`Poller::tick`]: the first call takes the baseline, every later call
/// returns what changed since the one before.
pub struct Poller<V: Vfs = RealFs> {
    vfs: V,
    cfg: Config,
    filter: Filter,
    global: Option<Gitignore>,
    tree: Tree,
    roots: Vec<NodeId>,
    fs: HashMap<u64, FsState>,
    prev_scan: Option<FileTime>,
    last_rescan: FileTime,
    ignore_warned: HashSet<String>,
    loops_warned: HashSet<PathBuf>,
    /// Recently changed nodes, with the time (ns) they stop being hot.
    hot: HashMap<NodeId, i128>,
    /// Stat errors of this tick, reported at its end, one line per directory.
    stat_errors: Vec<(DirId, PathBuf, io::ErrorKind)>,
    /// Directories whose handle turned out to be open on the directory that used to be at their path: their
    /// names are looked at again, by path or through a new handle, before the tick ends.
    restat: HashSet<DirId>,
    /// Trees whose filesystem went away (unmounted, disconnected), kept at their last known state.
    outages: outage::Outages,
    /// More threads than cores, for the files of network and FUSE filesystems.
    wide: Wide,
}

impl<V: Vfs> Poller<V> {
    /// A poller for `cfg` over `vfs`. Fails only on bad patterns; nothing is read until the first tick.
    pub fn new(cfg: Config, vfs: V) -> Result<Poller<V>, PatternError> {
        let filter = Filter::new(&cfg.filter)?;
        Ok(Poller {
            vfs,
            cfg,
            filter,
            global: None,
            tree: Tree::default(),
            roots: Vec::new(),
            fs: HashMap::new(),
            prev_scan: None,
            last_rescan: FileTime::zero(),
            ignore_warned: HashSet::new(),
            loops_warned: HashSet::new(),
            hot: HashMap::new(),
            stat_errors: Vec::new(),
            restat: HashSet::new(),
            outages: outage::Outages::default(),
            wide: Wide::default(),
        })
    }

    /// Also apply git's global excludes file (core.excludesFile), as git does.
    pub fn with_global_excludes(mut self, global: Option<Gitignore>) -> Self {
        self.global = global;
        self
    }

    /// Watches more paths from now on, as explicit paths exempt from the filters: files the child reported
    /// loading, or a dependency file's list. They join without a listing, so at the next tick each one counts as
    /// created only if its mtime is newer than the previous tick (minus the racy window): reporting a file that
    /// has not changed is never a change. A path that does not exist is watched for, and fires when it appears.
    /// Paths already watched are not added twice.
    pub fn add_paths(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        for path in paths {
            self.plant(&path, State::Unseen(Join::Unlisted));
        }
    }

    /// The filesystem and clock this poller uses.
    pub fn vfs(&self) -> &V {
        &self.vfs
    }

    /// The tracked regular files that exist, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .tree
            .nodes
            .ids()
            .filter(|&id| self.tree.nodes.get(id).is_some_and(|n| n.state.is_file()))
            .map(|id| self.tree.path(id))
            .collect();
        out.sort();
        out
    }

    /// How many regular files are watched, and how many directories are listed.
    pub fn counts(&self) -> (usize, usize) {
        let files = self.tree.nodes.items.iter().flatten().filter(|n| n.state.is_file()).count();
        let listed = self.tree.dirs.items.iter().flatten().filter(|d| d.listed).count();
        (files, listed)
    }

    /// What was learned about each filesystem seen so far.
    pub fn filesystems(&self) -> Vec<FsSummary> {
        let mut out: Vec<FsSummary> = self
            .fs
            .iter()
            .map(|(&dev, st)| {
                let granularity = self.cfg.granularity.unwrap_or(st.granularity.estimate());
                FsSummary {
                    dev,
                    info: st.info.clone(),
                    granularity,
                    samples: st.granularity.samples(),
                    window: racy_window(granularity, st.info.remote),
                }
            })
            .collect();
        out.sort_by_key(|s| s.dev);
        out
    }

    /// Looks once: the first call records the baseline and reports nothing; each later call reports the
    /// changes since the previous one.
    pub fn tick(&mut self) -> Tick {
        let scan = self.vfs.now();
        let first = self.prev_scan.is_none();
        if first {
            self.plant_roots();
        }
        let ctx = self.ctx(scan);
        let mut tick = Tick::default();
        let mut to_list = Vec::new();
        if !first {
            self.watch_mounts(&mut tick, &mut to_list);
        }

        let events = self.sweep(&ctx, false, &mut tick);
        self.apply(events, scan, &mut tick, &mut to_list);
        let rescan_due = !first && diff(scan, self.last_rescan) >= dur(self.cfg.rescan);
        if rescan_due {
            // The safety net: network filesystems cache directory attributes, some FUSE filesystems never
            // update a directory's mtime; their listings are read again now and then whatever the mtime says.
            let due = |d: &DirNode| d.node.is_some() && self.needs_rescan(d);
            to_list.extend(self.tree.dirs.ids().filter(|&d| self.tree.dirs.get(d).is_some_and(due)));
        }
        if first || rescan_due {
            self.last_rescan = scan;
        }
        while !to_list.is_empty() || !self.restat.is_empty() {
            self.list_dirs(std::mem::take(&mut to_list), first, &mut tick);
            let events = self.sweep(&ctx, true, &mut tick);
            self.apply(events, scan, &mut tick, &mut to_list);
        }
        self.report_stat_errors(&mut tick);
        if first {
            // The tree grew by doubling during the walk; most trees change little after it.
            self.tree.nodes.items.shrink_to_fit();
            self.tree.shrink_names();
        }
        self.prev_scan = Some(scan);
        tick
    }

    /// One warning per directory for this tick's stat errors, and none for a directory that could not be listed
    /// (its own warning covers the files in it: a directory without search permission fails every stat inside).
    fn report_stat_errors(&mut self, tick: &mut Tick) {
        let mut errors = std::mem::take(&mut self.stat_errors);
        errors.sort_by_key(|(dir, _, _)| *dir);
        for group in errors.chunk_by(|a, b| a.0 == b.0) {
            let (dir, path, error) = &group[0];
            let Some(parent) = self.tree.dirs.get(*dir) else { continue };
            if parent.failing {
                continue;
            }
            tick.warnings.push(match group.len() {
                1 => Warning::Unreadable { path: path.clone(), error: *error },
                count => Warning::UnreadableIn { dir: parent.path.clone(), count, error: *error },
            });
        }
    }

    fn plant_roots(&mut self) {
        for root in self.cfg.roots.clone() {
            let id = self.plant(&root, State::Unseen(Join::Baseline));
            if !self.roots.contains(&id) {
                self.roots.push(id);
            }
        }
    }

    /// Adds an explicit path (kept when it disappears, exempt from the filters) in the holder of its parent.
    fn plant(&mut self, path: &Path, state: State) -> NodeId {
        let path = normalize(path);
        let (parent, name) = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => (parent.to_path_buf(), name.to_owned()),
            _ => (PathBuf::new(), path.clone().into_os_string()),
        };
        let holder = self.tree.holder(&parent);
        self.tree.add_node(holder, &name, state, true)
    }

    fn params(&self) -> Vec<(u64, FsParams)> {
        self.fs
            .iter()
            .map(|(&dev, st)| {
                let g = self.cfg.granularity.unwrap_or(st.granularity.estimate());
                (dev, FsParams { window: racy_window(g, st.info.remote), advisory: st.info.remote })
            })
            .collect()
    }

    /// Stats every node in parallel (or only the unseen ones and those in [`Poller::restat`] directories) and
    /// applies the rules; returns the nodes with something to act on.
    fn sweep(&mut self, ctx: &Ctx, only_unseen: bool, tick: &mut Tick) -> Vec<Event> {
        let look = Look { vfs: &self.vfs, params: self.params(), ctx };
        let remote = self.remote_devices();
        let restat = std::mem::take(&mut self.restat);
        let again = |n: &Node| !restat.is_empty() && restat.contains(&n.parent);
        let tree = &mut self.tree;
        let dirs = &tree.dirs;
        let items = &mut tree.nodes.items;
        let wanted = |n: &Node| !only_unseen || n.state.is_unseen() || again(n);
        // Files on network and FUSE filesystems are looked at by the wide pool, where a stat waits on a round trip.
        let wide = self.wide.pool(!remote.is_empty());
        let found = match wide {
            None => look_all(&look, items, dirs, &wanted),
            Some(pool) => {
                let far = |n: &Node| on_any(dirs, n.parent, &remote);
                let near = look_all(&look, items, dirs, &|n| wanted(n) && !far(n));
                near.merge(pool.install(|| look_all(&look, items, dirs, &|n| wanted(n) && far(n))))
            }
        };
        self.absorb(found, tick)
    }

    /// Takes in what a sweep learned about devices (identifying new filesystems, refining granularity) and
    /// returns its events, less those inside trees whose filesystem went away.
    fn absorb(&mut self, found: Found, tick: &mut Tick) -> Vec<Event> {
        tick.stats += found.looked;
        for (dev, (granularity, id)) in found.devices {
            let vfs = &self.vfs;
            let path = self.tree.path(id);
            let fs = self.fs.entry(dev).or_insert_with(|| FsState {
                info: vfs.fs_info(&path).unwrap_or_else(|_| FsInfo::unknown()),
                granularity: Granularity::default(),
                skew_warned: false,
            });
            fs.granularity.merge(&granularity);
        }
        self.screen(found.events, tick)
    }

    /// Marks a node hot until `until` (ns): the hot tier re-checks it between full sweeps.
    fn heat(&mut self, id: NodeId, until: i128) {
        if self.hot.len() < HOT_MAX || self.hot.contains_key(&id) {
            self.hot.insert(id, until);
        }
    }

    /// How many watched directories have an open handle their files are statted through (see
    /// [`crate::vfs::handle`]).
    pub fn handles(&self) -> usize {
        self.tree.dirs.items.iter().flatten().filter(|d| d.handle.is_some()).count()
    }

    /// The devices of the network and FUSE filesystems seen so far.
    fn remote_devices(&self) -> Vec<u64> {
        self.fs.iter().filter(|(_, f)| f.info.remote).map(|(&dev, _)| dev).collect()
    }

    /// How many threads look at files on network and FUSE filesystems (`None` until one is seen; elsewhere the
    /// current rayon pool does, one thread per core by default).
    pub fn wide_threads(&self) -> Option<usize> {
        self.wide.threads()
    }

    /// How many paths the hot tier re-checks between full sweeps.
    pub fn hot_count(&self) -> usize {
        self.hot.len()
    }

    /// Looks once at the hot paths only: those that changed in the last [`Config::hot_for`] and their
    /// directories, and those waiting for a removal to be confirmed. Costs a few `stat`s, so it can run every
    /// [`Config::hot_interval`] between full sweeps: an edit to a file being worked on is seen at once. Does
    /// nothing before the baseline.
    pub fn tick_hot(&mut self) -> Tick {
        let mut tick = Tick::default();
        if self.prev_scan.is_none() {
            return tick;
        }
        let scan = self.vfs.now();
        let tree = &self.tree;
        self.hot.retain(|id, until| *until > nanos(scan) && tree.nodes.get(*id).is_some());
        if self.hot.is_empty() {
            return tick;
        }
        let ctx = self.ctx(scan);
        let look = Look { vfs: &self.vfs, params: self.params(), ctx: &ctx };
        let (nodes, dirs) = (&mut self.tree.nodes, &self.tree.dirs);
        let mut buf = PathBuf::new();
        let mut found = Found::default();
        for &id in self.hot.keys() {
            if let Some(node) = nodes.get_mut(id) {
                look.at(&mut found, dirs, id, node, &mut buf);
            }
        }
        let events = self.absorb(found, &mut tick);
        let mut to_list = Vec::new();
        self.apply(events, scan, &mut tick, &mut to_list);
        while !to_list.is_empty() || !self.restat.is_empty() {
            self.list_dirs(std::mem::take(&mut to_list), false, &mut tick);
            let events = self.sweep(&ctx, true, &mut tick);
            self.apply(events, scan, &mut tick, &mut to_list);
        }
        self.report_stat_errors(&mut tick);
        tick
    }

    fn ctx(&self, scan: FileTime) -> Ctx {
        let ignore = if self.cfg.trust_ctime { Fields::empty() } else { Fields::CTIME };
        Ctx { scan, prev_scan: self.prev_scan, ignore, hash_limit: self.cfg.hash_limit }
    }

    fn apply(&mut self, events: Vec<Event>, scan: FileTime, tick: &mut Tick, to_list: &mut Vec<DirId>) {
        let hot_until = nanos(scan) + dur(self.cfg.hot_for);
        // Removals wait until every event is reported: a removed directory's files are reported too.
        let mut gone = Vec::new();
        let mut detach = Vec::new();
        for ev in events {
            let path = self.tree.path(ev.id);
            if let Some(stat) = ev.stat {
                self.warn_skew(&path, &stat, &ev, tick);
            }
            let Some(node) = self.tree.nodes.get(ev.id) else { continue };
            if let Some(error) = ev.out.error {
                self.stat_errors.push((node.parent, path.clone(), error));
            }
            let (pinned, parent, dir) = (node.pinned(), node.parent, node.dir());
            if let Some(d) = dir {
                self.check_handle(d, &ev);
            }
            if let Some((kind, reason)) = ev.out.change {
                if is_ignore_file(&path) {
                    // The rules inside this directory and below changed: judge every name again.
                    let start = to_list.len();
                    self.tree.subtree_dirs(parent, to_list);
                    for &d in &to_list[start..] {
                        if let Some(dir) = self.tree.dirs.get_mut(d) {
                            dir.scope_stale = true;
                        }
                    }
                }
                tick.changes.push(Change { path: path.clone(), kind, reason });
                self.heat(ev.id, hot_until);
                if let Some(dir_node) = self.tree.dirs.get(parent).and_then(|d| d.node) {
                    self.heat(dir_node, hot_until);
                }
            }
            match ev.out.state {
                State::Gone if pinned => {
                    if matches!(ev.before, State::Unseen(_)) && self.roots.contains(&ev.id) {
                        tick.warnings.push(Warning::Missing { path });
                    }
                    if let Some(n) = self.tree.nodes.get_mut(ev.id) {
                        n.state = State::Absent.into();
                    }
                    detach.extend(dir);
                }
                State::Gone => gone.push(ev.id),
                State::Vanishing(_) => {
                    tick.pending = true;
                    self.heat(ev.id, hot_until);
                }
                State::Present(k) if k.fp.kind == FileKind::Dir => match (dir, ev.stat) {
                    (Some(d), Some(stat)) if ev.out.relist => {
                        // Another directory may have taken this path (rename over, rm -r and mkdir, a link
                        // retargeted): it is the one watched here now.
                        self.tree.set_ident(d, (stat.dev, stat.ino.unwrap_or(u64::from(ev.id))));
                        to_list.push(d);
                    }
                    (None, Some(_)) if ev.out.relist => self.descend(ev.id, path, &ev, tick, to_list),
                    _ => {}
                },
                // No longer a directory: what was inside it is gone.
                State::Present(_) => detach.extend(dir),
                State::Unseen(_) | State::Absent => {}
            }
        }
        for d in detach {
            self.report_removed_inside(d, tick);
            self.tree.detach_dir(d);
        }
        for id in gone {
            if let Some(d) = self.tree.nodes.get(id).and_then(|n| n.dir()) {
                self.report_removed_inside(d, tick);
            }
            self.tree.remove_node(id);
        }
    }

    /// Whether directory `dir` takes part in the periodic re-listing. On a local filesystem a change to a
    /// listing always changes the directory's ctime (and mtime), which the sweep sees, so there is nothing for a
    /// re-listing to find, and on a big tree it costs more than the sweep itself. Network, FUSE and overlay
    /// filesystems (an overlay's lower and upper layers can change behind it), filesystems stator cannot
    /// identify, and any directory when ctime is not trusted (`--no-ctime`: a directory's mtime can be set back
    /// after a change) are re-listed.
    fn needs_rescan(&self, dir: &DirNode) -> bool {
        let trusted = |dev: u64| self.fs.get(&dev).is_some_and(|f| f.info.listings_follow_ctime());
        !self.cfg.trust_ctime || !dir.ident.is_some_and(|(dev, _)| trusted(dev))
    }

    /// Drops directory `d`'s handle unless the event shows the same directory still at its path: the sweep
    /// statted its names through that handle, so they were looked at in the old directory (renamed or removed
    /// since), and are looked at again by path before the tick ends. Without this, a directory renamed within
    /// the tree would still look present at its old name, and its new name would not be descended.
    fn check_handle(&mut self, d: DirId, ev: &Event) {
        let Some(dir) = self.tree.dirs.get_mut(d) else { return };
        let Some(handle) = &dir.handle else { return };
        let same = matches!(ev.out.state, State::Present(k) if k.fp.kind == FileKind::Dir)
            && ev.stat.is_some_and(|s| s.ino.is_some_and(|ino| (s.dev, ino) == handle.ident()));
        if !same {
            dir.handle = None;
            self.restat.insert(d);
        }
    }

    /// Reports every path still known to exist inside directory `d` as removed: the directory is gone (or is a
    /// directory no longer), so they are too, even those not yet seen missing twice. Paths reported this tick
    /// already are gone from the tree or reported twice, which a [`ChangeSet`](crate::change::ChangeSet) folds.
    fn report_removed_inside(&self, d: DirId, tick: &mut Tick) {
        let mut dirs = Vec::new();
        self.tree.subtree_dirs(d, &mut dirs);
        for dir in dirs.iter().filter_map(|&d| self.tree.dirs.get(d)) {
            for &id in dir.children.iter() {
                if self.tree.nodes.get(id).is_some_and(|n| n.state.is_present() || n.state.is_vanishing()) {
                    tick.changes.push(Change {
                        path: self.tree.path(id),
                        kind: ChangeKind::Removed,
                        reason: Reason::Vanished,
                    });
                }
            }
        }
    }

    /// Warns once per filesystem about a file dated beyond the racy window in the future.
    fn warn_skew(&mut self, path: &Path, stat: &Stat, ev: &Event, tick: &mut Tick) {
        let (Some(ahead), Some(fs)) = (ev.out.ahead, self.fs.get_mut(&stat.dev)) else { return };
        if !fs.skew_warned {
            fs.skew_warned = true;
            let ahead = Duration::from_nanos(u64::try_from(ahead).unwrap_or(u64::MAX));
            tick.warnings.push(Warning::Skew { path: path.to_path_buf(), fs: fs.info.name.clone(), ahead });
        }
    }

    /// Starts watching inside directory node `id`, unless that directory is already watched (a symlink loop
    /// or an overlapping root) or the node is not somewhere stator descends.
    fn descend(&mut self, id: NodeId, path: PathBuf, ev: &Event, tick: &mut Tick, to_list: &mut Vec<DirId>) {
        let Some(stat) = ev.stat else { return };
        // A directory that did not exist (or was a file) at the previous scan had an empty listing.
        let fresh = match ev.out.change {
            Some((ChangeKind::Created, _)) => true,
            Some((_, Reason::Fields(fields))) => fields.contains(Fields::KIND),
            _ => false,
        };
        let Some(node) = self.tree.nodes.get(id) else { return };
        let Some(parent) = self.tree.dirs.get(node.parent) else { return };
        if !node.pinned() && !parent.listed {
            return;
        }
        let ident = (stat.dev, stat.ino.unwrap_or(u64::from(id)));
        if let Some(first) = self.tree.by_ident.get(&ident).and_then(|&d| self.tree.dirs.get(d)) {
            if path != first.path && path.starts_with(&first.path) {
                if self.loops_warned.insert(path.clone()) {
                    tick.warnings.push(Warning::Loop { path, first: first.path.clone() });
                }
                return;
            }
            // Already watched through another root or link: once is enough. But a directory that was just
            // renamed still has its old name on record, about to be confirmed gone: the new name takes over. The
            // old name may not have been looked at yet in this tick (a hot tick looks only at hot paths), so it
            // is looked at now: it is live only if the same directory is still there.
            let present = first.node.and_then(|n| self.tree.nodes.get(n)).is_some_and(|n| n.state.is_present());
            let still_there =
                || self.vfs.stat(&first.path).is_ok_and(|s| s.dev == ident.0 && s.ino.is_none_or(|ino| ino == ident.1));
            if present && still_there() {
                return;
            }
        }
        let (root, is_root) =
            if node.pinned() { (path, true) } else { (parent.root.clone().unwrap_or_default(), false) };
        let did = self.tree.attach_dir(id, root, is_root, fresh, ident);
        to_list.push(did);
    }

    /// Reads the listings of `dirs` (in parallel) and applies them in order, parents before children.
    fn list_dirs(&mut self, mut dirs: Vec<DirId>, first: bool, tick: &mut Tick) {
        let depth = |t: &Tree, d: DirId| t.dirs.get(d).map_or(0, |d| d.path.components().count());
        dirs.sort_unstable();
        dirs.dedup();
        dirs.retain(|&d| !self.outages.covers_dir(&self.tree, d));
        dirs.sort_by_key(|&d| depth(&self.tree, d));
        // Handles only on local filesystems: on a network mount the round trip, not the path walk, is the cost.
        let local: Vec<u64> = self.fs.iter().filter(|(_, f)| !f.info.remote).map(|(&dev, _)| dev).collect();
        let remote = self.remote_devices();
        self.wide.pool(!remote.is_empty());
        // In chunks, so that the listings held at once (every name of every directory read) stay few.
        for chunk in dirs.chunks(LIST_CHUNK) {
            let wide = self.wide.get(!remote.is_empty());
            let vfs = &self.vfs;
            let tree = &self.tree;
            let read = |dir: &DirNode| {
                let want = dir.handle.is_none() && dir.ident.is_some_and(|(dev, _)| local.contains(&dev));
                (vfs.read_dir(&dir.path), want.then(|| vfs.open_dir(&dir.path)).flatten())
            };
            let read_all = |ids: &[DirId]| -> Vec<(DirId, Listing)> {
                ids.par_iter().filter_map(|&d| tree.dirs.get(d).map(|dir| (d, read(dir)))).collect()
            };
            // Directories on network and FUSE filesystems are read by the wide pool, as their files are statted.
            let far = |d: &DirId| on_any(&tree.dirs, *d, &remote);
            let listings = match wide {
                Some(pool) if chunk.iter().any(far) => {
                    let (far, near): (Vec<DirId>, Vec<DirId>) = chunk.iter().partition(|d| far(d));
                    let mut listings = read_all(&near);
                    listings.extend(pool.install(|| read_all(&far)));
                    listings
                }
                _ => read_all(chunk),
            };
            tick.listings += listings.len();
            for (d, (listing, handle)) in listings {
                if listing.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::NotConnected) && self.cut_off(d, tick) {
                    continue;
                }
                if let Some(dir) = self.tree.dirs.get_mut(d) {
                    // Opened on the directory the last stat saw there, or not kept (it changed in between: the
                    // next sweep sees that and lists it again).
                    dir.handle = dir.handle.take().or(handle.filter(|h| Some(h.ident()) == dir.ident));
                }
                self.apply_listing(d, listing, first, tick);
            }
        }
    }

    fn apply_listing(&mut self, d: DirId, listing: io::Result<Vec<DirEntry>>, first: bool, tick: &mut Tick) {
        let Some(dir) = self.tree.dirs.get_mut(d) else { return };
        let entries = match listing {
            Ok(entries) => entries,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound && !dir.failing {
                    dir.failing = true;
                    tick.warnings.push(Warning::CannotList { path: dir.path.clone(), error: e.kind() });
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
        let scope = if rejudge { self.scope_for(d, &path, &entries, tick) } else { dir.scope.clone() };
        let mut present: hashbrown::HashSet<&OsStr> = hashbrown::HashSet::with_capacity(entries.len());
        for entry in &entries {
            present.insert(&entry.name);
            let existing = self.tree.child(d, &entry.name);
            if existing.is_some() && !rejudge {
                continue;
            }
            let abs = path.join(&entry.name);
            let is_dir = match entry.kind {
                Some(FileKind::Dir) => true,
                Some(FileKind::File | FileKind::Other) => false,
                Some(FileKind::Symlink) | None => self.vfs.stat(&abs).is_ok_and(|s| s.kind == FileKind::Dir),
            };
            let rel = abs.strip_prefix(&root).unwrap_or(Path::new(&entry.name));
            let admitted = self.filter.admits(rel, is_dir) && !scope.is_ignored(&abs, is_dir);
            match (admitted, existing) {
                (true, None) => {
                    self.tree.add_node(d, &entry.name, State::Unseen(join), false);
                }
                (false, Some(id)) if self.tree.nodes.get(id).is_some_and(|n| !n.pinned()) => {
                    self.tree.remove_node(id);
                }
                _ => {}
            }
        }
        let Some(dir) = self.tree.dirs.get_mut(d) else { return };
        dir.scope = scope;
        dir.scope_stale = false;
        dir.listed = true;
        let nodes = &self.tree.nodes;
        let gone: Vec<NodeId> = dir
            .children
            .iter()
            .copied()
            .filter(|&id| nodes.get(id).is_some_and(|n| !present.contains(node_name(dir, n))))
            .collect();
        for id in gone {
            let Some(node) = self.tree.nodes.get_mut(id) else { continue };
            match State::from(node.state) {
                State::Present(k) => {
                    node.state = State::Vanishing(k).into();
                    tick.pending = true;
                }
                State::Unseen(_) if !node.pinned() => self.tree.remove_node(id),
                _ => {}
            }
        }
    }

    /// The ignore rules inside directory `d`, given its listing.
    fn scope_for(
        &mut self,
        d: DirId,
        path: &Path,
        entries: &[DirEntry],
        tick: &mut Tick,
    ) -> std::sync::Arc<IgnoreScope> {
        if !self.cfg.filter.vcs_ignores {
            return IgnoreScope::empty();
        }
        let Some(dir) = self.tree.dirs.get(d) else { return IgnoreScope::empty() };
        let (scope, warnings) = if dir.is_root {
            IgnoreScope::for_root(&self.vfs, path, self.global.as_ref())
        } else {
            let parent = dir
                .node
                .and_then(|id| self.tree.nodes.get(id))
                .and_then(|n| self.tree.dirs.get(n.parent))
                .map(|p| p.scope.clone())
                .unwrap_or_else(IgnoreScope::empty);
            IgnoreScope::child(&parent, &self.vfs, path, entries)
        };
        for w in warnings {
            if self.ignore_warned.insert(w.clone()) {
                tick.warnings.push(Warning::IgnoreFile(w));
            }
        }
        scope
    }
}

fn is_ignore_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == ".gitignore" || n == ".ignore")
}

/// An absolute path with `.` and `..` resolved lexically, so that `./src` and `src/../src` are one root.
pub fn normalize(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
