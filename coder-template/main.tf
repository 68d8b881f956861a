# A Docker workspace with a self-hosted Convex backend, its dashboard and, optionally, Postgres.
#
# The workspace container and the Convex containers share one network namespace, held by a
# container of its own (docker_container.network; `network_mode = "container:…"`): Coder's
# app proxy only dials the agent's localhost, so that is where ports 3210, 3211 and 6791 must
# listen, and only there: on 127.0.0.1, not on the namespace's bridge address, where other
# containers could bypass Coder's share levels.
# `coder-convex setup` (run by the coder_script below) writes `.env.convex.local` into the
# project; the Convex containers wait for that file, start with it, and restart whenever it
# changes (scripts/convex-entrypoint.sh).

terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.5.0"
    }
    docker = {
      source  = "kreuzwerker/docker"
      version = ">= 3.0.2"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6.0"
    }
  }
}

provider "docker" {
  # null keeps the provider's default socket when the variable is empty.
  host = var.docker_socket != "" ? var.docker_socket : null
}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

data "coder_parameter" "database" {
  name         = "database"
  display_name = "Convex database"
  description  = "Where the Convex backend stores its data. Cannot be changed later: the data would stay behind in the old store."
  type         = "string"
  default      = "sqlite"
  mutable      = false
  icon         = "/icon/database.svg"
  order        = 1
  option {
    name        = "SQLite (embedded)"
    value       = "sqlite"
    description = "A file on the backend's data volume. No setup; fine for development."
  }
  option {
    name        = "Postgres (sidecar)"
    value       = "postgres"
    description = "A Postgres container in this workspace with a generated password."
  }
  option {
    name        = "External database"
    value       = "external"
    description = "An existing Postgres or MySQL server; give its URL below."
  }
  option {
    name        = "External MySQL (8.0+)"
    value       = "mysql"
    description = "An existing MySQL 8.0+ server; give its mysql:// URL below. MariaDB 10.x lacks the collation utf8mb4_0900_bin the backend's tables use: setup stops with exit 5 before creating anything."
  }
  # Offered only where the template has a server to put the database on. The condition is
  # not secret, though the URL is: nonsensitive() lets for_each use it.
  dynamic "option" {
    for_each = nonsensitive(var.shared_postgres_url != "") ? [1] : []
    content {
      name        = "Shared Postgres"
      value       = "shared"
      description = "A database of its own on the team's Postgres server (template variable shared_postgres_url), created on first start."
    }
  }
}

data "coder_parameter" "disable_beacon" {
  name         = "disable_beacon"
  display_name = "Disable the Convex beacon"
  description  = "The self-hosted backend sends Convex an anonymous usage beacon (version, uptime) unless DISABLE_BEACON is set."
  type         = "bool"
  default      = "false"
  mutable      = true
  order        = 4
}

data "coder_parameter" "database_url" {
  name         = "database_url"
  display_name = "External DATABASE_URL"
  description  = "Only for database = external or mysql. `postgres://user:password@host:5432/convex_self_hosted` or `mysql://user:password@host:3306/convex_self_hosted`: the database name becomes the Convex instance name (`_` → `-`); setup creates it when the user may. Add `?sslmode=disable` (Postgres) or `?require_ssl=false` (MySQL) for a server without TLS."
  type         = "string"
  default      = ""
  mutable      = true
  order        = 2
  validation {
    regex = "^$|^(postgres|postgresql|mysql)://"
    error = "Use a postgres://, postgresql:// or mysql:// URL."
  }
}

data "coder_parameter" "project_repo" {
  name         = "project_repo"
  display_name = "Project repository"
  description  = "Git URL cloned into ~/${var.project_dir} on first start (left alone once the directory has content). Empty: start with an empty project."
  type         = "string"
  default      = var.project_repo_url
  mutable      = true
  icon         = "/icon/git.svg"
  order        = 3
}

data "coder_parameter" "backup_keep" {
  name         = "backup_keep"
  display_name = "Backups kept"
  description  = "coder-convex backs up the Convex data when the workspace stops (and daily if enabled) and keeps this many backups in ~/.local/share/coder-convex/backups."
  type         = "number"
  default      = 7
  mutable      = true
  icon         = "/icon/database.svg"
  order        = 20
  validation {
    min = 1
    max = 100
  }
}

data "coder_parameter" "backup_daily" {
  name         = "backup_daily"
  display_name = "Daily backup"
  description  = "Also back up the Convex data every day at 03:00 while the workspace runs."
  type         = "bool"
  default      = false
  mutable      = true
  icon         = "/icon/database.svg"
  order        = 21
}

data "coder_parameter" "seed_data" {
  name         = "seed_data"
  display_name = "Seed data"
  description  = "A backup a new workspace restores once, after its first setup: an absolute or ~/ path in the workspace (a backup directory or a snapshot .zip), or an https:// URL of a snapshot .zip. Empty: start with no data."
  type         = "string"
  default      = ""
  mutable      = false
  icon         = "/icon/database.svg"
  order        = 22
  validation {
    regex = "^$|^(/|~/)[^[:cntrl:]]*$|^https://[^[:space:][:cntrl:]]+$"
    error = "Use an absolute path (/…), a path in your home directory (~/…) or an https:// URL, or leave it empty."
  }
}

