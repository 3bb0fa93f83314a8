//! A node's [`State`] as stored in the tree: the same information as [`compare::State`](crate::compare::State) in
//! 64 bytes instead of 128, because a million tracked files must fit in little memory. Converted to and from
//! `State` around each observation; the conversion is exact for any time between the years 1678 and 2262.

use filetime::FileTime;

use crate::compare::{Join, Known, Racy, State};
use crate::fingerprint::FileKind;
use crate::fingerprint::Fingerprint;

const HAS_CTIME: u8 = 1;
const HAS_INO: u8 = 1 << 1;
const RACY: u8 = 1 << 2;
const HAS_HASH: u8 = 1 << 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Unseen,
    Absent,
    Present,
    Vanishing,
    Gone,
}

/// A compact [`State`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    mtime_s: i64,
    ctime_s: i64,
    size: u64,
    ino: u64,
    racy_since: i64,
    racy_hash: u64,
    mtime_ns: u32,
    ctime_ns: u32,
    kind: FileKind,
    tag: Tag,
    join: Join,
    flags: u8,
}

impl From<State> for Stored {
    fn from(state: State) -> Stored {
        let mut s = Stored {
            mtime_s: 0,
            ctime_s: 0,
            size: 0,
            ino: 0,
            racy_since: 0,
            racy_hash: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            kind: FileKind::Other,
            tag: Tag::Gone,
            join: Join::Baseline,
            flags: 0,
        };
        let known = match state {
            State::Unseen(join) => {
                s.tag = Tag::Unseen;
                s.join = join;
                return s;
            }
            State::Absent => {
                s.tag = Tag::Absent;
                return s;
            }
            State::Gone => return s,
            State::Present(k) => {
                s.tag = Tag::Present;
                k
            }
            State::Vanishing(k) => {
                s.tag = Tag::Vanishing;
                k
            }
        };
        let fp = known.fp;
        s.kind = fp.kind;
        s.size = fp.size;
        (s.mtime_s, s.mtime_ns) = (fp.mtime.unix_seconds(), fp.mtime.nanoseconds());
        if let Some(c) = fp.ctime {
            (s.ctime_s, s.ctime_ns) = (c.unix_seconds(), c.nanoseconds());
            s.flags |= HAS_CTIME;
        }
        if let Some(ino) = fp.ino {
            s.ino = ino;
            s.flags |= HAS_INO;
        }
        if let Some(r) = known.racy {
            s.racy_since = i64::try_from(r.since).unwrap_or(if r.since < 0 { i64::MIN } else { i64::MAX });
            s.flags |= RACY;
            if let Some(h) = r.hash {
                s.racy_hash = h;
                s.flags |= HAS_HASH;
            }
        }
        s
    }
}

impl From<Stored> for State {
    fn from(s: Stored) -> State {
        let known = || Known {
            fp: Fingerprint {
                kind: s.kind,
                mtime: FileTime::from_unix_time(s.mtime_s, s.mtime_ns),
                size: s.size,
                ino: (s.flags & HAS_INO != 0).then_some(s.ino),
                ctime: (s.flags & HAS_CTIME != 0).then(|| FileTime::from_unix_time(s.ctime_s, s.ctime_ns)),
            },
            racy: (s.flags & RACY != 0).then(|| Racy {
                since: i128::from(s.racy_since),
                hash: (s.flags & HAS_HASH != 0).then_some(s.racy_hash),
            }),
        };
        match s.tag {
            Tag::Unseen => State::Unseen(s.join),
            Tag::Absent => State::Absent,
            Tag::Gone => State::Gone,
            Tag::Present => State::Present(known()),
            Tag::Vanishing => State::Vanishing(known()),
        }
    }
}

