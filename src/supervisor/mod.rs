//! The child process: spawn, stop, restart.
//!
//! [`Policy`] decides (pure, tested by tables); [`Supervisor`] carries out its decisions on a real child. The child
//! runs in its own process group, so a stop reaches everything it started; stopping is synchronous and bounded: by
//! the time a new child spawns, the old group is gone, so a port the old server held is free.
//!
//! The child learns why it runs from two environment variables: `STATOR_RUN`, the run number (1, 2, ...), and
//! `STATOR_CHANGED_FILE`, the path of a file listing the paths that changed since the last start (or signal), one
//! per line, as raw bytes. Paths are never put on the command line or in the environment. The file lives in a
//! private temporary directory removed when the supervisor is dropped. When it cannot be written (a full or
//! read-only `$TMPDIR`), the child runs without `STATOR_CHANGED_FILE`: the list is not worth a server that is down
//! ([`Supervisor::take_unlisted`] says so, once).

pub mod policy;
pub mod signal;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(all(test, target_os = "linux"))]
mod tests;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use policy::{Action, Event, OnBusy, OnExit, ParseChoiceError, Phase, Policy, RestartBackoff, Termination};
pub use signal::{ParseSignalError, Signal};
#[cfg(unix)]
use unix as sys;
#[cfg(unix)]
pub use unix::{is_pid1, reap_orphans};
#[cfg(windows)]
use windows as sys;
#[cfg(windows)]
pub use windows::{is_pid1, reap_orphans};

/// How long a stop may take before [`StopNotice::Waiting`] says so: most children stop at once, and a stop that
/// takes longer is worth a word (the stop timeout is 10 s by default).
pub const SLOW_STOP: Duration = Duration::from_secs(1);

/// How a stop goes, as the platform code sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Still waiting after [`SLOW_STOP`]: for the child, or (`leftovers`) for what it left in its group.
    #[cfg_attr(windows, allow(dead_code))]
    Slow { leftovers: bool },
    /// The stop timeout ran out: `SIGKILL` follows.
    #[cfg_attr(windows, allow(dead_code))]
    Killing { leftovers: bool },
}

/// A stop that takes its time, as it happens, for the caller to say why nothing seems to happen (see
/// [`Supervisor::on_stop_notice`]). Not said of a stop cut short by [`KillHandle::kill_now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopNotice {
    /// The stop signal went [`SLOW_STOP`] ago and something still runs: the child, or (`leftovers`) processes of
    /// its group after the child itself exited. They get up to `timeout` in all, then `SIGKILL`.
    Waiting {
        /// The run being stopped (`STATOR_RUN`).
        run: u64,
        /// Its pid (its process group's id on Unix).
        pid: u32,
        /// The stop signal sent.
        signal: Signal,
        /// The stop timeout.
        timeout: Duration,
        /// Only what the child left behind is still running.
        leftovers: bool,
    },
    /// The stop timeout ran out: the group gets `SIGKILL` now.
    Killing {
        /// The run being stopped.
        run: u64,
        /// Its pid.
        pid: u32,
        /// The stop timeout that ran out.
        timeout: Duration,
        /// Only what the child left behind is killed.
        leftovers: bool,
    },
}

/// What hears the [`StopNotice`]s.
type NoticeFn = Box<dyn FnMut(StopNotice) + Send>;

/// The [`StopNotice`] for `stage` of a stop of run `run` (pid `pid`) with `signal`, `timeout`.
fn notice(stage: Stage, run: u64, pid: u32, signal: Signal, timeout: Duration) -> StopNotice {
    match stage {
        Stage::Slow { leftovers } => StopNotice::Waiting { run, pid, signal, timeout, leftovers },
        Stage::Killing { leftovers } => StopNotice::Killing { run, pid, timeout, leftovers },
    }
}

/// Holds the caller's [`NoticeFn`], if any; shows as whether there is one.
#[derive(Default)]
struct Notify(Option<NoticeFn>);

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Notify(set)" } else { "Notify(none)" })
    }
}

impl Notify {
    fn tell(&mut self, n: StopNotice) {
        if let Some(f) = self.0.as_mut() {
            f(n);
        }
    }
}

