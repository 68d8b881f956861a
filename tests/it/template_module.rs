//! The Convex module (`coder-module/`), parsed with hcl-rs as the templates are: its variables,
//! defaults and validations (the dashboard's share level tied to its login), the apps and
//! environment each mode gets, the metadata it hands the templates, its README's registry front
//! matter, its `terraform test` file, and the CI lines that format-check and shellcheck it.
//! `terraform test` itself needs the coder/coder provider from the Terraform registry, which
//! is unreachable here; its scripts run under sh in `template_module_scripts.rs`.

use coder_convex::process::release;
use hcl::Value;
use hcl::eval::{Context, Evaluate as _};

use crate::common::assert_terraform_fmt_clean;
use crate::templates::{
    Template, attr, blocks, bool_attr, both, module_dir, number_attr, repo_root, single_block,
    source, start_script_vars, text, text_attr,
};

fn module() -> Template {
    Template::load_dir(&module_dir())
}

/// A variable's one validation condition, as HCL source.
fn condition(m: &Template, name: &str) -> String {
    source(single_block(m.variable(name), "validation"), "condition")
}

#[test]
fn variables_have_the_documented_defaults() {
    let m = module();
    let names: Vec<String> = m.variables().into_keys().collect();
    assert_eq!(
        names,
        [
            "agent_id",
            "backend_checksums",
            "backend_mode",
            "backend_version",
            "coder_convex_version",
            "dashboard_login",
            "dashboard_share",
            "database_url",
            "download_base_url",
            "group",
            "install_dir",
            "order",
            "post_setup_script",
            "pre_setup_script",
            "project_dir",
            "setup_timeout",
            "skip_install",
        ]
    );
    assert!(
        attr(m.variable("agent_id"), "default").is_none(),
        "required"
    );
    for (name, default) in [
        ("project_dir", "/home/coder/project"),
        ("backend_mode", "external"),
        ("database_url", ""),
        ("coder_convex_version", env!("CARGO_PKG_VERSION")),
        ("backend_version", release::TAG),
        ("download_base_url", ""),
        ("backend_checksums", ""),
        ("install_dir", ""),
        ("dashboard_share", "owner"),
        ("pre_setup_script", ""),
        ("post_setup_script", ""),
    ] {
        assert_eq!(m.resolve(m.variable_default(name)), default, "{name}");
    }
    assert!(bool_attr(m.variable("dashboard_login"), "default"));
    assert!(!bool_attr(m.variable("skip_install"), "default"));
    assert_eq!(number_attr(m.variable("setup_timeout"), "default"), 1800.0);
    for name in ["order", "group"] {
        assert_eq!(m.variable_default(name).to_string(), "null", "{name}");
    }
    // The URL may carry a password: Terraform keeps it out of plans and logs.
    assert!(bool_attr(m.variable("database_url"), "sensitive"));
    // The release the module pins is the one the process backend of that coder-convex runs.
    let pairs = m.local("backend_of_release").to_string();
    assert!(
        pairs.contains(&format!(
            "\"{}\" = \"{}\"",
            env!("CARGO_PKG_VERSION"),
            release::TAG
        )),
        "{pairs}"
    );
}

#[test]
fn validations_tie_the_dashboard_login_to_an_owner_only_dashboard() {
    let m = module();
    assert_eq!(
        condition(&m, "dashboard_share"),
        r#"contains(["owner", "authenticated", "public"], var.dashboard_share)"#
    );
    assert_eq!(
        condition(&m, "dashboard_login"),
        r#"!var.dashboard_login || var.dashboard_share == "owner""#
    );
    assert_eq!(
        condition(&m, "backend_mode"),
        r#"contains(["external", "process"], var.backend_mode)"#
    );
    assert_eq!(condition(&m, "setup_timeout"), "var.setup_timeout >= 60");
    // Each refusal names its input.
    for (name, var) in m.variables() {
        for validation in blocks(var, "validation") {
            let message = text_attr(validation, "error_message");
            assert!(message.contains(&name), "{name}: {message}");
        }
    }
    // Validations that read another variable need Terraform 1.9.
    assert!(
        m.text.contains("required_version = \">= 1.9\""),
        "required_version"
    );
    // Our templates pass the rule's two inputs from the one local they derive from.
    for (name, t) in both() {
        assert_eq!(
            t.resolve_in_module(&var("dashboard_share")),
            "owner",
            "{name}"
        );
        assert_eq!(
            t.module_arg("dashboard_login")
                .map(ToString::to_string)
                .as_deref(),
            Some("local.dashboard_login"),
            "{name}"
        );
        assert_eq!(
            t.local("dashboard_login").to_string(),
            r#"local.dashboard_share == "owner""#
        );
    }
}

fn var(name: &str) -> hcl::Expression {
    format!("var.{name}").parse().expect("an expression")
}

