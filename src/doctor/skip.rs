//! What `stator doctor` does not look at, and why, pure: roots that are special files (FIFOs, sockets, devices),
//! and kernel pseudo-filesystems (`/proc`, `/sys`...), whether a root is on one or one is mounted inside a root.
//!
//! A pseudo-filesystem's files are made up by the kernel on each read: reading some blocks (`/proc/kmsg` waits
//! for the next kernel message), `/proc/<pid>/root` leads back to `/`, and no timestamp there says anything about
//! an edit. A special file is never opened by stator (opening a FIFO blocks until a writer comes; reading a device
//! or a socket consumes what another program waits for): it can only be watched by its `stat`.

use std::path::{Path, PathBuf};

use super::mountinfo::{self, Mount};

/// The kernel's pseudo-filesystems, by the name the mount table gives them.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "debugfs",
    "tracefs",
    "securityfs",
    "cgroup",
    "cgroup2",
    "pstore",
    "bpf",
    "configfs",
    "efivarfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "binfmt_misc",
    "autofs",
    "selinuxfs",
    "rpc_pipefs",
    "nsfs",
    "nfsd",
];

/// Whether `fstype` (as the mount table names it) is a kernel pseudo-filesystem.
pub(crate) fn is_pseudo(fstype: &str) -> bool {
    PSEUDO.contains(&fstype)
}

/// What a root is, as far as deciding whether to look at it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Root {
    /// It does not exist (the scan says so, and the doctor exits non-zero).
    Missing,
    /// A FIFO, a socket or a device, named (`a FIFO`, `a socket`, `a character device`, `a block device`).
    Special(&'static str),
    /// A file or a directory, on device `dev` (`None` when it could not be told: the scan says why).
    Present(Option<u64>),
}

/// Something not looked at, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// The root, or the mount point inside a root.
    pub path: PathBuf,
    /// Why, in a sentence that can follow the path.
    pub why: String,
    /// Whether it was a root given (and so whether the doctor could not do what it was asked).
    pub root: bool,
}

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// The roots to scan.
    pub roots: Vec<PathBuf>,
    /// Excludes to add, one per pseudo-filesystem mounted inside a root (`/proc/`, anchored to the root).
    pub excludes: Vec<String>,
    /// What is not looked at, and why.
    pub skipped: Vec<Skipped>,
}

fn pseudo_why(fstype: &str) -> String {
    if fstype == "devtmpfs" || fstype == "devpts" {
        return format!(
            "{fstype} holds device files, which stator never opens (reading one can block, or take data another \
             program waits for), so it is not examined"
        );
    }
    format!(
        "{fstype} is a kernel pseudo-filesystem: its files are made up on each read (some block, like /proc/kmsg) \
         and their timestamps say nothing about edits, so it is not examined"
    )
}

/// Decides what to scan of `roots` (absolute, each with what it is), given the mount table.
pub(crate) fn plan(roots: &[(PathBuf, Root)], mounts: &[Mount]) -> Plan {
    let mut out = Plan::default();
    for (path, root) in roots {
        match root {
            Root::Missing | Root::Present(None) => out.roots.push(path.clone()),
            Root::Special(kind) => out.skipped.push(Skipped {
                path: path.clone(),
                why: format!(
                    "{kind}: stator never opens FIFOs, sockets or devices (opening or reading one can block, or take \
                     data another program waits for), so it could only watch its stat; nothing to examine"
                ),
                root: true,
            }),
            Root::Present(Some(dev)) => {
                if let Some(m) = mountinfo::find(mounts, *dev, Some(path)).filter(|m| is_pseudo(&m.fstype)) {
                    out.skipped.push(Skipped { path: path.clone(), why: pseudo_why(&m.fstype), root: true });
                    continue;
                }
                out.roots.push(path.clone());
                inner_pseudo(path, mounts, &mut out);
            }
        }
    }
    out
}

