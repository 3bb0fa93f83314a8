//! The engine's behaviour scenarios, run through the simulated filesystem on every profile we cannot mount
//! here: a fine local filesystem, HFS+ (1 s), FAT (2 s, rounding into the future), NTFS (coarse tick, ahead of
//! the clock) and network servers an hour ahead of and behind this machine.

use std::path::PathBuf;
use std::time::Duration;

use filetime::FileTime;

use super::Poller;
use crate::change::{ChangeKind, ChangeSet, Reason};
use crate::config::Config;
use crate::fingerprint::Fields;
use crate::time::{from_nanos, nanos};
use crate::vfs::Vfs;
use crate::vfs::sim::{self, Profile, SimFs};

fn profiles() -> Vec<(&'static str, Profile)> {
    vec![
        ("fine", Profile::fine()),
        ("hfs+", Profile::hfs_plus()),
        ("fat", Profile::fat()),
        ("ntfs", Profile::ntfs()),
        ("server +1h", Profile::skewed_server(3600)),
        ("server -1h", Profile::skewed_server(-3600)),
    ]
}

const TICK: Duration = Duration::from_millis(500);

fn config(roots: &[&str]) -> Config {
    Config { roots: roots.iter().map(sim::path).collect(), ..Config::default() }
}

/// A poller over `fs` with a baseline taken after `setup` has aged for a while.
fn start(fs: SimFs, roots: &[&str], setup: impl FnOnce(&SimFs)) -> Poller<SimFs> {
    fs.mkdir("/w");
    setup(&fs);
    fs.advance(Duration::from_secs(30));
    let mut p = Poller::new(config(roots), fs).unwrap();
    let base = p.tick();
    assert!(base.changes.is_empty(), "baseline reported {:?}", base.changes);
    p
}

/// Ticks `n` times, `TICK` apart, folding the changes.
fn ticks(p: &mut Poller<SimFs>, n: usize) -> ChangeSet {
    let mut set = ChangeSet::new();
    for _ in 0..n {
        p.vfs().advance(TICK);
        set.extend(p.tick().changes);
    }
    set
}

fn kinds(set: &ChangeSet) -> Vec<(PathBuf, ChangeKind)> {
    set.iter().map(|(p, k, _)| (p.to_path_buf(), k)).collect()
}

/// The expected changes, their paths given the Unix way (see [`sim::path`]).
fn changes(want: &[(&str, ChangeKind)]) -> Vec<(PathBuf, ChangeKind)> {
    want.iter().map(|(p, k)| (sim::path(p), *k)).collect()
}

fn expect(set: &ChangeSet, want: &[(&str, ChangeKind)], profile: &str, scenario: &str) {
    assert_eq!(kinds(set), changes(want), "{scenario} on {profile}");
}

type Step = fn(&SimFs);
type Scenario = (&'static str, Step, Step, Vec<(&'static str, ChangeKind)>);

/// Scenarios whose outcome is the same on every filesystem: (name, setup, action, expected net changes).
fn scenarios() -> Vec<Scenario> {
    use ChangeKind::*;
    vec![
        (
            "content edit",
            |fs| fs.write("/w/a.rs", b"one"),
            |fs| fs.write("/w/a.rs", b"three"),
            vec![("/w/a.rs", Modified)],
        ),
        (
            "mtime set backwards (cp -p, touch -d)",
            |fs| fs.write("/w/a.rs", b"one"),
            |fs| fs.set_mtime("/w/a.rs", FileTime::from_unix_time(1_000_000_000, 0)),
            vec![("/w/a.rs", Modified)],
        ),
        (
            "an old file moved in",
            |fs| fs.write("/elsewhere/old.rs", b"old"),
            |fs| fs.rename("/elsewhere/old.rs", "/w/old.rs"),
            vec![("/w/old.rs", Created)],
        ),
        ("a new file", |_| {}, |fs| fs.write("/w/new.rs", b"x"), vec![("/w/new.rs", Created)]),
        ("deletion", |fs| fs.write("/w/a.rs", b"one"), |fs| fs.remove("/w/a.rs"), vec![("/w/a.rs", Removed)]),
        (
            "atomic save: write a temporary, rename it over",
            |fs| fs.write("/w/a.rs", b"one"),
            |fs| {
                fs.write("/w/.a.rs.tmp", b"two");
                fs.rename("/w/.a.rs.tmp", "/w/a.rs");
            },
            vec![("/w/a.rs", Modified)],
        ),
        (
            "delete then recreate (a non-atomic save)",
            |fs| fs.write("/w/a.rs", b"one"),
            |fs| {
                fs.remove("/w/a.rs");
                fs.write("/w/a.rs", b"two");
            },
            vec![("/w/a.rs", Modified)],
        ),
        (
            "new nested directory with a file",
            |_| {},
            |fs| fs.write("/w/d/e/f.rs", b"x"),
            vec![("/w/d", Created), ("/w/d/e", Created), ("/w/d/e/f.rs", Created)],
        ),
        (
            "directory renamed",
            |fs| fs.write("/w/d1/f.rs", b"x"),
            |fs| fs.rename("/w/d1", "/w/d2"),
            vec![("/w/d1", Removed), ("/w/d1/f.rs", Removed), ("/w/d2", Created), ("/w/d2/f.rs", Created)],
        ),
        (
            // Through a directory handle (local profiles), `/w/d`'s files would be looked at in `/w/old`.
            "directory renamed and a new one made under its name",
            |fs| {
                fs.write("/w/d/sub/f.rs", b"x");
                fs.write("/w/d/g.rs", b"g");
            },
            |fs| {
                fs.rename("/w/d", "/w/old");
                fs.write("/w/d/sub/f.rs", b"y");
                fs.write("/w/d/g.rs", b"g");
            },
            vec![
                ("/w/d/g.rs", Modified),
                ("/w/d/sub/f.rs", Modified),
                ("/w/old", Created),
                ("/w/old/g.rs", Created),
                ("/w/old/sub", Created),
                ("/w/old/sub/f.rs", Created),
            ],
        ),
        (
            "a subdirectory moved out of its parent",
            |fs| fs.write("/w/a/b/f.rs", b"x"),
            |fs| fs.rename("/w/a/b", "/w/c"),
            vec![("/w/a/b", Removed), ("/w/a/b/f.rs", Removed), ("/w/c", Created), ("/w/c/f.rs", Created)],
        ),
        (
            "a change under .git is nothing",
            |fs| fs.write("/w/.git/HEAD", b"ref: a"),
            |fs| fs.write("/w/.git/HEAD", b"ref: b"),
            vec![],
        ),
        ("an idle tree stays quiet", |fs| fs.write("/w/a.rs", b"one"), |_| {}, vec![]),
    ]
}

