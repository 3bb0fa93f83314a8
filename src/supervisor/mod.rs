//! The child process: spawn, stop, restart.
//!
//! [`Policy`] decides (pure, tested by tables); [`Supervisor`] carries out its decisions on a real child. The child
//! runs in its own process group, so a stop reaches everything it started (on Windows also in a job object, which
//! holds its descendants whatever their parent; see `windows.rs`); stopping is synchronous and bounded: by the time
//! a new child spawns, the old group is gone, so a port the old server held is free.
//!
//! When stdin is a terminal and a [`Terminal`] is given ([`Supervisor::set_terminal`]), each run's process group
//! is the terminal's foreground group while it runs, as in a shell: the command reads what is typed, Ctrl-C and
//! Ctrl-Z reach it. The supervisor takes the terminal back when the run ends, restoring the modes it found. A
//! command that ends within [`INTERRUPT_ENDS`] of a Ctrl-C (or dies of `SIGINT`) ends stator too
//! ([`Effect::Interrupted`]); a command that catches it (a debugger at its prompt) goes on; a second Ctrl-C within
//! [`DOUBLE_INTERRUPT`] is [`Effect::SecondInterrupt`]. Ctrl-Z suspends the command and, through
//! [`Supervisor::suspend`], stator with it. On Unix, a sentinel process (the stator binary, see
//! [`Supervisor::set_sentinel`]) kills each run's group if stator dies, even by `SIGKILL`, and reports the Ctrl-Cs.
//!
//! [`LoopGuard`] (pure too) finds the command restarting itself by changing a watched file as it starts.
//!
//! The child learns why it runs from two environment variables: `STATOR_RUN`, the run number (1, 2, ...), and
//! `STATOR_CHANGED_FILE`, the path of a file listing the paths that changed since the last start (or signal), one
//! per line, as raw bytes. Paths are never put on the command line or in the environment. The file lives in a
//! private temporary directory removed when the supervisor is dropped. Each run gets a file of its own name
//! (`changed-<run>`), and the previous runs' files are removed, best-effort: on Windows a process that still holds
//! an old list open (without delete sharing, as `cmd`'s `<` does) only keeps that file alive, never blocks the next
//! run's list. With [`OnBusy::Signal`] the running child's own list is replaced (it is the same run). When it
//! cannot be written (a full or read-only `$TMPDIR`), the child runs without `STATOR_CHANGED_FILE`: the list is not
//! worth a server that is down ([`Supervisor::take_unlisted`] says so, once).
//!
//!
//! Beside the command the supervisor runs two more kinds of children, spawned and stopped the same way (a process
//! group of their own; on Windows a job): the build ([`Options::build`]: run on every change while the old run
//! keeps serving; the command restarts only once it succeeded; a change during it stops its group and starts it
//! again), and the hooks of [`hooks`]. It watches each run's readiness ([`ready`]). What they do is said by
//! [`Notice`]s, given to a listener as they happen ([`Supervisor::set_listener`]) or taken with
//! [`Supervisor::take_notices`] after each call.

pub mod env_file;
pub mod hooks;
pub mod loops;
#[cfg(any(windows, test))]
mod pathext;
mod pauses;
pub mod policy;
pub mod ready;
pub mod signal;
pub mod sockets;
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
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use hooks::{Hook, Hooks};
pub use loops::{LoopGuard, RestartLoop};
pub use policy::{
    Action, BuildPhase, Event, OnBusy, OnExit, ParseChoiceError, Phase, Policy, RestartBackoff, Termination,
};
pub use ready::{LogPattern, ReadyCheck};
pub use signal::{ParseSignalError, Signal};
#[cfg(unix)]
use unix as sys;
#[cfg(unix)]
pub use unix::terminal::Terminal;
#[cfg(unix)]
pub use unix::{is_pid1, reap_orphans};
#[cfg(windows)]
use windows as sys;
#[cfg(windows)]
pub use windows::terminal::Terminal;
#[cfg(windows)]
pub use windows::{is_pid1, reap_orphans};

/// A command that ends this soon after a Ctrl-C typed while it held the terminal ended because of it: stator ends
/// too ([`Effect::Interrupted`]). Servers that catch `SIGINT` to shut down cleanly exit with 0, not by the signal.
pub const INTERRUPT_ENDS: Duration = Duration::from_secs(2);

/// Whether a child with `status` was killed by `SIGINT` (the Ctrl-C's signal).
fn died_of_sigint(status: ExitStatus) -> bool {
    Termination::from(status) == Termination::Signal(Signal::Int.number())
}

/// A second Ctrl-C this soon after the first ends everything ([`Effect::SecondInterrupt`]), whatever the command
/// does with it.
pub const DOUBLE_INTERRUPT: Duration = Duration::from_secs(1);

/// After this many builds in a row cancelled by a change, [`Notice::BuildCancelledOften`] is given (once).
pub const CANCELS_NOTICED: u32 = 3;

/// If `args` (the whole command line, program name first) ask for the sentinel, runs it and returns its exit
/// code; the binary's `main` calls this first. `None` otherwise (and always on Windows).
pub fn run_sentinel(args: &[OsString]) -> Option<i32> {
    #[cfg(unix)]
    if args.get(1).is_some_and(|a| a == unix::sentinel::ARG) {
        return Some(unix::sentinel::run(args.get(2..).unwrap_or_default()));
    }
    let _ = args;
    None
}

