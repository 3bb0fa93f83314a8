//! Filesystems going away and coming back, through the simulated filesystem's mounts.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::change::{ChangeKind, ChangeSet};
use crate::config::Config;
use crate::poll::{Outage, Poller, Warning};
use crate::vfs::FsInfo;
use crate::vfs::sim::{self, Profile, SimFs};

const TICK: Duration = Duration::from_millis(500);

fn tmpfs() -> FsInfo {
    FsInfo { name: "tmpfs".into(), remote: false }
}

fn fuse() -> FsInfo {
    FsInfo { name: "fuse".into(), remote: true }
}

/// A poller watching `roots`, with a baseline taken after `setup` has aged.
fn start(roots: &[&str], setup: impl FnOnce(&SimFs)) -> Poller<SimFs> {
    let fs = SimFs::new(Profile::fine());
    fs.mkdir("/w");
    setup(&fs);
    fs.advance(Duration::from_secs(30));
    let cfg = Config { roots: roots.iter().map(sim::path).collect(), ..Config::default() };
    let mut p = Poller::new(cfg, fs).expect("config");
    let base = p.tick();
    assert!(base.changes.is_empty() && base.warnings.is_empty(), "baseline: {base:?}");
    p
}

/// Ticks `n` times, `TICK` apart: the net changes, every warning, and whether the last tick waits for something.
fn ticks(p: &mut Poller<SimFs>, n: usize) -> (ChangeSet, Vec<Warning>, bool) {
    let (mut set, mut warnings, mut pending) = (ChangeSet::new(), Vec::new(), false);
    for _ in 0..n {
        p.vfs().advance(TICK);
        let tick = p.tick();
        set.extend(tick.changes);
        warnings.extend(tick.warnings);
        pending = tick.pending;
    }
    (set, warnings, pending)
}

/// The changes as paths and kinds; expected paths are given through [`sim::path`].
fn kinds(set: &ChangeSet) -> Vec<(PathBuf, ChangeKind)> {
    set.iter().map(|(p, k, _)| (p.to_path_buf(), k)).collect()
}

/// A path of the simulated tree as a warning shows it.
fn shown(unix: &str) -> String {
    sim::path(unix).display().to_string()
}

fn project(fs: &SimFs) {
    fs.mount("/w/mnt", 7, tmpfs());
    fs.write("/w/mnt/project/a.rs", b"a1");
    fs.write("/w/mnt/project/sub/b.rs", b"b1");
}