#[test]
fn every_scenario_on_every_filesystem() {
    for (profile_name, profile) in profiles() {
        for (name, setup, act, want) in scenarios() {
            let mut p = start(SimFs::new(profile.clone()), &["/w"], setup);
            let (before, names) = (p.vfs().counters(), !p.files().is_empty());
            act(p.vfs());
            let set = ticks(&mut p, 3);
            expect(&set, &want, profile_name, name);
            // On a local filesystem the sweep stats the names in listed directories through their handles, as it
            // does on a real disk; on a network filesystem, never.
            let through = p.vfs().counters().stats_in > before.stats_in;
            if profile.info.remote || names {
                assert_eq!(through, !profile.info.remote, "{name} on {profile_name}: through handles");
            }
        }
    }
}

/// Sweeps `n` times, `TICK` apart, each sweep in parts of `part` nodes 10 ms apart with a hot tick between two
/// parts, folding the changes; `mid` runs after the first part of the first sweep.
fn sweeps_in_parts(p: &mut Poller<SimFs>, n: usize, part: usize, mid: impl FnOnce(&SimFs)) -> ChangeSet {
    let mut set = ChangeSet::new();
    let mut mid = Some(mid);
    for _ in 0..n {
        p.vfs().advance(TICK);
        for parts in 1.. {
            assert!(parts < 1000, "a sweep in parts of {part} never ends");
            let tick = p.tick_part(part);
            set.extend(tick.changes);
            if let Some(act) = mid.take() {
                act(p.vfs());
            }
            if !tick.more {
                break;
            }
            assert!(p.sweeping());
            p.vfs().advance(Duration::from_millis(10));
            set.extend(p.tick_hot().changes);
        }
        assert!(!p.sweeping());
    }
    set
}

#[test]
fn every_scenario_on_every_filesystem_with_sweeps_in_parts() {
    for (profile_name, profile) in profiles() {
        for (name, setup, act, want) in scenarios() {
            for part in [1, 2, 3] {
                // Changed between two sweeps in parts.
                let mut p = start(SimFs::new(profile.clone()), &["/w"], setup);
                act(p.vfs());
                let set = sweeps_in_parts(&mut p, 3, part, |_| {});
                expect(&set, &want, profile_name, &format!("{name}, parts of {part}"));
                // Changed while a sweep in parts is half-way.
                let mut p = start(SimFs::new(profile.clone()), &["/w"], setup);
                let set = sweeps_in_parts(&mut p, 3, part, act);
                expect(&set, &want, profile_name, &format!("{name}, mid-sweep in parts of {part}"));
            }
        }
    }
}

#[test]
fn a_sweep_in_parts_looks_at_every_node_once_and_then_starts_over() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        for i in 0..10 {
            fs.write(format!("/w/f{i}.rs"), b"x");
        }
    });
    let nodes = p.tick().stats;
    assert!(nodes >= 11, "the root and its ten files: {nodes}");
    let mut looked = 0;
    let mut parts = 0;
    loop {
        assert!(parts < nodes, "a sweep in parts of 4 never ends");
        let tick = p.tick_part(4);
        looked += tick.stats;
        parts += 1;
        if !tick.more {
            break;
        }
    }
    assert_eq!((looked, parts), (nodes, nodes.div_ceil(4)));
    // Restarted half-way, the next part begins at the first node again.
    let first = p.tick_part(4).stats;
    p.restart_sweep();
    assert!(!p.sweeping());
    let again = p.tick_part(4);
    assert_eq!((first, again.stats, again.more), (4, 4, true));
    // A path added half-way is looked at by the next part, wherever its id is.
    p.vfs().write("/elsewhere/late.rs", b"new");
    p.add_paths([sim::path("/elsewhere/late.rs")]);
    let tick = p.tick_part(1);
    assert_eq!(tick.stats, 2, "one node of the sweep and the added path");
}

