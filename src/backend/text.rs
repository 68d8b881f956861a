//! Text that came from the backend (a version, an instance name, an error body, a URL it
//! reports) is shown to people only through [`sanitize`]: a hostile or broken backend must not
//! reach the terminal with escape sequences, nor turn a 50 MB body into a 50 MB message.
//!
//! Pure.

/// The longest backend text we show, in characters.
pub(crate) const MAX_CHARS: usize = 200;

/// One line of plain text: ANSI escape sequences removed, other control characters (line
/// breaks, tabs, NUL, DEL, C1) turned into spaces and runs of spaces squeezed, trimmed, and
/// cut to [`MAX_CHARS`] with `…`.
pub(crate) fn sanitize(text: &str) -> String {
    // Only the head can be shown; do not scan megabytes for it. Line breaks, tabs and other
    // C0 controls separate words: make them spaces before the escape parser drops them. ESC
    // and BEL stay for it: they start and end the sequences it removes.
    let head: String = text
        .chars()
        .take(MAX_CHARS * 8)
        .map(|c| match c {
            '\x1b' | '\x07' => c,
            c if c.is_ascii_control() => ' ',
            c => c,
        })
        .collect();
    let stripped = strip_ansi_escapes::strip_str(&head);
    let mut clean = String::with_capacity(MAX_CHARS + 1);
    let mut count = 0;
    let mut space = false;
    for c in stripped.trim().chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && space {
            continue;
        }
        space = c == ' ';
        if count == MAX_CHARS {
            let kept = clean.trim_end().len();
            clean.truncate(kept);
            clean.push('…');
            return clean;
        }
        clean.push(c);
        count += 1;
    }
    if text.chars().nth(MAX_CHARS * 8).is_some() {
        clean.push('…');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_are_removed() {
        let cases = [
            ("1.2.3\n", "1.2.3"),
            ("\x1b[31mRED\x1b[0m 1.0", "RED 1.0"),
            ("\x1b]0;pwned\x07evil-\x1b[2Jname", "evil-name"),
            ("a\r\nb\tc\0d\u{7f}e\u{9b}f", "a b c d ef"),
            ("  many   spaces  ", "many spaces"),
            ("", ""),
        ];
        for (raw, shown) in cases {
            assert_eq!(sanitize(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(50_000_000);
        let shown = sanitize(&long);
        assert_eq!(shown, format!("{}…", "x".repeat(MAX_CHARS)));
        let exact = "y".repeat(MAX_CHARS);
        assert_eq!(sanitize(&exact), exact);
        let escapes = format!("{}z", "\x1b[0m".repeat(1_000_000));
        assert_eq!(sanitize(&escapes), "…");
    }
}
