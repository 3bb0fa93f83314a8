//! What the user sees: one short `[stator]` line per event on stderr, coloured only on a terminal (on Windows, one
//! that interprets escape sequences) and never with `NO_COLOR`, or one JSON object per line with `--json`.

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::json;

use crate::change::ChangeSet;
use crate::fingerprint::MIN_SAMPLES;
use crate::poll::{FsSummary, Stretch, Warning};
use crate::supervisor::{Signal, StopNotice};

/// How many changed paths a status line names before saying "and N more".
const SHOWN: usize = 3;

/// `-v` sums the scans up every this many scans (5 s at the default interval), instead of a line per scan.
pub(crate) const SUMMARY_EVERY: u64 = 10;

/// The longest command shown in a status line; a longer one ends with `...`.
const COMMAND_SHOWN: usize = 72;

/// `n` and the noun for it: `1 file`, `2 files`.
pub(crate) fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A command as a status line shows it: its words joined by spaces, quoted as a shell would need where they hold
/// spaces or quotes, control characters escaped (a status line is one line), at most [`COMMAND_SHOWN`] characters.
pub(crate) fn shown_command(words: &[OsString]) -> String {
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let word = word.to_string_lossy();
        let plain = !word.is_empty() && word.chars().all(|c| c.is_alphanumeric() || "-_./=:,+@%^".contains(c));
        if plain {
            out.push_str(&word);
        } else {
            out.push('\'');
            out.push_str(&word.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
    let mut line: String = out.chars().flat_map(|c| c.escape_debug_if_control()).collect();
    if line.chars().count() > COMMAND_SHOWN {
        line = line.chars().take(COMMAND_SHOWN - 3).collect::<String>() + "...";
    }
    line
}

/// Control characters as escapes (`\n`), everything else as is.
trait EscapeControl {
    fn escape_debug_if_control(self) -> Vec<char>;
}

impl EscapeControl for char {
    fn escape_debug_if_control(self) -> Vec<char> {
        if self.is_control() { self.escape_default().collect() } else { vec![self] }
    }
}

/// A duration as a status line says it: `850 ms`, `2.3s`.
fn took(d: Duration) -> String {
    if d < Duration::from_secs(1) { format!("{} ms", d.as_millis()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

/// A run of the command that ended, for the reporter.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    /// Its run number (`STATOR_RUN`).
    pub run: u64,
    /// Its pid, if it was known.
    pub pid: Option<u32>,
    /// How it ended; `None` if it could not be reaped (stuck in the kernel after `SIGKILL`).
    pub status: Option<ExitStatus>,
    /// How long it ran, as stator saw it (to within a tenth of a second).
    pub duration: Duration,
}

impl Ended {
    /// `exit status: 3 after 2.1s`, `signal: 15 (SIGTERM) after 850 ms`.
    fn describe(&self) -> String {
        match self.status {
            Some(status) => format!("{status} after {}", took(self.duration)),
            None => format!("it could not be reaped (stuck in the kernel) after {}", took(self.duration)),
        }
    }

    /// The JSON `exit` event's fields, with `next` (what happens now) and `extra` fields.
    fn json(&self, next: &str, message: &str) -> serde_json::Value {
        let (code, signal) = match self.status {
            Some(status) => (status.code(), exit_signal(&status)),
            None => (None, None),
        };
        json!({"event": "exit", "run": self.run, "pid": self.pid, "code": code, "signal": signal,
               "signal_name": signal.and_then(Signal::from_number).map(Signal::name),
               "reaped": self.status.is_some(), "duration_ms": self.duration.as_secs_f64() * 1e3,
               "next": next, "message": message})
    }
}

/// The signal that ended a process, if one did.
fn exit_signal(status: &ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    {
        std::os::unix::process::ExitStatusExt::signal(status)
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        None
    }
}

/// What happens after a run ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing until the next change (`--on-exit wait`).
    Wait,
    /// Nothing until the next change or Enter (`--on-exit wait`, the terminal with stator).
    WaitOrEnter,
    /// A new run in this long (`--on-exit restart`, growing delays).
    Backoff(Duration),
    /// stator exits with this code (`--on-exit exit`).
    Exit(i32),
}

/// The `-v` scans, summed up: [`ScanTally::add`] each scan, and every [`SUMMARY_EVERY`] scans a summary comes out.
#[derive(Debug, Default)]
pub(crate) struct ScanTally {
    total: u64,
    count: u64,
    stats: usize,
    listings: usize,
    parts: usize,
    sum: Duration,
    max: Duration,
    span: Duration,
}

/// What [`SUMMARY_EVERY`] scans cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScanSummary {
    /// Scans summed up here.
    pub count: u64,
    /// Scans since the start.
    pub total: u64,
    /// Stats per scan, on average.
    pub stats: usize,
    /// Directories re-listed, in all these scans.
    pub listings: usize,
    /// The looks these scans took, in all: more than the scans when a big tree's scans went in parts (with the
    /// hot tier running between them).
    pub parts: usize,
    /// A scan's time, on average.
    pub mean: Duration,
    /// The slowest scan's time.
    pub max: Duration,
    /// The time these scans spanned (from the end of the last summary's scan to the end of this one's).
    pub span: Duration,
}

impl ScanTally {
    /// One scan: `stats` stats and `listings` listings in `parts` looks that took `took` in all, `since` the
    /// previous scan ended. The summary of the last [`SUMMARY_EVERY`] scans when this one completes them.
    pub(crate) fn add(
        &mut self,
        stats: usize,
        listings: usize,
        parts: usize,
        took: Duration,
        since: Duration,
    ) -> Option<ScanSummary> {
        self.total += 1;
        self.count += 1;
        self.stats += stats;
        self.listings += listings;
        self.parts += parts;
        self.sum += took;
        self.max = self.max.max(took);
        self.span += since;
        if self.count < SUMMARY_EVERY {
            return None;
        }
        let summary = ScanSummary {
            count: self.count,
            total: self.total,
            stats: self.stats / self.count as usize,
            listings: self.listings,
            parts: self.parts,
            mean: self.sum / self.count as u32,
            max: self.max,
            span: self.span,
        };
        *self = ScanTally { total: self.total, ..ScanTally::default() };
        Some(summary)
    }
}

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
                "watching {} in {} under {} (scan {:.0} ms, every {})",
                count(files as u64, "file", "files"),
                count(dirs as u64, "directory", "directories"),
                roots.join(", "),
                took.as_secs_f64() * 1e3,
                humantime::format_duration(interval)
            ),
        );
    }

    /// The settings of a project config file are in use (said at startup: they change what the flags alone say).
    pub(crate) fn settings_from(&self, file: &str) {
        if self.json {
            return self.event(Verbosity::Normal, json!({"event": "config", "file": file}));
        }
        self.line(Verbosity::Normal, "2", &format!("settings from {file} (--no-config ignores it)"));
    }

    /// The `--socket`s stator holds, in fd order from 3 (verbose).
    #[cfg(unix)]
    pub(crate) fn sockets(&self, held: &[String]) {
        if self.json {
            return self.event(Verbosity::Verbose, json!({"event": "sockets", "sockets": held, "first_fd": 3}));
        }
        let list: Vec<String> = held.iter().enumerate().map(|(i, s)| format!("{s} as fd {}", i + 3)).collect();
        self.line(Verbosity::Verbose, "2", &format!("holding {} for every run (LISTEN_FDS)", list.join(", ")));
    }

    /// What was learned about each filesystem (verbose); `given` when `--granularity` decided it.
    pub(crate) fn filesystems(&self, fss: &[FsSummary], given: bool) {
        for fs in fss {
            let learned = !given && fs.samples >= MIN_SAMPLES;
            if self.json {
                self.event(
                    Verbosity::Verbose,
                    json!({"event": "filesystem", "type": fs.info.name, "remote": fs.info.remote,
                    "granularity_ns": fs.granularity.as_nanos() as u64, "learned": learned, "given": given,
                    "samples": fs.samples, "racy_window_ms": fs.window.as_millis() as u64}),
                );
                continue;
            }
            let granularity = humantime::format_duration(fs.granularity);
            let timestamps = if given {
                format!("timestamps every {granularity} (--granularity)")
            } else if learned {
                format!("timestamps every {granularity} (learned from {} timestamps)", fs.samples)
            } else {
                format!(
                    "timestamps not learned yet ({} of the {MIN_SAMPLES} distinct timestamps it takes; treated as \
                     every {granularity} until then)",
                    fs.samples
                )
            };
            self.line(
                Verbosity::Verbose,
                "2",
                &format!(
                    "filesystem {}{}: {timestamps}, racy window {} ms",
                    fs.info.name,
                    if fs.info.remote { " (network/FUSE)" } else { "" },
                    fs.window.as_millis()
                ),
            );
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

    /// Changed paths that hold the bytes the current run started with: all of the set (`restart` false: nothing
    /// restarts) or some (left out of the restart). Said with `-v`; the first set skipped whole is said at normal
    /// verbosity too (`first`), with how to turn skipping off, so a save that restarts nothing is not a mystery. In
    /// JSON every skipped set is an event at normal verbosity (like `changes`), a partial one with `-v`.
    pub(crate) fn unchanged(&self, paths: &[PathBuf], restart: bool, first: bool) {
        if self.json {
            let level = if restart { Verbosity::Verbose } else { Verbosity::Normal };
            let list: Vec<_> = paths.iter().map(|p| p.to_string_lossy()).collect();
            return self
                .event(level, json!({"event": "unchanged", "count": paths.len(), "paths": list, "restart": restart}));
        }
        let level = if first { Verbosity::Normal } else { Verbosity::Verbose };
        let files = if paths.len() == 1 { "1 file".to_string() } else { format!("{} files", paths.len()) };
        if self.verbosity == Verbosity::Verbose {
            for path in paths {
                self.line(
                    Verbosity::Verbose,
                    "2",
                    &format!("unchanged {} (same bytes as at the run's start)", path.display()),
                );
            }
        }
        let text = match (restart, first) {
            (true, _) => format!("unchanged: {files}, left out of the restart"),
            (false, false) => format!("unchanged: {files}, no restart"),
            (false, true) => format!(
                "unchanged: {files}, no restart (the same bytes as when the command started; --no-skip-unchanged \
                 restarts on every save)"
            ),
        };
        self.line(level, "2", &text);
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
            &format!(
                "the command reported {} ({total} in all): {}",
                count(new.len() as u64, "new file", "new files"),
                names.join(", ")
            ),
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

    /// What the last [`SUMMARY_EVERY`] scans cost (verbose).
    pub(crate) fn scans(&self, s: &ScanSummary) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        if self.json {
            return self.event(
                Verbosity::Verbose,
                json!({"event": "scans", "count": s.count, "total": s.total, "stats": s.stats, "listings": s.listings,
                       "parts": s.parts, "mean_ms": ms(s.mean), "max_ms": ms(s.max), "span_ms": ms(s.span)}),
            );
        }
        let parts = if s.parts as u64 > s.count { format!(", in {} parts", s.parts) } else { String::new() };
        self.line(
            Verbosity::Verbose,
            "2",
            &format!(
                "scans: {} in {:.1}s ({} in all){parts}: {} each, {} in all; {:.1} ms on average, {:.1} ms at most",
                s.count,
                s.span.as_secs_f64(),
                s.total,
                count(s.stats as u64, "stat", "stats"),
                count(s.listings as u64, "listing", "listings"),
                ms(s.mean),
                ms(s.max)
            ),
        );
    }

    /// A detail for `-v`.
    pub(crate) fn detail(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Verbose, json!({"event": "detail", "message": text}));
        }
        self.line(Verbosity::Verbose, "2", text);
    }

    /// A run started: the first, one after a change while none ran, or (with `previous`, how the last one ended) a
    /// restart. `command` is [`shown_command`]'s.
    pub(crate) fn started(&self, run: u64, pid: Option<u32>, command: &[OsString], previous: Option<&Ended>) {
        let shown = shown_command(command);
        let text = match previous {
            None => format!("started (run {run}): {shown}"),
            Some(p) => format!("restarted (run {run}): {shown}; run {} ended: {}", p.run, p.describe()),
        };
        if self.json {
            if let Some(p) = previous {
                let message = format!("run {} ended: {}", p.run, p.describe());
                self.event(Verbosity::Normal, p.json("restart", &message));
            }
            let command: Vec<_> = command.iter().map(|w| w.to_string_lossy()).collect();
            return self.event(
                Verbosity::Normal,
                json!({"event": "start", "run": run, "pid": pid, "command": command, "restart": previous.is_some(),
                       "message": text}),
            );
        }
        self.line(Verbosity::Normal, "32", &text);
    }

    /// A run ended by itself, and what happens now.
    pub(crate) fn ended(&self, e: &Ended, next: Next) {
        let (then, name) = match next {
            Next::Wait => ("waiting for changes".to_owned(), "wait"),
            Next::WaitOrEnter => ("waiting for changes, or press Enter".to_owned(), "wait"),
            Next::Backoff(d) => (format!("restarting in {:.1}s", d.as_secs_f64()), "backoff"),
            Next::Exit(_) => ("exiting".to_owned(), "exit"),
        };
        let text = format!("command ended (run {}): {}; {then}", e.run, e.describe());
        if self.json {
            let mut v = e.json(name, &text);
            match next {
                Next::Backoff(d) => v["restart_in_ms"] = json!(d.as_millis() as u64),
                Next::Exit(code) => v["exit_code"] = json!(code),
                Next::Wait | Next::WaitOrEnter => {}
            }
            return self.event(Verbosity::Normal, v);
        }
        self.line(Verbosity::Normal, "32", &text);
    }

    /// `--on-busy signal` sent `signal` to run `run`.
    pub(crate) fn signalled(&self, run: u64, pid: Option<u32>, signal: Signal) {
        let text = format!("sent {} to the command", signal.name());
        if self.json {
            return self.event(
                Verbosity::Normal,
                json!({"event": "signal", "run": run, "pid": pid, "signal": signal.name(), "message": text}),
            );
        }
        self.line(Verbosity::Normal, "32", &text);
    }

    /// `--on-busy queue`: the change waits for run `run` to end.
    pub(crate) fn queued(&self, run: u64, pid: Option<u32>) {
        let text = "change queued; the command reruns when it finishes";
        if self.json {
            return self.event(Verbosity::Normal, json!({"event": "queued", "run": run, "pid": pid, "message": text}));
        }
        self.line(Verbosity::Normal, "32", text);
    }

    /// A stop takes its time: what it waits for, or that it kills.
    pub(crate) fn stop_notice(&self, n: &StopNotice) {
        let human = |d: Duration| humantime::format_duration(d).to_string();
        let (text, value) = match *n {
            StopNotice::Waiting { run, pid, signal, timeout, leftovers } => {
                let what = if leftovers {
                    format!("run {run} ended, but processes it started have")
                } else {
                    format!("run {run} (pid {pid}) has")
                };
                let text = format!(
                    "{what} not stopped {} after {}; waiting up to {} (--stop-timeout) before SIGKILL",
                    human(crate::supervisor::SLOW_STOP),
                    signal.name(),
                    human(timeout)
                );
                let value = json!({"event": "stopping", "run": run, "pid": pid, "signal": signal.name(),
                                   "timeout_ms": timeout.as_millis() as u64, "leftovers": leftovers});
                (text, value)
            }
            StopNotice::Killing { run, pid, timeout, leftovers } => {
                let what = if leftovers { format!("what run {run} left running") } else { format!("run {run}") };
                let text =
                    format!("{what} did not stop within {} (--stop-timeout): killed with SIGKILL", human(timeout));
                let value = json!({"event": "killed", "run": run, "pid": pid, "timeout_ms": timeout.as_millis() as u64,
                                   "leftovers": leftovers});
                (text, value)
            }
        };
        if self.json {
            let mut value = value;
            value["message"] = json!(text);
            return self.event(Verbosity::Normal, value);
        }
        self.line(Verbosity::Normal, "33", &text);
    }

    /// stator was asked to stop by `received` (SIGINT...): it stops run `run` with `signal`, for up to `timeout`.
    pub(crate) fn stopping(&self, received: i32, run: u64, pid: Option<u32>, signal: Signal, timeout: Duration) {
        let name = Signal::from_number(received).map_or_else(|| format!("signal {received}"), |s| s.name().to_owned());
        let again = if name == "SIGINT" { "Ctrl-C again".to_owned() } else { format!("{name} again") };
        let text = format!(
            "{name}: stopping the command (run {run}) with {}, up to {} (--stop-timeout); {again} kills it at once",
            signal.name(),
            humantime::format_duration(timeout)
        );
        if self.json {
            return self.event(
                Verbosity::Normal,
                json!({"event": "shutdown", "received": name, "run": run, "pid": pid, "signal": signal.name(),
                       "timeout_ms": timeout.as_millis() as u64, "message": text}),
            );
        }
        self.line(Verbosity::Normal, "33", &text);
    }

    /// A second signal asking stator to stop (`received`): the command's group is killed at once.
    pub(crate) fn killing_now(&self, received: i32) {
        let name = Signal::from_number(received).map_or_else(|| format!("signal {received}"), |s| s.name().to_owned());
        let text = format!("{name} again: killing the command's processes at once (SIGKILL)");
        if self.json {
            return self.event(Verbosity::Quiet, json!({"event": "kill", "received": name, "message": text}));
        }
        self.line(Verbosity::Quiet, "31", &text);
    }

    /// A status line about the command or stator itself that has no fields of its own (a platform note, a restart
    /// asked for by hand, Ctrl-C and Ctrl-Z): in JSON, `{"event": event, "message": text}`.
    pub(crate) fn status(&self, event: &'static str, text: &str) {
        if self.json {
            return self.event(Verbosity::Normal, json!({"event": event, "message": text}));
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
        rep.filesystems(
            &[FsSummary {
                dev: 1,
                info: FsInfo { name: "ext4".into(), remote: false },
                granularity: Duration::from_nanos(1),
                samples: 10,
                window: ms(20),
            }],
            false,
        );
        let mut set = ChangeSet::new();
        set.add(Change { path: "/w/a".into(), kind: ChangeKind::Modified, reason: Reason::Fields(Fields::MTIME) });
        rep.changes(&set);
        rep.warning(&Warning::Missing { path: "/w/gone".into() });
        rep.warning(&Warning::Back { path: "/w/mnt".into(), fs: "nfs".into() });
        rep.warn("a bad line");
        rep.reported(&["/lib/x.py".into()], 4);
        rep.stretched(&Stretch { scan: ms(200), interval: ms(500), stretched: ms(800) });
        rep.scans(&SCANS);
        rep.detail("a detail");
        rep.started(1, Some(42), &["make".into()], None);
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

    const SCANS: ScanSummary = ScanSummary {
        count: 10,
        total: 20,
        stats: 2,
        listings: 1,
        parts: 10,
        mean: Duration::from_micros(3000),
        max: Duration::from_micros(4500),
        span: Duration::from_secs(5),
    };

    const WATCHING: &str = "[stator] watching 2 files in 1 directory under /w (scan 5 ms, every 500ms)";
    const FILESYSTEM: &str =
        "[stator] filesystem ext4: timestamps every 1ns (learned from 10 timestamps), racy window 20 ms";
    const CHANGED_PATH: &str = "[stator] modified /w/a (mtime changed)";
    const CHANGED: &str = "[stator] changed: /w/a (modified)";
    const MISSING: &str = "[stator] warning: /w/gone does not exist; watching for it to appear";
    const BACK: &str = "[stator] /w/mnt is back (nfs); comparing its files with their last known state";
    const WARN: &str = "[stator] warning: a bad line";
    const REPORTED: &str = "[stator] the command reported 1 new file (4 in all): /lib/x.py";
    const STRETCHED: &str = "[stator] a scan costs 200 ms of CPU, too much for a 500ms interval; scanning every 800 ms \
                             instead (recently changed files are still re-checked often)";
    const SCANNED: &str =
        "[stator] scans: 10 in 5.0s (20 in all): 2 stats each, 1 listing in all; 3.0 ms on average, 4.5 ms at most";
    const DETAIL: &str = "[stator] a detail";
    const CHILD: &str = "[stator] started (run 1): make";
    const BUILDING: &str = "[stator] building (build 1)";
    const REBUILDING: &str = "[stator] a change during the build: cancelled it; building again (build 2)";
    const BUILT: &str = "[stator] build succeeded in 1.2s (build 2)";
    const BUILD_FAILED: &str = "[stator] build failed after 0.8s: exit status: 2; the previous run keeps running";
    const BUILD_NOT_RUN: &str = "[stator] build failed: command not found: mkae; nothing runs until a build \
                                 succeeds; waiting for the next change";
    const READY: &str = "[stator] ready after 1.2s (run 2)";
    const ERROR: &str = "[stator] error: it broke";

    #[test]
    fn unchanged_sets_are_said_with_v_and_the_first_skip_at_normal_verbosity() {
        let one = [PathBuf::from("/w/a")];
        let two = [PathBuf::from("/w/a"), PathBuf::from("/w/b")];
        let say = |rep: &Reporter| {
            rep.unchanged(&one, false, true);
            rep.unchanged(&two, false, false);
            rep.unchanged(&one, true, false);
        };
        let first = "[stator] unchanged: 1 file, no restart (the same bytes as when the command started; \
                     --no-skip-unchanged restarts on every save)";
        let (rep, out) = reporter(Verbosity::Quiet, false);
        say(&rep);
        assert!(out.lines().is_empty(), "{:?}", out.lines());
        let (rep, out) = reporter(Verbosity::Normal, false);
        say(&rep);
        assert_eq!(out.lines(), [first]);
        let (rep, out) = reporter(Verbosity::Verbose, false);
        say(&rep);
        let same = "(same bytes as at the run's start)";
        assert_eq!(
            out.lines(),
            [
                format!("[stator] unchanged /w/a {same}"),
                first.to_string(),
                format!("[stator] unchanged /w/a {same}"),
                format!("[stator] unchanged /w/b {same}"),
                "[stator] unchanged: 2 files, no restart".to_string(),
                format!("[stator] unchanged /w/a {same}"),
                "[stator] unchanged: 1 file, left out of the restart".to_string(),
            ]
        );
        let (rep, out) = reporter(Verbosity::Normal, true);
        say(&rep);
        let events: Vec<serde_json::Value> = out.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(events.len(), 2, "every skipped set, not the partial one: {events:?}");
        assert_eq!(events[0]["event"], "unchanged");
        assert_eq!(events[0]["count"], 1);
        assert_eq!(events[0]["restart"], false);
        assert_eq!(events[0]["paths"][0], "/w/a");
        assert_eq!(events[1]["count"], 2);
        let (rep, out) = reporter(Verbosity::Verbose, true);
        say(&rep);
        assert_eq!(out.lines().len(), 3);
    }

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
                    "watching", "changes", "warning", "notice", "warning", "back_off", "start", "build", "build",
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
                    "scans",
                    "detail",
                    "start",
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
        rep.started(1, None, &["make".into()], None);
        rep.error("it broke");
        assert_eq!(
            buf.lines(),
            ["\x1b[32m[stator]\x1b[0m started (run 1): make", "\x1b[31m[stator]\x1b[0m error: it broke"]
        );
    }

    #[cfg(unix)]
    fn ended(run: u64, raw: i32, ms_ran: u64) -> Ended {
        use std::os::unix::process::ExitStatusExt;
        Ended { run, pid: Some(100 + run as u32), status: Some(ExitStatus::from_raw(raw)), duration: ms(ms_ran) }
    }

    #[cfg(unix)]
    fn events(buf: &Buf) -> Vec<serde_json::Value> {
        buf.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[cfg(unix)]
    #[test]
    fn child_events_are_typed_in_json() {
        let (rep, buf) = reporter(Verbosity::Normal, true);
        let cmd: Vec<OsString> = vec!["sh".into(), "-c".into(), "exit 3".into()];
        rep.started(1, Some(101), &cmd, None);
        // Run 1 was stopped by SIGTERM (raw status 15) after 2.5 s; run 2 started.
        rep.started(2, Some(102), &cmd, Some(&ended(1, 15, 2500)));
        rep.signalled(2, Some(102), Signal::Hup);
        rep.queued(2, Some(102));
        rep.stop_notice(&StopNotice::Waiting {
            run: 2,
            pid: 102,
            signal: Signal::Term,
            timeout: Duration::from_secs(10),
            leftovers: false,
        });
        rep.stop_notice(&StopNotice::Killing { run: 2, pid: 102, timeout: Duration::from_secs(10), leftovers: false });
        rep.ended(&ended(2, 9, 11_000), Next::Wait);
        rep.ended(&ended(3, 3 << 8, 40), Next::Backoff(Duration::from_millis(500)));
        rep.ended(&ended(4, 7 << 8, 40), Next::Exit(7));
        rep.stopping(2, 5, Some(105), Signal::Term, Duration::from_secs(10));
        rep.killing_now(2);
        let mut events = events(&buf);
        for e in &mut events {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "every event has a message: {e}");
            e.as_object_mut().unwrap().remove("message");
        }
        let want = [
            json!({"event": "start", "run": 1, "pid": 101, "command": ["sh", "-c", "exit 3"], "restart": false}),
            json!({"event": "exit", "run": 1, "pid": 101, "code": null, "signal": 15, "signal_name": "SIGTERM",
                   "reaped": true, "duration_ms": 2500.0, "next": "restart"}),
            json!({"event": "start", "run": 2, "pid": 102, "command": ["sh", "-c", "exit 3"], "restart": true}),
            json!({"event": "signal", "run": 2, "pid": 102, "signal": "SIGHUP"}),
            json!({"event": "queued", "run": 2, "pid": 102}),
            json!({"event": "stopping", "run": 2, "pid": 102, "signal": "SIGTERM", "timeout_ms": 10000,
                   "leftovers": false}),
            json!({"event": "killed", "run": 2, "pid": 102, "timeout_ms": 10000, "leftovers": false}),
            json!({"event": "exit", "run": 2, "pid": 102, "code": null, "signal": 9, "signal_name": "SIGKILL",
                   "reaped": true, "duration_ms": 11000.0, "next": "wait"}),
            json!({"event": "exit", "run": 3, "pid": 103, "code": 3, "signal": null, "signal_name": null,
                   "reaped": true, "duration_ms": 40.0, "next": "backoff", "restart_in_ms": 500}),
            json!({"event": "exit", "run": 4, "pid": 104, "code": 7, "signal": null, "signal_name": null,
                   "reaped": true, "duration_ms": 40.0, "next": "exit", "exit_code": 7}),
            json!({"event": "shutdown", "received": "SIGINT", "run": 5, "pid": 105, "signal": "SIGTERM",
                   "timeout_ms": 10000}),
            json!({"event": "kill", "received": "SIGINT"}),
        ];
        assert_eq!(events, want);
    }

    #[cfg(unix)]
    #[test]
    fn child_lines_name_the_run_the_command_and_what_a_stop_waits_for() {
        let (rep, buf) = reporter(Verbosity::Normal, false);
        let cmd: Vec<OsString> = vec!["python".into(), "manage.py".into(), "runserver".into()];
        rep.started(2, Some(102), &cmd, Some(&ended(1, 15, 2500)));
        rep.stop_notice(&StopNotice::Waiting {
            run: 2,
            pid: 102,
            signal: Signal::Term,
            timeout: Duration::from_secs(10),
            leftovers: false,
        });
        rep.stop_notice(&StopNotice::Killing { run: 2, pid: 102, timeout: Duration::from_secs(10), leftovers: false });
        rep.stop_notice(&StopNotice::Waiting {
            run: 3,
            pid: 103,
            signal: Signal::Int,
            timeout: Duration::from_secs(10),
            leftovers: true,
        });
        rep.stop_notice(&StopNotice::Killing { run: 3, pid: 103, timeout: Duration::from_secs(10), leftovers: true });
        rep.ended(&ended(4, 1 << 8, 900), Next::Wait);
        rep.stopping(2, 5, Some(105), Signal::Term, Duration::from_secs(10));
        rep.stopping(15, 5, Some(105), Signal::Term, Duration::from_secs(10));
        rep.killing_now(2);
        assert_eq!(
            buf.lines(),
            [
                "[stator] restarted (run 2): python manage.py runserver; run 1 ended: signal: 15 (SIGTERM) after 2.5s",
                "[stator] run 2 (pid 102) has not stopped 1s after SIGTERM; waiting up to 10s (--stop-timeout) before \
                 SIGKILL",
                "[stator] run 2 did not stop within 10s (--stop-timeout): killed with SIGKILL",
                "[stator] run 3 ended, but processes it started have not stopped 1s after SIGINT; waiting up to 10s \
                 (--stop-timeout) before SIGKILL",
                "[stator] what run 3 left running did not stop within 10s (--stop-timeout): killed with SIGKILL",
                "[stator] command ended (run 4): exit status: 1 after 900 ms; waiting for changes",
                "[stator] SIGINT: stopping the command (run 5) with SIGTERM, up to 10s (--stop-timeout); Ctrl-C again \
                 kills it at once",
                "[stator] SIGTERM: stopping the command (run 5) with SIGTERM, up to 10s (--stop-timeout); SIGTERM \
                 again kills it at once",
                "[stator] SIGINT again: killing the command's processes at once (SIGKILL)",
            ]
        );
    }

    #[test]
    fn one_is_singular() {
        let (rep, buf) = reporter(Verbosity::Verbose, false);
        rep.watching(&[Path::new("/w")], 1, 1, ms(5), ms(500));
        rep.watching(&[Path::new("/w")], 0, 2, ms(5), ms(500));
        rep.reported(&["/a".into(), "/b".into()], 2);
        rep.scans(&ScanSummary { stats: 1, listings: 0, ..SCANS });
        rep.scans(&ScanSummary { parts: 140, ..SCANS });
        assert_eq!(
            buf.lines(),
            [
                "[stator] watching 1 file in 1 directory under /w (scan 5 ms, every 500ms)",
                "[stator] watching 0 files in 2 directories under /w (scan 5 ms, every 500ms)",
                "[stator] the command reported 2 new files (2 in all): /a, /b",
                "[stator] scans: 10 in 5.0s (20 in all): 1 stat each, 0 listings in all; 3.0 ms on average, 4.5 ms \
                 at most",
                "[stator] scans: 10 in 5.0s (20 in all), in 140 parts: 2 stats each, 1 listing in all; 3.0 ms on \
                 average, 4.5 ms at most",
            ]
        );
        assert_eq!(
            (count(1u64, "a", "as"), count(0u64, "a", "as"), count(2u64, "a", "as")),
            ("1 a".into(), "0 as".into(), "2 as".into())
        );
    }

    #[test]
    fn timestamps_not_learned_yet_are_not_claimed() {
        let (rep, buf) = reporter(Verbosity::Verbose, false);
        let fs = FsSummary {
            dev: 1,
            info: FsInfo { name: "ext4".into(), remote: false },
            granularity: Duration::from_secs(2),
            samples: 1,
            window: ms(2100),
        };
        rep.filesystems(std::slice::from_ref(&fs), false);
        rep.filesystems(&[fs], true);
        assert_eq!(
            buf.lines(),
            [
                "[stator] filesystem ext4: timestamps not learned yet (1 of the 8 distinct timestamps it takes; \
                 treated as every 2s until then), racy window 2100 ms",
                "[stator] filesystem ext4: timestamps every 2s (--granularity), racy window 2100 ms",
            ]
        );
    }

    #[test]
    fn scans_are_summed_up_every_ten() {
        let mut tally = ScanTally::default();
        for i in 1..=25u64 {
            let summary = tally.add(100, usize::from(i == 3), 1 + usize::from(i == 5), ms(i), ms(500));
            match i {
                10 => assert_eq!(
                    summary,
                    Some(ScanSummary {
                        count: 10,
                        total: 10,
                        stats: 100,
                        listings: 1,
                        parts: 11,
                        mean: Duration::from_micros(5500),
                        max: ms(10),
                        span: Duration::from_secs(5),
                    })
                ),
                20 => assert_eq!(summary.map(|s| (s.total, s.listings, s.parts, s.max)), Some((20, 0, 10, ms(20)))),
                _ => assert_eq!(summary, None, "scan {i}"),
            }
        }
    }

    #[test]
    fn commands_are_shown_on_one_short_line() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(shown_command(&words(&["cargo", "run", "--release"])), "cargo run --release");
        assert_eq!(shown_command(&words(&["sh", "-c", "echo 'hi' > x"])), r"sh -c 'echo '\''hi'\'' > x'");
        assert_eq!(shown_command(&words(&["sh", "-c", "a\nb", ""])), r"sh -c 'a\nb' ''");
        let long = shown_command(&words(&["python", &"x".repeat(200)]));
        assert_eq!(long.chars().count(), COMMAND_SHOWN);
        assert!(long.ends_with("..."), "{long}");
    }
}