/// Why the child is stopped (Unix job control), as `waitpid` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// `SIGTSTP`: Ctrl-Z.
    Suspended,
    /// `SIGTTIN`: it tried to read the terminal from the background.
    TerminalRead,
    /// `SIGTTOU`: it tried to write to, or set the modes of, the terminal from the background.
    TerminalWrite,
    /// Any other stop (`SIGSTOP` from someone): not stator's business.
    Other,
}

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
    /// Run `sh -c "<command joined with spaces>"` (Windows: `cmd /C`) instead of executing the program directly; the
    /// build and the hooks too.
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
    /// Environment files (see [`env_file`]) read before each start: their variables are set after the inherited
    /// environment and before [`Options::env`]. A file that cannot be read or parsed at a start keeps the values of
    /// its last good read; [`Supervisor::take_env_file_errors`] says why.
    pub env_files: Vec<PathBuf>,
    /// Build first: run this on every change (and before the first run) while the old run keeps serving, and
    /// restart the command only when it succeeds. The program and its arguments; with [`Options::shell`], the words
    /// of a shell command line. It gets `STATOR_BUILD` (1, 2, ...), `STATOR_CHANGED_FILE` (what changed since the
    /// running command started, as the command's own list), stdin from nowhere, the terminal's output.
    pub build: Option<Vec<OsString>>,
    /// When a run counts as ready ([`Notice::Ready`], and the `--on-ready` hook).
    pub ready: ReadyCheck,
    /// Commands run when a run is ready, and when the command (with a build: the build) ends.
    pub hooks: Hooks,
    /// `--socket`: what the caller binds (see [`sockets`]) and hands over with [`Supervisor::hold_sockets`].
    pub sockets: Vec<sockets::SocketSpec>,
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
            env_files: Vec::new(),
            build: None,
            ready: ReadyCheck::default(),
            hooks: Hooks::default(),
            sockets: Vec::new(),
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
    /// A Ctrl-C typed while the child held the terminal ended it (or cut its stop short), and its group is gone:
    /// stator should end too, with 130. Nothing starts afterwards.
    Interrupted {
        /// How the child ended; `None` if it could not be reaped.
        status: Option<ExitStatus>,
    },
    /// A second Ctrl-C within [`DOUBLE_INTERRUPT`] while the child holds the terminal (which caught the first):
    /// stop everything ([`Supervisor::shutdown`]), and exit with 130.
    SecondInterrupt,
    /// Ctrl-Z stopped the child, which held the terminal; stator holds it again. Call [`Supervisor::suspend`] to
    /// stop stator along with it until `fg`.
    Suspended,
    /// The child is stopped by a terminal signal: it tried to use the terminal without holding it (stdin is not a
    /// terminal, the terminal is not handed over, or stator runs in the background). Reported once per run.
    TerminalStop(StopKind),
}