#[test]
fn a_filesystem_unmounted_above_a_watched_directory_is_one_warning_and_no_change_until_it_is_back() {
    let mut p = start(&["/w/mnt/project"], project);
    p.vfs().unmount("/w/mnt");
    let (set, warnings, pending) = ticks(&mut p, 30);
    assert!(set.is_empty() && !pending, "nothing is removed: {:?}", kinds(&set));
    let want = Warning::Offline {
        path: sim::path("/w/mnt/project"),
        more: 0,
        fs: "tmpfs".into(),
        files: 2,
        why: Outage::Unmounted,
    };
    assert_eq!(warnings, [want]);
    assert_eq!(p.files().len(), 2, "the files are still watched: {:?}", p.files());

    p.vfs().remount("/w/mnt");
    p.vfs().write("/w/mnt/project/a.rs", b"a2, longer");
    let (set, warnings, _) = ticks(&mut p, 3);
    assert_eq!(kinds(&set), [(sim::path("/w/mnt/project/a.rs"), ChangeKind::Modified)]);
    assert_eq!(warnings, [Warning::Back { path: sim::path("/w/mnt/project"), fs: "tmpfs".into() }]);
    assert!(warnings[0].is_notice());

    p.vfs().write("/w/mnt/project/sub/b.rs", b"b2, longer");
    let (set, warnings, _) = ticks(&mut p, 3);
    assert_eq!(kinds(&set), [(sim::path("/w/mnt/project/sub/b.rs"), ChangeKind::Modified)], "still watched");
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn the_mount_point_itself_unmounted_keeps_its_files_and_what_changed_meanwhile_is_reported_once_it_is_back() {
    let mut p = start(&["/w/mnt"], project);
    p.vfs().unmount("/w/mnt");
    let (set, warnings, _) = ticks(&mut p, 30);
    assert!(set.is_empty(), "{:?}", kinds(&set));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(matches!(&warnings[0], Warning::Offline { why: Outage::UnmountedAt, files: 2, .. }), "{}", warnings[0]);
    let want = format!("mounted at {} was unmounted", shown("/w/mnt"));
    assert!(warnings[0].to_string().contains(&want), "{}", warnings[0]);

    // While it is away, the file is removed and another added: both are seen when it is back.
    p.vfs().remount("/w/mnt");
    p.vfs().remove("/w/mnt/project/sub/b.rs");
    p.vfs().write("/w/mnt/project/c.rs", b"c");
    let (set, warnings, _) = ticks(&mut p, 4);
    let want = [
        (sim::path("/w/mnt/project/c.rs"), ChangeKind::Created),
        (sim::path("/w/mnt/project/sub/b.rs"), ChangeKind::Removed),
    ];
    assert_eq!(kinds(&set), want);
    assert_eq!(warnings, [Warning::Back { path: sim::path("/w/mnt"), fs: "tmpfs".into() }]);
}

#[test]
fn a_disconnected_filesystem_with_many_directories_is_one_warning_and_keeps_its_state_across_rescans() {
    let mut p = start(&["/w/mnt"], |fs| {
        fs.mount("/w/mnt", 9, fuse());
        for d in 0..40 {
            for f in 0..25 {
                fs.write(format!("/w/mnt/d{d}/f{f}.rs"), b"v1");
            }
        }
    });
    p.vfs().set_error_below("/w/mnt", Some(io::ErrorKind::NotConnected));
    // 15 s: past a --rescan, when every directory is listed again.
    let (set, warnings, pending) = ticks(&mut p, 30);
    assert!(set.is_empty() && !pending, "{:?}", kinds(&set));
    assert_eq!(warnings.len(), 1, "one warning for the whole mount: {warnings:#?}");
    assert!(matches!(&warnings[0], Warning::Offline { why: Outage::Disconnected, files: 1000, .. }), "{}", warnings[0]);
    assert_eq!(p.files().len(), 1000);

    // The dead mount is unmounted: the empty mount point is no filesystem back.
    p.vfs().set_error_below("/w/mnt", None);
    p.vfs().unmount("/w/mnt");
    let (set, warnings, _) = ticks(&mut p, 5);
    assert!(set.is_empty() && warnings.is_empty(), "{:?} {warnings:?}", kinds(&set));

    // A new daemon: one change, the file edited meanwhile.
    p.vfs().remount("/w/mnt");
    p.vfs().write("/w/mnt/d3/f4.rs", b"v2, longer");
    let (set, warnings, _) = ticks(&mut p, 4);
    assert_eq!(kinds(&set), [(sim::path("/w/mnt/d3/f4.rs"), ChangeKind::Modified)]);
    assert_eq!(warnings, [Warning::Back { path: sim::path("/w/mnt"), fs: "fuse".into() }]);
}

#[test]
fn a_disconnection_below_a_watched_directory_is_one_warning_too() {
    let mut p = start(&["/w"], |fs| {
        fs.write("/w/main.rs", b"m");
        fs.mount("/w/data", 9, fuse());
        for d in 0..5 {
            fs.write(format!("/w/data/d{d}/f.rs"), b"v1");
        }
    });
    p.vfs().set_error_below("/w/data", Some(io::ErrorKind::NotConnected));
    p.vfs().write("/w/main.rs", b"m2, longer");
    let (set, warnings, _) = ticks(&mut p, 30);
    assert_eq!(kinds(&set), [(sim::path("/w/main.rs"), ChangeKind::Modified)], "the rest is watched as ever");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let want = format!("the fuse filesystem holding {} is disconnected", shown("/w/data"));
    assert!(warnings[0].to_string().starts_with(&want), "{}", warnings[0]);
    p.vfs().set_error_below("/w/data", None);
    let (set, warnings, _) = ticks(&mut p, 3);
    assert!(set.is_empty(), "{:?}", kinds(&set));
    assert_eq!(warnings, [Warning::Back { path: sim::path("/w/data"), fs: "fuse".into() }]);
}

#[test]
fn a_mount_point_inside_a_watched_tree_unmounted_and_mounted_again() {
    let mut p = start(&["/w"], |fs| {
        fs.write("/w/main.rs", b"m");
        fs.mount("/w/data", 7, tmpfs());
        fs.write("/w/data/x/f.rs", b"v1");
    });
    p.vfs().unmount("/w/data");
    let (set, warnings, _) = ticks(&mut p, 5);
    assert!(set.is_empty(), "{:?}", kinds(&set));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(matches!(&warnings[0], Warning::Offline { why: Outage::UnmountedAt, .. }), "{}", warnings[0]);
    p.vfs().remount("/w/data");
    p.vfs().write("/w/data/x/f.rs", b"v2, longer");
    let (set, warnings, _) = ticks(&mut p, 4);
    assert_eq!(kinds(&set), [(sim::path("/w/data/x/f.rs"), ChangeKind::Modified)]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn removals_on_a_filesystem_that_is_still_there_are_removals() {
    let mut p = start(&["/w/mnt/project", "/w/mnt/other"], |fs| {
        project(fs);
        fs.write("/w/mnt/other/o.rs", b"o");
    });
    p.vfs().remove("/w/mnt/project/sub");
    p.vfs().remove("/w/mnt/other");
    let (set, warnings, _) = ticks(&mut p, 4);
    let want = [
        (sim::path("/w/mnt/other"), ChangeKind::Removed),
        (sim::path("/w/mnt/other/o.rs"), ChangeKind::Removed),
        (sim::path("/w/mnt/project/sub"), ChangeKind::Removed),
        (sim::path("/w/mnt/project/sub/b.rs"), ChangeKind::Removed),
    ];
    assert_eq!(kinds(&set), want);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn roots_and_reported_files_that_go_with_one_filesystem_are_one_warning() {
    let mut p = start(&["/w/mnt/project/sub", "/w/mnt/project/a.rs"], project);
    p.add_paths([sim::path("/w/mnt/project/sub/b.rs")]);
    ticks(&mut p, 2);
    p.vfs().unmount("/w/mnt");
    let (set, warnings, _) = ticks(&mut p, 5);
    assert!(set.is_empty(), "{:?}", kinds(&set));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].to_string().starts_with(&format!(
            "the tmpfs filesystem holding {} (and 1 more watched path)",
            shown("/w/mnt/project/sub")
        )),
        "{}",
        warnings[0]
    );
    p.vfs().remount("/w/mnt");
    p.vfs().write("/w/mnt/project/a.rs", b"a2, longer");
    let (set, warnings, _) = ticks(&mut p, 3);
    assert_eq!(kinds(&set), [(sim::path("/w/mnt/project/a.rs"), ChangeKind::Modified)]);
    assert_eq!(warnings.len(), 2, "each is back: {warnings:?}");
}

#[test]
fn another_filesystem_mounted_where_one_was_is_compared_with_what_was_there() {
    let mut p = start(&["/w/mnt"], project);
    p.vfs().unmount("/w/mnt");
    p.vfs().mount("/w/mnt", 8, fuse());
    p.vfs().write("/w/mnt/project/a.rs", b"a1");
    let (set, warnings, _) = ticks(&mut p, 4);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0],
        Warning::Replaced { path: sim::path("/w/mnt"), was: "tmpfs".into(), now: "fuse".into() },
        "{}",
        warnings[0]
    );
    // Honestly: what the other filesystem has (a newer a.rs), and what it does not.
    let want = [
        (sim::path("/w/mnt/project/a.rs"), ChangeKind::Modified),
        (sim::path("/w/mnt/project/sub"), ChangeKind::Removed),
        (sim::path("/w/mnt/project/sub/b.rs"), ChangeKind::Removed),
    ];
    assert_eq!(kinds(&set), want);
    let fs = p.filesystems();
    assert!(fs.iter().any(|f| f.dev == 8 && f.info == fuse()), "{fs:?}");
}

