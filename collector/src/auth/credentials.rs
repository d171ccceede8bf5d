//! The credential store: for each user and SCRAM mechanism a salted
//! credential (salt, iterations, StoredKey, ServerKey), never a password.
//! SASL PLAIN is checked against the same credentials by deriving the keys
//! from the offered password, so no other kind of password hash is kept.
//!
//! On disk it is one JSON file, by default `<data_dir>/credentials.json`,
//! replaced atomically (temp file created with mode 0600, fsync, rename,
//! directory fsync) so a reader (the collector on SIGHUP) sees the old or
//! the new file, never a torn one:
//!
//! ```json
//! {"version": 1, "users": {"alice": {"SCRAM-SHA-512": {
//!   "salt": "base64", "iterations": 4096,
//!   "stored_key": "base64", "server_key": "base64"}}}}
//! ```

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::scram::{ScramCredential, ScramMechanism, BASE64, MAX_ITERATIONS, MIN_ITERATIONS};
use super::AuthError;

/// The file name under the data directory when none is configured.
pub const DEFAULT_FILE_NAME: &str = "credentials.json";

/// The credentials file: `configured` if set, else
/// `<data_dir>/credentials.json`.
pub fn path(data_dir: &Path, configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| data_dir.join(DEFAULT_FILE_NAME), Path::to_owned)
}

/// Users and their SCRAM credentials. Cheap to clone; the collector keeps
/// one behind a lock or an `Arc` swap and replaces it on reload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialStore {
    users: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
}

/// The outcome of a PLAIN password check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainCheck {
    Valid,
    UnknownUser,
    BadPassword,
}

impl CredentialStore {
    /// Reads the file; a missing file is an empty store (no users yet).
    /// Credentials below Kafka's 4096 iterations are refused.
    pub fn load(path: &Path) -> Result<CredentialStore, AuthError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CredentialStore::default())
            }
            Err(e) => return Err(AuthError::io(path, e)),
        };
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "the credentials file is readable by other users; `chmod 600` it"
                );
            }
        }
        let corrupt = |reason: String| AuthError::CorruptCredentials {
            path: path.to_owned(),
            reason,
        };
        let file: File1 = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.version != 1 {
            return Err(corrupt(format!("unsupported version {}", file.version)));
        }
        let mut store = CredentialStore::default();
        for (user, mechanisms) in file.users {
            for (mechanism, c) in mechanisms {
                let bad = |what: &str| corrupt(format!("user {user:?} {mechanism}: {what}"));
                let decode = |field: &str, v: &str| BASE64.decode(v).map_err(|_| bad(field));
                if c.iterations < MIN_ITERATIONS {
                    return Err(bad(&format!(
                        "{} iterations is less than the minimum {MIN_ITERATIONS}",
                        c.iterations
                    )));
                }
                let credential = ScramCredential {
                    salt: decode("salt is not base64", &c.salt)?,
                    iterations: c.iterations,
                    stored_key: decode("stored_key is not base64", &c.stored_key)?,
                    server_key: decode("server_key is not base64", &c.server_key)?,
                };
                store.insert(&user, mechanism, credential);
            }
        }
        Ok(store)
    }

    /// Replaces the file atomically with mode 0600 (see the module docs).
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        let file = File1 {
            version: 1,
            users: self
                .users
                .iter()
                .map(|(user, creds)| {
                    let creds = creds
                        .iter()
                        .map(|(m, c)| {
                            let stored = StoredCredential {
                                salt: BASE64.encode(&c.salt),
                                iterations: c.iterations,
                                stored_key: BASE64.encode(&c.stored_key),
                                server_key: BASE64.encode(&c.server_key),
                            };
                            (*m, stored)
                        })
                        .collect();
                    (user.clone(), creds)
                })
                .collect(),
        };
        let mut body = serde_json::to_vec_pretty(&file).expect("credentials serialise");
        body.push(b'\n');
        logship_common::fs::write_atomic_private(path, &body).map_err(|e| AuthError::io(path, e))
    }

    /// Adds or replaces one credential.
    pub fn insert(&mut self, user: &str, mechanism: ScramMechanism, credential: ScramCredential) {
        self.users
            .entry(user.to_owned())
            .or_default()
            .insert(mechanism, credential);
    }

    /// Removes a user's credential for `mechanism`, or all of them; false
    /// if there was none.
    pub fn remove(&mut self, user: &str, mechanism: Option<ScramMechanism>) -> bool {
        let Some(creds) = self.users.get_mut(user) else {
            return false;
        };
        let removed = match mechanism {
            Some(m) => creds.remove(&m).is_some(),
            None => !std::mem::take(creds).is_empty(),
        };
        if creds.is_empty() {
            self.users.remove(user);
        }
        removed
    }

    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.users.get(user)?.get(&mechanism)
    }

    /// Users in name order, each with its mechanisms and credentials.
    pub fn users(
        &self,
    ) -> impl Iterator<Item = (&str, &BTreeMap<ScramMechanism, ScramCredential>)> {
        self.users.iter().map(|(u, c)| (u.as_str(), c))
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Users, and credentials over all users and mechanisms (for logs).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.users.len(),
            self.users.values().map(BTreeMap::len).sum(),
        )
    }

    /// Checks a PLAIN password against the user's SCRAM-SHA-512 credential
    /// (or SCRAM-SHA-256 if it has only that). An unknown user costs the
    /// same key derivation as a known one, so timing does not tell them
    /// apart.
    pub fn verify_plain(&self, user: &str, password: &[u8]) -> PlainCheck {
        let found = self.users.get(user).and_then(|creds| {
            [ScramMechanism::Sha512, ScramMechanism::Sha256]
                .into_iter()
                .find_map(|m| creds.get(&m).map(|c| (m, c)))
        });
        match found {
            Some((m, c)) if c.verify_password(m, password) => PlainCheck::Valid,
            Some(_) => PlainCheck::BadPassword,
            None => {
                let decoy = ScramCredential {
                    salt: vec![0; 32],
                    iterations: MIN_ITERATIONS,
                    stored_key: vec![0; 64],
                    server_key: Vec::new(),
                };
                let _ = decoy.verify_password(ScramMechanism::Sha512, password);
                PlainCheck::UnknownUser
            }
        }
    }
}

