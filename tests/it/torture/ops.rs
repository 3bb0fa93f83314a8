//! The operations the torture makes ([`Op`], with their weights), each carried out on disk and in the model
//! ([`World::apply`]).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use filetime::FileTime;

use super::rng::Rng;
use super::world::{Obj, Target, World, now_plus, rel_depth};
use super::{FEW_FILES, HEADER, MANY_FILES, MAX_DEPTH, Variant};
use crate::support::set_mtime;

/// The operations, with their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Create,
    Rewrite,
    Append,
    Truncate,
    MtimeBack,
    MtimeFuture,
    MoveOut,
    MoveIn,
    AtomicSave,
    RenameFile,
    Delete,
    Chmod,
    Racy,
    Mkdir,
    Rmdir,
    RmTree,
    RenameDir,
    RenameDirOver,
    MoveDirIn,
    MoveDirOut,
    ChmodDir,
    Symlink,
    Unlink,
    Retarget,
    FileToDir,
    DirToFile,
}

impl Op {
    pub(super) const ALL: [Op; 26] = [
        Op::Create,
        Op::Rewrite,
        Op::Append,
        Op::Truncate,
        Op::MtimeBack,
        Op::MtimeFuture,
        Op::MoveOut,
        Op::MoveIn,
        Op::AtomicSave,
        Op::RenameFile,
        Op::Delete,
        Op::Chmod,
        Op::Racy,
        Op::Mkdir,
        Op::Rmdir,
        Op::RmTree,
        Op::RenameDir,
        Op::RenameDirOver,
        Op::MoveDirIn,
        Op::MoveDirOut,
        Op::ChmodDir,
        Op::Symlink,
        Op::Unlink,
        Op::Retarget,
        Op::FileToDir,
        Op::DirToFile,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Rewrite => "rewrite",
            Op::Append => "append",
            Op::Truncate => "truncate",
            Op::MtimeBack => "mtime-back",
            Op::MtimeFuture => "mtime-future",
            Op::MoveOut => "move-out",
            Op::MoveIn => "move-in",
            Op::AtomicSave => "atomic-save",
            Op::RenameFile => "rename",
            Op::Delete => "delete",
            Op::Chmod => "chmod",
            Op::Racy => "racy",
            Op::Mkdir => "mkdir",
            Op::Rmdir => "rmdir",
            Op::RmTree => "rm-tree",
            Op::RenameDir => "rename-dir",
            Op::RenameDirOver => "rename-dir-over",
            Op::MoveDirIn => "move-dir-in",
            Op::MoveDirOut => "move-dir-out",
            Op::ChmodDir => "chmod-dir",
            Op::Symlink => "symlink",
            Op::Unlink => "unlink",
            Op::Retarget => "retarget",
            Op::FileToDir => "file-to-dir",
            Op::DirToFile => "dir-to-file",
        }
    }

    pub(super) fn weight(self, v: &Variant) -> u32 {
        match self {
            Op::Create => 10,
            Op::Rewrite => 10,
            Op::Append => 7,
            Op::Truncate => 4,
            Op::MtimeBack => 4,
            Op::MtimeFuture => 3,
            Op::MoveOut => 3,
            Op::MoveIn => 4,
            Op::AtomicSave => 6,
            Op::RenameFile => 5,
            Op::Delete => 5,
            Op::Chmod => 3,
            Op::Racy => v.racy,
            Op::Mkdir => 4,
            Op::Rmdir => 2,
            Op::RmTree => 1,
            Op::RenameDir => 3,
            Op::RenameDirOver if v.avoid_known_bugs => 0,
            Op::RenameDirOver => 1,
            Op::MoveDirIn => 2,
            Op::MoveDirOut => 1,
            Op::ChmodDir => 1,
            Op::Symlink => 3,
            Op::Unlink => 2,
            Op::Retarget => 2,
            Op::FileToDir if v.avoid_known_bugs => 0,
            Op::FileToDir => 1,
            Op::DirToFile if v.avoid_known_bugs => 0,
            Op::DirToFile => 1,
        }
    }

    /// The skip names that leave this operation out.
    pub(super) fn needs(self) -> &'static [&'static str] {
        match self {
            Op::Append => &["append"],
            Op::Chmod | Op::ChmodDir => &["chmod"],
            Op::Symlink | Op::Unlink | Op::Retarget => &["symlink"],
            Op::Racy => &["racy", "mtime"],
            Op::MtimeBack | Op::MtimeFuture => &["mtime"],
            _ => &[],
        }
    }
}

