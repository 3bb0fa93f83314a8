//! End-to-end tests of the files stator learns from outside its roots (`STATOR_WATCH_FILE`, `--python`, `--node`,
//! `--dep-file`) and of `stator doctor`, through the real binary.
//!
//! As in `cli_e2e`, nothing sleeps to synchronise: every wait is a bounded poll for something observable (a log
//! line, a status line, a page served), and "nothing happens" is checked after a few more of stator's own scans.
//! Files the tests prepare are backdated, so that a path joining the watched set late is old news to stator.
//! Unix only: see `main.rs`.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::learn::{django_project, django_python, django_view, http_get, reported, write_old};
use crate::support::mounts::SSHFS;
use crate::support::sandbox::{Sandbox, append, fast, free_port, s, which};
use crate::support::skip;

#[test]
fn a_path_the_child_reports_outside_every_root_restarts_it() {
    let sb = Sandbox::new();
    let outside = sb.join("elsewhere/lib.txt");
    let relative = sb.join("rel.txt");
    write_old(&outside, "v1\n");
    write_old(&relative, "v1\n");
    let src = sb.src();
    // An absolute path, and a relative one (from the child's working directory, the sandbox) with CRLF, among a
    // comment and a blank line; then the file's mode, to show it is private.
    let script = r#"printf '%s\n# a comment\n\nrel.txt\r\n' "$DIR/elsewhere/lib.txt" >> "$STATOR_WATCH_FILE"
        echo "start $(stat -c %a "$STATOR_WATCH_FILE")" >> "$LOG"
        exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_lines().len() == 1);
    st.wait_stderr(&format!("{}, {}", s(&outside), s(&relative)));
    assert_eq!(sb.log_lines(), ["start 600"], "the report file is the owner's only\n{}", st.stderr());

    append(&outside, "v2 is longer\n");
    st.wait("run 2 to log its start", || sb.log_lines().len() >= 2);
    append(&relative, "v2 is longer\n");
    st.wait("run 3 to log its start", || sb.log_lines().len() >= 3);
    st.wait_scans(5);

    assert_eq!(sb.log_lines(), ["start 600"; 3], "one restart per edit\n{}", st.stderr());
    let changed = st.lines_with("[stator] changed:");
    assert!(changed[0].contains(s(&outside)) && changed[1].contains(s(&relative)), "{changed:?}");
    // Each run reported the same paths again: the watched set did not grow.
    assert_eq!(st.lines_with("the command reported").len(), 1, "{}", st.stderr());
}

#[test]
fn a_dep_file_lists_files_to_watch_and_a_rewrite_switches_them() {
    let sb = Sandbox::new();
    let a = sb.join("include/a.h");
    let b = sb.join("include/b c.h");
    write_old(&a, "// a\n");
    write_old(&b, "// b\n");
    let dep = sb.join("build/app.d");
    // As gcc -MD writes it: absolute path, continuation line.
    write_old(&dep, &format!("build/app.o: \\\n  {}\n", s(&a)));
    let src = sb.src();
    let script = r#"echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "--dep-file", "build/app.d", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    assert!(st.stderr().contains(&format!("dep file {} lists 1 file (", s(&dep))), "{}", st.stderr());

    append(&a, "// edited\n");
    st.wait("run 2 after editing a.h", || sb.log_count("start") >= 2);

    // Now the dep file lists b.h instead (relative, with an escaped space) and a file that does not exist yet.
    fs::write(&dep, "build/app.o: include/b\\ c.h include/later.h\n").unwrap();
    st.wait_stderr(&format!("dep file {} lists 2 files (2 new)", s(&dep)));
    append(&a, "// no longer a dependency\n");
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 2, "a.h no longer counts; rewriting the dep file is no restart\n{}", st.stderr());

    append(&b, "// edited\n");
    st.wait("run 3 after editing b.h", || sb.log_count("start") >= 3);
    fs::write(sb.join("include/later.h"), "// new\n").unwrap();
    st.wait("run 4 when a listed file appears", || sb.log_count("start") >= 4);
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 4, "{}", st.stderr());
}

