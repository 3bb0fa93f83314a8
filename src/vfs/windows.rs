//! Windows: `stat` with an identity and a change time, and what filesystem a path is on.
//!
//! std's `metadata` on Windows has neither a file's identity nor its change time (the unstable
//! `volume_serial_number`/`file_index` aside), so symlink and junction loops could not be told from new
//! directories, overlapping roots watched each file twice, and a same-size, same-mtime replacement was missed.
//! Here a stat opens the file for its attributes only (`FILE_READ_ATTRIBUTES`, which no share mode can refuse,
//! with every share flag set, `FILE_FLAG_BACKUP_SEMANTICS` so directories open too, following links as `stat`
//! does), and reads:
//! - `GetFileInformationByHandle`: attributes, size, last write time, the volume serial number (the device) and the
//!   64-bit file index (the inode). On ReFS the full identity is 128 bits (`FILE_ID_INFO`); its low 64 bits can
//!   collide in principle, which would at worst make stator skip a directory as a loop it is not.
//! - `GetFileInformationByHandleEx(FileBasicInfo)`: NTFS's `ChangeTime`, updated by a rename, an attribute change
//!   or a replacement as Unix's ctime is. FAT has none and reports the last write time there.
//!
//! On network drives and UNC paths identity and ctime are advisory, as on Unix network mounts ([`FsInfo::remote`]):
//! SMB servers may invent file indexes.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::{Component, Path, PathBuf, Prefix};

use filetime::FileTime;
use windows_sys::Win32::Foundation::{FALSE, FILETIME, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, CreateFileW, FILE_ATTRIBUTE_DIRECTORY, FILE_BASIC_INFO, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FileBasicInfo, GetDriveTypeW,
    GetFileInformationByHandle, GetFileInformationByHandleEx, GetVolumeInformationW, GetVolumePathNameW, OPEN_EXISTING,
};

use super::{FileKind, FsInfo, Stat};

/// Every share flag: a stat or a hash never makes another program's open fail for sharing.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// Seconds from 1601-01-01 (Windows' epoch) to 1970-01-01.
const EPOCH_1601: i64 = 11_644_473_600;

/// `GetDriveTypeW`'s answer for a network drive.
const DRIVE_REMOTE: u32 = 4;

/// `stat` following symlinks and junctions, with identity and change time.
#[allow(unsafe_code)]
pub(super) fn stat(path: &Path) -> io::Result<Stat> {
    let wide = wide(&verbatim(path));
    // SAFETY: `wide` is NUL-terminated and outlives the call; no security attributes, no template. A returned handle
    // other than INVALID_HANDLE_VALUE is new and owned by nobody else, so `OwnedHandle` may take it.
    let handle = unsafe {
        let raw = CreateFileW(
            wide.as_ptr(),
            FILE_READ_ATTRIBUTES,
            SHARE_ALL,
            std::ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_BACKUP_SEMANTICS,
            std::ptr::null_mut(),
        );
        if raw == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        OwnedHandle::from_raw_handle(raw)
    };
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the handle is open; `info` is writable.
    if unsafe { GetFileInformationByHandle(handle.as_raw_handle(), &mut info) } == FALSE {
        return Err(io::Error::last_os_error());
    }
    let mut basic = FILE_BASIC_INFO::default();
    // SAFETY: the handle is open; `basic` is writable and as large as said.
    let has_basic = unsafe {
        GetFileInformationByHandleEx(
            handle.as_raw_handle(),
            FileBasicInfo,
            (&raw mut basic).cast(),
            size_of::<FILE_BASIC_INFO>() as u32,
        )
    } != FALSE;
    let kind = if info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0 { FileKind::Dir } else { FileKind::File };
    let mtime = from_filetime(info.ftLastWriteTime);
    // A change time of 0 is "not kept" (some filesystems and redirectors).
    let ctime = (has_basic && basic.ChangeTime > 0).then(|| from_ticks(basic.ChangeTime as u64));
    Ok(Stat {
        kind,
        size: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
        mtime,
        ctime,
        ino: Some((u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow)),
        dev: u64::from(info.dwVolumeSerialNumber),
    })
}

/// Opens a file to read its content with every share flag, so that the racy-window hash never makes a writer that
/// shares (most do) fail. A writer that asks for no sharing at all still fails while the file is open, as it
/// would with any reader; the hash keeps the file open only for as long as one read of it takes.
pub(super) fn open_shared(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().read(true).share_mode(SHARE_ALL).open(path)
}

/// A file time: 100 ns intervals since 1601.
fn from_filetime(ft: FILETIME) -> FileTime {
    from_ticks((u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime))
}

