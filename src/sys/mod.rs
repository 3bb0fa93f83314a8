//! Small platform helpers, each with a portable face here and a `cfg` file per platform (`unix.rs`, `other.rs`):
//!
//! - **the open-file limit**: [`raise_fd_limit`] at startup (so a big tree's directories can all keep handles,
//!   see [`crate::vfs::handle`]), [`restore_fd_limit`] for a child between `fork` and `exec`, and the budget of
//!   directory handles ([`open_handles`]);
//! - **the process's CPU time** ([`cpu_time`]), to judge what a scan costs;
//! - **the file clock** ([`file_clock`]): a time that splits file writes into those stamped before it and after;
//! - **paths from raw bytes** ([`path_from_bytes`]), for what a child or a dependency file writes;
//! - **private files**: a directory only the owner may enter, files only the owner may read;
//! - **regular files only** (`open_regular`): what stator reads is never a FIFO, a socket or a device.
//!
//! Nothing here knows about the rest of stator: every other module may use it, and it uses none.

#[cfg(not(unix))]
mod other;
#[cfg(unix)]
mod unix;

#[cfg(not(unix))]
use other as imp;
#[cfg(unix)]
use unix as imp;

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[cfg(unix)]
pub use unix::restore_fd_limit;

/// Directory handles open now.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// How many handles may be open at once, fixed at the first open.
#[cfg(unix)]
static BUDGET: OnceLock<usize> = OnceLock::new();

/// File descriptors left for everything else (the child's pipes, listings read in parallel, files hashed).
#[cfg(unix)]
const RESERVE: usize = 256;

/// Raises the soft limit on open files to the hard limit (capped at a million), so that a big tree's directories
/// can all have handles. Call once at startup, before the first poller; the previous limit is remembered for
/// `restore_fd_limit` (Unix). Does nothing where there is no such limit, or when it cannot be raised.
pub fn raise_fd_limit() {
    imp::raise_fd_limit();
}

/// How many directory handles are open now (for `-v` and the benchmark).
pub fn open_handles() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// Takes one slot of the budget of directory handles; `false` when none is left. (Only Unix has handles.)
#[cfg(unix)]
pub(crate) fn take_slot() -> bool {
    let budget = *BUDGET.get_or_init(|| budget_from_limit(unix::soft_fd_limit()));
    OPEN.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < budget).then_some(n + 1)).is_ok()
}

/// Gives back a slot taken by [`take_slot`]: the handle was closed, or not opened after all.
#[cfg(unix)]
pub(crate) fn give_back_slot() {
    OPEN.fetch_sub(1, Ordering::Relaxed);
}

/// The budget of handles under a soft limit of `soft` open files.
#[cfg(unix)]
fn budget_from_limit(soft: usize) -> usize {
    if soft >= 2 * RESERVE { soft - RESERVE } else { soft / 2 }
}

/// The process's CPU time so far (all its threads, not its children), where the platform tells it.
pub fn cpu_time() -> Option<Duration> {
    imp::cpu_time()
}

/// A time that splits file writes: a file written before the call is stamped before it, a file written after it
/// returns at or after it. What an early start compares the baseline's mtimes with: a file stamped at or after the
/// command's start changed as it started; one stamped before did not.
///
/// File times come from a coarse clock that lags the precise one by a tick or more (and, where the kernel hands
/// out fine-grained times, from the precise one), so neither clock read alone tells a write just before the call
/// from one just after. Linux reads the precise clock, then waits until the coarse one (`CLOCK_REALTIME_COARSE`)
/// has passed it (a tick or two, 1 to 20 ms) and returns that; elsewhere the precise clock is read, then a tick
/// (16 ms, Windows' usual) is waited out, so the writes after the call are stamped after the time read.
pub fn file_clock() -> filetime::FileTime {
    imp::file_clock()
}

