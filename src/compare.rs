//! The rules of change detection (DESIGN.md section 2), as pure functions: no I/O, no clock. The time of the
//! scan comes in through [`Ctx`]; the content hash comes in through a callback that is called only when a rule
//! needs it.
//!
//! The racy window is measured from when stator *first saw* a fingerprint, not from the file's mtime: a file
//! written at real time `t` can be rewritten with the same timestamp only until `t + granularity`, and stator
//! sees the first write at some `o >= t`, so hashing until `o + window` covers every same-tick rewrite whatever
//! the writer's clock says (a server an hour ahead, FAT rounding into the future). The mtime is only used at
//! first sight, where there is no earlier observation: an old file is not hashed at startup.

use std::io;
use std::time::Duration;

use filetime::FileTime;

use crate::change::{ChangeKind, Reason};
use crate::fingerprint::{Fields, FileKind, Fingerprint, Stat};
use crate::time::{dur, nanos};

/// How a path joined the tracked set, for its first observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Found by the initial scan: never a change, but on a first scan that runs while the command already runs
    /// (see [`Ctx::started`]).
    Baseline,
    /// A name that was not in the previous listing of its directory: created, whatever its mtime.
    Listed,
    /// Joined without a previous listing (the first listing of a new or newly readable directory, a file the
    /// child reported): created only if its mtime is newer than the previous scan minus the racy window.
    Unlisted,
}

/// Where a path stands in the current racy window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Racy {
    /// Scan time (ns since the epoch) at which the current fingerprint was first seen.
    pub since: i128,
    /// Content hash taken then (files no larger than the hash limit only).
    pub hash: Option<u64>,
}

/// What is known of a path that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Its fingerprint at the last scan.
    pub fp: Fingerprint,
    /// Set while the fingerprint is young enough that a same-tick rewrite could hide behind it.
    pub racy: Option<Racy>,
}

/// What the tracked map remembers about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Joined the tracked set and not looked at yet.
    Unseen(Join),
    /// A watched path that does not exist (yet).
    Absent,
    /// Exists, as last seen.
    Present(Known),
    /// Was missing once; reported removed if still missing at the next scan.
    Vanishing(Known),
    /// Confirmed gone (or gone before it was ever seen): the caller drops it, or keeps a watched root as
    /// [`State::Absent`].
    Gone,
}

/// Per-filesystem parameters of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsParams {
    /// The racy window: granularity plus margin.
    pub window: Duration,
    /// Identity and ctime are unreliable here (FUSE, network): a difference in them alone never fires.
    pub advisory: bool,
}

/// Per-scan context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// When this scan started (this machine's clock).
    pub scan: FileTime,
    /// When the previous scan started; `None` on the first.
    pub prev_scan: Option<FileTime>,
    /// Fields never compared (ctime, when the user turned it off).
    pub ignore: Fields,
    /// Files larger than this are never hashed.
    pub hash_limit: u64,
    /// On a first scan that runs while the command already runs (it was started without waiting for the scan):
    /// a file found with an mtime at or after this changed as the command started, and the command may have read
    /// its old bytes. `None` on every other scan.
    pub started: Option<FileTime>,
}

/// The result of one observation of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The path's new state.
    pub state: State,
    /// The change to report, if any.
    pub change: Option<(ChangeKind, Reason)>,
    /// The path is a directory whose listing must be read (again).
    pub relist: bool,
    /// The `stat` failed with something other than "not found"; the previous state is kept.
    pub error: Option<io::ErrorKind>,
    /// Nanoseconds by which the mtime lies ahead of the scan, beyond the racy window (clock skew).
    pub ahead: Option<i128>,
}

impl Outcome {
    fn quiet(state: State) -> Outcome {
        Outcome { state, change: None, relist: false, error: None, ahead: None }
    }
}

