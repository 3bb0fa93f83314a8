//! PLACEHOLDER until the discover branch lands.
#![allow(missing_docs)]
use std::path::Path;
use std::sync::Arc;

use crate::vfs::{DirEntry, Vfs};

#[derive(Debug)]
pub struct IgnoreScope;
impl IgnoreScope {
    pub fn empty() -> Arc<IgnoreScope> {
        Arc::new(IgnoreScope)
    }
    pub fn for_root(
        _vfs: &dyn Vfs,
        _root: &Path,
        _global: Option<&ignore::gitignore::Gitignore>,
    ) -> (Arc<IgnoreScope>, Vec<String>) {
        (Arc::new(IgnoreScope), Vec::new())
    }
    pub fn child(
        parent: &Arc<IgnoreScope>,
        _vfs: &dyn Vfs,
        _dir: &Path,
        _entries: &[DirEntry],
    ) -> (Arc<IgnoreScope>, Vec<String>) {
        (parent.clone(), Vec::new())
    }
    pub fn is_ignored(&self, _path: &Path, _is_dir: bool) -> bool {
        false
    }
    pub fn global() -> (Option<ignore::gitignore::Gitignore>, Vec<String>) {
        (None, Vec::new())
    }
}
