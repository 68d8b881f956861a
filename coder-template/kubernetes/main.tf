# A Kubernetes workspace with a self-hosted Convex backend and its dashboard.
#
# One pod per workspace: the workspace container runs the agent; the Convex backend and
# dashboard are native sidecars (init containers with restart_policy = "Always", Kubernetes
# >= 1.29) in the same pod, so they share its network namespace, where Coder's app proxy
# dials, and listen on 127.0.0.1 only. `coder-convex setup` writes `.env.convex.local` into
# the project on the home volume; the sidecars wait for it, start with it and restart when it
# changes (scripts/convex-entrypoint.sh, mounted from a ConfigMap).

terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.5.0"
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
      # init_container.restart_policy (native sidecars).
      version = ">= 2.32.0"
    }
  }
}

provider "kubernetes" {
  # Authenticate via ~/.kube/config or a Coder-specific ServiceAccount, as in Coder's own
  # kubernetes template.
  config_path = var.use_kubeconfig == true ? "~/.kube/config" : null
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
  dynamic "option" {
    for_each = nonsensitive(var.shared_mysql_url != "") ? [1] : []
    content {
      name        = "Shared MySQL (8.0+)"
      value       = "shared-mysql"
      description = "A database of its own on the team's MySQL 8.0+ server (template variable shared_mysql_url), created on first start. MariaDB 10.x lacks the collation the backend needs: setup stops before creating anything."
    }
  }
}

data "coder_parameter" "cpu" {
  name         = "cpu"
  display_name = "CPU"
  description  = "CPU cores of the workspace container (limit; the request is half)."
  type         = "number"
  default      = "2"
  mutable      = true
  icon         = "/icon/memory.svg"
  order        = 2
  validation {
    min = 1
    max = 16
  }
}

data "coder_parameter" "memory" {
  name         = "memory"
  display_name = "Memory (GiB)"
  description  = "Memory of the workspace container (limit; the request is half)."
  type         = "number"
  default      = "4"
  mutable      = true
  icon         = "/icon/memory.svg"
  order        = 3
  validation {
    min = 1
    max = 64
  }
}

data "coder_parameter" "convex_memory" {
  name         = "convex_memory"
  display_name = "Convex backend memory (GiB)"
  description  = "Memory limit of the Convex backend sidecar."
  type         = "number"
  default      = "2"
  mutable      = true
  icon         = "/icon/memory.svg"
  order        = 4
  validation {
    min = 1
    max = 32
  }
}

data "coder_parameter" "home_disk_size" {
  name         = "home_disk_size"
  display_name = "Home disk size (GiB)"
  description  = "Size of the home volume (project checkout, env files)."
  type         = "number"
  default      = "10"
  mutable      = false
  icon         = "/emojis/1f4be.png"
  order        = 5
  validation {
    min = 1
    max = 200
  }
}

data "coder_parameter" "convex_disk_size" {
  name         = "convex_disk_size"
  display_name = "Convex data disk size (GiB)"
  description  = "Size of the backend's data volume (SQLite database, files, search indexes)."
  type         = "number"
  default      = "10"
  mutable      = false
  icon         = "/emojis/1f4be.png"
  order        = 6
  validation {
    min = 1
    max = 500
  }
}

