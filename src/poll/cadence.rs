//! Which look is due next, and when: a full sweep on the fixed-rate [`Schedule`] (whose interval stretches when sweeps
//! cost too much CPU), a hot tick ([`Poller::tick_hot`](super::Poller::tick_hot)) every hot interval in between, and an
//! early look while a burst settles or a removal waits for its confirming look. A full sweep of a big tree goes in
//! parts ([`Poller::tick_part`](super::Poller::tick_part)), sized by [`Parts`] to a few tens of milliseconds each, so
//! that hot ticks keep their pace during it. Pure: times come in as arguments.
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
    /// The full sweep in progress, when it goes in parts: when its first part started, and what its parts cost.
    sweep: Option<(Instant, Duration)>,
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
            sweep: None,
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
    ///
    /// While a full sweep goes in parts, its next part is due at once, after a hot tick that is due. It begins
    /// again ([`Sweep::Full`]) at the settle deadline of a burst that began after it did: it cannot confirm that
    /// burst (some paths were passed before the burst's first change), and a new sweep beginning at the deadline
    /// confirms it as soon as a sweep in one look would. A burst that goes on is cut by the maximum wait, so
    /// this never keeps a sweep from finishing for long.
    pub fn next(&self, now: Instant, settle: &Settle) -> (Instant, Sweep) {
        let mut full = self.schedule.next();
        let mut hot = self.hot.map(|_| self.next_hot);
        let deadline = settle.deadline();
        if let Some(deadline) = deadline {
            if settle.needs_full_sweep() || self.hot.is_none() {
                full = full.min(deadline);
            } else {
                hot = Some(hot.map_or(deadline, |h| h.min(deadline)));
            }
        }
        if let Some((began, _)) = self.sweep {
            let stale = settle.began().is_some_and(|first| began < first) && settle.needs_full_sweep();
            return match (deadline, hot) {
                (Some(d), _) if stale && d <= now => (d, Sweep::Full),
                (_, Some(h)) if h <= now => (h, Sweep::Hot),
                _ => (now, Sweep::Part),
            };
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
    /// parallel sweep's wall time hides part of it) and left a removal waiting for confirmation if `pending`;
    /// `more` when it left a full sweep in parts unfinished ([`Tick::more`](super::Tick::more)). A full sweep's
    /// cost (all its parts) may stretch the schedule's interval once it is finished: returns the [`Stretch`] when
    /// it did.
    pub fn done(
        &mut self,
        kind: Sweep,
        started: Instant,
        cost: Duration,
        pending: bool,
        more: bool,
    ) -> Option<Stretch> {
        let whole = kind == Sweep::Hot || kind == Sweep::Full && !more;
        if let Some(h) = self.hot.filter(|_| whole) {
            // The hot paths were all looked at by this look.
            self.next_hot = started + h;
        }
        self.pending = pending;
        let sweep = match (kind, self.sweep) {
            (Sweep::Hot, _) => return None,
            (Sweep::Part, Some((began, spent))) => (began, spent + cost),
            (Sweep::Full | Sweep::Part, _) => (started, cost),
        };
        if more {
            self.sweep = Some(sweep);
            return None;
        }
        self.sweep = None;
        self.schedule.done(sweep.0, sweep.1)
    }

    /// When the full sweep in progress began, if one goes in parts.
    pub fn sweep_began(&self) -> Option<Instant> {
        self.sweep.map(|(began, _)| began)
    }
}

/// How many nodes a part of a full sweep looks at: as many as take about [`Parts::target`] of wall time, judged by
/// the last part (or whole sweep). A small tree is swept in one part.
#[derive(Debug, Clone)]
pub struct Parts {
    target: Duration,
    size: usize,
}

impl Parts {
    /// Parts for `cfg`: about half the hot interval each (so an edit to a hot file waits for at most half a hot
    /// interval beyond its own), at most 50 ms (so the main loop answers Ctrl-C and the command quickly), at least
    /// 10 ms. The first sweep after the baseline goes in one look.
    pub fn new(cfg: &Config) -> Parts {
        let hot = if cfg.hot_interval.is_zero() { Self::LONGEST * 2 } else { cfg.hot_interval.min(cfg.interval) };
        Parts { target: (hot / 2).clamp(Self::SHORTEST, Self::LONGEST), size: usize::MAX }
    }

    const SHORTEST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_millis(50);
    /// Never fewer nodes than this in a part: the stages around the sweep cost something per part.
    const FEWEST: usize = 1024;

    /// The wall time a part aims at.
    pub fn target(&self) -> Duration {
        self.target
    }

    /// The nodes the next part looks at.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Records a part (or a whole sweep) of `nodes` stats that took `wall`.
    pub fn record(&mut self, nodes: usize, wall: Duration) {
        if nodes == 0 {
            return;
        }
        let per_node = wall.as_secs_f64() / nodes as f64;
        let fit = if per_node > 0.0 { self.target.as_secs_f64() / per_node } else { f64::MAX };
        // Float to integer saturates: a tree swept faster than the clock can tell is swept in one part.
        self.size = (fit as usize).max(Self::FEWEST);
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
            c.done(kind, due, if kind == Sweep::Full { cost } else { Duration::ZERO }, false, false);
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
        c.done(Sweep::Full, t0, ms(100), false, false).expect("a stretch notice");
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
        let notice = c.done(Sweep::Full, t0, ms(400), false, false).expect("a stretch notice");
        assert_eq!(notice.stretched, ms(1600));
        assert_eq!(c.schedule().effective_interval(), ms(1600));
        let looks = run(&mut c, t0, ms(3200), ms(400));
        let fulls: Vec<Duration> = looks.iter().filter(|l| l.1 == Sweep::Full).map(|l| l.0).collect();
        assert_eq!(fulls, [ms(1600)]);
        assert_eq!(looks.iter().filter(|l| l.1 == Sweep::Hot).count(), 30, "every 100 ms but at 0 and 1.6 s");
        // A hot tick's cost never stretches the schedule.
        assert_eq!(c.done(Sweep::Hot, t0 + ms(3200), ms(10_000), false, false), None);
        assert_eq!(c.schedule().effective_interval(), ms(1600));
    }

    #[test]
    fn a_burst_found_by_a_full_sweep_is_confirmed_by_an_early_full_sweep() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        c.done(Sweep::Full, t0, ms(10), false, false);
        let mut settle = Settle::new(ms(50), ms(5000));
        settle.push(modified("/a"), Sweep::Full, t0 + ms(10));
        assert_eq!(c.next(t0 + ms(10), &settle), (t0 + ms(60), Sweep::Full));
    }

    #[test]
    fn an_edit_found_by_a_hot_tick_is_confirmed_by_an_early_full_sweep() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        c.done(Sweep::Full, t0, ms(1), false, false);
        c.done(Sweep::Hot, t0 + ms(100), ms(1), false, false);
        let mut settle = Settle::new(ms(50), ms(5000));
        settle.push(modified("/a"), Sweep::Hot, t0 + ms(101));
        // The hot tier cannot say nothing changed elsewhere: the settle deadline is a full sweep's.
        assert_eq!(c.next(t0 + ms(101), &settle), (t0 + ms(151), Sweep::Full));
        // The scheduled full sweep came first and found nothing more: the deadline is a hot tick's again.
        c.done(Sweep::Full, t0 + ms(120), ms(1), false, false);
        settle.push(vec![], Sweep::Full, t0 + ms(121));
        assert_eq!(c.next(t0 + ms(121), &settle), (t0 + ms(151), Sweep::Hot));
        // Without a hot tier the settle deadline is a full sweep's.
        let mut c = Cadence::new(&cfg(500, 0), t0);
        c.done(Sweep::Full, t0, ms(1), false, false);
        let mut settle = Settle::new(ms(50), ms(5000));
        settle.push(modified("/a"), Sweep::Hot, t0 + ms(101));
        assert_eq!(c.next(t0 + ms(101), &settle), (t0 + ms(151), Sweep::Full));
    }

    #[test]
    fn a_pending_removal_brings_a_full_sweep_forward_only_without_a_hot_tier() {
        let t0 = Instant::now();
        let settle = Settle::new(ms(200), ms(5000));
        let mut c = Cadence::new(&cfg(2000, 0), t0);
        c.done(Sweep::Full, t0, ms(1), true, false);
        assert_eq!(c.next(t0 + ms(5), &settle), (t0 + ms(205), Sweep::Full));
        c.done(Sweep::Full, t0 + ms(205), ms(1), false, false);
        assert_eq!(c.next(t0 + ms(210), &settle), (t0 + ms(2205), Sweep::Full));
        // With a hot tier, the hot tick re-checks the removal.
        let mut c = Cadence::new(&cfg(2000, 100), t0);
        c.done(Sweep::Full, t0, ms(1), true, false);
        assert_eq!(c.next(t0 + ms(5), &settle), (t0 + ms(100), Sweep::Hot));
    }

    #[test]
    fn a_sweep_in_parts_runs_its_parts_back_to_back_with_hot_ticks_at_their_pace() {
        let t0 = Instant::now();
        let settle = Settle::new(ms(200), ms(5000));
        let mut c = Cadence::new(&cfg(500, 100), t0);
        assert_eq!(c.next(t0, &settle), (t0, Sweep::Full));
        // The first part, 40 ms. It did not look at the hot paths: the hot tick due since t0 comes next.
        assert_eq!(c.done(Sweep::Full, t0, ms(40), false, true), None);
        assert_eq!(c.sweep_began(), Some(t0));
        assert_eq!(c.next(t0 + ms(40), &settle), (t0, Sweep::Hot));
        c.done(Sweep::Hot, t0 + ms(40), ms(1), false, false);
        // Then parts, each due at once, until the next hot tick is due (at 140 ms).
        for start in [41, 81, 121] {
            assert_eq!(c.next(t0 + ms(start), &settle), (t0 + ms(start), Sweep::Part));
            assert_eq!(c.done(Sweep::Part, t0 + ms(start), ms(40), false, true), None);
        }
        assert_eq!(c.next(t0 + ms(161), &settle), (t0 + ms(140), Sweep::Hot));
        c.done(Sweep::Hot, t0 + ms(161), ms(1), false, false);
        assert_eq!(c.next(t0 + ms(162), &settle), (t0 + ms(162), Sweep::Part));
        // The last part: five parts of 40 ms, 200 ms of CPU, more than a quarter of 500 ms: the schedule stretches,
        // from the sweep's beginning.
        let stretch = c.done(Sweep::Part, t0 + ms(162), ms(40), false, false).expect("a stretch notice");
        assert_eq!((stretch.scan, stretch.stretched), (ms(200), ms(800)));
        assert_eq!(c.sweep_began(), None);
        assert_eq!(c.next(t0 + ms(202), &settle), (t0 + ms(261), Sweep::Hot));
        c.done(Sweep::Hot, t0 + ms(761), ms(1), false, false);
        assert_eq!(c.next(t0 + ms(762), &settle), (t0 + ms(800), Sweep::Full));
    }

    #[test]
    fn a_sweep_in_parts_begins_again_at_the_deadline_of_a_burst_that_began_after_it() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&cfg(500, 100), t0);
        c.done(Sweep::Full, t0, ms(40), false, true);
        // A hot tick finds an edit half-way through the sweep.
        let mut settle = Settle::new(ms(200), ms(5000));
        settle.push(modified("/a"), Sweep::Hot, t0 + ms(100));
        c.done(Sweep::Hot, t0 + ms(100), ms(1), false, false);
        // Parts go on until the settle deadline; then the sweep begins again, to confirm the burst.
        assert_eq!(c.next(t0 + ms(150), &settle), (t0 + ms(150), Sweep::Part));
        assert_eq!(c.next(t0 + ms(300), &settle), (t0 + ms(300), Sweep::Full));
        c.done(Sweep::Full, t0 + ms(300), ms(40), false, true);
        assert_eq!(c.sweep_began(), Some(t0 + ms(300)));
        // The new sweep began after the burst: it goes on to its end, whatever the deadline says.
        c.done(Sweep::Hot, t0 + ms(340), ms(1), false, false);
        assert_eq!(c.next(t0 + ms(341), &settle), (t0 + ms(341), Sweep::Part));
        // A burst that began before the sweep in progress does not restart it either.
        let mut c = Cadence::new(&cfg(500, 0), t0);
        let mut settle = Settle::new(ms(200), ms(5000));
        settle.push(modified("/a"), Sweep::Hot, t0);
        c.done(Sweep::Full, t0 + ms(10), ms(40), false, true);
        assert_eq!(c.next(t0 + ms(300), &settle), (t0 + ms(300), Sweep::Part));
    }

    #[test]
    fn parts_take_about_half_a_hot_interval() {
        let mut p = Parts::new(&cfg(500, 100));
        assert_eq!((p.target(), p.size()), (ms(50), usize::MAX), "the first sweep goes in one look");
        // 1M stats in 2 s: 2 us each, 25,000 in 50 ms.
        p.record(1_000_000, ms(2000));
        assert_eq!(p.size(), 25_000);
        // A fast tree: the whole of it in one part.
        p.record(10_000, ms(4));
        assert_eq!(p.size(), 125_000);
        // Never below the fewest nodes a part is worth.
        p.record(1_000, Duration::from_secs(10));
        assert_eq!(p.size(), Parts::FEWEST);
        assert_eq!(Parts::new(&cfg(500, 0)).target(), ms(50));
        assert_eq!(Parts::new(&cfg(500, 10)).target(), ms(10));
        assert_eq!(Parts::new(&cfg(30, 100)).target(), ms(15));
    }
}
