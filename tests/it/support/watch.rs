//! The engine on a real temporary directory: [`Watch`], a poller with its baseline taken.
//!
//! Nothing here waits for the clock: [`Poller::tick`] is synchronous, so a test makes a change on disk and then
//! ticks; timestamps that matter are set with [`super::set_mtime`] rather than slept for.

use std::path::{Path, PathBuf};

use stator::change::{ChangeKind, ChangeSet};
use stator::config::Config;
use stator::poll::{Poller, Tick, Warning};
use stator::vfs::real::RealFs;
use tempfile::TempDir;

/// How many ticks [`Watch::settle`] takes: a removal is confirmed on the second tick after it happened, and a
/// directory whose listing changed is re-read once more while its mtime is fresh.
pub(crate) const SETTLE_TICKS: usize = 3;

/// A poller over a fresh temporary directory (the watched root unless the config says otherwise), with the
/// baseline already taken.
pub(crate) struct Watch {
    /// The temporary directory; removed when the watch is dropped.
    pub(crate) dir: TempDir,
    /// The engine under test.
    pub(crate) poller: Poller<RealFs>,
    /// What the baseline tick returned (its changes are asserted empty).
    pub(crate) baseline: Tick,
}

impl Watch {
    /// Watches the temporary directory itself, after `setup` has populated it.
    pub(crate) fn new(setup: impl FnOnce(&Path)) -> Watch {
        Watch::with_config(setup, |_, _| {})
    }

    /// Like [`Watch::new`], letting `configure` adjust the config (roots default to the temporary directory).
    pub(crate) fn with_config(setup: impl FnOnce(&Path), configure: impl FnOnce(&Path, &mut Config)) -> Watch {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        setup(dir.path());
        let mut cfg = Config { roots: vec![dir.path().to_path_buf()], ..Config::default() };
        configure(dir.path(), &mut cfg);
        let mut poller = Poller::new(cfg, RealFs).expect("valid patterns");
        let baseline = poller.tick();
        assert!(baseline.changes.is_empty(), "the baseline reports nothing, got {:?}", baseline.changes);
        Watch { dir, poller, baseline }
    }

    /// The temporary directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` under the temporary directory.
    pub(crate) fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// One tick.
    pub(crate) fn tick(&mut self) -> Tick {
        self.poller.tick()
    }

    /// Ticks [`SETTLE_TICKS`] times and folds what they report into one change set.
    pub(crate) fn settle(&mut self) -> ChangeSet {
        self.settle_with_warnings().0
    }

    /// Like [`Watch::settle`], also returning every warning the ticks gave.
    pub(crate) fn settle_with_warnings(&mut self) -> (ChangeSet, Vec<Warning>) {
        let mut set = ChangeSet::new();
        let mut warnings = Vec::new();
        for _ in 0..SETTLE_TICKS {
            let t = self.poller.tick();
            set.extend(t.changes);
            warnings.extend(t.warnings);
        }
        (set, warnings)
    }

    /// The net changes of `set` as `(path relative to the temporary directory, kind)`, in path order.
    pub(crate) fn rel(&self, set: &ChangeSet) -> Vec<(PathBuf, ChangeKind)> {
        set.iter().map(|(p, k, _)| (self.relative(p), k)).collect()
    }

    /// `p` relative to the temporary directory (panics if it is not under it).
    pub(crate) fn relative(&self, p: &Path) -> PathBuf {
        p.strip_prefix(self.root())
            .unwrap_or_else(|_| panic!("{} is not under {}", p.display(), self.root().display()))
            .to_path_buf()
    }

    /// Asserts that `set` holds exactly `want`, paths relative to the temporary directory, in path order.
    pub(crate) fn expect(&self, set: &ChangeSet, want: &[(&str, ChangeKind)]) {
        let mut want: Vec<(PathBuf, ChangeKind)> = want.iter().map(|(p, k)| (PathBuf::from(p), *k)).collect();
        want.sort();
        assert_eq!(self.rel(set), want, "net changes under {}", self.root().display());
    }

    /// The tracked files, relative to the temporary directory.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.poller.files().iter().map(|p| self.relative(p)).collect()
    }
}