impl World {
    /// Carries out one operation of kind `op`, on disk and in the model. `None` when it does not apply now.
    pub(super) fn apply(&mut self, rng: &mut Rng, op: Op, racy_ok: &dyn Fn(&World, &Path) -> bool) -> Option<String> {
        // The choices made here depend on the model and the random numbers only, never on the clock, so that a
        // seed replays exactly; the clock only decides whether a racy rewrite may put the mtime back.
        let n_files = self.files().len();
        match op {
            Op::Create => {
                if n_files >= MANY_FILES {
                    return None;
                }
                let dir = rng.pick(&self.dirs())?;
                let p = self.new_name(&dir, "f");
                let p = p.with_extension("txt");
                self.write_new_file(rng, &p);
                self.touch(&p);
                Some(format!("create {}", p.display()))
            }
            Op::Rewrite => {
                let p = rng.pick(&self.files())?;
                self.rewrite(rng, &p, false)
            }
            Op::Racy => {
                let recent = self.round.saturating_sub(1);
                let candidates: Vec<PathBuf> = self
                    .files()
                    .into_iter()
                    .filter(|p| self.fp_seen.get(p).is_some_and(|(_, round)| *round >= recent))
                    .collect();
                let p = rng.pick(&candidates)?;
                let promised = racy_ok(self, &p);
                let key = if promised { "racy (mtime put back)" } else { "racy (too late: plain rewrite)" };
                *self.counts.entry(key).or_default() += 1;
                self.rewrite(rng, &p, promised)
            }
            Op::Append => {
                let p = rng.pick(&self.files())?;
                let extra: Vec<u8> = (0..rng.range(1, 40)).map(|_| b'A' + (rng.next() % 26) as u8).collect();
                let mut f = fs::OpenOptions::new().append(true).open(self.abs(&p)).expect("open for append");
                f.write_all(&extra).expect("append");
                drop(f);
                if let Some(Obj::File { content, .. }) = self.model.get_mut(&p) {
                    content.extend_from_slice(&extra);
                }
                self.touch(&p);
                self.fp_changed(&p);
                Some(format!("append {} +{}", p.display(), extra.len()))
            }
            Op::Truncate => {
                let p = rng.pick(&self.files())?;
                let Some(Obj::File { content, .. }) = self.model.get(&p) else { return None };
                if content.len() <= HEADER {
                    return None;
                }
                let len = rng.range(HEADER, content.len() - 1);
                if self.quirks.no_ftruncate {
                    let prefix = content[..len].to_vec();
                    fs::write(self.abs(&p), prefix).expect("truncate by rewriting the first bytes");
                } else {
                    let f = fs::OpenOptions::new().write(true).open(self.abs(&p)).expect("open for truncate");
                    f.set_len(len as u64).expect("truncate");
                }
                if let Some(Obj::File { content, .. }) = self.model.get_mut(&p) {
                    content.truncate(len);
                }
                self.touch(&p);
                self.fp_changed(&p);
                Some(format!("truncate {} to {len}", p.display()))
            }
            Op::MtimeBack | Op::MtimeFuture => {
                let p = rng.pick(&self.files())?;
                let secs = if op == Op::MtimeBack {
                    -(3600 + rng.below(40_000_000) as i64)
                } else {
                    3600 + rng.below(30 * 86_400) as i64
                };
                let t = now_plus(secs, (rng.next() % 1_000_000_000) as u32);
                set_mtime(self.abs(&p), t);
                let tag = self.fresh();
                if let Some(Obj::File { tag: old, .. }) = self.model.get_mut(&p) {
                    *old = tag;
                }
                self.touch(&p);
                self.fp_changed(&p);
                Some(format!("{} {} by {secs}s", op.name(), p.display()))
            }
            Op::MoveOut => {
                if n_files <= FEW_FILES {
                    return None;
                }
                let p = rng.pick(&self.movable_files())?;
                let n = self.fresh();
                let out = self.outside.join(format!("out{n}"));
                fs::rename(self.abs(&p), &out).expect("move out");
                fs::remove_file(&out).expect("remove moved-out file");
                self.touch(&p);
                self.model.remove(&p);
                self.fp_gone(&p);
                Some(format!("move-out {}", p.display()))
            }
            Op::MoveIn => {
                if n_files >= MANY_FILES {
                    return None;
                }
                let dir = rng.pick(&self.dirs())?;
                let p = self.new_name(&dir, "in").with_extension("txt");
                let n = self.fresh();
                let staged = self.outside.join(format!("staged{n}"));
                let id = self.fresh();
                let len = rng.range(HEADER, 100);
                let content = self.content(rng, id, len);
                fs::write(&staged, &content).expect("write staged file");
                set_mtime(&staged, now_plus(-86_400 * rng.range(1, 2000) as i64, 0));
                fs::rename(&staged, self.abs(&p)).expect("move in");
                self.model.insert(p.clone(), Obj::File { id, content, tag: 0 });
                self.fp_changed(&p);
                self.touch(&p);
                Some(format!("move-in {} (old mtime)", p.display()))
            }
            Op::AtomicSave => {
                let p = rng.pick(&self.files())?;
                let n = self.fresh();
                let name = p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let tmp = p.with_file_name(format!(".{name}.{n}.tmp"));
                let id = self.fresh();
                let len = rng.range(HEADER, 120);
                let content = self.content(rng, id, len);
                fs::write(self.abs(&tmp), &content).expect("write temporary");
                fs::rename(self.abs(&tmp), self.abs(&p)).expect("rename over");
                self.model.insert(p.clone(), Obj::File { id, content, tag: 0 });
                self.touch(&p);
                self.touch(&tmp);
                self.fp_changed(&p);
                Some(format!("atomic-save {}", p.display()))
            }
            Op::RenameFile => {
                let from = rng.pick(&self.movable_files())?;
                let to = if rng.chance(30) {
                    let others: Vec<PathBuf> = self.files().into_iter().filter(|p| *p != from).collect();
                    rng.pick(&others)?
                } else {
                    let dir = rng.pick(&self.dirs())?;
                    self.new_name(&dir, "r").with_extension("txt")
                };
                fs::rename(self.abs(&from), self.abs(&to)).expect("rename file");
                let obj = self.model.remove(&from).expect("in model");
                self.touch(&from);
                self.fp_gone(&from);
                self.model.insert(to.clone(), obj);
                self.touch(&to);
                self.fp_changed(&to);
                Some(format!("rename {} -> {}", from.display(), to.display()))
            }
            Op::Delete => {
                if n_files <= FEW_FILES {
                    return None;
                }
                let p = rng.pick(&self.movable_files())?;
                fs::remove_file(self.abs(&p)).expect("delete");
                self.touch(&p);
                self.model.remove(&p);
                self.fp_gone(&p);
                Some(format!("delete {}", p.display()))
            }
            Op::Chmod => {
                let p = rng.pick(&self.files())?;
                let mode = [0o600, 0o644, 0o640, 0o755][rng.below(4)];
                fs::set_permissions(self.abs(&p), fs::Permissions::from_mode(mode)).expect("chmod");
                self.ctime_touched.insert(p.clone());
                for l in self.links_to(&p) {
                    self.ctime_touched.insert(l);
                }
                Some(format!("chmod {} {mode:o}", p.display()))
            }
            Op::Mkdir => {
                let dirs: Vec<PathBuf> = self.dirs().into_iter().filter(|d| rel_depth(d) < MAX_DEPTH).collect();
                let dir = rng.pick(&dirs)?;
                let p = self.new_name(&dir, "d");
                fs::create_dir(self.abs(&p)).expect("mkdir");
                self.model.insert(p.clone(), Obj::Dir);
                self.touch(&p);
                Some(format!("mkdir {}", p.display()))
            }
            Op::Rmdir => {
                let empty: Vec<PathBuf> =
                    self.movable_dirs().into_iter().filter(|d| self.under(d).is_empty()).collect();
                let p = rng.pick(&empty)?;
                fs::remove_dir(self.abs(&p)).expect("rmdir");
                self.touch(&p);
                self.model.remove(&p);
                Some(format!("rmdir {}", p.display()))
            }
            Op::RmTree => {
                if n_files <= FEW_FILES {
                    return None;
                }
                let p = rng.pick(&self.movable_dirs())?;
                if self.under(&p).iter().any(|q| self.pinned.contains(q)) {
                    return None;
                }
                let count = self.under(&p).len();
                fs::remove_dir_all(self.abs(&p)).expect("rm -r");
                self.touch_tree(&p);
                self.remove_tree(&p);
                self.dir_gone = true;
                Some(format!("rm-tree {} ({count} inside)", p.display()))
            }
            Op::RenameDir | Op::RenameDirOver => {
                let from = rng.pick(&self.movable_dirs())?;
                let to = if op == Op::RenameDir {
                    let dests: Vec<PathBuf> = self
                        .dirs()
                        .into_iter()
                        .filter(|d| !d.starts_with(&from) && rel_depth(d) <= MAX_DEPTH)
                        .collect();
                    let parent = rng.pick(&dests)?;
                    self.new_name(&parent, "d")
                } else {
                    // Over an existing empty directory: rename(2) replaces it.
                    let empty: Vec<PathBuf> = self
                        .movable_dirs()
                        .into_iter()
                        .filter(|d| !d.starts_with(&from) && !from.starts_with(d) && self.under(d).is_empty())
                        .collect();
                    rng.pick(&empty)?
                };
                fs::rename(self.abs(&from), self.abs(&to)).expect("rename dir");
                self.dir_gone = true;
                self.touch_tree(&from);
                self.touch_tree(&to);
                self.model.remove(&to);
                self.rekey(&from, &to);
                Some(format!("rename-dir {} -> {}", from.display(), to.display()))
            }
            Op::MoveDirIn => {
                if n_files >= MANY_FILES {
                    return None;
                }
                let dirs: Vec<PathBuf> = self.dirs().into_iter().filter(|d| rel_depth(d) < MAX_DEPTH).collect();
                let dir = rng.pick(&dirs)?;
                let p = self.new_name(&dir, "md");
                let (staged, entries) = self.staged_dir(rng);
                fs::rename(&staged, self.abs(&p)).expect("move dir in");
                let count = entries.len();
                self.insert_staged(&p, entries);
                self.touch_tree(&p);
                Some(format!("move-dir-in {} ({count} inside, old mtimes)", p.display()))
            }
            Op::MoveDirOut => {
                if n_files <= FEW_FILES {
                    return None;
                }
                let p = rng.pick(&self.movable_dirs())?;
                if self.under(&p).iter().any(|q| self.pinned.contains(q)) {
                    return None;
                }
                let n = self.fresh();
                let out = self.outside.join(format!("gone{n}"));
                fs::rename(self.abs(&p), &out).expect("move dir out");
                fs::remove_dir_all(&out).expect("remove moved-out dir");
                self.dir_gone = true;
                self.touch_tree(&p);
                self.remove_tree(&p);
                Some(format!("move-dir-out {}", p.display()))
            }
            Op::ChmodDir => {
                let p = rng.pick(&self.movable_dirs())?;
                let mode = [0o755, 0o700, 0o750][rng.below(3)];
                fs::set_permissions(self.abs(&p), fs::Permissions::from_mode(mode)).expect("chmod dir");
                // Not a touch: a directory is never reported for its own fingerprint.
                Some(format!("chmod-dir {} {mode:o}", p.display()))
            }
            Op::Symlink => {
                let dir = rng.pick(&self.dirs())?;
                let p = self.new_name(&dir, "l");
                let t = self.random_target(rng, true);
                symlink(self.target_path(t), self.abs(&p)).expect("symlink");
                self.model.insert(p.clone(), Obj::Link(t));
                self.touch_tree(&p);
                Some(format!("symlink {} -> {t:?}", p.display()))
            }
            Op::Unlink => {
                let p = rng.pick(&self.links())?;
                fs::remove_file(self.abs(&p)).expect("remove symlink");
                self.touch_tree(&p);
                let t = self.model.remove(&p);
                self.dir_gone |= matches!(t, Some(Obj::Link(Target::ExtDir(_))));
                Some(format!("unlink {} (was {t:?})", p.display()))
            }
            Op::Retarget => {
                // `ln -sfn`: a new link renamed over the old one.
                let avoid = self.avoid_known_bugs;
                let links: Vec<PathBuf> = self
                    .links()
                    .into_iter()
                    .filter(|l| !avoid || !matches!(self.model.get(l), Some(Obj::Link(Target::ExtDir(_)))))
                    .collect();
                let p = rng.pick(&links)?;
                let t = self.random_target(rng, !avoid);
                let n = self.fresh();
                let tmp = self.abs(&p).with_file_name(format!(".ln{n}"));
                symlink(self.target_path(t), &tmp).expect("symlink");
                fs::rename(&tmp, self.abs(&p)).expect("rename link over");
                self.touch_tree(&p);
                let old = self.model.insert(p.clone(), Obj::Link(t));
                self.dir_gone |= matches!(old, Some(Obj::Link(Target::ExtDir(_))));
                Some(format!("retarget {} {old:?} -> {t:?}", p.display()))
            }
            Op::FileToDir => {
                let p = rng.pick(&self.movable_files())?;
                if rel_depth(&p) > MAX_DEPTH {
                    return None;
                }
                fs::remove_file(self.abs(&p)).expect("remove file");
                self.model.remove(&p);
                self.fp_gone(&p);
                self.touch_tree(&p);
                if rng.chance(50) {
                    fs::create_dir(self.abs(&p)).expect("mkdir in place of a file");
                    self.model.insert(p.clone(), Obj::Dir);
                    let k = rng.range(0, 2);
                    for _ in 0..k {
                        let f = self.new_name(&p, "f").with_extension("txt");
                        self.write_new_file(rng, &f);
                    }
                    Some(format!("file-to-dir {} (mkdir, {k} new files)", p.display()))
                } else {
                    let (staged, entries) = self.staged_dir(rng);
                    fs::rename(&staged, self.abs(&p)).expect("move dir in place of a file");
                    let count = entries.len();
                    self.insert_staged(&p, entries);
                    Some(format!("file-to-dir {} (moved-in dir, {count} inside, old mtimes)", p.display()))
                }
            }
            Op::DirToFile => {
                let p = rng.pick(&self.movable_dirs())?;
                if self.under(&p).iter().any(|q| self.pinned.contains(q)) {
                    return None;
                }
                let count = self.under(&p).len();
                fs::remove_dir_all(self.abs(&p)).expect("rm -r");
                self.touch_tree(&p);
                self.remove_tree(&p);
                self.dir_gone = true;
                self.write_new_file(rng, &p);
                Some(format!("dir-to-file {} ({count} were inside)", p.display()))
            }
        }
    }

