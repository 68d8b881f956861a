//! `setup` on a Yarn Plug'n'Play project (Yarn 4 from `tests/registry`, `nodeLinker: pnp`: no
//! `node_modules`, a `.pnp.cjs`): the deploy runs `yarn convex deploy --yes`, and the real
//! `convex` CLI, installed by Yarn from a private registry on 127.0.0.1, completes the push
//! against the stand-in backend with our key.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::common::node_peers;
use crate::deploy::{fake_with, our_key};
use crate::fake_backend::PushConfig;
use crate::project::{configured, run_with};
use crate::registry::{Registry, npm_env, registry_tools, stderr_of};

/// The packages `convex` 1.48 needs on this machine, packed from `tests/node`.
const PACKAGES: [&str; 5] = ["convex", "esbuild", "@esbuild/linux-x64", "prettier", "ws"];

/// A registry with `PACKAGES` published: nothing else, and nothing from the internet.
fn seeded_registry(home: &Path) -> Registry {
    let registry = Registry::start();
    let modules = node_peers().join("node_modules");
    let packs = tempfile::tempdir().expect("temp dir");
    for package in PACKAGES {
        let out = npm_env(
            Command::new(crate::common::require("npm")),
            home,
            &registry.url(),
        )
        .args(["pack", "--ignore-scripts", "--silent", "--pack-destination"])
        .arg(packs.path())
        .arg(modules.join(package))
        .output()
        .expect("npm pack");
        assert!(
            out.status.success(),
            "npm pack {package}: {}",
            stderr_of(&out)
        );
    }
    let mut tarballs: Vec<_> = fs_err::read_dir(packs.path())
        .expect("read packs")
        .map(|e| e.expect("entry").path())
        .collect();
    tarballs.sort();
    assert_eq!(tarballs.len(), PACKAGES.len(), "{tarballs:?}");
    for tgz in &tarballs {
        registry.publish(tgz);
    }
    registry
}

/// `package.json` for Yarn 4 with `convex`, and `resolutions` for esbuild's other platforms.
///
/// esbuild lists one optional `@esbuild/<platform>` package per platform. Yarn resolves every
/// one of them (the lock file is the same on all platforms) even though it installs only this
/// machine's, so each must be known to the registry; ours has only `@esbuild/linux-x64`. The
/// other 25 are linked to an empty folder instead: resolved locally, never fetched, never
/// run (their `os`/`cpu` do not match this machine).
fn package_json() -> String {
    let esbuild = fs_err::read_to_string(node_peers().join("node_modules/esbuild/package.json"))
        .expect("read esbuild's package.json");
    let esbuild: serde_json::Value = serde_json::from_str(&esbuild).expect("JSON");
    let platforms = esbuild["optionalDependencies"]
        .as_object()
        .expect("esbuild's optionalDependencies");
    let resolutions: serde_json::Map<String, serde_json::Value> = platforms
        .keys()
        .filter(|name| !PACKAGES.contains(&name.as_str()))
        .map(|name| (name.clone(), "link:./absent-platform".into()))
        .collect();
    assert_eq!(resolutions.len(), 25, "{resolutions:?}");
    serde_json::json!({
        "name": "app",
        "private": true,
        "packageManager": "yarn@4.18.1",
        "dependencies": { "convex": "1.48.0" },
        "resolutions": resolutions,
    })
    .to_string()
}

#[test]
fn yarn_pnp_setup_deploys_through_yarn_convex_with_the_real_cli() {
    let (p, secret) = configured();
    let home = tempfile::tempdir().expect("temp dir");
    let registry = seeded_registry(home.path());

    p.write("package.json", &package_json());
    fs_err::create_dir_all(p.file("absent-platform")).unwrap();
    p.write(
        ".yarnrc.yml",
        &format!(
            "nodeLinker: pnp\n\
             npmRegistryServer: \"http://127.0.0.1:{port}\"\n\
             unsafeHttpWhitelist: [\"127.0.0.1\"]\n\
             enableTelemetry: false\n\
             enableGlobalCache: false\n\
             npmMinimalAgeGate: 0\n",
            port = registry.port
        ),
    );
    fs_err::create_dir_all(p.file("convex")).unwrap();
    p.write(
        "convex/messages.ts",
        "import { query } from \"./_generated/server\";\nexport const list = query({ args: {}, handler: async () => \"hello\" });\n",
    );

    // `yarn` on PATH: Yarn 4.18.1 from tests/registry, nothing global.
    let bin = tempfile::tempdir().expect("temp dir");
    symlink(
        registry_tools().join("node_modules/@yarnpkg/cli-dist/bin/yarn.js"),
        bin.path().join("yarn"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = Command::new("yarn")
        .arg("install")
        .env_clear()
        .env("PATH", &path)
        .env("HOME", home.path())
        .current_dir(p.path())
        .output()
        .expect("yarn install");
    assert!(out.status.success(), "yarn install: {}", stderr_of(&out));
    drop(registry);

    let fake = fake_with(&secret, PushConfig::default());
    let home = home.path().to_str().unwrap();
    let run = run_with(&p, &["setup"], &fake, &[("PATH", &path), ("HOME", home)]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stderr()
            .lines()
            .any(|l| l == "deploying: yarn convex deploy --yes"),
        "{}",
        run.stderr()
    );
    assert!(
        !p.file("node_modules").exists(),
        "Plug'n'Play: no node_modules"
    );
    assert!(p.file(".pnp.cjs").is_file());

    assert_eq!(fake.pushes(|r| r.completed), 1);
    let deployed = fake.pushes(|r| r.deployed.clone()).expect("a push");
    assert_eq!(
        deployed.modules.keys().collect::<Vec<_>>(),
        ["messages.js"],
        "{deployed:?}"
    );
    let key = our_key(&p);
    let body_keys = fake.pushes(|r| r.body_keys.clone());
    assert!(!body_keys.is_empty());
    assert_eq!(
        body_keys,
        vec![key; body_keys.len()],
        "every body carries our key"
    );
}
