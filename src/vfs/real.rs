//! The real filesystem and clock.

#[cfg(unix)]
use std::ffi::CStr;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use filetime::FileTime;
use xxhash_rust::xxh3::Xxh3;

#[cfg(unix)]
use super::DirHandle;
#[cfg(unix)]
use super::handle::Inner;
use super::{DirEntry, FsInfo, Vfs};
use crate::fingerprint::{FileKind, Stat};

/// Ignore files and similar are read whole; anything larger is refused rather than loaded.
const SMALL_FILE_LIMIT: u64 = 4 << 20;

/// The operating system's filesystem and wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl Vfs for RealFs {
    fn now(&self) -> FileTime {
        FileTime::now()
    }

    fn stat(&self, path: &Path) -> io::Result<Stat> {
        stat_path(path)
    }

    #[cfg(unix)]
    fn open_dir(&self, path: &Path) -> Option<DirHandle> {
        use rustix::fs::{Mode, OFlags, fstat, open};
        // O_PATH: a handle for lookups only, no read permission needed (Linux); elsewhere a read-only open.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        const FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        const FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
        if !crate::sys::take_slot() {
            return None;
        }
        let opened = open(path, FLAGS, Mode::empty()).and_then(|fd| fstat(&fd).map(|st| (fd, st)));
        match opened {
            #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
            Ok((fd, st)) => Some(DirHandle { ident: (st.st_dev as u64, st.st_ino as u64), inner: Inner::Fd(fd) }),
            Err(_) => {
                crate::sys::give_back_slot();
                None
            }
        }
    }

    #[cfg(unix)]
    #[inline]
    fn stat_in(&self, dir: &DirHandle, name: &CStr) -> io::Result<Stat> {
        match &dir.inner {
            Inner::Fd(fd) => Ok(from_raw(rustix::fs::statat(fd, name, rustix::fs::AtFlags::empty())?)),
            Inner::Sim => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let kind = entry.file_type().ok().map(|t| kind_of(&t));
            out.push(DirEntry { name: entry.file_name(), kind });
        }
        Ok(out)
    }

    fn hash(&self, path: &Path) -> io::Result<u64> {
        // Windows: every share flag, so no writer that shares fails for this read.
        #[cfg(windows)]
        let mut file = super::windows::open_shared(path)?;
        #[cfg(not(windows))]
        let mut file = crate::sys::open_regular(path)?;
        let mut hasher = Xxh3::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Ok(hasher.digest()),
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn read_small(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = crate::sys::open_regular(path)?;
        let mut out = Vec::new();
        file.take(SMALL_FILE_LIMIT + 1).read_to_end(&mut out)?;
        if out.len() as u64 > SMALL_FILE_LIMIT {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file too large"));
        }
        Ok(out)
    }

    fn fs_info(&self, path: &Path) -> io::Result<FsInfo> {
        fs_info_of(path)
    }
}

fn kind_of(t: &fs::FileType) -> FileKind {
    if t.is_file() {
        FileKind::File
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    }
}

/// `stat(2)` itself: std's `metadata` goes through `statx` and builds a larger structure, which costs about 7% more
/// per file on Linux, and the sweep is nothing but this call.
#[cfg(unix)]
fn stat_path(path: &Path) -> io::Result<Stat> {
    Ok(from_raw(rustix::fs::stat(path)?))
}

#[cfg(unix)]
#[inline]
#[allow(clippy::unnecessary_cast)] // the field types differ between platforms
fn from_raw(st: rustix::fs::Stat) -> Stat {
    use rustix::fs::FileType;
    let kind = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Dir,
        FileType::Symlink => FileKind::Symlink,
        _ => FileKind::Other,
    };
    Stat {
        kind,
        size: st.st_size as u64,
        mtime: FileTime::from_unix_time(st.st_mtime as i64, st.st_mtime_nsec as u32),
        ctime: Some(FileTime::from_unix_time(st.st_ctime as i64, st.st_ctime_nsec as u32)),
        ino: Some(st.st_ino as u64),
        dev: st.st_dev as u64,
    }
}

/// Windows: a handle opened for attributes only, for the file index and NTFS's change time (see
/// [`super::windows`]); std's metadata has neither.
#[cfg(windows)]
fn stat_path(path: &Path) -> io::Result<Stat> {
    super::windows::stat(path)
}

#[cfg(not(any(unix, windows)))]
fn stat_path(path: &Path) -> io::Result<Stat> {
    fs::metadata(path).map(|m| stat_from_metadata(&m))
}

