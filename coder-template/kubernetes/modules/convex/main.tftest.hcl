# `terraform test` (plan only: nothing is created). Needs the coder/coder provider from the
# Terraform registry.

run "defaults" {
  command = plan

  variables {
    agent_id = "agent"
  }

  assert {
    condition     = coder_app.convex_api.url == "http://localhost:3210" && coder_app.convex_api.share == "public"
    error_message = "the API app is public on port 3210"
  }
  assert {
    condition     = coder_app.convex_site.healthcheck[0].url == "http://localhost:3211/"
    error_message = "the site app's health check is the site proxy's /"
  }
  assert {
    condition     = length(coder_app.convex_dashboard) == 1 && coder_app.convex_dashboard[0].share == "owner"
    error_message = "external mode has an owner-only dashboard"
  }
  assert {
    condition     = coder_env.convex["CODER_CONVEX_DASHBOARD_LOGIN"].value == "true"
    error_message = "an owner-only dashboard logs in by itself"
  }
  assert {
    condition     = coder_env.convex["CODER_CONVEX_PROJECT_DIR"].value == "/home/coder/project"
    error_message = "the default project directory"
  }
  assert {
    condition     = length(coder_env.database_url) == 0 && length(coder_script.convex_stop) == 0
    error_message = "no DATABASE_URL and no stop script by default"
  }
  assert {
    condition     = strcontains(coder_script.convex.script, "mode=external")
    error_message = "the start script runs setup"
  }
  assert {
    condition     = length(output.agent_metadata) == 3
    error_message = "three metadata items"
  }
}

run "process_mode" {
  command = plan

  variables {
    agent_id          = "agent"
    backend_mode      = "process"
    download_base_url = "https://mirror.example/convex-backend/releases/download"
    database_url      = "postgres://convex:secret@db.example:5432/convex_self_hosted"
  }

  assert {
    condition     = strcontains(coder_script.convex.script, "mode=process")
    error_message = "the start script runs up --backend process"
  }
  assert {
    condition     = length(coder_script.convex_stop) == 1 && coder_script.convex_stop[0].run_on_stop
    error_message = "process mode stops the backend with the workspace"
  }
  assert {
    condition     = length(coder_app.convex_dashboard) == 0
    error_message = "process mode serves no dashboard"
  }
  assert {
    condition     = coder_env.convex["CODER_CONVEX_DOWNLOAD_BASE_URL"].value == "https://mirror.example/convex-backend/releases/download"
    error_message = "the mirror reaches coder-convex"
  }
  assert {
    condition     = length(coder_env.database_url) == 1
    error_message = "the database URL reaches the agent"
  }
  assert {
    condition     = coder_env.convex["CODER_CONVEX_DASHBOARD_LOGIN"].value == "false"
    error_message = "no dashboard, so no admin key written for one"
  }
}

run "external_mode_with_a_shared_dashboard" {
  command = plan

  variables {
    agent_id        = "agent"
    dashboard_share = "authenticated"
    dashboard_login = false
    order           = 20
    group           = "Convex"
  }

  assert {
    condition     = coder_app.convex_dashboard[0].share == "authenticated" && coder_env.convex["CODER_CONVEX_DASHBOARD_LOGIN"].value == "false"
    error_message = "a shared dashboard asks for the key"
  }
  assert {
    condition     = coder_app.convex_api.order == 20 && coder_app.convex_dashboard[0].order == 22 && coder_app.convex_site.group == "Convex"
    error_message = "order and group"
  }
}

run "dashboard_login_needs_an_owner_only_dashboard" {
  command = plan
  variables {
    agent_id        = "agent"
    dashboard_share = "public"
  }
  expect_failures = [var.dashboard_login]
}

run "unknown_dashboard_share" {
  command = plan
  variables {
    agent_id        = "agent"
    dashboard_share = "everyone"
    dashboard_login = false
  }
  expect_failures = [var.dashboard_share]
}

run "unknown_backend_mode" {
  command = plan
  variables {
    agent_id     = "agent"
    backend_mode = "docker"
  }
  expect_failures = [var.backend_mode]
}

run "relative_project_dir" {
  command = plan
  variables {
    agent_id    = "agent"
    project_dir = "project/../etc"
  }
  expect_failures = [var.project_dir]
}

run "database_url_of_another_kind" {
  command = plan
  variables {
    agent_id     = "agent"
    database_url = "sqlite:///data.db"
  }
  expect_failures = [var.database_url]
}

run "unpinned_coder_convex_version" {
  command = plan
  variables {
    agent_id             = "agent"
    coder_convex_version = "latest"
  }
  expect_failures = [var.coder_convex_version]
}

run "backend_version_not_a_release" {
  command = plan
  variables {
    agent_id        = "agent"
    backend_version = "latest"
  }
  expect_failures = [var.backend_version]
}

run "backend_version_unpinned_without_checksums" {
  command = plan
  variables {
    agent_id        = "agent"
    backend_mode    = "process"
    backend_version = "precompiled-2025-09-11-4d3b0a5"
  }
  expect_failures = [coder_script.convex]
}

run "download_base_url_not_http" {
  command = plan
  variables {
    agent_id          = "agent"
    download_base_url = "ftp://mirror.example/releases"
  }
  expect_failures = [var.download_base_url]
}

run "backend_checksums_not_sha256sum_lines" {
  command = plan
  variables {
    agent_id          = "agent"
    backend_checksums = "not a checksum"
  }
  expect_failures = [var.backend_checksums]
}

run "relative_install_dir" {
  command = plan
  variables {
    agent_id    = "agent"
    install_dir = "bin"
  }
  expect_failures = [var.install_dir]
}

run "setup_timeout_too_short" {
  command = plan
  variables {
    agent_id      = "agent"
    setup_timeout = 10
  }
  expect_failures = [var.setup_timeout]
}

run "backend_version_with_its_checksums" {
  command = plan
  variables {
    agent_id          = "agent"
    backend_mode      = "process"
    backend_version   = "precompiled-2025-09-11-4d3b0a5"
    backend_checksums = "${join("", [for i in range(64) : "a"])}  convex-local-backend-x86_64-unknown-linux-gnu.zip"
  }
  assert {
    condition     = coder_env.convex["CODER_CONVEX_BACKEND_RELEASE"].value == "precompiled-2025-09-11-4d3b0a5"
    error_message = "the release reaches coder-convex"
  }
}
