//! A watched filesystem unmounted and mounted again under a running `stator` (issue 7, hostile conditions), with
//! the real binary and real mounts:
//!
//! - an ext4 image unmounted *above* the watched directory (`-w $mnt/project`): the path vanishes;
//! - the same, unmounted *at* the watched directory (`-w $mnt`): the empty directory underneath shows through;
//! - another filesystem (tmpfs) mounted over a watched mount point, and unmounted again;
//! - a FUSE filesystem (bindfs) whose daemon is killed: every `stat` fails with ENOTCONN, for 2,000 files.
//!
//! In each, stator warns once, keeps running, restarts nothing while the filesystem is away, and once it is back
//! restarts the command once for what changed meanwhile (edits made while it was away through another mount of
//! the same image, or on bindfs's backing side), then keeps watching.
//!
//! Mounting needs root: as another user these tests are skipped by the one policy ([`skip`]: `SKIPPED`, except
//! with `CI` set, where that, or a missing tool, is a failure). They mount in this namespace and unmount lazily
//! (`umount -l`), which works even while stator holds directory handles on the filesystem; a guard unmounts
//! whatever is left and detaches the loop device when a test ends, passing or failing. No test sleeps to
//! synchronise: each waits, bounded, for what it can observe, or counts stator's own scans (`-v`).
//! Linux only: see `main.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::sandbox::{FAST, LOG_AND_STAY, POLL, Sandbox, Stator, TIMEOUT, append, s, which};
use crate::support::{skip, wait_until};

/// Whether this test can mount, with `tools` on PATH; if not, it is skipped ([`skip`]: a failure with `CI` set).
fn can_mount(tools: &[&str]) -> bool {
    let why = if !rustix::process::geteuid().is_root() {
        "mounting needs root".to_owned()
    } else if let Some(missing) = tools.iter().find(|t| which(t).is_none()) {
        format!("{missing} is not installed")
    } else {
        return true;
    };
    skip(&why);
    false
}

/// Runs a command to its end; panics with what it said if it fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().expect("run a mount tool");
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether something is mounted at `path` (in this namespace).
fn mounted(path: &Path) -> bool {
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    table.lines().any(|l| l.split(' ').nth(4) == Some(s(path)))
}

/// Mount points made by a test; dropping it unmounts (lazily) whatever is still mounted on them, and detaches the
/// loop device.
#[derive(Default)]
struct Mounts {
    points: Vec<PathBuf>,
    loop_dev: Option<String>,
}

impl Mounts {
    /// Mounts `source` at `at` with `mount ARGS SOURCE AT`.
    fn mount(&mut self, args: &[&str], source: &str, at: &Path) {
        fs::create_dir_all(at).expect("mkdir mount point");
        let mut all = args.to_vec();
        all.extend([source, s(at)]);
        run("mount", &all);
        if !self.points.iter().any(|p| p == at) {
            self.points.push(at.to_path_buf());
        }
    }

    /// An ext4 image of a few MiB in `sb`, attached to a loop device (mounted with [`Mounts::mount`] as often
    /// as a test likes: one device, so every mount shares one filesystem); returns the device.
    fn ext4(&mut self, sb: &Sandbox) -> String {
        let img = sb.join("ext4.img");
        fs::File::create(&img).and_then(|f| f.set_len(16 << 20)).expect("create the image");
        run("mkfs.ext4", &["-q", "-F", s(&img)]);
        let dev = run("losetup", &["--find", "--show", s(&img)]);
        self.loop_dev = Some(dev.clone());
        dev
    }
}

/// `umount -l`: detaches the filesystem at once, even while something (stator's directory handles) keeps it busy.
fn umount(at: &Path) {
    run("umount", &["-l", s(at)]);
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for at in self.points.iter().rev() {
            // Stacked mounts come off one by one; the bound is only a guard.
            for _ in 0..8 {
                if !mounted(at) {
                    break;
                }
                let _ = Command::new("umount").arg("-l").arg(at).stderr(Stdio::null()).status();
            }
        }
        if let Some(dev) = &self.loop_dev {
            // On a device still busy, this only marks it to be detached once the last user is gone.
            let _ = Command::new("losetup").args(["-d", dev]).stderr(Stdio::null()).status();
        }
    }
}

