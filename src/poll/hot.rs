//! The hot tier: the paths that changed lately (and their directories), and those waiting for a removal to be
//! confirmed, looked at again between full sweeps ([`crate::poll::Poller::tick_hot`]). An edit to a file being
//! worked on is seen within the hot interval, for a few `stat`s, while the full sweep keeps its slower pace.
//! When to look is [`super::cadence`]'s business; this is what to look at.

use std::collections::HashMap;
use std::path::PathBuf;

use super::sweep::{Found, Look};
use crate::discover::tree::{NodeId, Tree};
use crate::vfs::Vfs;

/// At most this many paths are hot at once; beyond, changes are left to the full sweeps.
const HOT_MAX: usize = 1024;

/// The hot paths, each with the time (ns since the epoch) it stops being hot.
#[derive(Debug, Default)]
pub(super) struct Hot {
    until: HashMap<NodeId, i128>,
}

impl Hot {
    /// Marks node `id` hot until `until` (ns), unless the tier is full.
    pub(super) fn heat(&mut self, id: NodeId, until: i128) {
        if self.until.len() < HOT_MAX || self.until.contains_key(&id) {
            self.until.insert(id, until);
        }
    }

    /// How many paths are hot.
    pub(super) fn len(&self) -> usize {
        self.until.len()
    }

    /// Forgets the paths whose time is up at `now` (ns), and those no longer in `tree`.
    pub(super) fn cool(&mut self, now: i128, tree: &Tree) {
        self.until.retain(|id, until| *until > now && tree.nodes.get(*id).is_some());
    }

    /// Looks at every hot path.
    pub(super) fn look<V: Vfs>(&self, look: &Look<'_, V>, tree: &mut Tree) -> Found {
        let (nodes, dirs) = (&mut tree.nodes, &tree.dirs);
        let mut buf = PathBuf::new();
        let mut found = Found::default();
        for &id in self.until.keys() {
            if let Some(node) = nodes.get_mut(id) {
                look.at(&mut found, dirs, id, node, &mut buf);
            }
        }
        found
    }
}
