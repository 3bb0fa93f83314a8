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

use common_e2e::Sandbox;

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
