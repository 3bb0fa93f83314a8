//! Things the user should know that are not changes: per-path errors, clock skew, loops. Each is reported once
//! per episode, never fatal.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

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
        }
    }
}
