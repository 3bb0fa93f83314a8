//! The project config file and `--env-file` (issue 16 item 5), through the binary with real files: `stator` alone
//! runs what `stator.toml` (or `[tool.stator]` in `pyproject.toml`) says, the command line overrides it, a bad file
//! is one line naming file:line with exit 2, and environment files are read again at each run.

use std::fs;
use std::process::Command;

use crate::support::sandbox::{LOG_AND_STAY, Sandbox, fast, s};

/// A child that logs `start $GREETING` and stays up.
const LOG_GREETING_AND_STAY: &str = r#"echo "start $GREETING" >> "$LOG"; exec "$SLEEP" 1000"#;

/// `command = [...]` running `script` with `sh -c` and the sandbox's marker as `$0` (TOML literal strings: the
/// scripts hold no single quote).
fn command_key(sb: &Sandbox, script: &str) -> String {
    assert!(!script.contains('\''));
    format!("command = ['sh', '-c', '{script}', '{}']\n", sb.marker())
}

/// `stator ARGS` with nothing after: the command, if any, comes from the config file.
fn bare(sb: &Sandbox, args: &[&str]) -> Command {
    sb.command(args, &[])
}

#[test]
fn stator_alone_runs_what_stator_toml_says() {
    let sb = Sandbox::new();
    fs::write(sb.src().join("app.py"), "v1\n").unwrap();
    fs::write(sb.src().join("notes.txt"), "v1\n").unwrap();
    let toml = format!(
        "# the project's stator settings\nwatch = ['src']\nexts = ['py']\ninterval = '100ms'\nsettle = '100ms'\n\
         verbose = true\n{}",
        command_key(&sb, LOG_AND_STAY)
    );
    fs::write(sb.join("stator.toml"), toml).unwrap();
    let mut st = sb.spawn_cmd(bare(&sb, &[]));
    st.wait_stderr("settings from stator.toml");
    st.wait("run 1", || sb.log_count("start") == 1);

    // exts = ['py']: a .txt edit restarts nothing, a .py edit does.
    fs::write(sb.src().join("notes.txt"), "v2, longer\n").unwrap();
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 1, "{}", st.stderr());
    fs::write(sb.src().join("app.py"), "v2, longer\n").unwrap();
    st.wait("run 2", || sb.log_count("start") == 2);
    assert!(st.stderr().contains("every 100ms"), "interval from the file\n{}", st.stderr());
}

#[test]
fn pyproject_tool_stator_is_read_and_the_command_line_overrides_it() {
    let sb = Sandbox::new();
    fs::write(sb.src().join("app.py"), "v1\n").unwrap();
    fs::write(sb.src().join("notes.txt"), "v1\n").unwrap();
    let pyproject = format!(
        "[project]\nname = 'app'\nversion = '1.0'\n\n[tool.stator]\nwatch = ['src']\nexts = ['py']\n{}\n\
         [tool.other]\nline-length = 99\n",
        command_key(&sb, LOG_AND_STAY)
    );
    fs::write(sb.join("pyproject.toml"), pyproject).unwrap();
    // -e txt replaces the file's exts (lists are replaced, not extended).
    let mut st = sb.spawn_cmd(bare(&sb, &fast(&["-v", "-e", "txt"])));
    st.wait_stderr("settings from pyproject.toml");
    st.wait("run 1", || sb.log_count("start") == 1);
    fs::write(sb.src().join("app.py"), "v2, longer\n").unwrap();
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 1, "exts = ['py'] was replaced by -e txt\n{}", st.stderr());
    fs::write(sb.src().join("notes.txt"), "v2, longer\n").unwrap();
    st.wait("run 2", || sb.log_count("start") == 2);

    // A command on the command line replaces the file's.
    drop(st);
    let (status, _, err) = sb.run(&["--on-exit", "exit"], &sb.sh("echo from-the-command-line >> \"$LOG\"; exit 3"));
    assert_eq!(status.code(), Some(3), "{err}");
    assert_eq!(sb.log_count("from-the-command-line"), 1, "{err}");
}

