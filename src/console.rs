//! Windows consoles: escape sequences (colours, clearing the screen) work only once the console is asked to
//! interpret them (`ENABLE_VIRTUAL_TERMINAL_PROCESSING`, Windows 10 and later); an older console would print them
//! as text. A terminal that is not a console (mintty's pipes, which std's `is_terminal` recognises) interprets them
//! itself.

use windows_sys::Win32::Foundation::FALSE;
use windows_sys::Win32::System::Console::{
    ENABLE_VIRTUAL_TERMINAL_PROCESSING, GetConsoleMode, GetStdHandle, STD_ERROR_HANDLE, STD_HANDLE, STD_OUTPUT_HANDLE,
};

/// Whether escape sequences written to stderr are interpreted, turning the console's interpretation on if needed.
/// Call only when stderr is a terminal.
pub(crate) fn stderr_takes_escapes() -> bool {
    takes_escapes(STD_ERROR_HANDLE)
}

/// The same for stdout (`--clear`).
pub(crate) fn stdout_takes_escapes() -> bool {
    takes_escapes(STD_OUTPUT_HANDLE)
}

#[allow(unsafe_code)]
fn takes_escapes(which: STD_HANDLE) -> bool {
    use windows_sys::Win32::System::Console::SetConsoleMode;
    // SAFETY: GetStdHandle takes a constant and returns a handle this process does not own (nothing to close);
    // GetConsoleMode and SetConsoleMode only read or set that console's mode, with `mode` writable.
    unsafe {
        let handle = GetStdHandle(which);
        let mut mode = 0;
        if GetConsoleMode(handle, &mut mode) == FALSE {
            // Not a console: a terminal emulator's pipe (mintty), which reads the sequences itself.
            return true;
        }
        mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0
            || SetConsoleMode(handle, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != FALSE
    }
}
