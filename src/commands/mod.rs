//! One module per command, each owning its flags' use and its report. The dispatcher is in
//! `lib.rs`; nothing here imports it. Shared context and steps live in [`context`] and
//! [`steps`].

pub(crate) mod admin_key;
pub(crate) mod backup;
pub(crate) mod configure;
mod context;
pub(crate) mod db;
pub(crate) mod deploy;
pub(crate) mod doctor;
pub(crate) mod down;
pub(crate) mod env;
pub(crate) mod env_set;
pub(crate) mod logs;
pub(crate) mod restore;
pub(crate) mod setup;
pub(crate) mod status;
mod steps;
pub(crate) mod up;

pub(crate) use context::{Ctx, Outcome};