data "coder_parameter" "app_port" {
  name         = "app_port"
  display_name = "App dev server port"
  description  = "The port your app's dev server listens on: Vite and SvelteKit 5173, Next.js, TanStack Start, Remix and create-react-app 3000, Expo 8081. coder-convex derives SITE_URL (what Convex Auth and Better Auth redirect to) from it, and the App button opens it."
  type         = "number"
  default      = 5173
  mutable      = true
  icon         = "/icon/widgets.svg"
  order        = 4
  validation {
    min = 1
    max = 65535
  }
}

data "coder_parameter" "app_share" {
  name         = "app_share"
  display_name = "Who can open the app"
  description  = "Share level of the App button: only you, anyone signed in to Coder, or anyone with the link (for OAuth providers and testers without a Coder account)."
  type         = "string"
  default      = "owner"
  mutable      = true
  order        = 5
  option {
    name  = "Only me"
    value = "owner"
  }
  option {
    name  = "Coder users"
    value = "authenticated"
  }
  option {
    name  = "Anyone with the link"
    value = "public"
  }
}

locals {
  home         = "/home/coder"
  project_path = "${local.home}/${var.project_dir}"
  env_file     = "${local.project_path}/.env.convex.local"

  container_name = "coder-${data.coder_workspace_owner.me.name}-${lower(data.coder_workspace.me.name)}"

  # The sidecars read their entrypoint from the template itself: the project may not be this
  # repository, and the file must be there before the project is cloned. A copy of
  # ../scripts/convex-entrypoint.sh because `coder templates push` uploads this directory only;
  # a test keeps them identical.
  entrypoint_path = "/usr/local/bin/convex-entrypoint.sh"
  entrypoint_sh   = file("${path.module}/scripts/convex-entrypoint.sh")
  # The provisioner installs coder-convex with the Convex module's installer.
  install_sh = file("${path.module}/modules/convex/scripts/install.sh")

  database     = data.coder_parameter.database.value
  use_postgres = local.database == "postgres"
  use_shared   = local.database == "shared"

  # The dashboard logs in by itself (NEXT_PUBLIC_ADMIN_KEY) only while it is owner-only: one
  # setting decides the app's share level, the key in the dashboard's env and whether
  # coder-convex writes the key (a test ties the three).
  dashboard_share           = "owner"
  dashboard_login           = local.dashboard_share == "owner"
  dashboard_entrypoint_keys = local.dashboard_login ? "NEXT_PUBLIC_DEPLOYMENT_URL NEXT_PUBLIC_ADMIN_KEY" : "NEXT_PUBLIC_DEPLOYMENT_URL"

  # GET /version answers CONVEX_RELEASE_VERSION_DEV (the image answers `unknown` without it):
  # upstream's release name, whose date coder-convex compares with the project's convex CLI.
  # Known tags and their commit dates (the same map in both templates); other tags set nothing.
  convex_image_dates = {
    "652b828b5129e6cdbcaa3c20efa8d116d09ff3bf" = "2026-08-21"
    "4d3b0a5de955a258e70e3813bbff486051d88820" = "2025-09-11"
  }
  convex_image_date = var.convex_image_date != "" ? var.convex_image_date : lookup(local.convex_image_dates, var.convex_image_tag, "")
  convex_release    = local.convex_image_date == "" ? "" : "precompiled-${local.convex_image_date}-${substr(var.convex_image_tag, 0, 7)}"

  # Backend settings from Convex's own compose file: /metrics stays off the public API app,
  # and deleted document versions are kept two days, not the binary's default 14.
  backend_env = concat(compact([
    "CONVEX_ENTRYPOINT_STOP_SIGNAL=INT",
    "DISABLE_METRICS_ENDPOINT=true",
    "DOCUMENT_RETENTION_DELAY=${var.document_retention_delay_seconds}",
    data.coder_parameter.disable_beacon.value ? "DISABLE_BEACON=true" : "",
    local.convex_release != "" ? "CONVEX_RELEASE_VERSION_DEV=${local.convex_release}" : "",
  ]), [for k, v in var.convex_backend_env : "${k}=${v}"])

  # The backend appends `/<instance name with _>` itself; coder-convex strips this path and
  # names the instance `convex-self-hosted` after it. POSTGRES_DB creates that database.
  postgres_user     = "convex"
  postgres_database = "convex_self_hosted"
  database_url = (
    local.use_postgres ? "postgres://${local.postgres_user}:${one(random_password.postgres[*].result)}@127.0.0.1:5432/${local.postgres_database}"
    : contains(["external", "mysql"], local.database) ? data.coder_parameter.database_url.value
    : ""
  )

  # Shared database: the provisioner writes the backend's database settings (its own role's
  # URL) here, in a volume only it and the backend mount (README "A role per workspace").
  provision_dir      = "/run/coder-convex"
  provision_env_file = "${local.provision_dir}/db.env"
  # Installs coder-convex the way the workspace does (scripts/install.sh, embedded), then
  # provisions. Its output (masked URLs only) is kept as the container's logs.
  provision_script = <<-EOT
    set -eu
    installer=$(mktemp)
    printf '%s' '${base64encode(local.install_sh)}' | base64 -d >"$installer"
    sh "$installer"
    exec "$CODER_CONVEX_INSTALL_DIR/coder-convex" db provision --out ${local.provision_env_file}
  EOT

  # Labels to find orphaned resources, as in Coder's docker template.
  coder_labels = {
    "coder.owner"        = data.coder_workspace_owner.me.name
    "coder.owner_id"     = data.coder_workspace_owner.me.id
    "coder.workspace_id" = data.coder_workspace.me.id
  }
  container_labels = merge(local.coder_labels, {
    "coder.workspace_name" = data.coder_workspace.me.name
  })
  # Volumes outlive renames (ignore_changes = all), so their name label is the one at creation.
  volume_labels = merge(local.coder_labels, {
    "coder.workspace_name_at_creation" = data.coder_workspace.me.name
  })
}

