//! Secrets at rest: personal fields sealed with rotatable keys, blind indexes for lookups, and
//! dashboard password hashes.
//!
//! **Personal fields** (a person's email and phone) are stored sealed, never in clear. A
//! [`Keyring`] holds AES-256-GCM keys parsed from one config string
//! (`SIQ_ENCRYPTION_KEYS="k2:BASE64,k1:BASE64"`): the first key seals, every listed key opens.
//! A sealed value describes itself, `enc1:{kid}:{base64url(nonce || ciphertext || tag)}`, so
//! after a rotation old and new values live side by side and [`Keyring::reseal`] moves the old
//! ones to the active key. Each value is bound to its place by associated data (for example
//! `tenant/persons.email/row-id`): a ciphertext copied into another row or column does not open.
//!
//! **Lookups by email** cannot decrypt every row, and sealing is randomised (a fresh 96-bit
//! nonce per value), so equal emails give different ciphertexts. [`Keyring::blind_index`] gives
//! a deterministic HMAC-SHA256 of the normalised value under a separate index key
//! (`SIQ_INDEX_KEY`), which the store keeps next to the sealed value and queries by equality.
//! The index key is separate from the sealing keys so that rotating or retiring a sealing key,
//! even a compromised one, never changes an index.
//!
//! **Passwords** of dashboard users are hashed with argon2id ([`hash_password`]) at the argon2
//! crate's recommended parameters and checked with [`verify_password`]. Secret API keys are not
//! handled here: they are high-entropy random strings, so [`crate::identity::tokens::hash_key`] (SHA-256)
//! is enough and allows lookup by hash; see `docs/security.md`.

use crate::records::SealedColumn;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every sealed value; the digit is the format version.
pub const SEALED_PREFIX: &str = "enc1:";
/// Length of a key, bytes (AES-256; also the blind index key).
pub const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce, bytes (96 bits, drawn from the OS RNG for every value).
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag, bytes.
pub const TAG_LEN: usize = 16;
/// Longest key id accepted in the config string.
pub const MAX_KEY_ID_LEN: usize = 32;
/// Most keys one keyring may hold (rotation needs two; more means old keys were never retired).
pub const MAX_KEYS: usize = 16;
/// Key id of the development keyring from [`Keyring::derived`].
pub const DERIVED_KEY_ID: &str = "dev";
/// Environment variable holding the sealing keys, newest (active) first.
pub const ENV_ENCRYPTION_KEYS: &str = "SIQ_ENCRYPTION_KEYS";
/// Environment variable holding the blind index key (base64 of 32 bytes).
pub const ENV_INDEX_KEY: &str = "SIQ_INDEX_KEY";

/// Fewest characters (Unicode scalar values) a dashboard password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Most bytes a dashboard password may have (UTF-8).
pub const MAX_PASSWORD_BYTES: usize = 256;
/// argon2id memory cost, KiB (the argon2 crate's default, OWASP's first recommendation: 19 MiB).
pub const ARGON2_M_COST_KIB: u32 = 19 * 1024;
/// argon2id iterations (the argon2 crate's default).
pub const ARGON2_T_COST: u32 = 2;
/// argon2id lanes (the argon2 crate's default).
pub const ARGON2_P_COST: u32 = 1;

/// Salt of the HKDF extraction in [`Keyring::derived`].
const DERIVE_SALT: &[u8] = b"sentientiq keyring v1";

