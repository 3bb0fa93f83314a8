//! The command line: argh flags, turned into a [`Config`] and the options of the other parts, with the project
//! config file's settings (`config_file`) before them. No I/O: the file is read through the function given to
//! [`parse_with`].

mod config_file;
mod doctor;
mod duration;
pub mod fuzz;
mod habits;
mod words;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use argh::{ArgsInfo, FromArgs};

pub(crate) use duration::parse_duration;

use crate::config::{Config, FilterConfig};
use crate::doctor::DoctorOptions;
use crate::exit::{Exit, usage_line};
use crate::learn::LearnOptions;
use crate::report::Verbosity;
use crate::supervisor::sockets::SocketSpec;
use crate::supervisor::{Hooks, LogPattern, OnBusy, OnExit, Options, ReadyCheck, Signal};

#[derive(FromArgs, ArgsInfo, Debug)]
/// Run COMMAND, and restart it whenever a watched file changes. stator sees changes only by polling stat(2),
/// so it behaves the same on local disks, NFS and SMB mounts, Docker bind mounts, WSL's /mnt/c and CI
/// containers, where file-event watchers go deaf.
#[argh(
    example = "Restart a Rust server when src/ changes:\n  $ {command_name} -w src -e rs -- cargo run",
    example = "Re-run a Python test suite after every change:\n  $ {command_name} -e py -- pytest -x",
    example = "Watch an NFS/SMB share a little less often:\n  $ {command_name} -w /mnt/share --interval 2s -- make",
    example = "List what would be watched:\n  $ {command_name} -w src --list",
    example = "Build, then swap: the old server serves until the new build succeeded:\n  $ {command_name} -e go \
               --build 'go build -o app .' --ready-port 8080 -- ./app",
    note = "Flags that take a value take it as --flag value or --flag=value. Durations take a unit: 500ms, 2s, 1m. Globs without '/' match file names (*.pyc); globs with '/' \
            match paths relative to the watched root (src/**/*.rs). .gitignore, .ignore, .git/info/exclude and \
            git's global excludes are honoured; .git and editor droppings (*.swp, *~, .#*, 4913, .DS_Store) are \
            ignored, and so are Python bytecode (__pycache__, *.pyc), node_modules, cargo's target (beside a \
            Cargo.toml), test and lint caches (.pytest_cache, .mypy_cache, .ruff_cache), databases with their \
            journals (*.sqlite3, *.sqlite, *.db, *-journal, *-wal, *-shm) and logs (*.log); --no-default-ignore \
            watches them. The child gets STATOR_RUN (the run number) and STATOR_CHANGED_FILE (a file listing the \
            changed paths, one per line). With --on-exit exit, stator exits with the command's own exit code \
            (128+n if signal n killed it). Every command also gets STATOR_WATCH_FILE, a file it may append paths to, \
            one per line, for stator to watch too (--python and --node make Python and Node do it). When stdin is a \
            terminal, the command runs in its foreground, as in a shell: input(), pdb and TUIs work, Ctrl-C and \
            Ctrl-Z reach the command (a command that ends within 2s of a Ctrl-C ends stator with 130, one that \
            catches it goes on; a second Ctrl-C within 1s ends everything; Ctrl-Z suspends both, fg resumes both), \
            and stator restores the terminal's modes after each run. While the command is not running, Enter runs \
            it again; SIGUSR1 restarts it at any time (not on Windows). --build and the hooks take one command line \
            each, split at spaces ('...' and \"...\" keep spaces; nothing else is special, and no shell runs it unless \
            --shell); the build gets STATOR_BUILD, the hooks STATOR_HOOK, STATOR_RUN and (--on-success, \
            --on-failure) STATOR_EXIT_CODE; a hook's failure is a warning. `stator doctor [PATH]` explains the \
            filesystems under PATH; a command named doctor runs with `stator -- doctor`. Settings can also come from \
            stator.toml, or [tool.stator] in pyproject.toml, in the current directory: the long flags' names as keys \
            (watch = [\"src\"], interval = \"1s\", python = true) and command = [\"python\", \"app.py\"], so \
            `stator` alone runs it; flags given here replace the file's (lists too), and --no-SWITCH turns off a \
            switch the file turns on (--no-clear).",
    error_code(2, "bad command line, pattern, config file or env file"),
    error_code(126, "the command could not be executed"),
    error_code(127, "the command was not found"),
    error_code(130, "stopped by Ctrl-C (SIGINT)"),
    error_code(143, "stopped by SIGTERM (129 for SIGHUP)")
)]
struct Args {
    /// file or directory to watch, recursively; repeatable; need not exist yet (default: .)
    #[argh(option, short = 'w')]
    watch: Vec<PathBuf>,

    /// only watch files with these extensions, comma-separated (e.g. rs,toml)
    #[argh(option, short = 'e')]
    exts: Vec<String>,

    /// only watch files matching this glob; repeatable
    #[argh(option, short = 'f')]
    filter: Vec<String>,