#[test]
fn a_baseline_taken_after_the_command_started_reports_what_changed_since() {
    use ChangeKind::*;
    let fs = SimFs::new(Profile::fine());
    fs.write("/w/old.rs", b"old");
    fs.write("/w/edited.rs", b"one");
    fs.write("/old_trigger", b"");
    fs.advance(Duration::from_secs(30));
    fs.write("/w/just_before.rs", b"saved 200 ms before the start");
    fs.advance(Duration::from_millis(200));
    let mut p = Poller::new(config(&["/w"]), fs).unwrap();
    // Paths added before the first scan, outside the root (`--trigger` files): one that appears as the command
    // starts, one that was there before.
    p.add_paths([sim::path("/.reload"), sim::path("/old_trigger")]);
    assert_eq!(p.early_start_blocker(), None, "a fine local filesystem");
    p.command_started(p.vfs().now());
    // While the baseline runs (here: before it, which is the same to the rules): an edit, a new file, a new
    // directory with a file in it, the trigger file.
    p.vfs().advance(Duration::from_millis(5));
    p.vfs().write("/w/edited.rs", b"two");
    p.vfs().write("/w/new.rs", b"new");
    p.vfs().write("/w/d/inner.rs", b"inner");
    p.vfs().write("/.reload", b"");
    let base = p.tick();
    let mut set = ChangeSet::new();
    set.extend(base.changes);
    assert_eq!(
        kinds(&set),
        changes(&[
            ("/.reload", Modified),
            ("/w/d/inner.rs", Modified),
            ("/w/edited.rs", Modified),
            ("/w/new.rs", Modified)
        ]),
        "what changed as the command started, and nothing older"
    );
    assert!(set.iter().all(|(_, _, r)| r == Reason::Started));
    // Only the baseline: later ticks go by the usual rules.
    assert!(ticks(&mut p, 3).is_empty());
    // Without a command start, the same baseline reports nothing.
    let fs = SimFs::new(Profile::fine());
    fs.write("/w/edited.rs", b"two");
    let mut p = Poller::new(config(&["/w"]), fs).unwrap();
    assert!(p.tick().changes.is_empty());
}

#[test]
fn the_command_waits_for_the_baseline_where_file_times_cannot_show_an_edit_made_during_it() {
    for (name, profile, blocked) in [
        ("fine", Profile::fine(), false),
        ("ntfs", Profile::ntfs(), false),
        ("hfs+", Profile::hfs_plus(), true),
        ("fat", Profile::fat(), true),
        ("server", Profile::skewed_server(0), true),
    ] {
        let fs = SimFs::new(profile);
        fs.write("/w/a.rs", b"a");
        let p = Poller::new(config(&["/w", "/missing"]), fs).unwrap();
        assert_eq!(p.early_start_blocker().is_some(), blocked, "{name}: {:?}", p.early_start_blocker());
    }
    // Whole-second timestamps on a filesystem that could have finer ones (ext4 with small inodes).
    let fs = SimFs::new(Profile { tick: Duration::from_secs(1), ..Profile::fine() });
    fs.write("/w/a.rs", b"a");
    let p = Poller::new(config(&["/w"]), fs).unwrap();
    assert_eq!(
        p.early_start_blocker().as_deref(),
        Some(&*format!("{} has timestamps in whole seconds", sim::path("/w").display()))
    );
}

#[test]
fn same_size_rewrite_inside_one_timestamp_tick_is_caught() {
    for (profile_name, profile) in profiles() {
        let mut p = start(SimFs::new(profile), &["/w"], |fs| fs.write("/w/a.rs", b"aaaa"));
        // First write: seen by its fingerprint.
        p.vfs().write("/w/a.rs", b"bbbb");
        p.vfs().advance(Duration::from_millis(100));
        let first = p.tick().changes;
        assert_eq!(first.len(), 1, "{profile_name}");
        // Second write 300 ms later, same size: on a coarse filesystem the same mtime; only the hash tells.
        p.vfs().advance(Duration::from_millis(300));
        p.vfs().write("/w/a.rs", b"cccc");
        let set = ticks(&mut p, 1);
        expect(&set, &[("/w/a.rs", ChangeKind::Modified)], profile_name, "second same-size write");
    }
}

#[test]
fn two_edits_300ms_apart_are_never_zero_changes() {
    for (profile_name, profile) in profiles() {
        let mut p = start(SimFs::new(profile), &["/w"], |fs| fs.write("/w/a.rs", b"aaaa"));
        p.vfs().write("/w/a.rs", b"bbbb");
        p.vfs().advance(Duration::from_millis(300));
        p.vfs().write("/w/a.rs", b"cccc");
        let set = ticks(&mut p, 2);
        expect(&set, &[("/w/a.rs", ChangeKind::Modified)], profile_name, "two edits");
    }
}

#[test]
fn future_dated_new_file_and_editing_it_back_to_now() {
    for (profile_name, profile) in profiles() {
        let mut p = start(SimFs::new(profile), &["/w"], |_| {});
        let now = nanos(p.vfs().now());
        p.vfs().write("/w/f.rs", b"x");
        p.vfs().set_mtime("/w/f.rs", from_nanos(now + 3_600_000_000_000));
        let set = ticks(&mut p, 2);
        expect(&set, &[("/w/f.rs", ChangeKind::Created)], profile_name, "future-dated new file");
        let mut later = ticks(&mut p, 2);
        assert!(later.is_empty(), "{profile_name}: a future-dated file must not keep firing: {later:?}");
        p.vfs().write("/w/f.rs", b"y");
        later = ticks(&mut p, 2);
        expect(&later, &[("/w/f.rs", ChangeKind::Modified)], profile_name, "edited back to now");
    }
}

