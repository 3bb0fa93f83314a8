//! Hostile conditions, each a test: files that live shorter than a poll, a huge tree changed at once, a directory
//! made unreadable and readable again, symlink loops, non-UTF-8 names, paths near PATH_MAX, a daemon that escapes
//! the process group, and stator itself killed with SIGKILL.
//!
//! Engine tests drive `Poller` on real temporary directories (`support::watch`); process tests run the `stator`
//! binary (`support::sandbox`). No test sleeps to synchronise: each waits, bounded, for something it can observe,
//! or counts stator's own scans (`-v`). Linux only (`/proc`, process groups): see `main.rs`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stator::change::ChangeKind::{Created, Modified};
use stator::change::ChangeSet;
use stator::poll::{Poller, Settle, Sweep, Warning};
use stator::vfs::real::RealFs;

use crate::support::sandbox::{LOG_AND_STAY, Sandbox, alive, fast, group_members, proc_stat, read_pid, s, which};
use crate::support::watch::Watch;
use crate::support::{set_mtime, skip, write};

/// Ticks until two ticks in a row report nothing and wait for nothing (at least three, at most `max`), folding
/// what they report into `set`.
fn settle(poller: &mut Poller<RealFs>, set: &mut ChangeSet, max: usize) {
    let mut quiet = 0;
    for n in 1..=max {
        let tick = poller.tick();
        quiet = if tick.changes.is_empty() && !tick.pending { quiet + 1 } else { 0 };
        set.extend(tick.changes);
        if n >= 3 && quiet >= 2 {
            return;
        }
    }
}

// -----------------------------------------------------------------------------------------------------------------
// Files that live shorter than a poll.

#[test]
fn files_created_and_deleted_faster_than_the_poll_leave_no_phantoms() {
    let mut w = Watch::new(|d| {
        write(d.join("stable.txt"), "stable");
        fs::create_dir(d.join("churn")).expect("mkdir churn");
    });
    let churn = w.path("churn");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    // Another thread creates, rewrites, renames and deletes files (and empty directories) as fast as it can while
    // this one ticks: a tick's listing and its stats see them in every state, including gone in between.
    let worker = {
        let (churn, stop, done) = (churn.clone(), stop.clone(), done.clone());
        std::thread::spawn(move || {
            let mut ops = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let i = ops % 32;
                let f = churn.join(format!("t{i}.txt"));
                match ops % 5 {
                    0 | 1 => {
                        let _ = fs::write(&f, format!("short {ops}"));
                        let _ = fs::remove_file(&f);
                    }
                    // Lives until its slot comes round again.
                    2 => {
                        let _ = fs::write(&f, format!("lives a little {ops}"));
                    }
                    3 => {
                        let g = churn.join(format!("u{i}.txt"));
                        let _ = fs::rename(&f, &g);
                        let _ = fs::remove_file(&g);
                    }
                    _ => {
                        let d = churn.join(format!("d{}", i % 4));
                        let _ = fs::create_dir(&d);
                        let _ = fs::remove_dir(&d);
                    }
                }
                ops += 1;
                done.store(ops, Ordering::Relaxed);
            }
            // Nothing short-lived is left; two files stay for good.
            for entry in fs::read_dir(&churn).expect("list churn").flatten() {
                let p = entry.path();
                let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir(&p));
            }
            write(churn.join("kept-1.txt"), "kept");
            write(churn.join("kept-2.txt"), "kept");
            ops
        })
    };
    // Both sides make progress whatever the machine's speed: tick until the churn did 2,000 operations and the
    // engine 200 ticks (one in four a hot one).
    let mut set = ChangeSet::new();
    let mut ticks = 0;
    while ticks < 200 || done.load(Ordering::Relaxed) < 2000 {
        let tick = if ticks % 4 == 3 { w.poller.tick_hot() } else { w.poller.tick() };
        set.extend(tick.changes);
        ticks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let ops = worker.join().expect("the churning thread");
    settle(&mut w.poller, &mut set, 12);
    eprintln!("churn: {ops} operations during {ticks} ticks");
    // Everything that came and went cancels out; what stays is created; nothing else is reported.
    w.expect(&set, &[("churn/kept-1.txt", Created), ("churn/kept-2.txt", Created)]);
    for round in 0..3 {
        let later = w.settle();
        assert!(later.is_empty(), "round {round} after the churn: no phantom changes, got {:?}", w.rel(&later));
    }
    assert_eq!(w.files(), ["churn/kept-1.txt", "churn/kept-2.txt", "stable.txt"].map(PathBuf::from));
}

