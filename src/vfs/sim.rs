//! A simulated filesystem with a controllable clock, for tests of the detection rules on filesystems that cannot
//! be mounted here (HFS+, FAT rounding, NTFS ticks, skewed server clocks).
//!
//! Mounts can be simulated too: a subtree on a device of its own ([`SimFs::mount`]), unmounted and mounted again
//! ([`SimFs::unmount`], [`SimFs::remount`]), or not answering at all, as a FUSE filesystem whose daemon died
//! ([`SimFs::set_error_below`]).
//!
//! Directory handles are simulated as the real ones behave ([`Vfs::open_dir`], [`Vfs::stat_in`]): a handle
//! carries the directory's device and inode and follows that directory, not its path (renamed, it looks in the new
//! place; removed, it finds nothing; unmounted lazily, it still reaches the files that went away), so the engine
//! takes the same path through handles here as on a real local disk. [`Counters::stats_in`] counts those stats.
//!
//! Timestamps are stamped the way the profile says: the writer's clock (this machine's clock plus the profile's
//! skew) is cut to a tick, rounded down or up, and expressed in the filesystem's unit.
//!
//! ```
//! use std::time::Duration;
//! use stator::vfs::{Vfs, sim::{self, Profile, SimFs}};
//!
//! let fs = SimFs::new(Profile::hfs_plus());
//! fs.write("/p/a.txt", b"one");
//! fs.advance(Duration::from_millis(300));
//! fs.write("/p/a.txt", b"two");
//! // Both writes fell in the same second: HFS+ cannot tell them apart by mtime.
//! // `sim::path`: `/p/a.txt` on Unix, `C:\p\a.txt` on Windows, as `fs.write` took it.
//! assert_eq!(fs.stat(&sim::path("/p/a.txt")).unwrap().mtime.nanoseconds(), 0);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, OsStr};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use filetime::FileTime;
use xxhash_rust::xxh3::xxh3_64;

use super::handle::Inner;
use super::{DirEntry, DirHandle, FsInfo, Vfs};
use crate::fingerprint::{FileKind, Stat};
use crate::time::{from_nanos, nanos};

/// How a simulated filesystem stamps times.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The filesystem's reported type.
    pub info: FsInfo,
    /// The clock tick the writer stamps from (1 ns for a fine clock, 1 s for HFS+).
    pub tick: Duration,
    /// Where tick boundaries fall, relative to the epoch (NTFS ticks are not aligned to round numbers).
    pub phase: Duration,
    /// Whether a time is rounded up to the next tick (FAT) instead of down.
    pub round_up: bool,
    /// The writer's clock minus this machine's clock, in nanoseconds (a server an hour ahead: `3600e9`).
    pub skew_ns: i128,
    /// Whether the filesystem keeps a ctime distinct from mtime (FAT does not).
    pub has_ctime: bool,
}

impl Profile {
    /// A local filesystem with nanosecond timestamps (ext4, APFS).
    pub fn fine() -> Profile {
        Profile {
            info: FsInfo { name: "ext4".into(), remote: false },
            tick: Duration::from_nanos(1),
            phase: Duration::ZERO,
            round_up: false,
            skew_ns: 0,
            has_ctime: true,
        }
    }

    /// HFS+: whole seconds, rounded down.
    pub fn hfs_plus() -> Profile {
        Profile { info: FsInfo { name: "hfs".into(), remote: false }, tick: Duration::from_secs(1), ..Profile::fine() }
    }

    /// FAT: two-second steps, rounded *up*, so a fresh file is dated up to 2 s in the future; no ctime.
    pub fn fat() -> Profile {
        Profile {
            info: FsInfo { name: "vfat".into(), remote: false },
            tick: Duration::from_secs(2),
            round_up: true,
            has_ctime: false,
            ..Profile::fine()
        }
    }

    /// NTFS: 100 ns units, but stamped from a 15.625 ms system tick whose boundaries are not round numbers, and
    /// rounded up, so a fresh mtime is slightly ahead of this machine's clock.
    pub fn ntfs() -> Profile {
        Profile {
            info: FsInfo { name: "ntfs".into(), remote: false },
            tick: Duration::from_micros(15_625),
            phase: Duration::from_nanos(3_700),
            round_up: true,
            ..Profile::fine()
        }
    }

