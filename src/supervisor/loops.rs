//! Restart loops: a command that changes a watched file itself as it starts (its log, a pid file, a cache, a
//! database not ignored by default) restarts itself for ever: each start changes the file, and the change restarts
//! it. Pure, like [`super::policy`]: the times come in as arguments.
//!
//! The rule: a settled change set whose burst began in the first moments of a run ([`LoopGuard::window`] after its
//! start), while the run was still going, is an *early* set. When the early sets of [`LOOP_RUNS`] consecutive runs
//! all hold the same paths, those paths are the command's own doing: the loop is reported once, with the fix
//! (`-i`), and from then on changes to them restart nothing (they are left out before they can even hold a burst
//! open), while every other change restarts as before. A run whose change came later, or that got none, breaks
//! the streak.
//!
//! A change first seen after the run ended by itself is never early: it may be the fix for what killed it (a
//! syntax error fixed at once). The price is that a command changing a file just before it exits (a build writing
//! its output into the tree) is not caught: its loop is as slow as its runs, and a `.gitignore` or `-i` ends it.
//! A person saving the same file within two seconds of each of three restarts in a row, the command running each
//! time, looks like a loop; that is the price of never looping for ever, and the notice says which path stopped
//! counting and why.

use std::collections::{BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// Consecutive runs whose early change sets hold the same paths before those paths are taken for a loop.
pub const LOOP_RUNS: u32 = 3;

/// Detects restart loops and keeps the paths of the ones found. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct LoopGuard {
    window: Duration,
    /// When the current run started.
    started: Option<Instant>,
    /// When the current run was seen to have ended by itself, if it has.
    ended: Option<Instant>,
    /// The start of the last run an early set was counted for (one per run).
    counted: Option<Instant>,
    /// Consecutive runs with an early set holding `suspects`.
    streak: u32,
    /// The paths every early set of the streak held.
    suspects: BTreeSet<PathBuf>,
    /// The paths of the loops found: their changes restart nothing any more.
    ignored: HashSet<PathBuf>,
}

/// A restart loop found: these paths changed in the first moments of each of the last `runs` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartLoop {
    /// The paths the command itself keeps changing, sorted.
    pub paths: Vec<PathBuf>,
    /// How many runs in a row changed them.
    pub runs: u32,
}

impl LoopGuard {
    /// A guard counting a change set as early when its burst began within `window` of its run's start.
    pub fn new(window: Duration) -> LoopGuard {
        LoopGuard {
            window,
            started: None,
            ended: None,
            counted: None,
            streak: 0,
            suspects: BTreeSet::new(),
            ignored: HashSet::new(),
        }
    }

    /// The guard for a scan interval of `interval`: a change the command makes as it starts is seen one interval
    /// later at most (the hot tier sees it sooner once it is hot), so the first moments are 2 s plus that.
    pub fn for_interval(interval: Duration) -> LoopGuard {
        LoopGuard::new(Duration::from_secs(2).saturating_add(interval))
    }

    /// How long after a run's start a change counts as made in its first moments.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// A run started at `at`. A streak survives only from a run whose early set was counted.
    pub fn started(&mut self, at: Instant) {
        if self.started.is_some() && self.counted != self.started {
            self.reset();
        }
        self.started = Some(at);
        self.ended = None;
    }

    /// The current run was seen at `at` to have ended by itself (a change first seen from then on is no echo of it).
    pub fn ended(&mut self, at: Instant) {
        if self.started.is_some() && self.ended.is_none() {
            self.ended = Some(at);
        }
    }

    /// Whether `path` belongs to a loop found: its changes restart nothing.
    pub fn ignores(&self, path: &Path) -> bool {
        !self.ignored.is_empty() && self.ignored.contains(path)
    }

