//! Looking, for `stator doctor`: two scans through a real [`Poller`] (the baseline, then one steady-state scan),
//! the mount table, and a probe file per writable filesystem. Everything here does I/O; what it means is
//! [`super::advice`]'s business.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use filetime::FileTime;

use super::mountinfo::{self, Mount};
use super::skip::{self, Root};
use super::{Examined, FsReport, Probe, ProbeError};
use crate::config::Config;
use crate::discover::{IgnoreScope, PatternError};
use crate::fingerprint::{FileKind, step_of};
use crate::poll::{Poller, Warning, normalize};
use crate::time::{diff, dur, nanos};
use crate::vfs::{Vfs, real::RealFs};

/// Scans the roots of `config` as stator would, and examines each filesystem met. Special files and kernel
/// pseudo-filesystems are not looked at ([`super::skip`]).
pub(super) fn examine(config: &Config) -> Result<Examined, PatternError> {
    let given: Vec<PathBuf> = config.roots.iter().map(|r| normalize(r)).collect();
    let mounts = mount_table();
    let described: Vec<(PathBuf, Root)> = given.iter().map(|r| (r.clone(), describe(r))).collect();
    let plan = skip::plan(&described, &mounts);
    let mut config = config.clone();
    config.roots = plan.roots;
    config.filter.exclude.extend(plan.excludes);
    let (global, _) = if config.filter.vcs_ignores { IgnoreScope::global() } else { (None, Vec::new()) };
    let mut poller = Poller::new(config.clone(), RealFs)?.with_global_excludes(global);
    let started = Instant::now();
    let first = poller.tick();
    let baseline = started.elapsed();
    let started = Instant::now();
    poller.tick();
    let scan = started.elapsed();
    let (files, dirs) = poller.counts();
    let roots = config.roots;
    let filesystems = poller
        .filesystems()
        .into_iter()
        .map(|fs| {
            let dir = probe_dir(fs.dev, &roots, &mounts);
            #[cfg(windows)]
            let mount = dir.as_deref().and_then(|d| volume_as_mount(d, &fs.info.name));
            #[cfg(not(windows))]
            let mount = mountinfo::find(&mounts, fs.dev, dir.as_deref()).cloned();
            let probe = dir.map(|dir| (dir.clone(), probe(&dir)));
            FsReport { summary: fs, mount, probe }
        })
        .collect();
    let missing = described.iter().filter(|(_, r)| *r == Root::Missing).map(|(p, _)| p.clone()).collect();
    Ok(Examined {
        roots: given,
        skipped: plan.skipped,
        missing,
        files,
        dirs,
        baseline,
        scan,
        filesystems,
        warnings: first
            .warnings
            .iter()
            .map(|w| match w {
                Warning::Missing { path } => format!("{} does not exist", path.display()),
                other => other.to_string(),
            })
            .collect(),
    })
}

/// What `root` is: missing, a special file (never opened), or a file or directory and its device.
fn describe(root: &Path) -> Root {
    match std::fs::metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Root::Missing,
        Err(_) => Root::Present(None),
        Ok(meta) => special(&meta.file_type())
            .map_or_else(|| Root::Present(RealFs.stat(root).ok().map(|s| s.dev)), Root::Special),
    }
}

/// What kind of special file this is, if it is one.
#[cfg(unix)]
fn special(t: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

#[cfg(not(unix))]
fn special(_t: &std::fs::FileType) -> Option<&'static str> {
    None
}

