//! A Convex project deploying with the real `convex` CLI (1.48, from `tests/node`) against
//! the fake backend's push protocol.

use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use coder_convex::config::secrets::InstanceSecret;

use crate::common::{Project, node_peers};
use crate::fake_backend::{FakeBackend, FakeConfig, PushConfig};
use crate::project::{configured, fake_for};

/// A Convex project using the real CLI: `package.json`, `convex` linked from `tests/node`,
/// one query in `<functions>/messages.ts`.
pub(crate) fn convex_project(functions: &str) -> (Project, InstanceSecret) {
    let (p, secret) = configured();
    let peers = node_peers();
    p.write("package.json", r#"{"dependencies":{"convex":"1.48.0"}}"#);
    fs_err::create_dir_all(p.file("node_modules/.bin")).unwrap();
    symlink(
        peers.join("node_modules/convex"),
        p.file("node_modules/convex"),
    )
    .unwrap();
    symlink("../convex/bin/main.js", p.file("node_modules/.bin/convex")).unwrap();
    fs_err::create_dir_all(p.file(functions)).unwrap();
    p.write(
        &format!("{functions}/messages.ts"),
        "import { query } from \"./_generated/server\";\nexport const list = query({ args: {}, handler: async () => \"hello\" });\n",
    );
    (p, secret)
}

/// The project of `convex_project` plus Convex Auth as its docs set it up.
pub(crate) fn convex_auth_project() -> (Project, InstanceSecret) {
    let (p, secret) = convex_project("convex");
    let peers = node_peers();
    p.write(
        "package.json",
        r#"{"dependencies":{"convex":"1.48.0","@convex-dev/auth":"0.0.95","@auth/core":"0.41.1"}}"#,
    );
    for package in ["@convex-dev/auth", "@auth/core"] {
        let (scope, _) = package.split_once('/').unwrap();
        fs_err::create_dir_all(p.file(&format!("node_modules/{scope}"))).unwrap();
        symlink(
            peers.join("node_modules").join(package),
            p.file(&format!("node_modules/{package}")),
        )
        .unwrap();
    }
    p.write(
        "convex/auth.ts",
        "import { convexAuth } from \"@convex-dev/auth/server\";\nimport { Password } from \"@convex-dev/auth/providers/Password\";\n\nexport const { auth, signIn, signOut, store, isAuthenticated } = convexAuth({\n  providers: [Password],\n});\n",
    );
    p.write(
        "convex/http.ts",
        "import { httpRouter } from \"convex/server\";\nimport { auth } from \"./auth\";\n\nconst http = httpRouter();\nauth.addHttpRoutes(http);\nexport default http;\n",
    );
    p.write(
        "convex/auth.config.ts",
        "export default {\n  providers: [{ domain: process.env.CONVEX_SITE_URL, applicationID: \"convex\" }],\n};\n",
    );
    p.write(
        "convex/schema.ts",
        "import { defineSchema } from \"convex/server\";\nimport { authTables } from \"@convex-dev/auth/server\";\n\nexport default defineSchema({ ...authTables });\n",
    );
    (p, secret)
}

pub(crate) fn fake_with(secret: &InstanceSecret, push: PushConfig) -> FakeBackend {
    let mut config: FakeConfig = fake_for(secret);
    config.push = push;
    FakeBackend::start(config)
}

/// The admin key coder-convex gives the CLI (from `.env.local`).
pub(crate) fn our_key(p: &Project) -> String {
    p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone()
}

/// Wait until a CLI's `start_push` reached the backend (it is in the push).
pub(crate) fn wait_for_start_push(fake: &FakeBackend, within: Duration) {
    let until = Instant::now() + within;
    while !fake
        .push_requests()
        .iter()
        .any(|r| r == "/api/deploy2/start_push")
    {
        assert!(Instant::now() < until, "the CLI never reached start_push");
        std::thread::sleep(Duration::from_millis(50));
    }
}
