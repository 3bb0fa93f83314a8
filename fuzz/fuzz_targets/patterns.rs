//! Arbitrary globs and extensions into `discover::Filter::new` and `Filter::admits`, and arbitrary ignore-file
//! bytes into `IgnoreScope` (through the simulated filesystem), then a poller over that tree: nothing may
//! panic.
//!
//! Input: one flag byte (default ignores, vcs ignores), then sections separated by 0xFF: include globs,
//! exclude globs, extensions, relative paths (each section split on '\n'), the root's `.gitignore`, and
//! `sub/.ignore`.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use stator::config::{Config, FilterConfig};
use stator::discover::{Filter, IgnoreScope};
use stator::poll::Poller;
use stator::vfs::Vfs;
use stator::vfs::sim::{Profile, SimFs};

fn lines(section: &[u8]) -> Vec<String> {
    section.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| String::from_utf8_lossy(l).into_owned()).collect()
}

/// A relative path from arbitrary bytes: '/'-separated, without empty, `.` or `..` components.
fn rel_path(bytes: &[u8]) -> Option<PathBuf> {
    let mut p = PathBuf::new();
    for c in bytes.split(|b| *b == b'/') {
        if !c.is_empty() && c != b"." && c != b".." {
            p.push(OsStr::from_bytes(c));
        }
    }
    (!p.as_os_str().is_empty()).then_some(p)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut sections = rest.split(|b| *b == 0xff);
    let mut next = || sections.next().unwrap_or_default();
    let (include, exclude, extensions) = (lines(next()), lines(next()), lines(next()));
    let paths: Vec<PathBuf> = next().split(|b| *b == b'\n').filter_map(rel_path).take(16).collect();
    let (gitignore, sub_ignore) = (next().to_vec(), next().to_vec());
    let cfg =
        FilterConfig { extensions, include, exclude, default_ignores: flags & 1 != 0, vcs_ignores: flags & 2 != 0 };

    if let Ok(filter) = Filter::new(&cfg) {
        for p in &paths {
            filter.admits(p, false);
            filter.admits(p, true);
        }
    }

    let fs = SimFs::new(Profile::fine());
    fs.write("/r/.gitignore", &gitignore);
    fs.write("/r/sub/.ignore", &sub_ignore);
    if flags & 4 != 0 {
        fs.mkdir("/r/.git/info");
        fs.write("/r/.git/info/exclude", &sub_ignore);
    }
    for p in &paths {
        let abs = Path::new("/r").join(p);
        if !abs.starts_with("/r/.gitignore") && !abs.starts_with("/r/sub/.ignore") && !abs.starts_with("/r/.git") {
            fs.write(&abs, b"x");
        }
    }
    let (root, _warnings) = IgnoreScope::for_root(&fs, Path::new("/r"), None);
    let entries = fs.read_dir(Path::new("/r/sub")).unwrap_or_default();
    let (sub, _warnings) = IgnoreScope::child(&root, &fs, Path::new("/r/sub"), &entries);
    for p in &paths {
        for is_dir in [false, true] {
            root.is_ignored(&Path::new("/r").join(p), is_dir);
            if let Some(name) = p.file_name() {
                sub.is_ignored(&Path::new("/r/sub").join(name), is_dir);
            }
        }
    }

    // The whole engine over that tree: a baseline and one more look.
    if let Ok(mut poller) = Poller::new(Config { roots: vec!["/r".into()], filter: cfg, ..Config::default() }, fs) {
        poller.tick();
        poller.vfs().write("/r/sub/.ignore", &gitignore);
        poller.tick();
        let _ = poller.files();
    }
});