#[cfg(target_os = "linux")]
#[test]
fn short_lived_files_make_no_restart_once_the_churn_has_settled() {
    let sb = Sandbox::new();
    let src = sb.src();
    fs::write(src.join("main.txt"), "v1\n").expect("write");
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    for i in 0..3000 {
        let f = src.join(format!("tmp{}.txt", i % 16));
        fs::write(&f, format!("{i}")).expect("write");
        fs::remove_file(&f).expect("remove");
    }
    // The last thing the churn does is leave one file: once it is reported, the churn is over for stator too.
    fs::write(src.join("kept.txt"), "kept\n").expect("write");
    st.wait_stderr("kept.txt (created)");
    st.wait_scans(5);
    let runs = sb.log_count("start");
    let changed = st.lines_with("[stator] changed:").len();
    st.wait_scans(10);

    assert!(runs >= 2, "the kept file restarted the command\n{}", st.stderr());
    assert_eq!(sb.log_count("start"), runs, "no restart after things settled\n{}", st.stderr());
    assert_eq!(st.lines_with("[stator] changed:").len(), changed, "no change set after things settled");
    assert!(st.running(), "stator is still running\n{}", st.stderr());
}

// -----------------------------------------------------------------------------------------------------------------
// A huge tree changed at once.

/// How many files (names) the huge-tree test uses: 20,000 by default; `STATOR_HOSTILE_FILES=100000` for the full
/// size, which takes about a minute here in a debug build (the engine ticks six times over the tree).
fn huge_tree_size() -> usize {
    std::env::var("STATOR_HOSTILE_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

/// The generous bound on stator's peak resident memory while it watches the huge tree.
const RSS_LIMIT_KB: u64 = 300 * 1024;

/// Lays out `n` files, 1,000 per directory. Only the first directory's 1,000 are distinct files; the others are
/// hard links to them: allocating inodes is what is slow on the shared test VM (20,000 new files took from 2 s to
/// over 20 s, the links take about 1 s), and stator sees a name per path whatever its inode. Returns every name and
/// the distinct files.
fn huge_tree(root: &Path, n: usize) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let names: Vec<PathBuf> = (0..n).map(|i| root.join(format!("d{:03}/f{:05}.txt", i / 1000, i))).collect();
    let originals: Vec<PathBuf> = names.iter().take(1000).cloned().collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(parent) = name.parent()
            && i % 1000 == 0
        {
            fs::create_dir_all(parent).expect("mkdir");
        }
        match originals.get(i) {
            Some(_) => fs::write(name, "v1\n").unwrap_or_else(|e| panic!("write {}: {e}", name.display())),
            None => {
                fs::hard_link(&originals[i % 1000], name).unwrap_or_else(|e| panic!("link {}: {e}", name.display()))
            }
        }
    }
    (names, originals)
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
#[cfg(target_os = "linux")]
fn proc_kb(pid: i32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Modifies every file at once, as a checkout or a formatter would: every file gets a new mtime (distinct, just
/// now, so the engine also hashes each one in its racy window), and one in twenty new content as well.
fn touch_all(files: &[PathBuf]) {
    let now = filetime::FileTime::now();
    for (i, f) in files.iter().enumerate() {
        if i % 20 == 0 {
            fs::write(f, "v2, rewritten\n").unwrap_or_else(|e| panic!("write {}: {e}", f.display()));
        }
        let t = filetime::FileTime::from_unix_time(now.unix_seconds(), (i % 1_000_000_000) as u32);
        set_mtime(f, t);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_huge_tree_modified_at_once_is_one_change_set_and_one_restart_in_bounded_memory() {
    let n = huge_tree_size();
    let sb = Sandbox::new();
    let tree = sb.src().join("huge");
    let (_, files) = huge_tree(&tree, n);

    // Both at once on the same tree: the engine, driven here, and the binary, with a child to restart.
    let mut poller = Poller::new(stator::config::Config { roots: vec![tree.clone()], ..Default::default() }, RealFs)
        .expect("config");
    assert!(poller.tick().changes.is_empty(), "baseline");
    // The burst lasts as long as touching the files takes; a settle period of 2 s keeps it one burst even on a
    // slow, busy machine.
    let args = ["-v", "--interval", "200ms", "--settle", "2s", "--max-wait", "120s", "-w", s(&tree)];
    let mut st = sb.spawn(&args, &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);

    touch_all(&files);

    // The engine: everything changed before the next tick is one burst, settled into one change set. The settling
    // clock is synthetic (a tick every 500 ms), so nothing here depends on how fast this machine is.
    let mut settle = Settle::new(Duration::from_millis(200), Duration::from_secs(5));
    let t0 = Instant::now();
    let mut sets = Vec::new();
    // Two ticks settle the burst (the second finds nothing new); two more show nothing follows.
    for k in 1..=4 {
        let now = t0 + Duration::from_millis(500 * k);
        let tick = poller.tick();
        settle.push(tick.changes, Sweep::Full, now);
        sets.extend(settle.take(now));
    }
    assert_eq!(sets.len(), 1, "one change set");
    assert_eq!(sets[0].len(), n, "holding every file");
    assert!(sets[0].iter().all(|(_, k, _)| k == Modified));
    drop(poller);

    // The binary: one restart, and stator's peak memory under the bound.
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    st.wait_scans(3);
    let peak = proc_kb(st.pid(), "VmHWM:").expect("stator's VmHWM");
    let rss = proc_kb(st.pid(), "VmRSS:").expect("stator's VmRSS");
    eprintln!("huge tree: {n} files; stator VmRSS {rss} kB, peak (VmHWM) {peak} kB");
    assert_eq!(sb.log_count("start"), 2, "exactly one restart");
    let changed = st.lines_with("[stator] changed:");
    assert_eq!(changed.len(), 1, "one change set: {changed:?}");
    assert!(changed[0].ends_with(&format!("and {} more", n - 3)), "it holds all {n} files: {}", changed[0]);
    assert!(peak < RSS_LIMIT_KB, "stator's peak resident memory {peak} kB is under {RSS_LIMIT_KB} kB");
    assert!(st.running());
}

// -----------------------------------------------------------------------------------------------------------------
// A directory made unreadable and readable again.

/// Runs stator as an unprivileged user (nobody) when this test runs as root, since root reads everything; the
/// sandbox is handed to that user. `None` (the test is skipped, see [`skip`]) when that is not possible here.
#[cfg(target_os = "linux")]
fn unprivileged(sb: &Sandbox, args: &[&str], command: &[String]) -> Option<std::process::Command> {
    if !rustix::process::geteuid().is_root() {
        return Some(sb.command(args, command));
    }
    let Some(setpriv) = which("setpriv") else {
        skip("running as root, and setpriv(1), to run stator as an unprivileged user, is missing");
        return None;
    };
    let probe = std::process::Command::new(&setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        skip("running as root, and `setpriv --reuid=65534` (to run stator as an unprivileged user) fails here");
        return None;
    }
    // The sandbox becomes nobody's: its files, and the directory itself (tempfile makes it 0700).
    fn chown_all(p: &Path) {
        std::os::unix::fs::lchown(p, Some(65534), Some(65534)).expect("chown to nobody");
        if p.is_dir() && !p.is_symlink() {
            for entry in fs::read_dir(p).expect("list").flatten() {
                chown_all(&entry.path());
            }
        }
    }
    chown_all(sb.path());
    let mut cmd = std::process::Command::new(setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_stator")]);
    cmd.args(args).arg("--").args(command);
    sb.prepare(&mut cmd);
    Some(cmd)
}

#[cfg(target_os = "linux")]
#[test]
fn a_directory_made_unreadable_and_readable_again_warns_once_keeps_running_and_is_picked_up_again() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let src = sb.src();
    let locked = src.join("locked");
    fs::create_dir(&locked).expect("mkdir");
    fs::write(locked.join("in.txt"), "in\n").expect("write");
    fs::write(src.join("main.txt"), "v1\n").expect("write");
    let Some(cmd) = unprivileged(&sb, &fast(&["-v", "-w", s(&src)]), &sb.sh(LOG_AND_STAY)) else { return };
    let mut st = sb.spawn_cmd(cmd);
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    let uid = fs::read_to_string(format!("/proc/{}/status", st.pid())).expect("status");
    let uid = uid.lines().find(|l| l.starts_with("Uid:")).expect("Uid line").to_owned();
    assert_ne!(uid.split_ascii_whitespace().nth(1), Some("0"), "stator runs unprivileged: {uid}");

    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    // The directory's mtime does not change with chmod: something must change in it for stator to look again.
    fs::write(locked.join("added-while-locked.txt"), "new\n").expect("write");
    st.wait_stderr("warning");
    st.wait_scans(5);
    let warnings = st.lines_with("warning");
    assert_eq!(warnings.len(), 1, "one warning, not one per scan or per file\n{}", st.stderr());
    assert!(warnings[0].contains(s(&locked)), "it names the directory: {}", warnings[0]);
    assert_eq!(sb.log_count("start"), 1, "an unreadable directory is not a change\n{}", st.stderr());
    assert!(st.running(), "stator keeps running\n{}", st.stderr());

    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod 755");
    st.wait("run 2: the file added while it was unreadable", || sb.log_count("start") >= 2);
    st.wait_scans(3);
    let changed = st.lines_with("[stator] changed:");
    assert_eq!(changed.len(), 1, "{}", st.stderr());
    assert!(changed[0].contains("added-while-locked.txt (created)"), "{}", changed[0]);
    assert!(!changed[0].contains("in.txt"), "the file it had all along is no change: {}", changed[0]);
    assert_eq!(st.lines_with("warning").len(), 1, "no more warnings once readable\n{}", st.stderr());
    assert_eq!(sb.log_count("start"), 2, "{}", st.stderr());
}

// -----------------------------------------------------------------------------------------------------------------
// Symlink loops.

#[test]
fn symlink_loops_of_every_shape_end_each_scan_and_the_real_files_are_watched_once() {
    let mut w = Watch::new(|d| {
        write(d.join("a/f.txt"), "f");
        write(d.join("c/g.txt"), "g");
        fs::create_dir_all(d.join("a/b")).expect("mkdir");
        // Back up to the root, relatively and absolutely.
        symlink("../..", d.join("a/b/up")).expect("symlink");
        symlink(d, d.join("c/root")).expect("symlink");
        // Two directories pointing at each other.
        symlink("../c", d.join("a/to_c")).expect("symlink");
        symlink("../a", d.join("c/to_a")).expect("symlink");
        // Links that never resolve: to itself, a pair, and a chain longer than the kernel follows (40).
        symlink("self", d.join("self")).expect("symlink");
        symlink("y", d.join("x")).expect("symlink");
        symlink("x", d.join("y")).expect("symlink");
        for i in 0..45 {
            symlink(format!("chain{}", i + 1), d.join(format!("chain{i}"))).expect("symlink");
        }
        symlink("a", d.join("chain45")).expect("symlink");
    });
    let baseline_warnings = w.baseline.warnings.clone();
    let real = |w: &Watch| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> =
            w.poller.files().iter().map(|p| fs::canonicalize(p).expect("canonical path")).collect();
        v.sort();
        v
    };
    let root = fs::canonicalize(w.root()).expect("canonical root");
    let want = vec![root.join("a/f.txt"), root.join("c/g.txt")];
    assert_eq!(real(&w), want, "each real file tracked exactly once: {:?}", w.poller.files());
    assert!(w.baseline.stats < 200, "bounded work: {} stats", w.baseline.stats);
    let loops = baseline_warnings.iter().filter(|x| matches!(x, Warning::Loop { .. })).count();
    assert!(loops >= 2, "the loops back to the root are named: {baseline_warnings:?}");

    write(w.path("a/f.txt"), "f, changed");
    write(w.path("c/g.txt"), "g, changed");
    let (set, warnings) = w.settle_with_warnings();
    assert!(warnings.is_empty(), "each loop warned once, at the baseline: {warnings:?}");
    let mut changed: Vec<PathBuf> = set
        .iter()
        .map(|(p, k, _)| {
            assert_eq!(k, Modified, "{}", p.display());
            fs::canonicalize(p).expect("canonical")
        })
        .collect();
    changed.sort();
    assert_eq!(changed, want, "each change reported once");
    for round in 0..3 {
        let (set, warnings) = w.settle_with_warnings();
        assert!(set.is_empty() && warnings.is_empty(), "round {round}: idle and quiet: {set:?} {warnings:?}");
    }

    // The binary's --list ends too, with the same two files.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stator"))
        .args(["--list", "-w"])
        .arg(w.root())
        .output()
        .expect("run stator --list");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "{}", String::from_utf8_lossy(&out.stdout));
}

// -----------------------------------------------------------------------------------------------------------------
// Non-UTF-8 names.

#[cfg(target_os = "linux")]
#[test]
fn non_utf8_names_reach_the_child_and_the_list_byte_for_byte() {
    let sb = Sandbox::new();
    let src = sb.src();
    let dir = src.join(OsStr::from_bytes(b"caf\xe9"));
    let file = dir.join(OsStr::from_bytes(b"\xff\xfe name.txt"));
    fs::create_dir(&dir).expect("mkdir");
    fs::write(&file, "v1\n").expect("write");

    let (status, stdout, _) = sb.run(&["--list", "-w", s(&src)], &[]);
    assert_eq!(status.code(), Some(0));
    let listed = fs::read(sb.join("stator.stdout")).expect("stdout bytes");
    let mut want = file.as_os_str().as_bytes().to_vec();
    want.push(b'\n');
    assert_eq!(listed, want, "--list prints the raw bytes (lossy: {stdout:?})");

    let script = r#"echo start >> "$LOG"; cp "$STATOR_CHANGED_FILE" "$DIR/part.$STATOR_RUN" && mv "$DIR/part.$STATOR_RUN" "$DIR/changed.$STATOR_RUN"; exec "$SLEEP" 1000"#;
    let mut st = sb.spawn(&fast(&["-v", "-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 to log its start", || sb.log_count("start") == 1);
    fs::write(&file, "v2, longer\n").expect("write");
    st.wait("run 2 to copy its changed file", || sb.join("changed.2").exists());
    assert_eq!(fs::read(sb.join("changed.2")).expect("read"), want, "the child gets the exact bytes");
    assert!(st.running(), "{}", st.stderr());

    // A root given by a non-UTF-8 name cannot be passed at all: flags must be UTF-8 (only the command after `--`
    // may be any bytes). That is refused with one line and exit code 2, not a crash.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stator"))
        .arg("--list")
        .arg("-w")
        .arg(&dir)
        .output()
        .expect("run stator");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.lines().next().is_some_and(|l| l.contains("is not valid UTF-8")), "{stderr}");
}

// -----------------------------------------------------------------------------------------------------------------
// Paths near PATH_MAX.

/// Creates the directories `names` one inside the other under `base`, through directory descriptors (`mkdirat`),
/// so the absolute path may grow past PATH_MAX; returns a descriptor of the innermost one.
fn mkdir_chain(base: &Path, names: &[String]) -> rustix::fd::OwnedFd {
    use rustix::fs::{CWD, Mode, OFlags, mkdirat, openat};
    let mut fd = openat(CWD, base, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).expect("open base");
    for name in names {
        mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o755)).expect("mkdirat");
        fd = openat(&fd, name.as_str(), OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).expect("openat");
    }
    fd
}

fn write_at(dir: &rustix::fd::OwnedFd, name: &str, data: &[u8]) {
    use rustix::fs::{Mode, OFlags, openat};
    let fd = openat(dir, name, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC, Mode::from_raw_mode(0o644))
        .expect("create file");
    rustix::io::write(&fd, data).expect("write");
}

#[test]
fn paths_near_path_max_are_watched_and_longer_ones_are_one_warning_not_a_crash() {
    const PATH_MAX: usize = 4096;
    let mut w = Watch::new(|_| {});
    let root = w.root().to_path_buf();
    let level = "x".repeat(200);
    // As many 200-byte levels as fit with room for "/near.txt" below 4095 bytes (the longest path the kernel
    // takes, its terminating NUL making 4096); then one shorter level to land within a few bytes of the limit.
    let mut names = Vec::new();
    let mut len = root.as_os_str().len();
    while len + 1 + level.len() + "/near.txt".len() < PATH_MAX - 1 {
        names.push(level.clone());
        len += 1 + level.len();
    }
    let last = PATH_MAX - 1 - len - 1 - "/near.txt".len();
    names.push("y".repeat(last));
    let deep = mkdir_chain(&root, &names);
    write_at(&deep, "near.txt", b"near");
    let near: PathBuf = names.iter().fold(root.clone(), |p, n| p.join(n)).join("near.txt");
    assert_eq!(near.as_os_str().len(), PATH_MAX - 1, "the longest path the kernel accepts");
    // And a branch beyond it, beside the last level: a 200-byte directory (at or just past the limit) holding
    // another one that is surely past it, with a file in it.
    let base: PathBuf = names[..names.len() - 1].iter().fold(root.clone(), |p, n| p.join(n));
    let far = mkdir_chain(&base, &["w".repeat(200), "v".repeat(200)]);
    write_at(&far, "far.txt", b"far");

    let mut set = ChangeSet::new();
    let mut warnings = Vec::new();
    for _ in 0..3 {
        let t = w.poller.tick();
        set.extend(t.changes);
        warnings.extend(t.warnings);
    }
    let files = w.poller.files();
    assert!(files.contains(&near), "the file at 4095 bytes is watched");
    // What happens beyond: the 200-byte directory whose path passes 4095 bytes cannot be looked at by path
    // (ENAMETOOLONG, which Rust calls "invalid filename"): one warning, and nothing below it is watched. The rest
    // of the tree is. Through its parent's handle (local filesystems) the directory itself can be statted, but
    // not listed (listings go by path): the warning is then about the listing.
    assert_eq!(warnings.len(), 1, "what is beyond PATH_MAX is one warning: {warnings:?}");
    match &warnings[0] {
        Warning::Unreadable { path, error } | Warning::CannotList { path, error } => {
            assert_eq!(*error, std::io::ErrorKind::InvalidFilename, "{}", warnings[0]);
            assert!(path.as_os_str().len() >= PATH_MAX && path.ends_with("w".repeat(200)), "{}", path.display());
        }
        other => panic!("unexpected warning: {other}"),
    }
    assert!(!files.iter().any(|f| f.ends_with("far.txt")));

    write_at(&deep, "near.txt", b"near, changed");
    write_at(&far, "far.txt", b"far, changed");
    let (set, warnings) = w.settle_with_warnings();
    let changed: Vec<_> = set.iter().map(|(p, k, _)| (p.to_path_buf(), k)).collect();
    assert_eq!(changed, vec![(near.clone(), Modified)], "the near file's change is seen; the far one cannot be");
    assert!(warnings.is_empty(), "warned once: {warnings:?}");
}

// -----------------------------------------------------------------------------------------------------------------
// Processes that escape.

#[cfg(target_os = "linux")]
#[test]
fn a_daemon_that_double_forks_out_of_the_group_outlives_the_restart_but_the_group_does_not() {
    let sb = Sandbox::new();
    let file = sb.src().join("main.txt");
    fs::write(&file, "v1\n").expect("write");
    let src = sb.src();
    // Run 1 starts a daemon the classic way: a child that calls setsid (a new session, so a new process group) and
    // forks again, the middle process exiting at once. Then, like every run, a grandchild in its own group.
    let script = r#"echo $$ > "$DIR/child.$STATOR_RUN.pid"
        if [ "$STATOR_RUN" = 1 ]; then
            setsid sh -c '"$SLEEP" 1000 & echo $! > "$DIR/daemon.pid"' < /dev/null > /dev/null 2>&1 &
        fi
        "$SLEEP" 1000 & echo $! > "$DIR/gc.$STATOR_RUN.pid"
        echo start >> "$LOG"
        wait"#;
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("run 1 and its daemon", || {
        sb.log_count("start") == 1 && read_pid(&sb.join("daemon.pid")).is_some_and(|p| proc_stat(p).is_some())
    });
    let child = read_pid(&sb.join("child.1.pid")).expect("child pid");
    let gc = read_pid(&sb.join("gc.1.pid")).expect("grandchild pid");
    let daemon = read_pid(&sb.join("daemon.pid")).expect("daemon pid");
    let (_, _, daemon_group) = proc_stat(daemon).expect("the daemon runs");
    assert_ne!(daemon_group, child, "the daemon left the child's process group");

    fs::write(&file, "v2, longer\n").expect("write");
    st.wait("run 2 to log its start", || sb.log_count("start") >= 2);
    st.wait("run 1's process group to be gone", || group_members(child).is_empty());
    assert!(!alive(gc), "the grandchild in the group was stopped with it");
    // The documented limit: stator stops the process group; a process that made its own session is out of reach
    // (only a cgroup or a PID namespace would hold it). It is still running; the sandbox's guard kills it.
    assert!(alive(daemon), "the daemon outlived the restart (stator cannot stop it)");
}

#[cfg(target_os = "linux")]
#[test]
fn stator_killed_with_sigkill_takes_its_child_and_the_rest_of_the_group_along() {
    use rustix::process::Signal;
    let sb = Sandbox::new();
    let src = sb.src();
    let script = r#"echo $$ > "$DIR/child.pid"; echo "$STATOR_CHANGED_FILE" > "$DIR/changed-file"
        echo "$STATOR_WATCH_FILE" > "$DIR/watch-file"
        "$SLEEP" 1000 & echo $! > "$DIR/gc.pid"
        echo start >> "$LOG"
        wait"#;
    let mut st = sb.spawn(&fast(&["-w", s(&src)]), &sb.sh(script));
    st.wait_watching();
    st.wait("the child and its grandchild", || {
        sb.log_count("start") == 1 && read_pid(&sb.join("gc.pid")).is_some() && sb.join("changed-file").exists()
    });
    let watch_file = PathBuf::from(fs::read_to_string(sb.join("watch-file")).expect("read").trim());
    let child = read_pid(&sb.join("child.pid")).expect("child pid");
    let gc = read_pid(&sb.join("gc.pid")).expect("grandchild pid");
    let changed_file = PathBuf::from(fs::read_to_string(sb.join("changed-file")).expect("read").trim());
    assert!(changed_file.exists());

    st.signal(Signal::KILL);
    let status = st.wait_exit();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    // The direct child gets SIGKILL from the kernel when stator dies (PR_SET_PDEATHSIG).
    st.wait("the direct child to die with stator", || !alive(child));
    // The parent-death signal reaches the direct child only; the rest of its process group (a launcher's server)
    // is killed by the run's sentinel, which sees stator's end of their socket close. The sentinel then removes
    // stator's private directories (the changed-files list's, the report file's), which a killed stator cannot.
    st.wait("the grandchild in the group to die with stator (the sentinel)", || !alive(gc));
    for file in [&changed_file, &watch_file] {
        let dir = file.parent().expect("a private directory").to_path_buf();
        st.wait(&format!("the sentinel to remove {}", dir.display()), || !dir.exists());
    }
}