/// Applies the rules to one path: its previous `state`, what `stat` returned now, the filesystem's parameters
/// and the scan context. `hash` reads the file's content hash (`None` if it could not); it is called at most
/// once, and only for files inside the racy window.
pub fn observe(
    state: &State,
    seen: Result<&Stat, io::ErrorKind>,
    fs: FsParams,
    ctx: &Ctx,
    hash: &mut dyn FnMut() -> Option<u64>,
) -> Outcome {
    let stat = match seen {
        Ok(stat) => stat,
        Err(io::ErrorKind::NotFound) => return not_found(state),
        Err(kind) => {
            let kept = if matches!(state, State::Gone) { State::Absent } else { *state };
            return Outcome { error: Some(kind), ..Outcome::quiet(kept) };
        }
    };
    let mut out = match state {
        State::Unseen(join) => first_sight(*join, stat, fs, ctx, hash),
        State::Absent | State::Gone => Outcome {
            change: Some((ChangeKind::Created, Reason::Appeared)),
            relist: stat.kind == FileKind::Dir,
            ..Outcome::quiet(State::Present(fresh(stat, Some(nanos(ctx.scan)), ctx, hash)))
        },
        State::Present(known) | State::Vanishing(known) => again(known, stat, fs, ctx, hash),
    };
    let ahead = nanos(stat.mtime) - nanos(ctx.scan);
    if ahead > dur(fs.window) {
        out.ahead = Some(ahead);
    }
    out
}

fn not_found(state: &State) -> Outcome {
    match state {
        State::Present(known) => Outcome::quiet(State::Vanishing(*known)),
        State::Vanishing(_) => {
            Outcome { change: Some((ChangeKind::Removed, Reason::Vanished)), ..Outcome::quiet(State::Gone) }
        }
        State::Absent => Outcome::quiet(State::Absent),
        State::Unseen(_) | State::Gone => Outcome::quiet(State::Gone),
    }
}

/// A fresh record of `stat`, racy since `since` when given. Files get a content hash while racy; directories
/// are simply re-listed while racy.
fn fresh(stat: &Stat, since: Option<i128>, ctx: &Ctx, hash: &mut dyn FnMut() -> Option<u64>) -> Known {
    let racy = since.and_then(|since| match stat.kind {
        FileKind::Dir => Some(Racy { since, hash: None }),
        FileKind::File if stat.size <= ctx.hash_limit => hash().map(|h| Racy { since, hash: Some(h) }),
        _ => None,
    });
    Known { fp: Fingerprint::from(stat), racy }
}

fn first_sight(join: Join, stat: &Stat, fs: FsParams, ctx: &Ctx, hash: &mut dyn FnMut() -> Option<u64>) -> Outcome {
    let scan = nanos(ctx.scan);
    let recent = |since: FileTime| nanos(stat.mtime) > nanos(since) - dur(fs.window);
    // An early start's baseline: what changed since the command started. It covers the paths added before the
    // first scan (a `--trigger` file, a module the command reported) as well as the walked ones.
    let since_start = || {
        ctx.started
            .filter(|t| stat.kind != FileKind::Dir && nanos(stat.mtime) >= nanos(*t))
            .map(|_| (ChangeKind::Modified, Reason::Started))
    };
    let change = match (join, ctx.prev_scan) {
        (Join::Baseline, _) | (Join::Unlisted, None) => since_start(),
        (Join::Listed, _) => Some((ChangeKind::Created, Reason::NewName)),
        (Join::Unlisted, Some(prev)) => recent(prev).then_some((ChangeKind::Created, Reason::Recent)),
    };
    let racy = change.is_some() || recent(ctx.scan);
    Outcome {
        change,
        relist: stat.kind == FileKind::Dir,
        ..Outcome::quiet(State::Present(fresh(stat, racy.then_some(scan), ctx, hash)))
    }
}

