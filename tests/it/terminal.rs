//! The terminal belongs to the command: real processes in a pseudo-terminal, as a user at a terminal runs them.
//!
//! Each test opens a pty (rustix's pty calls), runs stator (or an interactive `bash`, for Ctrl-Z and `fg`) in a
//! new session whose controlling terminal is the pty's slave (`setsid --ctty`), types into the master (Ctrl-C is
//! the byte 0x03, Ctrl-Z 0x1a: the line discipline makes the signals, as for a user), and reads what appears.
//! Nothing waits for a fixed time: every wait polls for a state, with a bound. At the end of each test, everything
//! in the pty's session is killed; tests that promise "nothing left running" check that session, and the
//! processes they know by pid, through `/proc` first.
//!
//! The pty and the session live here; waits and `/proc` looks come from [`crate::support`].

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::support;
use crate::support::sandbox::{alive, proc_stat_ids, read_pid};

/// The bound on every wait; generous, as the tests run on a small, noisy machine.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How often a waited-for condition is checked.
const POLL: Duration = Duration::from_millis(20);

/// Flags that keep the tests quick.
const FAST: [&str; 4] = ["--interval", "100ms", "--settle", "100ms"];

/// Checks `cond` every [`POLL`] until it holds (true) or [`TIMEOUT`] passed (false, after one last check).
fn wait_until(cond: impl FnMut() -> bool) -> bool {
    support::wait_until(TIMEOUT, POLL, cond)
}

/// `(state, ppid, pgrp, session)` from `/proc/<pid>/stat`; `None` when there is no such process.
fn proc_stat(pid: i32) -> Option<(char, i32, i32, i32)> {
    let (state, ids) = proc_stat_ids(pid, 3)?;
    Some((state, ids[0], ids[1], ids[2]))
}

/// The foreground process group of `pid`'s controlling terminal (`tpgid` in `/proc/<pid>/stat`).
fn tpgid(pid: i32) -> Option<i32> {
    proc_stat_ids(pid, 5).map(|(_, ids)| ids[4])
}

/// The live processes of session `sid`.
fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&pid| proc_stat(pid).is_some_and(|(state, _, _, s)| s == sid && state != 'Z' && state != 'X'))
        .collect()
}

/// The live processes whose command line contains `needle`.
fn pids_with(needle: &str) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id() as i32;
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&pid| pid != me && alive(pid))
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
        })
        .collect()
}