/// The credential store a running collector checks: loaded at start-up,
/// replaced whole when the file is read again (SIGHUP). Thread-safe; an
/// exchange holds the store current at each of its steps.
#[derive(Debug)]
pub struct SharedCredentials {
    path: PathBuf,
    current: std::sync::RwLock<std::sync::Arc<CredentialStore>>,
}

impl SharedCredentials {
    /// Reads `path` (a missing file is no users yet).
    pub fn load(path: &Path) -> Result<SharedCredentials, AuthError> {
        let store = CredentialStore::load(path)?;
        Ok(SharedCredentials {
            path: path.to_owned(),
            current: std::sync::RwLock::new(std::sync::Arc::new(store)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn current(&self) -> std::sync::Arc<CredentialStore> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        std::sync::Arc::clone(&guard)
    }

    /// Reads the file again and swaps the new store in; on error the
    /// previous store stays. Returns the new store's [`CredentialStore::counts`].
    pub fn reload(&self) -> Result<(usize, usize), AuthError> {
        let store = CredentialStore::load(&self.path)?;
        let counts = store.counts();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(store);
        Ok(counts)
    }
}

/// A user name `logship users add` accepts: not empty, at most 255 bytes,
/// no control characters, and 7-bit, because Kafka's SCRAM grammar
/// refuses other names (so such a user could never log in with SCRAM).
pub fn validate_user_name(name: &str) -> Result<(), AuthError> {
    if name.is_empty() || name.len() > 255 {
        return Err(AuthError::Invalid(
            "a user name has 1 to 255 characters".to_owned(),
        ));
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(AuthError::Invalid(format!(
            "user name {name:?}: {c:?} is not allowed (printable ASCII only)"
        )));
    }
    Ok(())
}

/// Checks an iteration count for a new credential.
pub fn validate_iterations(iterations: u32) -> Result<(), AuthError> {
    if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {iterations}"
        )))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File1 {
    version: u32,
    users: BTreeMap<String, BTreeMap<ScramMechanism, StoredCredential>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCredential {
    salt: String,
    iterations: u32,
    stored_key: String,
    server_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(m: ScramMechanism, pw: &[u8]) -> ScramCredential {
        ScramCredential::new(m, pw, 4096).unwrap()
    }

    #[test]
    fn save_load_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), None);
        assert_eq!(file, dir.path().join("credentials.json"));
        assert!(CredentialStore::load(&file).unwrap().is_empty());