#[test]
fn two_hundred_files_at_once_are_one_change_set() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |_| {});
    for i in 0..200 {
        p.vfs().write(format!("/w/gen/f{i}.rs"), b"x");
    }
    let set = ticks(&mut p, 2);
    assert_eq!(set.len(), 201);
    assert!(set.iter().all(|(_, k, _)| k == ChangeKind::Created));
}

#[test]
fn a_watched_path_that_does_not_exist_yet() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w", "/later/conf.toml", "/later-dir"], |_| {});
    let set = ticks(&mut p, 1);
    assert!(set.is_empty());
    p.vfs().write("/later/conf.toml", b"x");
    p.vfs().write("/later-dir/sub/a.rs", b"x");
    let set = ticks(&mut p, 2);
    let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
    assert!(paths.contains(&sim::path("/later/conf.toml")), "{paths:?}");
    assert!(paths.contains(&sim::path("/later-dir")), "{paths:?}");
    // Once there, changes inside the new root are watched like any other.
    p.vfs().write("/later-dir/sub/a.rs", b"changed");
    let set = ticks(&mut p, 2);
    expect(&set, &[("/later-dir/sub/a.rs", ChangeKind::Modified)], "fine", "inside a late root");
}

#[test]
fn a_missing_root_is_reported_once_and_the_rest_is_watched() {
    let fs = SimFs::new(Profile::fine());
    fs.write("/w/a.rs", b"x");
    let mut p = Poller::new(config(&["/nope", "/w"]), fs).unwrap();
    let base = p.tick();
    assert_eq!(base.warnings.len(), 1, "{:?}", base.warnings);
    let want = format!("{} does not exist", sim::path("/nope").display());
    assert!(base.warnings[0].to_string().contains(&want), "{}", base.warnings[0]);
    p.vfs().write("/w/a.rs", b"yy");
    let next = ticks(&mut p, 2);
    assert_eq!(next.len(), 1);
}

#[test]
fn overlapping_roots_report_a_file_once() {
    let mut p =
        start(SimFs::new(Profile::fine()), &["/w", "/w/src", "/w/src/a.rs"], |fs| fs.write("/w/src/a.rs", b"x"));
    p.vfs().write("/w/src/a.rs", b"yy");
    let set = ticks(&mut p, 2);
    expect(&set, &[("/w/src/a.rs", ChangeKind::Modified)], "fine", "overlapping roots");
}

#[test]
fn granularity_is_learned_per_filesystem() {
    let cases = [
        (Profile::fine(), Duration::from_nanos(1)),
        (Profile::hfs_plus(), Duration::from_secs(1)),
        (Profile::fat(), Duration::from_secs(2)),
        (Profile::ntfs(), Duration::from_nanos(100)),
    ];
    for (profile, want) in cases {
        let name = profile.info.name.clone();
        let mut p = start(SimFs::new(profile), &["/w"], |fs| {
            for i in 0..12 {
                fs.write(format!("/w/f{i}"), b"x");
                fs.advance(Duration::from_nanos(1_234_567_891));
            }
        });
        p.tick();
        let learned = p.filesystems();
        assert_eq!(learned.len(), 1);
        assert_eq!(learned[0].granularity, want, "{name}");
    }
}

#[test]
fn only_racy_files_are_hashed_and_ignored_trees_cost_nothing() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        for i in 0..50 {
            fs.write(format!("/w/f{i}"), b"x");
            fs.write(format!("/w/.git/objects/o{i}"), b"x");
        }
    });
    let before = p.vfs().counters();
    ticks(&mut p, 4);
    let after = p.vfs().counters();
    assert_eq!(after.hashes, before.hashes, "an idle, old tree is never hashed");
    assert_eq!(after.read_dirs, before.read_dirs, "an idle tree is not re-listed before the safety rescan");
    // 51 nodes: the root /w and its 50 files; .git is never descended, but /w/.git/info/exclude (missing here)
    // is looked at, as its rules decide what is watched. And the root once more, by path, for a filesystem that
    // went away (see `poll::outage`).
    assert_eq!(after.stats - before.stats, 4 * (51 + 1 + 1));
}

#[test]
fn the_safety_rescan_finds_names_a_stale_directory_mtime_hides() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| fs.write("/w/a", b"x"));
    let dir_mtime = p.vfs().stat(&sim::path("/w")).unwrap().mtime;
    p.vfs().write("/w/b", b"x");
    // A FUSE filesystem that never updates directory mtimes.
    p.vfs().set_mtime("/w", dir_mtime);
    let quick = ticks(&mut p, 2);
    // ctime still moved on this profile; make the point with ctime ignored too.
    let _ = quick;
    let mut q = Poller::new(Config { trust_ctime: false, ..config(&["/w"]) }, SimFs::new(Profile::fine())).unwrap();
    q.vfs().write("/w/a", b"x");
    q.vfs().advance(Duration::from_secs(30));
    q.tick();
    let m = q.vfs().stat(&sim::path("/w")).unwrap().mtime;
    q.vfs().write("/w/b", b"x");
    q.vfs().set_mtime("/w", m);
    assert!(ticks(&mut q, 2).is_empty(), "nothing can see it before the rescan");
    let set = ticks(&mut q, 20);
    expect(&set, &[("/w/b", ChangeKind::Created)], "fine", "safety rescan");
}

