//! The child-report protocol, pure: the bytes a child appended to its report file in, paths out.
//!
//! One path per line, `\n` or `\r\n` ended. Blank lines and lines starting with `#` are ignored. A relative path is
//! taken from the child's working directory (the `base` given to [`Parser::feed`]). A last line without its newline
//! is kept until the rest arrives: the child may be in the middle of writing it. Paths are bytes (on Unix any
//! bytes but NUL; elsewhere they must be UTF-8). A line longer than [`MAX_LINE`] is dropped with a notice rather
//! than kept in memory: no real path is that long, and a child must not make stator grow without bound.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::sys::path_from_bytes;

/// The longest line accepted, in bytes (Linux's `PATH_MAX` is 4096).
pub const MAX_LINE: usize = 16 * 1024;

/// Something in the report file that is not a path to watch, for the user to know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A line longer than [`MAX_LINE`] was dropped.
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// A line that cannot name a file here: a NUL byte in it, or (outside Unix) not UTF-8.
    Invalid {
        /// The line, lossily decoded and shortened, to show.
        line: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::TooLong { bytes } => {
                write!(f, "the command reported a line of {bytes} bytes (more than {MAX_LINE}); ignored")
            }
            Notice::Invalid { line } => write!(f, "the command reported {line:?}, which is not a valid path; ignored"),
        }
    }
}

/// What one [`Parser::feed`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The paths of the complete lines, in order, resolved against the base directory.
    pub paths: Vec<PathBuf>,
    /// Lines that were dropped, and why.
    pub notices: Vec<Notice>,
}

/// Turns the bytes appended to a report file, in however many pieces they arrive, into paths.
#[derive(Debug, Default, Clone)]
pub struct Parser {
    /// The start of a line whose newline has not arrived yet.
    partial: Vec<u8>,
    /// Inside a line already known to be too long: how many of its bytes were dropped so far (0: not inside one).
    dropped: usize,
}

impl Parser {
    /// A parser at the start of a file.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Forgets any partial line: the file was truncated or replaced, and reading starts over at its beginning.
    pub fn reset(&mut self) {
        self.partial.clear();
        self.dropped = 0;
    }

    /// How many bytes of an unfinished last line are held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Takes the next bytes of the file; returns what the lines they complete say. Relative paths are joined to
    /// `base`.
    pub fn feed(&mut self, mut bytes: &[u8], base: &Path) -> Parsed {
        let mut out = Parsed::default();
        while !bytes.is_empty() {
            let (piece, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], true),
                None => (bytes, false),
            };
            bytes = &bytes[(piece.len() + usize::from(ended))..];
            if self.dropped > 0 || self.partial.len() + piece.len() > MAX_LINE {
                self.dropped += self.partial.len() + piece.len();
                self.partial.clear();
            } else {
                self.partial.extend_from_slice(piece);
            }
            if !ended {
                continue;
            }
            if self.dropped > 0 {
                out.notices.push(Notice::TooLong { bytes: self.dropped });
                self.dropped = 0;
            } else {
                match line(&self.partial, base) {
                    Some(Ok(path)) => out.paths.push(path),
                    Some(Err(notice)) => out.notices.push(notice),
                    None => {}
                }
                self.partial.clear();
            }
        }
        out
    }
}