#[test]
fn a_python_app_restarts_when_a_module_outside_the_roots_changes() {
    let Some(python) = which("python3") else { return skip("python3 is not on PATH") };
    let sb = Sandbox::new();
    let module = sb.join("lib/mymod.py");
    write_old(&module, "TEXT = 'one'\n");
    // The user's own PYTHONPATH and sitecustomize: both must keep working under the shim.
    write_old(
        &sb.join("site/sitecustomize.py"),
        "import os\nwith open(os.environ['LOG'], 'a') as f:\n    f.write('user sitecustomize\\n')\n",
    );
    let app = sb.join("app/app.py");
    write_old(
        &app,
        r#"import http.server, os, mymod
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = mymod.TEXT.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#,
    );
    let port = free_port();
    let empty = sb.src();
    let command = [s(&python).to_owned(), s(&app).to_owned(), sb.marker()];
    let mut cmd = sb.command(&fast(&["--json", "-v", "--python", "-w", s(&empty)]), &command);
    cmd.env("PORT", port.to_string()).env("PYTHONPATH", format!("{}:{}", s(&sb.join("lib")), s(&sb.join("site"))));
    let mut st = sb.spawn_cmd(cmd);
    st.wait("the app to serve 'one'", || http_get(port).as_deref() == Some("one"));
    st.wait_stderr(&format!("{:?}", s(&module)));
    assert!(reported(&st.stderr()).contains(&s(&module).to_owned()), "{}", st.stderr());
    assert_eq!(sb.log_lines(), ["user sitecustomize"], "the user's sitecustomize ran once\n{}", st.stderr());

    fs::write(&module, "TEXT = 'two'\n").unwrap();
    st.wait("the app to serve 'two'", || http_get(port).as_deref() == Some("two"));
    assert_eq!(sb.log_count("user sitecustomize"), 2, "{}", st.stderr());
}

#[test]
fn django_runserver_reloads_a_view_outside_the_roots_and_comes_back_after_a_syntax_error() {
    let python = match django_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let project = sb.join("project");
    let view = django_project(&python, &project);

    let port = free_port();
    // The only root is an unrelated empty directory: the view is known only because Python reported it.
    let empty = sb.src();
    let manage = project.join("manage.py");
    let command =
        [s(&python), s(&manage), "runserver", "--noreload", &format!("127.0.0.1:{port}")].map(str::to_owned).to_vec();
    let mut cmd = sb.command(&fast(&["--json", "-v", "--python", "-w", s(&empty)]), &command);
    cmd.current_dir(&project);
    let mut st = sb.spawn_cmd(cmd);
    st.wait("the page to say hello v1", || http_get(port).as_deref() == Some("hello v1"));
    st.wait_stderr(&format!("{:?}", s(&view)));
    assert!(reported(&st.stderr()).contains(&s(&view).to_owned()), "{}", st.stderr());

    fs::write(&view, django_view("hello v2")).unwrap();
    st.wait("the page to say hello v2", || http_get(port).as_deref() == Some("hello v2"));

    // A syntax error: the new run dies with a traceback and the server is gone...
    fs::write(&view, "from django.http import HttpResponse\n\ndef index(request):\n    return HttpResponse('oops'\n")
        .unwrap();
    st.wait_stderr("command ended");
    assert!(http_get(port).is_none(), "the server is down\n{}", st.stderr());
    // ...and fixing the file brings it back.
    fs::write(&view, django_view("hello v3")).unwrap();
    st.wait("the page to say hello v3", || http_get(port).as_deref() == Some("hello v3"));
}

#[test]
fn a_node_app_restarts_when_a_required_file_changes() {
    let Some(node) = which("node") else { return skip("node is not on PATH") };
    let sb = Sandbox::new();
    let module = sb.join("lib/mod.js");
    write_old(&module, "module.exports = 'one';\n");
    let app = sb.join("app/app.js");
    write_old(
        &app,
        "const fs = require('fs');\nconst text = require(process.env.DIR + '/lib/mod.js');\n\
         fs.appendFileSync(process.env.LOG, 'text ' + text + '\\n');\nsetInterval(() => {}, 1000);\n",
    );
    let empty = sb.src();
    let command = [s(&node).to_owned(), s(&app).to_owned(), sb.marker()];
    let mut st = sb.spawn(&fast(&["--json", "-v", "--node", "-w", s(&empty)]), &command);
    st.wait("run 1 to log its text", || sb.log_count("text one") == 1);
    st.wait_stderr(&format!("{:?}", s(&module)));
    assert!(reported(&st.stderr()).contains(&s(&module).to_owned()), "{}", st.stderr());

    fs::write(&module, "module.exports = 'two';\n").unwrap();
    st.wait("run 2 to log the new text", || sb.log_count("text two") == 1);
    assert_eq!(sb.log_lines(), ["text one", "text two"], "{}", st.stderr());
}

