//! The Docker template's stop sequence (`coder-template/main.tf`): a container of its own
//! (`docker_container.network`) holds the network namespace that the workspace and the Convex
//! containers join, and the workspace container depends on the Convex containers, so Terraform
//! destroys it first when the workspace stops. Its agent then runs the stop backup against a
//! backend that still runs, for up to `backup_stop_seconds`. Parsed HCL, as `template.rs` does;
//! no Docker engine or Terraform provider is involved.

use std::collections::{BTreeMap, BTreeSet};

use hcl::expr::Expression;

use crate::templates::k8s_dir;
use crate::templates::{
    Template, attr, blocks, bool_attr, number_attr, single_block, source, string_list, text_attr,
};

const NETWORK_MODE: &str = "container:${docker_container.network[0].id}";
const SIDECARS: [&str; 3] = ["convex_backend", "convex_dashboard", "postgres"];

/// The `docker_container` resources each container refers to (its dependencies in Terraform's
/// graph, implicit and `depends_on` alike).
fn container_graph(t: &Template) -> BTreeMap<String, BTreeSet<String>> {
    let containers = t.resources("docker_container");
    let names: Vec<String> = containers.keys().cloned().collect();
    containers
        .iter()
        .map(|(name, body)| {
            let text = hcl::to_string(*body).expect("the body prints as HCL");
            let refs = names
                .iter()
                .filter(|other| text.contains(&format!("docker_container.{other}")))
                .cloned()
                .collect();
            (name.clone(), refs)
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_network_holder_carries_the_hostname_and_the_host_gateway() {
    let t = Template::load();
    let network = t.resource("docker_container", "network");
    assert_eq!(
        source(network, "count"),
        "data.coder_workspace.me.start_count"
    );
    assert_eq!(source(network, "image"), "var.workspace_image");
    assert_eq!(
        text_attr(network, "name"),
        "${local.container_name}-network"
    );
    assert!(bool_attr(network, "init"), "SIGTERM ends `sleep` at once");
    assert_eq!(
        string_list(attr(network, "entrypoint").expect("an entrypoint")),
        ["sleep", "infinity"]
    );
    assert_eq!(text_attr(network, "restart"), "unless-stopped");
    assert_eq!(source(network, "hostname"), "data.coder_workspace.me.name");
    let host = single_block(network, "host");
    assert_eq!(text_attr(host, "host"), "host.docker.internal");
    assert_eq!(text_attr(host, "ip"), "host-gateway");
    assert!(
        attr(network, "network_mode").is_none(),
        "it owns the namespace"
    );
    assert!(attr(network, "depends_on").is_none());
    assert!(
        attr(network, "volumes").is_none() && blocks(network, "volumes").next().is_none(),
        "it needs no volume"
    );

    // Docker refuses a hostname and extra hosts on a container that joins another's namespace.
    for (name, body) in t.resources("docker_container") {
        if name != "network" {
            assert!(attr(body, "hostname").is_none(), "{name} has a hostname");
            assert_eq!(blocks(body, "host").count(), 0, "{name} has host blocks");
        }
    }
}

#[test]
fn the_workspace_and_every_sidecar_join_the_network_holder() {
    let t = Template::load();
    let containers = t.resources("docker_container");
    assert_eq!(
        containers.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "convex_backend",
            "convex_dashboard",
            "convex_db_provision",
            "network",
            "postgres",
            "workspace"
        ]
    );
    for name in SIDECARS.iter().chain(&["workspace", "convex_db_provision"]) {
        assert_eq!(
            text_attr(containers[*name], "network_mode"),
            NETWORK_MODE,
            "{name}"
        );
    }
    // No container joins the workspace container's namespace any more: that made Terraform
    // destroy the sidecars before it.
    assert!(!t.text.contains("container:${docker_container.workspace"));
    assert_eq!(t.text.matches("container:${docker_container.").count(), 5);
}

#[test]
fn the_workspace_container_depends_on_the_sidecars_and_is_destroyed_first() {
    let t = Template::load();
    let workspace = t.resource("docker_container", "workspace");
    let Some(Expression::Array(depends_on)) = attr(workspace, "depends_on") else {
        panic!("the workspace has a depends_on list");
    };
    let depends_on: Vec<String> = depends_on.iter().map(ToString::to_string).collect();
    assert_eq!(
        depends_on,
        [
            "docker_container.convex_backend",
            "docker_container.convex_dashboard",
            "docker_container.postgres"
        ]
    );

    // Terraform destroys a resource before what it depends on: the workspace first, then the
    // sidecars, then the network holder. A sidecar that referred to the workspace would be a
    // cycle, or would put it first again.
    let graph = container_graph(&t);
    assert_eq!(
        graph["workspace"],
        set(&["convex_backend", "convex_dashboard", "network", "postgres"])
    );
    // The backend starts after the shared database's provisioner (it reads its file).
    for sidecar in SIDECARS {
        let after: &[&str] = if sidecar == "convex_backend" {
            &["convex_db_provision", "network"]
        } else {
            &["network"]
        };
        assert_eq!(graph[sidecar], set(after), "{sidecar}");
    }
    assert_eq!(graph["convex_db_provision"], set(&["network"]));
    assert_eq!(graph["network"], set(&[]));
}

#[test]
fn the_workspace_container_gets_backup_stop_seconds_to_stop() {
    let t = Template::load();
    let workspace = t.resource("docker_container", "workspace");
    assert_eq!(
        source(workspace, "destroy_grace_seconds"),
        "var.backup_stop_seconds"
    );
    assert_eq!(source(workspace, "stop_timeout"), "var.backup_stop_seconds");
    // The agent ends the stop backup by then itself, with a message, rather than being killed.
    let stop = t.resource("coder_script", "convex_backup_on_stop");
    assert_eq!(source(stop, "timeout"), "var.backup_stop_seconds");
    // The sidecars keep their own clean-stop times; they start counting once the workspace is
    // gone.
    for (name, seconds) in [("convex_backend", 15.0), ("postgres", 15.0)] {
        let body = t.resource("docker_container", name);
        assert_eq!(
            number_attr(body, "destroy_grace_seconds"),
            seconds,
            "{name}"
        );
    }

    let variable = t.variable("backup_stop_seconds");
    assert_eq!(source(variable, "type"), "number");
    assert_eq!(number_attr(variable, "default"), 120.0);
    let description = text_attr(variable, "description");
    assert!(
        description.starts_with("How long the backup taken when a workspace stops may run"),
        "{description}"
    );
    // The same bounds as the Kubernetes template's variable of that name.
    let k8s = Template::load_dir(&k8s_dir());
    let k8s_variable = k8s.variable("backup_stop_seconds");
    assert_eq!(number_attr(k8s_variable, "default"), 120.0);
    let validation = single_block(variable, "validation");
    assert_eq!(
        source(validation, "condition"),
        "var.backup_stop_seconds >= 10"
    );
    assert_eq!(
        text_attr(validation, "error_message"),
        "Give the stop backup at least 10 seconds."
    );
    assert_eq!(
        hcl::to_string(validation).unwrap(),
        hcl::to_string(single_block(k8s_variable, "validation")).unwrap()
    );
}

/// The stop script is the pre-upgrade backup; nothing may say it cannot be relied on.
#[test]
fn the_docker_stop_backup_is_documented_as_the_pre_upgrade_backup() {
    let t = Template::load();
    let readme = fs_err::read_to_string(crate::templates::template_dir().join("README.md"))
        .expect("coder-template/README.md");
    for text in [&t.text, &readme] {
        for stale in ["cannot be relied on", "back up by hand", "by hand before"] {
            assert!(!text.contains(stale), "stale text: {stale}");
        }
    }
    let stop = t.resource("coder_script", "convex_backup_on_stop");
    assert!(bool_attr(stop, "run_on_stop"));
    let backups = readme
        .split("\n## Backups\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Backups section");
    for needed in [
        "backup_stop_seconds",
        "workspace container first",
        "network holder",
    ] {
        assert!(
            backups
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(needed),
            "the Backups section names {needed:?}"
        );
    }
}
