//! Arbitrary command lines into the `stator` command's parser (reached through `stator::fuzz`, as the command line
//! is not part of the library): it must never panic, must exit only with 0 (help) or 2 (usage), and what it accepts
//! must be a usable configuration.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use stator::fuzz::{EXIT_USAGE, Parsed, parse};
use stator::discover::Filter;

fuzz_target!(|data: &[u8]| {
    // Arguments are separated by NUL bytes, as in /proc/PID/cmdline; the program name comes first.
    let args: Vec<OsString> = std::iter::once(OsString::from("stator"))
        .chain(data.split(|b| *b == 0).filter(|_| !data.is_empty()).map(|a| OsString::from_vec(a.to_vec())))
        .collect();
    match parse(&args) {
        Parsed::Exit { output, code } => {
            assert!(code == 0 || code == EXIT_USAGE, "exit code {code}: {output}");
            assert!(!output.is_empty(), "an exit always says why");
        }
        Parsed::Run { config, list, command } => {
            assert!(!config.interval.is_zero(), "a zero interval is refused");
            assert!(list || !command.is_empty(), "a run needs a command unless --list");
            assert!(!config.roots.is_empty(), "at least one root (default .)");
            // Whatever the flags said, compiling the filter fails cleanly or succeeds.
            let _ = Filter::new(&config.filter);
        }
        Parsed::Doctor { config } => {
            assert!(!config.roots.is_empty(), "at least one path (default .)");
            let _ = Filter::new(&config.filter);
        }
    }
});
