//! Unix job control: the terminal belongs to the command while it runs, to stator between runs.
//!
//! When stdin is stator's controlling terminal, each run's process group becomes the terminal's foreground group
//! (`tcsetpgrp`), so the command reads what is typed, and Ctrl-C, Ctrl-Z and Ctrl-\ reach it as they would in a
//! shell. Stator takes the terminal back when the run ends (and when it is suspended), restoring the terminal modes
//! it found at start: a crashed TUI or a killed debugger leaves raw mode and no echo behind.
//!
//! The hand-over follows POSIX job control, as shells do: the terminal is given only while stator's own group is
//! the foreground group (`stator ... &` gives nothing), the child sets it too before `exec` (so it never touches
//! the terminal from the background, whoever runs first), and a process outside the foreground that sets the
//! terminal blocks `SIGTTOU` for the call. It is taken back only from the run it was given to (or a group that is
//! gone): after `bg`, the shell keeps it.
//!
//! Between runs, a line typed on the terminal is for stator (Enter runs the command again). Stator reads the
//! terminal only while it holds it, under the same lock as the hand-over, and only what is already there: a read
//! never waits in the kernel while the command holds the terminal, so it cannot take the command's input.

use std::io;
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal as NixSignal, pthread_sigmask};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Pid, Signal as RawSignal};
use rustix::termios::{OptionalActions, Termios};

/// How long one look for a typed line waits at most before looking at the state again.
const LOOK: Duration = Duration::from_millis(200);

/// The terminal on stdin, shared by the supervisor (which hands it over) and the thread that waits for Enter.
#[derive(Debug, Clone)]
pub struct Terminal(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// A duplicate of stdin (close-on-exec, so no child inherits it as an extra descriptor).
    fd: OwnedFd,
    /// The modes stator found at start, put back whenever it takes the terminal back.
    modes: Termios,
    /// Stator's own process group.
    own: Pid,
    /// Whether runs get the terminal (false with `--no-tty`: stator keeps it, as before job control).
    hand_over: bool,
    state: Mutex<State>,
    /// Signalled whenever the terminal comes back to stator.
    back: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The process group the terminal was given to, until it is taken back.
    holder: Option<Pid>,
    /// The modes a run had when Ctrl-Z stopped it, given back with the terminal on `fg`.
    run_modes: Option<Termios>,
}

impl Terminal {
    /// The terminal on stdin, if stdin is stator's controlling terminal. With `hand_over`, each run gets it while
    /// stator's group is the foreground group; without, stator keeps it (and still restores its modes at exit).
    pub fn from_stdin(hand_over: bool) -> Option<Terminal> {
        let stdin = io::stdin();
        if !rustix::termios::isatty(&stdin) {
            return None;
        }
        // ENOTTY: a terminal, but not ours (another session's); nothing to hand over.
        rustix::termios::tcgetpgrp(&stdin).ok()?;
        let modes = rustix::termios::tcgetattr(&stdin).ok()?;
        let fd = rustix::io::fcntl_dupfd_cloexec(&stdin, 3).ok()?;
        Some(Terminal(Arc::new(Inner {
            fd,
            modes,
            own: rustix::process::getpgrp(),
            hand_over,
            state: Mutex::new(State::default()),
            back: Condvar::new(),
        })))
    }

    /// Whether a line typed now would reach stator: it holds the terminal, and is in its foreground.
    pub fn enter_works(&self) -> bool {
        self.lock().holder.is_none() && self.is_foreground()
    }