/// The mount table (Linux), or nothing.
fn mount_table() -> Vec<Mount> {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        std::fs::read_to_string("/proc/self/mountinfo").map(|t| mountinfo::parse(&t)).unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// Windows has no mount table: the volume `dir` is on stands in for its entry (its root as the mount point, its
/// label and the filesystem's own name as the source).
#[cfg(windows)]
fn volume_as_mount(dir: &Path, fstype: &str) -> Option<Mount> {
    let v = crate::vfs::windows::volume(dir).ok()?;
    let what = if v.network { "network drive" } else { "volume" };
    let named = if v.label.is_empty() { String::new() } else { format!(" \"{}\"", v.label) };
    let own = if v.fs_name.is_empty() { String::new() } else { format!(" ({})", v.fs_name) };
    Some(Mount {
        major: 0,
        minor: 0,
        mount_point: v.root,
        fstype: fstype.to_owned(),
        source: format!("{what}{named}{own}"),
        options: String::new(),
    })
}

/// A directory on device `dev` to put the probe file in: a root on it (or a file root's directory), else the
/// mount point of that device inside a root.
fn probe_dir(dev: u64, roots: &[PathBuf], mounts: &[Mount]) -> Option<PathBuf> {
    for root in roots {
        let Ok(stat) = RealFs.stat(root) else { continue };
        let dir = if stat.kind == FileKind::Dir { root.clone() } else { root.parent()?.to_path_buf() };
        if RealFs.stat(&dir).is_ok_and(|s| s.dev == dev) {
            return Some(dir);
        }
    }
    let (major, minor) = mountinfo::split_dev(dev);
    mounts
        .iter()
        .filter(|m| m.major == major && m.minor == minor)
        .map(|m| m.mount_point.clone())
        .find(|p| roots.iter().any(|r| p.starts_with(r)) && RealFs.stat(p).is_ok_and(|s| s.dev == dev))
}

/// Writes a probe file in `dir` (named like an editor's lock file, `.#stator-doctor-*`, which a running stator
/// ignores by default), compares its mtime with this machine's clock, sets a precise mtime to see what the
/// filesystem keeps, and removes it.
fn probe(dir: &Path) -> Result<Probe, ProbeError> {
    let before = FileTime::now();
    let named = tempfile::Builder::new().prefix(".#stator-doctor-").tempfile_in(dir).map_err(ProbeError::Create)?;
    let (mut file, path) = named.into_parts();
    let measured = measure(&mut file, &path, before);
    // Closed before it is removed: SMB refuses to remove an open file. A probe file left behind is worth saying
    // more than anything the probe found.
    drop(file);
    let shown = path.to_path_buf();
    path.close().map_err(|error| ProbeError::Remove { path: shown, error })?;
    measured.map_err(ProbeError::Io)
}

fn measure(file: &mut File, path: &Path, before: FileTime) -> io::Result<Probe> {
    file.write_all(b"stator doctor probe\n")?;
    file.sync_all()?;
    let after = FileTime::now();
    let written = RealFs.stat(path)?.mtime;
    // A time with every digit set, on an odd second: what comes back shows the precision kept. Both times are
    // given (some FUSE filesystems refuse to leave one unchanged).
    let precise = FileTime::from_unix_time((written.unix_seconds() - 3600) | 1, 123_456_789);
    filetime::set_file_times(path, written, precise)?;
    let kept = RealFs.stat(path)?.mtime;
    let (write_step, utimes_step) = (step_of(written), step_of(kept));
    // One whole-second stamp may be even by chance: a filesystem that keeps odd seconds set explicitly has 1 s.
    let step = if write_step >= SECOND { write_step.min(utimes_step.max(SECOND)) } else { write_step };
    // Ahead: stamped after we finished. Behind: stamped before we started, by more than one step of truncation.
    let ahead = diff(written, after);
    let behind = nanos(before) - dur(step) - nanos(written);
    let (skew, skew_ahead) = if ahead > 0 {
        (ns(ahead), true)
    } else if behind > 0 {
        (ns(behind), false)
    } else {
        (Duration::ZERO, false)
    };
    Ok(Probe { step, write_step, utimes_step, skew, skew_ahead, took: ns(diff(after, before)) })
}

const SECOND: Duration = Duration::from_secs(1);

fn ns(n: i128) -> Duration {
    Duration::from_nanos(u64::try_from(n.max(0)).unwrap_or(u64::MAX))
}
