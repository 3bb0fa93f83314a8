//! The command's life beyond restarts, end to end with real processes: `--build` (build, then swap; a failed build
//! keeps the old run; a change during the build cancels it), readiness (`--ready-port` with a real HTTP server,
//! `--ready-log` with the output forwarded byte for byte) and the hooks (`--on-ready`, `--on-success`,
//! `--on-failure`).

use std::fs;
use std::path::Path;

use crate::support::learn::http_get;
use crate::support::sandbox::{Sandbox, Stator, alive, fast, free_port, read_lines, read_pid, s, which};
use crate::support::{skip, write};

/// A build that logs its number and fails (exit 3, saying so on stderr) unless `src/ok` exists.
const BUILD: &str = r#"echo "build $STATOR_BUILD" >> "$DIR/builds"
if [ ! -e "$DIR/src/ok" ]; then echo 'the build is broken' >&2; exit 3; fi
"#;

/// A hook that writes what its environment says, and how many arguments it got.
const HOOK: &str = r#"echo "$STATOR_HOOK run=$STATOR_RUN code=$STATOR_EXIT_CODE build=$STATOR_BUILD args=$#" >> "$DIR/hooks"
"#;

/// A command that writes its pid, then logs its start (so that a test which saw the start reads this run's pid),
/// then stays up.
const SERVE: &str = r#"echo $$ > "$DIR/pid"; echo start >> "$LOG"; exec "$SLEEP" 1000"#;

/// `sh SCRIPT`, the script written into the sandbox: a command line for `--build` or a hook (split into words, no
/// shell in between; the sandbox's path keeps the processes findable).
fn sh_file(sb: &Sandbox, name: &str, script: &str) -> String {
    let path = sb.join(name);
    write(&path, script);
    format!("sh {}", s(&path))
}

/// How many lines of stator's stderr contain `needle`.
fn count(sb: &Sandbox, needle: &str) -> usize {
    read_lines(&sb.join("stator.stderr")).iter().filter(|l| l.contains(needle)).count()
}

/// Waits until `needle` is in `n` lines of stator's stderr.
fn wait_count(st: &mut Stator, sb: &Sandbox, needle: &str, n: usize) {
    st.wait(&format!("{n} lines with {needle:?}"), || count(sb, needle) >= n);
}

fn pid(sb: &Sandbox) -> i32 {
    read_pid(&sb.join("pid")).expect("the command wrote its pid")
}

#[test]
fn build_then_swap_and_a_failed_build_keeps_the_old_run() {
    let sb = Sandbox::new();
    let src = sb.src();
    let build = sh_file(&sb, "build.sh", BUILD);
    let hook = sh_file(&sb, "hook.sh", HOOK);
    let args = fast(&["-w", s(&src), "--build", &build, "--on-success", &hook, "--on-failure", &hook]);
    let mut st = sb.spawn(&args, &sb.sh(SERVE));

    // The first build fails: nothing runs, and stator says why.
    st.wait_stderr("[stator] build failed after ");
    let failed = st.lines_with("build failed after");
    assert!(
        failed[0].ends_with(": exit status: 3; nothing runs until a build succeeds; waiting for the next change"),
        "{failed:?}"
    );
    assert!(st.stderr().contains("the build is broken\n"), "the build's own output reaches the terminal");
    assert!(sb.log_lines().is_empty(), "the command ran without a build");
    assert!(st.running());

    // Fixed: the build succeeds, then run 1 starts.
    write(src.join("ok"), "");
    st.wait_stderr("[stator] started (run 1)");
    st.wait("run 1 to log", || sb.log_count("start") == 1);
    let first = pid(&sb);
    let text = st.stderr();
    let (built, started) = (text.find("build succeeded in ").unwrap(), text.find("started (run 1)").unwrap());
    assert!(built < started, "built, then started:\n{text}");

    // Broken again: the old run keeps serving, and stator says so.
    fs::remove_file(src.join("ok")).unwrap();
    wait_count(&mut st, &sb, "build failed after", 2);
    let failed = st.lines_with("build failed after");
    assert!(failed[1].ends_with(": exit status: 3; the previous run keeps running"), "{failed:?}");
    assert!(alive(first), "the old run was stopped for a failed build\n{}", st.stderr());
    assert_eq!(sb.log_count("start"), 1);

    // Fixed again: run 2 replaces run 1, which is gone by then.
    write(src.join("ok"), "");
    st.wait_stderr("[stator] restarted (run 2)");
    st.wait("run 2 to log", || sb.log_count("start") == 2);
    assert!(!alive(first), "run 1 outlived its replacement");
    assert_ne!(pid(&sb), first);

    assert_eq!(read_lines(&sb.join("builds")), ["build 1", "build 2", "build 3", "build 4"]);
    // With a build, success and failure are the build's; no path reaches a hook's arguments.
    st.wait("four hooks", || read_lines(&sb.join("hooks")).len() == 4);
    assert_eq!(
        read_lines(&sb.join("hooks")),
        [
            "failure run=0 code=3 build=1 args=0",
            "success run=0 code=0 build=2 args=0",
            "failure run=1 code=3 build=3 args=0",
            "success run=1 code=0 build=4 args=0",
        ]
    );
}

