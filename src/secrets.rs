//! Instance secret, admin keys (current and legacy formats) and the Convex Auth RSA key:
//! DESIGN §5–§6. Minting is local, so no `docker exec … generate_admin_key.sh`.

use aes_gcm_siv::Aes128GcmSiv;
use aes_gcm_siv::aead::{Aead as _, KeyInit as _, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use rand::rngs::OsRng;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The first byte of every admin key blob: format version 1.
const VERSION: u8 = 0x01;
/// AAD of the current format: the version byte.
const AAD: [u8; 1] = [VERSION];

/// 32 secret bytes; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceSecret([u8; 32]);

impl std::fmt::Debug for InstanceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstanceSecret(****)")
    }
}

impl InstanceSecret {
    /// 32 bytes from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Exactly 64 hex characters (either case).
    pub fn from_hex(hex_str: &str) -> Result<Self, String> {
        let hex_str = hex_str.trim();
        if hex_str.len() != 64 {
            return Err(format!("must be 64 hex characters, got {}", hex_str.len()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_str, &mut bytes).map_err(|_| "must be hexadecimal".to_owned())?;
        Ok(Self(bytes))
    }

    /// The secret as 64 lower-case hex characters; only for 0600 files and `--reveal`.
    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn admin_key_aes_key(&self) -> [u8; 16] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&[0, 0, 0, 1]);
        mac.update(b"admin key");
        let digest = mac.finalize().into_bytes();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

/// What an admin key says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminKeyClaims {
    pub issued_s: u64,
    pub member_id: u64,
    pub read_only: bool,
    pub legacy: bool,
}

/// Why an admin key does not belong to this instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminKeyError {
    #[error("the key is not of the form `<instance name>|<hex>`")]
    Malformed,
    #[error("the key was minted for instance {0:?}")]
    OtherInstance(String),
    #[error("the key was not minted with this instance secret")]
    WrongSecret,
}

/// Mint an admin key for member 0 now, with a random nonce (current format).
pub fn mint_admin_key(secret: &InstanceSecret, instance_name: &str) -> String {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    mint_admin_key_with(secret, instance_name, now_s(), 0, false, nonce)
}

/// The current format with every input given (test vectors use this).
pub fn mint_admin_key_with(
    secret: &InstanceSecret,
    instance_name: &str,
    issued_s: u64,
    member_id: u64,
    read_only: bool,
    nonce: [u8; 12],
) -> String {
    let payload = encode_payload(issued_s, member_id, read_only);
    let cipher = Aes128GcmSiv::new_from_slice(&secret.admin_key_aes_key()).expect("16-byte key");
    let sealed = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &payload,
                aad: &AAD,
            },
        )
        .expect("AES-GCM-SIV sealing a short payload cannot fail");
    let mut blob = Vec::with_capacity(1 + nonce.len() + sealed.len());
    blob.push(VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    format!("{instance_name}|{}", hex::encode(blob))
}

/// Mint a legacy-format key (backends built before 2025-05-30): XSalsa20-Poly1305 secretbox
/// keyed by the raw secret, MAC before ciphertext.
pub fn mint_legacy_admin_key(secret: &InstanceSecret, instance_name: &str) -> String {
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    mint_legacy_admin_key_with(secret, instance_name, now_s(), 0, nonce)
}

pub fn mint_legacy_admin_key_with(
    secret: &InstanceSecret,
    instance_name: &str,
    issued_s: u64,
    member_id: u64,
    nonce: [u8; 24],
) -> String {
    use crypto_secretbox::aead::Aead as _;
    use crypto_secretbox::{KeyInit as _, XSalsa20Poly1305};
    let payload = encode_payload(issued_s, member_id, false);
    let cipher = XSalsa20Poly1305::new_from_slice(&secret.0).expect("32-byte key");
    let sealed = cipher
        .encrypt(&nonce.into(), payload.as_slice())
        .expect("secretbox sealing cannot fail");
    let mut blob = Vec::with_capacity(1 + nonce.len() + sealed.len());
    blob.push(VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    format!("{instance_name}|{}", hex::encode(blob))
}

/// Check that `key` was minted for `instance_name` with `secret` (either format).
pub fn validate_admin_key(
    key: &str,
    secret: &InstanceSecret,
    instance_name: &str,
) -> Result<AdminKeyClaims, AdminKeyError> {
    let (name, hex_part) = key.trim().split_once('|').ok_or(AdminKeyError::Malformed)?;
    let blob = hex::decode(hex_part).map_err(|_| AdminKeyError::Malformed)?;
    if blob.first() != Some(&VERSION) {
        return Err(AdminKeyError::Malformed);
    }
    if name != instance_name {
        return Err(AdminKeyError::OtherInstance(name.to_owned()));
    }
    let body = &blob[1..];
    let current = || -> Option<Vec<u8>> {
        let (nonce, sealed) = body.split_at_checked(12)?;
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let cipher = Aes128GcmSiv::new_from_slice(&secret.admin_key_aes_key()).ok()?;
        cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: sealed,
                    aad: &AAD,
                },
            )
            .ok()
    };
    let legacy = || -> Option<Vec<u8>> {
        use crypto_secretbox::aead::Aead as _;
        use crypto_secretbox::{KeyInit as _, XSalsa20Poly1305};
        let (nonce, sealed) = body.split_at_checked(24)?;
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let cipher = XSalsa20Poly1305::new_from_slice(&secret.0).ok()?;
        cipher.decrypt(&nonce.into(), sealed).ok()
    };
    let (payload, is_legacy) = match current() {
        Some(p) => (p, false),
        None => (legacy().ok_or(AdminKeyError::WrongSecret)?, true),
    };
    let mut claims = decode_payload(&payload).ok_or(AdminKeyError::Malformed)?;
    claims.legacy = is_legacy;
    Ok(claims)
}

