//! Arithmetic on [`FileTime`]: nanoseconds since the Unix epoch as `i128`, so that sums and differences of
//! timestamps from skewed or far-future clocks never overflow.

use std::time::Duration;

use filetime::FileTime;

/// Nanoseconds since the Unix epoch (negative before it).
pub fn nanos(t: FileTime) -> i128 {
    i128::from(t.unix_seconds()) * 1_000_000_000 + i128::from(t.nanoseconds())
}

/// The inverse of [`nanos`]. Values beyond `i64` seconds saturate.
pub fn from_nanos(n: i128) -> FileTime {
    let secs = n.div_euclid(1_000_000_000);
    let sub = n.rem_euclid(1_000_000_000) as u32;
    let secs = i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX });
    FileTime::from_unix_time(secs, sub)
}

/// `d` in nanoseconds, as the signed type used for timestamps.
pub fn dur(d: Duration) -> i128 {
    d.as_nanos() as i128
}

/// `a - b` as a signed number of nanoseconds.
pub fn diff(a: FileTime, b: FileTime) -> i128 {
    nanos(a) - nanos(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trips_including_before_the_epoch() {
        for n in [0i128, 1, -1, 1_767_225_600_250_000_000, -1_500_000_001] {
            assert_eq!(nanos(from_nanos(n)), n);
        }
    }
}
