//! The Coder template (`coder-template/*.tf`), parsed with hcl-rs and held to what the binary
//! assumes: app slugs and ports come from `coder_convex::config::urls::App`, the Postgres sidecar's
//! URL goes through the library's own normalisation, and the sidecars share the workspace's
//! network namespace, listening on its loopback only. The template cannot drift from the binary
//! without a test failing here.

use std::path::{Path, PathBuf};

use coder_convex::config::instance;
use coder_convex::config::urls::{self, App};
use coder_convex::database::url as database;
use hcl::Body;
use hcl::expr::Expression;

use crate::templates::{
    Template, assert_is_release_tag, attr, blocks, bool_attr, expected_share, number_attr,
    object_keys, options, repo_root, single_block, source, string_list, substitute, template_dir,
    text, text_attr,
};

/// The three Convex apps come from the module (`module "convex"`); their share levels are what
/// the template passes it.
#[test]
fn apps_have_the_binarys_slugs_ports_and_share_levels() {
    let template = Template::load();
    let apps = template.convex().resources("coder_app");
    for app in App::ALL {
        let slug = app.default_slug();
        assert!(urls::is_valid_slug(slug), "{slug}");
        let matching: Vec<(&String, &&Body)> = apps
            .iter()
            .filter(|(_, body)| attr(body, "slug").and_then(text).as_deref() == Some(slug))
            .collect();
        assert_eq!(matching.len(), 1, "one coder_app with slug {slug}");
        let (name, body) = matching[0];
        let url = format!("http://localhost:{}", app.port());
        assert_eq!(text_attr(body, "url"), url, "coder_app.{name}.url");
        assert!(
            bool_attr(body, "subdomain"),
            "coder_app.{name} is a subdomain app"
        );
        assert_eq!(
            template.resolve_in_module(attr(body, "share").expect("share")),
            expected_share(app),
            "coder_app.{name}.share"
        );

        let health = single_block(body, "healthcheck");
        let expected_health = match app {
            App::Api => format!("{url}/version"),
            // The site proxy answers /version itself; `/` reaches the backend's HTTP router,
            // and Coder counts any status below 500 (a 404 here) as healthy.
            App::Site => format!("{url}/"),
            App::Dashboard => url.clone(),
        };
        assert_eq!(
            text_attr(health, "url"),
            expected_health,
            "coder_app.{name}"
        );
        assert_eq!(number_attr(health, "interval"), 5.0, "coder_app.{name}");
        assert_eq!(number_attr(health, "threshold"), 12.0, "coder_app.{name}");
    }
    // The template runs the dashboard container: the module must add its app.
    assert_eq!(
        template
            .module_arg("backend_mode")
            .map(ToString::to_string)
            .as_deref(),
        Some(r#""external""#)
    );

    // No other app, the template's or the module's, claims one of our ports.
    let template_apps = template.resources("coder_app");
    for (name, body) in apps.iter().chain(template_apps.iter()) {
        let Some(url) = attr(body, "url").and_then(text) else {
            continue;
        };
        let slug = text_attr(body, "slug");
        for app in App::ALL {
            if url.contains(&format!(":{}", app.port())) {
                assert_eq!(slug, app.default_slug(), "coder_app.{name} uses {url}");
            }
        }
    }
}

#[test]
fn convex_images_share_one_pinned_release_tag() {
    let template = Template::load();
    let containers = template.resources("docker_container");
    let tag_of = |repository: &str| -> String {
        let images: Vec<String> = containers
            .values()
            .filter_map(|body| attr(body, "image").and_then(text))
            .filter_map(|image| {
                image
                    .strip_prefix(&format!("{repository}:"))
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(images.len(), 1, "one container runs {repository}");
        images[0].clone()
    };
    let backend = tag_of("ghcr.io/get-convex/convex-backend");
    let dashboard = tag_of("ghcr.io/get-convex/convex-dashboard");
    assert_eq!(backend, dashboard, "backend and dashboard use one tag");
    assert!(
        backend.starts_with("${var.") && backend.ends_with('}'),
        "the tag is a variable: {backend}"
    );
    let tag = template.resolve(&Expression::String(backend));
    assert_is_release_tag(&tag);
}

/// The workspace and the sidecars join the namespace of `docker_container.network`, which
/// only holds it (`template_stop.rs`).
#[test]
fn sidecars_share_the_workspace_network_namespace() {
    let template = Template::load();
    let containers = template.resources("docker_container");
    let expected = "container:${docker_container.network[0].id}";
    assert_eq!(
        text_attr(containers["workspace"], "network_mode"),
        expected,
        "workspace"
    );
    for name in ["convex_backend", "convex_dashboard", "postgres"] {
        let body = containers
            .get(name)
            .unwrap_or_else(|| panic!("no docker_container.{name}"));
        assert_eq!(text_attr(body, "network_mode"), expected, "{name}");
        let restart = text_attr(body, "restart");
        assert!(
            ["unless-stopped", "always"].contains(&restart.as_str()),
            "{name} restarts after the entrypoint exits: {restart}"
        );
        assert!(
            source(body, "count").contains("data.coder_workspace.me.start_count"),
            "{name} stops with the workspace"
        );
        assert!(
            attr(body, "ports").is_none() && blocks(body, "ports").next().is_none(),
            "{name} publishes no ports: they are the workspace's"
        );
    }
    assert!(
        source(containers["workspace"], "count").contains("data.coder_workspace.me.start_count")
    );
}

#[test]
fn convex_containers_start_through_the_entrypoint_with_the_project_env_file() {
    let template = Template::load();
    let home = template.resolve(template.local("home"));
    let env_file = template.resolve(template.local("env_file"));
    assert!(env_file.starts_with(&format!("{home}/")), "{env_file}");
    assert!(env_file.ends_with("/.env.convex.local"), "{env_file}");

    let workspace = template.resource("docker_container", "workspace");
    let home_mount = blocks(workspace, "volumes")
        .find(|v| source(v, "container_path") == "local.home")
        .expect("the workspace mounts the home volume");
    let home_volume = source(home_mount, "volume_name");

    let entrypoint_path = template.resolve(template.local("entrypoint_path"));
    for name in ["convex_backend", "convex_dashboard"] {
        let body = template.resource("docker_container", name);
        let Some(Expression::Array(entrypoint)) = attr(body, "entrypoint") else {
            panic!("{name} has an entrypoint list");
        };
        let entrypoint: Vec<String> = entrypoint.iter().map(|e| template.resolve(e)).collect();
        assert_eq!(
            entrypoint,
            ["/bin/sh", entrypoint_path.as_str(), env_file.as_str()],
            "{name}"
        );
        let upload = single_block(body, "upload");
        assert_eq!(
            template.resolve(attr(upload, "file").expect("file")),
            entrypoint_path
        );
        assert_eq!(source(upload, "content"), "local.entrypoint_sh");

        // The project (on the home volume) is visible, read-only, at the same path.
        let mount = blocks(body, "volumes")
            .find(|v| source(v, "volume_name") == home_volume)
            .unwrap_or_else(|| panic!("{name} mounts the home volume"));
        assert_eq!(source(mount, "container_path"), "local.home");
        assert!(bool_attr(mount, "read_only"), "{name} mounts it read-only");
    }
    assert_eq!(
        container_command(&template, "convex_backend")
            .first()
            .map(String::as_str),
        Some("./run_backend.sh")
    );

    let entrypoint_sh = template.local("entrypoint_sh").to_string();
    assert!(
        entrypoint_sh.contains("scripts/convex-entrypoint.sh"),
        "{entrypoint_sh}"
    );
}

#[test]
fn backend_data_lives_on_its_own_persistent_volume() {
    let template = Template::load();
    let backend = template.resource("docker_container", "convex_backend");
    let data = blocks(backend, "volumes")
        .find(|v| text_attr(v, "container_path") == "/convex/data")
        .expect("the backend mounts /convex/data");
    assert_eq!(
        source(data, "volume_name"),
        "docker_volume.convex_data.name"
    );
    assert!(!bool_attr(data, "read_only"));

    let volumes = template.resources("docker_volume");
    for name in ["home_volume", "convex_data", "postgres_data"] {
        let body = volumes
            .get(name)
            .unwrap_or_else(|| panic!("no docker_volume.{name}"));
        let lifecycle = single_block(body, "lifecycle");
        assert_eq!(source(lifecycle, "ignore_changes"), "all", "{name}");
        assert!(
            attr(body, "count").is_none_or(|c| !c.to_string().contains("start_count")),
            "docker_volume.{name} must outlive a stopped workspace"
        );
    }
}

#[test]
fn resources_carry_coder_labels() {
    let template = Template::load();
    let container_labels = object_keys(&template, template.local("container_labels"));
    let volume_labels = object_keys(&template, template.local("volume_labels"));
    for label in ["coder.owner", "coder.owner_id", "coder.workspace_id"] {
        assert!(
            container_labels.iter().any(|l| l == label),
            "{label} in {container_labels:?}"
        );
        assert!(
            volume_labels.iter().any(|l| l == label),
            "{label} in {volume_labels:?}"
        );
    }
    assert!(container_labels.iter().any(|l| l == "coder.workspace_name"));
    let labelled = |ty: &str, local: &str| {
        for (name, body) in template.resources(ty) {
            let dynamic = body
                .blocks()
                .find(|b| {
                    b.identifier() == "dynamic"
                        && b.labels().first().map(|l| l.as_str()) == Some("labels")
                })
                .unwrap_or_else(|| panic!("{ty}.{name} has labels"));
            assert_eq!(
                source(dynamic.body(), "for_each"),
                format!("local.{local}"),
                "{ty}.{name}"
            );
        }
    };
    labelled("docker_container", "container_labels");
    labelled("docker_volume", "volume_labels");
}

/// The module's start script (`scripts/start.sh.tftpl`), one line per entry, trimmed.
fn start_lines() -> Vec<String> {
    let text = fs_err::read_to_string(repo_root().join("coder-module/scripts/start.sh.tftpl"))
        .expect("the module's start script");
    text.lines().map(|l| l.trim().to_owned()).collect()
}

#[test]
fn startup_script_installs_the_binary_and_runs_setup() {
    let template = Template::load();
    let module = template.convex();
    let script = module.resource("coder_script", "convex");
    assert!(bool_attr(script, "run_on_start"));
    assert!(
        !bool_attr(script, "start_blocks_login"),
        "must not block login"
    );
    assert!(!text_attr(script, "display_name").is_empty());
    assert!(!text_attr(script, "icon").is_empty());
    assert_eq!(source(script, "script"), "local.start_script");

    let lines = start_lines();
    let install = lines
        .iter()
        .position(|l| l == r#"decode '${INSTALL_SH}' >"$installer""#)
        .expect("the script embeds scripts/install.sh");
    let setup = lines
        .iter()
        .position(|l| l == "if ! coder-convex setup; then")
        .expect("the script runs `coder-convex setup`");
    assert!(install < setup, "install before setup");
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("set -") && l.contains('x')),
        "no xtrace: it would log secrets"
    );
    let Expression::FuncCall(call) = module.local("start_script") else {
        panic!("local.start_script is a templatefile() call");
    };
    let install_sh = match &call.args[1] {
        Expression::Object(vars) => vars
            .iter()
            .find(|(k, _)| k.to_string() == "INSTALL_SH")
            .map(|(_, v)| v.to_string()),
        other => panic!("templatefile's variables: {other}"),
    };
    assert_eq!(
        install_sh.as_deref(),
        Some(r#"base64encode(file("${path.module}/scripts/install.sh"))"#)
    );
}

#[test]
fn startup_script_prefers_the_projects_own_copy_and_needs_no_install_variable() {
    let template = Template::load();
    let lines = start_lines();
    let own_copy = lines
        .iter()
        .position(|l| l.contains(r#"[ -x "$dir/node_modules/.bin/coder-convex" ]"#))
        .expect("checks for the project's own coder-convex");
    let install = lines
        .iter()
        .position(|l| l.contains("decode '${INSTALL_SH}'"))
        .expect("embeds install.sh");
    assert!(own_copy < install, "the project's copy is tried first");
    assert!(
        lines[own_copy - 1]
            .contains(r#"grep -q '"coder-convex"[[:space:]]*:' "$dir/package.json""#),
        "only when package.json depends on it: {:?}",
        lines[own_copy - 1]
    );
    // No admin variable is needed: install.sh's npm source is the default, at the release
    // this template belongs to.
    for name in [
        "coder_convex_release_url",
        "coder_convex_sha256",
        "coder_convex_git_url",
        "coder_convex_npm_registry",
    ] {
        assert_eq!(
            template.resolve(template.variable_default(name)),
            "",
            "{name}"
        );
    }
    assert_eq!(
        template.resolve(template.variable_default("coder_convex_version")),
        env!("CARGO_PKG_VERSION")
    );
    // One version rule for both templates and the module: each installs the same release.
    let kubernetes = Template::load_dir(&template_dir().join("kubernetes"));
    assert_eq!(
        kubernetes.resolve(kubernetes.variable_default("coder_convex_version")),
        env!("CARGO_PKG_VERSION")
    );
    for t in [&template, &kubernetes] {
        assert_eq!(
            t.resolve_in_module(&"var.coder_convex_version".parse().expect("an expression")),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            t.convex()
                .resolve(t.convex().variable_default("coder_convex_version")),
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[test]
fn template_scripts_are_copies_of_the_repository_scripts() {
    // `coder templates push` uploads coder-template/ only, so it carries copies; a module
    // gets its own directory only, so it carries install.sh.
    let read =
        |path: &Path| fs_err::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    for (original, copy) in [
        (
            "scripts/convex-entrypoint.sh",
            "coder-template/scripts/convex-entrypoint.sh",
        ),
        ("scripts/install.sh", "coder-module/scripts/install.sh"),
    ] {
        assert!(
            read(&repo_root().join(original)) == read(&repo_root().join(copy)),
            "{copy} differs from {original}; copy it over"
        );
    }
    assert!(
        !template_dir().join("scripts/install.sh").exists(),
        "the module installs coder-convex"
    );
}

/// Each template carries the module byte for byte (`./modules/convex`).
#[test]
fn each_template_carries_the_module_byte_for_byte() {
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut found = Vec::new();
        for entry in fs_err::read_dir(dir).expect("a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                found.extend(
                    files(&path)
                        .into_iter()
                        .map(|(p, b)| (Path::new(path.file_name().expect("a name")).join(p), b)),
                );
            } else {
                let bytes = fs_err::read(&path).expect("read");
                found.push((PathBuf::from(path.file_name().expect("a name")), bytes));
            }
        }
        found.sort();
        found
    }
    let module = files(&repo_root().join("coder-module"));
    let names: Vec<String> = module
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "README.md",
            "main.tf",
            "main.tftest.hcl",
            "scripts/install.sh",
            "scripts/start.sh.tftpl",
            "scripts/stop.sh"
        ]
    );
    for copy in [
        "coder-template/modules/convex",
        "coder-template/kubernetes/modules/convex",
    ] {
        assert!(
            files(&repo_root().join(copy)) == module,
            "{copy} differs from coder-module/; copy it over (cp -r coder-module/. {copy}/)"
        );
    }
}

#[test]
fn the_app_dev_server_has_an_app_with_port_and_share_parameters() {
    let template = Template::load();
    let port = template.data("coder_parameter", "app_port");
    assert_eq!(text_attr(port, "type"), "number");
    assert_eq!(number_attr(port, "default"), 5173.0, "Vite's port");
    assert!(bool_attr(port, "mutable"));
    let validation = single_block(port, "validation");
    assert_eq!(number_attr(validation, "min"), 1.0);
    assert_eq!(number_attr(validation, "max"), 65535.0);
    let description = text_attr(port, "description");
    for framework_port in ["5173", "3000", "8081"] {
        assert!(description.contains(framework_port), "{description}");
    }

    let share = template.data("coder_parameter", "app_share");
    assert_eq!(text_attr(share, "default"), "owner");
    let values: Vec<String> = blocks(share, "option")
        .map(|o| text_attr(o, "value"))
        .collect();
    assert_eq!(values, ["owner", "authenticated", "public"]);

    let app = template.resource("coder_app", "app");
    assert_eq!(text_attr(app, "slug"), "app");
    assert!(urls::is_valid_slug(&text_attr(app, "slug")));
    assert!(bool_attr(app, "subdomain"));
    assert_eq!(
        text_attr(app, "url"),
        "http://localhost:${data.coder_parameter.app_port.value}"
    );
    assert_eq!(source(app, "share"), "data.coder_parameter.app_share.value");
    assert!(attr(app, "healthcheck").is_none() && blocks(app, "healthcheck").next().is_none());

    // coder-convex derives SITE_URL from the same port.
    let agent = template.resource("coder_agent", "main");
    let env = attr(agent, "env").expect("agent env").to_string();
    assert!(
        env.contains("CODER_CONVEX_FRONTEND_PORT")
            && env.contains("tostring(data.coder_parameter.app_port.value)"),
        "{env}"
    );
}

#[test]
fn database_parameter_offers_sqlite_postgres_external_and_mysql() {
    let template = Template::load();
    let param = template.data("coder_parameter", "database");
    assert_eq!(text_attr(param, "default"), "sqlite");
    let values: Vec<String> = options(param).into_iter().map(|(v, _)| v).collect();
    assert_eq!(
        values,
        ["sqlite", "postgres", "external", "mysql", "shared"]
    );
    // The MySQL choice takes its URL from the same parameter, and refuses another scheme.
    let url = template.local("database_url").to_string();
    assert!(url.contains(r#"["external", "mysql"]"#), "{url}");
    assert!(
        template.text.contains(r#"local.database != "mysql" || startswith(data.coder_parameter.database_url.value, "mysql://")"#),
        "the mysql choice checks the URL's scheme"
    );

    let external = template.data("coder_parameter", "database_url");
    assert!(bool_attr(external, "mutable"));
    assert_eq!(text_attr(external, "default"), "");
}

#[test]
fn postgres_sidecar_url_names_the_database_the_backend_opens() {
    let template = Template::load();
    // The postgres branch of local.database_url, with a stand-in for the generated password.
    let mut expr = template.local("database_url");
    while let Expression::Parenthesis(inner) = expr {
        expr = inner;
    }
    let Expression::Conditional(cond) = expr else {
        panic!("local.database_url is a conditional: {expr}");
    };
    assert_eq!(cond.cond_expr.to_string(), "local.use_postgres");
    let raw = text(&cond.true_expr).expect("a URL template");
    let url = substitute(&raw, |inner| {
        if inner.contains("random_password.postgres") {
            Some("generated".to_owned())
        } else {
            inner
                .strip_prefix("local.")
                .map(|name| template.resolve(template.local(name)))
        }
    });
    assert!(!url.contains("${"), "{url}");

    let db = database::normalise("DATABASE_URL", &url).expect("the library accepts the URL");
    assert!(db.do_not_require_ssl, "loopback Postgres without TLS");
    let (instance, _) =
        instance::instance_name(None, Some(&db), None, &mut Vec::new()).expect("an instance name");
    assert_eq!(instance, instance::DEFAULT_INSTANCE_NAME);

    // The sidecar creates exactly that database: the backend does not create it.
    let postgres = template.resource("docker_container", "postgres");
    let Some(Expression::Array(env)) = attr(postgres, "env") else {
        panic!("postgres has an env list");
    };
    let env: Vec<String> = env.iter().map(|e| text(e).expect("env strings")).collect();
    let resolved: Vec<String> = env
        .iter()
        .map(|e| {
            substitute(e, |inner| {
                inner
                    .strip_prefix("local.")
                    .map(|name| template.resolve(template.local(name)))
            })
        })
        .collect();
    let wanted = format!("POSTGRES_DB={}", instance::database_for_instance(&instance));
    assert!(resolved.contains(&wanted), "{resolved:?} has {wanted}");
    let password = env
        .iter()
        .find(|e| e.starts_with("POSTGRES_PASSWORD="))
        .expect("POSTGRES_PASSWORD");
    assert!(password.contains("random_password.postgres"), "{password}");
}

#[test]
fn nothing_secret_is_baked_into_the_template() {
    let template = Template::load();
    for line in template.text.lines() {
        let line = line.trim();
        if let Some((_, value)) = line.split_once("PASSWORD=") {
            assert!(value.starts_with("${"), "literal password: {line}");
        }
        assert!(!line.contains("INSTANCE_SECRET="), "{line}");
        assert!(!line.contains("ADMIN_KEY="), "{line}");
    }
    // The agent's env is stored by Coder; the database URL travels in the container env.
    let agent = template.resource("coder_agent", "main");
    let env = attr(agent, "env").expect("agent env");
    assert!(
        !object_keys(&template, env)
            .iter()
            .any(|k| k.contains("DATABASE_URL") || k.contains("PASSWORD")),
        "{env}"
    );
    let workspace_env = source(template.resource("docker_container", "workspace"), "env");
    assert!(workspace_env.contains("DATABASE_URL="), "{workspace_env}");
}

/// The images' own start commands (self-hosted/docker-build/Dockerfile.{backend,dashboard} of
/// get-convex/convex-backend): the backend's ENTRYPOINT in WORKDIR /convex, the dashboard's
/// CMD in WORKDIR /app.
const BACKEND_COMMAND: [&str; 1] = ["./run_backend.sh"];
const DASHBOARD_COMMAND: [&str; 2] = ["node", "./server.js"];

/// A list-valued expression as strings: a literal list, a `var.*` list (its default), or
/// `concat(…)` of those.
fn list_value(template: &Template, expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Array(_) => string_list(expr),
        Expression::Traversal(_) => {
            let reference = expr.to_string();
            let name = reference
                .strip_prefix("var.")
                .unwrap_or_else(|| panic!("not a variable: {reference}"));
            string_list(template.variable_default(name))
        }
        Expression::FuncCall(call) if call.name.name.as_str() == "concat" => call
            .args
            .iter()
            .flat_map(|arg| list_value(template, arg))
            .collect(),
        other => panic!("not a list: {other}"),
    }
}

/// A container's `command` with the variables' defaults filled in.
fn container_command(template: &Template, container: &str) -> Vec<String> {
    let body = template.resource("docker_container", container);
    list_value(template, attr(body, "command").expect("a command"))
}

/// The variable a container's `command` starts with: alone, or as the first list of `concat`.
fn command_variable(template: &Template, container: &str) -> String {
    let body = template.resource("docker_container", container);
    match attr(body, "command").expect("a command") {
        Expression::FuncCall(call) if call.name.name.as_str() == "concat" => {
            call.args.first().expect("concat has arguments").to_string()
        }
        other => other.to_string(),
    }
}

#[test]
fn sidecars_run_the_images_own_commands() {
    let template = Template::load();
    for (container, variable, expected) in [
        (
            "convex_backend",
            "convex_backend_command",
            &BACKEND_COMMAND[..],
        ),
        (
            "convex_dashboard",
            "convex_dashboard_command",
            &DASHBOARD_COMMAND[..],
        ),
    ] {
        assert_eq!(
            command_variable(&template, container),
            format!("var.{variable}")
        );
        assert_eq!(
            string_list(template.variable_default(variable)),
            expected,
            "{variable}"
        );
    }
}

/// The sidecars share the workspace's network namespace, which also holds its address on the
/// Docker bridge: listening there would let other containers reach the ports without Coder's
/// share levels. Coder's app proxy and the agent's health checks reach 127.0.0.1.
///
/// Upstream at the pinned tag (get-convex/convex-backend): `run_backend.sh` puts its own
/// arguments (`"$@"`) first on the `convex-local-backend` command line, and that binary's
/// `--interface` (an IPv4 address, default 0.0.0.0; crates/local_backend/src/config.rs)
/// addresses both the API port and the HTTP-actions proxy. The dashboard image runs Next's
/// standalone `server.js`, which listens on `process.env.HOSTNAME || '0.0.0.0'`; its
/// Dockerfile sets `ENV HOSTNAME=0.0.0.0`.
#[test]
fn sidecars_listen_on_loopback_only() {
    let template = Template::load();
    assert_eq!(
        container_command(&template, "convex_backend"),
        ["./run_backend.sh", "--interface", "127.0.0.1"]
    );
    assert_eq!(
        source(
            template.resource("docker_container", "convex_backend"),
            "command"
        ),
        r#"concat(var.convex_backend_command, ["--interface", "127.0.0.1"])"#
    );

    let dashboard = template.resource("docker_container", "convex_dashboard");
    assert_eq!(
        string_list(attr(dashboard, "env").expect("dashboard env")),
        [
            "CONVEX_ENTRYPOINT_KEYS=${local.dashboard_entrypoint_keys}",
            "HOSTNAME=127.0.0.1"
        ]
    );
    assert_eq!(
        container_command(&template, "convex_dashboard"),
        ["node", "./server.js"],
        "no command-line override of HOSTNAME"
    );

    let postgres = template.resource("docker_container", "postgres");
    assert_eq!(
        string_list(attr(postgres, "command").expect("postgres command")),
        ["postgres", "-c", "listen_addresses=127.0.0.1"]
    );
    let health = single_block(postgres, "healthcheck");
    assert_eq!(
        string_list(attr(health, "test").expect("a test")),
        [
            "CMD-SHELL",
            "pg_isready -h 127.0.0.1 -U ${local.postgres_user} -d ${local.postgres_database}"
        ]
    );
    let database_url = template.local("database_url").to_string();
    assert!(
        database_url.contains("@127.0.0.1:5432/"),
        "the backend reaches Postgres on loopback: {database_url}"
    );
}

/// The backend drains requests and shuts down on SIGINT only (tokio `ctrl_c`); SIGTERM kills
/// it at once. Convex's own compose file sets `stop_signal: SIGINT`.
#[test]
fn backend_is_stopped_with_sigint_and_given_time_to_drain() {
    let template = Template::load();
    let backend = template.resource("docker_container", "convex_backend");
    // Upstream's settings, and on a shared server the provisioned file's path.
    assert_eq!(
        source(backend, "env"),
        "concat(local.backend_env, local.use_shared ? [\"CONVEX_ENTRYPOINT_EXTRA_FILE=${local.provision_env_file}\", \"CONVEX_ENTRYPOINT_REQUIRE=INSTANCE_NAME INSTANCE_SECRET POSTGRES_URL\"] : [])"
    );
    crate::templates::assert_upstream_backend_env(template.local("backend_env"));
    assert_eq!(number_attr(backend, "stop_timeout"), 15.0);
    assert_eq!(number_attr(backend, "destroy_grace_seconds"), 15.0);

    // The dashboard gets the one setting it reads (plus its listen address, checked in
    // `sidecars_listen_on_loopback_only`), and the default stop signal.
    let dashboard = template.resource("docker_container", "convex_dashboard");
    let env = string_list(attr(dashboard, "env").expect("dashboard env"));
    assert!(
        env.contains(&"CONVEX_ENTRYPOINT_KEYS=${local.dashboard_entrypoint_keys}".to_owned()),
        "{env:?}"
    );
    assert!(
        !env.iter()
            .any(|e| e.starts_with("CONVEX_ENTRYPOINT_STOP_SIGNAL=")),
        "{env:?}"
    );
    assert_eq!(text_attr(dashboard, "user"), "root");

    let postgres = template.resource("docker_container", "postgres");
    assert_eq!(number_attr(postgres, "destroy_grace_seconds"), 15.0);
}

#[test]
fn postgres_data_directory_is_the_mounted_volume() {
    let template = Template::load();
    let postgres = template.resource("docker_container", "postgres");
    let mount = single_block(postgres, "volumes");
    assert_eq!(
        text_attr(mount, "container_path"),
        "/var/lib/postgresql/data"
    );
    assert_eq!(
        source(mount, "volume_name"),
        "one(docker_volume.postgres_data[*].name)"
    );
    // Images 18+ default PGDATA to /var/lib/postgresql/<major>/docker.
    let Some(Expression::Array(env)) = attr(postgres, "env") else {
        panic!("postgres has an env list");
    };
    let pgdata: Vec<String> = env
        .iter()
        .filter_map(text)
        .filter(|e| e.starts_with("PGDATA="))
        .collect();
    assert_eq!(pgdata, ["PGDATA=/var/lib/postgresql/data"]);
}
