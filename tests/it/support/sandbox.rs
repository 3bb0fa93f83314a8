//! The `stator` binary in a sandbox: a temporary directory with a watched `src/`, a log file and a private copy of
//! `sleep`; a guard around a running `stator` that stops it and everything it started when the test ends (passing
//! or failing); and a few looks at `/proc`.
//!
//! Every process a test starts carries the sandbox's path (its *marker*) in its command line: stator through its
//! `-w` roots, `sh -c` children through `$0`, and grandchildren through the full path of the sandbox's own copy of
//! `sleep` (`$SLEEP`). So "nothing of this test is left" is checkable, and cleanable, by looking for the marker.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal};

use super::wait_until;

/// The bound on every wait; generous, as the tests run on a small, noisy VM. Also longer than stator's default
/// stop timeout (10 s), so that the guard's SIGTERM lets stator stop a child that ignores its stop signal, and
/// clean up after itself, before the guard resorts to SIGKILL.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);

/// How often a waited-for condition is checked.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// The flags every watching test passes, to keep the tests quick.
pub(crate) const FAST: [&str; 4] = ["--interval", "100ms", "--settle", "100ms"];

/// [`FAST`] followed by `extra`.
pub(crate) fn fast<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FAST.iter().copied().chain(extra.iter().copied()).collect()
}

/// A child that logs `start` and then stays up (as a server would).
pub(crate) const LOG_AND_STAY: &str = r#"echo start >> "$LOG"; exec "$SLEEP" 1000"#;

/// `path` as a `&str`, for a command line (sandbox paths are UTF-8).
pub(crate) fn s(path: &Path) -> &str {
    path.to_str().expect("sandbox paths are UTF-8")
}

/// A temporary directory laid out for one test.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A fresh sandbox with an empty `src/` (the usual watched root) and a copy of `sleep` in `bin/`.
    pub(crate) fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        fs::create_dir(dir.path().join("src")).expect("create src/");
        fs::create_dir(dir.path().join("bin")).expect("create bin/");
        let sleep = which("sleep").expect("sleep is on PATH");
        fs::copy(&sleep, dir.path().join("bin").join("sleep")).expect("copy sleep");
        Sandbox { dir }
    }

    /// The sandbox directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the sandbox.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The usual watched root.
    pub(crate) fn src(&self) -> PathBuf {
        self.join("src")
    }

    /// The log children append to (`$LOG`); outside `src/`, so writing it is no change.
    pub(crate) fn log(&self) -> PathBuf {
        self.join("log")
    }

    /// The sandbox's own `sleep` (`$SLEEP`): its path carries the marker into grandchildren's command lines.
    pub(crate) fn sleep(&self) -> PathBuf {
        self.join("bin/sleep")
    }

    /// The string every process of this test has in its command line.
    pub(crate) fn marker(&self) -> String {
        self.path().to_str().expect("temporary directory paths are UTF-8").to_owned()
    }

    /// The lines of the log (none if it does not exist yet).
    pub(crate) fn log_lines(&self) -> Vec<String> {
        read_lines(&self.log())
    }

    /// How many log lines are exactly `line`.
    pub(crate) fn log_count(&self, line: &str) -> usize {
        self.log_lines().iter().filter(|l| *l == line).count()
    }

    /// A command that runs `script` with `sh -c`, with the marker as `$0`.
    pub(crate) fn sh(&self, script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into(), self.marker()]
    }

    /// `stator ARGS -- COMMAND`, run in the sandbox with `$LOG`, `$DIR` and `$SLEEP` set for the child.
    pub(crate) fn command(&self, args: &[&str], command: &[String]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stator"));
        cmd.args(args);
        if !command.is_empty() {
            cmd.arg("--").args(command);
        }
        self.prepare(&mut cmd);
        cmd
    }

    /// Sets the working directory and the variables children use.
    pub(crate) fn prepare(&self, cmd: &mut Command) {
        cmd.current_dir(self.path())
            .env("LOG", self.log())
            .env("DIR", self.path())
            .env("SLEEP", self.sleep())
            .env_remove("STATOR_RUN")
            .env_remove("STATOR_CHANGED_FILE")
            .env_remove("STATOR_WATCH_FILE")
            .stdin(Stdio::null());
    }

    /// Starts `stator ARGS -- COMMAND` with stdout and stderr going to files in the sandbox.
    pub(crate) fn spawn(&self, args: &[&str], command: &[String]) -> Stator {
        self.spawn_cmd(self.command(args, command))
    }

    /// Starts `cmd` (a stator, or something that runs one) with stdout and stderr going to files in the sandbox.
    pub(crate) fn spawn_cmd(&self, mut cmd: Command) -> Stator {
        let stdout = self.join("stator.stdout");
        let stderr = self.join("stator.stderr");
        cmd.stdout(fs::File::create(&stdout).expect("create stdout file"))
            .stderr(fs::File::create(&stderr).expect("create stderr file"));
        let child = cmd.spawn().expect("spawn stator");
        Stator { child, stdout, stderr, marker: self.marker(), status: None }
    }

    /// Runs `stator ARGS -- COMMAND` to its end (bounded: killed after [`TIMEOUT`]); returns its status, stdout and
    /// stderr.
    pub(crate) fn run(&self, args: &[&str], command: &[String]) -> (ExitStatus, String, String) {
        let mut st = self.spawn(args, command);
        let status = st.wait_exit();
        (status, st.stdout(), st.stderr())
    }
}

