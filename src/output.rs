//! The only place that prints: people read stderr, programs read stdout.

use std::io::{IsTerminal as _, Write as _};

use crate::cli::ColorChoice;
use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Output {
    quiet: bool,
    color: bool,
}

impl Output {
    pub fn new(quiet: bool, color: ColorChoice, no_color_env: bool) -> Self {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color_env && std::io::stderr().is_terminal(),
        };
        Self { quiet, color }
    }

    /// Whether stderr is an interactive terminal (spinners only there).
    pub fn is_tty(&self) -> bool {
        std::io::stderr().is_terminal()
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A progress or summary line for people (hidden by `-q`).
    pub fn info(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A line with a green check (hidden by `-q`).
    pub fn success(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{} {}", self.paint("32", "✓"), line.as_ref());
        }
    }

    /// Redraw one status line in place (terminals only); an empty text clears it.
    pub fn spinner(&self, text: &str) {
        if !self.quiet {
            eprint!("\r\x1b[2K{text}");
            let _ = std::io::stderr().flush();
        }
    }

    /// A report line for people that `-q` keeps (the doctor table).
    pub fn report(&self, line: &str) {
        eprintln!("{line}");
    }

    pub fn warn(&self, line: impl AsRef<str>) {
        eprintln!("{} {}", self.paint("33;1", "warning:"), line.as_ref());
    }

    /// Data for programs and pipes.
    pub fn data(&self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = writeln!(out, "{}", text.as_ref());
    }

    pub fn json(&self, value: &serde_json::Value) {
        self.data(serde_json::to_string_pretty(value).unwrap_or_default());
    }

    /// `error:` / `hint:` rendering of a failure.
    pub fn error(&self, err: &Error) {
        eprintln!("{} {err}", self.paint("31;1", "error:"));
        if let Error::Child { tail, .. } = err
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
}
