//! What the integration tests share:
//!
//! - [`watch`]: the engine (`Poller`) on a fresh temporary directory, ticked by hand;
//! - [`sandbox`] (Unix): the `stator` binary run in a sandbox directory, a guard that stops it and everything it
//!   started, and looks at `/proc`;
//! - [`learn`] (Unix): for the tests of the files stator learns from the command (HTTP, a Django virtualenv,
//!   `--json` events);
//! - [`mounts`] (Unix): the real filesystems of `../shared/testfs/`, named by `STATOR_TESTFS_*` variables;
//! - [`model`]: the reference model of the comparison rules, which the fuzz target `compare_model` includes too
//!   (so it uses nothing of this crate: only `stator` and `filetime`);
//!
//! and, here, the three things every kind of test needs: the one skip policy ([`skip`], [`skip_as_root`]), the one
//! bounded wait ([`wait_until`]), and the file helpers ([`write`], [`mtime`], [`set_mtime`], [`now_plus`]).

pub(crate) mod model;
pub(crate) mod watch;

#[cfg(unix)]
pub(crate) mod learn;
#[cfg(unix)]
pub(crate) mod mounts;
#[cfg(unix)]
pub(crate) mod sandbox;

use std::fs;
#[cfg(unix)]
use std::io::Write as _;
use std::path::Path;
#[cfg(unix)]
use std::time::{Duration, Instant};

use filetime::FileTime;

// -----------------------------------------------------------------------------------------------------------------
// The skip policy. Unix only, like the bounded wait: only Unix tests need a mount, a tool or a user.

/// Whether this is a CI run: `CI` is set, to anything but the empty string, `0` or `false` (`.ci/run` sets
/// `CI=true`, as most CI services do). There, everything a test needs must be present.
#[cfg(unix)]
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The one skip policy, for a test that needs something this machine may lack: a mount (`STATOR_TESTFS_*`), a
/// tool (`node`, `python3` with Django, `script`, `bindfs`...), root, an unprivileged user, a namespace.
///
/// With `CI` set ([`in_ci`]) it fails the calling test: CI must have everything. Otherwise it says
/// `SKIPPED <test>: <why>` and the caller returns (so the test passes, having checked nothing, and says so).
///
/// The line is written to the process's stderr directly, not through `eprintln!`, which the test harness captures
/// for passing tests: so it shows in `cargo test`'s default output, among the `test ... ok` lines.
#[track_caller]
#[cfg(unix)]
pub(crate) fn skip(why: &str) {
    let test = test_name();
    assert!(!in_ci(), "CANNOT RUN {test}: {why} (with CI set, no test may be skipped)");
    say_skipped(&test, why);
}

/// Set by `.ci/run` when it runs the permission tests again as an unprivileged user after the main run (which is
/// root's): see [`skip_as_root`].
#[cfg(unix)]
const UNPRIVILEGED_RERUN: &str = "STATOR_CI_UNPRIVILEGED_RERUN";

/// [`skip`] for a test that shows what only an unprivileged user sees (permissions: root reads everything) and
/// finds itself running as root. Under CI too it only says `SKIPPED` if `.ci/run` runs it again as an unprivileged
/// user later ([`UNPRIVILEGED_RERUN`] is set): that run, where nothing may be skipped, is the one that counts.
#[track_caller]
#[cfg(unix)]
pub(crate) fn skip_as_root(why: &str) {
    if in_ci() && std::env::var_os(UNPRIVILEGED_RERUN).is_some_and(|v| v == "1") {
        say_skipped(&test_name(), &format!("{why} (root); .ci/run runs it again as an unprivileged user"));
    } else {
        skip(&format!("{why} (running as root?)"));
    }
}

/// Prints `SKIPPED <test>: <why>` past the test harness's capture (see [`skip`]).
#[cfg(unix)]
fn say_skipped(test: &str, why: &str) {
    // One write, so that the line is not torn by the harness's own output.
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
}

/// The running test's name (`module::test`): libtest names the thread it runs each test on after the test.
#[cfg(unix)]
fn test_name() -> String {
    std::thread::current().name().filter(|n| *n != "main").unwrap_or("(a test on the main thread)").to_owned()
}

// -----------------------------------------------------------------------------------------------------------------
// The bounded wait.

/// Checks `cond` every `pace` until it holds (true) or `bound` has passed (false, after one last check). Every
/// wait of the tests goes through this: none sleeps to synchronise.
#[cfg(unix)]
pub(crate) fn wait_until(bound: Duration, pace: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return cond();
        }
        std::thread::sleep(pace);
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Files.

/// Writes `data` to `path`, creating missing parent directories.
pub(crate) fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent directories");
    }
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The mtime of `path`.
pub(crate) fn mtime(path: impl AsRef<Path>) -> FileTime {
    let m = fs::metadata(path.as_ref()).unwrap_or_else(|e| panic!("stat {}: {e}", path.as_ref().display()));
    FileTime::from_last_modification_time(&m)
}

/// Sets the mtime of `path`, and its atime to the same value. Both are set at once: fusefat, exfat-fuse, smbnetfs
/// and bindfs silently ignore a `utimensat` that leaves atime alone (`UTIME_OMIT`, which is what
/// `filetime::set_file_mtime` does), and a test would then believe in an mtime the file never took.
pub(crate) fn set_mtime(path: impl AsRef<Path>, t: FileTime) {
    let path = path.as_ref();
    filetime::set_file_times(path, t, t).unwrap_or_else(|e| panic!("set the times of {}: {e}", path.display()));
}

/// This machine's clock shifted by `secs` seconds (negative: in the past).
pub(crate) fn now_plus(secs: i64) -> FileTime {
    let now = FileTime::now();
    FileTime::from_unix_time(now.unix_seconds() + secs, now.nanoseconds())
}
