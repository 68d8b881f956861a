//! `coder-convex restore [BACKUP]`: replace the deployment's data with a backup
//! (`convex import --replace-all`), then its environment variables with the manifest's,
//! except the ones coder-convex generates (JWT key, URLs, secrets: another workspace's would
//! not match this one's files) and the ones this project declares. This deployment's newest
//! backup by default; another instance's or deployment's only with `--force`; asks first
//! unless `--yes`, and without a terminal to ask, refuses instead of hanging. Imports under
//! the project lock.
//!
//! I/O: the backend, the Convex CLI, the backup store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::backend::EnvChange;
use crate::backups::{self, Manifest};
use crate::cli::{BackupArgs, DeriveArgs, WaitArgs};
use crate::config::deployment_env::{GENERATED, OWNED_VAR};
use crate::deadline::Deadline;
use crate::env_vars::CODER_CONVEX_SEEDED as SEEDED;
use crate::error::{Error, Result};

use super::backup::{path_arg, store};
use super::context::{self, Ctx, Execute, Outcome, Running};
use super::steps;

/// The flags of `restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A backup: its name from `backup --list`, its directory, or a snapshot `.zip`
    /// (default: the newest backup).
    #[arg(value_name = "BACKUP")]
    backup_name: Option<PathBuf>,
    #[command(flatten)]
    derive: DeriveArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    backup: BackupArgs,
    /// Replace the data without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Restore a backup of another instance.
    #[arg(long)]
    force: bool,
    /// Seed: restore only into a deployment that was never seeded, and record the seed in it
    /// (CODER_CONVEX_SEEDED, kept with the data). Implies --yes and --force.
    #[arg(long)]
    seed: bool,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

#[derive(Serialize)]
struct Report {
    archive: PathBuf,
    /// With `--seed`: the deployment was seeded before (this record), so nothing was restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    already_seeded: Option<String>,
    /// The instance the backup was taken of (`None`: a bare archive without a manifest).
    from_instance: Option<String>,
    /// Names of the variables set and deleted (values never reported).
    env_set: Vec<String>,
    env_deleted: Vec<String>,
    /// Names whose values come from this project rather than the backup.
    env_from_project: Vec<String>,
}

/// The archive to import and its manifest, if it has one.
fn resolve(
    store: &Path,
    owner: &backups::Owner,
    name: Option<&Path>,
    force: bool,
) -> Result<(PathBuf, Option<Manifest>)> {
    let dir = match name {
        None => {
            // A shared store holds other deployments' backups too: only --force takes those.
            let mut candidates = backups::list(store)?;
            if !force {
                candidates.retain(|e| owner.owns(e));
            }
            let newest = candidates.pop().ok_or_else(|| {
                Error::invalid("BACKUP", format!("there is no backup in {}", store.display()))
                    .with_hint("take one with `coder-convex backup`, or name a backup directory or snapshot .zip")
            })?;
            newest.path
        }
        // A path is the current directory's, made absolute once (so the file checked is the
        // file imported, whatever directory the Convex CLI runs in); a name that is no path
        // there may be a backup in the store.
        Some(name) => {
            let given = crate::environment::absolute(name)?;
            if given.is_file() {
                return Ok((given, None));
            }
            if given.is_dir() {
                given
            } else if store.join(name).is_dir() {
                store.join(name)
            } else {
                return Err(not_a_backup(name));
            }
        }
    };
    let manifest = backups::manifest(&dir)?;
    Ok((dir.join(backups::ARCHIVE), Some(manifest)))
}