#[test]
fn a_device_number_that_comes_back_as_another_filesystem_is_identified_again() {
    let mut p = start(&["/w/mnt"], project);
    let before = p.filesystems();
    assert!(before.iter().any(|f| f.dev == 7 && f.info == tmpfs()), "{before:?}");
    p.vfs().unmount("/w/mnt");
    ticks(&mut p, 2);
    // The same device number, now a FUSE filesystem with the same files.
    p.vfs().mount("/w/mnt", 7, fuse());
    p.vfs().write("/w/mnt/project/a.rs", b"a1");
    p.vfs().write("/w/mnt/project/sub/b.rs", b"b1");
    let (_, warnings, _) = ticks(&mut p, 3);
    assert_eq!(warnings, [Warning::Back { path: sim::path("/w/mnt"), fs: "fuse".into() }]);
    let after = p.filesystems();
    let seven = after.iter().find(|f| f.dev == 7).expect("device 7");
    assert_eq!(seven.info, fuse(), "{after:?}");
}

#[test]
fn warnings_are_one_line_each() {
    let offline = |why, more, files| Warning::Offline { path: "/m/p".into(), more, fs: "ext4".into(), files, why };
    let cases = [
        (
            offline(Outage::Unmounted, 0, 3),
            "the ext4 filesystem holding /m/p was unmounted; keeping the last known state of its 3 files until it \
             is mounted again",
        ),
        (
            offline(Outage::UnmountedAt, 1, 1),
            "the ext4 filesystem mounted at /m/p (and 1 more watched path) was unmounted (an empty directory shows \
             there now); keeping the last known state of its 1 file until it is mounted again",
        ),
        (
            offline(Outage::Disconnected, 2, 0),
            "the ext4 filesystem holding /m/p (and 2 more watched paths) is disconnected (transport endpoint is not \
             connected: its FUSE daemon or server is gone); keeping the last known state of its 0 files until it \
             is mounted again (`umount -l` its mount point, then mount it again)",
        ),
        (
            Warning::Back { path: "/m/p".into(), fs: "ext4".into() },
            "/m/p is back (ext4); comparing its files with their last known state",
        ),
        (
            Warning::Replaced { path: "/m".into(), was: "ext4".into(), now: "tmpfs".into() },
            "/m is a directory on another filesystem now (tmpfs, was ext4): something was mounted or unmounted \
             there; comparing its files with what was there",
        ),
    ];
    for (w, want) in cases {
        assert_eq!(w.to_string(), want);
        assert!(!want.contains('\n'));
        assert_eq!(w.is_notice(), matches!(w, Warning::Back { .. }));
    }
}

