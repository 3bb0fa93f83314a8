//! Command-line habits from other tools, met before argh sees the arguments: `--flag=value` (which argh refuses) is
//! split into `--flag value`, and the flags of stator's peers (`-r`, `-p`, `-d`, `--delay`, `--ext`) get a hint
//! instead of "unrecognized argument". Pure: a list of strings in, a list of strings (or a message) out.

use argh::{ArgsInfo, FlagInfoKind};

/// What a flag is, as argh's description of the arguments says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A flag without a value (`--list`).
    Switch,
    /// A flag that takes the next argument as its value (`--interval 1s`).
    Option,
}

/// The flags of one argh command, by long name (`--interval`) and short (`-i`).
#[derive(Debug)]
pub(super) struct Flags(Vec<(String, Option<char>, Kind)>);

impl Flags {
    /// The flags of `T` (and `--help`, which argh adds).
    pub(super) fn of<T: ArgsInfo>() -> Flags {
        let info = T::get_args_info();
        let mut flags: Vec<(String, Option<char>, Kind)> = info
            .flags
            .iter()
            .map(|f| {
                let kind = match f.kind {
                    FlagInfoKind::Switch => Kind::Switch,
                    FlagInfoKind::Option { .. } => Kind::Option,
                };
                (f.long.to_owned(), f.short, kind)
            })
            .collect();
        if !flags.iter().any(|(long, _, _)| long == "--help") {
            flags.push(("--help".into(), None, Kind::Switch));
        }
        Flags(flags)
    }

    /// What `arg` is, if it is one of these flags: `--interval`, `-w`.
    pub(super) fn kind(&self, arg: &str) -> Option<Kind> {
        if let Some(short) = arg.strip_prefix('-').filter(|s| !s.starts_with('-')) {
            let mut chars = short.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else { return None };
            return self.0.iter().find(|(_, s, _)| *s == Some(c)).map(|(_, _, k)| *k);
        }
        self.0.iter().find(|(long, _, _)| long == arg).map(|(_, _, k)| *k)
    }

    /// The long names of the flags that take a value.
    #[cfg(test)]
    pub(super) fn options(&self) -> Vec<String> {
        self.0.iter().filter(|(_, _, k)| *k == Kind::Option).map(|(long, _, _)| long.clone()).collect()
    }

    /// Whether any of these flags is `arg`, long or short.
    #[cfg(test)]
    pub(super) fn has(&self, arg: &str) -> bool {
        self.kind(arg).is_some()
    }
}

/// The flags other watchers have, and what to use in stator instead: `(flag, message)`.
const PEERS: &[(&str, &str)] = &[
    ("-r", "-r is not needed: restarting the command on a change is what stator does by default (see --on-busy)"),
    ("-p", "unknown flag -p; to wait for the first change before running the command, use --postpone"),
    ("-d", "unknown flag -d; the quiet time a burst of changes needs before the restart is --settle (default 200ms)"),
    (
        "--delay",
        "unknown flag --delay; the quiet time a burst of changes needs before the restart is --settle (default 200ms)",
    ),
    ("--ext", "unknown flag --ext; stator's is -e/--exts (comma-separated, e.g. -e py,html)"),
];

/// The hint for a peer's flag (`-p`, `--delay=1s`), if `arg` is one.
fn hint(arg: &str) -> Option<&'static str> {
    let name = if arg.starts_with("--") { arg.split_once('=').map_or(arg, |(name, _)| name) } else { arg };
    PEERS.iter().find(|(flag, _)| *flag == name).map(|(_, msg)| *msg)
}