/// `convex-self-hosted|01ab…`: enough to recognise a key, useless to an attacker.
pub fn mask_admin_key(key: &str) -> String {
    match key.split_once('|') {
        Some((name, hex_part)) => format!("{name}|{}…", hex_part.get(..4).unwrap_or("")),
        None => "****".to_owned(),
    }
}

/// `issued_s` must be non-zero.
fn now_s() -> u64 {
    crate::unix_now().max(1)
}

/// Protobuf `AdminKey`: field 2 issued_s, field 3 member_id (always), field 5 is_read_only
/// (only when true); field 1 (instance name) stays unset.
fn encode_payload(issued_s: u64, member_id: u64, read_only: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.push(2 << 3);
    put_varint(&mut out, issued_s.max(1));
    out.push(3 << 3);
    put_varint(&mut out, member_id);
    if read_only {
        out.push(5 << 3);
        put_varint(&mut out, 1);
    }
    out
}

fn decode_payload(mut bytes: &[u8]) -> Option<AdminKeyClaims> {
    let mut claims = AdminKeyClaims {
        issued_s: 0,
        member_id: 0,
        read_only: false,
        legacy: false,
    };
    while !bytes.is_empty() {
        let tag = get_varint(&mut bytes)?;
        match (tag >> 3, tag & 7) {
            (field, 0) => {
                let value = get_varint(&mut bytes)?;
                match field {
                    2 => claims.issued_s = value,
                    3 => claims.member_id = value,
                    5 => claims.read_only = value != 0,
                    _ => {}
                }
            }
            (_, 2) => {
                let len = usize::try_from(get_varint(&mut bytes)?).ok()?;
                bytes = bytes.get(len..)?;
            }
            _ => return None,
        }
    }
    (claims.issued_s != 0).then_some(claims)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The RSA key Convex Auth signs session JWTs with.
#[derive(Clone)]
pub struct JwtKey {
    pem: String,
    public: RsaPublicKey,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(****)")
    }
}

/// Smallest modulus we accept from an existing file.
pub const MIN_RSA_BITS: usize = 2048;

impl JwtKey {
    /// A new RSA-2048 key.
    pub fn generate() -> Self {
        let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA-2048 key generation");
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding of a fresh key")
            .to_string();
        Self {
            public: private.to_public_key(),
            pem,
        }
    }

    /// Parse a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as `jose` requires.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let trimmed = pem.trim();
        if trimmed.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            return Err("is a PKCS#1 key (BEGIN RSA PRIVATE KEY); Convex Auth needs PKCS#8 (BEGIN PRIVATE KEY)".into());
        }
        if !trimmed.starts_with("-----BEGIN PRIVATE KEY-----") {
            return Err("is not a PKCS#8 PEM private key (BEGIN PRIVATE KEY)".into());
        }
        let private = RsaPrivateKey::from_pkcs8_pem(trimmed)
            .map_err(|e| format!("is not a valid RSA private key: {e}"))?;
        if private.size() * 8 < MIN_RSA_BITS {
            return Err(format!(
                "is a {}-bit key; at least {MIN_RSA_BITS} bits are required",
                private.size() * 8
            ));
        }
        Ok(Self {
            public: private.to_public_key(),
            pem: format!("{trimmed}\n"),
        })
    }

    /// The PEM file contents.
    pub fn expose_pem(&self) -> &str {
        &self.pem
    }

    /// `JWT_PRIVATE_KEY`: trailing whitespace trimmed, each newline replaced by one space.
    pub fn expose_env_value(&self) -> String {
        self.pem.trim_end().replace('\n', " ")
    }

    /// `JWKS`: exactly `{"keys":[{"use":"sig","kty":"RSA","n":…,"e":…}]}`.
    pub fn jwks(&self) -> String {
        let n = URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be());
        format!(r#"{{"keys":[{{"use":"sig","kty":"RSA","n":"{n}","e":"{e}"}}]}}"#)
    }
}

#[cfg(test)]
mod tests {
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
}
