//! The torture's knobs: what the environment asks for (`STATOR_TORTURE_*`, see the module doc of `torture`), and
//! what a filesystem does differently ([`Quirks`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::FIXED_SEED;
use super::rng::splitmix;

#[derive(Debug, Clone)]
pub(super) struct Knobs {
    pub(super) ops: usize,
    pub(super) seeds: Vec<u64>,
    /// Where the fresh test directory is made (the system temp dir when `None`).
    pub(super) base: Option<PathBuf>,
    /// Where the run happens, for the report: "the local temp dir", or the base directory (with the name of the
    /// filesystem on a mount of the test matrix).
    pub(super) label: String,
    pub(super) skip: BTreeSet<String>,
    pub(super) settle_limit: Duration,
    pub(super) quirks: Quirks,
    /// Leave the test directory behind (fusefat: fewer unlinks, fewer chances to hang it; the image goes with the
    /// mount).
    pub(super) keep: bool,
    /// Print every operation before it is made (`STATOR_TORTURE_TRACE=1`), to find the one a filesystem hung on.
    pub(super) trace: bool,
    /// How to replay a failing seed: the environment to set besides the seed and the count, and the test's name.
    pub(super) replay: (String, &'static str),
}

/// What a filesystem does differently, where the operation has to be made another way to mean the same thing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quirks {
    /// A write does not update the mtime (fusefat: a rewrite, in place or truncate-and-write, leaves the mtime as
    /// it was, even seconds later; measured with `stat` before and after). A same-size rewrite is then visible to
    /// no `stat` poller once the file's racy window is over, so a rewrite the engine is not promised to see (a
    /// plain one, or a racy one made too late) adds one byte: an in-place write that changes the size.
    pub(super) unstamped_writes: bool,
    /// `ftruncate` fails (smbnetfs answers EIO; `truncate` by path and open-with-`O_TRUNC` work): a truncation is
    /// made by rewriting the file's first bytes with `O_TRUNC`, still in place, on the same inode.
    pub(super) no_ftruncate: bool,
    /// A rewrite must not truncate the file first: it writes the new bytes over the old ones from the start
    /// (the new content is never shorter). fusefat corrupts its allocation table when files emptied by
    /// `O_TRUNC` and written again are mixed with unlinks, then spins at 100% CPU in a later unlink, the callers
    /// hung in the kernel (measured: rewriting with `O_TRUNC` and unlinking random files among 60 hung it within
    /// 58 operations; 1000 rewrites alone, or creations and unlinks alone, did not).
    pub(super) rewrite_in_place: bool,
}

impl Quirks {
    pub(super) const NONE: Quirks = Quirks { unstamped_writes: false, no_ftruncate: false, rewrite_in_place: false };
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Knobs {
    pub(super) fn from_env() -> Knobs {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let ops = var("STATOR_TORTURE_OPS").map(|v| parse_u64(&v).expect("STATOR_TORTURE_OPS is a number") as usize);
        let seeds = match var("STATOR_TORTURE_SEED") {
            Some(v) => vec![parse_u64(&v).expect("STATOR_TORTURE_SEED is a number (decimal or 0x-hex)")],
            None => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let t = now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32);
                vec![FIXED_SEED, splitmix(t)]
            }
        };
        let mut skip: BTreeSet<String> = var("STATOR_TORTURE_SKIP")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if var("STATOR_TORTURE_NO_APPEND").is_some_and(|v| v != "0") {
            skip.insert("append".into());
        }
        let settle_secs = var("STATOR_TORTURE_SETTLE_SECS").map(|v| parse_u64(&v).expect("a number")).unwrap_or(45);
        let base = var("STATOR_TORTURE_DIR").map(PathBuf::from);
        let mut replay = String::new();
        if let Some(b) = &base {
            let _ = write!(replay, "STATOR_TORTURE_DIR={} ", b.display());
        }
        if !skip.is_empty() {
            let _ = write!(replay, "STATOR_TORTURE_SKIP={} ", skip.iter().cloned().collect::<Vec<_>>().join(","));
        }
        Knobs {
            ops: ops.unwrap_or(1500),
            seeds,
            label: base.as_ref().map_or("the local temp dir".into(), |b| b.display().to_string()),
            base,
            skip,
            settle_limit: Duration::from_secs(settle_secs),
            quirks: Quirks::NONE,
            keep: false,
            trace: var("STATOR_TORTURE_TRACE").is_some_and(|v| v != "0"),
            replay: (replay, ""),
        }
    }
}
