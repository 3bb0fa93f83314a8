//! Finding the files to watch: roots, filters, ignore files, directory listings.

pub mod filter;
pub mod ignore_files;

pub use filter::{Filter, PatternError};
pub use ignore_files::IgnoreScope;
