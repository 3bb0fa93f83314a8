//! Windows: no signals and no process groups to signal; stopping kills the child's process tree with
//! `taskkill /T /F`, falling back to killing the child alone. No job control either: the command shares the
//! console, and [`terminal`] only tells stator when it may read a line (Enter) from it.

pub(crate) mod terminal;

use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::signal::Signal;
use super::{StopKind, Terminal};

/// One spawned child.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd`. The terminal is never handed over (there is no job control): the run shares the console,
    /// and the terminal is told a run is on, so no line is read for stator meanwhile. Returns the child, and
    /// `false`.
    pub(crate) fn spawn(cmd: &mut Command, with: SpawnWith<'_>) -> io::Result<(Proc, bool)> {
        let child = cmd.spawn()?;
        if let Some(t) = with.terminal {
            t.run_started();
        }
        Ok((Proc { child, status: None }, false))
    }

    /// Windows reports no stops.
    pub(crate) fn take_stop(&mut self) -> Option<StopKind> {
        None
    }

    /// Nothing to continue.
    pub(crate) fn resume(&self) {}

    /// The console is never handed over.
    pub(crate) fn holds(&self, _terminal: &Terminal) -> bool {
        false
    }

    /// There is no Ctrl-Z to follow.
    pub(crate) fn stopped_by_ctrl_z(&self, _terminal: &Terminal) {}

    /// There is no Ctrl-Z to follow.
    pub(crate) fn suspend(&self, _terminal: &Terminal) {}

    /// No Ctrl-C reaches stator from a run's group (the console sends it to stator too).
    pub(crate) fn interrupts(&mut self) -> u32 {
        0
    }

    /// No stop is ever cut short by a Ctrl-C of the run's.
    pub(crate) fn interrupted(&self) -> bool {
        false
    }

    /// The child's pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reaps the child if it exited, without blocking.
    pub(crate) fn try_reap(&mut self, _reap_all: bool) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Signals do not exist on Windows.
    pub(crate) fn signal(&mut self, sig: Signal) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, format!("cannot send {sig} on Windows")))
    }

    /// Kills the child's process tree and waits for the child.
    pub(crate) fn stop(
        &mut self,
        _sig: Signal,
        _timeout: Duration,
        reap_all: bool,
        _abort: &AtomicBool,
    ) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.try_reap(reap_all) {
            return Some(status);
        }
        kill_tree(self.id());
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        self.status
    }

    /// What the child left behind cannot be found once it exited.
    pub(crate) fn clear_leftovers(&mut self, _sig: Signal, _timeout: Duration, _reap_all: bool, _abort: &AtomicBool) {}
}

/// What a spawn needs besides the command: the terminal (the console) to tell about the run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpawnWith<'a> {
    /// The console, when stdin is one.
    pub(crate) terminal: Option<&'a Terminal>,
    /// Unused: there is no sentinel on Windows.
    #[allow(dead_code)]
    pub(crate) sentinel: Option<&'a std::path::Path>,
}

/// Kills the process tree rooted at `pid`.
pub(crate) fn kill_tree(pid: u32) {
    let _ = Command::new("taskkill")
        .args(["/T", "/F", "/PID", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The status reported for a child whose real status could not be had: exit code 255.
pub(crate) fn unknown_status() -> ExitStatus {
    use std::os::windows::process::ExitStatusExt;
    ExitStatus::from_raw(255)
}

/// Nothing to reap on Windows.
pub fn reap_orphans() -> Vec<(u32, ExitStatus)> {
    Vec::new()
}

/// Never: Windows has no PID 1 to be.
pub fn is_pid1() -> bool {
    false
}
