//! stator's integration tests, in one binary (`cargo test --test it`): one module per subject, and what they share
//! in [`support`]. One binary links once, where one per file linked the library and the dev-dependencies again
//! for each file; and a helper no test uses anymore is a dead-code warning, not something to hide.
//!
//! Run one module with a path filter: `cargo test --test it testfs::`, `cargo test --test it torture::`.
//!
//! A test that needs something this machine may lack (a mounted filesystem, a tool, root, an unprivileged user)
//! goes through the one skip policy, [`support::skip`]: with `CI` set it fails, elsewhere it prints
//! `SKIPPED <test>: <why>` in `cargo test`'s output and passes.

mod support;

/// The `stator` binary end to end: restarts, signals, exit codes, `--list`, `--json`, colour, PID 1.
#[cfg(unix)]
mod cli_e2e;
/// The project config file (`stator.toml`, `[tool.stator]` in `pyproject.toml`) and `--env-file` (issue 16).
#[cfg(unix)]
mod config_file;
/// What stator ships (`.ci/dist`): the static musl binaries in a chroot as PID 1, the Python wheel.
#[cfg(target_os = "linux")]
mod dist;
/// The engine on real temporary directories: the simulated scenarios checked on the real disk.
mod engine_real_fs;
/// The first hour, as a new user tries it: the README's Python recipes on real Django, Flask and pytest
/// projects, a command changing a watched file as it starts, trees without a `.gitignore`, a burst bigger than
/// the hot tier.
#[cfg(unix)]
mod first_hour;
/// Hostile conditions: short-lived files, a huge tree, unreadable directories, loops, PATH_MAX, escaping daemons.
#[cfg(target_os = "linux")]
mod hostile;
/// The files stator learns from the command (`STATOR_WATCH_FILE`, `--python`, `--node`, `--dep-file`), and
/// `stator doctor`.
#[cfg(unix)]
mod learn_e2e;
/// The command's life beyond restarts: `--build` (build, then swap), readiness (`--ready-port`, `--ready-log`)
/// and the hooks (`--on-ready`, `--on-success`, `--on-failure`).
#[cfg(unix)]
mod lifecycle;
/// The first hour of a new user (issue 15): command-line habits, stop and reload signals, a full `$TMPDIR`,
/// honest output, `stator doctor` on what is not a project.
#[cfg(target_os = "linux")]
mod newcomer;
/// Property tests: parallel and sequential scans, `ChangeSet` folding, `compare::observe` against the model.
mod properties;
/// The engine bugs the torture test found, fixed since: one small deterministic test each.
#[cfg(unix)]
mod regression;
/// A filesystem unmounted and mounted again under a running stator (needs root).
#[cfg(target_os = "linux")]
mod remount;
/// Changed paths never reach a shell; the changed-files list is private and removed.
#[cfg(target_os = "linux")]
mod security;
/// `--socket`: the listener held across restarts, passed as fd 3 with `LISTEN_FDS` (issue 16).
#[cfg(target_os = "linux")]
mod socket;
/// The terminal belongs to the command: stator and interactive commands in a pseudo-terminal.
#[cfg(target_os = "linux")]
mod terminal;
/// The engine's scenarios on the real filesystems of `../shared/testfs/` (`STATOR_TESTFS_*`).
#[cfg(unix)]
mod testfs;
/// Seeded random file operations on a real tree against a model of it, locally and on every test mount.
#[cfg(unix)]
mod torture;
/// Unchanged saves restart nothing: saves without an edit, a generator writing the same output (issue 16).
#[cfg(unix)]
mod unchanged;
/// The Windows build end to end under the job-object supervisor (run under Wine here, as it is on Windows).
#[cfg(windows)]
mod windows;
