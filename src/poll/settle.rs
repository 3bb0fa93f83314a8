//! Settling: a burst of changes (a `git checkout`, a formatter over the tree, a file written in pieces over SMB)
//! becomes one change set once nothing more changed for a quiet period, or once the burst has lasted the
//! maximum wait. Pure: the time comes in as an argument.
//!
//! Quiet is judged by the ticks that look, and a hot tick only looks at recently changed paths: it can say that
//! nothing more changed among them, never that nothing changed elsewhere. A burst may reach beyond the hot paths
//! (a checkout touching three files edited lately and fifty others; a formatter rewriting more files than the hot
//! tier holds), and the part only a full sweep sees would come as a second restart. So every burst settles only
//! after a full sweep found nothing new since its last change: the full sweep has its say before the restart,
//! one restart per burst whatever its size. [`crate::poll::Cadence`] brings that sweep forward to the settle
//! deadline (it then also counts as the schedule's next sweep), so an edit restarts as soon as before, one full
//! sweep later.

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
    /// A full sweep found nothing after the last change.
    confirmed: bool,
    /// No change came in since the full sweep in progress began (a sweep in parts, with hot ticks between them).
    clean: bool,
}

/// A kind of look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// A full sweep: every tracked path is looked at, in one look or, on a big tree, in parts (this look is the
    /// first part; a sweep in progress is dropped and begins again).
    Full,
    /// The next part of the full sweep in progress.
    Part,
    /// Only the hot paths are looked at.
    Hot,
}

impl Settle {
    /// Settles after `quiet` without changes, or `max_wait` after the first change of a burst.
    pub fn new(quiet: Duration, max_wait: Duration) -> Settle {
        Settle { quiet, max_wait, pending: ChangeSet::new(), first: None, last: None, confirmed: false, clean: false }
    }

    /// Adds the changes one look of kind `sweep` found at `now`; a [`Sweep::Full`] look here is a whole sweep in
    /// one look, a [`Sweep::Part`] one neither begins nor ends a sweep (see [`Settle::push_sweep`]).
    pub fn push(&mut self, changes: Vec<Change>, sweep: Sweep, now: Instant) {
        self.push_look(changes, sweep, sweep == Sweep::Part, now);
    }

    /// Adds the changes a look that was part of a full sweep found at `now`: the look `begins` the sweep, or
    /// `ends` it, or both (a sweep in one look). A sweep confirms the burst only when no change came in from its
    /// first look to its last, hot ticks between its parts included: a change found half-way may belong to a
    /// burst that also touched paths the sweep had already passed.
    pub fn push_sweep(&mut self, changes: Vec<Change>, begins: bool, ends: bool, now: Instant) {
        if begins {
            self.clean = true;
        }
        self.add(changes, now);
        if ends && self.clean {
            self.confirmed = true;
        }
    }

    /// Adds what one look of kind `kind` (as [`crate::poll::Cadence`] asked for it) found at `now`; `more` when it
    /// left a full sweep in parts unfinished ([`crate::poll::Tick::more`]). What the app and the bench call.
    pub fn push_look(&mut self, changes: Vec<Change>, kind: Sweep, more: bool, now: Instant) {
        match kind {
            Sweep::Hot => self.add(changes, now),
            Sweep::Full | Sweep::Part => self.push_sweep(changes, kind == Sweep::Full, !more, now),
        }
    }

    fn add(&mut self, changes: Vec<Change>, now: Instant) {
        if changes.is_empty() {
            return;
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.confirmed = false;
        self.clean = false;
        self.pending.extend(changes);
    }

    /// The burst can only settle after a full sweep finds nothing new: run one at [`Settle::deadline`].
    pub fn needs_full_sweep(&self) -> bool {
        self.is_busy() && !self.confirmed
    }

    /// When the burst in progress began (the tick that found its first change), if one is.
    pub fn began(&self) -> Option<Instant> {
        self.first
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
        let cut = self.first.is_some_and(|first| now >= first + self.max_wait);
        if now < deadline || (self.needs_full_sweep() && !cut) {
            return None;
        }
        self.first = None;
        self.last = None;
        self.confirmed = false;
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
        s.push(vec![created("/a")], Sweep::Hot, t0);
        assert_eq!(s.began(), Some(t0));
        s.push(vec![created("/b")], Sweep::Hot, t0 + ms(150));
        s.push(vec![], Sweep::Full, t0 + ms(160));
        assert_eq!(s.take(t0 + ms(300)), None, "quiet period restarts with each change");
        assert_eq!(s.began(), Some(t0), "the burst began with its first change");
        let set = s.take(t0 + ms(350)).unwrap();
        assert_eq!(set.len(), 2);
        assert!(!s.is_busy());
        assert_eq!(s.began(), None);
        assert_eq!(s.take(t0 + ms(1000)), None);
    }

    #[test]
    fn a_burst_that_never_stops_is_cut_at_the_maximum_wait() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(200), ms(1000));
        for i in 0..20 {
            let now = t0 + ms(100 * i);
            s.push(vec![created(&format!("/f{i}"))], Sweep::Full, now);
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
        s.push(vec![created("/tmp1")], Sweep::Hot, t0);
        s.push(
            vec![Change { path: "/tmp1".into(), kind: ChangeKind::Removed, reason: Reason::Vanished }],
            Sweep::Hot,
            t0 + ms(10),
        );
        s.push(vec![], Sweep::Full, t0 + ms(20));
        assert_eq!(s.take(t0 + ms(500)), None);
        assert!(!s.is_busy());
    }