/// The pseudo-filesystems mounted inside `root`: excluded (the outermost of nested ones), and said.
fn inner_pseudo(root: &Path, mounts: &[Mount], out: &mut Plan) {
    let mut points: Vec<&Mount> = mounts
        .iter()
        .filter(|m| is_pseudo(&m.fstype) && m.mount_point != root && m.mount_point.starts_with(root))
        .collect();
    points.sort_by_key(|m| m.mount_point.as_os_str().len());
    let mut taken: Vec<&Path> = Vec::new();
    for m in points {
        if taken.iter().any(|t| m.mount_point.starts_with(t)) {
            continue;
        }
        taken.push(&m.mount_point);
        let Ok(rel) = m.mount_point.strip_prefix(root) else { continue };
        let Some(rel) = rel.to_str() else { continue };
        let glob = format!("/{}/", globset::escape(rel));
        if !out.excludes.contains(&glob) {
            out.excludes.push(glob);
        }
        out.skipped.push(Skipped { path: m.mount_point.clone(), why: pseudo_why(&m.fstype), root: false });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(dev: (u32, u32), at: &str, fstype: &str) -> Mount {
        Mount {
            major: dev.0,
            minor: dev.1,
            mount_point: at.into(),
            fstype: fstype.into(),
            source: "none".into(),
            options: "rw".into(),
        }
    }

    fn table() -> Vec<Mount> {
        vec![
            mount((254, 0), "/", "ext4"),
            mount((0, 22), "/proc", "proc"),
            mount((0, 23), "/sys", "sysfs"),
            mount((0, 24), "/sys/kernel/debug", "debugfs"),
            mount((0, 5), "/dev", "devtmpfs"),
            mount((0, 30), "/tmp", "tmpfs"),
            mount((0, 31), "/srv/chroot/proc", "proc"),
        ]
    }

    #[test]
    fn a_root_on_a_pseudo_filesystem_is_skipped_and_says_why() {
        let p = plan(&[("/proc".into(), Root::Present(Some(22)))], &table());
        assert!(p.roots.is_empty());
        assert_eq!(p.skipped.len(), 1);
        assert!(p.skipped[0].root && p.skipped[0].why.contains("proc is a kernel pseudo-filesystem"), "{p:?}");
        assert!(p.skipped[0].why.contains("/proc/kmsg"), "{p:?}");
        // Inside it, too.
        let p = plan(&[("/sys/class".into(), Root::Present(Some(23)))], &table());
        assert!(p.roots.is_empty() && p.skipped[0].why.starts_with("sysfs"), "{p:?}");
    }

    #[test]
    fn pseudo_filesystems_mounted_inside_a_root_are_excluded() {
        let p = plan(&[("/".into(), Root::Present(Some(0xfe00)))], &table());
        assert_eq!(p.roots, [PathBuf::from("/")]);
        // /sys/kernel/debug is inside /sys: excluded with it. tmpfs is a real filesystem.
        let mut excludes = p.excludes.clone();
        excludes.sort();
        assert_eq!(excludes, ["/dev/", "/proc/", "/srv/chroot/proc/", "/sys/"]);
        assert!(p.skipped.iter().all(|s| !s.root), "{p:?}");
        let p = plan(&[("/srv".into(), Root::Present(Some(0xfe00)))], &table());
        assert_eq!(p.excludes, ["/chroot/proc/"]);
        let p = plan(&[("/home/me".into(), Root::Present(Some(0xfe00)))], &table());
        assert_eq!(p, Plan { roots: vec!["/home/me".into()], ..Plan::default() });
    }

    #[test]
    fn special_files_are_skipped_missing_roots_are_kept_for_the_scan_to_report() {
        let roots = [
            ("/tmp/fifo".into(), Root::Special("a FIFO")),
            ("/nonexistent".into(), Root::Missing),
            ("/unreadable".into(), Root::Present(None)),
        ];
        let p = plan(&roots, &table());
        assert_eq!(p.roots, [PathBuf::from("/nonexistent"), PathBuf::from("/unreadable")]);
        assert_eq!(p.skipped.len(), 1);
        assert!(p.skipped[0].why.starts_with("a FIFO: stator never opens"), "{p:?}");
    }

    #[test]
    fn the_pseudo_list_knows_the_usual_suspects_and_no_real_filesystem() {
        for t in ["proc", "sysfs", "devtmpfs", "cgroup2", "debugfs"] {
            assert!(is_pseudo(t), "{t}");
        }
        for t in ["ext4", "tmpfs", "overlay", "nfs4", "fuse.sshfs", "9p", "btrfs"] {
            assert!(!is_pseudo(t), "{t}");
        }
    }
}
