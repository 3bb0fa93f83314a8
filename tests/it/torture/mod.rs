//! Model-based torture test: a seeded random sequence of thousands of file operations on a real tree, with the
//! engine polling it between batches, against ground truth kept by the test.
//!
//! The test keeps a model of the tree: for every path under the root, what it is (file, directory, symlink) and,
//! for a file, its exact content, an identity (a new one for every new inode: create, atomic save, move in) and
//! a tag that changes whenever the test sets the mtime explicitly. Every content the test writes starts with a
//! header naming the object and a serial number, so two objects never have the same content. From the model it
//! computes the *view*: what a `stat` that follows symlinks sees (a link to a file looks like that file, a link
//! to a directory outside the root like that directory with its files, a dangling link like nothing).
//!
//! A *round* is one to four batches of operations, with zero to two ticks (full or hot) after each, followed by
//! ticks until the engine is quiet (a few; on a mount given by `STATOR_TORTURE_DIR`, bounded polls until the
//! change is visible). Every change the ticks of a round report is folded into one `ChangeSet`, which is then
//! compared with the view at the previous settled point and now:
//!
//! - a **miss** is a path whose view differs (it appeared, disappeared, changed kind, content, identity or the
//!   explicitly set mtime) that the set does not report, or reports with the wrong kind;
//! - a **phantom** is a path the set reports that no operation of the round touched.
//!
//! A path that was touched but whose view is the same again (written and restored, renamed away and back,
//! chmod'ed when ctime is trusted) may be reported or not; if it is, the kind must fit. A chmod is *not* a touch
//! when ctime is not trusted (`trust_ctime: false`): the engine must then stay silent about it. Directories are
//! reported only when they appear, disappear or change kind; a directory whose listing changed is not "modified".
//!
//! The racy window: an operation rewrites a file with new content of the same size and then puts the previous
//! mtime back (`filetime`), which is what a second write inside one timestamp tick looks like. With ctime not
//! trusted only the content hash can see it, and the engine promises that only while the file's current
//! fingerprint is younger than the racy window (it keeps the hash that long). The test performs such a rewrite
//! only when it can prove the promise holds: the engine has looked at the file since its last change (a full
//! tick), and less than half the smallest racy window the engine reported has passed since then. Otherwise it
//! does a plain rewrite.
//!
//! After each round, the files the engine tracks (`Poller::files`) must also be exactly the files of the view.
//!
//! `torture_on_each_test_mount` runs the torture on every filesystem of `../shared/testfs/` named by a
//! `STATOR_TESTFS_*` variable (ext4 with 1 s timestamps, FAT, exFAT, sshfs with a 1 s cache, SMB, bindfs,
//! overlayfs: what `.ci/run` mounts), all at once, one thread each, each in a fresh directory written *through*
//! the mount (as a user editing in a container would), and asserts no miss and no phantom on any of them. An
//! unset variable is skipped by the one policy (`support::skip`: `SKIPPED`, a failure with `CI` set), as in
//! `testfs`.
//! What a filesystem cannot do is left out there, each with its reason and evidence in `ON_MOUNTS`: appending on
//! FAT and SMB, moving directories on FAT (fusefat loses their contents), and, probed by every run, symlinks to
//! absolute paths (FAT, exFAT and SMB have none; sshfs refuses to read them back) and chmod (FAT, exFAT, SMB).
//! Some operations are made another way to mean the same (`Quirks`): on FAT, whose writes never update the mtime,
//! a rewrite the engine is not promised to see adds a byte, and rewrites do not truncate first (fusefat corrupts
//! its allocation table and hangs otherwise); on SMB a truncation rewrites the first bytes (no `ftruncate`).
//! On a mount a round may be complete only after the safety-net re-listing (exfat-fuse never updates a
//! directory's mtime on a rename, so a name moved in is found by the periodic re-listing); such late rounds are
//! counted in the summary line, and a run stops after a few failing rounds (each waits out the settle limit).
//!
//! Knobs (environment):
//! - `STATOR_TORTURE_SEED=N` replays one seed (decimal or 0x-hex); by default a fixed seed and one derived from
//!   the clock run, and both are printed;
//! - `STATOR_TORTURE_OPS=N` operations per seed (default 1500: 3000 per test, over the fixed and the clock seed);
//! - `STATOR_TORTURE_DIR=/mnt/x` runs in a fresh directory under that path instead of the system temp dir (a
//!   mount from `../shared/testfs/`); ticks then continue, with short bounded waits, until every change is
//!   visible or `STATOR_TORTURE_SETTLE_SECS` (default 45) have passed;
//! - `STATOR_TORTURE_NO_APPEND=1` (FAT, SMB: no appending; rewrites instead), and generally
//!   `STATOR_TORTURE_SKIP=append,symlink,chmod,...` to leave operations out (names: see `Op::name`). Symlinks and
//!   chmod are also left out by themselves when the directory cannot do them;
//! - `STATOR_TORTURE_TRACE=1` prints every operation and tick as it happens (to find the one a filesystem hung
//!   on).
//!
//! The pieces: `knobs` (the environment, the filesystems' quirks), `rng` (the seeded generator), `world` (the tree
//! on disk, its model and view), `ops` (the operations, on both), `check` (a round's verdict), `run` (one run per
//! seed, and its report), `on_mounts` (the runs on the test mounts). The engine bugs the torture found are pinned
//! down, one small test each, in `regression`.