        let mut store = CredentialStore::default();
        store.insert(
            "alice",
            ScramMechanism::Sha512,
            cred(ScramMechanism::Sha512, b"a-pw"),
        );
        store.insert(
            "alice",
            ScramMechanism::Sha256,
            cred(ScramMechanism::Sha256, b"a-pw"),
        );
        store.insert(
            "bob,=x",
            ScramMechanism::Sha256,
            cred(ScramMechanism::Sha256, b"b-pw"),
        );
        store.save(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("a-pw") && !text.contains("b-pw"));
        assert_eq!(CredentialStore::load(&file).unwrap(), store);

        // Rewriting keeps 0600 even if someone loosened the mode.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(store.remove("alice", Some(ScramMechanism::Sha256)));
        store.save(&file).unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = CredentialStore::load(&file).unwrap();
        assert_eq!(loaded, store);
        assert!(loaded.get("alice", ScramMechanism::Sha256).is_none());
        assert!(loaded.get("alice", ScramMechanism::Sha512).is_some());
        assert!(!dir.path().join("credentials.json.tmp").exists());
    }

    #[test]
    fn remove_users_and_mechanisms() {
        let mut s = CredentialStore::default();
        s.insert(
            "a",
            ScramMechanism::Sha256,
            cred(ScramMechanism::Sha256, b"x"),
        );
        s.insert(
            "a",
            ScramMechanism::Sha512,
            cred(ScramMechanism::Sha512, b"x"),
        );
        assert!(!s.remove("b", None));
        assert!(s.remove("a", Some(ScramMechanism::Sha256)));
        assert!(s.get("a", ScramMechanism::Sha512).is_some());
        assert!(!s.remove("a", Some(ScramMechanism::Sha256)));
        assert!(s.remove("a", None));
        assert!(s.is_empty());
    }

    #[test]
    fn plain_checks_against_scram_credentials() {
        let mut s = CredentialStore::default();
        s.insert(
            "a",
            ScramMechanism::Sha256,
            cred(ScramMechanism::Sha256, b"pw256"),
        );
        assert_eq!(s.verify_plain("a", b"pw256"), PlainCheck::Valid);
        // SCRAM-SHA-512 is preferred when both exist.
        s.insert(
            "a",
            ScramMechanism::Sha512,
            cred(ScramMechanism::Sha512, b"pw512"),
        );
        assert_eq!(s.verify_plain("a", b"pw512"), PlainCheck::Valid);
        assert_eq!(s.verify_plain("a", b"pw256"), PlainCheck::BadPassword);
        assert_eq!(s.verify_plain("b", b"pw512"), PlainCheck::UnknownUser);
    }

    #[test]
    fn bad_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        for (body, reason) in [
            ("{", "EOF"),
            (r#"{"version": 2, "users": {}}"#, "unsupported version 2"),
            (r#"{"version": 1, "users": {}, "x": 1}"#, "unknown field"),
            (
                r#"{"version": 1, "users": {"u": {"SCRAM-SHA-1": {"salt": "", "iterations": 4096, "stored_key": "", "server_key": ""}}}}"#,
                "unknown variant",
            ),
            (
                r#"{"version": 1, "users": {"u": {"SCRAM-SHA-256": {"salt": "", "iterations": 4095, "stored_key": "", "server_key": ""}}}}"#,
                "4095 iterations is less than the minimum 4096",
            ),
            (
                r#"{"version": 1, "users": {"u": {"SCRAM-SHA-256": {"salt": "!", "iterations": 4096, "stored_key": "", "server_key": ""}}}}"#,
                "salt is not base64",
            ),
        ] {
            std::fs::write(&file, body).unwrap();
            let e = CredentialStore::load(&file).unwrap_err().to_string();
            assert!(e.contains(reason) && e.contains("c.json"), "{body}: {e}");
        }
    }

    #[test]
    fn user_names_and_iterations() {
        for ok in ["alice", "a b", "x,y=z", "~!@#"] {
            validate_user_name(ok).unwrap();
        }
        for bad in ["", "tab\there", "nul\0", "üser", &"x".repeat(256)] {
            assert!(validate_user_name(bad).is_err(), "{bad:?}");
        }
        validate_iterations(4096).unwrap();
        validate_iterations(16384).unwrap();
        assert!(validate_iterations(4095).is_err());
        assert!(validate_iterations(16385).is_err());
    }
}
