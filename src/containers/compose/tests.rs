use std::path::Path;

use super::*;

#[test]
fn project_names_are_stable_safe_and_unique_per_directory() {
    let a = project_name(Path::new("/home/ann/code/My App!"));
    assert_eq!(a, project_name(Path::new("/home/ann/code/My App!")));
    let hash = &env_hash("/home/ann/code/My App!")[..8];
    assert_eq!(a, format!("my-app-convex-{hash}"));
    // Same directory name elsewhere: another project, other containers and volume.
    let b = project_name(Path::new("/tmp/My App!"));
    assert_ne!(a, b);
    assert!(b.starts_with("my-app-convex-"), "{b}");
    // Nothing usable in the name: a generic prefix.
    let c = project_name(Path::new("/"));
    assert_eq!(c, format!("project-convex-{}", &env_hash("/")[..8]));
    assert_eq!(
        project_name(Path::new("/x/.Hidden.Dir")),
        format!("hidden-dir-convex-{}", &env_hash("/x/.Hidden.Dir")[..8])
    );
    let long = project_name(Path::new(&format!("/{}", "a".repeat(80))));
    assert_eq!(long.len(), 32 + "-convex-".len() + 8);
}

#[test]
fn cache_dir_follows_xdg_then_home() {
    assert_eq!(
        cache_dir(Some("/xdg"), Some("/home/u"), "p-convex-1").unwrap(),
        Path::new("/xdg/coder-convex/p-convex-1")
    );
    assert_eq!(
        cache_dir(Some("relative"), Some("/home/u"), "p").unwrap(),
        Path::new("/home/u/.cache/coder-convex/p")
    );
    assert_eq!(
        cache_dir(None, Some("/home/u"), "p").unwrap(),
        Path::new("/home/u/.cache/coder-convex/p")
    );
    let err = cache_dir(None, None, "p").unwrap_err();
    assert_eq!(err.code().as_str(), "invalid_input");
    assert_eq!(
        err.to_string(),
        "invalid HOME: neither XDG_CACHE_HOME nor HOME is an absolute path"
    );
}

#[test]
fn ports_come_from_loopback_internal_urls() {
    assert_eq!(
        Ports::from_urls(
            "http://127.0.0.1:3210",
            "http://localhost:4211/",
            "http://127.0.0.1:6791"
        )
        .unwrap(),
        Ports {
            api: 3210,
            site: 4211,
            dashboard: 6791
        }
    );
    let err = Ports::from_urls(
        "http://10.0.0.5:3210",
        "http://127.0.0.1:3211",
        "http://127.0.0.1:6791",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid --backend-url / CODER_CONVEX_BACKEND_URL: http://10.0.0.5:3210 is not an http://127.0.0.1:<port> URL"
    );
    let err = Ports::from_urls(
        "http://127.0.0.1:3210",
        "http://127.0.0.1:3211",
        "https://127.0.0.1:6791",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid --dashboard-internal-url"),
        "{err}"
    );
}

#[test]
fn compose_variables_name_the_env_file_and_never_its_values() {
    let vars = variables(
        Path::new("/p/.env.convex.local"),
        "abc",
        "http://127.0.0.1:3210",
        Ports {
            api: 1,
            site: 2,
            dashboard: 3,
        },
    );
    let text: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        text,
        [
            "CODER_CONVEX_ENV_FILE=/p/.env.convex.local",
            "CODER_CONVEX_ENV_HASH=abc",
            "NEXT_PUBLIC_DEPLOYMENT_URL=http://127.0.0.1:3210",
            "CODER_CONVEX_API_PORT=1",
            "CODER_CONVEX_SITE_PORT=2",
            "CODER_CONVEX_DASHBOARD_PORT=3",
        ]
    );
}