#[test]
fn a_change_during_the_build_cancels_it_and_builds_again() {
    let sb = Sandbox::new();
    let src = sb.src();
    // The build hangs while src/slow exists.
    let build = sh_file(
        &sb,
        "build.sh",
        r#"echo "build $STATOR_BUILD" >> "$DIR/builds"
if [ -e "$DIR/src/slow" ]; then echo $$ > "$DIR/build.pid"; exec "$SLEEP" 1000; fi
"#,
    );
    let mut st = sb.spawn(&fast(&["-w", s(&src), "--build", &build]), &sb.sh(SERVE));
    st.wait_stderr("[stator] started (run 1)");
    st.wait("run 1 to log", || sb.log_count("start") == 1);
    let first = pid(&sb);

    write(src.join("slow"), "");
    st.wait("the slow build", || read_pid(&sb.join("build.pid")).is_some());
    let slow = read_pid(&sb.join("build.pid")).expect("the build's pid");
    assert!(alive(slow) && alive(first), "the build runs beside the old run");

    // A change while it builds: the build's process group is stopped, the next build starts, succeeds, swaps.
    fs::remove_file(src.join("slow")).unwrap();
    st.wait_stderr("[stator] a change during the build: cancelled it; building again (build 3)");
    st.wait_stderr("[stator] restarted (run 2)");
    st.wait("run 2 to log", || sb.log_count("start") == 2);
    assert!(!alive(slow), "the cancelled build is still running");
    assert!(!alive(first));
    assert_eq!(read_lines(&sb.join("builds")), ["build 1", "build 2", "build 3"]);
    assert_eq!(st.lines_with("restarted (run").len(), 1, "one swap for the two changes\n{}", st.stderr());
}

