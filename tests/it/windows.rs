//! End to end on Windows: the real `stator.exe` supervising real Windows processes (restarts, the job object,
//! the graceful stop, PATHEXT and batch files, a held-open changed-files list). Built for Windows only; here it runs
//! under Wine (`cargo test --target x86_64-pc-windows-gnu` with the Wine runner of `../shared/wine`), and it runs
//! as it is on Windows.
//!
//! The child is this test executable itself: run as `it.exe windows::wchild --exact --ignored`, the ignored test
//! [`wchild`] plays the role `WT_ROLE` names, logging to `WT_LOG`. Processes are looked at by pid
//! (`OpenProcess` and a zero wait), so "gone" means gone, not "stopped writing".
//!
//! What Wine cannot show is said where it matters: its console is not conhost (Ctrl events travel by another
//! route), and files live on the Linux disk behind it.

use std::fs;
use std::io::Write;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The bound on every wait: generous, as Wine on a small shared machine is slow to start processes.
const TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);
const FAST: [&str; 4] = ["--interval", "100ms", "--settle", "100ms"];

// ---------------------------------------------------------------------------------------------------------------
// The child.

/// Not a test: the child the other tests run (see the module documentation). Roles:
/// - `sleep`: log `start run=N pid=P list=STATOR_CHANGED_FILE changed=[...]`, then sleep.
/// - `tree`: start a grandchild in role `sleep` (tag `gc`), log `tree run=N pid=P gc=G`, then sleep.
/// - `break`: log `start`, and on `CTRL_BREAK_EVENT` log `break run=N` and exit 0.
/// - `stubborn`: log `start`, and on `CTRL_BREAK_EVENT` log `ignored run=N` and go on sleeping.
/// - `exit`: exit with code `WT_CODE`.
/// - `build` (as `--build`, which gets `STATOR_BUILD` and plays `WT_BUILD_ROLE`): log `build n=N`, exit 0 if the
///   file `WT_OK` exists, else 3.
#[test]
#[ignore = "the child of the other tests, not a test"]
fn wchild() {
    let var = if std::env::var_os("STATOR_BUILD").is_some() { "WT_BUILD_ROLE" } else { "WT_ROLE" };
    let Ok(role) = std::env::var(var) else { return };
    let run = std::env::var("STATOR_RUN").unwrap_or_default();
    let pid = std::process::id();
    let changed = || {
        std::env::var("STATOR_CHANGED_FILE")
            .ok()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    match role.as_str() {
        "sleep" => {
            let list = std::env::var("STATOR_CHANGED_FILE").unwrap_or_default();
            log(&format!("start run={run} pid={pid} list={list} changed={:?}", changed()));
        }
        "tree" => {
            // Never waited for: the grandchild outlives this process's interest in it, as a server's workers do.
            #[allow(clippy::zombie_processes)]
            let gc = Command::new(std::env::current_exe().expect("current_exe"))
                .args(CHILD_ARGS)
                .env("WT_ROLE", "sleep")
                .env("STATOR_RUN", format!("{run}-gc"))
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn the grandchild");
            log(&format!("tree run={run} pid={pid} gc={}", gc.id()));
        }
        "break" | "stubborn" => {
            let stubborn = role == "stubborn";
            let r = run.clone();
            ctrlc::set_handler(move || {
                if stubborn {
                    log(&format!("ignored run={r}"));
                } else {
                    log(&format!("break run={r}"));
                    std::process::exit(0);
                }
            })
            .expect("a console control handler");
            log(&format!("start run={run} pid={pid} changed={:?}", changed()));
        }
        "exit" => std::process::exit(std::env::var("WT_CODE").ok().and_then(|c| c.parse().ok()).unwrap_or(0)),
        "build" => {
            log(&format!("build n={}", std::env::var("STATOR_BUILD").unwrap_or_default()));
            let ok = std::env::var_os("WT_OK").is_some_and(|p| Path::new(&p).exists());
            std::process::exit(if ok { 0 } else { 3 });
        }
        other => panic!("unknown WT_ROLE {other}"),
    }
    std::thread::sleep(Duration::from_secs(3600));
}

/// The arguments that make this executable the child.
const CHILD_ARGS: [&str; 5] = ["windows::wchild", "--exact", "--ignored", "--nocapture", "--test-threads=1"];

fn log(line: &str) {
    let Ok(path) = std::env::var("WT_LOG") else { return };
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return cond();
        }
        std::thread::sleep(POLL);
    }
}

