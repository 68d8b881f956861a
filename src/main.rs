use std::process::ExitCode;

use clap::Parser as _;
use coder_convex::{cli::Cli, settings::RawEnv};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = RawEnv::from_process();
    ExitCode::from(coder_convex::main(cli, env, std::env::vars_os().collect()))
}
