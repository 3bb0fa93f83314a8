//! End-to-end tests of the `stator` binary: real processes, real temporary directories, real signals.
//!
//! No test sleeps to synchronise: each waits, with a bound, for a state it can observe (a log line a child
//! wrote, a status line of stator's, a process gone from `/proc`). Where a test must show that something does
//! *not* happen, it lets stator perform a few more scans (counted in its `-v` output) and then checks.
//!
//! Unix only (processes, signals and `/proc`): see `main.rs`.

use std::fs;

use rustix::process::Signal;

use crate::support::sandbox::{
    LOG_AND_STAY, Sandbox, alive, append, children_of, fast, free_port, group_members, inner_pid, pids_with_marker,
    proc_stat, read_lines, read_pid, s, which,
};
use crate::support::skip;

#[test]
fn a_content_edit_restarts_the_command_exactly_once() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    st.wait_scans(5);

    assert_eq!(sb.log_lines(), ["start", "start"], "exactly one restart\n{}", st.stderr());
    assert_eq!(st.lines_with("restarted (run").len(), 1, "{}", st.stderr());
    assert!(st.running(), "stator is still running\n{}", st.stderr());
}

#[test]
fn a_burst_of_50_files_gives_exactly_one_restart() {
    let sb = Sandbox::new();
    let src = sb.src();
    // The burst is over after 1s without a change: far more than writing 50 small files takes, even on a busy VM.
    let mut st = sb.spawn(&["-v", "--interval", "100ms", "--settle", "1s", "-w", s(&src)], &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    for i in 0..50 {
        fs::write(src.join(format!("burst-{i:02}.txt")), format!("file {i}\n")).unwrap();
    }
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    st.wait_scans(5);

    assert_eq!(sb.log_lines(), ["start", "start"], "exactly one restart\n{}", st.stderr());
    let changed = st.lines_with("[stator] changed:");
    assert_eq!(changed.len(), 1, "one change set\n{}", st.stderr());
    assert!(changed[0].ends_with("and 47 more"), "the one set holds all 50 files: {}", changed[0]);
}

/// `dirs` directories `d00`, `d01`... in `src`, each with `files` small files `f000.txt`, `f001.txt`...
fn many_files(src: &std::path::Path, dirs: usize, files: usize) {
    for d in 0..dirs {
        let dir = src.join(format!("d{d:02}"));
        fs::create_dir(&dir).expect("create a directory");
        for f in 0..files {
            fs::write(dir.join(format!("f{f:03}.txt")), "x\n").expect("write a file");
        }
    }
}

/// A tree whose sweep outlasts the hot interval is swept in parts, the hot tier running between them: an edit, then
/// an edit to the file just changed, each restart the command exactly once.
#[test]
fn a_tree_swept_in_parts_restarts_once_per_edit_cold_and_hot() {
    let sb = Sandbox::new();
    let src = sb.src();
    many_files(&src, 60, 250);
    let file = src.join("d59").join("f249.txt");
    // Parts aim at half the hot interval: 10 ms here, far less than a sweep of 15,000 files.
    let args = ["-v", "--interval", "300ms", "--hot-interval", "20ms", "--settle", "100ms", "-w", s(&src)];
    let mut st = sb.spawn(&args, &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    st.wait_scans(10);
    let summary = st.lines_with("[stator] scans: ");
    assert!(summary.iter().any(|l| l.contains(" parts: ")), "the sweeps went in parts\n{}", st.stderr());

    append(&file, "cold\n");
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    append(&file, "hot\n");
    st.wait("run 3 to log its start", || sb.log_count("start") >= 3);
    st.wait_scans(3);

    assert_eq!(sb.log_lines(), ["start", "start", "start"], "one restart per edit\n{}", st.stderr());
    assert_eq!(st.lines_with("restarted (run").len(), 2, "{}", st.stderr());
    assert!(st.lines_with("[stator] changed:").iter().all(|l| l.contains("f249.txt")), "{}", st.stderr());
}

/// On a local filesystem with fine timestamps the command starts while the first scan runs, and what it (or
/// anyone) changes meanwhile is not lost: a file the scan reaches after the edit is reported as changed as the
/// command started, one it reached before is seen by the next sweep; one restart in all.
#[test]
fn the_command_starts_during_the_first_scan_and_what_changes_meanwhile_restarts_it_once() {
    let sb = Sandbox::new();
    let src = sb.src();
    many_files(&src, 40, 500);
    // The first run edits one file in each directory at once, while stator is still walking 20,000 files.
    let edit = r#"echo start >> "$LOG"; if [ ! -e "$DIR/edited" ]; then : > "$DIR/edited";
        for d in "$DIR"/src/d*; do echo edited >> "$d/f499.txt"; done; fi; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(edit));
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    st.wait_scans(5);

    let text = st.stderr();
    let (started, watching) = (text.find("started (run 1)").unwrap(), text.find("[stator] watching").unwrap());
    assert!(started < watching, "the command started before the first scan ended\n{text}");
    assert!(text.contains("the command starts while the first scan runs"), "{text}");
    assert_eq!(sb.log_lines(), ["start", "start"], "one restart\n{text}");
    let modified = st.lines_with("[stator] modified ");
    assert_eq!(modified.len(), 40, "every edited file, once\n{text}");
    assert!(modified.iter().all(|l| l.contains("f499.txt")), "{text}");
    assert!(
        modified.iter().any(|l| l.ends_with("(changed as the command started)")),
        "some edits were made before the first scan reached their files\n{text}"
    );
}

#[test]
fn the_child_gets_its_run_number_and_the_changed_files() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#"echo "run=$STATOR_RUN" >> "$LOG"; cp "$STATOR_CHANGED_FILE" "$DIR/part.$STATOR_RUN" && mv "$DIR/part.$STATOR_RUN" "$DIR/changed.$STATOR_RUN""#;
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log", || sb.log_lines().len() == 1);

    append(&file, "v2 is longer\n");
    st.wait("run 2 to log", || sb.log_lines().len() >= 2);
    st.wait("run 2 to copy its changed file", || sb.join("changed.2").exists());

    assert_eq!(sb.log_lines(), ["run=1", "run=2"], "{}", st.stderr());
    assert_eq!(read_lines(&sb.join("changed.1")), Vec::<String>::new(), "run 1 was told of no change");
    assert_eq!(read_lines(&sb.join("changed.2")), [s(&file)], "run 2 was told of the edited file");
}

