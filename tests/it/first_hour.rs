//! The first hour with stator, tried as a new user would (issue 15): the README's Python recipes on a real Django
//! and Flask project, a command that keeps changing a watched file itself, trees without a `.gitignore`, and a
//! burst bigger than the hot tier.
//!
//! As in `cli_e2e`, nothing sleeps to synchronise: every wait is a bounded poll for something observable (a log
//! line, a status line, a page served), and "nothing happens" is checked after a few more of stator's own scans.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::learn::{backdate, django_python, http_get, venv_python};
use crate::support::sandbox::{Sandbox, Stator, append, fast, free_port, s};
use crate::support::skip;

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

/// The command appending to a file inside the watched tree as it starts (its log restarted it 19 times in 8 s; logs
/// are ignored by default now, but a pid file, a cache or a state file is the same loop). Now three runs in a row
/// changing it in their first moments are a loop: said once, with the fix, and the file restarts nothing any more,
/// while a real edit still does.
#[test]
fn a_command_that_writes_a_watched_file_at_every_start_is_told_once_and_stops_looping() {
    let sb = Sandbox::new();
    let src = sb.src();
    let main = src.join("main.py");
    fs::write(&main, "v1\n").unwrap();
    let script = r#"echo "run $STATOR_RUN" >> "$DIR/src/state.txt"; echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(script));
    st.wait_stderr("the command itself keeps changing");
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 3, "three runs, then the loop is broken\n{}", st.stderr());
    let notice = st.lines_with("keeps changing");
    assert_eq!(notice.len(), 1, "{notice:?}");
    assert!(
        notice[0].starts_with("[stator] warning: the command itself keeps changing src/state.txt")
            && notice[0].ends_with("; ignore it with -i state.txt"),
        "{notice:?}"
    );

    // A real edit restarts the command, once: what its new run writes restarts nothing.
    append(&main, "v2\n");
    st.wait("run 4 after the edit", || sb.log_count("start") >= 4);
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 4, "{}", st.stderr());
    assert_eq!(st.lines_with("keeps changing").len(), 1, "said once");
    assert_eq!(fs::read_to_string(src.join("state.txt")).unwrap().lines().count(), 4);
    let changed = st.lines_with("[stator] changed:");
    assert!(changed.last().is_some_and(|l| l.contains("main.py") && !l.contains("state.txt")), "{changed:?}");
}

/// The same command with the fix the notice gives: no loop at all; nor with a log, ignored by default.
#[test]
fn ignoring_the_file_as_the_notice_says_runs_the_command_once() {
    let sb = Sandbox::new();
    let src = sb.src();
    let script = r#"echo "run $STATOR_RUN" | tee -a "$DIR/src/state.txt" >> "$DIR/src/app.log"
        echo start >> "$LOG"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-i", "state.txt", "-w", s(&src)]), &sb.sh(script));
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    st.wait_scans(10);
    assert_eq!(sb.log_count("start"), 1, "{}", st.stderr());
    assert!(st.lines_with("keeps changing").is_empty(), "{}", st.stderr());
}

// -----------------------------------------------------------------------------------------------------------------
// A tree without a .gitignore.

/// With no `.gitignore` to say so, `node_modules` (as nodemon), cargo's `target` beside its `Cargo.toml` (as
/// cargo-watch), databases with their journals and logs are not watched; a `target` that is source is;
/// `--no-default-ignore` watches everything.
#[test]
fn without_a_gitignore_node_modules_target_databases_and_logs_are_not_watched() {
    let sb = Sandbox::new();
    let dir = sb.join("project");
    let all = [
        "Cargo.toml",
        "data/app.db",
        "db.sqlite3",
        "db.sqlite3-journal",
        "db.sqlite3-shm",
        "db.sqlite3-wal",
        "lib/target/mod.py",
        "logs/access.log",
        "src/main.rs",
        "target/CACHEDIR.TAG",
        "target/debug/app",
        "web/node_modules/left-pad/index.js",
        "web/package.json",
    ];
    for name in all {
        write(&dir.join(name), "x\n");
    }
    let listed = |extra: &[&str]| {
        let args: Vec<&str> = extra.iter().copied().chain(["--list", "-w", s(&dir)]).collect();
        let (status, out, err) = sb.run(&args, &[]);
        assert!(status.success(), "{err}");
        let prefix = format!("{}/", s(&dir));
        out.lines().map(|l| l.strip_prefix(&prefix).unwrap_or(l).to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(listed(&[]), ["Cargo.toml", "lib/target/mod.py", "src/main.rs", "web/package.json"]);
    assert_eq!(listed(&["--no-default-ignore"]), all);
}

// -----------------------------------------------------------------------------------------------------------------
// The README's Python recipes, on real projects.

/// How many runs stator started so far (its "started ... (run N)" and "restarted (run N)" lines).
fn runs(st: &Stator) -> usize {
    st.lines_with("started (run ").len()
}

/// Writes `text` to `path`, creating its directory.
fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("create the directory");
    }
    fs::write(path, text).expect("write the file");
}

