//! What stator ships (`.ci/dist`, into `target/dist/`): the static musl binaries and the Python wheel. The tests
//! read the artifacts from the directory `STATOR_DIST` names (`.ci/run` builds them and sets it); without it they
//! skip, which fails under CI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::learn::{django_project, django_python, django_view, http_get};
use crate::support::sandbox::{Sandbox, alive, all_pids, free_port, s};
use crate::support::skip;

/// The directory of the built artifacts, if `STATOR_DIST` names one.
fn dist() -> Option<PathBuf> {
    std::env::var_os("STATOR_DIST").map(PathBuf::from).filter(|d| d.is_dir())
}

/// One artifact of `target/dist/`, or the reason to skip.
fn artifact(name: &str) -> Result<PathBuf, String> {
    let dir = dist().ok_or("STATOR_DIST does not name the directory .ci/dist built (run .ci/dist first)")?;
    let path = dir.join(name);
    if path.is_file() { Ok(path) } else { Err(format!("{} is missing: run .ci/dist", path.display())) }
}

/// The wheel in `target/dist/`.
fn wheel() -> Result<PathBuf, String> {
    let dir = dist().ok_or("STATOR_DIST does not name the directory .ci/dist built (run .ci/dist first)")?;
    fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("no wheel in {}: run .ci/dist", dir.display()))
}