fn not_a_backup(name: &Path) -> Error {
    Error::invalid(
        "BACKUP",
        format!(
            "{} is neither a backup nor a snapshot archive",
            name.display()
        ),
    )
    .with_hint("`coder-convex backup --list` shows the backups")
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let (derive, wait) = (&args.derive, &args.wait);
    let (yes, force) = (args.yes || args.seed, args.force || args.seed);
    let deadline = Deadline::after_secs(wait.wait, "--wait");
    let session = context::session(ctx, derive).await?;
    let instance = session.derived.instance_name.clone();
    let owner = backups::Owner::new(&instance, Some(&session.secret));
    let dir = store(ctx, &args.backup, &instance)?;
    let (archive, manifest) = resolve(&dir, &owner, args.backup_name.as_deref(), force)?;
    if let Some(m) = &manifest
        && !force
    {
        let other = if m.instance_name != instance {
            Some(format!(
                "is a backup of instance {:?}, this project is {instance:?}",
                m.instance_name
            ))
        } else if m.deployment.is_some() && m.deployment != owner.id {
            Some(format!(
                "is a backup of another deployment named {instance:?} (another instance secret)"
            ))
        } else {
            None
        };
        if let Some(message) = other {
            return Err(Error::invalid("BACKUP", message)
                .with_hint("pass --force to restore it here anyway (seeding a new workspace)"));
        }
    }
    // Before the question: a project that cannot say what it sets stops here.
    let ours = crate::config::derive::desired_env(
        ctx.dir,
        &session.derived,
        &context::existing_jwt_key(ctx.dir)?,
        session.auth_secret.as_ref(),
    )?;
    // Everything the backend would refuse is found before the data is replaced.
    let mut wanted = manifest
        .as_ref()
        .and_then(|m| m.environment_variables.as_ref())
        .map(|backup| merged(backup, &ours));
    if let Some(wanted) = &wanted {
        let source = archive.with_file_name(backups::MANIFEST);
        crate::config::deployment_env::check(wanted, &source).map_err(|e| {
            e.with_hint("nothing was restored: the backend would refuse these variables after the data was replaced; fix the manifest's environment_variables, or restore the snapshot .zip alone and set the variables by hand")
        })?;
    }
    if !yes {
        let question = format!(
            "Replace every table, file and environment variable of {instance} with {}?",
            archive.display()
        );
        match ctx.out.confirm(&question) {
            Some(true) => {}
            Some(false) => {
                return Err(Error::invalid(
                    "--yes",
                    "not confirmed; nothing was restored",
                ));
            }
            None => {
                return Err(Error::invalid(
                    "--yes",
                    "restore replaces the deployment's data and needs --yes when there is no terminal to ask",
                )
                .with_hint("`coder-convex restore --yes` (the newest backup) or `coder-convex restore <BACKUP> --yes`"));
            }
        }
    }
    // Not while setup deploys or a backup exports (and not while the question waited).
    let _lock = context::lock(ctx, Some(deadline)).await?;
    let (pm, _) = steps::installed_cli(ctx, session.state.package_json.as_ref())?;
    let connected = steps::connect_session(&session, deadline, ctx.out).await?;
    let key = connected.backend.admin_key().to_owned();
    // The seed record lives in the deployment, with the data: it survives whatever happens
    // to the workspace's files, and goes only with the data itself.
    let vars = connected
        .backend
        .list_env()
        .await
        .map_err(|e| Error::runtime_from("cannot read the deployment's variables", e))?;
    if args.seed && vars.is_none() {
        return Err(Error::runtime(
            "this backend cannot list its variables, so --seed cannot tell whether it was seeded; nothing restored",
        )
        .with_hint("upgrade the backend (list_environment_variables arrived in 2025-08), or restore once by hand with `restore --yes --force`"));
    }
    let seeded_before = vars.and_then(|vars| vars.get(SEEDED).cloned());
    if args.seed
        && let Some(record) = seeded_before
    {
        ctx.out.info(format!(
            "the deployment was seeded before ({}); nothing restored",
            crate::backend::text::sanitize(&record)
        ));
        return Ok(Outcome::ok(&Report {
            already_seeded: Some(record),
            archive,
            from_instance: None,
            env_set: Vec::new(),
            env_deleted: Vec::new(),
            env_from_project: Vec::new(),
        }));
    }
    let seeded = if args.seed {
        Some(format!(
            "{} from {}",
            httpdate::fmt_http_date(std::time::SystemTime::now()),
            backup_label(&archive)
        ))
    } else {
        seeded_before
    };
    let import = vec![
        "import".to_owned(),
        "--replace-all".to_owned(),
        "--yes".to_owned(),
        path_arg(&archive)?,
    ];
    steps::run_convex(
        ctx,
        pm,
        &connected.backend,
        &key,
        &import,
        Duration::from_secs(args.backup.snapshot_timeout),
    )
    .await?;
    ctx.out.success("data restored");
    if let (Some(wanted), Some(record)) = (wanted.as_mut(), &seeded) {
        wanted.insert(SEEDED.to_owned(), record.clone());
    }
    let (env_set, env_deleted) = match (&wanted, seeded) {
        (Some(wanted), _) => restore_env(&connected.backend, wanted).await?,
        // A bare archive changes no variable; a seed still records itself.
        (None, Some(record)) if args.seed => {
            let change = EnvChange {
                name: SEEDED.to_owned(),
                value: Some(record),
            };
            connected
                .backend
                .update_env(&[change])
                .await
                .map_err(|e| Error::runtime_from("cannot record the seed", e))?;
            (vec![SEEDED.to_owned()], Vec::new())
        }
        (None, _) => (Vec::new(), Vec::new()),
    };
    let env_from_project = match wanted {
        Some(_) => ours.keys().cloned().collect(),
        None => Vec::new(),
    };
    ctx.out.success(format!(
        "environment variables: {} set, {} deleted",
        env_set.len(),
        env_deleted.len()
    ));
    Ok(Outcome::ok(&Report {
        already_seeded: None,
        archive,
        from_instance: manifest.map(|m| m.instance_name),
        env_set,
        env_deleted,
        env_from_project,
    }))
}

