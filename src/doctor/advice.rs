//! What `stator doctor` makes of what it found, pure: the kind of a filesystem from its type, the hints about
//! attribute caches and clocks with their remedies, and the interval to recommend for a scan's cost.

use std::time::Duration;

/// The share of the interval one full scan may take before a longer interval is recommended.
pub(crate) const SCAN_SHARE: f64 = 0.15;

/// The interval stator uses when not told otherwise.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

/// What kind of filesystem it is, as far as watching it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kind {
    /// Served over a network (NFS, SMB, sshfs...): another machine's changes arrive through caches.
    pub network: bool,
    /// Implemented by a FUSE daemon.
    pub fuse: bool,
    /// A host directory shared into a VM or container (9p, virtiofs, Docker Desktop's fakeowner...).
    pub vm_share: bool,
}

impl Kind {
    /// A few words: `local`, `network, FUSE`, `VM/host share`...
    pub(crate) fn describe(&self) -> String {
        let mut words = Vec::new();
        if self.network {
            words.push("network");
        }
        if self.vm_share {
            words.push("VM/host share");
        }
        if self.fuse {
            words.push("FUSE");
        }
        if words.is_empty() { "local".into() } else { words.join(", ") }
    }
}

const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb",
    "smb2",
    "smb3",
    "smbfs",
    "ncpfs",
    "ceph",
    "afs",
    "coda",
    "glusterfs",
    "lustre",
    "gpfs",
    "davfs",
    "fuse.sshfs",
    "fuse.smbnetfs",
    "fuse.rclone",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.glusterfs",
    "fuse.davfs2",
    "fuse.juicefs",
];

const VM_SHARE: &[&str] = &[
    "9p",
    "virtiofs",
    "fakeowner",
    "vboxsf",
    "vmhgfs",
    "fuse.vmhgfs-fuse",
    "prl_fs",
    "drvfs",
    "fuse.grpcfuse",
    "osxfs",
];

/// The kind of a filesystem type as the mount table (or `statfs`) names it.
pub(crate) fn classify(fstype: &str) -> Kind {
    Kind {
        network: NETWORK.contains(&fstype),
        fuse: fstype == "fuse" || fstype == "fuseblk" || fstype.starts_with("fuse."),
        vm_share: VM_SHARE.contains(&fstype),
    }
}

/// Something the user may want to change, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hint {
    /// What is wrong or slow, in one sentence.
    pub problem: String,
    /// What to do about it.
    pub remedy: String,
}

fn hint(problem: impl Into<String>, remedy: impl Into<String>) -> Hint {
    Hint { problem: problem.into(), remedy: remedy.into() }
}

