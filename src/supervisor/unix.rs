//! Unix: the child leads its own process group; stopping signals the whole group, waits, kills, reaps.
//!
//! [`terminal`] hands the terminal to each run (job control); [`sentinel`] keeps watch beside each run, so the
//! group dies with stator even when stator is killed with `SIGKILL`.

pub(crate) mod sentinel;
pub(crate) mod terminal;

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal as RawSignal, WaitOptions};

use super::pauses::Pauses;
use super::signal::Signal;
use super::{SLOW_STOP, Stage, StopKind, Terminal};
use sentinel::Sentinel;

/// How long a process group gets to disappear after `SIGKILL` before stator gives up on it (a process stuck in
/// uninterruptible sleep, e.g. on a dead NFS server, cannot die until its I/O returns).
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The children a [`Proc`] is kept for (the command, the build, the hooks), with the status [`reap_orphans`] took
/// from one before its `Proc` looked. As PID 1, a look for any child's status takes whichever ended, the build's
/// while the command's is looked for: it is kept here for the build's next look, not lost.
static OURS: Mutex<Vec<(i32, Option<ExitStatus>)>> = Mutex::new(Vec::new());

fn ours() -> MutexGuard<'static, Vec<(i32, Option<ExitStatus>)>> {
    OURS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One spawned child, the leader of its own process group.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    /// The child's pid, which is also its process group id.
    pgid: Pid,
    /// Its status once reaped.
    status: Option<ExitStatus>,
    /// A stop `waitpid` reported and the supervisor has not taken yet.
    stop: Option<StopKind>,
    /// The run's sentinel, if one could be started.
    sentinel: Option<Sentinel>,
    /// `SIGINT`s stator itself sent the group (`--signal INT`), whose reports by the sentinel are no Ctrl-C.
    own_interrupts: u32,
    /// A Ctrl-C was typed while the child was being stopped, and cut the stop short.
    interrupted: bool,
}

/// What a spawn needs besides the command: the terminal to hand over, and the sentinel program.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpawnWith<'a> {
    /// Hand the terminal to the run, if stator holds it.
    pub(crate) terminal: Option<&'a Terminal>,
    /// The stator binary, to run as the sentinel.
    pub(crate) sentinel: Option<&'a Path>,
    /// Stator's private directories, for the sentinel to remove if stator dies.
    pub(crate) litter: &'a [std::path::PathBuf],
}

