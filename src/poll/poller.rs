//! The poller: the facade over the tick pipeline (see the [module documentation](super) for the stages).

use std::collections::HashSet;
use std::io;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use filetime::FileTime;
use ignore::gitignore::Gitignore;

use super::filesystems::{Filesystems, FsSummary};
use super::hot::Hot;
use super::outage::{Outages, World};
use super::settle::Sweep;
use super::sweep::{self, Found, Look, Sighting};
use super::warning::Warning;
use super::wide::Wide;
use crate::change::{Change, ChangeKind, Reason};
use crate::compare::{Ctx, Join, State};
use crate::config::Config;
use crate::discover::PatternError;
use crate::discover::tree::{DirId, DirNode, Node, NodeId, Tree};
use crate::discover::walk::{self, Round, Walk, Walked};
use crate::fingerprint::{Fields, FileKind};
use crate::time::{diff, dur, nanos};
use crate::vfs::{Vfs, real::RealFs};

/// What one tick found.
#[derive(Debug, Default)]
pub struct Tick {
    /// Paths that changed since the previous tick. Empty on the first, which only takes the baseline, unless
    /// the command started before it ([`Poller::command_started`]): then what changed since the command started.
    pub changes: Vec<Change>,
    /// Notices for the user, each reported once per episode.
    pub warnings: Vec<Warning>,
    /// Some path was missing and will be confirmed removed (or not) at the next tick: look again soon.
    pub pending: bool,
    /// How many `stat` calls the sweep made.
    pub stats: usize,
    /// How many directories were listed.
    pub listings: usize,
    /// A full sweep in parts ([`Poller::tick_part`]) is not finished: the next part goes on from where this one
    /// stopped.
    pub more: bool,
}

/// Which nodes a sweep looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    /// Every node whose id is in the range: the full sweep, or one part of it.
    Ids(Range<usize>),
    /// Those not looked at yet (they joined with a listing, or were added as paths), and those in directories to
    /// look at again.
    Unseen,
}

/// Where a full sweep in parts stands.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// When its first part started: the sweep's scan time once it is finished.
    began: FileTime,
    /// The next node id to look at.
    next: usize,
    /// The end of the node arena when the sweep began. Nodes that join later are looked at as they join (the
    /// "sweep unseen" stage), so the sweep is finished at this id.
    end: usize,
}

/// The polling engine. Drive it with [`Poller::tick`]: the first call takes the baseline, every later call
/// returns what changed since the one before.
pub struct Poller<V: Vfs = RealFs> {
    vfs: V,
    cfg: Config,
    /// The tracked set.
    tree: Tree,
    /// Listings, descent, filters and ignore rules.
    walk: Walk,
    roots: Vec<NodeId>,
    fs: Filesystems,
    prev_scan: Option<FileTime>,
    last_rescan: FileTime,
    hot: Hot,
    /// Stat errors of this tick, reported at its end, one line per directory.
    stat_errors: Vec<(DirId, PathBuf, io::ErrorKind)>,
    /// Directories whose handle turned out to be open on the directory that used to be at their path: their
    /// names are looked at again, by path or through a new handle, before the tick ends.
    restat: HashSet<DirId>,
    /// Trees whose filesystem went away (unmounted, disconnected), kept at their last known state.
    outages: Outages,
    /// More threads than cores, for the files of network and FUSE filesystems.
    wide: Wide,
    /// The full sweep in progress, when it goes in parts.
    cursor: Option<Cursor>,
    /// Paths were added ([`Poller::add_paths`]) since the last part: a part that does not cover the whole arena
    /// also looks at them, wherever their ids are.
    planted: bool,
    /// When the command started, if it did before the baseline (see [`Poller::command_started`]).
    started: Option<FileTime>,
}

impl<V: Vfs> Poller<V> {
    /// A poller for `cfg` over `vfs`. Fails only on bad patterns; nothing is read until the first tick.
    pub fn new(cfg: Config, vfs: V) -> Result<Poller<V>, PatternError> {
        Ok(Poller {
            vfs,
            walk: Walk::new(&cfg.filter)?,
            fs: Filesystems::new(cfg.granularity),
            cfg,
            tree: Tree::default(),
            roots: Vec::new(),
            prev_scan: None,
            last_rescan: FileTime::zero(),
            hot: Hot::default(),
            stat_errors: Vec::new(),
            restat: HashSet::new(),
            outages: Outages::default(),
            wide: Wide::default(),
            cursor: None,
            planted: false,
            started: None,
        })
    }

