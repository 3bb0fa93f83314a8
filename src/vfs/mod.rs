//! The seam between stator's logic and the outside world: the clock, `stat`, `read_dir`, content hashing and
//! filesystem identification.
//!
//! Everything that decides *whether* something changed goes through the [`Vfs`] trait, so that unit tests can
//! run the same code over a simulated filesystem ([`sim::SimFs`]) with a clock they control: HFS+ with whole
//! seconds, FAT rounding into the future, NTFS stamped from a coarse tick, a server clock an hour off. The real
//! implementation is [`real::RealFs`]. What a `stat` returns ([`Stat`], [`FileKind`]) is defined with the pure rules
//! in [`crate::fingerprint`], which never touch the world themselves.

pub mod handle;
pub mod real;
pub mod sim;
#[cfg(windows)]
pub mod windows;

pub use handle::DirHandle;

use std::ffi::{CStr, OsString};
use std::io;
use std::path::Path;

use filetime::FileTime;

use crate::fingerprint::{FileKind, Stat};

/// One name in a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name (not UTF-8 necessarily).
    pub name: OsString,
    /// The kind the listing reports without following symlinks, when it reports one (`d_type`).
    pub kind: Option<FileKind>,
}

/// What stator knows about the filesystem a path lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// A short name for the filesystem type (`ext4`, `nfs`, `fuse`, `smb`...), or `unknown`.
    pub name: String,
    /// A network or FUSE filesystem: inode numbers may be invented and ctime may mirror mtime, so identity and
    /// ctime are advisory there (a difference in them alone never fires), and the racy window is widened.
    pub remote: bool,
}

impl FsInfo {
    /// Whether every change to a directory's listing is sure to show in the directory's own ctime and mtime, as
    /// on any local filesystem stator can identify. Not on network and FUSE filesystems (attribute caches, FUSE
    /// daemons that never update a directory's times), nor on overlayfs (its layers can change behind it), nor on
    /// FAT and exFAT under Windows (FAT keeps no change time, and Windows' driver is not known to update a
    /// directory's write time when its entries change: re-listing is the safe side; untested, Wine cannot show it).
    pub fn listings_follow_ctime(&self) -> bool {
        let fat_on_windows = cfg!(windows) && (self.name == "vfat" || self.name == "exfat");
        !self.remote && self.name != "overlay" && self.name != "unknown" && !fat_on_windows
    }

    /// Information for a filesystem stator could not identify: treated as local.
    pub fn unknown() -> FsInfo {
        FsInfo { name: "unknown".into(), remote: false }
    }
}

/// Everything stator asks of the world. Implementations must be usable from several threads at once.
pub trait Vfs: Sync {
    /// The current wall-clock time, in the same epoch as file timestamps.
    fn now(&self) -> FileTime;
    /// `stat` following symlinks.
    fn stat(&self, path: &Path) -> io::Result<Stat>;
    /// A handle on directory `path` to [`Vfs::stat_in`] names inside it, where the platform has them and the
    /// budget of open files allows; `None` otherwise, and stator then stats by path.
    fn open_dir(&self, _path: &Path) -> Option<DirHandle> {
        None
    }
    /// `stat` of `name` inside the directory `dir` is open on, following symlinks. Only ever called with a
    /// handle this filesystem's [`Vfs::open_dir`] returned.
    fn stat_in(&self, _dir: &DirHandle, _name: &CStr) -> io::Result<Stat> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// The names in a directory, without `.` and `..`, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// A hash of the file's content, for the racy window (see [`crate::compare`]).
    fn hash(&self, path: &Path) -> io::Result<u64>;
    /// A small file's whole content (ignore files); larger files are an error.
    fn read_small(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The type of filesystem `path` lives on.
    fn fs_info(&self, path: &Path) -> io::Result<FsInfo>;
}
