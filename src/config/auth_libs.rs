//! The auth libraries a project uses and what each needs (pure; README "Auth libraries"):
//! detection from `package.json`, the deployment variables each one needs, and what
//! `convex/auth.config.ts` names (for the custom-JWT providers nothing is minted; `doctor`
//! reports them).

use serde::Serialize;

use crate::project;

/// An auth library we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AuthLib {
    /// `@convex-dev/auth`: signs its own JWTs (`JWT_PRIVATE_KEY`, `JWKS`), `SITE_URL` for
    /// OAuth and magic links.
    ConvexAuth,
    /// `@convex-dev/better-auth` with `better-auth`: `BETTER_AUTH_SECRET` and `SITE_URL`.
    BetterAuth,
    /// Clerk, WorkOS, Auth0: custom JWT providers; nothing to mint.
    Clerk,
    #[serde(rename = "workos")]
    WorkOs,
    Auth0,
}

impl AuthLib {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ConvexAuth => "Convex Auth",
            Self::BetterAuth => "Better Auth",
            Self::Clerk => "Clerk",
            Self::WorkOs => "WorkOS",
            Self::Auth0 => "Auth0",
        }
    }

    /// Which library a `package.json` dependency belongs to.
    fn of_package(name: &str) -> Option<Self> {
        match name {
            "@convex-dev/auth" => Some(Self::ConvexAuth),
            "@convex-dev/better-auth" | "better-auth" => Some(Self::BetterAuth),
            n if n.starts_with("@clerk/") => Some(Self::Clerk),
            n if n.starts_with("@workos-inc/") => Some(Self::WorkOs),
            n if n.starts_with("@auth0/") => Some(Self::Auth0),
            _ => None,
        }
    }
}

/// Every auth library `package.json` lists, sorted, each once. Several at once (a migration
/// in progress) is legal: each gets what it needs.
pub(crate) fn detect(package_json: Option<&serde_json::Value>) -> Vec<AuthLib> {
    let mut libs: Vec<AuthLib> = package_json
        .map(project::dependency_names)
        .unwrap_or_default()
        .into_iter()
        .filter_map(AuthLib::of_package)
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

/// What the detected libraries need coder-convex to put in the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Needs {
    /// `JWT_PRIVATE_KEY`, `JWKS` (and `JWT_ISSUER`, `CONVEX_SITE_ORIGIN` for older projects).
    pub(crate) jwt_keys: bool,
    /// `BETTER_AUTH_SECRET`.
    pub(crate) better_auth_secret: bool,
}

/// Convex Auth's keys go to Convex Auth projects, and to projects with no auth library we
/// know (what coder-convex always did, so a project that reads them keeps working). A
/// project with only other libraries gets none: Better Auth's optional static `JWKS` is a
/// variable of the same name that must stay the user's.
pub(crate) fn needs(libs: &[AuthLib]) -> Needs {
    Needs {
        jwt_keys: libs.is_empty() || libs.contains(&AuthLib::ConvexAuth),
        better_auth_secret: libs.contains(&AuthLib::BetterAuth),
    }
}

/// What `convex/auth.config.ts` names: the providers it configures and the deployment
/// variables it reads (the built-in `CONVEX_SITE_URL`/`CONVEX_CLOUD_URL` left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct AuthConfig {
    pub(crate) providers: Vec<&'static str>,
    pub(crate) variables: Vec<String>,
}

