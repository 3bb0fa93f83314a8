//! The project config file: `stator.toml` in the current directory, or else the `[tool.stator]` table of its
//! `pyproject.toml`. `stator` alone then runs what it says (`CMD ["stator"]` in a Dockerfile).
//!
//! ```toml
//! watch = ["src", "templates"]
//! exts = ["py", "html"]
//! interval = "1s"
//! on-busy = "queue"
//! python = true
//! command = ["python", "app.py"]
//! ```
//!
//! The keys are the long flags' names (`hot-interval`, or `hot_interval` as TOML often spells it) and `command`;
//! a switch takes `true` (or `false`, which is the same as leaving it out), a flag with a value takes a string or
//! a whole number (durations are strings: `"500ms"`), a repeatable flag also takes a list. There is one
//! implementation of every flag, argh's: each key becomes the command-line arguments it stands for and is parsed
//! alone first (so a bad value is reported at its line), then the file's arguments go before the command line's and
//! the whole is parsed and checked as any command line is.
//!
//! The command line wins: a flag it gives replaces the file's (a list too: `-w lib` watches `lib`, not the file's
//! `src` and `lib`, as with most tools), and a command it gives replaces `command`. A switch the file turns on is
//! turned off by `--no-SWITCH` (`--no-clear`, `--no-python`; without a file it does nothing); `--no-config` ignores
//! the file. `-q` and `-v` override each other.
//!
//! Reading is the caller's ([`Reader`]), so parsing stays free of I/O and testable.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io;

use argh::{ArgsInfo, FlagInfo, FlagInfoKind, FromArgs, Optionality};
use serde::Deserialize;
use toml::{Spanned, Value};

use super::Args;

/// Reads `name` in the current directory: its text, or `None` when there is no such file.
pub(crate) type Reader<'a> = &'a dyn Fn(&str) -> io::Result<Option<String>>;

/// The config file of its own.
pub(crate) const STATOR_TOML: &str = "stator.toml";
/// Python's project file, whose `[tool.stator]` table is read when there is no `stator.toml`.
pub(crate) const PYPROJECT: &str = "pyproject.toml";

/// Flags that make no sense in a file: the file is read only when the command line gives none of them.
const COMMAND_LINE_ONLY: [&str; 3] = ["help", "version", "no-config"];

/// Flags that override each other: the command line giving one drops the file's others.
const EXCLUSIVE: [&[&str]; 1] = [&["quiet", "verbose"]];

/// The key of the positional command.
const COMMAND: &str = "command";

/// The file's arguments and the command line's, together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merged {
    /// The flags to parse: the file's that the command line does not override, then the command line's.
    pub args: Vec<String>,
    /// The command: the command line's after `--`, or else the file's (`None`: the command line's positional words
    /// in `args`, or none).
    pub command: Option<Vec<OsString>>,
    /// The file read, if one was.
    pub file: Option<&'static str>,
}

/// One key of the file.
#[derive(Debug, Clone)]
struct Entry {
    /// As written.
    key: String,
    /// The line it is on (1-based).
    line: usize,
    /// Its value.
    value: Value,
}

/// `[tool.stator]` in `pyproject.toml`; the rest of the file is not stator's business.
#[derive(Deserialize)]
struct PyProject {
    tool: Option<PyTools>,
}

#[derive(Deserialize)]
struct PyTools {
    stator: Option<Keys>,
}

/// A table's keys and values, with where they are.
type Keys = BTreeMap<Spanned<String>, Spanned<Value>>;

