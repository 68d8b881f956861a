//! Steps 1–2 of the pipeline: read the project files, then derive the public and internal
//! URLs, the database and the instance name. Pure but for reading files and the optional
//! Coder manifest probe in [`derive_probing`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::DeriveArgs;
use crate::config::auth_libs::{self, AuthLib};
use crate::config::deployment_env;
use crate::config::instance::{self, InstanceNameSource};
use crate::config::secrets::{AuthSecret, JwtKey};
use crate::config::shared_db::{
    self, coder_workspace, provisioned, required_workspace, shared, workspace_instance,
};
use crate::config::site_url::{self, AppUrl, ExplicitUrl};
use crate::config::urls::{self, Manifest, PublicUrls, Slugs, UrlInputs};
use crate::database::url::{self as db_url, Database, DbInputs};
use crate::database::workspace::{Stamp, Workspace};
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::environment::parse_bool;
use crate::error::{Error, Result};
use crate::project::dotenv;
use crate::project::file_io;
use crate::project::{self, Framework};

/// An env file as found on disk. `Debug` shows the names, never the values.
#[derive(Clone, Default)]
pub(crate) struct EnvFile {
    pub(crate) path: PathBuf,
    pub(crate) text: Option<String>,
    pub(crate) values: BTreeMap<String, String>,
}

impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("path", &self.path)
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl EnvFile {
    pub(crate) fn load(path: PathBuf) -> Result<Self> {
        let text = file_io::read_optional(&path)?;
        let values = match &text {
            Some(t) => dotenv::parse(&path, t)?,
            None => BTreeMap::new(),
        };
        Ok(Self { path, text, values })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The project files this tool reads before deciding anything.
#[derive(Debug, Clone)]
pub(crate) struct ProjectState {
    pub(crate) dir: PathBuf,
    pub(crate) convex_env: EnvFile,
    pub(crate) cli_env: EnvFile,
    pub(crate) deployment_env: EnvFile,
    pub(crate) auth_env: EnvFile,
    pub(crate) package_json: Option<serde_json::Value>,
}

impl ProjectState {
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            convex_env: EnvFile::load(dir.join(project::CONVEX_ENV_FILE))?,
            cli_env: EnvFile::load(dir.join(project::CLI_ENV_FILE))?,
            deployment_env: EnvFile::load(dir.join(project::DEPLOYMENT_ENV_FILE))?,
            auth_env: EnvFile::load(dir.join(project::AUTH_ENV_FILE))?,
            package_json: project::read_package_json(dir)?,
        })
    }
}

/// Everything derived from the environment and the project (no secrets).
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    pub(crate) urls: PublicUrls,
    /// The Coder app slugs the URLs were built from.
    pub(crate) slugs: Slugs,
    pub(crate) backend_url: String,
    pub(crate) site_proxy_url: String,
    pub(crate) database: Option<Database>,
    pub(crate) instance_name: String,
    pub(crate) instance_name_source: InstanceNameSource,
    /// Shared Postgres: the workspace whose marker the database must carry.
    pub(crate) workspace: Option<Workspace>,
    /// Any other database server, in a Coder workspace: the workspace that claims the database
    /// with the same marker where the role may write it, so a second workspace given the same
    /// URL is refused instead of sharing the instance and its data.
    pub(crate) external_owner: Option<Workspace>,
    /// `CODER_CONVEX_SHARED_DATABASE=provisioned`: the template provisions the database and
    /// hands its credentials to the backend alone; no database settings are written here.
    pub(crate) provisioned: bool,
    /// Shared server: the backend's pool size (`CODER_CONVEX_DB_CONNECTIONS`).
    pub(crate) connection_budget: Option<u32>,
    /// Write the admin key for the dashboard (`CODER_CONVEX_DASHBOARD_LOGIN`).
    pub(crate) dashboard_login: bool,
    pub(crate) framework: Framework,
    /// The app's own public URL (`SITE_URL`), when there is a frontend we know of.
    pub(crate) app_url: Option<AppUrl>,
    /// The auth libraries `package.json` lists.
    pub(crate) auth_libs: Vec<AuthLib>,
    pub(crate) warnings: Vec<String>,
}

