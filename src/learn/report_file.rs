//! The report file itself: created private, then read from where the last read stopped whenever it grew.
//!
//! Why not through the poller like any other watched file: what matters here is the new *content*, not whether
//! the file changed, and the file is private, local and only ever appended to, so its size growing is the exact
//! signal. One `stat` per main-loop iteration (every 100 ms at most) finds it; only the new bytes are read.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::protocol::{Parsed, Parser};

/// At most this many new bytes are read in one call; the rest waits for the next.
const CHUNK: u64 = 1 << 20;

/// A report file and how far it was read.
#[derive(Debug)]
pub struct ReportFile {
    path: PathBuf,
    /// The child's working directory, for relative paths.
    base: PathBuf,
    offset: u64,
    parser: Parser,
}

impl ReportFile {
    /// Creates `dir/watch`, empty, readable and writable by the owner only. `base` is the directory relative
    /// paths in it are taken from (the child's working directory).
    pub fn create(dir: &Path, base: PathBuf) -> io::Result<ReportFile> {
        let path = dir.join("watch");
        create_private(&path, true)?;
        Ok(ReportFile { path, base, offset: 0, parser: Parser::new() })
    }

    /// Its path, for `STATOR_WATCH_FILE`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses what was appended since the last call. A file that shrank or vanished (a child truncated
    /// or removed it) is read again from its start; a vanished one is created again, empty.
    pub fn read_new(&mut self) -> io::Result<Parsed> {
        let len = match fs::metadata(&self.path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.restart();
                create_private(&self.path, false)?;
                return Ok(Parsed::default());
            }
            Err(e) => return Err(e),
        };
        if len < self.offset {
            self.restart();
        }
        if len == self.offset {
            return Ok(Parsed::default());
        }
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.take((len - self.offset).min(CHUNK)).read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        Ok(self.parser.feed(&bytes, &self.base))
    }

    fn restart(&mut self) {
        self.offset = 0;
        self.parser.reset();
    }
}

/// Creates `path` with mode 0600 (owner only) on Unix; `new`: fail if it exists.
fn create_private(path: &Path, new: bool) -> io::Result<()> {
    let mut opts = crate::sys::private_file();
    opts.write(true);
    if new {
        opts.create_new(true);
    } else {
        opts.create(true);
    }
    opts.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;

    fn append(path: &Path, bytes: &[u8]) {
        OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
    }

    #[test]
    fn reads_only_what_was_appended_and_survives_truncation_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let mut rf = ReportFile::create(dir.path(), base.clone()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(rf.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(rf.read_new().unwrap().paths.is_empty());
        append(rf.path(), b"a\nb");
        assert_eq!(rf.read_new().unwrap().paths, [base.join("a")]);
        assert!(rf.read_new().unwrap().paths.is_empty(), "nothing new");
        append(rf.path(), b"c\n");
        assert_eq!(rf.read_new().unwrap().paths, [base.join("bc")]);

        fs::write(rf.path(), b"x\n").unwrap(); // shorter than what was read: start over
        assert_eq!(rf.read_new().unwrap().paths, [base.join("x")]);

        fs::remove_file(rf.path()).unwrap();
        assert!(rf.read_new().unwrap().paths.is_empty());
        assert!(rf.path().exists(), "made again for the next child");
        append(rf.path(), b"y\n");
        assert_eq!(rf.read_new().unwrap().paths, [base.join("y")]);
    }
}