/// What the supervisor did besides starting and ending the command's runs (those are [`Effect`]s): the build,
/// readiness and hooks. Given to the listener as they happen ([`Supervisor::set_listener`]: a build is announced
/// before it runs), or kept for [`Supervisor::take_notices`]; either way, the notices of one call come before its
/// effect.
#[derive(Debug)]
pub enum Notice {
    /// A build started.
    BuildStarted {
        /// Its number (`STATOR_BUILD`).
        build: u64,
        /// It replaces a build that a change cancelled.
        again: bool,
    },
    /// The build succeeded; what it does to the command is the call's [`Effect`].
    BuildSucceeded {
        /// Its number.
        build: u64,
        /// How long it ran.
        took: Duration,
    },
    /// The build failed: the command was left alone.
    BuildFailed {
        /// Its number.
        build: u64,
        /// How it ended.
        status: ExitStatus,
        /// How long it ran.
        took: Duration,
        /// A run of the command is still going (the old one keeps serving).
        running: bool,
    },
    /// The build could not be started: a failed build.
    BuildNotRun {
        /// Why.
        error: SpawnError,
        /// A run of the command is still going.
        running: bool,
    },
    /// [`CANCELS_NOTICED`] builds in a row were cancelled by changes (given once): a build that writes into the
    /// watched tree cancels itself.
    BuildCancelledOften {
        /// How many.
        times: u32,
    },
    /// The running command became ready ([`Options::ready`]).
    Ready {
        /// Its run number.
        run: u64,
        /// How long after its start.
        after: Duration,
    },
    /// The running command is not ready yet, [`ready::PATIENCE`] after its start (given once per run).
    NotReady {
        /// Its run number.
        run: u64,
        /// How long it has been running.
        after: Duration,
        /// What it waits for ([`ReadyCheck::describe`]).
        waiting_for: String,
    },
    /// A hook ended with a failure.
    HookFailed {
        /// Which.
        hook: Hook,
        /// How it ended.
        status: ExitStatus,
    },
    /// A hook could not be started.
    HookNotRun {
        /// Which.
        hook: Hook,
        /// Why.
        error: SpawnError,
    },
    /// A hook was not run: [`hooks::MAX_RUNNING`] are still running.
    HookSkipped {
        /// Which.
        hook: Hook,
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
    /// The running build's pid, 0 when there is none.
    build_pid: AtomicU32,
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
        for pid in [&self.0.pid, &self.0.build_pid] {
            let pid = pid.load(Ordering::SeqCst);
            if pid != 0 {
                sys::kill_tree(pid);
            }
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
    /// [`Options::env_files`], with their last good values.
    env_files: env_file::EnvFiles,
    /// `--socket`'s listeners, passed to every run of the command.
    #[cfg(unix)]
    sockets: Option<sockets::Sockets>,
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
    /// The newest list written (the running child's `STATOR_CHANGED_FILE`).
    list: Option<PathBuf>,
    /// Earlier runs' lists that could not be removed yet (held open on Windows); tried again at every write.
    stale: Vec<PathBuf>,
    /// Why the first child that had to start without `STATOR_CHANGED_FILE` did, until the caller takes it.
    unlisted: Option<io::Error>,
    /// Whether a child ever started without it (so it is said once).
    ever_unlisted: bool,
    notify: Notify,
    reap_all: bool,
    kill: KillHandle,
    /// The terminal handed to each run, if any.
    terminal: Option<Terminal>,
    /// The stator binary, run as each run's sentinel (Unix).
    sentinel: Option<PathBuf>,
    /// Directories of stator's own that a sentinel removes if stator dies without removing them (see
    /// [`Supervisor::remove_on_death`]).
    litter: Vec<PathBuf>,
    /// The last Ctrl-C the current run's sentinel reported.
    last_interrupt: Option<Instant>,
    /// The current run got the terminal.
    gave_terminal: bool,
    /// A terminal stop of the current run was reported.
    stop_reported: bool,
    /// A Ctrl-C cut the last stop short.
    last_stop_interrupted: bool,
    /// The running build.
    build: Option<Build>,
    /// Builds started so far (the last `STATOR_BUILD`).
    builds: u64,
    /// The next build replaces one a change cancelled.
    rebuilding: bool,
    /// Builds cancelled by a change in a row.
    cancels: u32,
    /// The current run's readiness, until it is ready or ends.
    ready: Option<ready::Watch>,
    /// The threads forwarding the current run's output (`--ready-log`).
    forwarders: Vec<std::thread::JoinHandle<()>>,
    /// Hooks still running.
    hooks: Vec<(Hook, sys::Proc)>,
    /// What happened besides the effects, for [`Supervisor::take_notices`] (without a listener).
    notices: Vec<Notice>,
    /// Told each notice as it happens.
    listener: Option<Listener>,
}

/// The function [`Supervisor::set_listener`] was given.
struct Listener(Box<dyn FnMut(Notice)>);

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Listener")
    }
}

/// A running build.
#[derive(Debug)]
struct Build {
    proc: sys::Proc,
    number: u64,
    since: Instant,
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
    interrupted: bool,
}

impl Supervisor {
    /// A supervisor with no child yet. In PID 1 (see [`is_pid1`]) it reaps every orphan, not only its child.
    ///
    /// On Windows, which has no signals, the stop signal and [`OnBusy::Signal`] become `CTRL_BREAK_EVENT` (`KILL`:
    /// terminating the child's job); [`Supervisor::platform_note`] says so.
    pub fn new(opts: Options) -> Supervisor {
        let mut policy = Policy::new(opts.on_busy, opts.on_exit, opts.reload_code);
        if opts.build.is_some() {
            policy = policy.with_build();
        }
        Supervisor {
            env_files: env_file::EnvFiles::new(&opts.env_files),
            #[cfg(unix)]
            sockets: None,
            opts,
            policy,
            child: None,
            abandoned: Vec::new(),
            runs: 0,
            changed: Vec::new(),
            seen: HashSet::new(),
            dir: None,
            list: None,
            stale: Vec::new(),
            unlisted: None,
            ever_unlisted: false,
            notify: Notify::default(),
            reap_all: is_pid1(),
            kill: KillHandle::default(),
            terminal: None,
            sentinel: None,
            litter: Vec::new(),
            last_interrupt: None,
            gave_terminal: false,
            stop_reported: false,
            last_stop_interrupted: false,
            build: None,
            builds: 0,
            rebuilding: false,
            cancels: 0,
            ready: None,
            forwarders: Vec::new(),
            hooks: Vec::new(),
            notices: Vec::new(),
            listener: None,
        }
    }

    /// Gives each [`Notice`] to `listener` as it happens, instead of keeping it for [`Supervisor::take_notices`]:
    /// a build is announced before it is spawned, a run's readiness before its hook.
    pub fn set_listener(&mut self, listener: impl FnMut(Notice) + 'static) {
        self.listener = Some(Listener(Box::new(listener)));
    }

    fn notify(&mut self, notice: Notice) {
        match &mut self.listener {
            Some(listener) => (listener.0)(notice),
            None => self.notices.push(notice),
        }
    }

    /// What happened since the last call besides the effects (the build, readiness, hooks), in order, unless a
    /// listener takes them. Take them after every call, errors included, and report them before the call's effect.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// The running build's pid, if one runs.
    pub fn build_pid(&self) -> Option<u32> {
        self.build.as_ref().map(|b| b.proc.id())
    }