impl Derived {
    /// Shared server: what a preflight that runs now records in the workspace's marker.
    pub(crate) fn setup_stamp(&self, now_unix_s: u64) -> Option<Stamp> {
        self.workspace.as_ref().map(|_| Stamp {
            last_setup: Some(now_unix_s),
            budget: self.connection_budget,
        })
    }

    /// The workspace that claims the database with its marker, and whether the claim is best
    /// effort (an external database) rather than required (a shared server's).
    pub(crate) fn database_claim(&self) -> Option<(&Workspace, bool)> {
        match (&self.workspace, &self.external_owner) {
            (Some(ws), _) => Some((ws, false)),
            (None, Some(ws)) => Some((ws, true)),
            (None, None) => None,
        }
    }
}

/// Derive URLs, database and instance name. `manifest` is the Coder agent manifest when the
/// caller probed it (see [`UrlInputs::wants_manifest`]).
pub(crate) fn derive(
    env: &RawEnv,
    args: &DeriveArgs,
    state: &ProjectState,
    manifest: Result<Option<&Manifest>, &str>,
) -> Result<Derived> {
    let mut inputs = url_inputs(env, args, state, manifest.ok().flatten())?;
    inputs.manifest_problem = manifest.err();
    let urls = urls::derive(&inputs)?;
    let slugs = inputs.slugs.clone();
    let mut warnings = urls.warnings.clone();

    let backend_url = match &args.backend_url {
        Some(raw) => urls::validate_internal(raw, ev::CODER_CONVEX_BACKEND_URL)?,
        None => urls::DEFAULT_BACKEND_URL.to_owned(),
    };
    let site_proxy_url = match &args.site_proxy_url {
        Some(raw) => urls::validate_internal(raw, ev::CODER_CONVEX_SITE_PROXY_URL)?,
        None => urls::DEFAULT_SITE_PROXY_URL.to_owned(),
    };

    let explicit_db = db_url::from_inputs(&DbInputs {
        database_url: env.database_url.as_deref(),
        postgres_uri: env.postgres_uri.as_deref(),
        postgres_url: env.postgres_url.as_deref(),
        mysql_url: env.mysql_url.as_deref(),
    })?;
    let shared_url = match (
        env.coder_convex_shared_database_url.as_deref(),
        env.coder_convex_shared_postgres_url.as_deref(),
    ) {
        (Some(raw), _) => Some((ev::CODER_CONVEX_SHARED_DATABASE_URL, raw)),
        (None, Some(raw)) => Some((ev::CODER_CONVEX_SHARED_POSTGRES_URL, raw)),
        (None, None) => None,
    };
    let provisioned = provisioned(env.coder_convex_shared_database.as_deref())?;
    let (database, instance_name, instance_name_source, workspace) = match (explicit_db, shared_url)
    {
        (explicit, shared) if provisioned => {
            if let Some(var) = explicit
                .map(|db| db.source)
                .or(shared.map(|(v, _)| v.to_owned()))
            {
                return Err(Error::invalid(
                    &var,
                    format!("is set, but {}=provisioned", ev::CODER_CONVEX_SHARED_DATABASE),
                )
                .with_hint("with a provisioned database no database URL belongs in the workspace: remove it from the workspace's environment (the template gives it to the provisioner only)"));
            }
            let ws = required_workspace(env, ev::CODER_CONVEX_SHARED_DATABASE)?;
            let (name, source) =
                workspace_instance(env, &ws, state.convex_env.get(ev::INSTANCE_NAME))?;
            (None, name, source, None)
        }
        (None, Some((var, raw))) => {
            let (db, name, source, workspace) =
                shared(env, var, raw, state.convex_env.get(ev::INSTANCE_NAME))?;
            (Some(db), name, source, Some(workspace))
        }
        (explicit, _) => {
            let database = match explicit {
                Some(db) => Some(db),
                // The file is the lowest-precedence input: keep the database a previous run chose.
                None => database_from_file(&state.convex_env)?,
            };
            let (name, source) = instance::instance_name(
                env.instance_name.as_deref(),
                database.as_ref(),
                state.convex_env.get(ev::INSTANCE_NAME),
                &mut warnings,
            )?;
            (database, name, source, None)
        }
    };
    let external_owner = match (&database, &workspace) {
        (Some(_), None) => coder_workspace(env),
        _ => None,
    };
    let connection_budget = match &workspace {
        Some(_) => Some(shared_db::connection_budget(env)?),
        None => None,
    };
    if let Some(db) = &database {
        instance::check_database_name(&instance_name, instance_name_source, &db.source)?;
        warnings.extend(db.notes.iter().cloned());
    }
    let framework = Framework::detect(state.package_json.as_ref());
    let app_url = app_url(args, state, framework, &inputs)?;
    Ok(Derived {
        urls,
        slugs,
        backend_url,
        site_proxy_url,
        database,
        instance_name,
        instance_name_source,
        workspace,
        external_owner,
        provisioned,
        connection_budget,
        dashboard_login: boolish(
            ev::CODER_CONVEX_DASHBOARD_LOGIN,
            env.coder_convex_dashboard_login.as_deref(),
        )?,
        framework,
        app_url,
        auth_libs: auth_libs::detect(state.package_json.as_ref()),
        warnings,
    })
}

