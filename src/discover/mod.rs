//! Finding the files to watch: roots, filters, ignore files, directory listings.

pub mod filter;
pub mod ignore_files;

pub use filter::{Filter, PatternError};
pub use ignore_files::IgnoreScope;

/// Whether globs, extensions and ignore files match names without regard to case: on Windows and macOS, whose
/// usual filesystems (NTFS, APFS and HFS+ as formatted by default) do not tell `Main.RS` from `main.rs`, as git does
/// there with `core.ignorecase` (which `git init` and `git clone` set on such filesystems).
pub const CASE_INSENSITIVE: bool = cfg!(any(windows, target_os = "macos"));
