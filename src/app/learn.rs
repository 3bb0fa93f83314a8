//! [`crate::learn`] in the main loop: the private directory with the report file and the shims, the environment
//! every child gets, the `--dep-file`s (read before the baseline, and again when they change), and the paths the
//! command reports, handed to the poller as they arrive.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::change::{Change, ChangeKind};
use crate::learn::deps::DepFiles;
use crate::learn::report_file::ReportFile;
use crate::learn::{LearnError, LearnOptions, WATCH_FILE_VAR, depfile, shims};
use crate::poll::{Poller, normalize};
use crate::report::Reporter;

/// At most this many reported paths are watched; a child reporting more is probably writing something else.
const MAX_REPORTED: usize = 200_000;

/// At most this many notices about bad lines are shown; then one saying the rest are not.
const MAX_NOTICES: usize = 5;

/// A dep file larger than this is not read.
const MAX_DEP_FILE: u64 = 64 << 20;

/// What stator learns from outside its roots, and the environment that lets children report.
#[derive(Debug)]
pub(super) struct Learner {
    /// Holds the report file and the shims; removed when the learner is dropped (after the child is gone).
    _dir: tempfile::TempDir,
    /// Its path, normalised.
    private: PathBuf,
    report: ReportFile,
    env: Vec<(OsString, OsString)>,
    deps: DepFiles,
    /// The `-w` roots, normalised: a change under one always counts.
    roots: Vec<PathBuf>,
    /// Every path the command reported (normalised).
    reported: HashSet<PathBuf>,
    /// The working directory stator and its children share: relative paths are taken from it.
    base: PathBuf,
    notices: usize,
    read_warned: bool,
    full_warned: bool,
}

impl Learner {
    /// Makes the private directory, the report file and the shims asked for.
    pub(super) fn new(opts: &LearnOptions, roots: &[PathBuf]) -> Result<Learner, LearnError> {
        let base = normalize(Path::new("."));
        let mut builder = tempfile::Builder::new();
        builder.prefix("stator-learn-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let dir = builder.tempdir().map_err(LearnError::ReportFile)?;
        let report = ReportFile::create(dir.path(), base.clone()).map_err(LearnError::ReportFile)?;
        let mut env = vec![(OsString::from(WATCH_FILE_VAR), report.path().as_os_str().to_owned())];
        if opts.python {
            let shim_dir =
                shims::write_python(dir.path()).map_err(|source| LearnError::Shim { runtime: "python", source })?;
            let existing = std::env::var_os("PYTHONPATH");
            let path = shims::python_path(&shim_dir, existing.as_deref())
                .ok_or_else(|| LearnError::Unlistable(shim_dir.clone()))?;
            env.push(("PYTHONPATH".into(), path));
        }
        if opts.node {
            let hook = shims::write_node(dir.path()).map_err(|source| LearnError::Shim { runtime: "node", source })?;
            let existing = std::env::var_os("NODE_OPTIONS");
            env.push(("NODE_OPTIONS".into(), shims::node_options(&hook, existing.as_deref())));
        }
        let deps = DepFiles::new(opts.dep_files.iter().map(|f| normalize(&base.join(f))));
        Ok(Learner {
            private: normalize(dir.path()),
            _dir: dir,
            report,
            env,
            deps,
            roots: roots.iter().map(|r| normalize(r)).collect(),
            reported: HashSet::new(),
            base,
            notices: 0,
            read_warned: false,
            full_warned: false,
        })
    }

    /// The variables every child gets: `STATOR_WATCH_FILE`, and `PYTHONPATH` / `NODE_OPTIONS` for the shims.
    pub(super) fn env(&self) -> Vec<(OsString, OsString)> {
        self.env.clone()
    }

    /// Before the baseline: watches the dep files and what they list.
    pub(super) fn start(&mut self, poller: &mut Poller, rep: &Reporter) {
        let files: Vec<PathBuf> = self.deps.files().map(Path::to_path_buf).collect();
        poller.add_paths(files.iter().cloned());
        for file in files {
            self.read_dep_file(&file, poller, rep);
        }
    }

    /// Every main-loop iteration: watches the paths the command reported since the last call.
    pub(super) fn poll(&mut self, poller: &mut Poller, rep: &Reporter) {
        let parsed = match self.report.read_new() {
            Ok(parsed) => parsed,
            Err(e) => {
                if !self.read_warned {
                    self.read_warned = true;
                    rep.warn(&format!("cannot read {}: {e}", self.report.path().display()));
                }
                return;
            }
        };
        for notice in parsed.notices {
            self.notices += 1;
            if self.notices <= MAX_NOTICES {
                rep.warn(&notice.to_string());
            } else if self.notices == MAX_NOTICES + 1 {
                rep.warn("more bad lines from the command are ignored without a word");
            }
        }
        let mut fresh = Vec::new();
        for path in parsed.paths {
            if self.reported.len() >= MAX_REPORTED {
                if !self.full_warned {
                    self.full_warned = true;
                    rep.warn(&format!("the command reported more than {MAX_REPORTED} paths; the rest are not watched"));
                }
                break;
            }
            let path = normalize(&path);
            // The shims themselves (the Python one is a module like any other): never a reason to restart.
            if path.starts_with(&self.private) {
                continue;
            }
            if self.reported.insert(path.clone()) {
                fresh.push(path);
            }
        }
        if !fresh.is_empty() {
            rep.reported(&fresh, self.reported.len());
            poller.add_paths(fresh);
        }
    }

    /// After each tick: a change to a dep file re-reads it and is no reason to restart by itself; a change to a
    /// path a dep file no longer lists is dropped, unless a root covers it or the command reported it.
    pub(super) fn filter(&mut self, changes: &mut Vec<Change>, poller: &mut Poller, rep: &Reporter) {
        let mut reread = Vec::new();
        changes.retain(|c| {
            if self.deps.is_dep_file(&c.path) {
                if c.kind == ChangeKind::Removed {
                    rep.detail(&format!("dep file {} was removed; still watching what it listed", c.path.display()));
                } else {
                    reread.push(c.path.clone());
                }
                return false;
            }
            !self.deps.retired(&c.path)
                || self.reported.contains(&c.path)
                || self.roots.iter().any(|r| c.path.starts_with(r))
        });
        for file in reread {
            self.read_dep_file(&file, poller, rep);
        }
    }

    fn read_dep_file(&mut self, file: &Path, poller: &mut Poller, rep: &Reporter) {
        let text = match read_limited(file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                rep.warn(&format!("dep file {} does not exist yet; it is read when it appears", file.display()));
                return;
            }
            Err(e) => {
                rep.warn(&format!("cannot read dep file {}: {e}", file.display()));
                return;
            }
        };
        let listed: Vec<PathBuf> = depfile::dependencies(&text).iter().map(|p| normalize(&self.base.join(p))).collect();
        let fresh = self.deps.update(file, listed);
        rep.detail(&format!("dep file {} lists {} files ({} new)", file.display(), self.deps.count(file), fresh.len()));
        poller.add_paths(fresh);
    }
}

/// A dep file's bytes, refusing one larger than [`MAX_DEP_FILE`].
fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(MAX_DEP_FILE + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_DEP_FILE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "larger than 64 MiB"));
    }
    Ok(out)
}