#[test]
fn a_restart_and_sigterm_leave_no_grandchild_behind() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#""$SLEEP" 1000 & echo $! > "$DIR/gc.$STATOR_RUN.pid"; echo start >> "$LOG"; wait"#;
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to write its grandchild's pid", || read_pid(&sb.join("gc.1.pid")).is_some());
    let gc1 = read_pid(&sb.join("gc.1.pid")).unwrap();
    assert!(alive(gc1), "the first grandchild runs");

    append(&file, "v2 is longer\n");
    st.wait("run 2 to write its grandchild's pid", || read_pid(&sb.join("gc.2.pid")).is_some());
    let gc2 = read_pid(&sb.join("gc.2.pid")).unwrap();
    st.wait("the first grandchild to be gone", || !alive(gc1));
    assert!(alive(gc2), "the second grandchild runs");

    st.signal(Signal::TERM);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(143), "{}", st.stderr());
    st.wait("the second grandchild to be gone", || !alive(gc2));
    let marker = sb.marker();
    st.wait("no process of the test to remain", || pids_with_marker(&marker).is_empty());
}

#[test]
fn sigint_exits_130_and_stops_the_child_group() {
    let sb = Sandbox::new();
    let src = sb.src();
    let script = r#"echo $$ > "$DIR/child.pid"; "$SLEEP" 1000 & echo start >> "$LOG"; wait"#;
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("the child to start its group", || sb.log_count("start") == 1);
    let child = read_pid(&sb.join("child.pid")).unwrap();
    assert_eq!(group_members(child).len(), 2, "the child and its sleep form the group");

    st.signal(Signal::INT);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", st.stderr());
    st.wait("the child's process group to be gone", || group_members(child).is_empty());
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_stop_timeout_and_the_new_run_starts() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#"trap '' TERM; echo $$ > "$DIR/child.$STATOR_RUN.pid"; echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["--stop-timeout", "300ms", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    let first = read_pid(&sb.join("child.1.pid")).unwrap();

    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    st.wait("the first child to be gone", || !alive(first));
    st.wait_stderr("[stator] restarted (run 2)");
    let restarted = st.lines_with("restarted (run 2)");
    assert!(restarted[0].contains("SIGKILL"), "the first run was killed: {}", restarted[0]);
}

