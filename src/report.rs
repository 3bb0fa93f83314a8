//! What the user sees: one short `[stator]` line per event on stderr, coloured only on a terminal (on Windows, one
//! that interprets escape sequences) and never with `NO_COLOR`, or one JSON object per line with `--json`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::change::ChangeSet;
use crate::cli::Verbosity;
use crate::poll::{BackOff, FsSummary, Warning};

/// How many changed paths a status line names before saying "and N more".
const SHOWN: usize = 3;

/// Writes status lines to stderr.
#[derive(Debug, Clone)]
pub struct Reporter {
    verbosity: Verbosity,
    json: bool,
    color: bool,
}

impl Reporter {
    /// A reporter; colour is decided here, once, from the terminal and `NO_COLOR`.
    pub fn new(verbosity: Verbosity, json: bool) -> Reporter {
        let color =
            !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        // Windows: a console that cannot interpret escape sequences gets none.
        #[cfg(windows)]
        let color = color && crate::console::stderr_takes_escapes();
        Reporter { verbosity, json, color }
    }

    fn line(&self, level: Verbosity, colour: &str, text: &str) {
        if self.verbosity == Verbosity::Quiet && level != Verbosity::Quiet {
            return;
        }
        if level == Verbosity::Verbose && self.verbosity != Verbosity::Verbose {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.color {
            writeln!(err, "\x1b[{colour}m[stator]\x1b[0m {text}")
        } else {
            writeln!(err, "[stator] {text}")
        };
    }

    fn event(&self, level: Verbosity, value: serde_json::Value) {
        if level == Verbosity::Verbose && self.verbosity != Verbosity::Verbose {
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "{value}");
    }

    /// The baseline is in: what is watched and what one scan cost.
    pub fn watching(&self, roots: &[&Path], files: usize, dirs: usize, took: Duration, interval: Duration) {
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
    pub fn filesystems(&self, fss: &[FsSummary]) {
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
    pub fn changes(&self, set: &ChangeSet) {
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
    pub fn warning(&self, w: &Warning) {
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
    pub fn warn(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Quiet, json!({"event": "warning", "message": text}));
        }
        self.line(Verbosity::Quiet, "33", &format!("warning: {text}"));
    }

    /// The command reported files to watch (verbose): the new ones, and how many it reported in all.
    pub fn reported(&self, new: &[PathBuf], total: usize) {
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

    /// Scans are slower than the interval allows: the interval stretched.
    pub fn back_off(&self, b: &BackOff) {
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
    pub fn scanned(&self, stats: usize, listings: usize, took: Duration) {
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
    pub fn detail(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Verbose, json!({"event": "detail", "message": text}));
        }
        self.line(Verbosity::Verbose, "2", text);
    }

    /// Something about the child: started, exited, restarting.
    pub fn child(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Normal, json!({"event": "child", "message": text}));
        }
        self.line(Verbosity::Normal, "32", text);
    }

    /// A fatal error.
    pub fn error(&self, text: &str) {
        if self.json {
            return self.event(Verbosity::Quiet, json!({"event": "error", "message": text}));
        }
        self.line(Verbosity::Quiet, "31", &format!("error: {text}"));
    }
}
