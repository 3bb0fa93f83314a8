//! Unchanged saves: a settled set of changes whose files all hold the bytes the current run started with restarts
//! nothing (issue 16 item 2). Through the binary, with real files: saves without an edit (in place and atomic, as
//! editors do), a generator that writes the same output at each start, and `--no-skip-unchanged`.

use std::fs;
use std::path::Path;

use filetime::FileTime;

use crate::support::sandbox::{LOG_AND_STAY, POLL, Sandbox, Stator, TIMEOUT, fast, read_lines, s};
use crate::support::{set_mtime, wait_until};

/// A child that logs its start, keeps its changed-files list as `changed.<run>`, and stays up.
const LOG_LIST_AND_STAY: &str = r#"echo start >> "$LOG"; cp "$STATOR_CHANGED_FILE" "$DIR/part.$STATOR_RUN" && mv "$DIR/part.$STATOR_RUN" "$DIR/changed.$STATOR_RUN"; exec "$SLEEP" 1000"#;

/// Saves `bytes` to `path` as an editor saving in place does, stamping it with the `n`th of a series of distinct
/// past mtimes: the fingerprint changes whatever the clock's tick.
fn save_in_place(path: &Path, bytes: &str, n: i64) {
    fs::write(path, bytes).expect("save in place");
    set_mtime(path, FileTime::from_unix_time(1_600_000_000 + n, 0));
}

/// Saves `bytes` to `path` as editors that write a temporary and rename it over the file do (a new inode).
fn save_atomically(path: &Path, bytes: &str) {
    let tmp = path.with_extension("tmp-save");
    fs::write(&tmp, bytes).expect("write the temporary");
    fs::rename(&tmp, path).expect("rename it over the file");
}

/// Waits until `n` of stator's stderr lines contain `needle`.
fn wait_lines(st: &Stator, needle: &str, n: usize) {
    let seen = wait_until(TIMEOUT, POLL, || st.lines_with(needle).len() >= n);
    assert!(seen, "timed out waiting for {n} lines with {needle:?}\n{}", st.stderr());
}

#[test]
fn a_save_without_an_edit_restarts_nothing_and_an_edit_still_does() {
    let sb = Sandbox::new();
    let file = sb.src().join("app.py");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src), "-i", "*.tmp-save"]), &sb.sh(LOG_LIST_AND_STAY));
    st.wait_watching();
    st.wait("run 1", || sb.log_count("start") == 1);

    // The first change to a file stator never read is a change, whatever the bytes: it restarts.
    save_in_place(&file, "v1\n", 1);
    st.wait("run 2", || sb.log_count("start") == 2);

    // Saved again, same bytes, in place and atomically: no restart, and -v says so.
    save_in_place(&file, "v1\n", 2);
    st.wait_stderr("unchanged: 1 file, no restart");
    save_atomically(&file, "v1\n");
    wait_lines(&st, "unchanged: 1 file, no restart", 2);
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 2, "no restart for unchanged saves\n{}", st.stderr());
    assert_eq!(st.lines_with("[stator] changed:").len(), 1, "the skipped sets are not changes\n{}", st.stderr());

    // An edit restarts; saving the edited file again does not.
    save_atomically(&file, "v2\n");
    st.wait("run 3", || sb.log_count("start") == 3);
    save_in_place(&file, "v2\n", 3);
    wait_lines(&st, "unchanged: 1 file, no restart", 3);

    // Edited and put back within one burst: the bytes the run started with, no restart.
    fs::write(&file, "v3, for a moment\n").unwrap();
    save_in_place(&file, "v2\n", 4);
    wait_lines(&st, "unchanged: 1 file, no restart", 4);

    // A new file beside an unchanged save: a restart, told only of the new file.
    let new = sb.src().join("new.py");
    save_in_place(&file, "v2\n", 5);
    fs::write(&new, "v2\n").unwrap();
    st.wait("run 4", || sb.log_count("start") == 4);
    st.wait("run 4 to copy its list", || sb.join("changed.4").exists());
    assert_eq!(read_lines(&sb.join("changed.4")), [s(&new)], "{}", st.stderr());
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 4, "{}", st.stderr());
    assert!(st.running(), "{}", st.stderr());
}

#[test]
fn the_first_skip_is_said_without_v_with_how_to_turn_it_off() {
    let sb = Sandbox::new();
    let file = sb.src().join("app.py");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1", || sb.log_count("start") == 1);
    save_in_place(&file, "v2\n", 1);
    st.wait("run 2", || sb.log_count("start") == 2);
    save_in_place(&file, "v2\n", 2);
    st.wait_stderr("--no-skip-unchanged restarts on every save");
    save_in_place(&file, "v2\n", 3);
    save_in_place(&file, "v3\n", 4);
    st.wait("run 3", || sb.log_count("start") == 3);
    assert_eq!(st.lines_with("[stator] unchanged").len(), 1, "said once without -v\n{}", st.stderr());
}

#[test]
fn no_skip_unchanged_restarts_on_every_save() {
    let sb = Sandbox::new();
    let file = sb.src().join("app.py");
    fs::write(&file, "v1\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-v", "--no-skip-unchanged", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1", || sb.log_count("start") == 1);
    // Two saves: a third within two seconds of a restart would look like a restart loop (see supervisor::loops).
    for (n, run) in [(1, 2), (2, 3)] {
        save_in_place(&file, "v1\n", n);
        st.wait(&format!("run {run}"), || sb.log_count("start") == run);
    }
    assert!(st.lines_with("[stator] unchanged").is_empty(), "{}", st.stderr());
}

#[test]
fn a_generator_writing_the_same_output_at_each_start_restarts_once_not_for_ever() {
    let sb = Sandbox::new();
    let src = sb.src();
    // The command regenerates src/gen.py at each start, always with the same bytes (as codegen does): the first
    // write is a change (a new file), the second one holds what the run started with.
    let script = r#"echo start >> "$LOG"; printf 'GENERATED = 1\n' > "$0/src/gen.py"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 2, for the file run 1 created", || sb.log_count("start") == 2);
    st.wait_stderr("unchanged: 1 file, no restart");
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 2, "{}", st.stderr());
    assert!(st.lines_with("restart loop").is_empty(), "no loop to break\n{}", st.stderr());
}