#[test]
fn a_bad_config_file_is_one_line_naming_file_and_line_and_exit_2() {
    let sb = Sandbox::new();
    let cases = [
        ("stator.toml", "watch = ['src']\ninterval = '2'\n", "stator: stator.toml:2: interval: '2' needs a unit"),
        (
            "stator.toml",
            "watch = ['src']\n\next = ['py']\n",
            "stator: stator.toml:3: unknown key \"ext\" (did you mean \"exts\"?)",
        ),
        ("stator.toml", "watch = ['src'\n", "stator: stator.toml:1: "),
        (
            "pyproject.toml",
            "[project]\nname = 'x'\n[tool.stator]\nclear = 'yes'\n",
            "stator: pyproject.toml:4: clear: expected true or false",
        ),
        ("stator.toml", "exts = ['py']\n", "stator: no command given: put it after -- or in stator.toml"),
    ];
    for (file, text, want) in cases {
        let _ = fs::remove_file(sb.join("stator.toml"));
        let _ = fs::remove_file(sb.join("pyproject.toml"));
        fs::write(sb.join(file), text).unwrap();
        let mut st = sb.spawn_cmd(bare(&sb, &[]));
        let status = st.wait_exit();
        let err = st.stderr();
        assert_eq!(status.code(), Some(2), "{text:?}: {err}");
        assert!(err.lines().next().is_some_and(|l| l.starts_with(want)), "{text:?}:\n got {err:?}\nwant {want:?}");
        assert_eq!(sb.log_count("start"), 0, "nothing ran");
        // --no-config ignores the file: the command line alone decides.
        let (status, _, err) = sb.run(&["--no-config", "--on-exit", "exit"], &sb.sh("exit 5"));
        assert_eq!(status.code(), Some(5), "--no-config with {file} holding {text:?}: {err}");
    }
}

#[test]
fn env_files_are_read_again_at_each_run_and_watched() {
    let sb = Sandbox::new();
    let env = sb.join(".env");
    fs::write(&env, "# settings\nexport GREETING=hello\n").unwrap();
    // The env file is outside the watched root, and git-ignored: watched all the same.
    fs::write(sb.join(".gitignore"), ".env\n").unwrap();
    let src = sb.src();
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src), "--env-file", ".env"]), &sb.sh(LOG_GREETING_AND_STAY));
    st.wait("run 1", || sb.log_count("start hello") == 1);

    // Editing the env file reruns the command with the new values.
    fs::write(&env, "GREETING=\"hi there\" # changed\n").unwrap();
    st.wait("run 2 with the new value", || sb.log_count("start hi there") == 1);

    // A bad line later: a warning naming file:line, and the last good values.
    fs::write(&env, "GREETING=bye\nthis is not a variable\n").unwrap();
    st.wait("run 3", || sb.log_lines().len() == 3);
    assert_eq!(sb.log_count("start hi there"), 2, "{}", st.stderr());
    st.wait_stderr(".env:2: expected KEY=VALUE");

    // A bad env file at startup is a usage error naming file:line.
    drop(st);
    fs::write(sb.join("bad.env"), "A=1\nB='open\n").unwrap();
    let (status, _, err) = sb.run(&["-w", s(&src), "--env-file", "bad.env"], &sb.sh(LOG_AND_STAY));
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("bad.env:2: B: no closing '"), "{err}");
    // So is a missing one.
    let (status, _, err) = sb.run(&["-w", s(&src), "--env-file", "missing.env"], &sb.sh(LOG_AND_STAY));
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("cannot read missing.env"), "{err}");
}

