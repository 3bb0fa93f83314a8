//! The first hour of a new user (issue 15), end to end through the binary: command-line habits from other tools,
//! the stop signal apart from the reload signal, a full `$TMPDIR`, honest output, `stator doctor` on paths that are
//! not a project.
//!
//! Unix only, like `cli_e2e` (processes, signals, `/proc`): see `main.rs`.

use std::fs;

use rustix::process::Signal;

use crate::support::sandbox::{LOG_AND_STAY, Sandbox, Stator, append, fast, pids_with_marker, s, which};
use crate::support::skip;

#[test]
fn flag_equals_value_and_version_work_and_peers_flags_get_a_hint() {
    let sb = Sandbox::new();
    let src = sb.src();
    fs::write(src.join("a.o"), "x").unwrap();
    fs::write(src.join("a.c"), "x").unwrap();
    let watch = format!("--watch={}", s(&src));
    let (status, stdout, stderr) = sb.run(&["--list", "--interval=1s", "--ignore=*.o", &watch], &[]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), [s(&src.join("a.c"))], "{stderr}");

    for flag in ["--version", "-V"] {
        let (status, stdout, stderr) = sb.run(&[flag], &[]);
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert_eq!(stdout.trim(), format!("stator {}", env!("CARGO_PKG_VERSION")));
    }

    for (flag, hint) in [("-r", "by default"), ("-p", "--postpone"), ("--delay=1s", "--settle"), ("--ext", "-e")] {
        let (status, stdout, stderr) = sb.run(&[flag, "x"], &sb.sh("exit 0"));
        assert_eq!(status.code(), Some(2), "{flag}: {stderr}");
        assert_eq!(stdout, "");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{flag}: one line: {stderr}");
        assert!(lines[0].starts_with("stator: ") && lines[0].contains(hint), "{flag}: {stderr}");
    }
}

#[test]
fn every_usage_error_is_one_stator_line_with_exit_2() {
    let sb = Sandbox::new();
    let src = sb.src();
    let cases: [&[&str]; 5] =
        [&["--bogus"], &["--interval", "2"], &["-i", "[a-"], &["--stop-signal", "STOP"], &["doctor", "--bogus"]];
    for args in cases {
        let mut all = args.to_vec();
        if args[0] != "doctor" {
            all.extend(["-w", s(&src)]);
        }
        let command = if args[0] == "doctor" { Vec::new() } else { sb.sh("exit 0") };
        let (status, _, stderr) = sb.run(&all, &command);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {stderr}");
        assert!(lines[0].starts_with("stator: "), "{args:?}: {stderr}");
    }
}