/// A path the test executable got from cargo, as Windows sees it: cargo on Linux hands Wine `/work/...`, which is
/// `Z:\work\...` (a path without a drive means the current drive, which is not always `Z:`).
fn windows_path(p: &str) -> PathBuf {
    if p.starts_with('/') { PathBuf::from(format!("Z:{}", p.replace('/', "\\"))) } else { PathBuf::from(p) }
}

fn stator_exe() -> PathBuf {
    windows_path(env!("CARGO_BIN_EXE_stator"))
}

/// Whether process `pid` is running (not merely existing as a handle someone holds: a zero wait says it ended).
#[allow(unsafe_code)]
fn alive(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{CloseHandle, WAIT_TIMEOUT};
    use windows_sys::Win32::System::Threading::{
        OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, WaitForSingleObject,
    };
    // SAFETY: OpenProcess returns a new handle or null; a non-null one is waited on and closed here, once.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE, 0, pid);
        if h.is_null() {
            return false;
        }
        let running = WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
        CloseHandle(h);
        running
    }
}

/// Whether this is Wine, not Windows (Wine's ntdll exports `wine_get_version`).
#[allow(unsafe_code)]
fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: both names are NUL-terminated; ntdll is loaded in every process, and the handle is not freed.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Why `CTRL_BREAK_EVENT` cannot reach a child's process group from here, if it cannot: the tests of the graceful
/// stop then say so and skip.
#[allow(unsafe_code)]
fn no_ctrl_break() -> Option<&'static str> {
    use windows_sys::Win32::System::Console::GetConsoleProcessList;
    let mut list = [0u32; 4];
    // SAFETY: the buffer holds as many entries as said.
    let attached = unsafe { GetConsoleProcessList(list.as_mut_ptr(), list.len() as u32) } > 0;
    if !attached {
        return Some(
            "this test process has no console (under Wine: its output is not a terminal), so stator has none to send \
             CTRL_BREAK_EVENT through",
        );
    }
    under_wine().then_some(
        "Wine 8's GenerateConsoleCtrlEvent cannot target a process group (it fails with ERROR_INVALID_HANDLE), so \
         the graceful stop cannot be shown here; on Windows it runs",
    )
}