/// A bindfs daemon, run in the foreground as this test's child so it can be killed for sure.
struct Bindfs {
    child: Child,
}

impl Bindfs {
    /// Mounts `backing` at `at` through bindfs, recording the mount point in `mounts`; waits until it is mounted.
    fn start(backing: &Path, at: &Path, mounts: &mut Mounts) -> Bindfs {
        fs::create_dir_all(at).expect("mkdir mount point");
        let child = Command::new("bindfs")
            .arg("-f")
            .arg(backing)
            .arg(at)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start bindfs");
        if !mounts.points.iter().any(|p| p == at) {
            mounts.points.push(at.to_path_buf());
        }
        let mut daemon = Bindfs { child };
        assert!(wait_until(TIMEOUT, POLL, || mounted(at)), "bindfs did not mount {}", at.display());
        assert!(daemon.child.try_wait().expect("try_wait").is_none(), "bindfs exited");
        daemon
    }

    /// SIGKILL: the daemon dies without unmounting, and every `stat` on the mount fails with ENOTCONN.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bindfs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The lines of stator's stderr that are warnings.
fn warnings(st: &Stator) -> Vec<String> {
    st.lines_with("warning:")
}

/// Waits for run `n` of the command, and then for stator to settle (five more scans): the change sets since.
fn wait_run(st: &mut Stator, sb: &Sandbox, n: usize) {
    st.wait(&format!("run {n} to log its start"), || sb.log_count("start") >= n);
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), n, "one restart, not more\n{}", st.stderr());
}

/// Appends a line to `path`: an edit that changes its size.
fn edit(path: &Path) {
    append(path, "edited\n");
}

/// A sandbox with an empty ext4 filesystem (no `lost+found`) on a loop device, mounted at `mnt` in it; `None`
/// (after `SKIPPED`) where this test cannot mount. Returns the sandbox, the mounts' guard, the device, `mnt`.
fn ext4_sandbox() -> Option<(Sandbox, Mounts, String, PathBuf)> {
    if !can_mount(&["mount", "umount", "losetup", "mkfs.ext4"]) {
        return None;
    }
    let sb = Sandbox::new();
    let mut mounts = Mounts::default();
    let dev = mounts.ext4(&sb);
    let mnt = sb.join("mnt");
    mounts.mount(&[], &dev, &mnt);
    fs::remove_dir(mnt.join("lost+found")).expect("rmdir lost+found");
    Some((sb, mounts, dev, mnt))
}

/// Starts `stator -v -w ROOT EXTRA` (fast intervals) with a command that stays up, and waits for its first run.
fn watch(sb: &Sandbox, root: &Path, extra: &[&str]) -> Stator {
    let args: Vec<&str> =
        FAST.iter().copied().chain(["-v"]).chain(extra.iter().copied()).chain(["-w", s(root)]).collect();
    let mut st = sb.spawn(&args, &sb.sh(LOG_AND_STAY));
    st.wait_watching();
    wait_run(&mut st, sb, 1);
    st
}

/// Changes the filesystem on loop device `dev` while it is away from `mnt`, through a mount at `side`, then mounts
/// it at `mnt` again.
fn change_while_away(mounts: &mut Mounts, dev: &str, side: &Path, mnt: &Path, change: impl FnOnce(&Path)) {
    mounts.mount(&[], dev, side);
    change(side);
    umount(side);
    mounts.mount(&[], dev, mnt);
}

/// Waits for the warning that says the filesystem went away and a few scans more; checks that it is the only
/// warning, that it says `want`, and that nothing restarted or was reported. Returns the warning.
fn gone(st: &mut Stator, sb: &Sandbox, want: &str) -> String {
    st.wait_stderr(want);
    st.wait_scans(5);
    let warned = warnings(st);
    assert_eq!(warned.len(), 1, "one warning\n{}", st.stderr());
    assert_eq!(sb.log_count("start"), 1, "no restart while it is away\n{}", st.stderr());
    assert!(st.lines_with("changed:").is_empty(), "nothing reported as changed\n{}", st.stderr());
    assert!(st.running());
    warned[0].clone()
}

