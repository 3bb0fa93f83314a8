//! Security: changed paths never reach a shell (with `--shell` too, they only ever travel in a file), and the file
//! stator writes them to is private and gone when stator exits.
//!
//! The watched tree holds files whose names are shell code (`$(touch pwned)`, `;touch pwned`, ...). They are edited,
//! the command restarts and is told about them; a file named `pwned` must never appear, and the names must reach the
//! child byte for byte, through `STATOR_CHANGED_FILE` only (never its command line or its environment).
//! Linux only (`/proc`): see `main.rs`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::process::Signal;

use crate::support::sandbox::{Sandbox, fast, read_pid, s};

/// File names that run `touch pwned` if they ever reach a shell unquoted (or badly quoted).
const HOSTILE: [&str; 7] = [
    "$(touch pwned)",
    ";touch pwned",
    "`touch pwned`",
    "a b|touch pwned&",
    "'\";touch pwned;'",
    "$IFS;touch${IFS}pwned",
    // A newline in a name: the changed-files list is one path per line, so this one reads as two lines there.
    "x\ntouch pwned",
];

/// Every `pwned` under `dir`.
fn pwned_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if entry.file_name() == "pwned" {
                found.push(p.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    found
}

/// The files with hostile names, created in `src`, in the order stator lists changes (path order).
fn hostile_files(src: &Path) -> Vec<PathBuf> {
    let set: BTreeSet<PathBuf> = HOSTILE.iter().map(|n| src.join(n)).collect();
    for f in &set {
        fs::write(f, "v1\n").expect("write a hostile name");
    }
    set.into_iter().collect()
}

/// The bytes of the changed-files list naming `files`: one path per line.
fn listing(files: &[PathBuf]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        out.extend_from_slice(f.as_os_str().as_bytes());
        out.push(b'\n');
    }
    out
}

/// What a process was started with: its command line and environment, as bytes.
fn cmdline_and_environ(pid: i32) -> Vec<u8> {
    let mut out = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    out.extend(fs::read(format!("/proc/{pid}/environ")).unwrap_or_default());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The child script: records its pid and its list of changed files, then stays up.
const SCRIPT: &str = r#"echo $$ > "$DIR/child.$STATOR_RUN.pid"; cp "$STATOR_CHANGED_FILE" "$DIR/part.$STATOR_RUN" && mv "$DIR/part.$STATOR_RUN" "$DIR/changed.$STATOR_RUN"; echo start >> "$LOG"; exec "$SLEEP" 1000"#;

/// Runs stator with `args` and `command`, edits the hostile files, and checks what run 2 was told and that nothing
/// ran the names.
fn edit_hostile_files_and_check(shell: bool) {
    let sb = Sandbox::new();
    let src = sb.src();
    let files = hostile_files(&src);
    let mut args = fast(&["-w", s(&src)]);
    let command = if shell {
        args.push("--shell");
        vec![SCRIPT.to_owned()]
    } else {
        sb.sh(SCRIPT)
    };
    let mut st = sb.spawn(&args, &command);
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    for f in &files {
        fs::write(f, "v2, longer\n").expect("edit a hostile name");
    }
    st.wait("run 2 to copy its list", || sb.log_count("start") >= 2 && sb.join("changed.2").exists());
    let child = read_pid(&sb.join("child.2.pid")).expect("run 2's pid");
    let told = fs::read(sb.join("changed.2")).expect("read the copied list");
    let seen = cmdline_and_environ(child);
    st.signal(Signal::TERM);
    st.wait_exit();

    assert_eq!(told, listing(&files), "the child is told every name, byte for byte");
    assert!(!contains(&seen, b"touch"), "no name is in the child's command line or environment");
    let mut pwned = pwned_under(sb.path());
    if let Ok(cwd) = std::env::current_dir() {
        pwned.extend(pwned_under(&cwd).into_iter().filter(|p| p.parent() == Some(cwd.as_path())));
    }
    assert!(pwned.is_empty(), "a name reached a shell: {pwned:?}\n{}", st.stderr());
}

#[test]
fn changed_paths_never_reach_a_shell_without_shell_mode() {
    edit_hostile_files_and_check(false);
}

#[test]
fn with_shell_mode_changed_paths_still_reach_the_command_only_through_the_file() {
    edit_hostile_files_and_check(true);
}

#[test]
fn the_changed_files_list_is_private_and_removed_when_stator_exits() {
    enum End {
        Signal(Signal, i32),
        ChildExits,
    }
    for end in [End::Signal(Signal::TERM, 143), End::Signal(Signal::INT, 130), End::ChildExits] {
        let sb = Sandbox::new();
        let src = sb.src();
        let (args, script, code) = match end {
            End::Signal(_, code) => (
                fast(&["-w", s(&src)]),
                r#"echo "$STATOR_CHANGED_FILE" > "$DIR/where"; echo start >> "$LOG"; exec "$SLEEP" 1000"#,
                code,
            ),
            End::ChildExits => (
                fast(&["--on-exit", "exit", "-w", s(&src)]),
                // Stays until the test has looked at the file, then ends, and stator with it.
                r#"echo "$STATOR_CHANGED_FILE" > "$DIR/where"; while [ ! -e "$DIR/done" ]; do "$SLEEP" 0.05; done"#,
                0,
            ),
        };
        let mut st = sb.spawn(&args, &sb.sh(script));
        st.wait("the child to say where its list is", || {
            fs::read_to_string(sb.join("where")).is_ok_and(|w| w.ends_with('\n'))
        });
        let file = PathBuf::from(fs::read_to_string(sb.join("where")).expect("read").trim_end());
        let dir = file.parent().expect("the list's directory").to_path_buf();
        let fmeta = fs::symlink_metadata(&file).expect("the list exists");
        let dmeta = fs::symlink_metadata(&dir).expect("its directory exists");
        assert!(fmeta.file_type().is_file(), "a regular file, not a link: {}", file.display());
        assert_eq!(fmeta.permissions().mode() & 0o777, 0o600, "{} is private", file.display());
        assert!(dmeta.file_type().is_dir());
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700, "{} is private", dir.display());
        let uid = rustix::process::geteuid().as_raw();
        assert_eq!((fmeta.uid(), dmeta.uid()), (uid, uid), "owned by whoever runs stator");

        match end {
            End::Signal(sig, _) => st.signal(sig),
            End::ChildExits => fs::write(sb.join("done"), "").expect("release the child"),
        }
        let status = st.wait_exit();
        assert_eq!(status.code(), Some(code), "{}", st.stderr());
        assert!(!file.exists() && !dir.exists(), "{} is removed when stator exits", dir.display());
    }
}
