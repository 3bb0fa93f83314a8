//! The opt-in shims that make a runtime report what it loads: a Python `sitecustomize` module (`--python`) and a
//! Node `--require` hook (`--node`). Writing them is the only I/O here; the environment each needs is computed by
//! pure functions.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

/// The Python shim, imported by `site` at startup when its directory is on `PYTHONPATH`.
pub const PYTHON_SHIM: &str = include_str!("shims/sitecustomize.py");

/// The Node hook, loaded by `NODE_OPTIONS=--require`.
pub const NODE_HOOK: &str = include_str!("shims/stator-hook.js");

/// A file marking a directory as a stator shim directory: the Python shim skips such directories when it looks
/// for the user's own `sitecustomize` (a stator run under another stator would find the outer one's).
pub const MARKER: &str = "stator-shim";

/// Writes `sitecustomize.py` (and the marker) into a new directory `python` under `dir`; returns that directory,
/// to be put first on `PYTHONPATH`.
pub fn write_python(dir: &Path) -> io::Result<PathBuf> {
    let shim_dir = dir.join("python");
    std::fs::create_dir(&shim_dir)?;
    std::fs::write(shim_dir.join("sitecustomize.py"), PYTHON_SHIM)?;
    std::fs::write(shim_dir.join(MARKER), b"")?;
    Ok(shim_dir)
}

/// Writes the Node hook into `dir`; returns its path, for `--require`.
pub fn write_node(dir: &Path) -> io::Result<PathBuf> {
    let hook = dir.join("stator-hook.js");
    std::fs::write(&hook, NODE_HOOK)?;
    Ok(hook)
}

/// `PYTHONPATH` with `shim_dir` first and the user's value (`existing`) kept as it was after it; `None` when the
/// directory's name holds the path-list separator and cannot be put on the list.
pub fn python_path(shim_dir: &Path, existing: Option<&OsStr>) -> Option<OsString> {
    let mut out = std::env::join_paths([shim_dir]).ok()?;
    if let Some(rest) = existing.filter(|e| !e.is_empty()) {
        out.push(if cfg!(windows) { ";" } else { ":" });
        out.push(rest);
    }
    Some(out)
}

/// `NODE_OPTIONS` with `--require "<hook>"` first and the user's options (`existing`) after it. Node splits the
/// variable at spaces and honours double quotes, with backslash escapes inside them.
pub fn node_options(hook: &Path, existing: Option<&OsStr>) -> OsString {
    let mut quoted = String::from("\"");
    for c in hook.to_string_lossy().chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    let mut out = OsString::from(format!("--require {quoted}"));
    if let Some(rest) = existing.filter(|e| !e.is_empty()) {
        out.push(" ");
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn python_path_puts_the_shim_first_and_keeps_the_rest_verbatim() {
        let dir = Path::new("/tmp/stator-x/python");
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (None, Some("/tmp/stator-x/python")),
            (Some(""), Some("/tmp/stator-x/python")),
            (Some("/a:/b"), Some("/tmp/stator-x/python:/a:/b")),
            (Some("/a:"), Some("/tmp/stator-x/python:/a:")),
        ];
        for (existing, want) in cases {
            let got = python_path(dir, existing.map(OsStr::new));
            assert_eq!(got.as_deref(), want.map(OsStr::new), "{existing:?}");
        }
        assert_eq!(python_path(Path::new("/tmp/a:b"), None), None, "a ':' in the directory cannot be listed");
    }

    #[test]
    fn node_options_quote_the_hook_and_keep_the_rest() {
        let hook = Path::new("/tmp/my dir/stator-hook.js");
        assert_eq!(node_options(hook, None), OsString::from("--require \"/tmp/my dir/stator-hook.js\""));
        assert_eq!(
            node_options(hook, Some(OsStr::new("--max-old-space-size=100"))),
            OsString::from("--require \"/tmp/my dir/stator-hook.js\" --max-old-space-size=100")
        );
        assert_eq!(node_options(Path::new(r#"C:\a"b"#), None), OsString::from(r#"--require "C:\\a\"b""#));
    }

    #[test]
    fn the_shims_are_written_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let py = write_python(dir.path()).unwrap();
        assert!(py.join("sitecustomize.py").is_file());
        assert!(py.join(MARKER).is_file());
        let js = write_node(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(js).unwrap(), NODE_HOOK);
    }
}
