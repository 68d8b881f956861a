//! `JWT_PRIVATE_KEY` and `JWKS` proven with the real `jose` library and node's crypto.

use coder_convex::config::secrets::JwtKey;

use crate::common::{Project, node_peers};

#[test]
fn jose_signs_with_the_key_and_verifies_with_the_jwks() {
    let peers = node_peers();
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    let pem = p.read("jwt_private_key.pem");
    let key = JwtKey::from_pem(&pem).unwrap();
    let out = std::process::Command::new(crate::common::require("node"))
        .arg(peers.join("jwt-check.mjs"))
        .current_dir(&peers)
        .env("JWT_PRIVATE_KEY", key.expose_env_value())
        .env("PEM", &pem)
        .env("JWKS", key.jwks())
        .env(
            "ISSUER",
            "https://convex-site--main--ws--alice.apps.example.com",
        )
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified_sub"], "user|session");
    assert_eq!(v["wrong_issuer_rejected"], true);
    let jwk = &v["jwks_key"];
    assert_eq!(jwk["n"], v["node_jwk"]["n"]);
    assert_eq!(jwk["e"], v["node_jwk"]["e"]);
    assert_eq!(jwk["kty"], v["node_jwk"]["kty"]);
    assert_eq!(
        key.jwks(),
        format!(
            r#"{{"keys":[{{"use":"sig","kty":"RSA","n":{},"e":"AQAB"}}]}}"#,
            v["node_jwk"]["n"]
        )
    );
}
