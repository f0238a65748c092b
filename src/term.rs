//! What reaches the terminal: text from containers (their output, file names in their tars), from
//! projects and from the command line is printed with its control characters escaped, so that it
//! cannot move the cursor, rewrite earlier lines (`\r`), retitle the window, ring the bell, or
//! reorder what is shown (Unicode bidirectional controls). Line breaks and tabs are kept.
//!
//! Applied where text leaves for stderr: the log writer ([`crate::progress::LogWriter`]), the
//! error report ([`crate::exit::report`]) and the progress bars' messages.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write;
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

/// `text` with every control character but `\n` and `\t` escaped (`\u{1b}`, `\u{d}`, ...).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_dangerous(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`] for a formatted log line; with `keep_colours`, the colour codes (`ESC [ digits ; m`)
/// our own log formatter adds on a terminal are kept (the formatter already writes an ESC inside a
/// message as text).
pub fn escape_log_line(bytes: &[u8], keep_colours: bool) -> Cow<'_, [u8]> {
    let text = String::from_utf8_lossy(bytes);
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(bytes);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '\u{1b}' && keep_colours {
            let rest = &text[at + 1..];
            let sgr = rest.strip_prefix('[').and_then(|r| {
                let len = r
                    .bytes()
                    .take_while(|b| b.is_ascii_digit() || *b == b';')
                    .count();
                (r.as_bytes().get(len) == Some(&b'm')).then_some(len + 2)
            });
            if let Some(len) = sgr {
                out.push_str(&text[at..at + 1 + len]);
                for _ in 0..len {
                    chars.next();
                }
                continue;
            }
        }
        if is_dangerous(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain\nline\ttab"), "plain\nline\ttab");
        assert_eq!(
            escape("a\u{1b}]0;title\u{7}b\rc\u{202e}d\u{9b}e"),
            "a\\u{1b}]0;title\\u{7}b\\u{d}c\\u{202e}d\\u{9b}e"
        );
        // Our own colours survive in log lines on a terminal; anything else does not.
        let line = "\u{1b}[33m WARN\u{1b}[0m name \u{1b}[2J\rX\n";
        assert_eq!(
            String::from_utf8(escape_log_line(line.as_bytes(), true).into_owned()).unwrap(),
            "\u{1b}[33m WARN\u{1b}[0m name \\u{1b}[2J\\u{d}X\n"
        );
        assert_eq!(
            String::from_utf8(escape_log_line(line.as_bytes(), false).into_owned()).unwrap(),
            "\\u{1b}[33m WARN\\u{1b}[0m name \\u{1b}[2J\\u{d}X\n"
        );
        let bad = "x\u{1b}]0;t\u{7}\n";
        assert_eq!(
            String::from_utf8(escape_log_line(bad.as_bytes(), true).into_owned()).unwrap(),
            "x\\u{1b}]0;t\\u{7}\n"
        );
    }
}
