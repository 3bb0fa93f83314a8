//! The [`Learner`] puts [`crate::learn`] to work beside a [`Poller`]: the private directory with the report file and
//! the shims, the environment every child gets, the `--dep-file`s (read before the baseline, and again when they
//! change), and the paths the command reports, handed to the poller as they arrive. What it has to say comes back
//! as [`Note`]s, for the caller to show.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::deps::DepFiles;
use super::report_file::ReportFile;
use super::{LearnError, LearnOptions, WATCH_FILE_VAR, depfile, shims};
use crate::change::{Change, ChangeKind};
use crate::poll::{Poller, normalize};

/// At most this many reported paths are watched; a child reporting more is probably writing something else.
const MAX_REPORTED: usize = 200_000;

/// At most this many notices about bad lines are shown; then one saying the rest are not.
const MAX_NOTICES: usize = 5;

/// A dep file larger than this is not read.
const MAX_DEP_FILE: u64 = 64 << 20;

/// Something the [`Learner`] has to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Something is wrong but watching goes on: a bad line from the command, a dep file that cannot be read.
    Warning(String),
    /// What was done, for a verbose log: a dep file read, a dep file removed.
    Detail(String),
    /// The command reported paths not watched before (now watched); it reported `total` paths in all.
    Reported {
        /// The new paths, normalised.
        new: Vec<PathBuf>,
        /// Every path it reported so far.
        total: usize,
    },
}

/// What stator learns from outside its roots, and the environment that lets children report.
///
/// Make it with [`Learner::new`] before the first child, give every child [`Learner::env`], call
/// [`Learner::start`] before the poller's baseline, [`Learner::poll`] in every iteration of the loop and
/// [`Learner::filter`] on every tick's changes. Drop it after the last child is gone: its private directory goes
/// with it.
#[derive(Debug)]
pub struct Learner {
    /// Holds the report file and the shims; removed when the learner is dropped (after the child is gone). `None`
    /// when it could not be made (a full `$TMPDIR`): then there is no report file and no shim.
    _dir: Option<tempfile::TempDir>,
    /// Its path, normalised.
    private: Option<PathBuf>,
    /// `None` when it could not be made: the command runs without `STATOR_WATCH_FILE`.
    report: Option<ReportFile>,
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
    /// Makes the private directory, the report file and the shims asked for; `roots` are the poller's roots (a
    /// change under one always counts). Fails on the first of them that cannot be made; [`Learner::best_effort`]
    /// makes do without.
    pub fn new(opts: &LearnOptions, roots: &[PathBuf]) -> Result<Learner, LearnError> {
        let (learner, mut errors) = Learner::best_effort(opts, roots);
        if errors.is_empty() { Ok(learner) } else { Err(errors.swap_remove(0)) }
    }

    /// [`Learner::new`], but what cannot be made (a full or read-only `$TMPDIR`) is done without, and said: the
    /// command runs without `STATOR_WATCH_FILE`, or without a shim. The dep files work whatever happens.
    pub fn best_effort(opts: &LearnOptions, roots: &[PathBuf]) -> (Learner, Vec<LearnError>) {
        let base = normalize(Path::new("."));
        let mut errors = Vec::new();
        let mut env = Vec::new();
        let dir = crate::sys::private_dir("stator-learn-").map_err(|e| errors.push(LearnError::ReportFile(e))).ok();
        let report = dir.as_ref().and_then(|dir| {
            ReportFile::create(dir.path(), base.clone()).map_err(|e| errors.push(LearnError::ReportFile(e))).ok()
        });
        if let Some(report) = &report {
            env.push((OsString::from(WATCH_FILE_VAR), report.path().as_os_str().to_owned()));
        }
        if let Some(dir) = dir.as_ref().filter(|_| opts.python) {
            match shims::write_python(dir.path()) {
                Ok(shim_dir) => {
                    let existing = std::env::var_os("PYTHONPATH");
                    match shims::python_path(&shim_dir, existing.as_deref()) {
                        Some(path) => env.push(("PYTHONPATH".into(), path)),
                        None => errors.push(LearnError::Unlistable(shim_dir)),
                    }
                }
                Err(source) => errors.push(LearnError::Shim { runtime: "python", source }),
            }
        }
        if let Some(dir) = dir.as_ref().filter(|_| opts.node) {
            match shims::write_node(dir.path()) {
                Ok(hook) => {
                    let existing = std::env::var_os("NODE_OPTIONS");
                    env.push(("NODE_OPTIONS".into(), shims::node_options(&hook, existing.as_deref())));
                }
                Err(source) => errors.push(LearnError::Shim { runtime: "node", source }),
            }
        }
        let deps = DepFiles::new(opts.dep_files.iter().map(|f| normalize(&base.join(f))));
        let learner = Learner {
            private: dir.as_ref().map(|d| normalize(d.path())),
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
        };
        (learner, errors)
    }