/// Read the providers and variables from the text of `auth.config.ts` (a scan, not a parse:
/// comments are skipped, `process.env.NAME` is collected, providers are known by name).
pub(crate) fn scan_auth_config(text: &str) -> AuthConfig {
    let code: String = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with("/*") || t.starts_with('*'))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let lower = code.to_ascii_lowercase();
    let mut providers = Vec::new();
    for (needle, provider) in [
        ("getauthconfigprovider", AuthLib::BetterAuth.name()),
        ("clerk", AuthLib::Clerk.name()),
        ("workos", AuthLib::WorkOs.name()),
        ("auth0", AuthLib::Auth0.name()),
    ] {
        if lower.contains(needle) {
            providers.push(provider);
        }
    }
    let convex_audience =
        lower.contains("applicationid: \"convex\"") || lower.contains("applicationid: 'convex'");
    if code.contains("domain: process.env.CONVEX_SITE_URL") && convex_audience {
        providers.insert(0, AuthLib::ConvexAuth.name());
    }
    let mut variables: Vec<String> = Vec::new();
    for (i, _) in code.match_indices("process.env.") {
        let name: String = code[i + "process.env.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let built_in = matches!(name.as_str(), "CONVEX_SITE_URL" | "CONVEX_CLOUD_URL");
        if !name.is_empty() && !built_in && !variables.contains(&name) {
            variables.push(name);
        }
    }
    if providers.is_empty() && (lower.contains("customjwt") || lower.contains("domain:")) {
        providers.push("custom JWT");
    }
    AuthConfig {
        providers,
        variables,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn detection_from_package_json() {
        let cases = [
            (
                json!({"dependencies": {"@convex-dev/auth": "0.0.95"}}),
                vec![AuthLib::ConvexAuth],
            ),
            (
                json!({"dependencies": {"@convex-dev/better-auth": "0.12", "better-auth": "1.6"}}),
                vec![AuthLib::BetterAuth],
            ),
            (
                json!({"dependencies": {"@clerk/clerk-react": "5"}}),
                vec![AuthLib::Clerk],
            ),
            (
                json!({"dependencies": {"@clerk/nextjs": "6"}}),
                vec![AuthLib::Clerk],
            ),
            (
                json!({"dependencies": {"@workos-inc/authkit-react": "0.1"}}),
                vec![AuthLib::WorkOs],
            ),
            (
                json!({"dependencies": {"@auth0/auth0-react": "2"}}),
                vec![AuthLib::Auth0],
            ),
            (
                json!({"dependencies": {"better-auth": "1", "@convex-dev/better-auth": "0.12"},
                       "devDependencies": {"@convex-dev/auth": "0.0.95"}}),
                vec![AuthLib::ConvexAuth, AuthLib::BetterAuth],
            ),
            (json!({"dependencies": {"convex": "1"}}), vec![]),
        ];
        for (pkg, want) in cases {
            assert_eq!(detect(Some(&pkg)), want, "{pkg}");
        }
        assert_eq!(detect(None), vec![]);
    }

    #[test]
    fn what_each_needs() {
        let n = |libs: &[AuthLib]| {
            let n = needs(libs);
            (n.jwt_keys, n.better_auth_secret)
        };
        assert_eq!(n(&[]), (true, false));
        assert_eq!(n(&[AuthLib::ConvexAuth]), (true, false));
        assert_eq!(n(&[AuthLib::BetterAuth]), (false, true));
        assert_eq!(n(&[AuthLib::Clerk]), (false, false));
        assert_eq!(n(&[AuthLib::ConvexAuth, AuthLib::BetterAuth]), (true, true));
    }

    #[test]
    fn auth_config_scan() {
        let clerk = r#"
            // WorkOS would go here: process.env.NOT_THIS
            export default {
              providers: [
                { domain: process.env.CLERK_JWT_ISSUER_DOMAIN, applicationID: "convex" },
              ],
            };"#;
        assert_eq!(
            scan_auth_config(clerk),
            AuthConfig {
                providers: vec!["Clerk"],
                variables: vec!["CLERK_JWT_ISSUER_DOMAIN".into()],
            }
        );
        let convex_auth = r#"export default { providers: [{ domain: process.env.CONVEX_SITE_URL, applicationID: "convex" }] };"#;
        assert_eq!(
            scan_auth_config(convex_auth),
            AuthConfig {
                providers: vec!["Convex Auth"],
                variables: vec![],
            }
        );
        let mixed = r#"import { getAuthConfigProvider } from "@convex-dev/better-auth/auth-config";
            const clientId = process.env.WORKOS_CLIENT_ID;
            export default { providers: [getAuthConfigProvider(),
              { type: "customJwt", issuer: "https://api.workos.com/", jwks: `https://api.workos.com/sso/jwks/${clientId}` },
              { domain: process.env.AUTH0_DOMAIN, applicationID: process.env.AUTH0_CLIENT_ID }] };"#;
        assert_eq!(
            scan_auth_config(mixed),
            AuthConfig {
                providers: vec!["Better Auth", "WorkOS", "Auth0"],
                variables: vec![
                    "WORKOS_CLIENT_ID".into(),
                    "AUTH0_DOMAIN".into(),
                    "AUTH0_CLIENT_ID".into()
                ],
            }
        );
        let other =
            r#"export default { providers: [{ type: "customJwt", issuer: process.env.ISSUER }] };"#;
        assert_eq!(scan_auth_config(other).providers, vec!["custom JWT"]);
    }
}
