//! Unix: the child leads its own process group; stopping signals the whole group, waits, kills, reaps.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal as RawSignal, WaitOptions};

use super::signal::Signal;
use super::{SLOW_STOP, Stage};

/// How long a process group gets to disappear after `SIGKILL` before stator gives up on it (a process stuck in
/// uninterruptible sleep, e.g. on a dead NFS server, cannot die until its I/O returns).
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The first and the longest pause between two looks at a process that is being stopped.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// One spawned child, the leader of its own process group.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    /// The child's pid, which is also its process group id.
    pgid: Pid,
    /// Its status once reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` as the leader of a new process group. On Linux the child also gets `SIGKILL` if stator dies
    /// without stopping it (the parent-death signal; it fires when the *thread* that spawned the child exits, so
    /// keep the supervisor on one long-lived thread).
    pub(crate) fn spawn(cmd: &mut Command) -> io::Result<Proc> {
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        die_with_parent(cmd);
        restore_fd_limit(cmd);
        let child = cmd.spawn()?;
        let pgid = Pid::from_child(&child);
        Ok(Proc { child, pgid, status: None })
    }

    /// The child's pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reaps the child if it exited, without blocking. With `reap_all` (PID 1), reaps every exited child process
    /// and picks ours out of them, so orphans re-parented to stator do not pile up as zombies.
    pub(crate) fn try_reap(&mut self, reap_all: bool) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        if reap_all {
            let ours = self.id();
            for (pid, status) in reap_orphans() {
                if pid == ours {
                    self.status = Some(status);
                }
            }
            if self.status.is_none() && !exists(self.pgid) {
                // Reaped behind our back before we could see it: it is gone, its status lost.
                self.status = Some(unknown_status());
            }
        } else {
            match self.child.try_wait() {
                Ok(status) => self.status = status,
                Err(e) if e.raw_os_error() == Some(Errno::CHILD.raw_os_error()) => {
                    self.status = Some(unknown_status());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.status)
    }

    /// Sends `sig` to the child's whole process group. A group that is already gone is not an error.
    pub(crate) fn signal(&self, sig: Signal) -> io::Result<()> {
        signal_group(self.pgid, sig.to_rustix())
    }

    /// Stops the child and its process group: `sig` to the group (and `SIGCONT`, so a stopped group can act on it),
    /// up to `timeout` for the child to exit, then `SIGKILL`. Once the child is reaped, whatever is left of its group
    /// gets the rest of `timeout`, then `SIGKILL` too, until none of it is left alive. `abort` (a second Ctrl-C)
    /// cuts every wait short.
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
            let _ = signal_group(self.pgid, sig.to_rustix());
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
        if !group_alive(self.pgid) {
            return;
        }
        let start = Instant::now();
        let deadline = start.checked_add(timeout).unwrap_or(start + Duration::from_secs(86_400 * 365));
        let _ = signal_group(self.pgid, sig.to_rustix());
        let _ = signal_group(self.pgid, RawSignal::CONT);
        self.clear_group(
            deadline,
            reap_all,
            abort,
            &mut Progress { start, slow_said: false, killing_said: false, notice },
        );
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
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(_) => break,
            }
            progress.waiting(false);
            if abort.load(Ordering::Relaxed) || !pause.sleep_until(deadline) {
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

    /// Waits until no live process is left in the group, `SIGKILL`ing it at `deadline`.
    fn clear_group(&mut self, deadline: Instant, reap_all: bool, abort: &AtomicBool, progress: &mut Progress<'_>) {
        let mut pause = Pauses::new();
        let mut killed_at = None;
        loop {
            if reap_all {
                // Members whose parent died were re-parented to us: reap them, or they stay zombies.
                reap_orphans();
            }
            if !group_alive(self.pgid) {
                return;
            }
            if killed_at.is_none() {
                progress.waiting(true);
            }
            let give_up = match killed_at {
                Some(at) => at,
                None if abort.load(Ordering::Relaxed) || Instant::now() >= deadline => {
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
                return;
            }
        }
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

/// Whether any process of the group exists (zombies included).
fn exists(pgid: Pid) -> bool {
    !matches!(rustix::process::test_kill_process_group(pgid), Err(Errno::SRCH))
}

/// Whether any process of the group is still alive. Zombies do not count: a zombie holds no port and no file,
/// and when its parent died and PID 1 does not reap (many containers, some VMs), it stays forever.
fn group_alive(pgid: Pid) -> bool {
    match rustix::process::test_kill_process_group(pgid) {
        Err(Errno::SRCH) => false,
        // EPERM: what is left belongs to someone else now; nothing we could do about it.
        Err(_) => false,
        Ok(()) => live_member(pgid),
    }
}

/// Whether `/proc` shows a member of the group that is not a zombie. Where `/proc` cannot tell, assume there is.
#[cfg(target_os = "linux")]
fn live_member(pgid: Pid) -> bool {
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
            && state != b'Z'
            && state != b'X'
        {
            return true;
        }
    }
    false
}

#[cfg(not(target_os = "linux"))]
fn live_member(_pgid: Pid) -> bool {
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
        let pid = u32::try_from(pid.as_raw_nonzero().get()).unwrap_or(0);
        reaped.push((pid, ExitStatus::from_raw(status.as_raw())));
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

/// Growing pauses between looks at a process: short first, since most children exit at once.
struct Pauses(Duration);

impl Pauses {
    fn new() -> Pauses {
        Pauses(FIRST_PAUSE)
    }

    /// Sleeps for the next pause, but not past `until`. Returns false, without sleeping, once `until` has passed.
    fn sleep_until(&mut self, until: Instant) -> bool {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(self.0.min(left));
        self.0 = (self.0 * 2).min(MAX_PAUSE);
        true
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
