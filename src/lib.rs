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
//! Layout: [`vfs`] is the seam to the outside world (real or simulated); [`fingerprint`] and [`compare`] are the
//! pure detection rules; [`discover`] decides which names are watched; [`learn`] adds the files the child reports
//! and those a dependency file lists; [`poll`] looks (in parallel), schedules and settles; [`supervisor`] runs the
//! child; [`report`] and [`cli`] face the user; [`app`] is the main loop; [`doctor`] explains the environment.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod change;
pub mod cli;
pub mod compare;
pub mod config;
#[cfg(windows)]
mod console;
pub mod discover;
pub mod doctor;
pub mod fingerprint;
pub mod learn;
pub mod poll;
pub mod report;
pub mod supervisor;
pub mod time;
pub mod vfs;
