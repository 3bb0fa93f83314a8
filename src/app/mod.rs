//! The main loop: take the baseline, start the child, then poll on a fixed-rate schedule, settle bursts, restart the
//! child, and report what happens, until the child's exit (with `--on-exit exit`) or a signal ends it.

mod signals;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::cli::{Invocation, Parsed, parse};
use crate::discover::IgnoreScope;
use crate::exit::Exit;
use crate::learn::{LearnError, LearnOptions, Learner, Note};
use crate::poll::{Cadence, Poller, Settle, Sweep, Warning};
use crate::report::{Ended, Next, Reporter, ScanTally};
use crate::supervisor::{Effect, SpawnError, Supervisor};
use crate::vfs::real::RealFs;

/// How often the child is checked for having exited, at most.
const CHILD_POLL: Duration = Duration::from_millis(100);

/// The `stator` command: parses `args` (the program name first), runs what they ask, and says how to exit.
pub(crate) fn main(args: &[OsString]) -> Exit {
    match parse(args) {
        Parsed::Run(inv) => run(*inv),
        Parsed::Doctor(opts) => crate::doctor::run(&opts),
        Parsed::Exit { output, code } if code.is_success() => {
            println!("{output}");
            code
        }
        Parsed::Exit { output, code } => {
            eprintln!("{output}");
            code
        }
    }
}

/// Runs stator as the command line asked; says how to exit.
fn run(inv: Invocation) -> Exit {
    let rep = Reporter::new(inv.verbosity, inv.json);
    let started = Instant::now();
    // Room for a handle per watched directory; the child gets the usual limit back.
    crate::sys::raise_fd_limit();
    // Declared before the supervisor, so dropped after it: the child is gone before its report file is. What
    // cannot be made (a full $TMPDIR) is not worth refusing to run: the command runs without it.
    let (mut learner, errors) = Learner::best_effort(&inv.learn, &inv.config.roots);
    for e in &errors {
        rep.warn(&format!("{e}; the command runs {}", without(e, &inv.learn)));
    }
    let mut poller = match baseline(&inv, &rep, &mut learner) {
        Ok(poller) => poller,
        Err(code) => return code,
    };
    let took = started.elapsed();
    if inv.list {
        return list(&poller);
    }
    let roots: Vec<&Path> = inv.config.roots.iter().map(PathBuf::as_path).collect();
    let (files, dirs) = poller.counts();
    rep.watching(&roots, files, dirs, took, inv.config.interval);
    rep.filesystems(&poller.filesystems(), inv.config.granularity.is_some());
    rep.detail(&format!(
        "directories whose files are statted through an open handle (local filesystems): {} of {dirs}",
        poller.handles()
    ));
    if let Some(threads) = poller.wide_threads() {
        rep.detail(&format!(
            "files on network and FUSE filesystems are statted by {threads} threads (each stat there waits on a round \
             trip); elsewhere by one thread per core"
        ));
    }

    // As PID 1 (a container's entrypoint) the supervisor also reaps orphans; it decides that itself.
    let mut opts = inv.supervisor.clone();
    opts.env.extend(learner.env());
    let mut sup = Supervisor::new(opts);
    // A stop blocks this thread for up to --stop-timeout: what it waits for is said as it happens.
    let (verbosity, json) = (inv.verbosity, inv.json);
    sup.on_stop_notice(move |n| Reporter::new(verbosity, json).stop_notice(&n));
    let second = move |sig| Reporter::new(verbosity, json).killing_now(sig);
    let signals = match signals::install(sup.kill_handle(), second) {
        Ok(rx) => rx,
        Err(e) => {
            rep.error(&format!("cannot handle signals: {e}"));
            return Exit::Failure;
        }
    };
    let mut looper = Loop::new(&inv, &rep, started, took);
    let mut runs = Runs { command: &inv.supervisor.command, current: None };
    if !inv.postpone {
        if inv.clear {
            clear_screen();
        }
        let started = sup.start(&[]);
        unlisted(&rep, &mut sup);
        if let Err(e) = started {
            // The first run failing (command not found: 127) ends stator: there is nothing to restart.
            rep.error(&e.to_string());
            return Exit::from(&e);
        }
        runs.begin(sup.runs(), sup.pid());
        rep.started(sup.runs(), sup.pid(), runs.command, None);
    }
    loop {
        let now = Instant::now();
        let wake = looper.next_tick(now).0.min(now + CHILD_POLL);
        match signals.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(sig) => {
                let exit = Exit::Stopped(sig);
                // Only a command that runs is stopped; stator may be waiting for a change, or for a crash delay.
                if let Some(cur) = runs.current.as_ref().filter(|_| sup.pid().is_some()) {
                    let opts = &inv.supervisor;
                    rep.stopping(sig, cur.run, cur.pid, opts.stop_signal, opts.stop_timeout);
                    let status = sup.shutdown();
                    rep.ended(&runs.end(status), Next::Exit(exit.code()));
                } else {
                    sup.shutdown();
                }
                return exit;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                sup.shutdown();
                return Exit::Failure;
            }
        }
        let effect = sup.poll(Instant::now());
        unlisted(&rep, &mut sup);
        if let Some(code) = report_effect(&rep, effect, &mut runs, sup.pid()) {
            return code;
        }
        tell(&rep, learner.poll(&mut poller));
        let now = Instant::now();
        let (due, kind) = looper.next_tick(now);
        if now >= due {
            looper.tick(&mut poller, kind, &mut learner);
        }
        if let Some(set) = looper.settle.take(Instant::now()) {
            // Cleared first, so the reason for the run stays on the screen.
            if inv.clear {
                clear_screen();
            }
            rep.changes(&set);
            let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
            let effect = sup.changed(&paths, Instant::now());
            unlisted(&rep, &mut sup);
            if let Some(code) = report_effect(&rep, effect, &mut runs, sup.pid()) {
                return code;
            }
        }
    }
}