fn kill(pid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// The terminal modes of `tty` as `stty -g` prints them.
fn modes(tty: &Path) -> String {
    let out = Command::new("stty").arg("-g").arg("-F").arg(tty).output().expect("run stty");
    assert!(out.status.success(), "stty -g -F {}: {}", tty.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A temporary directory with a copy of `sleep` whose path marks the test's processes.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::Builder::new().prefix("stator-tty-").tempdir().expect("temporary directory");
        let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("sleep");
        fs::copy(sleep, dir.path().join("sleep")).expect("copy sleep");
        Dir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The sandbox's own `sleep`: its path is in the command line of every sleep a test starts.
    fn sleep(&self) -> String {
        self.join("sleep").to_str().expect("UTF-8 temporary path").to_owned()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, text).expect("write");
        path
    }

    /// `stator ARGS` with the environment the tests want (no colour, a dumb terminal, `$SLEEP`, `$DIR`).
    fn stator(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stator"));
        cmd.args(args);
        self.prepare(&mut cmd);
        cmd
    }

    fn prepare(&self, cmd: &mut Command) {
        cmd.current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .env("SLEEP", self.sleep())
            .env("DIR", self.path())
            .env_remove("STATOR_RUN")
            .env_remove("STATOR_CHANGED_FILE")
            .env_remove("STATOR_WATCH_FILE")
            .env_remove("PYTHONBREAKPOINT")
            .env("PYTHONDONTWRITEBYTECODE", "1");
    }
}

/// A pseudo-terminal with a process running in a new session on its slave; everything written to the slave is
/// collected. Dropping it kills the whole session.
struct Pty {
    master: Arc<OwnedFd>,
    slave: PathBuf,
    out: Arc<Mutex<Vec<u8>>>,
    child: Child,
    /// Where the next [`Pty::wait_for`] starts looking.
    seen: usize,
    status: Option<ExitStatus>,
}

impl Pty {
    /// Runs `cmd` as the leader of a new session whose controlling terminal is a new pty.
    fn spawn(cmd: Command) -> Pty {
        use rustix::fs::{Mode, OFlags};
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave_path = PathBuf::from(name.to_str().expect("pty names are UTF-8"));
        let slave = rustix::fs::open(&slave_path, OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())
            .expect("open the pty slave");
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the slave"));
        let mut setsid = Command::new("setsid");
        setsid.arg("--ctty").arg(cmd.get_program()).args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            setsid.current_dir(dir);
        }
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => setsid.env(k, v),
                None => setsid.env_remove(k),
            };
        }
        setsid.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave));
        let child = setsid.spawn().expect("spawn setsid --ctty (util-linux)");
        drop(slave);
        let master = Arc::new(master);
        let out = Arc::new(Mutex::new(Vec::new()));
        let (m, o) = (Arc::clone(&master), Arc::clone(&out));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last process holding the slave is gone: the end.
            while let Ok(n) = rustix::io::read(m.as_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().expect("output lock").extend_from_slice(&buf[..n]);
            }
        });
        Pty { master, slave: slave_path, out, child, seen: 0, status: None }
    }

    /// The session's id: the pid of the process `setsid` became.
    fn sid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the terminal showed so far.
    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("output lock")).into_owned()
    }

    /// Types `bytes`.
    fn send(&self, bytes: &[u8]) {
        let mut left = bytes;
        while !left.is_empty() {
            let n = rustix::io::write(self.master.as_fd(), left).expect("write to the pty");
            left = &left[n..];
        }
    }

    /// Waits until `needle` appears after what earlier waits saw; the next wait looks after it.
    fn wait_for(&mut self, needle: &str) {
        let mut at = None;
        let from = self.seen;
        let found = wait_until(|| {
            let out = self.out.lock().expect("output lock");
            let tail = String::from_utf8_lossy(out.get(from..).unwrap_or_default()).into_owned();
            at = tail.find(needle).map(|i| from + i + needle.len());
            at.is_some()
        });
        assert!(found, "timed out after {TIMEOUT:?} waiting for {needle:?}\n--- the terminal ---\n{}", self.output());
        self.seen = at.unwrap_or(self.seen);
    }

    /// Waits until every one of `needles` appears after what earlier waits saw, in any order (what the command
    /// prints and what stator prints about it come from two processes); the next wait looks after the last.
    fn wait_for_all(&mut self, needles: &[&str]) {
        let from = self.seen;
        let mut end = from;
        let found = wait_until(|| {
            let out = self.out.lock().expect("output lock");
            let tail = String::from_utf8_lossy(out.get(from..).unwrap_or_default()).into_owned();
            let ends: Option<Vec<usize>> = needles.iter().map(|n| tail.find(n).map(|i| from + i + n.len())).collect();
            end = ends.and_then(|e| e.into_iter().max()).unwrap_or(from);
            end > from
        });
        assert!(found, "timed out after {TIMEOUT:?} waiting for {needles:?}\n--- the terminal ---\n{}", self.output());
        self.seen = end;
    }

    /// How many times `needle` appeared so far.
    fn count(&self, needle: &str) -> usize {
        self.output().matches(needle).count()
    }

    /// Waits for the session leader to exit; returns its status.
    fn wait_exit(&mut self) -> ExitStatus {
        let done = self.exits_within(TIMEOUT);
        assert!(done, "timed out waiting for the session leader to exit\n--- the terminal ---\n{}", self.output());
        self.status.expect("exited")
    }

    /// Whether the session leader exits within `bound`.
    fn exits_within(&mut self, bound: Duration) -> bool {
        support::wait_until(bound, POLL, || {
            if self.status.is_none() {
                self.status = self.child.try_wait().expect("try_wait");
            }
            self.status.is_some()
        })
    }

    /// Waits for a condition, failing with the terminal's contents.
    fn wait(&self, what: &str, cond: impl FnMut() -> bool) {
        assert!(wait_until(cond), "timed out waiting for {what}\n--- the terminal ---\n{}", self.output());
    }

    /// The session member running `program` with an argument containing `arg` ([`find`]), waited for: a shell
    /// prints what a test waits for before it forks or execs the program.
    fn process(&self, program: &str, arg: &str) -> i32 {
        let mut pid = None;
        self.wait(&format!("{program} ({arg}) to run"), || {
            pid = find(self.sid(), program, arg);
            pid.is_some()
        });
        pid.expect("found")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Stator first, and gently: one killed with SIGKILL leaves its private directories in the temp dir.
        let stator = fs::canonicalize(env!("CARGO_BIN_EXE_stator")).ok();
        let stators: Vec<i32> = session_members(self.sid())
            .into_iter()
            .filter(|pid| stator.is_some() && fs::read_link(format!("/proc/{pid}/exe")).ok() == stator)
            .collect();
        for &pid in &stators {
            kill(pid, Signal::TERM);
        }
        support::wait_until(Duration::from_secs(5), POLL, || stators.iter().all(|&pid| !alive(pid)));
        for _ in 0..100 {
            let left = session_members(self.sid());
            if left.is_empty() {
                break;
            }
            for pid in left {
                kill(pid, Signal::KILL);
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid of a live process in session `sid` whose program's name starts with `program` and one of whose
/// arguments contains `arg` (the sentinel, `stator __stator_sentinel ...`, is never one).
fn find(sid: i32, program: &str, arg: &str) -> Option<i32> {
    session_members(sid).into_iter().find(|&pid| {
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
        let args: Vec<String> = raw.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let name = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()).unwrap_or_default();
        name.starts_with(program)
            && args.iter().skip(1).any(|a| a.contains(arg))
            && !args.iter().any(|a| a == "__stator_sentinel")
    })
}

const ASK: &str = "name = input('name? ')\nprint('hello', name)\n";

#[test]
fn input_gets_what_is_typed_and_a_restart_hands_the_terminal_to_the_new_run() {
    let dir = Dir::new();
    let ask = dir.write("ask.py", ASK);
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "ask.py", "--", "python3", "ask.py"]].concat()));
    pty.wait_for("name? ");
    pty.send(b"bob\n");
    pty.wait_for("hello bob");
    pty.wait_for_all(&["command ended (run 1): exit status: 0", "waiting for changes, or press Enter"]);

    // Edited while run 2 waits at its prompt: run 3 gets the terminal in its turn.
    fs::write(&ask, format!("{ASK}# v2\n")).expect("edit");
    pty.wait_for_all(&["started (run 2)", "name? "]);
    fs::write(&ask, format!("{ASK}# v3, longer\n")).expect("edit");
    pty.wait_for_all(&["restarted (run 3)", "name? "]);
    pty.send(b"carol\n");
    pty.wait_for("hello carol");
}

