//! Stator's engine against the `stat` floor, on generated trees of 10k, 100k and 1M files.
//!
//! ```text
//! cargo bench --bench sweep -- [--sizes 10k,100k,1m] [--reps N] [--threads N] [--interval 500ms]
//!                              [--hot-interval 100ms] [--trials N] [--idle 5s] [--process N]
//!                              [--process-interval 1s] [--dir PATH] [--keep]
//! ```
//!
//! For each size it generates a deterministic tree of small files (directories of 10 to 100 files, up to six levels
//! deep) in a temporary directory and reports, per full sweep of the unchanged tree:
//! - CPU time (user + sys of the whole process) and wall time of stator's engine (`Poller::tick`) with one thread
//!   and with the default thread count, side by side with two single-threaded floors measured in the same run over
//!   the same files: `lstat(2)` on absolute paths and `fstatat(2)` relative to open directory handles (both through
//!   rustix, so the floor is the system call). Each poller is measured alone, round-robin with the floors (as the
//!   app has one poller; two at once would share the open-file limit). Ratios first (each the median of the
//!   rounds' own ratios: a round measures every contender back to back), then absolute numbers (medians);
//! - memory: RSS per tracked file beyond the process baseline, measured in child processes (this binary re-executed
//!   in a memory-only mode, with 1 thread and with the default count) that never hold the floors' file lists; peaks
//!   during the walk and during sweeps;
//! - edit-to-detection latency (p50/p99) for a random file (cold) and for the file edited just before (hot), with the
//!   engine driven as the app drives it: `stator::poll::Cadence`, the app's own scheduling decision, says which look
//!   is due next (full sweeps on the fixed-rate schedule at `--interval`, backing off on their CPU time as the app
//!   does; hot ticks every `--hot-interval` in between; early looks while a burst settles), default `Config`
//!   otherwise (settle 200 ms, hot for 5 min);
//! - the CPU of idle watching, as % of one core, with the hot tier and with full sweeps alone (`--hot-interval 0`)
//!   at the same interval, interleaved, their ratio first, and the effective interval (whether the schedule backed
//!   off);
//! - the whole process: the `stator` binary itself watching the tree (one sweep thread, `--process-interval`, no
//!   hot tier), its CPU time per full sweep over an idle window of ten sweeps (from `/proc/PID/stat`, so everything
//!   the running process does counts: the sweeps, the main loop, the child's watch), against a *spaced* `fstatat`
//!   floor measured the same way in a child process that sweeps the same names at the same fixed rate, sleeping in
//!   between (as stator does: caches cool between sweeps, so a spaced loop costs more than a back-to-back one).
//!
//! The `fstatat` floors follow symlinks, as stator's sweep does (a watched symlink is watched through to its
//! target); the `lstat` floor is the classic polling loop's call.
//!
//! Never run by the test suite: timings on a shared machine are for reading, not for asserting.

#[cfg(unix)]
fn main() {
    bench::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the sweep benchmark needs a Unix system");
}

#[cfg(unix)]
mod bench {
    use std::collections::{HashMap, HashSet};
    use std::ffi::CString;
    use std::fs;
    use std::hint::black_box;
    use std::io::Write as _;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use rayon::ThreadPool;
    use rayon::prelude::*;
    use rustix::fs::{AtFlags, Mode, OFlags, open, statat};
    use rustix::process::{Resource, getrlimit};
    use rustix::time::{ClockId, clock_gettime};
    use stator::config::Config;
    use stator::poll::{Cadence, Parts, Poller, Schedule, Settle, Sweep, Tick};
    use stator::vfs::real::RealFs;

    /// Set in the environment of the re-executed binary: "THREADS REPS ROOT" asks for the memory-only mode.
    const CHILD_ENV: &str = "STATOR_SWEEP_MEMORY_CHILD";
    /// Generated files are left alone this long before anything is measured, so that none is inside stator's racy
    /// window (files modified in the last moments are hashed at every sweep; at most 3 s on local filesystems).
    const AGE: Duration = Duration::from_secs(3);
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

    static START: OnceLock<Instant> = OnceLock::new();

    /// A progress line on stderr, with the time since the start of the run.
    macro_rules! note {
        ($label:expr, $($arg:tt)*) => {
            eprintln!(
                "[{} +{:.0}s] {}",
                $label,
                START.get_or_init(Instant::now).elapsed().as_secs_f64(),
                format!($($arg)*)
            )
        };
    }