#[test]
fn an_unreadable_directory_warns_once_and_recovers() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| fs.write("/w/d/a", b"x"));
    p.vfs().set_error("/w/d", Some(std::io::ErrorKind::PermissionDenied));
    p.vfs().advance(TICK);
    let t = p.tick();
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    assert!(t.changes.is_empty());
    p.vfs().advance(TICK);
    assert!(p.tick().warnings.is_empty(), "warned once only");
    p.vfs().set_error("/w/d", None);
    p.vfs().write("/w/d/b", b"new");
    let set = ticks(&mut p, 2);
    let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
    assert!(paths.contains(&sim::path("/w/d/b")), "{paths:?}");
    assert!(!paths.contains(&sim::path("/w/d/a")), "the old file is not new: {paths:?}");
}

#[test]
fn a_file_that_vanishes_between_listing_and_stat_is_nothing() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| fs.write("/w/a", b"x"));
    p.vfs().write("/w/ghost", b"x");
    p.vfs().set_error("/w/ghost", Some(std::io::ErrorKind::NotFound));
    let set = ticks(&mut p, 3);
    assert!(set.is_empty(), "{set:?}");
}

#[test]
fn clock_skew_is_warned_once_per_filesystem() {
    let fs = SimFs::new(Profile::skewed_server(3600));
    fs.write("/w/a", b"x");
    let mut p = Poller::new(config(&["/w"]), fs).unwrap();
    let mut warnings = p.tick().warnings;
    p.vfs().write("/w/b", b"x");
    p.vfs().write("/w/c", b"x");
    for _ in 0..3 {
        p.vfs().advance(TICK);
        warnings.extend(p.tick().warnings);
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].to_string().contains("in the future"), "{}", warnings[0]);
}

#[test]
fn content_change_reason_names_the_hash() {
    let mut p = start(SimFs::new(Profile::hfs_plus()), &["/w"], |fs| fs.write("/w/a", b"aaaa"));
    p.vfs().write("/w/a", b"bbbb");
    p.vfs().advance(Duration::from_millis(100));
    p.tick();
    p.vfs().advance(Duration::from_millis(100));
    p.vfs().write("/w/a", b"cccc");
    p.vfs().advance(Duration::from_millis(100));
    let t = p.tick();
    assert_eq!(t.changes.len(), 1);
    assert_eq!(t.changes[0].reason, Reason::Fields(Fields::CONTENT));
}

#[test]
fn a_gitignored_directory_is_never_listed_and_never_fires() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        fs.mkdir("/w/.git");
        fs.write("/w/.gitignore", b"target/\n*.log\n");
        fs.write("/w/target/debug/app", b"bin");
        fs.write("/w/src/main.rs", b"fn main() {}");
    });
    assert_eq!(p.files(), vec![sim::path("/w/.gitignore"), sim::path("/w/src/main.rs")]);
    let before = p.vfs().counters();
    p.vfs().write("/w/target/debug/app", b"bin2");
    p.vfs().write("/w/target/new", b"x");
    p.vfs().write("/w/server.log", b"x");
    let set = ticks(&mut p, 3);
    assert!(set.is_empty(), "{set:?}");
    let after = p.vfs().counters();
    assert_eq!(
        after.read_dirs - before.read_dirs,
        3,
        "only /w itself is re-listed (its mtime changed; again while racy)"
    );
}

/// Without any ignore file: `node_modules`, cargo's `target` (beside its `Cargo.toml`) and a database with its
/// journal are ignored by default, never listed, and never fire; a `target` that is source (no build file beside
/// it) is watched.
#[test]
fn build_output_installed_packages_and_databases_are_ignored_by_default() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        fs.write("/w/Cargo.toml", b"[package]");
        fs.write("/w/target/debug/app", b"bin");
        fs.write("/w/web/node_modules/left-pad/index.js", b"x");
        fs.write("/w/web/app.js", b"x");
        fs.write("/w/lib/target/mod.py", b"x");
        fs.write("/w/db.sqlite3", b"db");
    });
    assert_eq!(p.files(), paths(&["/w/Cargo.toml", "/w/lib/target/mod.py", "/w/web/app.js"]));
    let before = p.vfs().counters();
    p.vfs().write("/w/target/debug/app", b"bin2");
    p.vfs().write("/w/web/node_modules/left-pad/index.js", b"xx");
    p.vfs().write("/w/db.sqlite3", b"db2");
    p.vfs().write("/w/db.sqlite3-journal", b"j");
    let set = ticks(&mut p, 3);
    assert!(set.is_empty(), "{set:?}");
    assert_eq!(p.vfs().counters().read_dirs - before.read_dirs, 3, "only /w is re-listed (a journal came and went)");
    p.vfs().write("/w/lib/target/mod.py", b"edited");
    expect(&ticks(&mut p, 2), &[("/w/lib/target/mod.py", ChangeKind::Modified)], "fine", "a source dir named target");

    let all = crate::config::FilterConfig { default_ignores: false, ..Default::default() };
    let fs = SimFs::new(Profile::fine());
    fs.write("/w/Cargo.toml", b"[package]");
    fs.write("/w/target/debug/app", b"bin");
    fs.write("/w/node_modules/p.js", b"x");
    fs.write("/w/db.sqlite3", b"db");
    let p = start_with(fs, Config { filter: all, ..config(&["/w"]) });
    assert_eq!(p.files(), paths(&["/w/Cargo.toml", "/w/db.sqlite3", "/w/node_modules/p.js", "/w/target/debug/app"]));
}

