//! Unit vectors for `secrets`.
use super::*;

const VECTOR_SECRET: &str = "4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974";

#[test]
fn design_test_vector() {
    let secret = InstanceSecret::from_hex(VECTOR_SECRET).unwrap();
    let key = mint_admin_key_with(
        &secret,
        "convex-self-hosted",
        1_700_000_000,
        0,
        false,
        [0; 12],
    );
    assert_eq!(
        key,
        "convex-self-hosted|01000000000000000000000000193c1d1d0ffdb38a78c50cfd2c3a4f7b118dbc819ff70f5f"
    );
    assert_eq!(key.split_once('|').unwrap().1.len(), 74);
    let claims = validate_admin_key(&key, &secret, "convex-self-hosted").unwrap();
    assert_eq!(
        claims,
        AdminKeyClaims {
            issued_s: 1_700_000_000,
            member_id: 0,
            read_only: false,
            legacy: false
        }
    );
}

#[test]
fn payload_encoding() {
    assert_eq!(encode_payload(1, 0, false), vec![0x10, 0x01, 0x18, 0x00]);
    assert_eq!(
        encode_payload(300, 7, true),
        vec![0x10, 0xac, 0x02, 0x18, 0x07, 0x28, 0x01]
    );
    assert_eq!(
        decode_payload(&encode_payload(300, 7, true)),
        Some(AdminKeyClaims {
            issued_s: 300,
            member_id: 7,
            read_only: true,
            legacy: false
        })
    );
}

#[test]
fn keys_round_trip_and_reject_strangers() {
    let secret = InstanceSecret::generate();
    let other = InstanceSecret::generate();
    for (key, legacy) in [
        (mint_admin_key(&secret, "app-one"), false),
        (mint_legacy_admin_key(&secret, "app-one"), true),
    ] {
        let claims = validate_admin_key(&key, &secret, "app-one").unwrap();
        assert_eq!(claims.legacy, legacy);
        assert!(claims.issued_s > 1_700_000_000);
        assert_eq!(
            validate_admin_key(&key, &secret, "app-two"),
            Err(AdminKeyError::OtherInstance("app-one".into()))
        );
        assert_eq!(
            validate_admin_key(&key, &other, "app-one"),
            Err(AdminKeyError::WrongSecret)
        );
    }
    // Renaming the prefix does not make a key valid for another instance's secret.
    let forged = mint_admin_key(&other, "app-one");
    assert_eq!(
        validate_admin_key(&forged, &secret, "app-one"),
        Err(AdminKeyError::WrongSecret)
    );
    assert_eq!(
        validate_admin_key("nonsense", &secret, "a"),
        Err(AdminKeyError::Malformed)
    );
    assert_eq!(
        validate_admin_key("a|zz", &secret, "a"),
        Err(AdminKeyError::Malformed)
    );
    let legacy = mint_legacy_admin_key_with(&secret, "a", 5, 0, [7; 24]);
    // version byte + 24-byte nonce + 16-byte tag + 4-byte payload
    assert_eq!(
        legacy.split_once('|').unwrap().1.len(),
        2 * (1 + 24 + 16 + 4)
    );
}

#[test]
fn secret_parsing() {
    assert!(InstanceSecret::from_hex(VECTOR_SECRET).is_ok());
    assert!(InstanceSecret::from_hex(&VECTOR_SECRET.to_uppercase()).is_ok());
    assert!(
        InstanceSecret::from_hex("abc")
            .unwrap_err()
            .contains("64 hex")
    );
    assert!(
        InstanceSecret::from_hex(&"g".repeat(64))
            .unwrap_err()
            .contains("hexadecimal")
    );
    let s = InstanceSecret::generate();
    assert_eq!(s.expose_hex().len(), 64);
    assert_eq!(InstanceSecret::from_hex(&s.expose_hex()).unwrap(), s);
    assert_ne!(InstanceSecret::generate(), s);
    assert_eq!(format!("{s:?}"), "InstanceSecret(****)");
}

#[test]
fn masking() {
    assert_eq!(
        mask_admin_key("convex-self-hosted|01abcdef"),
        "convex-self-hosted|01ab…"
    );
    assert_eq!(mask_admin_key("garbage"), "****");
}

#[test]
fn jwt_key_shapes() {
    let key = JwtKey::generate();
    assert!(
        key.expose_pem()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    let env = key.expose_env_value();
    assert!(env.starts_with("-----BEGIN PRIVATE KEY----- "));
    assert!(env.ends_with(" -----END PRIVATE KEY-----"));
    assert!(!env.contains('\n'));
    let jwks: serde_json::Value = serde_json::from_str(&key.jwks()).unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk.as_object().unwrap().len(), 4);
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kty"], "RSA");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256);
    assert_ne!(n[0], 0);
    let again = JwtKey::from_pem(key.expose_pem()).unwrap();
    assert_eq!(again.jwks(), key.jwks());
    assert_eq!(again.expose_pem(), key.expose_pem());
}

#[test]
fn jwt_key_rejections() {
    let pkcs1 = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    assert!(JwtKey::from_pem(pkcs1).unwrap_err().contains("PKCS#1"));
    assert!(
        JwtKey::from_pem("hello")
            .unwrap_err()
            .contains("not a PKCS#8")
    );
    let broken = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(
        JwtKey::from_pem(broken)
            .unwrap_err()
            .contains("not a valid RSA")
    );
    let small = RsaPrivateKey::new(&mut OsRng, 1024)
        .unwrap()
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    assert!(JwtKey::from_pem(&small).unwrap_err().contains("1024-bit"));
}
