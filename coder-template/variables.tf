# Template variables: set by the template admin at push time
# (`coder templates push --variable name=value`). Per-workspace choices are `coder_parameter`s
# in main.tf.

variable "docker_socket" {
  default     = ""
  description = "(Optional) Docker socket URI"
  type        = string
}

variable "workspace_image" {
  default     = "codercom/enterprise-base:ubuntu"
  description = "Image of the workspace container. It must have the user `coder` (uid 1000) with home /home/coder, plus curl and git."
  type        = string
}

# Backend and dashboard come from the same release: Convex only supports matching versions.
# Tags are commit hashes; see https://github.com/get-convex/convex-backend/blob/main/self-hosted/CHANGELOG.md
variable "convex_image_tag" {
  default     = "652b828b5129e6cdbcaa3c20efa8d116d09ff3bf"
  description = "Release tag of ghcr.io/get-convex/convex-backend and ghcr.io/get-convex/convex-dashboard (one tag for both)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.convex_image_tag)) && var.convex_image_tag != "latest"
    error_message = "Pin a release tag (a commit hash from the self-hosted CHANGELOG), not `latest`."
  }
}

# Upgrading is a push with new variables, no edit: the date makes the backend report its
# release (`precompiled-<date>-<sha7>`), which coder-convex compares with the project's CLI.
variable "convex_image_date" {
  default     = ""
  description = "Commit date (YYYY-MM-DD) of convex_image_tag, from the self-hosted CHANGELOG. Empty: the date known for the tag in main.tf, else none (the backend then reports `unknown`)."
  type        = string
  validation {
    condition     = can(regex("^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.convex_image_date))
    error_message = "convex_image_date is YYYY-MM-DD (or empty)."
  }
}

# The images' own commands, run by scripts/convex-entrypoint.sh once the env file exists.
variable "convex_backend_command" {
  default     = ["./run_backend.sh"]
  description = "Command of the backend image (its ENTRYPOINT, relative to its WORKDIR /convex). The template appends `--interface 127.0.0.1`, so it must pass its arguments on to convex-local-backend, as run_backend.sh does."
  type        = list(string)
}

# The dashboard image's CMD, unchanged since 2025-02 (self-hosted/docker-build/Dockerfile.dashboard).
variable "convex_dashboard_command" {
  default     = ["node", "./server.js"]
  description = "Command of the dashboard image (its CMD, relative to its WORKDIR /app)."
  type        = list(string)
}

variable "postgres_image" {
  default     = "postgres:17"
  description = "Image of the Postgres sidecar (database = postgres). Changing the major version of an existing workspace needs a dump and restore (pg_upgrade), as with any Postgres."
  type        = string
}

variable "project_repo_url" {
  default     = ""
  description = "Default git repository cloned into the project directory on first start (users can change it per workspace). Empty: start with an empty directory."
  type        = string
}

variable "project_dir" {
  default     = "project"
  description = "Project directory, relative to /home/coder. coder-convex writes .env.convex.local there; the Convex containers read it."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.project_dir)) && !can(regex("(^|/)\\.\\.?(/|$)", var.project_dir))
    error_message = "Use a relative path below /home/coder without `.` or `..` parts, e.g. `project` or `src/app`."
  }
}

# How scripts/install.sh gets coder-convex (see coder-template/README.md). With none of these
# set, it installs coder_convex_version from the npm registry the workspace is configured for.
variable "coder_convex_version" {
  # Kept equal to the crate version by a test: the release this template belongs to.
  default     = "0.1.0"
  description = "coder-convex version to install (npm package, or git tag v<version>); an installed binary of another version is replaced."
  type        = string
  validation {
    condition     = can(regex("^(|[0-9]+\\.[0-9]+\\.[0-9]+.*)$", var.coder_convex_version))
    error_message = "Use a release version such as 0.1.0 (empty: any installed version, for release URLs and git builds)."
  }
}

variable "coder_convex_npm_registry" {
  default     = ""
  description = "(Optional) npm registry to install coder-convex from, e.g. a corporate mirror. Empty: the workspace's `npm config get registry`, else https://registry.npmjs.org/."
  type        = string
}

variable "coder_convex_release_url" {
  default     = ""
  description = "(Optional) URL of a prebuilt coder-convex binary (or .tar.gz) for the workspace's architecture, instead of npm. Requires coder_convex_sha256."
  type        = string
}

variable "coder_convex_sha256" {
  default     = ""
  description = "sha256 of the file at coder_convex_release_url."
  type        = string
}

variable "coder_convex_git_url" {
  default     = ""
  description = "(Optional) Git repository of coder-convex, built with `cargo install --git` instead of npm (needs Rust in the workspace image, and minutes per new workspace)."
  type        = string
}

variable "coder_convex_install_dir" {
  default     = "/home/coder/.local/bin"
  description = "Where scripts/install.sh puts the binary (on the persistent home volume, so it is installed once)."
  type        = string
}

variable "shared_postgres_url" {
  default     = ""
  description = "For database = shared: URL of the team's Postgres server, `postgres://user:password@host:5432/postgres?sslmode=…`, with a role that has CREATEDB and CREATEROLE. It reaches only the provisioner (coder-convex db provision), never the workspace: each workspace gets a database of its own, named after it, marked with COMMENT ON DATABASE and owned by a login role of its own; `coder-convex db list` shows them."
  type        = string
  sensitive   = true
}

