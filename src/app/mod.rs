//! The main loop: take the baseline, start the child, then poll on a fixed-rate schedule, settle bursts, restart the
//! child, and report what happens, until the child's exit (with `--on-exit exit`) or a signal ends it.

mod signals;
mod unchanged;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::change::{Change, ChangeKind, ChangeSet};
use crate::cli::{Invocation, Parsed, parse_with};
use crate::discover::IgnoreScope;
use crate::exit::Exit;
use crate::learn::{LearnError, LearnOptions, Learner, Note};
use crate::poll::{Cadence, Parts, Poller, Settle, Sweep, Warning, normalize};
use crate::report::{BuildFailure, Ended, Next, Reporter, ScanTally};
use crate::supervisor::{Effect, LoopGuard, Notice, SpawnError, StopKind, Supervisor, Terminal, Termination};
use crate::vfs::real::RealFs;
use signals::Control;

/// How often the child is checked for having exited, at most.
const CHILD_POLL: Duration = Duration::from_millis(100);

/// The `stator` command: parses `args` (the program name first), runs what they ask, and says how to exit.
pub(crate) fn main(args: &[OsString]) -> Exit {
    match parse_with(args, &project_file) {
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

/// Reads `name` in the current directory, for the project config file: `None` when there is no such file.
fn project_file(name: &str) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(name) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs stator as the command line asked; says how to exit.
fn run(inv: Invocation) -> Exit {
    // Shared with the supervisor, which says what the build, readiness and hooks do as it happens.
    let rep = Rc::new(Reporter::new(inv.verbosity, inv.json));
    let started = Instant::now();
    if let Some(file) = inv.config_file {
        rep.settings_from(file);
    }
    // Room for a handle per watched directory; the child gets the usual limit back.
    crate::sys::raise_fd_limit();
    // Declared before the supervisor, so dropped after it: the child is gone before its report file is. What
    // cannot be made (a full $TMPDIR) is not worth refusing to run: the command runs without it.
    let (mut learner, errors) = Learner::best_effort(&inv.learn, &inv.config.roots);
    for e in &errors {
        rep.warn(&format!("{e}; the command runs {}", without(e, &inv.learn)));
    }
    // `--trigger` files: watched whatever the filters say; a change to one restarts the command.
    let base = normalize(Path::new("."));
    let triggers: Vec<PathBuf> = inv.triggers.iter().map(|t| normalize(&base.join(t))).collect();
    // `--env-file` files: watched whatever the filters say (a `.env` is usually git-ignored); a change reruns the
    // command, which reads them again.
    let env_files = inv.supervisor.env_files.iter().map(|f| normalize(&base.join(f)));
    let extra: Vec<PathBuf> = triggers.iter().cloned().chain(env_files).collect();
    let mut poller = match new_poller(&inv, &rep, &mut learner, &extra) {
        Ok(poller) => poller,
        Err(code) => return code,
    };
    if inv.list {
        baseline(&mut poller, &rep);
        return list(&poller);
    }
    // `--env-file`: each must be good at the start (later, a bad one keeps its last good values, with a warning).
    for path in &inv.supervisor.env_files {
        if let Err(e) = crate::supervisor::env_file::read(path) {
            rep.error(&e.to_string());
            return Exit::Usage;
        }
    }
    // `--socket`: bound before anything is scanned or run, held for stator's life.
    #[cfg(unix)]
    let sockets = match crate::supervisor::sockets::Sockets::bind(&inv.supervisor.sockets) {
        Ok(sockets) => sockets,
        Err(e) => {
            rep.error(&e.to_string());
            return Exit::Failure;
        }
    };
    // The command starts without waiting for the baseline where an edit made during it shows in its mtime (see
    // `early_start`); otherwise the baseline comes first, as it always did.
    let early = early_start(&inv, &poller, &rep);
    let mut base = (!early).then(|| baseline(&mut poller, &rep));
    if let Some((_, took)) = base {
        watching(&poller, &inv, &rep, took);
    }
    // As PID 1 (a container's entrypoint) the supervisor also reaps orphans; it decides that itself.
    let mut opts = inv.supervisor.clone();
    opts.env.extend(learner.env());
    let mut sup = Supervisor::new(opts);
    #[cfg(unix)]
    if !sockets.is_empty() {
        rep.sockets(&sockets.describe());
        sup.hold_sockets(sockets);
    }
    let said = Rc::clone(&rep);
    sup.set_listener(move |notice| report_notice(&said, notice));
    if let Some(note) = sup.platform_note() {
        rep.status("note", &format!("note: {note}"));
    }
    match sentinel_program() {
        // No /proc (a bare chroot): the sentinel cannot run. As PID 1, none is needed.
        Some(program) if !program.exists() && !sup.reaps_all() => rep.warn(&format!(
            "{} is missing (is /proc mounted?): if stator is killed with SIGKILL, the command keeps running",
            program.display()
        )),
        Some(program) => sup.set_sentinel(program),
        None => {}
    }
    // A stator killed by SIGKILL cannot remove its private directories: each run's sentinel does.
    if let Some(dir) = learner.dir() {
        sup.remove_on_death(dir.to_path_buf());
    }
    // A stop blocks this thread for up to --stop-timeout: what it waits for is said as it happens.
    let (verbosity, json) = (inv.verbosity, inv.json);
    sup.on_stop_notice(move |n| Reporter::new(verbosity, json).stop_notice(&n));
    let second = move |sig| Reporter::new(verbosity, json).killing_now(sig);
    let (tx, controls) = channel();
    if let Err(e) = signals::install(sup.kill_handle(), tx.clone(), second) {
        rep.error(&format!("cannot handle signals: {e}"));
        return Exit::Failure;
    }
    // The terminal: handed to each run (unless --no-tty); between runs, Enter runs the command again.
    let terminal = Terminal::from_stdin(inv.tty);
    if let Some(t) = &terminal {
        sup.set_terminal(t.clone());
        if let Err(e) = t.watch_enter(move || tx.send(Control::Enter).is_ok()) {
            rep.warn(&format!("cannot read the terminal, Enter does nothing: {e}"));
        }
    }
    let ctx = Context { rep: &rep, terminal: terminal.as_ref(), inv: &inv };
    let mut runs = Runs { command: &inv.supervisor.command, current: None };
    let mut first_run = None;
    if !inv.postpone {
        if inv.clear {
            clear_screen();
        }
        let at = Instant::now();
        if early {
            poller.command_started(crate::sys::file_clock());
        }
        let first = sup.start(&[]);
        unlisted(&rep, &mut sup);
        if let Err(e) = first {
            // The first run failing (command not found: 127) ends stator: there is nothing to restart.
            rep.error(&e.to_string());
            return Exit::from(&e);
        }
        // With --build, the first run starts once the first build succeeded.
        if sup.runs() > 0 {
            first_run = Some(at);
            runs.begin(sup.runs(), sup.pid());
            rep.started(sup.runs(), sup.pid(), runs.command, None);
        }
    }
    let (mut changed, took) = match base.take() {
        Some(base) => base,
        None => {
            let (changed, took) = baseline(&mut poller, &rep);
            watching(&poller, &inv, &rep, took);
            (changed, took)
        }
    };
    let mut looper = Loop::new(&inv, &rep, started, took, poller.counts().0);
    if let Some(at) = first_run {
        looper.started(at);
    }
    // What changed as the command started (an early start's baseline): settled as any change is.
    tell(&rep, learner.filter(&mut changed, &mut poller));
    looper.settle.push(changed, Sweep::Full, Instant::now());
    loop {
        let now = Instant::now();
        let wake = looper.next_tick(now).0.min(now + CHILD_POLL);
        match controls.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Control::Stop(sig)) => {
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
            Ok(Control::Restart(why)) => {
                rep.status("restart_asked", &format!("{why}: restarting the command"));
                if let Some(code) = ctx.restart(&mut sup, &mut looper, &mut runs) {
                    return code;
                }
            }
            // A line typed while a run is on is not stator's (with --no-tty, the command could not read it).
            Ok(Control::Enter) if sup.pid().is_some() => {}
            Ok(Control::Enter) => {
                rep.status("restart_asked", "Enter: running the command again");
                if let Some(code) = ctx.restart(&mut sup, &mut looper, &mut runs) {
                    return code;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                sup.shutdown();
                return Exit::Failure;
            }
        }
        let polled = sup.poll(Instant::now());
        unlisted(&rep, &mut sup);
        looper.note(&polled);
        if let Some(code) = ctx.effect(&mut sup, polled, &mut runs) {
            return code;
        }
        tell(&rep, learner.poll(&mut poller));
        let now = Instant::now();
        let (due, kind) = looper.next_tick(now);
        if now >= due {
            looper.tick(&mut poller, kind, &mut learner);
        }
        let began = looper.settle.began();
        let settled = looper.settle.take(Instant::now());
        let settled = settled.and_then(|set| looper.unchanged(set, poller.vfs(), &triggers));
        if let Some(set) = settled.and_then(|set| looper.screen(set, began)) {
            // Cleared first, so the reason for the run stays on the screen.
            if inv.clear {
                clear_screen();
            }
            rep.changes(&set);
            let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
            // A trigger file restarts the command whatever --on-busy says.
            let result = if paths.iter().any(|p| triggers.contains(p)) {
                sup.restart(&paths, Instant::now())
            } else {
                sup.changed(&paths, Instant::now())
            };
            unlisted(&rep, &mut sup);
            looper.note(&result);
            if let Some(code) = ctx.effect(&mut sup, result, &mut runs) {
                return code;
            }
        }
    }
}

/// Builds the poller, reporting the global excludes' warnings; a bad pattern is a usage error. `extra`: paths
/// watched whatever the filters say (`--trigger`, `--env-file`). Nothing is scanned yet.
fn new_poller(inv: &Invocation, rep: &Reporter, learner: &mut Learner, extra: &[PathBuf]) -> Result<Poller, Exit> {
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
    poller.add_paths(extra.iter().cloned());
    Ok(poller)
}

/// Takes the baseline (the first tick: the walk) and reports its warnings; returns what changed as the command
/// started (only after [`Poller::command_started`]) and how long it took.
fn baseline(poller: &mut Poller, rep: &Reporter) -> (Vec<Change>, Duration) {
    let began = Instant::now();
    let tick = poller.tick();
    let took = began.elapsed();
    for w in &tick.warnings {
        rep.warning(w);
    }
    (tick.changes, took)
}

/// Says what is watched, after a baseline that took `took`.
fn watching(poller: &Poller, inv: &Invocation, rep: &Reporter, took: Duration) {
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
}

/// Whether the command starts before the baseline: not with `--build` (the build runs first, and the baseline
/// hides behind it) nor `--postpone`, nor where an edit during the baseline might not show in its mtime (a network,
/// FUSE or coarse-timestamped root). `-v` says which, and why.
fn early_start(inv: &Invocation, poller: &Poller, rep: &Reporter) -> bool {
    if inv.postpone || inv.supervisor.build.is_some() {
        return false;
    }
    match poller.early_start_blocker() {
        None => {
            rep.detail("the command starts while the first scan runs (what changes meanwhile restarts it)");
            true
        }
        Some(why) => {
            rep.detail(&format!("the command starts after the first scan: {why}"));
            false
        }
    }
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
    /// What the current run started with, for skipping unchanged saves; `None` with `--no-skip-unchanged`.
    ledger: Option<unchanged::Ledger>,
    /// Files larger than this always count as changed.
    hash_limit: u64,
    /// Whether a skipped set was reported at normal verbosity yet (the first one is, with how to turn it off).
    told_unchanged: bool,
    rep: &'a Reporter,
    /// How many paths each part of a full sweep looks at (a big tree's sweep goes in parts, hot ticks between).
    parts: Parts,
    /// The full sweep in progress: its stats, listings, parts and time so far, for the tally.
    partial: (usize, usize, usize, Duration),
    /// The full scans, summed up for `-v` every few seconds.
    tally: ScanTally,
    /// When the last full scan ended.
    last_full: Instant,
}

impl<'a> Loop<'a> {
    /// The schedule after a baseline of `files` files that started at `started` and took `took`.
    fn new(inv: &Invocation, rep: &'a Reporter, started: Instant, took: Duration, files: usize) -> Loop<'a> {
        let mut cadence = Cadence::new(&inv.config, started);
        if let Some(hot) = cadence.hot_interval() {
            rep.detail(&format!(
                "hot tier: files changed in the last {} are re-checked every {} between full scans",
                humantime::format_duration(inv.config.hot_for),
                humantime::format_duration(hot)
            ));
        }
        if let Some(b) = cadence.done(Sweep::Full, started, took, false, false) {
            rep.stretched(&b);
        }
        // The baseline also listed every directory: a sweep costs less per file, so the first parts are small.
        let mut parts = Parts::new(&inv.config);
        parts.record(files, took);
        Loop {
            cadence,
            settle: Settle::new(inv.config.settle, inv.config.max_wait),
            loops: LoopGuard::for_interval(inv.config.interval),
            roots: inv.config.roots.iter().map(|r| normalize(r)).collect(),
            ledger: inv.skip_unchanged.then(unchanged::Ledger::new),
            hash_limit: inv.config.hash_limit,
            told_unchanged: false,
            rep,
            parts,
            partial: (0, 0, 0, Duration::ZERO),
            tally: ScanTally::default(),
            last_full: started + took,
        }
    }

    /// A run started at `at`.
    fn started(&mut self, at: Instant) {
        self.loops.started(at);
        if let Some(ledger) = &mut self.ledger {
            ledger.run_started();
        }
    }

    /// Tells the loop guard when a run started, or ended by itself, and the ledger what the command now runs with.
    fn note(&mut self, result: &Result<Option<Effect>, SpawnError>) {
        match result {
            Ok(Some(Effect::Started { .. } | Effect::Restarted { .. })) => self.started(Instant::now()),
            // A reload: the command reads the files again, as at a start (the loop guard counts starts only).
            Ok(Some(Effect::Signalled(_) | Effect::SignalledWithoutList { .. })) => {
                if let Some(ledger) = &mut self.ledger {
                    ledger.run_started();
                }
            }
            Ok(Some(Effect::Exited(_) | Effect::BackingOff { .. } | Effect::Exit { .. })) => {
                self.loops.ended(Instant::now())
            }
            _ => {}
        }
    }

    /// A settled change set less the paths whose bytes are those the current run started with (see [`unchanged`]):
    /// `None` when that is all of them, and the set restarts nothing. A `--trigger` file restarts whatever it holds.
    /// Hashes the set's files (once per settled set, never per sweep).
    fn unchanged(&mut self, set: ChangeSet, vfs: &RealFs, triggers: &[PathBuf]) -> Option<ChangeSet> {
        let Some(ledger) = &mut self.ledger else { return Some(set) };
        let changes: Vec<(PathBuf, ChangeKind)> = set.iter().map(|(p, k, _)| (p.to_path_buf(), k)).collect();
        let same = ledger.unchanged(&unchanged::look_all(vfs, &changes, self.hash_limit));
        if same.is_empty() || changes.iter().any(|(p, _)| triggers.contains(p)) {
            return Some(set);
        }
        let restart = same.len() < changes.len();
        self.rep.unchanged(&same, restart, !restart && !self.told_unchanged);
        if !restart {
            self.told_unchanged = true;
            return None;
        }
        // `same` is in the set's order: by path.
        let mut kept = ChangeSet::new();
        kept.extend(set.into_changes().into_iter().filter(|c| same.binary_search(&c.path).is_err()));
        Some(kept)
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
        let (start, cpu_start) = (Instant::now(), crate::sys::cpu_time());
        let mut tick = poller.look(kind, self.parts.size());
        let took = start.elapsed();
        // What the scan cost: CPU time on all cores where known (a parallel scan's wall time hides half of it).
        let cost = cpu_start.zip(crate::sys::cpu_time()).map_or(took, |(a, b)| b.saturating_sub(a));
        if kind != Sweep::Hot {
            self.parts.record(tick.stats, took);
            let (stats, listings, parts, spent) =
                if kind == Sweep::Full { (0, 0, 0, Duration::ZERO) } else { self.partial };
            self.partial = (stats + tick.stats, listings + tick.listings, parts + 1, spent + took);
            if !tick.more {
                let end = Instant::now();
                let since = end.saturating_duration_since(self.last_full);
                self.last_full = end;
                let (stats, listings, parts, spent) = self.partial;
                if let Some(summary) = self.tally.add(stats, listings, parts, spent, since) {
                    self.rep.scans(&summary);
                }
            }
        }
        if let Some(b) = self.cadence.done(kind, start, cost, tick.pending, tick.more) {
            self.rep.stretched(&b);
        }
        for w in &tick.warnings {
            self.rep.warning(w);
        }
        tell(self.rep, learner.filter(&mut tick.changes, poller));
        // The paths of a restart loop found restart nothing, and hold no burst open.
        tick.changes.retain(|c| !self.loops.ignores(&c.path));
        self.settle.push_look(tick.changes, kind, tick.more, Instant::now());
    }
}

/// What reporting an effect needs to know.
struct Context<'a> {
    rep: &'a Reporter,
    terminal: Option<&'a Terminal>,
    inv: &'a Invocation,
}

impl Context<'_> {
    /// A restart asked for by hand (Enter, SIGUSR1).
    fn restart(&self, sup: &mut Supervisor, looper: &mut Loop<'_>, runs: &mut Runs<'_>) -> Option<Exit> {
        if self.inv.clear {
            clear_screen();
        }
        let result = sup.restart(&[], Instant::now());
        unlisted(self.rep, sup);
        looper.note(&result);
        self.effect(sup, result, runs)
    }

    /// Reports what the supervisor did, and follows up where stator itself must act (a second Ctrl-C, Ctrl-Z);
    /// says how stator exits when it is time to leave.
    fn effect(
        &self,
        sup: &mut Supervisor,
        result: Result<Option<Effect>, SpawnError>,
        runs: &mut Runs<'_>,
    ) -> Option<Exit> {
        for e in sup.take_env_file_errors() {
            self.rep.warn(&format!("{e}; the command runs with that file's last good values"));
        }
        let enter = self.terminal.is_some_and(Terminal::enter_works);
        match report_effect(self.rep, result, enter, runs, sup.pid())? {
            Followup::Exit(exit) => Some(exit),
            Followup::Shutdown => {
                sup.shutdown();
                Some(Exit::Interrupted)
            }
            Followup::Suspend => {
                sup.suspend();
                self.rep.status("resumed", "resumed");
                None
            }
            Followup::TerminalStop(kind) => {
                let what = match kind {
                    StopKind::TerminalWrite => "write to or configure the terminal",
                    _ => "read the terminal",
                };
                let why = match self.terminal {
                    None => "stdin is not a terminal",
                    Some(_) if !self.inv.tty => "--no-tty keeps the terminal with stator",
                    Some(_) => "stator is in the background of the terminal",
                };
                self.rep.warn(&format!(
                    "the command is stopped: it tried to {what}, which it does not hold ({why}); it stays stopped \
                     until a change restarts it"
                ));
                None
            }
        }
    }
}

/// What the main loop must do after an effect was reported.
#[derive(Debug, PartialEq, Eq)]
enum Followup {
    /// Leave, this way.
    Exit(Exit),
    /// Stop the command for good, then leave (a second Ctrl-C).
    Shutdown,
    /// Stop stator with the command (Ctrl-Z).
    Suspend,
    /// Say why the command is stopped.
    TerminalStop(StopKind),
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

/// Reports what the supervisor did (`pid`: the child running after it); says what follows, if anything. A
/// command that fails to start after the first run (it vanished during a rebuild, say) is reported and the next
/// change tries again. `enter`: Enter runs the command again, which the line after a run's end says.
fn report_effect(
    rep: &Reporter,
    result: Result<Option<Effect>, SpawnError>,
    enter: bool,
    runs: &mut Runs<'_>,
    pid: Option<u32>,
) -> Option<Followup> {
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
        Effect::Exited(status) => {
            let next = if enter { Next::WaitOrEnter } else { Next::Wait };
            rep.ended(&runs.end(Some(status)), next);
        }
        Effect::BackingOff { status, until } => {
            rep.ended(&runs.end(Some(status)), Next::Backoff(until.saturating_duration_since(Instant::now())));
        }
        Effect::Exit { status, code } => {
            rep.ended(&runs.end(Some(status)), Next::Exit(code));
            return Some(Followup::Exit(Exit::Command(code)));
        }
        Effect::Interrupted { status } => {
            runs.end(status);
            match status {
                Some(status) => rep.status("interrupted", &format!("command ended after Ctrl-C: {status}; exiting")),
                None => rep.status("interrupted", "command stopped after Ctrl-C; exiting"),
            }
            return Some(Followup::Exit(Exit::Interrupted));
        }
        Effect::SecondInterrupt => {
            rep.status(
                "interrupted",
                "second Ctrl-C: stopping the command and exiting (Ctrl-C again kills it at once)",
            );
            return Some(Followup::Shutdown);
        }
        Effect::Suspended => {
            rep.status("suspended", "suspended with the command (Ctrl-Z); fg resumes both");
            return Some(Followup::Suspend);
        }
        Effect::TerminalStop(kind) => return Some(Followup::TerminalStop(kind)),
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

/// Reports what the supervisor did besides the command's starts and ends: the build, readiness, hooks.
fn report_notice(rep: &Reporter, notice: Notice) {
    match notice {
        Notice::BuildStarted { build, again } => rep.build_started(build, again),
        Notice::BuildSucceeded { build, took } => rep.build_succeeded(build, took),
        Notice::BuildFailed { build, status, took, running } => rep.build_failed(&BuildFailure {
            build: Some(build),
            why: &status.to_string(),
            code: Some(Termination::from(status).exit_code()),
            took: Some(took),
            running,
        }),
        Notice::BuildNotRun { error, running } => rep.build_failed(&BuildFailure {
            build: None,
            why: &format!("cannot run it: {error}"),
            code: None,
            took: None,
            running,
        }),
        Notice::BuildCancelledOften { times } => rep.warn(&format!(
            "{times} builds in a row were cancelled by a change; if the build writes into the watched tree, ignore \
             what it writes (-i, or .gitignore)"
        )),
        Notice::Ready { run, after } => rep.ready(run, after),
        Notice::NotReady { run, after, waiting_for } => {
            rep.warn(&format!("run {run} is not ready after {:.0}s: waiting until {waiting_for}", after.as_secs_f64()))
        }
        Notice::HookFailed { hook, status } => rep.warn(&format!("the {hook} command failed: {status}")),
        Notice::HookNotRun { hook, error } => rep.warn(&format!("cannot run the {hook} command: {error}")),
        Notice::HookSkipped { hook } => rep.warn(&format!(
            "the {hook} command was not run: {} hook commands are still running",
            crate::supervisor::hooks::MAX_RUNNING
        )),
    }
}

/// The stator binary, to run as each run's sentinel: `/proc/self/exe` on Linux (still the right file after a
/// rebuild replaced it), the path of the running executable elsewhere on Unix; none on Windows.
fn sentinel_program() -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        Some(PathBuf::from("/proc/self/exe"))
    } else if cfg!(unix) {
        std::env::current_exe().ok()
    } else {
        None
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

/// Clears the terminal and its scrollback, as `clear` does.
fn clear_screen() {
    // Windows: a console that cannot interpret the sequence would print it.
    #[cfg(windows)]
    if !crate::console::stdout_takes_escapes() {
        return;
    }
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
            assert_eq!(report_effect(&rep, Ok(Some(effect)), false, &mut runs, None), None, "not a reason to exit");
        }
        let warning = "[stator] warning: cannot write the list of changed files (entity not found); the command was \
                       signalled without it, and the next list holds these paths too";
        assert_eq!(out.lines(), [warning, warning]);
        let (rep, out) = reporter(Verbosity::Normal, false);
        report_effect(&rep, Ok(Some(Effect::Signalled(Signal::Hup))), false, &mut runs, None);
        assert_eq!(out.lines(), ["[stator] sent SIGHUP to the command"]);
    }
}
