//! How the `stator` command ends: every exit code is decided here, and only here. The README's exit-code table
//! and the `--help` text's list (`error_code` in `cli`) say the same.
//!
//! | code | when |
//! |---|---|
//! | 0 | `--help`, `--version`, `--list`, `stator doctor`'s report on every path it was given |
//! | 1 | stator itself failed (see [`Exit::Failure`]), a `--socket` cannot be bound; `stator doctor` could not examine a path it was given |
//! | 2 | a bad command line, pattern, project config file or `--env-file` |
//! | 126 | the command exists but cannot be executed |
//! | 127 | the command was not found |
//! | 128 + n | stator was stopped by signal n: 130 for SIGINT (Ctrl-C, also when it reached the command in the
//! |  | terminal's foreground and the command ended), 143 for SIGTERM, 129 for SIGHUP |
//! | any | with `--on-exit exit`: the command's own exit code (128 + n if signal n killed it) |

use crate::supervisor::{SpawnError, Termination};

/// SIGINT's number, on every platform (Windows' C runtime uses the same).
const SIGINT: i32 = 2;

/// One way `stator` ends; [`Exit::code`] is the process exit code it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done as asked: `--help` (or `doctor --help`), `--version`, `--list`, `stator doctor`'s report on every
    /// path it was given.
    Success,
    /// 1: stator itself failed: the signal handlers could not be installed, the signal channel broke, or a
    /// `--socket` could not be bound (before any run). Also `stator doctor` when a path it was given does not exist,
    /// or was not examined (a special file, a kernel pseudo-filesystem like `/proc`): after its report, which says
    /// why.
    Failure,
    /// 2: a bad command line (an unknown flag, a bad duration, `-q` with `-v`, no command), a bad pattern (`-f`,
    /// `-i`, an ignore file's line that is not a glob), a bad project config file (`stator.toml`, `[tool.stator]`:
    /// named with its line) or an `--env-file` that cannot be read or has a bad line at the start; also an empty
    /// command reaching the supervisor.
    Usage,
    /// 126: the command exists but could not be executed (no permission, not an executable, any other failure to
    /// spawn it), as in a shell. Only for the first run: later failures wait for the next change.
    CannotExecute,
    /// 127: the command was not found, as in a shell. Only for the first run.
    NotFound,
    /// 130: the command held the terminal, a Ctrl-C reached it and it ended (or a second Ctrl-C ended everything):
    /// stator ends as a shell's job would, 128 + SIGINT.
    Interrupted,
    /// 128 + n: stator was asked to stop by signal n (SIGINT 130, SIGHUP 129, SIGTERM 143) and stopped the command.
    Stopped(i32),
    /// With `--on-exit exit`: the command ended by itself, and stator exits with its code, as
    /// [`Termination::exit_code`] gives it (128 + n if signal n killed it).
    Command(i32),
}

impl Exit {
    /// The process exit code.
    pub(crate) const fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::CannotExecute => 126,
            Exit::NotFound => 127,
            // The same convention as a command killed by a signal: one rule for both.
            Exit::Stopped(signal) => Termination::Signal(signal).exit_code(),
            Exit::Interrupted => Termination::Signal(SIGINT).exit_code(),
            Exit::Command(code) => code,
        }
    }

    /// Whether this is a normal end, whose output goes to stdout (help text) rather than stderr.
    pub(crate) const fn is_success(self) -> bool {
        self.code() == 0
    }
}

/// The one form of every usage error ([`Exit::Usage`]): a single line, `stator: <what is wrong>`, on stderr, in
/// text mode and with `--json` alike (a command line that does not parse cannot be trusted to have asked for JSON).
pub(crate) fn usage_line(msg: &str) -> String {
    format!("stator: {msg}")
}

impl From<&SpawnError> for Exit {
    /// The first run could not start: 127 when the command was not found, 126 when it could not be executed, 2
    /// for an empty command. (A changed-files list that cannot be written does not stop a start; it would be 1.)
    fn from(e: &SpawnError) -> Exit {
        match e {
            SpawnError::NoCommand => Exit::Usage,
            SpawnError::NotFound { .. } => Exit::NotFound,
            SpawnError::PermissionDenied { .. } | SpawnError::Io { .. } => Exit::CannotExecute,
            SpawnError::ChangedFile(_) => Exit::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::Failure.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::CannotExecute.code(), 126);
        assert_eq!(Exit::NotFound.code(), 127);
        assert_eq!(Exit::Stopped(2).code(), 130, "SIGINT");
        assert_eq!(Exit::Stopped(1).code(), 129, "SIGHUP");
        assert_eq!(Exit::Stopped(15).code(), 143, "SIGTERM");
        assert_eq!(Exit::Command(7).code(), 7);
        assert_eq!(Exit::Command(0).code(), 0);
        assert!(Exit::Success.is_success() && !Exit::Usage.is_success());
    }

    #[test]
    fn spawn_errors_exit_as_a_shell_would() {
        let program = "x".into();
        assert_eq!(Exit::from(&SpawnError::NotFound { program }).code(), 127);
        let program = "x".into();
        assert_eq!(Exit::from(&SpawnError::PermissionDenied { program }).code(), 126);
        let program = "x".into();
        assert_eq!(Exit::from(&SpawnError::Io { program, source: io::Error::other("x") }).code(), 126);
        assert_eq!(Exit::from(&SpawnError::NoCommand).code(), 2);
        assert_eq!(Exit::from(&SpawnError::ChangedFile(io::Error::other("x"))).code(), 1);
    }
}