    /// Rewrites `p` in place with new content of the same size; `racy`: then puts the previous mtime back.
    pub(super) fn rewrite(&mut self, rng: &mut Rng, p: &Path, racy: bool) -> Option<String> {
        let Some(Obj::File { id, content, .. }) = self.model.get(p) else { return None };
        let (id, len) = (*id, content.len());
        let abs = self.abs(p);
        let before = FileTime::from_last_modification_time(&fs::metadata(&abs).expect("stat before rewrite"));
        let mut new = self.content(rng, id, len);
        if self.quirks.unstamped_writes && !racy {
            // Where writes keep the mtime, only a racy rewrite the engine promises to see may keep the size.
            new.push(b'+');
        }
        let len = new.len();
        if self.quirks.rewrite_in_place {
            let mut f = fs::OpenOptions::new().write(true).open(&abs).expect("open for rewrite");
            f.write_all(&new).expect("rewrite in place");
        } else {
            fs::write(&abs, &new).expect("rewrite");
        }
        if racy {
            set_mtime(&abs, before);
        }
        if let Some(Obj::File { content, .. }) = self.model.get_mut(p) {
            *content = new;
        }
        self.touch(p);
        self.fp_changed(p);
        Some(format!("{} {} ({len} bytes)", if racy { "racy-rewrite" } else { "rewrite" }, p.display()))
    }
}
