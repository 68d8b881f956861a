//! The compose file built into the binary (`src/containers/compose/docker-compose.yml`, what `up` runs),
//! parsed with yaml-rust2 and checked against the Coder template and the binary's constants.

use coder_convex::config::urls::App;
use coder_convex::containers::compose::{FILE, IMAGE_RELEASE, IMAGE_TAG};
use yaml_rust2::{Yaml, YamlLoader};

use crate::templates::{Template, assert_is_release_tag};

fn compose() -> Yaml {
    let mut docs = YamlLoader::load_from_str(FILE)
        .unwrap_or_else(|err| panic!("the embedded compose file does not parse: {err}"));
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// The node at a dotted path of mapping keys; fails with the path when it is missing.
fn at<'a>(node: &'a Yaml, path: &str) -> &'a Yaml {
    let found = path.split('.').fold(node, |node, key| &node[key]);
    assert!(!found.is_badvalue(), "no `{path}` in the compose file");
    found
}

fn str_at<'a>(node: &'a Yaml, path: &str) -> &'a str {
    at(node, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string: {:?}", at(node, path)))
}

fn keys(node: &Yaml) -> Vec<&str> {
    node.as_hash()
        .unwrap_or_else(|| panic!("not a mapping: {node:?}"))
        .keys()
        .map(|k| k.as_str().expect("a string key"))
        .collect()
}

fn str_list<'a>(node: &'a Yaml, path: &str) -> Vec<&'a str> {
    at(node, path)
        .as_vec()
        .unwrap_or_else(|| panic!("`{path}` is not a list"))
        .iter()
        .map(|item| item.as_str().expect("a string item"))
        .collect()
}

fn mapping(pairs: &[(&str, Yaml)]) -> Yaml {
    Yaml::Hash(
        pairs
            .iter()
            .map(|(k, v)| (Yaml::String((*k).to_owned()), v.clone()))
            .collect(),
    )
}

fn ystr(s: &str) -> Yaml {
    Yaml::String(s.to_owned())
}

#[test]
fn the_template_the_embedded_file_and_the_binary_pin_one_release() {
    let template = Template::load();
    let pinned = template.resolve(template.variable_default("convex_image_tag"));
    assert_is_release_tag(&pinned);
    assert_eq!(
        pinned, IMAGE_TAG,
        "coder-template/variables.tf and compose::IMAGE_TAG"
    );
    let compose = compose();
    assert_eq!(keys(&compose), ["services", "volumes"]);
    assert_eq!(keys(at(&compose, "services")), ["backend", "dashboard"]);
    for (service, repository) in [
        ("backend", "ghcr.io/get-convex/convex-backend"),
        ("dashboard", "ghcr.io/get-convex/convex-dashboard"),
    ] {
        assert_eq!(
            str_at(&compose, &format!("services.{service}.image")),
            format!("{repository}:{IMAGE_TAG}"),
            "{service}: the binary's pin, no override"
        );
        assert_eq!(
            str_at(&compose, &format!("services.{service}.restart")),
            "unless-stopped"
        );
    }
    // The backend reports its release by name (for the CLI skew check): this tag's.
    assert_eq!(IMAGE_RELEASE.rsplit('-').next(), Some(&IMAGE_TAG[..7]));
}

#[test]
fn every_port_is_published_on_loopback_only() {
    let compose = compose();
    assert_eq!(
        str_list(&compose, "services.backend.ports"),
        [
            "127.0.0.1:${CODER_CONVEX_API_PORT:-3210}:3210",
            "127.0.0.1:${CODER_CONVEX_SITE_PORT:-3211}:3211"
        ]
    );
    assert_eq!(
        str_list(&compose, "services.dashboard.ports"),
        ["127.0.0.1:${CODER_CONVEX_DASHBOARD_PORT:-6791}:6791"]
    );
    // The defaults are the apps' ports, inside and out.
    assert_eq!(
        [App::Api.port(), App::Site.port(), App::Dashboard.port()],
        [3210, 3211, 6791]
    );
}

#[test]
fn the_backend_reads_the_project_env_file_and_upstreams_settings() {
    let compose = compose();
    let backend = at(&compose, "services.backend");
    assert_eq!(
        at(backend, "env_file"),
        &Yaml::Array(vec![mapping(&[
            (
                "path",
                ystr("${CODER_CONVEX_ENV_FILE:?run this file through `coder-convex up`}")
            ),
            ("required", Yaml::Boolean(false)),
        ])])
    );
    assert_eq!(
        at(backend, "environment"),
        &mapping(&[
            ("CONVEX_RELEASE_VERSION_DEV", ystr(IMAGE_RELEASE)),
            ("DISABLE_METRICS_ENDPOINT", ystr("true")),
            ("DOCUMENT_RETENTION_DELAY", ystr("172800")),
        ])
    );
    // The backend drains on SIGINT only, and gets the grace period of Convex's own file.
    assert_eq!(str_at(backend, "stop_signal"), "SIGINT");
    assert_eq!(str_at(backend, "stop_grace_period"), "10s");
    // A changed env file changes this label, so compose recreates the backend.
    assert_eq!(
        at(backend, "labels"),
        &mapping(&[(
            "dev.coder-convex.env-hash",
            ystr("${CODER_CONVEX_ENV_HASH:-}")
        )])
    );
    // The images' own entrypoints and commands.
    for service in ["backend", "dashboard"] {
        let node = at(&compose, &format!("services.{service}"));
        assert!(node["entrypoint"].is_badvalue() && node["command"].is_badvalue());
    }
    assert_eq!(
        str_list(backend, "healthcheck.test"),
        [
            "CMD",
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "http://127.0.0.1:3210/version"
        ]
    );
}

#[test]
fn the_dashboard_gets_the_public_api_url_and_no_secret() {
    let compose = compose();
    let dashboard = at(&compose, "services.dashboard");
    assert!(
        dashboard["env_file"].is_badvalue(),
        "no env file, no secret"
    );
    assert_eq!(
        at(dashboard, "environment"),
        &mapping(&[(
            "NEXT_PUBLIC_DEPLOYMENT_URL",
            ystr("${NEXT_PUBLIC_DEPLOYMENT_URL:-http://127.0.0.1:3210}")
        )])
    );
    assert_eq!(str_list(dashboard, "depends_on"), ["backend"]);
}

#[test]
fn the_data_lives_on_a_named_volume() {
    let compose = compose();
    assert_eq!(keys(at(&compose, "volumes")), ["data"]);
    assert_eq!(
        str_list(&compose, "services.backend.volumes"),
        ["data:/convex/data"]
    );
    assert!(
        at(&compose, "services.dashboard")["volumes"].is_badvalue(),
        "only the backend mounts the data volume"
    );
}