impl Proc {
    /// Spawns `cmd` as the leader of a new process group. On Linux the child also gets `SIGKILL` if stator dies
    /// without stopping it (the parent-death signal; it fires when the *thread* that spawned the child exits, so
    /// keep the supervisor on one long-lived thread). With a terminal that stator holds, the group becomes its
    /// foreground group before the command runs; with a sentinel program, a sentinel watches the group.
    ///
    /// Returns the child, and whether it got the terminal.
    pub(crate) fn spawn(cmd: &mut Command, with: SpawnWith<'_>) -> io::Result<(Proc, bool)> {
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        die_with_parent(cmd);
        restore_fd_limit(cmd);
        let terminal = with.terminal.filter(|t| t.can_give());
        if let Some(t) = terminal {
            t.prepare(cmd);
        }
        // The sentinel first: the command waits before its exec until the sentinel watches its group (it joins
        // the group where the command takes the terminal), so no moment of the command's life goes unwatched.
        // Without one (it could not start), the command runs all the same.
        let watch = with.sentinel.and_then(|program| Sentinel::spawn(program, terminal.is_some(), with.litter).ok());
        let (sentinel, gate) = watch.unzip();
        if let Some(gate) = &gate {
            gate.hold(cmd);
        }
        let spawned = cmd.spawn();
        drop(gate);
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                // The sentinel first: in the group of the child, it keeps the group alive.
                if let Some(sentinel) = sentinel {
                    sentinel.end();
                }
                // The child may have taken the terminal before its exec failed.
                if let Some(t) = terminal {
                    t.reclaim();
                }
                return Err(e);
            }
        };
        let pgid = Pid::from_child(&child);
        ours().push((pgid.as_raw_nonzero().get(), None));
        // The child made itself the foreground group already; setting it here too covers either order.
        let given = terminal.is_some_and(|t| t.give(pgid));
        let proc = Proc { child, pgid, status: None, stop: None, sentinel, own_interrupts: 0, interrupted: false };
        Ok((proc, given))
    }

    /// The child's pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The pipes of its stdout and stderr, if they were asked for (once).
    pub(crate) fn take_output(&mut self) -> (Option<ChildStdout>, Option<ChildStderr>) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    /// Reaps the child if it exited, without blocking; a stop is kept for [`Proc::take_stop`]. With `reap_all`
    /// (PID 1), also reaps every other exited child process, so orphans re-parented to stator do not pile up as
    /// zombies.
    pub(crate) fn try_reap(&mut self, reap_all: bool) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        // The child's pid is its group's id.
        match rustix::process::waitpid(Some(self.pgid), WaitOptions::NOHANG | WaitOptions::UNTRACED) {
            Ok(Some((_, ws))) if ws.stopped() => {
                self.stop = Some(match ws.stopping_signal() {
                    Some(n) if n == RawSignal::TSTP.as_raw() => StopKind::Suspended,
                    Some(n) if n == RawSignal::TTIN.as_raw() => StopKind::TerminalRead,
                    Some(n) if n == RawSignal::TTOU.as_raw() => StopKind::TerminalWrite,
                    _ => StopKind::Other,
                });
            }
            Ok(Some((_, ws))) => self.status = Some(ExitStatus::from_raw(ws.as_raw())),
            Ok(None) | Err(Errno::INTR) => {}
            // Reaped behind our back (by a wait for any child elsewhere): it is gone; its status was kept if
            // `reap_orphans` took it, and is lost otherwise.
            Err(Errno::CHILD) => {
                let pid = self.pgid.as_raw_nonzero().get();
                let kept = ours().iter().find(|(p, _)| *p == pid).and_then(|(_, status)| *status);
                self.status = Some(kept.unwrap_or_else(unknown_status));
            }
            Err(e) => return Err(e.into()),
        }
        if reap_all {
            let ours = self.id();
            for (pid, status) in reap_orphans() {
                if pid == ours && self.status.is_none() {
                    self.status = Some(status);
                }
            }
        }
        Ok(self.status)
    }

    /// The last stop `waitpid` reported, once.
    pub(crate) fn take_stop(&mut self) -> Option<StopKind> {
        self.stop.take()
    }

    /// Continues the group after a stop.
    pub(crate) fn resume(&self) {
        let _ = signal_group(self.pgid, RawSignal::CONT);
    }

    /// Whether the group holds `terminal` now: given to it, and its foreground group.
    pub(crate) fn holds(&self, terminal: &Terminal) -> bool {
        terminal.held_by(self.pgid)
    }

    /// The group, holding `terminal`, was stopped by Ctrl-Z: the terminal is stator's again (the group's modes
    /// kept for [`Proc::suspend`]).
    pub(crate) fn stopped_by_ctrl_z(&self, terminal: &Terminal) {
        terminal.take_back_stopped();
    }

    /// The group, holding `terminal`, was stopped by Ctrl-Z: stops stator along with it, and once both are
    /// continued (`fg`), gives the terminal back and continues the group. See [`Terminal::suspend`].
    pub(crate) fn suspend(&self, terminal: &Terminal) {
        terminal.suspend(self.pgid);
        self.resume();
    }

    /// How many Ctrl-Cs the sentinel reported since the last call (without the `SIGINT`s stator sent itself).
    pub(crate) fn interrupts(&mut self) -> u32 {
        let Some(sentinel) = self.sentinel.as_mut() else {
            return 0;
        };
        let mut n = sentinel.interrupts();
        let own = self.own_interrupts.min(n);
        self.own_interrupts -= own;
        n -= own;
        n
    }

    /// Whether a Ctrl-C cut the last stop short.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Sends `sig` to the child's whole process group. A group that is already gone is not an error.
    pub(crate) fn signal(&mut self, sig: Signal) -> io::Result<()> {
        self.send(sig.to_rustix())
    }

    fn send(&mut self, sig: RawSignal) -> io::Result<()> {
        if sig == RawSignal::INT && self.sentinel.as_ref().is_some_and(Sentinel::in_group) {
            self.own_interrupts += 1;
        }
        signal_group(self.pgid, sig)
    }

    /// Whether the stop must end now: a second Ctrl-C (`abort`), or a Ctrl-C typed at the group.
    fn cut_short(&mut self, abort: &AtomicBool) -> bool {
        if self.interrupts() > 0 {
            self.interrupted = true;
        }
        self.interrupted || abort.load(Ordering::Relaxed)
    }

    /// Stops the child and its process group: `sig` to the group (and `SIGCONT`, so a stopped group can act on it),
    /// up to `timeout` for the child to exit, then `SIGKILL`. Once the child is reaped, whatever is left of its group
    /// gets the rest of `timeout`, then `SIGKILL` too, until none of it is left alive. `abort` (a second Ctrl-C),
    /// or a Ctrl-C typed at the group while it holds the terminal, cuts every wait short.
    ///
    /// Returns the child's status; `None` only if it survived `SIGKILL` for [`KILL_GRACE`] (stuck in the kernel).
    /// `notice` hears how it goes: once if it is still waiting after [`SLOW_STOP`], once if the timeout runs out.
    pub(crate) fn stop(
        &mut self,
        sig: Signal,
        timeout: Duration,
        reap_all: bool,
        abort: &AtomicBool,
        notice: &mut dyn FnMut(Stage),
    ) -> Option<ExitStatus> {
        let start = Instant::now();
        let deadline = start.checked_add(timeout).unwrap_or(start + Duration::from_secs(86_400 * 365));
        if !matches!(self.try_reap(reap_all), Ok(Some(_))) {
            let _ = self.send(sig.to_rustix());
            let _ = signal_group(self.pgid, RawSignal::CONT);
        }
        let mut progress = Progress { start, slow_said: false, killing_said: false, notice };
        let status = self.wait_for_child(deadline, reap_all, abort, &mut progress);
        self.clear_group(deadline, reap_all, abort, &mut progress);
        status
    }

    /// After the child exited by itself: stops what it left behind in its group, as [`Proc::stop`] does.
    pub(crate) fn clear_leftovers(
        &mut self,
        sig: Signal,
        timeout: Duration,
        reap_all: bool,
        abort: &AtomicBool,
        notice: &mut dyn FnMut(Stage),
    ) {
        if !self.group_alive() {
            self.end_sentinel();
            return;
        }
        let start = Instant::now();
        let deadline = start.checked_add(timeout).unwrap_or(start + Duration::from_secs(86_400 * 365));
        let _ = self.send(sig.to_rustix());
        let _ = signal_group(self.pgid, RawSignal::CONT);
        let mut progress = Progress { start, slow_said: false, killing_said: false, notice };
        self.clear_group(deadline, reap_all, abort, &mut progress);
    }

    fn wait_for_child(
        &mut self,
        deadline: Instant,
        reap_all: bool,
        abort: &AtomicBool,
        progress: &mut Progress<'_>,
    ) -> Option<ExitStatus> {
        let mut pause = Pauses::new();
        loop {
            match self.try_reap(reap_all) {
                Ok(Some(status)) => {
                    // A Ctrl-C that ended it may have been reported as it ended.
                    self.cut_short(abort);
                    return Some(status);
                }
                Ok(None) => {}
                Err(_) => break,
            }
            progress.waiting(false);
            if self.cut_short(abort) || !pause.sleep_until(deadline) {
                break;
            }
        }
        if !abort.load(Ordering::Relaxed) {
            progress.killing(false);
        }
        let _ = signal_group(self.pgid, RawSignal::KILL);
        let give_up = Instant::now() + KILL_GRACE;
        let mut pause = Pauses::new();
        loop {
            if let Ok(Some(status)) = self.try_reap(reap_all) {
                return Some(status);
            }
            if !pause.sleep_until(give_up) {
                return None;
            }
        }
    }

    /// Whether a process of the group other than the sentinel is still alive.
    fn group_alive(&mut self) -> bool {
        // Where the members cannot be told apart, the sentinel goes first (what is left is then all leftovers).
        #[cfg(not(target_os = "linux"))]
        if self.sentinel.as_ref().is_some_and(Sentinel::in_group) {
            self.end_sentinel();
        }
        group_alive(self.pgid, self.sentinel.as_ref().map(Sentinel::pid))
    }

    /// Ends the sentinel, if there is one: the group is stopped, or being stopped by stator itself.
    fn end_sentinel(&mut self) {
        if let Some(sentinel) = self.sentinel.take() {
            sentinel.end();
        }
    }

    /// Waits until no live process is left in the group, `SIGKILL`ing it at `deadline`; then ends the sentinel.
    fn clear_group(&mut self, deadline: Instant, reap_all: bool, abort: &AtomicBool, progress: &mut Progress<'_>) {
        let mut pause = Pauses::new();
        let mut killed_at = None;
        loop {
            if reap_all {
                // Members whose parent died were re-parented to us: reap them, or they stay zombies.
                reap_orphans();
            }
            if !self.group_alive() {
                break;
            }
            if killed_at.is_none() {
                progress.waiting(true);
            }
            let give_up = match killed_at {
                Some(at) => at,
                None if self.cut_short(abort) || Instant::now() >= deadline => {
                    if !abort.load(Ordering::Relaxed) {
                        progress.killing(true);
                    }
                    let _ = signal_group(self.pgid, RawSignal::KILL);
                    let at = Instant::now() + KILL_GRACE;
                    killed_at = Some(at);
                    at
                }
                None => deadline,
            };
            if !pause.sleep_until(give_up) && killed_at.is_some() {
                break;
            }
        }
        // A Ctrl-C typed while the group was going (it may have been what ended it) counts too.
        self.cut_short(abort);
        self.end_sentinel();
    }
}

