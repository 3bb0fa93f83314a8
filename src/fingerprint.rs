//! What one file looks like at one moment, which parts of that differ between two moments, and what timestamp
//! granularity a filesystem has (learned from the timestamps it shows).
//!
//! [`Stat`] is what one `stat` shows; the [`Vfs`](crate::vfs::Vfs) seam produces it, and everything here only reads it.

use std::fmt;
use std::time::Duration;

use bitflags::bitflags;
use filetime::FileTime;

use crate::time::nanos;

/// What kind of object a path names, after following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only ever reported by [`Vfs::read_dir`](crate::vfs::Vfs::read_dir): [`Vfs::stat`](crate::vfs::Vfs::stat) follows links).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// The result of one `stat`: the fields stator fingerprints, and the device for per-filesystem bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// File, directory or other.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, at the full precision the filesystem reports.
    pub mtime: FileTime,
    /// Last status change, where the platform has one (Unix); `None` elsewhere.
    pub ctime: Option<FileTime>,
    /// File identity (inode number) where the platform has one.
    pub ino: Option<u64>,
    /// Device the file lives on: groups files by filesystem. Never part of a fingerprint, because it is not
    /// stable across network remounts.
    pub dev: u64,
}

bitflags! {
    /// Which parts of a fingerprint differ, or that the content did (the racy-window hash).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Fields: u8 {
        /// File became directory or the reverse.
        const KIND = 1;
        /// Modification time (in either direction).
        const MTIME = 1 << 1;
        /// Size.
        const SIZE = 1 << 2;
        /// Identity: the path now names another inode (atomic save, `mv` over it).
        const INODE = 1 << 3;
        /// Status change time (chmod, chown, rename, link count).
        const CTIME = 1 << 4;
        /// Same fingerprint, different content hash: a second write inside one timestamp tick.
        const CONTENT = 1 << 5;
    }
}

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Fields::KIND, "type"),
            (Fields::MTIME, "mtime"),
            (Fields::SIZE, "size"),
            (Fields::INODE, "inode"),
            (Fields::CTIME, "ctime"),
            (Fields::CONTENT, "content"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// The parts of a `stat` that say whether a file changed. Never atime; never the device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// File or directory (or other).
    pub kind: FileKind,
    /// Modification time at full precision.
    pub mtime: FileTime,
    /// Size in bytes.
    pub size: u64,
    /// Inode number, where the platform has one.
    pub ino: Option<u64>,
    /// Status change time, where the platform has one.
    pub ctime: Option<FileTime>,
}

impl From<&Stat> for Fingerprint {
    fn from(s: &Stat) -> Fingerprint {
        Fingerprint { kind: s.kind, mtime: s.mtime, size: s.size, ino: s.ino, ctime: s.ctime }
    }
}

impl Fingerprint {
    /// The fields that differ between `self` (before) and `now`, compared with `!=` (an mtime moved backwards is
    /// a change). `ignore` masks fields that must not count (advisory identity and ctime on network mounts, or
    /// ctime when the user turned it off).
    pub fn diff(&self, now: &Fingerprint, ignore: Fields) -> Fields {
        let mut d = Fields::empty();
        d.set(Fields::KIND, self.kind != now.kind);
        d.set(Fields::MTIME, self.mtime != now.mtime);
        d.set(Fields::SIZE, self.size != now.size);
        d.set(Fields::INODE, self.ino != now.ino);
        d.set(Fields::CTIME, self.ctime != now.ctime);
        d - ignore
    }
}

/// The steps a timestamp can be a multiple of, coarsest first.
const STEPS: [u64; 11] =
    [2_000_000_000, 1_000_000_000, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/// How many timestamps must be seen on a filesystem before a fine granularity is believed.
pub const MIN_SAMPLES: u32 = 8;

/// The coarsest granularity assumed until enough samples are in (FAT).
pub const COARSE: Duration = Duration::from_secs(2);

/// The coarsest step `t` is a multiple of: 2 s for an even second, 1 s for a whole second, 10 ms for
/// 12:00:01.230, and so on down to 1 ns.
pub fn step_of(t: FileTime) -> Duration {
    let n = nanos(t);
    let step = STEPS.iter().copied().find(|s| n.rem_euclid(i128::from(*s)) == 0).unwrap_or(1);
    Duration::from_nanos(step)
}

/// Learns a filesystem's timestamp granularity from the timestamps seen on it: the finest step any sample
/// shows. One sample of 12:00:01.000 on a nanosecond filesystem is bad luck, so the estimate stays at
/// [`COARSE`] until [`MIN_SAMPLES`] are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granularity {
    samples: u32,
    finest: Duration,
    last: Option<FileTime>,
}

impl Default for Granularity {
    fn default() -> Self {
        Granularity { samples: 0, finest: COARSE, last: None }
    }
}

