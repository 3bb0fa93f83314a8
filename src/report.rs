//! What the user sees: one short `[stator]` line per event on stderr, coloured only on a terminal (on Windows, one
//! that interprets escape sequences) and never with `NO_COLOR`, or one JSON object per line with `--json`.

use std::cell::RefCell;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::change::ChangeSet;
use crate::poll::{FsSummary, Stretch, Warning};

/// How many changed paths a status line names before saying "and N more".
const SHOWN: usize = 3;

/// How much stator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// Errors only.
    Quiet,
    /// One line per event.
    Normal,
    /// Also each changed path's reason and scan costs.
    Verbose,
}

/// Writes status lines (or JSON events) to stderr, or to any writer given.
pub(crate) struct Reporter {
    verbosity: Verbosity,
    json: bool,
    color: bool,
    out: RefCell<Box<dyn Write>>,
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("verbosity", &self.verbosity)
            .field("json", &self.json)
            .field("color", &self.color)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter on stderr; colour is decided here, once, from the terminal and `NO_COLOR`.
    pub(crate) fn new(verbosity: Verbosity, json: bool) -> Reporter {
        let color =
            !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        // Windows: a console that cannot interpret escape sequences gets none.
        #[cfg(windows)]
        let color = color && crate::console::stderr_takes_escapes();
        Reporter::to_writer(verbosity, json, color, Box::new(std::io::stderr()))
    }

    /// A reporter writing to `out`, with colour or without.
    pub(crate) fn to_writer(verbosity: Verbosity, json: bool, color: bool, out: Box<dyn Write>) -> Reporter {
        Reporter { verbosity, json, color, out: RefCell::new(out) }
    }

    /// Writes one line in one write, so it does not interleave with the command's output; a failed write (a closed
    /// stderr) is not worth stopping for.
    fn write_line(&self, line: fmt::Arguments<'_>) {
        let mut text = line.to_string();
        text.push('\n');
        let mut out = self.out.borrow_mut();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }

    /// Whether something said at `level` is shown: `-q` shows only what is said at [`Verbosity::Quiet`] (warnings
    /// and errors), `-v` everything; the same in text and in JSON.
    fn shows(&self, level: Verbosity) -> bool {
        match self.verbosity {
            Verbosity::Quiet => level == Verbosity::Quiet,
            Verbosity::Normal => level != Verbosity::Verbose,
            Verbosity::Verbose => true,
        }
    }

    fn line(&self, level: Verbosity, colour: &str, text: &str) {
        if !self.shows(level) {
            return;
        }
        if self.color {
            self.write_line(format_args!("\x1b[{colour}m[stator]\x1b[0m {text}"));
        } else {
            self.write_line(format_args!("[stator] {text}"));
        }
    }

    fn event(&self, level: Verbosity, value: serde_json::Value) {
        if !self.shows(level) {
            return;
        }
        self.write_line(format_args!("{value}"));
    }

    /// The baseline is in: what is watched and what one scan cost.
    pub(crate) fn watching(&self, roots: &[&Path], files: usize, dirs: usize, took: Duration, interval: Duration) {
        if self.json {
            return self.event(
                Verbosity::Normal,
                json!({"event": "watching", "roots": roots.iter().map(|r| r.to_string_lossy()).collect::<Vec<_>>(),
                       "files": files, "dirs": dirs, "scan_ms": took.as_secs_f64() * 1e3, "interval_ms": interval.as_millis() as u64}),
            );
        }
        let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        self.line(
            Verbosity::Normal,
            "2",
            &format!(
                "watching {files} files in {dirs} directories under {} (scan {:.0} ms, every {})",
                roots.join(", "),
                took.as_secs_f64() * 1e3,
                humantime::format_duration(interval)
            ),
        );
    }

    /// What was learned about each filesystem (verbose).
    pub(crate) fn filesystems(&self, fss: &[FsSummary]) {
        for fs in fss {
            if self.json {
                self.event(Verbosity::Verbose, json!({"event": "filesystem", "type": fs.info.name, "remote": fs.info.remote,
                    "granularity_ns": fs.granularity.as_nanos() as u64, "samples": fs.samples, "racy_window_ms": fs.window.as_millis() as u64}));
            } else {
                self.line(
                    Verbosity::Verbose,
                    "2",
                    &format!(
                        "filesystem {}{}: timestamps every {} ({} samples), racy window {} ms",
                        fs.info.name,
                        if fs.info.remote { " (network/FUSE)" } else { "" },
                        humantime::format_duration(fs.granularity),
                        fs.samples,
                        fs.window.as_millis()
                    ),
                );
            }
        }
    }

