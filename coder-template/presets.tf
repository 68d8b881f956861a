# Presets: one per database choice, each with an optional pool of prebuilt workspaces
# (template variables prebuilds_*; 0 = no pool, no `prebuilds` block). A prebuilt workspace
# runs `coder-convex setup` as the `prebuilds` user under a generated name; a claim gives it a
# new owner and name and restarts its agent, and setup runs again: the URLs follow the new
# name, the instance, its keys, data and deployed functions stay (README "Presets and
# prebuilt workspaces"). The containers keep their names and labels until the next start
# (lifecycle.ignore_changes in main.tf) and the agent names no owner (coder_env.git), so a
# claim replaces nothing.

locals {
  # A prebuild has already applied the parameters that only act on the first start (the
  # clone, the seed restore): a prebuilt preset fixes them to the values it was built with,
  # so a claim cannot ask for another repository that would silently not be cloned.
  first_start_parameters = {
    (data.coder_parameter.project_repo.name) = var.project_repo_url
    (data.coder_parameter.seed_data.name)    = ""
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

data "coder_workspace_preset" "postgres" {
  name = "Postgres (sidecar)"
  parameters = merge(
    { (data.coder_parameter.database.name) = "postgres" },
    var.prebuilds_postgres > 0 ? local.first_start_parameters : {},
  )
  dynamic "prebuilds" {
    for_each = var.prebuilds_postgres > 0 ? [1] : []
    content {
      instances = var.prebuilds_postgres
    }
  }
}

# Only where the template has a shared server, like the parameter's option.
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