fn from_ticks(ticks: u64) -> FileTime {
    let secs = i64::try_from(ticks / 10_000_000).unwrap_or(i64::MAX) - EPOCH_1601;
    let nanos = ((ticks % 10_000_000) * 100) as u32;
    FileTime::from_unix_time(secs, nanos)
}

/// A long absolute path in its `\\?\` form, which `CreateFileW` takes beyond `MAX_PATH` (std does the same).
/// Paths stator stats are absolute and normalised (no `.` or `..`), as the verbatim form requires.
fn verbatim(path: &Path) -> std::borrow::Cow<'_, Path> {
    const LIMIT: usize = 248;
    if path.as_os_str().len() < LIMIT || !path.is_absolute() {
        return path.into();
    }
    match path.components().next() {
        Some(Component::Prefix(p)) => match p.kind() {
            Prefix::Disk(_) => {
                let mut s = std::ffi::OsString::from(r"\\?\");
                s.push(path.as_os_str());
                PathBuf::from(s).into()
            }
            Prefix::UNC(..) => {
                let rest = path.as_os_str().to_string_lossy();
                PathBuf::from(format!(r"\\?\UNC\{}", rest.trim_start_matches('\\'))).into()
            }
            _ => path.into(),
        },
        _ => path.into(),
    }
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// The volume a path is on, as `GetVolumePathNameW`, `GetDriveTypeW` and `GetVolumeInformationW` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Its root: `C:\`, `D:\mnt\data\` (a volume mounted in a folder), `\\server\share\`.
    pub root: PathBuf,
    /// The filesystem's own name: `NTFS`, `ReFS`, `FAT32`, `exFAT`; for a network drive, the server's.
    pub fs_name: String,
    /// The volume's label, if any.
    pub label: String,
    /// A network drive or a UNC path.
    pub network: bool,
}

/// The volume `path` is on.
#[allow(unsafe_code)]
pub fn volume(path: &Path) -> io::Result<Volume> {
    let wide_path = wide(path);
    let mut root = vec![0u16; 1024];
    // SAFETY: `wide_path` is NUL-terminated; `root` is writable for the length given.
    if unsafe { GetVolumePathNameW(wide_path.as_ptr(), root.as_mut_ptr(), root.len() as u32) } == FALSE {
        return Err(io::Error::last_os_error());
    }
    let len = root.iter().position(|&c| c == 0).unwrap_or(root.len());
    root.truncate(len + 1);
    let root_path = PathBuf::from(std::ffi::OsString::from_wide(&root[..len]));
    // SAFETY: `root` is NUL-terminated.
    let drive_type = unsafe { GetDriveTypeW(root.as_ptr()) };
    let (mut label, mut fs_name) = (vec![0u16; 261], vec![0u16; 261]);
    let (mut serial, mut max_component, mut flags) = (0u32, 0u32, 0u32);
    // SAFETY: `root` is NUL-terminated; every out-pointer is writable, the buffers for the lengths given.
    let ok = unsafe {
        GetVolumeInformationW(
            root.as_ptr(),
            label.as_mut_ptr(),
            label.len() as u32,
            &mut serial,
            &mut max_component,
            &mut flags,
            fs_name.as_mut_ptr(),
            fs_name.len() as u32,
        )
    } != FALSE;
    let text = |buf: &[u16]| {
        let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
        String::from_utf16_lossy(&buf[..end])
    };
    let unc = matches!(root_path.components().next(), Some(Component::Prefix(p)) if matches!(p.kind(), Prefix::UNC(..) | Prefix::VerbatimUNC(..)));
    Ok(Volume {
        fs_name: if ok { text(&fs_name) } else { String::new() },
        label: if ok { text(&label) } else { String::new() },
        network: drive_type == DRIVE_REMOTE || unc,
        root: root_path,
    })
}

/// What stator calls the filesystem of a volume: `ntfs`, `refs`, `vfat` (FAT12/16/32), `exfat`; `smb` for a network
/// drive (Windows' network drives are SMB, whatever the server's own filesystem), `9p` for WSL's `\\wsl$` and
/// `\\wsl.localhost` shares (a VM share, Plan 9 underneath); `unknown` when Windows does not say.
pub fn classify(vol: &Volume) -> FsInfo {
    let host = unc_host(&vol.root).map(|h| h.to_ascii_lowercase());
    if let Some(host) = host.as_deref()
        && (host == "wsl$" || host == "wsl.localhost")
    {
        return FsInfo { name: "9p".into(), remote: true };
    }
    if vol.network {
        return FsInfo { name: "smb".into(), remote: true };
    }
    let name = match vol.fs_name.to_ascii_lowercase().as_str() {
        "ntfs" => "ntfs",
        "refs" => "refs",
        "fat" | "fat12" | "fat16" | "fat32" => "vfat",
        "exfat" => "exfat",
        "" => "unknown",
        other => return FsInfo { name: other.to_owned(), remote: false },
    };
    FsInfo { name: name.into(), remote: false }
}

