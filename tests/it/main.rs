//! Integration tests: the real binary against temp project dirs, fakes and real peers.
#![allow(clippy::unwrap_used)]

mod common;

mod auth_keys;
mod configure;
mod env_cmd;
mod readme;
