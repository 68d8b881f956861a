//! The binary: take one snapshot of the environment, parse, run, exit with the status.
//!
//! I/O: the process environment and arguments.

use std::ffi::OsString;
use std::process::ExitCode;

use coder_convex::RawEnv;

fn main() -> ExitCode {
    // The environment is read once, here; everything below gets this snapshot.
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match coder_convex::parse(&args, &env) {
        Ok(cli) => cli,
        Err(err) => return ExitCode::from(coder_convex::parse_failed(&err, &args).code()),
    };
    let raw = RawEnv::from_snapshot(&env);
    let status = coder_convex::run(cli, raw, env);
    ExitCode::from(status.code())
}