/// The longest [`file_clock`] waits for the coarse clock to move, and how often it looks.
#[allow(dead_code)] // read on Linux only
const TICK_WAIT: Duration = Duration::from_millis(50);
#[allow(dead_code)] // read on Linux only
const TICK_POLL: Duration = Duration::from_micros(250);

/// `t`, once a timer tick (16 ms) has passed: where the coarse clock file times come from cannot be read, a
/// file written from then on is stamped at or after `t`.
#[allow(dead_code)] // Linux reads the coarse clock itself
fn after_a_tick(t: filetime::FileTime) -> filetime::FileTime {
    std::thread::sleep(Duration::from_millis(16));
    t
}

/// A path from raw bytes: any bytes on Unix; UTF-8 elsewhere (`None` if they are not).
pub fn path_from_bytes(bytes: &[u8]) -> Option<PathBuf> {
    imp::path_from_bytes(bytes)
}

/// A new temporary directory named `prefix...` that only the owner may enter (mode 0700 on Unix), removed when
/// dropped.
pub(crate) fn private_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    imp::owner_only_dir(&mut builder);
    builder.tempdir()
}

/// Options that create files only the owner may read and write (mode 0600 on Unix); set what else to do.
pub(crate) fn private_file() -> OpenOptions {
    let mut opts = OpenOptions::new();
    imp::owner_only_file(&mut opts);
    opts
}

/// Opens `path` for reading only if it is a regular file. A FIFO, a socket or a device is never opened: opening a
/// FIFO blocks until a writer comes (and unblocks a writer waiting for a reader, who then gets `SIGPIPE`), reading a
/// device or a socket takes data another program waits for. The open itself does not block either (`O_NONBLOCK`:
/// the name may have become a FIFO since the `stat`, and some kernel files, like `/proc/kmsg`, block on read
/// without it), and what was opened is checked once more.
pub(crate) fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, "not a regular file (never opened)");
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = opts.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_budget_leaves_a_reserve() {
        assert_eq!(budget_from_limit(1024), 1024 - RESERVE);
        assert_eq!(budget_from_limit(2 * RESERVE), RESERVE);
        assert_eq!(budget_from_limit(100), 50);
        assert_eq!(budget_from_limit(usize::MAX), usize::MAX - RESERVE);
    }

    #[test]
    fn cpu_time_grows_where_there_is_one() {
        let Some(before) = cpu_time() else { return };
        // Burn CPU until the clock moves, within a bound.
        let mut x = 0u64;
        for _ in 0..100_000_000u64 {
            if cpu_time().is_some_and(|t| t > before) {
                break;
            }
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time().is_some_and(|t| t > before));
    }

    #[cfg(unix)]
    #[test]
    fn private_files_and_directories_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir("stator-sys-test-").unwrap();
        assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700);
        let file = dir.path().join("f");
        private_file().write(true).create_new(true).open(&file).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn any_bytes_are_a_path_on_unix() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(path_from_bytes(b"caf\xe9").unwrap().as_os_str().as_bytes(), b"caf\xe9");
    }

    #[test]
    fn a_file_written_after_reading_the_file_clock_is_stamped_at_or_after_it() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..200 {
            let at = file_clock();
            let path = dir.path().join(format!("f{i}"));
            std::fs::write(&path, b"x").unwrap();
            let mtime = filetime::FileTime::from_last_modification_time(&std::fs::metadata(&path).unwrap());
            assert!(mtime >= at, "written after {at:?}, stamped {mtime:?}");
        }
    }

    #[test]
    fn a_file_written_before_reading_the_file_clock_is_stamped_before_it() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            let path = dir.path().join(format!("f{i}"));
            std::fs::write(&path, b"x").unwrap();
            let at = file_clock();
            let mtime = filetime::FileTime::from_last_modification_time(&std::fs::metadata(&path).unwrap());
            assert!(mtime < at, "written before {at:?}, stamped {mtime:?}");
        }
    }
}
