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

/// Whether globs, extensions and ignore files match names without regard to case: on Windows and macOS, whose
/// usual filesystems (NTFS, APFS and HFS+ as formatted by default) do not tell `Main.RS` from `main.rs`, as git does
/// there with `core.ignorecase` (which `git init` and `git clone` set on such filesystems).
pub const CASE_INSENSITIVE: bool = cfg!(any(windows, target_os = "macos"));