#[test]
fn pdb_at_a_breakpoint_takes_c() {
    let dir = Dir::new();
    dir.write("dbg.py", "x = 41\nbreakpoint()\nprint('after', x + 1)\n");
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "dbg.py", "--", "python3", "dbg.py"]].concat()));
    pty.wait_for("(Pdb) ");
    pty.send(b"p x\n");
    pty.wait_for("41");
    pty.send(b"c\n");
    pty.wait_for("after 42");
    pty.wait_for("command ended (run 1): exit status: 0");
}

#[test]
fn ctrl_c_at_a_pdb_prompt_does_not_end_stator_which_keeps_watching() {
    let dir = Dir::new();
    let script = dir.write("dbg.py", "x = 1\nbreakpoint()\nprint('after', x)\ninput('more? ')\n");
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "dbg.py", "--", "python3", "dbg.py"]].concat()));
    pty.wait_for("(Pdb) ");
    pty.send(b"\x03");
    pty.wait_for("KeyboardInterrupt");
    pty.wait_for("(Pdb) ");
    pty.send(b"p x + 1\n");
    pty.wait_for("2");
    pty.send(b"c\n");
    pty.wait_for("after 1");
    pty.wait_for("more? ");
    // Still watching: an edit restarts the command, which gets the terminal.
    fs::write(&script, "x = 7\nbreakpoint()\nprint('after', x)\ninput('more? ')\n").expect("edit");
    pty.wait_for_all(&["restarted (run 2)", "(Pdb) "]);
    pty.send(b"p x\n");
    pty.wait_for("7");
    assert!(!pty.output().contains("exiting"), "{}", pty.output());
}

