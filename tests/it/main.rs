//! Integration tests: the real binary against temp project dirs, fakes and real peers.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../support/fake_backend.rs"]
mod fake_backend;

mod auth_keys;
mod configure;
mod doctor;
mod entrypoint;
mod env_cmd;
mod npm;
mod pg;
mod readme;
mod setup;
mod template;
