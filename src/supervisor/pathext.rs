//! Finding a program the way a Windows shell does: `npm` is `npm.cmd`, found through `PATHEXT`.
//!
//! std's `Command::new("npm")` appends `.exe` and tries nothing else, so the `.cmd` and `.bat` shims that npm, yarn,
//! npx, pnpm and many others install are "not found". A shell tries each extension of `PATHEXT` in turn, in each
//! directory of `PATH` in turn. This does the same, for names without an extension of `PATHEXT`'s, and hands std the
//! full path. The current directory is not searched (std and PowerShell do not either; cmd.exe does); a name with a
//! directory in it (`bin\hello`) is tried with each extension where it points.
//!
//! Running what was found is std's job: for a `.bat` or `.cmd` file it starts `cmd.exe /e:ON /v:OFF /d /c` with the
//! script's path quoted and every argument quoted and escaped for cmd.exe (`%` included, since the "BatBadBut" fix,
//! Rust 1.77.2), and refuses arguments it cannot pass safely (line breaks) with an error, which stator reports. What
//! std does not guard against, a `%` in the script's own path, stator refuses before spawning.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// `PATHEXT` when the variable is not set: Windows' own default, in its order.
const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// The file `program` names, if it has no extension from `pathext` and a shell would find it by adding one; `None`
/// otherwise (std then does its own lookup). `path` and `pathext` are the variables' values; `is_file` says whether
/// a candidate exists.
pub(crate) fn find(
    program: &OsStr,
    path: Option<&OsStr>,
    pathext: Option<&OsStr>,
    is_file: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let exts = extensions(pathext);
    let given = Path::new(program);
    if program.is_empty() || has_listed_extension(given, &exts) {
        return None;
    }
    let with_ext = |base: &Path| -> Vec<PathBuf> {
        exts.iter()
            .map(|ext| {
                let mut name = base.as_os_str().to_owned();
                name.push(ext);
                PathBuf::from(name)
            })
            .collect()
    };
    if has_directory(program) {
        return with_ext(given).into_iter().find(|p| is_file(p));
    }
    let path = path?;
    split_path(path).flat_map(|dir| with_ext(&dir.join(program))).find(|p| is_file(p))
}

/// The extensions of `PATHEXT`, each with its dot; the default when it is unset or empty.
fn extensions(pathext: Option<&OsStr>) -> Vec<OsString> {
    let value = pathext.map(OsStr::to_string_lossy).filter(|v| !v.trim().is_empty());
    let value = value.as_deref().unwrap_or(DEFAULT_PATHEXT);
    value.split(';').map(str::trim).filter(|e| e.len() > 1 && e.starts_with('.')).map(OsString::from).collect()
}

fn has_listed_extension(program: &Path, exts: &[OsString]) -> bool {
    program.extension().is_some_and(|e| {
        let dotted = format!(".{}", e.to_string_lossy());
        exts.iter().any(|x| x.to_string_lossy().eq_ignore_ascii_case(&dotted))
    })
}

/// Whether a name says where it is (`bin\x`, `.\x`, `C:x`, `C:\x`), so that `PATH` is not searched.
fn has_directory(program: &OsStr) -> bool {
    let s = program.to_string_lossy();
    s.contains(['\\', '/']) || s.as_bytes().get(1) == Some(&b':')
}

/// The directories of a `PATH` value: split at `;`, quotes removed, empty entries skipped.
fn split_path(path: &OsStr) -> impl Iterator<Item = PathBuf> + '_ {
    let s = path.to_string_lossy().into_owned();
    s.split(';')
        .map(|d| d.trim().trim_matches('"').to_owned())
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect::<Vec<_>>()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn run(program: &str, path: &str, pathext: Option<&str>, files: &[&str]) -> Option<String> {
        let files: HashSet<PathBuf> = files.iter().map(PathBuf::from).collect();
        find(OsStr::new(program), Some(OsStr::new(path)), pathext.map(OsStr::new), |p| files.contains(p))
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Paths are joined with the platform's separator: build the expectations the same way.
    fn j(dir: &str, name: &str) -> String {
        Path::new(dir).join(name).to_string_lossy().into_owned()
    }

    #[test]
    fn a_shell_s_lookup_in_path_order_then_pathext_order() {
        let npm_cmd = j("C:/node", "npm.CMD");
        let npm_exe = j("C:/later", "npm.EXE");
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<&'a str>, Option<String>);
        let cases: &[Case] = &[
            ("found through PATHEXT", "C:/node", None, vec![&npm_cmd], Some(npm_cmd.clone())),
            (
                "the first directory wins over a better extension later",
                "C:/node;C:/later",
                None,
                vec![&npm_cmd, &npm_exe],
                Some(npm_cmd.clone()),
            ),
            ("nothing found: std's turn", "C:/node", None, vec![], None),
            ("empty and quoted entries", ";\"C:/node\";;", None, vec![&npm_cmd], Some(npm_cmd.clone())),
            ("PATHEXT's own order and spelling", "C:/node", Some(".Bat;.Cmd"), vec![], None),
        ];
        for (what, path, pathext, files, want) in cases {
            assert_eq!(&run("npm", path, *pathext, files), want, "{what}");
        }
        let bat = j("C:/node", "npm.Bat");
        let cmd = j("C:/node", "npm.Cmd");
        assert_eq!(run("npm", "C:/node", Some(".Bat;.Cmd"), &[&cmd, &bat]), Some(bat), "PATHEXT order");
        assert_eq!(run("npm", "C:/node", Some(".Bat;.Cmd"), &[&cmd]), Some(cmd), "PATHEXT spelling");
    }

    #[test]
    fn names_with_an_extension_or_a_directory() {
        // A listed extension: std finds it as given.
        assert_eq!(run("npm.cmd", "C:/node", None, &[&j("C:/node", "npm.cmd")]), None);
        assert_eq!(run("tool.EXE", "C:/node", None, &[]), None);
        // An extension PATHEXT does not list is part of the name (python3.11 is python3.11.exe).
        let py = j("C:/py", "python3.11.EXE");
        assert_eq!(run("python3.11", "C:/py", None, &[&py]), Some(py));
        // A directory in the name: tried where it points, PATH not searched.
        assert_eq!(run("bin/hello", "C:/node", None, &["bin/hello.CMD"]), Some("bin/hello.CMD".into()));
        assert_eq!(run(r"bin\hello", "C:/node", None, &[r"bin\hello.BAT"]), Some(r"bin\hello.BAT".into()));
        assert_eq!(run("C:hello", "C:/node", None, &["C:hello.CMD"]), Some("C:hello.CMD".into()));
        assert_eq!(run("", "C:/node", None, &[]), None);
    }

    #[test]
    fn an_unset_or_empty_pathext_is_the_default() {
        assert_eq!(extensions(None), [".COM", ".EXE", ".BAT", ".CMD"]);
        assert_eq!(extensions(Some(OsStr::new(" "))), [".COM", ".EXE", ".BAT", ".CMD"]);
        assert_eq!(extensions(Some(OsStr::new(".PY; .CMD;;bad"))), [".PY", ".CMD"]);
    }
}