/// How to run and restart the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The program and its arguments; with [`Options::shell`], the words of a shell command.
    pub command: Vec<OsString>,
    /// Run `sh -c "<command joined with spaces>"` (Windows: `cmd /C`) instead of executing the program directly.
    pub shell: bool,
    /// Sent to the child's process group to stop it: to restart it, at the end, and to what it leaves behind.
    pub stop_signal: Signal,
    /// With [`OnBusy::Signal`]: sent to the child's process group on every change, instead of a restart (`SIGHUP`
    /// by default: what servers reload their configuration on). Stopping still uses [`Options::stop_signal`].
    pub reload_signal: Signal,
    /// How long the child gets to exit after the stop signal before it is killed.
    pub stop_timeout: Duration,
    /// What a change does while the child runs.
    pub on_busy: OnBusy,
    /// What happens when the child exits by itself.
    pub on_exit: OnExit,
    /// A child exiting with this code is restarted at once, no change needed (Django's autoreloader uses 3).
    pub reload_code: Option<i32>,
    /// More environment variables for every child, set before `STATOR_RUN` and `STATOR_CHANGED_FILE`
    /// (`STATOR_WATCH_FILE`, and `PYTHONPATH` or `NODE_OPTIONS` for the shims of [`crate::learn`]).
    pub env: Vec<(OsString, OsString)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            command: Vec::new(),
            shell: false,
            stop_signal: Signal::Term,
            reload_signal: Signal::Hup,
            stop_timeout: Duration::from_secs(10),
            on_busy: OnBusy::Restart,
            on_exit: OnExit::Wait,
            reload_code: None,
            env: Vec::new(),
        }
    }
}

/// The child could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The command is empty.
    NoCommand,
    /// The program does not exist (the `stator` command exits with 127, as a shell does).
    NotFound {
        /// The program as given.
        program: OsString,
    },
    /// The program exists but may not be executed (the `stator` command exits with 126, as a shell does).
    PermissionDenied {
        /// The program as given.
        program: OsString,
    },
    /// Any other failure to start the program (the `stator` command exits with 126).
    Io {
        /// The program as given.
        program: OsString,
        /// What the system said.
        source: io::Error,
    },
    /// The file telling the child what changed could not be written, and the child could not be signalled either
    /// ([`OnBusy::Signal`]; a start goes ahead without the file). The `stator` command exits with 1 if it is the
    /// first run.
    ChangedFile(io::Error),
}

impl SpawnError {
    fn from_io(program: &OsString, e: io::Error) -> SpawnError {
        let program = program.clone();
        match e.kind() {
            io::ErrorKind::NotFound => SpawnError::NotFound { program },
            io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied { program },
            _ => SpawnError::Io { program, source: e },
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NoCommand => f.write_str("no command to run"),
            SpawnError::NotFound { program } => write!(f, "command not found: {}", program.to_string_lossy()),
            SpawnError::PermissionDenied { program } => {
                write!(f, "permission denied: {} (is it executable?)", program.to_string_lossy())
            }
            SpawnError::Io { program, source } => write!(f, "cannot run {}: {source}", program.to_string_lossy()),
            SpawnError::ChangedFile(e) => write!(f, "cannot write the list of changed files: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Io { source, .. } | SpawnError::ChangedFile(source) => Some(source),
            _ => None,
        }
    }
}

/// What a call to the supervisor did to the child, for the caller to report. (The [`Policy`] decides an
/// [`Action`]; carrying it out has this effect.)
#[derive(Debug)]
pub enum Effect {
    /// A child started where none ran: the first start, a start after a change while idle, or the end of a
    /// crash-loop delay.
    Started {
        /// Its run number (`STATOR_RUN`).
        run: u64,
    },
    /// A child ended (stopped for a change, or exited by itself with the reload code or a change queued) and a new
    /// one started.
    Restarted {
        /// The new child's run number.
        run: u64,
        /// How the old one ended; `None` if it could not be reaped (it survived `SIGKILL`, stuck in the kernel).
        previous: Option<ExitStatus>,
    },
    /// The signal was sent to the running child ([`OnBusy::Signal`]).
    Signalled(Signal),
    /// The signal was sent to the running child ([`OnBusy::Signal`]), but the list of changed paths could not be
    /// written first: `STATOR_CHANGED_FILE` still holds the previous list (or nothing). The paths are kept, and
    /// the next list written holds them too. Reported each time it happens.
    SignalledWithoutList {
        /// The signal sent.
        signal: Signal,
        /// Why the list could not be written.
        error: io::Error,
    },
    /// The change was remembered; a new child starts when the running one exits ([`OnBusy::Queue`]).
    Queued,
    /// The child exited by itself; the next change starts a new one ([`OnExit::Wait`]).
    Exited(ExitStatus),
    /// The child exited by itself; a new one starts at `until` ([`OnExit::Restart`], crash-loop delay).
    BackingOff {
        /// How the child ended.
        status: ExitStatus,
        /// When the next one starts (keep calling [`Supervisor::poll`]).
        until: Instant,
    },
    /// The child exited by itself and stator should exit with `code` ([`OnExit::Exit`]).
    Exit {
        /// How the child ended.
        status: ExitStatus,
        /// Its exit code, or `128 + n` for death by signal `n`.
        code: i32,
    },
}

/// Kills the child's process group from any thread, e.g. from a Ctrl-C handler on the second Ctrl-C, even while
/// the supervisor's thread is waiting in [`Supervisor::shutdown`].
#[derive(Debug, Clone, Default)]
pub struct KillHandle(Arc<KillShared>);

#[derive(Debug, Default)]
struct KillShared {
    /// The running child's pid, 0 when there is none.
    pid: AtomicU32,
    /// Set by [`KillHandle::kill_now`]: every stop from now on kills at once.
    abort: AtomicBool,
}

impl KillHandle {
    /// Whether a child runs now (one [`KillHandle::kill_now`] would kill).
    pub fn running(&self) -> bool {
        self.0.pid.load(Ordering::SeqCst) != 0
    }

