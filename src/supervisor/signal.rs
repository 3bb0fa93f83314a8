//! The signals `--signal` accepts: `SIGTERM`, `TERM`, `term` and `15` all mean the same thing.

use std::fmt;
use std::str::FromStr;

/// A signal stator can send to the child's process group.
///
/// Only the signals that make sense for stopping or poking a child are accepted. On Windows there are no signals:
/// every one but [`Signal::Kill`] is delivered as `CTRL_BREAK_EVENT` to the child's process group, and `Kill`
/// terminates the child's job object at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Signal {
    /// `SIGHUP`: many servers reload their configuration on it.
    Hup,
    /// `SIGINT`: what Ctrl-C sends.
    Int,
    /// `SIGQUIT`.
    Quit,
    /// `SIGKILL`: cannot be caught or ignored.
    Kill,
    /// `SIGUSR1`.
    Usr1,
    /// `SIGUSR2`.
    Usr2,
    /// `SIGTERM`: the polite request to stop, and the default.
    #[default]
    Term,
}

impl Signal {
    /// Every accepted signal, in the order of their numbers on Linux.
    pub const ALL: [Signal; 7] =
        [Signal::Hup, Signal::Int, Signal::Quit, Signal::Kill, Signal::Usr1, Signal::Usr2, Signal::Term];

    /// The name without the `SIG` prefix, upper case: `TERM`.
    pub fn short_name(self) -> &'static str {
        match self {
            Signal::Hup => "HUP",
            Signal::Int => "INT",
            Signal::Quit => "QUIT",
            Signal::Kill => "KILL",
            Signal::Usr1 => "USR1",
            Signal::Usr2 => "USR2",
            Signal::Term => "TERM",
        }
    }

    /// The full name: `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hup => "SIGHUP",
            Signal::Int => "SIGINT",
            Signal::Quit => "SIGQUIT",
            Signal::Kill => "SIGKILL",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
            Signal::Term => "SIGTERM",
        }
    }

    /// The signal's number on this platform (`SIGUSR1` is 10 on Linux but 30 on macOS). On Windows, which has no
    /// signals, the Linux numbers.
    pub fn number(self) -> i32 {
        #[cfg(unix)]
        {
            self.to_rustix().as_raw()
        }
        #[cfg(not(unix))]
        {
            match self {
                Signal::Hup => 1,
                Signal::Int => 2,
                Signal::Quit => 3,
                Signal::Kill => 9,
                Signal::Usr1 => 10,
                Signal::Usr2 => 12,
                Signal::Term => 15,
            }
        }
    }

    /// The accepted signal with this number on this platform, if any.
    pub fn from_number(n: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.number() == n)
    }

    /// The same signal as rustix sees it.
    #[cfg(unix)]
    pub(crate) fn to_rustix(self) -> rustix::process::Signal {
        use rustix::process::Signal as S;
        match self {
            Signal::Hup => S::HUP,
            Signal::Int => S::INT,
            Signal::Quit => S::QUIT,
            Signal::Kill => S::KILL,
            Signal::Usr1 => S::USR1,
            Signal::Usr2 => S::USR2,
            Signal::Term => S::TERM,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--signal` value that names no accepted signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSignalError(String);

impl fmt::Display for ParseSignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown signal '{}': expected one of ", self.0)?;
        for (i, s) in Signal::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} ({})", s.short_name(), s.number())?;
        }
        f.write_str(", with or without SIG, in any case")
    }
}

impl std::error::Error for ParseSignalError {}

impl FromStr for Signal {
    type Err = ParseSignalError;

    fn from_str(s: &str) -> Result<Signal, ParseSignalError> {
        let err = || ParseSignalError(s.to_owned());
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i32>().ok().and_then(Signal::from_number).ok_or_else(err);
        }
        let upper = s.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        Signal::ALL.into_iter().find(|sig| sig.short_name() == name).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_with_or_without_sig_in_any_case_and_numbers() {
        let cases: &[(&str, Signal)] = &[
            ("SIGTERM", Signal::Term),
            ("TERM", Signal::Term),
            ("term", Signal::Term),
            ("SigTerm", Signal::Term),
            ("sigterm", Signal::Term),
            ("15", Signal::Term),
            ("HUP", Signal::Hup),
            ("1", Signal::Hup),
            ("int", Signal::Int),
            ("2", Signal::Int),
            ("QUIT", Signal::Quit),
            ("3", Signal::Quit),
            ("KILL", Signal::Kill),
            ("9", Signal::Kill),
            ("SIGUSR1", Signal::Usr1),
            ("usr2", Signal::Usr2),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Signal>(), Ok(*want), "{input}");
        }
    }

    #[test]
    fn numbers_follow_the_platform() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_number(s.number()), Some(s));
            assert_eq!(s.number().to_string().parse::<Signal>(), Ok(s));
        }
    }

    #[test]
    fn rejects_everything_else_with_one_line_listing_the_choices() {
        for bad in ["", "SIG", "TERMINATE", "SIGSTOP", "0", "-15", "99", " TERM", "15 ", "+15", "1e1"] {
            let err = bad.parse::<Signal>().unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.starts_with(&format!("unknown signal '{bad}'")), "{msg}");
            for s in Signal::ALL {
                assert!(msg.contains(s.short_name()), "{msg}");
            }
        }
    }

    #[test]
    fn displays_the_full_name() {
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
        assert_eq!(Signal::Usr1.to_string(), "SIGUSR1");
        assert_eq!(Signal::default(), Signal::Term);
    }
}
