//! When to look, and looking: [`Poller::tick`] and its stages, the hot tier, the fixed-rate schedule, and settling
//! a burst of changes into one change set.
//!
//! # Theory of operation
//!
//! Read this first. Stator sees changes only by `stat`ing every tracked path, again and again; everything here
//! is about doing that correctly and cheaply.
//!
//! **The tracked set** is a tree (`discover/tree.rs`) of two arenas: directories (`DirNode`: path, ignore
//! scope, the ids of the names inside, a packed buffer of those names, an optional handle) and nodes (`Node`, one
//! per watched path, 80 bytes: its parent directory's id, where its name is in that directory's buffer, the
//! directory it is when stator descends into it, and its last known state in 64 bytes). Ids are indices whose
//! slots are recycled; paths are built on demand. Explicit paths (the roots, files the child reports) live in
//! *holders*, directories that are never listed.
//!
//! **A tick** ([`Poller::tick`], in `poller.rs`) is a pipeline:
//!
//! 1. *plant roots* (first tick only): each root joins the tree as an explicit path;
//! 2. *watch mounts* (later ticks): the roots are checked by path for a filesystem that went away, was replaced
//!    or came back (`outage.rs`: a tree whose filesystem is gone is kept at its last known state, never reported
//!    removed);
//! 3. *sweep* (`sweep.rs`): every node is `stat`ed in parallel and the pure rules of [`crate::compare`] say what
//!    each stat means; most nodes are confirmed unchanged in place, the others become *sightings*, which
//!    `outage.rs` screens for filesystems that went away;
//! 4. *apply*: sightings become [`Change`](crate::change::Change)s, warnings, removals, directories to list
//!    (their fingerprint changed, or an ignore file that rules them did) and directories to descend into;
//! 5. *list dirs* (`discover/walk.rs`): those directories' listings are read, in parallel, and applied to the
//!    tree: new names join unseen, missing ones start vanishing (a removal is confirmed at the next look), and the
//!    filters and ignore rules decide which names are tracked at all (ignore files always are: their rules decide);
//! 6. *sweep unseen*: the names that just joined are looked at (a name not in the previous listing is a creation,
//!    DESIGN.md section 2 rule 4) and applied; 5 and 6 repeat until no directory is left to list;
//! 7. *report*: stat errors are folded into one warning per directory, and the [`Tick`] is returned.
//!
//! What is known per filesystem (type, remote or not, granularity, clock skew warned) is in `filesystems.rs`.
//!
//! **Sweeps in parts.** [`Poller::tick_part`] runs the same pipeline over the next slice of node ids only (a cursor
//! fixed at the arena's end when the sweep began: nodes that join later are looked at as they join), so that a
//! sweep of a million files, seconds long, leaves room for hot ticks between its parts; [`Poller::tick`] is one
//! part covering everything. [`Parts`] sizes the slices to a few tens of milliseconds.
//!
//! **A baseline beside the command.** Where file times are fine and from this machine's clock, the app starts the
//! command first and tells the poller when ([`Poller::command_started`]); the baseline then reports a file whose
//! mtime is at or after that as changed, instead of taking it in silently.
//!
//! **Tiers.** The full tick looks at everything, at the fixed rate of the [`Schedule`] (`schedule.rs`). The *hot
//! tier* ([`Poller::tick_hot`], `hot.rs`) looks only at the paths that changed lately and their directories, and
//! at removals waiting to be confirmed, every [`Config::hot_interval`](crate::config::Config::hot_interval) in
//! between; [`Cadence`] (`cadence.rs`) says which look is due. Either look feeds [`Settle`] (`settle.rs`), which
//! turns a burst of changes into one restart, and only once a full sweep found nothing new since the burst's last
//! change (a sweep in parts: during which no change came in): the hot tier sees an edit first, never that nothing
//! changed beyond the hot paths.
//!
//! **The pure rules** live elsewhere and are the heart of it: [`crate::fingerprint`] (what a file looks like,
//! timestamp granularity learned per filesystem) and [`crate::compare`] (old state, new stat, scan time -> new
//! state and change: the racy window, the new-file rules, confirmed removals). Nothing here decides whether a
//! file changed; this decides when and where to ask.
//!
//! **Handles and the wide pool.** On local filesystems each listed directory keeps an open handle
//! ([`crate::vfs::handle`]) and its names are `stat`ed relative to it (`fstatat`), which spares the kernel the path
//! walk; a handle follows its directory, not its path, so one whose directory no longer is the one at its path is
//! dropped and its names looked at again by path in the same tick. On network and FUSE filesystems a stat waits on
//! a round trip, so their files are statted (and their directories listed) by the *wide pool*, more threads than
//! cores (`wide.rs`); elsewhere the current rayon pool does the work.

mod cadence;
mod filesystems;
mod hot;
mod outage;
mod poller;
#[cfg(test)]
mod scenarios;
mod schedule;
mod settle;
mod sweep;
mod warning;
mod wide;

pub use cadence::{Cadence, Parts};
pub use filesystems::FsSummary;
pub use poller::{Poller, Tick, normalize};
pub use schedule::{Schedule, Stretch};
pub use settle::{Settle, Sweep};
pub use warning::{Outage, Warning};