#[test]
fn editing_gitignore_applies_at_once() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        fs.write("/w/.gitignore", b"gen/\n");
        fs.write("/w/gen/a.rs", b"x");
    });
    p.vfs().write("/w/.gitignore", b"# nothing ignored\n");
    let set = ticks(&mut p, 2);
    let paths: Vec<PathBuf> = set.iter().map(|(p, _, _)| p.to_path_buf()).collect();
    assert!(paths.contains(&sim::path("/w/gen")), "{paths:?}");
    p.vfs().write("/w/gen/a.rs", b"now watched");
    let set = ticks(&mut p, 2);
    expect(&set, &[("/w/gen/a.rs", ChangeKind::Modified)], "fine", "un-ignored file");
}

#[test]
fn the_hot_tier_sees_edits_to_recently_changed_files_between_full_sweeps() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        fs.write("/w/src/hot.rs", b"1");
        fs.write("/w/src/cold.rs", b"1");
        fs.write("/w/other/cold.rs", b"1");
    });
    assert!(p.tick_hot().changes.is_empty(), "nothing is hot after the baseline");
    p.vfs().write("/w/src/hot.rs", b"22");
    assert_eq!(ticks(&mut p, 1).len(), 1, "a full sweep finds the first edit");
    assert_eq!(p.hot_count(), 2, "the file and its directory are hot");

    let before = p.vfs().counters();
    p.vfs().write("/w/src/hot.rs", b"333");
    p.vfs().advance(Duration::from_millis(100));
    let hot = p.tick_hot();
    assert_eq!(hot.changes.len(), 1, "{:?}", hot.changes);
    assert!(p.vfs().counters().stats - before.stats <= 3, "a hot tick stats only the hot paths");

    // A cold file is left to the next full sweep.
    p.vfs().write("/w/other/cold.rs", b"22");
    p.vfs().advance(Duration::from_millis(100));
    assert!(p.tick_hot().changes.is_empty());
    assert_eq!(ticks(&mut p, 1).len(), 1);

    // A new name in a hot directory is found by the hot tier (the directory is re-listed).
    p.vfs().write("/w/src/new.rs", b"x");
    p.vfs().advance(Duration::from_millis(100));
    let hot = p.tick_hot();
    assert_eq!(hot.changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>(), [sim::path("/w/src/new.rs")]);
}

#[test]
fn the_hot_tier_confirms_removals_and_forgets_old_changes() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| fs.write("/w/a.rs", b"1"));
    p.vfs().remove("/w/a.rs");
    p.vfs().advance(TICK);
    let first = p.tick();
    assert!(first.changes.is_empty() && first.pending);
    p.vfs().advance(Duration::from_millis(100));
    let confirm = p.tick_hot();
    assert_eq!(confirm.changes.len(), 1, "confirmed by the hot tier, without waiting for a full sweep");
    assert_eq!(confirm.changes[0].kind, ChangeKind::Removed);

    p.vfs().write("/w/b.rs", b"1");
    ticks(&mut p, 1);
    assert!(p.hot_count() > 0);
    p.vfs().advance(Config::default().hot_for + Duration::from_secs(1));
    p.tick_hot();
    assert_eq!(p.hot_count(), 0, "paths cool down after hot_for");
}

#[test]
fn added_paths_follow_the_newer_than_last_loop_rule() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        fs.write("/lib/old.py", b"old");
        fs.write("/lib/later.py", b"later");
    });
    // A child reports what it loaded: old files are not changes.
    p.add_paths(["/lib/old.py", "/lib/later.py", "/lib/missing.py", "/w/x"].map(sim::path));
    let t = ticks(&mut p, 1);
    assert!(t.is_empty(), "{t:?}");
    assert!(p.files().contains(&sim::path("/lib/old.py")));
    // Once added, they are watched like any other file; a missing one fires when it appears.
    p.vfs().write("/lib/later.py", b"changed");
    p.vfs().write("/lib/missing.py", b"now here");
    let set = ticks(&mut p, 2);
    expect(&set, &[("/lib/later.py", ChangeKind::Modified), ("/lib/missing.py", ChangeKind::Created)], "fine", "added");
    // A file written just before it was reported counts as new.
    p.vfs().write("/lib/fresh.py", b"x");
    p.add_paths([sim::path("/lib/fresh.py")]);
    let set = ticks(&mut p, 1);
    expect(&set, &[("/lib/fresh.py", ChangeKind::Created)], "fine", "fresh report");
}

#[test]
fn a_reported_file_under_a_root_keeps_its_one_node() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        fs.write("/w/app.py", b"v1");
        fs.write("/w/pkg/mod.py", b"v1");
    });
    let stats = |p: &mut Poller<SimFs>| {
        let count = |p: &Poller<SimFs>| p.vfs().counters().stats + p.vfs().counters().stats_in;
        let before = count(p);
        assert!(ticks(p, 1).is_empty());
        count(p) - before
    };
    let per_sweep = stats(&mut p);
    // The command reports the project files it loaded (and the root itself): nothing new to stat.
    p.add_paths(["/w/app.py", "/w/pkg/mod.py", "/w/pkg/../app.py", "/w"].map(sim::path));
    assert_eq!(stats(&mut p), per_sweep, "no second node, no second stat");
    let files = p.files();
    assert_eq!(files.iter().filter(|f| **f == sim::path("/w/pkg/mod.py")).count(), 1, "{files:?}");
    p.vfs().write("/w/pkg/mod.py", b"v2, edited");
    let set = ticks(&mut p, 2);
    expect(&set, &[("/w/pkg/mod.py", ChangeKind::Modified)], "fine", "reported and walked");
}

