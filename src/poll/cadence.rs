//! Which look is due next, and when: a full sweep on the fixed-rate [`Schedule`] (whose interval stretches when sweeps
//! cost too much CPU), a hot tick ([`Poller::tick_hot`](super::Poller::tick_hot)) every hot interval in between, and an
//! early look while a burst settles or a removal waits for its confirming look. Pure: times come in as arguments.
//!
//! The app's main loop drives the engine with it, and so does the sweep benchmark, so that what the benchmark
//! measures is what the app does.

use std::time::{Duration, Instant};

use super::{Schedule, Settle, Stretch, Sweep};
use crate::config::Config;

/// When to look, and how: the full-sweep schedule and the hot tier's.
#[derive(Debug, Clone)]
pub struct Cadence {
    schedule: Schedule,
    /// The hot tier's interval; `None` when it is off.
    hot: Option<Duration>,
    next_hot: Instant,
    /// The short delay used, without a hot tier, while a removal waits for its confirming look.
    quick: Duration,
    /// The last look left a removal waiting for its confirming look.
    pending: bool,
}

impl Cadence {
    /// The cadence `cfg` asks for (its interval, hot interval, zero for no hot tier, and settle delay), with the
    /// first full sweep and the first hot tick due at `now`. The baseline is a full look like any other: record it
    /// with [`Cadence::done`].
    ///
    /// The hot interval never exceeds the full interval: a longer one (the default 100 ms with `--interval 50ms`)
    /// is cut to it. Then full sweeps win every tie while they keep their pace, and the hot tier keeps that pace
    /// for the recently changed files when the full sweeps stretch.
    pub fn new(cfg: &Config, now: Instant) -> Cadence {
        Cadence {
            schedule: Schedule::new(cfg.interval, now),
            hot: (!cfg.hot_interval.is_zero()).then_some(cfg.hot_interval.min(cfg.interval)),
            next_hot: now,
            quick: cfg.settle,
            pending: false,
        }
    }

    /// The hot tier's interval; `None` when it is off.
    pub fn hot_interval(&self) -> Option<Duration> {
        self.hot
    }

    /// The full-sweep schedule (its effective interval says whether it backed off).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// When the next look is due, and what kind of look it is, at `now` with `settle` holding the burst in
    /// progress: the earlier of the next full sweep and the next hot tick (a full sweep when both are due), brought
    /// forward to the settle deadline (as a full sweep while no full sweep has confirmed the burst, or when there is
    /// no hot tier, else as a hot tick), and, without a hot tier, to a quick look when a removal waits for its
    /// confirmation.
    pub fn next(&self, now: Instant, settle: &Settle) -> (Instant, Sweep) {
        let mut full = self.schedule.next();
        let mut hot = self.hot.map(|_| self.next_hot);
        if let Some(deadline) = settle.deadline() {
            if settle.needs_full_sweep() || self.hot.is_none() {
                full = full.min(deadline);
            } else {
                hot = Some(hot.map_or(deadline, |h| h.min(deadline)));
            }
        }
        if self.pending && self.hot.is_none() {
            full = full.min(now + self.quick);
        }
        match hot {
            Some(h) if h < full => (h, Sweep::Hot),
            _ => (full, Sweep::Full),
        }
    }

    /// Records a look of `kind` that started at `started`, cost `cost` (CPU time on all cores where known: a
    /// parallel sweep's wall time hides part of it) and left a removal waiting for confirmation if `pending`. A full
    /// sweep's cost may stretch the schedule's interval: returns the [`Stretch`] when it did.
    pub fn done(&mut self, kind: Sweep, started: Instant, cost: Duration, pending: bool) -> Option<Stretch> {
        if let Some(h) = self.hot {
            self.next_hot = started + h;
        }
        self.pending = pending;
        match kind {
            Sweep::Full => self.schedule.done(started, cost),
            Sweep::Hot => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Change, ChangeKind, Reason};
    use crate::fingerprint::Fields;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn cfg(interval: u64, hot: u64) -> Config {
        Config { interval: ms(interval), hot_interval: ms(hot), settle: ms(200), ..Config::default() }
    }

    fn modified(p: &str) -> Vec<Change> {
        vec![Change { path: p.into(), kind: ChangeKind::Modified, reason: Reason::Fields(Fields::SIZE) }]
    }

    /// Runs the cadence from `t0` for `span` with no changes, each look costing `cost` (full) or nothing (hot);
    /// returns the looks as (offset from t0, kind).
    fn run(c: &mut Cadence, t0: Instant, span: Duration, cost: Duration) -> Vec<(Duration, Sweep)> {
        let settle = Settle::new(ms(200), ms(5000));
        let mut looks = Vec::new();
        loop {
            let (due, kind) = c.next(t0, &settle);
            if due >= t0 + span {
                return looks;
            }
            looks.push((due - t0, kind));
            c.done(kind, due, if kind == Sweep::Full { cost } else { Duration::ZERO }, false);
        }
    }

    #[test]
    fn hot_ticks_run_between_full_sweeps_and_a_full_sweep_wins_a_tie() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        let looks = run(&mut c, t0, ms(1000), ms(10));
        let expect: Vec<(Duration, Sweep)> =
            (0..10).map(|i| (ms(100 * i), if i % 5 == 0 { Sweep::Full } else { Sweep::Hot })).collect();
        assert_eq!(looks, expect);
        assert_eq!(c.schedule().effective_interval(), ms(500));
    }

