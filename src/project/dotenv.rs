//! Env files (pure): render `KEY='value'` lines, parse values the way dotenvy does, and
//! merge managed values into an existing file without touching the user's entries.
//!
//! Single-quoted values read the same through bash `source`, dotenvy and docker compose's
//! `env_file` (no interpolation, no escapes in any of the three), so a value may contain
//! neither `'` nor a newline.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::error::{Error, Result};

mod lexer;

#[cfg(test)]
pub(crate) use lexer::lex;

/// One line we manage: `Some(value)` to set it, `None` to comment out any assignment.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub value: Option<String>,
    /// Why an assignment is commented out (for `value: None`).
    pub note: &'static str,
    /// With `value: None`: drop the old line instead of keeping it as a comment (it held a
    /// credential that must leave the file).
    pub drop_old: bool,
}

impl Entry {
    pub(crate) fn set(key: &str, value: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: Some(value.into()),
            note: "",
            drop_old: false,
        }
    }

    pub(crate) fn unset(key: &str, note: &'static str) -> Self {
        Self {
            key: key.to_owned(),
            value: None,
            note,
            drop_old: false,
        }
    }

    /// Like [`Entry::unset`], but the old line is removed, leaving only the note.
    pub(crate) fn remove(key: &str, note: &'static str) -> Self {
        Self {
            drop_old: true,
            ..Self::unset(key, note)
        }
    }
}

/// `KEY='value'`, or an error naming the key when the value cannot be quoted safely: a
/// quote or line break ends the value for some reader, and dotenvy reads a backslash
/// before the closing quote as an escape.
pub(crate) fn render(key: &str, value: &str) -> std::result::Result<String, String> {
    if value.contains(['\'', '\n', '\r', '\\']) {
        return Err(format!(
            "the value of {key} contains a single quote, a backslash or a line break, which env files cannot hold portably"
        ));
    }
    Ok(format!("{key}='{value}'"))
}

/// Parse an env file's values the way dotenvy (and the Convex CLI's dotenv) read them.
/// An error names the file, the line and the key, never a value (`redact`'s rule): dotenvy's
/// own message quotes the line, and for an unterminated quote the rest of the file.
pub(crate) fn parse(path: &Path, content: &str) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for item in dotenvy::from_read_iter(content.as_bytes()) {
        let Ok((k, v)) = item else {
            return Err(unparseable(path, content));
        };
        values.insert(k, v);
    }
    Ok(values)
}

/// Which entry of `content` dotenvy refuses, said without quoting it.
fn unparseable(path: &Path, content: &str) -> Error {
    let items = lexer::lex(content);
    let bad = items.iter().find(|item| {
        item.unterminated || dotenvy::from_read_iter(item.text.as_bytes()).any(|r| r.is_err())
    });
    let message = match bad {
        Some(item) => {
            let what = match crate::redact::shown_name(item.body()) {
                Some(key) => format!("the entry for {key}"),
                None => "the entry (not a KEY=value assignment)".to_owned(),
            };
            let why = if item.unterminated {
                "its quoted value is never closed"
            } else {
                "it cannot be parsed"
            };
            format!("line {}: {what}: {why} (the value is not shown)", item.line)
        }
        None => "cannot be parsed (the value is not shown)".to_owned(),
    };
    Error::file(path, message).with_hint(
        "fix or comment out the line: names match ^[A-Za-z_][A-Za-z0-9_.]*$, values with spaces need quotes, and a quote must be closed",
    )
}

/// `KEY==value` entries (1-based line, key): a typo that sets `KEY` to `=value`. A quoted
/// value (`KEY='=value'`) is deliberate and not reported.
pub(crate) fn double_equals(text: &str) -> Vec<(usize, &str)> {
    lexer::lex(text)
        .into_iter()
        .filter_map(|item| {
            let (key, _, value_at) = lexer::assignment(item.text)?;
            item.text[value_at..]
                .starts_with('=')
                .then_some((item.line, key))
        })
        .collect()
}

/// The line ending of a file: `\r\n` when its lines end so, else `\n`. A file whose lines
/// end in a lone `\r` is refused: no reader of env files (bash, dotenvy, compose) reads it.
fn line_ending(text: &str) -> std::result::Result<&'static str, String> {
    let crlf = text.matches("\r\n").count();
    let cr = text.matches('\r').count() - crlf;
    let lf = text.matches('\n').count() - crlf;
    if cr > 0 && lf == 0 && crlf == 0 {
        return Err("has lines that end in a lone carriage return (\\r), which bash, dotenvy and docker compose do not read as line breaks".to_owned());
    }
    Ok(if crlf > lf { "\r\n" } else { "\n" })
}