#[test]
fn a_second_ctrl_c_soon_after_the_first_ends_everything() {
    let dir = Dir::new();
    dir.write("dbg.py", "breakpoint()\n");
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "dbg.py", "--", "python3", "dbg.py"]].concat()));
    pty.wait_for("(Pdb) ");
    let python = pty.process("python", "dbg.py");
    // The first is pdb's (it prints a new prompt); the second, within a second, is stator's. The second is sent
    // as soon as pdb has answered the first, in milliseconds; on a loaded machine an answer can take longer than
    // the second stator allows, and that second Ctrl-C is a first one again: then the pair is tried again.
    for pair in 1.. {
        let answers = pty.count("KeyboardInterrupt");
        pty.send(b"\x03");
        pty.wait("pdb to catch the first Ctrl-C", || pty.count("KeyboardInterrupt") > answers);
        pty.send(b"\x03");
        if pty.exits_within(Duration::from_secs(3)) {
            break;
        }
        assert!(pair < 5, "no second Ctrl-C ended stator in {pair} pairs\n{}", pty.output());
    }
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", pty.output());
    assert!(pty.output().contains("second Ctrl-C"), "{}", pty.output());
    pty.wait("python to be gone", || !alive(python));
    let sid = pty.sid();
    pty.wait("nothing left in the session", || session_members(sid).is_empty());
}

/// Ctrl-C at a server holding the terminal: stator exits 130, and nothing of the command is left.
fn ctrl_c_ends(dir: &Dir, command: &[&str], ready: &str, server: (&str, &str)) {
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "src", "--"], command].concat()));
    pty.wait_for(ready);
    let pid = pty.process(server.0, server.1);
    pty.send(b"\x03");
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", pty.output());
    pty.wait("the server to be gone", || !alive(pid));
    let sid = pty.sid();
    pty.wait("nothing left in the session", || session_members(sid).is_empty());
}

#[test]
fn ctrl_c_to_a_server_ends_stator_with_130_and_nothing_is_left_running() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    // http.server catches the KeyboardInterrupt and exits 0.
    ctrl_c_ends(
        &dir,
        &["python3", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        "Serving HTTP on 127.0.0.1",
        ("python", "http.server"),
    );
    // A launcher whose server runs in the background of its shell, where SIGINT is ignored: the shell dies of it,
    // the server is stopped with the group.
    // (The words the tests wait for are never in the command line, which stator prints.)
    let script = r#""$SLEEP" 1000 & printf 'serv%s\n' ing; wait"#;
    ctrl_c_ends(&dir, &["sh", "-c", script], "serving", ("sleep", "1000"));
}

/// `--ready-log` reads the command's output through pipes: its stdout is no terminal any more, but its stdin is,
/// and what is typed and Ctrl-C still reach it.
#[test]
fn ready_log_pipes_the_output_and_the_terminal_still_belongs_to_the_command() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    // (The words the tests wait for are never in the command line, which stator prints.)
    let script = r#"[ -t 0 ] && i=tty || i=notty; [ -t 1 ] && o=tty || o=pipe; printf 'in=%s out=%s\n' "$i" "$o"
printf 'nam%s ' 'e?'; read n; printf 'hi %s\n' "$n"; printf 'up%s\n' ' now'; exec "$SLEEP" 1000"#;
    let args = [&FAST[..], &["-w", "src", "--ready-log", "^up now$", "--", "sh", "-c", script]].concat();
    let mut pty = Pty::spawn(dir.stator(&args));
    pty.wait_for("in=tty out=pipe");
    // A prompt without a newline shows at once.
    pty.wait_for("name? ");
    pty.send(b"bob\n");
    pty.wait_for("hi bob");
    pty.wait_for("ready after");
    let sleep = pty.process("sleep", "1000");
    pty.send(b"\x03");
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", pty.output());
    pty.wait("the command to be gone", || !alive(sleep));
}

/// A Ctrl-C typed as a restart begins to stop the command: the command dies of it before the sentinel's word of
/// it is read. Stator ends as at any Ctrl-C, and starts nothing. (The command dies of SIGINT at the stop signal
/// here: the same end, without the race.)
#[test]
fn a_command_that_dies_of_sigint_as_a_restart_stops_it_ends_stator() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    let script = r#"trap 'trap - INT; kill -INT $$' TERM; printf 'rea%s\n' dy; "$SLEEP" 1000 & wait"#;
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    pty.wait_for("ready");
    fs::write(dir.join("src/main.txt"), "v2\n").expect("edit");
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", pty.output());
    assert!(!pty.output().contains("run 2"), "{}", pty.output());
    assert_eq!(pty.count("ready"), 1, "{}", pty.output());
}