/// Puts the project config file (read through `read`) and the command line's flags (`cli`, before any `--`) and
/// `command` (after `--`) together; errors name the file and line.
pub(crate) fn merge(read: Reader<'_>, cli: &[&str], command: Option<Vec<OsString>>) -> Result<Merged, String> {
    let flags = Args::get_args_info().flags;
    let given = Given::of(flags, cli);
    let cli = given.without_negations(cli);
    let plain = |command| Merged { args: cli.clone(), command, file: None };
    if COMMAND_LINE_ONLY.iter().any(|f| given.flags.contains(*f)) {
        return Ok(plain(command));
    }
    let Some((file, entries)) = load(read)? else {
        return Ok(plain(command));
    };
    let mut args = Vec::new();
    let mut file_command = None;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &entries {
        let at = |msg: String| format!("{file}:{}: {msg}", entry.line);
        let name = entry.key.replace('_', "-");
        if let Some(line) = seen.insert(name.clone(), entry.line) {
            return Err(at(format!("{} is set twice (also on line {line})", entry.key)));
        }
        if name == COMMAND {
            file_command = Some(command_words(&entry.value, shell_on(&entries, &given)).map_err(at)?);
            continue;
        }
        let Some(flag) = flags.iter().find(|f| f.long.strip_prefix("--") == Some(name.as_str())) else {
            if name == "tool" && file == STATOR_TOML {
                return Err(at(format!("[tool.stator] is for {PYPROJECT}; in {file} the keys stand alone")));
            }
            return Err(at(unknown(&entry.key, flags)));
        };
        if COMMAND_LINE_ONLY.contains(&name.as_str()) {
            return Err(at(format!("{} belongs on the command line, not in {file}", entry.key)));
        }
        let tokens = tokens(flag, &entry.value).map_err(|msg| at(format!("{}: {msg}", entry.key)))?;
        check(&tokens).map_err(|msg| at(format!("{}: {msg}", entry.key)))?;
        if !given.overrides(&name) && !given.negated.contains(&name) {
            args.extend(tokens);
        }
    }
    let command = match command {
        Some(command) => Some(command),
        None if given.positional => None,
        None => file_command,
    };
    let listing = given.flags.contains("list") || args.iter().any(|a| a == "--list");
    if command.is_none() && !given.positional && !listing {
        return Err(format!(
            "no command given: put it after -- or in {file} (for example: command = [\"python\", \"app.py\"])"
        ));
    }
    args.extend(cli);
    Ok(Merged { args, command, file: Some(file) })
}

/// The keys `stator doctor` takes from the file: the roots and filters a run would use. The others are the run's.
const DOCTOR_KEYS: [&str; 6] = ["watch", "exts", "filter", "ignore", "no-vcs-ignore", "no-default-ignore"];

/// For `stator doctor`: the file's roots and filters as arguments, then `cli` (the doctor's own arguments, read
/// with its `flags`), and the file read. A flag `cli` gives replaces the file's; paths given to the doctor replace
/// the file's `watch`. The file's other keys are left to the run, which checks them; `--no-config` in `cli` reads
/// no file.
pub(crate) fn merge_for_doctor(
    read: Reader<'_>,
    cli: &[&str],
    flags: &[FlagInfo<'_>],
) -> Result<(Vec<String>, Option<&'static str>), String> {
    let given = Given::of_all(flags, cli);
    let plain = || cli.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if given.flags.contains("no-config") || given.flags.contains("help") {
        return Ok((plain(), None));
    }
    let Some((file, entries)) = load(read)? else { return Ok((plain(), None)) };
    let run_flags = Args::get_args_info().flags;
    let mut args = Vec::new();
    for entry in &entries {
        let name = entry.key.replace('_', "-");
        let Some(flag) = run_flags.iter().find(|f| f.long.strip_prefix("--") == Some(name.as_str())) else {
            continue;
        };
        if !DOCTOR_KEYS.contains(&name.as_str()) || given.flags.contains(&name) || (name == "watch" && given.positional)
        {
            continue;
        }
        let at = |msg: String| format!("{file}:{}: {}: {msg}", entry.line, entry.key);
        let tokens = tokens(flag, &entry.value).map_err(at)?;
        check(&tokens).map_err(at)?;
        args.extend(tokens);
    }
    args.extend(plain());
    Ok((args, Some(file)))
}

/// What the command line gives: the long names (without `--`) of its flags, and whether it has positional words
/// (a command without `--`).
#[derive(Debug, Default)]
struct Given {
    flags: HashSet<String>,
    positional: bool,
    /// The switches turned off with `--no-SWITCH` (a switch the file may turn on), by long name.
    negated: HashSet<String>,
    /// Where those `--no-SWITCH` words are in the command line.
    negations: Vec<usize>,
}

/// The switch `name` turns off, when it is `no-SWITCH` for a switch whose name does not itself begin with `no-`
/// (and `name` is no flag of its own: `--no-tty` is one).
fn negated_switch<'a>(flags: &[FlagInfo<'a>], name: &str) -> Option<&'a str> {
    let switch = name.strip_prefix("no-")?;
    flags
        .iter()
        .filter(|f| matches!(f.kind, FlagInfoKind::Switch))
        .filter_map(|f| f.long.strip_prefix("--"))
        .find(|long| *long == switch && !long.starts_with("no-") && !COMMAND_LINE_ONLY.contains(long))
}

