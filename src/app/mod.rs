//! The main loop: take the baseline, start the child, then poll on a fixed-rate schedule, settle bursts, restart the
//! child, and report what happens, until the child's exit (with `--on-exit exit`) or a signal ends it.

mod cpu;
mod learn;
mod signals;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::change::ChangeSet;
use crate::cli::{EXIT_USAGE, Invocation};
use crate::discover::IgnoreScope;
use crate::poll::{Cadence, Poller, Settle, Sweep, Warning, normalize};
use crate::report::Reporter;
use crate::supervisor::{LoopGuard, Outcome, SpawnError, Supervisor};
use crate::vfs::real::RealFs;
use learn::Learner;

/// How often the child is checked for having exited, at most.
const CHILD_POLL: Duration = Duration::from_millis(100);

/// Exit code for failures of stator itself (not the child's, not the command line's).
pub const EXIT_FAILURE: i32 = 1;

/// Runs stator as the command line asked; returns the process exit code.
pub fn run(inv: Invocation) -> i32 {
    let rep = Reporter::new(inv.verbosity, inv.json);
    let started = Instant::now();
    // Room for a handle per watched directory; the child gets the usual limit back.
    crate::vfs::handle::raise_fd_limit();
    // Declared before the supervisor, so dropped after it: the child is gone before its report file is.
    let mut learner = match Learner::new(&inv.learn, &inv.config.roots) {
        Ok(learner) => learner,
        Err(e) => {
            rep.error(&e.to_string());
            return EXIT_FAILURE;
        }
    };
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
    rep.filesystems(&poller.filesystems());
    rep.detail(&format!(
        "{} of {dirs} directories are statted through open handles (local filesystems)",
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
    let signals = match signals::install(sup.kill_handle()) {
        Ok(rx) => rx,
        Err(e) => {
            rep.error(&format!("cannot handle signals: {e}"));
            return EXIT_FAILURE;
        }
    };
    let mut looper = Loop::new(&inv, &rep, started, took);
    if !inv.postpone {
        if inv.clear {
            clear_screen();
        }
        if let Err(e) = sup.start(&[]) {
            // The first run failing (command not found: 127) ends stator: there is nothing to restart.
            rep.error(&e.to_string());
            return e.exit_code();
        }
        looper.loops.started(Instant::now());
        rep.child(&format!("started {} (run 1)", command_line(&inv)));
    }
    loop {
        let now = Instant::now();
        let wake = looper.next_tick(now).0.min(now + CHILD_POLL);
        match signals.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(sig) => {
                rep.child("stopping the command");
                sup.shutdown();
                return 128 + sig;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                sup.shutdown();
                return EXIT_FAILURE;
            }
        }
        let polled = sup.poll(Instant::now());
        looper.note(&polled);
        if let Some(code) = report_outcome(&rep, polled) {
            return code;
        }
        learner.poll(&mut poller, &rep);
        let now = Instant::now();
        let (due, kind) = looper.next_tick(now);
        if now >= due {
            looper.tick(&mut poller, kind, &mut learner);
        }
        let began = looper.settle.began();
        if let Some(set) = looper.settle.take(Instant::now()).and_then(|set| looper.screen(set, began)) {
            rep.changes(&set);
            let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
            if inv.clear {
                clear_screen();
            }
            let restarted = sup.changed(&paths, Instant::now());
            looper.note(&restarted);
            if let Some(code) = report_outcome(&rep, restarted) {
                return code;
            }
        }
    }
}

/// Builds the poller and takes the baseline, reporting its warnings; a bad pattern is a usage error.
fn baseline(inv: &Invocation, rep: &Reporter, learner: &mut Learner) -> Result<Poller, i32> {
    let (global, warnings) = if inv.config.filter.vcs_ignores { IgnoreScope::global() } else { (None, Vec::new()) };
    for w in warnings {
        rep.warning(&Warning::IgnoreFile(w));
    }
    let mut poller = match Poller::new(inv.config.clone(), RealFs) {
        Ok(p) => p.with_global_excludes(global),
        Err(e) => {
            rep.error(&e.to_string());
            return Err(EXIT_USAGE);
        }
    };
    learner.start(&mut poller, rep);
    for w in &poller.tick().warnings {
        rep.warning(w);
    }
    Ok(poller)
}

/// The polling half of the loop: when to look (the [`Cadence`]: a full sweep on the fixed-rate schedule, the hot
/// tier in between, an early look while a burst settles), looking, settling, and keeping the command from
/// restarting itself for ever (the [`LoopGuard`]).
struct Loop<'a> {
    cadence: Cadence,
    settle: Settle,
    loops: LoopGuard,
    /// The watched roots, normalised (the `-i` globs of a loop notice are relative to them).
    roots: Vec<PathBuf>,
    rep: &'a Reporter,
}