/// `readelf` on `bin` with `flags`.
fn readelf(flags: &str, bin: &Path) -> String {
    let out = Command::new("readelf").arg(flags).arg(bin).output().expect("run readelf");
    assert!(out.status.success(), "readelf {flags} {}: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts `bin` is a static ELF for `machine`: no program interpreter, no shared library needed.
fn assert_static(bin: &Path, machine: &str) {
    let header = readelf("-hW", bin);
    assert!(header.contains(machine), "{} is not for {machine}:\n{header}", bin.display());
    let segments = readelf("-lW", bin);
    assert!(!segments.contains("INTERP"), "{} has a program interpreter:\n{segments}", bin.display());
    let dynamic = readelf("-dW", bin);
    assert!(!dynamic.contains("(NEEDED)"), "{} needs shared libraries:\n{dynamic}", bin.display());
}

#[test]
fn the_musl_binaries_are_static() {
    let x86 = match artifact("stator-x86_64-unknown-linux-musl") {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    assert_static(&x86, "X86-64");
    match artifact("stator-aarch64-unknown-linux-musl") {
        Ok(a64) => assert_static(&a64, "AArch64"),
        Err(why) => skip(&why),
    }
}

/// The aarch64 binary, run under user-mode emulation (`qemu-aarch64-static`): it says its version, watches a
/// directory, runs its command (itself, `--version`, emulated too) again on a change, and SIGTERM ends it.
#[test]
fn the_aarch64_binary_runs_under_emulation_and_runs_its_command_again_on_a_change() {
    let bin = match artifact("stator-aarch64-unknown-linux-musl") {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    if Command::new("qemu-aarch64-static").arg("--version").output().is_err() {
        return skip("qemu-aarch64-static is not installed (Debian: qemu-user-static)");
    }
    let version = format!("stator {}", env!("CARGO_PKG_VERSION"));
    let out = Command::new("qemu-aarch64-static").arg(&bin).arg("--version").output().expect("run it");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), version, "{}", String::from_utf8_lossy(&out.stderr));

    let sb = Sandbox::new();
    let src = sb.src();
    let mut cmd = Command::new("qemu-aarch64-static");
    cmd.arg(&bin).args(["--interval", "100ms", "--settle", "100ms", "-w", s(&src), "--"]);
    cmd.arg("qemu-aarch64-static").arg(&bin).arg("--version");
    sb.prepare(&mut cmd);
    let mut st = sb.spawn_cmd(cmd);
    let stdout = sb.join("stator.stdout");
    let runs = || fs::read_to_string(&stdout).unwrap_or_default().lines().filter(|l| *l == version).count();
    st.wait("the first run", || runs() == 1);
    st.wait_watching();
    fs::write(src.join("changed.txt"), "x\n").expect("write into src");
    st.wait("a second run after the change", || runs() == 2);
    st.signal(rustix::process::Signal::TERM);
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(143), "SIGTERM ends the emulated stator with 143\n{}", st.stderr());
}

/// The processes whose root directory is `root` (those inside the chroot).
fn chrooted(root: &Path) -> Vec<i32> {
    all_pids().into_iter().filter(|&p| fs::read_link(format!("/proc/{p}/root")).is_ok_and(|r| r == root)).collect()
}

/// The static binary as PID 1 of a new pid namespace, chrooted in a directory holding nothing but itself, an
/// empty directory to watch and `/proc` (mounted, as in every container): its child (stator itself, `--version`,
/// the only program there) runs, runs again on a change, and SIGTERM ends everything with 143.
#[test]
fn the_static_binary_runs_alone_in_a_chroot_as_pid_1_and_stops_on_sigterm() {
    let bin = match artifact("stator-x86_64-unknown-linux-musl") {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let probe = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return skip("`unshare --pid --fork --mount-proc` fails here (needs root)");
    }
    let sb = Sandbox::new();
    let root = fs::canonicalize(sb.join("root")).unwrap_or_else(|_| {
        fs::create_dir(sb.join("root")).expect("create the root");
        fs::canonicalize(sb.join("root")).expect("the root")
    });
    fs::copy(&bin, root.join("stator")).expect("copy the binary");
    fs::create_dir(root.join("w")).expect("create /w");
    fs::create_dir(root.join("proc")).expect("create /proc");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount", "--propagation", "private"]);
    cmd.arg(format!("--mount-proc={}", s(&root.join("proc"))));
    cmd.arg("chroot").arg(&root);
    cmd.args(["/stator", "--interval", "100ms", "--settle", "100ms", "-w", "/w", "--", "/stator", "--version"]);
    sb.prepare(&mut cmd);
    let mut st = sb.spawn_cmd(cmd);
    let version = format!("stator {}", env!("CARGO_PKG_VERSION"));
    let stdout = sb.join("stator.stdout");
    let runs = || fs::read_to_string(&stdout).unwrap_or_default().lines().filter(|l| *l == version).count();
    st.wait("the first run", || runs() == 1);
    st.wait_watching();
    fs::write(root.join("w/changed.txt"), "x\n").expect("write into /w");
    st.wait("a second run after the change", || runs() == 2);

    let inside = chrooted(&root);
    assert!(!inside.is_empty(), "stator runs in the chroot\n{}", st.stderr());
    for &pid in &inside {
        rustix::process::kill_process(rustix::process::Pid::from_raw(pid).expect("pid"), rustix::process::Signal::TERM)
            .expect("SIGTERM stator");
    }
    let status = st.wait_exit();
    assert_eq!(status.code(), Some(143), "stator's exit code for SIGTERM, passed on by unshare\n{}", st.stderr());
    st.wait("nothing left in the chroot", || chrooted(&root).iter().all(|&p| !alive(p)));
}

/// In a chroot without `/proc` (and not as PID 1) the sentinel, `/proc/self/exe`, cannot run: stator says so in
/// one warning and runs the command anyway.
#[test]
fn without_proc_stator_warns_that_a_sigkill_would_leave_the_command_running_and_runs_it() {
    let bin = match artifact("stator-x86_64-unknown-linux-musl") {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    fs::create_dir(sb.join("root")).expect("create the root");
    let root = fs::canonicalize(sb.join("root")).expect("the root");
    fs::copy(&bin, root.join("stator")).expect("copy the binary");
    fs::create_dir(root.join("w")).expect("create /w");
    if !Command::new("chroot").arg(&root).arg("/stator").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return skip("chroot fails here (needs root)");
    }
    let mut cmd = Command::new("chroot");
    cmd.arg(&root).args(["/stator", "--interval", "100ms", "-w", "/w", "--", "/stator", "--version"]);
    sb.prepare(&mut cmd);
    let mut st = sb.spawn_cmd(cmd);
    st.wait_stderr("[stator] command ended (run 1)");
    let warned = st.lines_with("/proc/self/exe is missing");
    assert_eq!(warned.len(), 1, "{}", st.stderr());
    assert!(warned[0].ends_with("if stator is killed with SIGKILL, the command keeps running"), "{}", warned[0]);
    st.signal(rustix::process::Signal::TERM);
    assert_eq!(st.wait_exit().code(), Some(143), "{}", st.stderr());
}

/// The wheel in a fresh virtualenv: `pip install` (offline, from the file) puts `stator` in the venv's `bin`,
/// with Cargo's version, and a real Django project reloads through it with `--python`: the shim comes from the
/// binary the wheel installed.
#[test]
fn the_wheel_installs_stator_and_a_django_project_reloads_through_it() {
    let wheel = match wheel() {
        Ok(w) => w,
        Err(why) => return skip(&why),
    };
    let python = match django_python() {
        Ok(python) => python,
        Err(why) => return skip(&why),
    };
    let sb = Sandbox::new();
    let venv = sb.join("venv");
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).output().expect("run python3 -m venv");
    assert!(made.status.success(), "venv: {}", String::from_utf8_lossy(&made.stderr));
    let pip = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--no-index", "--quiet", "--disable-pip-version-check"])
        .arg(&wheel)
        .output()
        .expect("run pip");
    assert!(pip.status.success(), "pip install {}: {}", wheel.display(), String::from_utf8_lossy(&pip.stderr));
    let stator = venv.join("bin/stator");
    let out = Command::new(&stator).arg("--version").output().expect("run the wheel's stator");
    let version = format!("stator {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), version, "the wheel's stator --version");

    let project = sb.join("project");
    let view = django_project(&python, &project);
    let port = free_port();
    // The only root is an empty directory: the view is watched only because the shim reported it.
    let empty = sb.src();
    let mut cmd = Command::new(&stator);
    cmd.args(["--interval", "100ms", "--settle", "100ms", "--python", "-w", s(&empty), "--"]);
    cmd.arg(&python).arg(project.join("manage.py")).args(["runserver", "--noreload", &format!("127.0.0.1:{port}")]);
    sb.prepare(&mut cmd);
    cmd.current_dir(&project);
    let mut st = sb.spawn_cmd(cmd);
    st.wait("the page to say hello v1", || http_get(port).as_deref() == Some("hello v1"));
    fs::write(&view, django_view("hello v2")).unwrap();
    st.wait("the page to say hello v2", || http_get(port).as_deref() == Some("hello v2"));
}
