//! Integration tests: the real binary against temp project dirs, fakes and real peers.
#![allow(
    clippy::unwrap_used,
    unreachable_pub,
    clippy::print_stdout,
    clippy::print_stderr
)]

// Shared helpers and fakes (`tests/support/`); the modules below them hold tests only.
#[path = "../support/common.rs"]
mod common;
#[path = "../support/deploy.rs"]
mod deploy;
#[path = "../support/entrypoint.rs"]
mod entrypoint_fixture;
#[path = "../support/fake_backend.rs"]
mod fake_backend;
#[path = "../support/mariadb.rs"]
mod mariadb;
#[path = "../support/npm_packages.rs"]
mod npm_packages;
#[path = "../support/postgres.rs"]
mod postgres;
#[path = "../support/project.rs"]
mod project;
#[path = "../support/registry.rs"]
mod registry;
#[path = "../support/release_mirror.rs"]
mod release_mirror;
#[path = "../support/templates.rs"]
mod templates;
#[path = "../support/workspaces.rs"]
mod workspaces;

mod architecture;
mod auth_keys;
mod auth_libs;
mod backup;
mod compose_file;
mod configure;
mod dashboard_login;
mod db_admin;
mod db_admin_mysql;
mod deploy_cli;
mod deploy_cli_auth;
mod dev_server_hosts;
mod doctor;
mod entrypoint;
mod entrypoint_data;
mod entrypoint_provisioned;
mod env_cmd;
mod external_db;
mod hostile_backend;
mod hostile_files;
mod hostile_inputs;
mod install_sh;
mod json;
mod mysql;
mod npm;
mod npm_launcher;
mod parse_errors;
mod pg;
mod prebuild_claim;
mod process;
mod read_only_key;
mod readme;
mod restore_seed;
mod setup;
mod shared_mysql;
mod shared_pg;
mod shared_races;
mod shared_role;
mod shared_role_mysql;
mod shared_role_setup;
mod snapshots;
mod status_metadata;
mod template;
mod template_backup;
mod template_docs;
mod template_module;
mod template_module_process;
mod template_module_scripts;
mod template_packages;
mod template_prebuilds;
mod template_release;
mod template_role;
mod template_scripts;
mod template_seed;
mod template_stop;
mod template_team;
mod up;
mod version_skew;
mod version_skew_hostile;
mod yarn_pnp;