fn skip(test: &str, why: &str) {
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

/// The value of `key=` in a log line (`pid=12`: `12`).
fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir(dir.path().join("src")).expect("src");
        fs::write(dir.path().join("src/a.txt"), "one\n").expect("a.txt");
        Sandbox { dir }
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn log_lines(&self) -> Vec<String> {
        fs::read_to_string(self.join("log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn lines_starting(&self, prefix: &str) -> Vec<String> {
        self.log_lines().into_iter().filter(|l| l.starts_with(prefix)).collect()
    }

    /// An edit of the watched file.
    fn edit(&self, text: &str) {
        let mut f = fs::OpenOptions::new().append(true).open(self.join("src/a.txt")).expect("open a.txt");
        f.write_all(text.as_bytes()).expect("write a.txt");
    }

    /// `stator ARGS -- <this executable as the child in ROLE>`.
    fn stator(&self, args: &[&str], role: &str) -> Command {
        let mut cmd = Command::new(stator_exe());
        cmd.args(FAST).arg("-w").arg(self.join("src")).args(args).arg("--");
        cmd.arg(std::env::current_exe().expect("current_exe")).args(CHILD_ARGS).env("WT_ROLE", role);
        self.prepare(&mut cmd);
        cmd
    }

    fn prepare(&self, cmd: &mut Command) {
        cmd.current_dir(self.dir.path())
            .env("WT_LOG", self.join("log"))
            .env_remove("STATOR_RUN")
            .env_remove("STATOR_CHANGED_FILE")
            .stdin(Stdio::null());
    }

    fn spawn(&self, mut cmd: Command) -> Stator {
        let stderr = self.join("stator.stderr");
        cmd.stdout(fs::File::create(self.join("stator.stdout")).expect("stdout file"))
            .stderr(fs::File::create(&stderr).expect("stderr file"));
        Stator { child: cmd.spawn().expect("spawn stator"), stderr }
    }

    /// Waits for `n` lines starting with `prefix`; panics with stator's stderr if they do not come.
    fn wait_lines(&self, st: &Stator, prefix: &str, n: usize) -> Vec<String> {
        if !wait_until(TIMEOUT, || self.lines_starting(prefix).len() >= n) {
            panic!(
                "no {n} '{prefix}' lines in the log after {TIMEOUT:?}: {:?}\n--- stator's stderr ---\n{}",
                self.log_lines(),
                st.stderr()
            );
        }
        self.lines_starting(prefix)
    }
}

/// A running stator; killed (`TerminateProcess`, as `taskkill /F`) when dropped, which ends its job too.
struct Stator {
    child: Child,
    stderr: PathBuf,
}

impl Stator {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        if !wait_until(TIMEOUT, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        }) {
            panic!("stator did not exit within {TIMEOUT:?}\n--- stderr ---\n{}", self.stderr());
        }
        status.expect("an exit status")
    }
}

impl Drop for Stator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pid_of(line: &str) -> u32 {
    field(line, "pid").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no pid in {line:?}"))
}

// ---------------------------------------------------------------------------------------------------------------
// The tests.

#[test]
fn an_edit_restarts_the_child_once_and_the_old_one_is_gone() {
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&[], "sleep"));
    let first = sb.wait_lines(&st, "start", 1);
    assert!(first[0].starts_with("start run=1 "), "{first:?}");
    sb.edit("two\n");
    let both = sb.wait_lines(&st, "start", 2);
    assert!(both[1].starts_with("start run=2 "), "{both:?}");
    assert!(both[1].contains("a.txt"), "the second run is told what changed: {both:?}");
    let old = pid_of(&both[0]);
    assert!(wait_until(TIMEOUT, || !alive(old)), "the first child {old} still runs");
    assert!(alive(pid_of(&both[1])));
    assert_eq!(sb.lines_starting("start").len(), 2, "one restart per edit: {:?}", sb.log_lines());
}

/// A grandchild dies at every restart, even one whose parent already exited: the job holds it, whatever its parent
/// id says (`taskkill /T` walks parent ids; Wine 8's rejects `/T` altogether).
#[test]
fn a_build_runs_first_a_failed_one_keeps_the_old_run_and_a_good_one_swaps() {
    let sb = Sandbox::new();
    let exe = std::env::current_exe().expect("current_exe");
    // One command line, split into words: the quotes keep a path with spaces whole, its backslashes stay.
    let build = format!("'{}' {}", exe.display(), CHILD_ARGS.join(" "));
    let mut cmd = sb.stator(&["--build", &build], "sleep");
    cmd.env("WT_BUILD_ROLE", "build").env("WT_OK", sb.join("ok"));
    let st = sb.spawn(cmd);
    sb.wait_lines(&st, "build", 1);
    let said = |text: &str| wait_until(TIMEOUT, || st.stderr().contains(text));
    assert!(said("build failed after"), "{}", st.stderr());
    assert!(sb.lines_starting("start").is_empty(), "the command ran without a build");

    fs::write(sb.join("ok"), "").expect("ok");
    sb.edit("two\n");
    let first = sb.wait_lines(&st, "start", 1);
    let old = pid_of(&first[0]);

    fs::remove_file(sb.join("ok")).expect("rm ok");
    sb.edit("three\n");
    assert!(said("the previous run keeps running"), "{}", st.stderr());
    assert!(alive(old), "a failed build stopped the old run");

    fs::write(sb.join("ok"), "").expect("ok");
    sb.edit("four\n");
    let both = sb.wait_lines(&st, "start", 2);
    assert!(both[1].starts_with("start run=2 "), "{both:?}");
    assert!(wait_until(TIMEOUT, || !alive(old)), "the old run {old} outlived the swap");
    assert_eq!(sb.lines_starting("build").len(), 4, "{:?}", sb.log_lines());
}

