//! Environment files (`--env-file`): variables for the command, read again before each run, so editing the file
//! and restarting is enough.
//!
//! The format is the common subset of Docker's and Compose's `.env`: one `KEY=VALUE` per line; blank lines and
//! lines starting with `#` are skipped; `export KEY=VALUE` is accepted (so the file can be sourced by a shell too);
//! spaces around the key and before the value are dropped. A value in double quotes may use `\n`, `\t`, `\"` and
//! `\\`; one in single quotes is taken as written; an unquoted value ends at a ` #` comment and loses its trailing
//! spaces. No `$VAR` expansion, no values over several lines. Keys are letters, digits and `_`, not starting with
//! a digit.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// A file that could not be read, or a line of it that is not a variable.
#[derive(Debug)]
pub struct EnvFileError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line at fault; `None` when the file could not be read.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for EnvFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "cannot read {}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for EnvFileError {}

/// Parses the text of an environment file: its variables in order (a later one of the same name wins when set), or
/// the first bad line (1-based) and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err((i + 1, format!("expected KEY=VALUE, found {:?}", raw.trim())));
        };
        let key = key.trim();
        let mut chars = key.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((i + 1, format!("{key:?} is not a variable name (letters, digits and _)")));
        }
        let value = value_of(value.trim_start()).map_err(|why| (i + 1, format!("{key}: {why}")))?;
        vars.push((key.to_string(), value));
    }
    Ok(vars)
}

/// The value after `=`: quoted or not.
fn value_of(text: &str) -> Result<String, String> {
    let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        // Unquoted: up to a comment that follows a space.
        let end = text.find(" #").or_else(|| text.find("\t#")).unwrap_or(text.len());
        return Ok(text[..end].trim_end().to_string());
    };
    let mut out = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => {
                let rest = text[1 + i + 1..].trim_start();
                if !rest.is_empty() && !rest.starts_with('#') {
                    return Err(format!("unexpected {rest:?} after the closing quote"));
                }
                return Ok(out);
            }
            '\\' if quote == '"' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(c @ ('"' | '\\' | '$')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("no closing {quote} (values cannot span lines)"))
}

/// Reads and parses the environment file at `path`.
pub fn read(path: &Path) -> Result<Vec<(OsString, OsString)>, EnvFileError> {
    let err = |line, message| EnvFileError { path: path.to_path_buf(), line, message };
    let text = std::fs::read(path).map_err(|e| err(None, e.to_string()))?;
    let text = String::from_utf8(text).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        err(Some(line), "not UTF-8".into())
    })?;
    let vars = parse(&text).map_err(|(line, message)| err(Some(line), message))?;
    Ok(vars.into_iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect())
}

/// The environment files of a supervisor, read at each start. A file that cannot be read or parsed any more keeps
/// the values it had at the last good read, and the error is kept for the caller to report.
#[derive(Debug, Default)]
pub(crate) struct EnvFiles {
    /// Each file, and its variables at the last good read.
    files: Vec<(PathBuf, Vec<(OsString, OsString)>)>,
    errors: Vec<EnvFileError>,
}

impl EnvFiles {
    /// The files at `paths`, not read yet.
    pub(crate) fn new(paths: &[PathBuf]) -> EnvFiles {
        EnvFiles { files: paths.iter().map(|p| (p.clone(), Vec::new())).collect(), errors: Vec::new() }
    }

    /// Reads every file again; returns the variables of all of them, in order (later files win).
    pub(crate) fn load(&mut self) -> Vec<(OsString, OsString)> {
        for (path, vars) in &mut self.files {
            match read(path) {
                Ok(now) => *vars = now,
                Err(e) => self.errors.push(e),
            }
        }
        self.files.iter().flat_map(|(_, vars)| vars.iter().cloned()).collect()
    }

    /// The errors of the reads since the last call.
    pub(crate) fn take_errors(&mut self) -> Vec<EnvFileError> {
        std::mem::take(&mut self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    #[test]
    fn lines_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("A=1", &[("A", "1")]),
            ("A=1\nB=two words\n", &[("A", "1"), ("B", "two words")]),
            ("# comment\n\n   \nA=1\n  # indented comment", &[("A", "1")]),
            ("export A=1", &[("A", "1")]),
            ("  A = 1  ", &[("A", "1")]),
            ("A=", &[("A", "")]),
            ("A=x=y", &[("A", "x=y")]),
            ("A=x # a comment", &[("A", "x")]),
            ("A=x#not a comment", &[("A", "x#not a comment")]),
            ("A=\"quoted # not a comment\" # comment", &[("A", "quoted # not a comment")]),
            ("A=\"a\\nb\\t\\\"c\\\"\\\\\"", &[("A", "a\nb\t\"c\"\\")]),
            ("A='single $HOME \\n'", &[("A", "single $HOME \\n")]),
            ("A=$HOME", &[("A", "$HOME")]),
            ("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]),
            ("_A1=ok", &[("_A1", "ok")]),
            ("A=1\nA=2", &[("A", "1"), ("A", "2")]),
        ];
        for (text, want) in cases {
            let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(vars(text), want, "{text:?}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("A=1\njust words\n", 2, "expected KEY=VALUE"),
            ("1A=x", 1, "is not a variable name"),
            ("A B=x", 1, "is not a variable name"),
            ("=x", 1, "is not a variable name"),
            ("A=\"open", 1, "no closing \""),
            ("\n\nA='open", 3, "no closing '"),
            ("A=\"x\" y", 1, "after the closing quote"),
        ];
        for (text, line, what) in cases {
            let (at, msg) = parse(text).unwrap_err();
            assert_eq!(at, line, "{text:?}");
            assert!(msg.contains(what), "{text:?}: {msg}");
        }
    }

    #[test]
    fn a_file_that_turns_bad_keeps_its_last_good_values() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.env"), dir.path().join("b.env"));
        std::fs::write(&a, "X=1\nY=a\n").unwrap();
        std::fs::write(&b, "Y=b\n").unwrap();
        let mut files = EnvFiles::new(&[a.clone(), b.clone()]);
        let pairs = |v: Vec<(OsString, OsString)>| -> Vec<(String, String)> {
            v.into_iter().map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap())).collect()
        };
        let own = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(pairs(files.load()), own(&[("X", "1"), ("Y", "a"), ("Y", "b")]));
        assert!(files.take_errors().is_empty());
        std::fs::write(&a, "X=2\nbroken\n").unwrap();
        assert_eq!(pairs(files.load()), own(&[("X", "1"), ("Y", "a"), ("Y", "b")]), "a's last good values");
        let errors = files.take_errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), format!("{}:2: expected KEY=VALUE, found \"broken\"", a.display()));
        std::fs::remove_file(&b).unwrap();
        std::fs::write(&a, "X=3\n").unwrap();
        assert_eq!(pairs(files.load()), own(&[("X", "3"), ("Y", "b")]));
        let errors = files.take_errors();
        assert!(errors.len() == 1 && errors[0].line.is_none(), "{errors:?}");
        assert!(errors[0].to_string().starts_with("cannot read "), "{}", errors[0]);
    }

    #[test]
    fn a_file_not_utf8_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\nB=caf\xe9\n").unwrap();
        let e = read(&path).unwrap_err();
        assert_eq!(e.line, Some(2));
    }
}
