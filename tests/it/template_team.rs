//! Both templates (Docker `coder-template/`, Kubernetes `coder-template/kubernetes/`) against
//! the shared contract: upstream backend defaults, Coder-native status, the dashboard login
//! tied to the owner-only share level, shared Postgres; and the Kubernetes pod's shape.

use coder_convex::config::urls::App;
use hcl::expr::Expression;

use crate::common::assert_terraform_fmt_clean;
use crate::templates::{
    METADATA_TIMEOUT_S, assert_upstream_backend_env, both, k8s_dir, named, pod_spec,
};
use crate::templates::{
    Template, attr, blocks, bool_attr, expected_share, number_attr, object_keys, options,
    single_block, source, template_dir, text, text_attr,
};

/// HCL source without whitespace (hcl-rs prints lists over several lines).
fn flat(source: &str) -> String {
    source.split_whitespace().collect()
}

#[test]
fn both_templates_carry_upstreams_backend_defaults() {
    for (name, t) in both() {
        assert_upstream_backend_env(t.local("backend_env"));
        assert_eq!(
            t.variable_default("document_retention_delay_seconds")
                .to_string(),
            "172800",
            "{name}"
        );
        let beacon = t.data("coder_parameter", "disable_beacon");
        assert_eq!(text_attr(beacon, "type"), "bool", "{name}");
        assert_eq!(text_attr(beacon, "default"), "false", "{name}");
    }
}

#[test]
fn both_templates_feed_agent_metadata_from_status() {
    for (name, t) in both() {
        let agent = t.resource("coder_agent", "main");
        let mut items = Vec::new();
        for m in blocks(agent, "metadata") {
            let script = text_attr(m, "script");
            if let Some(rest) = script.split("status --metadata ").nth(1) {
                items.push(rest.split_whitespace().next().unwrap().to_owned());
                assert_eq!(
                    number_attr(m, "timeout"),
                    f64::from(METADATA_TIMEOUT_S),
                    "{name}"
                );
                assert!(script.contains("CODER_CONVEX_INSTALL_DIR"), "{script}");
            }
        }
        assert_eq!(items, ["backend", "env", "deploy"], "{name}");
    }
}

#[test]
fn the_dashboard_logs_in_by_itself_only_when_it_is_owner_only() {
    for (name, t) in both() {
        // The template hands its one setting to the module, whose dashboard app and
        // CODER_CONVEX_DASHBOARD_LOGIN follow it.
        let module = t.convex();
        let dashboard = module.resource("coder_app", "convex_dashboard");
        assert_eq!(source(dashboard, "share"), "var.dashboard_share", "{name}");
        for (arg, local) in [
            ("dashboard_share", "local.dashboard_share"),
            ("dashboard_login", "local.dashboard_login"),
        ] {
            assert_eq!(
                t.module_arg(arg).map(ToString::to_string).as_deref(),
                Some(local),
                "{name}"
            );
        }
        assert_eq!(
            t.resolve(t.local("dashboard_share")),
            expected_share(App::Dashboard)
        );
        assert_eq!(
            t.local("dashboard_login").to_string(),
            "local.dashboard_share == \"owner\"",
            "{name}"
        );
        // The key is in the dashboard's entrypoint keys in the owner branch only.
        let Expression::Conditional(keys) = t.local("dashboard_entrypoint_keys") else {
            panic!("{name}: dashboard_entrypoint_keys is not a conditional");
        };
        assert_eq!(keys.cond_expr.to_string(), "local.dashboard_login");
        assert_eq!(
            text(&keys.true_expr).unwrap(),
            "NEXT_PUBLIC_DEPLOYMENT_URL NEXT_PUBLIC_ADMIN_KEY"
        );
        assert_eq!(
            text(&keys.false_expr).unwrap(),
            "NEXT_PUBLIC_DEPLOYMENT_URL"
        );
        // coder-convex writes the key only then: the module's env for the agent.
        let env = module.local("env").to_string();
        assert!(
            env.contains(
                r#"CODER_CONVEX_DASHBOARD_LOGIN = var.dashboard_login && !local.process ? "true" : "false""#
            ),
            "{name}: {env}"
        );
        assert_eq!(
            source(module.resource("coder_env", "convex"), "for_each"),
            "local.env"
        );
        // And the module refuses a login for a dashboard shared wider.
        let validation = single_block(module.variable("dashboard_login"), "validation");
        assert_eq!(
            source(validation, "condition"),
            r#"!var.dashboard_login || var.dashboard_share == "owner""#
        );
        let agent_env = object_keys(&t, attr(t.resource("coder_agent", "main"), "env").unwrap());
        assert!(
            !agent_env
                .iter()
                .any(|k| k == "CODER_CONVEX_DASHBOARD_LOGIN"),
            "{name}: one place sets it"
        );
        assert!(t.text.contains("local.dashboard_entrypoint_keys"), "{name}");
    }
}

