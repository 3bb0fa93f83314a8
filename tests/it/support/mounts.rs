//! The real mounted filesystems of `../shared/testfs/`, for `testfs` (the engine scenarios on each) and
//! `torture::torture_on_each_test_mount`.
//!
//! Each filesystem is named by an environment variable that `.ci/run` sets (`STATOR_TESTFS_EXT4_1S=/mnt/...`);
//! remote-like mounts (sshfs, SMB, bindfs, overlay) also name their backing directory
//! (`STATOR_TESTFS_BINDFS_BACKING=...`), where the tests make their changes, as an editor on the host or a
//! colleague on the server would: stator watches the mount and must see them through it.
//!
//! Where a variable is unset the test is skipped by the one policy ([`super::skip`]): it says `SKIPPED` and
//! passes, except with `CI` set, where it fails: a broken mount must not pass silently.
//!
//! No test sleeps to synchronise. A test makes its change and then ticks the poller (every [`TICK`]) until the
//! expected net change set appears, within a bound that follows from the attribute-cache delay *measured* on
//! that mount when the suite starts (see [`Visibility`]), then keeps ticking for that delay again to show that
//! nothing else arrives once every cache has let the truth through.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use stator::change::{ChangeKind, ChangeSet, Reason};
use stator::config::Config;
use stator::poll::{FsSummary, Poller, Tick, Warning};
use stator::vfs::real::RealFs;

use super::{skip, wait_until};

/// How often the poller is ticked while a test waits for a state: the pacing of the wait loop.
pub(crate) const TICK: Duration = Duration::from_millis(150);

/// What stator needs on top of the cache delay to report a change: the racy window of a coarse or network
/// filesystem (3 s at most, FAT's 2 s plus the margin) covers a directory's re-listing while it is fresh, and a
/// removal is confirmed one tick after it is first missed.
pub(crate) const SETTLE: Duration = Duration::from_secs(3);

/// The longest a mount may take to show a change made behind it before the measurement gives up (the slowest
/// mount here, sshfs with its default cache, takes about 21 s).
const MEASURE_CAP: Duration = Duration::from_secs(120);

/// How often the measurement looks through the mount.
const PROBE: Duration = Duration::from_millis(20);

/// One filesystem of the matrix.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Short name, for messages.
    pub(crate) name: &'static str,
    /// The variable naming the directory stator watches (the mount point, or the share on the mount).
    pub(crate) var: &'static str,
    /// The variable naming the backing directory (server side, host side, overlay upper), for mounts where
    /// the changes are made behind stator's back.
    pub(crate) backing_var: Option<&'static str>,
    /// The timestamp granularity the filesystem really has, where the suite asserts that stator learns it (not
    /// on SMB: smbnetfs truncates utimes to whole seconds, so only the files written without setting their
    /// mtime show its 100 ns, and one of them may by chance fall on a whole microsecond).
    pub(crate) granularity: Option<Duration>,
    /// Tests on this filesystem run one at a time (fusefat's write support is fragile).
    pub(crate) serial: bool,
    /// Leave the test's files behind instead of deleting them (fusefat: fewer unlinks, fewer chances to hang;
    /// the image is thrown away with the mount).
    pub(crate) keep_files: bool,
}

/// ext4 with 128-byte inodes: whole-second timestamps. Written through the mount.
pub(crate) static EXT4_1S: Spec = Spec {
    name: "ext4-1s",
    var: "STATOR_TESTFS_EXT4_1S",
    backing_var: None,
    granularity: Some(Duration::from_secs(1)),
    serial: false,
    keep_files: false,
};

/// FAT32 through fusefat: 2 s timestamps. Written through the mount; short tests, one at a time.
pub(crate) static FAT: Spec = Spec {
    name: "fat",
    var: "STATOR_TESTFS_FAT",
    backing_var: None,
    granularity: Some(Duration::from_secs(2)),
    serial: true,
    keep_files: true,
};

/// exFAT through exfat-fuse: 1 s timestamps. Written through the mount.
pub(crate) static EXFAT: Spec = Spec {
    name: "exfat",
    var: "STATOR_TESTFS_EXFAT",
    backing_var: None,
    granularity: Some(Duration::from_secs(1)),
    serial: false,
    keep_files: false,
};

