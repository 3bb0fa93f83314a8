//! Stator's own signals and the other ways to tell the main loop something: SIGINT (Ctrl-C), SIGTERM
//! (`docker stop`) and SIGHUP (a closed terminal) ask for a graceful stop of the child's process group; a second
//! one kills the group at once, from the signal thread, even while the main thread is waiting for the child to
//! stop. SIGUSR1 asks for a restart, any number of times. Enter typed on the terminal arrives here too.
//!
//! On Unix this uses signal-hook, which tells the signals apart (the exit code is 128 + the signal's number, by
//! convention); the ctrlc crate runs the same handler for all three, so it serves Windows, where only Ctrl-C exists
//! (and nothing like SIGUSR1).

use std::sync::mpsc::Sender;

use crate::supervisor::KillHandle;

/// What the main loop is told, besides the time passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// A signal that ends stator, by number.
    Stop(i32),
    /// A restart asked for by a signal, by name (SIGUSR1; Windows has no such signal).
    #[cfg_attr(not(unix), allow(dead_code))]
    Restart(&'static str),
    /// A line typed on the terminal while stator held it.
    Enter,
}

/// Starts listening; each signal arrives on `tx`. `kill` is used on the second signal that ends stator, and
/// `second` told of it (with the signal's number) when there was a command to kill.
#[cfg(unix)]
pub(super) fn install(
    kill: KillHandle,
    tx: Sender<Control>,
    second: impl Fn(i32) + Send + 'static,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1])?;
    std::thread::Builder::new().name("stator-signals".into()).spawn(move || {
        let mut stops = 0u32;
        for sig in signals.forever() {
            let control = if sig == SIGUSR1 {
                Control::Restart("SIGUSR1")
            } else {
                stops += 1;
                if stops >= 2 {
                    let running = kill.running();
                    kill.kill_now();
                    if running {
                        second(sig);
                    }
                }
                Control::Stop(sig)
            };
            if tx.send(control).is_err() {
                break;
            }
        }
    })?;
    Ok(())
}

/// Starts listening; each Ctrl-C arrives on `tx` as SIGINT's number, 2. The second one kills the command with
/// `kill`, and tells `second`.
#[cfg(not(unix))]
pub(super) fn install(
    kill: KillHandle,
    tx: Sender<Control>,
    second: impl Fn(i32) + Send + 'static,
) -> std::io::Result<()> {
    let mut count = 0u32;
    ctrlc::set_handler(move || {
        count += 1;
        if count >= 2 {
            let running = kill.running();
            kill.kill_now();
            if running {
                second(2);
            }
        }
        let _ = tx.send(Control::Stop(2));
    })
    .map_err(std::io::Error::other)?;
    Ok(())
}
