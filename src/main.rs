use std::process::ExitCode;

use clap::Parser as _;
use coder_convex::{RawEnv, cli::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = RawEnv::from_process();
    let status = coder_convex::run(cli, env, std::env::vars_os().collect());
    ExitCode::from(status.code())
}
