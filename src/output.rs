//! The only place that prints: people read stderr, programs read stdout.
//!
//! With `--json` every run prints exactly one JSON document on stdout: the command's report
//! with `ok` and `exit_code`, plus `error` when it failed (see [`Output::document`]).
//!
//! I/O: stdout and stderr (and the terminal prompt).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal as _, Write as _};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::ColorChoice;
use crate::error::{Error, ExitStatus};

#[derive(Debug, Clone)]
pub(crate) struct Output {
    quiet: bool,
    color: bool,
}

impl Output {
    pub(crate) fn new(quiet: bool, color: ColorChoice, no_color_env: bool) -> Self {
        Self {
            quiet,
            color: color_enabled(color, no_color_env),
        }
    }

    /// Whether stderr is an interactive terminal (spinners only there).
    pub(crate) fn is_tty(&self) -> bool {
        std::io::stderr().is_terminal()
    }

    pub(crate) fn color(&self) -> bool {
        self.color
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A progress or summary line for people (hidden by `-q`).
    pub(crate) fn info(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A line with a green check (hidden by `-q`).
    pub(crate) fn success(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{} {}", self.paint("32", "✓"), line.as_ref());
        }
    }

    /// Redraw one status line in place (terminals only); an empty text clears it.
    pub(crate) fn spinner(&self, text: &str) {
        if !self.quiet {
            eprint!("\r\x1b[2K{text}");
            let _ = std::io::stderr().flush();
        }
    }

    /// Ask a yes/no question on the terminal. `None` when stdin or stderr is not a terminal:
    /// then nobody is asked, and the caller needs an explicit flag instead.
    pub(crate) fn confirm(&self, question: &str) -> Option<bool> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }

    /// A report line for people that `-q` keeps (the doctor table).
    pub(crate) fn report(&self, line: &str) {
        eprintln!("{line}");
    }

    pub(crate) fn warn(&self, line: impl AsRef<str>) {
        eprintln!("{} {}", self.paint("33;1", "warning:"), line.as_ref());
    }

    /// Data for programs and pipes.
    pub(crate) fn data(&self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = writeln!(out, "{}", text.as_ref());
    }

    /// `error:` / `caused by:` / `hint:` rendering of a failure.
    pub(crate) fn error(&self, err: &Error) {
        eprintln!("{} {err}", self.paint("31;1", "error:"));
        for cause in err.causes() {
            eprintln!("  {} {cause}", self.paint("33", "caused by:"));
        }
        if let Error::Child { tail, .. } | Error::Containers { tail, .. } = err
            && !tail.is_empty()
        {
            eprintln!("  last lines of output:");
            for line in tail {
                eprintln!("    {line}");
            }
        }
        if let Some(hint) = err.hint() {
            eprintln!("  {} {hint}", self.paint("36;1", "hint:"));
        }
    }

    /// The one JSON document of a `--json` run.
    pub(crate) fn document(&self, report: Option<&Value>, failure: Option<&Error>) {
        self.data(serde_json::to_string_pretty(&document(report, failure)).unwrap_or_default());
    }
}

/// Colour for people: the flag, then `NO_COLOR`, then whether stderr is a terminal.
pub(crate) fn color_enabled(choice: ColorChoice, no_color_env: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color_env && std::io::stderr().is_terminal(),
    }
}

/// How `--json` shows a failure.
#[derive(Debug, Serialize)]
struct ErrorReport<'a> {
    code: &'static str,
    message: String,
    causes: Vec<String>,
    hint: Option<&'a str>,
    /// The Convex CLI's own exit code, for `child_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    child_exit_code: Option<u8>,
}

/// `{"ok", "exit_code", "error"?, …report}`: the report's own fields follow the envelope.
fn document(report: Option<&Value>, failure: Option<&Error>) -> Value {
    let status = failure.map_or(ExitStatus::Success, Error::exit_status);
    let mut doc = Map::new();
    doc.insert("ok".into(), Value::Bool(failure.is_none()));
    doc.insert("exit_code".into(), Value::from(status.code()));
    if let Some(err) = failure {
        let error = ErrorReport {
            code: err.code().as_str(),
            message: err.to_string(),
            causes: err.causes(),
            hint: err.hint(),
            child_exit_code: match err {
                Error::Child { code, .. } => Some(*code),
                _ => None,
            },
        };
        doc.insert(
            "error".into(),
            serde_json::to_value(error).unwrap_or_default(),
        );
    }
    if let Some(Value::Object(fields)) = report {
        for (k, v) in fields {
            if !doc.contains_key(k) {
                doc.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_code_message_hint_and_exit_code() {
        let err = Error::invalid("DATABASE_URL", "no user name").with_hint("add one");
        let doc = document(Some(&serde_json::json!({"ok": true, "a": 1})), Some(&err));
        assert_eq!(
            doc,
            serde_json::json!({
                "ok": false,
                "exit_code": 2,
                "error": {"code": "invalid_input", "message": "invalid DATABASE_URL: no user name", "causes": [], "hint": "add one"},
                "a": 1,
            })
        );
        assert_eq!(
            document(None, None),
            serde_json::json!({"ok": true, "exit_code": 0})
        );
    }
}