#[test]
fn ready_port_says_ready_once_a_real_http_server_accepts() {
    let Some(python) = which("python3") else {
        skip("python3 is not installed");
        return;
    };
    let sb = Sandbox::new();
    let src = sb.src();
    let port = free_port();
    let hook = sh_file(&sb, "hook.sh", HOOK);
    // The server starts only once the test says so, on the address the test wrote.
    let script = format!(
        r#"echo start >> "$LOG"; while [ ! -e "$DIR/go" ]; do "$SLEEP" 0.02; done
exec {} -m http.server {port} --bind "$(cat "$DIR/bind")""#,
        s(&python)
    );
    write(sb.join("bind"), "127.0.0.1");
    let port_arg = port.to_string();
    let mut st =
        sb.spawn(&fast(&["-v", "-w", s(&src), "--ready-port", &port_arg, "--on-ready", &hook]), &sb.sh(&script));
    st.wait("run 1 to log", || sb.log_count("start") == 1);
    // Not ready while nothing listens, however long that takes (measured in stator's own scans).
    st.wait_scans(4);
    assert!(!st.stderr().contains("ready after"), "ready before the server listens:\n{}", st.stderr());

    write(sb.join("go"), "");
    st.wait_stderr("[stator] ready after ");
    let ready = st.lines_with("ready after");
    assert!(ready[0].ends_with("s (run 1)"), "{ready:?}");
    assert!(http_get(port).is_some_and(|body| body.contains("Directory listing")), "it serves once it is ready");
    st.wait("the ready hook", || read_lines(&sb.join("hooks")).len() == 1);

    // Each run is watched afresh. Run 2 listens on the IPv6 loopback only, as Node does on `localhost` where it
    // resolves to ::1 first: ready all the same.
    write(sb.join("bind"), "::1");
    write(src.join("edit.txt"), "v2");
    st.wait_stderr("[stator] restarted (run 2)");
    wait_count(&mut st, &sb, "ready after", 2);
    assert!(st.lines_with("ready after")[1].ends_with("s (run 2)"), "{}", st.stderr());
    st.wait("the second ready hook", || read_lines(&sb.join("hooks")).len() == 2);
    assert_eq!(read_lines(&sb.join("hooks")), ["ready run=1 code= build= args=0", "ready run=2 code= build= args=0"]);
}

#[test]
fn ready_log_forwards_every_byte_at_once_and_says_ready() {
    let sb = Sandbox::new();
    let src = sb.src();
    // Bytes that are not UTF-8, a CR LF, a line without its newline for a while, and stderr too.
    let script = r#"printf 'a\377b\r\nno newline yet'; printf 'to stderr\n' >&2
while [ ! -e "$DIR/more" ]; do "$SLEEP" 0.02; done
printf '\nserver listening on 8000\n'; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-w", s(&src), "--ready-log", "listening on [0-9]+$"]), &sb.sh(script));
    // A partial line is forwarded as it comes, not held back for its newline.
    st.wait("the unfinished line", || st_stdout(&sb).ends_with(b"no newline yet"));
    st.wait_stderr("to stderr\n");
    assert!(!st.stderr().contains("ready after"), "ready before the line:\n{}", st.stderr());

    write(sb.join("more"), "");
    st.wait_stderr("[stator] ready after ");
    assert!(st.lines_with("ready after")[0].ends_with("s (run 1)"), "{}", st.stderr());
    assert_eq!(st_stdout(&sb), b"a\xffb\r\nno newline yet\nserver listening on 8000\n", "forwarded unchanged");
}

/// Stator's stdout so far, as bytes.
fn st_stdout(sb: &Sandbox) -> Vec<u8> {
    fs::read(sb.join("stator.stdout")).unwrap_or_default()
}

