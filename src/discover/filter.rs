//! PLACEHOLDER until the discover branch lands.
#![allow(missing_docs)]
use std::path::Path;

use crate::config::FilterConfig;

#[derive(Debug)]
pub struct PatternError(pub String);
impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for PatternError {}

#[derive(Debug)]
pub struct Filter;
impl Filter {
    pub fn new(_cfg: &FilterConfig) -> Result<Filter, PatternError> {
        Ok(Filter)
    }
    pub fn admits(&self, rel: &Path, _is_dir: bool) -> bool {
        rel.file_name().is_none_or(|n| n != ".git")
    }
}