/// Builds the poller and takes the baseline, reporting its warnings; a bad pattern is a usage error.
fn baseline(inv: &Invocation, rep: &Reporter, learner: &mut Learner) -> Result<Poller, Exit> {
    let (global, warnings) = if inv.config.filter.vcs_ignores { IgnoreScope::global() } else { (None, Vec::new()) };
    for w in warnings {
        rep.warning(&Warning::IgnoreFile(w));
    }
    let mut poller = match Poller::new(inv.config.clone(), RealFs) {
        Ok(p) => p.with_global_excludes(global),
        Err(e) => {
            // A usage error, in the one form of every usage error (not a status line, not JSON).
            eprintln!("{}", crate::exit::usage_line(&e.to_string()));
            return Err(Exit::Usage);
        }
    };
    tell(rep, learner.start(&mut poller));
    for w in &poller.tick().warnings {
        rep.warning(w);
    }
    Ok(poller)
}

/// The polling half of the loop: when to look (the [`Cadence`]: a full sweep on the fixed-rate schedule, the hot
/// tier in between, an early look while a burst settles), looking, settling.
struct Loop<'a> {
    cadence: Cadence,
    settle: Settle,
    rep: &'a Reporter,
    /// The full scans, summed up for `-v` every few seconds.
    tally: ScanTally,
    /// When the last full scan ended.
    last_full: Instant,
}