impl<'a> Loop<'a> {
    /// The schedule after a baseline that started at `started` and took `took`.
    fn new(inv: &Invocation, rep: &'a Reporter, started: Instant, took: Duration) -> Loop<'a> {
        let mut cadence = Cadence::new(&inv.config, started);
        if cadence.hot_interval().is_some() {
            rep.detail(&format!(
                "hot tier: files changed in the last {} are re-checked every {} between full scans",
                humantime::format_duration(inv.config.hot_for),
                humantime::format_duration(inv.config.hot_interval)
            ));
        }
        if let Some(b) = cadence.done(Sweep::Full, started, took, false) {
            rep.back_off(&b);
        }
        Loop {
            cadence,
            settle: Settle::new(inv.config.settle, inv.config.max_wait),
            loops: LoopGuard::for_interval(inv.config.interval),
            roots: inv.config.roots.iter().map(|r| normalize(r)).collect(),
            rep,
        }
    }

    /// Tells the loop guard when a run started, or ended by itself.
    fn note(&mut self, result: &Result<Option<Outcome>, SpawnError>) {
        match result {
            Ok(Some(Outcome::Started { .. } | Outcome::Restarted { .. })) => self.loops.started(Instant::now()),
            Ok(Some(Outcome::Exited(_) | Outcome::Backoff { .. } | Outcome::Exit { .. })) => {
                self.loops.ended(Instant::now())
            }
            _ => {}
        }
    }

    /// A settled change set whose burst began at `began`, screened for a restart loop: one found is reported (once)
    /// and its paths are left out, here and from now on. `None` when nothing is left to restart for.
    fn screen(&mut self, set: ChangeSet, began: Option<Instant>) -> Option<ChangeSet> {
        let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
        let Some(found) = began.and_then(|b| self.loops.settled(&paths, b)) else { return Some(set) };
        self.rep.warn(&found.message(&self.roots, &normalize(Path::new("."))));
        let mut kept = ChangeSet::new();
        kept.extend(set.into_changes().into_iter().filter(|c| !self.loops.ignores(&c.path)));
        (!kept.is_empty()).then_some(kept)
    }

    /// When the next look is due, and what kind of look it is.
    fn next_tick(&self, now: Instant) -> (Instant, Sweep) {
        self.cadence.next(now, &self.settle)
    }

    fn tick(&mut self, poller: &mut Poller, kind: Sweep, learner: &mut Learner) {
        let (start, cpu_start) = (Instant::now(), cpu::used());
        let mut tick = match kind {
            Sweep::Full => poller.tick(),
            Sweep::Hot => poller.tick_hot(),
        };
        let took = start.elapsed();
        // What the scan cost: CPU time on all cores where known (a parallel scan's wall time hides half of it).
        let cost = cpu_start.zip(cpu::used()).map_or(took, |(a, b)| b.saturating_sub(a));
        if kind == Sweep::Full {
            self.rep.scanned(tick.stats, tick.listings, took);
        }
        if let Some(b) = self.cadence.done(kind, start, cost, tick.pending) {
            self.rep.back_off(&b);
        }
        for w in &tick.warnings {
            self.rep.warning(w);
        }
        learner.filter(&mut tick.changes, poller, self.rep);
        // The paths of a restart loop found restart nothing, and hold no burst open.
        tick.changes.retain(|c| !self.loops.ignores(&c.path));
        self.settle.push(tick.changes, kind, Instant::now());
    }
}

/// Reports what the supervisor did; returns stator's exit code when it is time to leave. A command that fails to
/// start after the first run (it vanished during a rebuild, say) is reported and the next change tries again.
fn report_outcome(rep: &Reporter, result: Result<Option<Outcome>, SpawnError>) -> Option<i32> {
    let outcome = match result {
        Ok(Some(outcome)) => outcome,
        Ok(None) => return None,
        Err(e) => {
            rep.error(&format!("{e}; waiting for the next change"));
            return None;
        }
    };
    match outcome {
        Outcome::Started { run } => rep.child(&format!("started (run {run})")),
        Outcome::Restarted { run, previous } => match previous {
            Some(status) => rep.child(&format!("restarted (run {run}); the previous run ended: {status}")),
            None => rep.child(&format!("restarted (run {run})")),
        },
        Outcome::Signalled(sig) => rep.child(&format!("sent {} to the command", sig.name())),
        Outcome::Queued => rep.child("change queued; the command reruns when it finishes"),
        Outcome::Exited(status) => rep.child(&format!("command ended: {status}; waiting for changes")),
        Outcome::Backoff { status, until } => rep.child(&format!(
            "command ended: {status}; restarting in {:.1}s",
            until.saturating_duration_since(Instant::now()).as_secs_f64()
        )),
        Outcome::Exit { status, code } => {
            rep.child(&format!("command ended: {status}; exiting"));
            return Some(code);
        }
    }
    None
}

/// Clears the terminal and its scrollback, as `clear` does.
fn clear_screen() {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"\x1b[H\x1b[2J\x1b[3J").and_then(|()| out.flush());
}

fn command_line(inv: &Invocation) -> String {
    inv.supervisor.command.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// `--list`: the watched files, one per line, exactly as their bytes are (not necessarily UTF-8).
fn list(poller: &Poller) -> i32 {
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
            return 0;
        }
    }
    0
}