mod check;
mod knobs;
mod on_mounts;
mod ops;
mod rng;
mod run;
mod world;

use knobs::Knobs;
use run::torture_in;

/// The seed every run tries first, so a plain `cargo test` always covers one known sequence.
const FIXED_SEED: u64 = 0x5747_0007;

/// Every content starts with `<oooooooo:ssssssss>`: the object and the serial number of the write.
const HEADER: usize = 19;

/// Directories are made at most this deep under the root (renames may push them a little deeper).
const MAX_DEPTH: usize = 4;

/// Around this many regular files live in the tree: creation stops above, deletion below the low mark.
const MANY_FILES: usize = 180;
const FEW_FILES: usize = 25;

/// Ticks of a settled point on the local disk: at least this many, and stop after two quiet ones in a row.
const MIN_SETTLE_TICKS: usize = 3;
const MAX_SETTLE_TICKS: usize = 12;

/// How many failing rounds are described in full.
const DESCRIBE: usize = 4;

/// A test variant: the engine's configuration and the operation mix.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    trust_ctime: bool,
    /// Weight of the racy rewrite (same size, previous mtime put back).
    racy: u32,
    /// Stay clear of what met the engine bugs the torture found (see `regression`; fixed since): no directory
    /// turns into a file or the reverse, no directory is renamed over another, no link to a directory is
    /// retargeted, and no hot tick runs while a removed directory waits for a full one. Kept from when those bugs
    /// were open, so that one variant's failure there did not hide everything else;
    /// `torture_every_operation_and_hot_ticks_anywhere` runs without it.
    avoid_known_bugs: bool,
}

fn torture(variant: Variant) {
    let (report, failed) = torture_in(variant, &Knobs::from_env());
    assert!(!failed, "\n{report}");
}

/// Ctime trusted (the default): every content, identity or mtime change must be reported; a chmod may be.
#[test]
fn torture_default_config_misses_nothing_and_invents_nothing() {
    torture(Variant { name: "torture_default_config", trust_ctime: true, racy: 4, avoid_known_bugs: true });
}

/// Ctime not trusted: racy rewrites (same size, previous mtime put back) are visible to the content hash alone,
/// and a chmod must not be reported at all.
#[test]
fn torture_without_ctime_the_content_hash_catches_racy_rewrites() {
    torture(Variant { name: "torture_without_ctime", trust_ctime: false, racy: 14, avoid_known_bugs: true });
}

/// Every operation, hot ticks at any time: also what met the engine bugs `regression` pins down (fixed since).
#[test]
fn torture_every_operation_and_hot_ticks_anywhere() {
    torture(Variant { name: "torture_every_operation", trust_ctime: true, racy: 4, avoid_known_bugs: false });
}
