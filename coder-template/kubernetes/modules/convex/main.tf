# Convex for a Coder workspace: installs coder-convex, runs it when the workspace starts, and
# adds the Convex apps. "external": the template runs the backend (sidecar containers, as ours
# do) and the module runs `coder-convex setup`; "process": the module runs the upstream backend
# binary itself (`coder-convex up --backend process`), for workspaces without Docker.
#
# Values reach the scripts two ways, neither of which lets a value become shell syntax: the
# agent's environment (coder_env below), and base64 text that the script decodes.

terraform {
  # Validations that read another variable (dashboard_login) need 1.9.
  required_version = ">= 1.9"

  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.5.0"
    }
  }
}

variable "agent_id" {
  type        = string
  description = "The ID of a Coder agent."
}

variable "project_dir" {
  type        = string
  description = "Absolute path of the Convex project in the workspace (the directory with package.json and convex/). coder-convex writes .env.convex.local there."
  default     = "/home/coder/project"
  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]*$", var.project_dir)) && !can(regex("(^|/)\\.\\.?(/|$)", var.project_dir))
    error_message = "project_dir must be an absolute path of letters, digits, `.`, `_`, `-` and `/`, without `.` or `..` parts, e.g. /home/coder/project."
  }
}

variable "backend_mode" {
  type        = string
  description = "Who runs the Convex backend: `external` (the template, e.g. as sidecar containers; the module runs `coder-convex setup`) or `process` (the module runs the upstream convex-local-backend binary with `coder-convex up --backend process`; no Docker needed, no dashboard)."
  default     = "external"
  validation {
    condition     = contains(["external", "process"], var.backend_mode)
    error_message = "backend_mode must be `external` or `process`."
  }
}

variable "database_url" {
  type        = string
  description = "(Optional) The workspace's own Postgres or MySQL database, `postgres://user:password@host:5432/convex_self_hosted` or `mysql://…`, given to the agent as DATABASE_URL. Empty: SQLite, or the DATABASE_URL the template already gives the workspace. Never the admin URL of a server shared by a team: that would hand every workspace the keys to every other one."
  default     = ""
  sensitive   = true
  validation {
    condition     = can(regex("^$|^(postgres|postgresql|mysql)://", var.database_url))
    error_message = "database_url must be a postgres://, postgresql:// or mysql:// URL, or empty."
  }
}

variable "coder_convex_version" {
  type        = string
  description = "coder-convex version to install from the npm registry (scripts/install.sh); an installed binary of another version is replaced."
  # Kept equal to the crate version by a test: the release this module belongs to.
  default = "0.1.0"
  validation {
    condition     = can(regex("^(|[0-9]+\\.[0-9]+\\.[0-9]+.*)$", var.coder_convex_version))
    error_message = "coder_convex_version must be a release version such as 0.1.0 (empty: any installed version, for CODER_CONVEX_RELEASE_URL and git builds)."
  }
}

variable "backend_version" {
  type        = string
  description = "The upstream backend release (`precompiled-<date>-<sha7>`) of process mode (CODER_CONVEX_BACKEND_RELEASE). Another release than the one built into coder_convex_version needs backend_checksums."
  # Kept equal to src/process/release.rs by a test.
  default = "precompiled-2026-08-21-652b828"
  validation {
    condition     = can(regex("^precompiled-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9a-f]{7}$", var.backend_version))
    error_message = "backend_version is an upstream release tag such as precompiled-2026-08-21-652b828."
  }
}

variable "download_base_url" {
  type        = string
  description = "(Optional) Process mode: a mirror of the backend release archives, `<url>/<tag>/convex-local-backend-<target>.zip` (CODER_CONVEX_DOWNLOAD_BASE_URL). Empty: GitHub's release downloads."
  default     = ""
  validation {
    condition     = can(regex("^$|^https?://[^[:space:][:cntrl:]]+$", var.download_base_url))
    error_message = "download_base_url must be an http:// or https:// URL without spaces, or empty."
  }
}

variable "backend_checksums" {
  type        = string
  description = "(Optional) Process mode: a sha256sum file's text (`<sha256>  convex-local-backend-<target>.zip` lines) that replaces coder-convex's built-in pins, for a mirror's own archives or a release not pinned yet."
  default     = ""
  validation {
    condition     = alltrue([for line in compact(split("\n", var.backend_checksums)) : can(regex("^[0-9a-fA-F]{64} [ *]?[A-Za-z0-9._-]+$", line))])
    error_message = "backend_checksums must be sha256sum lines: 64 hex digits, two spaces, the archive name."
  }
}