#[test]
fn a_port_held_by_the_old_child_is_free_when_the_new_one_starts() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let port = free_port();
    // A server that takes a moment to shut down gracefully, holding the port meanwhile: the new one can bind only
    // if stator waited for the old one to be gone.
    let server = r#"
import os, signal, socket, sys, time
def drain(signum, frame):
    time.sleep(1)
    sys.exit(0)
signal.signal(signal.SIGTERM, drain)
log = os.environ["LOG"]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
try:
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    s.listen(8)
except OSError as e:
    with open(log, "a") as f:
        f.write("error: %s\n" % e)
    sys.exit(1)
with open(log, "a") as f:
    f.write("bound\n")
time.sleep(1000)
"#;
    let command = ["python3".to_string(), "-c".into(), server.into(), sb.marker()];
    let mut cmd = sb.command(&fast(&["-w", s(&src)]), &command);
    cmd.env("PORT", port.to_string());
    let mut st = sb.spawn_cmd(cmd);
    st.wait_watching();
    st.wait("run 1 to bind", || !sb.log_lines().is_empty());
    assert_eq!(sb.log_lines(), ["bound"], "{}", st.stderr());

    append(&file, "v2 is longer\n");
    st.wait("run 2 to bind or fail", || sb.log_lines().len() >= 2);
    assert_eq!(sb.log_lines(), ["bound", "bound"], "{}", st.stderr());
}

#[test]
fn on_exit_exit_passes_the_child_exit_code_on() {
    let sb = Sandbox::new();
    let src = sb.src();
    let (status, _, stderr) = sb.run(&fast(&["--on-exit", "exit", "-w", s(&src)]), &sb.sh("exit 7"));
    assert_eq!(status.code(), Some(7), "{stderr}");
    let (status, _, stderr) = sb.run(&fast(&["--on-exit", "exit", "-w", s(&src)]), &sb.sh("kill -9 $$"));
    assert_eq!(status.code(), Some(137), "{stderr}");
}

#[test]
fn on_exit_restart_reruns_a_child_that_exits_without_a_change() {
    let sb = Sandbox::new();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["--on-exit", "restart", "-w", s(&src)]), &sb.sh(r#"echo start >> "$LOG""#));
    st.wait_watching();
    st.wait("three runs", || sb.log_count("start") >= 3);

    assert!(st.running(), "stator keeps running\n{}", st.stderr());
    assert!(st.lines_with("[stator] changed:").is_empty(), "no change was involved\n{}", st.stderr());
    // Not spinning: each automatic restart waited out a crash-loop delay first.
    assert!(st.lines_with("restarting in").len() >= 2, "{}", st.stderr());
}

#[test]
fn reload_code_restarts_at_once_and_the_second_run_stays_up() {
    let sb = Sandbox::new();
    let src = sb.src();
    let script = r#"echo $$ > "$DIR/child.$STATOR_RUN.pid"; echo start >> "$LOG"
        if [ "$STATOR_RUN" = 1 ]; then exit 3; fi
        exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "--reload-code", "3", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    st.wait_scans(5);

    assert_eq!(sb.log_lines(), ["start", "start"], "{}", st.stderr());
    assert!(alive(read_pid(&sb.join("child.2.pid")).unwrap()), "run 2 is still up\n{}", st.stderr());
    assert!(st.lines_with("[stator] changed:").is_empty(), "no change was involved\n{}", st.stderr());
    let restarted = st.lines_with("restarted (run 2)");
    assert_eq!(restarted.len(), 1, "{}", st.stderr());
    assert!(restarted[0].contains("; run 1 ended: exit status: 3 after "), "{}", restarted[0]);
}

#[test]
fn on_busy_queue_reruns_after_the_running_child_ends_by_itself() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#"echo start >> "$LOG"
        if [ "$STATOR_RUN" = 1 ]; then
            echo $$ > "$DIR/run1.pid"
            while [ ! -e "$DIR/release" ]; do "$SLEEP" 0.05; done
            echo end >> "$LOG"
            exit 0
        fi
        exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "--on-busy", "queue", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to write its pid", || read_pid(&sb.join("run1.pid")).is_some());
    let run1 = read_pid(&sb.join("run1.pid")).unwrap();

    append(&file, "v2 is longer\n");
    st.wait_stderr("[stator] change queued");
    st.wait_scans(3);
    assert!(alive(run1), "run 1 was not killed\n{}", st.stderr());
    assert_eq!(sb.log_lines(), ["start"], "nothing reran yet\n{}", st.stderr());

    fs::write(sb.join("release"), "").unwrap();
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    assert_eq!(sb.log_lines(), ["start", "end", "start"], "run 1 ended by itself before run 2\n{}", st.stderr());
}

