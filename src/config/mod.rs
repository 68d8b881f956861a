//! Steps 1–3 of the pipeline: the inputs (environment, flags, project files, the Coder agent)
//! turned into URLs, the database, the instance name and the secrets. Pure but for
//! `derive`'s file reads and `coder_agent`'s one bounded request.

pub(crate) mod auth_libs;
pub(crate) mod coder_agent;
pub(crate) mod deployment_env;
pub(crate) mod derive;
pub(crate) mod identity;
pub mod instance;
#[cfg(test)]
mod properties;
pub mod secrets;
pub(crate) mod shared_db;
pub(crate) mod site_url;
pub(crate) mod url_checks;
pub mod urls;