/// How the seed record names the backup: its directory for a backup of the store, else the
/// archive's file name.
fn backup_label(archive: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let label = if archive.file_name().is_some_and(|n| n == backups::ARCHIVE) {
        archive.parent().and_then(name)
    } else {
        name(archive)
    };
    label.unwrap_or_default()
}

/// The backup's variables, without the ones its workspace generated (its JWT key, URLs and
/// secrets: listed in its ownership record and in [`GENERATED`]) and without that record,
/// then everything this project sets. The backup's own settings (its
/// `.env.convex.deployment` lines) come back even where this project does not declare them.
fn merged(
    backup: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let managed: Vec<&str> = backup
        .get(OWNED_VAR)
        .map(|list| list.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let generated = |name: &str| managed.contains(&name) && GENERATED.contains(&name);
    let mut vars: BTreeMap<String, String> = backup
        .iter()
        .filter(|(name, _)| *name != OWNED_VAR && *name != SEEDED && !generated(name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    vars.extend(ours.iter().map(|(n, v)| (n.clone(), v.clone())));
    vars
}

/// Make the deployment's variables exactly the backup's, in one update.
async fn restore_env(
    backend: &crate::backend::Backend,
    wanted: &BTreeMap<String, String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let failed = |e| Error::runtime_from("cannot restore the environment variables", e);
    let current = backend
        .list_env()
        .await
        .map_err(failed)?
        .unwrap_or_default();
    let mut changes = Vec::new();
    let (mut set, mut deleted) = (Vec::new(), Vec::new());
    for (name, value) in wanted {
        if current.get(name) != Some(value) {
            set.push(name.clone());
            changes.push(EnvChange {
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
    }
    for name in current.keys().filter(|n| !wanted.contains_key(*n)) {
        deleted.push(name.clone());
        changes.push(EnvChange {
            name: name.clone(),
            value: None,
        });
    }
    if !changes.is_empty() {
        backend.update_env(&changes).await.map_err(failed)?;
    }
    Ok((set, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_backups_own_variables_come_back_and_this_projects_stay() {
        let backup = map(&[
            (
                OWNED_VAR,
                "JWT_PRIVATE_KEY,JWKS,BETTER_AUTH_SECRET,OPENAI_API_KEY",
            ),
            ("JWT_PRIVATE_KEY", "their key"),
            ("OPENAI_API_KEY", "from their .env.convex.deployment"),
            ("JWKS", "their jwks"),
            ("BETTER_AUTH_SECRET", "their secret"),
            ("STRIPE_KEY", "sk_live"),
        ]);
        let ours = map(&[
            (OWNED_VAR, "JWT_PRIVATE_KEY,JWKS"),
            ("JWT_PRIVATE_KEY", "our key"),
            ("JWKS", "our jwks"),
        ]);
        assert_eq!(
            merged(&backup, &ours),
            map(&[
                (OWNED_VAR, "JWT_PRIVATE_KEY,JWKS"),
                ("JWKS", "our jwks"),
                ("JWT_PRIVATE_KEY", "our key"),
                ("OPENAI_API_KEY", "from their .env.convex.deployment"),
                ("STRIPE_KEY", "sk_live"),
            ])
        );
    }

    #[test]
    fn ownership_lists_with_spaces_and_empty_entries_are_read() {
        let backup = map(&[
            (OWNED_VAR, " JWKS , ,,JWT_PRIVATE_KEY ,"),
            ("JWT_PRIVATE_KEY", "their key"),
            ("JWKS", "their jwks"),
            ("KEEP", "1"),
        ]);
        let out = merged(&backup, &BTreeMap::new());
        assert_eq!(out, map(&[("KEEP", "1")]));
        // No ownership record: everything but what this project sets comes back.
        let backup = map(&[("JWT_PRIVATE_KEY", "their key"), ("KEEP", "1")]);
        let ours = map(&[("JWT_PRIVATE_KEY", "ours"), (OWNED_VAR, "JWT_PRIVATE_KEY")]);
        assert_eq!(
            merged(&backup, &ours),
            map(&[
                (OWNED_VAR, "JWT_PRIVATE_KEY"),
                ("JWT_PRIVATE_KEY", "ours"),
                ("KEEP", "1")
            ])
        );
    }
}