#[test]
fn on_busy_signal_sends_hup_and_does_not_restart() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#"trap 'echo hup >> "$LOG"' HUP; echo start >> "$LOG"
        while :; do "$SLEEP" 1000 & wait $!; done"#;
    // The child ignores the stop signal (HUP) too: a short stop timeout lets stator end quickly when the test ends,
    // instead of after 10 s.
    let args = fast(&["-v", "--on-busy", "signal", "--signal", "HUP", "--stop-timeout", "300ms", "-w", s(&src)]);
    let mut st = sb.spawn(&args, &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    append(&file, "v2 is longer\n");
    st.wait("the child to log the HUP", || sb.log_count("hup") >= 1);
    st.wait_scans(5);

    assert_eq!(sb.log_lines(), ["start", "hup"], "one HUP, no restart\n{}", st.stderr());
    assert_eq!(st.lines_with("sent SIGHUP to the command").len(), 1, "{}", st.stderr());
    assert!(st.lines_with("restarted").is_empty(), "{}", st.stderr());
}

#[test]
fn a_missing_command_exits_127_with_one_line() {
    let sb = Sandbox::new();
    let src = sb.src();
    let missing = sb.join("no-such-command");
    let (status, _, stderr) = sb.run(&fast(&["-w", s(&src)]), &[s(&missing).to_owned()]);

    assert_eq!(status.code(), Some(127), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("command not found")).collect();
    assert_eq!(lines.len(), 1, "one line, no retries:\n{stderr}");
    assert!(lines[0].contains(s(&missing)), "it names the command: {}", lines[0]);
}

#[test]
fn postpone_runs_nothing_until_the_first_change() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let script = r#"echo "start $STATOR_RUN" >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "--postpone", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait_scans(5);
    assert!(!sb.log().exists(), "nothing ran before a change\n{}", st.stderr());

    append(&file, "v2 is longer\n");
    st.wait("the first run to log its start", || !sb.log_lines().is_empty());
    assert_eq!(sb.log_lines(), ["start 1"], "{}", st.stderr());
}

#[test]
fn list_prints_exactly_the_watched_files_and_bad_arguments_exit_2() {
    let sb = Sandbox::new();
    let proj = sb.join("proj");
    for dir in ["vendor", "sub"] {
        fs::create_dir_all(proj.join(dir)).unwrap();
    }
    for file in ["a.rs", "b.txt", "gen.rs", "vendor/v.rs", "sub/d.rs", ".a.rs.swp"] {
        fs::write(proj.join(file), "x\n").unwrap();
    }
    fs::write(proj.join(".gitignore"), "gen.rs\n").unwrap();
    let listed = |args: &[&str]| {
        let mut all = vec!["--list", "-w", s(&proj)];
        all.extend_from_slice(args);
        let (status, stdout, stderr) = sb.run(&all, &[]);
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        let mut lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let abs = |names: &[&str]| names.iter().map(|n| s(&proj.join(n)).to_owned()).collect::<Vec<_>>();

    // .gitignore drops gen.rs; the default ignores drop the swap file.
    assert_eq!(listed(&[]), abs(&[".gitignore", "a.rs", "b.txt", "sub/d.rs", "vendor/v.rs"]));
    // -e keeps only .rs files; -i drops vendor/ and what it holds.
    assert_eq!(listed(&["-e", "rs", "-i", "vendor"]), abs(&["a.rs", "sub/d.rs"]));

    let (status, stdout, stderr) = sb.run(&["--list", "-w", s(&proj), "-i", "[a-"], &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stdout, "");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line:\n{stderr}");
    assert!(lines[0].contains("'[a-'"), "it names the pattern: {}", lines[0]);

    let (status, _, stderr) = sb.run(&["--interval", "2", "-w", s(&proj)], &sb.sh("exit 0"));
    assert_eq!(status.code(), Some(2), "{stderr}");
}

#[test]
fn a_missing_root_warns_once_and_triggers_a_restart_when_it_appears() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let missing = sb.join("later");
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src), "-w", s(&missing)]), &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    st.wait_scans(5);
    let warnings = st.lines_with("warning");
    assert_eq!(warnings.len(), 1, "one warning\n{}", st.stderr());
    assert!(warnings[0].contains(s(&missing)), "it names the missing root: {}", warnings[0]);

    append(&file, "v2 is longer\n");
    st.wait("the other root to trigger run 2", || sb.log_count("start") >= 2);
    assert!(st.running(), "{}", st.stderr());

    // The root appears whole, in one rename.
    let staging = sb.join("staging");
    fs::create_dir(&staging).unwrap();
    fs::write(staging.join("new.txt"), "new\n").unwrap();
    fs::rename(&staging, &missing).unwrap();
    st.wait("the new root to trigger run 3", || sb.log_count("start") >= 3);
    assert_eq!(sb.log_lines(), ["start", "start", "start"], "{}", st.stderr());
}

