//! Split an env file into entries, keeping every byte: an assignment whose quoted value
//! spans several lines is one entry, and each entry keeps its own line ending (`\n` or
//! `\r\n`). Joining the entries' text gives back the file exactly.
//!
//! Pure.

/// One entry of an env file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    /// The entry's bytes, its line ending included.
    pub(crate) text: &'a str,
    /// The key it assigns (`KEY=…` or `export KEY=…`), if it is an assignment.
    pub(crate) key: Option<&'a str>,
    pub(crate) export: bool,
    /// A quoted value that is never closed (readers disagree on what follows it).
    pub(crate) unterminated: bool,
    /// 1-based line where the entry starts.
    pub(crate) line: usize,
}

impl Item<'_> {
    /// The entry without its line ending.
    pub(crate) fn body(&self) -> &str {
        self.text.trim_end_matches(['\n', '\r'])
    }

    /// The entry's line ending (empty on a last line without one).
    pub(crate) fn ending(&self) -> &str {
        &self.text[self.body().len()..]
    }
}

/// The key a line assigns, if it starts an assignment, and whether it has `export`; the
/// returned offset is where the value starts (after `=` and blanks).
pub(crate) fn assignment(line: &str) -> Option<(&str, bool, usize)> {
    let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
    let mut rest = &line[lead..];
    let export = rest
        .strip_prefix("export")
        .is_some_and(|r| r.starts_with([' ', '\t']));
    if export {
        rest = rest["export".len()..].trim_start_matches([' ', '\t']);
    }
    let key_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        return None;
    }
    let after = &rest[key_len..];
    let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
    let after = &after[blanks..];
    let value = after.strip_prefix('=')?;
    let value_blanks = value.len() - value.trim_start_matches([' ', '\t']).len();
    let offset = line.len() - value.len() + value_blanks;
    Some((key, export, offset))
}

/// The end (exclusive) of the physical line starting at `from`, its ending included.
fn line_end(text: &str, from: usize) -> usize {
    match text[from..].find('\n') {
        Some(i) => from + i + 1,
        None => text.len(),
    }
}

/// Where a reader is within an entry: the rules dotenvy uses to decide whether the next
/// physical line belongs to the same entry (shell-like quotes anywhere in the line,
/// backslash escapes, and `#` after a blank starting a comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Complete,
    Blank,
    Escape,
    Strong,
    StrongEscape,
    Weak,
    WeakEscape,
    Comment,
}

fn step(state: State, c: char) -> State {
    use State::{Blank, Comment, Complete, Escape, Strong, StrongEscape, Weak, WeakEscape};
    match (state, c) {
        (Blank, '#') => Comment,
        (Blank | Complete, '\\') => Escape,
        (Blank | Complete, '"') => Weak,
        (Blank | Complete, '\'') => Strong,
        (Complete, c) if c.is_whitespace() && c != '\n' && c != '\r' => Blank,
        (Blank | Complete | Escape, _) => Complete,
        (Weak, '\\') => WeakEscape,
        (Weak, '"') | (Strong, '\'') => Complete,
        (Weak | WeakEscape, _) => Weak,
        (Strong, '\\') => StrongEscape,
        (Strong | StrongEscape, _) => Strong,
        (Comment, _) => Comment,
    }
}

/// Every entry of `text`, in order.
pub(crate) fn lex(text: &str) -> Vec<Item<'_>> {
    let mut items = Vec::new();
    let mut at = 0;
    let mut line = 1;
    while at < text.len() {
        let first_end = line_end(text, at);
        let first = &text[at..first_end];
        let mut stop = first_end;
        let mut unterminated = false;
        if !first.trim_start().starts_with('#') {
            let mut state = State::Complete;
            let mut from = at;
            loop {
                let end = line_end(text, from);
                for c in text[from..end].chars() {
                    state = step(state, c);
                    if state == State::Comment {
                        break;
                    }
                }
                stop = end;
                if matches!(state, State::Complete | State::Comment | State::Blank) {
                    break;
                }
                if end == text.len() {
                    unterminated = true;
                    break;
                }
                from = end;
            }
        }
        let assigned = assignment(first);
        let item_text = &text[at..stop];
        items.push(Item {
            text: item_text,
            key: assigned.map(|(key, _, _)| key),
            export: assigned.is_some_and(|(_, export, _)| export),
            unterminated,
            line,
        });
        line += item_text.matches('\n').count();
        at = stop;
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_every_byte() {
        let text = "# c\r\nA=1\r\nexport  B = \"x\ny\nINSTANCE_SECRET=z\"  # note\nC='p\r\nq'\nD=4";
        let items = lex(text);
        assert_eq!(
            items.iter().map(|i| i.text).collect::<Vec<_>>(),
            vec![
                "# c\r\n",
                "A=1\r\n",
                "export  B = \"x\ny\nINSTANCE_SECRET=z\"  # note\n",
                "C='p\r\nq'\n",
                "D=4"
            ]
        );
        assert_eq!(
            items.iter().map(|i| i.key).collect::<Vec<_>>(),
            vec![None, Some("A"), Some("B"), Some("C"), Some("D")]
        );
        assert_eq!(
            items.iter().map(|i| i.line).collect::<Vec<_>>(),
            vec![1, 2, 3, 6, 8]
        );
        assert!(items[2].export);
        assert_eq!(items[1].ending(), "\r\n");
        assert_eq!(items[4].ending(), "");
        assert_eq!(items.iter().map(|i| i.text).collect::<String>(), text);
    }

    #[test]
    fn escaped_and_unterminated_quotes() {
        let items = lex("A=\"a\\\"b\nc\"\nB='open\nC=1\n");
        assert_eq!(items[0].text, "A=\"a\\\"b\nc\"\n");
        // An unterminated quote runs to the end (as for dotenvy), marked.
        assert_eq!(items[1].text, "B='open\nC=1\n");
        assert!(items[1].unterminated && !items[0].unterminated);
        assert_eq!(items.len(), 2);
        // Quotes anywhere in the value count, and `#` after a blank is a comment.
        let items = lex("A=x'y\nz'w\nB=1 # it's\nC=2\n");
        assert_eq!(
            items.iter().map(|i| i.text).collect::<Vec<_>>(),
            vec!["A=x'y\nz'w\n", "B=1 # it's\n", "C=2\n"]
        );
    }

    #[test]
    fn assignments() {
        for (line, want) in [
            ("A=1", Some(("A", false))),
            ("  export FOO_BAR = x", Some(("FOO_BAR", true))),
            ("export=1", Some(("export", false))),
            ("exportA=1", Some(("exportA", false))),
            ("# A=1", None),
            ("1A=1", None),
            ("A", None),
            ("A B=1", None),
            ("  export  A_B = 1", Some(("A_B", true))),
            ("CONVEX_SITE_URL==x", Some(("CONVEX_SITE_URL", false))),
        ] {
            assert_eq!(assignment(line).map(|(k, e, _)| (k, e)), want, "{line:?}");
        }
    }
}
