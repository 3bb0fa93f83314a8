//! A reference model of the change-detection rules of DESIGN.md section 2, checked against
//! `stator::compare::observe` on a script of steps decoded from bytes.
//!
//! Shared by the property tests (`tests/it/properties.rs`: proptest feeds it random bytes) and the fuzz target
//! `fuzz/fuzz_targets/compare_model.rs` (libFuzzer does), so both explore the same property. The fuzz target
//! includes this file by its path, so it stays self-contained: it uses `stator` and `filetime`, nothing of the
//! test crate. Pure: no disk, no clock; time is a number that the script advances.
//!
//! One path is followed through its life. Each step may advance the clock, change the "world" (the file's
//! mtime, size, inode, ctime, kind, content, existence) and then observes it once, or fails to (an error).
//! The model is written from the rules, not from the code:
//!
//! - a fingerprint difference (kind, mtime, size; identity and ctime unless the filesystem is advisory or ctime
//!   is ignored) on a file is a modification naming exactly the fields that differ; on a directory it is a
//!   re-listing;
//! - a fingerprint first seen (or changed) is "racy" from that scan on: a file's content hash is kept, and
//!   compared on every later scan until one happens a whole window after it (that scan still compares);
//! - a removal is reported only on the second scan in a row that finds nothing; other errors keep the last
//!   known state;
//! - first sight: a baseline never fires, a new name always does, an unlisted path only when its mtime is
//!   newer than the previous scan minus the window; a watched path appearing always does.

use std::io;
use std::time::Duration;

use filetime::FileTime;
use stator::change::{ChangeKind, Reason};
use stator::compare::{self, Ctx, FsParams, Join, Known, Racy, State};
use stator::fingerprint::{Fields, Fingerprint};
use stator::fingerprint::{FileKind, Stat};
use stator::time::{from_nanos, nanos};

const S: i128 = 1_000_000_000;
const MS: i128 = 1_000_000;
/// 2026-01-01T00:00:00.25Z: the clock at the first step.
const T0: i128 = 1_767_225_600 * S + 250 * MS;

/// Reads the script; past the end of the data every read is 0, so any byte string is a script.
pub(crate) struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 past the end).
    pub(crate) fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// The next two bytes, little-endian.
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
}

/// The path as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Unseen(Join),
    Absent,
    Gone,
    Present(Rec),
    Vanishing(Rec),
}

/// What the model remembers about an existing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rec {
    fp: Fingerprint,
    /// The racy record: the scan at which the fingerprint was first seen, and the content then (files only).
    racy: Option<(i128, Option<u64>)>,
}

/// What is really on "disk".
#[derive(Debug, Clone, Copy)]
struct World {
    exists: bool,
    stat: Stat,
    content: u64,
}

/// The per-sequence parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// The filesystem parameters (racy window, advisory identity).
    pub(crate) fs: FsParams,
    /// Fields never compared.
    pub(crate) ignore: Fields,
    /// Files larger than this are never hashed.
    pub(crate) hash_limit: u64,
}

fn decode_params(b: &mut Bytes<'_>) -> Params {
    let flags = b.u8();
    let window = match b.u8() % 6 {
        0 => Duration::from_nanos(1),
        1 => Duration::from_millis(100) + Duration::from_nanos(1),
        2 => Duration::from_secs(2),
        3 => Duration::from_secs(3),
        4 => Duration::ZERO,
        _ => Duration::from_millis(u64::from(b.u16())),
    };
    let hash_limit = match b.u8() % 4 {
        0 => 0,
        1 => 4,
        2 => 1 << 20,
        _ => u64::MAX,
    };
    Params {
        fs: FsParams { window, advisory: flags & 1 != 0 },
        ignore: if flags & 2 != 0 { Fields::CTIME } else { Fields::empty() },
        hash_limit,
    }
}

fn mask(p: &Params) -> Fields {
    if p.fs.advisory { p.ignore | Fields::INODE | Fields::CTIME } else { p.ignore }
}

fn window(p: &Params) -> i128 {
    p.fs.window.as_nanos() as i128
}

fn ft(n: i128) -> FileTime {
    from_nanos(n)
}

/// A fresh racy record for `stat` seen at `scan`, as the rules say: directories are re-listed while racy;
/// files keep their content hash, if they are small enough and it could be read.
fn racy_record(stat: &Stat, scan: i128, p: &Params, content: Option<u64>) -> Option<(i128, Option<u64>)> {
    match stat.kind {
        FileKind::Dir => Some((scan, None)),
        FileKind::File if stat.size <= p.hash_limit => content.map(|c| (scan, Some(c))),
        _ => None,
    }
}

/// What the model expects of one observation.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    change: Option<(ChangeKind, Reason)>,
    relist: bool,
    error: Option<io::ErrorKind>,
    ahead: Option<i128>,
}

