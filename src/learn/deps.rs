//! Which files the `--dep-file`s list now, and which they listed once but no longer do. Pure bookkeeping; reading
//! and parsing the files is the caller's.
//!
//! The poller cannot forget a path once it watches it, so a path a dep file stops listing stays watched, and its
//! changes are dropped instead (unless something else still wants it: see [`DepFiles::retired`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The dep files and what each lists.
#[derive(Debug, Default, Clone)]
pub struct DepFiles {
    /// Each dep file (absolute, normalised), with the paths it lists now (absolute, normalised).
    lists: HashMap<PathBuf, HashSet<PathBuf>>,
    /// Every path any of them ever listed.
    ever: HashSet<PathBuf>,
}

impl DepFiles {
    /// Dep files that list nothing yet.
    pub fn new(files: impl IntoIterator<Item = PathBuf>) -> DepFiles {
        DepFiles { lists: files.into_iter().map(|f| (f, HashSet::new())).collect(), ever: HashSet::new() }
    }

    /// The dep files.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.lists.keys().map(PathBuf::as_path)
    }

    /// Whether `path` is one of the dep files.
    pub fn is_dep_file(&self, path: &Path) -> bool {
        self.lists.contains_key(path)
    }

    /// Replaces what `file` lists; returns the paths it lists that no dep file listed before (to start watching).
    pub fn update(&mut self, file: &Path, listed: Vec<PathBuf>) -> Vec<PathBuf> {
        let Some(list) = self.lists.get_mut(file) else { return Vec::new() };
        let fresh: Vec<PathBuf> = listed.iter().filter(|p| !self.ever.contains(*p)).cloned().collect();
        self.ever.extend(listed.iter().cloned());
        *list = listed.into_iter().collect();
        fresh
    }

    /// How many paths `file` lists now.
    pub fn count(&self, file: &Path) -> usize {
        self.lists.get(file).map_or(0, HashSet::len)
    }

    /// Whether `path` was listed by a dep file once and is listed by none now.
    pub fn retired(&self, path: &Path) -> bool {
        self.ever.contains(path) && !self.lists.values().any(|l| l.contains(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn a_rewritten_list_switches_what_counts() {
        let mut deps = DepFiles::new([p("/b/a.d"), p("/b/b.d")]);
        assert!(deps.is_dep_file(Path::new("/b/a.d")));
        assert!(!deps.is_dep_file(Path::new("/s/x.h")));
        assert_eq!(deps.update(Path::new("/b/a.d"), vec![p("/s/x.h"), p("/s/y.h")]), [p("/s/x.h"), p("/s/y.h")]);
        assert_eq!(deps.update(Path::new("/b/b.d"), vec![p("/s/y.h")]), Vec::<PathBuf>::new(), "already watched");
        assert_eq!(deps.count(Path::new("/b/a.d")), 2);

        assert_eq!(deps.update(Path::new("/b/a.d"), vec![p("/s/z.h")]), [p("/s/z.h")]);
        assert!(deps.retired(Path::new("/s/x.h")), "listed once, by nobody now");
        assert!(!deps.retired(Path::new("/s/y.h")), "b.d still lists it");
        assert!(!deps.retired(Path::new("/s/z.h")));
        assert!(!deps.retired(Path::new("/s/never.h")), "never a dep: not ours to drop");

        assert_eq!(deps.update(Path::new("/b/a.d"), vec![p("/s/x.h")]), Vec::<PathBuf>::new(), "watched already");
        assert!(!deps.retired(Path::new("/s/x.h")), "listed again");
        assert_eq!(deps.update(Path::new("/b/unknown.d"), vec![p("/s/q.h")]), Vec::<PathBuf>::new());
    }
}