impl Granularity {
    /// Adds one observed modification time. Ten files written in the same tick say no more than one, so a
    /// timestamp equal to the previous one is not counted again.
    pub fn observe(&mut self, mtime: FileTime) {
        if self.last == Some(mtime) {
            return;
        }
        self.last = Some(mtime);
        self.samples = self.samples.saturating_add(1);
        self.finest = self.finest.min(step_of(mtime));
    }

    /// Adds what another learner saw (the parallel sweep learns per thread, then merges).
    pub fn merge(&mut self, other: &Granularity) {
        self.samples = self.samples.saturating_add(other.samples);
        self.finest = self.finest.min(other.finest);
        self.last = other.last.or(self.last);
    }

    /// How many samples were seen.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// The current estimate: the finest step seen once enough samples are in, [`COARSE`] before.
    pub fn estimate(&self) -> Duration {
        if self.samples < MIN_SAMPLES { COARSE.max(self.finest) } else { self.finest }
    }
}

/// The racy window for a filesystem with timestamp granularity `g`: the time after a change is first seen during
/// which a second write could still carry the same timestamp, plus a safety margin. At least 2 s on coarse or
/// network filesystems (their clocks and caches are less predictable); `g` plus 100 ms elsewhere (kernel clock
/// ticks of a few milliseconds hide under the margin).
pub fn racy_window(g: Duration, remote: bool) -> Duration {
    if remote || g >= Duration::from_secs(1) {
        (g + Duration::from_secs(1)).max(Duration::from_secs(2))
    } else {
        g + Duration::from_millis(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ft(secs: i64, ns: u32) -> FileTime {
        FileTime::from_unix_time(secs, ns)
    }

    #[test]
    fn step_of_finds_the_coarsest_step() {
        let cases = [
            (ft(10, 0), 2_000_000_000),
            (ft(11, 0), 1_000_000_000),
            (ft(11, 500_000_000), 100_000_000),
            (ft(11, 230_000_000), 10_000_000),
            (ft(11, 1_000_000), 1_000_000),
            (ft(11, 3_700), 100),
            (ft(11, 123_456_789), 1),
        ];
        for (t, want) in cases {
            assert_eq!(step_of(t), Duration::from_nanos(want), "{t:?}");
        }
    }

    #[test]
    fn granularity_is_coarse_until_enough_samples() {
        let mut g = Granularity::default();
        g.observe(ft(11, 123_456_789));
        assert_eq!(g.estimate(), COARSE);
        for i in 0..MIN_SAMPLES {
            g.observe(ft(100 + i64::from(i), 987_654_321));
        }
        assert_eq!(g.estimate(), Duration::from_nanos(1));
    }

    #[test]
    fn identical_timestamps_count_once() {
        let mut g = Granularity::default();
        for _ in 0..20 {
            g.observe(ft(11, 123_456_789));
        }
        assert_eq!(g.samples(), 1);
        assert_eq!(g.estimate(), COARSE);
    }

    #[test]
    fn granularity_learns_one_second_and_two_seconds() {
        let mut hfs = Granularity::default();
        let mut fat = Granularity::default();
        for i in 0..20 {
            hfs.observe(ft(1000 + i, 0));
            fat.observe(ft(1000 + 2 * i, 0));
        }
        assert_eq!(hfs.estimate(), Duration::from_secs(1));
        assert_eq!(fat.estimate(), Duration::from_secs(2));
    }

    #[test]
    fn diff_uses_inequality_and_respects_the_mask() {
        let a = Fingerprint { kind: FileKind::File, mtime: ft(100, 0), size: 3, ino: Some(7), ctime: Some(ft(100, 0)) };
        let older = Fingerprint { mtime: ft(50, 0), ..a };
        assert_eq!(a.diff(&older, Fields::empty()), Fields::MTIME);
        let moved = Fingerprint { ino: Some(8), ctime: Some(ft(101, 0)), ..a };
        assert_eq!(a.diff(&moved, Fields::empty()), Fields::INODE | Fields::CTIME);
        assert_eq!(a.diff(&moved, Fields::INODE | Fields::CTIME), Fields::empty());
        assert_eq!(a.diff(&a, Fields::empty()), Fields::empty());
    }

    #[test]
    fn racy_window_is_wide_on_coarse_and_remote_filesystems() {
        assert_eq!(racy_window(Duration::from_secs(1), false), Duration::from_secs(2));
        assert_eq!(racy_window(Duration::from_secs(2), false), Duration::from_secs(3));
        assert_eq!(racy_window(Duration::from_nanos(1), true), Duration::from_secs(2));
        assert_eq!(racy_window(Duration::from_nanos(1), false), Duration::from_millis(100) + Duration::from_nanos(1));
    }

    #[test]
    fn fields_display_lists_names() {
        assert_eq!((Fields::MTIME | Fields::SIZE).to_string(), "mtime, size");
    }
}
