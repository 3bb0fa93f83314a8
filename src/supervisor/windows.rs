//! Windows: the child runs in a job object of its own, in a process group of its own.
//!
//! - **The job** (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`) holds the child and everything it starts, whatever their
//!   parent ids say, so a stop ends the whole tree, grandchildren whose parent already exited included
//!   (`TerminateJobObject`), and when stator itself dies (`taskkill /F`, Task Manager, a crash) Windows closes its
//!   handle on the job and ends the tree too. The child is created suspended and resumed once it is in the job, so
//!   not even its first grandchild escapes.
//! - **The graceful stop** is `CTRL_BREAK_EVENT`, sent with `GenerateConsoleCtrlEvent` to the child's process group
//!   (`CREATE_NEW_PROCESS_GROUP`): the console equivalent of `SIGTERM`. Programs that do not handle it exit at once
//!   (the default handler calls `ExitProcess`); those that do (Node's `SIGBREAK`, Python's `signal.SIGBREAK`,
//!   `SetConsoleCtrlHandler`) get `--stop-timeout` to finish, then the job is terminated. The event travels through
//!   the console: when stator has none (started detached, as a service) it cannot be delivered, and the job is
//!   terminated at once instead of waiting for nothing. A new process group ignores Ctrl-C from the terminal: stator
//!   gets it and stops the child as above.
//! - **Signals**: Windows has none. Every `--signal` but `KILL` is delivered as `CTRL_BREAK_EVENT` (the only event
//!   that can be sent to one process group); `KILL` terminates the job without a graceful stop. `--on-busy signal`
//!   sends the same `CTRL_BREAK_EVENT` on every change, for a child that handles it (see [`note`]).
//!
//! Where no job can be made (a parent job that forbids nesting, before Windows 8), stator falls back to the child
//! alone, with `taskkill /T /F` for its tree, which misses descendants whose parent exited.
//!
//! No job control: the command shares the console, and [`terminal`] only tells stator when it may read a line
//! (Enter) from it.

pub(crate) mod terminal;

use std::ffi::OsStr;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::os::windows::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{FALSE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectBasicAccountingInformation,
    JobObjectExtendedLimitInformation, QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED, OpenThread, ResumeThread, THREAD_SUSPEND_RESUME,
};

use super::Options;
use super::pauses::Pauses;
use super::policy::OnBusy;
use super::signal::Signal;
use super::{Stage, StopKind, Terminal};

/// How long a job gets to empty after `TerminateJobObject` before stator gives up on its child.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The exit code of the processes a stop terminates: what `taskkill /F` gives them.
const KILLED_CODE: u32 = 1;

/// `ERROR_BAD_EXE_FORMAT` and `ERROR_EXE_MACHINE_TYPE_MISMATCH`: the file is not a program this Windows can run.
const NOT_A_PROGRAM: [i32; 2] = [193, 216];

/// The jobs of the running children by pid, for [`kill_tree`] from another thread (a second Ctrl-C).
static JOBS: Mutex<Vec<(u32, Arc<Job>)>> = Mutex::new(Vec::new());