    /// A settled change set, and why the command reruns.
    pub(crate) fn changes(&self, set: &ChangeSet) {
        if self.json {
            let changes: Vec<_> = set
                .iter()
                .map(|(p, k, r)| json!({"path": p.to_string_lossy(), "kind": k.to_string(), "reason": r.to_string()}))
                .collect();
            return self.event(Verbosity::Normal, json!({"event": "changes", "count": set.len(), "changes": changes}));
        }
        if self.verbosity == Verbosity::Verbose {
            for (path, kind, reason) in set.iter() {
                self.line(Verbosity::Verbose, "36", &format!("{kind} {} ({reason})", path.display()));
            }
        }
        let mut names: Vec<String> = set.iter().take(SHOWN).map(|(p, k, _)| format!("{} ({k})", p.display())).collect();
        if set.len() > SHOWN {
            names.push(format!("and {} more", set.len() - SHOWN));
        }
        self.line(Verbosity::Normal, "36", &format!("changed: {}", names.join(", ")));
    }

    /// A warning about a path or filesystem; a notice (a filesystem that is back) is a plain status line.
    pub(crate) fn warning(&self, w: &Warning) {
        if w.is_notice() {
            if self.json {
                return self.event(Verbosity::Normal, json!({"event": "notice", "message": w.to_string()}));
            }
            return self.line(Verbosity::Normal, "36", &w.to_string());
        }
        if self.json {
            return self.event(Verbosity::Quiet, json!({"event": "warning", "message": w.to_string()}));
        }
        self.line(Verbosity::Quiet, "33", &format!("warning: {w}"));
    }