    /// The private directory holding the report file and the shims, if one could be made (removed when the
    /// learner is dropped).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(tempfile::TempDir::path)
    }

    /// The variables every child gets: `STATOR_WATCH_FILE`, and `PYTHONPATH` / `NODE_OPTIONS` for the shims.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        self.env.clone()
    }

    /// Before the baseline: watches the dep files and what they list.
    pub fn start(&mut self, poller: &mut Poller) -> Vec<Note> {
        let mut notes = Vec::new();
        let files: Vec<PathBuf> = self.deps.files().map(Path::to_path_buf).collect();
        poller.add_paths(files.iter().cloned());
        for file in files {
            self.read_dep_file(&file, poller, &mut notes);
        }
        notes
    }

    /// Every main-loop iteration: watches the paths the command reported since the last call.
    pub fn poll(&mut self, poller: &mut Poller) -> Vec<Note> {
        let mut notes = Vec::new();
        let Some(report) = self.report.as_mut() else { return notes };
        let parsed = match report.read_new() {
            Ok(parsed) => parsed,
            Err(e) => {
                if !self.read_warned {
                    self.read_warned = true;
                    notes.push(Note::Warning(format!("cannot read {}: {e}", report.path().display())));
                }
                return notes;
            }
        };
        for notice in parsed.notices {
            self.notices += 1;
            if self.notices <= MAX_NOTICES {
                notes.push(Note::Warning(notice.to_string()));
            } else if self.notices == MAX_NOTICES + 1 {
                notes.push(Note::Warning("more bad lines from the command are ignored without a word".into()));
            }
        }
        let mut fresh = Vec::new();
        for path in parsed.paths {
            if self.reported.len() >= MAX_REPORTED {
                if !self.full_warned {
                    self.full_warned = true;
                    notes.push(Note::Warning(format!(
                        "the command reported more than {MAX_REPORTED} paths; the rest are not watched"
                    )));
                }
                break;
            }
            let path = normalize(&path);
            // The shims themselves (the Python one is a module like any other): never a reason to restart.
            if self.private.as_ref().is_some_and(|p| path.starts_with(p)) {
                continue;
            }
            if self.reported.insert(path.clone()) {
                fresh.push(path);
            }
        }
        if !fresh.is_empty() {
            notes.push(Note::Reported { new: fresh.clone(), total: self.reported.len() });
            poller.add_paths(fresh);
        }
        notes
    }

    /// After each tick: a change to a dep file re-reads it and is no reason to restart by itself; a change to a
    /// path a dep file no longer lists is dropped, unless a root covers it or the command reported it.
    pub fn filter(&mut self, changes: &mut Vec<Change>, poller: &mut Poller) -> Vec<Note> {
        let mut notes = Vec::new();
        let mut reread = Vec::new();
        changes.retain(|c| {
            if self.deps.is_dep_file(&c.path) {
                if c.kind == ChangeKind::Removed {
                    notes.push(Note::Detail(format!(
                        "dep file {} was removed; still watching what it listed",
                        c.path.display()
                    )));
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
            self.read_dep_file(&file, poller, &mut notes);
        }
        notes
    }

    fn read_dep_file(&mut self, file: &Path, poller: &mut Poller, notes: &mut Vec<Note>) {
        let text = match read_limited(file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                notes.push(Note::Warning(format!(
                    "dep file {} does not exist yet; it is read when it appears",
                    file.display()
                )));
                return;
            }
            Err(e) => {
                notes.push(Note::Warning(format!("cannot read dep file {}: {e}", file.display())));
                return;
            }
        };
        let listed: Vec<PathBuf> = depfile::dependencies(&text).iter().map(|p| normalize(&self.base.join(p))).collect();
        let fresh = self.deps.update(file, listed);
        let listed = self.deps.count(file);
        notes.push(Note::Detail(format!(
            "dep file {} lists {listed} {} ({} new)",
            file.display(),
            if listed == 1 { "file" } else { "files" },
            fresh.len()
        )));
        poller.add_paths(fresh);
    }
}

/// A dep file's bytes, refusing one larger than [`MAX_DEP_FILE`].
fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    // Never a FIFO or a device: opening or reading one could block the main loop.
    crate::sys::open_regular(path)?.take(MAX_DEP_FILE + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_DEP_FILE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "larger than 64 MiB"));
    }
    Ok(out)
}