    const USAGE: &str = "usage: cargo bench --bench sweep -- [--sizes 10k,100k,1m] [--reps N] [--threads N] \
                         [--interval 500ms] [--hot-interval 100ms] [--trials N] [--idle 5s] [--process N] \
                         [--process-interval 1s] [--dir PATH] [--keep]
  --sizes         tree sizes, comma-separated (k = thousand, m = million); default 10k,100k
  --reps          full sweeps measured per contender (medians are reported); default 5
  --threads       stator's \"default\" thread count; default RAYON_NUM_THREADS or the number of cores
  --interval      full-sweep interval of the latency and idle loops (stretched by the app's CPU back-off);
                  default 500ms, stator's default
  --hot-interval  hot-tier interval of those loops, 0 for none; default 100ms, stator's default
  --trials        latency trials for each of cold and hot files; default 30, fewer (at least 10) when the
                  schedule backs off, to keep the latency part near 2.5 minutes
  --idle          how long each idle loop (hot tier, full sweeps alone) watches, in four interleaved
                  quarters, each ending at a full-sweep period; default 5s, at least four periods
  --process       rounds of the whole-process measurement (the stator binary and a spaced fstatat floor,
                  interleaved, ten idle sweeps each); default 2, at sizes up to 200k (given, at every size);
                  0 for none
  --process-interval  the interval of that measurement; default 1s
  --dir           where the trees go; default the system temp dir
  --keep          keep the trees in --dir (as stator-sweep-N, with a stator-sweep-N.done marker) and reuse them
                  in later runs instead of generating and removing them (removing 1M files can take minutes);
                  an interrupted run leaves its stator-sweep-* trees in --dir";

    struct Args {
        sizes: Vec<(String, usize)>,
        reps: usize,
        threads: usize,
        interval: Duration,
        hot_interval: Duration,
        trials: usize,
        trials_given: bool,
        idle: Duration,
        process: usize,
        process_given: bool,
        process_interval: Duration,
        dir: PathBuf,
        keep: bool,
    }

    fn default_threads() -> usize {
        std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(cores)
    }

    fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn parse_size(s: &str) -> Result<usize, String> {
        let lower = s.trim().to_ascii_lowercase();
        let (digits, scale) = match lower.strip_suffix('k') {
            Some(d) => (d, 1_000),
            None => match lower.strip_suffix('m') {
                Some(d) => (d, 1_000_000),
                None => (lower.as_str(), 1),
            },
        };
        match digits.parse::<usize>() {
            Ok(n) if n > 0 && n * scale <= 5_000_000 => Ok(n * scale),
            _ => Err(format!("bad size {s:?} (e.g. 10k, 100k, 1m; at most 5m)")),
        }
    }

    impl Args {
        fn parse() -> Result<Args, String> {
            let defaults = Config::default();
            let mut args = Args {
                sizes: vec![("10k".into(), 10_000), ("100k".into(), 100_000)],
                reps: 5,
                threads: default_threads(),
                interval: defaults.interval,
                hot_interval: defaults.hot_interval,
                trials: 30,
                trials_given: false,
                idle: Duration::from_secs(5),
                process: 2,
                process_given: false,
                process_interval: Duration::from_secs(1),
                dir: std::env::temp_dir(),
                keep: false,
            };
            let mut it = std::env::args().skip(1);
            while let Some(arg) = it.next() {
                // cargo bench passes --bench to harness-less benchmarks.
                if arg == "--bench" {
                    continue;
                }
                if arg == "--keep" {
                    args.keep = true;
                    continue;
                }
                if arg == "--help" || arg == "-h" {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                let (flag, inline) = match arg.split_once('=') {
                    Some((f, v)) => (f.to_string(), Some(v.to_string())),
                    None => (arg.clone(), None),
                };
                let value = match inline {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
                };
                let number = |v: &str| v.parse::<usize>().ok().filter(|&n| n > 0).ok_or(format!("bad {flag}: {v}"));
                let duration = |v: &str| humantime::parse_duration(v).map_err(|e| format!("bad {flag}: {v}: {e}"));
                match flag.as_str() {
                    "--sizes" => {
                        args.sizes = value
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(|s| parse_size(s).map(|n| (s.trim().to_string(), n)))
                            .collect::<Result<_, _>>()?;
                    }
                    "--reps" => args.reps = number(&value)?,
                    "--threads" => args.threads = number(&value)?,
                    "--trials" => {
                        args.trials = number(&value)?;
                        args.trials_given = true;
                    }
                    "--interval" => args.interval = duration(&value)?.max(Duration::from_millis(1)),
                    "--hot-interval" => args.hot_interval = duration(&value)?,
                    "--idle" => args.idle = duration(&value)?,
                    "--process" => {
                        args.process = value.parse().map_err(|_| format!("bad {flag}: {value}"))?;
                        args.process_given = true;
                    }
                    "--process-interval" => args.process_interval = duration(&value)?.max(Duration::from_millis(10)),
                    "--dir" => args.dir = PathBuf::from(value),
                    _ => return Err(format!("unknown argument {arg}")),
                }
            }
            if args.sizes.is_empty() {
                return Err("--sizes is empty".into());
            }
            Ok(args)
        }
    }

    // ----- measuring -----

    fn cpu() -> Duration {
        let t = clock_gettime(ClockId::ProcessCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    #[derive(Clone, Copy, Default)]
    struct Cost {
        cpu: Duration,
        wall: Duration,
    }

    fn measure(f: impl FnOnce()) -> Cost {
        let (c0, w0) = (cpu(), Instant::now());
        f();
        Cost { cpu: cpu() - c0, wall: w0.elapsed() }
    }

    /// Medians (cpu and wall taken separately) and the cpu range of several runs.
    #[derive(Clone, Copy, Default)]
    struct Summary {
        cpu: Duration,
        wall: Duration,
        cpu_min: Duration,
        cpu_max: Duration,
    }

    /// Medians of per-round ratios, cpu and wall.
    #[derive(Clone, Copy, Default)]
    struct Paired {
        cpu: f64,
        wall: f64,
    }

    fn paired(stator: &[Cost], floor: &[Cost]) -> Paired {
        let median_of = |f: fn(&Cost) -> Duration| {
            let mut r: Vec<f64> = stator.iter().zip(floor).map(|(s, x)| ratio(f(s), f(x))).collect();
            r.sort_by(f64::total_cmp);
            median_by(&r, f64::NAN, |a, b| (a + b) / 2.0)
        };
        Paired { cpu: median_of(|c| c.cpu), wall: median_of(|c| c.wall) }
    }

    fn summarize(runs: &[Cost]) -> Summary {
        let mut cpus: Vec<Duration> = runs.iter().map(|r| r.cpu).collect();
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        cpus.sort();
        walls.sort();
        Summary {
            cpu: median(&cpus),
            wall: median(&walls),
            cpu_min: cpus.first().copied().unwrap_or_default(),
            cpu_max: cpus.last().copied().unwrap_or_default(),
        }
    }

    fn median(sorted: &[Duration]) -> Duration {
        median_by(sorted, Duration::ZERO, |a, b| (a + b) / 2)
    }

    /// The median of sorted samples: the middle one, or `halfway` between the two middle ones; `empty` if none.
    fn median_by<T: Copy>(sorted: &[T], empty: T, halfway: fn(T, T) -> T) -> T {
        match sorted.len() {
            0 => empty,
            n if n % 2 == 1 => sorted[n / 2],
            n => halfway(sorted[n / 2 - 1], sorted[n / 2]),
        }
    }

    /// Nearest-rank percentile of sorted samples.
    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// A field of /proc/self/status (`VmRSS`, `VmHWM`), in bytes.
    fn status_bytes(field: &str) -> Option<u64> {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
        let kb: u64 = line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    }

    /// Resets VmHWM to the current RSS (Linux 4.0 and later); false when the kernel does not allow it.
    fn reset_peak() -> bool {
        fs::OpenOptions::new().write(true).open("/proc/self/clear_refs").and_then(|mut f| f.write_all(b"5")).is_ok()
    }

    fn pool(threads: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool")
    }

    fn config(root: &Path) -> Config {
        Config { roots: vec![root.to_path_buf()], ..Config::default() }
    }

    /// The configuration of the latency and idle loops: stator's defaults but for the intervals asked for.
    fn loop_config(args: &Args, root: &Path) -> Config {
        Config { interval: args.interval, hot_interval: args.hot_interval, ..config(root) }
    }

    // ----- the tree -----

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn unit(&mut self) -> f64 {
            self.below(1 << 30) as f64 / (1u64 << 30) as f64
        }
    }

    const KINDS: [(&str, &[u8]); 5] = [
        ("rs", b"fn main() {}\n"),
        ("py", b"print('hi')\n"),
        ("ts", b"export {};\n"),
        ("md", b"# notes\n"),
        ("json", b"{}\n"),
    ];
    /// Written into the marker of a kept tree: a tree made by another layout version is generated again.
    const LAYOUT: &str = "stator sweep tree v1";

    /// A generated tree: directories (relative to the root) with their file names.
    struct Tree {
        dirs: Vec<(PathBuf, Vec<String>)>,
        files: usize,
        max_depth: usize,
    }

    /// The layout of `files` files: directories with 8 subdirectories at most, each new directory holding 10 to 100
    /// files; every path goes 3 to 6 levels deep, so most files sit 4 to 6 levels down and a few near the top.
    fn plan(files: usize) -> Tree {
        let mut rng = Rng(SEED);
        let mut known = HashSet::new();
        let mut dirs = Vec::new();
        let mut made = 0;
        let mut max_depth = 0;
        while made < files {
            let depth = 3 + rng.below(4);
            let mut dir = PathBuf::new();
            for level in 0..depth {
                dir.push(format!("dir{level}_{}", rng.below(8)));
                if made < files && known.insert(dir.clone()) {
                    let n = (10 + rng.below(91)).min(files - made);
                    let names = (0..n).map(|k| format!("file{k}.{}", KINDS[rng.below(KINDS.len())].0)).collect();
                    made += n;
                    max_depth = max_depth.max(level + 1);
                    dirs.push((dir.clone(), names));
                }
            }
        }
        Tree { dirs, files, max_depth }
    }

    fn generate(label: &str, root: &Path, tree: &Tree, threads: usize) {
        for (dir, _) in &tree.dirs {
            fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        let done = AtomicUsize::new(0);
        let loud = tree.files >= 200_000;
        pool(threads).install(|| {
            tree.dirs.par_iter().for_each(|(dir, names)| {
                let dir = root.join(dir);
                for name in names {
                    let ext = name.rsplit('.').next().unwrap_or("");
                    let content = KINDS.iter().find(|k| k.0 == ext).map_or(&b"\n"[..], |k| k.1);
                    fs::write(dir.join(name), content).expect("write");
                }
                let before = done.fetch_add(names.len(), Ordering::Relaxed);
                let after = before + names.len();
                if loud && before * 10 / tree.files != after * 10 / tree.files {
                    note!(
                        label,
                        "generated {:>9} of {} files ({:>3}%)",
                        thousands(after),
                        thousands(tree.files),
                        after * 100 / tree.files
                    );
                }
            });
        });
    }

    // ----- the floors -----

    fn lstat_floor(paths: &[CString]) -> Cost {
        measure(|| {
            for p in paths {
                black_box(rustix::fs::lstat(p.as_c_str()).is_ok());
            }
        })
    }

    /// `fstatat` relative to directory handles opened beforehand (not timed). Directories are taken in batches that
    /// fit the open-file limit, and the handles are closed after each batch, so that stator never runs short of
    /// descriptors because of the floor.
    fn fstatat_floor(dirs: &[(CString, Vec<CString>)], max_open: usize) -> Cost {
        let mut total = Cost::default();
        for batch in dirs.chunks(max_open.max(1)) {
            let fds: Vec<_> = batch
                .iter()
                .map(|(d, _)| {
                    open(d.as_c_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                        .expect("open a directory")
                })
                .collect();
            let cost = measure(|| {
                for (fd, (_, names)) in fds.iter().zip(batch) {
                    for name in names {
                        black_box(statat(fd, name.as_c_str(), AtFlags::empty()).is_ok());
                    }
                }
            });
            total.cpu += cost.cpu;
            total.wall += cost.wall;
        }
        total
    }

    fn cstring(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).expect("no NUL in paths")
    }

    // ----- the memory child -----

    /// The memory-only mode: RSS before the poller exists and after its baseline tick, peaks during the walk and
    /// during sweeps, printed as `key=value` for the parent.
    fn memory_child(spec: &str) {
        let mut parts = spec.splitn(3, ' ');
        let threads: usize = parts.next().and_then(|s| s.parse().ok()).expect("threads");
        let reps: usize = parts.next().and_then(|s| s.parse().ok()).expect("reps");
        let root = PathBuf::from(parts.next().expect("root"));
        let pool = pool(threads);
        pool.install(|| black_box(0));
        let rss0 = status_bytes("VmRSS").unwrap_or(0);
        let reset = reset_peak();
        let mut poller = Poller::new(config(&root), RealFs).expect("poller");
        let walk = measure(|| {
            pool.install(|| black_box(poller.tick().stats));
        });
        let rss1 = status_bytes("VmRSS").unwrap_or(0);
        let hwm_walk = status_bytes("VmHWM").unwrap_or(0);
        reset_peak();
        for _ in 0..reps {
            pool.install(|| black_box(poller.tick().stats));
        }
        let rss2 = status_bytes("VmRSS").unwrap_or(0);
        let hwm_sweep = status_bytes("VmHWM").unwrap_or(0);
        let (files, _) = poller.counts();
        println!(
            "rss0={rss0} rss1={rss1} hwm_walk={hwm_walk} rss2={rss2} hwm_sweep={hwm_sweep} files={files} reset={} \
             walk_cpu={} walk_wall={}",
            u8::from(reset),
            walk.cpu.as_nanos(),
            walk.wall.as_nanos()
        );
    }

    struct Memory {
        rss0: u64,
        rss1: u64,
        hwm_walk: u64,
        hwm_sweep: u64,
        files: u64,
        reset: bool,
        walk: Cost,
    }

    fn memory(root: &Path, threads: usize, reps: usize) -> Result<Memory, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = Command::new(exe)
            .env(CHILD_ENV, format!("{threads} {reps} {}", root.display()))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("the memory child failed: {}", out.status));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let kv: HashMap<&str, u64> = text
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let get = |k: &str| kv.get(k).copied().ok_or(format!("the memory child did not report {k}: {text}"));
        let m = Memory {
            rss0: get("rss0")?,
            rss1: get("rss1")?,
            hwm_walk: get("hwm_walk")?,
            hwm_sweep: get("hwm_sweep")?,
            files: get("files")?,
            reset: get("reset")? == 1,
            walk: Cost { cpu: Duration::from_nanos(get("walk_cpu")?), wall: Duration::from_nanos(get("walk_wall")?) },
        };
        if m.rss0 == 0 {
            return Err("no /proc/self/status here".into());
        }
        Ok(m)
    }

    // ----- the whole process -----

    /// Set in the environment of the re-executed binary: "INTERVAL_NS ROOT" asks for the spaced-floor mode.
    const FLOOR_ENV: &str = "STATOR_SWEEP_FLOOR_CHILD";
    /// Full sweeps in one measured window of the whole-process mode: the `-v` scan summary stator prints comes
    /// every ten scans.
    const WINDOW_SWEEPS: usize = 10;
    /// Sizes above this skip the whole-process mode unless --process says otherwise (at 1M files a window of ten
    /// spaced sweeps of one thread takes minutes).
    const PROCESS_MAX_FILES: usize = 200_000;

    /// The spaced-floor mode: lists the tree under ROOT, opens a handle on every directory, then every INTERVAL
    /// (fixed rate, as stator's schedule) `fstatat`s every name in it (files and directories, following symlinks:
    /// what stator's sweep stats) and prints a line. Runs until killed.
    fn floor_child(spec: &str) {
        let (interval, root) = spec.split_once(' ').expect("INTERVAL_NS ROOT");
        let interval = Duration::from_nanos(interval.parse().expect("interval"));
        let mut dirs = Vec::new();
        let mut todo = vec![PathBuf::from(root)];
        while let Some(dir) = todo.pop() {
            let mut names = Vec::new();
            for entry in fs::read_dir(&dir).expect("list a directory").flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(entry.path());
                }
                names.push(CString::new(entry.file_name().as_bytes()).expect("name"));
            }
            let fd = open(&dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).expect("open");
            dirs.push((fd, names));
        }
        let mut next = Instant::now();
        let mut out = std::io::stdout().lock();
        loop {
            sleep_until(next);
            next += interval;
            for (fd, names) in &dirs {
                for name in names {
                    black_box(statat(fd, name.as_c_str(), AtFlags::empty()).is_ok());
                }
            }
            if writeln!(out, "swept").and_then(|_| out.flush()).is_err() {
                return;
            }
        }
    }

