//! The sentinel: a tiny process beside each run that kills the run's process group when stator dies, even by
//! `SIGKILL`, and, inside the group, tells stator of each Ctrl-C typed while the run holds the terminal.
//!
//! Linux's parent-death signal reaches only the direct child: `stator -- npm start` killed with `SIGKILL` left the
//! server (npm's grandchild) holding its port. Nothing inside stator can act once it is killed, so the sentinel
//! watches from outside: it is stator's own executable run again with a hidden first argument ([`ARG`]), not a
//! fork of the multithreaded stator. It holds one end of a socket pair whose other end only stator has (close on
//! exec, so no child inherits it); when that end closes, stator is gone, and the sentinel `SIGKILL`s the group.
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
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal as RawSignal, WaitOptions};

/// The hidden first argument that makes the stator binary a sentinel: `stator __stator_sentinel PGID join|own DIR...`.
pub(crate) const ARG: &str = "__stator_sentinel";

/// The byte the sentinel writes for each `SIGINT` it receives.
const INTERRUPT: u8 = b'i';

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

impl Sentinel {
    /// Starts `program` (the stator binary) as the sentinel of the group `pgid`; with `join`, it joins the group.
    /// `litter`: the directories it removes if stator dies.
    pub(crate) fn spawn(program: &Path, pgid: Pid, join: bool, litter: &[PathBuf]) -> io::Result<Sentinel> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut cmd = Command::new(program);
        // What `ps` shows (the program may be `/proc/self/exe`).
        std::os::unix::process::CommandExt::arg0(&mut cmd, "stator-sentinel");
        cmd.arg(ARG).arg(pgid.as_raw_nonzero().get().to_string());
        cmd.arg(if join { "join" } else { "own" }).args(litter);
        if !join {
            // Its own group: the terminal's signals for stator's job do not reach it.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs))).stdout(Stdio::null()).stderr(Stdio::null());
        // Never the parent-death signal: it must outlive stator to do its job.
        let child = cmd.spawn()?;
        ours.set_nonblocking(true)?;
        let pid = Pid::from_child(&child);
        drop(child);
        // Dropping `child` neither waits nor kills: the sentinel is reaped by pid in `end`.
        Ok(Sentinel { pid, sock: ours, in_group: join, gone: false })
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
    let Some(pgid) = args.first().and_then(|a| a.to_str()).and_then(|a| a.parse().ok()).and_then(Pid::from_raw) else {
        return 2;
    };
    let join = args.get(1).is_some_and(|a| a == "join");
    let litter: Vec<PathBuf> = args.get(2..).unwrap_or_default().iter().map(PathBuf::from).collect();
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
    if join && rustix::process::setpgid(None, Some(pgid)).is_err() {
        // The run is already over (its group is gone): nothing to watch.
        return 0;
    }
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
