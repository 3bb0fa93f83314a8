//! The Unix side of [`crate::sys`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft and hard `RLIMIT_NOFILE` before [`raise_fd_limit`] changed it (`u64::MAX`: unchanged).
static ORIGINAL_SOFT: AtomicU64 = AtomicU64::new(u64::MAX);
static ORIGINAL_HARD: AtomicU64 = AtomicU64::new(u64::MAX);

/// See [`crate::sys::raise_fd_limit`].
pub(super) fn raise_fd_limit() {
    const CAP: u64 = 1 << 20;
    let old = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (old.current, old.maximum) else { return };
    let want = hard.unwrap_or(CAP).min(CAP);
    if want <= soft {
        return;
    }
    if setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum: hard }).is_ok() {
        ORIGINAL_SOFT.store(soft, Ordering::Relaxed);
        ORIGINAL_HARD.store(hard.unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Puts back the soft limit [`raise_fd_limit`](crate::sys::raise_fd_limit) raised. Meant for a child between
/// `fork` and `exec`: it makes one system call, allocates nothing and takes no lock (async-signal-safe).
pub fn restore_fd_limit() -> std::io::Result<()> {
    let soft = ORIGINAL_SOFT.load(Ordering::Relaxed);
    if soft == u64::MAX {
        return Ok(());
    }
    let hard = ORIGINAL_HARD.load(Ordering::Relaxed);
    let maximum = (hard != u64::MAX).then_some(hard);
    setrlimit(Resource::Nofile, Rlimit { current: Some(soft), maximum })?;
    Ok(())
}

/// The soft limit on open files now (`usize::MAX` when unlimited).
pub(super) fn soft_fd_limit() -> usize {
    let soft = getrlimit(Resource::Nofile).current;
    soft.map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX))
}

/// See [`crate::sys::cpu_time`].
pub(super) fn cpu_time() -> Option<Duration> {
    use rustix::time::{ClockId, clock_gettime};
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Some(Duration::new(u64::try_from(t.tv_sec).ok()?, u32::try_from(t.tv_nsec).ok()?))
}

/// See [`crate::sys::file_clock`].
pub(super) fn file_clock() -> filetime::FileTime {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::time::{ClockId, clock_gettime};
        let read = |id| {
            let t = clock_gettime(id);
            filetime::FileTime::from_unix_time(t.tv_sec, u32::try_from(t.tv_nsec).unwrap_or(0))
        };
        // A file written before now is stamped at or before the precise time; one written later, at or after the
        // coarse clock then (never behind it, fine-grained or not). Once the coarse clock has passed the precise
        // time read now, the two sets are apart. That takes a tick (1 to 10 ms) or two; past the bound (a clock
        // that does not move) the coarse time is taken, at worst a file written just before reported as changed.
        let precise = read(ClockId::Realtime);
        let until = std::time::Instant::now() + super::TICK_WAIT;
        loop {
            let coarse = read(ClockId::RealtimeCoarse);
            if coarse > precise || std::time::Instant::now() >= until {
                return coarse;
            }
            std::thread::sleep(super::TICK_POLL);
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        super::after_a_tick(filetime::FileTime::now())
    }
}

/// See [`crate::sys::path_from_bytes`].
pub(super) fn path_from_bytes(bytes: &[u8]) -> Option<PathBuf> {
    Some(PathBuf::from(OsStr::from_bytes(bytes)))
}

/// Mode 0700.
pub(super) fn owner_only_dir(builder: &mut tempfile::Builder<'_, '_>) {
    builder.permissions(std::fs::Permissions::from_mode(0o700));
}

/// Mode 0600.
pub(super) fn owner_only_file(opts: &mut std::fs::OpenOptions) {
    opts.mode(0o600);
}