/// Backdates every file and directory under `dir`, `dir` included: the project is old news to stator.
fn backdate_tree(dir: &Path) {
    for entry in fs::read_dir(dir).expect("list the project").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            backdate_tree(&entry.path());
        } else {
            backdate(&entry.path());
        }
    }
    backdate(dir);
}

/// Runs `cmd` to its end; panics with its stderr unless it succeeds.
fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The body the project's page shows (less trailing white space): a text from the view, and one from the template.
fn page(view: &str, template: &str) -> String {
    format!("{view} / {template}")
}

/// The page on `port`, less trailing white space (Jinja drops a template's last newline, Django keeps it).
fn get(port: u16) -> Option<String> {
    http_get(port).map(|body| body.trim_end().to_owned())
}

/// A Django project made with `startproject` in `dir`, as a new user has it: a view rendering a template from
/// `templates/` and saving a session on every request (a write to `db.sqlite3`, as any site with sessions or a
/// login does), the database migrated, nothing ignored by a `.gitignore`.
struct Django {
    dir: PathBuf,
}

impl Django {
    fn new(python: &Path, dir: PathBuf) -> Django {
        fs::create_dir_all(&dir).expect("create the project directory");
        run_ok(Command::new(python).args(["-m", "django", "startproject", "mysite"]).arg(&dir), "startproject");
        let settings = dir.join("mysite/settings.py");
        let text = fs::read_to_string(&settings).expect("read settings.py");
        assert!(text.contains("'DIRS': [],"), "the settings startproject writes changed: {text}");
        fs::write(&settings, text.replace("'DIRS': [],", "'DIRS': [BASE_DIR / 'templates'],"))
            .expect("write settings.py");
        write(
            &dir.join("mysite/urls.py"),
            "from django.urls import path\n\nfrom . import views\n\nurlpatterns = [path('', views.index)]\n",
        );
        let project = Django { dir };
        project.view("view v1");
        project.template("template v1");
        run_ok(Command::new(python).args(["manage.py", "migrate", "-v0"]).current_dir(&project.dir), "migrate");
        assert!(project.dir.join("db.sqlite3").exists());
        backdate_tree(&project.dir);
        project
    }

    /// Rewrites the view to show `text`.
    fn view(&self, text: &str) {
        write(
            &self.dir.join("mysite/views.py"),
            &format!(
                "from django.contrib.sessions.backends.db import SessionStore\n\
                 from django.shortcuts import render\n\n\n\
                 def index(request):\n    session = SessionStore()\n    session['seen'] = True\n    \
                 session.create()\n    return render(request, 'index.html', {{'text': {text:?}}})\n"
            ),
        );
    }

    /// Logs every request to `name` beside `manage.py`, as Django's logging documentation shows a file handler.
    fn log_requests_to(&self, name: &str) {
        let settings = self.dir.join("mysite/settings.py");
        append(
            &settings,
            &format!(
                "\nLOGGING = {{\n    'version': 1,\n    'disable_existing_loggers': False,\n    'handlers': {{'file': \
                 {{'level': 'INFO', 'class': 'logging.FileHandler', 'filename': BASE_DIR / {name:?}}}}},\n    \
                 'loggers': {{'django.server': {{'handlers': ['file'], 'level': 'INFO', 'propagate': False}}}},\n}}\n"
            ),
        );
        backdate(&settings);
    }

    /// Rewrites the template to show `text` after the view's.
    fn template(&self, text: &str) {
        write(&self.dir.join("templates/index.html"), &format!("{{{{ text }}}} / {text}\n"));
    }

    /// `manage.py runserver ARGS 127.0.0.1:PORT`, with the venv's python.
    fn runserver(&self, python: &Path, args: &[&str], port: u16) -> Vec<String> {
        let mut cmd = vec![s(python).to_owned(), s(&self.dir.join("manage.py")).to_owned(), "runserver".into()];
        cmd.extend(args.iter().map(|a| a.to_string()));
        cmd.push(format!("127.0.0.1:{port}"));
        cmd
    }
}

/// Starts stator with `args` on `command`, in `dir`.
fn spawn_in(sb: &Sandbox, dir: &Path, args: &[&str], command: &[String]) -> Stator {
    let mut cmd = sb.command(args, command);
    cmd.current_dir(dir);
    sb.spawn_cmd(cmd)
}

/// Waits until the page on `port` is `want`.
fn wait_page(st: &mut Stator, port: u16, want: &str) {
    st.wait(&format!("the page to be {want:?}"), || get(port).as_deref() == Some(want));
}