#[test]
fn both_templates_offer_shared_postgres_with_the_url_kept_secret() {
    for (name, t) in both() {
        let param = t.data("coder_parameter", "database");
        // Offered only where the template has a server for it: picking `shared` without one
        // cannot happen.
        let shared: Vec<Option<String>> = options(param)
            .into_iter()
            .filter(|(value, _)| value == "shared")
            .map(|(_, condition)| condition)
            .collect();
        assert_eq!(
            shared,
            [Some(
                r#"nonsensitive(var.shared_postgres_url != "") ? [1] : []"#.to_owned()
            )],
            "{name}"
        );
        assert!(
            t.text.contains("variable \"shared_postgres_url\""),
            "{name}"
        );
        let decl = t
            .text
            .split("variable \"shared_postgres_url\"")
            .nth(1)
            .unwrap();
        let decl = &decl[..decl.find("\n}").unwrap()];
        assert!(decl.contains("sensitive   = true"), "{name}: {decl}");
        let agent = t.resource("coder_agent", "main");
        let keys = object_keys(&t, attr(agent, "env").unwrap());
        assert!(
            keys.contains(&"CODER_CONVEX_WORKSPACE_ID".to_owned()),
            "{name}"
        );
        assert!(
            !keys
                .iter()
                .any(|k| k.contains("POSTGRES") || k.contains("DATABASE_URL")),
            "{name}"
        );
        let Some(hcl::Expression::Object(env)) = attr(agent, "env") else {
            panic!("{name}: the agent has an env object");
        };
        assert_eq!(
            env.iter()
                .find(|(k, _)| k.to_string() == "CODER_CONVEX_WORKSPACE_ID")
                .map(|(_, v)| v.to_string())
                .as_deref(),
            Some("data.coder_workspace.me.id"),
            "{name}"
        );
    }
}

// --- Kubernetes only ---------------------------------------------------------------------------

#[test]
fn kubernetes_sidecars_are_native_sidecars_in_the_workspace_pod() {
    let t = Template::load_dir(&k8s_dir());
    let deployment = t.resource("kubernetes_deployment_v1", "workspace");
    assert_eq!(
        source(deployment, "count"),
        "data.coder_workspace.me.start_count"
    );
    let pod = pod_spec(&t);
    let names: Vec<String> = blocks(pod, "init_container")
        .map(|c| text_attr(c, "name"))
        .collect();
    assert_eq!(names, ["convex-backend", "convex-dashboard"]);
    for c in blocks(pod, "init_container") {
        assert_eq!(text_attr(c, "restart_policy"), "Always");
        assert_eq!(
            flat(&source(c, "command")),
            "[\"/bin/sh\",local.entrypoint_path,local.env_file]"
        );
    }
    let dev = named(pod, "container", "dev");
    assert!(source(dev, "command").contains("coder_agent.main.init_script"));
    // Same pod: no hostNetwork, no separate pods or services for Convex.
    assert!(attr(pod, "host_network").is_none());
    assert!(t.resources("kubernetes_service_v1").is_empty());
}

#[test]
fn kubernetes_sidecars_listen_on_loopback_with_one_pinned_tag() {
    let t = Template::load_dir(&k8s_dir());
    let pod = pod_spec(&t);
    let backend = named(pod, "init_container", "convex-backend");
    assert_eq!(
        source(backend, "args"),
        "concat(var.convex_backend_command, [\"--interface\", \"127.0.0.1\"])"
    );
    let dashboard = named(pod, "init_container", "convex-dashboard");
    let host = named(dashboard, "env", "HOSTNAME");
    assert_eq!(text_attr(host, "value"), "127.0.0.1");
    assert_eq!(
        text_attr(backend, "image"),
        "ghcr.io/get-convex/convex-backend:${var.convex_image_tag}"
    );
    assert_eq!(
        text_attr(dashboard, "image"),
        "ghcr.io/get-convex/convex-dashboard:${var.convex_image_tag}"
    );
    let tag = t.resolve(t.variable_default("convex_image_tag"));
    assert_eq!(tag.len(), 40, "{tag}");
    assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
    // The same tag as the Docker template.
    let docker = Template::load_dir(&template_dir());
    assert_eq!(
        docker.resolve(docker.variable_default("convex_image_tag")),
        tag
    );
}

