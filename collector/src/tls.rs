//! TLS for the Kafka and HTTP listeners (rustls): the `tls:` config block,
//! loading a PEM certificate chain, key and optional client CA into a
//! rustls `ServerConfig`, and [`ReloadableTls`], which new handshakes read
//! and SIGHUP replaces, so rotating certificates drops no established
//! connection.
//!
//! TLS 1.2 and 1.3 only, with rustls' default (ring) cipher suites.

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
        Ok(())
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

/// Reads the files and builds a server config. `alpn` lists the protocols
/// offered (HTTP offers `http/1.1`; Kafka none).
pub fn load(config: &TlsConfig, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&config.cert_file)?;
    let key = private_key(&config.key_file)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
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