    /// ignore files and directories matching this glob (directories are not descended); repeatable
    #[argh(option, short = 'i')]
    ignore: Vec<String>,

    /// do not read .gitignore, .ignore, .git/info/exclude or git's global excludes
    #[argh(switch)]
    no_vcs_ignore: bool,

    /// do not ignore VCS directories, editor droppings, bytecode, node_modules, target, test caches,
    /// databases and logs by default
    #[argh(switch)]
    no_default_ignore: bool,

    /// time from one scan's start to the next (default: 500ms)
    #[argh(option, from_str_fn(parse_duration))]
    interval: Option<Duration>,

    /// re-list directories on network, FUSE and overlay filesystems this often, whatever their mtime says (default: 10s)
    #[argh(option, from_str_fn(parse_duration))]
    rescan: Option<Duration>,

    /// a burst of changes is over after this long without another (default: 200ms)
    #[argh(option, from_str_fn(parse_duration))]
    settle: Option<Duration>,

    /// re-check recently changed files this often between full scans; 0s turns the hot tier off (default: 100ms)
    #[argh(option, from_str_fn(parse_duration))]
    hot_interval: Option<Duration>,

    /// restart anyway once a burst has lasted this long (default: 5s)
    #[argh(option, from_str_fn(parse_duration))]
    max_wait: Option<Duration>,

    /// assume this timestamp granularity everywhere instead of learning it per filesystem (e.g. 2s)
    #[argh(option, from_str_fn(parse_duration))]
    granularity: Option<Duration>,

    /// do not count ctime-only changes (chmod, chown, hard links) as changes
    #[argh(switch)]
    no_ctime: bool,

    /// restart even when every changed file holds the bytes the command started with (by default such a set,
    /// a save without an edit or a generator writing the same output, restarts nothing)
    #[argh(switch)]
    no_skip_unchanged: bool,

    /// print the watched files, one per line, and exit
    #[argh(switch)]
    list: bool,

    /// print only errors
    #[argh(switch, short = 'q')]
    quiet: bool,

    /// print more: every changed path with the fingerprint field that changed, what scans cost (a summary every 10
    /// scans), what was learned of each filesystem
    #[argh(switch, short = 'v')]
    verbose: bool,

    /// print events as JSON lines on stderr instead of text
    #[argh(switch)]
    json: bool,

    /// signal that stops the command's process group, to restart it or at the end: TERM, INT, HUP, QUIT, KILL,
    /// USR1, USR2 (default: TERM); on Windows every one but KILL is sent as CTRL_BREAK_EVENT, and KILL terminates
    /// the command's job at once
    #[argh(option)]
    stop_signal: Option<Signal>,

    /// with --on-busy signal: the signal sent on each change instead of a restart (default: HUP); without it, the
    /// same as --stop-signal (as before --stop-signal existed)
    #[argh(option)]
    signal: Option<Signal>,

    /// how long the command gets to stop before it is killed with SIGKILL (default: 10s)
    #[argh(option, from_str_fn(parse_duration))]
    stop_timeout: Option<Duration>,

    /// what a change does while the command runs: restart, queue (rerun when it ends) or signal (send --signal,
    /// HUP by default, for programs that reload on it; Windows: CTRL_BREAK_EVENT) (default: restart)
    #[argh(option)]
    on_busy: Option<OnBusy>,

    /// what happens when the command ends by itself: wait (for the next change), restart (with a growing delay),
    /// exit (with the command's exit code) (default: wait)
    #[argh(option)]
    on_exit: Option<OnExit>,

    /// restart at once, without a change, when the command exits with this code (Django's protocol uses 3)
    #[argh(option)]
    reload_code: Option<i32>,

    /// wait for the first change before running the command
    #[argh(switch)]
    postpone: bool,

    /// clear the screen before each run, then say why it runs (only when stdout is a terminal)
    #[argh(switch, short = 'c')]
    clear: bool,

    /// restart the command whenever this file changes (touch it from a script or an editor); watched whatever
    /// the filters say, need not exist yet; repeatable
    #[argh(option)]
    trigger: Vec<PathBuf>,

    /// keep the terminal from the command: it runs in the background of the terminal (reading it stops it, and
    /// Ctrl-C and Ctrl-Z go to stator)
    #[argh(switch)]
    no_tty: bool,

    /// run the command (and --build, the hooks) through `sh -c` (default: executed directly, so file names never
    /// reach a shell)
    #[argh(switch)]
    shell: bool,

    /// make Python commands report every module they import, and the file of a failed import, so editing it
    /// restarts them (a sitecustomize shim put first on PYTHONPATH)
    #[argh(switch)]
    python: bool,

    /// make Node commands report every file they require (a hook added to NODE_OPTIONS)
    #[argh(switch)]
    node: bool,

