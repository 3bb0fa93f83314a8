//! `stator doctor [PATH...]`: why reloads are slow or missing, without reading source. For each filesystem under
//! the roots: its type (`statfs`, and the mount table for the FUSE subtype and the options), whether it is a
//! network, FUSE or VM share, the timestamp granularity learned from the files and from a probe file, the clock
//! skew between this machine and the filesystem (probe file, only where writable, removed at once), attribute-cache
//! hints with their remedy; then the number of tracked files, the cost of one scan and the interval to use.
//!
//! `gather` looks (I/O); [`mountinfo`] and [`advice`] are pure; `render` writes plain text or JSON.

pub(crate) mod advice;
mod gather;
pub(crate) mod mountinfo;
mod render;
pub(crate) mod skip;

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::exit::Exit;
use crate::poll::FsSummary;

/// What `stator doctor` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DoctorOptions {
    /// The roots and filters, as a run of stator would use them.
    pub config: Config,
    /// Print JSON instead of text.
    pub json: bool,
    /// The project config file whose roots and filters were taken, if one was.
    pub config_file: Option<&'static str>,
}

/// Everything found.
#[derive(Debug)]
pub(crate) struct Examined {
    /// The roots given, absolute.
    pub roots: Vec<PathBuf>,
    /// What was not looked at, and why: special files, kernel pseudo-filesystems.
    pub skipped: Vec<skip::Skipped>,
    /// The roots that do not exist.
    pub missing: Vec<PathBuf>,
    /// Tracked regular files.
    pub files: usize,
    /// Listed directories.
    pub dirs: usize,
    /// The first scan, which lists every directory.
    pub baseline: Duration,
    /// One steady-state scan: what every interval costs.
    pub scan: Duration,
    /// Each filesystem met.
    pub filesystems: Vec<FsReport>,
    /// What the scan warned about (a missing root, an unreadable directory).
    pub warnings: Vec<String>,
}

/// One filesystem.
#[derive(Debug)]
pub(crate) struct FsReport {
    /// What the poller learned: `statfs` type, granularity from the files' timestamps, racy window.
    pub summary: FsSummary,
    /// Its entry in the mount table, when there is one (Linux).
    pub mount: Option<mountinfo::Mount>,
    /// The directory probed, and what the probe found.
    pub probe: Option<(PathBuf, Result<Probe, ProbeError>)>,
}

impl Examined {
    /// Whether every root given was examined: none is missing, none was skipped. Otherwise the doctor exits
    /// non-zero, after its report.
    pub(crate) fn complete(&self) -> bool {
        self.missing.is_empty() && !self.skipped.iter().any(|s| s.root)
    }
}

impl FsReport {
    /// The most precise type name known: the mount table's (`fuse.sshfs`), else `statfs`'s (`fuse`).
    pub(crate) fn fstype(&self) -> &str {
        self.mount.as_ref().map_or(self.summary.info.name.as_str(), |m| m.fstype.as_str())
    }

    /// Network, FUSE, VM share.
    pub(crate) fn kind(&self) -> advice::Kind {
        let mut kind = advice::classify(self.fstype());
        kind.network |= self.summary.info.remote && !kind.fuse && !kind.vm_share;
        kind
    }

    /// Everything worth changing, with its remedy.
    pub(crate) fn hints(&self) -> Vec<advice::Hint> {
        let options = self.mount.as_ref().map_or("", |m| m.options.as_str());
        let mut hints = advice::cache_hints(self.fstype(), options);
        if let Some((_, Ok(p))) = &self.probe {
            hints.extend(advice::skew_hint(p.skew, p.skew_ahead, p.step + Duration::from_secs(1)));
        }
        hints
    }
}

/// What the probe file showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The timestamp granularity this suggests: the write step, unless an explicitly set odd second shows that a
    /// whole-second stamp was even by chance.
    pub step: Duration,
    /// The coarsest step the mtime of a fresh write is a multiple of (1 ns, 10 ms, 1 s, 2 s...).
    pub write_step: Duration,
    /// The same for an mtime set explicitly (`utimensat`); some filesystems keep less than they stamp.
    pub utimes_step: Duration,
    /// How far the filesystem's clock is from this machine's, beyond what timestamp truncation explains (Linux
    /// stamps files from a clock that lags by up to one kernel tick, a few ms).
    pub skew: Duration,
    /// Whether it is ahead (`true`) or behind.
    pub skew_ahead: bool,
    /// How long creating and writing the probe took (a round trip, on a network filesystem).
    pub took: Duration,
}

/// The probe could not be made.
#[derive(Debug)]
pub(crate) enum ProbeError {
    /// The probe file could not be created: read-only, or no permission.
    Create(io::Error),
    /// Writing or stat-ing it failed.
    Io(io::Error),
    /// It could not be removed.
    Remove {
        /// The probe file left behind.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Create(e) => write!(f, "not measured: cannot create a file here ({e})"),
            ProbeError::Io(e) => write!(f, "not measured: the probe file failed ({e})"),
            ProbeError::Remove { path, error } => {
                write!(f, "not measured: the probe file {} could not be removed ({error}); remove it", path.display())
            }
        }
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Create(e) | ProbeError::Io(e) | ProbeError::Remove { error: e, .. } => Some(e),
        }
    }
}

/// Runs `stator doctor`: prints the report on stdout; says how to exit ([`Exit::Usage`] for a bad pattern,
/// [`Exit::Failure`] when a root does not exist or was not examined).
pub(crate) fn run(opts: &DoctorOptions) -> Exit {
    let examined = match gather::examine(&opts.config) {
        Ok(examined) => examined,
        Err(e) => {
            eprintln!("{}", crate::exit::usage_line(&e.to_string()));
            return Exit::Usage;
        }
    };
    let from = opts.config_file;
    let text = if opts.json { render::json(&examined, from).to_string() } else { render::text(&examined, from) };
    let mut out = io::stdout().lock();
    // A closed pipe (`stator doctor | head`) is not worth a message.
    let _ = writeln!(out, "{text}");
    if examined.complete() { Exit::Success } else { Exit::Failure }
}
