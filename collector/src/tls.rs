//! TLS for the Kafka and HTTP listeners (rustls): the `tls:` config block,
//! loading a PEM certificate chain, key and optional client CA into a
//! rustls `ServerConfig`, and [`ReloadableTls`], which new handshakes read
//! and SIGHUP replaces, so rotating certificates drops no established
//! connection.
//!
//! TLS 1.2 and 1.3 only, with rustls' (ring) AEAD cipher suites. The
//! server chooses the suite by its own order of preference, not the
//! client's: AES-128-GCM first by default (see [`DEFAULT_CIPHER_SUITES`]),
//! or the listener's `cipher_suites` list in its order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// Whether (and how) clients present certificates: Kafka's
/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for (default without `ca_file`).
    #[default]
    None,
    /// Asked for; a client without one connects anonymously, one with a
    /// certificate the CA did not sign is refused.
    Requested,
    /// Every client must present a certificate signed by `ca_file`
    /// (default with `ca_file`).
    Required,
}

/// A `tls:` block, on a Kafka listener or `collector.http`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate first, then its intermediates.
    pub cert_file: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CA certificates that sign client certificates
    /// (mutual TLS). Required unless `client_auth` is `none`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `none`, `requested` or `required`. Default `required` when `ca_file`
    /// is set, else `none`.
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// The cipher suites offered, by IANA name (Kafka's
    /// `ssl.cipher.suites`), in the server's order of preference: the first
    /// one the client also supports is chosen, whatever the client's order.
    /// Default [`DEFAULT_CIPHER_SUITES`].
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
}

/// The default order of preference: every suite rustls offers, AES-128-GCM
/// ahead of AES-256-GCM ahead of ChaCha20-Poly1305 within TLS 1.3 and
/// within each TLS 1.2 key exchange. AES-128 takes 10 rounds per block
/// against AES-256's 14 on both ends of the connection (the client
/// encrypts what it produces with the suite the server picked); both are
/// far beyond brute force. OpenSSL clients list AES-256 first, so without a
/// server preference they would get it.
pub const DEFAULT_CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// A suite's IANA name (rustls spells the TLS 1.3 ones `TLS13_...`).
fn iana_name(suite: rustls::SupportedCipherSuite) -> String {
    let name = suite.suite().as_str().unwrap_or("unknown");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_owned(),
    }
}

/// The suites named in `names`, in that order. Names are IANA's, matched
/// without regard to case.
fn cipher_suites(names: &[&str]) -> Result<Vec<rustls::SupportedCipherSuite>, String> {
    let all = rustls::crypto::ring::ALL_CIPHER_SUITES;
    if names.is_empty() {
        return Err("cipher_suites is empty".to_owned());
    }
    let mut chosen = Vec::with_capacity(names.len());
    for name in names {
        let Some(&suite) = all
            .iter()
            .find(|s| iana_name(**s).eq_ignore_ascii_case(name))
        else {
            let known: Vec<String> = all.iter().map(|s| iana_name(*s)).collect();
            return Err(format!(
                "cipher_suites: unknown cipher suite {name:?} (supported: {})",
                known.join(", ")
            ));
        };
        if chosen.contains(&suite) {
            return Err(format!("cipher_suites: {name:?} is listed twice"));
        }
        chosen.push(suite);
    }
    Ok(chosen)
}