#[test]
fn json_events_are_json_lines_and_name_the_changed_path() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["--json", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_stderr(r#""event":"watching""#);
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    st.signal(Signal::TERM);
    st.wait_exit();

    let stderr = st.stderr();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{stderr}")))
        .collect();
    assert!(events.iter().all(|e| e["event"].is_string()), "every line is an event\n{stderr}");
    let changes: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "changes").collect();
    assert_eq!(changes.len(), 1, "{stderr}");
    let paths: Vec<&str> =
        changes[0]["changes"].as_array().unwrap().iter().filter_map(|c| c["path"].as_str()).collect();
    assert_eq!(paths, [s(&file)], "{stderr}");
}

#[test]
fn no_escape_bytes_without_a_terminal_or_with_no_color() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let missing = sb.join("missing");

    // Not a terminal (stderr is a file), and NO_COLOR unset: every kind of line, and none coloured.
    let mut cmd = sb.command(&fast(&["-v", "-w", s(&src), "-w", s(&missing)]), &sb.sh(LOG_AND_STAY));
    cmd.env_remove("NO_COLOR");
    let mut st = sb.spawn_cmd(cmd);
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    append(&file, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_count("start") == 2);
    st.wait_scans(1);
    st.signal(Signal::TERM);
    st.wait_exit();
    let stderr = st.stderr_bytes();
    let text = String::from_utf8_lossy(&stderr);
    for kind in ["[stator] watching", "[stator] warning", "[stator] changed:", "[stator] restarted", "[stator] scans:"]
    {
        assert!(text.contains(kind), "the output has a {kind:?} line\n{text}");
    }
    assert!(!stderr.contains(&0x1b), "no escape bytes on a non-terminal:\n{text:?}");
    drop(st);

    // On a terminal (a pty from util-linux `script`), NO_COLOR turns colour off; without it, colour is on (which
    // shows the pty is seen as a terminal at all).
    let Some(script) = which("script") else {
        return skip("util-linux `script` is not installed: the NO_COLOR-on-a-terminal half of this test is untested");
    };
    let on_pty = |no_color: bool| {
        let line =
            format!("{} --on-exit exit -w {} -- sh -c 'exit 0'", quote(env!("CARGO_BIN_EXE_stator")), quote(s(&src)));
        let mut cmd = std::process::Command::new(&script);
        cmd.args(["-q", "-e", "-c", &line, "/dev/null"]);
        sb.prepare(&mut cmd);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let mut st = sb.spawn_cmd(cmd);
        let status = st.wait_exit();
        assert_eq!(status.code(), Some(0), "script: {}", st.stderr());
        st.stdout()
    };
    let coloured = on_pty(false);
    assert!(coloured.contains("[stator]"), "stator ran on the pty: {coloured:?}");
    assert!(coloured.contains('\x1b'), "a terminal without NO_COLOR gets colour: {coloured:?}");
    let plain = on_pty(true);
    assert!(plain.contains("[stator] watching"), "stator ran on the pty: {plain:?}");
    assert!(!plain.contains('\x1b'), "NO_COLOR on a terminal: no escape bytes: {plain:?}");
}