    /// A change set of `paths`, whose burst began at `began`, settled. Returns the loop it completes, if it does,
    /// once: its paths are ignored from now on (leave them out of this set too).
    pub fn settled(&mut self, paths: &[PathBuf], began: Instant) -> Option<RestartLoop> {
        let Some(started) = self.started else {
            self.reset();
            return None;
        };
        let early = began.checked_duration_since(started).is_some_and(|d| d <= self.window)
            && self.ended.is_none_or(|ended| began < ended);
        if !early {
            self.reset();
            return None;
        }
        if self.counted == Some(started) {
            // A second early set in the same run (it did not restart the command): the run is counted already.
            return None;
        }
        self.counted = Some(started);
        let here: BTreeSet<PathBuf> = paths.iter().filter(|p| !self.ignores(p)).cloned().collect();
        let common: BTreeSet<PathBuf> = self.suspects.intersection(&here).cloned().collect();
        if self.streak == 0 || common.is_empty() {
            self.streak = 1;
            self.suspects = here;
        } else {
            self.streak += 1;
            self.suspects = common;
        }
        if self.streak < LOOP_RUNS || self.suspects.is_empty() {
            return None;
        }
        let paths: Vec<PathBuf> = std::mem::take(&mut self.suspects).into_iter().collect();
        self.ignored.extend(paths.iter().cloned());
        let runs = self.streak;
        self.streak = 0;
        Some(RestartLoop { paths, runs })
    }

    fn reset(&mut self) {
        self.streak = 0;
        self.suspects.clear();
    }
}

/// How many paths a loop notice names.
const SHOWN: usize = 3;