fn unc_host(root: &Path) -> Option<String> {
    match root.components().next() {
        Some(Component::Prefix(p)) => match p.kind() {
            Prefix::UNC(host, _) | Prefix::VerbatimUNC(host, _) => Some(OsStr::to_string_lossy(host).into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// The filesystem `path` is on.
pub(super) fn fs_info(path: &Path) -> io::Result<FsInfo> {
    volume(path).map(|v| classify(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(root: &str, fs_name: &str, network: bool) -> Volume {
        Volume { root: root.into(), fs_name: fs_name.into(), label: String::new(), network }
    }

    #[test]
    fn volumes_are_named_as_stator_names_filesystems() {
        let cases = [
            (vol(r"C:\", "NTFS", false), "ntfs", false),
            (vol(r"D:\", "ReFS", false), "refs", false),
            (vol(r"E:\", "FAT32", false), "vfat", false),
            (vol(r"E:\", "exFAT", false), "exfat", false),
            (vol(r"F:\", "UDF", false), "udf", false),
            (vol(r"G:\", "", false), "unknown", false),
            (vol(r"Z:\", "NTFS", true), "smb", true),
            (vol(r"\\server\share\", "NTFS", true), "smb", true),
            (vol(r"\\wsl$\Ubuntu\", "9P", true), "9p", true),
            (vol(r"\\wsl.localhost\Ubuntu\", "", true), "9p", true),
        ];
        for (v, name, remote) in cases {
            assert_eq!(classify(&v), FsInfo { name: name.into(), remote }, "{v:?}");
        }
    }

    #[test]
    fn file_times_are_100ns_since_1601() {
        assert_eq!(from_ticks(EPOCH_1601 as u64 * 10_000_000), FileTime::from_unix_time(0, 0));
        assert_eq!(from_ticks(EPOCH_1601 as u64 * 10_000_000 + 15), FileTime::from_unix_time(0, 1_500));
    }

    #[test]
    fn long_paths_take_the_verbatim_form() {
        let long = format!(r"C:\{}\a.rs", "d".repeat(300));
        assert_eq!(verbatim(Path::new(&long)).as_os_str(), OsStr::new(&format!(r"\\?\{long}")));
        let unc = format!(r"\\server\share\{}", "d".repeat(300));
        let want = format!(r"\\?\UNC\server\share\{}", "d".repeat(300));
        assert_eq!(verbatim(Path::new(&unc)).as_os_str(), OsStr::new(&want));
        assert_eq!(verbatim(Path::new(r"C:\short")).as_os_str(), OsStr::new(r"C:\short"));
    }

    #[test]
    fn a_file_and_a_directory_have_identities_and_a_rename_over_changes_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        std::fs::write(&a, b"AAAA").unwrap();
        std::fs::write(&b, b"BBBB").unwrap();
        let (sa, sb, sd) = (stat(&a).unwrap(), stat(&b).unwrap(), stat(dir.path()).unwrap());
        assert_eq!((sa.kind, sd.kind), (FileKind::File, FileKind::Dir));
        assert!(sa.ino.is_some() && sa.ino != sb.ino && sa.ino != sd.ino, "{sa:?} {sb:?} {sd:?}");
        assert_eq!(sa.dev, sd.dev);
        assert_eq!(sa.size, 4);
        let mtime = FileTime::from_unix_time(1_577_836_800, 0);
        filetime::set_file_mtime(&b, mtime).unwrap();
        filetime::set_file_mtime(&a, mtime).unwrap();
        let before = stat(&a).unwrap();
        std::fs::rename(&b, &a).unwrap();
        let after = stat(&a).unwrap();
        assert_eq!((after.size, after.mtime), (before.size, before.mtime), "same size, same mtime");
        assert_ne!(after.ino, before.ino, "another file: another index");
        assert_eq!(stat(&b).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_temporary_directory_is_on_a_named_volume() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path()).unwrap();
        assert!(dir.path().starts_with(&v.root), "{v:?}");
        assert_ne!(fs_info(dir.path()).unwrap().name, "", "{v:?}");
    }
}
