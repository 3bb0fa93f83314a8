//! The doctor's report as plain text (short enough to read in ten seconds) or as one JSON object.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::advice::{DEFAULT_INTERVAL, recommend_interval};
use super::{Examined, FsReport};
use crate::fingerprint::MIN_SAMPLES;

/// A skew this small is the kernel stamping files from a clock that lags by a tick, not a clock problem.
const IN_STEP: Duration = Duration::from_millis(100);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The report as text; `from`: the project config file the roots and filters came from, if they did.
pub(super) fn text(e: &Examined, from: Option<&str>) -> String {
    let mut out = String::new();
    let roots: Vec<String> = e.roots.iter().map(|r| r.display().to_string()).collect();
    let from = from.map(|f| format!(" (roots and filters from {f})")).unwrap_or_default();
    let _ = writeln!(out, "stator doctor: {}{from}", roots.join(", "));
    for w in &e.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for s in &e.skipped {
        let _ = writeln!(out, "  skipped {}: {}", s.path.display(), s.why);
    }
    if e.skipped.iter().filter(|s| s.root).count() == e.roots.len() {
        let _ = writeln!(out, "  nothing else to examine");
        return out.trim_end().to_owned();
    }
    let _ = writeln!(
        out,
        "  {} in {}; one scan takes {:.1} ms (the first, listing every directory: {:.1} ms)",
        count(e.files, "file", "files"),
        count(e.dirs, "directory", "directories"),
        ms(e.scan),
        ms(e.baseline)
    );
    let recommended = recommend_interval(e.scan);
    let share = |interval: Duration| {
        let pct = 100.0 * e.scan.as_secs_f64() / interval.as_secs_f64();
        if pct < 0.1 { "under 0.1%".to_owned() } else { format!("{pct:.1}%") }
    };
    if recommended == DEFAULT_INTERVAL {
        let _ = writeln!(
            out,
            "  recommended: --interval {} (the default; a scan takes {} of it)",
            human(recommended),
            share(recommended)
        );
    } else {
        let _ = writeln!(
            out,
            "  recommended: --interval {} (a scan would take {} of the default {}; narrow the roots with -i to \
             scan less)",
            human(recommended),
            share(DEFAULT_INTERVAL),
            human(DEFAULT_INTERVAL)
        );
    }
    for fs in &e.filesystems {
        out.push('\n');
        filesystem(&mut out, fs);
    }
    out.trim_end().to_owned()
}

fn filesystem(out: &mut String, fs: &FsReport) {
    let s = &fs.summary;
    let place = match &fs.mount {
        Some(m) => format!("{} ({}, {})", m.mount_point.display(), fs.fstype(), fs.kind().describe()),
        None => format!("filesystem {:#x} ({}, {})", s.dev, fs.fstype(), fs.kind().describe()),
    };
    let _ = writeln!(out, "{place}");
    if let Some(m) = &fs.mount {
        // Windows volumes have no mount options.
        let with = if m.options.is_empty() { String::new() } else { format!(" with {}", m.options) };
        let _ = writeln!(out, "  from {}{with}", m.source);
    }
    let learned = if s.samples < MIN_SAMPLES {
        format!(
            "the files show too few distinct timestamps ({} of {MIN_SAMPLES}), so stator starts at {}",
            s.samples,
            human(s.granularity)
        )
    } else {
        format!("learned {} from {} timestamps", human(s.granularity), s.samples)
    };
    let probed = match &fs.probe {
        Some((_, Ok(p))) => format!("{} (probe file); ", human(p.step)),
        _ => String::new(),
    };
    let _ = writeln!(out, "  timestamps: {probed}{learned}; racy window {} ms", s.window.as_millis());
    match &fs.probe {
        Some((_, Ok(p))) if p.skew <= IN_STEP => {
            let _ = writeln!(out, "  clock: in step with this machine (probe file written in {:.1} ms)", ms(p.took));
        }
        Some((_, Ok(p))) => {
            let dir = if p.skew_ahead { "ahead of" } else { "behind" };
            let _ = writeln!(out, "  clock: {:.3} s {dir} this machine", p.skew.as_secs_f64());
        }
        Some((dir, Err(e))) => {
            let _ = writeln!(out, "  clock: {e} (in {})", dir.display());
        }
        None => {
            let _ = writeln!(out, "  clock: not measured (no directory of the roots on it)");
        }
    }
    let hints = fs.hints();
    if hints.is_empty() {
        let _ = writeln!(out, "  caches: nothing to tune");
    }
    for h in hints {
        let _ = writeln!(out, "  ! {}", h.problem);
        let _ = writeln!(out, "    fix: {}", h.remedy);
    }
}

/// The report as JSON; `from` as for [`text`].
pub(super) fn json(e: &Examined, from: Option<&str>) -> Value {
    let recommended = recommend_interval(e.scan);
    json!({
        "roots": e.roots.iter().map(|r| r.to_string_lossy()).collect::<Vec<_>>(),
        "config_file": from,
        "files": e.files,
        "dirs": e.dirs,
        "scan_ms": ms(e.scan),
        "baseline_ms": ms(e.baseline),
        "default_interval_ms": DEFAULT_INTERVAL.as_millis() as u64,
        "recommended_interval_ms": recommended.as_millis() as u64,
        "filesystems": e.filesystems.iter().map(fs_json).collect::<Vec<_>>(),
        "warnings": e.warnings,
        "skipped": e.skipped.iter().map(|s| json!({"path": s.path.to_string_lossy(), "why": s.why, "root": s.root})).collect::<Vec<_>>(),
        "missing": e.missing.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
        "complete": e.complete(),
    })
}