impl Drop for Proc {
    /// A run dropped without a stop (abandoned after `SIGKILL`, or the supervisor dropped): its sentinel goes too.
    fn drop(&mut self) {
        self.end_sentinel();
        let pid = self.pgid.as_raw_nonzero().get();
        ours().retain(|(p, _)| *p != pid);
    }
}

/// Sends `SIGKILL` to the process group led by `pid` (a second Ctrl-C, from any thread).
pub(crate) fn kill_tree(pid: u32) {
    if let Some(pgid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = signal_group(pgid, RawSignal::KILL);
    }
}

fn signal_group(pgid: Pid, sig: RawSignal) -> io::Result<()> {
    match rustix::process::kill_process_group(pgid, sig) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether any process of the group is still alive, `except` (the sentinel) aside. Zombies do not count: a
/// zombie holds no port and no file, and when its parent died and PID 1 does not reap (many containers, some
/// VMs), it stays forever.
fn group_alive(pgid: Pid, except: Option<Pid>) -> bool {
    match rustix::process::test_kill_process_group(pgid) {
        Err(Errno::SRCH) => false,
        // EPERM: what is left belongs to someone else now; nothing we could do about it.
        Err(_) => false,
        Ok(()) => live_member(pgid, except),
    }
}

/// Whether `/proc` shows a member of the group that is not a zombie, nor `except`. Where `/proc` cannot tell,
/// assume there is.
#[cfg(target_os = "linux")]
fn live_member(pgid: Pid, except: Option<Pid>) -> bool {
    let except = except.map_or(0, |p| p.as_raw_nonzero().get());
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    let pgid = pgid.as_raw_nonzero().get();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, group)) = parse_stat(&stat)
            && group == pgid
            && pid != except
            && state != b'Z'
            && state != b'X'
        {
            return true;
        }
    }
    false
}

