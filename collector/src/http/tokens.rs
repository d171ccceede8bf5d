//! Bearer tokens for the HTTP listener (`collector.http.auth.tokens_file`):
//! for each token, the principal it authenticates and the SHA-256 of the
//! token, never the token itself. `logship tokens add NAME` mints one.
//!
//! A token is 32 random bytes (256 bits) from the OS generator, written
//! `lst_` + base64url. A plain SHA-256 is enough to store it: a slow,
//! salted hash (bcrypt, PBKDF2) protects low-entropy passwords against
//! guessing, but nobody can enumerate 2^256 candidates, and a fast hash
//! keeps the check cheap on every request. The presented token's hash is
//! compared with every stored hash in constant time (`subtle`).
//!
//! On disk, replaced atomically with mode 0600 (see
//! `logship_common::fs::write_atomic_private`):
//!
//! ```json
//! {"version": 1, "tokens": [{"principal": "User:web1", "sha256": "base64"}]}
//! ```
//!
//! Not thread-safe to mutate; the listener keeps an immutable store behind
//! an `ArcSwap` and replaces it on SIGHUP.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::Principal;

/// What every token starts with, so a leaked one is recognisable (secret
/// scanners) and a token is not confused with a password.
pub const PREFIX: &str = "lst_";

/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Never quotes the file's content.
    #[error("tokens file {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// The principals and token hashes of a tokens file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenStore {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    principal: Principal,
    sha256: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File1 {
    version: u32,
    tokens: Vec<StoredToken>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken {
    principal: String,
    sha256: String,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenStore {
    /// Reads the file; a missing file is an empty store (no token yet).
    pub fn load(path: &Path) -> Result<TokenStore, TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenStore::default()),
            Err(e) => return Err(io(e)),
        };
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the tokens file is readable by other users; `chmod 600` it");
            }
        }
        let corrupt = |reason: String| TokenError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let file: File1 = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.version != 1 {
            return Err(corrupt(format!("unsupported version {}", file.version)));
        }
        let mut entries = Vec::with_capacity(file.tokens.len());
        for (i, t) in file.tokens.into_iter().enumerate() {
            let at = format!("token {}", i + 1);
            let principal =
                Principal::parse(&t.principal).map_err(|e| corrupt(format!("{at}: {e}")))?;
            let sha256 = STANDARD
                .decode(&t.sha256)
                .ok()
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .ok_or_else(|| corrupt(format!("{at}: sha256 is not 32 bytes of base64")))?;
            entries.push(Entry { principal, sha256 });
        }
        Ok(TokenStore { entries })
    }

    /// Replaces the file atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), TokenError> {
        let file = File1 {
            version: 1,
            tokens: self
                .entries
                .iter()
                .map(|e| StoredToken {
                    principal: e.principal.to_string(),
                    sha256: STANDARD.encode(e.sha256),
                })
                .collect(),
        };
        let mut body = serde_json::to_vec_pretty(&file).expect("tokens serialise");
        body.push(b'\n');
        logship_common::fs::write_atomic_private(path, &body).map_err(|source| TokenError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Mints a token for `User:name` and keeps its hash. The token is
    /// returned once; nothing can recover it later. A principal may hold
    /// several tokens (to rotate one without downtime).
    pub fn add(&mut self, name: &str) -> Result<String, TokenError> {
        validate_name(name)?;
        let mut random = [0u8; TOKEN_BYTES];
        rand::fill(&mut random[..]);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
        self.entries.push(Entry {
            principal: Principal::user(name),
            sha256: hash(&token),
        });
        Ok(token)
    }

    /// Removes every token of `User:name`; false if it had none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.principal.name() != name);
        self.entries.len() != before
    }

    /// Each principal with how many tokens it holds, sorted.
    pub fn principals(&self) -> Vec<(Principal, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for e in &self.entries {
            *counts.entry(e.principal.clone()).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal a presented token authenticates. Every stored hash is
    /// compared (in constant time), so the time taken does not tell which
    /// entry, if any, matched.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let offered = hash(token);
        let mut found = None;
        for e in &self.entries {
            if bool::from(e.sha256.ct_eq(&offered)) {
                found = Some(&e.principal);
            }
        }
        found.cloned()
    }
}

/// A principal name for a token: printable ASCII without spaces or `:`,
/// so `User:NAME` reads back as written.
pub fn validate_name(name: &str) -> Result<(), TokenError> {
    if name.is_empty() || name.len() > 255 {
        return Err(TokenError::Invalid(
            "a token's name must be 1 to 255 characters".to_owned(),
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(TokenError::Invalid(format!(
            "token name {name:?}: use printable ASCII without spaces or ':'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_to_its_principal_and_only_its_hash_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let mut store = TokenStore::default();
        let web = store.add("web1").unwrap();
        let db = store.add("db1").unwrap();
        assert!(
            web.starts_with(PREFIX) && web.len() == PREFIX.len() + 43,
            "{web}"
        );
        assert_ne!(web, db);
        store.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&web[PREFIX.len()..]) && !text.contains(&db[PREFIX.len()..]));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let loaded = TokenStore::load(&path).unwrap();
        assert_eq!(loaded, store);
        assert_eq!(loaded.verify(&web), Some(Principal::user("web1")));
        assert_eq!(loaded.verify(&db), Some(Principal::user("db1")));
        assert_eq!(loaded.verify(&web[..web.len() - 1]), None);
        assert_eq!(loaded.verify(""), None);
    }

    #[test]
    fn removing_a_principal_revokes_all_its_tokens() {
        let mut store = TokenStore::default();
        let a1 = store.add("a").unwrap();
        let a2 = store.add("a").unwrap();
        let b = store.add("b").unwrap();
        assert_eq!(
            store.principals(),
            vec![(Principal::user("a"), 2), (Principal::user("b"), 1)]
        );
        assert!(store.remove("a"));
        assert!(!store.remove("a"));
        assert_eq!(store.verify(&a1), None);
        assert_eq!(store.verify(&a2), None);
        assert_eq!(store.verify(&b), Some(Principal::user("b")));
    }

    #[test]
    fn bad_names_and_corrupt_files_are_refused_without_quoting_them() {
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("User:x").is_err());
        validate_name("agent-web1.example.com").unwrap();

        let dir = tempfile::tempdir().unwrap();
        let missing = TokenStore::load(&dir.path().join("none.json")).unwrap();
        assert!(missing.is_empty());
        let path = dir.path().join("t.json");
        std::fs::write(
            &path,
            r#"{"version":1,"tokens":[{"principal":"User:a","sha256":"c2hvcnQ="}]}"#,
        )
        .unwrap();
        let e = TokenStore::load(&path).unwrap_err().to_string();
        assert!(e.contains("token 1: sha256 is not 32 bytes"), "{e}");
        assert!(!e.contains("c2hvcnQ"), "{e}");
        std::fs::write(&path, r#"{"version":2,"tokens":[]}"#).unwrap();
        assert!(TokenStore::load(&path)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
    }
}