struct Step<'a> {
    params: &'a Params,
    scan: i128,
    prev_scan: Option<i128>,
    /// The file's content, if reading it would succeed now.
    content: Option<u64>,
}

fn model_step(m: &Model, seen: Result<&Stat, io::ErrorKind>, s: &Step<'_>) -> (Model, Expected) {
    let quiet = Expected { change: None, relist: false, error: None, ahead: None };
    let stat = match seen {
        Err(io::ErrorKind::NotFound) => {
            return match m {
                Model::Present(r) => (Model::Vanishing(*r), quiet),
                Model::Vanishing(_) => {
                    (Model::Gone, Expected { change: Some((ChangeKind::Removed, Reason::Vanished)), ..quiet })
                }
                Model::Absent => (Model::Absent, quiet),
                Model::Unseen(_) | Model::Gone => (Model::Gone, quiet),
            };
        }
        Err(kind) => {
            let kept = if *m == Model::Gone { Model::Absent } else { *m };
            return (kept, Expected { error: Some(kind), ..quiet });
        }
        Ok(stat) => stat,
    };
    let p = s.params;
    let w = window(p);
    let mtime = nanos(stat.mtime);
    let ahead = (mtime - s.scan > w).then_some(mtime - s.scan);
    let is_dir = stat.kind == FileKind::Dir;
    let fp = Fingerprint::from(stat);
    let (next, change, relist) = match m {
        Model::Unseen(join) => {
            let change = match join {
                Join::Baseline => None,
                Join::Listed => Some((ChangeKind::Created, Reason::NewName)),
                Join::Unlisted => match s.prev_scan {
                    Some(prev) if mtime > prev - w => Some((ChangeKind::Created, Reason::Recent)),
                    _ => None,
                },
            };
            let racy =
                if change.is_some() || mtime > s.scan - w { racy_record(stat, s.scan, p, s.content) } else { None };
            (Model::Present(Rec { fp, racy }), change, is_dir)
        }
        Model::Absent | Model::Gone => (
            Model::Present(Rec { fp, racy: racy_record(stat, s.scan, p, s.content) }),
            Some((ChangeKind::Created, Reason::Appeared)),
            is_dir,
        ),
        Model::Present(r) | Model::Vanishing(r) => {
            let d = r.fp.diff(&fp, mask(p));
            if !d.is_empty() {
                let change = (!is_dir || d.contains(Fields::KIND)).then_some((ChangeKind::Modified, Reason::Fields(d)));
                (Model::Present(Rec { fp, racy: racy_record(stat, s.scan, p, s.content) }), change, is_dir)
            } else {
                match r.racy {
                    None => (Model::Present(Rec { fp, racy: None }), None, false),
                    Some((since, before)) => {
                        let aged = s.scan - since >= w;
                        let kept = if aged { None } else { r.racy };
                        if is_dir {
                            (Model::Present(Rec { fp, racy: kept }), None, true)
                        } else {
                            match (before, s.content) {
                                (Some(b), Some(now)) if b != now => (
                                    Model::Present(Rec { fp, racy: Some((s.scan, Some(now))) }),
                                    Some((ChangeKind::Modified, Reason::Fields(Fields::CONTENT))),
                                    false,
                                ),
                                _ => (Model::Present(Rec { fp, racy: kept }), None, false),
                            }
                        }
                    }
                }
            }
        }
    };
    (next, Expected { change, relist, error: None, ahead })
}

fn as_state(m: &Model) -> State {
    let known = |r: &Rec| Known { fp: r.fp, racy: r.racy.map(|(since, hash)| Racy { since, hash }) };
    match m {
        Model::Unseen(j) => State::Unseen(*j),
        Model::Absent => State::Absent,
        Model::Gone => State::Gone,
        Model::Present(r) => State::Present(known(r)),
        Model::Vanishing(r) => State::Vanishing(known(r)),
    }
}

/// Applies one step's changes to the world. Returns the observation outcome selector.
fn mutate(world: &mut World, b: &mut Bytes<'_>, scan: i128, serial: &mut u64) -> u8 {
    let ops = b.u8();
    let arg = b.u8();
    let obs = b.u8();
    let st = &mut world.stat;
    if ops & 1 != 0 {
        world.content = world.content.wrapping_add(1 + u64::from(arg % 3));
    }
    if ops & 2 != 0 {
        st.size = u64::from(arg % 8);
    }
    if ops & 4 != 0 {
        *serial += 1;
        st.ino = Some(1000 + *serial);
    }
    if ops & 8 != 0 {
        st.ctime = if arg.is_multiple_of(5) { None } else { Some(ft(scan - i128::from(arg) * MS)) };
    }
    match (ops >> 4) & 3 {
        0 => {}
        1 => st.mtime = ft(scan - i128::from(arg) * 10 * MS),
        2 => st.mtime = ft(scan + (i128::from(arg) - 128) * 3600 * S),
        _ => st.mtime = ft(nanos(st.mtime) + if arg & 1 == 0 { 1 } else { -1 }),
    }
    if ops & 64 != 0 && arg & 0xf0 == 0xf0 {
        st.kind = if st.kind == FileKind::Dir { FileKind::File } else { FileKind::Dir };
    }
    if ops & 128 != 0 && arg & 0x0c == 0x0c {
        world.exists = !world.exists;
        if world.exists {
            // A new file at the same name: new identity.
            *serial += 1;
            st.ino = Some(1000 + *serial);
            st.mtime = ft(scan - i128::from(arg) * MS);
        }
    }
    obs
}