#[cfg(not(target_os = "linux"))]
fn live_member(_pgid: Pid, _except: Option<Pid>) -> bool {
    true
}

/// The state letter and the process group id from the contents of `/proc/<pid>/stat`:
/// `pid (comm) state ppid pgrp ...`, where comm may contain spaces and parentheses.
#[cfg(target_os = "linux")]
pub(crate) fn parse_stat(stat: &[u8]) -> Option<(u8, i32)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The status reported for a child whose real status was taken by someone else: exit code 255.
pub(crate) fn unknown_status() -> ExitStatus {
    ExitStatus::from_raw(255 << 8)
}

/// Reaps every child process that has exited, without blocking, and returns their pids and statuses.
///
/// PID 1 (a container's entrypoint) must do this: orphans are re-parented to it, and nobody else will collect
/// them. It takes the status of *any* child, so a [`Supervisor`](super::Supervisor) in reap-all mode calls it
/// itself and picks its child out; call it directly only when no supervisor with a running child is in reap-all
/// mode, and never in a process that waits for children of its own elsewhere.
pub fn reap_orphans() -> Vec<(u32, ExitStatus)> {
    let mut reaped = Vec::new();
    // `wait`, i.e. `waitpid(-1)`: rustix's `waitpid(None, ..)` is `waitpid(0)`, which only sees children in our own
    // process group, and so never the orphans. Bounded: each round reaps one zombie, and there are finitely many.
    while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
        let raw = pid.as_raw_nonzero().get();
        let status = ExitStatus::from_raw(status.as_raw());
        if let Some(slot) = ours().iter_mut().find(|(p, _)| *p == raw) {
            slot.1 = Some(status);
        }
        reaped.push((u32::try_from(raw).unwrap_or(0), status));
    }
    reaped
}

