//! Masking secrets out of inputs before any text is formed from them, whatever their shape:
//! a URL, a malformed URL, or `user:password@host` with no scheme at all.
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

#[cfg(test)]
mod tests {
    use super::*;

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