    #[test]
    fn without_a_hot_tier_only_full_sweeps_run() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 0), t0);
        assert_eq!(c.hot_interval(), None);
        let looks = run(&mut c, t0, ms(2000), ms(10));
        assert_eq!(looks, (0..4).map(|i| (ms(500 * i), Sweep::Full)).collect::<Vec<_>>());
    }

    #[test]
    fn the_hot_interval_never_exceeds_the_full_interval() {
        // `--interval 50ms` alone: the default hot interval (100 ms) would look less often than the full sweeps.
        let t0 = Instant::now();
        let mut c = Cadence::new(&Config { interval: ms(50), ..Config::default() }, t0);
        assert_eq!(c.hot_interval(), Some(ms(50)));
        // While full sweeps keep their pace they win every tie: no hot tick runs.
        let looks = run(&mut c, t0, ms(500), ms(1));
        assert_eq!(looks, (0..10).map(|i| (ms(50 * i), Sweep::Full)).collect::<Vec<_>>());
        // When they stretch (a costly tree), the hot tier keeps the pace the interval asked for.
        let mut c = Cadence::new(&cfg(50, 100), t0);
        c.done(Sweep::Full, t0, ms(100), false).expect("a stretch notice");
        let looks = run(&mut c, t0 + ms(1), ms(399), ms(100));
        let hot: Vec<Duration> = looks.iter().filter(|l| l.1 == Sweep::Hot).map(|l| l.0 + ms(1)).collect();
        assert_eq!(hot, [ms(50), ms(100), ms(150), ms(200), ms(250), ms(300), ms(350)]);
        // A hot interval below the full one is kept as asked.
        assert_eq!(Cadence::new(&cfg(500, 100), t0).hot_interval(), Some(ms(100)));
    }

    #[test]
    fn costly_full_sweeps_back_off_while_hot_ticks_keep_their_pace() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        // A full sweep costing 400 ms of CPU: at most a quarter of a core, so one every 1.6 s.
        let (due, kind) = c.next(t0, &Settle::new(ms(200), ms(5000)));
        assert_eq!((due, kind), (t0, Sweep::Full));
        let notice = c.done(Sweep::Full, t0, ms(400), false).expect("a stretch notice");
        assert_eq!(notice.stretched, ms(1600));
        assert_eq!(c.schedule().effective_interval(), ms(1600));
        let looks = run(&mut c, t0, ms(3200), ms(400));
        let fulls: Vec<Duration> = looks.iter().filter(|l| l.1 == Sweep::Full).map(|l| l.0).collect();
        assert_eq!(fulls, [ms(1600)]);
        assert_eq!(looks.iter().filter(|l| l.1 == Sweep::Hot).count(), 30, "every 100 ms but at 0 and 1.6 s");
        // A hot tick's cost never stretches the schedule.
        assert_eq!(c.done(Sweep::Hot, t0 + ms(3200), ms(10_000), false), None);
        assert_eq!(c.schedule().effective_interval(), ms(1600));
    }

    #[test]
    fn a_burst_found_by_a_full_sweep_is_confirmed_by_an_early_full_sweep() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        c.done(Sweep::Full, t0, ms(10), false);
        let mut settle = Settle::new(ms(50), ms(5000));
        settle.push(modified("/a"), Sweep::Full, t0 + ms(10));
        assert_eq!(c.next(t0 + ms(10), &settle), (t0 + ms(60), Sweep::Full));
    }

    #[test]
    fn an_edit_found_by_a_hot_tick_is_confirmed_by_an_early_full_sweep() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        c.done(Sweep::Full, t0, ms(1), false);
        c.done(Sweep::Hot, t0 + ms(100), ms(1), false);
        let mut settle = Settle::new(ms(50), ms(5000));
        settle.push(modified("/a"), Sweep::Hot, t0 + ms(101));
        // The hot tier cannot say nothing changed elsewhere: the settle deadline is a full sweep's.
        assert_eq!(c.next(t0 + ms(101), &settle), (t0 + ms(151), Sweep::Full));
        // The scheduled full sweep came first and found nothing more: the deadline is a hot tick's again.
        c.done(Sweep::Full, t0 + ms(120), ms(1), false);
        settle.push(vec![], Sweep::Full, t0 + ms(121));
        assert_eq!(c.next(t0 + ms(121), &settle), (t0 + ms(151), Sweep::Hot));
        // Without a hot tier the settle deadline is a full sweep's.
        let mut c = Cadence::new(&cfg(500, 0), t0);
        c.done(Sweep::Full, t0, ms(1), false);
        let mut settle = Settle::new(ms(50), ms(5000));
        settle.push(modified("/a"), Sweep::Hot, t0 + ms(101));
        assert_eq!(c.next(t0 + ms(101), &settle), (t0 + ms(151), Sweep::Full));
    }

    #[test]
    fn a_pending_removal_brings_a_full_sweep_forward_only_without_a_hot_tier() {
        let t0 = Instant::now();
        let settle = Settle::new(ms(200), ms(5000));
        let mut c = Cadence::new(&cfg(2000, 0), t0);
        c.done(Sweep::Full, t0, ms(1), true);
        assert_eq!(c.next(t0 + ms(5), &settle), (t0 + ms(205), Sweep::Full));
        c.done(Sweep::Full, t0 + ms(205), ms(1), false);
        assert_eq!(c.next(t0 + ms(210), &settle), (t0 + ms(2205), Sweep::Full));
        // With a hot tier, the hot tick re-checks the removal.
        let mut c = Cadence::new(&cfg(2000, 100), t0);
        c.done(Sweep::Full, t0, ms(1), true);
        assert_eq!(c.next(t0 + ms(5), &settle), (t0 + ms(100), Sweep::Hot));
    }
}