/// Merge `entries` into `existing`: managed keys are updated in place, missing ones are added
/// after the last managed entry (or under `header`), later duplicates and `None` entries are
/// commented out with a note. Every other entry — a multi-line quoted value included — is
/// kept byte for byte, with its own line ending; new lines use the file's line ending.
pub(crate) fn merge(
    existing: Option<&str>,
    header: &str,
    entries: &[Entry],
) -> std::result::Result<String, String> {
    let existing = existing.unwrap_or_default();
    let eol = line_ending(existing)?;
    let by_key: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.key.as_str(), e)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    let mut last_managed: Option<usize> = None;
    let mut header_at: Option<usize> = None;

    let items = lexer::lex(existing);
    if let Some(open) = items.iter().find(|i| i.unterminated) {
        // Lines added after it would land inside its value for every reader.
        return Err(format!(
            "line {}: the quoted value of {} is never closed",
            open.line,
            open.key.unwrap_or("?")
        ));
    }
    for item in items {
        let ending = if item.ending().is_empty() {
            eol
        } else {
            item.ending()
        };
        if item.body().trim_end() == header {
            header_at = Some(out.len());
        }
        let Some(entry) = item.key.and_then(|k| by_key.get(k)) else {
            out.push(format!("{}{ending}", item.body()));
            continue;
        };
        match &entry.value {
            Some(value) if seen.insert(entry.key.as_str()) => {
                let rendered = render(&entry.key, value)?;
                let export = if item.export { "export " } else { "" };
                out.push(format!("{export}{rendered}{ending}"));
                last_managed = Some(out.len() - 1);
            }
            Some(_) => out.push(comment_out(
                &format!(
                    "duplicate {} commented out; the value above is used",
                    entry.key
                ),
                item.body(),
                ending,
            )),
            None if entry.drop_old => out.push(format!("# coder-convex: {}{ending}", entry.note)),
            None => out.push(comment_out(entry.note, item.body(), ending)),
        }
    }

    let mut missing = Vec::new();
    for entry in entries {
        if let Some(value) = &entry.value
            && !seen.contains(entry.key.as_str())
        {
            missing.push(format!("{}{eol}", render(&entry.key, value)?));
        }
    }
    if !missing.is_empty() {
        let at = match (last_managed, header_at) {
            (Some(i), _) | (None, Some(i)) => i + 1,
            (None, None) => {
                if out.last().is_some_and(|l| !l.trim().is_empty()) {
                    out.push(eol.to_owned());
                }
                out.push(format!("{header}{eol}"));
                out.len()
            }
        };
        out.splice(at..at, missing);
    }
    Ok(out.concat())
}

