//! When the next full scan starts: at a fixed rate (the interval is measured from the start of one scan to the
//! start of the next, so scan time does not stretch the period), stretching the interval when scans cost a large
//! share of it (a huge tree on two cores), instead of burning a core. Pure: times come in as arguments.

use std::time::{Duration, Instant};

/// Scans may cost at most this share of one core's time; beyond it the interval stretches. A quarter keeps an
/// idle watch of a big tree from being the busiest thing on a laptop, while the hot tier keeps edits to the files
/// being worked on fast.
const MAX_DUTY: f64 = 0.25;

/// The fixed-rate scan schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    effective: Duration,
    next: Instant,
}

/// The schedule had to stretch its interval: scans are slower than the interval allows. (Not the supervisor's
/// `RestartBackoff`, the delay before restarting a command that keeps crashing.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    /// How long the last scan took.
    pub scan: Duration,
    /// The interval asked for.
    pub interval: Duration,
    /// The interval in use now.
    pub stretched: Duration,
}

impl Schedule {
    /// A schedule whose first scan is due at `now`.
    pub fn new(interval: Duration, now: Instant) -> Schedule {
        Schedule { interval, effective: interval, next: now }
    }

    /// When the next scan is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// The interval in use (stretched when scans are slow).
    pub fn effective_interval(&self) -> Duration {
        self.effective
    }

    /// Records a scan that started at `started` and cost `took` (CPU time where known); returns a stretch notice
    /// when the interval had to stretch (only when the stretch grows, so it is said once).
    pub fn done(&mut self, started: Instant, took: Duration) -> Option<Stretch> {
        let needed = took.div_f64(MAX_DUTY);
        let before = self.effective;
        self.effective = if needed > self.interval { needed } else { self.interval };
        self.next = started + self.effective;
        let grew = self.effective > before.mul_f64(1.25) && self.effective > self.interval;
        grew.then_some(Stretch { scan: took, interval: self.interval, stretched: self.effective })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn interval_is_measured_from_scan_start() {
        let t0 = Instant::now();
        let mut s = Schedule::new(ms(500), t0);
        assert_eq!(s.next(), t0);
        assert_eq!(s.done(t0, ms(100)), None);
        assert_eq!(s.next(), t0 + ms(500));
        assert_eq!(s.done(t0 + ms(500), ms(125)), None, "a quarter of the interval is fine");
    }

    #[test]
    fn slow_scans_stretch_the_interval_and_say_so_once() {
        let t0 = Instant::now();
        let mut s = Schedule::new(ms(500), t0);
        let note = s.done(t0, ms(200)).unwrap();
        assert_eq!(note.stretched, ms(800));
        assert_eq!(s.next(), t0 + ms(800));
        assert_eq!(s.done(t0 + ms(800), ms(205)), None, "a similar scan does not repeat the notice");
        // Fast again: back to the asked interval.
        assert_eq!(s.done(t0 + ms(1700), ms(50)), None);
        assert_eq!(s.effective_interval(), ms(500));
    }
}