    /// A network share whose server clock is `skew_secs` ahead of (or, negative, behind) this machine, stamping
    /// whole seconds like SFTP v3, with identity and ctime that mean little.
    pub fn skewed_server(skew_secs: i64) -> Profile {
        Profile {
            info: FsInfo { name: "nfs".into(), remote: true },
            tick: Duration::from_secs(1),
            skew_ns: i128::from(skew_secs) * 1_000_000_000,
            ..Profile::fine()
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    kind: FileKind,
    data: Vec<u8>,
    mtime: i128,
    ctime: i128,
    ino: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
/// How often each operation was called: lets tests assert that ignored trees cost nothing and that only racy
/// files are hashed.
pub struct Counters {
    /// Calls to `stat`, and to `stat_in`.
    pub stats: u64,
    /// Of those, calls to `stat_in` (through a directory handle, as the sweep does on local filesystems).
    pub stats_in: u64,
    /// Calls to `read_dir`.
    pub read_dirs: u64,
    /// Calls to `hash`.
    pub hashes: u64,
    /// Calls to `read_small` (ignore files).
    pub reads: u64,
}

/// A filesystem mounted inside the simulation, at a path of its own.
#[derive(Debug)]
struct SimMount {
    dev: u64,
    info: FsInfo,
    /// Its files while it is unmounted (the mount point included); `None` while mounted.
    away: Option<BTreeMap<PathBuf, Node>>,
}

#[derive(Debug)]
struct State {
    clock: i128,
    nodes: BTreeMap<PathBuf, Node>,
    errors: HashMap<PathBuf, io::ErrorKind>,
    /// Errors for a path and everything below it (a dead FUSE daemon: ENOTCONN for the whole mount).
    errors_below: HashMap<PathBuf, io::ErrorKind>,
    mounts: BTreeMap<PathBuf, SimMount>,
    /// Filesystems unmounted and then covered by another mount at the same place: reachable only through
    /// handles opened before (as after `umount -l`).
    detached: Vec<SimMount>,
    next_ino: u64,
    counters: Counters,
}

/// A simulated filesystem; see the module documentation.
#[derive(Debug)]
pub struct SimFs {
    profile: Profile,
    state: Mutex<State>,
}

/// A path of the simulated tree from its Unix spelling: `/w/a.rs` as it is on Unix, `C:\w\a.rs` on Windows, where
/// a path without a drive is not absolute (`std::path::absolute` would put the current drive before it, as the
/// poller does with its roots). Anything else is returned as it is.
///
/// [`SimFs`]'s own methods (`write`, `mkdir`, `rename`...) take paths through this, so a test builds the same tree
/// on every platform from the same strings; give the roots of a [`Config`](crate::config::Config) and the paths a
/// test expects through it too, and compare `Path`s, not strings. The [`Vfs`] methods take paths as they are.
pub fn path(unix: impl AsRef<Path>) -> PathBuf {
    let unix = unix.as_ref();
    #[cfg(windows)]
    if let Some(s) = unix.to_str()
        && s.starts_with('/')
    {
        return PathBuf::from(format!("C:{}", s.replace('/', "\\")));
    }
    unix.to_path_buf()
}

/// A start time for simulations: 2026-01-01T00:00:00.25Z, deliberately not on a second boundary.
const START: i128 = 1_767_225_600_250_000_000;

impl SimFs {
    /// An empty filesystem (just `/`, `C:\` on Windows) whose clock starts at a fixed date.
    pub fn new(profile: Profile) -> SimFs {
        let fs = SimFs {
            profile,
            state: Mutex::new(State {
                clock: START,
                nodes: BTreeMap::new(),
                errors: HashMap::new(),
                errors_below: HashMap::new(),
                mounts: BTreeMap::new(),
                detached: Vec::new(),
                next_ino: 2,
                counters: Counters::default(),
            }),
        };
        let mut st = fs.lock();
        let stamp = fs.stamp(st.clock);
        st.nodes.insert(path("/"), Node { kind: FileKind::Dir, data: Vec::new(), mtime: stamp, ctime: stamp, ino: 1 });
        drop(st);
        fs
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has already failed; keep going with its state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The timestamp the filesystem would give a write happening at `clock` (this machine's time).
    fn stamp(&self, clock: i128) -> i128 {
        let p = &self.profile;
        let t = clock + p.skew_ns;
        let tick = p.tick.as_nanos() as i128;
        let phase = p.phase.as_nanos() as i128;
        let k = (t - phase).div_euclid(tick);
        let down = phase + k * tick;
        if p.round_up && down != t { down + tick } else { down }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.lock().clock += by.as_nanos() as i128;
    }

    /// How often each call was made so far.
    pub fn counters(&self) -> Counters {
        self.lock().counters
    }

    /// Makes every call on `path` fail with `kind` (e.g. `PermissionDenied`), or succeed again with `None`.
    pub fn set_error(&self, at: impl AsRef<Path>, kind: Option<io::ErrorKind>) {
        let at = path(at);
        let mut st = self.lock();
        match kind {
            Some(k) => st.errors.insert(at, k),
            None => st.errors.remove(&at),
        };
    }

    fn touch_parent(&self, st: &mut State, path: &Path) {
        let stamp = self.stamp(st.clock);
        if let Some(parent) = path.parent().and_then(|p| st.nodes.get_mut(p)) {
            parent.mtime = stamp;
            parent.ctime = stamp;
        }
    }

    fn ensure_parents(&self, st: &mut State, path: &Path) {
        let missing: Vec<PathBuf> =
            path.ancestors().skip(1).filter(|a| !st.nodes.contains_key(*a)).map(Path::to_path_buf).collect();
        for dir in missing.into_iter().rev() {
            self.insert(st, &dir, FileKind::Dir, Vec::new());
        }
    }

    fn insert(&self, st: &mut State, path: &Path, kind: FileKind, data: Vec<u8>) {
        let stamp = self.stamp(st.clock);
        let ino = st.next_ino;
        st.next_ino += 1;
        st.nodes.insert(path.to_path_buf(), Node { kind, data, mtime: stamp, ctime: stamp, ino });
        self.touch_parent(st, path);
    }

    /// Creates a directory and any missing parents.
    pub fn mkdir(&self, at: impl AsRef<Path>) {
        let path = &path(at);
        let mut st = self.lock();
        self.ensure_parents(&mut st, path);
        if !st.nodes.contains_key(path) {
            self.insert(&mut st, path, FileKind::Dir, Vec::new());
        }
    }

    /// Writes a file in place (creating it and its parents if needed), stamping mtime and ctime now.
    pub fn write(&self, at: impl AsRef<Path>, data: &[u8]) {
        let path = &path(at);
        let mut st = self.lock();
        self.ensure_parents(&mut st, path);
        let stamp = self.stamp(st.clock);
        match st.nodes.get_mut(path) {
            Some(node) => {
                node.data = data.to_vec();
                node.mtime = stamp;
                node.ctime = stamp;
            }
            None => self.insert(&mut st, path, FileKind::File, data.to_vec()),
        }
    }

    /// Sets a file's mtime, as `touch -d` or `cp -p` do; ctime becomes now.
    pub fn set_mtime(&self, at: impl AsRef<Path>, mtime: FileTime) {
        let at = path(at);
        let mut st = self.lock();
        let stamp = self.stamp(st.clock);
        if let Some(node) = st.nodes.get_mut(&at) {
            node.mtime = nanos(mtime);
            node.ctime = stamp;
        }
    }

    /// Removes a file or a whole directory tree.
    pub fn remove(&self, at: impl AsRef<Path>) {
        let path = &path(at);
        let mut st = self.lock();
        st.nodes.retain(|p, _| !p.starts_with(path));
        self.touch_parent(&mut st, path);
    }

    /// Renames a file or directory tree over `to` (replacing it), keeping mtimes and identities, as `rename(2)`.
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) {
        let (from, to) = (path(from), path(to));
        let (from, to) = (from.as_path(), to.as_path());
        let mut st = self.lock();
        self.ensure_parents(&mut st, to);
        st.nodes.retain(|p, _| !p.starts_with(to));
        let moved: Vec<PathBuf> = st.nodes.keys().filter(|p| p.starts_with(from)).cloned().collect();
        let stamp = self.stamp(st.clock);
        for old in moved {
            if let Some(mut node) = st.nodes.remove(&old) {
                if old == from {
                    node.ctime = stamp;
                }
                let rest = old.strip_prefix(from).map(Path::to_path_buf).unwrap_or_default();
                st.nodes.insert(if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) }, node);
            }
        }
        self.touch_parent(&mut st, from);
        self.touch_parent(&mut st, to);
    }

    /// Makes every call on `path` and on everything below it fail with `kind` (`NotConnected` for a FUSE
    /// filesystem whose daemon died), or succeed again with `None`.
    pub fn set_error_below(&self, at: impl AsRef<Path>, kind: Option<io::ErrorKind>) {
        let at = path(at);
        let mut st = self.lock();
        match kind {
            Some(k) => st.errors_below.insert(at, k),
            None => st.errors_below.remove(&at),
        };
    }

    /// Makes the tree at `at` (created if missing) a filesystem of its own, with device `dev` and type `info`.
    pub fn mount(&self, at: impl AsRef<Path>, dev: u64, info: FsInfo) {
        let at = &path(at);
        self.mkdir(at);
        let mut st = self.lock();
        if let Some(old) = st.mounts.insert(at.to_path_buf(), SimMount { dev, info, away: None })
            && old.away.is_some()
        {
            st.detached.push(old);
        }
    }

    /// Unmounts the filesystem at `at`: its files go away with it, and the directory underneath (empty, on the
    /// parent's device) shows through.
    pub fn unmount(&self, at: impl AsRef<Path>) {
        let at = &path(at);
        let mut st = self.lock();
        let away: BTreeMap<PathBuf, Node> =
            st.nodes.iter().filter(|(p, _)| p.starts_with(at)).map(|(p, n)| (p.clone(), n.clone())).collect();
        st.nodes.retain(|p, _| !p.starts_with(at));
        if let Some(m) = st.mounts.get_mut(at) {
            m.away = Some(away);
        }
        let ino = st.next_ino;
        st.next_ino += 1;
        let stamp = self.stamp(st.clock - 3_600_000_000_000);
        st.nodes
            .insert(at.to_path_buf(), Node { kind: FileKind::Dir, data: Vec::new(), mtime: stamp, ctime: stamp, ino });
    }

    /// Mounts the filesystem unmounted from `at` again, with the files it had.
    pub fn remount(&self, at: impl AsRef<Path>) {
        let at = &path(at);
        let mut st = self.lock();
        let Some(away) = st.mounts.get_mut(at).and_then(|m| m.away.take()) else { return };
        st.nodes.retain(|p, _| !p.starts_with(at));
        st.nodes.extend(away);
    }

    fn check(&self, st: &State, path: &Path) -> io::Result<()> {
        let below = || path.ancestors().find_map(|a| st.errors_below.get(a));
        match st.errors.get(path).or_else(below) {
            Some(kind) => Err(io::Error::from(*kind)),
            None => Ok(()),
        }
    }

    /// What `stat` says of `node`, on device `dev`.
    fn stat_of(&self, node: &Node, dev: u64) -> Stat {
        Stat {
            kind: node.kind,
            size: node.data.len() as u64,
            mtime: from_nanos(node.mtime),
            ctime: self.profile.has_ctime.then(|| from_nanos(node.ctime)),
            ino: Some(node.ino),
            dev,
        }
    }

    /// The mounted filesystem `path` is on, if any.
    fn mount_of<'a>(&self, st: &'a State, path: &Path) -> Option<&'a SimMount> {
        path.ancestors().find_map(|a| st.mounts.get(a).filter(|m| m.away.is_none()))
    }
}

