//! [`crate::sys`] where there is no Unix: no open-file limit to raise, no CPU clock, paths must be UTF-8, and
//! files are private by the user's profile directory (the temporary directory is the user's own).

use std::path::PathBuf;
use std::time::Duration;

/// No limit to raise.
pub(super) fn raise_fd_limit() {}

/// Not known.
pub(super) fn cpu_time() -> Option<Duration> {
    None
}

/// See [`crate::sys::file_clock`].
pub(super) fn file_clock() -> filetime::FileTime {
    super::after_a_tick(filetime::FileTime::now())
}

/// See [`crate::sys::path_from_bytes`].
pub(super) fn path_from_bytes(bytes: &[u8]) -> Option<PathBuf> {
    std::str::from_utf8(bytes).ok().map(PathBuf::from)
}

/// Nothing to set.
pub(super) fn owner_only_dir(_builder: &mut tempfile::Builder<'_, '_>) {}

/// Nothing to set.
pub(super) fn owner_only_file(_opts: &mut std::fs::OpenOptions) {}