#[test]
fn each_mode_gets_its_apps_scripts_and_environment() {
    let m = module();
    assert_eq!(
        m.local("process").to_string(),
        r#"var.backend_mode == "process""#
    );
    // Process mode serves no dashboard, and stops the backend process with the workspace.
    let dashboard = m.resource("coder_app", "convex_dashboard");
    assert_eq!(source(dashboard, "count"), "local.process ? 0 : 1");
    for name in ["convex_api", "convex_site"] {
        let app = m.resource("coder_app", name);
        assert!(attr(app, "count").is_none(), "{name} in both modes");
        assert_eq!(text_attr(app, "share"), "public", "{name}");
    }
    for name in ["convex_api", "convex_site", "convex_dashboard"] {
        let app = m.resource("coder_app", name);
        assert_eq!(source(app, "group"), "var.group", "{name}");
        assert!(source(app, "order").starts_with("local.order"), "{name}");
    }
    assert_eq!(
        m.local("order").to_string(),
        "var.order == null ? 10 : var.order"
    );
    let stop = m.resource("coder_script", "convex_stop");
    assert_eq!(source(stop, "count"), "local.process ? 1 : 0");
    assert!(bool_attr(stop, "run_on_stop"));
    assert_eq!(source(stop, "script"), "local.stop_script");
    assert_eq!(
        m.local("stop_script").to_string(),
        r#"file("${path.module}/scripts/stop.sh")"#
    );

    // What the agent gets: plain settings in one map, the mirror in process mode only, the
    // database URL on its own and only when given.
    let env = m.local("env").to_string();
    for needle in [
        "CODER_CONVEX_PROJECT_DIR = var.project_dir",
        "CODER_CONVEX_VERSION = var.coder_convex_version",
        r#"var.install_dir != "" ? { CODER_CONVEX_INSTALL_DIR = var.install_dir } : {}"#,
        r#"local.process && var.download_base_url != "" ? { CODER_CONVEX_DOWNLOAD_BASE_URL = var.download_base_url } : {}"#,
    ] {
        let compact = |s: &str| s.split_whitespace().collect::<String>();
        assert!(
            compact(&env).contains(&compact(needle)),
            "{needle} in {env}"
        );
    }
    assert!(!env.contains("database_url"), "{env}");
    let db = m.resource("coder_env", "database_url");
    assert_eq!(text_attr(db, "name"), "DATABASE_URL");
    assert_eq!(source(db, "value"), "var.database_url");
    assert_eq!(
        source(db, "count"),
        r#"nonsensitive(var.database_url != "") ? 1 : 0"#
    );

    // The start script gets base64 text and two literals, nothing else.
    let mut vars = start_script_vars(&m);
    vars.sort();
    assert_eq!(
        vars,
        [
            "BACKEND_CHECKSUMS",
            "INSTALL_SH",
            "MODE",
            "POST_SETUP_SCRIPT",
            "PRE_SETUP_SCRIPT",
            "SKIP_INSTALL"
        ]
    );
    let call = m.local("start_script").to_string();
    for name in ["PRE_SETUP_SCRIPT", "POST_SETUP_SCRIPT", "BACKEND_CHECKSUMS"] {
        assert!(
            call.split_whitespace()
                .collect::<String>()
                .contains(&format!("{name}=base64encode(")),
            "{name}: {call}"
        );
    }
}

#[test]
fn the_module_hands_the_templates_their_metadata() {
    let m = module();
    let Ok(Value::Array(items)) = m.local("agent_metadata").evaluate(&Context::new()) else {
        panic!("local.agent_metadata evaluates to a list");
    };
    let from_module: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            let Value::Object(item) = item else {
                panic!("an object: {item:?}");
            };
            ["key", "display_name", "script", "interval", "timeout"]
                .iter()
                .map(|k| item[*k].to_string())
                .collect()
        })
        .collect();
    assert_eq!(from_module.len(), 3);
    assert_eq!(
        source_of_output(&m, "agent_metadata"),
        "local.agent_metadata"
    );
    for (name, t) in both() {
        let agent = t.resource("coder_agent", "main");
        let from_template: Vec<Vec<String>> = blocks(agent, "metadata")
            .filter(|b| text_attr(b, "key").contains("convex"))
            .map(|b| {
                ["key", "display_name", "script", "interval", "timeout"]
                    .iter()
                    .map(|k| {
                        attr(b, k)
                            .expect("an attribute")
                            .evaluate(&Context::new())
                            .expect("a plain value")
                            .to_string()
                    })
                    .collect()
            })
            .collect();
        assert_eq!(from_template, from_module, "{name}");
    }
}

fn source_of_output(m: &Template, name: &str) -> String {
    source(
        m.labelled("output", name)
            .remove(name)
            .unwrap_or_else(|| panic!("no output {name}")),
        "value",
    )
}