/// Waits for run 2, after the filesystem at `path` came back as `fs`; returns the one change line.
fn back(st: &mut Stator, sb: &Sandbox, path: &Path, fs: &str) -> String {
    wait_run(st, sb, 2);
    assert_eq!(st.lines_with(&format!("{} is back ({fs})", s(path))).len(), 1, "{}", st.stderr());
    let changed = st.lines_with("changed:");
    assert_eq!(changed.len(), 1, "{}", st.stderr());
    changed[0].clone()
}

/// Edits `file` and waits for run 3: still watching, and still the one warning.
fn still_watching(st: &mut Stator, sb: &Sandbox, file: &Path) {
    edit(file);
    wait_run(st, sb, 3);
    let changed = st.lines_with("changed:");
    assert!(changed[1].ends_with(&format!("changed: {} (modified)", s(file))), "{}", st.stderr());
    assert_eq!(warnings(st).len(), 1, "{}", st.stderr());
    assert!(st.running());
}

#[test]
fn a_filesystem_unmounted_above_the_watched_directory_warns_once_and_is_picked_up_again_with_what_changed() {
    let Some((sb, mut mounts, dev, mnt)) = ext4_sandbox() else { return };
    let side = sb.join("side");
    let project = mnt.join("project");
    fs::create_dir_all(project.join("sub")).expect("mkdir");
    fs::write(project.join("main.txt"), "v1\n").expect("write");
    fs::write(project.join("sub/lib.txt"), "v1\n").expect("write");

    let mut st = watch(&sb, &project, &[]);

    umount(&mnt);
    let warned = gone(&mut st, &sb, "was unmounted");
    let want = format!("the ext4 filesystem holding {} was unmounted; keeping the last known state", s(&project));
    assert!(warned.contains(&want) && warned.contains("of its 2 files"), "{warned}");

    // Edited while away (through another mount of the same filesystem), then mounted again.
    change_while_away(&mut mounts, &dev, &side, &mnt, |side| edit(&side.join("project/sub/lib.txt")));
    let changed = back(&mut st, &sb, &project, "ext4");
    let want = format!("changed: {}/sub/lib.txt (modified)", s(&project));
    assert!(changed.ends_with(&want), "only the edit: {changed}");
    still_watching(&mut st, &sb, &project.join("main.txt"));
}

#[test]
fn the_watched_mount_point_unmounted_warns_once_and_is_picked_up_again_with_what_changed() {
    let Some((sb, mut mounts, dev, mnt)) = ext4_sandbox() else { return };
    let side = sb.join("side");
    fs::create_dir(mnt.join("sub")).expect("mkdir");
    for name in ["main.txt", "old.txt", "sub/lib.txt"] {
        fs::write(mnt.join(name), "v1\n").expect("write");
    }

    let mut st = watch(&sb, &mnt, &[]);

    umount(&mnt);
    let warned = gone(&mut st, &sb, "was unmounted");
    let want = format!("the ext4 filesystem mounted at {} was unmounted (an empty directory shows there now)", s(&mnt));
    assert!(warned.contains(&want) && warned.contains("of its 3 files"), "{warned}");

    // While away: a file removed, one added, one edited. All three are seen once it is back, in one restart.
    change_while_away(&mut mounts, &dev, &side, &mnt, |side| {
        fs::remove_file(side.join("old.txt")).expect("rm");
        fs::write(side.join("sub/new.txt"), "new\n").expect("write");
        edit(&side.join("main.txt"));
    });
    let changed = back(&mut st, &sb, &mnt, "ext4");
    for want in ["main.txt (modified)", "old.txt (removed)", "sub/new.txt (created)"] {
        assert!(changed.contains(&format!("{}/{want}", s(&mnt))), "{want}: {changed}");
    }
    assert!(!changed.contains("lib.txt"), "{changed}");
    still_watching(&mut st, &sb, &mnt.join("sub/lib.txt"));
}