# Generated once and kept in the Terraform state; it reaches the workspace only as
# DATABASE_URL in the container environment and is never written into a script.
resource "random_password" "postgres" {
  count   = local.use_postgres ? 1 : 0
  length  = 32
  special = false # URL-safe: no percent-encoding needed in DATABASE_URL
}

resource "coder_agent" "main" {
  arch = data.coder_provisioner.me.arch
  os   = "linux"

  startup_script = <<-EOT
    set -e
    # Prepare the home directory with default files on first start.
    if [ ! -f ~/.init_done ]; then
      cp -rT /etc/skel ~
      touch ~/.init_done
    fi
  EOT

  # Non-secret settings only: the agent's env is stored by Coder. They also reach terminals.
  # The project directory, install directory, version and dashboard login come from the
  # Convex module (its coder_env), so `coder-convex status` works from any directory.
  # DATABASE_URL travels in the container environment instead (see docker_container.workspace).
  # Nothing here may name the owner or the workspace (see coder_env.git).
  env = {
    CODER_CONVEX_RELEASE_URL  = var.coder_convex_release_url
    CODER_CONVEX_SHA256       = var.coder_convex_sha256
    CODER_CONVEX_GIT_URL      = var.coder_convex_git_url
    CODER_CONVEX_NPM_REGISTRY = var.coder_convex_npm_registry
    # Read by local.packages_script when the image has no node.
    CODER_CONVEX_NODE_VERSION  = var.node_version
    CODER_CONVEX_NODE_DIST_URL = var.node_dist_url
    CONVEX_PROJECT_REPO        = data.coder_parameter.project_repo.value
    # Read by local.seed_script: the value never becomes part of a script's text.
    CONVEX_SEED_DATA = data.coder_parameter.seed_data.value
    # The stop backup's budget (local.backup_command ends itself before it runs out).
    CODER_CONVEX_BACKUP_STOP_SECONDS = tostring(var.backup_stop_seconds)
    # SITE_URL is derived from this port, so it is the App button's port.
    CODER_CONVEX_FRONTEND_PORT = tostring(data.coder_parameter.app_port.value)
    # Names and marks this workspace's database on the shared Postgres server.
    CODER_CONVEX_WORKSPACE_ID   = data.coder_workspace.me.id
    CODER_CONVEX_DB_CONNECTIONS = tostring(var.shared_db_connections)
    # The shared server's database is provisioned outside the workspace: no URL here.
    CODER_CONVEX_SHARED_DATABASE = local.use_shared ? "provisioned" : ""
  }

  # From `coder-convex status --metadata <item>`: one line each, the same report as
  # `status --json`, exit 0 with the backend down; every backend call is bounded (3 s). The
  # first coder-convex that answers: the project's own (node_modules/.bin), the one on PATH,
  # the installed one (a launcher without node fails and the next is tried).
  metadata {
    display_name = "Convex backend"
    key          = "0_convex_backend"
    script       = "for c in \"$${CODER_CONVEX_PROJECT_DIR:-.}/node_modules/.bin/coder-convex\" coder-convex \"$${CODER_CONVEX_INSTALL_DIR:-$HOME/.local/bin}/coder-convex\"; do \"$c\" status --metadata backend 2>/dev/null && exit 0; done; echo 'not set up'"
    interval     = 15
    timeout      = 5
  }

  metadata {
    display_name = "Convex env"
    key          = "1_convex_env"
    script       = "for c in \"$${CODER_CONVEX_PROJECT_DIR:-.}/node_modules/.bin/coder-convex\" coder-convex \"$${CODER_CONVEX_INSTALL_DIR:-$HOME/.local/bin}/coder-convex\"; do \"$c\" status --metadata env 2>/dev/null && exit 0; done; echo 'not set up'"
    interval     = 30
    timeout      = 5
  }

  metadata {
    display_name = "Convex deploy"
    key          = "1_convex_deploy"
    script       = "for c in \"$${CODER_CONVEX_PROJECT_DIR:-.}/node_modules/.bin/coder-convex\" coder-convex \"$${CODER_CONVEX_INSTALL_DIR:-$HOME/.local/bin}/coder-convex\"; do \"$c\" status --metadata deploy 2>/dev/null && exit 0; done; echo 'not set up'"
    interval     = 60
    timeout      = 5
  }

  metadata {
    display_name = "CPU Usage"
    key          = "2_cpu_usage"
    script       = "coder stat cpu"
    interval     = 10
    timeout      = 1
  }

  metadata {
    display_name = "RAM Usage"
    key          = "3_ram_usage"
    script       = "coder stat mem"
    interval     = 10
    timeout      = 1
  }

  metadata {
    display_name = "Home Disk"
    key          = "4_home_disk"
    script       = "coder stat disk --path $${HOME}"
    interval     = 60
    timeout      = 1
  }
}