#[test]
fn the_readme_has_the_registry_front_matter_and_a_pinned_usage_block() {
    let readme = fs_err::read_to_string(module_dir().join("README.md")).expect("README");
    let front = readme
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(front, _)| front)
        .expect("front matter between --- lines");
    let keys: Vec<&str> = front
        .lines()
        .map(|l| l.split_once(':').expect("key: value").0)
        .collect();
    assert_eq!(
        keys,
        ["display_name", "description", "icon", "verified", "tags"]
    );
    assert!(front.contains("\nverified: false\n"), "{front}");
    assert!(front.contains("\ntags: [convex, "), "{front}");

    let usage = readme
        .split("```tf\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a usage block");
    let body: hcl::Body = hcl::parse(usage).expect("the usage block is HCL");
    let call = body.blocks().next().expect("a module block");
    assert_eq!(call.identifier(), "module");
    assert_eq!(
        text(attr(call.body(), "version").expect("a pinned version")).as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(source(call.body(), "agent_id"), "coder_agent.main.id");
    // What is true here about the tests that cannot run, and about the dashboard.
    for needle in [
        "`terraform init` fails",
        "**No dashboard in this mode**",
        "dynamic \"metadata\"",
        "Never pass the\nadmin URL of a server shared by a team",
    ] {
        assert!(readme.contains(needle), "{needle}");
    }
}

#[test]
fn the_terraform_test_file_plans_every_mode_and_every_validation() {
    let path = module_dir().join("main.tftest.hcl");
    let body: hcl::Body =
        hcl::parse(&fs_err::read_to_string(&path).expect("read")).expect("main.tftest.hcl parses");
    let mut refused = Vec::new();
    let mut modes = Vec::new();
    for run in body.blocks().filter(|b| b.identifier() == "run") {
        assert_eq!(source(run.body(), "command"), "plan", "{:?}", run.labels());
        let vars = single_block(run.body(), "variables");
        modes.push(
            attr(vars, "backend_mode")
                .and_then(text)
                .unwrap_or_else(|| "external".to_owned()),
        );
        if let Some(failures) = attr(run.body(), "expect_failures") {
            refused.push(failures.to_string().split_whitespace().collect::<String>());
        }
    }
    modes.sort();
    modes.dedup();
    assert_eq!(modes, ["docker", "external", "process"]);
    // Every validation of the module has a run that trips it; the precondition too.
    let m = module();
    let mut wanted: Vec<String> = m
        .variables()
        .into_iter()
        .filter(|(_, body)| blocks(body, "validation").next().is_some())
        .map(|(name, _)| format!("[var.{name}]"))
        .collect();
    wanted.push("[coder_script.convex]".to_owned());
    wanted.sort();
    refused.sort();
    assert_eq!(refused, wanted);
}

#[test]
fn ci_formats_and_shellchecks_the_module() {
    let ci = fs_err::read_to_string(repo_root().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("\nterraform fmt -check -recursive coder-template coder-module\n"),
        "the terraform fmt line"
    );
    let shellcheck = ci
        .lines()
        .find(|l| l.starts_with("shellcheck "))
        .expect("a shellcheck line");
    assert!(
        shellcheck.contains(" coder-module/scripts/*.sh"),
        "{shellcheck}"
    );
    assert_terraform_fmt_clean(&module_dir());
}

/// Coder merges `coder_env` into the agent's environment: the templates leave the module's
/// names to it, so one place sets each.
#[test]
fn the_templates_leave_the_modules_variables_to_it() {
    let m = module();
    let env = m.local("env").to_string();
    let mut names: Vec<&str> = env
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("CODER_CONVEX_"))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "CODER_CONVEX_BACKEND_RELEASE",
            "CODER_CONVEX_DASHBOARD_LOGIN",
            "CODER_CONVEX_DOWNLOAD_BASE_URL",
            "CODER_CONVEX_INSTALL_DIR",
            "CODER_CONVEX_PROJECT_DIR",
            "CODER_CONVEX_VERSION",
        ]
    );
    for (name, t) in both() {
        let agent = crate::templates::object_keys(
            &t,
            attr(t.resource("coder_agent", "main"), "env").expect("agent env"),
        );
        for key in names.iter().chain(&["DATABASE_URL"]) {
            assert!(!agent.iter().any(|k| k == key), "{name}: {key}");
        }
        // What the module needs from the template, it gets as arguments.
        for (arg, value) in [
            ("project_dir", "local.project_path"),
            ("coder_convex_version", "var.coder_convex_version"),
            ("install_dir", "var.coder_convex_install_dir"),
        ] {
            assert_eq!(
                t.module_arg(arg).map(ToString::to_string).as_deref(),
                Some(value),
                "{name}: {arg}"
            );
        }
        assert_eq!(
            t.module_arg("agent_id").map(ToString::to_string).as_deref(),
            Some("coder_agent.main.id")
        );
        assert!(
            t.module_arg("database_url").is_none(),
            "{name}: DATABASE_URL stays in the container env"
        );
    }
}