/// Runs the script in `data` through `compare::observe` and the model side by side; panics on any difference.
/// Returns how many steps were checked.
pub(crate) fn check(data: &[u8]) -> usize {
    let mut b = Bytes::new(data);
    let params = decode_params(&mut b);
    let start = b.u8();
    let mut model = match start % 4 {
        0 => Model::Unseen(Join::Baseline),
        1 => Model::Unseen(Join::Listed),
        2 => Model::Unseen(Join::Unlisted),
        _ => Model::Absent,
    };
    let mut state = as_state(&model);
    let initial_mtime = match (start >> 2) % 4 {
        0 => T0 - 3600 * S,
        1 => T0 - 500 * MS,
        2 => T0 + 3600 * S,
        _ => T0,
    };
    let mut world = World {
        exists: start & 0x10 == 0,
        stat: Stat {
            kind: FileKind::File,
            size: 3,
            mtime: ft(initial_mtime),
            ctime: Some(ft(initial_mtime)),
            ino: Some(7),
            dev: 1,
        },
        content: 1,
    };
    let mut serial = 0;
    let mut scan = T0;
    let mut prev_scan: Option<i128> = None;
    let mut steps = 0;
    while !b.is_empty() && steps < 1000 {
        let advance = match b.u8() {
            0 => 0,
            1 => 1,
            x => i128::from(x) * 20 * MS,
        };
        scan += advance;
        let obs = mutate(&mut world, &mut b, scan, &mut serial);
        let seen: Result<Stat, io::ErrorKind> = match obs {
            200..=219 => Err(io::ErrorKind::PermissionDenied),
            220..=229 => Err(io::ErrorKind::Other),
            _ if !world.exists => Err(io::ErrorKind::NotFound),
            _ => Ok(world.stat),
        };
        let readable = obs < 230;
        let content = (readable && world.exists && world.stat.kind == FileKind::File).then_some(world.content);
        let ctx = Ctx {
            scan: ft(scan),
            prev_scan: prev_scan.map(ft),
            ignore: params.ignore,
            hash_limit: params.hash_limit,
            started: None,
        };
        let mut calls = 0;
        let out = compare::observe(&state, seen.as_ref().map_err(|e| *e), params.fs, &ctx, &mut || {
            calls += 1;
            content
        });
        let step = Step { params: &params, scan, prev_scan, content };
        let (next, want) = model_step(&model, seen.as_ref().map_err(|e| *e), &step);
        let got = Expected { change: out.change, relist: out.relist, error: out.error, ahead: out.ahead };
        let ctxt = || format!("step {steps}: params {params:?}\nbefore {model:?}\nseen {seen:?}\n");

        // The property the design is built on, stated without the model: a difference in mtime, size or kind
        // (and identity, where identity is trusted) is always a change (a re-listing, for a directory).
        if let (Model::Present(r) | Model::Vanishing(r), Ok(now)) = (&model, &seen) {
            let mut d = Fields::empty();
            d.set(Fields::KIND, r.fp.kind != now.kind);
            d.set(Fields::MTIME, r.fp.mtime != now.mtime);
            d.set(Fields::SIZE, r.fp.size != now.size);
            d.set(Fields::INODE, !params.fs.advisory && r.fp.ino != now.ino);
            if !d.is_empty() {
                if now.kind == FileKind::File || d.contains(Fields::KIND) {
                    assert!(
                        matches!(out.change, Some((ChangeKind::Modified, Reason::Fields(f))) if f.contains(d)),
                        "{}a {d} difference must be reported, got {:?}",
                        ctxt(),
                        out.change
                    );
                } else {
                    assert!(out.relist, "{}a directory whose {d} changed must be re-listed", ctxt());
                }
            }
        }
        assert!(calls <= 1, "{}the content is hashed at most once per observation, was {calls} times", ctxt());
        assert_eq!(got, want, "{}", ctxt());
        assert_eq!(out.state, as_state(&next), "{}", ctxt());
        model = next;
        state = out.state;
        prev_scan = Some(scan);
        steps += 1;
    }
    steps
}