fn again(known: &Known, stat: &Stat, fs: FsParams, ctx: &Ctx, hash: &mut dyn FnMut() -> Option<u64>) -> Outcome {
    let scan = nanos(ctx.scan);
    let now = Fingerprint::from(stat);
    let mask = if fs.advisory { ctx.ignore | Fields::INODE | Fields::CTIME } else { ctx.ignore };
    let diff = known.fp.diff(&now, mask);
    let is_dir = stat.kind == FileKind::Dir;
    if !diff.is_empty() {
        let state = State::Present(fresh(stat, Some(scan), ctx, hash));
        // A directory's own fingerprint changes whenever a name in it does: that is a reason to re-list it,
        // not a change to report. Turning into a directory (or out of one) is.
        let change = (!is_dir || diff.contains(Fields::KIND)).then_some((ChangeKind::Modified, Reason::Fields(diff)));
        return Outcome { change, relist: is_dir, ..Outcome::quiet(state) };
    }
    let Some(racy) = known.racy else {
        return Outcome::quiet(State::Present(Known { fp: now, racy: None }));
    };
    let aged = scan - racy.since >= dur(fs.window);
    if is_dir {
        let racy = (!aged).then_some(racy);
        return Outcome { relist: true, ..Outcome::quiet(State::Present(Known { fp: now, racy })) };
    }
    let current = racy.hash.and_then(|_| hash());
    match (racy.hash, current) {
        (Some(before), Some(after)) if before != after => Outcome {
            change: Some((ChangeKind::Modified, Reason::Fields(Fields::CONTENT))),
            ..Outcome::quiet(State::Present(Known { fp: now, racy: Some(Racy { since: scan, hash: Some(after) }) }))
        },
        _ => Outcome::quiet(State::Present(Known { fp: now, racy: (!aged).then_some(racy) })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_nanos;

    const S: i128 = 1_000_000_000;
    const T0: i128 = 1_767_225_600 * S;

    fn ft(offset_ms: i128) -> FileTime {
        from_nanos(T0 + offset_ms * 1_000_000)
    }

    fn stat(mtime_ms: i128, size: u64, ino: u64) -> Stat {
        Stat { kind: FileKind::File, size, mtime: ft(mtime_ms), ctime: Some(ft(mtime_ms)), ino: Some(ino), dev: 1 }
    }

    fn ctx(scan_ms: i128, prev_ms: Option<i128>) -> Ctx {
        Ctx {
            scan: ft(scan_ms),
            prev_scan: prev_ms.map(ft),
            ignore: Fields::empty(),
            hash_limit: 1 << 20,
            started: None,
        }
    }

    const LOCAL: FsParams = FsParams { window: Duration::from_millis(100), advisory: false };
    const COARSE: FsParams = FsParams { window: Duration::from_secs(2), advisory: false };
    const REMOTE: FsParams = FsParams { window: Duration::from_secs(2), advisory: true };

    fn known(s: &Stat, racy: Option<(i128, u64)>) -> State {
        State::Present(Known {
            fp: Fingerprint::from(s),
            racy: racy.map(|(since_ms, h)| Racy { since: T0 + since_ms * 1_000_000, hash: Some(h) }),
        })
    }

    fn run(state: State, seen: Result<Stat, io::ErrorKind>, fs: FsParams, c: Ctx, content: u64) -> Outcome {
        observe(&state, seen.as_ref().map_err(|e| *e), fs, &c, &mut || Some(content))
    }

    fn kind(o: &Outcome) -> Option<ChangeKind> {
        o.change.map(|(k, _)| k)
    }

    #[test]
    fn fingerprint_changes_table() {
        use ChangeKind::Modified;
        let old = stat(-10_000, 10, 5);
        let cases: &[(&str, Stat, FsParams, Option<ChangeKind>)] = &[
            ("same", old, LOCAL, None),
            ("content edit: size and mtime", stat(0, 11, 5), LOCAL, Some(Modified)),
            ("mtime set backwards (cp -p)", stat(-3_600_000, 10, 5), LOCAL, Some(Modified)),
            ("mtime forwards only", stat(-5_000, 10, 5), LOCAL, Some(Modified)),
            ("atomic save: new inode, same mtime and size", stat(-10_000, 10, 6), LOCAL, Some(Modified)),
            ("inode churn on a FUSE mount is advisory", stat(-10_000, 10, 6), REMOTE, None),
            ("mtime on a FUSE mount still counts", stat(-9_000, 10, 6), REMOTE, Some(Modified)),
        ];
        for (name, new, fs, want) in cases {
            let o = run(known(&old, None), Ok(*new), *fs, ctx(0, Some(-500)), 1);
            assert_eq!(kind(&o), *want, "{name}");
        }
    }

    #[test]
    fn ctime_change_counts_unless_turned_off() {
        let old = stat(-10_000, 10, 5);
        let chmod = Stat { ctime: Some(ft(0)), ..old };
        let o = run(known(&old, None), Ok(chmod), LOCAL, ctx(0, Some(-500)), 1);
        assert_eq!(o.change, Some((ChangeKind::Modified, Reason::Fields(Fields::CTIME))));
        let off = Ctx { ignore: Fields::CTIME, ..ctx(0, Some(-500)) };
        assert_eq!(run(known(&old, None), Ok(chmod), LOCAL, off, 1).change, None);
    }

    #[test]
    fn racy_window_catches_a_same_tick_rewrite() {
        // Seen at t=0 with a whole-second mtime of 0; rewritten inside the same second, same size.
        let s = stat(0, 10, 5);
        let o = run(known(&s, Some((0, 111))), Ok(s), COARSE, ctx(500, Some(0)), 222);
        assert_eq!(o.change, Some((ChangeKind::Modified, Reason::Fields(Fields::CONTENT))));
        // Unchanged content: no change, hash kept while the window lasts.
        let o = run(known(&s, Some((0, 111))), Ok(s), COARSE, ctx(500, Some(0)), 111);
        assert_eq!(o.change, None);
        assert!(matches!(o.state, State::Present(Known { racy: Some(_), .. })));
        // After the window the last comparison still happens, then the hash is dropped.
        let o = run(known(&s, Some((0, 111))), Ok(s), COARSE, ctx(2_500, Some(2_000)), 333);
        assert_eq!(kind(&o), Some(ChangeKind::Modified));
        let o = run(known(&s, Some((0, 111))), Ok(s), COARSE, ctx(2_500, Some(2_000)), 111);
        assert_eq!(o.state, State::Present(Known { fp: Fingerprint::from(&s), racy: None }));
    }

    #[test]
    fn hashing_only_happens_inside_the_window() {
        let mut calls = 0;
        let old = stat(-60_000, 10, 5);
        let c = ctx(0, Some(-500));
        // An old file at first sight is not hashed.
        observe(&State::Unseen(Join::Baseline), Ok(&old), COARSE, &c, &mut || {
            calls += 1;
            Some(1)
        });
        // Nor is an old file with no racy record on later scans.
        observe(&known(&old, None), Ok(&old), COARSE, &c, &mut || {
            calls += 1;
            Some(1)
        });
        assert_eq!(calls, 0);
        // A large file is never hashed, even when fresh.
        let big = Stat { size: 2 << 20, ..stat(0, 0, 5) };
        observe(&State::Unseen(Join::Listed), Ok(&big), COARSE, &c, &mut || {
            calls += 1;
            Some(1)
        });
        assert_eq!(calls, 0);
    }

    #[test]
    fn first_sight_rules() {
        use ChangeKind::Created;
        let old = stat(-3_600_000, 10, 5);
        let fresh = stat(-200, 10, 5);
        let future = stat(3_600_000, 10, 5);
        let cases: &[(&str, Join, Stat, Option<ChangeKind>)] = &[
            ("baseline never fires", Join::Baseline, fresh, None),
            ("new name fires whatever its mtime (mv keeps it)", Join::Listed, old, Some(Created)),
            ("new name dated in the future fires", Join::Listed, future, Some(Created)),
            ("unlisted and old: not new", Join::Unlisted, old, None),
            ("unlisted and newer than the last loop", Join::Unlisted, fresh, Some(Created)),
            ("unlisted, future dated", Join::Unlisted, future, Some(Created)),
        ];
        for (name, join, s, want) in cases {
            let o = run(State::Unseen(*join), Ok(*s), LOCAL, ctx(0, Some(-500)), 1);
            assert_eq!(kind(&o), *want, "{name}");
        }
    }

    #[test]
    fn an_early_start_baseline_reports_what_changed_since_the_start_walked_or_added() {
        // The command started at -100 ms; the baseline scans at 0. A path added before the first scan (a
        // `--trigger` file, a reported module) is judged as the walked ones are.
        let started = Ctx { started: Some(ft(-100)), ..ctx(0, None) };
        let cases: &[(&str, Join, Stat, Option<ChangeKind>)] = &[
            ("walked, saved after the start", Join::Baseline, stat(-50, 10, 5), Some(ChangeKind::Modified)),
            ("walked, saved at the start", Join::Baseline, stat(-100, 10, 5), Some(ChangeKind::Modified)),
            ("walked, saved before the start", Join::Baseline, stat(-101, 10, 5), None),
            ("added, saved after the start", Join::Unlisted, stat(-50, 10, 5), Some(ChangeKind::Modified)),
            ("added, saved before the start", Join::Unlisted, stat(-200, 10, 5), None),
        ];
        for (name, join, s, want) in cases {
            let o = run(State::Unseen(*join), Ok(*s), LOCAL, started, 1);
            assert_eq!(kind(&o), *want, "{name}");
            assert!(o.change.is_none_or(|(_, r)| r == Reason::Started), "{name}: {:?}", o.change);
        }
        // A directory is never a change of its own.
        let mut dir = stat(-50, 10, 5);
        dir.kind = FileKind::Dir;
        assert_eq!(run(State::Unseen(Join::Unlisted), Ok(dir), LOCAL, started, 1).change, None);
    }

    #[test]
    fn new_file_rule_has_slack_for_coarse_clocks() {
        // The previous loop started at -500 ms; a coarse filesystem stamped the new file at -1000 ms (rounded
        // down to the second). Without slack it would be missed (Django 2.2.0's bug).
        let s = stat(-1_000, 10, 5);
        let o = run(State::Unseen(Join::Unlisted), Ok(s), COARSE, ctx(0, Some(-500)), 1);
        assert_eq!(kind(&o), Some(ChangeKind::Created));
        // No previous loop: nothing joins as new.
        let o = run(State::Unseen(Join::Unlisted), Ok(s), COARSE, ctx(0, None), 1);
        assert_eq!(o.change, None);
    }

    #[test]
    fn removal_is_confirmed_by_a_second_look() {
        let s = stat(-10_000, 10, 5);
        let o = run(known(&s, None), Err(io::ErrorKind::NotFound), LOCAL, ctx(0, None), 1);
        assert_eq!((o.change, o.state), (None, State::Vanishing(Known { fp: Fingerprint::from(&s), racy: None })));
        let o2 = run(o.state, Err(io::ErrorKind::NotFound), LOCAL, ctx(500, Some(0)), 1);
        assert_eq!((o2.change, o2.state), (Some((ChangeKind::Removed, Reason::Vanished)), State::Gone));
        // Back with another inode (delete and recreate, or rename over): one modification.
        let o3 = run(o.state, Ok(stat(400, 10, 9)), LOCAL, ctx(500, Some(0)), 1);
        assert_eq!(kind(&o3), Some(ChangeKind::Modified));
        // Back unchanged (a listing glitch): nothing.
        let o4 = run(o.state, Ok(s), LOCAL, ctx(500, Some(0)), 1);
        assert_eq!(o4.change, None);
    }

    #[test]
    fn errors_keep_the_last_known_state() {
        let s = stat(-10_000, 10, 5);
        for e in [io::ErrorKind::PermissionDenied, io::ErrorKind::Other] {
            let o = run(known(&s, None), Err(e), LOCAL, ctx(0, None), 1);
            assert_eq!((o.state, o.change, o.error), (known(&s, None), None, Some(e)));
        }
    }

    #[test]
    fn absent_path_appearing_fires_whatever_its_mtime() {
        let o = run(State::Absent, Ok(stat(-3_600_000, 1, 1)), LOCAL, ctx(0, Some(-500)), 1);
        assert_eq!(o.change, Some((ChangeKind::Created, Reason::Appeared)));
        let o = run(State::Absent, Err(io::ErrorKind::NotFound), LOCAL, ctx(0, Some(-500)), 1);
        assert_eq!((o.state, o.change), (State::Absent, None));
    }

    #[test]
    fn future_dated_files_are_flagged_and_compared_by_inequality() {
        let future = stat(3_600_000, 10, 5);
        let o = run(State::Unseen(Join::Baseline), Ok(future), LOCAL, ctx(0, None), 1);
        assert_eq!(o.ahead, Some(3_600_000 * 1_000_000));
        // Edited back to now: the mtime went backwards, which is a change.
        let o = run(known(&future, None), Ok(stat(0, 10, 5)), LOCAL, ctx(0, Some(-500)), 1);
        assert_eq!(kind(&o), Some(ChangeKind::Modified));
    }

    #[test]
    fn directories_are_relisted_not_reported() {
        let d = Stat { kind: FileKind::Dir, ..stat(-10_000, 4096, 3) };
        let touched = Stat { mtime: ft(0), ..d };
        let o = run(known(&d, None), Ok(touched), LOCAL, ctx(0, Some(-500)), 1);
        assert_eq!((o.change, o.relist), (None, true));
        // While racy, re-listed on every scan; after the window, once more and then no longer.
        let o2 = run(o.state, Ok(touched), LOCAL, ctx(50, Some(0)), 1);
        assert!(o2.relist);
        let o3 = run(o2.state, Ok(touched), LOCAL, ctx(500, Some(50)), 1);
        assert!(o3.relist);
        let o4 = run(o3.state, Ok(touched), LOCAL, ctx(1_000, Some(500)), 1);
        assert!(!o4.relist);
        // A file turning into a directory is a change.
        let o = run(known(&stat(-10_000, 10, 3), None), Ok(touched), LOCAL, ctx(0, Some(-500)), 1);
        assert_eq!(kind(&o), Some(ChangeKind::Modified));
    }
}
