//! Every environment variable this tool reads or writes, named once with a doc line.
//!
//! The README's variable table is checked against [`ALL`] by a test, so adding a name here
//! without documenting it fails the build.

/// How a variable is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read from the process environment.
    Read,
    /// Written to a project file (or pushed to the deployment).
    Write,
    /// Both.
    ReadWrite,
}

pub struct EnvVar {
    pub name: &'static str,
    pub usage: Use,
    pub doc: &'static str,
}

macro_rules! env_vars {
    ($( $(#[doc = $doc:literal])+ $ident:ident: $usage:ident; )+) => {
        $( $(#[doc = $doc])+ pub const $ident: &str = stringify!($ident); )+
        /// All variables, in declaration order.
        pub const ALL: &[EnvVar] = &[
            $( EnvVar { name: stringify!($ident), usage: Use::$usage, doc: concat!($($doc),+) }, )+
        ];
    };
}

env_vars! {
    // Our own settings.
    /// Project directory (default: the current directory).
    CODER_CONVEX_PROJECT_DIR: Read;
    /// Internal API URL of the backend (default `http://127.0.0.1:3210`).
    CODER_CONVEX_BACKEND_URL: Read;
    /// Internal URL of the backend's site proxy (default `http://127.0.0.1:3211`).
    CODER_CONVEX_SITE_PROXY_URL: Read;
    /// Seconds to wait for the backend to become healthy (default 120).
    CODER_CONVEX_WAIT: Read;
    /// Coder app slug of the API (default `convex-api`).
    CODER_CONVEX_API_SLUG: Read;
    /// Coder app slug of the site proxy (default `convex-site`).
    CODER_CONVEX_SITE_SLUG: Read;
    /// Coder app slug of the dashboard (default `convex-dashboard`).
    CODER_CONVEX_DASHBOARD_SLUG: Read;
    /// `true`: use the 3-part Coder host label `slug--workspace--owner` (newer Coder servers).
    CODER_CONVEX_SHORT_LABELS: Read;
    /// Log filter (`debug`, `coder_convex=trace`, ...); `-v` sets `debug`.
    CODER_CONVEX_LOG: Read;
    /// Any value disables colored output.
    NO_COLOR: Read;

    // Public URLs.
    /// Public URL of the Convex API (port 3210); explicit override, then written.
    CONVEX_CLOUD_ORIGIN: ReadWrite;
    /// Public URL of the HTTP actions / site proxy (port 3211); explicit override, then written.
    CONVEX_SITE_ORIGIN: ReadWrite;
    /// Public URL of the dashboard (port 6791); explicit override, then written.
    CONVEX_DASHBOARD_URL: ReadWrite;
    /// The API URL the dashboard container uses from the browser.
    NEXT_PUBLIC_DEPLOYMENT_URL: Write;
    /// Public API URL for the frontend, written with the framework's prefix (`VITE_`, `NEXT_PUBLIC_`, ...).
    CONVEX_URL: Write;
    /// Public site URL for the frontend, written with the framework's prefix.
    CONVEX_SITE_URL: Write;

    // Coder, set by the workspace agent.
    /// `true` inside a Coder workspace.
    CODER: Read;
    /// Port-proxy URL template with `{{port}}`; set when Coder has a wildcard access URL.
    VSCODE_PROXY_URI: Read;
    /// Workspace name (Coder).
    CODER_WORKSPACE_NAME: Read;
    /// Agent name (Coder).
    CODER_WORKSPACE_AGENT_NAME: Read;
    /// Workspace owner's user name (Coder >= 2.24).
    CODER_WORKSPACE_OWNER_NAME: Read;
    /// Address of the agent's debug server, for `/debug/manifest` (default `127.0.0.1:2113`).
    CODER_AGENT_DEBUG_ADDRESS: Read;

    // Other cloud IDEs.
    /// GitHub Codespaces: the codespace name.
    CODESPACE_NAME: Read;
    /// GitHub Codespaces: the port-forwarding domain.
    GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN: Read;
    /// Gitpod: the workspace URL.
    GITPOD_WORKSPACE_URL: Read;

    // Database.
    /// Postgres URL (first choice); a MySQL URL is accepted too.
    DATABASE_URL: Read;
    /// Postgres URL (second choice).
    POSTGRES_URI: Read;
    /// Postgres URL (third choice); written normalised for the backend.
    POSTGRES_URL: ReadWrite;
    /// MySQL URL; written normalised for the backend.
    MYSQL_URL: ReadWrite;
    /// Written as `1` when the database connection does not use TLS.
    DO_NOT_REQUIRE_SSL: Write;
    /// Extra CA certificates (PEM) the backend and the preflight trust for Postgres TLS.
    PG_CA_FILE: Read;

    // Identity and secrets.
    /// Backend instance name; also names the database.
    INSTANCE_NAME: ReadWrite;
    /// 64 hex characters; generated once and kept in `.env.convex.local`.
    INSTANCE_SECRET: ReadWrite;
    /// Internal API URL for the Convex CLI (`.env.local`).
    CONVEX_SELF_HOSTED_URL: Write;
    /// Admin key for the Convex CLI (`.env.local`).
    CONVEX_SELF_HOSTED_ADMIN_KEY: Write;
    /// Cloud deployment selector; commented out of `.env.local` (it conflicts with self-hosting).
    CONVEX_DEPLOYMENT: Write;
    /// Cloud deploy key; removed from the Convex CLI's environment.
    CONVEX_DEPLOY_KEY: Read;

    // Convex Auth, pushed to the deployment.
    /// RSA private key (PKCS#8 PEM, newlines as spaces).
    JWT_PRIVATE_KEY: Write;
    /// The public key set matching `JWT_PRIVATE_KEY`.
    JWKS: Write;
    /// The site origin, for projects that read it.
    JWT_ISSUER: Write;
    /// The frontend URL Convex Auth redirects to (`--site-url`); pushed when known.
    SITE_URL: ReadWrite;
    /// Pushed to the deployment: the variable names coder-convex owns (it deletes only those).
    CODER_CONVEX_MANAGED_VARS: Write;
    /// Internal URL of the dashboard, for `doctor` (default `http://127.0.0.1:6791`).
    CODER_CONVEX_DASHBOARD_INTERNAL_URL: Read;
    /// Seconds `convex deploy` may run (default 600).
    CODER_CONVEX_DEPLOY_TIMEOUT: Read;
}
