//! Both templates keep the shared Postgres server's admin URL out of the workspace: only the
//! provisioner (Docker: a one-shot container; Kubernetes: an init container) gets it, the
//! backend alone mounts the credentials it writes, read-only, and the workspace container
//! (where developers have a shell) and the agent get neither (README "A role per workspace").

use hcl::Body;

use crate::templates::{
    Template, attr, blocks, bool_attr, k8s_dir, named, object_keys, pod_spec, single_block, source,
    text_attr,
};

/// The `content` of each `dynamic "<kind>"` block of `body`.
fn dynamic<'a>(body: &'a Body, kind: &str) -> Vec<&'a Body> {
    body.blocks()
        .filter(|b| {
            b.identifier() == "dynamic" && b.labels().first().is_some_and(|l| l.as_str() == kind)
        })
        .map(|b| single_block(b.body(), "content"))
        .collect()
}

fn hcl_text(body: &Body) -> String {
    hcl::to_string(body).unwrap()
}

#[test]
fn docker_the_admin_url_reaches_the_provisioner_only() {
    let t = Template::load();
    for (name, body) in t.resources("docker_container") {
        let mentions = hcl_text(body).contains("shared_postgres_url");
        if name == "convex_db_provision" {
            assert!(
                source(body, "env")
                    .contains("CODER_CONVEX_SHARED_POSTGRES_URL=${var.shared_postgres_url}"),
                "{name}"
            );
        } else if name == "workspace" {
            // Only its precondition names the variable; no value of it is passed.
            let env = source(body, "env");
            assert!(!env.contains("shared_postgres_url"), "{env}");
            assert!(!env.contains("SHARED"), "{env}");
        } else {
            assert!(!mentions, "{name} mentions the shared URL");
        }
    }
    for (kind, ty) in [("resource", "coder_agent"), ("resource", "coder_script")] {
        for (name, body) in t.labelled(kind, ty) {
            assert!(
                !hcl_text(body).contains("shared_postgres_url"),
                "{ty}.{name} mentions the shared URL"
            );
        }
    }
    let agent = t.resource("coder_agent", "main");
    let keys = object_keys(&t, attr(agent, "env").unwrap());
    assert!(keys.contains(&"CODER_CONVEX_SHARED_DATABASE".to_owned()));
    assert!(
        hcl_text(agent)
            .contains("CODER_CONVEX_SHARED_DATABASE = local.use_shared ? \"provisioned\" : \"\""),
        "{}",
        hcl_text(agent)
    );

    // The provisioner: one-shot, awaited, its failure fails the build, writes the volume.
    let provision = t.resource("docker_container", "convex_db_provision");
    assert_eq!(
        source(provision, "count"),
        "local.use_shared ? data.coder_workspace.me.start_count : 0"
    );
    assert!(bool_attr(provision, "attach"));
    assert!(bool_attr(provision, "logs"));
    assert!(!bool_attr(provision, "must_run"));
    let lifecycle = single_block(provision, "lifecycle");
    let post = single_block(lifecycle, "postcondition");
    assert_eq!(source(post, "condition"), "self.exit_code == 0");
    let mount = single_block(provision, "volumes");
    assert_eq!(source(mount, "container_path"), "local.provision_dir");
    assert!(!bool_attr(mount, "read_only"));
    assert!(source(mount, "volume_name").contains("docker_volume.convex_db_credentials"));
    let script = t.local("provision_script").to_string();
    assert!(
        script.contains("db provision --out ${local.provision_env_file}"),
        "{script}"
    );
    assert!(
        script.contains("base64encode(local.install_sh)"),
        "{script}"
    );
}

#[test]
fn docker_only_the_backend_mounts_the_credentials_read_only() {
    let t = Template::load();
    let backend = t.resource("docker_container", "convex_backend");
    let mounts: Vec<&Body> = dynamic(backend, "volumes")
        .into_iter()
        .filter(|v| source(v, "volume_name").contains("convex_db_credentials"))
        .collect();
    assert_eq!(mounts.len(), 1);
    assert_eq!(source(mounts[0], "container_path"), "local.provision_dir");
    assert!(bool_attr(mounts[0], "read_only"));
    let depends_on: String = source(backend, "depends_on").split_whitespace().collect();
    assert_eq!(depends_on, "[docker_container.convex_db_provision]");
    assert!(
        source(backend, "env").contains("CONVEX_ENTRYPOINT_EXTRA_FILE=${local.provision_env_file}")
    );
    for (name, body) in t.resources("docker_container") {
        if name != "convex_backend" && name != "convex_db_provision" {
            assert!(
                !hcl_text(body).contains("convex_db_credentials"),
                "{name} mounts the credentials"
            );
        }
    }
    assert_eq!(
        t.local("provision_env_file").to_string(),
        "\"${local.provision_dir}/db.env\""
    );
}

