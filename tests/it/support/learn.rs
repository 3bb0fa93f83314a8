//! For the tests of the files stator learns from the command (`learn_e2e`): a minimal HTTP GET, a cached
//! virtualenv with Django from PyPI, backdating files, and reading stator's `--json` events.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::sandbox::which;
use super::{now_plus, set_mtime};

/// The Django release the test installs (the newest patch release of this series).
pub(crate) const DJANGO: &str = "5.2.*";

/// `GET /` from 127.0.0.1:`port` over HTTP/1.0: the body of a 200 answer, `None` for anything else (nothing
/// listening, an error page, a timeout).
pub(crate) fn http_get(port: u16) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    status.split_ascii_whitespace().nth(1).filter(|code| *code == "200").map(|_| body.to_owned())
}

/// Sets `path`'s mtime an hour back, so that it is old news to stator (a file that joins the watched set without
/// a directory listing counts as created only if it is recent).
pub(crate) fn backdate(path: &Path) {
    set_mtime(path, now_plus(-3600));
}

/// Writes `text` to `path` (creating its directory) and backdates it.
pub(crate) fn write_old(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the directory");
    }
    std::fs::write(path, text).expect("write the file");
    backdate(path);
}

/// The source of `mysite/views.py` in [`django_project`]: its one view answers `text`.
pub(crate) fn django_view(text: &str) -> String {
    format!("from django.http import HttpResponse\n\n\ndef index(request):\n    return HttpResponse({text:?})\n")
}

/// A Django project made by `django-admin startproject mysite` in `project` (created), whose one URL answers with
/// [`django_view`]`("hello v1")`; every file is backdated, so it is old news to stator. Returns the view's path.
pub(crate) fn django_project(python: &Path, project: &Path) -> PathBuf {
    std::fs::create_dir_all(project).expect("create the project directory");
    let made = Command::new(python).args(["-m", "django", "startproject", "mysite"]).arg(project).output();
    let made = made.expect("run django startproject");
    assert!(made.status.success(), "startproject: {}", String::from_utf8_lossy(&made.stderr));
    let view = project.join("mysite/views.py");
    std::fs::write(&view, django_view("hello v1")).expect("write the view");
    std::fs::write(
        project.join("mysite/urls.py"),
        "from django.urls import path\n\nfrom . import views\n\nurlpatterns = [path('', views.index)]\n",
    )
    .expect("write the urls");
    let entries = std::fs::read_dir(project.join("mysite")).into_iter().chain(std::fs::read_dir(project));
    for entry in entries.flatten().flatten() {
        backdate(&entry.path());
    }
    view
}

/// The paths stator's `--json -v` output says the command reported.
pub(crate) fn reported(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "reported")
        .flat_map(|e| {
            e["paths"].as_array().map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

/// The python interpreter of a virtualenv with Django installed, made once per Python version and Django series
/// and kept under `target/tmp`. `Err` says why it could not be made (no python3, no network for pip...).
pub(crate) fn django_python() -> Result<PathBuf, String> {
    let django = format!("django=={DJANGO}");
    venv_python(&format!("django-{}", DJANGO.trim_end_matches(".*")), &[&django])
}

/// The python interpreter of a virtualenv named `name` (and the Python version) with `packages` installed from
/// PyPI, made once and kept under `target/tmp`. `Err` says why it could not be made.
pub(crate) fn venv_python(name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    // One at a time: the tests of this binary share a process, and with it the temporary path below.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let python = which("python3").ok_or("python3 is not on PATH")?;
    let version = Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let key = format!("{name}-py{version}");
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("venvs");
    let venv = base.join(&key);
    let venv_python = venv.join("bin/python");
    if venv.join("ready").exists() {
        return Ok(venv_python);
    }
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    // Built aside and renamed into place, so a run interrupted half-way leaves nothing that looks ready. Only
    // `bin/python -m ...` is used from it: console scripts would name the temporary path in their #! line.
    let tmp = base.join(format!("{key}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    run(Command::new(&python).args(["-m", "venv"]).arg(&tmp), "python3 -m venv")?;
    let pip = Command::new(tmp.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--timeout", "30", "--retries", "2"])
        .args(packages)
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !pip.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!(
            "pip install {packages:?} failed ({}): {}",
            pip.status,
            String::from_utf8_lossy(&pip.stderr).trim()
        ));
    }
    std::fs::write(tmp.join("ready"), "").map_err(|e| e.to_string())?;
    if std::fs::rename(&tmp, &venv).is_err() {
        // Another test run made it meanwhile.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if venv.join("ready").exists() { Ok(venv_python) } else { Err("the virtualenv did not end up in place".into()) }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}
