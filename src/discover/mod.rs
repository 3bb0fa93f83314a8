//! Finding the files to watch: roots, filters, ignore files, directory listings, and the tracked set they build.
//!
//! [`filter`] and [`ignore_files`] decide, name by name, what is watched; the walk (`walk.rs`) reads directory
//! listings, applies them to the tracked set (`tree.rs`) and descends into new directories; the poller
//! ([`crate::poll`]) drives it and sweeps the tree.

pub mod filter;
pub mod ignore_files;
pub(crate) mod stored;
pub(crate) mod tree;
pub(crate) mod walk;

pub use filter::{Filter, PatternError};
pub use ignore_files::IgnoreScope;