    /// A warning that is not about one path or filesystem of the poller's (a bad line from the command, a dep file
    /// that cannot be read).
    pub(crate) fn warn(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Quiet, json!({"event": "warning", "message": text}));
        }
        self.line(Verbosity::Quiet, "33", &format!("warning: {text}"));
    }

    /// The command reported files to watch (verbose): the new ones, and how many it reported in all.
    pub(crate) fn reported(&self, new: &[PathBuf], total: usize) {
        if self.json {
            let paths: Vec<_> = new.iter().map(|p| p.to_string_lossy()).collect();
            return self.event(Verbosity::Verbose, json!({"event": "reported", "paths": paths, "total": total}));
        }
        let mut names: Vec<String> = new.iter().take(SHOWN).map(|p| p.display().to_string()).collect();
        if new.len() > SHOWN {
            names.push(format!("and {} more", new.len() - SHOWN));
        }
        self.line(
            Verbosity::Verbose,
            "2",
            &format!("the command reported {} new files ({total} in all): {}", new.len(), names.join(", ")),
        );
    }

    /// Scans are slower than the interval allows: the interval stretched (the JSON event is still `back_off`).
    pub(crate) fn stretched(&self, b: &Stretch) {
        let text = format!(
            "a scan costs {:.0} ms of CPU, too much for a {} interval; scanning every {:.0} ms instead (recently \
             changed files are still re-checked often)",
            b.scan.as_secs_f64() * 1e3,
            humantime::format_duration(b.interval),
            b.stretched.as_secs_f64() * 1e3
        );
        if self.json {
            return self.event(Verbosity::Normal, json!({"event": "back_off", "message": text}));
        }
        self.line(Verbosity::Normal, "33", &text);
    }

    /// One scan's cost (verbose).
    pub(crate) fn scanned(&self, stats: usize, listings: usize, took: Duration) {
        if self.json {
            return self.event(
                Verbosity::Verbose,
                json!({"event": "scan", "stats": stats, "listings": listings, "ms": took.as_secs_f64() * 1e3}),
            );
        }
        self.line(
            Verbosity::Verbose,
            "2",
            &format!("scan: {stats} stats, {listings} listings, {:.1} ms", took.as_secs_f64() * 1e3),
        );
    }

    /// A detail for `-v`.
    pub(crate) fn detail(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Verbose, json!({"event": "detail", "message": text}));
        }
        self.line(Verbosity::Verbose, "2", text);
    }

    /// Something about the child: started, exited, restarting.
    pub(crate) fn child(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Normal, json!({"event": "child", "message": text}));
        }
        self.line(Verbosity::Normal, "32", text);
    }

    /// A build started; `again`: it replaces one a change cancelled.
    pub(crate) fn build_started(&self, build: u64, again: bool) {
        if self.json {
            return self.event(
                Verbosity::Normal,
                json!({"event": "build", "state": "started", "build": build, "again": again}),
            );
        }
        let text = if again {
            format!("a change during the build: cancelled it; building again (build {build})")
        } else {
            format!("building (build {build})")
        };
        self.line(Verbosity::Normal, "35", &text);
    }

    /// The build succeeded, after `took`.
    pub(crate) fn build_succeeded(&self, build: u64, took: Duration) {
        if self.json {
            return self.event(
                Verbosity::Normal,
                json!({"event": "build", "state": "succeeded", "build": build, "ms": took.as_secs_f64() * 1e3}),
            );
        }
        self.line(Verbosity::Normal, "35", &format!("build succeeded in {} (build {build})", seconds(took)));
    }

    /// The build failed (`why`: its exit status, or why it could not run): the command was left alone. `running`:
    /// the previous run is still going. Said at every verbosity, as warnings are.
    pub(crate) fn build_failed(&self, failure: &BuildFailure<'_>) {
        let BuildFailure { build, why, code, took, running } = *failure;
        let after = took.map(|t| format!(" after {}", seconds(t))).unwrap_or_default();
        let then = if running {
            "the previous run keeps running"
        } else {
            "nothing runs until a build succeeds; waiting for the next change"
        };
        let text = format!("build failed{after}: {why}; {then}");
        if self.json {
            return self.event(
                Verbosity::Quiet,
                json!({"event": "build", "state": "failed", "build": build, "code": code,
                       "ms": took.map(|t| t.as_secs_f64() * 1e3), "running": running, "message": text}),
            );
        }
        self.line(Verbosity::Quiet, "31", &text);
    }

    /// The running command became ready, `after` its start.
    pub(crate) fn ready(&self, run: u64, after: Duration) {
        if self.json {
            return self.event(
                Verbosity::Normal,
                json!({"event": "ready", "run": run, "after_ms": after.as_secs_f64() * 1e3}),
            );
        }
        self.line(Verbosity::Normal, "32", &format!("ready after {} (run {run})", seconds(after)));
    }

    /// A fatal error.
    pub(crate) fn error(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Quiet, json!({"event": "error", "message": text}));
        }
        self.line(Verbosity::Quiet, "31", &format!("error: {text}"));
    }
}

/// A failed build, as [`Reporter::build_failed`] says it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BuildFailure<'a> {
    /// Its number; `None` if it could not be started.
    pub(crate) build: Option<u64>,
    /// Its exit status, or why it could not run.
    pub(crate) why: &'a str,
    /// Its exit code (`128 + n` for death by signal `n`), if it ran.
    pub(crate) code: Option<i32>,
    /// How long it ran, if it did.
    pub(crate) took: Option<Duration>,
    /// The previous run of the command is still going.
    pub(crate) running: bool,
}

/// A duration as a status line says it: `1.2s`.
fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A reporter whose output a test reads back.
#[cfg(test)]
pub(crate) mod testing {
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;

    use super::{Reporter, Verbosity};