variable "shared_db_connections" {
  default     = 8
  description = "For a shared database server: the most connections each workspace's backend opens there (CODER_CONVEX_DB_CONNECTIONS, written as POSTGRES_MAX_CONNECTIONS or MYSQL_MAX_CONNECTIONS; 1-128). A server holds (max_connections - reserved) / this many workspaces: 12 on a stock Postgres at the default of 8."
  type        = number
  validation {
    condition     = var.shared_db_connections >= 1 && var.shared_db_connections <= 128 && floor(var.shared_db_connections) == var.shared_db_connections
    error_message = "shared_db_connections must be a whole number from 1 to 128."
  }
}

variable "document_retention_delay_seconds" {
  default     = 172800
  description = "DOCUMENT_RETENTION_DELAY of the backend: how long deleted and overwritten document versions are kept (Convex's compose file: 2 days; the binary's default of 14 days grows disks)."
  type        = number
}

variable "backup_stop_seconds" {
  default     = 120
  description = "How long the backup taken when a workspace stops may run (coder-convex backup, while the Convex containers still run). The workspace container's stop grace period is this long."
  type        = number
  validation {
    condition     = var.backup_stop_seconds >= 10
    error_message = "Give the stop backup at least 10 seconds."
  }
}

variable "setup_timeout_seconds" {
  default     = 1800
  description = "How long the Convex startup script (install, coder-convex setup, seed restore) may run before the agent stops it."
  type        = number
  validation {
    condition     = var.setup_timeout_seconds >= 60
    error_message = "Give the startup script at least 60 seconds."
  }
}

variable "node_version" {
  default     = "22.12.0"
  description = "Node.js installed on the home volume when the workspace image has none and the project has a lock file without node_modules (the start script then installs the project's packages). Empty: never install Node."
  type        = string
  validation {
    condition     = can(regex("^(|[0-9]+\\.[0-9]+\\.[0-9]+)$", var.node_version))
    error_message = "Use a Node.js version such as 22.12.0, or empty."
  }
}

variable "node_dist_url" {
  default     = "https://nodejs.org/dist"
  description = "Where Node.js is downloaded from: <url>/v<version>/node-v<version>-linux-<arch>.tar.gz and SHASUMS256.txt (a mirror works)."
  type        = string
}

variable "convex_backend_env" {
  default     = {}
  description = "Extra environment of the Convex backend container, e.g. { REDACT_LOGS_TO_CLIENT = \"true\", AWS_REGION = \"…\", S3_STORAGE_FILES_BUCKET = \"…\" } for S3 storage or action limits. Names the template or coder-convex set (instance, URLs, database, the settings above) are refused. Not for secrets: container environment is visible to `docker inspect` / the pod spec."
  type        = map(string)
  validation {
    condition = alltrue([
      for k in keys(var.convex_backend_env) :
      can(regex("^[A-Z_][A-Z0-9_]*$", k)) && !contains([
        "CONVEX_ENTRYPOINT_STOP_SIGNAL", "CONVEX_ENTRYPOINT_GRACE_SECONDS", "DISABLE_METRICS_ENDPOINT",
        "DOCUMENT_RETENTION_DELAY", "DISABLE_BEACON", "CONVEX_RELEASE_VERSION_DEV", "INSTANCE_NAME",
        "INSTANCE_SECRET", "CONVEX_CLOUD_ORIGIN", "CONVEX_SITE_ORIGIN", "POSTGRES_URL", "MYSQL_URL",
        "DATABASE_URL", "DO_NOT_REQUIRE_SSL", "NEXT_PUBLIC_DEPLOYMENT_URL", "NEXT_PUBLIC_ADMIN_KEY",
      ], k)
    ])
    error_message = "Use upper-case variable names the template and coder-convex do not set themselves (document_retention_delay_seconds and the beacon parameter have their own settings)."
  }
}

# Prebuilt workspaces (Coder Premium): how many workspaces of each preset Coder keeps ready.
# 0 leaves the preset without a pool. A claimed prebuild keeps its instance, keys and data;
# README "Presets and prebuilt workspaces".
variable "prebuilds_sqlite" {
  default     = 0
  description = "Prebuilt workspaces kept ready for the SQLite preset (0: none)."
  type        = number
  validation {
    condition     = var.prebuilds_sqlite >= 0 && floor(var.prebuilds_sqlite) == var.prebuilds_sqlite
    error_message = "prebuilds_sqlite is a whole number, 0 or more."
  }
}

variable "prebuilds_postgres" {
  default     = 0
  description = "Prebuilt workspaces kept ready for the Postgres sidecar preset (0: none)."
  type        = number
  validation {
    condition     = var.prebuilds_postgres >= 0 && floor(var.prebuilds_postgres) == var.prebuilds_postgres
    error_message = "prebuilds_postgres is a whole number, 0 or more."
  }
}

variable "prebuilds_shared" {
  default     = 0
  description = "Prebuilt workspaces kept ready for the shared Postgres preset (0: none; the preset exists only with shared_postgres_url). Each prebuild creates its database on the shared server when it starts, and keeps it when claimed."
  type        = number
  validation {
    condition     = var.prebuilds_shared >= 0 && floor(var.prebuilds_shared) == var.prebuilds_shared
    error_message = "prebuilds_shared is a whole number, 0 or more."
  }
}
