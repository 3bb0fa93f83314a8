//! Growing pauses between looks at a process being stopped: short first, since most children exit at once, then
//! longer, so a slow stop costs few wake-ups. Shared by the Unix and Windows supervisors.

use std::time::{Duration, Instant};

/// The first and the longest pause between two looks.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// The next pause, doubling from [`FIRST_PAUSE`] up to [`MAX_PAUSE`].
pub(crate) struct Pauses(Duration);

impl Pauses {
    pub(crate) fn new() -> Pauses {
        Pauses(FIRST_PAUSE)
    }

    /// Sleeps for the next pause, but not past `until`. Returns false, without sleeping, once `until` has passed.
    pub(crate) fn sleep_until(&mut self, until: Instant) -> bool {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(self.0.min(left));
        self.0 = (self.0 * 2).min(MAX_PAUSE);
        true
    }
}