#[test]
fn a_grandchild_is_stopped_at_every_restart() {
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&[], "tree"));
    let trees = sb.wait_lines(&st, "tree", 1);
    let gc: u32 = field(&trees[0], "gc").and_then(|g| g.parse().ok()).expect("the grandchild's pid");
    assert!(alive(gc));
    sb.edit("two\n");
    let trees = sb.wait_lines(&st, "tree", 2);
    assert!(wait_until(TIMEOUT, || !alive(gc)), "the first run's grandchild {gc} survived the restart");
    let gc2: u32 = field(&trees[1], "gc").and_then(|g| g.parse().ok()).expect("the grandchild's pid");
    assert!(alive(gc2), "the new grandchild runs");
}

/// `taskkill /F`, Task Manager or a crash: stator ends without stopping anything, and Windows, closing stator's
/// handle on the job, ends the child and the grandchild (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`).
#[test]
fn a_killed_stator_takes_the_whole_tree_with_it() {
    let sb = Sandbox::new();
    let mut st = sb.spawn(sb.stator(&[], "tree"));
    let trees = sb.wait_lines(&st, "tree", 1);
    let (child, gc) = (pid_of(&trees[0]), field(&trees[0], "gc").and_then(|g| g.parse().ok()).expect("gc pid"));
    st.child.kill().expect("TerminateProcess stator");
    let _ = st.child.wait();
    assert!(wait_until(TIMEOUT, || !alive(child) && !alive(gc)), "child {child} or grandchild {gc} outlived stator");
}

/// The graceful stop: `CTRL_BREAK_EVENT` to the child's process group; a child that handles it finishes, and the
/// restart does not wait for the stop timeout. Under Wine the event goes through Wine's console emulation, not
/// conhost; what it shows is that stator sends it to the right group and waits for it to be handled.
#[test]
fn a_restart_sends_ctrl_break_and_a_child_that_handles_it_exits_cleanly() {
    if let Some(why) = no_ctrl_break() {
        return skip("a_restart_sends_ctrl_break_and_a_child_that_handles_it_exits_cleanly", why);
    }
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&["--stop-timeout", "60s"], "break"));
    sb.wait_lines(&st, "start", 1);
    let edited = Instant::now();
    sb.edit("two\n");
    sb.wait_lines(&st, "start", 2);
    let took = edited.elapsed();
    let log = sb.log_lines();
    let at = |prefix: &str| log.iter().position(|l| l.starts_with(prefix));
    assert!(at("break run=1").is_some(), "the first run got no CTRL_BREAK_EVENT: {log:?}\n{}", st.stderr());
    assert!(at("break run=1") < at("start run=2"), "the old run stopped before the new one started: {log:?}");
    assert!(took < Duration::from_secs(30), "the restart waited for the stop timeout: {took:?}");
}

/// A child that ignores `CTRL_BREAK_EVENT` gets `--stop-timeout`, then its job is terminated.
#[test]
fn a_child_that_ignores_ctrl_break_is_terminated_after_the_stop_timeout() {
    if let Some(why) = no_ctrl_break() {
        return skip("a_child_that_ignores_ctrl_break_is_terminated_after_the_stop_timeout", why);
    }
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&["--stop-timeout", "1500ms"], "stubborn"));
    let first = sb.wait_lines(&st, "start", 1);
    let edited = Instant::now();
    sb.edit("two\n");
    sb.wait_lines(&st, "start", 2);
    let took = edited.elapsed();
    assert!(sb.lines_starting("ignored run=1").len() == 1, "{:?}", sb.log_lines());
    assert!(took >= Duration::from_millis(1500), "the stop timeout was not waited for: {took:?}");
    assert!(!alive(pid_of(&first[0])));
}