#[test]
fn on_busy_signal_reloads_with_its_signal_and_stops_with_sigterm() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    // The child reloads on HUP and stops on TERM, as servers do. The default stop timeout (10s) is left alone: if
    // stator stopped it with HUP, it would be killed only after it, and never log its TERM.
    let script = r#"trap 'echo hup >> "$LOG"' HUP; trap 'echo term >> "$LOG"; exit 0' TERM; echo start >> "$LOG"
        while :; do "$SLEEP" 1000 & wait $!; done"#;
    let mut st = sb.spawn(&fast(&["--on-busy", "signal", "--signal", "HUP", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    // The TERM must not land while the shell forks its next sleep: a child between fork and exec still has the
    // shell's TERM trap, outlives the TERM as a leftover, and is killed only after the stop timeout.
    let sleep = sb.sleep().to_str().expect("UTF-8 sandbox").to_owned();
    st.wait("run 1's first sleep", || pids_with_marker(&sleep).len() == 1);
    let first = pids_with_marker(&sleep);

    append(&file, "v2 is longer\n");
    st.wait("the child to log the HUP", || sb.log_count("hup") == 1);
    st.wait("the next sleep", || pids_with_marker(&sleep).len() == 1 && pids_with_marker(&sleep) != first);
    st.signal(Signal::TERM);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(143), "{}", st.stderr());
    assert_eq!(sb.log_lines(), ["start", "hup", "term"], "stopped with SIGTERM, not HUP\n{}", st.stderr());
    // (A busy machine may make the stop take over a second, and stator say it waits: but it never kills.)
    assert!(st.lines_with("killed with SIGKILL").is_empty(), "{}", st.stderr());
    assert_eq!(st.lines_with("command ended (run 1): exit status: 0").len(), 1, "{}", st.stderr());
}

#[test]
fn stop_signal_chooses_what_stops_the_command() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    // A foreground sleep: a background one would ignore SIGINT, as a non-interactive shell makes it.
    let script = r#"trap 'echo int >> "$LOG"; exit 0' INT; trap '' TERM; echo start >> "$LOG"
        while :; do "$SLEEP" 1; done"#;
    let mut st = sb.spawn(&fast(&["--stop-signal", "INT", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    assert_eq!(sb.log_lines(), ["start", "int", "start"], "{}", st.stderr());
}

#[test]
fn doctor_on_a_missing_path_exits_non_zero_after_its_report() {
    let sb = Sandbox::new();
    let missing = sb.join("nonexistent");
    let (status, stdout, stderr) = sb.run(&["doctor", s(&missing)], &[]);
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("{} does not exist", s(&missing))), "{stdout}");
    // With --json too, and the JSON says it.
    let (status, stdout, _) = sb.run(&["doctor", "--json", s(&missing)], &[]);
    assert_eq!(status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((v["complete"].as_bool(), v["missing"][0].as_str()), (Some(false), Some(s(&missing))));
}

#[test]
fn doctor_on_proc_skips_it_at_once_and_says_why() {
    let sb = Sandbox::new();
    // Bounded by `run`: before the fix it walked /proc (and through /proc/<pid>/root the whole machine) for minutes.
    let (status, stdout, stderr) = sb.run(&["doctor", "/proc"], &[]);
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("skipped /proc: proc is a kernel pseudo-filesystem"), "{stdout}");
    assert!(stdout.contains("/proc/kmsg"), "it says why: {stdout}");
}

#[test]
fn fifos_are_never_opened_by_doctor_or_a_run() {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    let sb = Sandbox::new();
    let src = sb.src();
    fs::write(src.join("a.txt"), "x").unwrap();
    // A FIFO where an ignore file is read, and another as a root: opening either would block until a writer came.
    mknodat(CWD, src.join(".gitignore"), FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    let root_fifo = sb.join("fifo");
    mknodat(CWD, &root_fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();

    let (status, stdout, stderr) = sb.run(&["doctor", s(&src)], &[]);
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("1 file in 1 directory"), "{stdout}");
    let (status, stdout, _) = sb.run(&["doctor", s(&root_fifo)], &[]);
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("a FIFO: stator never opens FIFOs"), "{stdout}");

    let (status, stdout, stderr) = sb.run(&["--list", "-w", s(&src)], &[]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), [s(&src.join("a.txt"))], "{stderr}");
}

/// The script `unshare` runs: mount a tiny tmpfs on `$1` (64 KiB, 64 inodes), fill it up (blocks and inodes)
/// when `$2` is `full`, point `TMPDIR` at it, and exec the rest (stator and its arguments).
const TINY_TMPDIR: &str = r#"mount -t tmpfs -o size=64k,nr_inodes=64 tmpfs "$1" || exit 97
if [ "$2" = full ]; then
    {
        head -c 1048576 /dev/zero > "$1/fill"
        # `true`, not `:`: a failed redirection of a special built-in ends the shell.
        i=0; while [ $i -lt 1000 ] && true > "$1/f$i"; do i=$((i+1)); done
        mkdir "$1/probe" && exit 98
    } 2>/dev/null
fi
export TMPDIR="$1"; shift 2; exec "$@""#;

/// `stator ARGS -- COMMAND` with `$TMPDIR` on a tiny tmpfs of its own, full from the start if `full`: a real full
/// filesystem, in a mount namespace of `unshare -Urm` (so no root is needed where user namespaces are allowed).
/// `None` (after [`skip`]) where that cannot be made.
fn on_tiny_tmpdir(sb: &Sandbox, full: bool, args: &[&str], command: &[String]) -> Option<Stator> {
    let tmp = sb.join("tmp");
    fs::create_dir(&tmp).expect("create the mount point");
    let probe = std::process::Command::new("unshare")
        .args(["-Urm", "sh", "-c", "mount -t tmpfs -o size=64k,nr_inodes=64 tmpfs \"$1\"", "sh", s(&tmp)])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        skip(&format!("cannot mount a tmpfs in a user and mount namespace (unshare -Urm): {probe:?}"));
        return None;
    }
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-Urm", "sh", "-c", TINY_TMPDIR, "sh", s(&tmp), if full { "full" } else { "room" }]);
    cmd.arg(env!("CARGO_BIN_EXE_stator")).args(args).arg("--").args(command);
    sb.prepare(&mut cmd);
    Some(sb.spawn_cmd(cmd))
}

/// A child that logs its run and which extras it got, then stays up; run 1 fills `$TMPDIR` to the last block.
const LOG_EXTRAS: &str = r#"echo "start $STATOR_RUN ${STATOR_CHANGED_FILE:+list} ${STATOR_WATCH_FILE:+watch}" >> "$LOG"
[ "$STATOR_RUN" = 1 ] && head -c 1048576 /dev/zero > "$TMPDIR/fill-by-run-1" 2>/dev/null
exec "$SLEEP" 1000"#;

