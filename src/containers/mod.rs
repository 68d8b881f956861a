//! The Convex containers `up`, `down` and `logs` run outside Coder: the compose file and what
//! it is handed (`compose`, pure), the engine that runs it (`engine`, child processes),
//! and the loopback ports it publishes (`ports`).

pub mod compose;
pub(crate) mod engine;
pub(crate) mod ports;