/// Why a keyring config string (or index key) was refused. No variant carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// The key list is empty or only whitespace.
    #[error("no encryption keys configured: expected `id:BASE64,...` with the active key first")]
    Empty,
    /// An entry between commas is empty (for example a trailing comma).
    #[error("encryption key entry {position} is empty (stray comma?)")]
    EmptyEntry {
        /// 1-based position of the entry in the list.
        position: usize,
    },
    /// An entry has no `:` between id and key.
    #[error("encryption key entry {position} is not `id:BASE64`")]
    MissingSeparator {
        /// 1-based position of the entry in the list.
        position: usize,
    },
    /// A key id is empty, too long, or has characters outside `A-Z a-z 0-9 _ -`.
    #[error("bad key id {id:?}: use 1 to {MAX_KEY_ID_LEN} characters from A-Z a-z 0-9 _ -")]
    BadId {
        /// The id as written.
        id: String,
    },
    /// The same id appears twice.
    #[error("key id {id:?} appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A key is not standard (padded) base64.
    #[error("key {id:?} is not valid base64 (standard alphabet, padded)")]
    BadBase64 {
        /// The key's id.
        id: String,
    },
    /// A key does not decode to 32 bytes.
    #[error("key {id:?} decodes to {len} bytes, expected {KEY_LEN}")]
    WrongLength {
        /// The key's id.
        id: String,
        /// Decoded length, bytes.
        len: usize,
    },
    /// More than [`MAX_KEYS`] keys.
    #[error("{count} encryption keys configured, at most {MAX_KEYS}: retire old keys after re-sealing")]
    TooMany {
        /// How many were listed.
        count: usize,
    },
    /// The index key is not standard (padded) base64.
    #[error("{ENV_INDEX_KEY} is not valid base64 (standard alphabet, padded)")]
    IndexKeyBase64,
    /// The index key does not decode to 32 bytes.
    #[error("{ENV_INDEX_KEY} decodes to {len} bytes, expected {KEY_LEN}")]
    IndexKeyLength {
        /// Decoded length, bytes.
        len: usize,
    },
    /// The index key equals one of the sealing keys (one key must not serve two algorithms).
    #[error("{ENV_INDEX_KEY} equals encryption key {id:?}: generate a separate index key")]
    IndexKeyReused {
        /// The sealing key it equals.
        id: String,
    },
}

/// Why a sealed value did not open, or a password was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// The value does not start with [`SEALED_PREFIX`]: it is not a sealed value (plaintext?).
    #[error("value is not sealed (no `{SEALED_PREFIX}` prefix)")]
    NotSealed,
    /// The value has the prefix but not the `kid:body` shape, or the body is not base64url or too
    /// short to hold a nonce and a tag.
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    /// The value was sealed with a key id that is not in the keyring.
    #[error("sealed with key {kid:?}, which is not configured: add it to {ENV_ENCRYPTION_KEYS}")]
    UnknownKey {
        /// The key id the value names.
        kid: String,
    },
    /// Authentication failed: the value was altered, or it belongs to another place (other
    /// associated data), or the key under that id is not the one it was sealed with.
    #[error("sealed value failed authentication (tampered, moved, or wrong key for {kid:?})")]
    Tampered {
        /// The key id the value names.
        kid: String,
    },
    /// The value opened but the plaintext is not UTF-8 (it was not sealed by [`Keyring::seal`]).
    #[error("sealed value is not UTF-8 text")]
    NotUtf8,
    /// A new password is shorter than [`MIN_PASSWORD_CHARS`].
    #[error("password too short: at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    /// A new password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("password too long: at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    /// The hashing library failed (not expected with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// One sealing key and its id.
#[derive(Clone)]
struct SealingKey {
    id: String,
    bytes: [u8; KEY_LEN],
    cipher: Aes256Gcm,
}

/// AES-256-GCM sealing keys (the first is active) and the blind index key.
///
/// `Debug` prints key ids only.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<SealingKey>,
    index_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("key_ids", &self.key_ids()).field("index_key", &"<redacted>").finish()
    }
}

fn valid_kid(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_KEY_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn random_key() -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    OsRng.fill_bytes(&mut k);
    k
}

/// Splits `enc1:{kid}:{body}` into `(kid, body)`.
fn split_sealed(sealed: &str) -> Result<(&str, &str), SecretError> {
    let rest = sealed.strip_prefix(SEALED_PREFIX).ok_or(SecretError::NotSealed)?;
    let (kid, body) = rest.split_once(':').ok_or(SecretError::Malformed("missing `:` after the key id"))?;
    if !valid_kid(kid) {
        return Err(SecretError::Malformed("bad key id"));
    }
    Ok((kid, body))
}

/// The associated data actually authenticated: format, key id and the caller's place. The key
/// id cannot contain `:`, so the concatenation is unambiguous.
fn full_aad(kid: &str, aad: &str) -> Vec<u8> {
    format!("{SEALED_PREFIX}{kid}:{aad}").into_bytes()
}

