//! Unit vectors for `urls`.
use super::*;

const PROXY: &str = "https://{{port}}--main--ws--alice.apps.example.com/";

fn coder<'a>(proxy: Option<&'a str>) -> UrlInputs<'a> {
    UrlInputs {
        coder: true,
        vscode_proxy_uri: proxy,
        agent_name: Some("main"),
        workspace_name: Some("ws"),
        owner_name: Some("alice"),
        ..Default::default()
    }
}

fn triple(urls: &PublicUrls) -> [&str; 3] {
    [&urls.api, &urls.site, &urls.dashboard]
}

#[test]
fn no_environment_gives_loopback() {
    let urls = derive(&UrlInputs::default()).unwrap();
    assert_eq!(
        triple(&urls),
        [
            "http://127.0.0.1:3210",
            "http://127.0.0.1:3211",
            "http://127.0.0.1:6791"
        ]
    );
    assert_eq!(urls.source, UrlSource::Local);
    assert!(urls.warnings.is_empty());
}

#[test]
fn coder_proxy_uri_vectors() {
    let cases = [
        (
            PROXY,
            [
                "https://convex-api--main--ws--alice.apps.example.com",
                "https://convex-site--main--ws--alice.apps.example.com",
                "https://convex-dashboard--main--ws--alice.apps.example.com",
            ],
        ),
        (
            "https://{{port}}--main--ws--alice-apps.example.com",
            [
                "https://convex-api--main--ws--alice-apps.example.com",
                "https://convex-site--main--ws--alice-apps.example.com",
                "https://convex-dashboard--main--ws--alice-apps.example.com",
            ],
        ),
        (
            "http://{{port}}--main--ws--alice.apps.example.com:8443/",
            [
                "http://convex-api--main--ws--alice.apps.example.com:8443",
                "http://convex-site--main--ws--alice.apps.example.com:8443",
                "http://convex-dashboard--main--ws--alice.apps.example.com:8443",
            ],
        ),
        (
            "https://{{port}}--main--ws--alice-apps.example.com:7443",
            [
                "https://convex-api--main--ws--alice-apps.example.com:7443",
                "https://convex-site--main--ws--alice-apps.example.com:7443",
                "https://convex-dashboard--main--ws--alice-apps.example.com:7443",
            ],
        ),
    ];
    for (proxy, want) in cases {
        let urls = derive(&coder(Some(proxy))).unwrap();
        assert_eq!(triple(&urls), want, "{proxy}");
        assert_eq!(urls.source, UrlSource::CoderProxyUri);
    }
}

#[test]
fn short_labels_drop_the_agent() {
    let inputs = UrlInputs {
        short_labels: true,
        ..coder(Some("https://{{port}}--main--ws--alice-apps.example.com"))
    };
    let urls = derive(&inputs).unwrap();
    assert_eq!(urls.api, "https://convex-api--ws--alice-apps.example.com");
    assert_eq!(
        urls.dashboard,
        "https://convex-dashboard--ws--alice-apps.example.com"
    );
}

#[test]
fn custom_slugs_are_used() {
    let inputs = UrlInputs {
        slugs: Slugs::new([Some("api"), None, Some("dash")]).unwrap(),
        ..coder(Some(PROXY))
    };
    let urls = derive(&inputs).unwrap();
    assert_eq!(
        triple(&urls),
        [
            "https://api--main--ws--alice.apps.example.com",
            "https://convex-site--main--ws--alice.apps.example.com",
            "https://dash--main--ws--alice.apps.example.com"
        ]
    );
    assert!(Slugs::new([Some("Bad_Slug"), None, None]).is_err());
    assert!(Slugs::new([Some("a--b"), None, None]).is_err());
    assert!(Slugs::new([Some("-a"), None, None]).is_err());
}

#[test]
fn long_label_fails_with_hint() {
    let inputs = UrlInputs {
        workspace_name: Some("a-long-workspace-name-for-label-checks"),
        ..coder(Some(
            "https://{{port}}--main--a-long-workspace-name-for-label-checks--alice.apps.example.com",
        ))
    };
    let err = derive(&inputs).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    // The api label is 63 characters, exactly the limit; the site label is one over.
    assert!(
        err.to_string()
            .contains("\"convex-site--main--a-long-workspace-name-for-label-checks--alice\"")
    );
    assert!(err.to_string().contains("is 64 characters"), "{err}");
    assert!(err.hint().unwrap().contains("CODER_CONVEX_SITE_SLUG"));
    assert!(err.hint().unwrap().contains("--short-labels"));
    let ok = UrlInputs {
        slugs: Slugs::new([None, Some("site"), Some("dash")]).unwrap(),
        ..inputs
    };
    assert!(derive(&ok).is_ok());
}

