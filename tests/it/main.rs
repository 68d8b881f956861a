//! Integration tests: the real binary against temp project dirs, fakes and real peers.
#![allow(
    clippy::unwrap_used,
    unreachable_pub,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;
#[path = "../support/fake_backend.rs"]
mod fake_backend;

mod architecture;
mod auth_keys;
mod configure;
mod deploy_cli;
mod doctor;
mod entrypoint;
mod env_cmd;
mod hostile_backend;
mod hostile_files;
mod hostile_inputs;
mod json;
mod pg;
mod readme;
mod setup;
mod snapshots;
mod template;