/// sshfs over loopback with a short cache (`dcache_timeout=1`, `attr_timeout=1`). Written on the server side.
pub(crate) static SSHFS: Spec = Spec {
    name: "sshfs",
    var: "STATOR_TESTFS_SSHFS",
    backing_var: Some("STATOR_TESTFS_SSHFS_BACKING"),
    granularity: Some(Duration::from_secs(1)),
    serial: false,
    keep_files: false,
};

/// sshfs over loopback with its default 20 s cache. Written on the server side.
pub(crate) static SSHFS_SLOW: Spec = Spec {
    name: "sshfs-slow",
    var: "STATOR_TESTFS_SSHFS_SLOW",
    backing_var: Some("STATOR_TESTFS_SSHFS_SLOW_BACKING"),
    granularity: Some(Duration::from_secs(1)),
    serial: false,
    keep_files: false,
};

/// An SMB share through smbnetfs. Written on the server side.
pub(crate) static SMB: Spec = Spec {
    name: "smb",
    var: "STATOR_TESTFS_SMB",
    backing_var: Some("STATOR_TESTFS_SMB_BACKING"),
    granularity: None,
    serial: false,
    keep_files: false,
};

/// bindfs, the model of a Docker Desktop bind mount. Written on the host side.
pub(crate) static BINDFS: Spec = Spec {
    name: "bindfs",
    var: "STATOR_TESTFS_BINDFS",
    backing_var: Some("STATOR_TESTFS_BINDFS_BACKING"),
    granularity: Some(Duration::from_nanos(1)),
    serial: false,
    keep_files: false,
};

/// overlayfs, the model of a container's overlay2 root. Written in the upper layer.
pub(crate) static OVERLAY: Spec = Spec {
    name: "overlay",
    var: "STATOR_TESTFS_OVERLAY",
    backing_var: Some("STATOR_TESTFS_OVERLAY_BACKING"),
    granularity: Some(Duration::from_nanos(1)),
    serial: false,
    keep_files: false,
};

static ALL: [&Spec; 8] = [&EXT4_1S, &FAT, &EXFAT, &SSHFS, &SSHFS_SLOW, &SMB, &BINDFS, &OVERLAY];

/// How long a change made on the write side takes to show through the mount, measured once per mount when the
/// first test on it starts: the caches are filled (a `stat` and a listing through the mount), then a file is
/// rewritten with another size and a new file is created on the write side, and the mount is looked at every
/// 20 ms until both show. Filling the caches first makes this the worst case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visibility {
    /// Until `stat` through the mount showed the new size.
    pub(crate) attr: Duration,
    /// Until a listing through the mount showed the new name.
    pub(crate) listing: Duration,
}

impl Visibility {
    /// The longer of the two.
    pub(crate) fn delay(&self) -> Duration {
        self.attr.max(self.listing)
    }
}

/// A filesystem of the matrix that is mounted, with its measured delay.
#[derive(Debug)]
pub(crate) struct Mount {
    /// Which filesystem.
    pub(crate) spec: &'static Spec,
    /// The directory stator watches.
    pub(crate) mnt: PathBuf,
    /// Where the tests write: the backing directory, or the mount itself.
    pub(crate) write_side: PathBuf,
    /// The measured delay.
    pub(crate) vis: Visibility,
}

impl Mount {
    /// How long a test waits for a change to be reported: a few times the measured delay (the cache may have
    /// been filled just before the change, and expire just after stator's look), plus one `rescan` period of
    /// `cfg` (a listing cached past the directory's racy window is refreshed by stator's periodic re-listing),
    /// plus [`SETTLE`].
    pub(crate) fn bound(&self, cfg: &Config) -> Duration {
        3 * self.vis.delay() + cfg.rescan + SETTLE
    }

    /// How long a test keeps ticking after the expected changes appeared, to show nothing more arrives: the
    /// measured delay (whatever a cache still held has expired by then), and at least three ticks.
    pub(crate) fn quiet(&self) -> Duration {
        self.vis.delay() + 3 * TICK
    }
}