    /// also watch every file this Makefile-style dependency file lists (gcc -MD, cargo's target/*/*.d), read
    /// again when it changes; repeatable
    #[argh(option)]
    dep_file: Vec<PathBuf>,

    /// print stator's version and exit
    #[argh(switch, short = 'V')]
    version: bool,

    /// also set the variables of this file (KEY=VALUE lines, # comments) for the command, read again at each run
    /// and watched; repeatable, later files win
    #[argh(option)]
    env_file: Vec<PathBuf>,

    /// do not read stator.toml, nor [tool.stator] in pyproject.toml (read from the current directory otherwise;
    /// their keys are the long flags' names, and the flags given here override them)
    #[argh(switch)]
    #[expect(dead_code, reason = "config_file::merge reads it from the command line, before argh")]
    no_config: bool,

    /// build first: run this command on every change (and before the first run) while the running command keeps
    /// going, and restart it only when the build succeeds; a failed build keeps the old run, a change during the
    /// build cancels it and builds again
    #[argh(option)]
    build: Option<String>,

    /// the command is ready when localhost:PORT (127.0.0.1 or ::1) accepts a TCP connection: stator says "ready
    /// after ..." and runs --on-ready
    #[argh(option)]
    ready_port: Option<u16>,

    /// the command is ready when a line of its stdout or stderr matches this regular expression; stator then reads
    /// its output through a pipe and forwards it unchanged, so the command's output is not a terminal (colours may
    /// go; Python buffers it unless PYTHONUNBUFFERED=1); its input still is
    #[argh(option)]
    ready_log: Option<String>,

    /// run this command each time the command is ready (--ready-port, --ready-log)
    #[argh(option)]
    on_ready: Option<String>,

    /// run this command each time the command (with --build: the build) ends with exit code 0
    #[argh(option)]
    on_success: Option<String>,

    /// run this command each time the command (with --build: the build) ends with another code or a signal
    #[argh(option)]
    on_failure: Option<String>,

    /// bind this socket once and give it to every run of the command as fd 3 (then 4, ...) with LISTEN_FDS, as
    /// systemfd does, so restarts refuse no connection: PORT (on 127.0.0.1), HOST:PORT, tcp::, http::, udp::ADDR,
    /// unix::PATH; repeatable (Unix)
    #[argh(option)]
    socket: Vec<SocketSpec>,

    /// the command to run, and its arguments (put them after --)
    #[argh(positional, greedy)]
    command: Vec<String>,
}

/// Everything the command line asked for.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// The engine's configuration.
    pub config: Config,
    /// Print the watched files and exit.
    pub list: bool,
    /// How much to say.
    pub verbosity: Verbosity,
    /// Say it as JSON lines.
    pub json: bool,
    /// How to run and restart the command.
    pub supervisor: Options,
    /// Wait for the first change before the first run.
    pub postpone: bool,
    /// Clear the screen before each run.
    pub clear: bool,
    /// Files to watch beyond the roots: reported by the child, or listed by dependency files.
    pub learn: LearnOptions,
    /// Files whose change restarts the command whatever `--on-busy` says (`--trigger`).
    pub triggers: Vec<PathBuf>,
    /// Hand the terminal to the command when stdin is one (not `--no-tty`).
    pub tty: bool,
    /// The project config file the settings came from, if one was read.
    pub config_file: Option<&'static str>,
    /// A settled set whose files all hold the bytes the current run started with restarts nothing (not
    /// `--no-skip-unchanged`).
    pub skip_unchanged: bool,
}

/// What parsing decided.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Run with these options.
    Run(Box<Invocation>),
    /// `stator doctor`: examine the filesystems under these roots.
    Doctor(Box<DoctorOptions>),
    /// Print `output` (help on stdout when `code` is [`Exit::Success`], an error on stderr otherwise) and exit with
    /// `code`.
    Exit {
        /// Text to print.
        output: String,
        /// How to exit: [`Exit::Success`] (help) or [`Exit::Usage`].
        code: Exit,
    },
}

fn usage(msg: impl Into<String>) -> Parsed {
    Parsed::Exit { output: usage_line(&msg.into()), code: Exit::Usage }
}

/// What argh says (help on success, an error otherwise), as a [`Parsed::Exit`]: errors in the one `stator: ...`
/// form.
fn argh_exit(exit: argh::EarlyExit) -> Parsed {
    if exit.status.is_ok() {
        return Parsed::Exit { output: exit.output.trim_end().to_string(), code: Exit::Success };
    }
    usage(argh_message(exit.output.trim()))
}

