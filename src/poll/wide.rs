//! The wide pool: more threads than cores, for the files of network and FUSE filesystems, where each `stat` waits
//! on a round trip (to a server, or to a FUSE daemon) rather than on a CPU. On a local filesystem a stat is CPU
//! work, and the default pool (one thread per core) is what pays there.

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Threads of the wide pool. Measured on sshfs over loopback (2 cores, 2,000 files, attribute cache expired), a
/// sweep took 431 ms with 1 thread, 286 ms with 2, 134 ms with 8 and 130 ms with 16, for the same 30-35 ms of
/// stator's CPU; on a real network each round trip is longer and the gain larger.
pub(super) const WIDE_THREADS: usize = 16;

/// The wide pool, built the first time a sweep has files on a network or FUSE filesystem.
#[derive(Default)]
pub(super) struct Wide {
    pool: Option<ThreadPool>,
    tried: bool,
}

impl Wide {
    /// The pool when `wanted`, built on first use; `None` when not wanted or when it could not be built (then the
    /// current pool looks at every file).
    pub(super) fn pool(&mut self, wanted: bool) -> Option<&ThreadPool> {
        if wanted && !self.tried {
            self.tried = true;
            let named = |i: usize| format!("stator-wide-{i}");
            self.pool = ThreadPoolBuilder::new().num_threads(WIDE_THREADS).thread_name(named).build().ok();
        }
        self.get(wanted)
    }

    /// The pool when `wanted` and built already.
    pub(super) fn get(&self, wanted: bool) -> Option<&ThreadPool> {
        self.pool.as_ref().filter(|_| wanted)
    }

    /// How many threads look at network and FUSE filesystems, once any was seen.
    pub(super) fn threads(&self) -> Option<usize> {
        self.pool.as_ref().map(ThreadPool::current_num_threads)
    }
}