impl<'a> Loop<'a> {
    /// The schedule after a baseline that started at `started` and took `took`.
    fn new(inv: &Invocation, rep: &'a Reporter, started: Instant, took: Duration) -> Loop<'a> {
        let mut cadence = Cadence::new(&inv.config, started);
        if let Some(hot) = cadence.hot_interval() {
            rep.detail(&format!(
                "hot tier: files changed in the last {} are re-checked every {} between full scans",
                humantime::format_duration(inv.config.hot_for),
                humantime::format_duration(hot)
            ));
        }
        if let Some(b) = cadence.done(Sweep::Full, started, took, false) {
            rep.stretched(&b);
        }
        let settle = Settle::new(inv.config.settle, inv.config.max_wait);
        Loop { cadence, settle, rep, tally: ScanTally::default(), last_full: started + took }
    }

    /// When the next look is due, and what kind of look it is.
    fn next_tick(&self, now: Instant) -> (Instant, Sweep) {
        self.cadence.next(now, &self.settle)
    }

    fn tick(&mut self, poller: &mut Poller, kind: Sweep, learner: &mut Learner) {
        let (start, cpu_start) = (Instant::now(), crate::sys::cpu_time());
        let mut tick = match kind {
            Sweep::Full => poller.tick(),
            Sweep::Hot => poller.tick_hot(),
        };
        let took = start.elapsed();
        // What the scan cost: CPU time on all cores where known (a parallel scan's wall time hides half of it).
        let cost = cpu_start.zip(crate::sys::cpu_time()).map_or(took, |(a, b)| b.saturating_sub(a));
        if kind == Sweep::Full {
            let end = Instant::now();
            let since = end.saturating_duration_since(self.last_full);
            self.last_full = end;
            if let Some(summary) = self.tally.add(tick.stats, tick.listings, took, since) {
                self.rep.scans(&summary);
            }
        }
        if let Some(b) = self.cadence.done(kind, start, cost, tick.pending) {
            self.rep.stretched(&b);
        }
        for w in &tick.warnings {
            self.rep.warning(w);
        }
        tell(self.rep, learner.filter(&mut tick.changes, poller));
        self.settle.push(tick.changes, kind, Instant::now());
    }
}

/// The run going on, as the status lines name it.
#[derive(Debug, Clone, Copy)]
struct Current {
    run: u64,
    pid: Option<u32>,
    since: Instant,
}

/// What the status lines need to know of the command's runs: the command, and the run going on.
struct Runs<'a> {
    command: &'a [OsString],
    current: Option<Current>,
}

impl Runs<'_> {
    /// Run `run` (pid `pid`) started now.
    fn begin(&mut self, run: u64, pid: Option<u32>) {
        self.current = Some(Current { run, pid, since: Instant::now() });
    }

    /// The run going on ended now, with `status`.
    fn end(&mut self, status: Option<ExitStatus>) -> Ended {
        let cur = self.current.take();
        Ended {
            run: cur.map_or(0, |c| c.run),
            pid: cur.and_then(|c| c.pid),
            status,
            duration: cur.map_or(Duration::ZERO, |c| c.since.elapsed()),
        }
    }

    /// The run going on, for an event about it: its number and pid.
    fn now(&self) -> (u64, Option<u32>) {
        self.current.map_or((0, None), |c| (c.run, c.pid))
    }
}

/// Reports what the supervisor did (`pid`: the child running after it); says how stator exits when it is time
/// to leave. A command that fails to start after the first run (it vanished during a rebuild, say) is reported and
/// the next change tries again.
fn report_effect(
    rep: &Reporter,
    result: Result<Option<Effect>, SpawnError>,
    runs: &mut Runs<'_>,
    pid: Option<u32>,
) -> Option<Exit> {
    let effect = match result {
        Ok(Some(effect)) => effect,
        Ok(None) => return None,
        Err(e) => {
            rep.error(&format!("{e}; waiting for the next change"));
            return None;
        }
    };
    match effect {
        Effect::Started { run } => {
            runs.begin(run, pid);
            rep.started(run, pid, runs.command, None);
        }
        Effect::Restarted { run, previous } => {
            let ended = runs.end(previous);
            runs.begin(run, pid);
            rep.started(run, pid, runs.command, Some(&ended));
        }
        Effect::Signalled(sig) => {
            let (run, pid) = runs.now();
            rep.signalled(run, pid, sig);
        }
        Effect::SignalledWithoutList { signal, error } => {
            let (run, pid) = runs.now();
            rep.signalled(run, pid, signal);
            rep.warn(&format!(
                "cannot write the list of changed files ({error}); the command was signalled without it, and the \
                 next list holds these paths too"
            ));
        }
        Effect::Queued => {
            let (run, pid) = runs.now();
            rep.queued(run, pid);
        }
        Effect::Exited(status) => rep.ended(&runs.end(Some(status)), Next::Wait),
        Effect::BackingOff { status, until } => {
            rep.ended(&runs.end(Some(status)), Next::Backoff(until.saturating_duration_since(Instant::now())));
        }
        Effect::Exit { status, code } => {
            rep.ended(&runs.end(Some(status)), Next::Exit(code));
            return Some(Exit::Command(code));
        }
    }
    None
}

