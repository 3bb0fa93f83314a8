//! Linux's mount table, `/proc/self/mountinfo`, pure: text in, one [`Mount`] per line out.
//!
//! A line reads `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`: mount id,
//! parent id, `major:minor` (what `stat` reports as `st_dev`), the root of the mount inside its filesystem, the
//! mount point, per-mount options, optional fields up to a lone `-`, then the filesystem type (with its FUSE
//! subtype, e.g. `fuse.sshfs`), the source and the per-superblock options. Spaces, tabs, newlines and backslashes
//! in paths are written as octal escapes (`\040`).

use std::path::{Path, PathBuf};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The device numbers, as in `st_dev`.
    pub major: u32,
    /// The minor device number.
    pub minor: u32,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem type, FUSE subtype included (`ext4`, `nfs4`, `fuse.sshfs`, `fuseblk`).
    pub fstype: String,
    /// What is mounted (`/dev/sda1`, `server:/export`, `user@host:/dir`).
    pub source: String,
    /// The mount's options and then the filesystem's, each once, joined with commas (`rw,relatime,vers=4.2`).
    pub options: String,
}

/// Parses the whole table; lines that do not parse are skipped.
pub(crate) fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let _id = fields.next()?;
    let _parent = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let _root = fields.next()?;
    let mount_point = unescape(fields.next()?);
    let mount_options = fields.next()?;
    fields.by_ref().find(|f| *f == "-")?;
    let fstype = unescape(fields.next()?);
    let source = unescape(fields.next()?);
    let super_options = fields.next().unwrap_or("");
    let mut options: Vec<&str> = mount_options.split(',').collect();
    for o in super_options.split(',').filter(|o| !o.is_empty()) {
        if !options.contains(&o) {
            options.push(o);
        }
    }
    let options = options.join(",");
    Some(Mount {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        mount_point: PathBuf::from(mount_point),
        fstype,
        source,
        options,
    })
}

/// Undoes the kernel's octal escapes (`\040` is a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(oct) = bytes.get(i + 1..i + 4)
            && oct.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(oct.iter().fold(0u8, |acc, b| acc.wrapping_mul(8).wrapping_add(b - b'0')));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The major and minor numbers of a Linux `st_dev` (glibc's `gnu_dev_major` / `gnu_dev_minor`).
pub(crate) fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    (major as u32, minor as u32)
}

/// The mount of device `dev` that best explains `near` (the path that led to it): among the mounts of that device,
/// the one with the longest mount point that `near` is inside, or else the first. (Windows names volumes instead.)
#[cfg_attr(windows, allow(dead_code))]
pub(crate) fn find<'a>(mounts: &'a [Mount], dev: u64, near: Option<&Path>) -> Option<&'a Mount> {
    let (major, minor) = split_dev(dev);
    let same: Vec<&Mount> = mounts.iter().filter(|m| m.major == major && m.minor == minor).collect();
    let inside = near.and_then(|p| {
        same.iter().copied().filter(|m| p.starts_with(&m.mount_point)).max_by_key(|m| m.mount_point.as_os_str().len())
    });
    inside.or_else(|| same.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue
50 27 0:52 / /tmp/tfs/sshfs/mnt rw,nosuid,nodev,relatime shared:9 - fuse.sshfs root@127.0.0.1:/tmp/tfs/sshfs/backing rw,user_id=0,group_id=0
51 27 0:53 / /srv/nfs rw,relatime - nfs4 server:/export rw,vers=4.2,acregmin=3,acregmax=60,lookupcache=all
garbage line
52 27 0:54 / /weird rw - \n";

    #[test]
    fn parses_the_fields_and_unescapes_paths() {
        let m = parse(TABLE);
        assert_eq!(m.len(), 4, "{m:#?}");
        assert_eq!(
            m[1],
            Mount {
                major: 98,
                minor: 0,
                mount_point: PathBuf::from("/mnt/parent dir"),
                fstype: "ext3".into(),
                source: "/dev/root".into(),
                options: "rw,noatime,errors=continue".into(),
            }
        );
        assert_eq!(m[2].fstype, "fuse.sshfs");
        assert_eq!(m[2].source, "root@127.0.0.1:/tmp/tfs/sshfs/backing");
        assert!(m[3].options.contains("lookupcache=all"));
        assert_eq!(unescape(r"a\134b\011c\040"), "a\\b\tc ");
        assert_eq!(unescape(r"a\9"), r"a\9");
    }

    #[test]
    fn devices_split_as_glibc_does_and_find_the_mount() {
        let cases = [(0xfe00u64, (254, 0)), (0x34, (0, 52)), (0x0010_0000_0000_1234, (0x10_0012, 0x34))];
        for (dev, want) in cases {
            assert_eq!(split_dev(dev), want, "{dev:#x}");
        }
        let m = parse(TABLE);
        assert_eq!(find(&m, 0x34, None).map(|m| m.fstype.as_str()), Some("fuse.sshfs"));
        assert_eq!(find(&m, 0xfe00, Some(Path::new("/work"))).map(|m| m.mount_point.as_path()), Some(Path::new("/")));
        assert_eq!(find(&m, 0x99, None), None);
    }
}