fn fs_json(fs: &FsReport) -> Value {
    let s = &fs.summary;
    let kind = fs.kind();
    let probe = match &fs.probe {
        Some((dir, Ok(p))) => json!({
            "dir": dir.to_string_lossy(),
            "ok": true,
            "step_ns": p.step.as_nanos() as u64,
            "write_step_ns": p.write_step.as_nanos() as u64,
            "utimes_step_ns": p.utimes_step.as_nanos() as u64,
            "skew_ms": if p.skew_ahead { ms(p.skew) } else { -ms(p.skew) },
            "took_ms": ms(p.took),
        }),
        Some((dir, Err(e))) => json!({"dir": dir.to_string_lossy(), "ok": false, "error": e.to_string()}),
        None => Value::Null,
    };
    json!({
        "dev": s.dev,
        "type": fs.fstype(),
        "statfs_type": s.info.name,
        "kind": kind.describe(),
        "network": kind.network,
        "fuse": kind.fuse,
        "vm_share": kind.vm_share,
        "mount_point": fs.mount.as_ref().map(|m| m.mount_point.to_string_lossy()),
        "source": fs.mount.as_ref().map(|m| m.source.clone()),
        "options": fs.mount.as_ref().map(|m| m.options.clone()),
        "granularity_ns": s.granularity.as_nanos() as u64,
        "samples": s.samples,
        "racy_window_ms": s.window.as_millis() as u64,
        "probe": probe,
        "hints": fs.hints().iter().map(|h| json!({"problem": h.problem, "remedy": h.remedy})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;
    use crate::doctor::mountinfo::Mount;
    use crate::doctor::{Probe, ProbeError};
    use crate::poll::FsSummary;
    use crate::vfs::FsInfo;

    fn sshfs(probe: Result<Probe, ProbeError>) -> FsReport {
        FsReport {
            summary: FsSummary {
                dev: 0x34,
                info: FsInfo { name: "fuse".into(), remote: true },
                granularity: Duration::from_secs(1),
                samples: 40,
                window: Duration::from_secs(2),
            },
            mount: Some(Mount {
                major: 0,
                minor: 52,
                mount_point: "/mnt/remote".into(),
                fstype: "fuse.sshfs".into(),
                source: "me@host:/src".into(),
                options: "rw,nosuid".into(),
            }),
            probe: Some(("/mnt/remote/app".into(), probe)),
        }
    }

    fn examined(scan_ms: u64, filesystems: Vec<FsReport>) -> Examined {
        Examined {
            roots: vec![PathBuf::from("/mnt/remote/app")],
            files: 1200,
            dirs: 80,
            baseline: Duration::from_millis(3 * scan_ms),
            scan: Duration::from_millis(scan_ms),
            filesystems,
            warnings: vec![],
            skipped: vec![],
            missing: vec![],
        }
    }

    const PROBE: Probe = Probe {
        step: Duration::from_secs(1),
        write_step: Duration::from_secs(2),
        utimes_step: Duration::from_secs(1),
        skew: Duration::from_secs(42),
        skew_ahead: true,
        took: Duration::from_millis(4),
    };

    #[test]
    fn text_says_it_all_in_a_few_lines() {
        let text = text(&examined(300, vec![sshfs(Ok(PROBE))]), None);
        for needle in [
            "stator doctor: /mnt/remote/app",
            "1200 files in 80 directories; one scan takes 300.0 ms",
            "recommended: --interval 2s",
            "/mnt/remote (fuse.sshfs, network, FUSE)",
            "from me@host:/src with rw,nosuid",
            "timestamps: 1s (probe file); learned 1s from 40 timestamps",
            "clock: 42.000 s ahead of this machine",
            "fix: mount with -o dcache_timeout=1",
            "fix: synchronise both clocks",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        assert!(text.lines().count() <= 14, "{text}");
    }

    #[test]
    fn a_failed_probe_is_one_line_and_json_has_the_fields_tools_need() {
        let failed = sshfs(Err(ProbeError::Create(io::Error::from(io::ErrorKind::PermissionDenied))));
        let text = text(&examined(1, vec![failed]), None);
        assert!(text.contains("clock: not measured: cannot create a file here"), "{text}");
        assert!(text.contains("--interval 500ms (the default"), "{text}");

        let v = json(&examined(300, vec![sshfs(Ok(PROBE))]), None);
        assert_eq!(v["recommended_interval_ms"], 2000);
        assert_eq!(v["files"], 1200);
        let fs = &v["filesystems"][0];
        assert_eq!(fs["type"], "fuse.sshfs");
        assert_eq!(fs["statfs_type"], "fuse");
        assert_eq!(
            (fs["network"].as_bool(), fs["fuse"].as_bool(), fs["vm_share"].as_bool()),
            (Some(true), Some(true), Some(false))
        );
        assert_eq!(fs["probe"]["skew_ms"], 42000.0);
        assert_eq!(fs["hints"].as_array().map(Vec::len), Some(2));
    }
}
