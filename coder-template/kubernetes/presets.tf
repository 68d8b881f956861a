# Presets: one per database choice, each with an optional pool of prebuilt workspaces
# (template variables prebuilds_*; 0 = no pool, no `prebuilds` block). This template has no
# Postgres sidecar: the shared Postgres server is its Postgres preset. A prebuilt workspace
# runs `coder-convex setup` as the `prebuilds` user under a generated name; a claim gives it a
# new owner and name and restarts its agent, and setup runs again: the URLs follow the new
# name, the instance, its keys, data and deployed functions stay (README "Presets and
# prebuilt workspaces"). The pod keeps its labels until the next start
# (lifecycle.ignore_changes in main.tf), so a claim does not replace it.

locals {
  # A prebuild has already applied the parameters that only act on the first start (the
  # volumes' sizes, the seed restore): a prebuilt preset fixes them to the values it was
  # built with, so a claim cannot ask for a size or a seed that would silently not apply.
  first_start_parameters = {
    (data.coder_parameter.home_disk_size.name)   = data.coder_parameter.home_disk_size.default
    (data.coder_parameter.convex_disk_size.name) = data.coder_parameter.convex_disk_size.default
    (data.coder_parameter.seed_data.name)        = ""
  }
}

data "coder_workspace_preset" "sqlite" {
  name = "SQLite (embedded)"
  parameters = merge(
    { (data.coder_parameter.database.name) = "sqlite" },
    var.prebuilds_sqlite > 0 ? local.first_start_parameters : {},
  )
  dynamic "prebuilds" {
    for_each = var.prebuilds_sqlite > 0 ? [1] : []
    content {
      instances = var.prebuilds_sqlite
    }
  }
}

# Only where the template has a shared server, like the parameter's options.
data "coder_workspace_preset" "shared" {
  count = nonsensitive(var.shared_postgres_url != "") ? 1 : 0
  name  = "Shared Postgres"
  parameters = merge(
    { (data.coder_parameter.database.name) = "shared" },
    var.prebuilds_shared > 0 ? local.first_start_parameters : {},
  )
  dynamic "prebuilds" {
    for_each = var.prebuilds_shared > 0 ? [1] : []
    content {
      instances = var.prebuilds_shared
    }
  }
}

data "coder_workspace_preset" "shared_mysql" {
  count = nonsensitive(var.shared_mysql_url != "") ? 1 : 0
  name  = "Shared MySQL (8.0+)"
  parameters = merge(
    { (data.coder_parameter.database.name) = "shared-mysql" },
    var.prebuilds_shared_mysql > 0 ? local.first_start_parameters : {},
  )
  dynamic "prebuilds" {
    for_each = var.prebuilds_shared_mysql > 0 ? [1] : []
    content {
      instances = var.prebuilds_shared_mysql
    }
  }
}
