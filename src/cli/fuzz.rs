//! The command-line parser for the `cli_parse` fuzz target (`fuzz/`), which cannot reach the private `cli`. Not part
//! of the library: the crate root re-exports it hidden from the docs, and it may change at any time.

use std::ffi::OsString;

use crate::config::Config;
use crate::exit::Exit;

/// The exit code of a bad command line (`Exit::Usage`).
pub const EXIT_USAGE: i32 = Exit::Usage.code();

/// What a command line parsed to, as far as the fuzz target checks it.
#[derive(Debug)]
pub enum Parsed {
    /// Print `output` and exit with `code` (0 for help, [`EXIT_USAGE`] otherwise).
    Exit {
        /// Text to print.
        output: String,
        /// Exit code.
        code: i32,
    },
    /// Run a command (or `--list`).
    Run {
        /// The engine's configuration.
        config: Config,
        /// `--list`.
        list: bool,
        /// The command and its arguments.
        command: Vec<OsString>,
    },
    /// `stator doctor`.
    Doctor {
        /// The roots and filters to examine.
        config: Config,
    },
}

/// Parses `args` (the program name first) as the `stator` command does.
pub fn parse(args: &[OsString]) -> Parsed {
    match super::parse(args) {
        super::Parsed::Exit { output, code } => Parsed::Exit { output, code: code.code() },
        super::Parsed::Run(inv) => Parsed::Run { config: inv.config, list: inv.list, command: inv.supervisor.command },
        super::Parsed::Doctor(opts) => Parsed::Doctor { config: opts.config },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_flag_is_a_usage_error() {
        let args: Vec<OsString> = ["stator", "--bogus"].into_iter().map(OsString::from).collect();
        assert!(matches!(parse(&args), Parsed::Exit { code: EXIT_USAGE, .. }));
    }
}
