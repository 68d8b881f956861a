//! Steps 1–3 of the pipeline: read the project files, derive URLs, database and instance
//! name, and resolve the secrets. Everything a command needs to know, in one value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::DeriveArgs;
use crate::database::{self, Database, DbInputs, InstanceNameSource};
use crate::dotenv;
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::project::{self, Framework};
use crate::secrets::{self, InstanceSecret};
use crate::settings::RawEnv;
use crate::urls::{self, Manifest, PublicUrls, Slugs, UrlInputs};

/// An env file as found on disk. `Debug` shows the names, never the values.
#[derive(Clone, Default)]
pub struct EnvFile {
    pub path: PathBuf,
    pub text: Option<String>,
    pub values: BTreeMap<String, String>,
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
    pub fn load(path: PathBuf) -> Result<Self> {
        let text = dotenv::read_optional(&path)?;
        let values = match &text {
            Some(t) => dotenv::parse(&path, t)?,
            None => BTreeMap::new(),
        };
        Ok(Self { path, text, values })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The project files this tool reads before deciding anything.
#[derive(Debug, Clone)]
pub struct ProjectState {
    pub dir: PathBuf,
    pub convex_env: EnvFile,
    pub cli_env: EnvFile,
    pub package_json: Option<serde_json::Value>,
}

impl ProjectState {
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            convex_env: EnvFile::load(dir.join(project::CONVEX_ENV_FILE))?,
            cli_env: EnvFile::load(dir.join(project::CLI_ENV_FILE))?,
            package_json: project::read_package_json(dir)?,
        })
    }
}

/// Everything derived from the environment and the project (no secrets).
#[derive(Debug, Clone)]
pub struct Derived {
    pub urls: PublicUrls,
    pub backend_url: String,
    pub site_proxy_url: String,
    pub database: Option<Database>,
    pub instance_name: String,
    pub instance_name_source: InstanceNameSource,
    pub framework: Framework,
    pub warnings: Vec<String>,
}

/// Derive URLs, database and instance name. `manifest` is the Coder agent manifest when the
/// caller probed it (see [`UrlInputs::wants_manifest`]).
pub fn derive(
    env: &RawEnv,
    args: &DeriveArgs,
    state: &ProjectState,
    manifest: Option<&Manifest>,
) -> Result<Derived> {
    let inputs = url_inputs(env, args, manifest)?;
    let urls = urls::derive(&inputs)?;
    let mut warnings = urls.warnings.clone();

    let backend_url = match &args.backend_url {
        Some(raw) => urls::validate_internal(raw, ev::CODER_CONVEX_BACKEND_URL)?,
        None => urls::DEFAULT_BACKEND_URL.to_owned(),
    };
    let site_proxy_url = match &args.site_proxy_url {
        Some(raw) => urls::validate_internal(raw, ev::CODER_CONVEX_SITE_PROXY_URL)?,
        None => urls::DEFAULT_SITE_PROXY_URL.to_owned(),
    };

    let database = match database::from_inputs(&DbInputs {
        database_url: env.database_url.as_deref(),
        postgres_uri: env.postgres_uri.as_deref(),
        postgres_url: env.postgres_url.as_deref(),
        mysql_url: env.mysql_url.as_deref(),
    })? {
        Some(db) => Some(db),
        // The file is the lowest-precedence input: keep the database a previous run chose.
        None => database_from_file(&state.convex_env)?,
    };
    let (instance_name, instance_name_source) = database::instance_name(
        env.instance_name.as_deref(),
        database.as_ref(),
        state.convex_env.get(ev::INSTANCE_NAME),
        &mut warnings,
    )?;
    Ok(Derived {
        urls,
        backend_url,
        site_proxy_url,
        database,
        instance_name,
        instance_name_source,
        framework: Framework::detect(state.package_json.as_ref()),
        warnings,
    })
}

