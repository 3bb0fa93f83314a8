//! Windows: the console stator and the command share. There is no job control to hand it over with; stator
//! only reads a line from it (Enter runs the command again) while no run is on.
//!
//! A console read cannot be taken back once it waits: a line typed after a change started a new run, while
//! stator was still waiting for Enter, may go to stator (which then drops it) instead of the command.

use std::io::{self, BufRead, IsTerminal};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The console on stdin, shared by the supervisor and the thread that waits for Enter.
#[derive(Debug, Clone)]
pub struct Terminal(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    /// Whether a run is on.
    running: Mutex<bool>,
    /// Signalled when a run ends.
    idle: Condvar,
}

impl Terminal {
    /// The console on stdin, if stdin is one. `hand_over` has no effect: there is no job control.
    pub fn from_stdin(_hand_over: bool) -> Option<Terminal> {
        io::stdin().is_terminal().then(|| Terminal(Arc::new(Inner::default())))
    }

    /// Whether a line typed now would reach stator: no run is on.
    pub fn enter_works(&self) -> bool {
        !*self.lock()
    }

    /// Calls `on_enter` from a new thread for every line typed while no run is on, until it returns false or
    /// stdin ends.
    pub fn watch_enter(&self, mut on_enter: impl FnMut() -> bool + Send + 'static) -> io::Result<()> {
        let term = self.clone();
        std::thread::Builder::new().name("stator-enter".into()).spawn(move || {
            let mut line = Vec::new();
            loop {
                {
                    let mut running = term.lock();
                    while *running {
                        running = term.0.idle.wait(running).unwrap_or_else(|e| e.into_inner());
                    }
                }
                line.clear();
                match io::stdin().lock().read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if !*term.lock() && !on_enter() {
                    return;
                }
            }
        })?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        self.0.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run started.
    pub(crate) fn run_started(&self) {
        *self.lock() = true;
    }

    /// The run is over.
    pub(crate) fn take_back(&self) {
        *self.lock() = false;
        self.0.idle.notify_all();
    }

    /// At exit: nothing to restore on a console.
    pub(crate) fn release(&self) {
        self.take_back();
    }
}
