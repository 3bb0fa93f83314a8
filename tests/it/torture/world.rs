//! The tree on disk and the test's model of it ([`World`]), the view a `stat` that follows symlinks has of it
//! ([`View`]), and the tree every run starts from ([`setup`]). The operations that change both are in `ops`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use filetime::FileTime;
use stator::poll::Tick;

use super::knobs::Quirks;
use super::rng::Rng;
use super::{HEADER, MAX_DEPTH};
use crate::support::set_mtime;

/// What a symlink points at. Targets outside the root never change; pinned files are files under the root that
/// are never removed or renamed away (their content changes), so such a link never dangles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    ExtFile(usize),
    ExtDir(usize),
    Dangling(u64),
    Pinned(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Obj {
    File { id: u64, content: Vec<u8>, tag: u64 },
    Dir,
    Link(Target),
}

/// What `stat` (following symlinks) sees at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum View {
    Dir,
    File { id: u64, content: Vec<u8>, tag: u64 },
}

impl View {
    pub(super) fn short(&self) -> String {
        match self {
            View::Dir => "dir".into(),
            View::File { id, content, tag } => {
                format!(
                    "file obj {id} len {} tag {tag} {:?}",
                    content.len(),
                    String::from_utf8_lossy(&content[..HEADER])
                )
            }
        }
    }
}

/// A file outside the root, a symlink target.
#[derive(Debug, Clone)]
pub(super) struct ExtFile {
    pub(super) name: String,
    pub(super) id: u64,
    pub(super) content: Vec<u8>,
}

/// The tree on disk and its model, with what the current round touched.
pub(super) struct World {
    pub(super) root: PathBuf,
    pub(super) outside: PathBuf,
    pub(super) ext: PathBuf,
    pub(super) void: PathBuf,
    pub(super) model: BTreeMap<PathBuf, Obj>,
    pub(super) ext_files: Vec<ExtFile>,
    pub(super) ext_dirs: Vec<Vec<ExtFile>>,
    pub(super) pinned: Vec<PathBuf>,
    pub(super) next: u64,
    /// View paths touched this round, and prefixes under which everything was touched.
    pub(super) touched: BTreeSet<PathBuf>,
    pub(super) touched_under: Vec<PathBuf>,
    /// Files whose only change this round may be their ctime (chmod).
    pub(super) ctime_touched: BTreeSet<PathBuf>,
    /// Files whose fingerprint changed since the last full tick (with the time just before the first tick of any
    /// kind after the change, once there was one), and for the others a lower bound of the scan time at which the
    /// engine first saw their current fingerprint (a hot tick may have seen it before the full one).
    pub(super) fp_pending: BTreeMap<PathBuf, Option<FileTime>>,
    /// With the round of that full tick: racy rewrites go to files seen in this round or the previous one.
    pub(super) fp_seen: BTreeMap<PathBuf, (FileTime, usize)>,
    pub(super) round: usize,
    /// A directory with something in it vanished (removed, renamed, unlinked) since the last full tick.
    pub(super) dir_gone: bool,
    pub(super) avoid_known_bugs: bool,
    pub(super) quirks: Quirks,
    /// Print the ticks too (`STATOR_TORTURE_TRACE`).
    pub(super) trace: bool,
    pub(super) log: Vec<String>,
    pub(super) counts: BTreeMap<&'static str, usize>,
}

pub(super) fn rel_depth(p: &Path) -> usize {
    p.components().count()
}

/// This machine's clock shifted by `secs` seconds, with `nanos` nanoseconds.
pub(super) fn now_plus(secs: i64, nanos: u32) -> FileTime {
    FileTime::from_unix_time(FileTime::now().unix_seconds() + secs, nanos)
}

