//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks
//! them: the keys a server stores, the proof check, and the client messages'
//! grammar.
//!
//! The cryptography is RustCrypto's (`hmac`, `sha2`, `pbkdf2`, `subtle`);
//! this file only composes it as RFC 5802 section 3 says:
//!
//! ```text
//! SaltedPassword  = PBKDF2-HMAC-H(password, salt, i)
//! ClientKey       = HMAC(SaltedPassword, "Client Key")
//! StoredKey       = H(ClientKey)
//! ServerKey       = HMAC(SaltedPassword, "Server Key")
//! ClientSignature = HMAC(StoredKey, AuthMessage)
//! ClientProof     = ClientKey XOR ClientSignature
//! ServerSignature = HMAC(ServerKey, AuthMessage)
//! ```
//!
//! The password is used as raw UTF-8, without SASLprep, as Kafka and its
//! clients do.

use std::sync::LazyLock;

use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::AuthError;

/// Kafka's floor: credentials with fewer iterations are refused.
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's ceiling when a credential is created (`kafka-configs.sh`).
pub const MAX_ITERATIONS: u32 = 16384;
/// What `logship users add` uses without `--iterations` (Kafka's default).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Random bytes in a new credential's salt.
const SALT_LEN: usize = 32;

/// Standard base64 with padding. Decoding tolerates non-zero trailing bits,
/// as Java's decoder (Kafka's) does.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The SCRAM hash function, named as in SASL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name, e.g. `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses a SASL mechanism name; case-sensitive, as Kafka.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// HMAC with this mechanism's hash (public for clients written in
    /// tests: the end-to-end replay test computes a client proof).
    pub fn hmac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => mac::<Hmac<Sha256>>(key, message),
            ScramMechanism::Sha512 => mac::<Hmac<Sha512>>(key, message),
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's SaltedPassword (PBKDF2 over the raw password).
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramMechanism::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

impl std::fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the server keeps for one user and mechanism (Kafka's
/// `ScramCredential`): enough to check a proof and sign the reply, not
/// enough to log in as the user or recover the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// Keys stay out of debug output (and so out of logs).
impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// A credential with a fresh random salt. `iterations` must lie in
    /// [`MIN_ITERATIONS`, `MAX_ITERATIONS`], as Kafka requires when one is
    /// created.
    pub fn new(
        mechanism: ScramMechanism,
        password: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, AuthError> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(AuthError::Invalid(format!(
                "iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {iterations}"
            )));
        }
        if password.is_empty() {
            return Err(AuthError::Invalid("the password is empty".to_owned()));
        }
        let mut salt = vec![0; SALT_LEN];
        rand::fill(&mut salt[..]);
        Ok(ScramCredential::derive(
            mechanism, password, &salt, iterations,
        ))
    }

    /// The credential for `password` with a given salt (RFC 5802 section 3).
    pub fn derive(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let salted = mechanism.salted_password(password, salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(&salted, b"Server Key"),
        }
    }

    /// Whether `password` is the one this credential was made from (SASL
    /// PLAIN against a SCRAM credential). The StoredKeys are compared in
    /// constant time.
    pub fn verify_password(&self, mechanism: ScramMechanism, password: &[u8]) -> bool {
        let offered = ScramCredential::derive(mechanism, password, &self.salt, self.iterations);
        bool::from(offered.stored_key.ct_eq(&self.stored_key))
    }

    /// Whether `proof` proves knowledge of the password for `auth_message`:
    /// H(ClientProof XOR ClientSignature) must equal StoredKey (compared in
    /// constant time).
    pub(crate) fn verify_proof(
        &self,
        mechanism: ScramMechanism,
        auth_message: &[u8],
        proof: &[u8],
    ) -> bool {
        let signature = mechanism.hmac(&self.stored_key, auth_message);
        if proof.len() != signature.len() {
            return false;
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        bool::from(mechanism.hash(&client_key).ct_eq(&self.stored_key))
    }

    /// ServerSignature, sent in server-final as `v=`.
    pub(crate) fn server_signature(
        &self,
        mechanism: ScramMechanism,
        auth_message: &[u8],
    ) -> Vec<u8> {
        mechanism.hmac(&self.server_key, auth_message)
    }
}

