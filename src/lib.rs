//! stator: an autoreloader that sees changes only by polling `stat`, so it behaves the same on local disks, NFS
//! and SMB mounts, Docker bind mounts, WSL's `/mnt/c` and CI containers, where file-event watchers go deaf.
//!
//! The binary runs a command and restarts it when a watched file changes. The library is the engine: build a
//! [`Poller`](poll::Poller) from a [`Config`](config::Config), call [`tick`](poll::Poller::tick) in your own loop
//! or test, and get back what changed since the previous tick, with the reason. No threads, no sleeps: the first
//! tick takes the baseline, each later tick looks once.
//!
//! ```
//! use std::time::Duration;
//! use stator::change::ChangeKind;
//! use stator::config::Config;
//! use stator::poll::Poller;
//! use stator::vfs::sim::{self, Profile, SimFs};
//!
//! // A simulated HFS+ volume (whole-second timestamps); `stator::vfs::real::RealFs` is the real disk.
//! let fs = SimFs::new(Profile::hfs_plus());
//! fs.write("/app/src/main.py", b"print(1)");
//! // `sim::path`: `/app` on Unix, `C:\app` on Windows.
//! let config = Config { roots: vec![sim::path("/app")], ..Config::default() };
//! let mut poller = Poller::new(config, fs)?;
//! assert!(poller.tick().changes.is_empty()); // the baseline
//!
//! // Same size, same second: only the racy-window content hash can tell.
//! poller.vfs().write("/app/src/main.py", b"print(2)");
//! poller.vfs().advance(Duration::from_millis(500));
//! let tick = poller.tick();
//! assert_eq!(tick.changes.len(), 1);
//! assert_eq!(tick.changes[0].kind, ChangeKind::Modified);
//! println!("{}", tick.changes[0]); // modified /app/src/main.py (content changed)
//! # Ok::<(), stator::discover::PatternError>(())
//! ```
//!
//! # What the library offers
//!
//! - [`poll`]: the engine. [`Poller`](poll::Poller) and its [`Tick`](poll::Tick) (what changed, with the reason;
//!   warnings; what the look cost), the hot tier ([`Poller::tick_hot`](poll::Poller::tick_hot)), the fixed-rate
//!   [`Schedule`](poll::Schedule) and the [`Cadence`](poll::Cadence) that says which look is due, and
//!   [`Settle`](poll::Settle), which turns a burst of changes into one change set.
//! - [`change`]: what a tick reports ([`Change`](change::Change), [`ChangeKind`](change::ChangeKind),
//!   [`Reason`](change::Reason), [`ChangeSet`](change::ChangeSet)).
//! - [`fingerprint`] and [`compare`]: the pure detection rules (what one file looks like, its
//!   [`Stat`](fingerprint::Stat); timestamp granularity learned per filesystem; old state and new stat to new state
//!   and change). They do no I/O and read no clock.
//! - [`config`]: the plain data the poller is built from.
//! - [`discover`]: which names are watched (filters, ignore files).
//! - [`learn`]: files to watch from outside the roots: the parsers of the child's report protocol and of Makefile
//!   dependency files, the runtime shims, and the [`Learner`](learn::Learner) that feeds a poller with them.
//! - [`vfs`]: the seam to the outside world: the [`Vfs`](vfs::Vfs) trait, the real disk
//!   ([`vfs::real::RealFs`]) and a simulated one with a clock you control ([`vfs::sim::SimFs`]: HFS+, FAT, NTFS,
//!   skewed servers, mounts coming and going).
//! - [`supervisor`]: the child process as a library piece: a pure [`Policy`](supervisor::Policy) (tested by
//!   tables) and the [`Supervisor`](supervisor::Supervisor) that carries it out on a process group, with the
//!   build beside it, the run's readiness and the hooks.
//! - [`sys`]: small platform helpers: the open-file limit (raise it before a big [`Poller`](poll::Poller) on the
//!   real disk), the process's CPU time, private files.
//! - [`time`]: conversions between file times and nanoseconds.
//!
//! The `stator` command itself (its command line, main loop, status lines and `stator doctor`) is not part of the
//! library.
//!
//! Dependencies point one way: the pure core (`fingerprint`, `compare`, `change`, `time`, `config`) imports nothing
//! of the I/O layer (`vfs`, `sys`) or the engine; `supervisor` imports only `sys` of the rest; the command's
//! private modules sit on top of everything.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod app;
pub mod change;
mod cli;
pub mod compare;
pub mod config;
#[cfg(windows)]
mod console;
pub mod discover;
mod doctor;
mod exit;
pub mod fingerprint;
pub mod learn;
pub mod poll;
mod report;
pub mod supervisor;
pub mod sys;
pub mod time;
pub mod vfs;

/// The `stator` command: parses `args` (the program name first), runs what they ask, and returns the process exit
/// code. The binary's whole `main`; not part of the library.
#[doc(hidden)]
pub fn main_entry(args: &[std::ffi::OsString]) -> i32 {
    // Stator run again as the sentinel of a run's process group (see `supervisor`).
    if let Some(code) = supervisor::run_sentinel(args) {
        return code;
    }
    app::main(args).code()
}

// The command-line parser, for the `cli_parse` fuzz target only; not part of the library.
#[doc(hidden)]
pub use cli::fuzz;