data "coder_parameter" "disable_beacon" {
  name         = "disable_beacon"
  display_name = "Disable the Convex beacon"
  description  = "The self-hosted backend sends Convex an anonymous usage beacon (version, uptime) unless DISABLE_BEACON is set."
  type         = "bool"
  default      = "false"
  mutable      = true
  order        = 7
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

locals {
  home         = "/home/coder"
  project_path = "${local.home}/${var.project_dir}"
  env_file     = "${local.project_path}/.env.convex.local"
  name         = "coder-${data.coder_workspace.me.id}"

  # A copy of ../../scripts/convex-entrypoint.sh: `coder templates push` uploads this
  # directory only; a test keeps them identical.
  entrypoint_dir  = "/opt/convex"
  entrypoint_path = "/opt/convex/convex-entrypoint.sh"
  # The provisioner installs coder-convex with the Convex module's installer.
  install_sh = file("${path.module}/modules/convex/scripts/install.sh")

  use_shared       = data.coder_parameter.database.value == "shared"
  use_shared_mysql = data.coder_parameter.database.value == "shared-mysql"
  # Either shared server: provisioned by the init container, never by the workspace.
  provisioned = local.use_shared || local.use_shared_mysql

  # Shared server: the init container `convex-db-provision` writes the backend's database
  # settings (its own role's or user's URL) into an emptyDir only it and the backend sidecar mount
  # (README "A role per workspace"). It installs coder-convex the way the workspace does
  # (scripts/install.sh, from the config map), then provisions.
  provision_dir      = "/run/coder-convex"
  provision_env_file = "${local.provision_dir}/db.env"
  provision_script   = <<-EOT
    set -eu
    sh ${local.entrypoint_dir}/install.sh
    exec "$CODER_CONVEX_INSTALL_DIR/coder-convex" db provision --out ${local.provision_env_file}
  EOT

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
  # deleted document versions are kept two days, and the entrypoint stops the backend with
  # SIGINT (SIGTERM, what Kubernetes sends, kills it without draining).
  backend_env = merge({
    CONVEX_ENTRYPOINT_STOP_SIGNAL   = "INT"
    CONVEX_ENTRYPOINT_GRACE_SECONDS = tostring(var.convex_stop_grace_seconds)
    DISABLE_METRICS_ENDPOINT        = "true"
    DOCUMENT_RETENTION_DELAY        = tostring(var.document_retention_delay_seconds)
    }, data.coder_parameter.disable_beacon.value ? { DISABLE_BEACON = "true" } : {},
    local.convex_release != "" ? { CONVEX_RELEASE_VERSION_DEV = local.convex_release } : {},
    var.convex_backend_env
  )

  labels = {
    "app.kubernetes.io/name"     = "coder-workspace"
    "app.kubernetes.io/instance" = local.name
    "app.kubernetes.io/part-of"  = "coder"
    "com.coder.resource"         = "true"
    "com.coder.workspace.id"     = data.coder_workspace.me.id
    "com.coder.workspace.name"   = data.coder_workspace.me.name
    "com.coder.user.id"          = data.coder_workspace_owner.me.id
    "com.coder.user.username"    = data.coder_workspace_owner.me.name
  }

  # Sidecars: no privileges, no capabilities, the workspace user (it owns the 0600 env file).
  sidecar_security = {
    allow_privilege_escalation = false
    run_as_non_root            = true
    run_as_user                = var.uid
  }
}

resource "coder_agent" "main" {
  arch = data.coder_provisioner.me.arch
  os   = "linux"

  startup_script = <<-EOT
    set -e
    if [ ! -f ~/.init_done ]; then
      cp -rT /etc/skel ~
      touch ~/.init_done
    fi
  EOT

  # Non-secret settings only: the agent's env is stored by Coder. The project directory,
  # install directory, version and dashboard login come from the Convex module (its coder_env).
  # A shared server's admin URL reaches only the provisioner's init container.
  env = {
    CODER_CONVEX_RELEASE_URL    = var.coder_convex_release_url
    CODER_CONVEX_SHA256         = var.coder_convex_sha256
    CODER_CONVEX_GIT_URL        = var.coder_convex_git_url
    CODER_CONVEX_NODE_VERSION   = var.node_version
    CODER_CONVEX_NODE_DIST_URL  = var.node_dist_url
    CODER_CONVEX_WORKSPACE_ID   = data.coder_workspace.me.id
    CODER_CONVEX_DB_CONNECTIONS = tostring(var.shared_db_connections)
    # A shared server's database is provisioned outside the workspace: no URL here.
    CODER_CONVEX_SHARED_DATABASE = local.provisioned ? "provisioned" : ""
    # Read by local.seed_script: the value never becomes part of a script's text.
    CONVEX_SEED_DATA = data.coder_parameter.seed_data.value
    # The stop backup's budget (local.backup_command ends itself before it runs out).
    CODER_CONVEX_BACKUP_STOP_SECONDS = tostring(var.backup_stop_seconds)
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
    display_name = "Home Disk"
    key          = "4_home_disk"
    script       = "coder stat disk --path $${HOME}"
    interval     = 60
    timeout      = 1
  }
}

# Installs coder-convex and runs `coder-convex setup` (./modules/convex, as in the Docker
# template: a copy of the repository's coder-module/), and adds the three Convex apps. The
# sidecars run the backend and dashboard: mode `external`.
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
  # Before coder-convex: the project's Node packages (local.packages_script). The module
  # reports a failure here and runs setup anyway.
  pre_setup_script = <<-EOT
    #!/bin/sh
    set -eu
    if ! sh -c "$(printf '%s' '${base64encode(local.packages_script)}' | base64 -d)" packages; then
      echo "the project's packages are not installed; setup cannot deploy until they are"
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
# the pre-upgrade backup (backend upgrades are forward-only; README "Your data"). The agent runs
# it on the pod's SIGTERM, while the backend sidecar still runs (sidecars stop after the
# workspace container); the pod's grace period has backup_stop_seconds for it, and the agent
# stops the script after that long so the backend keeps its own drain time.
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

# --- storage, configuration, secrets ---------------------------------------------------------

resource "kubernetes_persistent_volume_claim_v1" "home" {
  metadata {
    name      = "${local.name}-home"
    namespace = var.namespace
    labels    = local.labels
  }
  wait_until_bound = false
  spec {
    access_modes       = ["ReadWriteOnce"]
    storage_class_name = var.storage_class != "" ? var.storage_class : null
    resources {
      requests = {
        storage = "${data.coder_parameter.home_disk_size.value}Gi"
      }
    }
  }
  lifecycle {
    ignore_changes = all
  }
}

resource "kubernetes_persistent_volume_claim_v1" "convex_data" {
  metadata {
    name      = "${local.name}-convex-data"
    namespace = var.namespace
    labels    = local.labels
  }
  wait_until_bound = false
  spec {
    access_modes       = ["ReadWriteOnce"]
    storage_class_name = var.storage_class != "" ? var.storage_class : null
    resources {
      requests = {
        storage = "${data.coder_parameter.convex_disk_size.value}Gi"
      }
    }
  }
  lifecycle {
    ignore_changes = all
  }
}

resource "kubernetes_config_map_v1" "convex_entrypoint" {
  metadata {
    name      = "${local.name}-convex-entrypoint"
    namespace = var.namespace
    labels    = local.labels
  }
  data = {
    "convex-entrypoint.sh" = file("${path.module}/scripts/convex-entrypoint.sh")
    "install.sh"           = local.install_sh
  }
}

# The agent token and the shared servers' URLs: in a Secret, referenced by the pod spec, never
# written into it. The shared servers' URLs go to the provisioning init container only.
resource "kubernetes_secret_v1" "workspace" {
  metadata {
    name      = "${local.name}-env"
    namespace = var.namespace
    labels    = local.labels
  }
  data = {
    CODER_AGENT_TOKEN                = coder_agent.main.token
    CODER_CONVEX_SHARED_POSTGRES_URL = local.use_shared ? var.shared_postgres_url : ""
    CODER_CONVEX_SHARED_DATABASE_URL = local.use_shared_mysql ? var.shared_mysql_url : ""
    # Read by the provisioner at the pod's start. Not secret; here because a claim or a rename
    # updates a Secret in place, where a value in the pod spec would restart the pod.
    CODER_WORKSPACE_OWNER_NAME = data.coder_workspace_owner.me.name
    CODER_WORKSPACE_NAME       = data.coder_workspace.me.name
  }
}

# --- the pod -----------------------------------------------------------------------------------

resource "kubernetes_deployment_v1" "workspace" {
  count            = data.coder_workspace.me.start_count
  wait_for_rollout = false
  metadata {
    name      = local.name
    namespace = var.namespace
    labels    = local.labels
  }

  spec {
    replicas = 1
    selector {
      match_labels = local.labels
    }
    strategy {
      type = "Recreate"
    }

    template {
      metadata {
        labels = local.labels
      }
      spec {
        # Time for the stop backup (coder_script.convex_backup_on_stop, in the workspace
        # container), then the entrypoint's SIGINT drain of the backend, and a margin.
        termination_grace_period_seconds = var.backup_stop_seconds + var.convex_stop_grace_seconds + 5

        security_context {
          run_as_user     = var.uid
          run_as_group    = var.uid
          run_as_non_root = true
          fs_group        = var.uid
        }

        # No Kubernetes API token in any container: none of them talks to the API.
        automount_service_account_token = false

        # A shared server: the only container that gets its admin URL. A regular init
        # container, so it has finished (database, its own role or user with a new password)
        # before the backend sidecar starts and reads the file it wrote. The unused URL is
        # empty, which coder-convex reads as unset.
        dynamic "init_container" {
          for_each = local.provisioned ? [1] : []
          content {
            name    = "convex-db-provision"
            image   = var.workspace_image
            command = ["/bin/sh", "-c", local.provision_script]
            dynamic "env" {
              for_each = ["CODER_CONVEX_SHARED_POSTGRES_URL", "CODER_CONVEX_SHARED_DATABASE_URL", "CODER_WORKSPACE_OWNER_NAME", "CODER_WORKSPACE_NAME"]
              content {
                name = env.value
                value_from {
                  secret_key_ref {
                    name = kubernetes_secret_v1.workspace.metadata[0].name
                    key  = env.value
                  }
                }
              }
            }
            dynamic "env" {
              for_each = {
                CODER_CONVEX_WORKSPACE_ID   = data.coder_workspace.me.id
                CODER_CONVEX_DB_CONNECTIONS = tostring(var.shared_db_connections)
                CODER_CONVEX_INSTALL_DIR    = "/tmp/coder-convex/bin"
                CODER_CONVEX_VERSION        = var.coder_convex_version
                CODER_CONVEX_RELEASE_URL    = var.coder_convex_release_url
                CODER_CONVEX_SHA256         = var.coder_convex_sha256
                CODER_CONVEX_GIT_URL        = var.coder_convex_git_url
              }
              content {
                name  = env.key
                value = env.value
              }
            }
            security_context {
              allow_privilege_escalation = local.sidecar_security.allow_privilege_escalation
              run_as_non_root            = local.sidecar_security.run_as_non_root
              run_as_user                = local.sidecar_security.run_as_user
              capabilities {
                drop = ["ALL"]
              }
            }
            volume_mount {
              name       = "convex-db-credentials"
              mount_path = local.provision_dir
            }
            volume_mount {
              name       = "convex-entrypoint"
              mount_path = local.entrypoint_dir
              read_only  = true
            }
          }
        }

        # Native sidecars: started before the workspace container, restarted on exit (the
        # entrypoint exits when the env file changes), stopped after it.
        init_container {
          name           = "convex-backend"
          image          = "ghcr.io/get-convex/convex-backend:${var.convex_image_tag}"
          restart_policy = "Always"
          command        = ["/bin/sh", local.entrypoint_path, local.env_file]
          # Loopback only: `--interface` (default 0.0.0.0) is the address of the API and the
          # HTTP-actions proxy; the pod IP is reachable from every pod in the cluster.
          args = concat(var.convex_backend_command, ["--interface", "127.0.0.1"])
          # A shared server: the provisioned file comes on top of the project's env file.
          dynamic "env" {
            for_each = merge(local.backend_env, local.provisioned ? {
              CONVEX_ENTRYPOINT_EXTRA_FILE = local.provision_env_file
              CONVEX_ENTRYPOINT_REQUIRE    = "INSTANCE_NAME INSTANCE_SECRET ${local.use_shared_mysql ? "MYSQL_URL" : "POSTGRES_URL"}"
            } : {})
            content {
              name  = env.key
              value = env.value
            }
          }
          resources {
            requests = {
              cpu    = "250m"
              memory = "512Mi"
            }
            limits = {
              memory = "${data.coder_parameter.convex_memory.value}Gi"
            }
          }
          security_context {
            allow_privilege_escalation = local.sidecar_security.allow_privilege_escalation
            run_as_non_root            = local.sidecar_security.run_as_non_root
            run_as_user                = local.sidecar_security.run_as_user
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "convex-data"
            mount_path = "/convex/data"
          }
          volume_mount {
            name       = "home"
            mount_path = local.home
            read_only  = true
          }
          volume_mount {
            name       = "convex-entrypoint"
            mount_path = local.entrypoint_dir
            read_only  = true
          }
          dynamic "volume_mount" {
            for_each = local.provisioned ? [1] : []
            content {
              name       = "convex-db-credentials"
              mount_path = local.provision_dir
              read_only  = true
            }
          }
        }

        init_container {
          name           = "convex-dashboard"
          image          = "ghcr.io/get-convex/convex-dashboard:${var.convex_image_tag}"
          restart_policy = "Always"
          command        = ["/bin/sh", local.entrypoint_path, local.env_file]
          args           = var.convex_dashboard_command
          env {
            name  = "CONVEX_ENTRYPOINT_KEYS"
            value = local.dashboard_entrypoint_keys
          }
          # Loopback only: Next's standalone server.js listens on $HOSTNAME.
          env {
            name  = "HOSTNAME"
            value = "127.0.0.1"
          }
          resources {
            requests = {
              cpu    = "100m"
              memory = "256Mi"
            }
            limits = {
              memory = "1Gi"
            }
          }
          security_context {
            allow_privilege_escalation = local.sidecar_security.allow_privilege_escalation
            run_as_non_root            = local.sidecar_security.run_as_non_root
            run_as_user                = local.sidecar_security.run_as_user
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "home"
            mount_path = local.home
            read_only  = true
          }
          volume_mount {
            name       = "convex-entrypoint"
            mount_path = local.entrypoint_dir
            read_only  = true
          }
        }

        container {
          name    = "dev"
          image   = var.workspace_image
          command = ["sh", "-c", coder_agent.main.init_script]
          env {
            name = "CODER_AGENT_TOKEN"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.workspace.metadata[0].name
                key  = "CODER_AGENT_TOKEN"
              }
            }
          }
          resources {
            requests = {
              cpu    = "${data.coder_parameter.cpu.value * 500}m"
              memory = "${data.coder_parameter.memory.value * 512}Mi"
            }
            limits = {
              cpu    = data.coder_parameter.cpu.value
              memory = "${data.coder_parameter.memory.value}Gi"
            }
          }
          security_context {
            run_as_user = var.uid
          }
          volume_mount {
            name       = "home"
            mount_path = local.home
          }
        }

        volume {
          name = "home"
          persistent_volume_claim {
            claim_name = kubernetes_persistent_volume_claim_v1.home.metadata[0].name
          }
        }
        volume {
          name = "convex-data"
          persistent_volume_claim {
            claim_name = kubernetes_persistent_volume_claim_v1.convex_data.metadata[0].name
          }
        }
        dynamic "volume" {
          for_each = local.provisioned ? [1] : []
          content {
            name = "convex-db-credentials"
            empty_dir {
              medium = "Memory"
            }
          }
        }
        volume {
          name = "convex-entrypoint"
          config_map {
            name         = kubernetes_config_map_v1.convex_entrypoint.metadata[0].name
            default_mode = "0555"
          }
        }
      }
    }
  }

  # A claimed prebuild or a renamed workspace gets a new owner and name while it runs. A new
  # selector replaces the Deployment and new pod labels roll the pod: either would restart the
  # workspace under its agent. They keep the labels they were created with until the next start
  # (README "Presets and prebuilt workspaces"); the PVCs ignore every change anyway.
  lifecycle {
    ignore_changes = [
      metadata[0].labels,
      spec[0].selector,
      spec[0].template[0].metadata[0].labels,
    ]
    precondition {
      condition     = !local.use_shared || var.shared_postgres_url != ""
      error_message = "The database parameter is `shared`, but the template variable shared_postgres_url is empty."
    }
    precondition {
      condition     = !local.use_shared_mysql || startswith(var.shared_mysql_url, "mysql://")
      error_message = "The database parameter is `shared-mysql`, but the template variable shared_mysql_url is not a mysql:// URL."
    }
  }
}