impl Given {
    /// Reads `cli` the way argh does: an option takes the next argument as its value whatever it looks like, the
    /// first positional word starts the (greedy) command, `--flag=value` is one flag.
    fn of(flags: &[FlagInfo<'_>], cli: &[&str]) -> Given {
        Given::read(flags, cli, true)
    }

    /// Reads `cli`; a positional word ends the flags when `greedy` (the run's command), else it is one of many.
    fn read(flags: &[FlagInfo<'_>], cli: &[&str], greedy: bool) -> Given {
        let mut given = Given::default();
        let mut at = 0;
        while at < cli.len() {
            let arg = cli[at];
            at += 1;
            let flag = if let Some(long) = arg.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((name, _)) => (name, true),
                    None => (long, false),
                };
                let flag = flags.iter().find(|f| f.long.strip_prefix("--") == Some(name));
                if let (None, false, Some(switch)) = (flag, value, negated_switch(flags, name)) {
                    given.negated.insert(switch.to_string());
                    given.negations.push(at - 1);
                    continue;
                }
                given.flags.insert(name.to_string());
                flag.filter(|_| !value)
            } else if arg.len() > 1 && arg.starts_with('-') {
                let short = arg.chars().nth(1);
                let flag = flags.iter().find(|f| f.short.is_some() && f.short == short);
                if let Some(f) = flag {
                    given.flags.insert(f.long.trim_start_matches('-').to_string());
                }
                flag
            } else {
                given.positional = true;
                if greedy {
                    break;
                }
                continue;
            };
            if flag.is_some_and(|f| matches!(f.kind, FlagInfoKind::Option { .. })) {
                at += 1;
            }
        }
        given
    }

    /// [`Given::of`] for a command line whose positional words are paths among the flags (the doctor's).
    fn of_all(flags: &[FlagInfo<'_>], cli: &[&str]) -> Given {
        Given::read(flags, cli, false)
    }

    /// `cli` without its `--no-SWITCH` words (which argh does not know).
    fn without_negations(&self, cli: &[&str]) -> Vec<String> {
        cli.iter().enumerate().filter(|(i, _)| !self.negations.contains(i)).map(|(_, a)| a.to_string()).collect()
    }

    /// Whether the file's flag `name` gives way to the command line's.
    fn overrides(&self, name: &str) -> bool {
        self.flags.contains(name)
            || EXCLUSIVE.iter().any(|group| group.contains(&name) && group.iter().any(|g| self.flags.contains(*g)))
    }
}

/// Reads `stator.toml`, or else `pyproject.toml`'s `[tool.stator]`: the file's name and its keys in file order.
fn load(read: Reader<'_>) -> Result<Option<(&'static str, Vec<Entry>)>, String> {
    let cannot = |file: &str, e: io::Error| format!("cannot read {file}: {e} (--no-config ignores it)");
    if let Some(text) = read(STATOR_TOML).map_err(|e| cannot(STATOR_TOML, e))? {
        let keys: Keys = toml::from_str(&text).map_err(|e| toml_error(STATOR_TOML, &text, &e))?;
        return Ok(Some((STATOR_TOML, entries(&text, keys))));
    }
    let Some(text) = read(PYPROJECT).map_err(|e| cannot(PYPROJECT, e))? else { return Ok(None) };
    let project: PyProject = toml::from_str(&text).map_err(|e| toml_error(PYPROJECT, &text, &e))?;
    Ok(project.tool.and_then(|t| t.stator).map(|keys| (PYPROJECT, entries(&text, keys))))
}

/// The keys of a table, in the order they are written.
fn entries(text: &str, keys: Keys) -> Vec<Entry> {
    let mut entries: Vec<(usize, Entry)> = keys
        .into_iter()
        .map(|(key, value)| {
            let start = key.span().start;
            (start, Entry { key: key.into_inner(), line: line_of(text, start), value: value.into_inner() })
        })
        .collect();
    entries.sort_by_key(|(start, _)| *start);
    entries.into_iter().map(|(_, e)| e).collect()
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A TOML error as one line: `file:line: what`.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> String {
    let what = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => format!("{file}:{}: {what}", line_of(text, span.start)),
        None => format!("{file}: {what}"),
    }
}

/// The arguments a key stands for.
fn tokens(flag: &FlagInfo<'_>, value: &Value) -> Result<Vec<String>, String> {
    let long = flag.long.to_string();
    match (&flag.kind, value) {
        (FlagInfoKind::Switch, Value::Boolean(true)) => Ok(vec![long]),
        (FlagInfoKind::Switch, Value::Boolean(false)) => Ok(Vec::new()),
        (FlagInfoKind::Switch, other) => Err(format!("expected true or false, found {}", kind(other))),
        (FlagInfoKind::Option { .. }, Value::Array(items)) if flag.optionality == Optionality::Repeating => {
            let mut out = Vec::with_capacity(items.len() * 2);
            for item in items {
                out.push(long.clone());
                out.push(scalar(item, true)?);
            }
            Ok(out)
        }
        (FlagInfoKind::Option { .. }, Value::Array(_)) => Err("takes one value, not a list".into()),
        (FlagInfoKind::Option { .. }, v) => {
            let repeating = flag.optionality == Optionality::Repeating;
            Ok(vec![long, scalar(v, repeating)?])
        }
    }
}

/// A flag's value as its command-line argument: strings as they are, whole numbers written out.
fn scalar(value: &Value, list: bool) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(i) => Ok(i.to_string()),
        other => {
            let expected = if list { "a string or a list of strings" } else { "a string" };
            Err(format!("expected {expected} (durations too: \"500ms\", \"2s\"), found {}", kind(other)))
        }
    }
}