    /// `SIGKILL`s the child's process group now (Windows: kills its tree), and makes every later stop immediate.
    pub fn kill_now(&self) {
        self.0.abort.store(true, Ordering::SeqCst);
        let pid = self.0.pid.load(Ordering::SeqCst);
        if pid != 0 {
            sys::kill_tree(pid);
        }
    }
}

/// Owns the child and carries out the [`Policy`]'s decisions.
///
/// Call [`start`](Supervisor::start) once, [`changed`](Supervisor::changed) for every settled change set,
/// [`poll`](Supervisor::poll) every 50-500 ms, and [`shutdown`](Supervisor::shutdown) at the end. Dropping the
/// supervisor kills a child that is still running, and removes the changed-files directory.
#[derive(Debug)]
pub struct Supervisor {
    opts: Options,
    policy: Policy,
    child: Option<sys::Proc>,
    /// Children that survived `SIGKILL` for a while; reaped when they finally die.
    abandoned: Vec<sys::Proc>,
    /// Starts so far.
    runs: u64,
    /// Paths changed since the last start (or signal), in arrival order, without repeats.
    changed: Vec<PathBuf>,
    seen: HashSet<PathBuf>,
    /// Holds `STATOR_CHANGED_FILE`; made at the first start.
    dir: Option<tempfile::TempDir>,
    /// Why the first child that had to start without `STATOR_CHANGED_FILE` did, until the caller takes it.
    unlisted: Option<io::Error>,
    /// Whether a child ever started without it (so it is said once).
    ever_unlisted: bool,
    notify: Notify,
    reap_all: bool,
    kill: KillHandle,
}

/// What happened during one call, folded into an [`Effect`].
#[derive(Default)]
struct Report {
    ended: Option<Option<ExitStatus>>,
    started: Option<u64>,
    backoff: Option<Instant>,
    exit: Option<i32>,
    signalled: bool,
    /// The list of changed paths could not be written before the signal.
    unlisted: Option<io::Error>,
    queued: bool,
}

impl Supervisor {
    /// A supervisor with no child yet. In PID 1 (see [`is_pid1`]) it reaps every orphan, not only its child.
    ///
    /// On Windows, which has no signals, [`OnBusy::Signal`] restarts instead.
    pub fn new(opts: Options) -> Supervisor {
        #[cfg(windows)]
        let opts = match opts.on_busy {
            OnBusy::Signal => Options { on_busy: OnBusy::Restart, ..opts },
            _ => opts,
        };
        let policy = Policy::new(opts.on_busy, opts.on_exit, opts.reload_code);
        Supervisor {
            opts,
            policy,
            child: None,
            abandoned: Vec::new(),
            runs: 0,
            changed: Vec::new(),
            seen: HashSet::new(),
            dir: None,
            unlisted: None,
            ever_unlisted: false,
            notify: Notify::default(),
            reap_all: is_pid1(),
            kill: KillHandle::default(),
        }
    }

