//! What to do with the child, decided without touching it: a pure state machine.
//!
//! The [`Policy`] is fed [`Event`]s (a settled change arrived, the child exited, a stop or start finished, time
//! passed) together with the current time, and answers each with one [`Action`] for the
//! [`Supervisor`](super::Supervisor) to carry out. It reads no clock and touches no process, so every rule is tested
//! by tables of `events -> actions`.
//!
//! The rules:
//! - A change while the child runs: [`OnBusy::Restart`] stops it, then starts a new one; [`OnBusy::Queue`] remembers
//!   the change and starts a new child once the current one exits by itself; [`OnBusy::Signal`] only sends the
//!   signal.
//! - A change while a start is in progress is remembered and gives exactly one more restart once the start
//!   finished, however many changes arrived (in queue mode: once the child exits). A change while the old child is
//!   being stopped for a restart needs nothing more: the new child starts after the change.
//! - A restart asked for by hand (Enter, `SIGUSR1`, a trigger file) stops a running child and starts a new one,
//!   whatever [`OnBusy`] says; with no child running, it starts one, like a change.
//! - A file change always starts a new child promptly: it cancels a pending crash-loop delay and clears the count of
//!   quick crashes.
//! - The child exits by itself: if it exited with the reload code, or a change was queued, a new one starts (see
//!   below for the delay); otherwise [`OnExit`] decides: wait for the next change, restart after a growing delay, or
//!   exit stator with the child's code (`128 + n` for death by signal `n`).
//! - Crash loops cannot spin: automatic restarts (on-exit restart, reload code) of a child that ran less than
//!   [`RestartBackoff::healthy_after`] are delayed by [`RestartBackoff::first`], doubling each time up to [`RestartBackoff::max`]. A
//!   reload is a request, not a crash: the first reload-code restart of a streak is immediate, and so is every
//!   one of a child that ran at least [`RestartBackoff::reload_after`] (a reloader that saw an edit, as Django's does
//!   with exit code 3, runs a while first; a child exiting with the code as it starts would spin).
//!
//! With a build ([`Policy::with_build`], `--build`), a change touches the build, never the child:
//! - A change (or a restart asked for by hand) starts the build while the child keeps running, whatever its phase;
//!   the very first start is a build too. A change while the build runs cancels it ([`Action::StopBuild`]) and
//!   starts it again once it is gone; any number of changes during the build or its cancelling give one build more.
//! - A build that succeeds (exit code 0) does to the child what a change does without a build ([`OnBusy`] decides;
//!   a build asked for by hand restarts it whatever [`OnBusy`] says). A build that fails, or cannot be spawned,
//!   leaves the child alone: the old run keeps serving (or, with none, the next change builds again).
//! - The child's own end is handled as without a build (on-exit, the reload code, a queued change).
//! - Shutdown forgets the build: nothing builds or starts afterwards (the supervisor stops a running build with the
//!   child).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What a change does while the child is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnBusy {
    /// Stop the child, then start a new one.
    #[default]
    Restart,
    /// Let the child finish; start a new one once it exited by itself.
    Queue,
    /// Only send the signal to the child's process group (for children that reload themselves on `SIGHUP`).
    Signal,
}

/// What happens when the child exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnExit {
    /// Report its status and wait for the next change.
    #[default]
    Wait,
    /// Start it again, after a delay that grows while it keeps exiting quickly.
    Restart,
    /// Exit stator with the child's exit code (`128 + n` for death by signal `n`).
    Exit,
}

impl OnBusy {
    /// Every value, in the order the CLI lists them.
    pub const ALL: [OnBusy; 3] = [OnBusy::Restart, OnBusy::Queue, OnBusy::Signal];

    /// The CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OnBusy::Restart => "restart",
            OnBusy::Queue => "queue",
            OnBusy::Signal => "signal",
        }
    }
}

impl OnExit {
    /// Every value, in the order the CLI lists them.
    pub const ALL: [OnExit; 3] = [OnExit::Wait, OnExit::Restart, OnExit::Exit];

    /// The CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OnExit::Wait => "wait",
            OnExit::Restart => "restart",
            OnExit::Exit => "exit",
        }
    }
}

impl fmt::Display for OnBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for OnExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--on-busy` or `--on-exit` value that is not one of the choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseChoiceError {
    flag: &'static str,
    value: String,
    choices: &'static [&'static str],
}

impl fmt::Display for ParseChoiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} value '{}': expected one of {}", self.flag, self.value, self.choices.join(", "))
    }
}

impl std::error::Error for ParseChoiceError {}

impl FromStr for OnBusy {
    type Err = ParseChoiceError;

    fn from_str(s: &str) -> Result<OnBusy, ParseChoiceError> {
        OnBusy::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| ParseChoiceError {
            flag: "--on-busy",
            value: s.to_owned(),
            choices: &["restart", "queue", "signal"],
        })
    }
}

impl FromStr for OnExit {
    type Err = ParseChoiceError;

    fn from_str(s: &str) -> Result<OnExit, ParseChoiceError> {
        OnExit::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| ParseChoiceError {
            flag: "--on-exit",
            value: s.to_owned(),
            choices: &["wait", "restart", "exit"],
        })
    }
}

/// How a child ended, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Termination {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl Termination {
    /// The exit code a shell would report: the code itself, or `128 + n` for death by signal `n`.
    pub const fn exit_code(self) -> i32 {
        match self {
            Termination::Code(c) => c,
            Termination::Signal(n) => 128i32.saturating_add(n),
        }
    }
}

impl From<std::process::ExitStatus> for Termination {
    fn from(status: std::process::ExitStatus) -> Termination {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(n) = status.signal() {
                return Termination::Signal(n);
            }
        }
        // Neither a code nor a signal cannot happen for a process that terminated; call it a failure.
        Termination::Code(status.code().unwrap_or(1))
    }
}

/// The crash-loop guard: growing delays before automatic restarts of a child that keeps exiting quickly. (Not the
/// poller's `poll::Stretch`, which is its scan interval growing when scans are slow.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartBackoff {
    /// The delay after the first quick exit.
    pub first: Duration,
    /// The delay never grows beyond this.
    pub max: Duration,
    /// A child that ran at least this long was healthy: its exit starts a new streak.
    pub healthy_after: Duration,
    /// A child that exits with the reload code after running at least this long asked for a reload, and gets it
    /// at once, however many came before: only shorter runs count towards the delay.
    pub reload_after: Duration,
}

impl Default for RestartBackoff {
    fn default() -> RestartBackoff {
        RestartBackoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(10),
            reload_after: Duration::from_secs(1),
        }
    }
}

impl RestartBackoff {
    /// The delay after the `n`th quick exit in a row (counting from 0): `first * 2^n`, at most `max`.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.first.checked_mul(factor).map_or(self.max, |d| d.min(self.max))
    }
}

/// Something that happened, reported to [`Policy::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A settled set of changes arrived (also: the very first start is asked for).
    Changed,
    /// A restart was asked for by hand: like [`Event::Changed`], but a running child is always restarted.
    RestartAsked,
    /// The child asked for by [`Action::Start`] is running.
    Started,
    /// The child asked for by [`Action::Start`] could not be spawned.
    StartFailed,
    /// The running child exited by itself.
    ChildExited(Termination),
    /// The stop asked for by [`Action::Stop`] is over: the child and its process group are gone.
    StopFinished,
    /// Nothing happened; time passed (lets a crash-loop delay expire).
    Tick,
    /// Stator is shutting down: stop the child if there is one and never start another.
    Shutdown,
    /// The build asked for by [`Action::StartBuild`] is running.
    BuildStarted,
    /// The build asked for by [`Action::StartBuild`] could not be spawned (a failed build).
    BuildStartFailed,
    /// The running build exited by itself.
    BuildExited(Termination),
    /// The cancel asked for by [`Action::StopBuild`] is over: the build and its process group are gone.
    BuildStopped,
}