/// A C string name as the `OsStr` the simulated tree is keyed by.
#[cfg(unix)]
fn os_name(name: &CStr) -> &OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(name.to_bytes())
}

/// A C string name as the `OsStr` the simulated tree is keyed by (simulated names are UTF-8 off Unix).
#[cfg(not(unix))]
fn os_name(name: &CStr) -> &OsStr {
    OsStr::new(name.to_str().unwrap_or_default())
}

impl Vfs for SimFs {
    fn now(&self) -> FileTime {
        from_nanos(self.lock().clock)
    }

    fn stat(&self, path: &Path) -> io::Result<Stat> {
        let mut st = self.lock();
        st.counters.stats += 1;
        self.check(&st, path)?;
        let node = st.nodes.get(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(self.stat_of(node, self.mount_of(&st, path).map_or(1, |m| m.dev)))
    }

    /// A simulated handle follows the directory's identity (device and inode), as a real one does: after a
    /// rename it looks inside the directory at its new path, after a removal it finds nothing, and on a filesystem
    /// unmounted since (lazily: `umount -l`) it still reaches the files that went away with it.
    fn open_dir(&self, path: &Path) -> Option<DirHandle> {
        let st = self.lock();
        self.check(&st, path).ok()?;
        let node = st.nodes.get(path).filter(|n| n.kind == FileKind::Dir)?;
        let dev = self.mount_of(&st, path).map_or(1, |m| m.dev);
        Some(DirHandle { ident: (dev, node.ino), inner: Inner::Sim })
    }

    fn stat_in(&self, dir: &DirHandle, name: &CStr) -> io::Result<Stat> {
        let name = os_name(name);
        let (dev, ino) = dir.ident;
        let mut st = self.lock();
        st.counters.stats_in += 1;
        let is_it = |n: &Node| n.kind == FileKind::Dir && n.ino == ino;
        let here = st.nodes.iter().find(|(p, n)| is_it(n) && self.mount_of(&st, p).map_or(1, |m| m.dev) == dev);
        if let Some((path, _)) = here {
            let path = path.join(name);
            drop(st);
            return self.stat(&path);
        }
        // A filesystem unmounted while the handle was open: still there for the handle.
        st.counters.stats += 1;
        let away = st.mounts.values().chain(&st.detached).filter(|m| m.dev == dev).find_map(|m| {
            let files = m.away.as_ref()?;
            let (path, _) = files.iter().find(|(_, n)| is_it(n))?;
            files.get(&path.join(name))
        });
        away.map(|node| self.stat_of(node, dev)).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut st = self.lock();
        st.counters.read_dirs += 1;
        self.check(&st, path)?;
        match st.nodes.get(path) {
            Some(n) if n.kind == FileKind::Dir => {}
            Some(_) => return Err(io::Error::from(io::ErrorKind::NotADirectory)),
            None => return Err(io::Error::from(io::ErrorKind::NotFound)),
        }
        Ok(st
            .nodes
            .range(path.to_path_buf()..)
            .skip(1)
            .take_while(|(p, _)| p.starts_with(path))
            .filter(|(p, _)| p.parent() == Some(path))
            .filter_map(|(p, n)| p.file_name().map(|name| DirEntry { name: name.to_owned(), kind: Some(n.kind) }))
            .collect())
    }

    fn hash(&self, path: &Path) -> io::Result<u64> {
        let mut st = self.lock();
        st.counters.hashes += 1;
        self.check(&st, path)?;
        st.nodes.get(path).map(|n| xxh3_64(&n.data)).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn read_small(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut st = self.lock();
        st.counters.reads += 1;
        self.check(&st, path)?;
        st.nodes.get(path).map(|n| n.data.clone()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn fs_info(&self, path: &Path) -> io::Result<FsInfo> {
        let st = self.lock();
        self.check(&st, path)?;
        Ok(self.mount_of(&st, path).map_or_else(|| self.profile.info.clone(), |m| m.info.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> std::ffi::CString {
        std::ffi::CString::new(s).unwrap()
    }

    #[test]
    fn a_handle_follows_its_directory_as_a_real_one_does() {
        let fs = SimFs::new(Profile::fine());
        fs.write("/w/d/a.rs", b"a");
        let handle = fs.open_dir(&path("/w/d")).unwrap();
        let ino = fs.stat(&path("/w/d")).unwrap().ino.unwrap();
        assert_eq!(handle.ident(), (1, ino));
        let before = fs.counters();
        assert_eq!(fs.stat_in(&handle, &name("a.rs")).unwrap().size, 1);
        assert_eq!((fs.counters().stats - before.stats, fs.counters().stats_in - before.stats_in), (1, 1));
        // Renamed, and another directory made under its name: the handle still looks in the first one.
        fs.rename("/w/d", "/w/old");
        fs.write("/w/d/a.rs", b"new one");
        assert_eq!(fs.stat_in(&handle, &name("a.rs")).unwrap().size, 1);
        fs.remove("/w/old");
        assert_eq!(fs.stat_in(&handle, &name("a.rs")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(fs.open_dir(&path("/w/d/a.rs")).is_none(), "not a directory");
    }

    #[test]
    fn a_handle_on_a_mount_has_its_device_and_outlives_an_unmount() {
        let fs = SimFs::new(Profile::fine());
        fs.mount("/w/m", 7, FsInfo { name: "tmpfs".into(), remote: false });
        fs.write("/w/m/sub/a.rs", b"a");
        let handle = fs.open_dir(&path("/w/m/sub")).unwrap();
        assert_eq!(handle.ident().0, 7);
        assert_eq!(fs.stat_in(&handle, &name("a.rs")).unwrap().dev, 7);
        // Lazily unmounted, even with another filesystem mounted there since: the handle still reaches it.
        fs.unmount("/w/m");
        fs.mount("/w/m", 8, FsInfo { name: "fuse".into(), remote: true });
        assert!(fs.stat(&path("/w/m/sub/a.rs")).is_err(), "gone from its path");
        let through = fs.stat_in(&handle, &name("a.rs")).unwrap();
        assert_eq!((through.dev, through.size), (7, 1));
        // A dead daemon answers ENOTCONN through a handle as by path.
        fs.write("/w/m/x/b.rs", b"b");
        let live = fs.open_dir(&path("/w/m/x")).unwrap();
        fs.set_error_below("/w/m", Some(io::ErrorKind::NotConnected));
        assert_eq!(fs.stat_in(&live, &name("b.rs")).unwrap_err().kind(), io::ErrorKind::NotConnected);
    }
}