/// The Node test once returned silently without `node`, even in CI. Under the one skip policy it fails there, and
/// elsewhere says `SKIPPED` where `cargo test` shows it: this runs the test binary again on that one test, with a
/// `PATH` that has no `node`, with `CI` set and without.
#[test]
fn without_node_the_node_test_fails_in_ci_and_is_a_loud_skip_elsewhere() {
    const NODE_TEST: &str = "learn_e2e::a_node_app_restarts_when_a_required_file_changes";
    let empty = tempfile::tempdir().expect("an empty directory for PATH");
    let run = |ci: bool| {
        let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
        cmd.args(["--exact", NODE_TEST]).env("PATH", empty.path()).env_remove("CI");
        if ci {
            cmd.env("CI", "true");
        }
        let out = cmd.output().expect("run the test binary");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, stdout, stderr) = run(true);
    assert!(!ok && stdout.contains("1 failed"), "with CI set, a missing node fails the test\n{stdout}\n{stderr}");
    // The panic message is in the failed test's captured output, which the harness prints on stdout.
    assert!(stdout.contains(&format!("CANNOT RUN {NODE_TEST}: node is not on PATH")), "{stdout}");

    let (ok, stdout, stderr) = run(false);
    assert!(ok && stdout.contains("1 passed"), "without CI, a missing node skips the test\n{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("SKIPPED {NODE_TEST}: node is not on PATH")), "{stderr}");
}

#[test]
fn doctor_names_the_filesystem_and_recommends_an_interval() {
    let sb = Sandbox::new();
    let dir = sb.join("proj");
    for name in ["a.py", "b.py", "sub/c.py"] {
        write_old(&dir.join(name), "x = 1\n");
    }
    let (status, text, stderr) = sb.run(&["doctor", s(&dir)], &[]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(text.starts_with(&format!("stator doctor: {}", s(&dir))), "{text}");
    assert!(text.contains("3 files in 2 directories"), "{text}");
    assert!(text.contains("recommended: --interval"), "{text}");
    assert!(text.contains("timestamps:") && text.contains("clock:"), "{text}");
    assert!(text.lines().count() <= 15, "short enough to read in ten seconds:\n{text}");

    let (status, json, stderr) = sb.run(&["doctor", "--json", "-w", s(&dir)], &[]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    assert_eq!(v["files"], 3, "{v:#}");
    assert!(v["recommended_interval_ms"].as_u64().is_some_and(|ms| ms >= 500), "{v:#}");
    let fss = v["filesystems"].as_array().expect("a list of filesystems");
    assert!(!fss.is_empty(), "{v:#}");
    let fs0 = &fss[0];
    assert!(fs0["type"].as_str().is_some_and(|t| !t.is_empty() && text.contains(t)), "the text names it too: {v:#}");
    assert_eq!(fs0["probe"]["ok"], true, "the sandbox is writable: {v:#}");
    let left: Vec<_> =
        fs::read_dir(&dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains("doctor")).collect();
    assert!(left.is_empty(), "the probe file is gone: {left:?}");

    // `stator -- doctor` runs a command named doctor instead.
    let (status, _, stderr) = sb.run(&["--on-exit", "exit", "--", "doctor"], &[]);
    assert_eq!(status.code(), Some(127), "{stderr}");
    assert!(stderr.contains("command not found: doctor"), "{stderr}");
}

#[test]
fn doctor_on_sshfs_says_fuse_and_how_to_shorten_its_cache() {
    let Some(mount) = std::env::var_os(SSHFS.var).filter(|v| !v.is_empty()) else {
        return skip(&format!("sshfs is not mounted: {} is not set", SSHFS.var));
    };
    let sb = Sandbox::new();
    let mount = Path::new(&mount);
    let (status, text, stderr) = sb.run(&["doctor", s(mount)], &[]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(text.contains("fuse.sshfs") && text.contains("FUSE") && text.contains("network"), "{text}");
    assert!(text.contains("dcache_timeout=1"), "the cache hint and its remedy: {text}");

    let (_, json, _) = sb.run(&["doctor", "--json", s(mount)], &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fs0 = &v["filesystems"][0];
    assert_eq!(
        (fs0["type"].as_str(), fs0["fuse"].as_bool(), fs0["network"].as_bool()),
        (Some("fuse.sshfs"), Some(true), Some(true))
    );
}
