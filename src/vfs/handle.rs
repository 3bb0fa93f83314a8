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
//! startup ([`raise_fd_limit`](crate::sys::raise_fd_limit)) and put back for the child (`restore_fd_limit`), as
//! programs that still use `select(2)` expect the usual 1024; [`crate::sys`] keeps the budget. A handle keeps its filesystem busy: `umount` of a local filesystem stator
//! watches says "target is busy" until stator exits (`umount -l` detaches it at once).
//!
//! Windows has no handles here (it has no `fstatat`; `NtQueryInformationByName` would be the equivalent): only
//! the simulated filesystem uses the type there.
#![cfg_attr(not(unix), allow(dead_code))]

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
            crate::sys::give_back_slot();
        }
    }
}