/// True when `value` has the sealed form's prefix (use it to tell legacy plaintext from sealed
/// values while migrating).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// An email as compared for lookups: surrounding whitespace removed, lowercased. Provider rules
/// (dots or `+tags` in Gmail addresses) are not applied: they are not universal.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A phone number as compared for lookups: its ASCII digits only (`+1 (555) 010-0199` →
/// `15550100199`). No country inference: `020 7946 0000` and `+44 20 7946 0000` differ.
pub fn normalize_phone(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// The associated data a sealed field is bound to: tenant, table, column and row, so a value
/// copied to another row, column or tenant does not open.
pub fn field_aad(column: SealedColumn, tenant: &str, row: &str) -> String {
    let (table, _, col) = column.sql();
    format!("{tenant}/{table}/{col}/{row}")
}

/// A sealed personal field: seals and opens values of one column, bound to their tenant and
/// row. The one way personal fields are sealed and opened.
impl Keyring {
    /// Seals `value` for `column` of `row` in `tenant`.
    pub fn seal_field(&self, column: SealedColumn, tenant: &str, row: &str, value: &str) -> String {
        self.seal(value, &field_aad(column, tenant, row))
    }

    /// Opens a sealed value of `column` of `row` in `tenant`.
    pub fn open_field(&self, column: SealedColumn, tenant: &str, row: &str, sealed: &str) -> Result<String, SecretError> {
        self.open(sealed, &field_aad(column, tenant, row))
    }

    /// Opens a stored value that may predate sealing (plain text is returned as it is). A value
    /// that does not open is logged with the tenant and read as empty.
    pub fn open_stored(&self, column: SealedColumn, tenant: &str, row: &str, stored: &str) -> String {
        if !is_sealed(stored) {
            return stored.to_string();
        }
        self.open_field(column, tenant, row, stored).unwrap_or_else(|e| {
            let (table, _, col) = column.sql();
            tracing::error!(tenant, table, column = col, row, error = %e, "a sealed field could not be opened");
            String::new()
        })
    }
}

impl Keyring {
    /// Parses the sealing keys (`id:BASE64,id:BASE64`, active first; spaces around entries are
    /// ignored) and the blind index key (`BASE64`), both standard padded base64 of 32 bytes.
    pub fn parse(keys: &str, index_key: &str) -> Result<Keyring, KeyringError> {
        if keys.trim().is_empty() {
            return Err(KeyringError::Empty);
        }
        let entries: Vec<&str> = keys.split(',').map(str::trim).collect();
        if entries.len() > MAX_KEYS {
            return Err(KeyringError::TooMany { count: entries.len() });
        }
        let mut parsed: Vec<SealingKey> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let position = i + 1;
            if entry.is_empty() {
                return Err(KeyringError::EmptyEntry { position });
            }
            let (id, b64) = entry.split_once(':').ok_or(KeyringError::MissingSeparator { position })?;
            let (id, b64) = (id.trim(), b64.trim());
            if !valid_kid(id) {
                return Err(KeyringError::BadId { id: id.to_string() });
            }
            if parsed.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateId { id: id.to_string() });
            }
            let raw = STANDARD.decode(b64).map_err(|_| KeyringError::BadBase64 { id: id.to_string() })?;
            let bytes: [u8; KEY_LEN] =
                raw.as_slice().try_into().map_err(|_| KeyringError::WrongLength { id: id.to_string(), len: raw.len() })?;
            parsed.push(SealingKey { id: id.to_string(), bytes, cipher: Aes256Gcm::new(&bytes.into()) });
        }
        let raw = STANDARD.decode(index_key.trim()).map_err(|_| KeyringError::IndexKeyBase64)?;
        let index_key: [u8; KEY_LEN] = raw.as_slice().try_into().map_err(|_| KeyringError::IndexKeyLength { len: raw.len() })?;
        if let Some(k) = parsed.iter().find(|k| k.bytes == index_key) {
            return Err(KeyringError::IndexKeyReused { id: k.id.clone() });
        }
        Ok(Keyring { keys: parsed, index_key })
    }

    /// The development keyring: one sealing key (id [`DERIVED_KEY_ID`]) and the index key, both
    /// derived with HKDF-SHA256 from `secret` (the server's link secret), separated by `label`.
    /// Deterministic for a given `(label, secret)`; **not for production**: whoever has the link
    /// secret can open every sealed value, and values sealed with it are lost if it changes.
    pub fn derived(label: &str, secret: &[u8]) -> Keyring {
        let hk = Hkdf::<Sha256>::new(Some(DERIVE_SALT), secret);
        let mut seal = [0u8; KEY_LEN];
        let mut index = [0u8; KEY_LEN];
        hk.expand(format!("seal|{label}").as_bytes(), &mut seal).expect("32 bytes is a valid HKDF-SHA256 output length");
        hk.expand(format!("index|{label}").as_bytes(), &mut index).expect("32 bytes is a valid HKDF-SHA256 output length");
        Keyring {
            keys: vec![SealingKey { id: DERIVED_KEY_ID.to_string(), bytes: seal, cipher: Aes256Gcm::new(&seal.into()) }],
            index_key: index,
        }
    }

    /// A new sealing key entry for [`ENV_ENCRYPTION_KEYS`]: `k{8 hex}:{base64 of 32 random bytes}`
    /// from the OS RNG. Put it first in the list to make it active.
    pub fn generate_key() -> String {
        let mut id = [0u8; 4];
        OsRng.fill_bytes(&mut id);
        format!("k{}:{}", hex::encode(id), STANDARD.encode(random_key()))
    }

    /// A new blind index key for [`ENV_INDEX_KEY`]: base64 of 32 random bytes from the OS RNG.
    pub fn generate_index_key() -> String {
        STANDARD.encode(random_key())
    }

    /// Id of the active (sealing) key.
    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Ids of all keys, active first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seals `plaintext` with the active key and a fresh random nonce, bound to `aad` (the
    /// value's place, e.g. `tenant/persons.email/row-id`; the same `aad` is needed to open it).
    pub fn seal(&self, plaintext: &str, aad: &str) -> String {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = full_aad(&key.id, aad);
        let ct = key
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: &aad })
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut body = Vec::with_capacity(NONCE_LEN + ct.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}:{}", key.id, URL_SAFE_NO_PAD.encode(body))
    }

    /// Opens a value sealed by [`Keyring::seal`] with any key of the ring, checking that it was
    /// sealed for `aad` and not altered.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<String, SecretError> {
        let (kid, body) = split_sealed(sealed)?;
        let key = self.keys.iter().find(|k| k.id == kid).ok_or_else(|| SecretError::UnknownKey { kid: kid.to_string() })?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretError::Malformed("body is not base64url"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed("body shorter than nonce and tag"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let aad = full_aad(kid, aad);
        let pt = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| SecretError::Tampered { kid: kid.to_string() })?;
        String::from_utf8(pt).map_err(|_| SecretError::NotUtf8)
    }

    /// True when `sealed` names the active key (a rotation has nothing to do for it). Does not
    /// authenticate the value.
    pub fn is_current(&self, sealed: &str) -> bool {
        split_sealed(sealed).is_ok_and(|(kid, _)| kid == self.active_id())
    }

    /// For rotation: `None` when `sealed` already names the active key, otherwise the value
    /// opened with its old key and sealed again with the active one for the same `aad`.
    pub fn reseal(&self, sealed: &str, aad: &str) -> Result<Option<String>, SecretError> {
        let (kid, _) = split_sealed(sealed)?;
        if kid == self.active_id() {
            return Ok(None);
        }
        let plain = self.open(sealed, aad)?;
        Ok(Some(self.seal(&plain, aad)))
    }

    /// Deterministic lookup token for a personal field: HMAC-SHA256 (hex, 64 characters) under
    /// the index key of `kind` and the normalised value. `kind` `"email"` uses
    /// [`normalize_email`], `"phone"` [`normalize_phone`]; any other kind uses the value trimmed.
    /// The kind is part of the MAC, so an email and a phone never share an index. Unchanged by
    /// rotating sealing keys.
    pub fn blind_index(&self, kind: &str, value: &str) -> String {
        let normal = match kind {
            "email" => normalize_email(value),
            "phone" => normalize_phone(value),
            _ => value.trim().to_string(),
        };
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.index_key).expect("HMAC takes any key length");
        m.update(b"siq-blind-index-v1\0");
        m.update(kind.as_bytes());
        m.update(b"\0");
        m.update(normal.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }
}