    /// Calls `on_enter` from a new thread for every line typed while stator holds the terminal, until it returns
    /// false or the terminal hangs up.
    pub fn watch_enter(&self, mut on_enter: impl FnMut() -> bool + Send + 'static) -> io::Result<()> {
        let term = self.clone();
        std::thread::Builder::new().name("stator-enter".into()).spawn(move || {
            loop {
                match term.wait_for_line(LOOK) {
                    Ok(true) => {
                        if !on_enter() {
                            return;
                        }
                    }
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        })?;
        Ok(())
    }

    /// Waits up to `timeout` for a line typed while stator holds the terminal. `Ok(true)`: one was read;
    /// `Ok(false)`: none (yet); `Err`: the terminal hung up.
    fn wait_for_line(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        {
            let mut state = self.lock();
            while state.holder.is_some() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                state = self.0.back.wait_timeout(state, left).map_or_else(|e| e.into_inner().0, |(s, _)| s);
            }
        }
        if !self.is_foreground() {
            // In the background (`stator &`, or after `bg`): the shell has the terminal. Look again later.
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if !self.readable(left)? {
            return Ok(false);
        }
        // Read only what is there, and only if the terminal is still stator's: the hand-over takes this lock too.
        let state = self.lock();
        if state.holder.is_some() || !self.is_foreground() || !self.readable(Duration::ZERO)? {
            return Ok(false);
        }
        let mut buf = [0u8; 512];
        let n = match with_job_signals_blocked(|| rustix::io::read(&self.0.fd, &mut buf)) {
            Ok(n) => n,
            Err(Errno::INTR | Errno::AGAIN) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        drop(state);
        // n == 0 is Ctrl-D at the start of a line: not a line, and not the end of the terminal.
        Ok(buf[..n].iter().any(|&b| b == b'\n' || b == b'\r'))
    }

    /// Whether there is something to read within `timeout`. A hang-up is an error.
    fn readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut fds = [PollFd::new(&self.0.fd, PollFlags::IN)];
        let ts = Timespec::try_from(timeout).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(Errno::INTR) => Ok(false),
            Ok(_) => {
                let got = fds[0].revents();
                if got.contains(PollFlags::IN) {
                    Ok(true)
                } else if got.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                    Err(io::Error::new(io::ErrorKind::BrokenPipe, "the terminal hung up"))
                } else {
                    Ok(false)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether stator's group is the terminal's foreground group.
    fn is_foreground(&self) -> bool {
        rustix::termios::tcgetpgrp(&self.0.fd).is_ok_and(|pg| pg == self.0.own)
    }

    /// Whether a run spawned now gets the terminal.
    pub(crate) fn can_give(&self) -> bool {
        self.0.hand_over && self.lock().holder.is_none() && self.is_foreground()
    }

    /// Makes `cmd` put itself in the foreground before `exec` (after `process_group(0)`), so it never runs a
    /// moment in the background of the terminal. The parent calls [`Terminal::give`] too.
    #[allow(unsafe_code)]
    pub(crate) fn prepare(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        let inner = Arc::clone(&self.0);
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe calls are allowed.
        // It makes three system calls (`pthread_sigmask` twice, through nix, and `ioctl(TIOCSPGRP)` with `getpid`,
        // through rustix) on data that is already there (a descriptor inside an `Arc` the parent keeps alive, a
        // signal set on the stack): no allocation, no lock.
        unsafe {
            cmd.pre_exec(move || {
                with_job_signals_blocked(|| rustix::termios::tcsetpgrp(&inner.fd, rustix::process::getpid()))
                    .map_err(io::Error::from)
            });
        }
    }

    /// Gives the terminal to the process group `pgid` (a run just spawned with [`Terminal::prepare`]). Returns
    /// whether it was given.
    pub(crate) fn give(&self, pgid: Pid) -> bool {
        let mut state = self.lock();
        // The child may have made itself the foreground group already.
        let fg = rustix::termios::tcgetpgrp(&self.0.fd).ok();
        if !self.0.hand_over || !fg.is_some_and(|fg| fg == self.0.own || fg == pgid) {
            return false;
        }
        if with_job_signals_blocked(|| rustix::termios::tcsetpgrp(&self.0.fd, pgid)).is_err() {
            return false;
        }
        state.holder = Some(pgid);
        true
    }

    /// After a spawn that failed: takes the terminal back if a group that is gone (the child that could not
    /// `exec`) is its foreground group.
    pub(crate) fn reclaim(&self) {
        let _state = self.lock();
        let Ok(fg) = rustix::termios::tcgetpgrp(&self.0.fd) else {
            return;
        };
        if fg != self.0.own && !group_exists(fg) {
            let _ = with_job_signals_blocked(|| rustix::termios::tcsetpgrp(&self.0.fd, self.0.own));
        }
    }

    /// Whether `pgid` holds the terminal now (given to it, and still its foreground group).
    pub(crate) fn held_by(&self, pgid: Pid) -> bool {
        self.lock().holder == Some(pgid) && rustix::termios::tcgetpgrp(&self.0.fd).is_ok_and(|pg| pg == pgid)
    }

    /// Takes the terminal back from the run it was given to, and restores the modes stator found at start. Does
    /// nothing if it was not given, or if someone else holds it now (the shell, after `bg`).
    pub(crate) fn take_back(&self) {
        let mut state = self.lock();
        self.take_back_locked(&mut state);
    }

    fn take_back_locked(&self, state: &mut State) {
        let Some(holder) = state.holder.take() else {
            return;
        };
        let fg = rustix::termios::tcgetpgrp(&self.0.fd).ok();
        // The run's group, or a group that is gone (a group the command made, that died with it).
        let ours = fg.is_none_or(|fg| fg == holder || !group_exists(fg));
        if ours {
            let _ = with_job_signals_blocked(|| {
                rustix::termios::tcsetpgrp(&self.0.fd, self.0.own)?;
                rustix::termios::tcsetattr(&self.0.fd, OptionalActions::Now, &self.0.modes)
            });
        }
        self.0.back.notify_all();
    }

    /// The run holding the terminal was stopped by Ctrl-Z: takes the terminal back, keeping the run's modes for
    /// [`Terminal::suspend`], as a shell does for a stopped job.
    pub(crate) fn take_back_stopped(&self) {
        let mut state = self.lock();
        state.run_modes = rustix::termios::tcgetattr(&self.0.fd).ok();
        self.take_back_locked(&mut state);
    }

    /// After [`Terminal::take_back_stopped`]: stops stator's own group as the run was (so the shell sees the job
    /// stopped), and once continued (`fg`), gives the terminal back to the run `pgid` with the modes it had. The
    /// caller then continues the run's group.
    pub(crate) fn suspend(&self, pgid: Pid) {
        // Returns once stator is continued. In an orphaned group (no job-control shell to continue it) the kernel
        // does not stop it at all: Ctrl-Z then only pauses the command for a moment.
        let _ = rustix::process::kill_current_process_group(RawSignal::TSTP);
        let mut state = self.lock();
        let run_modes = state.run_modes.take();
        if !self.0.hand_over || !self.is_foreground() {
            // `bg`: the run goes on in the background.
            return;
        }
        let given = with_job_signals_blocked(|| {
            if let Some(modes) = &run_modes {
                rustix::termios::tcsetattr(&self.0.fd, OptionalActions::Now, modes)?;
            }
            rustix::termios::tcsetpgrp(&self.0.fd, pgid)
        });
        if given.is_ok() {
            state.holder = Some(pgid);
        }
    }

    /// At exit: takes the terminal back if a run still has it, and restores the modes stator found, if stator is
    /// in the foreground.
    pub(crate) fn release(&self) {
        let mut state = self.lock();
        self.take_back_locked(&mut state);
        if self.is_foreground() {
            let _ = with_job_signals_blocked(|| {
                rustix::termios::tcsetattr(&self.0.fd, OptionalActions::Now, &self.0.modes)
            });
        }
    }
}

/// Whether any process is in the group `pgid`.
fn group_exists(pgid: Pid) -> bool {
    !matches!(rustix::process::test_kill_process_group(pgid), Err(Errno::SRCH))
}

/// Runs `f` with `SIGTTOU` and `SIGTTIN` blocked in this thread: setting the terminal from the background, or
/// reading it, then fails or goes through instead of stopping stator. Async-signal-safe (used before `exec`).
fn with_job_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut set = SigSet::empty();
    set.add(NixSignal::SIGTTOU);
    set.add(NixSignal::SIGTTIN);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_ok();
    let out = f();
    if blocked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    out
}
