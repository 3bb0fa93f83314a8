//! The `stator` command: parse, run, exit with the code decided by `cli` (usage) or `app` (everything else).

use stator::cli::{Parsed, parse};

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Stator run again as the sentinel of a run's process group (see `stator::supervisor`).
    if let Some(code) = stator::supervisor::run_sentinel(&args) {
        std::process::exit(code);
    }
    let code = match parse(&args) {
        Parsed::Run(inv) => stator::app::run(*inv),
        Parsed::Doctor(opts) => stator::doctor::run(&opts),
        Parsed::Exit { output, code: 0 } => {
            println!("{output}");
            0
        }
        Parsed::Exit { output, code } => {
            eprintln!("{output}");
            code
        }
    };
    std::process::exit(code);
}