/// What the supervisor should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Spawn a new child, then report [`Event::Started`] or [`Event::StartFailed`].
    Start,
    /// Stop the child (signal its group, wait, kill), then report [`Event::StopFinished`].
    Stop,
    /// Send the signal to the child's process group; it keeps running.
    SendSignal,
    /// Stator should exit with this code.
    ExitStator(i32),
    /// Nothing to do until the next event.
    Wait,
    /// A new child will start at this instant: keep reporting [`Event::Tick`]; the tick at or after it answers
    /// [`Action::Start`].
    StartAfter(Instant),
    /// Spawn the build, then report [`Event::BuildStarted`] or [`Event::BuildStartFailed`]; report
    /// [`Event::BuildExited`] when it ends.
    StartBuild,
    /// Cancel the running build (stop its process group, wait, kill), then report [`Event::BuildStopped`].
    StopBuild,
}

/// Where the build stands ([`Policy::with_build`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPhase {
    /// No build running.
    Idle,
    /// A build start was asked for and has not been reported yet.
    Starting,
    /// The build runs.
    Running,
    /// The build is being cancelled; it starts again once it is gone.
    Cancelling,
}

/// Where the policy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No child; waiting for a change.
    Idle,
    /// A start was asked for and has not been reported yet.
    Starting,
    /// The child is running, since the given instant.
    Running {
        /// When its start was reported.
        since: Instant,
    },
    /// The child is being stopped so a new one can start.
    Stopping,
    /// The child exited; a new one starts at the given instant.
    BackingOff {
        /// When the delay is over.
        until: Instant,
    },
    /// The child is being stopped for good.
    ShuttingDown,
    /// Nothing more will ever start.
    Done,
}

/// The state machine deciding what happens to the child. See the [module docs](self) for the rules.
#[derive(Debug, Clone)]
pub struct Policy {
    on_busy: OnBusy,
    on_exit: OnExit,
    reload_code: Option<i32>,
    backoff: RestartBackoff,
    phase: Phase,
    /// A change that the current (or starting) child has not seen.
    pending: bool,
    /// Quick exits in a row that were restarted automatically.
    streak: u32,
    /// Where the build stands; `None` without a build.
    build: Option<BuildPhase>,
    /// A change during a build start: the build it started is out of date.
    build_pending: bool,
    /// A restart asked for by hand waits on the build: its success restarts the child whatever [`OnBusy`] says.
    build_forced: bool,
}

impl Policy {
    /// A policy with no child yet and the default [`RestartBackoff`].
    pub fn new(on_busy: OnBusy, on_exit: OnExit, reload_code: Option<i32>) -> Policy {
        Policy {
            on_busy,
            on_exit,
            reload_code,
            backoff: RestartBackoff::default(),
            phase: Phase::Idle,
            pending: false,
            streak: 0,
            build: None,
            build_pending: false,
            build_forced: false,
        }
    }

    /// The same policy with a build before every start: see the [module docs](self).
    pub fn with_build(mut self) -> Policy {
        self.build = Some(BuildPhase::Idle);
        self
    }

    /// Where the build stands; `None` without a build.
    pub fn build_phase(&self) -> Option<BuildPhase> {
        self.build
    }

    /// The same policy with another crash-loop guard.
    pub fn with_backoff(mut self, backoff: RestartBackoff) -> Policy {
        self.backoff = backoff;
        self
    }

    /// Where the policy stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a change is remembered that the current child has not seen (queue mode, or a change during a start).
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Decides what to do about `event`, which happened at `now`.
    pub fn handle(&mut self, event: Event, now: Instant) -> Action {
        if self.build.is_some() {
            match event {
                Event::Changed => return self.rebuild(false),
                Event::RestartAsked => return self.rebuild(true),
                _ => {}
            }
        }
        match event {
            Event::Changed => self.changed(),
            Event::RestartAsked => self.restart_asked(),
            Event::Started => self.started(now),
            Event::StartFailed => self.start_failed(),
            Event::ChildExited(t) => self.child_exited(t, now),
            Event::StopFinished => self.stop_finished(),
            Event::Tick => self.tick(now),
            Event::Shutdown => self.shutdown(),
            Event::BuildStarted => self.build_started(),
            Event::BuildStartFailed => self.build_start_failed(),
            Event::BuildExited(t) => self.build_exited(t),
            Event::BuildStopped => self.build_stopped(),
        }
    }

    /// Whether nothing may build or start any more.
    fn shut(&self) -> bool {
        matches!(self.phase, Phase::ShuttingDown | Phase::Done)
    }

    fn start_build(&mut self) -> Action {
        self.build = Some(BuildPhase::Starting);
        Action::StartBuild
    }

    /// A change (`forced`: a restart asked for by hand) with a build: the build starts, or starts again.
    fn rebuild(&mut self, forced: bool) -> Action {
        if self.shut() {
            return Action::Wait;
        }
        self.build_forced |= forced;
        match self.build {
            Some(BuildPhase::Idle) | None => self.start_build(),
            Some(BuildPhase::Starting) => {
                self.build_pending = true;
                Action::Wait
            }
            Some(BuildPhase::Running) => {
                self.build = Some(BuildPhase::Cancelling);
                Action::StopBuild
            }
            // The build that follows the cancel starts after this change.
            Some(BuildPhase::Cancelling) => Action::Wait,
        }
    }

    fn build_started(&mut self) -> Action {
        if self.build != Some(BuildPhase::Starting) {
            return Action::Wait;
        }
        self.build = Some(BuildPhase::Running);
        if self.shut() {
            // Shut down while it was starting: it came up; stop it.
            self.build = Some(BuildPhase::Cancelling);
            return Action::StopBuild;
        }
        if self.build_pending {
            // A change during the start: the build may have read the old files.
            self.build_pending = false;
            self.build = Some(BuildPhase::Cancelling);
            return Action::StopBuild;
        }
        Action::Wait
    }

    fn build_start_failed(&mut self) -> Action {
        if self.build != Some(BuildPhase::Starting) {
            return Action::Wait;
        }
        self.build = Some(BuildPhase::Idle);
        // A change during a failed start may be the very file that was missing: try once more.
        if self.build_pending && !self.shut() {
            self.build_pending = false;
            return self.start_build();
        }
        self.build_pending = false;
        self.build_forced = false;
        Action::Wait
    }

    fn build_exited(&mut self, t: Termination) -> Action {
        if self.build != Some(BuildPhase::Running) {
            // Ended as it was being cancelled: the cancel's report follows.
            return Action::Wait;
        }
        self.build = Some(BuildPhase::Idle);
        let forced = std::mem::take(&mut self.build_forced);
        if self.shut() || t != Termination::Code(0) {
            // A failed build leaves the old run alone.
            return Action::Wait;
        }
        if forced { self.restart_asked() } else { self.changed() }
    }

    fn build_stopped(&mut self) -> Action {
        if self.build != Some(BuildPhase::Cancelling) {
            return Action::Wait;
        }
        if self.shut() {
            self.build = Some(BuildPhase::Idle);
            return Action::Wait;
        }
        self.start_build()
    }

    fn start(&mut self) -> Action {
        self.phase = Phase::Starting;
        Action::Start
    }

    fn changed(&mut self) -> Action {
        match self.phase {
            Phase::Idle | Phase::BackingOff { .. } => {
                self.streak = 0;
                self.start()
            }
            Phase::Running { .. } => {
                self.streak = 0;
                match self.on_busy {
                    OnBusy::Restart => {
                        self.phase = Phase::Stopping;
                        Action::Stop
                    }
                    OnBusy::Queue => {
                        self.pending = true;
                        Action::Wait
                    }
                    OnBusy::Signal => Action::SendSignal,
                }
            }
            Phase::Starting => {
                self.streak = 0;
                self.pending = true;
                Action::Wait
            }
            // The start that follows the stop happens after this change.
            Phase::Stopping => Action::Wait,
            Phase::ShuttingDown | Phase::Done => Action::Wait,
        }
    }