#[test]
fn ctrl_c_while_a_restart_waits_for_the_command_to_stop_ends_stator() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    // Deaf to SIGTERM (the ignored disposition survives exec): the restart would wait the whole stop timeout.
    let script = r#"trap '' TERM; printf 'rea%s\n' dy; exec "$SLEEP" 1000"#;
    let args = [&FAST[..], &["--stop-timeout", "60s", "-w", "src", "--", "sh", "-c", script]].concat();
    let mut pty = Pty::spawn(dir.stator(&args));
    pty.wait_for("ready");
    let sleep = pty.process("sleep", "1000");
    fs::write(dir.join("src/main.txt"), "v2\n").expect("edit");
    pty.wait_for("changed:");
    pty.send(b"\x03");
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", pty.output());
    assert!(!pty.output().contains("restarted"), "nothing started after the Ctrl-C\n{}", pty.output());
    assert!(!alive(sleep));
    let sid = pty.sid();
    pty.wait("nothing left in the session", || session_members(sid).is_empty());
}

#[test]
fn stty_raw_then_a_kill_the_terminal_modes_are_restored() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    let script = r#"stty raw -echo; echo "$$" > "$DIR/pid"; printf 'raw%s' -now; exec "$SLEEP" 1000"#;
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    pty.wait_for("raw-now");
    let slave = pty.slave.clone();
    let raw = modes(&slave);
    pty.wait("the command's pid", || read_pid(&dir.join("pid")).is_some());
    let pid = read_pid(&dir.join("pid")).expect("pid");
    kill(pid, Signal::KILL);
    pty.wait_for("command ended (run 1): signal: 9");
    let restored = modes(&slave);
    assert_ne!(restored, raw, "the modes were restored after the kill");
    // The same as a fresh terminal's: what stator found at start.
    let fresh = Pty::spawn(dir.stator(&["--list"]));
    let want = modes(&fresh.slave);
    assert_eq!(restored, want, "restored (left) and fresh (right); raw was {raw}\n{}", pty.output());
    // And the next run starts from them too: Enter (the terminal is cooked again) runs it once more.
    pty.send(b"\n");
    pty.wait_for("raw-now");
}

#[test]
fn ctrl_z_suspends_the_command_and_stator_and_fg_resumes_both() {
    let dir = Dir::new();
    dir.write("ask.py", ASK);
    let mut cmd = Command::new("bash");
    cmd.args(["--norc", "--noprofile", "-i"]);
    dir.prepare(&mut cmd);
    cmd.env("PS1", "READY> ");
    let mut pty = Pty::spawn(cmd);
    pty.wait_for("READY> ");
    let stator = env!("CARGO_BIN_EXE_stator");
    pty.send(format!("{stator} {} -w ask.py -- python3 ask.py\n", FAST.join(" ")).as_bytes());
    pty.wait_for("name? ");
    let python = pty.process("python", "ask.py");
    let stator_pid = pty.process("stator", "ask.py");

    pty.send(b"\x1a");
    pty.wait_for("Stopped");
    pty.wait_for("READY> ");
    let stopped = |pid: i32| proc_stat(pid).is_some_and(|(state, ..)| state == 'T');
    pty.wait("the command and stator to be stopped", || stopped(python) && stopped(stator_pid));

    pty.send(b"fg\n");
    pty.wait_for("resumed");
    pty.wait("both to run again", || !stopped(python) && !stopped(stator_pid));
    pty.send(b"alice\n");
    pty.wait_for("hello alice");
    pty.wait_for("press Enter");
    // Stator has the terminal again: Ctrl-C ends it, and bash gets its prompt back.
    pty.send(b"\x03");
    pty.wait_for("READY> ");
    pty.send(b"echo \"status=$?\"\n");
    pty.wait_for("status=130");
}

#[test]
fn enter_after_a_crash_runs_the_command_again() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    let script = r#"echo "run $STATOR_RUN"; exit 1"#;
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    pty.wait_for_all(&["run 1", "command ended (run 1): exit status: 1", "waiting for changes, or press Enter"]);
    pty.send(b"\n");
    pty.wait_for("Enter: running the command again");
    pty.wait_for("run 2");
    pty.wait_for("or press Enter");
    pty.send(b"\n");
    pty.wait_for("run 3");
}

