//! Checking a round: the change set the engine reported against the view before and after ([`check`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use stator::change::{ChangeKind, ChangeSet};

use super::world::{View, World};

#[derive(Debug, Default)]
pub(super) struct Verdict {
    pub(super) misses: Vec<String>,
    pub(super) phantoms: Vec<String>,
    pub(super) wrong: Vec<String>,
    pub(super) tracking: Vec<String>,
}

impl Verdict {
    pub(super) fn failures(&self) -> usize {
        self.misses.len() + self.phantoms.len() + self.wrong.len() + self.tracking.len()
    }
}

fn expected_kind(before: Option<&View>, after: Option<&View>) -> Option<ChangeKind> {
    match (before, after) {
        (None, Some(_)) => Some(ChangeKind::Created),
        (Some(_), None) => Some(ChangeKind::Removed),
        (Some(_), Some(_)) => Some(ChangeKind::Modified),
        (None, None) => None,
    }
}

/// Whether the view of a path changed in a way the engine must report. A directory is reported only when it
/// appears, disappears or turns into something else.
fn must_report(before: Option<&View>, after: Option<&View>) -> bool {
    match (before, after) {
        (Some(View::Dir), Some(View::Dir)) => false,
        (b, a) => b != a,
    }
}

pub(super) fn check(
    world: &World,
    before: &BTreeMap<PathBuf, View>,
    after: &BTreeMap<PathBuf, View>,
    reported: &ChangeSet,
    tracked: &[PathBuf],
    trust_ctime: bool,
) -> Verdict {
    let mut v = Verdict::default();
    let mut got: BTreeMap<PathBuf, ChangeKind> = BTreeMap::new();
    for (p, k, _) in reported.iter() {
        match p.strip_prefix(&world.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => {
                got.insert(rel.to_path_buf(), k);
            }
            _ => v.phantoms.push(format!("{} {} (not under the root)", k, p.display())),
        }
    }
    let paths: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).chain(got.keys()).collect();
    for p in paths {
        let (b, a) = (before.get(p), after.get(p));
        let want = expected_kind(b, a);
        let must = must_report(b, a);
        let touched = world.is_touched(p, trust_ctime);
        let describe = || {
            format!(
                "{}: before {}, after {}",
                p.display(),
                b.map_or("absent".into(), View::short),
                a.map_or("absent".into(), View::short)
            )
        };
        match got.get(p) {
            None if must => v.misses.push(format!(
                "not reported, expected {}: {}",
                want.map_or("-".into(), |k| k.to_string()),
                describe()
            )),
            None => {}
            Some(&k) if must && Some(k) != want => v.wrong.push(format!(
                "reported {k}, expected {}: {}",
                want.map_or("nothing".into(), |k| k.to_string()),
                describe()
            )),
            Some(_) if must => {}
            Some(&k) if !touched => v.phantoms.push(format!("reported {k}, untouched this round: {}", describe())),
            Some(&k) if Some(k) != want => {
                v.wrong.push(format!("reported {k} for a touched path whose net change is {want:?}: {}", describe()))
            }
            Some(_) => {}
        }
    }
    let want_files: BTreeSet<PathBuf> =
        after.iter().filter(|(_, v)| matches!(v, View::File { .. })).map(|(p, _)| p.clone()).collect();
    let have: BTreeSet<PathBuf> =
        tracked.iter().filter_map(|p| p.strip_prefix(&world.root).ok().map(Path::to_path_buf)).collect();
    for p in want_files.difference(&have) {
        v.tracking.push(format!("not tracked: {}", p.display()));
    }
    for p in have.difference(&want_files) {
        v.tracking.push(format!("tracked but not a file now: {}", p.display()));
    }
    v
}
