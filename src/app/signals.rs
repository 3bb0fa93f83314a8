//! Stator's own lifetime signals. SIGINT (Ctrl-C), SIGTERM (`docker stop`) and SIGHUP (a closed terminal) ask for
//! a graceful stop of the child's process group; a second one kills the group at once, from the signal thread,
//! even while the main thread is waiting for the child to stop.
//!
//! On Unix this uses signal-hook, which tells the signals apart (the exit code is 128 + the signal's number, by
//! convention); the ctrlc crate runs the same handler for all three, so it serves Windows, where only Ctrl-C exists.

use std::sync::mpsc::{Receiver, channel};

use crate::supervisor::KillHandle;

/// Starts listening; each signal's number arrives on the returned channel. `kill` is used on the second signal,
/// and `second` told of it (with the signal's number) when there was a command to kill.
#[cfg(unix)]
pub(super) fn install(kill: KillHandle, second: impl Fn(i32) + Send + 'static) -> std::io::Result<Receiver<i32>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let (tx, rx) = channel();
    std::thread::Builder::new().name("stator-signals".into()).spawn(move || {
        for (count, sig) in signals.forever().enumerate() {
            if count >= 1 {
                let running = kill.running();
                kill.kill_now();
                if running {
                    second(sig);
                }
            }
            if tx.send(sig).is_err() {
                break;
            }
        }
    })?;
    Ok(rx)
}

/// Starts listening; each Ctrl-C arrives on the returned channel as SIGINT's number, 2. The second one kills
/// the command with `kill`, and tells `second`.
#[cfg(not(unix))]
pub(super) fn install(kill: KillHandle, second: impl Fn(i32) + Send + 'static) -> std::io::Result<Receiver<i32>> {
    let (tx, rx) = channel();
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
        let _ = tx.send(2);
    })
    .map_err(std::io::Error::other)?;
    Ok(rx)
}