/// Whether this process is PID 1, as a container's entrypoint is: then it must reap orphans.
pub fn is_pid1() -> bool {
    rustix::process::getpid().is_init()
}

/// How a stop goes, for the caller to say: once when it takes longer than [`SLOW_STOP`], once when it comes to
/// `SIGKILL`.
struct Progress<'a> {
    start: Instant,
    slow_said: bool,
    killing_said: bool,
    notice: &'a mut dyn FnMut(Stage),
}

impl Progress<'_> {
    /// Still waiting (for the child, or for what it `leftovers` in its group): said once, after [`SLOW_STOP`].
    fn waiting(&mut self, leftovers: bool) {
        if !self.slow_said && self.start.elapsed() >= SLOW_STOP {
            self.slow_said = true;
            (self.notice)(Stage::Slow { leftovers });
        }
    }

    /// The timeout ran out: `SIGKILL` follows. Said once.
    fn killing(&mut self, leftovers: bool) {
        if !self.killing_said {
            self.killing_said = true;
            (self.notice)(Stage::Killing { leftovers });
        }
    }
}

/// Gives the child the open-file limit stator started with: stator raises its own for directory handles
/// ([`crate::sys::raise_fd_limit`]), and programs that still use `select(2)` break above 1024.
#[allow(unsafe_code)]
fn restore_fd_limit(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec. `sys::restore_fd_limit` reads two atomics and
    // makes one system call (`setrlimit`); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(crate::sys::restore_fd_limit);
    }
}

/// Makes the child get `SIGKILL` when stator dies, so a crash of stator leaves no server holding a port.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: `pre_exec` runs the closure in the forked child before exec, where only async-signal-safe operations
    // are allowed. The closure makes two system calls through rustix (`prctl(PR_SET_PDEATHSIG)` and `getppid`),
    // allocates nothing, takes no lock, and touches no state shared with other threads; the errors it builds
    // (`io::Error` from an errno or an `ErrorKind`) do not allocate either.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(RawSignal::KILL))?;
            // Stator died between fork and prctl: the signal will never come; do not run unsupervised.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::ErrorKind::Other.into());
            }
            Ok(())
        });
    }
}