#[test]
fn a_tmpdir_that_fills_up_does_not_take_the_server_down() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let Some(mut st) = on_tiny_tmpdir(&sb, false, &fast(&["-w", s(&src)]), &sb.sh(LOG_EXTRAS)) else { return };
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_lines().len() == 1);
    assert_eq!(sb.log_lines(), ["start 1 list watch"], "{}", st.stderr());

    // $TMPDIR is full now: the list of the changed file cannot be written. Run 2 starts anyway, without it.
    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_lines().len() == 2);
    append(&file, "v3 is longer still\n");
    st.wait("run 3 to log its start", || sb.log_lines().len() == 3);
    assert_eq!(sb.log_lines(), ["start 1 list watch", "start 2  watch", "start 3  watch"], "{}", st.stderr());
    let warnings = st.lines_with("cannot write the list of changed files");
    assert_eq!(warnings.len(), 1, "said once\n{}", st.stderr());
    assert!(warnings[0].contains("runs without STATOR_CHANGED_FILE"), "{}", warnings[0]);
    assert!(st.lines_with("[stator] error").is_empty(), "{}", st.stderr());
    assert!(st.running(), "{}", st.stderr());
}

#[test]
fn a_full_tmpdir_does_not_stop_stator_from_starting() {
    let sb = Sandbox::new();
    let src = sb.src();
    let Some(mut st) = on_tiny_tmpdir(&sb, true, &fast(&["--python", "-w", s(&src)]), &sb.sh(LOG_EXTRAS)) else {
        return;
    };
    st.wait("run 1 to log its start", || sb.log_lines().len() == 1);
    assert_eq!(sb.log_lines(), ["start 1  "], "no list, no watch file, but running\n{}", st.stderr());
    assert!(st.running(), "{}", st.stderr());
    // Stator says it once the run started: the run may log first.
    st.wait_stderr("runs without STATOR_CHANGED_FILE");
    let stderr = st.stderr();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2, "one for the watch file, one for the list\n{stderr}");
    assert!(warnings[0].contains("runs without STATOR_WATCH_FILE, and so without what --python"), "{stderr}");
    assert!(warnings[1].contains("runs without STATOR_CHANGED_FILE"), "{stderr}");
}

#[test]
fn a_child_ignoring_sigterm_is_not_ten_seconds_of_silence() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#"trap '' TERM; echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["--stop-timeout", "2s", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    append(&file, "v2 is longer\n");
    // While the stop waits, it says so.
    st.wait_stderr("has not stopped 1s after SIGTERM; waiting up to 2s (--stop-timeout) before SIGKILL");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    st.wait_stderr("[stator] restarted (run 2)");
    let stderr = st.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    let waiting = lines.iter().position(|l| l.contains("waiting up to 2s")).unwrap();
    let killed = lines.iter().position(|l| l.contains("did not stop within 2s (--stop-timeout): killed with SIGKILL"));
    let restarted = lines.iter().position(|l| l.starts_with("[stator] restarted (run 2)")).unwrap();
    assert!(killed.is_some_and(|k| waiting < k && k < restarted), "in that order\n{stderr}");
    // The restart names the command, and how run 1 ended.
    assert!(lines[restarted].contains(": sh -c 'trap '\\'''\\'' TERM;"), "{stderr}");
    assert!(lines[restarted].contains("run 1 ended: signal: 9 (SIGKILL) after "), "{stderr}");
}