/// A SCRAM name as written in messages: `,` as `=2C`, `=` as `=3D`.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape_name`]; `None` when a `=` is followed by
/// anything but `2C` or `3D` (RFC 5802: the server must fail then).
pub fn unescape_name(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3)?;
        out.push(match code {
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

// The grammar Kafka's ScramMessages enforces (Java regular expressions,
// same semantics here): names and values are 7-bit, nonces printable ASCII
// without a comma.
const SASLNAME: &str = r"(?:[\x01-\x7F&&[^=,]]|=2C|=3D)+";
const VALUE: &str = r"[\x01-\x7F&&[^,]]+";
const PRINTABLE: &str = r"[\x21-\x7E&&[^,]]+";
const ALPHA: &str = r"[A-Za-z]+";
const BASE64_RE: &str = r"(?:[a-zA-Z0-9/+]{4})*(?:[a-zA-Z0-9/+]{3}=|[a-zA-Z0-9/+]{2}==)?";

static CLIENT_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\An,(?:a=(?<authzid>{SASLNAME}))?,(?:m={VALUE},)?n=(?<saslname>{SASLNAME}),r=(?<nonce>{PRINTABLE})(?<extensions>(?:,{ALPHA}={VALUE})*)\z"
    ))
    .expect("client-first grammar")
});

static CLIENT_FINAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\Ac=(?<channel>{BASE64_RE}),r=(?<nonce>{PRINTABLE})(?:,{ALPHA}={VALUE})*,p=(?<proof>{BASE64_RE})\z"
    ))
    .expect("client-final grammar")
});

/// client-first-message: `n,[a=authzid],n=name,r=cnonce[,ext=value...]`.
/// Only the GS2 flag `n` (no channel binding) is accepted, as in Kafka.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFirst<'a> {
    /// The authorization identity, unescaped; empty when absent.
    pub authzid: String,
    /// The user name, unescaped.
    pub name: String,
    pub nonce: &'a str,
    /// client-first-message-bare: everything after the GS2 header, the
    /// first part of AuthMessage.
    pub bare: &'a str,
    /// `tokenauth=true`: the name is a delegation token id (Kafka's only
    /// extension; others are ignored).
    pub token_auth: bool,
}

impl<'a> ClientFirst<'a> {
    pub fn parse(message: &'a str) -> Option<ClientFirst<'a>> {
        let caps = CLIENT_FIRST.captures(message)?;
        let authzid = match caps.name("authzid") {
            Some(a) => unescape_name(a.as_str())?,
            None => String::new(),
        };
        // The GS2 header ends at the second comma: an authzid has none.
        let header_end = message.match_indices(',').nth(1)?.0 + 1;
        let token_auth = caps["extensions"]
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .any(|(k, v)| k == "tokenauth" && v.eq_ignore_ascii_case("true"));
        Some(ClientFirst {
            authzid,
            name: unescape_name(caps.name("saslname")?.as_str())?,
            nonce: caps.name("nonce")?.as_str(),
            bare: &message[header_end..],
            token_auth,
        })
    }
}

/// client-final-message: `c=binding,r=nonce[,ext=value...],p=proof`.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFinal<'a> {
    pub nonce: &'a str,
    pub proof: Vec<u8>,
    /// client-final-message-without-proof, the last part of AuthMessage.
    pub without_proof: &'a str,
}