#[test]
fn a_run_that_cannot_start_leaves_the_terminal_with_stator() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    let app = dir.write("app.sh", "#!/bin/sh\necho \"run-$STATOR_RUN\"\nexit 1\n");
    let mode = |m: u32| fs::set_permissions(&app, fs::Permissions::from_mode(m)).expect("chmod");
    mode(0o755);
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "app.sh", "--", "./app.sh"]].concat()));
    pty.wait_for("run-1");
    pty.wait_for("or press Enter");
    // Not executable any more: the child takes the terminal before its exec fails; stator takes it back.
    mode(0o644);
    fs::write(&app, "#!/bin/sh\necho \"run-$STATOR_RUN\"\nexit 1\n# v2\n").expect("edit");
    pty.wait_for("permission denied");
    let sid = pty.sid();
    pty.wait("stator to be the terminal's foreground again", || tpgid(sid) == Some(sid));
    // Enter reaches stator (the run that fails again gives the terminal back again), and a change still does.
    pty.send(b"\n");
    pty.wait_for("Enter: running the command again");
    pty.wait("the second attempt to fail", || pty.count("permission denied") == 2);
    pty.wait("stator to be the terminal's foreground again", || tpgid(sid) == Some(sid));
    mode(0o755);
    pty.wait_for("run-2");
    assert_eq!(pty.output().matches("Enter: running").count(), 1, "{}", pty.output());
}

#[test]
fn sigusr1_restarts_the_command_at_any_time() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    let script = r#"echo "run $STATOR_RUN"; exec "$SLEEP" 1000"#;
    let mut pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    pty.wait_for("run 1");
    let sid = pty.sid();
    let first = pty.process("sleep", "1000");
    kill(sid, Signal::USR1);
    pty.wait_for("SIGUSR1: restarting the command");
    pty.wait_for("run 2");
    assert!(!alive(first), "run 1 was stopped before run 2 started");
}

#[test]
fn a_trigger_file_restarts_the_command_whatever_the_filters_and_on_busy_say() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    let script = r#"echo "run $STATOR_RUN"; exec "$SLEEP" 1000"#;
    let args = [&FAST[..], &["-w", "src", "-e", "py", "--on-busy", "queue", "--trigger", ".reload", "--"]].concat();
    let mut pty = Pty::spawn(dir.stator(&[&args[..], &["sh", "-c", script]].concat()));
    pty.wait_for("run 1");
    // It need not exist: its appearance is a change.
    fs::write(dir.join(".reload"), "").expect("touch");
    pty.wait_for_all(&["restarted (run 2)", "run 2\r\n"]);
    let later = filetime::FileTime::from_unix_time(2_000_000_000, 0);
    filetime::set_file_mtime(dir.join(".reload"), later).expect("touch");
    pty.wait_for("restarted (run 3)");
}

#[test]
fn a_command_stopped_by_the_terminal_is_reported_once_per_run() {
    let dir = Dir::new();
    let ask = dir.write("ask.py", ASK);
    let args = [&FAST[..], &["--no-tty", "-w", "ask.py", "--", "python3", "ask.py"]].concat();
    let mut pty = Pty::spawn(dir.stator(&args));
    let message = "the command is stopped: it tried to read the terminal";
    pty.wait_for(message);
    assert!(pty.output().contains("--no-tty"), "{}", pty.output());
    let python = pty.process("python", "ask.py");
    assert_eq!(proc_stat(python).map(|s| s.0), Some('T'), "stopped by SIGTTIN");
    fs::write(&ask, format!("{ASK}# v2\n")).expect("edit");
    pty.wait_for("restarted (run 2)");
    pty.wait_for(message);
    assert_eq!(pty.count(message), 2, "{}", pty.output());
}

/// A stator running with or without a terminal.
enum Running {
    Plain(Child),
    Terminal(Pty),
}

