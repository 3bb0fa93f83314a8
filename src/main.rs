//! The `stator` command: everything is in the library's private half (`app`, `cli`, `report`, `doctor`), and every
//! exit code is decided in its `exit` module.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(stator::main_entry(&args));
}