fn database_from_file(file: &EnvFile) -> Result<Option<Database>> {
    for var in [ev::POSTGRES_URL, ev::MYSQL_URL] {
        if let Some(raw) = file.get(var) {
            let input = format!("{var} in {}", project::CONVEX_ENV_FILE);
            return database::normalise(&input, raw).map(Some);
        }
    }
    Ok(None)
}

/// [`derive`], probing the Coder agent manifest first when the environment calls for it.
pub async fn derive_probing(
    env: &RawEnv,
    args: &DeriveArgs,
    state: &ProjectState,
) -> Result<Derived> {
    let inputs = url_inputs(env, args, None)?;
    let manifest = if inputs.wants_manifest() {
        let addr = env
            .coder_agent_debug_address
            .as_deref()
            .unwrap_or(urls::DEFAULT_AGENT_DEBUG_ADDRESS);
        crate::backend::fetch_manifest(addr).await
    } else {
        None
    };
    derive(env, args, state, manifest.as_ref())
}

/// Assemble the URL derivation inputs from the environment and flags.
pub fn url_inputs<'a>(
    env: &'a RawEnv,
    args: &'a DeriveArgs,
    manifest: Option<&'a Manifest>,
) -> Result<UrlInputs<'a>> {
    Ok(UrlInputs {
        explicit: [
            args.cloud_origin.as_deref(),
            args.site_origin.as_deref(),
            args.dashboard_url.as_deref(),
        ]
        .map(|v| v.filter(|s| !s.trim().is_empty())),
        coder: env.is_coder(),
        vscode_proxy_uri: env.vscode_proxy_uri.as_deref(),
        agent_name: env.coder_workspace_agent_name.as_deref(),
        workspace_name: env.coder_workspace_name.as_deref(),
        owner_name: env.coder_workspace_owner_name.as_deref(),
        manifest,
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

/// Where a secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Environment,
    ProjectFile,
    Generated,
    Minted,
}

/// The instance secret and admin key, when they exist (or were made); no `Debug`.
#[derive(Clone)]
pub struct Identity {
    pub secret: Option<(InstanceSecret, Origin)>,
    pub admin_key: Option<(String, Origin)>,
}

/// Resolve the instance secret (environment > `.env.convex.local` > generate) and the admin key
/// (a valid one in `.env.local` is kept, else one is minted). With `generate == false` a
/// missing secret stays missing.
pub fn resolve_identity(
    env: &RawEnv,
    state: &ProjectState,
    instance_name: &str,
    generate: bool,
) -> Result<Identity> {
    let secret = if let Some(raw) = &env.instance_secret {
        let secret = InstanceSecret::from_hex(raw).map_err(|why| {
            Error::invalid(ev::INSTANCE_SECRET, why)
                .with_hint("unset it to keep the generated secret, or give 64 hex characters (`openssl rand -hex 32`)")
        })?;
        Some((secret, Origin::Environment))
    } else if let Some(raw) = state.convex_env.get(ev::INSTANCE_SECRET) {
        let secret = InstanceSecret::from_hex(raw).map_err(|why| {
            Error::file(&state.convex_env.path, format!("{} {why}", ev::INSTANCE_SECRET)).with_hint(
                "restore the secret the backend was started with; a new secret invalidates every admin key",
            )
        })?;
        Some((secret, Origin::ProjectFile))
    } else if generate {
        Some((InstanceSecret::generate(), Origin::Generated))
    } else {
        None
    };
    let admin_key = secret.as_ref().map(|(secret, _)| {
        match state.cli_env.get(ev::CONVEX_SELF_HOSTED_ADMIN_KEY) {
            Some(key) if secrets::validate_admin_key(key, secret, instance_name).is_ok() => {
                (key.to_owned(), Origin::ProjectFile)
            }
            _ => (
                secrets::mint_admin_key(secret, instance_name),
                Origin::Minted,
            ),
        }
    });
    Ok(Identity { secret, admin_key })
}