/// `--signal KILL`: no `CTRL_BREAK_EVENT`, the job is terminated at once.
#[test]
fn signal_kill_terminates_without_ctrl_break() {
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&["--signal", "KILL", "--stop-timeout", "60s"], "stubborn"));
    let first = sb.wait_lines(&st, "start", 1);
    sb.edit("two\n");
    sb.wait_lines(&st, "start", 2);
    assert!(sb.lines_starting("ignored").is_empty(), "{:?}", sb.log_lines());
    assert!(!alive(pid_of(&first[0])));
    assert!(st.stderr().contains("--signal KILL terminates the command's job at once"), "{}", st.stderr());
}

/// `--on-busy signal`: `CTRL_BREAK_EVENT` on every change, no restart, and a note at startup saying so.
#[test]
fn on_busy_signal_sends_ctrl_break_and_says_so() {
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&["--on-busy", "signal", "--signal", "HUP"], "stubborn"));
    sb.wait_lines(&st, "start", 1);
    let err = st.stderr();
    if let Some(why) = no_ctrl_break() {
        // Without a console the note says that changes cannot reach the command; under Wine with one, it is the
        // usual note, and the event fails.
        let said = err.contains("--on-busy signal sends CTRL_BREAK_EVENT, but stator has no console")
            || err.contains("there is no SIGHUP");
        assert!(said, "{err}");
        return skip("on_busy_signal_sends_ctrl_break_and_says_so (the event itself)", why);
    }
    assert!(err.contains("--on-busy signal sends CTRL_BREAK_EVENT") && err.contains("there is no SIGHUP"), "{err}");
    sb.edit("two\n");
    sb.wait_lines(&st, "ignored run=1", 1);
    assert_eq!(sb.lines_starting("start").len(), 1, "no restart: {:?}", sb.log_lines());
}

/// Without a console (started detached, as a scheduled task or a service would be) the event cannot be sent:
/// stator terminates the job at once instead of waiting out the stop timeout for an event that never left.
#[test]
fn without_a_console_the_stop_does_not_wait_for_nothing() {
    use windows_sys::Win32::System::Threading::DETACHED_PROCESS;
    let sb = Sandbox::new();
    let mut cmd = sb.stator(&["--stop-timeout", "60s"], "stubborn");
    cmd.creation_flags(DETACHED_PROCESS);
    let st = sb.spawn(cmd);
    let first = sb.wait_lines(&st, "start", 1);
    let edited = Instant::now();
    sb.edit("two\n");
    sb.wait_lines(&st, "start", 2);
    assert!(edited.elapsed() < Duration::from_secs(30), "waited {:?} for an undeliverable event", edited.elapsed());
    assert!(!alive(pid_of(&first[0])));
}

/// A process holding the old `STATOR_CHANGED_FILE` open without delete sharing (as `cmd`'s `<` opens it; an
/// editor, a virus scanner, a log tailer outside the child's job) does not block the next run: each run's list has a
/// name of its own. (The child's own handles are closed by then: its job is terminated before the next list is
/// written. Here the test process itself holds the list.)
#[test]
fn a_held_open_changed_files_list_does_not_block_the_next_run() {
    const FILE_SHARE_READ: u32 = 1;
    let sb = Sandbox::new();
    let st = sb.spawn(sb.stator(&[], "sleep"));
    let first = sb.wait_lines(&st, "start", 1);
    let list = field(&first[0], "list").expect("the list's path");
    let held = fs::OpenOptions::new().read(true).share_mode(FILE_SHARE_READ).open(&list).expect("open the list");
    sb.edit("two\n");
    let runs = sb.wait_lines(&st, "start", 2);
    assert!(runs[1].contains("a.txt"), "the second run read its own list: {runs:?}");
    sb.edit("three\n");
    sb.wait_lines(&st, "start", 3);
    assert!(!st.stderr().contains("cannot write the list"), "{}", st.stderr());
    drop(held);
}