    /// Reap every exited child process, not only ours (what PID 1 must do, and a child subreaper). On by default
    /// when [`is_pid1`]. Do not turn it on in a process that waits for other children of its own: their statuses
    /// would be taken.
    pub fn set_reap_all(&mut self, on: bool) {
        self.reap_all = on;
    }

    /// Replaces the crash-loop guard (the default: 0.5 s doubling up to 30 s, reset after 10 s of running).
    pub fn set_backoff(&mut self, backoff: RestartBackoff) {
        self.policy = self.policy.clone().with_backoff(backoff);
    }

    /// Calls `f` with each [`StopNotice`] as a stop goes: a stop blocks for up to the stop timeout, and this is how
    /// the caller can say, while it waits, what it waits for.
    pub fn on_stop_notice(&mut self, f: impl FnMut(StopNotice) + Send + 'static) {
        self.notify = Notify(Some(Box::new(f)));
    }

    /// A handle to kill the child's group from another thread.
    pub fn kill_handle(&self) -> KillHandle {
        self.kill.clone()
    }

    /// The policy, to see where it stands.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How many children were started so far (the last `STATOR_RUN`).
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The running child's pid, if there is one.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(sys::Proc::id)
    }

    /// The path given to the child as `STATOR_CHANGED_FILE` (after the first start).
    pub fn changed_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("changed"))
    }

    /// The first time a child started without `STATOR_CHANGED_FILE` because the list could not be written (a
    /// full `$TMPDIR`), why; `None` until then, and after it was taken once. Later children that start without it
    /// are not reported again (each one that can have the list gets it).
    pub fn take_unlisted(&mut self) -> Option<io::Error> {
        self.unlisted.take()
    }

    /// Starts the first child; `changed` is what it is told changed (usually nothing). Called again while a child
    /// runs, it is a change like any other.
    pub fn start(&mut self, changed: &[PathBuf]) -> Result<(), SpawnError> {
        self.changed(changed, Instant::now()).map(|_| ())
    }

    /// A settled set of changes arrived at `now`: restart, queue, or signal, as [`OnBusy`] says. A restart is
    /// synchronous: the old process group is gone before the new child spawns.
    pub fn changed(&mut self, paths: &[PathBuf], now: Instant) -> Result<Option<Effect>, SpawnError> {
        for p in paths {
            if self.seen.insert(p.clone()) {
                self.changed.push(p.clone());
            }
        }
        let mut report = Report::default();
        // A child that died since the last poll must not be signalled instead of started.
        self.reap(now, &mut report)?;
        let action = self.policy.handle(Event::Changed, now);
        report.queued = action == Action::Wait && self.policy.pending() && self.child.is_some();
        self.drive(action, now, &mut report)?;
        Ok(self.effect(report))
    }

    /// Called every 50-500 ms: reaps a child that exited, applies [`OnExit`], the reload code, a queued change or
    /// the end of a crash-loop delay, and says what happened.
    ///
    /// A child that exited by itself ends its run: what it left running in its process group gets the stop signal,
    /// and `SIGKILL` after the stop timeout (so this call can block that long).
    pub fn poll(&mut self, now: Instant) -> Result<Option<Effect>, SpawnError> {
        self.abandoned.retain_mut(|p| !matches!(p.try_reap(self.reap_all), Ok(Some(_)) | Err(_)));
        let mut report = Report::default();
        if self.reap(now, &mut report)? {
            return Ok(self.effect(report));
        }
        if self.child.is_none() && self.reap_all {
            reap_orphans();
        }
        let action = self.policy.handle(Event::Tick, now);
        self.drive(action, now, &mut report)?;
        Ok(self.effect(report))
    }

    /// Stops the child for good: the stop signal to its group, up to the stop timeout, then `SIGKILL`. Returns how
    /// it ended, if there was a child. Nothing starts afterwards.
    pub fn shutdown(&mut self) -> Option<ExitStatus> {
        self.policy.handle(Event::Shutdown, Instant::now());
        let status = self.stop_child(self.opts.stop_signal, self.opts.stop_timeout);
        self.policy.handle(Event::StopFinished, Instant::now());
        status.flatten()
    }

    /// `SIGKILL`s the child's group at once (the second Ctrl-C) and reaps it. Nothing starts afterwards.
    pub fn kill_now(&mut self) -> Option<ExitStatus> {
        self.kill.0.abort.store(true, Ordering::SeqCst);
        self.policy.handle(Event::Shutdown, Instant::now());
        let status = self.stop_child(Signal::Kill, Duration::ZERO);
        self.policy.handle(Event::StopFinished, Instant::now());
        status.flatten()
    }

    /// If the child exited, reports it to the policy and carries out the answer. Returns whether it had.
    fn reap(&mut self, now: Instant, report: &mut Report) -> Result<bool, SpawnError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(false);
        };
        let status = match child.try_reap(self.reap_all) {
            Ok(Some(status)) => status,
            Ok(None) => return Ok(false),
            Err(_) => {
                // Cannot tell: keep it, and stop it the usual way when the time comes.
                return Ok(false);
            }
        };
        let (run, pid, notify) = (self.runs, child.id(), &mut self.notify);
        let (sig, timeout) = (self.opts.stop_signal, self.opts.stop_timeout);
        child.clear_leftovers(sig, timeout, self.reap_all, &self.kill.0.abort, &mut |stage| {
            notify.tell(notice(stage, run, pid, sig, timeout));
        });
        self.child = None;
        self.kill.0.pid.store(0, Ordering::SeqCst);
        report.ended = Some(Some(status));
        let action = self.policy.handle(Event::ChildExited(status.into()), now);
        self.drive(action, now, report)?;
        Ok(true)
    }

    /// Carries out `action` and whatever the policy answers to its result, until there is nothing to do.
    fn drive(&mut self, mut action: Action, now: Instant, report: &mut Report) -> Result<(), SpawnError> {
        loop {
            action = match action {
                Action::Start => match self.spawn() {
                    Ok(run) => {
                        report.started = Some(run);
                        self.policy.handle(Event::Started, now)
                    }
                    Err(e) => match self.policy.handle(Event::StartFailed, now) {
                        Action::Start => Action::Start,
                        _ => return Err(e),
                    },
                },
                Action::Stop => {
                    if let Some(status) = self.stop_child(self.opts.stop_signal, self.opts.stop_timeout) {
                        report.ended = Some(status);
                    }
                    self.policy.handle(Event::StopFinished, now)
                }
                Action::SendSignal => {
                    if self.child.is_some() {
                        // Tell the child what changed before poking it. If the file cannot be written, the signal
                        // still goes, the caller hears of it, and the paths wait for the next list.
                        match self.write_changed_file() {
                            Ok(_) => {
                                self.changed.clear();
                                self.seen.clear();
                            }
                            Err(e) => report.unlisted = Some(e),
                        }
                        report.signalled =
                            self.child.as_ref().is_some_and(|c| c.signal(self.opts.reload_signal).is_ok());
                        if !report.signalled
                            && let Some(e) = report.unlisted.take()
                        {
                            // No signal went either (the child is exiting; the next poll reaps it): the failure
                            // is all there is to say.
                            return Err(SpawnError::ChangedFile(e));
                        }
                    }
                    return Ok(());
                }
                Action::ExitStator(code) => {
                    report.exit = Some(code);
                    return Ok(());
                }
                Action::StartAfter(until) => {
                    report.backoff = Some(until);
                    return Ok(());
                }
                Action::Wait => return Ok(()),
            };
        }
    }

    /// Stops the child if there is one. `None`: there was no child; `Some(None)`: it could not be reaped.
    fn stop_child(&mut self, sig: Signal, timeout: Duration) -> Option<Option<ExitStatus>> {
        let mut child = self.child.take()?;
        let (run, pid, notify) = (self.runs, child.id(), &mut self.notify);
        let status = child.stop(sig, timeout, self.reap_all, &self.kill.0.abort, &mut |stage| {
            notify.tell(notice(stage, run, pid, sig, timeout));
        });
        self.kill.0.pid.store(0, Ordering::SeqCst);
        if status.is_none() {
            self.abandoned.push(child);
        }
        Some(status)
    }

    fn spawn(&mut self) -> Result<u64, SpawnError> {
        if self.opts.command.is_empty() {
            return Err(SpawnError::NoCommand);
        }
        // A list that cannot be written is not worth a dead server: the child runs without it.
        let file = match self.write_changed_file() {
            Ok(file) => Some(file),
            Err(e) => {
                if !self.ever_unlisted {
                    self.ever_unlisted = true;
                    self.unlisted = Some(e);
                }
                None
            }
        };
        let Some(program) = self.opts.command.first() else {
            return Err(SpawnError::NoCommand);
        };
        let run = self.runs + 1;
        let (mut cmd, program) = if self.opts.shell {
            let line = self.opts.command.join(std::ffi::OsStr::new(" "));
            #[cfg(windows)]
            let (shell, flag) = ("cmd", "/C");
            #[cfg(not(windows))]
            let (shell, flag) = ("sh", "-c");
            let mut cmd = Command::new(shell);
            cmd.arg(flag);
            // cmd.exe has its own quoting rules: hand it the line as is.
            #[cfg(windows)]
            std::os::windows::process::CommandExt::raw_arg(&mut cmd, line);
            #[cfg(not(windows))]
            cmd.arg(line);
            (cmd, OsString::from(shell))
        } else {
            let mut cmd = Command::new(program);
            cmd.args(&self.opts.command[1..]);
            (cmd, program.clone())
        };
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        cmd.env("STATOR_RUN", run.to_string());
        match &file {
            Some(file) => cmd.env("STATOR_CHANGED_FILE", file),
            // Not an older list, nor one inherited from a stator that runs this one.
            None => cmd.env_remove("STATOR_CHANGED_FILE"),
        };
        let child = sys::Proc::spawn(&mut cmd).map_err(|e| SpawnError::from_io(&program, e))?;
        self.kill.0.pid.store(child.id(), Ordering::SeqCst);
        if self.kill.0.abort.load(Ordering::SeqCst) {
            // A kill was asked for while we were spawning.
            sys::kill_tree(child.id());
        }
        self.child = Some(child);
        self.runs = run;
        self.changed.clear();
        self.seen.clear();
        Ok(run)
    }

    /// Writes the changed paths, one per line, to the changed-files file (atomically: a child reading it never
    /// sees half a list), and returns its path.
    fn write_changed_file(&mut self) -> io::Result<PathBuf> {
        let dir = match &self.dir {
            Some(dir) => dir,
            None => self.dir.insert(crate::sys::private_dir("stator-")?),
        };
        let mut bytes = Vec::new();
        for p in &self.changed {
            bytes.extend_from_slice(p.as_os_str().as_encoded_bytes());
            bytes.push(b'\n');
        }
        let path = dir.path().join("changed");
        let tmp = dir.path().join("changed.tmp");
        write_private(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    fn effect(&self, r: Report) -> Option<Effect> {
        let unknown = || r.ended.flatten();
        if let Some(code) = r.exit {
            let status = unknown().unwrap_or_else(sys::unknown_status);
            return Some(Effect::Exit { status, code });
        }
        if let Some(run) = r.started {
            return Some(match r.ended {
                Some(previous) => Effect::Restarted { run, previous },
                None => Effect::Started { run },
            });
        }
        if let (Some(until), Some(status)) = (r.backoff, unknown()) {
            return Some(Effect::BackingOff { status, until });
        }
        if let Some(status) = unknown() {
            return Some(Effect::Exited(status));
        }
        if r.signalled {
            let signal = self.opts.reload_signal;
            return Some(match r.unlisted {
                None => Effect::Signalled(signal),
                Some(error) => Effect::SignalledWithoutList { signal, error },
            });
        }
        if r.queued {
            return Some(Effect::Queued);
        }
        None
    }
}

impl Drop for Supervisor {
    /// Kills a child that is still running (a graceful stop is [`Supervisor::shutdown`]'s job).
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill_now();
        }
    }
}

/// Creates (or truncates) `path` readable and writable by the owner only, and writes `bytes` to it.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = crate::sys::private_file().write(true).create(true).truncate(true).open(path)?;
    f.write_all(bytes)?;
    f.flush()
}