#[test]
fn kubernetes_data_lives_on_persistent_volume_claims() {
    let t = Template::load_dir(&k8s_dir());
    for pvc in ["home", "convex_data"] {
        let body = t.resource("kubernetes_persistent_volume_claim_v1", pvc);
        let lifecycle = single_block(body, "lifecycle");
        assert_eq!(source(lifecycle, "ignore_changes"), "all", "{pvc}");
    }
    let pod = pod_spec(&t);
    let data = named(pod, "volume", "convex-data");
    assert_eq!(
        source(single_block(data, "persistent_volume_claim"), "claim_name"),
        "kubernetes_persistent_volume_claim_v1.convex_data.metadata[0].name"
    );
    let backend = named(pod, "init_container", "convex-backend");
    let mount = blocks(backend, "volume_mount")
        .find(|m| text_attr(m, "name") == "convex-data")
        .unwrap();
    assert_eq!(text_attr(mount, "mount_path"), "/convex/data");
    // The entrypoint comes from a ConfigMap holding the shared script.
    let cm = t.resource("kubernetes_config_map_v1", "convex_entrypoint");
    assert!(source(cm, "data").contains("file(\"${path.module}/scripts/convex-entrypoint.sh\")"));
    let ep = named(pod, "volume", "convex-entrypoint");
    assert_eq!(
        text_attr(single_block(ep, "config_map"), "default_mode"),
        "0555"
    );
}

#[test]
fn kubernetes_resources_are_parameters_and_containers_run_as_non_root() {
    let t = Template::load_dir(&k8s_dir());
    for p in [
        "cpu",
        "memory",
        "convex_memory",
        "home_disk_size",
        "convex_disk_size",
    ] {
        assert_eq!(
            text_attr(t.data("coder_parameter", p), "type"),
            "number",
            "{p}"
        );
    }
    let pod = pod_spec(&t);
    let dev = named(pod, "container", "dev");
    let limits = source(single_block(dev, "resources"), "limits");
    assert!(
        limits.contains("data.coder_parameter.cpu.value"),
        "{limits}"
    );
    assert!(
        limits.contains("data.coder_parameter.memory.value"),
        "{limits}"
    );
    let backend = named(pod, "init_container", "convex-backend");
    assert!(source(single_block(backend, "resources"), "limits").contains("convex_memory"));

    let pod_security = single_block(pod, "security_context");
    assert!(bool_attr(pod_security, "run_as_non_root"));
    assert_eq!(source(pod_security, "run_as_user"), "var.uid");
    assert_eq!(t.variable_default("uid").to_string(), "1000");
    for c in blocks(pod, "init_container") {
        let sc = single_block(c, "security_context");
        assert_eq!(
            source(sc, "allow_privilege_escalation"),
            "local.sidecar_security.allow_privilege_escalation"
        );
        assert_eq!(
            flat(&source(single_block(sc, "capabilities"), "drop")),
            "[\"ALL\"]"
        );
    }
    let shared = t.local("sidecar_security").to_string();
    assert!(
        shared.contains("allow_privilege_escalation = false"),
        "{shared}"
    );
    assert!(shared.contains("run_as_non_root = true"), "{shared}");
}

#[test]
fn kubernetes_backend_stops_with_sigint_within_the_grace_period() {
    let t = Template::load_dir(&k8s_dir());
    let env = t.local("backend_env").to_string();
    assert!(
        env.contains("CONVEX_ENTRYPOINT_GRACE_SECONDS = tostring(var.convex_stop_grace_seconds)"),
        "{env}"
    );
    assert_eq!(
        t.variable_default("convex_stop_grace_seconds").to_string(),
        "10"
    );
    // The stop backup's time comes first (tests/it/template_backup.rs).
    assert_eq!(
        source(pod_spec(&t), "termination_grace_period_seconds"),
        "var.backup_stop_seconds + var.convex_stop_grace_seconds + 5"
    );
}

#[test]
fn kubernetes_secrets_travel_in_a_secret_not_the_pod_spec() {
    let t = Template::load_dir(&k8s_dir());
    let dev = named(pod_spec(&t), "container", "dev");
    // The shared servers' URLs are the provisioner's only (tests/it/template_role.rs).
    let env = named(dev, "env", "CODER_AGENT_TOKEN");
    assert!(
        attr(env, "value").is_none(),
        "the agent token has a plain value"
    );
    let reference = single_block(single_block(env, "value_from"), "secret_key_ref");
    assert_eq!(text_attr(reference, "key"), "CODER_AGENT_TOKEN");
    for line in t.text.lines() {
        assert!(!line.contains("INSTANCE_SECRET="), "{line}");
        assert!(!line.contains("ADMIN_KEY="), "{line}");
    }
}

#[test]
fn kubernetes_template_scripts_are_copies_of_the_repository_scripts() {
    let script = "convex-entrypoint.sh";
    let original = fs_err::read(template_dir().join("../scripts").join(script)).unwrap();
    let copy = fs_err::read(k8s_dir().join("scripts").join(script)).unwrap();
    assert!(
        original == copy,
        "coder-template/kubernetes/scripts/{script} differs; copy it over"
    );
}

#[test]
fn templates_are_terraform_fmt_clean() {
    assert_terraform_fmt_clean(&template_dir());
}