impl Running {
    /// Stator without a terminal, its output dropped.
    fn plain(mut cmd: Command) -> Running {
        Running::Plain(cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn"))
    }

    /// Stator on a terminal of its own.
    fn terminal(cmd: Command) -> Running {
        Running::Terminal(Pty::spawn(cmd))
    }

    fn running(&mut self) -> bool {
        let child = match self {
            Running::Plain(child) => child,
            Running::Terminal(pty) => &mut pty.child,
        };
        child.try_wait().expect("try_wait").is_none()
    }
}

/// `sh -c '"$SLEEP" 1000 & wait'`: a launcher and its server; stator is killed with SIGKILL.
fn sigkill_leaves_nothing(dir: &Dir, spawn: impl FnOnce(Command) -> Running) {
    fs::create_dir_all(dir.join("src")).expect("mkdir");
    let script = r#"echo "$STATOR_CHANGED_FILE" > "$DIR/lists"; echo "$STATOR_WATCH_FILE" >> "$DIR/lists"
        "$SLEEP" 1000 & echo $! > "$DIR/server.pid"; echo $$ > "$DIR/launcher.pid"; wait"#;
    let mut running = spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    let started = || read_pid(&dir.join("server.pid")).is_some() && read_pid(&dir.join("launcher.pid")).is_some();
    assert!(wait_until(started), "the launcher did not start its server");
    let server = read_pid(&dir.join("server.pid")).expect("server pid");
    let launcher = read_pid(&dir.join("launcher.pid")).expect("launcher pid");
    let stator = proc_stat(launcher).expect("the launcher runs").1;
    assert!(alive(server));
    kill(stator, Signal::KILL);
    assert!(wait_until(|| !running.running()), "stator did not die");
    assert!(wait_until(|| !alive(server) && !alive(launcher)), "the server or its launcher outlived stator");
    let marker = dir.sleep();
    assert!(wait_until(|| pids_with(&marker).is_empty()), "left running: {:?}", pids_with(&marker));
    // A killed stator cannot remove its private directories: the sentinel does.
    for list in fs::read_to_string(dir.join("lists")).expect("the lists' paths").lines() {
        let private = Path::new(list).parent().expect("a private directory").to_path_buf();
        assert!(wait_until(|| !private.exists()), "left behind: {}", private.display());
    }
}

#[test]
fn sigkill_of_stator_with_a_launcher_leaves_nothing_running() {
    // Without a terminal: the sentinel has a process group of its own.
    let dir = Dir::new();
    sigkill_leaves_nothing(&dir, Running::plain);
    // With the terminal handed to the command: the sentinel is in its group.
    let dir = Dir::new();
    sigkill_leaves_nothing(&dir, Running::terminal);
}

/// A command that kills stator the moment it runs, after starting its server: stator has not even returned from
/// starting it. The sentinel watches the group before the command's `exec`, so the server dies all the same.
fn killed_at_once_leaves_nothing(dir: &Dir, spawn: impl FnOnce(Command) -> Running) {
    fs::create_dir_all(dir.join("src")).expect("mkdir");
    let script = r#""$SLEEP" 1000 & echo $! > "$DIR/server.pid"; kill -KILL "$PPID"; wait"#;
    let mut running = spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    assert!(wait_until(|| !running.running()), "stator was not killed");
    assert!(wait_until(|| read_pid(&dir.join("server.pid")).is_some()), "the command did not start its server");
    let server = read_pid(&dir.join("server.pid")).expect("server pid");
    assert!(wait_until(|| !alive(server)), "the server outlived stator");
    let marker = dir.sleep();
    assert!(wait_until(|| pids_with(&marker).is_empty()), "left running: {:?}", pids_with(&marker));
}

#[test]
fn a_command_that_kills_stator_as_it_starts_leaves_nothing_running() {
    let dir = Dir::new();
    killed_at_once_leaves_nothing(&dir, Running::plain);
    let dir = Dir::new();
    killed_at_once_leaves_nothing(&dir, Running::terminal);
}

/// With the terminal, the sentinel is in the command's group before the command's first instruction: the command
/// finds it there at once, among stator's children (by its own builtins only: a forked `cat` would be in the
/// group too, and a slower look would give a late sentinel the time to get there).
#[test]
fn the_sentinel_is_in_the_commands_group_before_the_command_runs() {
    let dir = Dir::new();
    fs::create_dir(dir.join("src")).expect("mkdir");
    let script = r#"w=no; for t in /proc/$PPID/task/*/children; do read -r kids < "$t"; for k in $kids; do
        read -r line < "/proc/$k/stat"; set -- $line; [ "$1" != "$$" ] && [ "$5" = "$$" ] && w=yes; done; done
        echo "watch$w"; exec "$SLEEP" 1000"#;
    let pty = Pty::spawn(dir.stator(&[&FAST[..], &["-w", "src", "--", "sh", "-c", script]].concat()));
    pty.wait("the command's answer", || pty.output().contains("watchyes") || pty.output().contains("watchno"));
    assert!(pty.output().contains("watchyes"), "{}", pty.output());
}
