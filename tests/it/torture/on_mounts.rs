//! The torture on each filesystem of `../shared/testfs/` (`torture_on_each_test_mount`): what it leaves out or
//! does another way on each, and the runs, all at once, one thread each.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Variant;
use super::knobs::{Knobs, Quirks};
use super::run::torture_in;
use crate::support;
use crate::support::mounts::{BINDFS, EXFAT, EXT4_1S, FAT, OVERLAY, SMB, SSHFS, Spec};

/// A filesystem of the matrix (named by its `STATOR_TESTFS_*` variable, see `support::mounts`) and what
/// the torture leaves out or does another way there.
struct OnMount {
    spec: &'static Spec,
    /// Operations per seed.
    ops: usize,
    /// Operations the filesystem cannot do (symlinks and chmod are probed by the run itself).
    skip: &'static [&'static str],
    quirks: Quirks,
}

/// Sized so that the whole test stays well under two minutes on two cores, with every mount running at once.
const ON_MOUNTS: [OnMount; 7] = [
    OnMount { spec: &EXT4_1S, ops: 1000, skip: &[], quirks: Quirks::NONE },
    OnMount {
        spec: &FAT,
        ops: 500,
        // fusefat rejects a write that starts at the end of the file (EPERM): no appending. And it loses what is in
        // a directory that is renamed (`mkdir -p a/s; echo hi >a/s/m; mv a/s a/t; ls a/t` lists nothing, and
        // `a/t/m` is ENOENT), so a directory is never moved there, in, out or within.
        skip: &["append", "rename-dir", "rename-dir-over", "move-dir-in", "move-dir-out"],
        quirks: Quirks { unstamped_writes: true, rewrite_in_place: true, ..Quirks::NONE },
    },
    OnMount { spec: &EXFAT, ops: 1000, skip: &[], quirks: Quirks::NONE },
    OnMount { spec: &SSHFS, ops: 500, skip: &[], quirks: Quirks::NONE },
    OnMount {
        spec: &SMB,
        ops: 300,
        // smbnetfs refuses `open(O_APPEND)` (EIO, then EIO on everything for about 2 s while it restarts).
        skip: &["append"],
        quirks: Quirks { no_ftruncate: true, ..Quirks::NONE },
    },
    OnMount { spec: &BINDFS, ops: 800, skip: &[], quirks: Quirks::NONE },
    OnMount { spec: &OVERLAY, ops: 1000, skip: &[], quirks: Quirks::NONE },
];

/// The variant the mounts run: the default configuration, every operation but those the known bugs need.
const ON_MOUNT_VARIANT: Variant =
    Variant { name: "torture_on_mount", trust_ctime: true, racy: 4, avoid_known_bugs: true };

/// How long the test waits for the runs before it calls them hung (a FUSE daemon that stopped answering, as
/// fusefat's can): a bound on a wait, far above what the runs take, not a claim about their speed.
const HANG_GUARD: Duration = Duration::from_secs(600);

/// The torture on a fresh directory of every mount named by a `STATOR_TESTFS_*` variable, all at once (one
/// thread each), through the mount, as a user editing in a container would: no miss, no phantom anywhere. An
/// unset variable is skipped (the one policy, [`support::skip`]: `SKIPPED`, except with `CI` set, where it fails,
/// as in `testfs`), once the mounted ones are done.
/// `STATOR_TORTURE_SEED`, `STATOR_TORTURE_OPS` (per mount), `STATOR_TORTURE_SKIP` and
/// `STATOR_TORTURE_SETTLE_SECS` (default 20 here) apply; `STATOR_TORTURE_DIR` does not.
#[test]
fn torture_on_each_test_mount() {
    let env = Knobs::from_env();
    let ops = std::env::var("STATOR_TORTURE_OPS").ok().filter(|v| !v.trim().is_empty()).map(|_| env.ops);
    let settle = if std::env::var("STATOR_TORTURE_SETTLE_SECS").is_ok_and(|v| !v.trim().is_empty()) {
        env.settle_limit
    } else {
        Duration::from_secs(20)
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let mut running = BTreeSet::new();
    let mut unmounted = Vec::new();
    for m in &ON_MOUNTS {
        let Some(dir) = std::env::var_os(m.spec.var).filter(|v| !v.is_empty()).map(PathBuf::from) else {
            eprintln!("torture on {}: not mounted ({} is not set)", m.spec.name, m.spec.var);
            unmounted.push(m.spec.var);
            continue;
        };
        let mut skip = env.skip.clone();
        skip.extend(m.skip.iter().map(|s| (*s).to_owned()));
        let knobs = Knobs {
            ops: ops.unwrap_or(m.ops),
            seeds: env.seeds.clone(),
            label: format!("{} ({})", m.spec.name, dir.display()),
            replay: (format!("{}={} ", m.spec.var, dir.display()), "torture_on_each_test_mount"),
            base: Some(dir),
            skip,
            settle_limit: settle,
            quirks: m.quirks,
            keep: m.spec.keep_files,
            trace: env.trace,
        };
        let (tx, name) = (tx.clone(), m.spec.name);
        running.insert(name);
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = std::panic::catch_unwind(|| torture_in(ON_MOUNT_VARIANT, &knobs));
            let _ = tx.send((name, result, started.elapsed()));
        });
    }
    drop(tx);
    let deadline = Instant::now() + HANG_GUARD;
    let mut report = String::new();
    let mut failed = Vec::new();
    while !running.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((name, result, took)) = rx.recv_timeout(left) else {
            panic!("the torture on {running:?} has not ended after {HANG_GUARD:?}: hung?\n{report}");
        };
        running.remove(name);
        let _ = writeln!(report, "=== {name} ({:.1}s)", took.as_secs_f64());
        match result {
            Ok((text, bad)) => {
                report.push_str(&text);
                if bad {
                    failed.push(name);
                }
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                let _ = writeln!(report, "PANICKED: {msg}");
                failed.push(name);
            }
        }
    }
    assert!(failed.is_empty(), "the torture failed on {failed:?}\n{report}");
    if !unmounted.is_empty() {
        support::skip(&format!("not mounted: {unmounted:?} not set (see the mount errors in .ci/run's output)"));
    }
}