    /// A writer the test keeps a handle on.
    #[derive(Clone, Default)]
    pub(crate) struct Buf(Rc<RefCell<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        /// What was written, line by line.
        pub(crate) fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.borrow().clone()).unwrap().lines().map(str::to_owned).collect()
        }
    }

    /// A reporter without colour, and what it writes.
    pub(crate) fn reporter(verbosity: Verbosity, json: bool) -> (Reporter, Buf) {
        let buf = Buf::default();
        (Reporter::to_writer(verbosity, json, false, Box::new(buf.clone())), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Buf, reporter};
    use super::*;
    use crate::change::{Change, ChangeKind, Reason};
    use crate::fingerprint::Fields;
    use crate::vfs::FsInfo;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One of every kind of event, in a fixed order.
    fn say_everything(rep: &Reporter) {
        rep.watching(&[Path::new("/w")], 2, 1, ms(5), ms(500));
        rep.filesystems(&[FsSummary {
            dev: 1,
            info: FsInfo { name: "ext4".into(), remote: false },
            granularity: Duration::from_nanos(1),
            samples: 10,
            window: ms(20),
        }]);
        let mut set = ChangeSet::new();
        set.add(Change { path: "/w/a".into(), kind: ChangeKind::Modified, reason: Reason::Fields(Fields::MTIME) });
        rep.changes(&set);
        rep.warning(&Warning::Missing { path: "/w/gone".into() });
        rep.warning(&Warning::Back { path: "/w/mnt".into(), fs: "nfs".into() });
        rep.warn("a bad line");
        rep.reported(&["/lib/x.py".into()], 4);
        rep.stretched(&Stretch { scan: ms(200), interval: ms(500), stretched: ms(800) });
        rep.scanned(2, 1, ms(3));
        rep.detail("a detail");
        rep.child("started (run 1)");
        rep.build_started(1, false);
        rep.build_started(2, true);
        rep.build_succeeded(2, ms(1234));
        rep.build_failed(&BuildFailure {
            build: Some(3),
            why: "exit status: 2",
            code: Some(2),
            took: Some(ms(800)),
            running: true,
        });
        rep.build_failed(&BuildFailure {
            build: None,
            why: "command not found: mkae",
            code: None,
            took: None,
            running: false,
        });
        rep.ready(2, ms(1250));
        rep.error("it broke");
    }

    const WATCHING: &str = "[stator] watching 2 files in 1 directories under /w (scan 5 ms, every 500ms)";
    const FILESYSTEM: &str = "[stator] filesystem ext4: timestamps every 1ns (10 samples), racy window 20 ms";
    const CHANGED_PATH: &str = "[stator] modified /w/a (mtime changed)";
    const CHANGED: &str = "[stator] changed: /w/a (modified)";
    const MISSING: &str = "[stator] warning: /w/gone does not exist; watching for it to appear";
    const BACK: &str = "[stator] /w/mnt is back (nfs); comparing its files with their last known state";
    const WARN: &str = "[stator] warning: a bad line";
    const REPORTED: &str = "[stator] the command reported 1 new files (4 in all): /lib/x.py";
    const STRETCHED: &str = "[stator] a scan costs 200 ms of CPU, too much for a 500ms interval; scanning every 800 ms \
                             instead (recently changed files are still re-checked often)";
    const SCANNED: &str = "[stator] scan: 2 stats, 1 listings, 3.0 ms";
    const DETAIL: &str = "[stator] a detail";
    const CHILD: &str = "[stator] started (run 1)";
    const BUILDING: &str = "[stator] building (build 1)";
    const REBUILDING: &str = "[stator] a change during the build: cancelled it; building again (build 2)";
    const BUILT: &str = "[stator] build succeeded in 1.2s (build 2)";
    const BUILD_FAILED: &str = "[stator] build failed after 0.8s: exit status: 2; the previous run keeps running";
    const BUILD_NOT_RUN: &str = "[stator] build failed: command not found: mkae; nothing runs until a build \
                                 succeeds; waiting for the next change";
    const READY: &str = "[stator] ready after 1.2s (run 2)";
    const ERROR: &str = "[stator] error: it broke";

    #[test]
    fn text_says_what_each_verbosity_asks_for() {
        let cases: [(Verbosity, &[&str]); 3] = [
            (Verbosity::Quiet, &[MISSING, WARN, BUILD_FAILED, BUILD_NOT_RUN, ERROR]),
            (
                Verbosity::Normal,
                &[
                    WATCHING,
                    CHANGED,
                    MISSING,
                    BACK,
                    WARN,
                    STRETCHED,
                    CHILD,
                    BUILDING,
                    REBUILDING,
                    BUILT,
                    BUILD_FAILED,
                    BUILD_NOT_RUN,
                    READY,
                    ERROR,
                ],
            ),
            (
                Verbosity::Verbose,
                &[
                    WATCHING,
                    FILESYSTEM,
                    CHANGED_PATH,
                    CHANGED,
                    MISSING,
                    BACK,
                    WARN,
                    REPORTED,
                    STRETCHED,
                    SCANNED,
                    DETAIL,
                    CHILD,
                    BUILDING,
                    REBUILDING,
                    BUILT,
                    BUILD_FAILED,
                    BUILD_NOT_RUN,
                    READY,
                    ERROR,
                ],
            ),
        ];
        for (verbosity, expected) in cases {
            let (rep, buf) = reporter(verbosity, false);
            say_everything(&rep);
            assert_eq!(buf.lines(), expected, "{verbosity:?}");
        }
    }

    #[test]
    fn json_says_what_each_verbosity_asks_for() {
        let cases: [(Verbosity, &[&str]); 3] = [
            (Verbosity::Quiet, &["warning", "warning", "build", "build", "error"]),
            (
                Verbosity::Normal,
                &[
                    "watching", "changes", "warning", "notice", "warning", "back_off", "child", "build", "build",
                    "build", "build", "build", "ready", "error",
                ],
            ),
            (
                Verbosity::Verbose,
                &[
                    "watching",
                    "filesystem",
                    "changes",
                    "warning",
                    "notice",
                    "warning",
                    "reported",
                    "back_off",
                    "scan",
                    "detail",
                    "child",
                    "build",
                    "build",
                    "build",
                    "build",
                    "build",
                    "ready",
                    "error",
                ],
            ),
        ];
        for (verbosity, expected) in cases {
            let (rep, buf) = reporter(verbosity, true);
            say_everything(&rep);
            let events: Vec<serde_json::Value> =
                buf.lines().iter().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
            let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
            assert_eq!(names, expected, "{verbosity:?}");
        }
    }

    #[test]
    fn json_events_carry_their_fields() {
        let (rep, buf) = reporter(Verbosity::Verbose, true);
        say_everything(&rep);
        let events: Vec<serde_json::Value> = buf.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(
            events[0],
            json!({"event": "watching", "roots": ["/w"], "files": 2, "dirs": 1, "scan_ms": 5.0, "interval_ms": 500})
        );
        assert_eq!(
            events[2],
            json!({"event": "changes", "count": 1,
                   "changes": [{"path": "/w/a", "kind": "modified", "reason": "mtime changed"}]})
        );
        assert_eq!(events[6], json!({"event": "reported", "paths": ["/lib/x.py"], "total": 4}));
        assert_eq!(events[11], json!({"event": "build", "state": "started", "build": 1, "again": false}));
        assert_eq!(events[12], json!({"event": "build", "state": "started", "build": 2, "again": true}));
        assert_eq!(events[13], json!({"event": "build", "state": "succeeded", "build": 2, "ms": 1234.0}));
        assert_eq!(
            events[14],
            json!({"event": "build", "state": "failed", "build": 3, "code": 2, "ms": 800.0, "running": true,
                   "message": "build failed after 0.8s: exit status: 2; the previous run keeps running"})
        );
        assert_eq!(events[15]["build"], serde_json::Value::Null);
        assert_eq!(events[15]["code"], serde_json::Value::Null);
        assert_eq!(events[16], json!({"event": "ready", "run": 2, "after_ms": 1250.0}));
        assert_eq!(events[17], json!({"event": "error", "message": "it broke"}));
    }

    #[test]
    fn a_long_change_set_names_three_paths_and_counts_the_rest() {
        let (rep, buf) = reporter(Verbosity::Normal, false);
        let mut set = ChangeSet::new();
        for name in ["a", "b", "c", "d", "e"] {
            set.add(Change { path: format!("/w/{name}").into(), kind: ChangeKind::Created, reason: Reason::NewName });
        }
        rep.changes(&set);
        assert_eq!(buf.lines(), ["[stator] changed: /w/a (created), /w/b (created), /w/c (created), and 2 more"]);
    }

    #[test]
    fn colour_marks_the_prefix_only() {
        let buf = Buf::default();
        let rep = Reporter::to_writer(Verbosity::Normal, false, true, Box::new(buf.clone()));
        rep.child("started (run 1)");
        rep.error("it broke");
        assert_eq!(buf.lines(), ["\x1b[32m[stator]\x1b[0m started (run 1)", "\x1b[31m[stator]\x1b[0m error: it broke"]);
    }
}
