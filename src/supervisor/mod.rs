//! The child process: spawn, stop, restart.