impl World {
    pub(super) fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    pub(super) fn fresh(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// New content for object `id`, `len` bytes long (at least the header).
    pub(super) fn content(&mut self, rng: &mut Rng, id: u64, len: usize) -> Vec<u8> {
        let serial = self.fresh();
        let mut c = format!("<{:08x}:{:08x}>", id & 0xffff_ffff, serial & 0xffff_ffff).into_bytes();
        debug_assert_eq!(c.len(), HEADER);
        while c.len() < len.max(HEADER) {
            c.push(b'a' + (rng.next() % 26) as u8);
        }
        c
    }

    pub(super) fn files(&self) -> Vec<PathBuf> {
        self.model.iter().filter(|(_, o)| matches!(o, Obj::File { .. })).map(|(p, _)| p.clone()).collect()
    }

    /// Files that may be removed, renamed away or turned into something else.
    pub(super) fn movable_files(&self) -> Vec<PathBuf> {
        self.model
            .iter()
            .filter(|(p, o)| matches!(o, Obj::File { .. }) && !self.pinned.contains(p))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Directories new things can go in (the root is the empty path).
    pub(super) fn dirs(&self) -> Vec<PathBuf> {
        let mut out = vec![PathBuf::new()];
        out.extend(self.model.iter().filter(|(_, o)| matches!(o, Obj::Dir)).map(|(p, _)| p.clone()));
        out
    }

    /// Directories that may be removed, renamed or changed.
    pub(super) fn movable_dirs(&self) -> Vec<PathBuf> {
        self.model
            .iter()
            .filter(|(p, o)| matches!(o, Obj::Dir) && *p != Path::new("pinned"))
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub(super) fn links(&self) -> Vec<PathBuf> {
        self.model.iter().filter(|(_, o)| matches!(o, Obj::Link(_))).map(|(p, _)| p.clone()).collect()
    }

    pub(super) fn under(&self, dir: &Path) -> Vec<PathBuf> {
        self.model.keys().filter(|p| p.starts_with(dir) && *p != dir).cloned().collect()
    }

    /// A new name in `dir`.
    pub(super) fn new_name(&mut self, dir: &Path, stem: &str) -> PathBuf {
        let n = self.fresh();
        dir.join(format!("{stem}{n}"))
    }

    pub(super) fn target_path(&self, t: Target) -> PathBuf {
        match t {
            Target::ExtFile(i) => self.ext.join(&self.ext_files[i].name),
            Target::ExtDir(i) => self.ext.join(format!("dir{i}")),
            Target::Dangling(n) => self.void.join(format!("nothing{n}")),
            Target::Pinned(i) => self.root.join(&self.pinned[i]),
        }
    }

    /// The view: what `stat` following symlinks sees under the root.
    pub(super) fn view(&self) -> BTreeMap<PathBuf, View> {
        let mut out = BTreeMap::new();
        for (p, o) in &self.model {
            match o {
                Obj::Dir => {
                    out.insert(p.clone(), View::Dir);
                }
                Obj::File { id, content, tag } => {
                    out.insert(p.clone(), View::File { id: *id, content: content.clone(), tag: *tag });
                }
                Obj::Link(Target::ExtFile(i)) => {
                    let f = &self.ext_files[*i];
                    out.insert(p.clone(), View::File { id: f.id, content: f.content.clone(), tag: 0 });
                }
                Obj::Link(Target::ExtDir(i)) => {
                    out.insert(p.clone(), View::Dir);
                    for f in &self.ext_dirs[*i] {
                        out.insert(p.join(&f.name), View::File { id: f.id, content: f.content.clone(), tag: 0 });
                    }
                }
                Obj::Link(Target::Dangling(_)) => {}
                Obj::Link(Target::Pinned(i)) => {
                    if let Some(Obj::File { id, content, tag }) = self.model.get(&self.pinned[*i]) {
                        out.insert(p.clone(), View::File { id: *id, content: content.clone(), tag: *tag });
                    }
                }
            }
        }
        out
    }

    /// Marks `p` touched this round (and, for a pinned file, every link to it).
    pub(super) fn touch(&mut self, p: &Path) {
        self.touched.insert(p.to_path_buf());
        for link in self.links_to(p) {
            self.touched.insert(link);
        }
    }

    /// Marks `p` and everything under it touched (before and after the operation).
    pub(super) fn touch_tree(&mut self, p: &Path) {
        self.touch(p);
        self.touched_under.push(p.to_path_buf());
    }

    pub(super) fn links_to(&self, p: &Path) -> Vec<PathBuf> {
        let Some(i) = self.pinned.iter().position(|q| q == p) else { return Vec::new() };
        self.model.iter().filter(|(_, o)| **o == Obj::Link(Target::Pinned(i))).map(|(l, _)| l.clone()).collect()
    }

    pub(super) fn is_touched(&self, p: &Path, trust_ctime: bool) -> bool {
        self.touched.contains(p)
            || self.touched_under.iter().any(|u| p.starts_with(u))
            || trust_ctime && self.ctime_touched.contains(p)
    }

    /// The fingerprint of file `p` changed: the engine will first see it at the next full tick.
    pub(super) fn fp_changed(&mut self, p: &Path) {
        self.fp_seen.remove(p);
        self.fp_pending.insert(p.to_path_buf(), None);
    }

    pub(super) fn fp_gone(&mut self, p: &Path) {
        self.fp_seen.remove(p);
        self.fp_pending.remove(p);
    }

    /// Moves the model entries at and under `from` to `to`.
    pub(super) fn rekey(&mut self, from: &Path, to: &Path) {
        let keys: Vec<PathBuf> = self.model.keys().filter(|p| p.starts_with(from)).cloned().collect();
        let mut moved = Vec::new();
        for k in keys {
            let obj = self.model.remove(&k).expect("key listed");
            let rest = k.strip_prefix(from).expect("under from");
            let nk = if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) };
            self.fp_gone(&k);
            moved.push((nk, obj));
        }
        for (nk, obj) in moved {
            if matches!(obj, Obj::File { .. }) {
                self.fp_changed(&nk);
            }
            self.model.insert(nk, obj);
        }
    }

    pub(super) fn remove_tree(&mut self, p: &Path) {
        let keys: Vec<PathBuf> = self.model.keys().filter(|k| k.starts_with(p)).cloned().collect();
        for k in keys {
            self.model.remove(&k);
            self.fp_gone(&k);
        }
    }

    pub(super) fn write_new_file(&mut self, rng: &mut Rng, rel: &Path) {
        let id = self.fresh();
        let len = rng.range(HEADER, 120);
        let content = self.content(rng, id, len);
        fs::write(self.abs(rel), &content).unwrap_or_else(|e| panic!("write {}: {e}", rel.display()));
        self.model.insert(rel.to_path_buf(), Obj::File { id, content, tag: 0 });
        self.fp_changed(rel);
    }

    /// Builds a directory outside the root with a few old files (and maybe a subdirectory), for moving in.
    /// Returns its path and the model entries relative to it.
    pub(super) fn staged_dir(&mut self, rng: &mut Rng) -> (PathBuf, Vec<(PathBuf, Obj)>) {
        let n = self.fresh();
        let dir = self.outside.join(format!("staged{n}"));
        fs::create_dir(&dir).expect("mkdir staged");
        let mut entries = Vec::new();
        let sub = rng.chance(30).then(|| PathBuf::from(format!("s{}", self.fresh())));
        if let Some(s) = &sub {
            fs::create_dir(dir.join(s)).expect("mkdir staged sub");
            entries.push((s.clone(), Obj::Dir));
        }
        for _ in 0..rng.range(0, 3) {
            let parent = if sub.is_some() && rng.chance(40) { sub.clone().unwrap_or_default() } else { PathBuf::new() };
            let name = parent.join(format!("m{}.txt", self.fresh()));
            let id = self.fresh();
            let len = rng.range(HEADER, 80);
            let content = self.content(rng, id, len);
            fs::write(dir.join(&name), &content).expect("write staged");
            // Old files, as `mv` of an unpacked archive brings them: only their new name can tell.
            set_mtime(dir.join(&name), now_plus(-86_400 * rng.range(30, 900) as i64, 0));
            entries.push((name, Obj::File { id, content, tag: 0 }));
        }
        (dir, entries)
    }

    pub(super) fn insert_staged(&mut self, at: &Path, entries: Vec<(PathBuf, Obj)>) {
        self.model.insert(at.to_path_buf(), Obj::Dir);
        for (rel, obj) in entries {
            let p = at.join(rel);
            if matches!(obj, Obj::File { .. }) {
                self.fp_changed(&p);
            }
            self.model.insert(p, obj);
        }
    }

    /// Whether `t` can be linked now: a directory outside the root is linked at most once at a time (the engine
    /// watches a directory once, whichever way it is reached; that is by design, not tested here).
    pub(super) fn linkable(&self, t: Target) -> bool {
        match t {
            Target::ExtDir(i) => !self.model.values().any(|o| *o == Obj::Link(Target::ExtDir(i))),
            _ => true,
        }
    }

    pub(super) fn random_target(&mut self, rng: &mut Rng, dirs: bool) -> Target {
        loop {
            let t = match rng.below(10) {
                0..=2 => Target::ExtFile(rng.below(self.ext_files.len())),
                3..=5 if dirs => Target::ExtDir(rng.below(self.ext_dirs.len())),
                3..=5 => continue,
                6 => Target::Dangling(self.fresh()),
                _ => Target::Pinned(rng.below(self.pinned.len())),
            };
            if self.linkable(t) {
                return t;
            }
        }
    }

    /// A tick's changes, short, for the round's log.
    pub(super) fn note_tick(&mut self, what: &str, tick: &Tick) {
        let mut line = format!("  ({what})");
        for c in &tick.changes {
            let rel = c.path.strip_prefix(&self.root).unwrap_or(&c.path);
            let _ = write!(line, " {} {};", c.kind, rel.display());
        }
        if tick.pending {
            line.push_str(" [pending]");
        }
        for w in &tick.warnings {
            let _ = write!(line, " [warning: {w}]");
        }
        if self.trace {
            eprintln!("torture: {line}");
        }
        self.log.push(line);
    }
}

pub(super) fn setup(base: &Path, rng: &mut Rng) -> World {
    let root = base.join("root");
    let outside = base.join("outside");
    let ext = base.join("ext");
    let void = base.join("void");
    for d in [&root, &outside, &ext, &void] {
        fs::create_dir(d).expect("mkdir");
    }
    let mut w = World {
        root,
        outside,
        ext,
        void,
        model: BTreeMap::new(),
        ext_files: Vec::new(),
        ext_dirs: Vec::new(),
        pinned: Vec::new(),
        next: 0,
        touched: BTreeSet::new(),
        touched_under: Vec::new(),
        ctime_touched: BTreeSet::new(),
        fp_pending: BTreeMap::new(),
        fp_seen: BTreeMap::new(),
        round: 0,
        dir_gone: false,
        avoid_known_bugs: false,
        quirks: Quirks::NONE,
        trace: false,
        log: Vec::new(),
        counts: BTreeMap::new(),
    };
    for i in 0..3 {
        let id = w.fresh();
        let content = w.content(rng, id, 40);
        let name = format!("x{i}.txt");
        fs::write(w.ext.join(&name), &content).expect("write ext file");
        w.ext_files.push(ExtFile { name, id, content });
    }
    for i in 0..3 {
        let dir = w.ext.join(format!("dir{i}"));
        fs::create_dir(&dir).expect("mkdir ext dir");
        let names: &[&str] = if i == 2 { &["a.txt", "c.txt"] } else { &["a.txt", "b.txt"] };
        let mut files = Vec::new();
        for name in names {
            let id = w.fresh();
            let content = w.content(rng, id, 30);
            fs::write(dir.join(name), &content).expect("write ext dir file");
            files.push(ExtFile { name: (*name).into(), id, content });
        }
        w.ext_dirs.push(files);
    }
    fs::create_dir(w.root.join("pinned")).expect("mkdir pinned");
    w.model.insert("pinned".into(), Obj::Dir);
    for i in 0..3 {
        let p = PathBuf::from(format!("pinned/p{i}.txt"));
        w.write_new_file(rng, &p);
        w.pinned.push(p);
    }
    for _ in 0..8 {
        let parents = w.dirs();
        let parent = rng.pick(&parents).unwrap_or_default();
        if rel_depth(&parent) < MAX_DEPTH {
            let d = w.new_name(&parent, "d");
            fs::create_dir(w.abs(&d)).expect("mkdir");
            w.model.insert(d, Obj::Dir);
        }
    }
    for _ in 0..40 {
        let dirs = w.dirs();
        let dir = rng.pick(&dirs).unwrap_or_default();
        let p = w.new_name(&dir, "f").with_extension("txt");
        w.write_new_file(rng, &p);
    }
    w
}