/// `# coder-convex: <note>` and every line of `body` commented out.
fn comment_out(note: &str, body: &str, eol: &str) -> String {
    let mut text = format!("# coder-convex: {note}{eol}");
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        text.push_str(&format!("# {line}{eol}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "# managed";

    #[test]
    fn new_file_gets_header_and_entries() {
        let out = merge(None, H, &[Entry::set("A", "1"), Entry::set("B", "x y")]).unwrap();
        assert_eq!(out, "# managed\nA='1'\nB='x y'\n");
    }

    #[test]
    fn user_lines_stay_in_place_and_values_update_in_place() {
        let before = "# mine\nFOO=bar # keep\nexport A=old\n\n  B = \"q\"\nZ=1";
        let out = merge(
            Some(before),
            H,
            &[
                Entry::set("A", "new"),
                Entry::set("B", "b"),
                Entry::set("C", "c"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "# mine\nFOO=bar # keep\nexport A='new'\n\nB='b'\nC='c'\nZ=1\n"
        );
        // Idempotent.
        assert_eq!(
            merge(
                Some(&out),
                H,
                &[
                    Entry::set("A", "new"),
                    Entry::set("B", "b"),
                    Entry::set("C", "c")
                ]
            )
            .unwrap(),
            out
        );
    }

    #[test]
    fn unset_and_duplicates_are_commented_out() {
        let before = "CONVEX_DEPLOYMENT=dev:foo-123 # team: x\nA='1'\nA=2\n";
        let entries = [
            Entry::unset("CONVEX_DEPLOYMENT", "conflicts with self-hosting"),
            Entry::set("A", "1"),
        ];
        let out = merge(Some(before), H, &entries).unwrap();
        assert_eq!(
            out,
            "# coder-convex: conflicts with self-hosting\n# CONVEX_DEPLOYMENT=dev:foo-123 # team: x\nA='1'\n\
             # coder-convex: duplicate A commented out; the value above is used\n# A=2\n"
        );
        assert_eq!(merge(Some(&out), H, &entries).unwrap(), out);
    }

    #[test]
    fn removed_keys_leave_only_the_note() {
        let before = "POSTGRES_URL='postgres://admin:pw@db'\nA='1'\n";
        let entries = [
            Entry::remove("POSTGRES_URL", "provisioned"),
            Entry::set("A", "1"),
        ];
        let out = merge(Some(before), H, &entries).unwrap();
        assert_eq!(out, "# coder-convex: provisioned\nA='1'\n");
        assert_eq!(merge(Some(&out), H, &entries).unwrap(), out);
    }

    #[test]
    fn missing_keys_go_under_an_existing_header() {
        let before = "X=1\n# managed\nY=2\n";
        assert_eq!(
            merge(Some(before), H, &[Entry::set("A", "a")]).unwrap(),
            "X=1\n# managed\nA='a'\nY=2\n"
        );
    }

    #[test]
    fn unsafe_values_are_rejected() {
        assert!(render("K", "it's").unwrap_err().contains("K"));
        assert!(render("K", "a\nb").is_err());
        assert_eq!(
            render("K", "a|b $HOME \"x\"").unwrap(),
            "K='a|b $HOME \"x\"'"
        );
    }

    #[test]
    fn parse_errors_name_the_file_line_and_key_never_a_value() {
        for (content, want) in [
            (
                "A=1\nB='unterminated s3cr3t\nC=s3cr3t\n",
                "/p/.env.local: line 2: the entry for B: its quoted value is never closed (the value is not shown)",
            ),
            (
                "A=1\n\nBAD-NAME=s3cr3t\n",
                "/p/.env.local: line 3: the entry for BAD-NAME: it cannot be parsed (the value is not shown)",
            ),
            (
                "s3cr3t\n",
                "/p/.env.local: line 1: the entry (not a KEY=value assignment): it cannot be parsed (the value is not shown)",
            ),
            (
                "A=\"s3cr3t\nB=s3cr3t",
                "/p/.env.local: line 1: the entry for A: its quoted value is never closed (the value is not shown)",
            ),
        ] {
            let err = parse(Path::new("/p/.env.local"), content).unwrap_err();
            assert_eq!(err.to_string(), want, "{content:?}");
            assert_eq!(err.exit_code(), 2);
            let all = format!("{err:?} {:?} {:?}", err.causes(), err.hint());
            assert!(!all.contains("s3cr3t"), "{all}");
        }
    }

    #[test]
    fn a_multi_line_quoted_value_is_one_entry() {
        let before = "NOTE=\"first\nINSTANCE_SECRET=inside\nlast\"\nA=1\n";
        let out = merge(
            Some(before),
            H,
            &[Entry::set("INSTANCE_SECRET", "s"), Entry::set("A", "2")],
        )
        .unwrap();
        assert_eq!(
            out,
            "NOTE=\"first\nINSTANCE_SECRET=inside\nlast\"\nA='2'\nINSTANCE_SECRET='s'\n"
        );
        let parsed = parse(Path::new("f"), &out).unwrap();
        assert_eq!(parsed["INSTANCE_SECRET"], "s");
        assert_eq!(parsed["NOTE"], "first\nINSTANCE_SECRET=inside\nlast");
        assert_eq!(
            merge(
                Some(&out),
                H,
                &[Entry::set("INSTANCE_SECRET", "s"), Entry::set("A", "2")]
            )
            .unwrap(),
            out
        );
    }

    #[test]
    fn crlf_files_keep_their_bytes_and_cr_only_files_are_refused() {
        let before = "# mine\r\nA=old\r\nB=\"x\r\ny\"\r\n";
        let out = merge(
            Some(before),
            H,
            &[Entry::set("A", "new"), Entry::set("C", "c")],
        )
        .unwrap();
        assert_eq!(out, "# mine\r\nA='new'\r\nC='c'\r\nB=\"x\r\ny\"\r\n");
        assert_eq!(
            merge(
                Some(&out),
                H,
                &[Entry::set("A", "new"), Entry::set("C", "c")]
            )
            .unwrap(),
            out
        );
        let err = merge(Some("A=1\rB=2\r"), H, &[Entry::set("A", "x")]).unwrap_err();
        assert!(err.contains("lone carriage return"), "{err}");
    }

    #[test]
    fn commenting_out_a_multi_line_entry_comments_every_line() {
        let out = merge(
            Some("CONVEX_DEPLOYMENT=\"a\nb\"\n"),
            H,
            &[Entry::unset("CONVEX_DEPLOYMENT", "why")],
        )
        .unwrap();
        assert_eq!(out, "# coder-convex: why\n# CONVEX_DEPLOYMENT=\"a\n# b\"\n");
    }
}