/// Turns `std` metadata into a [`Stat`]. Off Unix it has no identity, no ctime and no device (std does not give
/// them); [`RealFs::stat`] has them on Windows.
pub fn stat_from_metadata(m: &fs::Metadata) -> Stat {
    let mtime = FileTime::from_last_modification_time(m);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Stat {
            kind: kind_of(&m.file_type()),
            size: m.len(),
            mtime,
            ctime: Some(FileTime::from_unix_time(m.ctime(), m.ctime_nsec() as u32)),
            ino: Some(m.ino()),
            dev: m.dev(),
        }
    }
    #[cfg(not(unix))]
    {
        Stat { kind: kind_of(&m.file_type()), size: m.len(), mtime, ctime: None, ino: None, dev: 0 }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn fs_info_of(path: &Path) -> io::Result<FsInfo> {
    let st = rustix::fs::statfs(path)?;
    Ok(classify_magic(st.f_type as i64 as u64 & 0xffff_ffff))
}

/// Windows: the volume's filesystem (`GetVolumeInformationW`) and whether it is a network drive (`GetDriveTypeW`).
#[cfg(windows)]
fn fs_info_of(path: &Path) -> io::Result<FsInfo> {
    super::windows::fs_info(path)
}

#[cfg(not(any(target_os = "linux", target_os = "android", windows)))]
fn fs_info_of(_path: &Path) -> io::Result<FsInfo> {
    Ok(FsInfo::unknown())
}

/// Names a Linux filesystem from its `statfs` magic number, and says whether it is network or FUSE.
pub fn classify_magic(magic: u64) -> FsInfo {
    let (name, remote) = match magic {
        0x6969 => ("nfs", true),
        0x517b => ("smb", true),
        0xff53_4d42 => ("cifs", true),
        0xfe53_4d42 => ("smb2", true),
        0x6573_5546 => ("fuse", true),
        0x0102_1997 => ("9p", true),
        0x7375_7245 => ("coda", true),
        0x5346_414f => ("afs", true),
        0x00c3_6400 => ("ceph", true),
        0xef53 => ("ext4", false),
        0x5846_5342 => ("xfs", false),
        0x9123_683e => ("btrfs", false),
        0x0102_1994 => ("tmpfs", false),
        0x794c_7630 => ("overlay", false),
        0x4d44 => ("vfat", false),
        0x2011_bab0 => ("exfat", false),
        0x5346_544e => ("ntfs", false),
        0x2fc1_2fc1 => ("zfs", false),
        0xf2f5_2010 => ("f2fs", false),
        _ => ("unknown", false),
    };
    FsInfo { name: name.into(), remote }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_agrees_with_std_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, b"hello").unwrap();
        for path in [file.as_path(), dir.path()] {
            let ours = RealFs.stat(path).unwrap();
            let std = stat_from_metadata(&fs::metadata(path).unwrap());
            #[cfg(unix)]
            assert_eq!(ours, std, "{}", path.display());
            // std has no identity, ctime or device on Windows; ours has them (see `vfs::windows`).
            #[cfg(windows)]
            assert_eq!((ours.kind, ours.size, ours.mtime), (std.kind, std.size, std.mtime), "{}", path.display());
        }
        assert_eq!(RealFs.stat(&dir.path().join("missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    /// Runs `f` on another thread; `None` if it has not returned within a bound (it blocks).
    #[cfg(target_os = "linux")]
    fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn special_files_are_never_opened_for_hashing_or_reading() {
        use rustix::fs::{CWD, FileType, Mode, mknodat};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(".gitignore");
        mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        let (a, b) = (fifo.clone(), fifo.clone());
        let hashed = bounded(move || RealFs.hash(&a).map_err(|e| e.kind())).expect("hashing a FIFO blocked");
        assert_eq!(hashed, Err(io::ErrorKind::InvalidInput));
        let read = bounded(move || RealFs.read_small(&b).map_err(|e| e.kind())).expect("reading a FIFO blocked");
        assert_eq!(read, Err(io::ErrorKind::InvalidInput));
        // A device is not read either (/dev/zero would give data forever).
        assert_eq!(RealFs.hash(Path::new("/dev/zero")).map_err(|e| e.kind()), Err(io::ErrorKind::InvalidInput));
        // Symlinks to regular files are followed as before.
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("l")).unwrap();
        assert_eq!(RealFs.read_small(&dir.path().join("l")).unwrap(), b"x");
    }

    #[test]
    fn hash_is_of_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"same").unwrap();
        fs::write(&b, b"same").unwrap();
        assert_eq!(RealFs.hash(&a).unwrap(), RealFs.hash(&b).unwrap());
        fs::write(&b, b"diff").unwrap();
        assert_ne!(RealFs.hash(&a).unwrap(), RealFs.hash(&b).unwrap());
    }
}