/// The argon2id hasher at the named parameters.
fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None).expect("the named argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new dashboard password: argon2id, random 16-byte salt from the OS RNG, PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`). Refuses passwords shorter than
/// [`MIN_PASSWORD_CHARS`] characters or longer than [`MAX_PASSWORD_BYTES`] bytes.
pub fn hash_password(pw: &str) -> Result<String, SecretError> {
    check_password(pw)?;
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(pw.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| SecretError::Hash(e.to_string()))
}

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`] characters or longer than
/// [`MAX_PASSWORD_BYTES`] bytes (what [`hash_password`] checks first, without hashing).
pub fn check_password(pw: &str) -> Result<(), SecretError> {
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(SecretError::PasswordTooLong);
    }
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(SecretError::PasswordTooShort);
    }
    Ok(())
}

/// True when `pw` matches the PHC string `phc` (comparison in constant time by the argon2
/// crate, with the parameters recorded in `phc`). False for a malformed `phc` and for a `pw`
/// longer than [`MAX_PASSWORD_BYTES`] (refused before any hashing work).
pub fn verify_password(pw: &str, phc: &str) -> bool {
    if pw.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    argon2().verify_password(pw.as_bytes(), &parsed).is_ok()
}

/// True when `phc` was not made with the current algorithm and parameters (or does not parse):
/// after a successful login, hash the password again and store the new string.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return true };
    let current = parsed.algorithm.as_str() == "argon2id" && parsed.version == Some(Version::V0x13.into());
    let params = Params::try_from(&parsed);
    !(current && params.is_ok_and(|p| p.m_cost() == ARGON2_M_COST_KIB && p.t_cost() == ARGON2_T_COST && p.p_cost() == ARGON2_P_COST))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed test keys (never generated, so failures reproduce).
    fn k(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn ring(spec: &[(&str, u8)]) -> Keyring {
        let keys: Vec<String> = spec.iter().map(|(id, b)| format!("{id}:{}", k(*b))).collect();
        Keyring::parse(&keys.join(","), &k(0xEE)).unwrap()
    }

    const AAD: &str = "acme/persons.email/p-1";

    #[test]
    fn seal_and_open_round_trip_with_self_describing_form() {
        let r = ring(&[("k1", 1)]);
        let s = r.seal("ada@example.com", AAD);
        assert!(s.starts_with("enc1:k1:"), "{s}");
        assert!(!s.contains("ada"), "no plaintext in the sealed form");
        let body = s.rsplit(':').next().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), NONCE_LEN + "ada@example.com".len() + TAG_LEN);
        assert_eq!(r.open(&s, AAD).unwrap(), "ada@example.com");
        assert_eq!(r.open(&r.seal("", AAD), AAD).unwrap(), "", "empty values round-trip");
        assert_eq!(r.open(&r.seal("Zoë ☎", AAD), AAD).unwrap(), "Zoë ☎");
    }

    #[test]
    fn a_value_moved_to_another_place_does_not_open() {
        let r = ring(&[("k1", 1)]);
        let s = r.seal("ada@example.com", AAD);
        assert_eq!(r.open(&s, "acme/persons.email/p-2"), Err(SecretError::Tampered { kid: "k1".into() }));
        assert_eq!(r.open(&s, "other/persons.email/p-1"), Err(SecretError::Tampered { kid: "k1".into() }));
        assert!(r.open(&s, "acme/persons.phone/p-1").is_err());
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let r = ring(&[("k1", 1)]);
        let s = r.seal("+1 555 0100", AAD);
        let (head, body) = s.rsplit_once(':').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            let forged = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&t));
            assert_eq!(r.open(&forged, AAD), Err(SecretError::Tampered { kid: "k1".into() }), "byte {i}");
        }
        let truncated = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1]));
        assert!(r.open(&truncated, AAD).is_err());
        let short = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&raw[..NONCE_LEN + TAG_LEN - 1]));
        assert!(matches!(r.open(&short, AAD), Err(SecretError::Malformed(_))));
    }

    #[test]
    fn a_key_id_swapped_for_another_configured_key_fails() {
        let r = ring(&[("k2", 2), ("k1", 1)]);
        let s = r.seal("x", AAD).replacen("enc1:k2:", "enc1:k1:", 1);
        assert_eq!(r.open(&s, AAD), Err(SecretError::Tampered { kid: "k1".into() }));
    }

    #[test]
    fn unknown_key_id_is_named_and_non_sealed_values_are_refused() {
        let old = ring(&[("k0", 9)]);
        let r = ring(&[("k1", 1)]);
        let err = r.open(&old.seal("x", AAD), AAD).unwrap_err();
        assert_eq!(err, SecretError::UnknownKey { kid: "k0".into() });
        assert!(err.to_string().contains("\"k0\""), "{err}");
        assert_eq!(r.open("ada@example.com", AAD), Err(SecretError::NotSealed));
        assert_eq!(r.open("enc2:k1:AAAA", AAD), Err(SecretError::NotSealed));
        assert!(matches!(r.open("enc1:k1", AAD), Err(SecretError::Malformed(_))));
        assert!(matches!(r.open("enc1:k1:not*base64", AAD), Err(SecretError::Malformed(_))));
        assert!(matches!(r.open("enc1:k 1:AAAA", AAD), Err(SecretError::Malformed(_))));
        assert!(!is_sealed("ada@example.com") && is_sealed(&r.seal("x", AAD)));
    }

    #[test]
    fn rotation_opens_old_values_and_reseals_them_to_the_new_key() {
        let before = ring(&[("k1", 1)]);
        let old = before.seal("ada@example.com", AAD);
        let during = ring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(during.active_id(), "k2");
        assert_eq!(during.key_ids(), ["k2", "k1"]);
        assert_eq!(during.open(&old, AAD).unwrap(), "ada@example.com");
        assert!(!during.is_current(&old));
        let new = during.reseal(&old, AAD).unwrap().expect("a k1 value is resealed");
        assert!(new.starts_with("enc1:k2:") && during.is_current(&new));
        assert_eq!(during.reseal(&new, AAD).unwrap(), None, "already current");
        let after = ring(&[("k2", 2)]);
        assert_eq!(after.open(&new, AAD).unwrap(), "ada@example.com");
        assert_eq!(after.open(&old, AAD), Err(SecretError::UnknownKey { kid: "k1".into() }), "k1 retired");
        assert_eq!(during.reseal(&old, "acme/persons.email/p-2"), Err(SecretError::Tampered { kid: "k1".into() }));
        assert_eq!(during.reseal("plain", AAD), Err(SecretError::NotSealed));
        assert!(!during.is_current("plain"));
    }

    #[test]
    fn nonces_differ_for_the_same_plaintext() {
        let r = ring(&[("k1", 1)]);
        let sealed: std::collections::HashSet<String> = (0..64).map(|_| r.seal("same", AAD)).collect();
        assert_eq!(sealed.len(), 64);
        let nonces: std::collections::HashSet<Vec<u8>> =
            sealed.iter().map(|s| URL_SAFE_NO_PAD.decode(s.rsplit(':').next().unwrap()).unwrap()[..NONCE_LEN].to_vec()).collect();
        assert_eq!(nonces.len(), 64);
    }

    #[test]
    fn parse_errors_are_specific() {
        let idx = k(0xEE);
        let e = |keys: &str| Keyring::parse(keys, &idx).unwrap_err();
        assert_eq!(e(""), KeyringError::Empty);
        assert_eq!(e("  "), KeyringError::Empty);
        assert_eq!(e(&format!("k1:{},", k(1))), KeyringError::EmptyEntry { position: 2 });
        assert_eq!(e(&k(1)), KeyringError::MissingSeparator { position: 1 });
        assert_eq!(e(&format!(":{}", k(1))), KeyringError::BadId { id: "".into() });
        assert_eq!(e(&format!("k/1:{}", k(1))), KeyringError::BadId { id: "k/1".into() });
        let long = "k".repeat(MAX_KEY_ID_LEN + 1);
        assert_eq!(e(&format!("{long}:{}", k(1))), KeyringError::BadId { id: long.clone() });
        assert!(Keyring::parse(&format!("{}:{}", &long[1..], k(1)), &idx).is_ok(), "longest id accepted");
        assert_eq!(e(&format!("k1:{},k1:{}", k(1), k(2))), KeyringError::DuplicateId { id: "k1".into() });
        assert_eq!(e("k1:not base64!"), KeyringError::BadBase64 { id: "k1".into() });
        assert_eq!(e(&format!("k1:{}", STANDARD.encode([1u8; 16]))), KeyringError::WrongLength { id: "k1".into(), len: 16 });
        assert_eq!(e(&format!("k1:{}", STANDARD.encode([1u8; 33]))), KeyringError::WrongLength { id: "k1".into(), len: 33 });
        let many = |n: usize| (0..n).map(|i| format!("k{i}:{}", k(i as u8 + 1))).collect::<Vec<_>>().join(",");
        assert!(Keyring::parse(&many(MAX_KEYS), &idx).is_ok());
        assert_eq!(e(&many(MAX_KEYS + 1)), KeyringError::TooMany { count: MAX_KEYS + 1 });
        let keys = format!(" k2:{} , k1:{} ", k(2), k(1));
        assert_eq!(Keyring::parse(&keys, &idx).unwrap().key_ids(), ["k2", "k1"], "spaces tolerated");
        assert_eq!(Keyring::parse(&keys, "nope!").unwrap_err(), KeyringError::IndexKeyBase64);
        assert_eq!(Keyring::parse(&keys, &STANDARD.encode([7u8; 31])).unwrap_err(), KeyringError::IndexKeyLength { len: 31 });
        assert_eq!(Keyring::parse(&keys, &k(1)).unwrap_err(), KeyringError::IndexKeyReused { id: "k1".into() });
        let msg = e(&format!("k1:{}", STANDARD.encode([1u8; 16]))).to_string();
        assert!(!msg.contains(&STANDARD.encode([1u8; 16])), "errors carry no key material: {msg}");
    }

    #[test]
    fn generated_entries_parse_and_differ() {
        let (a, b) = (Keyring::generate_key(), Keyring::generate_key());
        assert_ne!(a, b);
        let r = Keyring::parse(&format!("{a},{b}"), &Keyring::generate_index_key()).unwrap();
        let id = a.split_once(':').unwrap().0;
        assert_eq!(r.active_id(), id);
        assert!(id.starts_with('k') && id.len() == 9);
        assert_eq!(r.open(&r.seal("v", AAD), AAD).unwrap(), "v");
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let r = ring(&[("k1", 1)]);
        let d = format!("{r:?}");
        assert!(d.contains("k1") && !d.contains(&k(1)) && !d.contains(&k(0xEE)) && !d.contains("[1, 1"), "{d}");
    }

    #[test]
    fn derived_keyring_is_deterministic_per_secret_and_label() {
        let a = Keyring::derived("personal", b"link-secret");
        let s = a.seal("ada@example.com", AAD);
        assert!(s.starts_with("enc1:dev:"));
        assert_eq!(Keyring::derived("personal", b"link-secret").open(&s, AAD).unwrap(), "ada@example.com", "survives a restart");
        assert!(Keyring::derived("personal", b"other-secret").open(&s, AAD).is_err());
        assert!(Keyring::derived("other-label", b"link-secret").open(&s, AAD).is_err());
        assert_ne!(a.keys[0].bytes, a.index_key, "sealing and index keys are separate");
        assert_eq!(a.blind_index("email", "a@b.com"), Keyring::derived("personal", b"link-secret").blind_index("email", "a@b.com"));
    }

    #[test]
    fn blind_index_is_normalised_and_stable_across_rotation() {
        let before = ring(&[("k1", 1)]);
        let during = ring(&[("k2", 2), ("k1", 1)]);
        let after = ring(&[("k3", 3)]);
        let i = before.blind_index("email", "a@b.com");
        assert_eq!(i.len(), 64);
        assert_eq!(during.blind_index("email", "a@b.com"), i);
        assert_eq!(after.blind_index("email", "a@b.com"), i, "even with every sealing key replaced");
        assert_eq!(before.blind_index("email", " A@B.com "), i);
        assert_ne!(before.blind_index("email", "a@c.com"), i);
        assert_ne!(before.blind_index("phone", "a@b.com"), before.blind_index("email", "a@b.com"), "kinds are separated");
        assert_eq!(before.blind_index("phone", "+1 (555) 010-0199"), before.blind_index("phone", "15550100199"));
        let other_index = Keyring::parse(&format!("k1:{}", k(1)), &k(0xDD)).unwrap();
        assert_ne!(other_index.blind_index("email", "a@b.com"), i, "depends on the index key");
        assert_eq!(normalize_email("  Ada.Lovelace@Example.COM\n"), "ada.lovelace@example.com");
        assert_eq!(normalize_phone("+44 (0)20-7946 0000"), "4402079460000");
        assert_eq!(normalize_phone("no digits"), "");
    }

    #[test]
    fn blind_index_and_derivation_match_golden_vectors() {
        // Stored indexes must keep matching across releases, and development data sealed under
        // the derived ring must keep opening: pin both formats with values computed
        // independently (HMAC-SHA256 and RFC 5869 HKDF-SHA256 from Python's standard library).
        // Index key 32 × 0xEE, message "siq-blind-index-v1\0email\0a@b.com":
        assert_eq!(ring(&[("k1", 1)]).blind_index("email", " A@B.com"), "a76f881144d679966fe0e6c17d66bb766930625cb43d21ebe5d27fb679d3a612");
        // Index key = HKDF(salt "sentientiq keyring v1", ikm "link-secret", info "index|personal"):
        let dev = Keyring::derived("personal", b"link-secret");
        assert_eq!(dev.blind_index("email", "a@b.com"), "314b0fcb78acef0a992ce9afb206972e3aa45155ce92ccee0dc20a6d5b54ae11");
    }

    #[test]
    fn sealed_form_matches_golden_vectors() {
        // Sealed by Python's `cryptography` AESGCM with nonce 00 01 … 0b and associated data
        // "enc1:{kid}:{aad}": pins the stored format (nonce first, tag last, base64url without
        // padding, what the associated data covers) and the derived sealing key.
        let k1 = "enc1:k1:AAECAwQFBgcICQoL2sL0ZkWGZxSOBoLqQwalLf-y-tq2Llf7qLE3DKL-wg";
        assert_eq!(ring(&[("k1", 1)]).open(k1, AAD).unwrap(), "ada@example.com");
        let dev = "enc1:dev:AAECAwQFBgcICQoLCU1rykOs1nswTC0aHd6YnTiVMhj98AQ_Tq-_vF4KgQ";
        assert_eq!(Keyring::derived("personal", b"link-secret").open(dev, AAD).unwrap(), "ada@example.com");
    }

    #[test]
    fn argon2_parameters_are_the_crates_recommended_defaults() {
        assert_eq!(ARGON2_M_COST_KIB, Params::DEFAULT_M_COST);
        assert_eq!(ARGON2_T_COST, Params::DEFAULT_T_COST);
        assert_eq!(ARGON2_P_COST, Params::DEFAULT_P_COST);
    }

    #[test]
    fn passwords_hash_verify_and_enforce_length() {
        let pw = "correct horse battery";
        let h = hash_password(pw).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(pw, &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("", &h));
        assert!(!verify_password(pw, "not a phc string"));
        assert_ne!(hash_password(pw).unwrap(), h, "random salt");
        assert!(!needs_rehash(&h));
        let weaker = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap());
        let old = weaker.hash_password(pw.as_bytes(), &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert!(verify_password(pw, &old), "older parameters still verify");
        assert!(needs_rehash(&old) && needs_rehash("garbage"));
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default());
        let i = argon2i.hash_password(pw.as_bytes(), &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert!(!verify_password(pw, &i) && needs_rehash(&i), "only argon2id accepted");

        let short = "a".repeat(MIN_PASSWORD_CHARS - 1);
        assert_eq!(hash_password(&short), Err(SecretError::PasswordTooShort));
        assert_eq!(hash_password("ééééééééé"), Err(SecretError::PasswordTooShort), "counted in characters, not bytes");
        assert!(hash_password(&"a".repeat(MIN_PASSWORD_CHARS)).is_ok());
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hash_password(&long), Err(SecretError::PasswordTooLong));
        assert!(!verify_password(&long, &h));
        let longest = "a".repeat(MAX_PASSWORD_BYTES);
        assert!(verify_password(&longest, &hash_password(&longest).unwrap()));
    }
}