variable "install_dir" {
  type        = string
  description = "(Optional) Where coder-convex is installed (CODER_CONVEX_INSTALL_DIR). Empty: ~/.local/bin."
  default     = ""
  validation {
    condition     = can(regex("^$|^/[A-Za-z0-9._/-]*$", var.install_dir))
    error_message = "install_dir must be an absolute path, or empty."
  }
}

variable "skip_install" {
  type        = bool
  description = "Do not install coder-convex: the image has it on PATH (or in install_dir), or the project's package.json brings it."
  default     = false
}

variable "dashboard_share" {
  type        = string
  description = "Share level of the Convex dashboard app: `owner`, `authenticated` or `public`."
  default     = "owner"
  validation {
    condition     = contains(["owner", "authenticated", "public"], var.dashboard_share)
    error_message = "dashboard_share must be `owner`, `authenticated` or `public`."
  }
}

variable "dashboard_login" {
  type        = bool
  description = "The dashboard logs in by itself (coder-convex writes the admin key for it: CODER_CONVEX_DASHBOARD_LOGIN). Only while it is owner-only: the key is sent to every browser that opens it."
  default     = true
  validation {
    condition     = !var.dashboard_login || var.dashboard_share == "owner"
    error_message = "dashboard_login needs dashboard_share = \"owner\": the dashboard would hand the admin key to everyone it is shared with. Set dashboard_login = false to share it wider (it then asks for the key: `coder-convex admin-key`)."
  }
}

variable "order" {
  type        = number
  description = "The order of the first Convex app in the UI (the others follow); also of the startup script's log."
  default     = null
}

variable "group" {
  type        = string
  description = "The name of a group the Convex apps belong to."
  default     = null
}

variable "pre_setup_script" {
  type        = string
  description = "(Optional) A script run before coder-convex (e.g. cloning the project, installing its packages). A failure is reported and setup still runs."
  default     = ""
}

variable "post_setup_script" {
  type        = string
  description = "(Optional) A script run after a successful setup (e.g. restoring seed data). Its failure fails the startup script."
  default     = ""
}

variable "setup_timeout" {
  type        = number
  description = "Seconds the startup script (install, setup, the scripts around it) may run before the agent stops it."
  default     = 1800
  validation {
    condition     = var.setup_timeout >= 60
    error_message = "setup_timeout must be at least 60: give the startup script a minute or more."
  }
}

locals {
  # The process backend each coder-convex release runs (src/process/release.rs TAG).
  backend_of_release = {
    "0.1.0" = "precompiled-2026-08-21-652b828"
  }
  process = var.backend_mode == "process"

  start_script = templatefile("${path.module}/scripts/start.sh.tftpl", {
    MODE              = var.backend_mode
    SKIP_INSTALL      = var.skip_install ? "true" : "false"
    INSTALL_SH        = base64encode(file("${path.module}/scripts/install.sh"))
    PRE_SETUP_SCRIPT  = base64encode(var.pre_setup_script)
    POST_SETUP_SCRIPT = base64encode(var.post_setup_script)
    BACKEND_CHECKSUMS = base64encode(var.backend_checksums)
  })
  stop_script = file("${path.module}/scripts/stop.sh")

  # The agent's environment: what the scripts, terminals and the metadata read. Not secret
  # (the agent's env is stored by Coder); DATABASE_URL is its own resource below.
  env = merge(
    {
      CODER_CONVEX_PROJECT_DIR = var.project_dir
      CODER_CONVEX_VERSION     = var.coder_convex_version
      # No dashboard in process mode: the admin key stays out of .env.convex.local.
      CODER_CONVEX_DASHBOARD_LOGIN = var.dashboard_login && !local.process ? "true" : "false"
    },
    var.install_dir != "" ? { CODER_CONVEX_INSTALL_DIR = var.install_dir } : {},
    local.process && var.download_base_url != "" ? { CODER_CONVEX_DOWNLOAD_BASE_URL = var.download_base_url } : {},
    local.process ? { CODER_CONVEX_BACKEND_RELEASE = var.backend_version } : {},
  )

  order = var.order == null ? 10 : var.order

  # From `coder-convex status --metadata <item>`: one line each, exit 0 with the backend down,
  # every backend call bounded (3 s). The first coder-convex that answers: the project's own,
  # the one on PATH, the installed one. A module cannot add metadata to the template's agent:
  # the template takes this list (README: `dynamic "metadata"`).
  agent_metadata = [
    for item in [
      { key = "0_convex_backend", name = "Convex backend", item = "backend", interval = 15 },
      { key = "1_convex_env", name = "Convex env", item = "env", interval = 30 },
      { key = "1_convex_deploy", name = "Convex deploy", item = "deploy", interval = 60 },
      ] : {
      key          = item.key
      display_name = item.name
      script       = "for c in \"$${CODER_CONVEX_PROJECT_DIR:-.}/node_modules/.bin/coder-convex\" coder-convex \"$${CODER_CONVEX_INSTALL_DIR:-$HOME/.local/bin}/coder-convex\"; do \"$c\" status --metadata ${item.item} 2>/dev/null && exit 0; done; echo 'not set up'"
      interval     = item.interval
      timeout      = 5
    }
  ]
}