#[test]
fn a_second_ctrl_c_says_it_kills_and_a_stop_without_a_command_says_nothing() {
    let sb = Sandbox::new();
    let src = sb.src();
    let script = r#"trap '' TERM INT; echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(script));
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    st.signal(Signal::INT);
    st.wait_stderr("SIGINT: stopping the command (run 1) with SIGTERM, up to 10s (--stop-timeout); Ctrl-C again kills");
    st.signal(Signal::INT);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", st.stderr());
    assert_eq!(st.lines_with("SIGINT again: killing the command's processes at once (SIGKILL)").len(), 1);
    assert_eq!(st.lines_with("command ended (run 1): signal: 9 (SIGKILL)").len(), 1, "{}", st.stderr());

    // No command runs (it ended, stator waits for a change): nothing is said to be stopped.
    let sb = Sandbox::new();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(r#"echo start >> "$LOG""#));
    st.wait_stderr("[stator] command ended (run 1): exit status: 0 after ");
    st.signal(Signal::TERM);
    assert_eq!(st.wait_exit().code(), Some(143));
    assert!(st.lines_with("stopping").is_empty(), "{}", st.stderr());
}

#[test]
fn clear_keeps_the_reason_line_and_writes_no_escape_codes_into_a_pipe() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    // stdout and stderr are files here: no escape codes at all.
    let mut st = sb.spawn(&fast(&["-c", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    st.signal(Signal::TERM);
    st.wait_exit();
    assert!(!st.stdout().contains('\x1b') && !st.stderr().contains('\x1b'), "{:?}", st.stdout());
    drop(st);

    // On a terminal (a pty from util-linux `script`), the screen is cleared before the reason line, not after.
    let Some(script) = which("script") else {
        return skip("util-linux `script` is not installed: -c on a terminal is untested");
    };
    let line = format!(
        "{} -c --postpone --on-exit exit --interval 100ms --settle 100ms -w {} -- sh -c 'exit 0'",
        env!("CARGO_BIN_EXE_stator"),
        s(&src)
    );
    let mut cmd = std::process::Command::new(&script);
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"]);
    sb.prepare(&mut cmd);
    let mut st = sb.spawn_cmd(cmd);
    st.wait("stator on the pty to take its baseline", || st_stdout_has(&sb, "watching"));
    append(&file, "v3 is longer still\n");
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", st.stdout());
    let out = st.stdout();
    let clear = out.rfind("\x1b[H\x1b[2J\x1b[3J").expect("the screen was cleared");
    assert!(out[clear..].contains("changed:"), "the reason line survives the clear: {out:?}");
}

/// Whether what a stator under `script` wrote so far (the sandbox's stdout file) contains `needle`.
fn st_stdout_has(sb: &Sandbox, needle: &str) -> bool {
    fs::read_to_string(sb.join("stator.stdout")).is_ok_and(|t| t.contains(needle))
}

#[test]
fn verbose_sums_scans_up_and_does_not_claim_a_granularity_it_has_not_learned() {
    let sb = Sandbox::new();
    fs::write(sb.src().join("one.txt"), "x").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait_scans(25);
    st.signal(Signal::TERM);
    st.wait_exit();
    let summaries = st.lines_with("[stator] scans: ");
    assert!(st.scans() >= 25, "{}", st.stderr());
    assert!(summaries.len() <= st.scans() / 10, "one line per 10 scans, not one per scan\n{}", st.stderr());
    assert!(summaries.iter().all(|l| l.starts_with("[stator] scans: 10 in ")), "{summaries:#?}");
    assert!(st.lines_with("[stator] scan:").is_empty(), "{}", st.stderr());
    // One file is one timestamp: not enough to learn from, and said so.
    let fs_line = st.lines_with("[stator] filesystem ");
    assert!(fs_line.iter().all(|l| l.contains("timestamps not learned yet")), "{fs_line:#?}");
    assert!(st.lines_with("watching 1 file in 1 directory").len() == 1, "{}", st.stderr());
}

#[test]
fn json_child_events_carry_run_pid_code_signal_and_duration() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["--json", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_stderr(r#""event":"start""#);
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    st.signal(Signal::TERM);
    assert_eq!(st.wait_exit().code(), Some(143));
    let stderr = st.stderr();
    let events: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |name: &str| events.iter().filter(|e| e["event"] == name).cloned().collect::<Vec<_>>();
    let starts = of("start");
    assert_eq!(starts.len(), 2, "{stderr}");
    for (i, start) in starts.iter().enumerate() {
        assert_eq!(start["run"], i + 1);
        assert!(start["pid"].as_u64().is_some_and(|p| p > 1), "{start}");
        assert_eq!(start["command"][0], "sh", "{start}");
    }
    let exits = of("exit");
    assert_eq!(exits.len(), 2, "run 1 for the restart, run 2 at the end\n{stderr}");
    for (i, exit) in exits.iter().enumerate() {
        assert_eq!((exit["run"].as_u64(), exit["pid"].clone()), (Some(i as u64 + 1), starts[i]["pid"].clone()));
        assert_eq!((exit["code"].clone(), exit["signal"].as_i64()), (serde_json::Value::Null, Some(15)), "{exit}");
        assert!(exit["duration_ms"].as_f64().is_some_and(|d| d > 0.0), "{exit}");
    }
    assert_eq!((exits[0]["next"].as_str(), exits[1]["next"].as_str()), (Some("restart"), Some("exit")));
    assert_eq!(of("shutdown").len(), 1, "{stderr}");
    assert!(of("child").is_empty(), "the untyped child event is gone\n{stderr}");
}
