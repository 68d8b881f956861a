//! The doctor's checks as one typed list ([`CheckId`]: name and what each depends on), one
//! check's result, and the table people read (pure but for printing through `Output`).

use serde::Serialize;

use crate::output::Output;

/// Every check doctor runs, in the order it reports them. A check that needs another is
/// skipped, with the reason, when that one fails: the skip lists are derived from
/// [`CheckId::needs`], never written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub(crate) enum CheckId {
    FileConvexEnv,
    FileCliEnv,
    FileDeploymentEnv,
    FileJwtKey,
    SecretFileModes,
    EnvFileTypos,
    DeploymentSelectorConflict,
    DatabaseTls,
    EnvironmentInputs,
    PublicUrls,
    SiteOrigin,
    FilesMatchWorkspace,
    AdminKeyFile,
    Backups,
    Database,
    DatabaseWritable,
    DatabaseCollation,
    InstanceDatabase,
    DatabaseTables,
    DatabaseCapacity,
    FileAuthSecret,
    BackendHealth,
    ConvexCli,
    Ports,
    InstanceName,
    AdminKeyAccepted,
    CanonicalUrls,
    DeploymentEnv,
    AuthDiscovery,
    BetterAuthRoutes,
    SiteUrl,
    AuthProviders,
    PublicUrlAccess,
}

impl CheckId {
    /// The name people and `--json` see; stable.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::FileConvexEnv => "file .env.convex.local",
            Self::FileCliEnv => "file .env.local",
            Self::FileDeploymentEnv => "file .env.convex.deployment",
            Self::FileJwtKey => "file jwt_private_key.pem",
            Self::SecretFileModes => "secret file modes",
            Self::EnvFileTypos => "env file typos",
            Self::DeploymentSelectorConflict => "deployment selector conflict",
            Self::DatabaseTls => "database TLS settings",
            Self::EnvironmentInputs => "environment inputs",
            Self::PublicUrls => "public URLs",
            Self::SiteOrigin => "site origin",
            Self::FilesMatchWorkspace => "files match the workspace",
            Self::AdminKeyFile => "admin key file",
            Self::Backups => "backups",
            Self::Database => "database",
            Self::DatabaseWritable => "database writable",
            Self::DatabaseCollation => "database collation",
            Self::InstanceDatabase => "instance database",
            Self::DatabaseTables => "database tables",
            Self::DatabaseCapacity => "database capacity",
            Self::FileAuthSecret => "file .env.convex.auth.local",
            Self::BackendHealth => "backend health",
            Self::ConvexCli => "convex CLI",
            Self::Ports => "ports",
            Self::InstanceName => "instance name",
            Self::AdminKeyAccepted => "admin key accepted",
            Self::CanonicalUrls => "canonical URLs",
            Self::DeploymentEnv => "deployment env",
            Self::AuthDiscovery => "auth discovery",
            Self::BetterAuthRoutes => "Better Auth routes",
            Self::SiteUrl => "SITE_URL",
            Self::AuthProviders => "auth providers",
            Self::PublicUrlAccess => "public URL access",
        }
    }

    /// The check this one cannot run without (`None`: it needs only the project directory).
    pub(crate) fn needs(self) -> Option<Self> {
        match self {
            Self::FileConvexEnv
            | Self::FileCliEnv
            | Self::FileDeploymentEnv
            | Self::FileJwtKey
            | Self::SecretFileModes
            | Self::EnvFileTypos
            | Self::DeploymentSelectorConflict
            | Self::DatabaseTls
            | Self::EnvironmentInputs => None,
            Self::PublicUrls
            | Self::SiteOrigin
            | Self::FilesMatchWorkspace
            | Self::AdminKeyFile
            | Self::Backups
            | Self::Database
            | Self::FileAuthSecret
            | Self::BackendHealth
            | Self::PublicUrlAccess => Some(Self::EnvironmentInputs),
            Self::ConvexCli
            | Self::Ports
            | Self::InstanceName
            | Self::AdminKeyAccepted
            | Self::AuthDiscovery
            | Self::BetterAuthRoutes
            | Self::SiteUrl
            | Self::AuthProviders => Some(Self::BackendHealth),
            Self::CanonicalUrls | Self::DeploymentEnv => Some(Self::AdminKeyAccepted),
            // MySQL: the server's capabilities before anything is created on it.
            Self::DatabaseWritable => Some(Self::Database),
            Self::DatabaseCollation => Some(Self::DatabaseWritable),
            Self::InstanceDatabase => Some(Self::DatabaseCollation),
            Self::DatabaseTables => Some(Self::InstanceDatabase),
            // Shared server: read with the same connection settings once they work.
            Self::DatabaseCapacity => Some(Self::Database),
        }
    }

    /// Whether this check needs `other`, directly or through another check.
    pub(crate) fn depends_on(self, other: Self) -> bool {
        let mut next = self.needs();
        while let Some(id) = next {
            if id == other {
                return true;
            }
            next = id.needs();
        }
        false
    }

    /// The checks that cannot run when `failed` did not pass, in report order.
    pub(crate) fn dependents(failed: Self) -> impl Iterator<Item = Self> {
        <Self as strum::IntoEnumIterator>::iter().filter(move |id| id.depends_on(failed))
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    Warn,
    Fail,
    /// Could not run because another check failed, or there was nothing to check.
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub(crate) name: CheckId,
    pub(crate) status: Status,
    pub(crate) detail: String,
    pub(crate) hint: Option<String>,
}