#[test]
fn json_says_build_and_ready_events() {
    let sb = Sandbox::new();
    let src = sb.src();
    write(src.join("ok"), "");
    let build = sh_file(&sb, "build.sh", BUILD);
    let script = r#"echo 'ready to serve'; exec "$SLEEP" 1000"#;
    let mut st =
        sb.spawn(&fast(&["--json", "-w", s(&src), "--build", &build, "--ready-log", "^ready"]), &sb.sh(script));
    st.wait_stderr(r#""event":"ready""#);
    let events: Vec<serde_json::Value> =
        st.stderr().lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let names: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e["event"].as_str().unwrap(), e["state"].as_str().unwrap_or("")))
        .collect();
    let at = |name: &str| names.iter().position(|n| n.trim() == name).unwrap_or_else(|| panic!("{name}: {names:?}"));
    assert!(at("build started") < at("build succeeded"), "{names:?}");
    assert!(at("build succeeded") < at("start") && at("start") < at("ready"), "{names:?}");
    let ready = &events[at("ready")];
    assert_eq!(ready["run"], 1);
    assert!(ready["after_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{ready}");
    assert_eq!(events[at("build started")]["build"], 1);
    assert!(events[at("build succeeded")]["ms"].is_number());

    fs::remove_file(src.join("ok")).unwrap();
    st.wait_stderr(r#""state":"failed""#);
    let failed: serde_json::Value = serde_json::from_str(
        st.stderr().lines().find(|l| l.contains(r#""state":"failed""#)).expect("the failed build's event"),
    )
    .unwrap();
    assert_eq!(failed["code"], 3);
    assert_eq!(failed["running"], true);
    assert_eq!(failed["build"], 2);
}

#[test]
fn hooks_run_without_a_shell_and_never_hold_the_loop_up() {
    let sb = Sandbox::new();
    let src = sb.src();
    write(src.join("code"), "0");
    // Each hook writes what it was told, then waits for the test and fails.
    let hook =
        sh_file(&sb, "hook.sh", &format!("{HOOK}while [ ! -e \"$DIR/release\" ]; do \"$SLEEP\" 0.02; done; exit 9\n"));
    let script = r#"echo start >> "$LOG"; exit "$(cat "$DIR/src/code")""#;
    let mut st = sb.spawn(&fast(&["-w", s(&src), "--on-success", &hook, "--on-failure", &hook]), &sb.sh(script));
    st.wait("the success hook", || read_lines(&sb.join("hooks")).len() == 1);

    // While the success hook waits, a change runs the command again: hooks do not block stator.
    write(src.join("code"), "5");
    st.wait("run 2", || sb.log_count("start") == 2);
    st.wait("the failure hook", || read_lines(&sb.join("hooks")).len() == 2);
    assert_eq!(
        read_lines(&sb.join("hooks")),
        ["success run=1 code=0 build= args=0", "failure run=2 code=5 build= args=0"]
    );

    // A hook's failure is a warning, never fatal.
    write(sb.join("release"), "");
    st.wait_stderr("[stator] warning: the --on-success command failed: exit status: 9");
    st.wait_stderr("[stator] warning: the --on-failure command failed: exit status: 9");
    assert!(st.running());
    write(src.join("code"), "0");
    st.wait("run 3", || sb.log_count("start") == 3);
}

#[test]
fn a_shell_build_gets_its_line_as_it_is_and_bad_flags_exit_2() {
    let sb = Sandbox::new();
    let src = sb.src();
    // --shell: the line goes to sh -c untouched (two spaces, quotes, &&).
    let mut st = sb.spawn(
        &fast(&["--shell", "-w", s(&src), "--build", r#"true && echo "built  twice""#]),
        &["echo".into(), "up".into()],
    );
    st.wait_stderr("[stator] started (run 1)");
    st.wait("the command's output", || st_stdout(&sb).ends_with(b"up\n"));
    assert_eq!(st_stdout(&sb), b"built  twice\nup\n");
    drop(st);

    // A build that cannot run at all is a failed build: stator says so, and waits for a change.
    let mut st = sb.spawn(&fast(&["-w", s(&src), "--build", "stator-no-such-build"]), &sb.sh(SERVE));
    st.wait_stderr("[stator] build failed: cannot run it: command not found: stator-no-such-build; nothing runs");
    assert!(st.running() && sb.log_lines().is_empty());
    drop(st);

    for (args, says) in [
        (&["--ready-port", "0"][..], "--ready-port"),
        (&["--ready-log", "("], "invalid --ready-log pattern"),
        (&["--build", "make 'all"], "--build: the quote ' is not closed"),
        (&["--build", "  "], "--build needs a command"),
        (&["--on-ready", "true"], "--on-ready needs --ready-port or --ready-log"),
    ] {
        let (status, _, stderr) = sb.run(&[args, &["-w", s(&src)]].concat(), &sb.sh(SERVE));
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!Path::new(&sb.log()).exists(), "nothing ran");
}