#[test]
fn a_hot_scan_that_finds_a_recently_edited_file_disconnected_warns_once_for_the_mount() {
    let mut p = start(&["/w/mnt"], |fs| {
        fs.mount("/w/mnt", 9, fuse());
        fs.write("/w/mnt/d/a.rs", b"a1");
        fs.write("/w/mnt/d/b.rs", b"b1");
    });
    p.vfs().write("/w/mnt/d/a.rs", b"a2, longer");
    let (set, _, _) = ticks(&mut p, 2);
    assert_eq!(kinds(&set), [(sim::path("/w/mnt/d/a.rs"), ChangeKind::Modified)]);
    assert!(p.hot_count() > 0);
    p.vfs().set_error_below("/w/mnt", Some(io::ErrorKind::NotConnected));
    p.vfs().advance(Duration::from_millis(100));
    let hot = p.tick_hot();
    assert!(hot.changes.is_empty(), "{:?}", hot.changes);
    assert_eq!(hot.warnings.len(), 1, "{:?}", hot.warnings);
    assert!(matches!(&hot.warnings[0], Warning::Offline { why: Outage::Disconnected, .. }), "{}", hot.warnings[0]);
    let (set, warnings, _) = ticks(&mut p, 5);
    assert!(set.is_empty() && warnings.is_empty(), "{:?} {warnings:?}", kinds(&set));
}