    fn restart_asked(&mut self) -> Action {
        match self.phase {
            Phase::Running { .. } => {
                self.streak = 0;
                self.phase = Phase::Stopping;
                Action::Stop
            }
            _ => self.changed(),
        }
    }

    fn started(&mut self, now: Instant) -> Action {
        if self.phase == Phase::ShuttingDown {
            // Shut down while it was starting: it came up; stop it.
            return Action::Stop;
        }
        if self.phase != Phase::Starting {
            return Action::Wait;
        }
        self.phase = Phase::Running { since: now };
        // A change during the start: the child may have read the old files. One restart covers any number of
        // such changes. In queue mode it waits for the child to exit; in signal mode a signal this early could
        // arrive before the child installed its handler, so it restarts.
        if self.pending && self.on_busy != OnBusy::Queue {
            self.pending = false;
            self.phase = Phase::Stopping;
            return Action::Stop;
        }
        Action::Wait
    }

    fn start_failed(&mut self) -> Action {
        if self.phase == Phase::ShuttingDown {
            self.phase = Phase::Done;
            return Action::Wait;
        }
        if self.phase != Phase::Starting {
            return Action::Wait;
        }
        // A change during a failed start may be the very file that was missing: try once more.
        if self.pending {
            self.pending = false;
            return self.start();
        }
        self.phase = Phase::Idle;
        Action::Wait
    }

    fn child_exited(&mut self, t: Termination, now: Instant) -> Action {
        let Phase::Running { since } = self.phase else {
            return Action::Wait;
        };
        let ran = now.saturating_duration_since(since);
        if ran >= self.backoff.healthy_after {
            self.streak = 0;
        }
        if self.reload_code.is_some_and(|code| t == Termination::Code(code)) {
            self.pending = false;
            if ran >= self.backoff.reload_after {
                self.streak = 0;
            }
            let delay = match self.streak {
                0 => Duration::ZERO,
                n => self.backoff.delay(n - 1),
            };
            self.streak = self.streak.saturating_add(1);
            return self.start_after(now, delay);
        }
        if self.pending {
            self.pending = false;
            self.streak = 0;
            return self.start();
        }
        match self.on_exit {
            OnExit::Wait => {
                self.phase = Phase::Idle;
                Action::Wait
            }
            OnExit::Restart => {
                let delay = self.backoff.delay(self.streak);
                self.streak = self.streak.saturating_add(1);
                self.start_after(now, delay)
            }
            OnExit::Exit => {
                self.phase = Phase::Done;
                Action::ExitStator(t.exit_code())
            }
        }
    }

    fn start_after(&mut self, now: Instant, delay: Duration) -> Action {
        if delay.is_zero() {
            return self.start();
        }
        let until = now.checked_add(delay).unwrap_or(now);
        self.phase = Phase::BackingOff { until };
        Action::StartAfter(until)
    }

    fn stop_finished(&mut self) -> Action {
        match self.phase {
            Phase::Stopping => self.start(),
            Phase::ShuttingDown => {
                self.phase = Phase::Done;
                Action::Wait
            }
            _ => Action::Wait,
        }
    }

    fn tick(&mut self, now: Instant) -> Action {
        match self.phase {
            Phase::BackingOff { until } if now >= until => self.start(),
            _ => Action::Wait,
        }
    }