#[test]
fn env_file_in_the_config_file_with_the_command() {
    let sb = Sandbox::new();
    fs::write(sb.join("app.env"), "GREETING=from-the-file\n").unwrap();
    let toml = format!("watch = ['src']\nenv-file = ['app.env']\n{}", command_key(&sb, LOG_GREETING_AND_STAY));
    fs::write(sb.join("stator.toml"), toml).unwrap();
    let mut st = sb.spawn_cmd(bare(&sb, &fast(&["-v"])));
    st.wait("run 1", || sb.log_count("start from-the-file") == 1);
    fs::write(sb.join("app.env"), "GREETING=edited\n").unwrap();
    st.wait("run 2", || sb.log_count("start edited") == 1);
}

#[test]
fn doctor_examines_the_config_files_roots_and_filters_unless_told_otherwise() {
    let sb = Sandbox::new();
    let (src, other) = (sb.src(), sb.join("other"));
    fs::create_dir_all(&other).unwrap();
    for f in [src.join("a.py"), src.join("b.txt"), other.join("c.py"), other.join("d.txt")] {
        fs::write(f, "x").unwrap();
    }
    fs::write(sb.join("stator.toml"), "watch = ['src']\nignore = ['*.txt']\ninterval = '1s'\ncommand = ['true']\n")
        .unwrap();
    let doctor = |args: &[&str]| {
        let (status, stdout, stderr) = sb.run(&[&["doctor", "--json"][..], args].concat(), &[]);
        assert_eq!(status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let roots: Vec<String> = v["roots"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().into()).collect();
        (roots, v["files"].as_u64().unwrap(), v["config_file"].as_str().map(str::to_owned))
    };
    let name = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let tail = |roots: &[String]| roots.iter().map(|r| name(std::path::Path::new(r))).collect::<Vec<_>>();

    // The file's root and its ignore: src, without its text file.
    let (roots, files, from) = doctor(&[]);
    assert_eq!((tail(&roots), files, from.as_deref()), (vec![name(&src)], 1, Some("stator.toml")));
    // A path given replaces the file's roots; the file's ignore still holds.
    let (roots, files, _) = doctor(&["other"]);
    assert_eq!((tail(&roots), files), (vec!["other".to_owned()], 1));
    // --no-config: no file, so no ignore: the text file counts.
    let (roots, files, from) = doctor(&["--no-config", "other"]);
    assert_eq!((tail(&roots), files, from), (vec!["other".to_owned()], 2, None));

    // Text says where the roots came from; a bad root or filter in the file is one line and exit 2.
    let (status, stdout, _) = sb.run(&["doctor"], &[]);
    assert_eq!(status.code(), Some(0));
    assert!(stdout.lines().next().is_some_and(|l| l.ends_with("(roots and filters from stator.toml)")), "{stdout}");
    fs::write(sb.join("stator.toml"), "watch = ['src']\nignore = 3.5\n").unwrap();
    let (status, _, stderr) = sb.run(&["doctor"], &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("stator: doctor: stator.toml:2: ignore: expected"), "{stderr}");
}

#[test]
fn no_switch_on_the_command_line_turns_off_the_files_switch() {
    let sb = Sandbox::new();
    // python = true gives the command the Python shim on PYTHONPATH (stator's own private directory).
    let script = r#"echo "start ${PYTHONPATH:+shim}" >> "$LOG"; exec "$SLEEP" 1000"#;
    fs::write(sb.join("stator.toml"), format!("watch = ['src']\npython = true\n{}", command_key(&sb, script))).unwrap();
    let mut st = sb.spawn_cmd(bare(&sb, &[]));
    st.wait("run 1", || sb.log_lines().len() == 1);
    assert_eq!(sb.log_lines(), ["start shim"], "the file's switch is on\n{}", st.stderr());
    drop(st);
    let mut st = sb.spawn_cmd(bare(&sb, &["--no-python"]));
    st.wait("run 1 without the shim", || sb.log_lines().len() == 2);
    assert_eq!(sb.log_lines(), ["start shim", "start "], "--no-python turned it off\n{}", st.stderr());
    st.wait_stderr("settings from stator.toml");
}