    /// What the options mean on this platform where that differs from what they say, for a note at startup (on
    /// Windows: what `--signal` and `--on-busy signal` are delivered as). `None` on Unix.
    pub fn platform_note(&self) -> Option<String> {
        #[cfg(windows)]
        return windows::note(&self.opts);
        #[cfg(not(windows))]
        None
    }

    /// Hands `terminal` to each run while it runs, and takes it back (restoring its modes) when the run ends and
    /// when the supervisor is dropped.
    pub fn set_terminal(&mut self, terminal: Terminal) {
        self.terminal = Some(terminal);
    }

    /// Runs `program`, which must be the stator binary (its `main` calls [`run_sentinel`] first), as the sentinel
    /// of each run (Unix; ignored on Windows and in reap-all mode, where stator is PID 1 and its death takes every
    /// process of its namespace along). On Linux `/proc/self/exe` names the running binary even after a rebuild
    /// replaced it.
    pub fn set_sentinel(&mut self, program: PathBuf) {
        self.sentinel = Some(program);
    }

    /// Hands every later run of the command (not the build, nor the hooks) these sockets, as fds 3, 4, ... with
    /// `LISTEN_FDS` (see [`sockets`]). The supervisor holds them until it is dropped.
    #[cfg(unix)]
    pub fn hold_sockets(&mut self, sockets: sockets::Sockets) {
        self.sockets = Some(sockets);
    }

    /// Has each run's sentinel remove `dir` (a private directory of stator's, named `stator-*`) if stator dies
    /// without removing it itself, even by `SIGKILL`. The directory of the changed-files list is always on it.
    pub fn remove_on_death(&mut self, dir: PathBuf) {
        self.litter.push(dir);
    }

    /// What a sentinel removes if stator dies: the changed-files list's directory and [`Supervisor::remove_on_death`]'s.
    fn litter(&self) -> Vec<PathBuf> {
        self.dir.iter().map(|d| d.path().to_path_buf()).chain(self.litter.iter().cloned()).collect()
    }