/// Requests the page a few times (each request writes the database, and the log if there is one), letting stator
/// scan in between: no restart.
fn requests_write_the_database_and_restart_nothing(st: &mut Stator, port: u16, want: &str) {
    let before = runs(st);
    for _ in 0..3 {
        assert_eq!(get(port).as_deref(), Some(want), "{}", st.stderr());
        st.wait_scans(2);
    }
    st.wait_scans(4);
    assert_eq!(runs(st), before, "requests that write db.sqlite3 restart nothing\n{}", st.stderr());
}

/// The README's `stator -e py,html -- python manage.py runserver --noreload`: stator does the reloading, of views
/// and templates alike (Django's cached template loader keeps a template until the process ends, and without its
/// autoreloader nothing clears it: with `-e py` alone an edited template never showed).
#[test]
fn django_runserver_noreload_with_e_py_html_reloads_views_and_templates() {
    let python = match django_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let project = Django::new(&python, sb.join("project"));
    let port = free_port();
    let command = project.runserver(&python, &["--noreload"], port);
    let mut st = spawn_in(&sb, &project.dir, &["-v", "-e", "py,html"], &command);
    wait_page(&mut st, port, &page("view v1", "template v1"));
    requests_write_the_database_and_restart_nothing(&mut st, port, &page("view v1", "template v1"));

    project.view("view v2");
    wait_page(&mut st, port, &page("view v2", "template v1"));
    project.template("template v2");
    wait_page(&mut st, port, &page("view v2", "template v2"));
    st.wait_scans(4);
    assert_eq!(runs(&st), 3, "one restart per edit\n{}", st.stderr());
}

/// The README's `stator --python -- python manage.py runserver --noreload`: everything under `.` is watched, the
/// template included, and the modules Django imports from elsewhere; the database and the log it writes on every
/// request are ignored by default (each restarted the server on every request).
#[test]
fn django_runserver_noreload_with_python_ignores_the_database_and_log_it_writes() {
    let python = match django_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let project = Django::new(&python, sb.join("project"));
    project.log_requests_to("access.log");
    let port = free_port();
    let command = project.runserver(&python, &["--noreload"], port);
    let mut st = spawn_in(&sb, &project.dir, &["-v", "--python"], &command);
    wait_page(&mut st, port, &page("view v1", "template v1"));
    requests_write_the_database_and_restart_nothing(&mut st, port, &page("view v1", "template v1"));

    project.view("view v2");
    wait_page(&mut st, port, &page("view v2", "template v1"));
    project.template("template v2");
    wait_page(&mut st, port, &page("view v2", "template v2"));
    st.wait_scans(4);
    assert_eq!(runs(&st), 3, "one restart per edit\n{}", st.stderr());
    assert!(st.lines_with("keeps changing").is_empty(), "{}", st.stderr());
    let logged = fs::read_to_string(project.dir.join("access.log")).unwrap_or_default();
    assert!(logged.lines().filter(|l| l.contains("\"GET / ")).count() >= 4, "the requests were logged: {logged}");
}

/// The README's `stator --python -w templates -- python manage.py runserver --noreload`: only what Python reports
/// (the views, settings, Django itself) and the templates, which are no module and were never reloaded.
#[test]
fn django_runserver_with_python_and_the_templates_as_the_root_reloads_both() {
    let python = match django_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let project = Django::new(&python, sb.join("project"));
    let port = free_port();
    let command = project.runserver(&python, &["--noreload"], port);
    let mut st = spawn_in(&sb, &project.dir, &["-v", "--python", "-w", "templates"], &command);
    wait_page(&mut st, port, &page("view v1", "template v1"));
    project.view("view v2");
    wait_page(&mut st, port, &page("view v2", "template v1"));
    project.template("template v2");
    wait_page(&mut st, port, &page("view v2", "template v2"));
    st.wait_scans(4);
    assert_eq!(runs(&st), 3, "one restart per edit\n{}", st.stderr());
}