    /// Also apply git's global excludes file (core.excludesFile), as git does.
    pub fn with_global_excludes(mut self, global: Option<Gitignore>) -> Self {
        self.walk.set_global_excludes(global);
        self
    }

    /// Watches more paths from now on, as explicit paths exempt from the filters: files the child reported
    /// loading, or a dependency file's list. They join without a listing, so at the next tick each one counts as
    /// created only if its mtime is newer than the previous tick (minus the racy window): reporting a file that
    /// has not changed is never a change. A path that does not exist is watched for, and fires when it appears.
    /// Paths already watched are not added twice, whether added before or found by the walk of a root (a
    /// project file the command reports loading keeps its one node, and one stat per sweep).
    pub fn add_paths(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        for path in paths {
            if let Some(id) = self.tree.walked(&self.roots, &normalize(&path)) {
                // Tracked already; reported from now on even if it was tracked only for its rules.
                if let Some(n) = self.tree.nodes.get_mut(id) {
                    n.set_quiet(false);
                }
                continue;
            }
            self.planted |= self.plant(&path, State::Unseen(Join::Unlisted)).is_some();
        }
    }

    /// Says that the command was started at `at`, before the baseline, `at` read from the clock file times come
    /// from ([`crate::sys::file_clock`]): the baseline (the first tick) then reports the files it finds with an
    /// mtime at or after `at` as modified, since the command may have read them before they changed. Sound only
    /// where file times come from this machine's clock at a fine granularity: see
    /// [`Poller::early_start_blocker`].
    pub fn command_started(&mut self, at: FileTime) {
        self.started = Some(at);
    }

    /// Why the command cannot start before the baseline, if it cannot: a root on a network or FUSE filesystem
    /// (its server's clock is not this machine's), on a filesystem with coarse timestamps (FAT, exFAT, HFS+), or
    /// whose own timestamps have whole seconds only (ext4 with small inodes, ext3). An edit made during the
    /// baseline is seen by its mtime only where mtimes are fine and from this clock. A root that does not exist
    /// yet blocks nothing.
    pub fn early_start_blocker(&self) -> Option<String> {
        for root in &self.cfg.roots {
            let Ok(stat) = self.vfs.stat(root) else { continue };
            let info = self.vfs.fs_info(root).unwrap_or_else(|_| crate::vfs::FsInfo::unknown());
            let shown = root.display();
            if info.remote {
                return Some(format!("{shown} is on {} (a network or FUSE filesystem)", info.name));
            }
            if COARSE_FILESYSTEMS.contains(&info.name.as_str()) {
                return Some(format!("{shown} is on {}, whose timestamps are coarse", info.name));
            }
            let whole = |t: FileTime| t.nanoseconds() == 0;
            if whole(stat.mtime) && stat.ctime.is_none_or(whole) {
                return Some(format!("{shown} has timestamps in whole seconds"));
            }
        }
        None
    }

    /// The filesystem and clock this poller uses.
    pub fn vfs(&self) -> &V {
        &self.vfs
    }