/// `stator -- hello` runs `hello.cmd` found on `PATH` through `PATHEXT`, as `npm` is `npm.cmd`; its arguments reach
/// it as they are, through std's quoting for cmd.exe: no `&` runs a second command, no `%VAR%` is expanded (the
/// last is Windows' cmd.exe only: Wine's own cmd.exe expands it despite std's escaping, and the test says so).
#[test]
fn a_cmd_script_is_found_through_pathext_and_its_arguments_are_not_shell_code() {
    let sb = Sandbox::new();
    let bin = sb.join("bin");
    fs::create_dir(&bin).expect("bin");
    // The script itself must not turn its arguments into code: quoted `set`, then delayed expansion.
    let script = "@echo off\r\nsetlocal DisableDelayedExpansion\r\nset \"A1=%~1\"\r\nset \"A2=%~2\"\r\n\
                  setlocal EnableDelayedExpansion\r\n> \"%WT_OUT%\" echo hello-from-cmd [!A1!] [!A2!]\r\nexit /b 7\r\n";
    fs::write(bin.join("hello.cmd"), script).expect("hello.cmd");
    let out = sb.join("out.txt");
    let path = format!("{};{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new(stator_exe());
    cmd.args(["-w", "src", "--on-exit", "exit", "--", "hello", "x & echo pwned> pwned.txt", "100%PATH%"]);
    sb.prepare(&mut cmd);
    cmd.env("PATH", path).env("WT_OUT", &out);
    let mut st = sb.spawn(cmd);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(7), "the script's exit code\n{}", st.stderr());
    let text = fs::read_to_string(&out).unwrap_or_else(|e| panic!("{}: {e}\n{}", out.display(), st.stderr()));
    assert!(!sb.join("pwned.txt").exists(), "an argument ran as a command");
    let text = text.trim_end();
    assert!(text.starts_with("hello-from-cmd [x & echo pwned> pwned.txt] ["), "{text}");
    if under_wine() {
        skip(
            "a_cmd_script_is_found_through_pathext_and_its_arguments_are_not_shell_code (%VAR%)",
            &format!(
                "Wine's cmd.exe expands %PATH% inside std's escaping (it gave {text:?}); Windows' cmd.exe does not"
            ),
        );
    } else {
        assert_eq!(text, "hello-from-cmd [x & echo pwned> pwned.txt] [100%PATH%]");
    }
}