/// One complete line (without its `\n`): a path, a notice, or nothing (blank or comment).
fn line(raw: &[u8], base: &Path) -> Option<Result<PathBuf, Notice>> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.iter().all(u8::is_ascii_whitespace) || raw.first() == Some(&b'#') {
        return None;
    }
    let invalid = || {
        let shown: String = String::from_utf8_lossy(raw).chars().take(80).collect();
        Notice::Invalid { line: shown }
    };
    if raw.contains(&0) {
        return Some(Err(invalid()));
    }
    let path = match path_from_bytes(raw) {
        Some(path) => path,
        None => return Some(Err(invalid())),
    };
    Some(Ok(if path.is_relative() { base.join(path) } else { path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PathBuf {
        if cfg!(windows) { PathBuf::from(r"C:\work") } else { PathBuf::from("/work") }
    }

    fn abs(p: &str) -> PathBuf {
        if cfg!(windows) { PathBuf::from(format!("C:{}", p.replace('/', "\\"))) } else { PathBuf::from(p) }
    }

    /// Feeds `chunks` one after another; returns all paths and notices.
    fn feed_all(chunks: &[&[u8]]) -> (Vec<PathBuf>, Vec<Notice>, usize) {
        let mut p = Parser::new();
        let mut paths = Vec::new();
        let mut notices = Vec::new();
        for c in chunks {
            let got = p.feed(c, &base());
            paths.extend(got.paths);
            notices.extend(got.notices);
        }
        (paths, notices, p.pending())
    }

    /// One case: what, the pieces fed, the paths expected, the bytes left pending.
    type Case = (&'static str, Vec<Vec<u8>>, Vec<PathBuf>, usize);

    #[test]
    fn lines_become_paths() {
        let a = abs("/a/x.py");
        let a_line = format!("{}\n", a.display());
        let cases: Vec<Case> = vec![
            ("one line", vec![a_line.clone().into_bytes()], vec![a.clone()], 0),
            ("relative, against the base", vec![b"src/m.py\n".to_vec()], vec![base().join("src/m.py")], 0),
            ("CRLF", vec![format!("{}\r\n", a.display()).into_bytes()], vec![a.clone()], 0),
            ("blank lines and comments", vec![b"\n\r\n  \n# a comment\n#\n".to_vec()], vec![], 0),
            ("a partial line is held", vec![b"src/m".to_vec()], vec![], 5),
            ("and completed later", vec![b"src/m".to_vec(), b".py\nrest".to_vec()], vec![base().join("src/m.py")], 4),
            (
                "split in the CRLF",
                vec![b"a.py\r".to_vec(), b"\nb.py\n".to_vec()],
                vec![base().join("a.py"), base().join("b.py")],
                0,
            ),
            (
                "bytes one at a time",
                b"a\nbc\n".iter().map(|b| vec![*b]).collect(),
                vec![base().join("a"), base().join("bc")],
                0,
            ),
            ("spaces are part of the name", vec![b" x y \n".to_vec()], vec![base().join(" x y ")], 0),
            ("empty input", vec![], vec![], 0),
        ];
        for (what, chunks, want, pending) in cases {
            let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let (paths, notices, left) = feed_all(&chunks);
            assert_eq!(paths, want, "{what}");
            assert!(notices.is_empty(), "{what}: {notices:?}");
            assert_eq!(left, pending, "{what}: pending bytes");
        }
    }

    #[test]
    fn huge_lines_are_dropped_with_a_notice_and_the_next_line_is_kept() {
        let huge = vec![b'x'; MAX_LINE + 1];
        // In one piece.
        let mut input = huge.clone();
        input.extend_from_slice(b"\nok\n");
        let (paths, notices, left) = feed_all(&[&input]);
        assert_eq!(paths, [base().join("ok")]);
        assert_eq!(notices, [Notice::TooLong { bytes: MAX_LINE + 1 }]);
        assert_eq!(left, 0);
        // In many pieces, none of them held beyond the limit.
        let mut p = Parser::new();
        for chunk in huge.chunks(1000) {
            assert!(p.feed(chunk, &base()).paths.is_empty());
            assert!(p.pending() <= MAX_LINE);
        }
        let got = p.feed(b"tail\nok\n", &base());
        assert_eq!(got.paths, [base().join("ok")]);
        assert_eq!(got.notices, [Notice::TooLong { bytes: MAX_LINE + 5 }]);
        // Exactly at the limit is fine.
        let mut at = vec![b'y'; MAX_LINE];
        at.push(b'\n');
        let (paths, notices, _) = feed_all(&[&at]);
        assert_eq!(paths.len(), 1);
        assert!(notices.is_empty());
    }

    #[test]
    fn a_nul_byte_makes_a_line_invalid() {
        let (paths, notices, _) = feed_all(&[b"a\0b\nc\n"]);
        assert_eq!(paths, [base().join("c")]);
        assert!(matches!(&notices[..], [Notice::Invalid { line }] if line == "a\u{0}b"), "{notices:?}");
        assert!(notices[0].to_string().contains("not a valid path"));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_kept_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;
        let (paths, notices, _) = feed_all(&[b"/x/caf\xe9.py\n"]);
        assert!(notices.is_empty());
        assert_eq!(paths[0].as_os_str().as_bytes(), b"/x/caf\xe9.py");
    }

    #[test]
    fn reset_forgets_a_partial_line() {
        let mut p = Parser::new();
        p.feed(b"half", &base());
        p.reset();
        assert_eq!(p.feed(b"new\n", &base()).paths, [base().join("new")]);
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::*;
        use super::base;

        /// Mixed bytes around one run of `x` that may be longer than a line may be.
        fn input() -> impl Strategy<Value = Vec<u8>> {
            let byte = prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'#'), Just(0u8), Just(b'a'), any::<u8>()];
            let small = proptest::collection::vec(byte, 0..300);
            (small.clone(), 0..MAX_LINE + 2000, small).prop_map(|(mut head, run, tail)| {
                head.extend(std::iter::repeat_n(b'x', run));
                head.extend(tail);
                head
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// However the bytes are split into reads, the same paths and notices come out, and never more than a
            /// line's worth is held.
            #[test]
            fn pieces_do_not_matter(bytes in input(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
                let mut whole = Parser::new();
                let expected = whole.feed(&bytes, &base());
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
                cuts.sort_unstable();
                let mut parser = Parser::new();
                let mut got = Parsed::default();
                let mut start = 0;
                for cut in cuts.into_iter().chain([bytes.len()]) {
                    let piece = parser.feed(&bytes[start..cut], &base());
                    got.paths.extend(piece.paths);
                    got.notices.extend(piece.notices);
                    prop_assert!(parser.pending() <= MAX_LINE);
                    start = cut;
                }
                prop_assert_eq!(got, expected);
                prop_assert_eq!(parser.pending(), whole.pending());
            }
        }
    }
}
