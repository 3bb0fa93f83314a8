//! Durations on the command line: `500ms`, `2s`, `1m`, `1h 30m` (humantime's syntax). A bare number is refused:
//! `--interval 2` could mean seconds or milliseconds, and guessing wrong is a silent 1000x mistake.

use std::time::Duration;

/// Parses a duration flag value; the error is one line that says what was expected.
pub(crate) fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("'{value}' needs a unit, e.g. {value}ms or {value}s"));
    }
    humantime::parse_duration(value).map_err(|e| format!("'{value}' is not a duration ({e}); try 500ms, 2s or 1m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_table() {
        let ok = [("500ms", 500), ("2s", 2000), ("1m", 60_000), ("1h 30m", 5_400_000), (" 250ms ", 250)];
        for (text, ms) in ok {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["2", "1.5", "", "soon", "-1s", "5 parsecs"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(!err.contains('\n'), "one line: {err}");
        }
        assert!(parse_duration("2").unwrap_err().contains("needs a unit"));
    }
}