#[test]
fn kubernetes_the_admin_url_reaches_the_init_container_only() {
    let t = Template::load_dir(&k8s_dir());
    let spec = pod_spec(&t);
    assert!(!bool_attr(spec, "automount_service_account_token"));

    let dev = named(spec, "container", "dev");
    assert!(!hcl_text(dev).contains("SHARED"), "{}", hcl_text(dev));
    assert!(!hcl_text(dev).contains("convex-db-credentials"));
    let agent = t.resource("coder_agent", "main");
    assert!(!hcl_text(agent).contains("shared_postgres_url"));
    assert!(
        hcl_text(agent)
            .contains("CODER_CONVEX_SHARED_DATABASE = local.provisioned ? \"provisioned\" : \"\"")
    );
    assert_eq!(
        t.local("provisioned").to_string(),
        "local.use_shared || local.use_shared_mysql"
    );

    // The provisioner runs before the backend sidecar: listed first, a regular init container.
    let provisioners = dynamic(spec, "init_container");
    assert_eq!(provisioners.len(), 1);
    let provision = provisioners[0];
    assert_eq!(text_attr(provision, "name"), "convex-db-provision");
    assert!(attr(provision, "restart_policy").is_none());
    let order: Vec<String> = spec
        .blocks()
        .filter_map(|b| match (b.identifier(), b.labels().first()) {
            ("init_container", _) => Some(text_attr(b.body(), "name")),
            ("dynamic", Some(l)) if l.as_str() == "init_container" => {
                Some(text_attr(single_block(b.body(), "content"), "name"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        ["convex-db-provision", "convex-backend", "convex-dashboard"]
    );
    // Both servers' URLs, from the Secret (the unused one is empty), and the owner and
    // workspace names (there a claim updates them without restarting the pod).
    let urls = dynamic(provision, "env");
    let from_secret: Vec<&Body> = urls
        .iter()
        .filter(|e| hcl_text(e).contains("secret_key_ref"))
        .copied()
        .collect();
    assert_eq!(from_secret.len(), 1);
    let reference = single_block(single_block(from_secret[0], "value_from"), "secret_key_ref");
    assert_eq!(source(reference, "key"), "env.value");
    let for_each: Vec<String> = provision
        .blocks()
        .filter(|b| b.identifier() == "dynamic")
        .filter_map(|b| attr(b.body(), "for_each").map(ToString::to_string))
        .filter(|f| f.contains("SHARED"))
        .map(|f| f.split_whitespace().collect())
        .collect();
    assert_eq!(
        for_each,
        [
            "[\"CODER_CONVEX_SHARED_POSTGRES_URL\",\"CODER_CONVEX_SHARED_DATABASE_URL\",\"CODER_WORKSPACE_OWNER_NAME\",\"CODER_WORKSPACE_NAME\"]"
        ]
    );
    let mount = named(provision, "volume_mount", "convex-db-credentials");
    assert_eq!(source(mount, "mount_path"), "local.provision_dir");
    assert!(attr(mount, "read_only").is_none());

    // The backend sidecar mounts it read-only; the dashboard does not mount it.
    let backend = named(spec, "init_container", "convex-backend");
    let mounts: Vec<&Body> = dynamic(backend, "volume_mount")
        .into_iter()
        .filter(|m| text_attr(m, "name") == "convex-db-credentials")
        .collect();
    assert_eq!(mounts.len(), 1);
    assert!(bool_attr(mounts[0], "read_only"));
    let dashboard = named(spec, "init_container", "convex-dashboard");
    assert!(!hcl_text(dashboard).contains("convex-db-credentials"));
    let volume = dynamic(spec, "volume");
    assert_eq!(volume.len(), 1);
    assert_eq!(text_attr(volume[0], "name"), "convex-db-credentials");
    assert_eq!(blocks(volume[0], "empty_dir").count(), 1);
}