#[test]
fn the_safety_rescan_does_not_reread_ignore_files_or_rejudge_names() {
    // A network share: the rescan is for filesystems whose directory times cannot be trusted.
    let mut p = start(SimFs::new(Profile::skewed_server(0)), &["/w"], |fs| {
        for d in ["a", "b", "c"] {
            fs.write(format!("/w/{d}/.gitignore"), b"*.log\n");
            fs.write(format!("/w/{d}/x.rs"), b"x");
        }
    });
    let before = p.vfs().counters();
    let set = ticks(&mut p, 25);
    let after = p.vfs().counters();
    assert!(set.is_empty());
    assert!(after.read_dirs - before.read_dirs >= 4, "the rescan re-listed every directory");
    assert_eq!(after.reads, before.reads, "but read no ignore file again");
}

#[test]
fn local_directories_are_not_rescanned_their_ctime_shows_every_listing_change() {
    let mut p = start(SimFs::new(Profile::fine()), &["/w"], |fs| {
        for d in ["a", "b", "c"] {
            fs.write(format!("/w/{d}/x.rs"), b"x");
        }
    });
    let before = p.vfs().counters();
    assert!(ticks(&mut p, 25).is_empty());
    assert_eq!(p.vfs().counters().read_dirs, before.read_dirs, "12.5 s of ticks, past --rescan: no listing");
    // A name added behind a directory mtime set back: the directory's ctime moved, so it is listed.
    let m = p.vfs().stat(&sim::path("/w/b")).unwrap().mtime;
    p.vfs().write("/w/b/y.rs", b"y");
    p.vfs().set_mtime("/w/b", m);
    let set = ticks(&mut p, 2);
    expect(&set, &[("/w/b/y.rs", ChangeKind::Created)], "fine", "mtime set back");
}

/// A directory renamed into a directory the hot tier re-checks, from one it does not: the hot tick finds the new
/// name before any look at the old one, which still looks present. The new name must take over at once (the old
/// one is gone), or its files are watched only if something lists it again before its racy window ends (the
/// torture test found this with a link to an outside directory).
#[test]
fn a_directory_moved_into_a_hot_directory_is_descended_at_its_new_name() {
    for (name, profile) in profiles() {
        let mut p = start(SimFs::new(profile), &["/w"], |fs| {
            fs.write("/w/a/old/f.rs", b"f");
            fs.write("/w/a/hot/h.rs", b"h");
        });
        p.vfs().write("/w/a/hot/h.rs", b"hh");
        let set = ticks(&mut p, 3);
        expect(&set, &[("/w/a/hot/h.rs", ChangeKind::Modified)], name, "edit");
        p.vfs().advance(Duration::from_secs(10));
        p.vfs().rename("/w/a/old", "/w/a/hot/new");
        let mut set = ChangeSet::new();
        set.extend(p.tick_hot().changes);
        p.vfs().advance(Duration::from_secs(10));
        for _ in 0..4 {
            p.vfs().advance(TICK);
            set.extend(p.tick().changes);
        }
        let want = [
            ("/w/a/hot/new", ChangeKind::Created),
            ("/w/a/hot/new/f.rs", ChangeKind::Created),
            ("/w/a/old", ChangeKind::Removed),
            ("/w/a/old/f.rs", ChangeKind::Removed),
        ];
        expect(&set, &want, name, "moved into a hot directory");
        assert!(p.files().contains(&sim::path("/w/a/hot/new/f.rs")), "{name}: {:?}", p.files());
    }
}

/// A poller over `fs` with `cfg`, its baseline taken after what `fs` holds has aged.
fn start_with(fs: SimFs, cfg: Config) -> Poller<SimFs> {
    fs.advance(Duration::from_secs(30));
    let mut p = Poller::new(cfg, fs).unwrap();
    let base = p.tick();
    assert!(base.changes.is_empty(), "baseline: {base:?}");
    p
}

/// The watched files `p` should have, given as Unix-shaped paths (see [`sim::path`]).
fn paths(unix: &[&str]) -> Vec<PathBuf> {
    unix.iter().map(sim::path).collect()
}

/// With filters that leave the ignore files out (`-e rs`), an edit to one still re-judges the names it rules, and
/// is no change itself: it must not restart a `-e rs` watch. The names the new rules admit were there all along:
/// news only if they changed lately (here, only on a server whose clock is ahead, where everything looks new).
#[test]
fn ignore_files_the_filters_leave_out_still_rule_and_are_no_change() {
    use ChangeKind::*;
    for (name, profile) in profiles() {
        let ahead = profile.skew_ns > 0;
        let fs = SimFs::new(profile);
        fs.write("/w/.gitignore", b"gen/\n");
        fs.write("/w/gen/a.rs", b"a");
        fs.write("/w/src/b.rs", b"b");
        let rs = crate::config::FilterConfig { extensions: vec!["rs".into()], ..Default::default() };
        let mut p = start_with(fs, Config { filter: rs, ..config(&["/w"]) });
        assert_eq!(p.files(), paths(&["/w/src/b.rs"]), "{name}");

        p.vfs().write("/w/.gitignore", b"# nothing ignored\n");
        let want: &[(&str, ChangeKind)] = if ahead { &[("/w/gen", Created), ("/w/gen/a.rs", Created)] } else { &[] };
        expect(&ticks(&mut p, 3), want, name, "un-ignoring gen/");
        assert_eq!(p.files(), paths(&["/w/gen/a.rs", "/w/src/b.rs"]), "{name}");
        p.vfs().write("/w/gen/a.rs", b"a2");
        expect(&ticks(&mut p, 3), &[("/w/gen/a.rs", Modified)], name, "the un-ignored file is watched");

        p.vfs().write("/w/.gitignore", b"src/\n");
        expect(&ticks(&mut p, 3), &[], name, "ignoring src/");
        assert_eq!(p.files(), paths(&["/w/gen/a.rs"]), "{name}");
        p.vfs().remove("/w/.gitignore");
        let want: &[(&str, ChangeKind)] = if ahead { &[("/w/src", Created), ("/w/src/b.rs", Created)] } else { &[] };
        expect(&ticks(&mut p, 3), want, name, "removing .gitignore");
        assert_eq!(p.files(), paths(&["/w/gen/a.rs", "/w/src/b.rs"]), "{name}");
    }
}

