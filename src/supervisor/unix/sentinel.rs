//! The sentinel: a tiny process beside each run that kills the run's process group when stator dies, even by
//! `SIGKILL`, and, inside the group, tells stator of each Ctrl-C typed while the run holds the terminal.
//!
//! Linux's parent-death signal reaches only the direct child: `stator -- npm start` killed with `SIGKILL` left the
//! server (npm's grandchild) holding its port. Nothing inside stator can act once it is killed, so the sentinel
//! watches from outside: it is stator's own executable run again with a hidden first argument ([`ARG`]), not a
//! fork of the multithreaded stator. It holds one end of a socket pair whose other end only stator has (close on
//! exec, so no child inherits it); when that end closes, stator is gone, and the sentinel `SIGKILL`s the group.
//!
//! The sentinel starts before the command, and the command waits, before its `exec`, until the sentinel watches
//! its group ([`Gate`]): it sends its pid, the group's id, over a second socket and waits for the answer. A
//! stator killed at any moment after the command runs (even while the command forks its server, before stator
//! has returned from starting it) leaves the group to the sentinel.
//!
//! With the terminal handed to the run, the sentinel joins the run's process group (the command stays its
//! leader: the group's id is still the command's pid), after installing its handlers: a Ctrl-C goes to the
//! foreground group, the sentinel among it, which writes one byte per `SIGINT` to the socket. Stator, in the
//! background, would not hear of it otherwise. It catches every signal that would stop or end it (the stop signal
//! stator sends the group, the terminal's `SIGTSTP`, `SIGTTIN`, `SIGHUP`), so it outlives the command; stator
//! does not count it among the group's survivors, and kills it itself once the run is over. Without the terminal
//! it stays in a process group of its own, out of everyone's way.
//!
//! Once it has killed the group of a stator that died, it removes stator's private directories (the changed-files
//! list, the report file), which a killed stator cannot: only directories named `stator-*`, and never while stator
//! lives (stator ends its sentinels itself, by `SIGKILL`, when a run ends and when it exits).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal as RawSignal, WaitOptions};

/// The hidden first argument that makes the stator binary a sentinel: `stator __stator_sentinel join|own DIR...`.
pub(crate) const ARG: &str = "__stator_sentinel";

/// The byte the sentinel writes for each `SIGINT` it receives.
const INTERRUPT: u8 = b'i';

/// The byte the sentinel answers the command's pid with, once it watches the group.
const WATCHING: u8 = b'w';

/// How long the command waits for the sentinel's answer before its `exec`. A sentinel that is gone answers at
/// once (end of file); one this slow (a machine under a crushing load) is not waited for any longer, and watches
/// the group from when it gets there, as it did before the gate.
const GATE_WAIT: Duration = Duration::from_secs(2);

/// How long a killed sentinel gets to be reaped before stator stops waiting for it.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// Stator's side of one run's sentinel.
#[derive(Debug)]
pub(crate) struct Sentinel {
    pid: Pid,
    sock: UnixStream,
    /// Whether it was asked to join the run's group (it then receives the terminal's signals).
    in_group: bool,
    /// It exited (its socket closed): no more reports.
    gone: bool,
}

/// The command's end of the socket to its sentinel: [`Gate::hold`] makes the command wait, before its `exec`,
/// until the sentinel watches its group. Keep it until the command is spawned; dropping it then closes stator's
/// copy (the command's closes at its `exec`).
#[derive(Debug)]
pub(crate) struct Gate(OwnedFd);

impl Gate {
    /// Makes `cmd` send its pid to the sentinel and wait for the answer before its `exec` (after it made itself
    /// a group leader, and took the terminal). Register it after the other `pre_exec` steps.
    #[allow(unsafe_code)]
    pub(crate) fn hold(&self, cmd: &mut Command) {
        let fd = self.0.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe calls are allowed.
        // It makes system calls only (`getpid`, `write`, `poll`, `read`, through rustix) on a descriptor the
        // parent keeps open until the spawn returned (the `Gate`), with buffers on the stack: no allocation, no
        // lock. Whatever fails, the command runs: a sentinel that is gone or slow must not keep it from running.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(cmd, move || {
                pass_the_gate(BorrowedFd::borrow_raw(fd));
                Ok(())
            });
        }
    }
}

/// In the forked command, before its `exec`: sends the pid (the group's id) and waits up to [`GATE_WAIT`] for the
/// sentinel's answer, or for the end of file of a sentinel that is gone.
fn pass_the_gate(fd: BorrowedFd<'_>) {
    let pid = rustix::process::getpid().as_raw_nonzero().get().to_le_bytes();
    if rustix::io::write(fd, &pid) != Ok(pid.len()) {
        return;
    }
    let wait = rustix::time::Timespec { tv_sec: GATE_WAIT.as_secs() as _, tv_nsec: 0 };
    // A signal may cut the wait short (the mask is the command's already): then the command runs.
    let mut fds = [rustix::event::PollFd::from_borrowed_fd(fd, rustix::event::PollFlags::IN)];
    if rustix::event::poll(&mut fds, Some(&wait)).is_ok_and(|n| n > 0) {
        let mut answer = [0u8; 1];
        let _ = rustix::io::read(fd, &mut answer);
    }
}

