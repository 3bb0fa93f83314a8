//! `stator doctor`'s own flags. The main command line is flat, with a greedy positional command, so `doctor` is
//! recognised as the first argument before the normal parse; a command literally named `doctor` runs with
//! `stator -- doctor`.

use std::path::PathBuf;

use argh::{ArgsInfo, FromArgs};

use super::{Parsed, argh_exit, config_file, habits, usage};
use crate::config::{Config, FilterConfig};
use crate::doctor::DoctorOptions;

#[derive(FromArgs, ArgsInfo, Debug)]
/// Explain how stator sees the filesystems under PATH (default: .): their type, network or FUSE, timestamp
/// granularity, clock skew, attribute caches and what to change, the files tracked, the cost of one scan and the
/// interval to use.
#[argh(
    example = "Check a project on an NFS share:\n  $ stator doctor /mnt/share/project",
    example = "Two roots, as JSON for a tool:\n  $ stator doctor --json -w src -w tests",
    note = "A small probe file (.#stator-doctor-*) is created and removed in each writable directory examined, \
            to measure clock skew. To run a command named doctor, use: stator -- doctor"
)]
struct DoctorArgs {
    /// also examine this file or directory (as stator's -w); repeatable
    #[argh(option, short = 'w')]
    watch: Vec<PathBuf>,

    /// only count files with these extensions, comma-separated (as stator's -e)
    #[argh(option, short = 'e')]
    exts: Vec<String>,

    /// only count files matching this glob (as stator's -f); repeatable
    #[argh(option, short = 'f')]
    filter: Vec<String>,

    /// ignore files and directories matching this glob (as stator's -i); repeatable
    #[argh(option, short = 'i')]
    ignore: Vec<String>,

    /// do not read .gitignore, .ignore, .git/info/exclude or git's global excludes
    #[argh(switch)]
    no_vcs_ignore: bool,

    /// do not ignore VCS directories, editor droppings, bytecode, node_modules, target, test caches,
    /// databases and logs by default
    #[argh(switch)]
    no_default_ignore: bool,

    /// print one JSON object instead of text
    #[argh(switch)]
    json: bool,

    /// do not take the roots and filters of stator.toml or pyproject.toml's [tool.stator]
    #[argh(switch)]
    #[allow(dead_code)] // read before the parse, by config_file::merge_for_doctor
    no_config: bool,

    /// the files or directories to examine (default: .)
    #[argh(positional)]
    paths: Vec<PathBuf>,
}

/// The doctor's flags, as argh describes them.
pub(super) fn flags() -> &'static [argh::FlagInfo<'static>] {
    DoctorArgs::get_args_info().flags
}

/// Parses the arguments after `doctor` (`name` is the program name, for the help text), with the roots and filters
/// of the project config file `read` finds, which the arguments override.
pub(super) fn parse(name: &str, args: &[&str], read: config_file::Reader<'_>) -> Parsed {
    let args = match habits::rewrite(args, &habits::Flags::of::<DoctorArgs>(), false) {
        Ok(args) => args,
        Err(msg) => return usage(msg),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (args, config_file) = match config_file::merge_for_doctor(read, &args, flags()) {
        Ok(merged) => merged,
        Err(msg) => return usage(format!("doctor: {msg}")),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = match DoctorArgs::from_args(&[name, "doctor"], &args) {
        Ok(a) => a,
        Err(exit) => return argh_exit(exit),
    };
    let mut roots = a.paths;
    roots.extend(a.watch);
    if roots.is_empty() {
        roots.push(PathBuf::from("."));
    }
    if roots.iter().any(|r| r.as_os_str().is_empty()) {
        return usage("doctor: an empty path");
    }
    let config = Config {
        roots,
        filter: FilterConfig {
            extensions: a.exts,
            include: a.filter,
            exclude: a.ignore,
            default_ignores: !a.no_default_ignore,
            vcs_ignores: !a.no_vcs_ignore,
        },
        ..Config::default()
    };
    Parsed::Doctor(Box::new(DoctorOptions { config, json: a.json, config_file }))
}