/// A running stator. Dropping it stops stator (SIGTERM, then SIGKILL) and SIGKILLs whatever of the test is left.
pub(crate) struct Stator {
    /// The process spawned (stator, or `unshare` running it).
    pub(crate) child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    marker: String,
    status: Option<ExitStatus>,
}

impl Stator {
    /// The spawned process's pid.
    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit in i32")
    }

    /// What stator wrote on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// What stator wrote on stderr so far, as bytes.
    pub(crate) fn stderr_bytes(&self) -> Vec<u8> {
        fs::read(&self.stderr).unwrap_or_default()
    }

    /// What stator wrote on stdout so far.
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    /// The stderr lines that contain `needle`.
    pub(crate) fn lines_with(&self, needle: &str) -> Vec<String> {
        self.stderr().lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
    }

    /// How many scans stator said (with `-v`) it made so far: the count in its latest summary line
    /// (`[stator] scans: 10 in 1.0s (57 in all): ...`, one every few scans).
    pub(crate) fn scans(&self) -> usize {
        scans_in(&self.stderr())
    }

    /// Waits until `cond` holds; panics naming `what`, with stator's stderr, if it does not within [`TIMEOUT`].
    pub(crate) fn wait(&mut self, what: &str, cond: impl FnMut() -> bool) {
        if !wait_until(TIMEOUT, POLL, cond) {
            let exited = self.child.try_wait().ok().flatten();
            panic!(
                "timed out after {TIMEOUT:?} waiting for: {what}\nstator exited: {exited:?}\n--- stator's stderr ---\n{}\
                 --- end of stderr ---",
                self.stderr()
            );
        }
    }

    /// Waits until stator's stderr contains `needle`.
    pub(crate) fn wait_stderr(&mut self, needle: &str) {
        let path = self.stderr.clone();
        self.wait(&format!("stderr to contain {needle:?}"), || {
            String::from_utf8_lossy(&fs::read(&path).unwrap_or_default()).contains(needle)
        });
    }

    /// Waits until the baseline is taken (the "watching" line).
    pub(crate) fn wait_watching(&mut self) {
        self.wait_stderr("[stator] watching ");
    }

    /// Waits until stator says (with `-v`) it made at least `n` more scans than it had said so far: a way to let
    /// time pass that is measured in stator's own scans, not in wall-clock time. (Its summaries come every few
    /// scans, so this may wait for a few more than `n`.)
    pub(crate) fn wait_scans(&mut self, n: usize) {
        let base = self.scans();
        let path = self.stderr.clone();
        self.wait(&format!("{n} more scans after the {base} said so far (is -v given?)"), || {
            scans_in(&String::from_utf8_lossy(&fs::read(&path).unwrap_or_default())) >= base + n
        });
    }

    /// Whether the spawned process is still running.
    pub(crate) fn running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait().expect("try_wait") {
            Some(status) => {
                self.status = Some(status);
                false
            }
            None => true,
        }
    }

    /// Sends `sig` to the spawned process.
    pub(crate) fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.pid()).expect("a pid is positive");
        rustix::process::kill_process(pid, sig).expect("signal stator");
    }

    /// Waits (bounded) for the spawned process to exit; panics with its stderr if it does not.
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        wait_until(TIMEOUT, POLL, || !self.running());
        match self.status {
            Some(status) => status,
            None => panic!(
                "timed out after {TIMEOUT:?} waiting for stator to exit\n--- stator's stderr ---\n{}--- end of stderr ---",
                self.stderr()
            ),
        }
    }
}