impl TlsConfig {
    /// The effective client authentication mode.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth.unwrap_or(if self.ca_file.is_some() {
            ClientAuth::Required
        } else {
            ClientAuth::None
        })
    }

    /// Checks what can be checked without reading the files.
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.client_auth() != ClientAuth::None && self.ca_file.is_none() {
            return Err(format!(
                "{at}.tls: client_auth {:?} needs ca_file (the CA that signs client certificates)",
                self.client_auth()
            ));
        }
        self.suites().map_err(|e| format!("{at}.tls.{e}"))?;
        Ok(())
    }

    /// The suites offered, in the server's order of preference.
    fn suites(&self) -> Result<Vec<rustls::SupportedCipherSuite>, String> {
        match &self.cipher_suites {
            Some(names) => cipher_suites(&names.iter().map(String::as_str).collect::<Vec<_>>()),
            None => cipher_suites(DEFAULT_CIPHER_SUITES),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: format!("invalid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            reason: "no CERTIFICATE block found".to_owned(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    // The error never includes the key's bytes.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY block found".to_owned(),
            _ => "the private key is not valid PEM".to_owned(),
        },
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS versions that have a suite among `suites`.
fn versions(
    suites: &[rustls::SupportedCipherSuite],
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = Vec::new();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        if suites.iter().any(|s| s.version() == version) {
            versions.push(version);
        }
    }
    versions
}

/// Reads the files and builds a server config. `alpn` lists the protocols
/// offered (HTTP offers `http/1.1`; Kafka none).
pub fn load(config: &TlsConfig, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&config.cert_file)?;
    let key = private_key(&config.key_file)?;
    let suites = config.suites().map_err(TlsError::Rustls)?;
    let versions = versions(&suites);
    let ordered = rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    };
    let builder = ServerConfig::builder_with_provider(Arc::new(ordered))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match (config.client_auth(), &config.ca_file) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca_file)) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(ca_file)? {
                roots.add(ca).map_err(|e| TlsError::Pem {
                    path: ca_file.clone(),
                    reason: format!("not a usable CA certificate: {e}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if mode == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("certificate and key: {e}")))?;
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // The order of `cipher_suites` decides, not the client's.
    server.ignore_client_order = true;
    Ok(server)
}

/// A server config that new handshakes read and [`ReloadableTls::reload`]
/// replaces. Established connections keep the config they started with.
pub struct ReloadableTls {
    /// Where this config is used, for log lines (`kafka listener "ssl"`, `http`).
    pub name: String,
    config: TlsConfig,
    alpn: Vec<Vec<u8>>,
    current: ArcSwap<ServerConfig>,
}

impl ReloadableTls {
    /// Loads the files once; a failure here is a start-up error.
    pub fn new(name: String, config: TlsConfig, alpn: &[&[u8]]) -> Result<Self, TlsError> {
        let server = load(&config, alpn)?;
        Ok(ReloadableTls {
            name,
            config,
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
            current: ArcSwap::from_pointee(server),
        })
    }

    /// An acceptor for one new connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// Re-reads the certificate, key and CA files. On failure the running
    /// config stays in use and the error is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        let alpn: Vec<&[u8]> = self.alpn.iter().map(Vec::as_slice).collect();
        let server = load(&self.config, &alpn)?;
        self.current.store(Arc::new(server));
        Ok(())
    }

    pub fn config(&self) -> &TlsConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(suites: &[rustls::SupportedCipherSuite]) -> Vec<String> {
        suites.iter().map(|s| iana_name(*s)).collect()
    }

    #[test]
    fn the_default_order_is_every_ring_suite_with_aes_128_first() {
        let suites = cipher_suites(DEFAULT_CIPHER_SUITES).unwrap();
        assert_eq!(names(&suites), DEFAULT_CIPHER_SUITES);
        assert_eq!(suites.len(), rustls::crypto::ring::ALL_CIPHER_SUITES.len());
        assert_eq!(
            versions(&suites),
            [&rustls::version::TLS13, &rustls::version::TLS12]
        );
    }

    #[test]
    fn configured_suites_keep_their_order_and_decide_the_versions() {
        let suites =
            cipher_suites(&["tls_chacha20_poly1305_sha256", "TLS_AES_256_GCM_SHA384"]).unwrap();
        assert_eq!(
            names(&suites),
            ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384"]
        );
        assert_eq!(versions(&suites), [&rustls::version::TLS13]);
        let tls12 = cipher_suites(&["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]).unwrap();
        assert_eq!(versions(&tls12), [&rustls::version::TLS12]);
    }

    #[test]
    fn unknown_empty_or_repeated_suites_are_refused() {
        let config = |suites: &[&str]| TlsConfig {
            cert_file: "c".into(),
            key_file: "k".into(),
            ca_file: None,
            client_auth: None,
            cipher_suites: Some(suites.iter().map(|s| s.to_string()).collect()),
        };
        let err = config(&["TLS_RSA_WITH_RC4_128_SHA"])
            .validate("collector.kafka.listeners[1]")
            .unwrap_err();
        assert!(
            err.starts_with("collector.kafka.listeners[1].tls.cipher_suites: unknown cipher suite \"TLS_RSA_WITH_RC4_128_SHA\" (supported: TLS_AES_256_GCM_SHA384, "),
            "{err}"
        );
        let err = config(&[]).validate("collector.http").unwrap_err();
        assert_eq!(err, "collector.http.tls.cipher_suites is empty");
        let err = config(&["TLS_AES_128_GCM_SHA256", "tls_aes_128_gcm_sha256"])
            .validate("collector.http")
            .unwrap_err();
        assert!(
            err.contains("\"tls_aes_128_gcm_sha256\" is listed twice"),
            "{err}"
        );
        config(&["TLS_AES_128_GCM_SHA256"])
            .validate("collector.http")
            .unwrap();
    }
}