impl Stored {
    /// Present, not inside its racy window, and `stat` reports exactly the fingerprint on record: the rules have
    /// nothing to say (see [`crate::compare::observe`]), and the sweep can skip them. This is what nearly every
    /// file of a sweep looks like, so it compares fields in place instead of converting to a [`State`].
    #[inline]
    pub(crate) fn unchanged(&self, stat: &crate::fingerprint::Stat) -> bool {
        let ino = match stat.ino {
            Some(ino) => self.flags & HAS_INO != 0 && self.ino == ino,
            None => self.flags & HAS_INO == 0,
        };
        let ctime = match stat.ctime {
            Some(c) => {
                self.flags & HAS_CTIME != 0 && self.ctime_s == c.unix_seconds() && self.ctime_ns == c.nanoseconds()
            }
            None => self.flags & HAS_CTIME == 0,
        };
        self.tag == Tag::Present
            && self.flags & RACY == 0
            && self.kind == stat.kind
            && self.size == stat.size
            && self.mtime_s == stat.mtime.unix_seconds()
            && self.mtime_ns == stat.mtime.nanoseconds()
            && ino
            && ctime
    }

    /// Joined and not looked at yet.
    pub(crate) fn is_unseen(&self) -> bool {
        self.tag == Tag::Unseen
    }

    /// A regular file that exists (or was last seen existing).
    pub(crate) fn is_file(&self) -> bool {
        matches!(self.tag, Tag::Present | Tag::Vanishing) && self.kind == FileKind::File
    }

    /// Exists, as last seen.
    pub(crate) fn is_present(&self) -> bool {
        self.tag == Tag::Present
    }

    /// Was missing once, not yet confirmed removed.
    pub(crate) fn is_vanishing(&self) -> bool {
        self.tag == Tag::Vanishing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips() {
        let fp = Fingerprint {
            kind: FileKind::File,
            mtime: FileTime::from_unix_time(1_767_225_600, 123_456_789),
            size: 42,
            ino: Some(7),
            ctime: Some(FileTime::from_unix_time(-5, 1)),
        };
        let racy = Some(Racy { since: 1_767_225_600_250_000_000, hash: Some(99) });
        let states = [
            State::Unseen(Join::Listed),
            State::Unseen(Join::Unlisted),
            State::Absent,
            State::Gone,
            State::Present(Known { fp, racy: None }),
            State::Present(Known { fp, racy }),
            State::Present(Known { fp, racy: Some(Racy { since: 5, hash: None }) }),
            State::Vanishing(Known { fp: Fingerprint { ino: None, ctime: None, kind: FileKind::Dir, ..fp }, racy }),
        ];
        for state in states {
            assert_eq!(State::from(Stored::from(state)), state);
        }
        assert_eq!(std::mem::size_of::<Stored>(), 64);
    }

    #[test]
    fn unchanged_means_present_not_racy_and_every_field_equal() {
        use crate::fingerprint::Stat;
        let stat = Stat {
            kind: FileKind::File,
            size: 42,
            mtime: FileTime::from_unix_time(1_767_225_600, 123_456_789),
            ctime: Some(FileTime::from_unix_time(1_767_225_601, 5)),
            ino: Some(7),
            dev: 1,
        };
        let known = Known { fp: Fingerprint::from(&stat), racy: None };
        let present = Stored::from(State::Present(known));
        assert!(present.unchanged(&stat));
        assert!(present.unchanged(&Stat { dev: 2, ..stat }), "the device is not part of the fingerprint");
        let others = [
            Stat { kind: FileKind::Dir, ..stat },
            Stat { size: 43, ..stat },
            Stat { mtime: FileTime::from_unix_time(1_767_225_600, 123_456_788), ..stat },
            Stat { mtime: FileTime::from_unix_time(1_767_225_599, 123_456_789), ..stat },
            Stat { ctime: Some(FileTime::from_unix_time(1_767_225_601, 6)), ..stat },
            Stat { ctime: None, ..stat },
            Stat { ino: Some(8), ..stat },
            Stat { ino: None, ..stat },
        ];
        for other in others {
            assert!(!present.unchanged(&other), "{other:?}");
        }
        let racy = Known { racy: Some(Racy { since: 0, hash: Some(1) }), ..known };
        for state in [State::Present(racy), State::Vanishing(known), State::Unseen(Join::Baseline), State::Absent] {
            assert!(!Stored::from(state).unchanged(&stat), "{state:?}");
        }
    }
}