/// Rewrites `args` (the flags before any `--`) for argh: `--name=value` becomes `--name value` when `--name` is an
/// option of `flags`, and a peer's flag is refused with a hint. A value is never looked into (`-i --x=y` keeps
/// `--x=y` as `-i`'s value), and the first positional argument ends the flags: with a greedy command
/// (`stator make --jobs=2`), what follows is the command's, and passes untouched.
pub(super) fn rewrite(args: &[&str], flags: &Flags, greedy: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        if arg == "--" || (greedy && (!arg.starts_with('-') || arg == "-")) {
            // After `--` nothing is a flag; with a greedy positional, the first one takes the rest.
            out.push(arg.to_owned());
            out.extend(rest.map(|a| (*a).to_owned()));
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            out.push(arg.to_owned());
            continue;
        }
        match flags.kind(arg) {
            Some(Kind::Option) => {
                out.push(arg.to_owned());
                if let Some(&value) = rest.next() {
                    out.push(value.to_owned());
                }
                continue;
            }
            Some(Kind::Switch) => {
                out.push(arg.to_owned());
                continue;
            }
            None => {}
        }
        if let Some(msg) = hint(arg) {
            return Err(msg.to_owned());
        }
        if let Some((name, value)) = arg.split_once('=').filter(|_| arg.starts_with("--")) {
            match flags.kind(name) {
                Some(Kind::Option) => {
                    out.push(name.to_owned());
                    out.push(value.to_owned());
                    continue;
                }
                Some(Kind::Switch) => return Err(format!("{name} takes no value (given: {arg})")),
                None => {}
            }
        }
        out.push(arg.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags(vec![
            ("--watch".into(), Some('w'), Kind::Option),
            ("--ignore".into(), Some('i'), Kind::Option),
            ("--interval".into(), None, Kind::Option),
            ("--list".into(), None, Kind::Switch),
            ("--verbose".into(), Some('v'), Kind::Switch),
        ])
    }

    fn rw(args: &[&str]) -> Result<Vec<String>, String> {
        rewrite(args, &flags(), true)
    }

    #[test]
    fn an_option_with_equals_is_split_in_two() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["--interval=1s"], &["--interval", "1s"]),
            (&["--ignore=*.o", "-v"], &["--ignore", "*.o", "-v"]),
            // Only at the first `=`: the value may hold more.
            (&["--ignore=a=b"], &["--ignore", "a=b"]),
            (&["--watch="], &["--watch", ""]),
            // The usual forms pass untouched.
            (&["--interval", "1s", "-w", "src"], &["--interval", "1s", "-w", "src"]),
        ];
        for (args, want) in cases {
            assert_eq!(rw(args).unwrap(), *want, "{args:?}");
        }
    }

    #[test]
    fn values_and_the_command_are_never_rewritten() {
        let cases: &[&[&str]] = &[
            // A value that looks like a flag with `=`.
            &["-i", "--interval=1s"],
            &["--ignore", "--ext=rs"],
            // The greedy command, and everything after it.
            &["make", "--interval=1s", "-p"],
            &["-w", "src", "cargo", "run", "--release", "--jobs=2"],
            // Unknown flags with `=` are argh's to refuse.
            &["--bogus=1"],
            // After `--`, nothing is a flag.
            &["--", "-p", "--interval=1s"],
        ];
        for args in cases {
            let want: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            assert_eq!(rw(args), Ok(want), "{args:?}");
        }
        assert_eq!(
            rewrite(&["-i", "x", "doctor-path", "--ignore=y"], &flags(), false).unwrap()[3..],
            ["--ignore", "y"]
        );
    }

    #[test]
    fn a_switch_given_a_value_is_refused() {
        let err = rw(&["--list=yes"]).unwrap_err();
        assert!(err.contains("--list takes no value"), "{err}");
    }

    #[test]
    fn peers_flags_get_a_hint_that_names_stators_own() {
        let cases = [
            ("-r", "by default"),
            ("-p", "--postpone"),
            ("-d", "--settle"),
            ("--delay", "--settle"),
            ("--delay=2s", "--settle"),
            ("--ext", "-e/--exts"),
            ("--ext=rs", "-e/--exts"),
        ];
        for (arg, names) in cases {
            let err = rw(&["-w", "src", arg]).unwrap_err();
            assert!(err.contains(names), "{arg}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        // As a value, or in the command, they are not stator's business.
        assert!(rw(&["-i", "-p"]).is_ok());
        assert!(rw(&["rsync", "-r"]).is_ok());
    }

    #[test]
    fn short_flags_are_single_letters() {
        let f = flags();
        assert_eq!(f.kind("-w"), Some(Kind::Option));
        assert_eq!(f.kind("-v"), Some(Kind::Switch));
        assert_eq!(f.kind("-wv"), None);
        assert_eq!(f.kind("--w"), None);
        assert_eq!(f.kind("-"), None);
    }
}