impl Check {
    pub(crate) fn pass(name: CheckId, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Pass,
            detail: detail.into(),
            hint: None,
        }
    }
    pub(crate) fn warn(name: CheckId, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
    pub(crate) fn skip(name: CheckId, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Skip,
            detail: detail.into(),
            hint: None,
        }
    }
    pub(crate) fn fail(name: CheckId, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Print the table on stderr (✓ pass, ! warn, ✗ fail, - skip).
pub(crate) fn print(out: &Output, checks: &[Check]) {
    let width = checks
        .iter()
        .map(|c| c.name.name().chars().count())
        .max()
        .unwrap_or(0);
    for check in checks {
        let mark = match check.status {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "-",
        };
        out.report(&format!("{mark} {:<width$}  {}", check.name, check.detail));
        if check.status != Status::Pass
            && let Some(hint) = &check.hint
        {
            out.report(&format!("  {:<width$}  hint: {hint}", ""));
        }
    }
}

/// Skip every check that needs `failed` and `applies` to this project, saying why.
pub(crate) fn skip_dependents(
    checks: &mut Vec<Check>,
    failed: CheckId,
    why: &str,
    applies: impl Fn(CheckId) -> bool,
) {
    checks.extend(
        CheckId::dependents(failed)
            .filter(|id| applies(*id))
            .map(|id| Check::skip(id, why)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_follow_the_dependencies() {
        let names = |failed| {
            CheckId::dependents(failed)
                .map(CheckId::name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(CheckId::AdminKeyAccepted),
            ["canonical URLs", "deployment env"]
        );
        assert_eq!(
            names(CheckId::BackendHealth),
            [
                "convex CLI",
                "ports",
                "instance name",
                "admin key accepted",
                "canonical URLs",
                "deployment env",
                "auth discovery",
                "Better Auth routes",
                "SITE_URL",
                "auth providers",
            ]
        );
        assert_eq!(names(CheckId::EnvironmentInputs).len(), 24);
        assert_eq!(
            names(CheckId::Database),
            [
                "database writable",
                "database collation",
                "instance database",
                "database tables",
                "database capacity"
            ]
        );
        assert_eq!(
            names(CheckId::DatabaseWritable),
            ["database collation", "instance database", "database tables"]
        );
        assert!(names(CheckId::FileConvexEnv).is_empty());
    }
}