resource "coder_env" "convex" {
  for_each = local.env
  agent_id = var.agent_id
  name     = each.key
  value    = each.value
}

# Sensitive: the agent passes it on to the scripts, where coder-convex normalises it for the
# backend. The condition is not secret, though the URL is.
resource "coder_env" "database_url" {
  count    = nonsensitive(var.database_url != "") ? 1 : 0
  agent_id = var.agent_id
  name     = "DATABASE_URL"
  value    = var.database_url
}

# Installs coder-convex and runs it. Its output is the "Convex" log of the workspace's start:
# short lines, no secrets, no `set -x`. It does not block login: the workspace is usable while
# the backend starts.
resource "coder_script" "convex" {
  agent_id           = var.agent_id
  display_name       = "Convex"
  icon               = "/icon/database.svg"
  run_on_start       = true
  start_blocks_login = false
  timeout            = var.setup_timeout
  script             = local.start_script

  lifecycle {
    precondition {
      condition     = !local.process || var.backend_checksums != "" || lookup(local.backend_of_release, var.coder_convex_version, "") == var.backend_version
      error_message = "backend_version ${var.backend_version} is not the release built into coder-convex ${var.coder_convex_version} (${lookup(local.backend_of_release, var.coder_convex_version, "unknown")}), whose pins cover only that one: give its backend_checksums."
    }
  }
}

# Process mode: stop the backend process when the workspace stops (SIGINT, 10 s to drain).
resource "coder_script" "convex_stop" {
  count        = local.process ? 1 : 0
  agent_id     = var.agent_id
  display_name = "Convex stop"
  icon         = "/icon/database.svg"
  run_on_stop  = true
  timeout      = 60
  script       = local.stop_script
}

# --- apps ---------------------------------------------------------------------------------
# Slugs and ports are the ones coder-convex derives its URLs from (src/config/urls.rs `App`).
# All three are subdomain apps: Convex clients need an origin of their own, so they only work
# with a wildcard access URL (CODER_WILDCARD_ACCESS_URL).

# The API: public because browsers' websocket clients and the Convex CLI connect without a
# Coder session. Every admin operation still needs the admin key.
resource "coder_app" "convex_api" {
  agent_id     = var.agent_id
  slug         = "convex-api"
  display_name = "Convex API"
  icon         = "/icon/database.svg"
  url          = "http://localhost:3210"
  subdomain    = true
  share        = "public"
  order        = local.order
  group        = var.group
  healthcheck {
    url       = "http://localhost:3210/version"
    interval  = 5
    threshold = 12
  }
}

# HTTP actions and auth discovery: public because the backend fetches
# /.well-known/openid-configuration from this origin itself and webhooks arrive without a
# browser session. The site proxy answers /version itself, without the backend; `/` is
# forwarded to the backend's /http/ routes, and Coder counts any answer below 500 (a 404 when
# no HTTP action matches) as healthy.
resource "coder_app" "convex_site" {
  agent_id     = var.agent_id
  slug         = "convex-site"
  display_name = "Convex HTTP actions"
  icon         = "/icon/widgets.svg"
  url          = "http://localhost:3211"
  subdomain    = true
  share        = "public"
  order        = local.order + 1
  group        = var.group
  healthcheck {
    url       = "http://localhost:3211/"
    interval  = 5
    threshold = 12
  }
}

# The dashboard: owner only, and then it logs in by itself (var.dashboard_login). Shared wider,
# it asks for the admin key instead. Process mode serves no dashboard (coder-convex does not
# download the release's dashboard.zip), so there is no app that would stay unhealthy.
resource "coder_app" "convex_dashboard" {
  count        = local.process ? 0 : 1
  agent_id     = var.agent_id
  slug         = "convex-dashboard"
  display_name = "Convex dashboard"
  icon         = "/icon/desktop.svg"
  url          = "http://localhost:6791"
  subdomain    = true
  share        = var.dashboard_share
  order        = local.order + 2
  group        = var.group
  healthcheck {
    url       = "http://localhost:6791"
    interval  = 5
    threshold = 12
  }
}

output "agent_metadata" {
  description = "The Convex items for the template's coder_agent (`dynamic \"metadata\"`, see the README): key, display_name, script, interval, timeout."
  value       = local.agent_metadata
}

output "project_dir" {
  description = "The project directory the module runs coder-convex in."
  value       = var.project_dir
}