/// What kind of TOML value this is, for a message.
fn kind(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Integer(i) => format!("the number {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "a list".into(),
        Value::Table(_) => "a table".into(),
    }
}

/// Parses a key's arguments alone, as the command line would be: argh's message, without its wrapping.
fn check(tokens: &[String]) -> Result<(), String> {
    let strs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    match Args::from_args(&["stator"], &strs) {
        Ok(_) => Ok(()),
        Err(exit) => {
            let out = exit.output.trim();
            let why = out
                .strip_prefix("Error parsing option '")
                .and_then(|rest| rest.split_once("': ").map(|(_, why)| why))
                .unwrap_or(out);
            Err(why.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

/// Whether the command runs through a shell: `shell = true` in the file (unless `--no-shell`) or `--shell` on the
/// command line.
fn shell_on(entries: &[Entry], given: &Given) -> bool {
    given.flags.contains("shell")
        || !given.negated.contains("shell")
            && entries.iter().any(|e| e.key == "shell" && e.value == Value::Boolean(true))
}

/// `command`: a list of words, or one string (a shell command line with `shell = true`, else a program name).
fn command_words(value: &Value, shell: bool) -> Result<Vec<OsString>, String> {
    let example = "for example: command = [\"python\", \"app.py\"]";
    match value {
        Value::Array(items) if items.is_empty() => Err(format!("command: the list is empty; {example}")),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(OsString::from(s)),
                other => Err(format!("command: expected a list of strings, found {} in it; {example}", kind(other))),
            })
            .collect(),
        Value::String(s) if !shell && s.split_whitespace().nth(1).is_some() => Err(format!(
            "command: {s:?} is one string, run as one program name; give a list of words ({example}), or set \
             shell = true to run it with sh -c"
        )),
        Value::String(s) if s.trim().is_empty() => Err(format!("command: the string is empty; {example}")),
        Value::String(s) => Ok(vec![OsString::from(s)]),
        other => Err(format!("command: expected a list of strings, found {}; {example}", kind(other))),
    }
}

/// The error for a key that is no flag, with the nearest flag if one is near.
fn unknown(key: &str, flags: &[FlagInfo<'_>]) -> String {
    let name = key.replace('_', "-");
    let names = flags.iter().filter_map(|f| f.long.strip_prefix("--")).chain([COMMAND]);
    let near = names
        .filter(|n| !COMMAND_LINE_ONLY.contains(n))
        .map(|n| (distance(&name, n), n))
        .filter(|(d, n)| *d <= 2 || n.starts_with(name.as_str()) || name.starts_with(n))
        .min();
    match near {
        Some((_, n)) => format!("unknown key {key:?} (did you mean {n:?}?)"),
        None => format!("unknown key {key:?}: the keys are the long flags' names (stator --help) and command"),
    }
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A reader over files held in memory.
    fn files(list: &[(&str, &str)]) -> impl Fn(&str) -> io::Result<Option<String>> + use<> {
        let map: HashMap<String, String> = list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| Ok(map.get(name).cloned())
    }

    fn merged(list: &[(&str, &str)], cli: &[&str]) -> Result<Merged, String> {
        merge(&files(list), cli, None)
    }

    fn args(m: &Merged) -> Vec<&str> {
        m.args.iter().map(String::as_str).collect()
    }

    fn doctor(list: &[(&str, &str)], cli: &[&str]) -> Result<(Vec<String>, Option<&'static str>), String> {
        merge_for_doctor(&files(list), cli, crate::cli::doctor::flags())
    }

    #[test]
    fn the_doctor_takes_the_files_roots_and_filters_and_its_own_arguments_win() {
        let toml = "watch = ['src', 'lib']\nignore = '*.log'\nexts = 'py'\ninterval = '1s'\npython = true\n\
                    command = ['python', 'app.py']\n";
        let file = [(STATOR_TOML, toml)];
        let (args, from) = doctor(&file, &["--json"]).unwrap();
        assert_eq!(from, Some(STATOR_TOML));
        let want = ["--watch", "src", "--watch", "lib", "--ignore", "*.log", "--exts", "py", "--json"];
        assert_eq!(args, want);
        // Paths given replace the file's roots, wherever they are among the flags; a flag replaces the file's.
        for cli in [&["/mnt/share", "-i", "x"][..], &["-i", "x", "/mnt/share"], &["--ignore=x", "/mnt/share"]] {
            let (args, _) = doctor(&file, cli).unwrap();
            let mut want = vec!["--exts", "py"];
            want.extend(cli);
            assert_eq!(args, want, "{cli:?}");
        }
        // -w given too replaces them; -e's value is not taken for a path.
        assert_eq!(doctor(&file, &["-e", "rs", "-w", "a"]).unwrap().0, ["--ignore", "*.log", "-e", "rs", "-w", "a"]);
        assert_eq!(doctor(&file, &["--no-config"]).unwrap(), (vec!["--no-config".to_owned()], None));
        assert_eq!(doctor(&[], &["x"]).unwrap(), (vec!["x".to_owned()], None));
    }

    #[test]
    fn the_doctor_stops_at_a_bad_root_or_filter_in_the_file_and_leaves_the_rest_to_the_run() {
        let err = doctor(&[(STATOR_TOML, "watch = ['src']\nexts = true\n")], &[]).unwrap_err();
        assert!(err.starts_with("stator.toml:2: exts: expected"), "{err}");
        let err = doctor(&[(STATOR_TOML, "watch = [")], &[]).unwrap_err();
        assert!(err.starts_with("stator.toml:1: "), "{err}");
        let (args, _) = doctor(&[(STATOR_TOML, "watch = 'src'\nintervall = 3\nclear = 'yes'\n")], &[]).unwrap();
        assert_eq!(args, ["--watch", "src"]);
    }

    #[test]
    fn every_kind_of_key_becomes_its_arguments() {
        let toml = r#"
watch = ["src", "templates"]
exts = ["py"]
ignore = "*.tmp"
interval = "1s"
hot_interval = "50ms"
reload-code = 3
python = true
clear = false
command = ["python", "app.py"]
"#;
        let m = merged(&[(STATOR_TOML, toml)], &[]).unwrap();
        assert_eq!(
            args(&m),
            [
                "--watch",
                "src",
                "--watch",
                "templates",
                "--exts",
                "py",
                "--ignore",
                "*.tmp",
                "--interval",
                "1s",
                "--hot-interval",
                "50ms",
                "--reload-code",
                "3",
                "--python"
            ]
        );
        assert_eq!(m.command, Some(vec![OsString::from("python"), "app.py".into()]));
        assert_eq!(m.file, Some(STATOR_TOML));
    }

    #[test]
    fn the_command_line_overrides_the_file_and_lists_are_replaced() {
        let toml = "watch = [\"src\"]\ninterval = \"1s\"\nquiet = true\ncommand = [\"make\"]\n";
        let f = [(STATOR_TOML, toml)];
        let m = merged(&f, &["-w", "lib", "--interval=2s", "-v"]).unwrap();
        assert_eq!(args(&m), ["-w", "lib", "--interval=2s", "-v"], "every file flag overridden");
        assert_eq!(m.command, Some(vec![OsString::from("make")]));
        // A command on the command line replaces the file's, after -- or without it.
        let m = merge(&files(&f), &[], Some(vec!["cargo".into()])).unwrap();
        assert_eq!(m.command, Some(vec![OsString::from("cargo")]));
        let m = merged(&f, &["--settle", "1s", "pytest", "-x"]).unwrap();
        assert_eq!(m.command, None, "the positional words are the command");
        assert_eq!(args(&m)[args(&m).len() - 2..], ["pytest", "-x"]);
        // An option's value is not a flag: `-i -v` ignores "-v", it does not override quiet.
        let m = merged(&f, &["-i", "-v"]).unwrap();
        assert!(args(&m).contains(&"--quiet"), "{m:?}");
    }

    #[test]
    fn no_switch_turns_off_a_switch_the_file_turns_on() {
        let toml = "watch = ['src']\nclear = true\npython = true\nshell = true\ncommand = 'npm run dev'\n";
        let f = [(STATOR_TOML, toml)];
        let m = merged(&f, &["--no-clear", "-v"]).unwrap();
        assert_eq!(args(&m), ["--watch", "src", "--python", "--shell", "-v"]);
        // --no-shell: the command string is one program name again, which the file's string is not.
        let err = merged(&f, &["--no-shell"]).unwrap_err();
        assert!(err.contains("is one string, run as one program name"), "{err}");
        // Without a file it does nothing; after the command starts it is the command's; a value is a value.
        assert_eq!(args(&merged(&[], &["--no-python", "-w", "x", "--", "y"]).unwrap()), ["-w", "x", "--", "y"]);
        let m = merged(&f, &["make", "--no-clear"]).unwrap();
        assert_eq!(args(&m)[args(&m).len() - 2..], ["make", "--no-clear"]);
        let m = merged(&f, &["-i", "--no-clear"]).unwrap();
        assert!(args(&m).contains(&"--clear") && args(&m).ends_with(&["-i", "--no-clear"]), "{m:?}");
        // Flags of their own stay theirs; no negation of a negation or of what only the command line says.
        assert!(args(&merged(&f, &["--no-tty"]).unwrap()).contains(&"--no-tty"));
        for odd in ["--no-no-tty", "--no-help", "--no-interval"] {
            assert!(args(&merged(&f, &[odd]).unwrap()).contains(&odd), "{odd} is left for argh to refuse");
        }
    }

    #[test]
    fn pyproject_is_read_only_for_its_tool_stator_table_and_stator_toml_wins() {
        let py = "[project]\nname = \"app\"\n\n[tool.black]\nline-length = 100\n\n[tool.stator]\nexts = [\"py\"]\ncommand = [\"flask\", \"run\"]\n";
        let m = merged(&[(PYPROJECT, py)], &[]).unwrap();
        assert_eq!(m.file, Some(PYPROJECT));
        assert_eq!(args(&m), ["--exts", "py"]);
        let m = merged(&[(PYPROJECT, "[project]\nname = \"app\"\n")], &["--", "x"]).unwrap();
        assert_eq!(m.file, None, "no [tool.stator]: no config");
        let m = merged(&[(PYPROJECT, py), (STATOR_TOML, "command = [\"make\"]")], &[]).unwrap();
        assert_eq!((m.file, m.command), (Some(STATOR_TOML), Some(vec![OsString::from("make")])));
        // Errors in pyproject.toml name their line in pyproject.toml.
        let bad = "[project]\nname = \"app\"\n[tool.stator]\nextz = [\"py\"]\n";
        assert_eq!(
            merged(&[(PYPROJECT, bad)], &[]).unwrap_err(),
            "pyproject.toml:4: unknown key \"extz\" (did you mean \"exts\"?)"
        );
    }

    #[test]
    fn bad_files_are_one_line_naming_file_and_line() {
        let cases = [
            ("watch = [\"src\"]\ninterval = \"2\"\n", "stator.toml:2: interval: '2' needs a unit, e.g. 2ms or 2s"),
            ("ext = [\"py\"]\n", "stator.toml:1: unknown key \"ext\" (did you mean \"exts\"?)"),
            ("[tool.stator]\nexts = [\"py\"]\n", "stator.toml:1: [tool.stator] is for pyproject.toml"),
            ("\n\nfrobnicate = 1\n", "stator.toml:3: unknown key \"frobnicate\": the keys are the long flags' names"),
            ("clear = \"yes\"\n", "stator.toml:1: clear: expected true or false, found the string \"yes\""),
            ("interval = 1.5\n", "stator.toml:1: interval: expected a string (durations too"),
            ("interval = [\"1s\"]\n", "stator.toml:1: interval: takes one value, not a list"),
            ("on-busy = \"sometimes\"\n", "stator.toml:1: on-busy: "),
            ("watch = \"a\"\nwatch = \"b\"\n", "stator.toml:2: "),
            (
                "hot-interval = \"1s\"\nhot_interval = \"2s\"\n",
                "stator.toml:2: hot_interval is set twice (also on line 1)",
            ),
            ("command = \"python app.py\"\n", "stator.toml:1: command: \"python app.py\" is one string"),
            ("command = []\n", "stator.toml:1: command: the list is empty"),
            ("no-config = true\n", "stator.toml:1: no-config belongs on the command line"),
            ("help = true\n", "stator.toml:1: help belongs on the command line"),
            ("watch = [\"src\"\n", "stator.toml:1: "),
            ("x = \n", "stator.toml:1: "),
            ("watch = [\"src\"]\n", "no command given: put it after -- or in stator.toml"),
        ];
        for (toml, want) in cases {
            let err = merged(&[(STATOR_TOML, toml)], &[]).unwrap_err();
            assert!(err.starts_with(want), "{toml:?}:\n got {err:?}\nwant {want:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn a_string_command_is_a_shell_line_with_shell() {
        let m = merged(&[(STATOR_TOML, "shell = true\ncommand = \"make && ./app\"\n")], &[]).unwrap();
        assert_eq!(m.command, Some(vec![OsString::from("make && ./app")]));
        let m = merged(&[(STATOR_TOML, "command = \"make && ./app\"\n")], &["--shell"]).unwrap();
        assert_eq!(m.command, Some(vec![OsString::from("make && ./app")]));
        let m = merged(&[(STATOR_TOML, "command = \"make\"\n")], &[]).unwrap();
        assert_eq!(m.command, Some(vec![OsString::from("make")]));
    }

    #[test]
    fn no_config_help_and_version_leave_the_file_unread() {
        let bad = [(STATOR_TOML, "this is not toml")];
        for cli in [&["--no-config", "-v"][..], &["--help"], &["--version"]] {
            let m = merged(&bad, cli).unwrap();
            assert_eq!(m.file, None, "{cli:?}");
            assert_eq!(args(&m), cli);
        }
        assert!(merge(&files(&bad), &[], Some(vec!["x".into()])).is_err());
        // No file at all: the command line as it is.
        let m = merged(&[], &["-v"]).unwrap();
        assert_eq!((args(&m), m.file), (vec!["-v"], None));
    }

    #[test]
    fn a_file_that_cannot_be_read_is_an_error() {
        let read = |_: &str| -> io::Result<Option<String>> { Err(io::ErrorKind::PermissionDenied.into()) };
        let err = merge(&read, &[], None).unwrap_err();
        assert!(err.starts_with("cannot read stator.toml: ") && err.contains("--no-config"), "{err}");
    }

    #[test]
    fn given_reads_the_command_line_as_argh_does() {
        let flags = Args::get_args_info().flags;
        let g = Given::of(flags, &["-w", "src", "--interval=1s", "--ignore", "--verbose", "-q", "make", "-v"]);
        let mut names: Vec<&str> = g.flags.iter().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["ignore", "interval", "quiet", "watch"]);
        assert!(g.positional);
    }

    #[test]
    fn every_flag_can_be_written_in_the_file() {
        for flag in Args::get_args_info().flags {
            let name = flag.long.trim_start_matches('-');
            if COMMAND_LINE_ONLY.contains(&name) {
                continue;
            }
            let value = match flag.kind {
                FlagInfoKind::Switch => Value::Boolean(true),
                FlagInfoKind::Option { .. } => Value::String("x".into()),
            };
            let tokens = tokens(flag, &value).unwrap();
            assert_eq!(tokens[0], flag.long, "{name}");
        }
    }

    #[test]
    fn lines_and_distances() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
        assert_eq!(distance("ext", "exts"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
