//! A command line given as one argument (`--build`, `--on-ready`, `--on-success`, `--on-failure`), split into
//! words without a shell.
//!
//! Words are separated by whitespace; `'...'` and `"..."` keep what they hold as it is, spaces included, and join
//! the text around them (`a"b c"d` is the one word `ab cd`; `''` is an empty word). Nothing else is special: no
//! escapes, variables, globs or operators, the same on every platform (a Windows path's backslashes stay). For
//! those, `--shell` hands the line to `sh -c` (Windows: `cmd /C`) as it is, as it does the command.

/// Splits `line` into words; an unclosed quote, or no word at all, is an error naming `flag`.
pub(crate) fn split(flag: &str, line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let word = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                        None => return Err(format!("{flag}: the quote {c} is not closed: {line}")),
                    }
                }
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err(format!("{flag} needs a command"));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_split_at_spaces_and_quotes_keep_them() {
        let cases: &[(&str, &[&str])] = &[
            ("make", &["make"]),
            ("  cargo   build\t--release ", &["cargo", "build", "--release"]),
            ("sh -c 'test -f ok'", &["sh", "-c", "test -f ok"]),
            (r#"echo "it's" 'say "hi"'"#, &["echo", "it's", r#"say "hi""#]),
            (r#"a"b c"d"#, &["ab cd"]),
            ("x '' y", &["x", "", "y"]),
            // Nothing else is special.
            (r"C:\tools\make.exe $HOME *.c a\ b", &[r"C:\tools\make.exe", "$HOME", "*.c", r"a\", "b"]),
            ("a && b; c | d", &["a", "&&", "b;", "c", "|", "d"]),
        ];
        for (line, want) in cases {
            let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
            assert_eq!(split("--build", line), Ok(want), "{line:?}");
        }
    }

    #[test]
    fn unclosed_quotes_and_empty_lines_are_errors() {
        assert_eq!(split("--build", "echo 'a b").unwrap_err(), "--build: the quote ' is not closed: echo 'a b");
        assert_eq!(split("--on-ready", "\"").unwrap_err(), "--on-ready: the quote \" is not closed: \"");
        assert_eq!(split("--build", "   ").unwrap_err(), "--build needs a command");
        assert_eq!(split("--build", "").unwrap_err(), "--build needs a command");
    }
}