/// One spawned child, in its own job object and process group.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    /// `None` where no job could be made: then only the child itself is known.
    job: Option<Arc<Job>>,
    /// The child is `cmd.exe` (a batch file, `--shell`): it stays behind, asking "Terminate batch job (Y/N)?", once
    /// what it ran took `CTRL_BREAK_EVENT` and exited.
    is_cmd: bool,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` suspended in a new process group, puts it in a new job object, then lets it run. The terminal
    /// is never handed over (there is no job control): the run shares the console, and the terminal is told a run
    /// is on, so no line is read for stator meanwhile. Returns the child, and `false`.
    pub(crate) fn spawn(cmd: &mut Command, with: SpawnWith<'_>) -> io::Result<(Proc, bool)> {
        let program = Path::new(cmd.get_program());
        let is_cmd = is_cmd_exe(program) || is_batch(program);
        if is_batch(program) && program.as_os_str().to_string_lossy().contains('%') {
            // std quotes the script's path for cmd.exe, but cmd expands %VAR% inside quotes too.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a batch file whose path contains '%' cannot be run safely through cmd.exe (rename it, or use --shell)",
            ));
        }
        let job = Job::new().ok();
        let suspended = if job.is_some() { CREATE_SUSPENDED } else { 0 };
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | suspended);
        let mut child = cmd.spawn().map_err(explain)?;
        let job = job.and_then(|job| job.assign(&child).ok().map(|()| Arc::new(job)));
        if suspended != 0
            && let Err(e) = resume(child.id())
        {
            if let Some(job) = &job {
                let _ = job.terminate();
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        if let Some(job) = &job {
            lock_jobs().push((child.id(), Arc::clone(job)));
        }
        if let Some(t) = with.terminal {
            t.run_started();
        }
        Ok((Proc { child, job, is_cmd, status: None }, false))
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

    /// The child's pid (also its process group id).
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The pipes of its stdout and stderr, if they were asked for (once).
    pub(crate) fn take_output(&mut self) -> (Option<ChildStdout>, Option<ChildStderr>) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    /// Reaps the child if it exited, without blocking.
    pub(crate) fn try_reap(&mut self, _reap_all: bool) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// `KILL` terminates the job; every other signal is delivered as `CTRL_BREAK_EVENT` to the child's group.
    pub(crate) fn signal(&mut self, sig: Signal) -> io::Result<()> {
        match sig {
            Signal::Kill => self.terminate(),
            _ => ctrl_break(self.id()),
        }
    }

    /// Stops the child and everything in its job: `CTRL_BREAK_EVENT` to its group (unless `sig` is `KILL`), up to
    /// `timeout` for the job to empty, then `TerminateJobObject`. When the event cannot be delivered (no console)
    /// the job is terminated at once. `abort` (a second Ctrl-C) cuts the wait short.
    ///
    /// Returns the child's status; `None` only if it outlived the termination by [`KILL_GRACE`].
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
        if self.tree_alive(reap_all) {
            let asked = sig != Signal::Kill && !abort.load(Ordering::Relaxed) && ctrl_break(self.id()).is_ok();
            if asked {
                self.wait_for_tree(deadline, reap_all, abort);
                if !abort.load(Ordering::Relaxed) && self.tree_alive(reap_all) {
                    notice(Stage::Killing { leftovers: false });
                }
            }
            let _ = self.terminate();
        }
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

    /// After the child exited by itself: stops what it left behind in its job, as [`Proc::stop`] does.
    pub(crate) fn clear_leftovers(
        &mut self,
        sig: Signal,
        timeout: Duration,
        reap_all: bool,
        abort: &AtomicBool,
        notice: &mut dyn FnMut(Stage),
    ) {
        if self.job.is_some() {
            let _ = self.stop(sig, timeout, reap_all, abort, notice);
        }
    }

    /// Waits until the job is empty (or, without a job, the child exited), or `deadline`.
    fn wait_for_tree(&mut self, deadline: Instant, reap_all: bool, abort: &AtomicBool) {
        let mut pause = Pauses::new();
        while self.tree_alive(reap_all) {
            if self.is_cmd
                && self.job.as_ref().and_then(|j| j.active().ok()) == Some(1)
                && matches!(self.try_reap(reap_all), Ok(None))
            {
                // Only cmd.exe is left, and it would wait for an answer to "Terminate batch job (Y/N)?".
                return;
            }
            if abort.load(Ordering::Relaxed) || !pause.sleep_until(deadline) {
                return;
            }
        }
    }

    /// Whether anything of the child's tree may still run.
    fn tree_alive(&mut self, reap_all: bool) -> bool {
        match &self.job {
            Some(job) => job.active().map_or(true, |n| n > 0),
            None => !matches!(self.try_reap(reap_all), Ok(Some(_))),
        }
    }

    /// Ends everything in the job at once (without a job: the tree `taskkill` finds, and the child).
    fn terminate(&self) -> io::Result<()> {
        match &self.job {
            Some(job) => job.terminate(),
            None => {
                taskkill_tree(self.id());
                // `Child::kill` needs `&mut`; the handle allows termination as it is.
                terminate_process(&self.child)
            }
        }
    }
}

/// What a spawn needs besides the command: the terminal (the console) to tell about the run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpawnWith<'a> {
    /// The console, when stdin is one.
    pub(crate) terminal: Option<&'a Terminal>,
    /// Unused: there is no sentinel on Windows.
    #[allow(dead_code)]
    pub(crate) sentinel: Option<&'a std::path::Path>,
    /// Unused, as `sentinel`.
    #[allow(dead_code)]
    pub(crate) litter: &'a [std::path::PathBuf],
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(job) = &self.job {
            lock_jobs().retain(|(_, j)| !Arc::ptr_eq(j, job));
        }
        // Closing the last handle on the job ends whatever is still in it (KILL_ON_JOB_CLOSE).
    }
}

/// A job object that kills its processes when its last handle closes.
#[derive(Debug)]
struct Job(OwnedHandle);

impl Job {
    #[allow(unsafe_code)]
    fn new() -> io::Result<Job> {
        // SAFETY: both pointers may be null (default security, no name); the returned handle, when not null, is a new
        // handle that nothing else owns, so `OwnedHandle` may take it.
        let job = unsafe {
            let raw = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if raw.is_null() {
                return Err(io::Error::last_os_error());
            }
            Job(OwnedHandle::from_raw_handle(raw))
        };
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: `info` is a valid JOBOBJECT_EXTENDED_LIMIT_INFORMATION of the size given, and the handle is open.
        let ok = unsafe {
            SetInformationJobObject(
                job.0.as_raw_handle(),
                JobObjectExtendedLimitInformation,
                (&raw const info).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if ok == FALSE {
            return Err(io::Error::last_os_error());
        }
        Ok(job)
    }

    #[allow(unsafe_code)]
    fn assign(&self, child: &Child) -> io::Result<()> {
        // SAFETY: both handles are open for the duration of the call (the job's is owned by `self`, the process's by
        // `child`).
        let ok = unsafe { AssignProcessToJobObject(self.0.as_raw_handle(), child.as_raw_handle()) };
        if ok == FALSE { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    #[allow(unsafe_code)]
    fn terminate(&self) -> io::Result<()> {
        // SAFETY: the handle is open, owned by `self`.
        let ok = unsafe { TerminateJobObject(self.0.as_raw_handle(), KILLED_CODE) };
        if ok == FALSE { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// How many processes of the job are still running.
    #[allow(unsafe_code)]
    fn active(&self) -> io::Result<u32> {
        let mut info = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
        // SAFETY: `info` is writable and as large as said; the handle is open; the returned length may be null.
        let ok = unsafe {
            QueryInformationJobObject(
                self.0.as_raw_handle(),
                JobObjectBasicAccountingInformation,
                (&raw mut info).cast(),
                size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                std::ptr::null_mut(),
            )
        };
        if ok == FALSE { Err(io::Error::last_os_error()) } else { Ok(info.ActiveProcesses) }
    }
}

fn lock_jobs() -> std::sync::MutexGuard<'static, Vec<(u32, Arc<Job>)>> {
    JOBS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends `CTRL_BREAK_EVENT` to process group `pid`. Fails when stator has no console to send it through.
#[allow(unsafe_code)]
fn ctrl_break(pid: u32) -> io::Result<()> {
    // SAFETY: plain values in, a BOOL out.
    let ok = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) };
    if ok == FALSE { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Whether stator is attached to a console (console control events travel only through one).
#[allow(unsafe_code)]
fn has_console() -> bool {
    use windows_sys::Win32::System::Console::GetConsoleProcessList;
    let mut list = [0u32; 4];
    // SAFETY: the buffer holds as many entries as said.
    unsafe { GetConsoleProcessList(list.as_mut_ptr(), list.len() as u32) > 0 }
}

/// Resumes every thread of process `pid` (a process created suspended has exactly one).
#[allow(unsafe_code)]
fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: a snapshot of all threads; the handle, unless INVALID_HANDLE_VALUE, is new and owned by nobody else.
    let snapshot = unsafe {
        let raw = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if raw == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        OwnedHandle::from_raw_handle(raw)
    };
    let mut entry = THREADENTRY32 { dwSize: size_of::<THREADENTRY32>() as u32, ..THREADENTRY32::default() };
    let mut resumed = 0;
    // SAFETY: the snapshot handle is open and `entry` is a THREADENTRY32 with `dwSize` set, as both calls require.
    let mut more = unsafe { Thread32First(snapshot.as_raw_handle(), &mut entry) } != FALSE;
    while more {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: OpenThread returns a new handle or null; a non-null one is owned here and closed on drop.
            let thread = unsafe {
                let raw = OpenThread(THREAD_SUSPEND_RESUME, FALSE, entry.th32ThreadID);
                (!raw.is_null()).then(|| OwnedHandle::from_raw_handle(raw))
            };
            if let Some(thread) = thread {
                // SAFETY: the thread handle is open with THREAD_SUSPEND_RESUME access.
                if unsafe { ResumeThread(thread.as_raw_handle()) } != u32::MAX {
                    resumed += 1;
                }
            }
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snapshot.as_raw_handle(), &mut entry) } != FALSE;
    }
    if resumed == 0 {
        return Err(io::Error::other("cannot resume the command's suspended main thread"));
    }
    Ok(())
}

#[allow(unsafe_code)]
fn terminate_process(child: &Child) -> io::Result<()> {
    use windows_sys::Win32::System::Threading::TerminateProcess;
    // SAFETY: the process handle is open for as long as `child` lives.
    let ok = unsafe { TerminateProcess(child.as_raw_handle(), KILLED_CODE) };
    if ok == FALSE { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Kills everything in the job of the child `pid` (a second Ctrl-C, from any thread).
pub(crate) fn kill_tree(pid: u32) {
    let job = lock_jobs().iter().find(|(p, _)| *p == pid).map(|(_, j)| Arc::clone(j));
    match job {
        Some(job) => {
            let _ = job.terminate();
        }
        None => taskkill_tree(pid),
    }
}

/// The fallback without a job: `taskkill /T /F`, which walks parent ids (and is refused by Wine 8).
fn taskkill_tree(pid: u32) {
    let _ = Command::new("taskkill")
        .args(["/T", "/F", "/PID", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A spawn error with a message a user can act on where Windows' own says "%1 is not a valid Win32 application".
fn explain(e: io::Error) -> io::Error {
    if e.raw_os_error().is_some_and(|c| NOT_A_PROGRAM.contains(&c)) {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a Windows program (a script needs its interpreter before it, e.g. `python app.py`; or use --shell)",
        );
    }
    e
}

fn is_cmd_exe(program: &Path) -> bool {
    let name = program.file_name().unwrap_or(program.as_os_str());
    name.eq_ignore_ascii_case("cmd") || name.eq_ignore_ascii_case("cmd.exe")
}

/// What std runs through `cmd.exe /c`: `.bat` and `.cmd` files.
pub(crate) fn is_batch(program: &Path) -> bool {
    program.extension().is_some_and(|e| e.eq_ignore_ascii_case("bat") || e.eq_ignore_ascii_case("cmd"))
}

/// What `--signal` and `--on-busy signal` become on Windows, to be said once at startup; `None` for the defaults.
pub(crate) fn note(opts: &Options) -> Option<String> {
    let sig = opts.stop_signal;
    if opts.on_busy == OnBusy::Signal {
        if sig != Signal::Kill && !has_console() {
            return Some(
                "on Windows, --on-busy signal sends CTRL_BREAK_EVENT, but stator has no console to send it through: \
                 changes will not reach the command (run stator from a console, or use --on-busy restart)"
                    .to_owned(),
            );
        }
        return Some(match sig {
            Signal::Kill => "on Windows, --on-busy signal with --signal KILL terminates the command's job on every \
                             change (as --on-busy restart would, but nothing restarts it until it is run again)"
                .to_owned(),
            _ => format!(
                "on Windows, --on-busy signal sends CTRL_BREAK_EVENT to the command's process group on every change \
                 (there is no {sig}); a program that does not handle CTRL_BREAK_EVENT (Node: process.on('SIGBREAK'), \
                 Python: signal.SIGBREAK) exits"
            ),
        });
    }
    match sig {
        Signal::Term => None,
        Signal::Kill => Some(
            "on Windows, --signal KILL terminates the command's job at once, without CTRL_BREAK_EVENT first".to_owned(),
        ),
        _ => Some(format!(
            "on Windows there is no {sig}: the command is stopped with CTRL_BREAK_EVENT to its process group, then its \
             job is terminated after --stop-timeout"
        )),
    }
}

/// Finds `program` the way a Windows shell does when it has no extension of `PATHEXT`'s (`npm` is `npm.cmd`): see
/// [`super::pathext`]. `None`: leave it to std, which appends `.exe` only.
pub(crate) fn find_program(
    program: &OsStr,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Option<std::path::PathBuf> {
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var_os(name))
    };
    super::pathext::find(program, var("PATH").as_deref(), var("PATHEXT").as_deref(), |p| p.is_file())
}

/// The status reported for a child whose real status could not be had: exit code 255.
pub(crate) fn unknown_status() -> ExitStatus {
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