#[test]
fn ps_output_in_both_formats() {
    let lines = r#"{"Name":"p-backend-1","Service":"backend","State":"running","Status":"Up 2 minutes (healthy)"}
{"Name":"p-dashboard-1","Service":"dashboard","State":"exited","Status":"Exited (0) 1 minute ago"}
"#;
    let parsed = parse_ps(lines).unwrap();
    assert_eq!(
        parsed,
        [
            Container {
                service: "backend".into(),
                state: "running".into(),
                status: "Up 2 minutes (healthy)".into()
            },
            Container {
                service: "dashboard".into(),
                state: "exited".into(),
                status: "Exited (0) 1 minute ago".into()
            },
        ]
    );
    assert!(parsed[0].running() && !parsed[1].running());
    let array = r#"[{"Service":"backend","State":"running","Status":"Up"}]"#;
    assert_eq!(parse_ps(array).unwrap().len(), 1);
    assert_eq!(parse_ps("").unwrap(), []);
    assert_eq!(parse_ps("[]").unwrap(), []);
    assert_eq!(parse_ps("NAME IMAGE\n"), None);
}

#[test]
fn compose_versions() {
    assert_eq!(check_compose_version("2.29.1\n"), Ok(()));
    assert_eq!(check_compose_version("v2.24.0-desktop.1"), Ok(()));
    assert_eq!(check_compose_version("3.0.0"), Ok(()));
    // The long forms: `docker compose version`, v1's, and podman's several lines.
    assert_eq!(
        check_compose_version("Docker Compose version v2.29.1\n"),
        Ok(())
    );
    assert_eq!(
        check_compose_version("docker-compose version 1.29.2, build 5becea4c"),
        Err("Compose 1.29.2 is too old (the compose file needs 2.24 or newer)".to_owned())
    );
    assert_eq!(
        check_compose_version(
            "podman version 4.9.3\npodman-compose version 1.0.6\nusing podman version: 4.9.3\n"
        ),
        Err("Compose 1.0.6 is too old (the compose file needs 2.24 or newer)".to_owned())
    );
    assert_eq!(
        check_compose_version(
            ">>>> Executing external compose provider\nDocker Compose version v2.31.0"
        ),
        Ok(())
    );
    assert_eq!(
        check_compose_version("2.20.2"),
        Err("Compose 2.20.2 is too old (the compose file needs 2.24 or newer)".to_owned())
    );
    assert_eq!(
        check_compose_version("1.29.2"),
        Err("Compose 1.29.2 is too old (the compose file needs 2.24 or newer)".to_owned())
    );
    assert_eq!(
        check_compose_version("garbage"),
        Err("cannot read the Compose version from \"garbage\"".to_owned())
    );
}

#[test]
fn failures_are_classified_from_compose_output() {
    let case = |text: &str| classify(&[text.to_owned()]);
    assert_eq!(
        case(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
        ),
        ContainerFailure::EngineDown
    );
    assert_eq!(
        case(
            "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
        ),
        ContainerFailure::EngineDown
    );
    assert_eq!(
        case(
            "Error response from daemon: driver failed programming external connectivity: Bind for 127.0.0.1:3210 failed: port is already allocated"
        ),
        ContainerFailure::PortInUse
    );
    assert_eq!(
        case(" backend Error manifest unknown"),
        ContainerFailure::ImagePull
    );
    assert_eq!(
        case(
            "Error response from daemon: pull access denied for ghcr.io/get-convex/convex-backend"
        ),
        ContainerFailure::ImagePull
    );
    assert_eq!(
        case("docker: 'compose' is not a docker command."),
        ContainerFailure::NoCompose
    );
    assert_eq!(
        case("yaml: line 3: bad indentation"),
        ContainerFailure::Compose
    );
}

#[test]
fn the_embedded_file_pins_the_binarys_tag() {
    let images: Vec<&str> = FILE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    assert_eq!(
        images,
        [
            format!("ghcr.io/get-convex/convex-backend:{IMAGE_TAG}"),
            format!("ghcr.io/get-convex/convex-dashboard:{IMAGE_TAG}"),
        ]
    );
}
