//! The first hour with stator, tried as a new user would (issue 15): the README's Python recipes on a real Django
//! and Flask project, a command that keeps changing a watched file itself, trees without a `.gitignore`, and a
//! burst bigger than the hot tier.
//!
//! As in `cli_e2e`, nothing sleeps to synchronise: every wait is a bounded poll for something observable (a log
//! line, a status line, a page served), and "nothing happens" is checked after a few more of stator's own scans.
#![cfg(unix)]

mod common_e2e;
mod common_learn;

use std::fs;
use std::path::{Path, PathBuf};

use common_e2e::{FAST, Sandbox, append};

/// `--interval 100ms --settle 100ms` followed by `extra`.
fn fast<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FAST.iter().copied().chain(extra.iter().copied()).collect()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("sandbox paths are UTF-8")
}

// -----------------------------------------------------------------------------------------------------------------
// A burst bigger than the hot tier.

/// 3000 files rewritten at once, when more than the hot tier can hold (1024 paths) were changed lately: the hot
/// tier sees its share of the burst first, but the restart waits for the full sweep to have its say. One restart,
/// and the command is told about every file.
#[test]
fn a_burst_of_3000_rewrites_is_one_restart_that_lists_every_file() {
    const N: usize = 3000;
    let sb = Sandbox::new();
    let src = sb.src();
    let files: Vec<PathBuf> = (0..N).map(|i| src.join(format!("f{i:04}.txt"))).collect();
    for f in &files {
        fs::write(f, "v0\n").unwrap();
    }
    let rewrite = |text: &str| {
        for f in &files {
            fs::write(f, text).unwrap();
        }
    };
    let script = r#"echo "run $STATOR_RUN $(sort -u "$STATOR_CHANGED_FILE" | wc -l)" >> "$LOG"; exec "$SLEEP" 1000"#;
    // Full sweeps every 2 s, hot ticks every 50 ms: the hot tier sees a burst long before a full sweep does.
    let args = ["-v", "--interval", "2s", "--hot-interval", "50ms", "-w", s(&src)];
    let mut st = sb.spawn(&args, &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_lines() == ["run 1 0"]);

    // The first burst is found by a full sweep; 1024 of its paths become hot.
    rewrite("v1, longer\n");
    st.wait("run 2 to log its start", || sb.log_lines().len() >= 2);
    assert_eq!(sb.log_lines(), ["run 1 0", &format!("run 2 {N}")], "{}", st.stderr());

    // The second: the hot tier sees 1023 files change at once, the full sweep the other 1977.
    rewrite("v2, longer still\n");
    st.wait("run 3 to log its start", || sb.log_lines().len() >= 3);
    st.wait_scans(2);
    assert_eq!(sb.log_lines(), ["run 1 0", &format!("run 2 {N}"), &format!("run 3 {N}")], "{}", st.stderr());
    let changed = st.lines_with("[stator] changed:");
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed[1].ends_with(&format!("and {} more", N - 3)), "{}", changed[1]);
}

// -----------------------------------------------------------------------------------------------------------------
// Restart loops.

/// A command that appends to a log inside the watched tree as it starts restarted itself for ever (19 times in 8
/// s). Now three runs in a row changing it in their first moments are a loop: said once, with the fix, and the log
/// restarts nothing any more, while a real edit still does.
#[test]
fn a_command_that_writes_a_watched_log_at_every_start_is_told_once_and_stops_looping() {
    let sb = Sandbox::new();
    let src = sb.src();
    let main = src.join("main.py");
    fs::write(&main, "v1\n").unwrap();
    let script = r#"echo "run $STATOR_RUN" >> "$DIR/src/app.log"; echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(script));
    st.wait_stderr("the command itself keeps changing");
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 3, "three runs, then the loop is broken\n{}", st.stderr());
    let notice = st.lines_with("keeps changing");
    assert_eq!(notice.len(), 1, "{notice:?}");
    assert!(
        notice[0].starts_with("[stator] warning: the command itself keeps changing src/app.log")
            && notice[0].ends_with("; ignore it with -i app.log"),
        "{notice:?}"
    );

    // A real edit restarts the command, once: the log its new run writes restarts nothing.
    append(&main, "v2\n");
    st.wait("run 4 after the edit", || sb.log_count("start") >= 4);
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 4, "{}", st.stderr());
    assert_eq!(st.lines_with("keeps changing").len(), 1, "said once");
    assert_eq!(fs::read_to_string(src.join("app.log")).unwrap().lines().count(), 4);
    let changed = st.lines_with("[stator] changed:");
    assert!(changed.last().is_some_and(|l| l.contains("main.py") && !l.contains("app.log")), "{changed:?}");
}

/// The same command with the fix the notice gives: no loop at all.
#[test]
fn ignoring_the_log_as_the_notice_says_runs_the_command_once() {
    let sb = Sandbox::new();
    let src = sb.src();
    let script = r#"echo "run $STATOR_RUN" >> "$DIR/src/app.log"; echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-i", "app.log", "-w", s(&src)]), &sb.sh(script));
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 1, "{}", st.stderr());
    assert!(st.lines_with("keeps changing").is_empty(), "{}", st.stderr());
}
