//! Settling: a burst of changes (a `git checkout`, a formatter over the tree, a file written in pieces over SMB)
//! becomes one change set once nothing more changed for a quiet period, or once the burst has lasted the
//! maximum wait. Pure: the time comes in as an argument.

use std::time::{Duration, Instant};

use crate::change::{Change, ChangeSet};

/// Collects changes until they settle.
#[derive(Debug, Clone)]
pub struct Settle {
    quiet: Duration,
    max_wait: Duration,
    pending: ChangeSet,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Settle {
    /// Settles after `quiet` without changes, or `max_wait` after the first change of a burst.
    pub fn new(quiet: Duration, max_wait: Duration) -> Settle {
        Settle { quiet, max_wait, pending: ChangeSet::new(), first: None, last: None }
    }

    /// Adds the changes one tick found at `now`.
    pub fn push(&mut self, changes: Vec<Change>, now: Instant) {
        if changes.is_empty() {
            return;
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.pending.extend(changes);
    }

    /// A burst is in progress: look again by [`Settle::deadline`].
    pub fn is_busy(&self) -> bool {
        self.first.is_some()
    }

    /// When the current burst settles if nothing more changes.
    pub fn deadline(&self) -> Option<Instant> {
        Some((self.last? + self.quiet).min(self.first? + self.max_wait))
    }

    /// The settled change set, if the burst is over at `now`. A burst whose changes cancel out (a file created
    /// and deleted again) settles into nothing.
    pub fn take(&mut self, now: Instant) -> Option<ChangeSet> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        self.first = None;
        self.last = None;
        let set = std::mem::take(&mut self.pending);
        (!set.is_empty()).then_some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{ChangeKind, Reason};

    fn created(p: &str) -> Change {
        Change { path: p.into(), kind: ChangeKind::Created, reason: Reason::NewName }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_settles_once_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(200), ms(5000));
        assert_eq!(s.take(t0), None);
        s.push(vec![created("/a")], t0);
        s.push(vec![created("/b")], t0 + ms(150));
        assert_eq!(s.take(t0 + ms(300)), None, "quiet period restarts with each change");
        let set = s.take(t0 + ms(350)).unwrap();
        assert_eq!(set.len(), 2);
        assert!(!s.is_busy());
        assert_eq!(s.take(t0 + ms(1000)), None);
    }

    #[test]
    fn a_burst_that_never_stops_is_cut_at_the_maximum_wait() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(200), ms(1000));
        for i in 0..20 {
            let now = t0 + ms(100 * i);
            s.push(vec![created(&format!("/f{i}"))], now);
            if let Some(set) = s.take(now) {
                assert!(now >= t0 + ms(1000));
                assert_eq!(set.len(), 11);
                return;
            }
        }
        panic!("never settled");
    }

    #[test]
    fn changes_that_cancel_out_settle_into_nothing() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(200), ms(1000));
        s.push(vec![created("/tmp1")], t0);
        s.push(vec![Change { path: "/tmp1".into(), kind: ChangeKind::Removed, reason: Reason::Vanished }], t0 + ms(10));
        assert_eq!(s.take(t0 + ms(500)), None);
        assert!(!s.is_busy());
    }
}