/// argh's error message, reworded as one line: `Unrecognized argument: --bogus` becomes `unrecognized argument:
/// --bogus (stator --help lists the flags)`, `Error parsing option '--interval' with value '2': why` becomes
/// `--interval: why`.
fn argh_message(out: &str) -> String {
    if let Some(arg) = out.strip_prefix("Unrecognized argument: ") {
        return format!("unrecognized argument: {arg} (stator --help lists the flags)");
    }
    if let Some(rest) = out.strip_prefix("Error parsing option '")
        && let Some((flag, rest)) = rest.split_once("' with value '")
        && let Some((_, why)) = rest.split_once("': ")
    {
        return format!("{flag}: {why}");
    }
    if let Some(flag) = out.strip_prefix("No value provided for option '").and_then(|r| r.strip_suffix("'.")) {
        return format!("{flag} needs a value");
    }
    let one_line = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = one_line.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// `stator --version`.
fn version() -> Parsed {
    Parsed::Exit { output: format!("stator {}", env!("CARGO_PKG_VERSION")), code: Exit::Success }
}

/// Parses `args` (the program name first), without a project config file. Everything after the first `--` is the
/// command, passed through untouched (it may be any bytes); the flags before it must be UTF-8.
pub(crate) fn parse(args: &[OsString]) -> Parsed {
    parse_with(args, &|_| Ok(None))
}

/// [`parse`], with the settings of the project config file `read` finds (`stator.toml`, or `[tool.stator]` in
/// `pyproject.toml`) before the command line's, which override them.
pub(crate) fn parse_with(args: &[OsString], read: config_file::Reader<'_>) -> Parsed {
    let name = args.first().and_then(|a| a.to_str()).map_or("stator", |n| n.rsplit('/').next().unwrap_or(n));
    let rest = args.get(1..).unwrap_or_default();
    if rest.first().is_some_and(|a| a == "doctor") {
        let mut strs = Vec::with_capacity(rest.len());
        for arg in &rest[1..] {
            match arg.to_str() {
                Some(s) => strs.push(s),
                None => return usage(format!("{} is not valid UTF-8", arg.display())),
            }
        }
        return doctor::parse(name, &strs, read);
    }
    let (flags, command) = match rest.iter().position(|a| a == "--") {
        Some(i) => (&rest[..i], Some(rest[i + 1..].to_vec())),
        None => (rest, None),
    };
    let mut strs = Vec::with_capacity(flags.len());
    for flag in flags {
        match flag.to_str() {
            Some(s) => strs.push(s),
            None => return usage(format!("{} is not valid UTF-8; non-UTF-8 arguments go after --", flag.display())),
        }
    }
    let strs = match habits::rewrite(&strs, &habits::Flags::of::<Args>(), true) {
        Ok(strs) => strs,
        Err(msg) => return usage(msg),
    };
    let strs: Vec<&str> = strs.iter().map(String::as_str).collect();
    let merged = match config_file::merge(read, &strs, command) {
        Ok(merged) => merged,
        Err(msg) => return usage(msg),
    };
    let (command, file) = (merged.command, merged.file);
    let strs: Vec<&str> = merged.args.iter().map(String::as_str).collect();
    let parsed = match Args::from_args(&[name], &strs) {
        Ok(parsed) => parsed,
        Err(exit) => return argh_exit(exit),
    };
    if parsed.version {
        return version();
    }
    let command = command.unwrap_or_else(|| parsed.command.iter().map(OsString::from).collect());
    match invocation(parsed, command) {
        Ok(inv) => Parsed::Run(Box::new(Invocation { config_file: file, ..inv })),
        Err(msg) => match file {
            Some(file) => usage(format!("{msg} (with the settings of {file})")),
            None => usage(msg),
        },
    }
}

fn invocation(a: Args, command: Vec<OsString>) -> Result<Invocation, String> {
    if command.is_empty() && !a.list {
        return Err("no command given; for example: stator -w src -- cargo run".into());
    }
    if a.quiet && a.verbose {
        return Err("-q and -v contradict each other".into());
    }
    let defaults = Config::default();
    let interval = a.interval.unwrap_or(defaults.interval);
    if interval.is_zero() {
        return Err("--interval must be longer than 0".into());
    }
    if a.hot_interval.is_some_and(|h| !h.is_zero() && h >= interval) {
        return Err("--hot-interval must be shorter than --interval (or 0s to turn the hot tier off)".into());
    }
    let config = Config {
        roots: if a.watch.is_empty() { defaults.roots } else { a.watch },
        filter: FilterConfig {
            extensions: a.exts,
            include: a.filter,
            exclude: a.ignore,
            default_ignores: !a.no_default_ignore,
            vcs_ignores: !a.no_vcs_ignore,
        },
        interval,
        rescan: a.rescan.unwrap_or(defaults.rescan),
        settle: a.settle.unwrap_or(defaults.settle),
        max_wait: a.max_wait.unwrap_or(defaults.max_wait),
        granularity: a.granularity,
        trust_ctime: !a.no_ctime,
        hash_limit: defaults.hash_limit,
        hot_interval: a.hot_interval.unwrap_or(defaults.hot_interval),
        hot_for: defaults.hot_for,
    };
    let verbosity = match (a.quiet, a.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    // One command line each: split into words, or with --shell handed to the shell as it is.
    let line = |flag: &str, value: Option<String>| -> Result<Option<Vec<OsString>>, String> {
        let Some(value) = value else { return Ok(None) };
        let words = if a.shell {
            if value.trim().is_empty() {
                return Err(format!("{flag} needs a command"));
            }
            vec![value]
        } else {
            words::split(flag, &value)?
        };
        Ok(Some(words.into_iter().map(OsString::from).collect()))
    };
    let build = line("--build", a.build.clone())?;
    let hooks = Hooks {
        on_ready: line("--on-ready", a.on_ready.clone())?,
        on_success: line("--on-success", a.on_success.clone())?,
        on_failure: line("--on-failure", a.on_failure.clone())?,
    };
    if let Some(port) = a.ready_port.filter(|p| a.socket.iter().any(|s| s.tcp_port() == Some(*p))) {
        return Err(format!(
            "--ready-port {port} is a port stator holds with --socket: it accepts at once, whatever the command \
             does; use --ready-log"
        ));
    }
    if cfg!(windows) && !a.socket.is_empty() {
        return Err("--socket is not supported on Windows yet (systemfd's Windows protocol is not built)".into());
    }
    if a.ready_port == Some(0) {
        return Err("--ready-port must be a port number from 1 to 65535".into());
    }
    let log = match &a.ready_log {
        Some(pattern) => Some(LogPattern::new(pattern).map_err(|e| format!("invalid --ready-log pattern: {e}"))?),
        None => None,
    };
    let ready = ReadyCheck { port: a.ready_port, log };
    if hooks.on_ready.is_some() && ready.is_empty() {
        return Err("--on-ready needs --ready-port or --ready-log (they say when the command is ready)".into());
    }
    let run_defaults = Options::default();
    let on_busy = a.on_busy.unwrap_or(run_defaults.on_busy);
    // `--signal` is the reload signal of `--on-busy signal`. Elsewhere it keeps its old meaning, the stop signal,
    // unless `--stop-signal` says otherwise: then it would do nothing, which is worth saying.
    let (stop_signal, reload_signal) = match (on_busy, a.stop_signal, a.signal) {
        (OnBusy::Signal, stop, reload) => (stop, reload),
        (_, None, old) => (old, None),
        (_, Some(_), Some(_)) => {
            return Err("--signal is the signal --on-busy signal sends on a change; without --on-busy signal, \
                        use --stop-signal alone"
                .into());
        }
        (_, stop, None) => (stop, None),
    };
    let supervisor = Options {
        command,
        shell: a.shell,
        stop_signal: stop_signal.unwrap_or(run_defaults.stop_signal),
        reload_signal: reload_signal.unwrap_or(run_defaults.reload_signal),
        stop_timeout: a.stop_timeout.unwrap_or(run_defaults.stop_timeout),
        on_busy,
        on_exit: a.on_exit.unwrap_or(run_defaults.on_exit),
        reload_code: a.reload_code,
        env: Vec::new(),
        env_files: a.env_file,
        build,
        ready,
        hooks,
        sockets: a.socket,
    };
    let learn = LearnOptions { python: a.python, node: a.node, dep_files: a.dep_file };
    Ok(Invocation {
        config,
        list: a.list,
        verbosity,
        json: a.json,
        supervisor,
        postpone: a.postpone,
        clear: a.clear,
        learn,
        triggers: a.trigger,
        tty: !a.no_tty,
        skip_unchanged: !a.no_skip_unchanged,
        config_file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Parsed {
        let args: Vec<OsString> = std::iter::once("stator").chain(args.iter().copied()).map(OsString::from).collect();
        parse(&args)
    }

    fn ok(args: &[&str]) -> Invocation {
        match run(args) {
            Parsed::Run(inv) => *inv,
            Parsed::Exit { output, code } => panic!("{args:?}: exit {code:?}: {output}"),
            Parsed::Doctor(opts) => panic!("{args:?}: doctor {opts:?}"),
        }
    }

    fn exit_code(args: &[&str]) -> (Exit, String) {
        match run(args) {
            Parsed::Exit { output, code } => (code, output),
            Parsed::Run(inv) => panic!("{args:?} parsed: {inv:?}"),
            Parsed::Doctor(opts) => panic!("{args:?} parsed: doctor {opts:?}"),
        }
    }

    #[test]
    fn the_issue_synopsis_parses() {
        let inv = ok(&[
            "-w",
            "src",
            "-w",
            "Cargo.toml",
            "-e",
            "rs,toml",
            "-i",
            "*.tmp",
            "--interval",
            "2s",
            "--",
            "cargo",
            "run",
            "--release",
        ]);
        assert_eq!(inv.config.roots, vec![PathBuf::from("src"), PathBuf::from("Cargo.toml")]);
        assert_eq!(inv.config.filter.extensions, vec!["rs,toml"]);
        assert_eq!(inv.config.filter.exclude, vec!["*.tmp"]);
        assert_eq!(inv.config.interval, Duration::from_secs(2));
        assert_eq!(inv.supervisor.command, vec![OsString::from("cargo"), "run".into(), "--release".into()]);
    }

    #[test]
    fn defaults_watch_the_current_directory() {
        let inv = ok(&["--", "make"]);
        assert_eq!(inv.config.roots, vec![PathBuf::from(".")]);
        assert_eq!(inv.config, Config { roots: vec![".".into()], ..Config::default() });
        assert_eq!(inv.verbosity, Verbosity::Normal);
    }

    #[test]
    fn command_without_double_dash_is_taken_greedily() {
        let inv = ok(&["-w", "src", "make", "test"]);
        assert_eq!(inv.supervisor.command, vec![OsString::from("make"), "test".into()]);
    }

    #[test]
    fn list_needs_no_command() {
        assert!(ok(&["--list"]).list);
    }

    #[test]
    fn usage_errors_exit_2_with_one_clear_line() {
        for args in [
            &["--interval", "2", "--", "x"][..],
            &["--interval", "0s", "--", "x"],
            &["--bogus", "--", "x"],
            &[],
            &["-q", "-v", "--", "x"],
        ] {
            let (code, out) = exit_code(args);
            assert_eq!(code, Exit::Usage, "{args:?}");
            assert!(!out.is_empty());
        }
        assert!(exit_code(&[]).1.contains("no command given"));
    }

    #[test]
    fn every_usage_error_is_one_line_in_the_stator_form() {
        for args in [
            &["--interval", "2", "--", "x"][..],
            &["--interval=2", "--", "x"],
            &["--interval", "0s", "--", "x"],
            &["--interval"],
            &["--bogus", "--", "x"],
            &["--bogus=1", "--", "x"],
            &["-p", "--", "x"],
            &["--list=yes"],
            &[],
            &["-q", "-v", "--", "x"],
            &["--signal", "INT", "--stop-signal", "TERM", "--", "x"],
            &["--stop-signal", "STOP", "--", "x"],
            &["doctor", "--bogus"],
            &["doctor", "--json=1"],
            &["doctor", ""],
        ] {
            let (code, out) = exit_code(args);
            assert_eq!(code, Exit::Usage, "{args:?}");
            assert!(out.starts_with("stator: ") && !out.contains('\n'), "{args:?}: {out:?}");
        }
        assert_eq!(exit_code(&["--interval=2", "--", "x"]).1, "stator: --interval: '2' needs a unit, e.g. 2ms or 2s");
        assert_eq!(
            exit_code(&["--bogus", "--", "x"]).1,
            "stator: unrecognized argument: --bogus (stator --help lists the flags)"
        );
        assert_eq!(exit_code(&["--interval"]).1, "stator: --interval needs a value");
    }

    #[test]
    fn flag_equals_value_is_accepted_for_every_flag_that_takes_a_value() {
        let inv = ok(&["--interval=1s", "--ignore=*.o", "--watch=src", "-e", "rs", "--settle=50ms", "--", "make"]);
        assert_eq!(inv.config.interval, Duration::from_secs(1));
        assert_eq!(inv.config.filter.exclude, ["*.o"]);
        assert_eq!(inv.config.roots, [PathBuf::from("src")]);
        assert_eq!(inv.config.settle, Duration::from_millis(50));
        // A greedy command keeps its own `--flag=value` arguments.
        let inv = ok(&["--interval=1s", "cargo", "test", "--jobs=2"]);
        assert_eq!(inv.supervisor.command, [OsString::from("cargo"), "test".into(), "--jobs=2".into()]);
        // The doctor's flags too.
        let d = match run(&["doctor", "--ignore=node_modules", "--watch=src"]) {
            Parsed::Doctor(d) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!(d.config.filter.exclude, ["node_modules"]);
        assert_eq!(d.config.roots, [PathBuf::from("src")]);
        // Every option argh knows of splits; no switch does.
        for flag in habits::Flags::of::<Args>().options() {
            let args = [format!("{flag}=x")];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let rewritten = habits::rewrite(&args, &habits::Flags::of::<Args>(), true).unwrap();
            assert_eq!(rewritten, [flag.as_str(), "x"], "{flag}");
        }
    }

    #[test]
    fn version_exits_0_with_the_version() {
        for args in [&["--version"][..], &["-V"], &["-w", "src", "-V"]] {
            let (code, out) = exit_code(args);
            assert_eq!(code, Exit::Success, "{args:?}");
            assert_eq!(out, format!("stator {}", env!("CARGO_PKG_VERSION")));
        }
        // In the command, it is the command's.
        assert_eq!(ok(&["python", "-V"]).supervisor.command, [OsString::from("python"), "-V".into()]);
    }

    #[test]
    fn peers_flags_get_a_hint_and_never_shadow_a_flag_of_stators() {
        for (flag, hint) in [("-r", "by default"), ("-p", "--postpone"), ("-d", "--settle"), ("--delay", "--settle")] {
            let (code, out) = exit_code(&[flag, "--", "x"]);
            assert_eq!(code, Exit::Usage);
            assert!(out.contains(hint), "{flag}: {out}");
        }
        assert!(exit_code(&["--ext", "py", "--", "x"]).1.contains("-e/--exts"));
        let flags = habits::Flags::of::<Args>();
        for peer in ["-r", "-p", "-d", "--delay", "--ext"] {
            assert!(!flags.has(peer), "{peer} is a flag of stator's now: drop its hint");
        }
    }

    #[test]
    fn the_stop_signal_and_the_reload_signal_are_apart() {
        let signals = |args: &[&str]| {
            let inv = ok(args);
            (inv.supervisor.stop_signal, inv.supervisor.reload_signal)
        };
        // --on-busy signal: --signal is what a change sends; stopping stays TERM unless --stop-signal says.
        assert_eq!(signals(&["--on-busy", "signal", "--", "x"]), (Signal::Term, Signal::Hup));
        assert_eq!(signals(&["--on-busy", "signal", "--signal", "USR1", "--", "x"]), (Signal::Term, Signal::Usr1));
        assert_eq!(
            signals(&["--on-busy", "signal", "--signal", "HUP", "--stop-signal", "INT", "--", "x"]),
            (Signal::Int, Signal::Hup)
        );
        // Otherwise --signal is still the stop signal, as it was before --stop-signal.
        assert_eq!(signals(&["--signal", "INT", "--", "x"]).0, Signal::Int);
        assert_eq!(signals(&["--stop-signal", "INT", "--", "x"]).0, Signal::Int);
        assert_eq!(signals(&["--", "x"]).0, Signal::Term);
    }

    #[test]
    fn help_exits_0_and_lists_every_flag_with_examples() {
        let (code, out) = exit_code(&["--help"]);
        assert_eq!(code, Exit::Success);
        for flag in [
            "--watch",
            "--exts",
            "--filter",
            "--ignore",
            "--interval",
            "--list",
            "--no-vcs-ignore",
            "--stop-signal",
            "--version",
            "Examples",
        ] {
            assert!(out.contains(flag), "help lacks {flag}:\n{out}");
        }
    }

    #[test]
    fn a_short_interval_alone_never_leaves_a_longer_hot_interval() {
        use crate::poll::Cadence;
        for interval in ["10ms", "50ms", "100ms", "150ms", "2s"] {
            let inv = ok(&["--interval", interval, "--", "x"]);
            let hot = Cadence::new(&inv.config, std::time::Instant::now()).hot_interval();
            assert!(hot.is_some_and(|h| h <= inv.config.interval), "--interval {interval}: hot {hot:?}");
        }
    }

    #[test]
    fn help_lists_the_exit_codes_as_exit_decides_them() {
        let (_, out) = exit_code(&["--help"]);
        for exit in [Exit::Usage, Exit::CannotExecute, Exit::NotFound, Exit::Stopped(2), Exit::Stopped(15)] {
            let code = exit.code().to_string();
            assert!(
                out.lines().any(|l| l.split_whitespace().next() == Some(code.as_str())),
                "help lacks exit code {code}:\n{out}"
            );
        }
        assert!(out.contains(&format!("{} for SIGHUP", Exit::Stopped(1).code())), "{out}");
    }

    #[test]
    fn learning_flags_parse() {
        let inv = ok(&["--python", "--dep-file", "a.d", "--dep-file", "target/debug/app.d", "--", "python", "x.py"]);
        assert_eq!(
            inv.learn,
            LearnOptions { python: true, node: false, dep_files: vec!["a.d".into(), "target/debug/app.d".into()] }
        );
        assert!(ok(&["--node", "--", "node", "app.js"]).learn.node);
        assert_eq!(ok(&["--", "make"]).learn, LearnOptions::default());
    }

    #[test]
    fn trigger_and_no_tty_parse() {
        let inv = ok(&["--trigger", ".reload", "--trigger", "/tmp/x", "--no-tty", "--", "make"]);
        assert_eq!(inv.triggers, [PathBuf::from(".reload"), PathBuf::from("/tmp/x")]);
        assert!(!inv.tty);
        let inv = ok(&["--", "make"]);
        assert!(inv.triggers.is_empty());
        assert!(inv.tty, "the terminal goes to the command by default");
        let (_, help) = exit_code(&["--help"]);
        for text in ["--trigger", "--no-tty", "Enter runs it again", "SIGUSR1", "not on Windows"] {
            assert!(help.contains(text), "help lacks {text}:\n{help}");
        }
    }

    #[test]
    fn build_readiness_and_hook_flags_parse() {
        let words = |v: &[&str]| Some(v.iter().map(OsString::from).collect::<Vec<_>>());
        let inv = ok(&[
            "--build",
            "cargo build --bin 'my app'",
            "--ready-port",
            "8000",
            "--ready-log",
            "^Listening on",
            "--on-ready",
            "curl -s http://127.0.0.1:8000/warm",
            "--on-success",
            "notify-send ok",
            "--on-failure",
            "notify-send 'it failed'",
            "--",
            "./app",
        ]);
        let opts = &inv.supervisor;
        assert_eq!(opts.build, words(&["cargo", "build", "--bin", "my app"]));
        assert_eq!(opts.ready.port, Some(8000));
        assert_eq!(opts.ready.log.as_ref().map(LogPattern::as_str), Some("^Listening on"));
        assert_eq!(opts.hooks.on_ready, words(&["curl", "-s", "http://127.0.0.1:8000/warm"]));
        assert_eq!(opts.hooks.on_success, words(&["notify-send", "ok"]));
        assert_eq!(opts.hooks.on_failure, words(&["notify-send", "it failed"]));
        // With --shell, the shell gets each line as it is.
        let inv = ok(&["--shell", "--build", "make  && echo 'done'", "--on-failure", "say $X", "--", "./app"]);
        assert_eq!(inv.supervisor.build, words(&["make  && echo 'done'"]));
        assert_eq!(inv.supervisor.hooks.on_failure, words(&["say $X"]));
        let none = ok(&["--", "make"]).supervisor;
        assert_eq!((none.build, none.ready, none.hooks), (None, ReadyCheck::default(), Hooks::default()));
        for (args, says) in [
            (&["--ready-port", "0", "--", "x"][..], "--ready-port must be"),
            (&["--socket", "8000", "--ready-port", "8000", "--", "x"][..], "is a port stator holds with --socket"),
            (&["--socket", "tcp::0", "--", "x"][..], "port 0 would be"),
            (&["--ready-port", "70000", "--", "x"], "--ready-port"),
            (&["--ready-log", "(", "--", "x"], "invalid --ready-log pattern"),
            (&["--build", "a \"b", "--", "x"], "--build: the quote \" is not closed"),
            (&["--shell", "--build", " ", "--", "x"], "--build needs a command"),
            (&["--on-success", "", "--", "x"], "--on-success needs a command"),
            (&["--on-ready", "x", "--", "x"], "--on-ready needs --ready-port or --ready-log"),
        ] {
            let (code, out) = exit_code(args);
            assert_eq!(code, Exit::Usage, "{args:?}");
            assert!(out.contains(says), "{args:?}: {out}");
        }
        let (_, help) = exit_code(&["--help"]);
        for text in [
            "--build",
            "--ready-port",
            "--ready-log",
            "through a pipe",
            "--on-ready",
            "--on-success",
            "--on-failure",
            "STATOR_EXIT_CODE",
        ] {
            assert!(help.contains(text), "help lacks {text}:\n{help}");
        }
    }

    #[test]
    fn doctor_is_a_subcommand_only_as_the_first_argument() {
        let doctor = |args: &[&str]| match run(args) {
            Parsed::Doctor(opts) => *opts,
            other => panic!("{args:?}: {other:?}"),
        };
        let d = doctor(&["doctor"]);
        assert_eq!(d.config.roots, [PathBuf::from(".")]);
        assert!(!d.json);
        let d = doctor(&["doctor", "/mnt/share", "-w", "src", "--json", "-e", "py", "-i", "node_modules"]);
        assert_eq!(d.config.roots, [PathBuf::from("/mnt/share"), PathBuf::from("src")]);
        assert!(d.json);
        assert_eq!(d.config.filter.extensions, ["py"]);
        assert_eq!(d.config.filter.exclude, ["node_modules"]);
        // A command named doctor still runs.
        assert_eq!(ok(&["--", "doctor", "x"]).supervisor.command, [OsString::from("doctor"), "x".into()]);
        assert_eq!(ok(&["-w", "src", "doctor"]).supervisor.command, [OsString::from("doctor")]);
        let (code, help) = exit_code(&["doctor", "--help"]);
        assert_eq!(code, Exit::Success);
        assert!(
            help.contains("stator doctor") && help.contains("--json") && help.contains("stator -- doctor"),
            "{help}"
        );
        assert_eq!(exit_code(&["doctor", "--bogus"]).0, Exit::Usage);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_command_arguments_pass_through_after_double_dash() {
        use std::os::unix::ffi::OsStringExt;
        let weird = OsString::from_vec(b"caf\xe9.txt".to_vec());
        let args = vec![OsString::from("stator"), "--".into(), "cat".into(), weird.clone()];
        match parse(&args) {
            Parsed::Run(inv) => assert_eq!(inv.supervisor.command[1], weird),
            Parsed::Exit { output, .. } => panic!("{output}"),
            Parsed::Doctor(opts) => panic!("doctor {opts:?}"),
        }
        let args = vec![OsString::from("stator"), "-w".into(), weird, "--".into(), "x".into()];
        assert!(matches!(parse(&args), Parsed::Exit { code: Exit::Usage, .. }));
    }
}