/// `SITE_URL`: the flag or variable, else a `SITE_URL` line in `.env.convex.deployment`
/// (where earlier versions told users to put it), else derived from the frontend port.
fn app_url(
    args: &DeriveArgs,
    state: &ProjectState,
    framework: Framework,
    inputs: &UrlInputs<'_>,
) -> Result<Option<AppUrl>> {
    let in_file = format!("{} in {}", ev::SITE_URL, project::DEPLOYMENT_ENV_FILE);
    let explicit = match args.site_url.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(value) => Some(ExplicitUrl {
            value,
            input: ev::SITE_URL,
        }),
        None => state
            .deployment_env
            .get(ev::SITE_URL)
            .map(|value| ExplicitUrl {
                value,
                input: &in_file,
            }),
    };
    let port = site_url::detect_port(args.frontend_port, state.package_json.as_ref(), framework);
    site_url::derive(explicit, port, inputs)
}

/// A boolean variable ([`parse_bool`]); unset is `false`.
fn boolish(var: &str, raw: Option<&str>) -> Result<bool> {
    raw.map_or(Ok(false), |raw| {
        parse_bool(raw)
            .map_err(|message| Error::invalid(var, message).with_hint("use true or false"))
    })
}

fn database_from_file(file: &EnvFile) -> Result<Option<Database>> {
    for var in [ev::POSTGRES_URL, ev::MYSQL_URL] {
        if let Some(raw) = file.get(var) {
            let input = format!("{var} in {}", project::CONVEX_ENV_FILE);
            return db_url::normalise(&input, raw).map(Some);
        }
    }
    Ok(None)
}

/// [`derive()`], probing the Coder agent manifest first when the environment calls for it.
pub(crate) async fn derive_probing(
    env: &RawEnv,
    args: &DeriveArgs,
    state: &ProjectState,
) -> Result<Derived> {
    let inputs = url_inputs(env, args, state, None)?;
    let manifest = if inputs.wants_manifest() {
        let addr = env
            .coder_agent_debug_address
            .as_deref()
            .unwrap_or(urls::DEFAULT_AGENT_DEBUG_ADDRESS);
        crate::config::coder_agent::fetch_manifest(addr)
            .await
            .map(Some)
    } else {
        Ok(None)
    };
    derive(
        env,
        args,
        state,
        manifest
            .as_ref()
            .map(Option::as_ref)
            .map_err(String::as_str),
    )
}