impl Sentinel {
    /// Starts `program` (the stator binary) as the sentinel of the command about to be spawned; with `join`, it
    /// joins the command's group. `litter`: the directories it removes if stator dies. The [`Gate`] is for the
    /// command ([`Gate::hold`]): the sentinel learns the group from it.
    pub(crate) fn spawn(program: &Path, join: bool, litter: &[PathBuf]) -> io::Result<(Sentinel, Gate)> {
        let (ours, theirs) = UnixStream::pair()?;
        let (gate, gate_theirs) = UnixStream::pair()?;
        let mut cmd = Command::new(program);
        // What `ps` shows (the program may be `/proc/self/exe`).
        std::os::unix::process::CommandExt::arg0(&mut cmd, "stator-sentinel");
        cmd.arg(ARG).arg(if join { "join" } else { "own" }).args(litter);
        if !join {
            // Its own group: the terminal's signals for stator's job do not reach it.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        // fd 0: stator's socket; fd 1: the command's.
        cmd.stdin(Stdio::from(OwnedFd::from(theirs))).stdout(Stdio::from(OwnedFd::from(gate_theirs)));
        cmd.stderr(Stdio::null());
        // Never the parent-death signal: it must outlive stator to do its job.
        let child = cmd.spawn()?;
        ours.set_nonblocking(true)?;
        let pid = Pid::from_child(&child);
        drop(child);
        // Dropping `child` neither waits nor kills: the sentinel is reaped by pid in `end`.
        Ok((Sentinel { pid, sock: ours, in_group: join, gone: false }, Gate(OwnedFd::from(gate))))
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether it is (or is about to be) a member of the run's group.
    pub(crate) fn in_group(&self) -> bool {
        self.in_group
    }

    /// How many `SIGINT`s it reported since the last call, without waiting.
    pub(crate) fn interrupts(&mut self) -> u32 {
        let mut count = 0;
        let mut buf = [0u8; 64];
        while !self.gone {
            match self.sock.read(&mut buf) {
                Ok(0) => self.gone = true,
                Ok(n) => count += buf[..n].iter().filter(|&&b| b == INTERRUPT).count() as u32,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.gone = true,
            }
        }
        count
    }

    /// Kills it (by pid, not its group: what is left of the group is stator's to stop) and reaps it.
    pub(crate) fn end(self) {
        let _ = rustix::process::kill_process(self.pid, RawSignal::KILL);
        let give_up = Instant::now() + REAP_GRACE;
        let mut pause = Duration::from_millis(1);
        loop {
            match rustix::process::waitpid(Some(self.pid), WaitOptions::NOHANG) {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < give_up => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Ok(None) => break,
            }
        }
    }
}

/// The sentinel's `main`: `args` are what follows [`ARG`]. Returns its exit code.
pub(crate) fn run(args: &[std::ffi::OsString]) -> i32 {
    let join = args.first().is_some_and(|a| a == "join");
    let litter: Vec<PathBuf> = args.get(1..).unwrap_or_default().iter().map(PathBuf::from).collect();
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([
        SIGINT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2,
    ]) else {
        return 1;
    };
    // fd 0 is the socket. Writing goes through a second handle on it, from the signal thread.
    let Ok(sock) = std::os::fd::AsFd::as_fd(&io::stdin()).try_clone_to_owned() else {
        return 1;
    };
    let mut writer = UnixStream::from(sock);
    let reporter = std::thread::Builder::new().name("sentinel-signals".into()).spawn(move || {
        for sig in signals.forever() {
            if sig == SIGINT && writer.write_all(&[INTERRUPT]).is_err() {
                // Stator is gone; the main thread sees it too.
                break;
            }
        }
    });
    if reporter.is_err() {
        return 1;
    }
    // fd 1 is the command's socket: its pid comes before its exec, and it waits for the answer. End of file
    // first: the command never got that far (stator died, or the spawn failed), and there is nothing to watch.
    let Ok(gate) = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned() else {
        return 1;
    };
    let mut gate = UnixStream::from(gate);
    let mut pid = [0u8; 4];
    if gate.read_exact(&mut pid).is_err() {
        return 0;
    }
    let Some(pgid) = Pid::from_raw(i32::from_le_bytes(pid)) else {
        return 2;
    };
    if join && rustix::process::setpgid(None, Some(pgid)).is_err() {
        // The run is already over (its group is gone): nothing to watch.
        return 0;
    }
    // Watching: the command may run. (It may have stopped waiting already; then nobody reads this.)
    let _ = gate.write_all(&[WATCHING]);
    drop(gate);
    // Wait for stator to go away: end of file, or an error, on the socket.
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Before the group goes: in it (with the terminal), the sentinel goes with it.
    remove_litter(&litter);
    // SIGCONT first is not needed: SIGKILL ends stopped processes too. ESRCH: nothing left.
    match rustix::process::kill_process_group(pgid, RawSignal::KILL) {
        Ok(()) | Err(Errno::SRCH) => 0,
        Err(_) => 1,
    }
}

/// Removes what a dead stator left of its own: only directories named `stator-*` (a guard against a bad argument).
fn remove_litter(dirs: &[PathBuf]) {
    for dir in dirs {
        if dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("stator-")) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
