//! stator: an autoreloader that sees changes only by polling `stat`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod change;
pub mod cli;
pub mod compare;
pub mod config;
pub mod discover;
pub mod fingerprint;
pub mod poll;
pub mod report;
pub mod supervisor;
pub mod time;
pub mod vfs;