/// The URL variables pinned in the project file (`CODER_CONVEX_PINNED_URLS`).
pub(crate) fn pinned_urls(state: &ProjectState) -> Vec<&str> {
    state
        .convex_env
        .get(ev::CODER_CONVEX_PINNED_URLS)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Assemble the URL derivation inputs: flag > environment > pinned in the project file >
/// the derivation rules.
pub(crate) fn url_inputs<'a>(
    env: &'a RawEnv,
    args: &'a DeriveArgs,
    state: &'a ProjectState,
    manifest: Option<&'a Manifest>,
) -> Result<UrlInputs<'a>> {
    let given = [
        args.cloud_origin.as_deref(),
        args.site_origin.as_deref(),
        args.dashboard_url.as_deref(),
    ]
    .map(|v| v.filter(|s| !s.trim().is_empty()));
    let pins = if args.unpin_urls {
        Vec::new()
    } else {
        pinned_urls(state)
    };
    let mut explicit = given;
    let mut pinned = [false; 3];
    for (i, app) in urls::App::ALL.into_iter().enumerate() {
        let var = app.explicit_var();
        if explicit[i].is_none()
            && pins.contains(&var)
            && let Some(value) = state.convex_env.get(var)
        {
            explicit[i] = Some(value);
            pinned[i] = true;
        }
    }
    Ok(UrlInputs {
        explicit,
        pinned,
        coder: env.is_coder(),
        vscode_proxy_uri: env.vscode_proxy_uri.as_deref(),
        agent_name: env.coder_workspace_agent_name.as_deref(),
        workspace_name: env.coder_workspace_name.as_deref(),
        owner_name: env.coder_workspace_owner_name.as_deref(),
        manifest,
        manifest_problem: None,
        codespace_name: env.codespace_name.as_deref(),
        codespaces_domain: env.github_codespaces_port_forwarding_domain.as_deref(),
        gitpod_workspace_url: env.gitpod_workspace_url.as_deref(),
        slugs: Slugs::new([
            env.coder_convex_api_slug.as_deref(),
            env.coder_convex_site_slug.as_deref(),
            env.coder_convex_dashboard_slug.as_deref(),
        ])?,
        short_labels: args.short_labels,
    })
}

/// The deployment variables we want: what the detected auth libraries need (README "Auth
/// libraries"), `SITE_URL` when known, and the user's file.
pub(crate) fn desired_env(
    dir: &Path,
    derived: &Derived,
    jwt: &JwtKey,
    auth_secret: Option<&AuthSecret>,
) -> Result<BTreeMap<String, String>> {
    let needs = auth_libs::needs(&derived.auth_libs);
    let auth_secret = match (needs.better_auth_secret, auth_secret) {
        (false, _) => None,
        (true, Some(secret)) => Some(secret),
        (true, None) => {
            return Err(Error::file(
                dir.join(project::AUTH_ENV_FILE),
                format!("has no {} yet", ev::BETTER_AUTH_SECRET),
            )
            .with_hint("run `coder-convex setup` (or `configure`) to generate it"));
        }
    };
    let user_file = EnvFile::load(dir.join(project::DEPLOYMENT_ENV_FILE))?;
    if let Some((line, key)) = user_file
        .text
        .as_deref()
        .and_then(|t| dotenv::double_equals(t).into_iter().next())
    {
        return Err(Error::file(
            &user_file.path,
            format!("line {line}: {key}== sets {key} to a value that starts with `=`"),
        )
        .with_hint(format!(
            "use a single `=`; if the value really starts with `=`, quote it: {key}='=…'"
        )));
    }
    let managed = deployment_env::Managed {
        jwt: needs.jwt_keys.then_some(jwt),
        site_origin: &derived.urls.site,
        auth_secret,
        site_url: derived.app_url.as_ref().map(|a| a.url.as_str()),
    };
    deployment_env::desired(&managed, &user_file.values, &user_file.path)
}