impl RestartLoop {
    /// The notice for the user: which paths, why, what stator does now, and the `-i` that says so for good. Paths
    /// are shown relative to `cwd` when under it; `roots` (absolute, normalised) are the watched roots the `-i`
    /// globs are relative to.
    pub fn message(&self, roots: &[PathBuf], cwd: &Path) -> String {
        let shown: Vec<&PathBuf> = self.paths.iter().take(SHOWN).collect();
        let mut names: Vec<String> =
            shown.iter().map(|p| p.strip_prefix(cwd).unwrap_or(p).display().to_string()).collect();
        if self.paths.len() > SHOWN {
            names.push(format!("{} more", self.paths.len() - SHOWN));
        }
        let (it, them) = if self.paths.len() == 1 { ("it", "it") } else { ("they", "them") };
        let mut text = format!(
            "the command itself keeps changing {}: {it} changed in the first moments of each of its last {} runs, so \
             changes to {them} no longer restart it",
            join_and(&names),
            self.runs
        );
        let hints: Vec<String> =
            shown.iter().filter_map(|p| ignore_hint(p, roots)).map(|g| format!("-i {g}")).collect();
        if !hints.is_empty() {
            text.push_str(&format!("; ignore {them} with {}", hints.join(" ")));
        }
        text
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The `-i` glob that ignores `path` under the watched `roots` (absolute, normalised): its name when it is at the
/// top of its root (a glob without `/` matches the name at any depth), else its path relative to the root (a glob
/// with `/` matches that path), with glob characters escaped and quoted for a shell when it needs it. `None` when
/// `path` is under no root (a path the command reported, which `-i` cannot ignore) or is a root itself.
pub fn ignore_hint(path: &Path, roots: &[PathBuf]) -> Option<String> {
    let root =
        roots.iter().filter(|r| path.starts_with(r) && path != r.as_path()).max_by_key(|r| r.as_os_str().len())?;
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        let Component::Normal(part) = c else { return None };
        parts.push(escape_glob(part.to_str()?));
    }
    let glob = parts.join("/");
    let plain = glob.chars().all(|c| c.is_ascii_alphanumeric() || "._-+/,@%:=".contains(c));
    Some(if plain { glob } else { format!("'{}'", glob.replace('\'', r"'\''")) })
}

/// `name` as a glob that matches only itself.
fn escape_glob(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "*?[]{}".contains(c) {
            out.push('[');
            out.push(c);
            out.push(']');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One step of a case: a run starts, ends by itself, or a change set of these paths settles with its burst
    /// begun at this time.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Start(u64),
        End(u64),
        /// `(began, paths, loop expected: its paths)`
        Set(u64, &'static [&'static str], Option<&'static [&'static str]>),
    }
    use Step::*;

    const APP_LOG: &[&str] = &["/w/app.log"];
    const VIEW: &[&str] = &["/w/views.py"];
    const BOTH: &[&str] = &["/w/app.log", "/w/views.py"];

    /// `(name, steps)`: with a 2 s window.
    const CASES: &[(&str, &[Step])] = &[
        (
            "a log written at every start: the third run in a row is a loop",
            &[
                Start(0),
                Set(300, APP_LOG, None),
                Start(400),
                Set(700, APP_LOG, None),
                Start(800),
                Set(1100, APP_LOG, Some(APP_LOG)),
            ],
        ),
        (
            "two early sets in a row are not a loop (a formatter rewriting the file just saved)",
            &[Start(0), Set(300, VIEW, None), Start(400), Set(700, VIEW, None), Start(800), Set(60_000, VIEW, None)],
        ),
        (
            "a change later in a run breaks the streak",
            &[
                Start(0),
                Set(300, APP_LOG, None),
                Start(400),
                Set(700, APP_LOG, None),
                Start(800),
                Set(5000, APP_LOG, None),
                Start(5100),
                Set(5300, APP_LOG, None),
                Start(5400),
                Set(5600, APP_LOG, None),
            ],
        ),
        (
            "the window is inclusive",
            &[
                Start(0),
                Set(2000, APP_LOG, None),
                Start(2000),
                Set(4000, APP_LOG, None),
                Start(4000),
                Set(6000, APP_LOG, Some(APP_LOG)),
            ],
        ),
        (
            "a burst that began before the run started is not the run's doing",
            &[
                Start(0),
                Set(300, APP_LOG, None),
                Start(400),
                Set(399, APP_LOG, None),
                Start(800),
                Set(900, APP_LOG, None),
            ],
        ),
        (
            "an edit in the same set as the log: the loop is the log alone",
            &[
                Start(0),
                Set(300, BOTH, None),
                Start(400),
                Set(700, APP_LOG, None),
                Start(800),
                Set(1100, BOTH, Some(APP_LOG)),
            ],
        ),
        (
            "different paths every run are no loop",
            &[
                Start(0),
                Set(300, APP_LOG, None),
                Start(400),
                Set(700, VIEW, None),
                Start(800),
                Set(1100, APP_LOG, None),
                Start(1200),
                Set(1300, APP_LOG, None),
            ],
        ),
        (
            "a run that got no early set at all (it exited, and was started again) breaks the streak",
            &[
                Start(0),
                Set(300, APP_LOG, None),
                Start(400),
                Start(5000),
                Set(5200, APP_LOG, None),
                Start(5300),
                Set(5500, APP_LOG, None),
            ],
        ),
        (
            "a second early set in one run counts once",
            &[
                Start(0),
                Set(300, APP_LOG, None),
                Set(600, APP_LOG, None),
                Set(900, APP_LOG, None),
                Start(1000),
                Set(1300, APP_LOG, None),
            ],
        ),
        ("nothing runs yet (--postpone): nothing is early", &[Set(300, APP_LOG, None), Set(600, APP_LOG, None)]),
        (
            "a change first seen after the run ended by itself is no echo (the fix for a crash)",
            &[
                Start(0),
                Set(300, VIEW, None),
                Start(400),
                Set(700, VIEW, None),
                Start(800),
                End(900),
                Set(950, VIEW, None),
                Start(1000),
                Set(1300, VIEW, None),
            ],
        ),
        (
            "a change seen before the run ended counts: the command wrote it and exited",
            &[
                Start(0),
                End(60),
                Set(50, APP_LOG, None),
                Start(400),
                End(460),
                Set(450, APP_LOG, None),
                Start(800),
                End(860),
                Set(850, APP_LOG, Some(APP_LOG)),
            ],
        ),
        (
            "after a loop is found the streak starts over, and the loop's paths no longer count",
            &[
                Start(0),
                Set(100, APP_LOG, None),
                Start(200),
                Set(300, APP_LOG, None),
                Start(400),
                Set(500, BOTH, Some(APP_LOG)),
                Start(600),
                Set(700, BOTH, None),
                Start(800),
                Set(900, VIEW, None),
                Start(1000),
                Set(1100, BOTH, Some(VIEW)),
            ],
        ),
    ];

    fn paths(p: &[&str]) -> Vec<PathBuf> {
        p.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn loops_are_found_by_their_table() {
        for &(name, steps) in CASES {
            let t0 = Instant::now();
            let mut g = LoopGuard::new(ms(2000));
            for (i, step) in steps.iter().enumerate() {
                match *step {
                    Start(at) => g.started(t0 + ms(at)),
                    End(at) => g.ended(t0 + ms(at)),
                    Set(began, set, want) => {
                        let got = g.settled(&paths(set), t0 + ms(began));
                        let want = want.map(|w| RestartLoop { paths: paths(w), runs: LOOP_RUNS });
                        assert_eq!(got, want, "case '{name}', step {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_paths_of_a_loop_found_are_ignored_from_then_on() {
        let t0 = Instant::now();
        let mut g = LoopGuard::new(ms(2000));
        assert!(!g.ignores(Path::new("/w/app.log")));
        for run in 0..3 {
            g.started(t0 + ms(run * 1000));
            let found = g.settled(&paths(APP_LOG), t0 + ms(run * 1000 + 100));
            assert_eq!(found.is_some(), run == 2);
        }
        assert!(g.ignores(Path::new("/w/app.log")));
        assert!(!g.ignores(Path::new("/w/views.py")));
    }

    #[test]
    fn the_window_follows_the_interval() {
        assert_eq!(LoopGuard::for_interval(ms(500)).window(), ms(2500));
        assert_eq!(LoopGuard::for_interval(Duration::MAX).window(), Duration::MAX);
    }

    #[test]
    fn hints_are_root_relative_globs_that_match_only_the_path() {
        let roots = [PathBuf::from("/p"), PathBuf::from("/p/web")];
        for (path, want) in [
            ("/p/app.log", Some("app.log")),
            ("/p/logs/app.log", Some("logs/app.log")),
            ("/p/web/server.pid", Some("server.pid")),
            ("/p/my log.txt", Some("'my log.txt'")),
            ("/p/it's.log", Some(r"'it'\''s.log'")),
            ("/p/run[1].log", Some("'run[[]1[]].log'")),
            ("/p/a*b", Some("'a[*]b'")),
            ("/elsewhere/lib.py", None),
            ("/p", None),
        ] {
            assert_eq!(ignore_hint(Path::new(path), &roots).as_deref(), want, "{path}");
        }
    }

    #[test]
    fn the_notice_names_the_paths_and_the_fix() {
        let roots = [PathBuf::from("/p")];
        let one = RestartLoop { paths: paths(&["/p/app.log"]), runs: 3 };
        assert_eq!(
            one.message(&roots, Path::new("/p")),
            "the command itself keeps changing app.log: it changed in the first moments of each of its last 3 runs, \
             so changes to it no longer restart it; ignore it with -i app.log"
        );
        let many = RestartLoop { paths: paths(&["/p/a.log", "/p/b/c.json", "/x/r.py", "/p/d", "/p/e"]), runs: 3 };
        assert_eq!(
            many.message(&roots, Path::new("/p")),
            "the command itself keeps changing a.log, b/c.json, /x/r.py and 2 more: they changed in the first moments \
             of each of its last 3 runs, so changes to them no longer restart it; ignore them with -i a.log -i b/c.json"
        );
        let reported = RestartLoop { paths: paths(&["/x/r.py"]), runs: 3 };
        assert!(!reported.message(&roots, Path::new("/p")).contains("-i"));
    }
}
