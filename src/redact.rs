//! Masking secrets out of inputs before any text is formed from them, whatever their shape:
//! a URL, a malformed URL, or `user:password@host` with no scheme at all; and the one rule
//! for what an error about a file's content may quote.
//!
//! The rule: an error about the content of a file (an env file, a backup manifest) names
//! the file, the line number and the key, and never quotes a value or a line. A key is
//! shown only when it looks like a name ([`shown_name`]); anything else is described.
//!
//! Pure.

/// Replace the password in anything shaped like `[scheme://]user:password@host…` with
/// `****`. The password runs from the first `:` of the user info to the **last** `@`, so a
/// raw `@`, `?`, `/` or `#` in it is masked too; when in doubt more is masked, never less.
pub fn mask_password(raw: &str) -> String {
    let Some(at) = raw.rfind('@') else {
        return raw.to_owned();
    };
    let before = &raw[..at];
    // The user info starts after `scheme://`; without that, anywhere: masking from the
    // first `:` hides the scheme of `postgres:/u:p@h` too, which is the safe side.
    // Only a `://` after a real scheme counts: in `postgres//:pw@://@` it comes after the
    // password.
    let start = before
        .find("://")
        .filter(|&i| is_scheme(&before[..i]))
        .map_or(0, |i| i + 3);
    match before[start..].find(':') {
        Some(colon) => format!("{}****{}", &raw[..start + colon + 1], &raw[at..]),
        None => raw.to_owned(),
    }
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
pub(crate) fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The longest key an error quotes.
const MAX_SHOWN_NAME: usize = 64;

/// The key of a line (`KEY=…` or `export KEY=…`, the text before the first `=`) when it is
/// safe to quote: 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`. A line without
/// `=`, or whose key holds anything else (blanks, quotes, `:`), has no key to show: it may
/// be a value that lost its name.
pub(crate) fn shown_name(line: &str) -> Option<&str> {
    let line = line.trim_start_matches([' ', '\t']);
    let line = line
        .strip_prefix("export")
        .filter(|r| r.starts_with([' ', '\t']))
        .map_or(line, |r| r.trim_start_matches([' ', '\t']));
    let (key, _) = line.split_once('=')?;
    let key = key.trim_end_matches([' ', '\t']);
    (!key.is_empty()
        && key.len() <= MAX_SHOWN_NAME
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    .then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_are_shown() {
        for (line, want) in [
            ("A=1", Some("A")),
            ("  export BAD-NAME = x", Some("BAD-NAME")),
            ("A.B='open", Some("A.B")),
            ("sk_live_no_equals_sign", None),
            ("Bearer tok=en", None),
            ("'quoted'=x", None),
            ("=value", None),
            ("x:y=z", None),
        ] {
            assert_eq!(shown_name(line), want, "{line:?}");
        }
        assert_eq!(shown_name(&format!("{}=v", "K".repeat(65))), None);
    }

    #[test]
    fn passwords_are_masked_whatever_the_shape() {
        for (raw, want) in [
            (
                "postgres://app:hunter2@db:5432/x",
                "postgres://app:****@db:5432/x",
            ),
            ("postgres//u:hunter2@h/db", "postgres//u:****@h/db"),
            ("postgres:/u:hunter2@h/db", "postgres:****@h/db"),
            ("u:a//hunter2@h", "u:****@h"),
            ("postgres//:hunter2@/@", "postgres//:****@"),
            ("postgres//:hunter2@://@", "postgres//:****@"),
            ("u:hunter2@h/db", "u:****@h/db"),
            ("postgres://u:hun?ter2@h/db", "postgres://u:****@h/db"),
            ("postgres://u:hun/ter@2@h/db", "postgres://u:****@h/db"),
            ("postgres://u:p#w@h/db", "postgres://u:****@h/db"),
            (
                "http://user:tok@127.0.0.1:3210",
                "http://user:****@127.0.0.1:3210",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h/db", "postgres://h/db"),
            (
                "https://{{port}}--a--w--o.apps.example.com",
                "https://{{port}}--a--w--o.apps.example.com",
            ),
        ] {
            assert_eq!(mask_password(raw), want, "{raw}");
            assert!(!mask_password(raw).contains("hunter2"));
        }
    }
}
