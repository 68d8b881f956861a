//! coder-convex: make a self-hosted Convex backend "just work" in a Coder workspace.
pub mod cli;
pub mod database;
pub mod env_vars;
pub mod error;
pub mod secrets;
pub mod settings;
pub mod urls;