/// What the command runs without when `e` happened.
fn without(e: &LearnError, opts: &LearnOptions) -> &'static str {
    match e {
        LearnError::ReportFile(_) if opts.python || opts.node => {
            "without STATOR_WATCH_FILE, and so without what --python or --node would report"
        }
        LearnError::ReportFile(_) => "without STATOR_WATCH_FILE",
        LearnError::Shim { runtime: "node", .. } => "without --node's hook",
        LearnError::Shim { .. } | LearnError::Unlistable(_) => "without --python's shim",
    }
}

/// Says, once, that a child started without `STATOR_CHANGED_FILE`.
fn unlisted(rep: &Reporter, sup: &mut Supervisor) {
    if let Some(e) = sup.take_unlisted() {
        rep.warn(&format!(
            "cannot write the list of changed files in {} ({e}); the command runs without STATOR_CHANGED_FILE \
             while it cannot be written (said once)",
            std::env::temp_dir().display()
        ));
    }
}

/// Shows what the learner has to say.
fn tell(rep: &Reporter, notes: Vec<Note>) {
    for note in notes {
        match note {
            Note::Warning(text) => rep.warn(&text),
            Note::Detail(text) => rep.detail(&text),
            Note::Reported { new, total } => rep.reported(&new, total),
        }
    }
}

/// Clears the terminal and its scrollback, as `clear` does; on anything but a terminal (a pipe, a file), nothing:
/// escape codes there are garbage.
fn clear_screen() {
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        let _ = out.write_all(b"\x1b[H\x1b[2J\x1b[3J").and_then(|()| out.flush());
    }
}

/// `--list`: the watched files, one per line, exactly as their bytes are (not necessarily UTF-8).
fn list(poller: &Poller) -> Exit {
    let mut out = std::io::stdout().lock();
    for path in poller.files() {
        #[cfg(unix)]
        let written = {
            use std::os::unix::ffi::OsStrExt;
            out.write_all(path.as_os_str().as_bytes()).and_then(|()| out.write_all(b"\n"))
        };
        #[cfg(not(unix))]
        let written = writeln!(out, "{}", path.display());
        if written.is_err() {
            // A closed pipe (`stator --list | head`) is not an error worth a message.
            return Exit::Success;
        }
    }
    Exit::Success
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::report::Verbosity;
    use crate::report::testing::reporter;
    use crate::supervisor::Signal;

    #[test]
    fn a_signal_sent_without_its_list_is_a_warning_each_time() {
        let (rep, out) = reporter(Verbosity::Quiet, false);
        let mut runs = Runs { command: &[], current: None };
        for _ in 0..2 {
            let error = io::Error::from(io::ErrorKind::NotFound);
            let effect = Effect::SignalledWithoutList { signal: Signal::Hup, error };
            assert_eq!(report_effect(&rep, Ok(Some(effect)), &mut runs, None), None, "not a reason to exit");
        }
        let warning = "[stator] warning: cannot write the list of changed files (entity not found); the command was \
                       signalled without it, and the next list holds these paths too";
        assert_eq!(out.lines(), [warning, warning]);
        let (rep, out) = reporter(Verbosity::Normal, false);
        report_effect(&rep, Ok(Some(Effect::Signalled(Signal::Hup))), &mut runs, None);
        assert_eq!(out.lines(), ["[stator] sent SIGHUP to the command"]);
    }
}