/// A batch file found through PATHEXT whose path holds a `%` is refused: std quotes the path for cmd.exe, but cmd
/// expands `%VAR%` inside quotes.
#[test]
fn a_batch_file_with_a_percent_sign_in_its_path_is_refused() {
    let sb = Sandbox::new();
    let bin = sb.join("100%bin");
    fs::create_dir(&bin).expect("bin");
    fs::write(bin.join("hello.cmd"), "@echo off\r\nexit /b 0\r\n").expect("hello.cmd");
    let mut cmd = Command::new(stator_exe());
    cmd.args(["-w", "src", "--", "hello"]);
    sb.prepare(&mut cmd);
    cmd.env("PATH", format!("{};{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
    let mut st = sb.spawn(cmd);
    assert_eq!(st.wait_exit().code(), Some(126), "{}", st.stderr());
    assert!(st.stderr().contains("cannot be run safely through cmd.exe"), "{}", st.stderr());
}

/// A file that is not a program gets a message that says so, not "%1 is not a valid Win32 application".
#[test]
fn a_file_that_is_not_a_program_is_said_to_be_one() {
    let sb = Sandbox::new();
    let fake = sb.join("fake.exe");
    // Plain text: no MZ header (and no #! line, which Wine would run as a Linux script).
    fs::write(&fake, "this is not a program\r\n").expect("fake.exe");
    let mut cmd = Command::new(stator_exe());
    cmd.args(["-w", "src", "--"]).arg(&fake);
    sb.prepare(&mut cmd);
    let mut st = sb.spawn(cmd);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(126), "{}", st.stderr());
    assert!(st.stderr().contains("not a Windows program"), "{}", st.stderr());
}

/// The child's exit code is stator's with `--on-exit exit`: all 32 bits of it, which only Windows programs see
/// (Linux, looking at Wine's processes, sees the low 8 bits).
#[test]
fn the_exit_code_passes_through() {
    let sb = Sandbox::new();
    let mut cmd = sb.stator(&["--on-exit", "exit"], "exit");
    cmd.env("WT_CODE", "300");
    let mut st = sb.spawn(cmd);
    assert_eq!(st.wait_exit().code(), Some(300), "{}", st.stderr());
}

/// Paths given to stator are Windows paths here: the helper that makes them from cargo's must be right, or every
/// other test fails for the wrong reason.
#[test]
fn the_stator_executable_is_found() {
    assert!(Path::new(&stator_exe()).is_file(), "{}", stator_exe().display());
}

/// A file replaced by another of the same size and the same (old) mtime restarts the command: its file index and
/// its change time differ (std's metadata has neither on Windows, so this was missed). Under Wine both come from the
/// Linux file behind it (inode, ctime); on NTFS from the MFT.
#[test]
fn a_same_size_same_mtime_replacement_restarts() {
    let sb = Sandbox::new();
    let old = filetime::FileTime::from_unix_time(1_577_836_800, 0);
    let target = sb.join("src/old.txt");
    fs::write(&target, "AAAA").expect("old.txt");
    filetime::set_file_mtime(&target, old).expect("mtime");
    let st = sb.spawn(sb.stator(&[], "sleep"));
    sb.wait_lines(&st, "start", 1);
    let tmp = sb.join("x.tmp");
    fs::write(&tmp, "BBBB").expect("x.tmp");
    filetime::set_file_mtime(&tmp, old).expect("mtime");
    fs::rename(&tmp, &target).expect("rename over");
    let runs = sb.wait_lines(&st, "start", 2);
    assert!(runs[1].contains("old.txt"), "{runs:?}");
}

/// `-w w -w w\sub` watches `w\sub\b.txt` once: directories have identities now.
#[test]
fn overlapping_roots_list_a_file_once() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.join("src/sub")).expect("sub");
    fs::write(sb.join("src/sub/b.txt"), "x").expect("b.txt");
    let out = Command::new(stator_exe())
        .args(["-w", "src", "-w", r"src\sub", "--list"])
        .current_dir(sb.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("stator --list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().filter(|l| l.ends_with("b.txt")).count(), 1, "{text}");
}

/// Two junctions back up the tree: `--list` finishes, each loop named once in a warning. Wine 8 cannot make
/// junctions (nor symlinks: no reparse points), and the test says so and skips.
#[test]
fn junction_loops_are_not_descended() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.join("src/sub")).expect("sub");
    fs::write(sb.join("src/sub/b.txt"), "x").expect("b.txt");
    for name in ["up", "up2"] {
        let link = sb.join(&format!(r"src\sub\{name}"));
        let made = Command::new("cmd")
            .arg("/c")
            .arg("mklink")
            .arg("/J")
            .arg(&link)
            .arg(sb.join("src"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink());
        if !made {
            return skip(
                "junction_loops_are_not_descended",
                "`mklink /J` made no junction here (Wine 8 has no reparse points); on Windows it runs",
            );
        }
    }
    let mut st = sb.spawn({
        let mut cmd = Command::new(stator_exe());
        cmd.args(["-w", "src", "--list"]);
        sb.prepare(&mut cmd);
        cmd
    });
    assert!(st.wait_exit().success(), "{}", st.stderr());
    let list = fs::read_to_string(sb.join("stator.stdout")).unwrap_or_default();
    assert_eq!(list.lines().filter(|l| l.ends_with("b.txt")).count(), 1, "{list}");
    assert_eq!(st.stderr().matches("not descending twice").count(), 2, "{}", st.stderr());
}
