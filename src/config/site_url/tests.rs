//! Unit vectors for `site_url`: the frontend port and the app's URL rules.
use serde_json::json;

use super::*;
use crate::config::urls::Manifest;

#[test]
fn dev_script_ports() {
    let cases = [
        ("vite --port 4000", Some(4000)),
        ("next dev -p 4000", Some(4000)),
        ("vite --port=4000", Some(4000)),
        ("next dev -p=4001", Some(4001)),
        ("PORT=4002 react-scripts start", Some(4002)),
        (
            "concurrently \"vite --port 4003 --host\" \"convex dev\"",
            Some(4003),
        ),
        ("npm-run-all -p dev:web dev:convex", None),
        ("vite", None),
        ("next dev", None),
        ("vite --port", None),
        ("vite --port 0", None),
        ("vite --port 70000", None),
        ("", None),
    ];
    for (script, want) in cases {
        assert_eq!(dev_script_port(script), want, "{script:?}");
    }
}

#[test]
fn port_precedence_flag_then_dev_script_then_framework() {
    let pkg = json!({"scripts": {"dev": "vite --port 4000"}, "devDependencies": {"vite": "7"}});
    let port = |explicit, pkg: Option<&serde_json::Value>, fw| detect_port(explicit, pkg, fw);
    assert_eq!(
        port(Some(8080), Some(&pkg), Framework::Vite),
        Some(FrontendPort {
            port: 8080,
            source: PortSource::Explicit
        })
    );
    assert_eq!(
        port(None, Some(&pkg), Framework::Vite),
        Some(FrontendPort {
            port: 4000,
            source: PortSource::DevScript
        })
    );
    let plain = json!({"scripts": {"dev": "vite"}});
    for (fw, want) in [
        (Framework::Vite, Some(5173)),
        (Framework::SvelteKit, Some(5173)),
        (Framework::Next, Some(3000)),
        (Framework::TanStackStart, Some(3000)),
        (Framework::Remix, Some(3000)),
        (Framework::CreateReactApp, Some(3000)),
        (Framework::Expo, Some(8081)),
        (Framework::Other, None),
    ] {
        let got = port(None, Some(&plain), fw);
        assert_eq!(got.map(|p| p.port), want, "{fw:?}");
        if want.is_some() {
            assert_eq!(got.unwrap().source, PortSource::FrameworkDefault);
        }
    }
    assert_eq!(port(None, None, Framework::Other), None);
}

fn coder(proxy: &str, short: bool) -> UrlInputs<'_> {
    UrlInputs {
        coder: true,
        vscode_proxy_uri: Some(proxy),
        agent_name: Some("main"),
        workspace_name: Some("ws"),
        owner_name: Some("alice"),
        short_labels: short,
        ..Default::default()
    }
}

fn at(port: u16) -> Option<FrontendPort> {
    Some(FrontendPort {
        port,
        source: PortSource::FrameworkDefault,
    })
}

fn url_of(inputs: &UrlInputs<'_>, port: u16) -> (String, UrlSource) {
    let app = derive(None, at(port), inputs).unwrap().unwrap();
    (app.url, app.source)
}

#[test]
fn app_url_vectors() {
    let four = coder("https://{{port}}--main--ws--alice.apps.example.com/", false);
    assert_eq!(
        url_of(&four, 5173),
        (
            "https://5173--main--ws--alice.apps.example.com".to_owned(),
            UrlSource::CoderProxyUri
        )
    );
    let three = coder("https://{{port}}--main--ws--alice.apps.example.com/", true);
    assert_eq!(
        url_of(&three, 3000).0,
        "https://3000--ws--alice.apps.example.com"
    );
    let suffix = coder(
        "https://{{port}}--main--ws--alice-apps.example.com:8443",
        false,
    );
    assert_eq!(
        url_of(&suffix, 5173).0,
        "https://5173--main--ws--alice-apps.example.com:8443"
    );
    let codespaces = UrlInputs {
        codespace_name: Some("fuzzy-space-fiesta"),
        codespaces_domain: Some("app.github.dev"),
        ..Default::default()
    };
    assert_eq!(
        url_of(&codespaces, 5173),
        (
            "https://fuzzy-space-fiesta-5173.app.github.dev".to_owned(),
            UrlSource::Codespaces
        )
    );
    let gitpod = UrlInputs {
        gitpod_workspace_url: Some("https://alice-repo-abc.ws-eu1.gitpod.io"),
        ..Default::default()
    };
    assert_eq!(
        url_of(&gitpod, 3000).0,
        "https://3000-alice-repo-abc.ws-eu1.gitpod.io"
    );
    assert_eq!(
        url_of(&UrlInputs::default(), 8081),
        ("http://localhost:8081".to_owned(), UrlSource::Local)
    );
    let no_wildcard = UrlInputs {
        coder: true,
        ..Default::default()
    };
    assert_eq!(
        url_of(&no_wildcard, 5173),
        (
            "http://localhost:5173".to_owned(),
            UrlSource::CoderNoWildcard
        )
    );
    let manifest = Manifest {
        vscode_port_proxy_uri: "https://{{port}}--dev--box--bob.coder.example.com".into(),
        agent_name: "dev".into(),
        workspace_name: "box".into(),
        owner_name: "bob".into(),
        ..Default::default()
    };
    let via_manifest = UrlInputs {
        coder: true,
        manifest: Some(&manifest),
        ..Default::default()
    };
    assert_eq!(
        url_of(&via_manifest, 5173),
        (
            "https://5173--dev--box--bob.coder.example.com".to_owned(),
            UrlSource::CoderManifest
        )
    );
}

#[test]
fn explicit_wins_and_is_validated() {
    let four = coder("https://{{port}}--main--ws--alice.apps.example.com/", false);
    let given = |value| ExplicitUrl {
        value,
        input: "SITE_URL",
    };
    let app = derive(Some(given("https://app.example.com/")), at(5173), &four)
        .unwrap()
        .unwrap();
    assert_eq!(app.url, "https://app.example.com");
    assert_eq!(app.source, UrlSource::Explicit);
    assert_eq!(app.port, None);
    assert_eq!(
        derive(Some(given("https://example.com/app/")), None, &four)
            .unwrap()
            .unwrap()
            .url,
        "https://example.com/app"
    );
    for bad in [
        "localhost:5173",
        "ftp://x",
        "https://x/?a=1",
        "https://u:p@x",
    ] {
        let err = derive(Some(given(bad)), None, &four).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}");
        assert!(err.to_string().contains("SITE_URL"), "{err}");
        assert!(err.hint().is_some());
    }
    assert_eq!(derive(None, None, &four).unwrap(), None);
}

#[test]
fn a_long_label_is_an_error_with_a_hint() {
    let long = coder(
        "https://{{port}}--main--a-very-long-workspace-name-for-the-quarterly-demo-day--alice.apps.example.com",
        false,
    );
    let err = derive(None, at(5173), &long).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("DNS allows 63"), "{err}");
    assert!(err.hint().unwrap().contains("--site-url"));
}