impl<'a> ClientFinal<'a> {
    /// Kafka does not compare `c=` with the GS2 header (the proof covers it
    /// anyway, and no channel binding is offered), and neither does this.
    pub fn parse(message: &'a str) -> Option<ClientFinal<'a>> {
        let caps = CLIENT_FINAL.captures(message)?;
        let proof = caps.name("proof")?;
        Some(ClientFinal {
            nonce: caps.name("nonce")?.as_str(),
            proof: BASE64.decode(proof.as_str()).ok()?,
            without_proof: &message[..proof.start() - ",p=".len()],
        })
    }
}

/// server-first-message: `r=cnonce+snonce,s=salt,i=iterations`.
pub fn server_first(nonce: &str, salt: &[u8], iterations: u32) -> String {
    format!("r={nonce},s={},i={iterations}", BASE64.encode(salt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &str) -> Vec<u8> {
        BASE64.decode(s).unwrap()
    }

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_keys_and_proof() {
        let salt = b64("W22ZaJ0SNY7soEsUEjb6gQ==");
        let cred = ScramCredential::derive(ScramMechanism::Sha256, b"pencil", &salt, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = b64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert!(cred.verify_proof(ScramMechanism::Sha256, auth.as_bytes(), &proof));
        assert_eq!(
            cred.server_signature(ScramMechanism::Sha256, auth.as_bytes()),
            b64("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
        let mut bad = proof.clone();
        bad[0] ^= 1;
        assert!(!cred.verify_proof(ScramMechanism::Sha256, auth.as_bytes(), &bad));
        assert!(!cred.verify_proof(ScramMechanism::Sha256, auth.as_bytes(), &proof[1..]));
        assert!(cred.verify_password(ScramMechanism::Sha256, b"pencil"));
        assert!(!cred.verify_password(ScramMechanism::Sha256, b"pencil "));
    }

    /// StoredKey and ServerKey as kafka-python 2.3's ScramClient computes
    /// them (`kafka/sasl/scram.py`) for SCRAM-SHA-512, user alice, password
    /// "alice-secret", salt "logship-test-salt-0123456789ab", 4096 rounds.
    #[test]
    fn sha512_keys_match_kafka_python() {
        let cred = ScramCredential::derive(
            ScramMechanism::Sha512,
            b"alice-secret",
            b"logship-test-salt-0123456789ab",
            4096,
        );
        assert_eq!(cred.stored_key, b64("5Nwij0FOx7DazGiV7RSHTDeohF25krugxZp+mERQtbrAAfp9U8z1Wg2grJCVXaAdEYf9jjEUm4dmgYFTNtYpFA=="));
        assert_eq!(cred.server_key, b64("jby4Ao7yfv+D2jsD9pDJXt1dFzWxQA2yFtbrRpHGlp3xmgjLCLkpCh2QPnmshHuEKBPmi50JjK696bW+6DIMEQ=="));
    }

    #[test]
    fn new_credentials_have_random_salts_and_bounded_iterations() {
        let a = ScramCredential::new(ScramMechanism::Sha512, b"pw", 4096).unwrap();
        let b = ScramCredential::new(ScramMechanism::Sha512, b"pw", 4096).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.stored_key, b.stored_key);
        assert!(a.verify_password(ScramMechanism::Sha512, b"pw"));
        for bad in [0, 4095, 16385] {
            assert!(ScramCredential::new(ScramMechanism::Sha256, b"pw", bad).is_err());
        }
        assert!(ScramCredential::new(ScramMechanism::Sha256, b"", 4096).is_err());
        assert!(!format!("{a:?}").contains("key"), "{a:?}");
    }

    #[test]
    fn client_first_grammar() {
        let m = ClientFirst::parse("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(m.name, "user");
        assert_eq!(m.authzid, "");
        assert_eq!(m.nonce, "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(m.bare, "n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert!(!m.token_auth);

        let m = ClientFirst::parse("n,a=a=2Cb,n=a=2Cb=3Dc,r=xyz,tokenauth=TRUE,foo=bar").unwrap();
        assert_eq!(m.authzid, "a,b");
        assert_eq!(m.name, "a,b=c");
        assert_eq!(m.bare, "n=a=2Cb=3Dc,r=xyz,tokenauth=TRUE,foo=bar");
        assert!(m.token_auth);

        assert!(ClientFirst::parse("n,,m=ext,n=u,r=x").is_some());
        for bad in [
            "y,,n=user,r=abc", // client supports channel binding
            "p=tls-unique,,n=user,r=abc",
            "n,,n=us=er,r=abc", // bad escape
            "n,,n=,r=abc",      // empty name
            "n,,n=user,r=",     // empty nonce
            "n,,n=user,r=a b",  // space is not printable here
            "n,,n=üser,r=abc",  // 7-bit names only (Kafka's grammar)
            "n,,n=user,r=abc,",
            "n,,r=abc,n=user",
            "",
        ] {
            assert_eq!(ClientFirst::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_final_grammar() {
        let msg = "c=biws,r=abcdef,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let m = ClientFinal::parse(msg).unwrap();
        assert_eq!(m.nonce, "abcdef");
        assert_eq!(m.without_proof, "c=biws,r=abcdef");
        assert_eq!(m.proof.len(), 32);
        let m = ClientFinal::parse("c=biws,r=abc,x=1,p=AAAA").unwrap();
        assert_eq!(m.without_proof, "c=biws,r=abc,x=1");
        for bad in [
            "c=biws,r=abc",
            "c=biws,p=AAAA",
            "c=bi,r=abc,p=AAAA",
            "c=biws,r=abc,p=AAA",
            "r=abc,c=biws,p=AAAA",
        ] {
            assert_eq!(ClientFinal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_escape_as_rfc5802_says() {
        assert_eq!(escape_name("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(unescape_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(unescape_name("=3D2C").as_deref(), Some("=2C"));
        for bad in ["=", "=2", "=2c", "=41", "a=3"] {
            assert_eq!(unescape_name(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn escaping_round_trips(name in "\\PC*") {
            let escaped = escape_name(&name);
            prop_assert!(!escaped.contains(','));
            prop_assert_eq!(unescape_name(&escaped), Some(name));
        }

        #[test]
        fn escaped_ascii_names_parse_in_client_first(name in "[\\x01-\\x7F]{1,40}", nonce in "[a-zA-Z0-9+/]{1,40}") {
            let msg = format!("n,,n={},r={nonce}", escape_name(&name));
            let m = ClientFirst::parse(&msg).unwrap();
            prop_assert_eq!(m.name, name);
            prop_assert_eq!(m.nonce, nonce.as_str());
        }
    }
}
