//! CPU time used by stator itself (all its threads, not its children), to judge what a scan costs.

use std::time::Duration;

/// The process's CPU time so far, where the platform tells it.
#[cfg(unix)]
pub fn used() -> Option<Duration> {
    use rustix::time::{ClockId, clock_gettime};
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Some(Duration::new(u64::try_from(t.tv_sec).ok()?, u32::try_from(t.tv_nsec).ok()?))
}

/// The process's CPU time so far, where the platform tells it.
#[cfg(not(unix))]
pub fn used() -> Option<Duration> {
    None
}
