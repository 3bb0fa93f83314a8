//! When to look, and looking: the parallel sweep and [`Poller::tick`], the fixed-rate schedule and the hot tier's
//! cadence between its sweeps, and settling a burst of changes into one change set.

mod cadence;
mod poller;
#[cfg(test)]
mod scenarios;
mod schedule;
mod settle;
mod stored;
mod tree;
mod warning;
mod wide;

pub use cadence::Cadence;
pub use poller::{FsSummary, Poller, Tick, normalize};
pub use schedule::{Schedule, Stretch};
pub use settle::{Settle, Sweep};
pub use warning::{Outage, Warning};