# Installs coder-convex and runs `coder-convex setup` (./modules/convex: a copy of the
# repository's coder-module/, since `coder templates push` uploads this directory only; a test
# keeps them equal), and adds the three Convex apps. The containers below run the backend and
# dashboard: mode `external`.
module "convex" {
  source               = "./modules/convex"
  agent_id             = coder_agent.main.id
  project_dir          = local.project_path
  backend_mode         = "external"
  coder_convex_version = var.coder_convex_version
  install_dir          = var.coder_convex_install_dir
  dashboard_share      = local.dashboard_share
  dashboard_login      = local.dashboard_login
  order                = 10
  # Install (every download bounded), setup (its own --wait) and the seed (a 600 s download at
  # most): a registry or backend that never answers cannot keep the script running forever.
  setup_timeout     = var.setup_timeout_seconds
  pre_setup_script  = local.pre_setup_script
  post_setup_script = local.seed_script
}

locals {
  # Before coder-convex: the project's first clone, then its Node packages
  # (local.packages_script). The module reports a failure here and runs setup anyway.
  pre_setup_script = <<-EOT
    #!/bin/sh
    set -eu
    say() { printf '%s\n' "$*"; }

    dir=$CODER_CONVEX_PROJECT_DIR
    repo=$${CONVEX_PROJECT_REPO:-}
    if [ -n "$repo" ] && [ ! -e "$dir/.git" ] && [ -z "$(ls -A "$dir" 2>/dev/null)" ]; then
      # Log the host and path only: the URL may carry a token. git's own messages quote the
      # URL as git parsed it (a raw `@` in a password splits it elsewhere): shown only for a
      # URL without credentials.
      shown=$(printf '%s' "$repo" | sed -e 's|^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/]*@|\1|' -e 's|[?#].*||')
      say "cloning $shown into $dir"
      if ! git_error=$(git clone --quiet "$repo" "$dir" 2>&1); then
        if [ "$shown" = "$repo" ]; then
          say "$git_error"
        else
          say "(git's message is not shown: it may quote the URL's credentials)"
        fi
        say "clone failed; continuing with an empty project"
      fi
    fi
    mkdir -p "$dir"

    # The project's Node packages (local.packages_script); setup says what is missing if not.
    if ! sh -c "$(printf '%s' '${base64encode(local.packages_script)}' | base64 -d)" packages; then
      say "the project's packages are not installed; setup cannot deploy until they are"
    fi
  EOT
}