/// The value of `key=value` among comma-separated mount options (the last one wins, as for the kernel).
fn option<'a>(options: &'a str, key: &str) -> Option<&'a str> {
    options.rsplit(',').filter_map(|o| o.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn has_flag(options: &str, flag: &str) -> bool {
    options.split(',').any(|o| o == flag)
}

fn seconds(options: &str, key: &str) -> Option<u64> {
    option(options, key).and_then(|v| v.parse().ok())
}

/// Hints about the attribute and directory caches of a filesystem of type `fstype` mounted with `options`.
pub(crate) fn cache_hints(fstype: &str, options: &str) -> Vec<Hint> {
    match fstype {
        "nfs" | "nfs4" => nfs_hints(options),
        "cifs" | "smb3" | "smb2" | "smbfs" => smb_hints(options),
        "fuse.sshfs" => vec![hint(
            "sshfs caches directory listings and attributes for 20 s by default (dcache_timeout): a change made on \
             the server can take that long to show",
            "mount with -o dcache_timeout=1 (or -o dir_cache=no); FUSE's own -o attr_timeout is 1 s by default",
        )],
        "9p" => match option(options, "cache") {
            Some(mode @ ("loose" | "fscache")) => vec![hint(
                format!("9p with cache={mode} keeps attributes: changes made on the host may not show"),
                "mount with cache=mmap (or cache=none)",
            )],
            _ => Vec::new(),
        },
        "virtiofs" => vec![hint(
            "virtiofs caches attributes as virtiofsd's --cache mode says (always: indefinitely)",
            "run virtiofsd with --cache=auto (the default) or --cache=never",
        )],
        "fakeowner" | "fuse.grpcfuse" | "osxfs" => vec![hint(
            "Docker Desktop file sharing: no file events cross it, and the host's changes arrive after a short delay",
            "nothing to change: polling is the right tool here; keep --interval at 500ms or more and ignore big trees \
             (-i node_modules)",
        )],
        "fuse" | "fuse.bindfs" | "fuse.smbnetfs" | "fuse.rclone" | "fuse.s3fs" | "fuse.gcsfuse" => vec![hint(
            "FUSE caches attributes for attr_timeout (1 s by default): a change made behind the mount (on its backing \
             directory or server) shows up that much later",
            "mount with -o attr_timeout=0 if that matters (every stat then asks the FUSE daemon)",
        )],
        _ => Vec::new(),
    }
}

fn nfs_hints(options: &str) -> Vec<Hint> {
    let mut out = Vec::new();
    if !has_flag(options, "noac") {
        let all = seconds(options, "actimeo");
        let files = all.or_else(|| seconds(options, "acregmax")).unwrap_or(60);
        let dirs = all.or_else(|| seconds(options, "acdirmax")).unwrap_or(60);
        if files > 1 || dirs > 1 {
            out.push(hint(
                format!(
                    "NFS caches attributes for up to {files} s (files) and {dirs} s (directories): a change made on \
                     another machine can take that long to show"
                ),
                "mount with actimeo=1",
            ));
        }
    }
    if matches!(option(options, "lookupcache"), None | Some("all")) {
        out.push(hint(
            "NFS remembers that a name does not exist (lookupcache=all): a file created on another machine can stay \
             invisible for a while",
            "mount with lookupcache=positive",
        ));
    }
    out
}

fn smb_hints(options: &str) -> Vec<Hint> {
    let mut out = Vec::new();
    let all = seconds(options, "actimeo");
    let longest = all.or_else(|| seconds(options, "acregmax").max(seconds(options, "acdirmax"))).unwrap_or(1);
    if longest > 1 {
        out.push(hint(
            format!(
                "SMB caches attributes for up to {longest} s: a change made on the server can take that long to show"
            ),
            "mount with actimeo=1",
        ));
    }
    if option(options, "cache") == Some("loose") {
        out.push(hint("cache=loose keeps stale attributes and data", "mount with cache=strict (the default)"));
    }
    out
}

/// A hint when the filesystem's clock is further from this machine's than `tolerance` (`skew` > 0: ahead).
pub(crate) fn skew_hint(skew: Duration, ahead: bool, tolerance: Duration) -> Option<Hint> {
    (skew > tolerance).then(|| {
        hint(
            format!(
                "the filesystem's clock is {:.1} s {} this machine's: its timestamps are off by that much",
                skew.as_secs_f64(),
                if ahead { "ahead of" } else { "behind" }
            ),
            "synchronise both clocks (NTP); stator still sees the changes (it compares timestamps with !=), but \
             warns once",
        )
    })
}

/// The interval to recommend when one full scan costs `scan`: the default, or longer so that a scan takes at most
/// [`SCAN_SHARE`] of it, rounded up to 1, 2 or 5 times a power of ten.
pub(crate) fn recommend_interval(scan: Duration) -> Duration {
    let need = scan.as_secs_f64() / SCAN_SHARE;
    if need <= DEFAULT_INTERVAL.as_secs_f64() {
        return DEFAULT_INTERVAL;
    }
    let mut decade = 0.1;
    loop {
        for step in [1.0, 2.0, 5.0] {
            if step * decade >= need {
                return Duration::from_secs_f64(step * decade);
            }
        }
        decade *= 10.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_the_types_that_matter() {
        let cases = [
            ("ext4", "local"),
            ("tmpfs", "local"),
            ("nfs4", "network"),
            ("cifs", "network"),
            ("fuse.sshfs", "network, FUSE"),
            ("fuse.smbnetfs", "network, FUSE"),
            ("fuseblk", "FUSE"),
            ("fuse", "FUSE"),
            ("9p", "VM/host share"),
            ("virtiofs", "VM/host share"),
            ("fakeowner", "VM/host share"),
            ("fuse.grpcfuse", "VM/host share, FUSE"),
        ];
        for (fstype, want) in cases {
            assert_eq!(classify(fstype).describe(), want, "{fstype}");
        }
    }

    #[test]
    fn cache_hints_name_the_remedy_only_when_needed() {
        let remedies = |fstype: &str, options: &str| -> Vec<String> {
            cache_hints(fstype, options).into_iter().map(|h| h.remedy).collect()
        };
        let cases: &[(&str, &str, &[&str])] = &[
            ("nfs4", "rw,vers=4.2", &["actimeo=1", "lookupcache=positive"]),
            ("nfs4", "rw,acregmin=3,acregmax=60,acdirmax=60,lookupcache=all", &["actimeo=1", "lookupcache=positive"]),
            ("nfs", "rw,actimeo=1,lookupcache=positive", &[]),
            ("nfs", "rw,noac,lookupcache=pos", &[]),
            ("nfs", "rw,actimeo=1", &["lookupcache=positive"]),
            ("cifs", "rw,vers=3.1.1,actimeo=1", &[]),
            ("cifs", "rw,actimeo=30", &["actimeo=1"]),
            ("cifs", "rw,cache=loose", &["cache=strict"]),
            ("9p", "rw,cache=loose", &["cache=mmap"]),
            ("9p", "rw,trans=virtio", &[]),
            ("ext4", "rw,relatime", &[]),
            ("fuseblk", "rw", &[]),
        ];
        for (fstype, options, want) in cases {
            let got = remedies(fstype, options);
            assert_eq!(got.len(), want.len(), "{fstype} {options}: {got:?}");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(g.contains(w), "{fstype} {options}: {g:?} lacks {w:?}");
            }
        }
        assert!(remedies("fuse.sshfs", "rw")[0].contains("dcache_timeout=1"));
        assert!(remedies("fuse", "rw")[0].contains("attr_timeout"));
        assert!(cache_hints("nfs4", "rw,actimeo=5")[0].problem.contains("5 s"));
    }

    #[test]
    fn skew_beyond_the_tolerance_is_a_hint() {
        let one = Duration::from_secs(1);
        assert_eq!(skew_hint(Duration::from_millis(300), true, one), None);
        let h = skew_hint(Duration::from_secs(90), true, one).unwrap();
        assert!(h.problem.contains("90.0 s ahead"), "{h:?}");
        assert!(skew_hint(Duration::from_secs(5), false, one).unwrap().problem.contains("behind"));
    }

    #[test]
    fn the_interval_leaves_room_for_the_scan() {
        let ms = Duration::from_millis;
        let cases = [
            (ms(1), ms(500)),
            (ms(75), ms(500)),
            (ms(76), Duration::from_secs(1)),
            (ms(200), Duration::from_secs(2)),
            (ms(700), Duration::from_secs(5)),
            (Duration::from_secs(4), Duration::from_secs(50)),
        ];
        for (scan, want) in cases {
            let got = recommend_interval(scan);
            assert_eq!(got, want, "{scan:?}");
            assert!(scan.as_secs_f64() <= got.as_secs_f64() * SCAN_SHARE + 1e-9);
        }
    }
}