    fn shutdown(&mut self) -> Action {
        self.pending = false;
        self.build_pending = false;
        self.build_forced = false;
        if self.build.is_some_and(|b| b != BuildPhase::Starting) {
            // Running or cancelling: the supervisor stops it with the child; nothing follows it.
            self.build = Some(BuildPhase::Idle);
        }
        match self.phase {
            Phase::Running { .. } => {
                self.phase = Phase::ShuttingDown;
                Action::Stop
            }
            // Stop it once its start is reported (or done, if the start fails); nothing follows the stop.
            Phase::Starting | Phase::Stopping => {
                self.phase = Phase::ShuttingDown;
                Action::Wait
            }
            Phase::Idle | Phase::BackingOff { .. } => {
                self.phase = Phase::Done;
                Action::Wait
            }
            Phase::ShuttingDown | Phase::Done => Action::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::*;
    use Termination::{Code, Signal as Sig};

    /// The expected answer to one event; times are milliseconds after the case's start.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Want {
        Start,
        Stop,
        Signal,
        Exit(i32),
        Wait,
        After(u64),
        /// [`Action::StartBuild`].
        Build,
        /// [`Action::StopBuild`].
        Cancel,
    }

    struct Case {
        name: &'static str,
        on_busy: OnBusy,
        on_exit: OnExit,
        reload: Option<i32>,
        /// With `--build`.
        build: bool,
        /// `(ms since t0, event, expected action)`
        steps: &'static [(u64, Event, Want)],
    }

    const fn case(name: &'static str, on_busy: OnBusy, on_exit: OnExit, steps: &'static [(u64, Event, Want)]) -> Case {
        Case { name, on_busy, on_exit, reload: None, build: false, steps }
    }

    const fn reload(name: &'static str, on_exit: OnExit, steps: &'static [(u64, Event, Want)]) -> Case {
        Case { name, on_busy: OnBusy::Restart, on_exit, reload: Some(3), build: false, steps }
    }

    const fn build(name: &'static str, on_busy: OnBusy, on_exit: OnExit, steps: &'static [(u64, Event, Want)]) -> Case {
        Case { name, on_busy, on_exit, reload: None, build: true, steps }
    }

    fn run(c: &Case) -> Policy {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = Policy::new(c.on_busy, c.on_exit, c.reload);
        if c.build {
            p = p.with_build();
        }
        for (i, &(at, event, want)) in c.steps.iter().enumerate() {
            let got = p.handle(event, ms(at));
            let want = match want {
                Want::Start => Action::Start,
                Want::Stop => Action::Stop,
                Want::Signal => Action::SendSignal,
                Want::Exit(code) => Action::ExitStator(code),
                Want::Wait => Action::Wait,
                Want::After(n) => Action::StartAfter(ms(n)),
                Want::Build => Action::StartBuild,
                Want::Cancel => Action::StopBuild,
            };
            assert_eq!(got, want, "case '{}', step {i}: {event:?} at {at} ms", c.name);
        }
        p
    }

    use OnBusy as B;
    use OnExit as E;
    use Want::*;

    /// A child that started at 0 and runs.
    const UP: [(u64, Event, Want); 2] = [(0, Changed, Start), (0, Started, Wait)];

    /// With a build: the first build succeeded at 0, and the child it started runs.
    const BUILT: [(u64, Event, Want); 4] =
        [(0, Changed, Build), (0, BuildStarted, Wait), (0, BuildExited(Code(0)), Start), (0, Started, Wait)];

    const CASES: &[Case] = &[
        case("first change starts the child", B::Restart, E::Wait, &[(0, Changed, Start), (5, Started, Wait)]),
        case(
            "restart: a change stops the child, then starts a new one",
            B::Restart,
            E::Wait,
            &[UP[0], UP[1], (100, Changed, Stop), (150, StopFinished, Start), (160, Started, Wait)],
        ),
        case(
            "restart: changes during the stop are covered by the start that follows it",
            B::Restart,
            E::Wait,
            &[
                UP[0],
                UP[1],
                (100, Changed, Stop),
                (110, Changed, Wait),
                (120, Changed, Wait),
                (150, StopFinished, Start),
                (160, Started, Wait),
                (5000, Tick, Wait),
            ],
        ),
        case(
            "restart: a burst during a start gives exactly one more restart",
            B::Restart,
            E::Wait,
            &[
                (0, Changed, Start),
                (1, Changed, Wait),
                (2, Changed, Wait),
                (3, Changed, Wait),
                (10, Started, Stop),
                (20, StopFinished, Start),
                (30, Started, Wait),
                (5000, Tick, Wait),
            ],
        ),
        case(
            "restart: a change just after the child died by itself still starts one",
            B::Restart,
            E::Wait,
            &[UP[0], UP[1], (100, ChildExited(Code(1)), Wait), (200, Changed, Start), (210, Started, Wait)],
        ),
        case(
            "queue: changes while running wait for the child to exit, then start once",
            B::Queue,
            E::Wait,
            &[
                UP[0],
                UP[1],
                (100, Changed, Wait),
                (200, Changed, Wait),
                (300, Changed, Wait),
                (400, ChildExited(Code(0)), Start),
                (410, Started, Wait),
                (500, ChildExited(Code(0)), Wait),
                (600, Tick, Wait),
                (700, Changed, Start),
            ],
        ),
        case(
            "queue: a queued change starts a new child even after a crash, without delay",
            B::Queue,
            E::Restart,
            &[UP[0], UP[1], (100, Changed, Wait), (150, ChildExited(Sig(11)), Start), (160, Started, Wait)],
        ),
        case(
            "queue: a queued change beats on-exit exit",
            B::Queue,
            E::Exit,
            &[
                UP[0],
                UP[1],
                (100, Changed, Wait),
                (150, ChildExited(Code(0)), Start),
                (160, Started, Wait),
                (200, ChildExited(Code(4)), Exit(4)),
            ],
        ),
        case(
            "queue: a change during the start is kept until the child exits",
            B::Queue,
            E::Wait,
            &[
                (0, Changed, Start),
                (1, Changed, Wait),
                (2, Changed, Wait),
                (10, Started, Wait),
                (100, ChildExited(Code(0)), Start),
                (110, Started, Wait),
                (200, ChildExited(Code(0)), Wait),
            ],
        ),
        case(
            "signal: every change sends the signal; the child keeps running",
            B::Signal,
            E::Wait,
            &[UP[0], UP[1], (100, Changed, Signal), (200, Changed, Signal), (300, ChildExited(Code(0)), Wait)],
        ),
        case(
            "signal: a change during the start restarts instead of signalling a child without its handler",
            B::Signal,
            E::Wait,
            &[
                (0, Changed, Start),
                (1, Changed, Wait),
                (10, Started, Stop),
                (20, StopFinished, Start),
                (30, Started, Wait),
                (40, Changed, Signal),
            ],
        ),
        case(
            "on-exit wait: report and wait for the next change",
            B::Restart,
            E::Wait,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(1)), Wait),
                (200, Tick, Wait),
                (90_000, Tick, Wait),
                (90_001, Changed, Start),
                (90_002, Started, Wait),
            ],
        ),
        case(
            "on-exit exit: the child's code becomes stator's; nothing starts after",
            B::Restart,
            E::Exit,
            &[UP[0], UP[1], (100, ChildExited(Code(2)), Exit(2)), (200, Changed, Wait), (300, Tick, Wait)],
        ),
        case("on-exit exit: code 0", B::Restart, E::Exit, &[UP[0], UP[1], (100, ChildExited(Code(0)), Exit(0))]),
        case(
            "on-exit exit: death by SIGKILL is 137",
            B::Restart,
            E::Exit,
            &[UP[0], UP[1], (100, ChildExited(Sig(9)), Exit(137))],
        ),
        case(
            "on-exit exit: death by SIGTERM is 143",
            B::Signal,
            E::Exit,
            &[UP[0], UP[1], (100, ChildExited(Sig(15)), Exit(143))],
        ),
        case(
            "on-exit exit: a stop for a restart is not an exit",
            B::Restart,
            E::Exit,
            &[UP[0], UP[1], (100, Changed, Stop), (200, StopFinished, Start), (210, Started, Wait)],
        ),
        case(
            "on-exit restart: the delay doubles while the child keeps exiting quickly, up to 30 s",
            B::Restart,
            E::Restart,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(1)), After(600)),
                (599, Tick, Wait),
                (600, Tick, Start),
                (600, Started, Wait),
                (700, ChildExited(Code(1)), After(1700)),
                (1700, Tick, Start),
                (1700, Started, Wait),
                (1800, ChildExited(Code(1)), After(3800)),
                (3800, Tick, Start),
                (3800, Started, Wait),
                (3900, ChildExited(Code(1)), After(7900)),
                (7900, Tick, Start),
                (7900, Started, Wait),
                (8000, ChildExited(Code(1)), After(16_000)),
                (16_000, Tick, Start),
                (16_000, Started, Wait),
                (16_100, ChildExited(Code(1)), After(32_100)),
                (32_100, Tick, Start),
                (32_100, Started, Wait),
                (32_200, ChildExited(Code(1)), After(62_200)),
                (62_200, Tick, Start),
                (62_200, Started, Wait),
                (62_300, ChildExited(Code(0)), After(92_300)),
            ],
        ),
        case(
            "on-exit restart: a child that ran 10 s was healthy; its exit starts a new streak",
            B::Restart,
            E::Restart,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(1)), After(600)),
                (600, Tick, Start),
                (600, Started, Wait),
                (700, ChildExited(Code(1)), After(1700)),
                (1700, Tick, Start),
                (1700, Started, Wait),
                (11_700, ChildExited(Code(1)), After(12_200)),
                (12_200, Tick, Start),
                (12_200, Started, Wait),
                (12_300, ChildExited(Code(1)), After(13_300)),
            ],
        ),
        case(
            "on-exit restart: a change during the delay starts at once and clears the streak",
            B::Restart,
            E::Restart,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(1)), After(600)),
                (600, Tick, Start),
                (600, Started, Wait),
                (700, ChildExited(Code(1)), After(1700)),
                (800, Changed, Start),
                (800, Started, Wait),
                (900, ChildExited(Code(1)), After(1400)),
                (1000, Tick, Wait),
            ],
        ),
        case(
            "on-exit restart: a change-driven restart clears the streak too",
            B::Restart,
            E::Restart,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(1)), After(600)),
                (600, Tick, Start),
                (600, Started, Wait),
                (650, Changed, Stop),
                (660, StopFinished, Start),
                (670, Started, Wait),
                (700, ChildExited(Code(1)), After(1200)),
            ],
        ),
        reload(
            "reload code: exit 3 restarts at once without a change",
            E::Wait,
            &[
                UP[0],
                UP[1],
                (20_000, ChildExited(Code(3)), Start),
                (20_000, Started, Wait),
                (40_000, ChildExited(Code(4)), Wait),
            ],
        ),
        reload(
            "reload code: a quick reload loop backs off after the first",
            E::Wait,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(3)), Start),
                (100, Started, Wait),
                (200, ChildExited(Code(3)), After(700)),
                (700, Tick, Start),
                (700, Started, Wait),
                (800, ChildExited(Code(3)), After(1800)),
                (1800, Tick, Start),
                (1800, Started, Wait),
                (12_000, ChildExited(Code(3)), Start),
            ],
        ),
        reload(
            "reload code: a child reloading after running a second or more is restarted at once every time",
            E::Wait,
            &[
                UP[0],
                UP[1],
                (1500, ChildExited(Code(3)), Start),
                (1500, Started, Wait),
                (3000, ChildExited(Code(3)), Start),
                (3000, Started, Wait),
                (4000, ChildExited(Code(3)), Start),
                (4000, Started, Wait),
                // One reloading at once after its start is a loop: delayed, and doubling.
                (4100, ChildExited(Code(3)), After(4600)),
                (4600, Tick, Start),
                (4600, Started, Wait),
                (4700, ChildExited(Code(3)), After(5700)),
                (5700, Tick, Start),
                (5700, Started, Wait),
                (7000, ChildExited(Code(3)), Start),
            ],
        ),
        reload(
            "reload code beats on-exit exit; other codes still exit",
            E::Exit,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(3)), Start),
                (100, Started, Wait),
                (200, ChildExited(Code(0)), Exit(0)),
            ],
        ),
        reload(
            "reload code is an exit code, not a signal number",
            E::Exit,
            &[UP[0], UP[1], (100, ChildExited(Sig(3)), Exit(131))],
        ),
        Case {
            name: "reload code swallows a change queued before it: one restart, not two",
            on_busy: B::Queue,
            on_exit: E::Wait,
            reload: Some(3),
            build: false,
            steps: &[
                UP[0],
                UP[1],
                (50, Changed, Wait),
                (100, ChildExited(Code(3)), Start),
                (100, Started, Wait),
                (200, Tick, Wait),
                (300, ChildExited(Code(0)), Wait),
            ],
        },
        case(
            "a failed start does not loop; the next change tries again",
            B::Restart,
            E::Restart,
            &[
                (0, Changed, Start),
                (1, StartFailed, Wait),
                (1000, Tick, Wait),
                (90_000, Tick, Wait),
                (90_001, Changed, Start),
                (90_002, Started, Wait),
            ],
        ),
        case(
            "a change during a failed start gives one more try, not a loop",
            B::Restart,
            E::Restart,
            &[
                (0, Changed, Start),
                (1, Changed, Wait),
                (2, Changed, Wait),
                (3, StartFailed, Start),
                (4, StartFailed, Wait),
                (90_000, Tick, Wait),
            ],
        ),
        case(
            "shutdown stops a running child and nothing starts after",
            B::Restart,
            E::Restart,
            &[
                UP[0],
                UP[1],
                (100, Shutdown, Stop),
                (110, Changed, Wait),
                (200, StopFinished, Wait),
                (300, Changed, Wait),
                (90_000, Tick, Wait),
            ],
        ),
        case(
            "shutdown during a restart's stop cancels the start",
            B::Restart,
            E::Wait,
            &[UP[0], UP[1], (100, Changed, Stop), (110, Shutdown, Wait), (200, StopFinished, Wait), (300, Tick, Wait)],
        ),
        case(
            "shutdown during a crash-loop delay cancels the start",
            B::Restart,
            E::Restart,
            &[UP[0], UP[1], (100, ChildExited(Code(1)), After(600)), (200, Shutdown, Wait), (90_000, Tick, Wait)],
        ),
        case(
            "shutdown during a start stops the child once it is up",
            B::Restart,
            E::Wait,
            &[
                (0, Changed, Start),
                (1, Shutdown, Wait),
                (2, Started, Stop),
                (3, StopFinished, Wait),
                (4, Changed, Wait),
            ],
        ),
        case(
            "shutdown during a start that fails is done",
            B::Restart,
            E::Wait,
            &[(0, Changed, Start), (1, Changed, Wait), (2, Shutdown, Wait), (3, StartFailed, Wait), (4, Tick, Wait)],
        ),
        case("shutdown with no child is immediate", B::Queue, E::Wait, &[(0, Shutdown, Wait), (1, Changed, Wait)]),
        case(
            "a restart asked for by hand restarts a running child even in queue mode",
            B::Queue,
            E::Wait,
            &[UP[0], UP[1], (100, RestartAsked, Stop), (150, StopFinished, Start), (160, Started, Wait)],
        ),
        case(
            "a restart asked for by hand restarts a running child in signal mode",
            B::Signal,
            E::Wait,
            &[UP[0], UP[1], (100, Changed, Signal), (200, RestartAsked, Stop), (250, StopFinished, Start)],
        ),
        case(
            "a restart asked for by hand starts an ended child, and cuts a crash-loop delay short",
            B::Restart,
            E::Restart,
            &[
                UP[0],
                UP[1],
                (100, ChildExited(Code(1)), After(600)),
                (200, RestartAsked, Start),
                (210, Started, Wait),
                (300, ChildExited(Code(1)), After(800)),
                (400, Tick, Wait),
            ],
        ),
        case(
            "a restart asked for by hand while idle, stopping or shutting down",
            B::Restart,
            E::Wait,
            &[
                (0, RestartAsked, Start),
                (0, Started, Wait),
                (100, Changed, Stop),
                (110, RestartAsked, Wait),
                (150, StopFinished, Start),
                (160, Started, Wait),
                (200, Shutdown, Stop),
                (210, RestartAsked, Wait),
                (300, StopFinished, Wait),
                (400, RestartAsked, Wait),
            ],
        ),
        case(
            "queue: shutdown forgets the queued change",
            B::Queue,
            E::Wait,
            &[UP[0], UP[1], (100, Changed, Wait), (200, Shutdown, Stop), (300, StopFinished, Wait), (400, Tick, Wait)],
        ),
        build(
            "build: the first start is a build, then the child starts",
            B::Restart,
            E::Wait,
            &[(0, Changed, Build), (1, BuildStarted, Wait), (500, BuildExited(Code(0)), Start), (510, Started, Wait)],
        ),
        build(
            "build: a failed first build starts nothing; the next change builds again",
            B::Restart,
            E::Restart,
            &[
                (0, Changed, Build),
                (0, BuildStarted, Wait),
                (100, BuildExited(Code(2)), Wait),
                (90_000, Tick, Wait),
                (90_001, Changed, Build),
                (90_002, BuildStarted, Wait),
                (90_100, BuildExited(Code(0)), Start),
                (90_110, Started, Wait),
            ],
        ),
        build(
            "build: the old run serves during the build and is restarted once it succeeds",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (110, BuildStarted, Wait),
                (300, Tick, Wait),
                (600, BuildExited(Code(0)), Stop),
                (650, StopFinished, Start),
                (660, Started, Wait),
            ],
        ),
        build(
            "build: a failed build keeps the old run, and so does one killed by a signal",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (110, BuildStarted, Wait),
                (600, BuildExited(Code(1)), Wait),
                (700, Tick, Wait),
                (800, Changed, Build),
                (810, BuildStarted, Wait),
                (900, BuildExited(Sig(9)), Wait),
                (1000, Changed, Build),
                (1010, BuildStarted, Wait),
                (1100, BuildExited(Code(0)), Stop),
            ],
        ),
        build(
            "build: a change during the build cancels it; a burst gives one more build, not one each",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (110, BuildStarted, Wait),
                (200, Changed, Cancel),
                (210, Changed, Wait),
                (220, Changed, Wait),
                (250, BuildStopped, Build),
                (260, BuildStarted, Wait),
                (700, BuildExited(Code(0)), Stop),
                (750, StopFinished, Start),
                (760, Started, Wait),
                (5000, Tick, Wait),
            ],
        ),
        build(
            "build: a build that ends as it is cancelled is the cancel",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (110, BuildStarted, Wait),
                (200, Changed, Cancel),
                (205, BuildExited(Code(0)), Wait),
                (250, BuildStopped, Build),
                (260, BuildStarted, Wait),
            ],
        ),
        build(
            "build: a change during a build start cancels the build once it is up",
            B::Restart,
            E::Wait,
            &[
                (0, Changed, Build),
                (1, Changed, Wait),
                (2, Changed, Wait),
                (5, BuildStarted, Cancel),
                (10, BuildStopped, Build),
                (11, BuildStarted, Wait),
                (20, BuildExited(Code(0)), Start),
            ],
        ),
        build(
            "build: one that cannot be spawned is a failed build; a change during its start gives one more try",
            B::Restart,
            E::Restart,
            &[
                (0, Changed, Build),
                (1, BuildStartFailed, Wait),
                (100, Changed, Build),
                (101, Changed, Wait),
                (102, BuildStartFailed, Build),
                (103, BuildStartFailed, Wait),
                (90_000, Tick, Wait),
            ],
        ),
        build(
            "build + queue: a successful build queues the restart until the child ends",
            B::Queue,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, BuildExited(Code(0)), Wait),
                (300, ChildExited(Code(0)), Start),
                (310, Started, Wait),
                (400, ChildExited(Code(0)), Wait),
            ],
        ),
        build(
            "build + signal: a successful build signals the child",
            B::Signal,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, BuildExited(Code(0)), Signal),
                (300, Changed, Build),
                (301, BuildStarted, Wait),
                (400, BuildExited(Code(3)), Wait),
            ],
        ),
        build(
            "build: a restart asked for by hand builds, then restarts even in queue mode, once",
            B::Queue,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, RestartAsked, Build),
                (101, BuildStarted, Wait),
                (200, BuildExited(Code(0)), Stop),
                (250, StopFinished, Start),
                (260, Started, Wait),
                (300, Changed, Build),
                (301, BuildStarted, Wait),
                (400, BuildExited(Code(0)), Wait),
            ],
        ),
        build(
            "build: a restart asked for by hand outlives a cancel, not a failed build",
            B::Queue,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, RestartAsked, Build),
                (101, BuildStarted, Wait),
                (150, Changed, Cancel),
                (160, BuildStopped, Build),
                (170, BuildStarted, Wait),
                (300, BuildExited(Code(0)), Stop),
                (350, StopFinished, Start),
                (360, Started, Wait),
                (400, RestartAsked, Build),
                (401, BuildStarted, Wait),
                (500, BuildExited(Code(1)), Wait),
                (600, Changed, Build),
                (601, BuildStarted, Wait),
                (700, BuildExited(Code(0)), Wait),
            ],
        ),
        build(
            "build: the child's own end during a build is handled as without one",
            B::Restart,
            E::Restart,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, ChildExited(Code(1)), After(700)),
                (700, Tick, Start),
                (700, Started, Wait),
                (900, BuildExited(Code(0)), Stop),
                (950, StopFinished, Start),
            ],
        ),
        build(
            "build: a change does not cut a crash-loop delay short; the build's success does",
            B::Restart,
            E::Restart,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, ChildExited(Code(1)), After(600)),
                (200, Changed, Build),
                (201, BuildStarted, Wait),
                (300, Tick, Wait),
                (400, BuildExited(Code(0)), Start),
                (410, Started, Wait),
                (500, ChildExited(Code(1)), After(1000)),
            ],
        ),
        build(
            "build: success while the child is starting gives one more restart after the start",
            B::Restart,
            E::Wait,
            &[
                (0, Changed, Build),
                (0, BuildStarted, Wait),
                (10, BuildExited(Code(0)), Start),
                (11, Changed, Build),
                (12, BuildStarted, Wait),
                (13, BuildExited(Code(0)), Wait),
                (20, Started, Stop),
                (30, StopFinished, Start),
                (40, Started, Wait),
            ],
        ),
        build(
            "build: success while the child is being stopped needs nothing more",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, BuildExited(Code(0)), Stop),
                (201, Changed, Build),
                (202, BuildStarted, Wait),
                (203, BuildExited(Code(0)), Wait),
                (250, StopFinished, Start),
                (260, Started, Wait),
            ],
        ),
        build(
            "build: on-exit exit: a failed build is no exit; the child's end still is",
            B::Restart,
            E::Exit,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, BuildExited(Code(2)), Wait),
                (300, ChildExited(Code(0)), Exit(0)),
                (400, Changed, Wait),
            ],
        ),
        build(
            "build: shutdown during a build: nothing builds or starts after",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, Shutdown, Stop),
                (210, BuildExited(Code(0)), Wait),
                (220, StopFinished, Wait),
                (300, Changed, Wait),
                (310, RestartAsked, Wait),
                (400, BuildStopped, Wait),
            ],
        ),
        build(
            "build: shutdown during a build start stops the build once it is up",
            B::Restart,
            E::Wait,
            &[
                (0, Changed, Build),
                (1, Shutdown, Wait),
                (2, BuildStarted, Cancel),
                (3, BuildStopped, Wait),
                (4, Changed, Wait),
            ],
        ),
        build(
            "build: shutdown during a cancel builds nothing after it",
            B::Restart,
            E::Wait,
            &[
                BUILT[0],
                BUILT[1],
                BUILT[2],
                BUILT[3],
                (100, Changed, Build),
                (101, BuildStarted, Wait),
                (200, Changed, Cancel),
                (210, Shutdown, Stop),
                (220, StopFinished, Wait),
                (230, BuildStopped, Wait),
                (240, Tick, Wait),
            ],
        ),
        build(
            "build: reports out of place are ignored",
            B::Restart,
            E::Wait,
            &[
                (0, BuildStarted, Wait),
                (0, BuildExited(Code(0)), Wait),
                (0, BuildStopped, Wait),
                (0, BuildStartFailed, Wait),
                (1, Changed, Build),
                (2, BuildStopped, Wait),
                (3, BuildExited(Code(0)), Wait),
                (4, BuildStarted, Wait),
                (5, BuildStartFailed, Wait),
                (6, BuildStarted, Wait),
                (7, BuildExited(Code(0)), Start),
            ],
        ),
        case(
            "without a build, build reports are ignored",
            B::Restart,
            E::Wait,
            &[UP[0], UP[1], (10, BuildExited(Code(0)), Wait), (20, BuildStopped, Wait), (30, Changed, Stop)],
        ),
        case(
            "reports out of place are ignored",
            B::Restart,
            E::Exit,
            &[
                (0, Started, Wait),
                (0, StopFinished, Wait),
                (0, ChildExited(Code(1)), Wait),
                (0, StartFailed, Wait),
                (1, Changed, Start),
                (2, ChildExited(Code(1)), Wait),
                (3, Started, Wait),
                (4, Changed, Stop),
                (5, ChildExited(Code(1)), Wait),
                (6, Started, Wait),
                (7, StopFinished, Start),
            ],
        ),
    ];

    #[test]
    fn table() {
        for c in CASES {
            run(c);
        }
    }

    #[test]
    fn phases_follow_the_actions() {
        let t0 = Instant::now();
        let mut p = Policy::new(OnBusy::Queue, OnExit::Restart, None);
        assert_eq!(p.phase(), Phase::Idle);
        p.handle(Changed, t0);
        assert_eq!(p.phase(), Phase::Starting);
        p.handle(Started, t0);
        assert_eq!(p.phase(), Phase::Running { since: t0 });
        assert!(!p.pending());
        p.handle(Changed, t0);
        assert!(p.pending());
        p.handle(ChildExited(Code(0)), t0);
        assert!(!p.pending());
        assert_eq!(p.phase(), Phase::Starting);
        p.handle(Started, t0);
        p.handle(ChildExited(Code(0)), t0);
        assert_eq!(p.phase(), Phase::BackingOff { until: t0 + Duration::from_millis(500) });
        p.handle(Shutdown, t0);
        assert_eq!(p.phase(), Phase::Done);
    }

    #[test]
    fn backoff_delays() {
        let b = RestartBackoff::default();
        let secs: Vec<f64> = (0..10).map(|n| b.delay(n).as_secs_f64()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]);
        assert_eq!(b.delay(u32::MAX), b.max);
        let tiny = RestartBackoff {
            first: Duration::from_nanos(1),
            max: Duration::MAX,
            healthy_after: Duration::ZERO,
            reload_after: Duration::ZERO,
        };
        assert_eq!(tiny.delay(40), Duration::from_nanos(1 << 31));
    }

    #[test]
    fn custom_backoff() {
        let t0 = Instant::now();
        let b = RestartBackoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(3),
            healthy_after: Duration::MAX,
            reload_after: Duration::MAX,
        };
        let mut p = Policy::new(OnBusy::Restart, OnExit::Restart, None).with_backoff(b);
        let mut at = t0;
        let mut delays = Vec::new();
        p.handle(Changed, at);
        for _ in 0..4 {
            p.handle(Started, at);
            match p.handle(ChildExited(Code(1)), at) {
                Action::StartAfter(until) => {
                    delays.push((until - at).as_secs());
                    at = until;
                    assert_eq!(p.handle(Tick, at), Action::Start);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, [1, 2, 3, 3]);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Code(0).exit_code(), 0);
        assert_eq!(Code(127).exit_code(), 127);
        assert_eq!(Sig(2).exit_code(), 130);
        assert_eq!(Sig(9).exit_code(), 137);
    }

    #[cfg(unix)]
    #[test]
    fn termination_from_exit_status() {
        use std::os::unix::process::ExitStatusExt;
        use std::process::ExitStatus;
        assert_eq!(Termination::from(ExitStatus::from_raw(0)), Code(0));
        assert_eq!(Termination::from(ExitStatus::from_raw(3 << 8)), Code(3));
        assert_eq!(Termination::from(ExitStatus::from_raw(9)), Sig(9));
    }

    #[test]
    fn choices_parse_in_any_case_and_errors_list_the_valid_values() {
        assert_eq!("restart".parse(), Ok(OnBusy::Restart));
        assert_eq!("Queue".parse(), Ok(OnBusy::Queue));
        assert_eq!("SIGNAL".parse(), Ok(OnBusy::Signal));
        assert_eq!("wait".parse(), Ok(OnExit::Wait));
        assert_eq!("restart".parse(), Ok(OnExit::Restart));
        assert_eq!("exit".parse(), Ok(OnExit::Exit));
        for v in OnBusy::ALL {
            assert_eq!(v.to_string().parse(), Ok(v));
        }
        for v in OnExit::ALL {
            assert_eq!(v.to_string().parse(), Ok(v));
        }
        let e = "kill".parse::<OnBusy>().unwrap_err().to_string();
        assert_eq!(e, "invalid --on-busy value 'kill': expected one of restart, queue, signal");
        let e = "".parse::<OnExit>().unwrap_err().to_string();
        assert_eq!(e, "invalid --on-exit value '': expected one of wait, restart, exit");
        assert_eq!(OnBusy::default(), OnBusy::Restart);
        assert_eq!(OnExit::default(), OnExit::Wait);
    }

    mod model {
        //! Random event sequences against a model supervisor that carries out the actions: the policy never runs
        //! two children, never signals or stops a child that is not there, and never loses a change.
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone, Copy)]
        enum Ext {
            Change,
            /// The child dies by itself (if there is one), with this code.
            Dies(i32),
            /// The outstanding start or stop completes (a start fails if the flag is set).
            Complete(bool),
            /// Time passes by this many ms.
            Wait(u64),
            Shutdown,
        }

        fn ext() -> impl Strategy<Value = Ext> {
            prop_oneof![
                4 => Just(Ext::Change),
                2 => prop_oneof![Just(0), Just(1), Just(3)].prop_map(Ext::Dies),
                4 => any::<bool>().prop_map(Ext::Complete),
                2 => (0u64..40_000).prop_map(Ext::Wait),
                1 => Just(Ext::Shutdown),
            ]
        }

        #[derive(Debug, Default)]
        struct Model {
            alive: bool,
            starting: bool,
            stopping: bool,
            exited: bool,
            /// A change arrived that no start or signal has answered yet.
            owed: bool,
            shut: bool,
            starts: usize,
        }

        impl Model {
            fn apply(&mut self, a: Action, on_busy: OnBusy) {
                match a {
                    Action::Start => {
                        assert!(!self.alive && !self.starting && !self.stopping, "start over a child: {self:?}");
                        self.starting = true;
                        self.starts += 1;
                        // A start in flight when the change came is not the answer to it; one issued after is.
                        self.owed = false;
                    }
                    Action::Stop => {
                        assert!(self.alive && !self.stopping, "stop without a child: {self:?}");
                        self.stopping = true;
                    }
                    Action::SendSignal => {
                        assert!(self.alive, "signal without a child");
                        assert_eq!(on_busy, OnBusy::Signal);
                        self.owed = false;
                    }
                    Action::ExitStator(_) => {
                        assert!(!self.owed, "exited with a change owed");
                        self.exited = true;
                    }
                    Action::Wait | Action::StartAfter(_) => {}
                    Action::StartBuild | Action::StopBuild => panic!("a build without --build: {a:?}"),
                }
            }
        }

        proptest! {
            #[test]
            fn never_two_children_never_a_lost_change(
                on_busy in prop_oneof![Just(OnBusy::Restart), Just(OnBusy::Queue), Just(OnBusy::Signal)],
                on_exit in prop_oneof![Just(OnExit::Wait), Just(OnExit::Restart), Just(OnExit::Exit)],
                reload in prop_oneof![Just(None), Just(Some(3))],
                events in proptest::collection::vec(ext(), 0..60),
            ) {
                let t0 = Instant::now();
                let mut now = t0;
                let mut p = Policy::new(on_busy, on_exit, reload);
                let mut m = Model::default();
                for e in events {
                    if m.exited {
                        break;
                    }
                    let a = match e {
                        Ext::Change => {
                            if !m.shut {
                                // Answered by the next start; in signal mode also by a signal.
                                m.owed = true;
                            }
                            p.handle(Event::Changed, now)
                        }
                        Ext::Dies(code) if m.alive && !m.stopping => {
                            m.alive = false;
                            p.handle(Event::ChildExited(Termination::Code(code)), now)
                        }
                        Ext::Dies(_) => continue,
                        Ext::Complete(fail) if m.starting => {
                            m.starting = false;
                            if fail {
                                p.handle(Event::StartFailed, now)
                            } else {
                                m.alive = true;
                                p.handle(Event::Started, now)
                            }
                        }
                        Ext::Complete(_) if m.stopping => {
                            m.stopping = false;
                            m.alive = false;
                            p.handle(Event::StopFinished, now)
                        }
                        Ext::Complete(_) => continue,
                        Ext::Wait(ms) => {
                            now += Duration::from_millis(ms);
                            p.handle(Event::Tick, now)
                        }
                        Ext::Shutdown => {
                            m.shut = true;
                            m.owed = false;
                            p.handle(Event::Shutdown, now)
                        }
                    };
                    m.apply(a, on_busy);
                }
                // Quiesce: let outstanding work finish and time run out; an owed change must then have been
                // answered, or still be queued behind a running child.
                for _ in 0..10 {
                    if m.exited {
                        break;
                    }
                    let a = if m.starting {
                        m.starting = false;
                        m.alive = true;
                        p.handle(Event::Started, now)
                    } else if m.stopping {
                        m.stopping = false;
                        m.alive = false;
                        p.handle(Event::StopFinished, now)
                    } else {
                        now += Duration::from_secs(60);
                        p.handle(Event::Tick, now)
                    };
                    m.apply(a, on_busy);
                }
                let queued = on_busy == OnBusy::Queue && m.alive && p.pending();
                prop_assert!(!m.owed || queued || m.starting, "lost change: {m:?} {p:?}");
                prop_assert!(!(m.shut && (m.alive || m.starting)), "child left after shutdown: {m:?} {p:?}");
            }
        }
    }

    mod build_model {
        //! With `--build`: random event sequences against a model supervisor that runs the child and the build. The
        //! policy never runs two builds, never cancels a build that is not there, never starts or stops the child
        //! for a change but after a successful build, and never loses a change: each one is answered by a build
        //! that started after it, and each successful build by a start (or a signal, or a queued restart).
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone, Copy)]
        enum Ext {
            Change,
            /// A restart asked for by hand.
            Asked,
            /// The child dies by itself (if there is one), with this code.
            Dies(i32),
            /// The build ends by itself (if one runs), with this code.
            Built(i32),
            /// The outstanding child or build start or stop completes (a start fails if the flag is set).
            Complete(bool),
            /// Time passes by this many ms.
            Wait(u64),
            Shutdown,
        }

        fn ext() -> impl Strategy<Value = Ext> {
            prop_oneof![
                4 => Just(Ext::Change),
                1 => Just(Ext::Asked),
                2 => prop_oneof![Just(0), Just(1), Just(3)].prop_map(Ext::Dies),
                3 => prop_oneof![Just(0), Just(0), Just(2)].prop_map(Ext::Built),
                4 => any::<bool>().prop_map(Ext::Complete),
                2 => (0u64..40_000).prop_map(Ext::Wait),
                1 => Just(Ext::Shutdown),
            ]
        }

        #[derive(Debug, Default)]
        struct Model {
            alive: bool,
            starting: bool,
            stopping: bool,
            build_alive: bool,
            build_starting: bool,
            build_stopping: bool,
            exited: bool,
            shut: bool,
            /// A change arrived that no build started since has seen.
            stale: bool,
            /// The build in flight started after a change (it answers one).
            carries: bool,
            /// A build succeeded after a change and no start (nor signal) answered it yet.
            owed: bool,
        }

        impl Model {
            fn apply(&mut self, a: Action, on_busy: OnBusy) {
                match a {
                    Action::Start => {
                        assert!(!self.alive && !self.starting && !self.stopping, "start over a child: {self:?}");
                        self.starting = true;
                        self.owed = false;
                    }
                    Action::Stop => {
                        assert!(self.alive && !self.stopping, "stop without a child: {self:?}");
                        self.stopping = true;
                    }
                    Action::SendSignal => {
                        assert!(self.alive, "signal without a child");
                        assert_eq!(on_busy, OnBusy::Signal);
                        self.owed = false;
                    }
                    Action::StartBuild => {
                        assert!(!self.shut, "a build after shutdown: {self:?}");
                        assert!(
                            !self.build_alive && !self.build_starting && !self.build_stopping,
                            "two builds: {self:?}"
                        );
                        self.build_starting = true;
                        self.carries = self.carries || self.stale;
                        self.stale = false;
                    }
                    Action::StopBuild => {
                        assert!(self.build_alive && !self.build_stopping, "cancel without a build: {self:?}");
                        self.build_stopping = true;
                        // What it carried is stale again: the next build answers it.
                        self.stale = self.stale || self.carries;
                        self.carries = false;
                    }
                    Action::ExitStator(_) => self.exited = true,
                    Action::Wait | Action::StartAfter(_) => {}
                }
            }
        }

        proptest! {
            #[test]
            fn one_build_at_a_time_and_no_change_lost(
                on_busy in prop_oneof![Just(OnBusy::Restart), Just(OnBusy::Queue), Just(OnBusy::Signal)],
                on_exit in prop_oneof![Just(OnExit::Wait), Just(OnExit::Restart), Just(OnExit::Exit)],
                reload in prop_oneof![Just(None), Just(Some(3))],
                events in proptest::collection::vec(ext(), 0..80),
            ) {
                let t0 = Instant::now();
                let mut now = t0;
                let mut p = Policy::new(on_busy, on_exit, reload).with_build();
                let mut m = Model::default();
                for e in events {
                    if m.exited {
                        break;
                    }
                    let a = match e {
                        Ext::Change | Ext::Asked => {
                            if !m.shut {
                                m.stale = true;
                            }
                            let event = if matches!(e, Ext::Change) { Event::Changed } else { Event::RestartAsked };
                            let a = p.handle(event, now);
                            prop_assert!(
                                matches!(a, Action::StartBuild | Action::StopBuild | Action::Wait),
                                "a change touched the child: {a:?}"
                            );
                            a
                        }
                        Ext::Dies(code) if m.alive && !m.stopping => {
                            m.alive = false;
                            p.handle(Event::ChildExited(Termination::Code(code)), now)
                        }
                        Ext::Built(code) if m.build_alive && !m.build_stopping => {
                            m.build_alive = false;
                            if std::mem::take(&mut m.carries) && code == 0 {
                                m.owed = true;
                            }
                            p.handle(Event::BuildExited(Termination::Code(code)), now)
                        }
                        Ext::Dies(_) | Ext::Built(_) => continue,
                        Ext::Complete(fail) if m.build_starting => {
                            m.build_starting = false;
                            if fail {
                                m.carries = false;
                                p.handle(Event::BuildStartFailed, now)
                            } else {
                                m.build_alive = true;
                                p.handle(Event::BuildStarted, now)
                            }
                        }
                        Ext::Complete(_) if m.build_stopping => {
                            m.build_stopping = false;
                            m.build_alive = false;
                            p.handle(Event::BuildStopped, now)
                        }
                        Ext::Complete(fail) if m.starting => {
                            m.starting = false;
                            if fail {
                                p.handle(Event::StartFailed, now)
                            } else {
                                m.alive = true;
                                p.handle(Event::Started, now)
                            }
                        }
                        Ext::Complete(_) if m.stopping => {
                            m.stopping = false;
                            m.alive = false;
                            p.handle(Event::StopFinished, now)
                        }
                        Ext::Complete(_) => continue,
                        Ext::Wait(ms) => {
                            now += Duration::from_millis(ms);
                            p.handle(Event::Tick, now)
                        }
                        Ext::Shutdown => {
                            m.shut = true;
                            m.stale = false;
                            m.owed = false;
                            m.carries = false;
                            // The supervisor stops a running build with the child.
                            if m.build_alive && !m.build_stopping {
                                m.build_alive = false;
                            }
                            p.handle(Event::Shutdown, now)
                        }
                    };
                    m.apply(a, on_busy);
                }
                // Quiesce: every outstanding start and stop completes, every build succeeds, time runs out.
                for _ in 0..20 {
                    if m.exited {
                        break;
                    }
                    let a = if m.build_starting {
                        m.build_starting = false;
                        m.build_alive = true;
                        p.handle(Event::BuildStarted, now)
                    } else if m.build_stopping {
                        m.build_stopping = false;
                        m.build_alive = false;
                        p.handle(Event::BuildStopped, now)
                    } else if m.build_alive {
                        m.build_alive = false;
                        if std::mem::take(&mut m.carries) {
                            m.owed = true;
                        }
                        p.handle(Event::BuildExited(Termination::Code(0)), now)
                    } else if m.starting {
                        m.starting = false;
                        m.alive = true;
                        p.handle(Event::Started, now)
                    } else if m.stopping {
                        m.stopping = false;
                        m.alive = false;
                        p.handle(Event::StopFinished, now)
                    } else {
                        now += Duration::from_secs(60);
                        p.handle(Event::Tick, now)
                    };
                    m.apply(a, on_busy);
                }
                if m.exited {
                    return Ok(());
                }
                prop_assert!(!m.stale, "a change no build answered: {m:?} {p:?}");
                let queued = on_busy == OnBusy::Queue && m.alive && p.pending();
                prop_assert!(!m.owed || queued, "a successful build no start answered: {m:?} {p:?}");
                prop_assert!(!(m.shut && (m.alive || m.starting || m.build_alive)), "left after shutdown: {m:?} {p:?}");
            }
        }
    }
}