    /// Whether this supervisor reaps every exited child process (see [`Supervisor::set_reap_all`]): as PID 1, where
    /// the kernel ends every process of the namespace with stator, so no sentinel is needed.
    pub fn reaps_all(&self) -> bool {
        self.reap_all
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
    /// A new file each run (`changed-<run>`), in the same private directory.
    pub fn changed_file(&self) -> Option<PathBuf> {
        self.list.clone()
    }

    /// The first time a child started without `STATOR_CHANGED_FILE` because the list could not be written (a
    /// full `$TMPDIR`), why; `None` until then, and after it was taken once. Later children that start without it
    /// are not reported again (each one that can have the list gets it).
    pub fn take_unlisted(&mut self) -> Option<io::Error> {
        self.unlisted.take()
    }

    /// Why environment files could not be read at the starts since the last call (each such file kept the values
    /// of its last good read).
    pub fn take_env_file_errors(&mut self) -> Vec<env_file::EnvFileError> {
        self.env_files.take_errors()
    }

    /// Starts the first child; `changed` is what it is told changed (usually nothing). Called again while a child
    /// runs, it is a change like any other.
    pub fn start(&mut self, changed: &[PathBuf]) -> Result<(), SpawnError> {
        self.changed(changed, Instant::now()).map(|_| ())
    }

    /// A settled set of changes arrived at `now`: restart, queue, or signal, as [`OnBusy`] says. A restart is
    /// synchronous: the old process group is gone before the new child spawns.
    pub fn changed(&mut self, paths: &[PathBuf], now: Instant) -> Result<Option<Effect>, SpawnError> {
        self.remember(paths);
        let mut report = Report::default();
        // A child that died since the last poll must not be signalled instead of started.
        self.reap(now, &mut report)?;
        if report.interrupted {
            return Ok(self.effect(report));
        }
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
        self.reap_hooks();
        if self.second_interrupt(now) {
            return Ok(Some(Effect::SecondInterrupt));
        }
        let mut report = Report::default();
        if self.reap(now, &mut report)? {
            return Ok(self.effect(report));
        }
        if let Some(outcome) = self.stopped() {
            return Ok(Some(outcome));
        }
        self.check_ready(now);
        if self.reap_build(now, &mut report)? {
            return Ok(self.effect(report));
        }
        if self.child.is_none() && self.reap_all {
            reap_orphans();
        }
        let action = self.policy.handle(Event::Tick, now);
        self.drive(action, now, &mut report)?;
        Ok(self.effect(report))
    }

    /// Restarts the command now, whatever [`OnBusy`] says (Enter, `SIGUSR1`, a `--trigger` file): a running child
    /// is stopped and a new one started; with none running, one starts. `paths` are what the child is told changed.
    pub fn restart(&mut self, paths: &[PathBuf], now: Instant) -> Result<Option<Effect>, SpawnError> {
        self.remember(paths);
        let mut report = Report::default();
        if self.reap(now, &mut report)? {
            // It had ended (and whatever followed was done): a restart asked for now starts one if none did.
            if report.interrupted || report.exit.is_some() || report.started.is_some() {
                return Ok(self.effect(report));
            }
        }
        let action = self.policy.handle(Event::RestartAsked, now);
        self.drive(action, now, &mut report)?;
        Ok(self.effect(report))
    }

    /// After [`Effect::Suspended`]: stops stator too (its process group gets `SIGTSTP`, so the shell sees the job
    /// stopped) until it is continued (`fg`), then gives the terminal back to the child and continues its group.
    /// Where nobody could continue stator (an orphaned process group), it is not stopped, and the child goes on.
    pub fn suspend(&mut self) {
        if let (Some(child), Some(terminal)) = (self.child.as_ref(), self.terminal.as_ref()) {
            child.suspend(terminal);
        }
    }

    fn remember(&mut self, paths: &[PathBuf]) {
        for p in paths {
            if self.seen.insert(p.clone()) {
                self.changed.push(p.clone());
            }
        }
    }

    /// Stops the child for good: the stop signal to its group, up to the stop timeout, then `SIGKILL`. Returns how
    /// it ended, if there was a child. Nothing starts afterwards.
    ///
    /// A running build is stopped too; hooks still running get the stop timeout to end, then are stopped.
    pub fn shutdown(&mut self) -> Option<ExitStatus> {
        self.policy.handle(Event::Shutdown, Instant::now());
        self.stop_build();
        let status = self.stop_child(self.opts.stop_signal, self.opts.stop_timeout);
        self.policy.handle(Event::StopFinished, Instant::now());
        self.finish_hooks(self.opts.stop_timeout);
        status.flatten()
    }

    /// `SIGKILL`s the child's group at once (the second Ctrl-C) and reaps it. Nothing starts afterwards.
    pub fn kill_now(&mut self) -> Option<ExitStatus> {
        self.kill.0.abort.store(true, Ordering::SeqCst);
        self.policy.handle(Event::Shutdown, Instant::now());
        self.stop_build();
        let status = self.stop_child(Signal::Kill, Duration::ZERO);
        self.policy.handle(Event::StopFinished, Instant::now());
        self.finish_hooks(Duration::ZERO);
        status.flatten()
    }

    /// Takes the Ctrl-Cs the sentinel reported; returns whether one came within [`DOUBLE_INTERRUPT`] of another.
    fn second_interrupt(&mut self, now: Instant) -> bool {
        let n = self.child.as_mut().map_or(0, sys::Proc::interrupts);
        self.note_interrupts(n, now)
    }

    /// Notes `n` Ctrl-Cs reported at `now`; returns whether one came within [`DOUBLE_INTERRUPT`] of another.
    fn note_interrupts(&mut self, n: u32, now: Instant) -> bool {
        for _ in 0..n {
            if self.last_interrupt.is_some_and(|t| now.saturating_duration_since(t) <= DOUBLE_INTERRUPT) {
                self.last_interrupt = None;
                return true;
            }
            self.last_interrupt = Some(now);
        }
        false
    }

    /// Whether the child's end at `now`, with `status`, is the doing of a Ctrl-C: it held the terminal, and died of
    /// `SIGINT` or ended soon after a Ctrl-C the sentinel reported.
    fn ended_by_interrupt(&self, status: ExitStatus, now: Instant) -> bool {
        if !self.gave_terminal {
            return false;
        }
        let recent = self.last_interrupt.is_some_and(|t| now.saturating_duration_since(t) <= INTERRUPT_ENDS);
        recent || died_of_sigint(status)
    }

    /// A stop of the child that `waitpid` reported: Ctrl-Z while it held the terminal is [`Effect::Suspended`]
    /// (the terminal is stator's again); a terminal stop is reported once per run, unless it only raced the
    /// hand-over (the group holds the terminal now: it is continued and tries again).
    fn stopped(&mut self) -> Option<Effect> {
        let child = self.child.as_mut()?;
        let stop = child.take_stop()?;
        let terminal = self.terminal.as_ref();
        let holds = terminal.is_some_and(|t| child.holds(t));
        match stop {
            StopKind::Suspended if holds => {
                if let Some(t) = terminal {
                    child.stopped_by_ctrl_z(t);
                }
                Some(Effect::Suspended)
            }
            StopKind::TerminalRead | StopKind::TerminalWrite if holds => {
                child.resume();
                None
            }
            StopKind::TerminalRead | StopKind::TerminalWrite if !self.stop_reported => {
                self.stop_reported = true;
                Some(Effect::TerminalStop(stop))
            }
            _ => None,
        }
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
        // The Ctrl-C that ended it may have been reported while it was exiting.
        let n = child.interrupts();
        let (run, pid, notify) = (self.runs, child.id(), &mut self.notify);
        let (sig, timeout) = (self.opts.stop_signal, self.opts.stop_timeout);
        child.clear_leftovers(sig, timeout, self.reap_all, &self.kill.0.abort, &mut |stage| {
            notify.tell(notice(stage, run, pid, sig, timeout));
        });
        let cut_short = child.interrupted();
        self.note_interrupts(n, now);
        let interrupted = cut_short || self.ended_by_interrupt(status, now);
        self.child = None;
        self.kill.0.pid.store(0, Ordering::SeqCst);
        self.end_run();
        report.ended = Some(Some(status));
        if !interrupted {
            self.ended_by_itself(status);
        }
        if interrupted {
            self.policy.handle(Event::Shutdown, now);
            self.policy.handle(Event::StopFinished, now);
            report.interrupted = true;
            return Ok(true);
        }
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
                    if self.last_stop_interrupted {
                        // A Ctrl-C at the command while it was being stopped: nothing starts after it.
                        self.policy.handle(Event::Shutdown, now);
                        self.policy.handle(Event::StopFinished, now);
                        report.interrupted = true;
                        return Ok(());
                    }
                    self.policy.handle(Event::StopFinished, now)
                }
                Action::SendSignal => {
                    if self.child.is_some() {
                        // Tell the child what changed before poking it. If the file cannot be written, the signal
                        // still goes, the caller hears of it, and the paths wait for the next list.
                        match self.write_changed_file(self.runs) {
                            Ok(_) => {
                                self.changed.clear();
                                self.seen.clear();
                            }
                            Err(e) => report.unlisted = Some(e),
                        }
                        let sig = self.opts.reload_signal;
                        report.signalled = self.child.as_mut().is_some_and(|c| c.signal(sig).is_ok());
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
                Action::StartBuild => match self.spawn_build(now) {
                    Ok(()) => self.policy.handle(Event::BuildStarted, now),
                    Err(error) => {
                        self.notify(Notice::BuildNotRun { error, running: self.child.is_some() });
                        self.policy.handle(Event::BuildStartFailed, now)
                    }
                },
                Action::StopBuild => {
                    self.stop_build();
                    let next = self.policy.handle(Event::BuildStopped, now);
                    if next == Action::StartBuild {
                        self.rebuilding = true;
                        self.cancels = self.cancels.saturating_add(1);
                        if self.cancels == CANCELS_NOTICED {
                            self.notify(Notice::BuildCancelledOften { times: self.cancels });
                        }
                    }
                    next
                }
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
        // A Ctrl-C at the command as its stop began: it died of it, and the sentinel's word of it may not be read
        // yet. (Unless SIGINT is how it is stopped.)
        let died_of_ctrl_c = self.gave_terminal && sig != Signal::Int && status.is_some_and(died_of_sigint);
        self.last_stop_interrupted = child.interrupted() || died_of_ctrl_c;
        self.kill.0.pid.store(0, Ordering::SeqCst);
        self.end_run();
        if status.is_none() {
            self.abandoned.push(child);
        }
        Some(status)
    }

    /// The run is over (its group gone): the terminal is stator's again, with the modes stator found.
    fn end_run(&mut self) {
        // Its readiness is no longer watched (the port probe ends), and what it wrote last is passed on first.
        self.ready = None;
        let deadline = Instant::now() + ready::DRAIN;
        for forwarder in std::mem::take(&mut self.forwarders) {
            while !forwarder.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if forwarder.is_finished() {
                let _ = forwarder.join();
            }
        }
        if let Some(t) = &self.terminal {
            t.take_back();
        }
        self.gave_terminal = false;
        self.stop_reported = false;
        self.last_interrupt = None;
    }

    /// `words` (the program and its arguments; with [`Options::shell`], the words of a shell command line) as a
    /// command, and the program to name in errors.
    fn command_for(&self, words: &[OsString]) -> Result<(Command, OsString), SpawnError> {
        let Some(program) = words.first() else {
            return Err(SpawnError::NoCommand);
        };
        if self.opts.shell {
            let line = words.join(std::ffi::OsStr::new(" "));
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
            return Ok((cmd, OsString::from(shell)));
        }
        // Windows: `npm` is `npm.cmd`, found through PATHEXT as a shell would.
        #[cfg(windows)]
        let mut cmd = Command::new(windows::find_program(program, &self.opts.env).unwrap_or_else(|| program.into()));
        #[cfg(not(windows))]
        let mut cmd = Command::new(program);
        cmd.args(&words[1..]);
        Ok((cmd, program.clone()))
    }

    fn spawn(&mut self) -> Result<u64, SpawnError> {
        if self.opts.command.is_empty() {
            return Err(SpawnError::NoCommand);
        }
        let run = self.runs + 1;
        // A list that cannot be written is not worth a dead server: the child runs without it.
        let file = match self.write_changed_file(run) {
            Ok(file) => Some(file),
            Err(e) => {
                if !self.ever_unlisted {
                    self.ever_unlisted = true;
                    self.unlisted = Some(e);
                }
                None
            }
        };
        let (mut cmd, program) = self.command_for(&self.opts.command)?;
        cmd.envs(self.env_files.load());
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        cmd.env("STATOR_RUN", run.to_string());
        #[cfg(unix)]
        if let Some(sockets) = &self.sockets {
            sockets.pass_to(&mut cmd);
        }
        match &file {
            Some(file) => cmd.env("STATOR_CHANGED_FILE", file),
            // Not an older list, nor one inherited from a stator that runs this one.
            None => cmd.env_remove("STATOR_CHANGED_FILE"),
        };
        // --ready-log reads the command's output: through pipes, forwarded as it comes.
        let pattern = self.opts.ready.log.clone();
        if pattern.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        // As PID 1 the kernel ends every process of the namespace with stator: no sentinel needed.
        let sentinel = if self.reap_all { None } else { self.sentinel.as_deref() };
        let litter = self.litter();
        let with = sys::SpawnWith { terminal: self.terminal.as_ref(), sentinel, litter: &litter };
        let (mut child, given) = sys::Proc::spawn(&mut cmd, with).map_err(|e| SpawnError::from_io(&program, e))?;
        self.gave_terminal = given;
        self.stop_reported = false;
        self.last_interrupt = None;
        self.kill.0.pid.store(child.id(), Ordering::SeqCst);
        if self.kill.0.abort.load(Ordering::SeqCst) {
            // A kill was asked for while we were spawning.
            sys::kill_tree(child.id());
        }
        self.ready = ready::Watch::start(&self.opts.ready, Instant::now());
        if let (Some(pattern), Some(watch)) = (pattern, &self.ready) {
            let (out, err) = child.take_output();
            // Without a thread to read it, a pipe is closed, and the command's writes to it fail: it still runs.
            if let Some(out) = out {
                self.forwarders.extend(watch.forward(out, ready::Sink::Stdout, pattern.clone()).ok());
            }
            if let Some(err) = err {
                self.forwarders.extend(watch.forward(err, ready::Sink::Stderr, pattern).ok());
            }
        }
        self.child = Some(child);
        self.runs = run;
        self.changed.clear();
        self.seen.clear();
        Ok(run)
    }

    /// With `--socket`, what is not a run of the command (the build, a hook) gets no `LISTEN_*` variables: an
    /// inherited set would describe file descriptors it does not have.
    fn withhold_sockets(&self, cmd: &mut Command) {
        #[cfg(unix)]
        if self.sockets.is_some() {
            sockets::Sockets::withhold(cmd);
        }
        #[cfg(not(unix))]
        let _ = cmd;
    }

    /// Starts the build (the old run, if any, goes on).
    fn spawn_build(&mut self, now: Instant) -> Result<(), SpawnError> {
        let Some(words) = self.opts.build.as_deref() else {
            return Err(SpawnError::NoCommand);
        };
        let (mut cmd, program) = self.command_for(words)?;
        // Numbered, and announced, before it can print anything.
        let number = self.builds + 1;
        self.builds = number;
        let again = std::mem::take(&mut self.rebuilding);
        self.notify(Notice::BuildStarted { build: number, again });
        cmd.env("STATOR_BUILD", number.to_string()).stdin(Stdio::null());
        // What changed since the running command started: what the build is to take in. One file, replaced for
        // each build (the one before is over by then); without it, the build runs all the same.
        match self.write_list("build-changed") {
            Ok(file) => cmd.env("STATOR_CHANGED_FILE", file),
            Err(_) => cmd.env_remove("STATOR_CHANGED_FILE"),
        };
        self.withhold_sockets(&mut cmd);
        let sentinel = if self.reap_all { None } else { self.sentinel.as_deref() };
        let litter = self.litter();
        let with = sys::SpawnWith { terminal: None, sentinel, litter: &litter };
        let (proc, _) = sys::Proc::spawn(&mut cmd, with).map_err(|e| SpawnError::from_io(&program, e))?;
        self.kill.0.build_pid.store(proc.id(), Ordering::SeqCst);
        if self.kill.0.abort.load(Ordering::SeqCst) {
            sys::kill_tree(proc.id());
        }
        self.build = Some(Build { proc, number, since: now });
        Ok(())
    }

    /// Stops the running build's process group, if a build runs.
    fn stop_build(&mut self) {
        let Some(mut build) = self.build.take() else { return };
        self.kill.0.build_pid.store(0, Ordering::SeqCst);
        let status =
            build.proc.stop(Signal::Term, self.opts.stop_timeout, self.reap_all, &self.kill.0.abort, &mut |_| {});
        if status.is_none() {
            self.abandoned.push(build.proc);
        }
    }

    /// If the build ended, says so, runs its hook, and carries out what the policy makes of it. Returns whether
    /// it had.
    fn reap_build(&mut self, now: Instant, report: &mut Report) -> Result<bool, SpawnError> {
        let Some(build) = self.build.as_mut() else {
            return Ok(false);
        };
        let Ok(Some(status)) = build.proc.try_reap(self.reap_all) else {
            return Ok(false);
        };
        // What it left running in its group goes with it.
        build.proc.clear_leftovers(
            Signal::Term,
            self.opts.stop_timeout,
            self.reap_all,
            &self.kill.0.abort,
            &mut |_| {},
        );
        let (number, took) = (build.number, now.saturating_duration_since(build.since));
        self.build = None;
        self.kill.0.build_pid.store(0, Ordering::SeqCst);
        self.cancels = 0;
        let t = Termination::from(status);
        let hook = if t == Termination::Code(0) {
            self.notify(Notice::BuildSucceeded { build: number, took });
            Hook::Success
        } else {
            self.notify(Notice::BuildFailed { build: number, status, took, running: self.child.is_some() });
            Hook::Failure
        };
        self.run_hook(hooks::Why { hook, run: self.runs, code: Some(t.exit_code()), build: Some(number) });
        let action = self.policy.handle(Event::BuildExited(t), now);
        report.queued = action == Action::Wait && self.policy.pending() && self.child.is_some();
        self.drive(action, now, report)?;
        Ok(true)
    }

    /// The command's run ended by itself: without a build, its hook runs (not for the reload code: that is a
    /// request, neither a success nor a failure).
    fn ended_by_itself(&mut self, status: ExitStatus) {
        if self.opts.build.is_some() {
            return;
        }
        let t = Termination::from(status);
        if self.opts.reload_code.is_some_and(|code| t == Termination::Code(code)) {
            return;
        }
        let hook = if t == Termination::Code(0) { Hook::Success } else { Hook::Failure };
        self.run_hook(hooks::Why { hook, run: self.runs, code: Some(t.exit_code()), build: None });
    }

    /// Says whether the running command became ready (or is late), and runs the ready hook.
    fn check_ready(&mut self, now: Instant) {
        let Some(watch) = self.ready.as_mut() else { return };
        let run = self.runs;
        match watch.check(now) {
            Some(ready::Outcome::Ready(after)) => {
                self.ready = None;
                self.notify(Notice::Ready { run, after });
                self.run_hook(hooks::Why { hook: Hook::Ready, run, code: None, build: None });
            }
            Some(ready::Outcome::Late(after)) => {
                let waiting_for = self.opts.ready.describe();
                self.notify(Notice::NotReady { run, after, waiting_for });
            }
            None => {}
        }
    }

    /// Starts the hook `why` names, if it is given, and leaves it running.
    fn run_hook(&mut self, why: hooks::Why) {
        let Some(words) = self.opts.hooks.get(why.hook).map(<[OsString]>::to_vec) else { return };
        self.reap_hooks();
        if self.hooks.len() >= hooks::MAX_RUNNING {
            self.notify(Notice::HookSkipped { hook: why.hook });
            return;
        }
        let spawned = self.command_for(&words).and_then(|(mut cmd, program)| {
            cmd.stdin(Stdio::null());
            self.withhold_sockets(&mut cmd);
            for (k, v) in why.env() {
                cmd.env(k, v);
            }
            sys::Proc::spawn(&mut cmd, sys::SpawnWith::default())
                .map(|(proc, _)| proc)
                .map_err(|e| SpawnError::from_io(&program, e))
        });
        match spawned {
            Ok(proc) => self.hooks.push((why.hook, proc)),
            Err(error) => self.notify(Notice::HookNotRun { hook: why.hook, error }),
        }
    }

    /// Reaps the hooks that ended; a failure is a notice. (What a hook left running in its group is its own.)
    fn reap_hooks(&mut self) {
        let reap_all = self.reap_all;
        let mut failed = Vec::new();
        self.hooks.retain_mut(|(hook, proc)| match proc.try_reap(reap_all) {
            Ok(None) => true,
            Ok(Some(status)) => {
                if !status.success() {
                    failed.push(Notice::HookFailed { hook: *hook, status });
                }
                false
            }
            // Cannot tell (its status taken elsewhere): nothing more to learn from it.
            Err(_) => false,
        });
        for notice in failed {
            self.notify(notice);
        }
    }

    /// Gives the running hooks up to `grace` to end, then stops what is left of them.
    fn finish_hooks(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        loop {
            self.reap_hooks();
            // A second Ctrl-C cuts the wait short too.
            if self.hooks.is_empty() || Instant::now() >= deadline || self.kill.0.abort.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for (_, mut proc) in std::mem::take(&mut self.hooks) {
            if proc.stop(Signal::Term, Duration::ZERO, self.reap_all, &self.kill.0.abort, &mut |_| {}).is_none() {
                self.abandoned.push(proc);
            }
        }
    }

    /// Writes the changed paths, one per line, to the private directory's file `name` (atomically: a reader never
    /// sees half a list), and returns its path.
    fn write_list(&mut self, name: &str) -> io::Result<PathBuf> {
        let dir = match &self.dir {
            Some(dir) => dir,
            None => self.dir.insert(crate::sys::private_dir("stator-")?),
        };
        let mut bytes = Vec::new();
        for p in &self.changed {
            bytes.extend_from_slice(p.as_os_str().as_encoded_bytes());
            bytes.push(b'\n');
        }
        let path = dir.path().join(name);
        let tmp = dir.path().join(format!("{name}.tmp"));
        write_private(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Writes run `run`'s changed-files file ([`Supervisor::write_list`]), removes earlier runs' files where it
    /// can, and returns its path.
    fn write_changed_file(&mut self, run: u64) -> io::Result<PathBuf> {
        let path = self.write_list(&format!("changed-{run}"))?;
        if let Some(old) = self.list.replace(path.clone())
            && old != path
        {
            self.stale.push(old);
        }
        // Best-effort: a file some process holds open without delete sharing (Windows) is tried again next time,
        // and goes with the directory at the end.
        self.stale.retain(|p| std::fs::remove_file(p).is_err_and(|e| e.kind() != io::ErrorKind::NotFound));
        Ok(path)
    }

    fn effect(&self, r: Report) -> Option<Effect> {
        let unknown = || r.ended.flatten();
        if r.interrupted {
            return Some(Effect::Interrupted { status: unknown() });
        }
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
        if self.child.is_some() || self.build.is_some() {
            self.kill_now();
        }
        // Hooks started as stator ends (the failure hook of a command whose end ends stator) get to run.
        self.finish_hooks(self.opts.stop_timeout);
        if let Some(t) = &self.terminal {
            t.release();
        }
    }
}

/// Creates (or truncates) `path` readable and writable by the owner only, and writes `bytes` to it.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = crate::sys::private_file().write(true).create(true).truncate(true).open(path)?;
    f.write_all(bytes)?;
    f.flush()
}
