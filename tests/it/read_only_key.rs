//! `admin-key --read-only`: the stand-in backend (which checks keys with the real algorithm and
//! enforces write access as upstream's `must_be_admin_with_write_access` does) accepts the key
//! for reads and refuses writes; an independent decode shows `is_read_only` (field 5) set.

use aes_gcm_siv::Aes128GcmSiv;
use aes_gcm_siv::aead::{Aead as _, KeyInit as _, Payload};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::fake_backend::FakeBackend;
use crate::project::{configured, fake_for, run_with};

/// Decrypt an admin key from first principles (DESIGN §5), without the library's code.
fn decode(key: &str, secret_hex: &str) -> Vec<u8> {
    let (name, blob_hex) = key.split_once('|').expect("name|hex");
    assert_eq!(name, "convex-self-hosted");
    let blob = hex::decode(blob_hex).expect("hex");
    assert_eq!(blob[0], 0x01, "version byte");
    let secret = hex::decode(secret_hex).expect("secret hex");
    let mut mac = <Hmac<Sha256>>::new_from_slice(&secret).expect("any key length");
    mac.update(&[0, 0, 0, 1]);
    mac.update(b"admin key");
    let aes_key = mac.finalize().into_bytes();
    let cipher = Aes128GcmSiv::new_from_slice(&aes_key[..16]).expect("16 bytes");
    let nonce: [u8; 12] = blob[1..13].try_into().expect("12-byte nonce");
    cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &blob[13..],
                aad: &[0x01],
            },
        )
        .expect("sealed with this secret")
}

/// (status, body) of one request with `Authorization: Convex <key>`.
fn call(method: &str, url: &str, key: &str, body: Option<&str>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = match method {
            "GET" => client.get(url),
            _ => client.post(url).header("content-type", "application/json"),
        };
        request = request.header("Authorization", format!("Convex {key}"));
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

#[test]
fn read_only_admin_key_reads_but_cannot_write() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    let report = run_with(&p, &["--json", "admin-key", "--read-only"], &fake, &[]).json();
    assert_eq!(report["read_only"], true);
    let key = report["admin_key"].as_str().unwrap().to_owned();

    // Field 2 issued_s (varint), field 3 member_id = 0, field 5 is_read_only = 1, in tag order.
    let payload = decode(&key, &p.env_values(".env.convex.local")["INSTANCE_SECRET"]);
    assert_eq!(payload[0], 0x10, "field 2, varint");
    assert_eq!(&payload[payload.len() - 4..], &[0x18, 0x00, 0x28, 0x01]);

    // Reads: accepted, and the backend says the key is read-only.
    let (status, body) = call(
        "GET",
        &format!("{}/api/check_admin_key", fake.api_url),
        &key,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"success": true, "isReadOnly": true})
    );
    let (status, _) = call(
        "GET",
        &format!("{}/api/v1/list_environment_variables", fake.api_url),
        &key,
        None,
    );
    assert_eq!(status, 200);
    run_with(&p, &["admin-key", "--read-only", "--check"], &fake, &[]).ok();

    // Writes: refused, and nothing changed.
    let (status, body) = call(
        "POST",
        &format!("{}/api/v1/update_environment_variables", fake.api_url),
        &key,
        Some(r#"{"changes":[{"name":"A","value":"1"}]}"#),
    );
    assert_eq!(status, 403);
    assert!(body.contains("ReadOnlyAdminKey"), "{body}");
    let (status, _) = call(
        "POST",
        &format!("{}/api/v1/update_canonical_url", fake.api_url),
        &key,
        Some(r#"{"requestDestination":"convexCloud","url":"https://x.example.com"}"#),
    );
    assert_eq!(status, 403);
    assert_eq!(fake.update_count(), 0);
    assert!(fake.recorded(|r| r.canonical_updates.is_empty()));

    // The full key still writes (the fake refuses read-only keys only).
    let full = run_with(&p, &["admin-key"], &fake, &[]).ok();
    let (status, _) = call(
        "POST",
        &format!("{}/api/v1/update_environment_variables", fake.api_url),
        full.trim(),
        Some(r#"{"changes":[{"name":"A","value":"1"}]}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(fake.env()["A"], "1");
}

#[test]
fn read_only_and_legacy_cannot_be_combined() {
    let (p, _) = configured();
    let run = p.run(&["admin-key", "--read-only", "--legacy"], &[]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(run.stderr().contains("--legacy"), "{}", run.stderr());
}
