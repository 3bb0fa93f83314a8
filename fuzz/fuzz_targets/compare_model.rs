//! `compare::observe` against the reference model of `tests/it/support/model.rs` (the one the property tests
//! use): any byte string is a script of clock advances, changes to one file and observations of it. A fingerprint
//! difference in mtime, size, kind (or identity, where trusted) must always be reported, and every outcome must
//! match the model.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/support/model.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    model::check(data);
});