#[test]
fn a_deleted_directory_of_another_device_beside_other_names_is_a_removal() {
    // A btrfs subvolume has a device number of its own; deleting it is a removal, not an unmount.
    let btrfs = FsInfo { name: "btrfs".into(), remote: false };
    let mut p = start(&["/w"], |fs| {
        fs.write("/w/main.rs", b"m");
        fs.mount("/w/vol", 5, btrfs);
        fs.write("/w/vol/f.rs", b"f");
    });
    p.vfs().remove("/w/vol");
    let (set, warnings, _) = ticks(&mut p, 4);
    let want = [(sim::path("/w/vol"), ChangeKind::Removed), (sim::path("/w/vol/f.rs"), ChangeKind::Removed)];
    assert_eq!(kinds(&set), want);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn files_seen_missing_before_their_directory_goes_are_not_removed_when_the_filesystem_is_unmounted() {
    let mut p = start(&["/w/mnt/project"], project);
    // A scan that caught the unmount half-way: the files are missing, their directory still answers.
    p.vfs().write("/w/mnt/project/a.rs", b"a2, longer");
    ticks(&mut p, 2);
    p.vfs().set_error("/w/mnt/project/a.rs", Some(io::ErrorKind::NotFound));
    p.vfs().advance(TICK);
    let first = p.tick();
    assert!(first.changes.is_empty() && first.pending, "{first:?}");
    // Then it is unmounted, and the hot scan confirms the file missing.
    p.vfs().set_error("/w/mnt/project/a.rs", None);
    p.vfs().unmount("/w/mnt");
    p.vfs().advance(Duration::from_millis(100));
    let hot = p.tick_hot();
    assert!(hot.changes.is_empty(), "{:?}", hot.changes);
    let (set, warnings, _) = ticks(&mut p, 5);
    assert!(set.is_empty(), "{:?}", kinds(&set));
    assert_eq!([hot.warnings, warnings].concat().len(), 1);
    p.vfs().remount("/w/mnt");
    let (set, warnings, _) = ticks(&mut p, 4);
    assert!(set.is_empty(), "the file was there all along: {:?}", kinds(&set));
    assert_eq!(warnings, [Warning::Back { path: sim::path("/w/mnt/project"), fs: "tmpfs".into() }]);
}

#[test]
fn another_filesystem_mounted_inside_a_watched_tree_is_one_warning() {
    let mut p = start(&["/w"], |fs| {
        fs.write("/w/main.rs", b"m");
        fs.mount("/w/data", 7, tmpfs());
        fs.write("/w/data/x/f.rs", b"f");
    });
    p.vfs().unmount("/w/data");
    p.vfs().mount("/w/data", 8, fuse());
    p.vfs().write("/w/data/x/g.rs", b"g");
    let (set, warnings, _) = ticks(&mut p, 5);
    assert_eq!(warnings, [Warning::Replaced { path: sim::path("/w/data"), was: "tmpfs".into(), now: "fuse".into() }]);
    let want = [(sim::path("/w/data/x/f.rs"), ChangeKind::Removed), (sim::path("/w/data/x/g.rs"), ChangeKind::Created)];
    assert_eq!(kinds(&set), want);
}

/// Directory ids are recycled: a directory another filesystem took over, then removed, must not leave its mark on
/// the next directory that gets its id (which would then skip the checks for a mount inside it).
#[test]
fn a_directory_that_gets_the_id_of_one_taken_over_is_judged_on_its_own() {
    let mut p = start(&["/w"], |fs| {
        fs.write("/w/keep.rs", b"k");
        fs.write("/w/a/f.rs", b"f");
    });
    p.vfs().mount("/w/a", 7, tmpfs());
    let (_, warnings, _) = ticks(&mut p, 3);
    assert!(matches!(&warnings[..], [Warning::Replaced { .. }]), "{warnings:?}");
    p.vfs().remove("/w/a");
    let (set, _, _) = ticks(&mut p, 3);
    assert!(set.iter().any(|(path, k, _)| *path == sim::path("/w/a") && k == ChangeKind::Removed));
    p.vfs().write("/w/b/c/g.rs", b"g");
    let (set, warnings, _) = ticks(&mut p, 3);
    assert_eq!(set.len(), 3, "{:?}", kinds(&set));
    assert!(warnings.is_empty(), "{warnings:?}");

    p.vfs().mount("/w/b/c", 9, tmpfs());
    let (_, warnings, _) = ticks(&mut p, 3);
    let want = Warning::Replaced { path: sim::path("/w/b/c"), was: "ext4".into(), now: "tmpfs".into() };
    assert_eq!(warnings, [want]);
}

/// Node ids are recycled too: an offline tree removed with the directory holding it must not stay offline under
/// the ids of the next nodes (whose changes would then never be reported).
#[test]
fn the_nodes_that_get_the_ids_of_an_offline_tree_removed_with_its_parent_are_watched() {
    let mut p = start(&["/w"], |fs| {
        fs.write("/w/keep.rs", b"k");
        fs.mount("/w/s/mnt", 7, tmpfs());
        fs.write("/w/s/mnt/a.rs", b"a");
    });
    p.vfs().unmount("/w/s/mnt");
    let (set, warnings, _) = ticks(&mut p, 3);
    assert!(set.is_empty(), "{:?}", kinds(&set));
    assert!(matches!(&warnings[..], [Warning::Offline { why: Outage::UnmountedAt, .. }]), "{warnings:?}");
    p.vfs().remove("/w/s");
    let (set, _, _) = ticks(&mut p, 3);
    assert!(set.iter().any(|(path, k, _)| *path == sim::path("/w/s") && k == ChangeKind::Removed));

    for i in 0..4 {
        p.vfs().write(format!("/w/n{i}.rs"), b"new");
    }
    let (set, warnings, _) = ticks(&mut p, 3);
    let want: Vec<(PathBuf, ChangeKind)> =
        (0..4).map(|i| (sim::path(format!("/w/n{i}.rs")), ChangeKind::Created)).collect();
    assert_eq!(kinds(&set), want);
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// The directories of a simulated local mount keep handles, as on a real one, so these tests take the sweep's
/// path through `stat_in`, as the real engine does.
#[test]
fn directories_on_a_simulated_local_mount_keep_handles_and_are_swept_through_them() {
    let mut p = start(&["/w"], project);
    assert_eq!(p.handles(), 4, "/w, /w/mnt, /w/mnt/project and its sub");
    let before = p.vfs().counters();
    let (set, _, _) = ticks(&mut p, 1);
    assert!(set.is_empty());
    let through = p.vfs().counters().stats_in - before.stats_in;
    assert_eq!(through, 5, "mnt, project, a.rs, sub, b.rs: every name in a listed directory");
}