    /// The tracked regular files that exist, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        let file = |id: &NodeId| self.tree.nodes.get(*id).is_some_and(Node::is_watched_file);
        let mut out: Vec<PathBuf> = self.tree.nodes.ids().filter(file).map(|id| self.tree.path(id)).collect();
        out.sort();
        out
    }

    /// How many regular files are watched, and how many directories are listed.
    pub fn counts(&self) -> (usize, usize) {
        let files = self.tree.nodes.items.iter().flatten().filter(|n| n.is_watched_file()).count();
        let listed = self.tree.dirs.items.iter().flatten().filter(|d| d.listed).count();
        (files, listed)
    }

    /// What was learned about each filesystem seen so far.
    pub fn filesystems(&self) -> Vec<FsSummary> {
        self.fs.summaries()
    }

    /// How many watched directories have an open handle their files are statted through (see
    /// [`crate::vfs::handle`]).
    pub fn handles(&self) -> usize {
        self.tree.dirs.items.iter().flatten().filter(|d| d.handle.is_some()).count()
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

    /// Looks once: the first call records the baseline and reports nothing (but see [`Poller::command_started`]);
    /// each later call reports the changes since the previous one. A full sweep of every tracked path, in one go
    /// (a sweep in parts that was in progress starts over).
    pub fn tick(&mut self) -> Tick {
        self.restart_sweep();
        self.tick_part(usize::MAX)
    }

    /// Looks at the next `nodes` tracked paths of a full sweep in parts, beginning a sweep when none is in
    /// progress; [`Tick::more`] says the sweep is not finished. Between parts the hot tier can run
    /// ([`Poller::tick_hot`]), so that on a tree whose sweep takes seconds an edit to a recently changed file is
    /// still seen within a hot interval. Each part reports what it found at once, judged against the time the
    /// part started; the sweep's scan time, which the next sweep's "newer than the previous scan" rule uses, is
    /// when its first part started. `tick_part(usize::MAX)` is [`Poller::tick`] when no sweep is in progress.
    pub fn tick_part(&mut self, nodes: usize) -> Tick {
        let scan = self.vfs.now();
        let first = self.prev_scan.is_none();
        let ctx = self.ctx(scan);
        let mut tick = Tick::default();
        let mut to_list = Vec::new();
        let begin = self.cursor.is_none();
        let cursor = match self.cursor {
            Some(c) => c,
            None => {
                if first {
                    self.plant_roots();
                } else {
                    self.watch_mounts(&mut tick, &mut to_list);
                }
                Cursor { began: scan, next: 0, end: self.tree.nodes.items.len() }
            }
        };
        let stop = cursor.next.saturating_add(nodes.max(1)).min(cursor.end);
        let whole = cursor.next == 0 && stop == cursor.end;
        let seen = self.sweep(&ctx, Wanted::Ids(cursor.next..stop), &mut tick);
        self.apply(seen, scan, &mut tick, &mut to_list);
        if std::mem::take(&mut self.planted) && !whole {
            // Added paths whose ids this part did not cover: looked at now, not when the cursor gets there.
            let seen = self.sweep(&ctx, Wanted::Unseen, &mut tick);
            self.apply(seen, scan, &mut tick, &mut to_list);
        }
        if begin {
            self.rescan_if_due(scan, first, &mut to_list);
        }
        self.list_and_sweep_unseen(&ctx, first, to_list, &mut tick);
        self.report_stat_errors(&mut tick);
        if stop < cursor.end {
            self.cursor = Some(Cursor { next: stop, ..cursor });
            tick.more = true;
            return tick;
        }
        self.cursor = None;
        if first {
            // The tree grew by doubling during the walk; most trees change little after it.
            self.tree.nodes.items.shrink_to_fit();
            self.tree.shrink_names();
        }
        self.prev_scan = Some(cursor.began);
        tick
    }

    /// One look of `kind`, as [`Cadence`](super::Cadence) says: a full sweep beginning (again), in parts of
    /// `nodes` (`usize::MAX`: in one look), the next part of the sweep in progress, or a hot tick.
    pub fn look(&mut self, kind: Sweep, nodes: usize) -> Tick {
        match kind {
            Sweep::Full => {
                self.restart_sweep();
                self.tick_part(nodes)
            }
            Sweep::Part => self.tick_part(nodes),
            Sweep::Hot => self.tick_hot(),
        }
    }

    /// Drops the full sweep in progress, if any: the next [`Poller::tick_part`] begins a new one. What the parts
    /// so far found was reported; the paths they did not reach are looked at by the new sweep.
    pub fn restart_sweep(&mut self) {
        self.cursor = None;
    }

    /// Whether a full sweep in parts is in progress.
    pub fn sweeping(&self) -> bool {
        self.cursor.is_some()
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
        self.hot.cool(nanos(scan), &self.tree);
        if self.hot.len() == 0 {
            return tick;
        }
        let ctx = self.ctx(scan);
        let look = Look { vfs: &self.vfs, params: self.fs.params(), ctx: &ctx };
        let found = self.hot.look(&look, &mut self.tree);
        let seen = self.absorb(found, &mut tick);
        let mut to_list = Vec::new();
        self.apply(seen, scan, &mut tick, &mut to_list);
        self.list_and_sweep_unseen(&ctx, false, to_list, &mut tick);
        self.report_stat_errors(&mut tick);
        tick
    }

    /// Stage "plant roots" (first tick only): each configured root joins the tree as an explicit path.
    fn plant_roots(&mut self) {
        for root in self.cfg.roots.clone() {
            let Some(id) = self.plant(&root, State::Unseen(Join::Baseline)) else { continue };
            if !self.roots.contains(&id) {
                self.roots.push(id);
            }
        }
    }

    /// Adds an explicit path (kept when it disappears, exempt from the filters) in the holder of its parent; `None`
    /// for a path no filesystem can have (a NUL in it).
    fn plant(&mut self, path: &Path, state: State) -> Option<NodeId> {
        let path = normalize(path);
        let (parent, name) = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => (parent.to_path_buf(), name.to_owned()),
            _ => (PathBuf::new(), path.clone().into_os_string()),
        };
        let holder = self.tree.holder(&parent);
        self.tree.add_node(holder, &name, state, true)
    }

    /// Stage "watch mounts" (full ticks but the first): see [`super::outage`].
    fn watch_mounts(&mut self, tick: &mut Tick, to_list: &mut Vec<DirId>) {
        let mut w = World { tree: &mut self.tree, vfs: &self.vfs, fs: &mut self.fs, warnings: &mut tick.warnings };
        self.outages.watch_mounts(&mut w, &self.roots, to_list);
    }

    /// Stage "sweep": stats the `Wanted` nodes in parallel (every node, for a full sweep in one go) and applies
    /// the rules; returns the nodes with something to act on.
    fn sweep(&mut self, ctx: &Ctx, only: Wanted, tick: &mut Tick) -> Vec<Sighting> {
        let look = Look { vfs: &self.vfs, params: self.fs.params(), ctx };
        let remote = self.fs.remote();
        // Directories to look at again are drained by the "sweep unseen" stage that follows whatever filled them,
        // so a tick begins with none: a range needs no exception for them.
        let (range, all, restat) = match only {
            Wanted::Ids(range) => (range, true, HashSet::new()),
            Wanted::Unseen => (0..usize::MAX, false, std::mem::take(&mut self.restat)),
        };
        let again = |n: &Node| !restat.is_empty() && restat.contains(&n.parent);
        let wanted = |n: &Node| all || n.state.is_unseen() || again(n);
        // Files on network and FUSE filesystems are looked at by the wide pool, where a stat waits on a round trip.
        let wide = self.wide.pool(!remote.is_empty());
        let found = sweep::sweep(&look, &mut self.tree, range, &wanted, &remote, wide);
        self.absorb(found, tick)
    }

    /// Takes in what a sweep learned about devices (identifying new filesystems, refining granularity) and
    /// returns its sightings, less those inside trees whose filesystem went away.
    fn absorb(&mut self, found: Found, tick: &mut Tick) -> Vec<Sighting> {
        tick.stats += found.looked;
        self.fs.learn(&self.vfs, &self.tree, found.devices);
        let mut w = World { tree: &mut self.tree, vfs: &self.vfs, fs: &mut self.fs, warnings: &mut tick.warnings };
        self.outages.screen(&mut w, found.sightings)
    }

    /// Stage "apply": reports the changes, heats them, and acts on what the sweep saw: directories to list or to
    /// descend into, removals, stat errors, ignore files that changed.
    fn apply(&mut self, seen: Vec<Sighting>, scan: FileTime, tick: &mut Tick, to_list: &mut Vec<DirId>) {
        let hot_until = nanos(scan) + dur(self.cfg.hot_for);
        // Removals wait until every sighting is reported: a removed directory's files are reported too.
        let mut gone = Vec::new();
        let mut detach = Vec::new();
        for ev in seen {
            let path = self.tree.path(ev.id);
            if let (Some(stat), Some(ahead)) = (ev.stat, ev.out.ahead)
                && let Some(fs) = self.fs.first_skew(stat.dev)
            {
                let ahead = std::time::Duration::from_nanos(u64::try_from(ahead).unwrap_or(u64::MAX));
                tick.warnings.push(Warning::Skew { path: path.clone(), fs, ahead });
            }
            let Some(node) = self.tree.nodes.get(ev.id) else { continue };
            if let Some(error) = ev.out.error {
                self.stat_errors.push((node.parent, path.clone(), error));
            }
            let (pinned, quiet, parent, dir) = (node.pinned(), node.quiet(), node.parent, node.dir());
            if let Some(d) = dir {
                self.check_handle(d, &ev);
            }
            if let Some((kind, reason)) = ev.out.change {
                if walk::is_ignore_file(&path) {
                    // The rules of the directories it rules changed: judge their names again.
                    walk::rules_changed(&mut self.tree, parent, &path, quiet, to_list);
                }
                if !quiet {
                    tick.changes.push(Change { path: path.clone(), kind, reason });
                }
                self.hot.heat(ev.id, hot_until);
                if let Some(dir_node) = self.tree.dirs.get(parent).and_then(|d| d.node) {
                    self.hot.heat(dir_node, hot_until);
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
                    self.hot.heat(ev.id, hot_until);
                }
                State::Present(k) if k.fp.kind == FileKind::Dir => match (dir, ev.stat) {
                    (Some(d), Some(stat)) if ev.out.relist => {
                        // Another directory may have taken this path (rename over, rm -r and mkdir, a link
                        // retargeted): it is the one watched here now.
                        self.tree.set_ident(d, (stat.dev, stat.ino.unwrap_or(u64::from(ev.id))));
                        to_list.push(d);
                    }
                    (None, Some(stat)) if ev.out.relist => {
                        match self.walk.descend(&mut self.tree, &self.vfs, ev.id, path, stat, ev.out.change) {
                            Ok(new) => to_list.extend(new),
                            Err(notice) => tick.warnings.push(notice.into()),
                        }
                    }
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

    /// The safety net, once per [`Config::rescan`]: network filesystems cache directory attributes, some FUSE
    /// filesystems never update a directory's mtime; their listings are read again now and then whatever the
    /// mtime says.
    fn rescan_if_due(&mut self, scan: FileTime, first: bool, to_list: &mut Vec<DirId>) {
        let due = !first && diff(scan, self.last_rescan) >= dur(self.cfg.rescan);
        if due {
            let needs = |d: &DirNode| d.node.is_some() && self.needs_rescan(d);
            to_list.extend(self.tree.dirs.ids().filter(|&d| self.tree.dirs.get(d).is_some_and(needs)));
        }
        if first || due {
            self.last_rescan = scan;
        }
    }

    /// Whether directory `dir` takes part in the periodic re-listing. On a local filesystem a change to a
    /// listing always changes the directory's ctime (and mtime), which the sweep sees, so there is nothing for a
    /// re-listing to find, and on a big tree it costs more than the sweep itself. Network, FUSE and overlay
    /// filesystems (an overlay's lower and upper layers can change behind it), filesystems stator cannot
    /// identify, and any directory when ctime is not trusted (`--no-ctime`: a directory's mtime can be set back
    /// after a change) are re-listed.
    fn needs_rescan(&self, dir: &DirNode) -> bool {
        !self.cfg.trust_ctime || !dir.ident.is_some_and(|(dev, _)| self.fs.listings_follow_ctime(dev))
    }

    /// Stages "list dirs" and "sweep unseen", until neither leaves anything to do: lists `to_list` (skipping
    /// offline trees), looks at the names that joined and at those to look at again, applies what that found
    /// (which may give more directories to list: new ones inside new ones).
    fn list_and_sweep_unseen(&mut self, ctx: &Ctx, first: bool, mut to_list: Vec<DirId>, tick: &mut Tick) {
        while !to_list.is_empty() || !self.restat.is_empty() {
            let mut dirs = std::mem::take(&mut to_list);
            dirs.retain(|&d| !self.outages.covers_dir(&self.tree, d));
            let (local, remote) = (self.fs.local(), self.fs.remote());
            let round = Round { first, local: &local, remote: &remote, wide: self.wide.pool(!remote.is_empty()) };
            let mut walked = Walked::default();
            let (outages, fs, vfs, warnings) = (&mut self.outages, &mut self.fs, &self.vfs, &mut tick.warnings);
            let mut cut_off = |tree: &mut Tree, d: DirId| outages.cut_off(&mut World { tree, vfs, fs, warnings }, d);
            self.walk.list(&mut self.tree, &self.vfs, dirs, &round, &mut walked, &mut cut_off);
            tick.listings += walked.listings;
            tick.pending |= walked.pending;
            tick.warnings.extend(walked.notices.into_iter().map(Warning::from));
            let seen = self.sweep(ctx, Wanted::Unseen, tick);
            self.apply(seen, ctx.scan, tick, &mut to_list);
        }
    }

    /// Stage "report": one warning per directory for this tick's stat errors, and none for a directory that could
    /// not be listed (its own warning covers the files in it: a directory without search permission fails every
    /// stat inside).
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

    fn ctx(&self, scan: FileTime) -> Ctx {
        let ignore = if self.cfg.trust_ctime { Fields::empty() } else { Fields::CTIME };
        let started = self.started.filter(|_| self.prev_scan.is_none());
        Ctx { scan, prev_scan: self.prev_scan, ignore, hash_limit: self.cfg.hash_limit, started }
    }

    /// Drops directory `d`'s handle unless the sighting shows the same directory still at its path: the sweep
    /// statted its names through that handle, so they were looked at in the old directory (renamed or removed
    /// since), and are looked at again by path before the tick ends. Without this, a directory renamed within
    /// the tree would still look present at its old name, and its new name would not be descended.
    fn check_handle(&mut self, d: DirId, ev: &Sighting) {
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
        for id in self.tree.present_below(d) {
            tick.changes.push(Change { path: self.tree.path(id), kind: ChangeKind::Removed, reason: Reason::Vanished });
        }
    }
}

/// Filesystems whose file times are too coarse for an edit during the baseline to show in its mtime.
const COARSE_FILESYSTEMS: [&str; 5] = ["vfat", "msdos", "exfat", "hfs", "hfsplus"];

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
