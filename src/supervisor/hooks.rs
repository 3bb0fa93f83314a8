//! Hooks: commands run when something happens to the command (`--on-ready`, `--on-success`, `--on-failure`).
//!
//! A hook is a child of stator's like the command, in a process group of its own (Windows: a job), with stdin
//! from nowhere and the terminal's stdout and stderr. It is run as given, without a shell unless `--shell` asks for
//! one, and learns why it runs from the environment only: `STATOR_HOOK` (`ready`, `success`, `failure`),
//! `STATOR_RUN` (the run it is about), `STATOR_EXIT_CODE` (success and failure: the exit code, `128 + n` for death
//! by signal `n`) and, for a build's end, `STATOR_BUILD` (the build's number). Nothing is ever put into its
//! arguments.
//!
//! Hooks never hold the main loop up: they are started and left to run, and reaped as they end. One that fails, or
//! cannot be started, is a warning. At most [`MAX_RUNNING`] run at once; one more is skipped, with a warning. Hooks
//! still running when stator stops get the stop timeout to end, then are stopped as the command is.

use std::ffi::OsString;
use std::fmt;

/// At most this many hooks run at once.
pub const MAX_RUNNING: usize = 8;

/// The hook commands, each the program and its arguments (with `--shell`, the shell command line as one word).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Run when a run became ready (`--ready-port`, `--ready-log`).
    pub on_ready: Option<Vec<OsString>>,
    /// Run when the command (with a build: the build) ended with exit code 0.
    pub on_success: Option<Vec<OsString>>,
    /// Run when the command (with a build: the build) ended otherwise.
    pub on_failure: Option<Vec<OsString>>,
}

impl Hooks {
    /// The command of `hook`, if one is given.
    pub fn get(&self, hook: Hook) -> Option<&[OsString]> {
        match hook {
            Hook::Ready => self.on_ready.as_deref(),
            Hook::Success => self.on_success.as_deref(),
            Hook::Failure => self.on_failure.as_deref(),
        }
    }
}

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `--on-ready`.
    Ready,
    /// `--on-success`.
    Success,
    /// `--on-failure`.
    Failure,
}

impl Hook {
    /// The flag that gives it.
    pub fn flag(self) -> &'static str {
        match self {
            Hook::Ready => "--on-ready",
            Hook::Success => "--on-success",
            Hook::Failure => "--on-failure",
        }
    }

    /// Its `STATOR_HOOK` value.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Ready => "ready",
            Hook::Success => "success",
            Hook::Failure => "failure",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.flag())
    }
}

/// Why a hook runs: what its environment says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Why {
    pub(crate) hook: Hook,
    /// `STATOR_RUN`: the run it is about (for a build, the run going when it ended; 0 before the first).
    pub(crate) run: u64,
    /// `STATOR_EXIT_CODE`.
    pub(crate) code: Option<i32>,
    /// `STATOR_BUILD`: the build that ended.
    pub(crate) build: Option<u64>,
}

impl Why {
    /// The variables to set, in order.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("STATOR_HOOK", self.hook.name().to_owned()), ("STATOR_RUN", self.run.to_string())];
        if let Some(code) = self.code {
            env.push(("STATOR_EXIT_CODE", code.to_string()));
        }
        if let Some(build) = self.build {
            env.push(("STATOR_BUILD", build.to_string()));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_say_why_they_run_in_the_environment_only() {
        let why = Why { hook: Hook::Failure, run: 3, code: Some(2), build: Some(5) };
        assert_eq!(
            why.env(),
            [
                ("STATOR_HOOK", "failure".to_owned()),
                ("STATOR_RUN", "3".to_owned()),
                ("STATOR_EXIT_CODE", "2".to_owned()),
                ("STATOR_BUILD", "5".to_owned())
            ]
        );
        let why = Why { hook: Hook::Ready, run: 1, code: None, build: None };
        assert_eq!(why.env(), [("STATOR_HOOK", "ready".to_owned()), ("STATOR_RUN", "1".to_owned())]);
        let hooks = Hooks { on_ready: Some(vec!["a".into()]), ..Hooks::default() };
        assert_eq!(hooks.get(Hook::Ready), Some(&[OsString::from("a")][..]));
        assert_eq!(hooks.get(Hook::Failure), None);
        assert_eq!(Hook::Success.to_string(), "--on-success");
    }
}