impl Drop for Stator {
    fn drop(&mut self) {
        if self.running() {
            // As long as stator may take to stop its child (see `TIMEOUT`): killed, it could not remove its
            // temporary files.
            self.signal(Signal::TERM);
            if !wait_until(TIMEOUT, POLL, || !self.running()) {
                self.signal(Signal::KILL);
                let _ = self.child.wait();
            }
        }
        // Whatever of this test is still alive (a grandchild stator did not stop, a stator inside a namespace
        // that outlived `unshare`): kill it by pid.
        wait_until(50 * POLL, POLL, || {
            let left = pids_with_marker(&self.marker);
            for &pid in &left {
                if let Some(pid) = Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, Signal::KILL);
                }
            }
            left.is_empty()
        });
    }
}

/// The number of scans stator's latest `-v` summary in `stderr` counts (`... (57 in all): ...`); 0 before the first.
fn scans_in(stderr: &str) -> usize {
    stderr
        .lines()
        .rev()
        .filter(|l| l.starts_with("[stator] scans: "))
        .find_map(|l| l.split_once(" in all)").and_then(|(head, _)| head.rsplit('(').next()?.parse().ok()))
        .unwrap_or(0)
}

/// The lines of a file (none if it cannot be read).
pub(crate) fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Appends `text` to `path` (creating it): an edit that changes the file's size.
pub(crate) fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// Reads the pid a child wrote to `path`, if it is there and complete.
pub(crate) fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `(state, ppid, pgrp)` from `/proc/<pid>/stat`; `None` when there is no such process.
pub(crate) fn proc_stat(pid: i32) -> Option<(char, i32, i32)> {
    let (state, ids) = proc_stat_ids(pid, 2)?;
    Some((state, ids[0], ids[1]))
}

/// The state and the first `n` numbers after it in `/proc/<pid>/stat`: ppid, pgrp, session, tty_nr, tpgid, ...
pub(crate) fn proc_stat_ids(pid: i32, n: usize) -> Option<(char, Vec<i32>)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ids: Vec<i32> = fields.take(n).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    (ids.len() == n).then_some((state, ids))
}

/// Whether `pid` is a live process (a zombie is dead: it runs nothing and holds nothing but its pid).
pub(crate) fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _, _)| state != 'Z' && state != 'X')
}

/// Every pid in `/proc`.
pub(crate) fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect()
}

/// The live processes whose command line contains `marker`.
pub(crate) fn pids_with_marker(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// The live members of process group `pgid`.
pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
    all_pids().into_iter().filter(|&pid| proc_stat(pid).is_some_and(|(s, _, g)| g == pgid && s != 'Z')).collect()
}

/// The children of `pid` (zombies included): from `/proc/<pid>/task/*/children` where the kernel has it
/// (CONFIG_PROC_CHILDREN), else by looking for processes whose parent is `pid`.
pub(crate) fn children_of(pid: i32) -> Vec<i32> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
    let mut listed = Vec::new();
    let mut supported = false;
    for task in tasks {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            supported = true;
            listed.extend(text.split_ascii_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    if supported {
        return listed;
    }
    all_pids().into_iter().filter(|&p| proc_stat(p).is_some_and(|(_, ppid, _)| ppid == pid)).collect()
}

/// The pid of `pid` in the innermost pid namespace it belongs to (the last `NSpid` field).
pub(crate) fn inner_pid(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_ascii_whitespace().last()?.parse().ok()
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// `program`'s path, looked up in `PATH`.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| p.is_file())
}
