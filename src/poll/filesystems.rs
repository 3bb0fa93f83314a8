//! What stator learned about each filesystem (by device number): its type, whether it is remote, its timestamp
//! granularity, and whether its clock skew was warned about. The rules get their per-filesystem parameters from
//! here ([`FsParams`]: the racy window, and whether identity and ctime are advisory).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::compare::FsParams;
use crate::discover::tree::{NodeId, Tree};
use crate::fingerprint::{Granularity, racy_window};
use crate::vfs::{FsInfo, Vfs};

/// What stator learned about one filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsSummary {
    /// Device number.
    pub dev: u64,
    /// Filesystem type and whether it is remote.
    pub info: FsInfo,
    /// Timestamp granularity in use (learned, or the override).
    pub granularity: Duration,
    /// How many timestamps it was learned from.
    pub samples: u32,
    /// The racy window in use.
    pub window: Duration,
}

#[derive(Debug)]
struct FsState {
    info: FsInfo,
    granularity: Granularity,
    skew_warned: bool,
}

impl FsState {
    fn new(info: FsInfo) -> FsState {
        FsState { info, granularity: Granularity::default(), skew_warned: false }
    }
}

/// The filesystems seen so far.
#[derive(Debug)]
pub(super) struct Filesystems {
    by_dev: HashMap<u64, FsState>,
    /// The granularity to assume everywhere, instead of the learned one.
    granularity: Option<Duration>,
}

impl Filesystems {
    /// No filesystem seen yet; `granularity` overrides what is learned.
    pub(super) fn new(granularity: Option<Duration>) -> Filesystems {
        Filesystems { by_dev: HashMap::new(), granularity }
    }

    /// The rules' parameters for each device.
    pub(super) fn params(&self) -> Vec<(u64, FsParams)> {
        self.by_dev
            .iter()
            .map(|(&dev, st)| {
                let g = self.granularity.unwrap_or(st.granularity.estimate());
                (dev, FsParams { window: racy_window(g, st.info.remote), advisory: st.info.remote })
            })
            .collect()
    }

    /// The devices of the network and FUSE filesystems.
    pub(super) fn remote(&self) -> Vec<u64> {
        self.by_dev.iter().filter(|(_, f)| f.info.remote).map(|(&dev, _)| dev).collect()
    }

    /// The devices of the local filesystems.
    pub(super) fn local(&self) -> Vec<u64> {
        self.by_dev.iter().filter(|(_, f)| !f.info.remote).map(|(&dev, _)| dev).collect()
    }

    /// Takes in what a sweep learned per device: granularity evidence, and a node on it (at which a filesystem
    /// seen for the first time is identified).
    pub(super) fn learn<V: Vfs>(&mut self, vfs: &V, tree: &Tree, devices: HashMap<u64, (Granularity, NodeId)>) {
        for (dev, (granularity, id)) in devices {
            let fs = self
                .by_dev
                .entry(dev)
                .or_insert_with(|| FsState::new(vfs.fs_info(&tree.path(id)).unwrap_or_else(|_| FsInfo::unknown())));
            fs.granularity.merge(&granularity);
        }
    }

    /// Identifies the filesystem on device `dev` (at `path`) again: a device number can come back as another
    /// filesystem, and a filesystem mounted again may be another one of the same type. What was learned of it is
    /// kept only when it is the same type and not `again` (the device that went away).
    pub(super) fn identify<V: Vfs>(&mut self, vfs: &V, dev: u64, path: &Path, again: bool) -> FsInfo {
        let info = vfs.fs_info(path).unwrap_or_else(|_| FsInfo::unknown());
        let known = self.by_dev.get(&dev).is_some_and(|st| st.info == info);
        if again || !known {
            self.by_dev.insert(dev, FsState::new(info.clone()));
        }
        info
    }

    /// The type of the filesystem on `dev`, or `unknown`.
    pub(super) fn name(&self, dev: u64) -> String {
        self.by_dev.get(&dev).map_or_else(|| "unknown".to_owned(), |st| st.info.name.clone())
    }

    /// Whether every change to a directory's listing on `dev` shows in the directory's ctime (see
    /// [`FsInfo::listings_follow_ctime`]); not for a device not identified.
    pub(super) fn listings_follow_ctime(&self, dev: u64) -> bool {
        self.by_dev.get(&dev).is_some_and(|f| f.info.listings_follow_ctime())
    }

    /// The type of the filesystem on `dev`, the first time its clock skew is to be warned about.
    pub(super) fn first_skew(&mut self, dev: u64) -> Option<String> {
        let fs = self.by_dev.get_mut(&dev).filter(|fs| !fs.skew_warned)?;
        fs.skew_warned = true;
        Some(fs.info.name.clone())
    }

    /// What was learned about each filesystem, by device.
    pub(super) fn summaries(&self) -> Vec<FsSummary> {
        let mut out: Vec<FsSummary> = self
            .by_dev
            .iter()
            .map(|(&dev, st)| {
                let granularity = self.granularity.unwrap_or(st.granularity.estimate());
                FsSummary {
                    dev,
                    info: st.info.clone(),
                    granularity,
                    samples: st.granularity.samples(),
                    window: racy_window(granularity, st.info.remote),
                }
            })
            .collect();
        out.sort_by_key(|s| s.dev);
        out
    }
}