#[test]
fn another_filesystem_mounted_over_the_watched_mount_point_is_what_is_there_now() {
    let Some((sb, mut mounts, _, mnt)) = ext4_sandbox() else { return };
    fs::write(mnt.join("main.txt"), "v1\n").expect("write");

    let mut st = watch(&sb, &mnt, &[]);

    // A tmpfs on top, with a file of its own: that is what the watched directory holds now.
    mounts.mount(&["-t", "tmpfs", "-o", "size=1m"], "stator-test", &mnt);
    fs::write(mnt.join("other.txt"), "other\n").expect("write");
    wait_run(&mut st, &sb, 2);
    let warned = warnings(&st);
    assert_eq!(warned.len(), 1, "{}", st.stderr());
    let want = format!("{} is a directory on another filesystem now (tmpfs, was ext4)", s(&mnt));
    assert!(warned[0].contains(&want), "{}", warned[0]);
    let changed = st.lines_with("changed:");
    assert!(changed.iter().any(|l| l.contains("main.txt (removed)")), "{}", st.stderr());
    assert!(changed.iter().any(|l| l.contains("other.txt (created)")), "{}", st.stderr());

    // Taken off again: the ext4 files are there again, the tmpfs one is not.
    let before = changed.len();
    umount(&mnt);
    st.wait("run 3 to log its start", || sb.log_count("start") >= 3);
    st.wait_scans(5);
    let warned = warnings(&st);
    assert_eq!(warned.len(), 2, "{}", st.stderr());
    assert!(warned[1].contains(&format!("{} is a directory on another filesystem now (ext4, was tmpfs)", s(&mnt))));
    let changed = st.lines_with("changed:");
    let after: String = changed[before..].join("\n");
    assert!(after.contains("main.txt (created)") && after.contains("other.txt (removed)"), "{}", st.stderr());
    assert!(st.running());
}

#[test]
fn a_fuse_daemon_killed_under_two_thousand_files_is_one_warning_no_restart_and_a_new_daemon_is_picked_up() {
    if !can_mount(&["bindfs", "umount"]) {
        return;
    }
    let sb = Sandbox::new();
    let (backing, mnt) = (sb.join("backing"), sb.join("mnt"));
    for d in 0..40 {
        let dir = backing.join(format!("d{d:02}"));
        fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..50 {
            fs::write(dir.join(format!("f{f:02}.txt")), "v1\n").expect("write");
        }
    }
    let mut mounts = Mounts::default();
    let mut daemon = Bindfs::start(&backing, &mnt, &mut mounts);

    // Every directory is listed again each second: the dead mount's listings fail too.
    let mut st = watch(&sb, &mnt, &["--rescan", "1s"]);
    assert!(st.stderr().contains("watching 2000 files"), "{}", st.stderr());

    daemon.kill();
    let warned = gone(&mut st, &sb, "is disconnected");
    // Past several rescans: one warning for the whole mount, not one per file or directory.
    st.wait_scans(20);
    assert_eq!(warnings(&st).len(), 1, "{}", st.stderr());
    assert_eq!(sb.log_count("start"), 1, "no restart while it is disconnected\n{}", st.stderr());
    let want = format!("the fuse filesystem holding {} is disconnected", s(&mnt));
    assert!(warned.contains(&want) && warned.contains("of its 2000 files"), "{warned}");
    assert!(warned.contains("umount -l"), "it says what to do: {warned}");

    // Edited on the backing side meanwhile; the dead mount is taken off (the empty mount point is no filesystem
    // back), and a new daemon mounts it again.
    edit(&backing.join("d07/f13.txt"));
    umount(&mnt);
    st.wait_scans(5);
    assert_eq!(sb.log_count("start"), 1, "{}", st.stderr());
    assert!(st.lines_with("is back").is_empty(), "{}", st.stderr());
    let _daemon = Bindfs::start(&backing, &mnt, &mut mounts);
    let changed = back(&mut st, &sb, &mnt, "fuse");
    let want = format!("changed: {}/d07/f13.txt (modified)", s(&mnt));
    assert!(changed.ends_with(&want), "only the edit: {changed}");
    // Edited on the backing side, seen through the mount.
    edit(&backing.join("d31/f02.txt"));
    wait_run(&mut st, &sb, 3);
    let changed = st.lines_with("changed:");
    assert!(changed[1].ends_with(&format!("changed: {}/d31/f02.txt (modified)", s(&mnt))), "{}", st.stderr());
    assert_eq!(warnings(&st).len(), 1, "{}", st.stderr());
    assert!(st.running());
}