/// Skips the calling test (see [`super::skip`]: a failure with `CI` set) because `var` is unset.
#[track_caller]
fn not_mounted(spec: &Spec, var: &str) -> Option<&'static Mount> {
    skip(&format!("{} is not mounted: {var} is not set (see the mount errors in .ci/run's output)", spec.name));
    None
}

/// The mounted filesystem `spec`, measured on first use; `None` (after printing `SKIPPED ...`) when its variable
/// is unset outside CI. Panics when it is unset in CI, or when the mount never shows a change made behind it.
#[track_caller]
pub(crate) fn mount(spec: &'static Spec) -> Option<&'static Mount> {
    static MOUNTS: [OnceLock<Result<Mount, String>>; 8] = [const { OnceLock::new() }; 8];
    let Some(mnt) = std::env::var_os(spec.var).filter(|v| !v.is_empty()) else { return not_mounted(spec, spec.var) };
    let backing = match spec.backing_var {
        Some(var) => match std::env::var_os(var).filter(|v| !v.is_empty()) {
            Some(b) => Some(PathBuf::from(b)),
            None => return not_mounted(spec, var),
        },
        None => None,
    };
    let slot = ALL.iter().position(|s| std::ptr::eq(*s, spec)).expect("a spec of the matrix");
    let result = MOUNTS[slot].get_or_init(|| {
        let mnt = PathBuf::from(mnt);
        let write_side = backing.unwrap_or_else(|| mnt.clone());
        for dir in [&mnt, &write_side] {
            if !dir.is_dir() {
                return Err(format!("{}: {} is not a directory", spec.name, dir.display()));
            }
        }
        let vis = measure(spec, &mnt, &write_side)?;
        eprintln!(
            "VISIBILITY {}: attributes {} ms, listing {} ms (worst case, caches filled first){}",
            spec.name,
            vis.attr.as_millis(),
            vis.listing.as_millis(),
            if spec.backing_var.is_some() {
                ", changes made behind the mount"
            } else {
                ", changes made through the mount"
            }
        );
        Ok(Mount { spec, mnt, write_side, vis })
    });
    match result {
        Ok(m) => Some(m),
        Err(e) => panic!("{e}"),
    }
}

/// Measures [`Visibility`] on a scratch directory, removed afterwards.
fn measure(spec: &Spec, mnt: &Path, write_side: &Path) -> Result<Visibility, String> {
    let name = format!(".stator-probe-{}", std::process::id());
    let (w, m) = (write_side.join(&name), mnt.join(&name));
    let _ = fs::remove_dir_all(&w);
    fs::create_dir(&w).map_err(|e| format!("{}: mkdir {}: {e}", spec.name, w.display()))?;
    let result = measure_in(spec, &w, &m);
    if !spec.keep_files {
        let _ = fs::remove_dir_all(&w);
    }
    result
}

fn measure_in(spec: &Spec, w: &Path, m: &Path) -> Result<Visibility, String> {
    let fail =
        |what: &str| format!("{}: {what} did not show through {} within {MEASURE_CAP:?}", spec.name, m.display());
    fs::write(w.join("f"), "a").map_err(|e| format!("{}: write: {e}", spec.name))?;
    if !wait_until(MEASURE_CAP, PROBE, || fs::metadata(m.join("f")).is_ok_and(|md| md.len() == 1)) {
        return Err(fail("a new file in a new directory"));
    }
    // Fill the caches, then change both things behind them.
    let _ = fs::metadata(m.join("f"));
    let _ = fs::read_dir(m).map(|d| d.count());
    fs::write(w.join("f"), "bbbbbb").map_err(|e| format!("{}: write: {e}", spec.name))?;
    fs::write(w.join("g"), "x").map_err(|e| format!("{}: write: {e}", spec.name))?;
    let start = Instant::now();
    let (mut attr, mut listing) = (None, None);
    wait_until(MEASURE_CAP, PROBE, || {
        if attr.is_none() && fs::metadata(m.join("f")).is_ok_and(|md| md.len() == 6) {
            attr = Some(start.elapsed());
        }
        if listing.is_none() && fs::read_dir(m).is_ok_and(|d| d.flatten().any(|e| e.file_name() == "g")) {
            listing = Some(start.elapsed());
        }
        attr.is_some() && listing.is_some()
    });
    match (attr, listing) {
        (Some(attr), Some(listing)) => Ok(Visibility { attr, listing }),
        _ => Err(fail(if attr.is_none() { "a new size" } else { "a new name" })),
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// One test's corner of a mount: `NAME/w` (watched) and `NAME/outside` (same filesystem, not watched) on the
/// write side, stator watching `NAME/w` through the mount.
pub(crate) struct Case {
    /// The mount.
    pub(crate) mount: &'static Mount,
    /// `NAME` on the write side.
    pub(crate) dir: PathBuf,
    /// The watched root, through the mount.
    pub(crate) root: PathBuf,
    /// The engine under test.
    pub(crate) poller: Poller<RealFs>,
    /// Every warning since the baseline.
    pub(crate) warnings: Vec<Warning>,
    /// The config the poller was built with.
    pub(crate) cfg: Config,
    _serial: Option<MutexGuard<'static, ()>>,
}

impl Case {
    /// A case on `mount` for test `test`: `setup` populates the watched directory on the write side (it gets
    /// that directory), `configure` adjusts the config; then the baseline is taken through the mount.
    pub(crate) fn new(
        mount: &'static Mount,
        test: &str,
        setup: impl FnOnce(&Path),
        configure: impl FnOnce(&mut Config),
    ) -> Case {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let serial = mount.spec.serial.then(|| SERIAL.lock().unwrap_or_else(|e| e.into_inner()));
        let name = format!("{test}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let dir = mount.write_side.join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("w")).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        fs::create_dir_all(dir.join("outside")).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        setup(&dir.join("w"));
        let root = mount.mnt.join(&name).join("w");
        let mut cfg = Config { roots: vec![root.clone()], ..Config::default() };
        configure(&mut cfg);
        let mut poller = Poller::new(cfg.clone(), RealFs).expect("valid patterns");
        let baseline = poller.tick();
        assert!(
            baseline.changes.is_empty(),
            "{}: the baseline reports nothing, got {:?}",
            mount.spec.name,
            baseline.changes
        );
        Case { mount, dir, root, poller, warnings: Vec::new(), cfg, _serial: serial }
    }

    /// A case with the default config.
    pub(crate) fn plain(mount: &'static Mount, test: &str, setup: impl FnOnce(&Path)) -> Case {
        Case::new(mount, test, setup, |_| {})
    }

    /// `rel` under the watched directory, on the write side: where the test makes its changes.
    pub(crate) fn w(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join("w").join(rel)
    }

    /// `rel` under the unwatched sibling directory, on the write side.
    pub(crate) fn outside(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join("outside").join(rel)
    }

    /// `rel` under the watched directory, through the mount: what stator sees.
    pub(crate) fn m(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// How long [`Case::expect`] waits.
    pub(crate) fn bound(&self) -> Duration {
        self.mount.bound(&self.cfg)
    }

    /// Ticks until the net changes since this call are exactly `want` (paths relative to the watched root)
    /// and no removal is pending, within [`Mount::bound`]; panics with what was seen otherwise. Then keeps
    /// ticking for [`Mount::quiet`] and checks that nothing else arrived. Returns the set.
    pub(crate) fn expect(&mut self, want: &[(&str, ChangeKind)]) -> ChangeSet {
        let set = self.expect_soon(want);
        let mut later = set.clone();
        let quiet = self.mount.quiet();
        let start = Instant::now();
        let mut ticks = 0;
        while ticks < 3 || start.elapsed() < quiet {
            std::thread::sleep(TICK);
            later.extend(self.tick().changes);
            ticks += 1;
        }
        assert_eq!(
            self.rel(&later),
            sorted(want),
            "{}: more changes arrived within {quiet:?} after the expected ones ({} ticks)",
            self.mount.spec.name,
            ticks
        );
        self.assert_no_warnings();
        set
    }

    /// Like [`Case::expect`] without the quiet period afterwards: returns as soon as the changes are in.
    pub(crate) fn expect_soon(&mut self, want: &[(&str, ChangeKind)]) -> ChangeSet {
        let want = sorted(want);
        let bound = self.bound();
        let start = Instant::now();
        let mut set = ChangeSet::new();
        let mut ticks = 0;
        let mut pending = false;
        let seen = wait_until(bound, TICK, || {
            let t = self.tick();
            ticks += 1;
            pending = t.pending;
            set.extend(t.changes);
            !pending && self.rel(&set) == want
        });
        if !seen {
            panic!(
                "{}: the net changes did not become {want:?} within {bound:?} ({ticks} ticks; visibility measured {:?})\n  \
                 seen: {:?}\n  pending: {pending}\n  warnings: {:?}\n  tracked: {:?}\n  the mount lists: {:?}",
                self.mount.spec.name,
                self.mount.vis,
                self.rel(&set),
                self.warnings,
                self.files(),
                list_tree(&self.root),
            );
        }
        eprintln!(
            "SEEN {}: {:?} after {} ticks ({} ms; bound {} ms)",
            self.mount.spec.name,
            want,
            ticks,
            start.elapsed().as_millis(),
            bound.as_millis()
        );
        set
    }

    /// Ticks for `span`; the net changes must stay empty (and no warning come).
    pub(crate) fn stay_quiet(&mut self, span: Duration) {
        let start = Instant::now();
        let mut set = ChangeSet::new();
        let mut ticks = 0;
        while start.elapsed() < span {
            set.extend(self.tick().changes);
            ticks += 1;
            std::thread::sleep(TICK);
        }
        assert!(
            set.is_empty(),
            "{}: an idle tree fired within {ticks} ticks: {:?}",
            self.mount.spec.name,
            self.rel(&set)
        );
        self.assert_no_warnings();
        eprintln!("QUIET {}: {ticks} idle ticks over {} ms", self.mount.spec.name, start.elapsed().as_millis());
    }

    /// One tick; its warnings are kept.
    pub(crate) fn tick(&mut self) -> Tick {
        let t = self.poller.tick();
        self.warnings.extend(t.warnings.iter().cloned());
        t
    }

    /// Panics if any warning came since the baseline.
    pub(crate) fn assert_no_warnings(&self) {
        assert!(self.warnings.is_empty(), "{}: unexpected warnings: {:?}", self.mount.spec.name, self.warnings);
    }

    /// The net changes of `set` as (path relative to the watched root, kind), in path order.
    pub(crate) fn rel(&self, set: &ChangeSet) -> Vec<(PathBuf, ChangeKind)> {
        set.iter().map(|(p, k, _)| (p.strip_prefix(&self.root).unwrap_or(p).to_path_buf(), k)).collect()
    }

    /// The single change in `set`.
    pub(crate) fn only(&self, set: &ChangeSet) -> (PathBuf, ChangeKind, Reason) {
        assert_eq!(set.len(), 1, "{}: expected exactly one change, got {set:?}", self.mount.spec.name);
        let (p, k, r) = set.iter().next().expect("one change");
        (p.to_path_buf(), k, r)
    }

    /// The tracked files, relative to the watched root.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.poller.files().iter().map(|p| p.strip_prefix(&self.root).unwrap_or(p).to_path_buf()).collect()
    }

    /// What stator learned about the filesystem of the watched root.
    pub(crate) fn summary(&self) -> FsSummary {
        let dev = fs::metadata(&self.root).unwrap_or_else(|e| panic!("stat {}: {e}", self.root.display())).dev();
        self.poller.filesystems().into_iter().find(|s| s.dev == dev).unwrap_or_else(|| {
            panic!("{}: no summary for device {dev}: {:?}", self.mount.spec.name, self.poller.filesystems())
        })
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if !self.mount.spec.keep_files {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn sorted(want: &[(&str, ChangeKind)]) -> Vec<(PathBuf, ChangeKind)> {
    let mut want: Vec<(PathBuf, ChangeKind)> = want.iter().map(|(p, k)| (PathBuf::from(p), *k)).collect();
    want.sort();
    want
}

/// Every path under `dir` (relative), for failure messages.
fn list_tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
        }
    }
    out.sort();
    out
}
