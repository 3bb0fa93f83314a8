//! Plain data every part of stator reads: what to watch, how to filter it, how often to look.
//! Built from the command line by the `stator` command, or by hand when stator is used as a library.

use std::path::PathBuf;
use std::time::Duration;

/// Which names found under the roots are watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterConfig {
    /// Only files with one of these extensions (without the dot, e.g. `rs`); empty means every file.
    pub extensions: Vec<String>,
    /// Only files matching one of these globs; empty means every file.
    pub include: Vec<String>,
    /// Files and directories matching any of these globs are ignored (directories are not descended).
    pub exclude: Vec<String>,
    /// Ignore VCS directories (`.git`, `.hg`, ...), editor droppings (`*.swp`, `*~`, `.#*`, `4913`, ...), Python
    /// bytecode, `node_modules`, cargo's `target` (beside a `Cargo.toml`), test and lint caches, databases with
    /// their journals (`*.sqlite3`, `*.db`, `*-journal`, `*-wal`, ...) and logs (`*.log`).
    pub default_ignores: bool,
    /// Honour `.gitignore`, `.ignore`, `.git/info/exclude` and git's global excludes file.
    pub vcs_ignores: bool,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            extensions: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            default_ignores: true,
            vcs_ignores: true,
        }
    }
}

/// Everything the engine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Files or directories to watch (directories recursively). They need not exist yet.
    pub roots: Vec<PathBuf>,
    /// Which names under the roots are watched.
    pub filter: FilterConfig,
    /// Time from the start of one scan to the start of the next.
    pub interval: Duration,
    /// Every directory on a network, FUSE or overlay filesystem (or on any, when ctime is not trusted) is
    /// re-listed at least this often, even when its times did not change (network filesystems cache directory
    /// attributes; some FUSE filesystems never update them).
    pub rescan: Duration,
    /// A burst of changes is over when nothing more changed for this long.
    pub settle: Duration,
    /// A burst that goes on longer than this is reported anyway.
    pub max_wait: Duration,
    /// Timestamp granularity to assume on every filesystem, instead of learning it.
    pub granularity: Option<Duration>,
    /// Count a ctime change (chmod, chown, hard link) as a change, as git does.
    pub trust_ctime: bool,
    /// Files larger than this are compared by fingerprint only, never hashed (neither in the racy window nor, by the
    /// `stator` command, to tell a save that left the bytes as they were: such a file always counts as changed).
    pub hash_limit: u64,
    /// The hot tier: recently changed paths are re-checked this often between full sweeps (zero turns it off). Never
    /// longer than [`Config::interval`]: a longer one is taken as the interval
    /// ([`Cadence`](crate::poll::Cadence) applies it).
    pub hot_interval: Duration,
    /// How long a path stays hot after it changed.
    pub hot_for: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            roots: vec![PathBuf::from(".")],
            filter: FilterConfig::default(),
            interval: Duration::from_millis(500),
            rescan: Duration::from_secs(10),
            settle: Duration::from_millis(200),
            max_wait: Duration::from_secs(5),
            granularity: None,
            trust_ctime: true,
            hash_limit: 8 << 20,
            hot_interval: Duration::from_millis(100),
            hot_for: Duration::from_secs(300),
        }
    }
}
