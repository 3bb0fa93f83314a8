//! Arbitrary bytes into the child-report parser, split at an arbitrary point (the result must not depend on where
//! reads happen to split the file, and no more than a line is ever held), and into the dependency-file parser:
//! neither may panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use stator::learn::depfile;
use stator::learn::protocol::{MAX_LINE, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = usize::from(cut) * bytes.len() / 255;
    let base = Path::new("/base");
    let mut whole = Parser::new();
    let expected = whole.feed(bytes, base);
    let mut parser = Parser::new();
    let mut got = parser.feed(&bytes[..cut], base);
    assert!(parser.pending() <= MAX_LINE);
    let rest = parser.feed(&bytes[cut..], base);
    got.paths.extend(rest.paths);
    got.notices.extend(rest.notices);
    assert_eq!(got, expected);
    assert_eq!(parser.pending(), whole.pending());
    let _ = depfile::dependencies(bytes);
    let _ = depfile::rules(bytes);
});
