//! One full scan of a generated tree, against floors measured in the same run.
//!
//! `cargo bench --bench scan -- [FILES] [REPS]` (default 100000 files, 5 repetitions). Prints, per full sweep:
//! CPU time (user + sys, the whole process) and wall time, for
//! - the floor: a plain single-threaded loop of `lstat` on absolute paths over the same file list,
//! - a second floor: single-threaded `fstatat` relative to an open directory handle,
//! - stator's engine (`Poller::tick` on an unchanged tree) with one thread and with the default thread count.
//!
//! Ratios against the `lstat` floor come first. Never run inside the test suite: timings on a shared machine are
//! for reading, not for asserting.

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the scan benchmark needs a Unix system");
}

#[cfg(unix)]
mod unix {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use rustix::fs::{AtFlags, CWD, Mode, OFlags, open, statat};
    use rustix::time::{ClockId, clock_gettime};
    use stator::config::Config;
    use stator::poll::Poller;
    use stator::vfs::real::RealFs;

    fn cpu() -> Duration {
        let t = clock_gettime(ClockId::ProcessCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    /// Runs `f` `reps` times; returns the median (cpu, wall) of one run.
    fn measure(reps: usize, mut f: impl FnMut()) -> (Duration, Duration) {
        let mut runs: Vec<(Duration, Duration)> = (0..reps)
            .map(|_| {
                let (c0, w0) = (cpu(), Instant::now());
                f();
                (cpu() - c0, w0.elapsed())
            })
            .collect();
        runs.sort();
        runs[reps / 2]
    }

    /// `files` small files in directories of 10 to 100, three to six levels deep; returns the directories with
    /// their file names.
    fn generate(root: &Path, files: usize) -> Vec<(PathBuf, Vec<String>)> {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut dirs = Vec::new();
        let mut made = 0;
        let mut i = 0;
        while made < files {
            let depth = 3 + next(4) as usize;
            let mut dir = root.to_path_buf();
            for level in 0..depth {
                dir.push(format!("d{}_{}", level, next(if level == 0 { 8 } else { 6 })));
            }
            dir.push(format!("leaf{i}"));
            i += 1;
            let n = (10 + next(91) as usize).min(files - made);
            fs::create_dir_all(&dir).expect("mkdir");
            let names: Vec<String> = (0..n).map(|k| format!("f{k}.rs")).collect();
            for name in &names {
                fs::write(dir.join(name), b"fn main() {}\n").expect("write");
            }
            made += n;
            dirs.push((dir, names));
        }
        dirs
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
        let files: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
        let reps: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
        let tmp = tempfile::tempdir().expect("tempdir");
        eprintln!("generating {files} files under {} ...", tmp.path().display());
        let dirs = generate(tmp.path(), files);
        let paths: Vec<PathBuf> = dirs.iter().flat_map(|(d, ns)| ns.iter().map(move |n| d.join(n))).collect();

        let lstat = || {
            for p in &paths {
                std::hint::black_box(fs::symlink_metadata(p).is_ok());
            }
        };
        let raw_lstat = || {
            for p in &paths {
                std::hint::black_box(rustix::fs::lstat(p).is_ok());
            }
        };
        let handles: Vec<_> = dirs
            .iter()
            .map(|(d, names)| {
                let fd = open(d, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).expect("open");
                let names: Vec<std::ffi::CString> =
                    names.iter().map(|n| std::ffi::CString::new(n.as_str()).expect("name")).collect();
                (fd, names)
            })
            .collect();
        let fstatat = || {
            for (fd, names) in &handles {
                for n in names {
                    std::hint::black_box(statat(fd, n.as_c_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok());
                }
            }
        };
        let config = Config { roots: vec![tmp.path().to_path_buf()], ..Config::default() };
        let mut seq = Poller::new(config.clone(), RealFs).expect("poller");
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        let (bc, bw) = measure(1, || {
            one.install(|| seq.tick());
        });
        let mut par = Poller::new(config, RealFs).expect("poller");
        par.tick();
        lstat(); // warm the caches for everyone
        let _ = CWD;

        let floor = measure(reps, lstat);
        let at = measure(reps, fstatat);
        let raw = measure(reps, raw_lstat);
        let single = measure(reps, || {
            one.install(|| std::hint::black_box(seq.tick().changes.len()));
        });
        let threads = rayon::current_num_threads();
        let multi = measure(reps, || {
            std::hint::black_box(par.tick().changes.len());
        });
        let r = |x: Duration| x.as_secs_f64() / floor.0.as_secs_f64();
        let rw = |x: Duration| x.as_secs_f64() / floor.1.as_secs_f64();
        println!("scan of {files} files in {} directories, median of {reps} sweeps", dirs.len());
        println!("ratios against the single-threaded lstat floor (cpu / wall):");
        println!("  fstatat floor            {:.2}x / {:.2}x", r(at.0), rw(at.1));
        println!("  lstat(2) without std     {:.2}x / {:.2}x", r(raw.0), rw(raw.1));
        println!("  stator, 1 thread         {:.2}x / {:.2}x", r(single.0), rw(single.1));
        println!("  stator, {threads} threads        {:.2}x / {:.2}x", r(multi.0), rw(multi.1));
        println!("absolute, per sweep (cpu, wall):");
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("  lstat floor              {:8.1} ms {:8.1} ms", ms(floor.0), ms(floor.1));
        println!("  fstatat floor            {:8.1} ms {:8.1} ms", ms(at.0), ms(at.1));
        println!("  stator, 1 thread         {:8.1} ms {:8.1} ms", ms(single.0), ms(single.1));
        println!("  stator, {threads} threads        {:8.1} ms {:8.1} ms", ms(multi.0), ms(multi.1));
        println!("  stator baseline (walk)   {:8.1} ms {:8.1} ms", ms(bc), ms(bw));
    }
}