    /// The CPU time (user + system, all threads) a process has used so far, from `/proc/PID/stat`.
    fn process_cpu(pid: u32) -> Option<Duration> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let hz = rustix::param::clock_ticks_per_second();
        Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
    }

    /// Runs `cmd` and measures the process's CPU time from the first line of its stdout (or, if `stderr`, its
    /// stderr) that `mark` picks to the second: the CPU per full sweep of that window, and its wall time.
    fn window(
        mut cmd: Command,
        stderr: bool,
        mut mark: impl FnMut(&str) -> bool,
    ) -> Result<(Duration, Duration), String> {
        use std::io::BufRead as _;
        let (out, err) = if stderr { (Stdio::null(), Stdio::piped()) } else { (Stdio::piped(), Stdio::null()) };
        let mut child = cmd.stdout(out).stderr(err).spawn().map_err(|e| e.to_string())?;
        let pid = child.id();
        let stream: Box<dyn std::io::Read> = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), _) => Box::new(o),
            (None, Some(e)) => Box::new(e),
            (None, None) => return Err("no output to read".into()),
        };
        let mut marks = Vec::new();
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if mark(&line) {
                marks.push((process_cpu(pid), Instant::now()));
                if marks.len() == 2 {
                    break;
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        match marks.as_slice() {
            [(Some(a), wa), (Some(b), wb)] => Ok(((*b - *a) / WINDOW_SWEEPS as u32, *wb - *wa)),
            _ => Err(format!("the process ended before two marks ({} seen)", marks.len())),
        }
    }

    /// One round of the whole-process mode: stator and the spaced floor, each CPU per sweep and window wall time.
    #[derive(Clone, Copy)]
    struct ProcessRound {
        stator: Duration,
        stator_wall: Duration,
        floor: Duration,
        floor_wall: Duration,
    }

    /// The whole-process mode: the `stator` binary itself watching the tree (one sweep thread, `--interval`, no
    /// hot tier), its CPU over ten idle full sweeps (between two of its `-v --json` scan summaries, after ten
    /// warm-up sweeps), against the spaced floor measured the same way (this binary re-executed: ten warm-up
    /// sweeps, then ten), `rounds` times each, interleaved.
    fn process(root: &Path, interval: Duration, rounds: usize) -> Result<Vec<ProcessRound>, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for _ in 0..rounds {
            let mut floor = Command::new(&exe);
            floor.env(FLOOR_ENV, format!("{} {}", interval.as_nanos(), root.display())).stdin(Stdio::null());
            let mut seen = 0;
            let (floor, floor_wall) = window(floor, false, |_| {
                seen += 1;
                seen % WINDOW_SWEEPS == 0
            })?;
            let mut stator = Command::new(env!("CARGO_BIN_EXE_stator"));
            stator
                .args(["-v", "--json", "--no-vcs-ignore", "--no-default-ignore", "--no-config", "--interval"])
                .arg(format!("{}ms", interval.as_millis()))
                .args(["--hot-interval", "0s", "-w"])
                .arg(root)
                .args(["--", "sleep", "100000"])
                .env("RAYON_NUM_THREADS", "1")
                .stdin(Stdio::null());
            let (stator, stator_wall) = window(stator, true, |line| line.contains(r#""event":"scans""#))?;
            out.push(ProcessRound { stator, stator_wall, floor, floor_wall });
        }
        Ok(out)
    }

    // ----- the tick loop -----

    /// Looks of one kind: how many, and the CPU time they cost (on all cores, as the app measures it).
    #[derive(Clone, Copy, Default)]
    struct Looks {
        count: usize,
        cpu: Duration,
    }

    /// What a tick loop did.
    #[derive(Clone, Default)]
    struct Watch {
        full: Looks,
        hot: Looks,
        /// The whole loop, waiting included: the process's CPU time and the elapsed time.
        cost: Cost,
        /// Back-off notices the schedule gave (the app prints each).
        back_offs: usize,
        /// The schedule's effective interval after each full sweep.
        intervals: Vec<Duration>,
        /// The most paths the hot tier re-checked at once.
        hot_paths: usize,
        /// Parts of full sweeps that did not finish one (a big tree's sweep goes in parts, hot ticks between).
        parts: usize,
    }

    impl Watch {
        fn add(&mut self, other: Watch) {
            for (a, b) in [(&mut self.full, other.full), (&mut self.hot, other.hot)] {
                a.count += b.count;
                a.cpu += b.cpu;
            }
            self.cost.cpu += other.cost.cpu;
            self.cost.wall += other.cost.wall;
            self.back_offs += other.back_offs;
            self.intervals.extend(other.intervals);
            self.hot_paths = self.hot_paths.max(other.hot_paths);
            self.parts += other.parts;
        }

        /// CPU time per second of watching, as % of one core.
        fn pct(&self) -> f64 {
            100.0 * ratio(self.cost.cpu, self.cost.wall)
        }

        /// A share of the watching time, as % of one core.
        fn share(&self, cpu: Duration) -> f64 {
            100.0 * ratio(cpu, self.cost.wall)
        }

        /// The CPU of the loop besides its looks: waking up, the settle bookkeeping.
        fn rest(&self) -> Duration {
            self.cost.cpu.saturating_sub(self.full.cpu + self.hot.cpu)
        }

        /// The effective full-sweep interval: median and largest.
        fn interval(&self) -> (Duration, Duration) {
            let mut v = self.intervals.clone();
            v.sort();
            (median(&v), v.last().copied().unwrap_or_default())
        }
    }

    /// When a tick loop stops.
    enum Until<'a> {
        /// As soon as the flag is set.
        Flag(&'a AtomicBool),
        /// At the first full sweep due at or after this time, which it waits for, so that the loop covers whole
        /// periods of the schedule.
        Time(Instant),
    }

    fn sleep_until(t: Instant) {
        let now = Instant::now();
        if t > now {
            std::thread::sleep(t - now);
        }
    }

    /// Drives the engine as the app's main loop does: [`Cadence`], the app's own scheduling decision, says which
    /// look is due next (a full `Poller::tick` on the fixed-rate schedule, which backs off when a sweep's CPU time
    /// is more than a quarter of the interval; a `Poller::tick_hot` every hot interval in between; an early look
    /// while a burst settles), each look's cost is the process's CPU time as in the app (src/app/cpu.rs), and its
    /// changes go to a [`Settle`] as in the app (the settled sets are dropped: what is measured is the engine's
    /// detection). `seen(end of the look, the look, the cadence after it)` is called after each look.
    fn tick_loop(
        poller: &mut Poller,
        cfg: &Config,
        until: Until,
        mut seen: impl FnMut(Instant, &Tick, &Cadence),
    ) -> Watch {
        let (c0, w0) = (cpu(), Instant::now());
        let mut cadence = Cadence::new(cfg, w0);
        let mut parts = Parts::new(cfg);
        let mut settle = Settle::new(cfg.settle, cfg.max_wait);
        let mut watch = Watch::default();
        loop {
            let (due, kind) = cadence.next(Instant::now(), &settle);
            match until {
                Until::Flag(stop) if stop.load(Ordering::Relaxed) => break,
                Until::Time(t) if kind == Sweep::Full && due >= t => {
                    sleep_until(due);
                    break;
                }
                _ => {}
            }
            sleep_until(due);
            let (start, c) = (Instant::now(), cpu());
            let mut tick = poller.look(kind, parts.size());
            let (end, cost) = (Instant::now(), cpu() - c);
            if kind != Sweep::Hot {
                parts.record(tick.stats, end - start);
            }
            if cadence.done(kind, start, cost, tick.pending, tick.more).is_some() {
                watch.back_offs += 1;
            }
            let looks = match kind {
                Sweep::Full | Sweep::Part => &mut watch.full,
                Sweep::Hot => &mut watch.hot,
            };
            looks.cpu += cost;
            if kind != Sweep::Hot && !tick.more {
                looks.count += 1;
                watch.intervals.push(cadence.schedule().effective_interval());
            } else if kind == Sweep::Hot {
                looks.count += 1;
            } else {
                watch.parts += 1;
            }
            watch.hot_paths = watch.hot_paths.max(poller.hot_count());
            seen(end, &tick, &cadence);
            settle.push_look(std::mem::take(&mut tick.changes), kind, tick.more, end);
            let _ = settle.take(end);
        }
        watch.cost = Cost { cpu: cpu() - c0, wall: w0.elapsed() };
        watch
    }

    struct Latency {
        cold: Vec<Duration>,
        hot: Vec<Duration>,
        missed: [usize; 2],
        watch: Watch,
    }

    /// Edit-to-detection latency. An editor thread waits a random fraction of the full-sweep period (the
    /// schedule's effective interval, stretched when it backs off), so that edits land at a uniformly random phase
    /// of the schedule, makes a file longer in one `write`, and waits for the first look that reports the file; the
    /// latency is from the write's return to that look's end. `trials` random files (cold: found by a full sweep),
    /// then `trials` edits of the file edited just before (hot: it changed moments ago, so the hot tier re-checks
    /// it).
    fn latency(
        poller: &mut Poller,
        pool: &ThreadPool,
        root: &Path,
        tree: &Tree,
        cfg: &Config,
        trials: usize,
    ) -> Latency {
        let files: Vec<(u32, u32)> = tree
            .dirs
            .iter()
            .enumerate()
            .flat_map(|(d, (_, names))| (0..names.len()).map(move |n| (d as u32, n as u32)))
            .collect();
        let rel = |(d, n): (u32, u32)| {
            let (dir, names) = &tree.dirs[d as usize];
            dir.join(&names[n as usize])
        };
        let interval = cfg.interval;
        let stop = AtomicBool::new(false);
        let period = AtomicU64::new(interval.as_nanos() as u64);
        let (tx, rx) = mpsc::channel::<(Instant, Vec<PathBuf>)>();
        let (files, stop, period) = (&files, &stop, &period);
        std::thread::scope(|s| {
            let editor = s.spawn(move || {
                let mut rng = Rng(SEED ^ 0x5eed);
                let (mut cold, mut hot, mut missed) = (Vec::new(), Vec::new(), [0, 0]);
                let mut last = files[0];
                for trial in 0..2 * trials {
                    let is_hot = trial >= trials;
                    let file = if is_hot { last } else { files[rng.below(files.len())] };
                    let path = rel(file);
                    let period = Duration::from_nanos(period.load(Ordering::Relaxed)).max(interval);
                    std::thread::sleep(period.mul_f64(rng.unit()));
                    // One byte longer, written from the start in one write(2) without truncating: the size
                    // changes once, never through a shorter state a tick could see half-way.
                    let target = root.join(&path);
                    let len = fs::metadata(&target).map(|m| m.len()).expect("stat the file to edit");
                    let content = vec![b'x'; usize::try_from(len).expect("small file") + 1];
                    let before = Instant::now();
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&target)
                        .and_then(|mut f| f.write_all(&content))
                        .expect("edit");
                    let edited = Instant::now();
                    let deadline = edited + period * 10 + Duration::from_secs(30);
                    let found = loop {
                        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                            Ok((end, paths)) if end >= before && paths.iter().any(|p| p.ends_with(&path)) => {
                                break Some(end.saturating_duration_since(edited));
                            }
                            Ok(_) => {}
                            Err(_) => break None,
                        }
                    };
                    match found {
                        Some(d) if is_hot => hot.push(d),
                        Some(d) => cold.push(d),
                        None => missed[usize::from(is_hot)] += 1,
                    }
                    last = file;
                }
                stop.store(true, Ordering::Relaxed);
                (cold, hot, missed)
            });
            let watch = pool.install(|| {
                tick_loop(poller, cfg, Until::Flag(stop), |end, tick, cadence| {
                    period.store(cadence.schedule().effective_interval().as_nanos() as u64, Ordering::Relaxed);
                    if !tick.changes.is_empty() {
                        let _ = tx.send((end, tick.changes.iter().map(|c| c.path.clone()).collect()));
                    }
                })
            });
            let (mut cold, mut hot, missed) = editor.join().expect("the editor thread");
            cold.sort();
            hot.sort();
            Latency { cold, hot, missed, watch }
        })
    }

    /// Idle watching, with the hot tier and with full sweeps alone at the same interval.
    #[derive(Default)]
    struct Idle {
        tiers: Watch,
        alone: Watch,
    }

    /// Watches the unchanged tree for `each` with `cfg` (the hot tier re-checking what the latency trials edited)
    /// and for `each` with full sweeps alone (no hot tier), in four interleaved quarters so that both see the same
    /// machine.
    const IDLE_ROUNDS: u32 = 4;

    fn idle(poller: &mut Poller, pool: &ThreadPool, cfg: &Config, each: Duration) -> Idle {
        let alone_cfg = Config { hot_interval: Duration::ZERO, ..cfg.clone() };
        let mut idle = Idle::default();
        for _ in 0..IDLE_ROUNDS {
            for (cfg, watch) in [(&alone_cfg, &mut idle.alone), (cfg, &mut idle.tiers)] {
                let until = Instant::now() + each / IDLE_ROUNDS;
                watch.add(pool.install(|| tick_loop(poller, cfg, Until::Time(until), |_, _, _| {})));
            }
        }
        idle
    }

    // ----- one size -----

    /// One poller measured round-robin with the floors.
    #[derive(Clone, Copy)]
    struct Round {
        lstat: Summary,
        fstatat: Summary,
        stator: Summary,
        /// Stator / floor, each the median of the rounds' own ratios (a round measures every contender back to back,
        /// so a slow minute of a shared machine weighs on both sides of its ratio): cpu and wall against lstat,
        /// then against fstatat.
        vs_lstat: Paired,
        vs_fstatat: Paired,
        /// The poller's directory handles.
        handles: usize,
        /// Directory handles the fstatat floor opened at a time.
        max_open: usize,
    }

    struct SizeResult {
        label: String,
        files: usize,
        /// With one thread, then with the default count.
        one: Round,
        many: Round,
        /// With one thread, then with the default count.
        memory: [Option<Memory>; 2],
        latency: Latency,
        idle: Idle,
        /// The whole-process rounds (none when skipped), or why they failed.
        process: Result<Vec<ProcessRound>, String>,
    }

    fn run_size(args: &Args, label: &str, files: usize) -> (SizeResult, Option<Cleanup>) {
        let threads = args.threads;
        let tree = plan(files);
        // A fresh temporary tree, or with --keep a fixed one that later runs reuse.
        let (tmp, root) = if args.keep {
            (None, args.dir.join(format!("stator-sweep-{files}")))
        } else {
            let tmp = tempfile::Builder::new().prefix("stator-sweep-").tempdir_in(&args.dir).expect("temp dir");
            let root = tmp.path().to_path_buf();
            (Some(tmp), root)
        };
        let marker = args.dir.join(format!("stator-sweep-{files}.done"));
        let stamp = format!("{LAYOUT} {files} {SEED:x}");
        let reused = args.keep && fs::read_to_string(&marker).is_ok_and(|m| m == stamp) && root.is_dir();
        let generated = if reused {
            note!(label, "reusing the tree kept in {}", root.display());
            None
        } else {
            if args.keep {
                let _ = fs::remove_file(&marker);
                let _ = fs::remove_dir_all(&root);
                fs::create_dir_all(&root).expect("tree root");
            }
            note!(
                label,
                "generating {} files in {} directories under {} ...",
                thousands(files),
                thousands(tree.dirs.len()),
                root.display()
            );
            let t0 = Instant::now();
            generate(label, &root, &tree, threads);
            let took = t0.elapsed();
            if args.keep {
                fs::write(&marker, &stamp).expect("marker");
            }
            note!(label, "generated in {:.1} s; letting it age {} s", took.as_secs_f64(), AGE.as_secs());
            std::thread::sleep(AGE);
            Some(took)
        };

        note!(label, "memory, in child processes (1 and {threads} threads) ...");
        let sweeps = args.reps.min(2);
        let memory = [1, threads]
            .map(|t| memory(&root, t, sweeps).map_err(|e| note!(label, "memory with {t} threads: {e}")).ok());

        // The floors' lists, built only now (the memory child never sees them).
        let paths: Vec<CString> = tree
            .dirs
            .iter()
            .flat_map(|(d, names)| {
                let dir = root.join(d);
                names.iter().map(move |n| cstring(&dir.join(n)))
            })
            .collect();
        let handles: Vec<(CString, Vec<CString>)> = tree
            .dirs
            .iter()
            .map(|(d, names)| {
                (cstring(&root.join(d)), names.iter().map(|n| CString::new(n.as_bytes()).expect("name")).collect())
            })
            .collect();

        // Each poller is measured alone against the floors, as the app has one poller: two at once would share
        // the open-file limit, and at 1M files one of them would stat most files by path.
        let mut unexpected = 0;
        let mut contest = |threads: usize, pool: &ThreadPool| {
            note!(label, "baseline tick, {threads} thread(s) ...");
            let mut poller = Poller::new(config(&root), RealFs).expect("poller");
            let walk = measure(|| {
                pool.install(|| black_box(poller.tick().stats));
            });
            let limit = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
            // The poller's directory handles count against the same limit.
            let max_open = usize::try_from(limit.saturating_sub(256))
                .unwrap_or(usize::MAX)
                .saturating_sub(stator::sys::open_handles())
                .max(16);
            note!(
                label,
                "{} full sweeps each, round-robin: the floors and stator with {threads} thread(s) ({} directory \
                 handles; the fstatat floor opens {max_open} at a time) ...",
                args.reps,
                poller.handles()
            );
            let mut runs: [Vec<Cost>; 3] = Default::default();
            for rep in 0..=args.reps {
                let costs = [
                    lstat_floor(&paths),
                    fstatat_floor(&handles, max_open),
                    measure(|| {
                        pool.install(|| unexpected += poller.tick().changes.len());
                    }),
                ];
                // The first round warms every contender up and is not counted.
                if rep > 0 {
                    for (r, c) in runs.iter_mut().zip(costs) {
                        r.push(c);
                    }
                }
            }
            let (vs_lstat, vs_fstatat) = (paired(&runs[2], &runs[0]), paired(&runs[2], &runs[1]));
            let [lstat, fstatat, stator] = runs.map(|r| summarize(&r));
            let round = Round { lstat, fstatat, stator, vs_lstat, vs_fstatat, handles: poller.handles(), max_open };
            (poller, walk, round)
        };
        let one_pool = pool(1);
        let many_pool = pool(threads);
        let (one, walk_one, one_runs) = contest(1, &one_pool);
        drop(one);
        let (mut many, walk_many, many_runs) = contest(threads, &many_pool);
        let (tracked, listed) = many.counts();
        let stats = many_pool.install(|| many.tick().stats);

        // The full-sweep period the app's schedule would settle on for sweeps costing this much CPU.
        let period = {
            let now = Instant::now();
            let mut schedule = Schedule::new(args.interval, now);
            schedule.done(now, many_runs.stator.cpu);
            schedule.effective_interval()
        };
        // A cold trial takes about one and a half periods, a hot one half a period: unless told, take fewer when
        // the schedule backs off, so that a 1M-file tree does not spend ten minutes here.
        let trials = if args.trials_given {
            args.trials
        } else {
            args.trials.min(((150.0 / (2.0 * period.as_secs_f64())) as usize).max(10))
        };
        let cfg = loop_config(args, &root);
        note!(
            label,
            "latency: {trials} cold and {trials} hot edits, full sweeps every {} (expected: every {}), hot ticks every \
             {} ...",
            humantime::format_duration(args.interval),
            millis(period),
            humantime::format_duration(args.hot_interval)
        );
        let latency = latency(&mut many, &many_pool, &root, &tree, &cfg, trials);
        // At least one period in each quarter, so that each loop's cost covers a few whole periods.
        let each = args.idle.max(period * 4);
        note!(label, "idle watching for {} with the hot tier and {0} with full sweeps alone ...", millis(each));
        let idle = idle(&mut many, &many_pool, &cfg, each);
        drop(many);

        let rounds = if args.process_given || files <= PROCESS_MAX_FILES { args.process } else { 0 };
        if rounds > 0 {
            note!(
                label,
                "the whole process: the stator binary and a spaced fstatat floor, {rounds} rounds of {WINDOW_SWEEPS} \
                 idle sweeps each after {WINDOW_SWEEPS} warm-up sweeps, every {} ...",
                humantime::format_duration(args.process_interval)
            );
        }
        let process = process(&root, args.process_interval, rounds);
        if let Err(e) = &process {
            note!(label, "the whole process: {e}");
        }

        let result = SizeResult {
            label: label.to_string(),
            files,
            one: one_runs,
            many: many_runs,
            memory,
            latency,
            idle,
            process,
        };
        let info = SizeInfo { tree: &tree, generated, tracked, listed, stats, walk_one, walk_many, unexpected };
        print_size(args, &result, &info);
        let cleanup = match tmp {
            Some(tmp) => Some(Cleanup { label: label.to_string(), tmp, tree, threads }),
            None => {
                note!(label, "kept {} for later runs with --keep", root.display());
                None
            }
        };
        (result, cleanup)
    }

    /// A temporary tree to remove once every result is printed.
    struct Cleanup {
        label: String,
        tmp: tempfile::TempDir,
        tree: Tree,
        threads: usize,
    }

    /// Threads that remove a tree, at least. Unlinking a file whose block was written back waits on the disk
    /// (freeing the block, a discard on filesystems mounted with it), so more threads than cores help: 8 removed an
    /// aged 100k-file tree 1.5 to 3 times faster than 2 on a loaded 2-core ext4 VM, where 2 took 7 minutes for 1M.
    const REMOVE_THREADS: usize = 8;

    impl Cleanup {
        fn run(self) {
            let Cleanup { label, tmp, tree, threads } = self;
            note!(label, "removing the tree (--keep would keep it for later runs) ...");
            let removing = Instant::now();
            let root = tmp.path();
            pool(threads.max(REMOVE_THREADS)).install(|| {
                tree.dirs.par_iter().for_each(|(d, names)| {
                    let dir = root.join(d);
                    for name in names {
                        let _ = fs::remove_file(dir.join(name));
                    }
                });
            });
            drop(tmp);
            note!(label, "removed in {:.1} s", removing.elapsed().as_secs_f64());
        }
    }

    // ----- printing -----

    struct SizeInfo<'a> {
        tree: &'a Tree,
        generated: Option<Duration>,
        tracked: usize,
        listed: usize,
        stats: usize,
        walk_one: Cost,
        walk_many: Cost,
        unexpected: usize,
    }

    fn thousands(n: usize) -> String {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// A duration in whole milliseconds: `1380ms`.
    fn millis(d: Duration) -> String {
        format!("{:.0}ms", ms(d))
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    fn ratio(a: Duration, b: Duration) -> f64 {
        a.as_secs_f64() / b.as_secs_f64().max(1e-12)
    }

    fn mb(bytes: u64) -> f64 {
        bytes as f64 / (1 << 20) as f64
    }

    fn per_file(bytes: u64, files: u64) -> u64 {
        bytes / files.max(1)
    }

    fn print_size(args: &Args, r: &SizeResult, info: &SizeInfo) {
        let t = args.threads;
        let out = &mut String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "== {}: {} files in {} directories, up to {} levels deep ({}) ==",
            r.label,
            thousands(r.files),
            thousands(info.tree.dirs.len()),
            info.tree.max_depth,
            info.generated.map_or("reused from an earlier --keep run".to_string(), |g| format!(
                "generated in {:.1} s",
                g.as_secs_f64()
            ))
        ));
        line(format!(
            "stator tracks {} files and lists {} directories; {} stats per sweep",
            thousands(info.tracked),
            thousands(info.listed),
            thousands(info.stats)
        ));
        if info.tracked != r.files {
            line(format!("!! stator tracks {} files, not the {} generated", info.tracked, r.files));
        }
        if info.unexpected > 0 {
            line(format!("!! the measured sweeps reported {} changes on an unchanged tree", info.unexpected));
        }
        line(format!(
            "ratios, stator / floor (medians of {} rounds' ratios; each poller measured alone, round-robin with the \
             floors)  cpu/lstat cpu/fstatat  wall/lstat wall/fstatat",
            args.reps
        ));
        for (name, x) in [("stator, 1 thread".to_string(), r.one), (format!("stator, {t} threads"), r.many)] {
            line(format!(
                "  {name:<42} {:>8.2}x {:>10.2}x  {:>9.2}x {:>11.2}x",
                x.vs_lstat.cpu, x.vs_fstatat.cpu, x.vs_lstat.wall, x.vs_fstatat.wall
            ));
        }
        line(format!(
            "{:<44} {:>8}  {:>15}  {:>8}  {:>11}",
            "absolute, per full sweep", "cpu ms", "cpu min-max", "wall ms", "cpu ns/file"
        ));
        let at_name = |x: &Round| {
            let batches = info.tree.dirs.len().div_ceil(x.max_open.max(1));
            if batches > 1 { format!("fstatat floor ({batches} fd batches)") } else { "fstatat floor".to_string() }
        };
        let mut rows = Vec::new();
        for (threads, x) in [(1, r.one), (t, r.many)] {
            let with = format!("beside {threads} thread(s)");
            rows.push((format!("lstat floor, {with}"), x.lstat));
            rows.push((format!("{}, {with}", at_name(&x)), x.fstatat));
            rows.push((format!("stator, {threads} thread(s), {} handles", thousands(x.handles)), x.stator));
        }
        for (name, s) in rows {
            line(format!(
                "  {name:<42} {:>8.1}  {:>15}  {:>8.1}  {:>11.0}",
                ms(s.cpu),
                format!("{:.1}-{:.1}", ms(s.cpu_min), ms(s.cpu_max)),
                ms(s.wall),
                s.cpu.as_nanos() as f64 / r.files.max(1) as f64
            ));
        }
        for (name, c) in [
            ("baseline tick (walk), 1 thread".to_string(), info.walk_one),
            (format!("baseline tick (walk), {t} threads"), info.walk_many),
        ] {
            line(format!(
                "  {name:<42} {:>8.1}  {:>15}  {:>8.1}  {:>11.0}",
                ms(c.cpu),
                "",
                ms(c.wall),
                c.cpu.as_nanos() as f64 / r.files.max(1) as f64
            ));
        }
        let [m1, mt] = &r.memory;
        match (m1, mt) {
            (Some(m1), Some(mt)) => {
                line(format!(
                    "memory, in child processes (this bench re-executed, no floor lists), RSS beyond the child's \
                     baseline ({:.1} MB)",
                    mb(m1.rss0)
                ));
                line(format!("{:<28} {:>26} {:>26}", "", "1 thread", format!("{t} threads")));
                let cell = |m: &Memory, x: u64| {
                    let above = x.saturating_sub(m.rss0);
                    format!("{:.1} MB = {:>5} B/file", mb(above), per_file(above, m.files))
                };
                let sweeps = format!("peak during {} more sweeps", args.reps.min(2));
                for (name, pick) in [
                    ("after the baseline tick", (|m: &Memory| m.rss1) as fn(&Memory) -> u64),
                    ("peak during the walk", |m: &Memory| m.hwm_walk),
                    (sweeps.as_str(), |m: &Memory| m.hwm_sweep),
                ] {
                    line(format!("  {name:<26} {:>26} {:>26}", cell(m1, pick(m1)), cell(mt, pick(mt))));
                }
                let walk = |m: &Memory| format!("{:.0} ms cpu, {:.0} ms wall", ms(m.walk.cpu), ms(m.walk.wall));
                line(format!("  {:<26} {:>26} {:>26}", "the walk in the child", walk(m1), walk(mt)));
                if !m1.reset || !mt.reset {
                    line("  (this kernel cannot reset the peak: peaks are since the child started)".to_string());
                }
            }
            _ => line("memory: not measured (needs /proc)".to_string()),
        }
        let l = &r.latency;
        line(wrap(
            &format!(
                "latency, edit -> end of the look reporting it, the engine ({t} threads) driven as the app drives it: \
                 full sweeps every {} ({}), hot ticks every {}; {} trials each ({} full sweeps, {} hot ticks)",
                humantime::format_duration(args.interval),
                schedule_note(args, &l.watch),
                hot_every(args),
                l.cold.len() + l.missed[0],
                l.watch.full.count,
                l.watch.hot.count
            ),
            116,
        ));
        line(format!("{:<36} {:>8} {:>8} {:>8} {:>8} {:>8}", "", "p50", "p90", "p99", "max", "missed"));
        for (name, v, missed) in
            [("cold (a random file)", &l.cold, l.missed[0]), ("hot (the file edited just before)", &l.hot, l.missed[1])]
        {
            line(format!(
                "  {name:<34} {:>5.0} ms {:>5.0} ms {:>5.0} ms {:>5.0} ms {:>8}",
                ms(percentile(v, 50.0)),
                ms(percentile(v, 90.0)),
                ms(percentile(v, 99.0)),
                ms(v.last().copied().unwrap_or_default()),
                format!("{missed}/{}", v.len() + missed)
            ));
        }
        let idle = &r.idle;
        line(format!(
            "idle watching, CPU as % of one core ({:.1} s with each cadence, in four interleaved quarters)",
            idle.tiers.cost.wall.as_secs_f64()
        ));
        line(format!("  {:<34} {:>7.2}x", "ratio, hot tier / full sweeps alone", idle_ratio(idle)));
        line(format!(
            "  {:<34} {:>7.2}x (full sweeps alone + the hot ticks and the extra wake-ups; no sweep-to-sweep noise)",
            "ratio, the hot tier's own CPU",
            own_ratio(idle)
        ));
        line(format!(
            "{:<36} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "", "total", "full", "hot", "loop", "fulls", "hots", "every"
        ));
        for (name, w) in [
            (format!("hot tier, every {}", hot_every(args)), &idle.tiers),
            ("full sweeps alone".to_string(), &idle.alone),
        ] {
            line(format!(
                "  {name:<34} {:>7.2}% {:>7.2}% {:>7.2}% {:>7.2}% {:>8} {:>8} {:>8}",
                w.pct(),
                w.share(w.full.cpu),
                w.share(w.hot.cpu),
                w.share(w.rest()),
                w.full.count,
                w.hot.count,
                millis(w.interval().0)
            ));
        }
        line(wrap(
            &format!(
                "(full, hot, loop: the CPU of full sweeps, of hot ticks (up to {} hot paths), of the rest of the loop; \
                 fulls, hots: how many; every: the full sweeps' effective interval, median; with the hot tier {}; \
                 alone {}; the app backs off when a full sweep costs more than a quarter of the interval in CPU time; \
                 parts: {} sweep parts ran besides the sweeps' last ones, hot ticks between them)",
                idle.tiers.hot_paths,
                schedule_note(args, &idle.tiers),
                schedule_note(args, &idle.alone),
                idle.tiers.parts + l.watch.parts,
            ),
            116,
        ));
        match &r.process {
            Ok(rounds) if rounds.is_empty() => line(format!(
                "the whole process: not measured at this size (more than {} files; --process N measures it)",
                thousands(PROCESS_MAX_FILES)
            )),
            Ok(rounds) => {
                line(wrap(
                    &format!(
                        "the whole process, CPU per full sweep: the stator binary (1 sweep thread, every {}, no hot \
                         tier) against a spaced fstatat floor (a process sweeping the same names at the same rate); \
                         each over {WINDOW_SWEEPS} idle sweeps from /proc/PID/stat, {} rounds interleaved",
                        humantime::format_duration(args.process_interval),
                        rounds.len()
                    ),
                    116,
                ));
                line(format!(
                    "  {:<34} {:>7.2}x (median of the rounds' ratios)",
                    "ratio, stator / floor",
                    process_ratio(rounds)
                ));
                for (i, p) in rounds.iter().enumerate() {
                    line(format!(
                        "  round {}: stator {:>7.1} ms per sweep ({:.1} s window), floor {:>7.1} ms ({:.1} s), {:.2}x",
                        i + 1,
                        ms(p.stator),
                        p.stator_wall.as_secs_f64(),
                        ms(p.floor),
                        p.floor_wall.as_secs_f64(),
                        ratio(p.stator, p.floor)
                    ));
                }
            }
            Err(e) => line(format!("the whole process: not measured: {e}")),
        }
        println!("{out}");
    }

    /// The whole-process ratio, stator / spaced floor: the median of the rounds' own ratios (0 with no rounds).
    fn process_ratio(rounds: &[ProcessRound]) -> f64 {
        let mut v: Vec<f64> = rounds.iter().map(|p| ratio(p.stator, p.floor)).collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    fn hot_every(args: &Args) -> String {
        if args.hot_interval.is_zero() {
            "never (--hot-interval 0)".to_string()
        } else {
            humantime::format_duration(args.hot_interval).to_string()
        }
    }

    /// Whether the schedule backed off, and to what interval.
    fn schedule_note(args: &Args, w: &Watch) -> String {
        let (median, max) = w.interval();
        if w.back_offs == 0 && max <= args.interval {
            "no back-off".to_string()
        } else {
            format!("backed off: every {} median, {} at most, {} notices", millis(median), millis(max), w.back_offs)
        }
    }

    fn idle_ratio(idle: &Idle) -> f64 {
        idle.tiers.pct() / idle.alone.pct().max(1e-9)
    }

    /// The ratio counting only what the hot tier adds: its hot ticks and the rest of its loop (wake-ups) beyond
    /// that of full sweeps alone, so that sweep-to-sweep noise in the full sweeps' cost does not show.
    fn own_ratio(idle: &Idle) -> f64 {
        let (t, a) = (&idle.tiers, &idle.alone);
        1.0 + (t.share(t.hot.cpu) + t.share(t.rest()) - a.share(a.rest())) / a.pct().max(1e-9)
    }

    fn loadavg() -> String {
        fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "n/a".into())
    }

    /// The filesystem type holding `dir`, from /proc/self/mounts (longest mount point that is a prefix).
    fn fs_type(dir: &Path) -> String {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_, at, kind) = (f.next()?, f.next()?, f.next()?);
                dir.starts_with(at).then(|| (at.len(), kind.to_string()))
            })
            .max_by_key(|(len, _)| *len)
            .map_or_else(|| "unknown filesystem".into(), |(_, kind)| kind)
    }

    fn cpu_model() -> String {
        fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into())
    }

    fn header(args: &Args) {
        let t = args.threads;
        let text = format!(
            "stator sweep benchmark, {cores} cores ({model}), trees on {fs} in {dir}, load average {load} at the \
             start. A sweep is one full look at every file of an unchanged tree that is already baselined, with warm \
             caches. cpu = user+sys time of the whole process (all threads), wall = elapsed time; each is the median \
             of {reps} sweeps run round-robin with the floors, after one uncounted round. Floors, both single-threaded \
             and over the same files: lstat = rustix lstat(2) on each absolute path; fstatat = rustix \
             statat(dirfd, name, 0) relative to directory handles opened beforehand (not timed), following symlinks \
             as stator's sweep does. \
             Ratios are stator / floor: 1.00x is the floor, lower is better; stator also stats its directories. The \
             walk is the first (baseline) tick, which lists the tree. Memory is measured in child processes (this \
             binary re-executed in a memory-only mode, which never builds the floors' lists), one with 1 thread and \
             one with {t}: RSS (VmRSS) before creating the poller and after its baseline tick, divided by the files \
             tracked; peaks are VmHWM, reset before the walk and before the sweeps. With several threads, glibc keeps \
             part of the walk's freed memory in per-thread arenas, so that RSS varies from run to run. Latency and \
             idle: the engine ({t} threads) is driven as the app drives it, by the app's own scheduling decision \
             (stator::poll::Cadence) with stator's default settings but for the intervals: a full sweep every \
             {interval} at a fixed rate (next start = previous start + interval), stretched so that sweeps cost at \
             most a quarter of one core in CPU time as the app's back-off does; a hot tick every {hot} between them, \
             re-checking the files changed in the last 5 minutes; early looks while a burst settles (200 ms). An \
             editor thread makes a file longer at a random phase of the full-sweep schedule and measures from the \
             write's return to the end of the first look that reports it (the engine's detection: the settle delay \
             before a restart is not counted); cold = a random file, found by a full sweep; hot = the file edited in \
             the previous trial, which the hot tier re-checks; {trials} trials each unless the schedule backs off \
             (below 100 trials p99 is the maximum). Idle = the same loop with no edits, CPU (user+sys of the whole \
             process, waiting included) as % of one core, for {idle} or four full-sweep periods if longer with the \
             hot tier (re-checking what the trials edited) and as long with full sweeps alone (no hot tier, the same \
             interval and back-off), in four interleaved quarters; their ratio is the hot tier's overhead. Whole \
             process (sizes up to 200k unless --process is given): the stator binary itself (-v --json, one sweep \
             thread, every {pint}, no hot tier), its CPU (utime+stime of /proc/PID/stat) per sweep between its 10th \
             and 20th scans, against a child process sweeping the same names with fstatat at the same fixed rate, \
             measured the same way between its 10th and 20th sweeps; stator backs off to its own interval where a \
             sweep costs more than a quarter of it.",
            cores = cores(),
            model = cpu_model(),
            fs = fs_type(&args.dir),
            dir = args.dir.display(),
            load = loadavg(),
            reps = args.reps,
            interval = humantime::format_duration(args.interval),
            hot = hot_every(args),
            trials = args.trials,
            idle = humantime::format_duration(args.idle),
            pint = humantime::format_duration(args.process_interval),
        );
        println!("{}\n", wrap(&text, 116));
    }

    fn wrap(text: &str, width: usize) -> String {
        let mut out = String::new();
        let mut len = 0;
        for word in text.split_whitespace() {
            if len > 0 && len + 1 + word.len() > width {
                out.push('\n');
                len = 0;
            } else if len > 0 {
                out.push(' ');
                len += 1;
            }
            out.push_str(word);
            len += word.len();
        }
        out
    }

    fn summary(args: &Args, results: &[SizeResult], started: Instant) {
        let t = args.threads;
        let mut out = String::new();
        out.push_str(&format!(
            "== summary: stator / fstatat floor per full sweep (cpu, wall); memory beyond baseline; latency and idle CPU \
             with full sweeps every {} and hot ticks every {} ==\n",
            humantime::format_duration(args.interval),
            hot_every(args)
        ));
        out.push_str(&format!(
            "(1t, {t}t: stator with 1 and {t} threads, cpu and wall as ratios to the fstatat floor; B/file: RSS beyond the \
             baseline after the walk, with 1 and {t} threads; latency p50/p99 in ms, cold = a random file, hot = the \
             file edited just before; idle x (own): CPU with the hot tier / with full sweeps alone, as measured and \
             (counting only the hot tier's own CPU); idle %: % of one core with the hot tier / alone; every: the full \
             sweeps' effective interval while idle, with the back-off; proc: the whole stator process / the spaced \
             fstatat floor, CPU per idle sweep)\n"
        ));
        out.push_str(&format!(
            "{:<6} {:>10} {:>7} {:>7} {:>7} {:>7} {:>11} {:>13} {:>13} {:>13} {:>11} {:>7} {:>6}\n",
            "size",
            "files",
            "1t cpu",
            "1t wall",
            format!("{t}t cpu"),
            format!("{t}t wall"),
            format!("B/file 1t/{t}t"),
            "cold p50/p99",
            "hot p50/p99",
            "idle x (own)",
            "idle %",
            "every",
            "proc"
        ));
        for r in results {
            let per = |m: &Option<Memory>| {
                m.as_ref().map_or("n/a".to_string(), |m| per_file(m.rss1.saturating_sub(m.rss0), m.files).to_string())
            };
            let bytes = format!("{}/{}", per(&r.memory[0]), per(&r.memory[1]));
            let (c, h) = (&r.latency.cold, &r.latency.hot);
            out.push_str(&format!(
                "{:<6} {:>10} {:>6.2}x {:>6.2}x {:>6.2}x {:>6.2}x {:>11} {:>13} {:>13} {:>13} {:>11} {:>7} {:>6}\n",
                r.label,
                thousands(r.files),
                r.one.vs_fstatat.cpu,
                r.one.vs_fstatat.wall,
                r.many.vs_fstatat.cpu,
                r.many.vs_fstatat.wall,
                bytes,
                format!("{:.0}/{:.0}", ms(percentile(c, 50.0)), ms(percentile(c, 99.0))),
                format!("{:.0}/{:.0}", ms(percentile(h, 50.0)), ms(percentile(h, 99.0))),
                format!("{:.2}x ({:.2}x)", idle_ratio(&r.idle), own_ratio(&r.idle)),
                format!("{:.1}/{:.1}", r.idle.tiers.pct(), r.idle.alone.pct()),
                millis(r.idle.tiers.interval().0),
                match &r.process {
                    Ok(rounds) if !rounds.is_empty() => format!("{:.2}x", process_ratio(rounds)),
                    _ => "n/a".to_string(),
                }
            ));
        }
        out.push_str(&format!(
            "(measured in {:.0} s, trees removed afterwards; load average {} at the end)",
            started.elapsed().as_secs_f64(),
            loadavg()
        ));
        println!("{out}");
    }

    pub(crate) fn main() {
        // As the app does: room for a handle per directory (two pollers and the fstatat floor share the limit).
        stator::sys::raise_fd_limit();
        if let Ok(spec) = std::env::var(CHILD_ENV) {
            memory_child(&spec);
            return;
        }
        if let Ok(spec) = std::env::var(FLOOR_ENV) {
            floor_child(&spec);
            return;
        }
        let args = match Args::parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                std::process::exit(2);
            }
        };
        let started = *START.get_or_init(Instant::now);
        header(&args);
        let (results, cleanups): (Vec<SizeResult>, Vec<Option<Cleanup>>) =
            args.sizes.iter().map(|(label, n)| run_size(&args, label, *n)).unzip();
        summary(&args, &results, started);
        cleanups.into_iter().flatten().for_each(Cleanup::run);
    }
}
