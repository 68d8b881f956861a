//! Instance secret, admin keys (current and legacy formats) and the Convex Auth RSA key:
//! README "Files written in the project directory"; minting is local, so no
//! `docker exec … generate_admin_key.sh`.
//!
//! Pure but for the OS random source.

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

/// `BETTER_AUTH_SECRET`: 32 bytes from the OS CSPRNG in standard base64 (what
/// `openssl rand -base64 32` prints, as Better Auth's guides suggest); `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSecret(String);

impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSecret(****)")
    }
}

impl AuthSecret {
    /// Shorter secrets make Better Auth warn: it wants at least 32 characters.
    pub const MIN_LEN: usize = 32;

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// A secret given by the user or kept in the project: at least [`Self::MIN_LEN`] printable
    /// characters, no spaces or quotes.
    pub fn from_value(value: &str) -> Result<Self, String> {
        if value.len() < Self::MIN_LEN {
            return Err(format!(
                "is {} characters; Better Auth needs at least {}",
                value.len(),
                Self::MIN_LEN
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '\'' && c != '"')
        {
            return Err("holds spaces, quotes or non-ASCII characters".to_owned());
        }
        Ok(Self(value.to_owned()))
    }

    /// The secret itself; only for 0600 files, the deployment and `--reveal`.
    pub fn expose(&self) -> &str {
        &self.0
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

/// Mint a read-only admin key for member 0 now (current format, `is_read_only` set): the
/// backend accepts it for reads and refuses every write.
pub fn mint_read_only_admin_key(secret: &InstanceSecret, instance_name: &str) -> String {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    mint_admin_key_with(secret, instance_name, now_s(), 0, true, nonce)
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
    crate::clock::unix_now().max(1)
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
mod tests;