/// Single-quotes `word` for `sh`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[test]
fn as_pid1_stator_reaps_orphans_and_stops_its_child_on_sigterm() {
    let probe = std::process::Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return skip(&format!(
                "`unshare --pid --fork --mount-proc` failed here ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Err(e) => return skip(&format!("cannot run unshare: {e}")),
    }
    let sb = Sandbox::new();
    let src = sb.src();
    // The child leaves an orphan (the inner subshell, whose parent exits at once) that lives until `free` appears;
    // inside the namespace, orphans are re-parented to stator.
    let script = r#"trap 'echo term >> "$LOG"; exit 0' TERM
        ( ( while [ ! -e "$DIR/free" ]; do "$SLEEP" 0.05; done ) & )
        "$SLEEP" 1000 &
        echo start >> "$LOG"
        wait"#;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", env!("CARGO_BIN_EXE_stator")]);
    cmd.args(fast(&["-w", s(&src), "--"])).args(sb.sh(script));
    sb.prepare(&mut cmd);
    let mut st = sb.spawn_cmd(cmd);
    st.wait_watching();
    st.wait("the child to log its start", || sb.log_count("start") == 1);
    let unshare = st.pid();
    let mut stator = 0;
    st.wait("to find stator, unshare's child", || match children_of(unshare)[..] {
        [pid] => {
            stator = pid;
            true
        }
        _ => false,
    });
    assert_eq!(inner_pid(stator), Some(1), "stator is PID 1 of its namespace");

    // Stator's children: its own child, and the orphan.
    st.wait("the orphan to be re-parented to stator", || {
        let children = children_of(stator);
        children.len() == 2 && children.iter().all(|&c| alive(c))
    });
    fs::write(sb.join("free"), "").unwrap();
    st.wait("the orphan to exit and be reaped (no zombie child of stator)", || {
        let children = children_of(stator);
        children.len() == 1 && children.iter().all(|&c| proc_stat(c).is_some_and(|(state, _, _)| state != 'Z'))
    });

    let pid = rustix::process::Pid::from_raw(stator).unwrap();
    rustix::process::kill_process(pid, Signal::TERM).unwrap();
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(143), "stator's exit code, passed on by unshare\n{}", st.stderr());
    assert_eq!(sb.log_lines(), ["start", "term"], "the child was stopped with SIGTERM\n{}", st.stderr());
    let marker = sb.marker();
    st.wait("no process of the test to remain", || pids_with_marker(&marker).is_empty());
}

#[test]
fn a_change_while_the_command_is_stopping_gives_exactly_one_more_restart() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    // Run 1 takes its time to stop: it says so, then waits until the test releases it.
    let script = r#"
        trap 'echo stopping >> "$LOG"; while [ ! -e "$DIR/release" ]; do "$SLEEP" 0.05; done; exit 0' TERM
        echo start >> "$LOG"
        "$SLEEP" 1000 & wait
    "#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    append(&file, "v2 is longer\n");
    st.wait("run 1 to be told to stop", || sb.log_count("stopping") == 1);
    // Two more edits while run 1 is stopping: they must not be lost, and they are one burst.
    append(&file, "v3 is longer still\n");
    fs::write(src.join("other.txt"), "new\n").unwrap();
    fs::write(sb.join("release"), "").unwrap();

    st.wait("run 3: one more restart for the changes made during the stop", || sb.log_count("start") >= 3);
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 3, "exactly one more restart\n{}", st.stderr());
}

/// Stator raises its own open-file limit (it holds a handle per watched directory on local filesystems), but the
/// child gets the limit stator was started with: programs that use `select(2)` break above 1024.
#[test]
#[cfg(target_os = "linux")]
fn the_child_gets_the_open_file_limit_stator_was_started_with() {
    let sb = Sandbox::new();
    let src = sb.src();
    fs::write(src.join("a.txt"), "a\n").unwrap();
    let inner = sb.command(&fast(&["-w", s(&src)]), &sb.sh(r#"ulimit -S -n >> "$LOG"; exec "$SLEEP" 1000"#));
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(r#"ulimit -S -n 512 && exec "$0" "$@""#).arg(inner.get_program()).args(inner.get_args());
    sb.prepare(&mut cmd);
    let mut st = sb.spawn_cmd(cmd);
    st.wait("the child to log its limit", || !sb.log_lines().is_empty());
    assert_eq!(sb.log_lines(), ["512"], "{}", st.stderr());
    let limits = fs::read_to_string(format!("/proc/{}/limits", st.pid())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
    let field = |n: usize| line.split_whitespace().nth(n).and_then(|v| v.parse::<u64>().ok());
    let (soft, hard) = (field(3), field(4));
    if hard.is_some_and(|h| h > 512) {
        assert!(soft > Some(512), "stator kept the low limit: {line}");
    }
}
