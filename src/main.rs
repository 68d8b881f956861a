use std::process::ExitCode;

use coder_convex::{RawEnv, cli};

fn main() -> ExitCode {
    let cli = cli::parse().unwrap_or_else(|err| err.exit());
    let env = RawEnv::from_process();
    let status = coder_convex::run(cli, env, std::env::vars_os().collect());
    ExitCode::from(status.code())
}
