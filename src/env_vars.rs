//! Every environment variable this tool reads or writes, named once with a doc line.
//!
//! The README's variable table is checked against [`ALL`] by a test, so adding a name here
//! without documenting it fails the build.
//!
//! Pure.

pub struct EnvVar {
    pub name: &'static str,
    pub doc: &'static str,
}

macro_rules! env_vars {
    ($( $(#[doc = $doc:literal])+ $ident:ident; )+) => {
        $( $(#[doc = $doc])+ pub const $ident: &str = stringify!($ident); )+
        /// All variables, in declaration order.
        pub const ALL: &[EnvVar] = &[
            $( EnvVar { name: stringify!($ident), doc: concat!($($doc),+) }, )+
        ];
    };
}

env_vars! {
    // Our own settings.
    /// Project directory (default: the current directory).
    CODER_CONVEX_PROJECT_DIR;
    /// Internal API URL of the backend (default `http://127.0.0.1:3210`).
    CODER_CONVEX_BACKEND_URL;
    /// Internal URL of the backend's site proxy (default `http://127.0.0.1:3211`).
    CODER_CONVEX_SITE_PROXY_URL;
    /// Written to `.env.convex.local`: the URL variables given explicitly once, kept for later runs (`--unpin-urls` forgets them).
    CODER_CONVEX_PINNED_URLS;
    /// Seconds `setup`, `env-set` and `deploy` may take to get through to the backend: the project lock, the health wait, every request and retry (default 120).
    CODER_CONVEX_WAIT;
    /// Seconds `status`, `doctor` and `admin-key --check` may spend on the backend (default 10).
    CODER_CONVEX_TIMEOUT;
    /// Coder app slug of the API (default `convex-api`).
    CODER_CONVEX_API_SLUG;
    /// Coder app slug of the site proxy (default `convex-site`).
    CODER_CONVEX_SITE_SLUG;
    /// Coder app slug of the dashboard (default `convex-dashboard`).
    CODER_CONVEX_DASHBOARD_SLUG;
    /// Port of the app's dev server (default: from the `dev` script, else the framework's default).
    CODER_CONVEX_FRONTEND_PORT;
    /// `true`: use the 3-part Coder host label `slug--workspace--owner` (newer Coder servers).
    CODER_CONVEX_SHORT_LABELS;
    /// Log filter (`debug`, `coder_convex=trace`, ...); `-v` sets `debug`.
    CODER_CONVEX_LOG;
    /// Any value disables colored output.
    NO_COLOR;

    // Public URLs.
    /// Public URL of the Convex API (port 3210); explicit override, then written.
    CONVEX_CLOUD_ORIGIN;
    /// Public URL of the HTTP actions / site proxy (port 3211); explicit override, then written.
    CONVEX_SITE_ORIGIN;
    /// Public URL of the dashboard (port 6791); explicit override, then written.
    CONVEX_DASHBOARD_URL;
    /// The API URL the dashboard container uses from the browser.
    NEXT_PUBLIC_DEPLOYMENT_URL;
    /// Public API URL for the frontend, written with the framework's prefix (`VITE_`, `NEXT_PUBLIC_`, ...).
    CONVEX_URL;
    /// Public site URL for the frontend, written with the framework's prefix.
    CONVEX_SITE_URL;

    // Coder, set by the workspace agent.
    /// `true` inside a Coder workspace.
    CODER;
    /// Port-proxy URL template with `{{port}}`; set when Coder has a wildcard access URL.
    VSCODE_PROXY_URI;
    /// Workspace name (Coder).
    CODER_WORKSPACE_NAME;
    /// Agent name (Coder).
    CODER_WORKSPACE_AGENT_NAME;
    /// Workspace owner's user name (Coder >= 2.24).
    CODER_WORKSPACE_OWNER_NAME;
    /// Address of the agent's debug server, for `/debug/manifest` (default `127.0.0.1:2113`).
    CODER_AGENT_DEBUG_ADDRESS;

    // Other cloud IDEs.
    /// GitHub Codespaces: the codespace name.
    CODESPACE_NAME;
    /// GitHub Codespaces: the port-forwarding domain.
    GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN;
    /// Gitpod: the workspace URL.
    GITPOD_WORKSPACE_URL;

    // Database.
    /// Postgres URL (first choice); a MySQL URL is accepted too.
    DATABASE_URL;
    /// Postgres URL (second choice).
    POSTGRES_URI;
    /// Postgres URL (third choice); written normalised for the backend.
    POSTGRES_URL;
    /// MySQL URL; written normalised for the backend.
    MYSQL_URL;
    /// Written as `1` when the database connection does not use TLS.
    DO_NOT_REQUIRE_SSL;
    /// Extra CA certificates (PEM) the backend and the preflight trust for Postgres TLS.
    PG_CA_FILE;
    /// A root certificate (PEM) the backend and the preflight trust for MySQL TLS; written to `.env.convex.local` when the URL named one (`ssl-ca`).
    MYSQL_CA_FILE;
    /// The collation the preflight requires of a MySQL server (default `utf8mb4_0900_bin`, what the backend's tables use); only for a backend image whose tables use another.
    CODER_CONVEX_MYSQL_COLLATION;
    /// Shared server URL, Postgres or MySQL (a user that may `CREATE DATABASE`): one database per workspace, named after it; wins over `CODER_CONVEX_SHARED_POSTGRES_URL`.
    CODER_CONVEX_SHARED_DATABASE_URL;
    /// Shared Postgres server URL (a role that may `CREATE DATABASE`): one database per workspace, named after it.
    CODER_CONVEX_SHARED_POSTGRES_URL;
    /// `provisioned`: the template provisions this workspace's database and role outside the workspace (`db provision`); `setup` writes no database settings and the workspace holds no database credentials.
    CODER_CONVEX_SHARED_DATABASE;
    /// The Coder workspace id (the template sets it): names and marks the workspace's database on the shared server.
    CODER_CONVEX_WORKSPACE_ID;
    /// Shared server: the most connections this workspace's backend opens (1–128, default 8); written as `POSTGRES_MAX_CONNECTIONS` or `MYSQL_MAX_CONNECTIONS`.
    CODER_CONVEX_DB_CONNECTIONS;
    /// The backend's Postgres pool size (its default is 128); written from `CODER_CONVEX_DB_CONNECTIONS` on a shared server.
    POSTGRES_MAX_CONNECTIONS;
    /// The backend's MySQL pool size (its default is 128); written from `CODER_CONVEX_DB_CONNECTIONS` on a shared server.
    MYSQL_MAX_CONNECTIONS;

    // Identity and secrets.
    /// Backend instance name; also names the database.
    INSTANCE_NAME;
    /// 64 hex characters; generated once and kept in `.env.convex.local`.
    INSTANCE_SECRET;
    /// Internal API URL for the Convex CLI (`.env.local`).
    CONVEX_SELF_HOSTED_URL;
    /// Admin key for the Convex CLI (`.env.local`).
    CONVEX_SELF_HOSTED_ADMIN_KEY;
    /// `true`: write the admin key to `.env.convex.local` as `NEXT_PUBLIC_ADMIN_KEY`, so an owner-only dashboard logs in by itself.
    CODER_CONVEX_DASHBOARD_LOGIN;
    /// The admin key the dashboard logs in with (only with `CODER_CONVEX_DASHBOARD_LOGIN=true`; `.env.convex.local`).
    NEXT_PUBLIC_ADMIN_KEY;
    /// Cloud deployment selector; commented out of `.env.local` and set to `""` for the Convex CLI.
    CONVEX_DEPLOYMENT;
    /// Cloud deploy key; set to `""` in the Convex CLI's environment (neutralises project files).
    CONVEX_DEPLOY_KEY;
    /// Alias of `CONVEX_DEPLOY_KEY` (CLI 1.48); set to `""` in the Convex CLI's environment.
    CONVEX_DEPLOYMENT_TOKEN;
    /// Convex cloud access-token override; set to `""` in the Convex CLI's environment.
    CONVEX_OVERRIDE_ACCESS_TOKEN;

    // Convex Auth, pushed to the deployment.
    /// RSA private key (PKCS#8 PEM, newlines as spaces).
    JWT_PRIVATE_KEY;
    /// The public key set matching `JWT_PRIVATE_KEY`.
    JWKS;
    /// The site origin, for projects that read it.
    JWT_ISSUER;
    /// The app's own public URL (`--site-url`; default derived from the frontend port); pushed, and written with the framework's prefix for the browser.
    SITE_URL;
    /// Better Auth's secret: generated once into `.env.convex.auth.local`, pushed with `@convex-dev/better-auth`; the environment overrides.
    BETTER_AUTH_SECRET;
    /// Pushed to the deployment: the variable names coder-convex owns (it deletes only those).
    CODER_CONVEX_MANAGED_VARS;
    /// Pushed to the deployment by `restore --seed`: when and from which backup it was seeded. It lives in the backend's database with the data, so a seed runs once per deployment; `restore` keeps it.
    CODER_CONVEX_SEEDED;
    /// Internal URL of the dashboard, for `doctor` (default `http://127.0.0.1:6791`).
    CODER_CONVEX_DASHBOARD_INTERNAL_URL;
    /// Seconds `convex deploy` may run (default 600).
    CODER_CONVEX_DEPLOY_TIMEOUT;
    /// Extra arguments for `convex deploy`, space-separated (`--deploy-arg`).
    CODER_CONVEX_DEPLOY_ARGS;
    /// `true`: deploy even when nothing changed since the last deploy (`--force-deploy`).
    CODER_CONVEX_FORCE_DEPLOY;

    // The Convex containers of `up`, `down`, `logs`.
    /// `up`, `down`, `logs`: your own compose file instead of the embedded one.
    CODER_CONVEX_COMPOSE_FILE;
    /// How `up` runs the backend: `auto` (containers when Docker or Podman is found, else a process), `containers` or `process`.
    CODER_CONVEX_BACKEND;
    /// The upstream backend release `up --backend process` runs (`precompiled-<date>-<commit>`; default the one built in); another needs `CODER_CONVEX_BACKEND_CHECKSUMS`.
    CODER_CONVEX_BACKEND_RELEASE;
    /// Base URL of the backend release archives for `up --backend process` (a mirror; default GitHub's release downloads).
    CODER_CONVEX_DOWNLOAD_BASE_URL;
    /// A `sha256sum` file (`<sha256>  <archive>` lines) that replaces the built-in pins of the backend archives (a mirror's own archives).
    CODER_CONVEX_BACKEND_CHECKSUMS;
    /// Handed to compose: the absolute path of `.env.convex.local` (the backend's `env_file`).
    CODER_CONVEX_ENV_FILE;
    /// Handed to compose: the SHA-256 of `.env.convex.local`, a backend label (a change recreates it).
    CODER_CONVEX_ENV_HASH;
    /// Handed to compose: the host port of the API on 127.0.0.1 (the port of the backend URL).
    CODER_CONVEX_API_PORT;
    /// Handed to compose: the host port of the site proxy on 127.0.0.1 (the port of the site proxy URL).
    CODER_CONVEX_SITE_PORT;
    /// Handed to compose: the host port of the dashboard on 127.0.0.1 (the port of the dashboard internal URL).
    CODER_CONVEX_DASHBOARD_PORT;
    /// Where `docker` or `podman` is looked up.
    PATH;
    /// Directory of `backup` and `restore` (default `${XDG_DATA_HOME:-~/.local/share}/coder-convex/backups/<instance>`).
    CODER_CONVEX_BACKUP_DIR;
    /// `backup`: keep only the newest N backups (`--keep`).
    CODER_CONVEX_BACKUP_KEEP;
    /// Seconds `convex export` / `convex import` may run in `backup` and `restore` (default 1800).
    CODER_CONVEX_SNAPSHOT_TIMEOUT;
    /// Backups are kept under `$XDG_DATA_HOME/coder-convex/backups/` when that is an absolute path ...
    XDG_DATA_HOME;
    /// The compose file is cached under `$HOME/.cache/coder-convex/` (and backups are kept under `$HOME/.local/share/coder-convex/backups/`) ...
    HOME;
    /// ... or under `$XDG_CACHE_HOME/coder-convex/` when that is an absolute path.
    XDG_CACHE_HOME;
}
