//! Things the user should know that are not changes: per-path errors, clock skew, loops. Each is reported once
//! per episode, never fatal.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::discover::walk::Notice;

/// A one-line notice about one path or filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A watched path does not exist; it is watched for and fires when it appears.
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// `stat` failed with something other than "not found"; the last known state is kept.
    Unreadable {
        /// The path.
        path: PathBuf,
        /// What failed.
        error: io::ErrorKind,
    },
    /// Several files in one directory could not be `stat`ed; their last known state is kept.
    UnreadableIn {
        /// The directory.
        dir: PathBuf,
        /// How many files.
        count: usize,
        /// What failed (for the first of them).
        error: io::ErrorKind,
    },
    /// A directory could not be listed; what was known inside it is kept.
    CannotList {
        /// The directory.
        path: PathBuf,
        /// What failed.
        error: io::ErrorKind,
    },
    /// A file is dated further in the future than the racy window: the filesystem's clock (an NFS or SMB
    /// server, a VM host) is ahead of this machine's.
    Skew {
        /// The first file seen so dated.
        path: PathBuf,
        /// The filesystem type.
        fs: String,
        /// How far ahead.
        ahead: Duration,
    },
    /// A directory reached a second time (a symlink loop): not descended again.
    Loop {
        /// Where it was reached again.
        path: PathBuf,
        /// Where it is already watched.
        first: PathBuf,
    },
    /// A problem in an ignore file.
    IgnoreFile(String),
    /// The filesystem holding a watched tree went away: what was known of its files is kept, nothing is reported
    /// as changed, and the tree is compared with that when a filesystem is there again.
    Offline {
        /// The watched path (the topmost one that went away).
        path: PathBuf,
        /// How many other watched paths went away with it.
        more: usize,
        /// The filesystem type, as it was.
        fs: String,
        /// How many files are kept at their last known state.
        files: usize,
        /// What happened to it.
        why: Outage,
    },
    /// A watched tree that was offline is there again; what changed meanwhile follows as changes.
    Back {
        /// The watched path.
        path: PathBuf,
        /// The filesystem type now.
        fs: String,
    },
    /// A watched directory is on another filesystem now (something was mounted or unmounted there, and what is
    /// there now is not an empty mount point): its files are compared with what was there.
    Replaced {
        /// The directory.
        path: PathBuf,
        /// The filesystem type it was on.
        was: String,
        /// The filesystem type it is on now.
        now: String,
    },
}

/// How a watched tree's filesystem went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// It was unmounted, and the watched path went with it.
    Unmounted,
    /// It was unmounted from the watched path itself, where the empty directory underneath shows now.
    UnmountedAt,
    /// It does not answer: every `stat` fails with ENOTCONN (a FUSE daemon or a network filesystem's client died).
    Disconnected,
}

impl Warning {
    /// Good news rather than a warning (a filesystem that is back): reported as a plain status line.
    pub fn is_notice(&self) -> bool {
        matches!(self, Warning::Back { .. })
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Missing { path } => {
                write!(f, "{} does not exist; watching for it to appear", path.display())
            }
            Warning::Unreadable { path, error } => {
                write!(f, "cannot stat {}: {}; keeping its last known state", path.display(), io::Error::from(*error))
            }
            Warning::UnreadableIn { dir, count, error } => write!(
                f,
                "cannot stat {count} files in {}: {}; keeping their last known state",
                dir.display(),
                io::Error::from(*error)
            ),
            Warning::CannotList { path, error } => write!(
                f,
                "cannot list {}: {}; its files are watched again once it can be read",
                path.display(),
                io::Error::from(*error)
            ),
            Warning::Skew { path, fs, ahead } => write!(
                f,
                "{} is dated {:.1}s in the future: the clock of this {fs} filesystem is ahead of this machine's \
                 (changes are still detected)",
                path.display(),
                ahead.as_secs_f64()
            ),
            Warning::Loop { path, first } => {
                write!(f, "{} is {} again (symlink loop); not descending twice", path.display(), first.display())
            }
            Warning::IgnoreFile(msg) => f.write_str(msg),
            Warning::Offline { path, more, fs, files, why } => {
                let path = match more {
                    0 => path.display().to_string(),
                    1 => format!("{} (and 1 more watched path)", path.display()),
                    n => format!("{} (and {n} more watched paths)", path.display()),
                };
                let kept = match files {
                    1 => "keeping the last known state of its 1 file".to_owned(),
                    n => format!("keeping the last known state of its {n} files"),
                };
                match why {
                    Outage::Unmounted => {
                        write!(f, "the {fs} filesystem holding {path} was unmounted; {kept} until it is mounted again")
                    }
                    Outage::UnmountedAt => write!(
                        f,
                        "the {fs} filesystem mounted at {path} was unmounted (an empty directory shows there now); \
                         {kept} until it is mounted again"
                    ),
                    Outage::Disconnected => write!(
                        f,
                        "the {fs} filesystem holding {path} is disconnected (transport endpoint is not connected: its \
                         FUSE daemon or server is gone); {kept} until it is mounted again (`umount -l` its mount \
                         point, then mount it again)"
                    ),
                }
            }
            Warning::Back { path, fs } => {
                write!(f, "{} is back ({fs}); comparing its files with their last known state", path.display())
            }
            Warning::Replaced { path, was, now } => write!(
                f,
                "{} is a directory on another filesystem now ({now}, was {was}): something was mounted or unmounted \
                 there; comparing its files with what was there",
                path.display()
            ),
        }
    }
}

impl From<Notice> for Warning {
    fn from(n: Notice) -> Warning {
        match n {
            Notice::CannotList { path, error } => Warning::CannotList { path, error },
            Notice::IgnoreFile(msg) => Warning::IgnoreFile(msg),
            Notice::Loop { path, first } => Warning::Loop { path, first },
        }
    }
}