    #[test]
    fn a_change_found_by_a_full_sweep_settles_only_after_a_quiet_full_sweep() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(100), ms(5000));
        s.push(vec![created("/a")], Sweep::Full, t0);
        // Hot ticks see nothing more, but they only look at hot paths: not enough.
        s.push(vec![], Sweep::Hot, t0 + ms(100));
        s.push(vec![], Sweep::Hot, t0 + ms(200));
        assert!(s.needs_full_sweep());
        assert_eq!(s.take(t0 + ms(200)), None);
        s.push(vec![], Sweep::Full, t0 + ms(250));
        assert_eq!(s.take(t0 + ms(250)).map(|set| set.len()), Some(1));
        assert!(!s.needs_full_sweep());
    }

    /// A hot tick cannot tell that nothing changed beyond the hot paths (a checkout touching a file edited lately
    /// and many others, a burst larger than the hot tier): the full sweep has its say before the restart.
    #[test]
    fn an_edit_found_by_the_hot_tier_also_settles_only_after_a_quiet_full_sweep() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(100), ms(5000));
        s.push(vec![created("/a")], Sweep::Hot, t0);
        s.push(vec![], Sweep::Hot, t0 + ms(100));
        assert!(s.needs_full_sweep());
        assert_eq!(s.take(t0 + ms(100)), None);
        // The full sweep finds the rest of the burst: it joins the same change set.
        s.push(vec![created("/b"), created("/c")], Sweep::Full, t0 + ms(110));
        s.push(vec![], Sweep::Hot, t0 + ms(210));
        assert_eq!(s.take(t0 + ms(210)), None);
        s.push(vec![], Sweep::Full, t0 + ms(220));
        assert_eq!(s.take(t0 + ms(220)).map(|set| set.len()), Some(3));
        // A full sweep that found nothing after the last change, then quiet on the hot tier: settled at the deadline.
        s.push(vec![created("/d")], Sweep::Hot, t0 + ms(1000));
        s.push(vec![], Sweep::Full, t0 + ms(1050));
        assert!(!s.needs_full_sweep());
        assert_eq!(s.take(t0 + ms(1099)), None);
        assert_eq!(s.take(t0 + ms(1100)).map(|set| set.len()), Some(1));
    }

    #[test]
    fn a_sweep_in_parts_confirms_only_when_no_change_came_in_from_its_first_part_to_its_last() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(100), ms(5000));
        s.push(vec![created("/a")], Sweep::Hot, t0);
        // A sweep in three parts that finds nothing: the burst is confirmed when it ends, not before.
        s.push_sweep(vec![], true, false, t0 + ms(10));
        s.push_sweep(vec![], false, false, t0 + ms(20));
        assert!(s.needs_full_sweep());
        s.push_sweep(vec![], false, true, t0 + ms(30));
        assert!(!s.needs_full_sweep());
        assert_eq!(s.take(t0 + ms(100)).map(|set| set.len()), Some(1));
        // A hot tick between two parts finds an edit: the sweep in progress cannot confirm it.
        s.push_sweep(vec![], true, false, t0 + ms(200));
        s.push(vec![created("/b")], Sweep::Hot, t0 + ms(210));
        s.push_sweep(vec![], false, true, t0 + ms(220));
        assert!(s.needs_full_sweep());
        assert_eq!(s.take(t0 + ms(400)), None);
        // Nor can one whose own middle part found a change.
        s.push_sweep(vec![], true, false, t0 + ms(400));
        s.push(vec![created("/c")], Sweep::Part, t0 + ms(410));
        s.push_sweep(vec![], false, true, t0 + ms(420));
        assert!(s.needs_full_sweep());
        // The next whole sweep does.
        s.push_sweep(vec![], true, false, t0 + ms(430));
        s.push(vec![], Sweep::Hot, t0 + ms(440));
        s.push_sweep(vec![], false, true, t0 + ms(450));
        assert!(!s.needs_full_sweep());
        assert_eq!(s.take(t0 + ms(510)).map(|set| set.len()), Some(2));
    }

    #[test]
    fn the_maximum_wait_cuts_even_an_unconfirmed_broad_burst() {
        let t0 = Instant::now();
        let mut s = Settle::new(ms(100), ms(1000));
        s.push(vec![created("/a")], Sweep::Full, t0);
        assert_eq!(s.take(t0 + ms(500)), None);
        assert!(s.take(t0 + ms(1000)).is_some());
    }
}