#[test]
fn manifest_is_used_without_proxy_env() {
    let manifest = Manifest {
        vscode_port_proxy_uri: "https://{{port}}--main--ws--alice.apps.example.com".into(),
        apps: vec![ManifestApp {
            slug: "convex-api".into(),
            subdomain_name: "convex-api--main--ws--alice".into(),
        }],
        agent_name: "main".into(),
        workspace_name: "ws".into(),
        owner_name: "alice".into(),
    };
    let inputs = UrlInputs {
        manifest: Some(&manifest),
        agent_name: None,
        workspace_name: None,
        owner_name: None,
        ..coder(None)
    };
    assert!(inputs.wants_manifest());
    let urls = derive(&inputs).unwrap();
    assert_eq!(urls.source, UrlSource::CoderManifest);
    assert_eq!(
        triple(&urls),
        [
            "https://convex-api--main--ws--alice.apps.example.com",
            "https://convex-site--main--ws--alice.apps.example.com",
            "https://convex-dashboard--main--ws--alice.apps.example.com"
        ]
    );
}

#[test]
fn coder_without_wildcard_never_guesses() {
    // A path-style or empty proxy URI is not a wildcard template.
    for proxy in [
        None,
        Some("https://coder.example.com/@alice/ws.main/apps/code"),
    ] {
        let urls = derive(&coder(proxy)).unwrap();
        assert_eq!(urls.source, UrlSource::CoderNoWildcard);
        assert_eq!(urls.api, "http://127.0.0.1:3210");
        assert_eq!(urls.warnings.len(), 1);
        assert!(urls.warnings[0].contains("CODER_WILDCARD_ACCESS_URL"));
        assert!(urls.warnings[0].contains("coder port-forward"));
    }
}

#[test]
fn explicit_override_of_one_keeps_the_others_derived() {
    let inputs = UrlInputs {
        explicit: [None, Some("https://hooks.example.com/"), None],
        ..coder(Some(PROXY))
    };
    let urls = derive(&inputs).unwrap();
    assert_eq!(urls.site, "https://hooks.example.com");
    assert_eq!(
        urls.api,
        "https://convex-api--main--ws--alice.apps.example.com"
    );
    assert_eq!(urls.source, UrlSource::CoderProxyUri);
    assert_eq!(urls.explicit, vec![App::Site]);

    let all = UrlInputs {
        explicit: [
            Some("https://api.example.com"),
            Some("https://example.com/http"),
            Some("https://dash.example.com/admin/"),
        ],
        ..Default::default()
    };
    let urls = derive(&all).unwrap();
    assert_eq!(urls.source, UrlSource::Explicit);
    assert_eq!(
        triple(&urls),
        [
            "https://api.example.com",
            "https://example.com/http",
            "https://dash.example.com/admin"
        ]
    );
}

#[test]
fn explicit_values_are_validated() {
    for (app, raw) in [
        (App::Api, "api.example.com"),
        (App::Api, "ftp://api.example.com"),
        (App::Api, "https://api.example.com/x"),
        (App::Api, "https://api.example.com?x=1"),
        (App::Site, "https://example.com/#frag"),
        (App::Site, "https://example.com/other"),
    ] {
        let err = validate_explicit(app, raw).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{raw}");
        assert!(err.to_string().contains(app.explicit_var()), "{err}");
    }
}

#[test]
fn codespaces_and_gitpod() {
    let cs = UrlInputs {
        codespace_name: Some("fluffy-space-abc123"),
        codespaces_domain: Some("app.github.dev"),
        ..Default::default()
    };
    let urls = derive(&cs).unwrap();
    assert_eq!(urls.source, UrlSource::Codespaces);
    assert_eq!(
        triple(&urls),
        [
            "https://fluffy-space-abc123-3210.app.github.dev",
            "https://fluffy-space-abc123-3211.app.github.dev",
            "https://fluffy-space-abc123-6791.app.github.dev"
        ]
    );
    let gp = UrlInputs {
        gitpod_workspace_url: Some("https://alice-repo-abc.ws-eu1.gitpod.io"),
        ..Default::default()
    };
    let urls = derive(&gp).unwrap();
    assert_eq!(urls.source, UrlSource::Gitpod);
    assert_eq!(urls.site, "https://3211-alice-repo-abc.ws-eu1.gitpod.io");
}

#[test]
fn code_server_template_is_not_coder() {
    let inputs = UrlInputs {
        vscode_proxy_uri: Some("https://{{port}}.code.example.com"),
        ..Default::default()
    };
    assert_eq!(derive(&inputs).unwrap().source, UrlSource::Local);
}