/// The README's `stator -w .env --reload-code 3 -- env RUN_MAIN=true python manage.py runserver`: Django's own
/// reloader watches the code and asks for a restart with exit code 3, stator restarts it at once (every time: a
/// reload is no crash) and restarts it for `.env` too, which Django does not watch. With stator watching the code
/// as well (`-e py`) and Django's parent process in between (no `RUN_MAIN`), an edit reloaded twice whenever
/// Django saw it first, and stator never saw the exit code.
#[test]
fn django_own_reloader_under_reload_code_3_reloads_once_per_edit() {
    let python = match django_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let project = Django::new(&python, sb.join("project"));
    let port = free_port();
    let mut command = vec!["env".to_owned(), "RUN_MAIN=true".into()];
    command.extend(project.runserver(&python, &[], port));
    let mut st = spawn_in(&sb, &project.dir, &["-v", "-w", ".env", "--reload-code", "3"], &command);
    wait_page(&mut st, port, &page("view v1", "template v1"));
    requests_write_the_database_and_restart_nothing(&mut st, port, &page("view v1", "template v1"));

    for n in 2..=4 {
        let text = format!("view v{n}");
        project.view(&text);
        wait_page(&mut st, port, &page(&text, "template v1"));
        // Django's reloader takes its first look a moment after the page is served: an edit before it goes unseen.
        st.wait_scans(4);
        assert_eq!(runs(&st), n, "one reload per edit\n{}", st.stderr());
    }
    // A template edit is Django's business: it clears its template cache, no restart.
    project.template("template v2");
    wait_page(&mut st, port, &page("view v4", "template v2"));
    write(&project.dir.join(".env"), "DEBUG=1\n");
    st.wait_stderr("(run 5)");
    wait_page(&mut st, port, &page("view v4", "template v2"));
    st.wait_scans(4);
    assert_eq!(runs(&st), 5, "{}", st.stderr());
    assert!(st.lines_with("restarting in").is_empty(), "no reload waits\n{}", st.stderr());
}

/// The Flask and pytest releases the tests install.
const TOOLS: [&str; 2] = ["flask==3.1.*", "pytest==8.*"];

/// The python interpreter of a virtualenv with Flask and pytest installed, made once per Python version and kept
/// under `target/tmp`, as [`django_python`] makes Django's. `Err` says why it could not be made.
fn tools_python() -> Result<PathBuf, String> {
    venv_python("flask-pytest", &TOOLS)
}

/// The README's `stator -e py,html -i migrations -- flask --app app run`: without `--debug`, Jinja keeps a
/// template it loaded (with `-e py` alone an edited one never showed), and the migrations are no reason to
/// restart the server (`-i migrations`: a directory ignored is never descended, `migrations/versions/` included).
#[test]
fn flask_run_reloads_views_and_templates_and_not_migrations() {
    let python = match tools_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let dir = sb.join("project");
    let view = |text: &str| {
        write(
            &dir.join("app.py"),
            &format!(
                "from flask import Flask, render_template\n\napp = Flask(__name__)\n\n\n\
                 @app.route('/')\ndef index():\n    return render_template('index.html', text={text:?})\n"
            ),
        )
    };
    let template = |text: &str| write(&dir.join("templates/index.html"), &format!("{{{{ text }}}} / {text}\n"));
    view("view v1");
    template("template v1");
    write(&dir.join("migrations/versions/0001_init.py"), "revision = '0001'\n");
    backdate_tree(&dir);
    let port = free_port();
    let command = [s(&python), "-m", "flask", "--app", "app", "run", "--port", &port.to_string()].map(str::to_owned);
    let mut st = spawn_in(&sb, &dir, &["-v", "-e", "py,html", "-i", "migrations"], &command);
    wait_page(&mut st, port, &page("view v1", "template v1"));

    view("view v2");
    wait_page(&mut st, port, &page("view v2", "template v1"));
    template("template v2");
    wait_page(&mut st, port, &page("view v2", "template v2"));
    append(&dir.join("migrations/versions/0001_init.py"), "down_revision = None\n");
    write(&dir.join("migrations/versions/0002_more.py"), "revision = '0002'\n");
    st.wait_scans(6);
    assert_eq!(runs(&st), 3, "one restart per edit, none for the migrations\n{}", st.stderr());
}

/// The README's `stator -e py -- pytest -x`: the suite runs again after every change, and only then (pytest's
/// cache directory, made by the first run, is ignored by default: it ran the suite a second time), and the
/// failure shows.
#[test]
fn pytest_reruns_after_every_change_and_only_then() {
    let python = match tools_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let dir = sb.join("project");
    let test = dir.join("tests/test_app.py");
    write(&dir.join("app.py"), "def answer():\n    return 42\n");
    write(&test, "from app import answer\n\n\ndef test_answer():\n    assert answer() == 42\n");
    backdate_tree(&dir);
    let command = [s(&python), "-m", "pytest", "-x", "-q"].map(str::to_owned);
    let mut st = spawn_in(&sb, &dir, &["-v", "-e", "py"], &command);
    st.wait_stderr("command ended (run 1): exit status: 0");
    assert!(dir.join(".pytest_cache").is_dir(), "pytest made its cache");
    st.wait_scans(6);
    assert_eq!(runs(&st), 1, "the cache pytest writes is no change\n{}", st.stderr());

    write(&dir.join("app.py"), "def answer():\n    return 41\n");
    st.wait_stderr("command ended (run 2): exit status: 1");
    st.wait_scans(6);
    assert_eq!(runs(&st), 2, "{}", st.stderr());
    assert!(st.stdout().contains("1 failed"), "{}", st.stdout());
}