/// `.git/info/exclude` and the ignore files above a watched root (inside its repository) rule the watched tree
/// too: they are tracked, quietly (they are outside the tree, or under `.git`), the exclude file even when it
/// appears only later.
#[test]
fn git_info_exclude_and_ignore_files_above_a_root_rule_it() {
    use ChangeKind::*;
    for (name, profile) in profiles() {
        let ahead = profile.skew_ns > 0;
        let fs = SimFs::new(profile);
        fs.write("/repo/.git/HEAD", b"ref: refs/heads/main\n");
        // `*.out`: a name no default ignore covers (`*.log` is one).
        fs.write("/repo/.gitignore", b"*.out\n");
        fs.write("/repo/src/a.out", b"a");
        fs.write("/repo/src/b.rs", b"b");
        fs.write("/repo/src/c.tmp", b"c");
        let mut p = start_with(fs, config(&["/repo/src"]));
        assert_eq!(p.files(), paths(&["/repo/src/b.rs", "/repo/src/c.tmp"]), "{name}");

        p.vfs().write("/repo/.gitignore", b"# nothing ignored\n");
        let want: &[(&str, ChangeKind)] = if ahead { &[("/repo/src/a.out", Created)] } else { &[] };
        expect(&ticks(&mut p, 3), want, name, "the repository's .gitignore, above the root");
        assert_eq!(p.files(), paths(&["/repo/src/a.out", "/repo/src/b.rs", "/repo/src/c.tmp"]), "{name}");

        p.vfs().write("/repo/.git/info/exclude", b"*.tmp\n");
        expect(&ticks(&mut p, 3), &[], name, "git's exclude file, created");
        assert_eq!(p.files(), paths(&["/repo/src/a.out", "/repo/src/b.rs"]), "{name}");
        p.vfs().write("/repo/.git/info/exclude", b"*.out\n");
        let want: &[(&str, ChangeKind)] = if ahead { &[("/repo/src/c.tmp", Created)] } else { &[] };
        expect(&ticks(&mut p, 3), want, name, "git's exclude file, edited");
        assert_eq!(p.files(), paths(&["/repo/src/b.rs", "/repo/src/c.tmp"]), "{name}");
    }
}

/// The same on a real disk: `-e rs`, and a `.gitignore` edit applies without being a change.
#[test]
fn an_ignore_file_the_filters_leave_out_rules_on_a_real_disk() {
    use crate::vfs::real::RealFs;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("w");
    std::fs::create_dir_all(root.join("gen")).unwrap();
    std::fs::write(root.join(".gitignore"), "gen/\n").unwrap();
    std::fs::write(root.join("gen/a.rs"), "a").unwrap();
    std::fs::write(root.join("b.rs"), "b").unwrap();
    // Old, so that the un-ignored names are not news by their mtimes either.
    for old in ["gen/a.rs", "gen"] {
        filetime::set_file_mtime(root.join(old), FileTime::from_unix_time(1_600_000_000, 0)).unwrap();
    }
    let rs = crate::config::FilterConfig { extensions: vec!["rs".into()], ..Default::default() };
    let mut p = Poller::new(Config { roots: vec![root.clone()], filter: rs, ..Config::default() }, RealFs).unwrap();
    assert!(p.tick().changes.is_empty());
    assert_eq!(p.files(), [root.join("b.rs")]);
    std::fs::write(root.join(".gitignore"), "# nothing ignored, and longer\n").unwrap();
    let t = p.tick();
    assert!(t.changes.is_empty(), "{:?}", t.changes);
    assert_eq!(p.files(), [root.join("b.rs"), root.join("gen/a.rs")]);
}

/// An ignore file given as a path of its own is reported when edited, like any watched path, and its directory (a
/// holder of explicit paths) is never listed for it: what else is in there is not watched.
#[test]
fn an_explicit_ignore_file_is_reported_and_its_directory_is_not_listed() {
    let fs = SimFs::new(Profile::fine());
    fs.write("/w/a.rs", b"a");
    fs.write("/x/.gitignore", b"*.log\n");
    fs.write("/x/other.rs", b"o");
    let mut p = start_with(fs, config(&["/w", "/x/.gitignore"]));
    assert_eq!(p.files(), paths(&["/w/a.rs", "/x/.gitignore"]));
    p.vfs().write("/x/.gitignore", b"*.tmp\n");
    expect(&ticks(&mut p, 3), &[("/x/.gitignore", ChangeKind::Modified)], "fine", "explicit .gitignore");
    assert_eq!(p.files(), paths(&["/w/a.rs", "/x/.gitignore"]));
}