locals {
  # Runs the installed coder-convex (or the project's own) in the project directory.
  backup_command = <<-EOT
    #!/bin/sh
    set -eu
    cd "$CODER_CONVEX_PROJECT_DIR" || exit 0
    PATH="$CODER_CONVEX_PROJECT_DIR/node_modules/.bin:$${CODER_CONVEX_INSTALL_DIR:-$HOME/.local/bin}:$HOME/.local/share/coder-convex/node/bin:$PATH"
    [ -f .env.convex.local ] || { echo "not set up yet: nothing to back up"; exit 0; }
    # A short probe first: a backend that is down costs seconds, not the whole budget, and the
    # reason is printed before the agent's timeout could cut it off.
    state=$(coder-convex status --metadata backend --timeout 5 2>/dev/null) || state=
    case $state in
      up*) ;;
      *)
        echo "no backup: the Convex backend is $${state:-not answering} (coder-convex status says more); the earlier backups are kept"
        exit 1
        ;;
    esac
    # --wait ends the backup with its reason before the script's timeout (the budget) ends it
    # without one: the budget less a margin for the probe and the report.
    budget=$${CODER_CONVEX_BACKUP_STOP_SECONDS:-120}
    exec coder-convex backup --keep ${data.coder_parameter.backup_keep.value} --wait "$((budget > 20 ? budget - 10 : 10))"
  EOT

  # Installs the project's Node packages with its own package manager when it has a lock file
  # and no node_modules: `coder-convex setup` deploys with the project's `convex` package, and
  # every backup exports with it. The workspace image needs no Node: when `node` is not on PATH,
  # Node `node_version` is downloaded from `node_dist_url`, checked against its SHASUMS256.txt,
  # and unpacked on the home volume. A failure is said and the start goes on (setup then
  # names what is missing). The same text in both templates; tests/it/template_packages.rs
  # runs it.
  packages_script = <<-EOT
    #!/bin/sh
    set -eu
    say() { printf '%s\n' "$*"; }
    dir=$CODER_CONVEX_PROJECT_DIR
    [ -f "$dir/package.json" ] || exit 0
    [ -d "$dir/node_modules" ] && exit 0
    if [ -f "$dir/pnpm-lock.yaml" ]; then
      tool=pnpm lock=pnpm-lock.yaml
      set -- pnpm install --frozen-lockfile
    elif [ -f "$dir/yarn.lock" ]; then
      tool=yarn lock=yarn.lock
      set -- yarn install
    elif [ -f "$dir/bun.lock" ] || [ -f "$dir/bun.lockb" ]; then
      tool=bun lock=bun.lock
      set -- bun install --frozen-lockfile
    elif [ -f "$dir/package-lock.json" ]; then
      tool=npm lock=package-lock.json
      set -- npm ci
    else
      say "package.json without a lock file: not installing the project's packages (run your package manager's install)"
      exit 0
    fi
    node_home=$HOME/.local/share/coder-convex/node
    PATH="$node_home/bin:$PATH"
    export PATH
    if ! command -v node >/dev/null 2>&1; then
      version=$${CODER_CONVEX_NODE_VERSION:-}
      if [ -z "$version" ]; then
        say "the project has $lock but this image has no node; set the template variable node_version (or use an image with Node)"
        exit 1
      fi
      case $(uname -m) in
        x86_64 | amd64) arch=x64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *)
          say "no Node build for $(uname -m); use an image with Node"
          exit 1
          ;;
      esac
      base=$${CODER_CONVEX_NODE_DIST_URL:-https://nodejs.org/dist}/v$version
      file=node-v$version-linux-$arch.tar.gz
      tmp=$(mktemp -d)
      trap 'rm -rf "$tmp"' EXIT
      say "installing Node $version ($file) into $node_home"
      if ! curl -fsSL --max-time 600 -o "$tmp/$file" "$base/$file" ||
        ! curl -fsSL --max-time 60 -o "$tmp/SHASUMS256.txt" "$base/SHASUMS256.txt"; then
        say "could not download Node from $base; set node_dist_url to a mirror, or use an image with Node"
        exit 1
      fi
      want=$(grep " $file\$" "$tmp/SHASUMS256.txt" | cut -d' ' -f1)
      got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
      if [ -z "$want" ] || [ "$want" != "$got" ]; then
        say "Node's $file does not match SHASUMS256.txt; nothing installed"
        exit 1
      fi
      mkdir -p "$node_home"
      tar -xzf "$tmp/$file" -C "$node_home" --strip-components=1
    fi
    if ! command -v "$tool" >/dev/null 2>&1; then
      case $tool in
        pnpm | yarn) corepack enable --install-directory "$node_home/bin" "$tool" || true ;;
      esac
    fi
    if ! command -v "$tool" >/dev/null 2>&1; then
      say "the project has $lock but $tool is not installed; install it in the image"
      exit 1
    fi
    say "installing the project's packages: $*"
    cd "$dir"
    "$@"
  EOT

  # Restores the seed_data parameter's backup once, after the first successful setup. The value
  # arrives in the agent's env (CONVEX_SEED_DATA), never in a script's text, so no character in
  # it can become shell syntax. `restore --seed` records the seed in the deployment itself
  # (CODER_CONVEX_SEEDED, kept with the data), so it never restores over data it seeded before,
  # whatever happens to the home volume; the marker there only spares a download on later
  # starts. A failed download or restore is tried again on the next start. The same text in
  # both templates; a test runs it (tests/it/template_seed.rs).
  seed_script = <<-EOT
    #!/bin/sh
    set -eu
    seed=$${CONVEX_SEED_DATA:-}
    case $${XDG_DATA_HOME:-} in
      /*) data=$XDG_DATA_HOME ;;
      *) data=$HOME/.local/share ;;
    esac
    marker=$data/coder-convex/seeded
    if [ -z "$seed" ] || [ -e "$marker" ]; then
      exit 0
    fi
    case $seed in
      \~/*) seed=$HOME/$${seed#??} ;;
    esac
    case $seed in
      /* | https://*) ;;
      *)
        echo "seed_data is not an absolute path, a ~/ path or an https:// URL; not seeding"
        exit 1
        ;;
    esac

    tmp=
    trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT
    trap 'exit 1' HUP INT TERM
    case $seed in
      https://*)
        # Log the host and path only: the query string or user part may carry a token.
        shown=$(printf '%s' "$seed" | sed -e 's|^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/]*@|\1|' -e 's|[?#].*||')
        echo "downloading the seed data from $shown"
        tmp=$(mktemp -d)
        archive=$tmp/seed.zip
        if ! curl -fsSL --proto '=https' --proto-redir '=https' --max-time 600 -o "$archive" -- "$seed"; then
          echo "the seed data could not be downloaded; the next start tries again"
          exit 1
        fi
        seed=$archive
        ;;
    esac

    echo "restoring the seed data once"
    if ! coder-convex restore "$seed" --seed; then
      echo "seeding failed; the next start tries again (or run 'coder-convex restore <backup> --seed')"
      exit 1
    fi
    mkdir -p "$(dirname "$marker")"
    date >"$marker"
    echo "seed data in place; the deployment records it (CODER_CONVEX_SEEDED), $marker spares the next download"
  EOT
}

# A backup when the workspace stops. A template update stops the workspace first, so this is
# the pre-upgrade backup (backend upgrades are forward-only; README "Your data"). Terraform
# removes the workspace container first (it depends on the Convex containers), giving its
# agent var.backup_stop_seconds for this script while the backend still runs; then the Convex
# containers, then the network holder.
resource "coder_script" "convex_backup_on_stop" {
  agent_id     = coder_agent.main.id
  display_name = "Convex backup"
  icon         = "/icon/database.svg"
  run_on_stop  = true
  timeout      = var.backup_stop_seconds
  script       = local.backup_command
}

# An optional daily backup (03:00 in the agent's time zone; Coder cron has a seconds field).
resource "coder_script" "convex_backup_daily" {
  count        = data.coder_parameter.backup_daily.value ? 1 : 0
  agent_id     = coder_agent.main.id
  display_name = "Convex daily backup"
  icon         = "/icon/database.svg"
  cron         = "0 0 3 * * *"
  script       = local.backup_command
}

# Git's identity is the owner's, which a claimed prebuild changes. It is set here, not in
# coder_agent.main's env: a changed coder_agent attribute replaces the agent, and Terraform cannot
# know the new agent's token and init script before the apply, so the containers that use them
# would be replaced at the claim too (README "Presets and prebuilt workspaces").
resource "coder_env" "git" {
  for_each = {
    GIT_AUTHOR_NAME     = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_AUTHOR_EMAIL    = data.coder_workspace_owner.me.email
    GIT_COMMITTER_NAME  = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_COMMITTER_EMAIL = data.coder_workspace_owner.me.email
  }
  agent_id = coder_agent.main.id
  name     = each.key
  value    = each.value
}

# See https://registry.coder.com/modules/coder/code-server
module "code-server" {
  count    = data.coder_workspace.me.start_count
  source   = "registry.coder.com/coder/code-server/coder"
  version  = "~> 1.0"
  agent_id = coder_agent.main.id
  folder   = local.project_path
  order    = 1
}

# --- apps -----------------------------------------------------------------------------------
# The Convex apps (convex-api, convex-site, convex-dashboard) come from module.convex.

# The app's own dev server (Vite, Next.js, ...). coder-convex pushes SITE_URL as this port's
# workspace URL (`<port>--<agent>--<workspace>--<owner>.<wildcard>`), the URL Convex Auth and
# Better Auth redirect to. No healthcheck: the dev server runs only while you run it.
resource "coder_app" "app" {
  agent_id     = coder_agent.main.id
  slug         = "app"
  display_name = "App"
  icon         = "/icon/widgets.svg"
  url          = "http://localhost:${data.coder_parameter.app_port.value}"
  subdomain    = true
  share        = data.coder_parameter.app_share.value
  order        = 1
}

# --- volumes --------------------------------------------------------------------------------

# Home, with the project checkout and the env files coder-convex writes. The sidecars mount it
# read-only: a separate project volume would be root-owned where it is mounted, and a volume
# subpath must exist before the container starts, which the project does not on first start.
resource "docker_volume" "home_volume" {
  name = "coder-${data.coder_workspace.me.id}-home"
  # Protect the volume from being deleted due to changes in attributes.
  lifecycle {
    ignore_changes = all
  }
  dynamic "labels" {
    for_each = local.volume_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
}

# The backend's SQLite database, file storage and search indexes; survives image upgrades.
resource "docker_volume" "convex_data" {
  name = "coder-${data.coder_workspace.me.id}-convex-data"
  lifecycle {
    ignore_changes = all
  }
  dynamic "labels" {
    for_each = local.volume_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
}

# The backend's database settings on a shared server (db provision's file): mounted by the
# provisioner and, read-only, by the backend; never by the workspace container.
resource "docker_volume" "convex_db_credentials" {
  count = local.use_shared ? 1 : 0
  name  = "coder-${data.coder_workspace.me.id}-convex-db-credentials"
  lifecycle {
    ignore_changes = all
  }
  dynamic "labels" {
    for_each = local.volume_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
}

resource "docker_volume" "postgres_data" {
  count = local.use_postgres ? 1 : 0
  name  = "coder-${data.coder_workspace.me.id}-postgres-data"
  lifecycle {
    ignore_changes = all
  }
  dynamic "labels" {
    for_each = local.volume_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
}

# --- containers -----------------------------------------------------------------------------

# Holds the network namespace that the workspace and the Convex containers join. It only
# sleeps (SIGTERM ends it at once, through the init process) and never restarts by itself, so
# the namespace stays while the backend restarts on a change of its env file. Docker refuses a
# hostname and extra hosts on a container that joins another's namespace: they are set here,
# and the containers that join share its /etc/hosts and hostname.
resource "docker_container" "network" {
  count      = data.coder_workspace.me.start_count
  image      = var.workspace_image
  name       = "${local.container_name}-network"
  init       = true
  entrypoint = ["sleep", "infinity"]
  restart    = "unless-stopped"
  # Hostname makes the shell more user friendly: coder@my-workspace:~$
  hostname = data.coder_workspace.me.name
  host {
    host = "host.docker.internal"
    ip   = "host-gateway"
  }

  dynamic "labels" {
    for_each = local.container_labels
    content {
      label = labels.key
      value = labels.value
    }
  }

  # A claimed prebuild or a renamed workspace gets a new owner and name while it runs: Docker
  # cannot rename or relabel a container in place, so these keep the ones they were created
  # with until the next start instead of being replaced (README "Presets and prebuilt
  # workspaces").
  lifecycle {
    ignore_changes = [name, hostname, labels]
  }
}

resource "docker_container" "workspace" {
  count = data.coder_workspace.me.start_count
  image = var.workspace_image
  # Uses lower() to avoid Docker restriction on container names.
  name         = local.container_name
  network_mode = "container:${docker_container.network[0].id}"
  # Created after the Convex containers, so destroyed before them when the workspace stops: its
  # agent (PID 1) gets SIGTERM and runs the stop backup while the backend still runs, with
  # backup_stop_seconds before the container is killed.
  depends_on = [
    docker_container.convex_backend,
    docker_container.convex_dashboard,
    docker_container.postgres,
  ]
  destroy_grace_seconds = var.backup_stop_seconds
  stop_timeout          = var.backup_stop_seconds
  # Use the docker gateway if the access URL is 127.0.0.1
  entrypoint = ["sh", "-c", replace(coder_agent.main.init_script, "/localhost|127\\.0\\.0\\.1/", "host.docker.internal")]
  # DATABASE_URL stays on the Docker host (the agent's env would be stored by Coder); the agent
  # passes it on to the coder_script, where coder-convex normalises it for the backend. The
  # shared server's admin URL never comes here: only docker_container.convex_db_provision
  # gets it.
  env = compact([
    "CODER_AGENT_TOKEN=${coder_agent.main.token}",
    local.database_url != "" ? "DATABASE_URL=${local.database_url}" : "",
  ])
  volumes {
    container_path = local.home
    volume_name    = docker_volume.home_volume.name
    read_only      = false
  }

  dynamic "labels" {
    for_each = local.container_labels
    content {
      label = labels.key
      value = labels.value
    }
  }

  # Kept at a claim or a rename, as docker_container.network's.
  lifecycle {
    ignore_changes = [name, labels]
    precondition {
      condition     = local.database != "external" || data.coder_parameter.database_url.value != ""
      error_message = "The database parameter is `external`, but the External DATABASE_URL parameter is empty."
    }
    precondition {
      condition     = local.database != "mysql" || startswith(data.coder_parameter.database_url.value, "mysql://")
      error_message = "The database parameter is `mysql`, but the External DATABASE_URL parameter is not a mysql:// URL."
    }
    precondition {
      condition     = !local.use_shared || var.shared_postgres_url != ""
      error_message = "The database parameter is `shared`, but the template variable shared_postgres_url is empty."
    }
  }
}

# Shared database: the only container that gets the server's admin URL. On every start it runs
# `coder-convex db provision` (create and mark the database, its own role with a new password,
# PUBLIC revoked) and exits; the backend starts after it and reads the file it wrote.
resource "docker_container" "convex_db_provision" {
  count        = local.use_shared ? data.coder_workspace.me.start_count : 0
  image        = var.workspace_image
  name         = "${local.container_name}-convex-db-provision"
  network_mode = "container:${docker_container.network[0].id}"
  # Writes the 0600 file the backend (root in its image) reads.
  user = "root"
  # A one-shot container: the apply waits for it to end (attach), keeps its output (logs) and
  # accepts that it is not running afterwards (must_run); the postcondition fails the build
  # when it failed.
  attach     = true
  logs       = true
  must_run   = false
  entrypoint = ["/bin/sh", "-c", local.provision_script]
  env = [
    "CODER_CONVEX_SHARED_POSTGRES_URL=${var.shared_postgres_url}",
    "CODER_CONVEX_WORKSPACE_ID=${data.coder_workspace.me.id}",
    "CODER_WORKSPACE_OWNER_NAME=${data.coder_workspace_owner.me.name}",
    "CODER_WORKSPACE_NAME=${data.coder_workspace.me.name}",
    "CODER_CONVEX_DB_CONNECTIONS=${var.shared_db_connections}",
    "CODER_CONVEX_INSTALL_DIR=/tmp/coder-convex/bin",
    "CODER_CONVEX_VERSION=${var.coder_convex_version}",
    "CODER_CONVEX_NPM_REGISTRY=${var.coder_convex_npm_registry}",
    "CODER_CONVEX_RELEASE_URL=${var.coder_convex_release_url}",
    "CODER_CONVEX_SHA256=${var.coder_convex_sha256}",
    "CODER_CONVEX_GIT_URL=${var.coder_convex_git_url}",
  ]
  volumes {
    container_path = local.provision_dir
    volume_name    = one(docker_volume.convex_db_credentials[*].name)
    read_only      = false
  }
  dynamic "labels" {
    for_each = local.container_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
  # A claim or a rename changes the names in its env: it runs again at the next start (every
  # start creates it anew), which relabels the database's marker.
  lifecycle {
    ignore_changes = [name, labels, env]
    postcondition {
      condition     = self.exit_code == 0
      error_message = "coder-convex db provision failed; its output is in this resource's container_logs (it holds no password)."
    }
  }
}

resource "docker_container" "convex_backend" {
  count        = data.coder_workspace.me.start_count
  image        = "ghcr.io/get-convex/convex-backend:${var.convex_image_tag}"
  name         = "${local.container_name}-convex-backend"
  network_mode = "container:${docker_container.network[0].id}"
  # The entrypoint exits when the env file changes; the restart policy brings it back.
  restart    = "unless-stopped"
  entrypoint = ["/bin/sh", local.entrypoint_path, local.env_file]
  # Loopback only. run_backend.sh hands its arguments on to convex-local-backend, whose
  # `--interface` (default 0.0.0.0) is the address of both the API (3210) and the HTTP-actions
  # proxy (3211); the proxy forwards to 127.0.0.1:3210 itself.
  command = concat(var.convex_backend_command, ["--interface", "127.0.0.1"])
  # The backend drains requests and stops cleanly on SIGINT only (SIGTERM kills it), as in
  # Convex's own compose file (`stop_signal: SIGINT`); the entrypoint passes a stop on as SIGINT.
  # Shared database: the provisioned file comes on top of the project's env file.
  env = concat(local.backend_env, local.use_shared ? [
    "CONVEX_ENTRYPOINT_EXTRA_FILE=${local.provision_env_file}",
    "CONVEX_ENTRYPOINT_REQUIRE=INSTANCE_NAME INSTANCE_SECRET POSTGRES_URL",
  ] : [])
  depends_on = [docker_container.convex_db_provision]
  # Time for that clean stop: on `docker stop`, and when the workspace stops (without
  # destroy_grace_seconds the provider kills the container at once).
  stop_timeout          = 15
  destroy_grace_seconds = 15
  upload {
    file       = local.entrypoint_path
    content    = local.entrypoint_sh
    executable = true
  }
  volumes {
    container_path = "/convex/data"
    volume_name    = docker_volume.convex_data.name
    read_only      = false
  }
  volumes {
    container_path = local.home
    volume_name    = docker_volume.home_volume.name
    read_only      = true
  }
  dynamic "volumes" {
    for_each = local.use_shared ? [1] : []
    content {
      container_path = local.provision_dir
      volume_name    = one(docker_volume.convex_db_credentials[*].name)
      read_only      = true
    }
  }
  dynamic "labels" {
    for_each = local.container_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
  # Renamed with the workspace container at the next start, not replaced at a claim.
  lifecycle {
    ignore_changes = [name, labels]
  }
}

resource "docker_container" "convex_dashboard" {
  count        = data.coder_workspace.me.start_count
  image        = "ghcr.io/get-convex/convex-dashboard:${var.convex_image_tag}"
  name         = "${local.container_name}-convex-dashboard"
  network_mode = "container:${docker_container.network[0].id}"
  restart      = "unless-stopped"
  # The env file is 0600 and owned by the workspace user; the image's own user cannot read it.
  user       = "root"
  entrypoint = ["/bin/sh", local.entrypoint_path, local.env_file]
  command    = var.convex_dashboard_command
  env = [
    # The dashboard needs the public API URL only, not the instance secret.
    # (and the admin key while the dashboard is owner-only).
    "CONVEX_ENTRYPOINT_KEYS=${local.dashboard_entrypoint_keys}",
    # Loopback only. Next's standalone server.js listens on $HOSTNAME, which the image sets
    # to 0.0.0.0; this value replaces it.
    "HOSTNAME=127.0.0.1",
  ]
  upload {
    file       = local.entrypoint_path
    content    = local.entrypoint_sh
    executable = true
  }
  volumes {
    container_path = local.home
    volume_name    = docker_volume.home_volume.name
    read_only      = true
  }
  dynamic "labels" {
    for_each = local.container_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
  # Renamed with the workspace container at the next start, not replaced at a claim.
  lifecycle {
    ignore_changes = [name, labels]
  }
}

resource "docker_container" "postgres" {
  count        = local.use_postgres ? data.coder_workspace.me.start_count : 0
  image        = var.postgres_image
  name         = "${local.container_name}-postgres"
  network_mode = "container:${docker_container.network[0].id}"
  restart      = "unless-stopped"
  # A clean shutdown when the workspace stops, instead of crash recovery on the next start.
  destroy_grace_seconds = 15
  # Loopback only: the shared network namespace also has an address on the Docker bridge.
  command = ["postgres", "-c", "listen_addresses=127.0.0.1"]
  env = [
    "POSTGRES_USER=${local.postgres_user}",
    "POSTGRES_PASSWORD=${one(random_password.postgres[*].result)}",
    "POSTGRES_DB=${local.postgres_database}",
    # Where the volume is mounted. Images 18+ default to /var/lib/postgresql/<major>/docker:
    # without this, a new database would land outside the volume, and existing data here
    # would stop the container from starting.
    "PGDATA=/var/lib/postgresql/data",
  ]
  healthcheck {
    test     = ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U ${local.postgres_user} -d ${local.postgres_database}"]
    interval = "5s"
    timeout  = "3s"
    retries  = 10
  }
  volumes {
    container_path = "/var/lib/postgresql/data"
    volume_name    = one(docker_volume.postgres_data[*].name)
    read_only      = false
  }
  dynamic "labels" {
    for_each = local.container_labels
    content {
      label = labels.key
      value = labels.value
    }
  }
  # Renamed with the workspace container at the next start, not replaced at a claim.
  lifecycle {
    ignore_changes = [name, labels]
  }
}
