//! Windows: no signals and no process groups to signal; stopping kills the child's process tree with
//! `taskkill /T /F`, falling back to killing the child alone.

use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::Stage;
use super::signal::Signal;

/// One spawned child.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd`.
    pub(crate) fn spawn(cmd: &mut Command) -> io::Result<Proc> {
        Ok(Proc { child: cmd.spawn()?, status: None })
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
    pub(crate) fn signal(&self, sig: Signal) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, format!("cannot send {sig} on Windows")))
    }

    /// Kills the child's process tree and waits for the child.
    pub(crate) fn stop(
        &mut self,
        _sig: Signal,
        _timeout: Duration,
        reap_all: bool,
        _abort: &AtomicBool,
        _notice: &mut dyn FnMut(Stage),
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
    pub(crate) fn clear_leftovers(
        &mut self,
        _sig: Signal,
        _timeout: Duration,
        _reap_all: bool,
        _abort: &AtomicBool,
        _notice: &mut dyn FnMut(Stage),
    ) {
    }
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
