//! The database the backend stores its data in: the URL it is given (`url`, pure), the
//! preflight that connects the way the backend will (`preflight`, `mysql`, its steps in
//! `steps`), and one shared server holding a database per workspace (`workspace` names and
//! marks them, `budget` sizes each backend's pool, `shared` lists and drops them for the admin, `role` gives each its own login role).

pub mod budget;
pub(crate) mod failure;
pub(crate) mod mysql;
pub(crate) mod preflight;
pub(crate) mod role;
pub(crate) mod shared;
pub(crate) mod steps;
pub mod url;
pub mod workspace;
