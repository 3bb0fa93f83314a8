//! Files to watch that no `-w` root covers, learned from the command itself or from a build's dependency files.
//!
//! - [`protocol`]: every child gets `STATOR_WATCH_FILE`, the path of a private file it may append paths to, one
//!   per line; stator reads what was appended ([`report_file`]) and watches those paths too. Nothing a child
//!   writes there is ever executed: a reported path only adds a watch.
//! - [`shims`]: opt-in helpers that do the reporting for a runtime: `--python` (a `sitecustomize` module) and
//!   `--node` (a `--require` hook).
//! - [`depfile`] and [`deps`]: `--dep-file` reads a Makefile-style dependency file (`gcc -MD`, cargo's
//!   `target/*/*.d`) and watches what it lists, again each time the file changes.
//!
//! Parsing is pure; [`report_file`] and [`shims`] do the file I/O; the [`Learner`] puts them together and feeds a
//! [`Poller`](crate::poll::Poller).

pub mod depfile;
pub mod deps;
mod learner;
pub mod protocol;
pub mod report_file;
pub mod shims;

pub use learner::{Learner, Note};

use std::fmt;
use std::io;
use std::path::PathBuf;

/// The environment variable naming the file a child reports paths to.
pub const WATCH_FILE_VAR: &str = "STATOR_WATCH_FILE";

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LearnOptions {
    /// Give every child the Python shim (`--python`).
    pub python: bool,
    /// Give every child the Node hook (`--node`).
    pub node: bool,
    /// Dependency files whose lists are watched (`--dep-file`).
    pub dep_files: Vec<PathBuf>,
}

/// Setting up the report file or a shim failed.
#[derive(Debug)]
pub enum LearnError {
    /// The private directory or the report file could not be made.
    ReportFile(io::Error),
    /// A shim could not be written.
    Shim {
        /// `python` or `node`.
        runtime: &'static str,
        /// What the system said.
        source: io::Error,
    },
    /// The private directory's path holds the path-list separator, so it cannot go on `PYTHONPATH`.
    Unlistable(PathBuf),
}

impl fmt::Display for LearnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LearnError::ReportFile(e) => write!(f, "cannot create the file the command reports paths to: {e}"),
            LearnError::Shim { runtime, source } => write!(f, "cannot write the {runtime} shim: {source}"),
            LearnError::Unlistable(dir) => {
                write!(f, "cannot put {} on PYTHONPATH (its name holds the path separator); set TMPDIR", dir.display())
            }
        }
    }
}

impl std::error::Error for LearnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LearnError::ReportFile(e) | LearnError::Shim { source: e, .. } => Some(e),
            LearnError::Unlistable(_) => None,
        }
    }
}
