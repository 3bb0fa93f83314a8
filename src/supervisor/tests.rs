//! The supervisor on real processes: `sh -c` scripts in temporary directories. No sleep synchronises anything:
//! every wait is a bounded poll for an outcome, and no assertion is about how long something took.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::unix::parse_stat;
use super::*;
// How the command's exit code follows from a spawn error is decided with the other exit codes.
use crate::exit::Exit;

const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` every 20 ms until it holds; fails the test after `PATIENCE`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "gave up after {PATIENCE:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls the supervisor until it reports something.
fn next_effect(sup: &mut Supervisor, what: &str) -> Effect {
    let mut got = None;
    wait_until(what, || {
        got = sup.poll(Instant::now()).unwrap();
        got.is_some()
    });
    got.unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// Options running `script` with `sh -c`, in `dir`.
fn sh(dir: &Path, script: &str) -> Options {
    let script = format!("cd '{}' || exit 99\n{script}", dir.display());
    Options {
        command: vec!["sh".into(), "-c".into(), script.into()],
        stop_timeout: Duration::from_secs(5),
        ..Options::default()
    }
}

/// Whether a process is gone: no such pid, or only its zombie is left (the PID 1 of some machines and containers
/// never reaps the orphans it inherits).
fn gone(pid: i32) -> bool {
    match fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_some_and(|(state, _)| state == b'Z' || state == b'X'),
        Err(_) => true,
    }
}

fn read_pids(path: &Path) -> Vec<i32> {
    lines(path).iter().map(|l| l.trim().parse().unwrap()).collect()
}

fn exited_with(status: &ExitStatus, code: i32) -> bool {
    status.code() == Some(code)
}

#[test]
fn parses_proc_stat_with_awkward_names() {
    assert_eq!(parse_stat(b"42 (sleep) S 1 42 42 0 -1"), Some((b'S', 42)));
    assert_eq!(parse_stat(b"42 (a) b) (c) Z 7 99 42 0"), Some((b'Z', 99)));
    assert_eq!(parse_stat(b"42 (x"), None);
}

#[test]
fn each_restart_is_one_start_and_the_child_learns_its_run_number() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut sup = Supervisor::new(sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exec sleep 1000"));
    sup.start(&[]).unwrap();
    wait_until("first start", || lines(&log).len() == 1);
    for n in 2..=4u64 {
        match sup.changed(&[PathBuf::from("a.rs")], Instant::now()).unwrap() {
            Some(Effect::Restarted { run, previous: Some(old) }) => {
                assert_eq!(run, n);
                assert_eq!(old.signal(), Some(Signal::Term.number()), "{old:?}");
            }
            other => panic!("{other:?}"),
        }
        wait_until("the restarted child", || lines(&log).len() == n as usize);
    }
    let last = sup.shutdown().unwrap();
    assert_eq!(last.signal(), Some(Signal::Term.number()));
    assert_eq!(lines(&log), ["1", "2", "3", "4"]);
    assert_eq!(sup.runs(), 4);
    assert!(sup.poll(Instant::now()).unwrap().is_none());
    assert_eq!(sup.changed(&[], Instant::now()).unwrap().map(|o| format!("{o:?}")), None);
    assert_eq!(lines(&log).len(), 4);
}

#[test]
fn restart_and_shutdown_leave_no_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let script = "sleep 1000 & echo $! >> gc.pid; echo $$ >> sh.pid; wait";
    let mut sup = Supervisor::new(sh(dir.path(), script));
    sup.start(&[]).unwrap();
    let (gc, shp) = (dir.path().join("gc.pid"), dir.path().join("sh.pid"));
    wait_until("first child and grandchild", || lines(&gc).len() == 1 && lines(&shp).len() == 1);
    let first = [read_pids(&gc)[0], read_pids(&shp)[0]];
    assert!(!gone(first[0]) && !gone(first[1]));

    sup.changed(&[], Instant::now()).unwrap();
    // Stopping is synchronous: both are gone by the time `changed` returns.
    assert!(gone(first[0]), "grandchild {} survived the restart", first[0]);
    assert!(gone(first[1]), "child {} survived the restart", first[1]);

    wait_until("second child and grandchild", || lines(&gc).len() == 2 && lines(&shp).len() == 2);
    let second = [read_pids(&gc)[1], read_pids(&shp)[1]];
    sup.shutdown().unwrap();
    assert!(gone(second[0]), "grandchild {} survived the shutdown", second[0]);
    assert!(gone(second[1]), "child {} survived the shutdown", second[1]);
}

#[test]
fn a_child_ignoring_the_stop_signal_is_killed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sh(dir.path(), "trap '' TERM; echo up >> log; sleep 1000");
    opts.stop_timeout = Duration::from_millis(300);
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&dir.path().join("log")).len() == 1);
    let status = sup.shutdown().unwrap();
    assert_eq!(status.signal(), Some(Signal::Kill.number()), "{status:?}");
}

#[test]
fn a_grandchild_ignoring_the_stop_signal_is_killed_after_the_child_exits() {
    let dir = tempfile::tempdir().unwrap();
    let script = "(trap '' TERM; exec sleep 1000) & echo $! > gc.pid; wait";
    let mut opts = sh(dir.path(), script);
    opts.stop_timeout = Duration::from_millis(300);
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    let gc = dir.path().join("gc.pid");
    wait_until("grandchild", || lines(&gc).len() == 1);
    let pid = read_pids(&gc)[0];
    // The shell dies of SIGTERM; its stubborn grandchild must not outlive it.
    let status = sup.shutdown().unwrap();
    assert_eq!(status.signal(), Some(Signal::Term.number()), "{status:?}");
    assert!(gone(pid), "grandchild {pid} survived");
}

#[test]
fn the_old_childs_port_is_free_when_the_new_child_starts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    // No SO_REUSEADDR: the bind fails (and python exits 1) if the old server still holds the port.
    let script = format!(
        "exec python3 -c \"\n\
         import socket, time\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', {port}))\n\
         s.listen()\n\
         open('bound', 'a').write('bound\\n')\n\
         time.sleep(1000)\n\
         \""
    );
    let mut sup = Supervisor::new(sh(dir.path(), &script));
    let bound = dir.path().join("bound");
    sup.start(&[]).unwrap();
    wait_until("the first server bound the port", || lines(&bound).len() == 1);
    sup.changed(&[], Instant::now()).unwrap();
    wait_until("the second server bound the same port", || lines(&bound).len() == 2);
    let status = sup.shutdown().unwrap();
    // It was still serving, not dead of a bind error: the stop ended it.
    assert_eq!(status.signal(), Some(Signal::Term.number()), "{status:?}");
    assert_eq!(lines(&bound), ["bound", "bound"]);
}

#[test]
fn queue_mode_starts_once_after_the_child_exits_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // Each run works until the test releases it.
    let script = "echo \"$STATOR_RUN\" >> log; while [ ! -e release.$STATOR_RUN ]; do sleep 0.02; done";
    let mut sup = Supervisor::new(Options { on_busy: OnBusy::Queue, ..sh(dir.path(), script) });
    sup.start(&[]).unwrap();
    wait_until("first run", || lines(&log).len() == 1);
    for _ in 0..3 {
        assert!(matches!(sup.changed(&[], Instant::now()).unwrap(), Some(Effect::Queued)));
    }
    assert_eq!(sup.runs(), 1);
    fs::write(dir.path().join("release.1"), "").unwrap();
    match next_effect(&mut sup, "the queued restart") {
        Effect::Restarted { run: 2, previous: Some(status) } => assert!(exited_with(&status, 0), "{status:?}"),
        other => panic!("{other:?}"),
    }
    wait_until("second run", || lines(&log).len() == 2);
    fs::write(dir.path().join("release.2"), "").unwrap();
    match next_effect(&mut sup, "the second run's exit") {
        Effect::Exited(status) => assert!(exited_with(&status, 0), "{status:?}"),
        other => panic!("{other:?}"),
    }
    for _ in 0..5 {
        assert!(sup.poll(Instant::now()).unwrap().is_none());
    }
    assert_eq!(lines(&log), ["1", "2"]);
    assert_eq!(sup.policy().phase(), Phase::Idle);
}

#[test]
fn signal_mode_says_each_time_the_list_of_changes_cannot_be_written_and_keeps_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // Each trap ends by writing to `done`: the next signal is sent only then, so it never lands in the middle of a
    // trap (where it would kill the trap's `cat`, or make it read the next list).
    let done = dir.path().join("done");
    let script = "trap 'echo hup >> log; cat \"$STATOR_CHANGED_FILE\" >> log 2>/dev/null; echo >> done' HUP\n\
                  echo up >> log\n\
                  while :; do sleep 1000 & wait; done";
    let opts = Options { on_busy: OnBusy::Signal, reload_signal: Signal::Hup, ..sh(dir.path(), script) };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&log) == ["up"]);
    // The private directory holding the list goes away: every write of the list fails.
    let private = sup.changed_file().unwrap().parent().unwrap().to_path_buf();
    fs::remove_dir_all(&private).unwrap();
    for (path, hups) in [("a.py", 2), ("b.py", 3)] {
        match sup.changed(&[PathBuf::from(path)], Instant::now()).unwrap() {
            Some(Effect::SignalledWithoutList { signal: Signal::Hup, error }) => {
                assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
            }
            other => panic!("{path}: {other:?}"),
        }
        // The signal still went.
        wait_until("a hup", || lines(&done).len() == hups - 1);
        assert_eq!(lines(&log).len(), hups);
    }
    // Once the list can be written again, it holds every path the child was not told about.
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    assert!(matches!(
        sup.changed(&[PathBuf::from("c.py")], Instant::now()).unwrap(),
        Some(Effect::Signalled(Signal::Hup))
    ));
    wait_until("the third hup and its list", || lines(&done).len() == 3);
    assert_eq!(lines(&log), ["up", "hup", "hup", "hup", "a.py", "b.py", "c.py"]);
    sup.kill_now();
}

#[test]
fn signal_mode_signals_the_running_child_and_tells_it_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = "trap 'echo hup >> log; cat \"$STATOR_CHANGED_FILE\" >> log' HUP\n\
                  echo up >> log\n\
                  while :; do sleep 1000 & wait; done";
    let opts = Options { on_busy: OnBusy::Signal, reload_signal: Signal::Hup, ..sh(dir.path(), script) };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&log) == ["up"]);
    let pid = sup.pid().unwrap();
    assert!(matches!(
        sup.changed(&[PathBuf::from("a.py")], Instant::now()).unwrap(),
        Some(Effect::Signalled(Signal::Hup))
    ));
    wait_until("the first hup", || lines(&log).len() == 3);
    assert!(matches!(
        sup.changed(&[PathBuf::from("b.py")], Instant::now()).unwrap(),
        Some(Effect::Signalled(Signal::Hup))
    ));
    wait_until("the second hup", || lines(&log).len() == 5);
    assert_eq!(lines(&log), ["up", "hup", "a.py", "hup", "b.py"]);
    assert_eq!((sup.runs(), sup.pid()), (1, Some(pid)));
    // Stopping uses the stop signal (TERM), not the reload signal the child traps: it stops at once, where HUP
    // would have left it running until the timeout and SIGKILL.
    sup.opts.stop_timeout = PATIENCE;
    let status = sup.shutdown().unwrap();
    assert_eq!(status.signal(), Some(Signal::Term.number()), "{status:?}");
}

#[test]
fn a_stop_signal_the_child_traps_ends_in_sigkill_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = "trap 'echo hup >> log' HUP\necho up >> log\nwhile :; do sleep 1000 & wait; done";
    let opts = Options {
        on_busy: OnBusy::Signal,
        stop_signal: Signal::Hup,
        stop_timeout: Duration::from_millis(200),
        ..sh(dir.path(), script)
    };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&log) == ["up"]);
    let status = sup.shutdown().unwrap();
    assert_eq!(status.signal(), Some(Signal::Kill.number()), "{status:?}");
}

#[test]
fn on_exit_wait_reports_and_waits_for_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut sup = Supervisor::new(sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exit 7"));
    sup.start(&[]).unwrap();
    match next_effect(&mut sup, "the exit") {
        Effect::Exited(status) => assert!(exited_with(&status, 7), "{status:?}"),
        other => panic!("{other:?}"),
    }
    for _ in 0..5 {
        assert!(sup.poll(Instant::now() + Duration::from_secs(3600)).unwrap().is_none());
    }
    assert_eq!(lines(&log), ["1"]);
    assert!(matches!(sup.changed(&[], Instant::now()).unwrap(), Some(Effect::Started { run: 2 })));
    wait_until("second run", || lines(&log).len() == 2);
}

#[test]
fn a_change_after_an_unnoticed_exit_starts_a_child() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let opts = Options { on_busy: OnBusy::Signal, ..sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exit 4") };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("first run", || lines(&log).len() == 1);
    let pid = sup.pid().unwrap() as i32;
    wait_until("its exit", || fs::read(format!("/proc/{pid}/stat")).is_ok_and(|s| parse_stat(&s).unwrap().0 == b'Z'));
    // No poll in between: the change must not be spent signalling a dead child.
    match sup.changed(&[], Instant::now()).unwrap() {
        Some(Effect::Restarted { run: 2, previous: Some(status) }) => assert!(exited_with(&status, 4)),
        other => panic!("{other:?}"),
    }
    wait_until("second run", || lines(&log).len() == 2);
}

#[test]
fn on_exit_exit_passes_the_code_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(Options { on_exit: OnExit::Exit, ..sh(dir.path(), "exit 7") });
    sup.start(&[]).unwrap();
    match next_effect(&mut sup, "the exit") {
        Effect::Exit { status, code: 7 } => assert!(exited_with(&status, 7)),
        other => panic!("{other:?}"),
    }
    assert!(sup.changed(&[], Instant::now()).unwrap().is_none());
    assert_eq!(sup.runs(), 1);
}

#[test]
fn on_exit_exit_after_death_by_signal_is_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(Options { on_exit: OnExit::Exit, ..sh(dir.path(), "kill -USR1 $$; sleep 1000") });
    sup.start(&[]).unwrap();
    let usr1 = Signal::Usr1.number();
    match next_effect(&mut sup, "the death") {
        Effect::Exit { status, code } => {
            assert_eq!(status.signal(), Some(usr1));
            assert_eq!(code, 128 + usr1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn on_exit_restart_backs_off_then_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let opts = Options { on_exit: OnExit::Restart, ..sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exit 1") };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    let mut seen_at = Instant::now();
    let mut until = None;
    wait_until("the crash", || {
        seen_at = Instant::now();
        match sup.poll(seen_at).unwrap() {
            Some(Effect::BackingOff { status, until: u }) => {
                assert!(exited_with(&status, 1));
                until = Some(u);
                true
            }
            None => false,
            Some(other) => panic!("{other:?}"),
        }
    });
    // The delay is the policy's, computed from the time given to poll (its growth is tested in policy.rs).
    let until = until.unwrap();
    assert_eq!(until, seen_at + RestartBackoff::default().first);
    assert!(sup.poll(seen_at).unwrap().is_none(), "started before the delay was over");
    assert_eq!(lines(&log), ["1"]);
    assert!(matches!(sup.poll(until).unwrap(), Some(Effect::Started { run: 2 })));
    wait_until("second run", || lines(&log).len() == 2);
}

#[test]
fn the_reload_code_restarts_without_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = "echo \"$STATOR_RUN\" >> log; [ \"$STATOR_RUN\" = 1 ] && exit 3; exec sleep 1000";
    let mut sup = Supervisor::new(Options { reload_code: Some(3), ..sh(dir.path(), script) });
    sup.start(&[]).unwrap();
    match next_effect(&mut sup, "the reload") {
        Effect::Restarted { run: 2, previous: Some(status) } => assert!(exited_with(&status, 3), "{status:?}"),
        other => panic!("{other:?}"),
    }
    wait_until("second run", || lines(&log).len() == 2);
    assert_eq!(sup.runs(), 2);
    sup.shutdown().unwrap();
    assert_eq!(lines(&log), ["1", "2"]);
}

#[test]
fn command_not_found_is_127_and_does_not_loop() {
    let opts =
        Options { command: vec!["stator-test-no-such-command".into()], on_exit: OnExit::Restart, ..Options::default() };
    let mut sup = Supervisor::new(opts);
    let err = sup.start(&[]).unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    assert_eq!(Exit::from(&err).code(), 127);
    assert_eq!(err.to_string(), "command not found: stator-test-no-such-command");
    for _ in 0..5 {
        assert!(sup.poll(Instant::now() + Duration::from_secs(3600)).unwrap().is_none());
    }
    assert_eq!(sup.runs(), 0);
    assert_eq!(sup.policy().phase(), Phase::Idle);
    // The next change tries again (the missing program may just have been built), and fails the same way.
    assert_eq!(Exit::from(&sup.changed(&[], Instant::now()).unwrap_err()).code(), 127);
}

#[test]
fn a_program_that_is_not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("prog");
    fs::write(&prog, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o644)).unwrap();
    let mut sup = Supervisor::new(Options { command: vec![prog.clone().into()], ..Options::default() });
    let err = sup.start(&[]).unwrap_err();
    assert_eq!(Exit::from(&err).code(), 126, "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("permission denied: ") && !msg.contains('\n'), "{msg}");
    assert!(sup.poll(Instant::now()).unwrap().is_none());
}

#[test]
fn an_empty_command_is_an_error() {
    let mut sup = Supervisor::new(Options::default());
    let err = sup.start(&[]).unwrap_err();
    assert!(matches!(err, SpawnError::NoCommand));
    assert_eq!(err.to_string(), "no command to run");
}

#[test]
fn shell_mode_joins_the_words() {
    let dir = tempfile::tempdir().unwrap();
    let words = ["cd", &format!("'{}'", dir.path().display()), "&&", "echo", "run=$STATOR_RUN", ">>", "log"];
    let opts = Options { command: words.iter().map(OsString::from).collect(), shell: true, ..Options::default() };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    match next_effect(&mut sup, "the exit") {
        Effect::Exited(status) => assert!(exited_with(&status, 0), "{status:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(lines(&dir.path().join("log")), ["run=1"]);
}

#[test]
fn the_child_reads_what_changed_from_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo \"$STATOR_CHANGED_FILE\" > where.$STATOR_RUN\n\
                  cat \"$STATOR_CHANGED_FILE\" > seen.$STATOR_RUN\n\
                  exec sleep 1000";
    let mut sup = Supervisor::new(sh(dir.path(), script));
    let odd = PathBuf::from(OsStr::from_bytes(b"dir with space/caf\xe9.rs"));
    sup.start(&[PathBuf::from("src/a.rs"), PathBuf::from("b.rs")]).unwrap();
    let seen = |n: u32| fs::read(dir.path().join(format!("seen.{n}"))).unwrap_or_default();
    let wrote = |n: u32| {
        dir.path().join(format!("where.{n}")).exists() && !lines(&dir.path().join(format!("where.{n}"))).is_empty()
    };
    wait_until("first run", || wrote(1) && seen(1).len() == 14);
    assert_eq!(seen(1), b"src/a.rs\nb.rs\n");

    let file = sup.changed_file().unwrap();
    assert_eq!(lines(&dir.path().join("where.1")), [file.display().to_string()]);
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);

    // Repeats are listed once; the list is what changed since the last start.
    sup.changed(&[odd.clone(), PathBuf::from("c.rs"), odd.clone()], Instant::now()).unwrap();
    let mut want = odd.as_os_str().as_bytes().to_vec();
    want.extend_from_slice(b"\nc.rs\n");
    wait_until("second run", || wrote(2) && seen(2).len() == want.len());
    assert_eq!(seen(2), want);
}

#[test]
fn nothing_is_left_when_the_supervisor_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(sh(dir.path(), "sleep 1000 & echo $! > gc.pid; wait"));
    sup.start(&[]).unwrap();
    let gc = dir.path().join("gc.pid");
    wait_until("grandchild", || lines(&gc).len() == 1);
    let (child, grandchild) = (sup.pid().unwrap() as i32, read_pids(&gc)[0]);
    let tmp = sup.changed_file().unwrap().parent().unwrap().to_owned();
    assert!(tmp.is_dir());
    drop(sup);
    assert!(!tmp.exists(), "{} is still there", tmp.display());
    assert!(gone(child) && gone(grandchild), "child {child} or grandchild {grandchild} survived");
}

#[test]
fn kill_now_from_another_thread_cuts_a_shutdown_short() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = "trap 'echo term >> log' TERM; echo up >> log; while :; do sleep 1000 & wait; done";
    // A timeout far longer than the test may take: only kill_now can end this shutdown in time.
    let opts = Options { stop_timeout: Duration::from_secs(3600), ..sh(dir.path(), script) };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&log) == ["up"]);
    let handle = sup.kill_handle();
    let log2 = log.clone();
    let second_ctrl_c = std::thread::spawn(move || {
        wait_until("the stop signal", || lines(&log2).contains(&"term".to_owned()));
        handle.kill_now();
    });
    let status = sup.shutdown().unwrap();
    second_ctrl_c.join().unwrap();
    assert_eq!(status.signal(), Some(Signal::Kill.number()), "{status:?}");
}

#[test]
fn kill_now_kills_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let opts = Options {
        stop_timeout: Duration::from_secs(3600),
        ..sh(dir.path(), "trap '' TERM; echo up >> log; sleep 1000")
    };
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&log) == ["up"]);
    let status = sup.kill_now().unwrap();
    assert_eq!(status.signal(), Some(Signal::Kill.number()));
    assert!(sup.changed(&[], Instant::now()).unwrap().is_none(), "started after kill_now");
}

/// PID 1 mode, in a process of its own (reaping every child would steal the other tests' children): the test
/// binary runs itself with only [`reap_all_inner`], as a child subreaper so that orphans come to it.
#[cfg(target_os = "linux")]
#[test]
fn reap_all_mode_reaps_orphans_and_still_sees_its_child() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "supervisor::tests::reap_all_inner", "--ignored", "--test-threads=1", "--nocapture"])
        .env("STATOR_TEST_REAP_ALL", "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[cfg(target_os = "linux")]
#[test]
#[ignore = "run by reap_all_mode_reaps_orphans_and_still_sees_its_child in a process of its own"]
fn reap_all_inner() {
    if std::env::var_os("STATOR_TEST_REAP_ALL").is_none() {
        return;
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The subshell exits at once, so its sleep is orphaned to us; the child waits for the test to release it.
    let script = "(sleep 0.2 & echo $! > orphan.pid); while [ ! -e release ]; do sleep 0.02; done; exit 5";
    let mut sup = Supervisor::new(sh(dir.path(), script));
    sup.set_reap_all(true);
    sup.start(&[]).unwrap();
    let orphan = dir.path().join("orphan.pid");
    wait_until("the orphan", || lines(&orphan).len() == 1);
    let pid = read_pids(&orphan)[0];
    // Without reaping, the orphan would stay our zombie forever.
    wait_until("the orphan reaped", || {
        assert!(sup.poll(Instant::now()).unwrap().is_none());
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    fs::write(dir.path().join("release"), "").unwrap();
    match next_effect(&mut sup, "our child's exit") {
        Effect::Exited(status) => assert!(exited_with(&status, 5), "{status:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_child_dies_with_the_thread_that_spawned_it() {
    // The parent-death signal: a supervisor that vanishes without stopping its child (here: leaked by a thread
    // that then ends; in real life: stator killed by SIGKILL) does not leave the child running.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let opts = sh(dir.path(), "echo up >> log; exec sleep 1000");
    let (pid, tmp) = std::thread::spawn(move || {
        let mut sup = Supervisor::new(opts);
        sup.start(&[]).unwrap();
        wait_until("the child", || lines(&log) == ["up"]);
        let found = (sup.pid().unwrap() as i32, sup.changed_file().unwrap().parent().unwrap().to_owned());
        std::mem::forget(sup);
        found
    })
    .join()
    .unwrap();
    wait_until("the child's death", || gone(pid));
    fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn what_an_exited_child_left_in_its_group_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(sh(dir.path(), "sleep 1000 & echo $! > gc.pid; exit 0"));
    sup.start(&[]).unwrap();
    match next_effect(&mut sup, "the exit") {
        Effect::Exited(status) => assert!(exited_with(&status, 0), "{status:?}"),
        other => panic!("{other:?}"),
    }
    let pid = read_pids(&dir.path().join("gc.pid"))[0];
    assert!(gone(pid), "{pid} outlived its run");
}

#[test]
fn a_list_that_cannot_be_written_does_not_stop_a_restart_and_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = "echo \"$STATOR_RUN ${STATOR_CHANGED_FILE:-none}\" >> log; exec sleep 1000";
    let mut sup = Supervisor::new(sh(dir.path(), script));
    sup.start(&[]).unwrap();
    wait_until("run 1", || lines(&log).len() == 1);
    assert!(sup.take_unlisted().is_none());
    // The private directory holding the list goes away: every write of the list fails.
    let private = sup.changed_file().unwrap().parent().unwrap().to_path_buf();
    fs::remove_dir_all(&private).unwrap();
    for run in 2..=3u64 {
        match sup.changed(&[PathBuf::from("a.py")], Instant::now()).unwrap() {
            Some(Effect::Restarted { run: r, .. }) => assert_eq!(r, run),
            other => panic!("{other:?}"),
        }
        wait_until("the restarted child", || lines(&log).len() == run as usize);
        let said = sup.take_unlisted();
        assert_eq!(said.is_some(), run == 2, "said the first time only: {said:?}");
    }
    assert_eq!(lines(&log)[1..], ["2 none", "3 none"]);
    sup.kill_now();
}

/// A supervisor whose stop notices land in the returned list.
fn noticed(opts: Options) -> (Supervisor, std::sync::Arc<std::sync::Mutex<Vec<StopNotice>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut sup = Supervisor::new(opts);
    let into = seen.clone();
    sup.on_stop_notice(move |n| into.lock().unwrap().push(n));
    (sup, seen)
}

#[test]
fn a_slow_stop_says_it_waits_then_that_it_kills() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut opts = sh(dir.path(), "trap '' TERM; echo up >> log; sleep 1000");
    opts.stop_timeout = SLOW_STOP + Duration::from_millis(300);
    let timeout = opts.stop_timeout;
    let (mut sup, seen) = noticed(opts);
    sup.start(&[]).unwrap();
    wait_until("the child set its trap", || lines(&log).len() == 1);
    let pid = sup.pid().unwrap();
    let status = sup.shutdown().unwrap();
    assert_eq!(status.signal(), Some(Signal::Kill.number()), "{status:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            StopNotice::Waiting { run: 1, pid, signal: Signal::Term, timeout, leftovers: false },
            StopNotice::Killing { run: 1, pid, timeout, leftovers: false },
        ]
    );
}

#[test]
fn a_quick_stop_says_nothing_and_leftovers_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sup, seen) = noticed(sh(dir.path(), "exec sleep 1000"));
    sup.start(&[]).unwrap();
    sup.changed(&[], Instant::now()).unwrap();
    sup.shutdown().unwrap();
    // A child that stops at once is not worth a word. (On a busy machine even `sleep` may take a second to go:
    // then it is said that stator waits, never that it kills.)
    let said = seen.lock().unwrap().clone();
    assert!(said.iter().all(|n| matches!(n, StopNotice::Waiting { .. })), "{said:?}");

    // The child exits by itself; what it left ignores the stop signal.
    let script = "(trap '' TERM; exec sleep 1000) & echo $! > gc.pid; exit 0";
    let mut opts = sh(dir.path(), script);
    opts.stop_timeout = Duration::from_millis(300);
    let (mut sup, seen) = noticed(opts);
    sup.start(&[]).unwrap();
    let pid = sup.pid().unwrap();
    let _ = next_effect(&mut sup, "the exit");
    assert_eq!(
        *seen.lock().unwrap(),
        [StopNotice::Killing { run: 1, pid, timeout: Duration::from_millis(300), leftovers: true }]
    );
}

/// `opts` with a build: `build` runs with `sh -c` in `dir`.
fn with_build(dir: &Path, mut opts: Options, build: &str) -> Options {
    let script = format!("cd '{}' || exit 99\n{build}", dir.display());
    opts.build = Some(vec!["sh".into(), "-c".into(), script.into()]);
    opts
}

/// Polls the supervisor until `done` holds for what it said (the effects and notices so far, in order).
fn news_until(sup: &mut Supervisor, what: &str, mut done: impl FnMut(&[String]) -> bool) -> Vec<String> {
    let mut said = Vec::new();
    wait_until(what, || {
        let effect = sup.poll(Instant::now()).unwrap();
        said.extend(sup.take_notices().iter().map(|n| format!("{n:?}")));
        said.extend(effect.map(|e| format!("{e:?}")));
        done(&said)
    });
    said
}

fn any(said: &[String], needle: &str) -> bool {
    said.iter().any(|s| s.contains(needle))
}

#[test]
fn the_build_runs_first_and_a_failed_one_keeps_the_old_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exec sleep 1000");
    let opts = with_build(dir.path(), run, "echo \"$STATOR_BUILD\" >> builds; test -e ok || exit 3");
    let mut sup = Supervisor::new(opts);
    let log = dir.path().join("log");
    let ok = dir.path().join("ok");

    // The first build fails: nothing runs.
    sup.start(&[]).unwrap();
    assert!(any(&sup.take_notices().iter().map(|n| format!("{n:?}")).collect::<Vec<_>>(), "BuildStarted { build: 1"));
    assert_eq!(sup.pid(), None);
    let said = news_until(&mut sup, "the first build's failure", |s| any(s, "BuildFailed"));
    assert!(any(&said, "running: false"), "{said:?}");
    assert_eq!(sup.runs(), 0);
    assert!(lines(&log).is_empty());

    // A change with the fix: the build succeeds, then run 1 starts.
    fs::write(&ok, "").unwrap();
    assert!(sup.changed(std::slice::from_ref(&ok), Instant::now()).unwrap().is_none(), "the change only builds");
    let said = news_until(&mut sup, "run 1", |s| any(s, "Started { run: 1 }"));
    let built = said.iter().position(|s| s.contains("BuildSucceeded { build: 2")).expect("the build succeeded");
    assert!(built < said.len() - 1, "the build is said before the start: {said:?}");
    wait_until("run 1 logged", || lines(&log) == ["1"]);
    let first = sup.pid().unwrap();

    // A broken build: run 1 keeps serving.
    fs::remove_file(&ok).unwrap();
    sup.changed(std::slice::from_ref(&ok), Instant::now()).unwrap();
    assert_eq!(sup.pid(), Some(first), "the old run serves during the build");
    let said = news_until(&mut sup, "the broken build", |s| any(s, "BuildFailed"));
    // Exit code 3: a wait status of 3 << 8.
    assert!(any(&said, "running: true") && any(&said, "unix_wait_status(768)"), "{said:?}");
    assert_eq!(sup.pid(), Some(first), "the old run is kept");
    assert!(!gone(first as i32));

    // Fixed again: run 2 replaces run 1.
    fs::write(&ok, "").unwrap();
    sup.changed(std::slice::from_ref(&ok), Instant::now()).unwrap();
    let said = news_until(&mut sup, "run 2", |s| any(s, "Restarted { run: 2"));
    assert!(any(&said, "BuildSucceeded { build: 4"), "{said:?}");
    assert!(gone(first as i32));
    wait_until("run 2 logged", || lines(&log) == ["1", "2"]);
    assert_eq!(lines(&dir.path().join("builds")), ["1", "2", "3", "4"]);
    sup.shutdown();
}

#[test]
fn the_build_is_told_what_changed_since_the_running_command_started() {
    let dir = tempfile::tempdir().unwrap();
    let run = sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exec sleep 1000");
    // Each build keeps its list, and fails while `fail` exists.
    let build = "cp \"$STATOR_CHANGED_FILE\" part && mv part built.$STATOR_BUILD; [ ! -e fail ]";
    let mut sup = Supervisor::new(with_build(dir.path(), run, build));
    let built = |n: u32| fs::read_to_string(dir.path().join(format!("built.{n}"))).ok();
    sup.start(&[]).unwrap();
    news_until(&mut sup, "run 1", |s| any(s, "Started { run: 1 }"));
    assert_eq!(built(1).as_deref(), Some(""), "the first build: nothing changed");

    // A failed build keeps the run; the next build is told of both changes, since run 1 started.
    fs::write(dir.path().join("fail"), "").unwrap();
    sup.changed(&[PathBuf::from("a.rs")], Instant::now()).unwrap();
    news_until(&mut sup, "build 2 to fail", |s| any(s, "BuildFailed { build: 2"));
    assert_eq!(built(2).as_deref(), Some("a.rs\n"));
    fs::remove_file(dir.path().join("fail")).unwrap();
    sup.changed(&[PathBuf::from("b.rs")], Instant::now()).unwrap();
    news_until(&mut sup, "run 2", |s| any(s, "Restarted { run: 2"));
    assert_eq!(built(3).as_deref(), Some("a.rs\nb.rs\n"));
    sup.shutdown();
}

#[test]
fn a_change_during_the_build_stops_its_group_and_builds_again() {
    let dir = tempfile::tempdir().unwrap();
    let run = sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exec sleep 1000");
    // A build that hangs, with a grandchild, while `slow` exists; gc.pid is written last, so both are there.
    let build = "if [ -e slow ]; then sleep 1000 & echo $$ >> build.pid; echo $! >> gc.pid; wait; fi";
    let mut sup = Supervisor::new(with_build(dir.path(), run, build));
    let slow = dir.path().join("slow");
    fs::write(&slow, "").unwrap();
    sup.start(&[]).unwrap();
    wait_until("the slow build", || lines(&dir.path().join("gc.pid")).len() == 1);
    let (build, gc) = (read_pids(&dir.path().join("build.pid"))[0], read_pids(&dir.path().join("gc.pid"))[0]);
    assert_eq!(sup.build_pid(), Some(build as u32));

    fs::remove_file(&slow).unwrap();
    sup.changed(std::slice::from_ref(&slow), Instant::now()).unwrap();
    // Stopping is synchronous: the cancelled build's group is gone, and the next build started.
    assert!(gone(build) && gone(gc), "the cancelled build's group survived");
    let notices: Vec<String> = sup.take_notices().iter().map(|n| format!("{n:?}")).collect();
    assert!(any(&notices, "BuildStarted { build: 2, again: true }"), "{notices:?}");
    let said = news_until(&mut sup, "run 1", |s| any(s, "Started { run: 1 }"));
    assert!(any(&said, "BuildSucceeded { build: 2"), "{said:?}");
    wait_until("run 1 logged", || lines(&dir.path().join("log")) == ["1"]);

    // Shutdown stops a running build too.
    fs::write(&slow, "").unwrap();
    sup.changed(std::slice::from_ref(&slow), Instant::now()).unwrap();
    wait_until("the second slow build", || lines(&dir.path().join("gc.pid")).len() == 2);
    let (build, gc) = (read_pids(&dir.path().join("build.pid"))[1], read_pids(&dir.path().join("gc.pid"))[1]);
    sup.shutdown();
    assert!(gone(build) && gone(gc), "a build survived the shutdown");
    assert_eq!(sup.build_pid(), None);
}

#[test]
fn hooks_run_beside_the_command_and_learn_why_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("hooks");
    // The hook writes what it was told, then waits for the test: hooks never hold the supervisor up.
    let hook = format!(
        "echo \"$STATOR_HOOK $STATOR_RUN $STATOR_EXIT_CODE $# ${{STATOR_BUILD:-none}}\" >> '{}'; \
         while [ ! -e '{}' ]; do sleep 0.02; done; exit 9",
        hooks.display(),
        dir.path().join("release").display()
    );
    let mut opts = sh(dir.path(), "exit \"$(cat code)\"");
    opts.hooks = Hooks {
        on_success: Some(vec!["sh".into(), "-c".into(), hook.clone().into()]),
        on_failure: Some(vec!["sh".into(), "-c".into(), hook.into()]),
        on_ready: None,
    };
    fs::write(dir.path().join("code"), "0").unwrap();
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    news_until(&mut sup, "run 1's end", |s| any(s, "Exited"));
    wait_until("the success hook", || lines(&hooks) == ["success 1 0 0 none"]);
    fs::write(dir.path().join("code"), "4").unwrap();
    // Run 2 starts while the success hook still runs.
    assert!(matches!(sup.changed(&[], Instant::now()).unwrap(), Some(Effect::Started { run: 2 })));
    news_until(&mut sup, "run 2's end", |s| any(s, "Exited"));
    wait_until("the failure hook", || lines(&hooks).len() == 2);
    assert_eq!(lines(&hooks)[1], "failure 2 4 0 none");
    // Both hooks fail (exit 9) once released: warnings, nothing more.
    fs::write(dir.path().join("release"), "").unwrap();
    let said =
        news_until(&mut sup, "two hook failures", |s| s.iter().filter(|n| n.contains("HookFailed")).count() == 2);
    assert!(any(&said, "hook: Success") && any(&said, "hook: Failure"), "{said:?}");
    assert!(sup.changed(&[], Instant::now()).unwrap().is_some(), "the supervisor goes on");
    sup.shutdown();
}

#[test]
fn a_hook_that_cannot_run_is_a_notice_and_the_reload_code_runs_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sh(dir.path(), "echo x >> log; [ $(wc -l < log) -ge 2 ] || exit 3; exit 1");
    opts.reload_code = Some(3);
    opts.hooks.on_failure = Some(vec!["/nonexistent/stator-hook".into()]);
    opts.hooks.on_success = Some(vec!["/nonexistent/stator-hook".into()]);
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    let said = news_until(&mut sup, "the failure hook's notice", |s| any(s, "HookNotRun"));
    // Run 1 exited with the reload code: no hook; run 2 failed: the failure hook, which does not exist.
    assert_eq!(said.iter().filter(|s| s.contains("HookNotRun")).count(), 1, "{said:?}");
    assert!(any(&said, "hook: Failure") && any(&said, "NotFound"), "{said:?}");
}

#[test]
fn kill_now_takes_a_running_build_down_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let opts = with_build(dir.path(), sh(dir.path(), "exec sleep 1000"), "echo $$ > build.pid; exec sleep 1000");
    let mut sup = Supervisor::new(opts);
    sup.start(&[]).unwrap();
    wait_until("the build", || lines(&dir.path().join("build.pid")).len() == 1);
    let build = read_pids(&dir.path().join("build.pid"))[0];
    let kill = sup.kill_handle();
    std::thread::spawn(move || kill.kill_now()).join().unwrap();
    wait_until("the build's death", || gone(build));
    sup.shutdown();
}

/// PID 1 with a build: a look for the command's status reaps the build's too; the build's status must not be lost
/// (a successful build taken for one that ended with 255). In a process of its own, as [`reap_all_inner`].
#[cfg(target_os = "linux")]
#[test]
fn reap_all_mode_keeps_the_builds_status() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "supervisor::tests::reap_all_build_inner", "--ignored", "--test-threads=1", "--nocapture"])
        .env("STATOR_TEST_REAP_ALL", "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[cfg(target_os = "linux")]
#[test]
#[ignore = "run by reap_all_mode_keeps_the_builds_status in a process of its own"]
fn reap_all_build_inner() {
    if std::env::var_os("STATOR_TEST_REAP_ALL").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = sh(dir.path(), "echo \"$STATOR_RUN\" >> log; exec sleep 1000");
    let mut sup = Supervisor::new(with_build(dir.path(), run, "while [ ! -e go ]; do sleep 0.02; done"));
    sup.set_reap_all(true);
    fs::write(dir.path().join("go"), "").unwrap();
    sup.start(&[]).unwrap();
    news_until(&mut sup, "run 1", |s| any(s, "Started { run: 1 }"));
    for n in 2..=6 {
        fs::remove_file(dir.path().join("go")).unwrap();
        sup.changed(&[], Instant::now()).unwrap();
        // The build ends while the command runs: the command's look (wait for any child) may take its status.
        fs::write(dir.path().join("go"), "").unwrap();
        wait_until("the build's end", || {
            let pid = sup.build_pid();
            pid.is_none_or(|p| gone(p as i32))
        });
        let said = news_until(&mut sup, "the restart", |s| any(s, "Restarted") || any(s, "BuildFailed"));
        assert!(!any(&said, "BuildFailed"), "a successful build's status was lost: {said:?}");
        assert!(any(&said, &format!("Restarted {{ run: {n}")), "{said:?}");
    }
    sup.shutdown();
}

#[test]
fn a_listener_hears_of_a_build_before_it_runs_and_take_notices_then_has_nothing() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("build.ran");
    let opts = with_build(dir.path(), sh(dir.path(), "exec sleep 1000"), "echo yes > build.ran");
    let mut sup = Supervisor::new(opts);
    let heard = Rc::new(RefCell::new(Vec::new()));
    let (h, m) = (Rc::clone(&heard), marker.clone());
    sup.set_listener(move |notice| h.borrow_mut().push((format!("{notice:?}"), m.exists())));
    sup.start(&[]).unwrap();
    wait_until("run 1", || {
        sup.poll(Instant::now()).unwrap();
        sup.runs() == 1
    });
    let heard = heard.borrow().clone();
    assert!(heard[0].0.starts_with("BuildStarted { build: 1"), "{heard:?}");
    assert!(!heard[0].1, "the build ran before it was announced");
    assert!(heard.iter().any(|(n, ran)| n.starts_with("BuildSucceeded") && *ran), "{heard:?}");
    assert!(sup.take_notices().is_empty(), "the listener took them all");
    sup.shutdown();
}
