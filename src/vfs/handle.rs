//! Directory handles: an open directory that names inside it are looked up relative to (`fstatat`), so a sweep
//! does not make the kernel resolve every file's full path again. Measured on a 100k-file tree, the path walk was
//! most of a sweep's cost: `fstatat` relative to a handle costs about 0.8 of an `lstat` of the absolute path.
//!
//! A handle follows the directory, not its path: after `mv a b; mkdir a`, a handle opened on `a` still lists what
//! is now `b`. The poller checks each directory's identity at every sweep (it stats the directory itself by path)
//! and drops a handle whose directory no longer is the one at its path.
//!
//! Handles are held only on local filesystems (on a network mount a stat waits on the server, and the path walk
//! is not what costs), and within a budget of open files: the soft `RLIMIT_NOFILE` is raised to the hard limit at
//! startup ([`raise_fd_limit`]) and put back for the child ([`restore_fd_limit`]), as programs that still use
//! `select(2)` expect the usual 1024. A handle keeps its filesystem busy: `umount` of a local filesystem stator
//! watches says "target is busy" until stator exits (`umount -l` detaches it at once).
//!
//! Windows has no handles here (it has no `fstatat`; `NtQueryInformationByName` would be the equivalent): only
//! the simulated filesystem uses the type there.
#![cfg_attr(not(unix), allow(dead_code))]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// An open directory, with the identity (`dev`, `ino`) it had when it was opened.
#[derive(Debug)]
pub struct DirHandle {
    pub(crate) ident: (u64, u64),
    pub(crate) inner: Inner,
}

#[derive(Debug)]
pub(crate) enum Inner {
    /// A file descriptor counted against the budget.
    #[cfg(unix)]
    Fd(rustix::fd::OwnedFd),
    /// A simulated handle: the identity of the simulated directory it follows.
    Sim,
}

impl DirHandle {
    /// The directory's identity when the handle was opened: `(device, inode)`.
    pub fn ident(&self) -> (u64, u64) {
        self.ident
    }
}

impl Drop for DirHandle {
    fn drop(&mut self) {
        #[cfg(unix)]
        if matches!(self.inner, Inner::Fd(_)) {
            OPEN.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Handles open now.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// How many handles may be open at once, fixed at the first open.
static BUDGET: OnceLock<usize> = OnceLock::new();
/// The soft and hard `RLIMIT_NOFILE` before [`raise_fd_limit`] changed it (`u64::MAX`: unchanged).
static ORIGINAL_SOFT: AtomicU64 = AtomicU64::new(u64::MAX);
static ORIGINAL_HARD: AtomicU64 = AtomicU64::new(u64::MAX);

/// File descriptors left for everything else (the child's pipes, listings read in parallel, files hashed).
const RESERVE: usize = 256;

/// Takes one slot of the budget; `false` when none is left.
pub(crate) fn take_slot() -> bool {
    let budget = *BUDGET.get_or_init(budget_from_limit);
    OPEN.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < budget).then_some(n + 1)).is_ok()
}

/// Gives back a slot taken by [`take_slot`] for a handle that was not opened after all.
pub(crate) fn give_back_slot() {
    OPEN.fetch_sub(1, Ordering::Relaxed);
}

/// How many directory handles are open now (for `-v` and the benchmark).
pub fn open_handles() -> usize {
    OPEN.load(Ordering::Relaxed)
}

#[cfg(unix)]
fn budget_from_limit() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let soft = soft.map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
    if soft >= 2 * RESERVE { soft - RESERVE } else { soft / 2 }
}

#[cfg(not(unix))]
fn budget_from_limit() -> usize {
    0
}

/// Raises the soft limit on open files to the hard limit (capped at a million), so that a big tree's directories
/// can all have handles. Call once at startup, before the first poller; the previous limit is remembered for
/// [`restore_fd_limit`]. Does nothing where there is no such limit, or when it cannot be raised.
pub fn raise_fd_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        const CAP: u64 = 1 << 20;
        let old = getrlimit(Resource::Nofile);
        let (Some(soft), hard) = (old.current, old.maximum) else { return };
        let want = hard.unwrap_or(CAP).min(CAP);
        if want <= soft {
            return;
        }
        let new = rustix::process::Rlimit { current: Some(want), maximum: hard };
        if setrlimit(Resource::Nofile, new).is_ok() {
            ORIGINAL_SOFT.store(soft, Ordering::Relaxed);
            ORIGINAL_HARD.store(hard.unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }
}

/// Puts back the soft limit [`raise_fd_limit`] raised. Meant for the child between `fork` and `exec`: it makes
/// one system call, allocates nothing and takes no lock (async-signal-safe).
#[cfg(unix)]
pub fn restore_fd_limit() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let soft = ORIGINAL_SOFT.load(Ordering::Relaxed);
    if soft == u64::MAX {
        return Ok(());
    }
    let hard = ORIGINAL_HARD.load(Ordering::Relaxed);
    let maximum = (hard != u64::MAX).then_some(hard);
    setrlimit(Resource::Nofile, Rlimit { current: Some(soft), maximum })?;
    Ok(())
}
