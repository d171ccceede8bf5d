//! TLS and credentials for the agent's outgoing connections: the `tls:`,
//! `auth:` and `sasl:` config blocks, and what they become at start-up: an
//! HTTP client (rustls, through reqwest) for the collector sink and the
//! scrape targets, or librdkafka properties for the Kafka sink and the CLI.
//!
//! Files (CA, certificate, key, token, password) are read when the client
//! is built: at start-up, and again at each reload (SIGHUP), which swaps a
//! new client in ([`ReloadableClient`]) so tokens and certificates can be
//! rotated without a restart. Secrets are [`Secret`]s from the moment they are read, so
//! configs and errors print `***`; messages name files, never contents.
//!
//! Structural rules (a certificate needs its key, a secret comes from the
//! config or from a file but not both) are checked while parsing, so
//! `logship validate` reports them with their line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use logship_common::secret::{Secret, SecretFileError};
use serde::Deserialize;

use crate::error::{ClientSetupError, ConfigError};

/// `tls:` of a client connection. Present (even empty: `tls: {}`) means
/// TLS: the server is verified against `ca_file`, or against the usual
/// public roots without one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawTls")]
pub struct TlsClientConfig {
    /// PEM CA certificate(s) the server's chain must lead to; replaces the
    /// public roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS, with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

impl TryFrom<RawTls> for TlsClientConfig {
    type Error = ConfigError;
    fn try_from(r: RawTls) -> Result<Self, ConfigError> {
        if r.cert_file.is_some() != r.key_file.is_some() {
            return Err(ConfigError::invalid(
                "tls",
                "cert_file and key_file go together (mutual TLS needs both)",
            ));
        }
        Ok(TlsClientConfig {
            ca_file: r.ca_file,
            cert_file: r.cert_file,
            key_file: r.key_file,
        })
    }
}

/// A secret written in the config (`password: "${PW}"`) or read from a
/// file (`password_file:`): exactly one of them.
fn one_secret(
    what: &'static str,
    inline: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<Option<SecretSource>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::SecretTwice { key: what }),
        (Some(s), None) if s.is_empty() => Err(ConfigError::EmptySecret { key: what }),
        (Some(s), None) => Ok(Some(SecretSource::Inline(s))),
        (None, Some(p)) => Ok(Some(SecretSource::File(p))),
        (None, None) => Ok(None),
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Inline(Secret),
    File(PathBuf),
}

impl SecretSource {
    /// The secret; a file is read now. Errors name the file.
    pub fn load(&self) -> Result<Secret, SecretFileError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(p) => Secret::read_file(p),
        }
    }
}

/// `auth:` of the collector sink: a bearer token.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawHttpAuth")]
pub struct TokenAuthConfig {
    pub token: SecretSource,
}

/// `auth:` of a scrape source: a bearer token, or basic auth.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawHttpAuth")]
pub enum HttpAuthConfig {
    Bearer(SecretSource),
    Basic {
        username: String,
        password: SecretSource,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpAuth {
    /// `Authorization: Bearer TOKEN`.
    token: Option<Secret>,
    token_file: Option<PathBuf>,
    /// Basic auth (scrape targets only).
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

impl TryFrom<RawHttpAuth> for HttpAuthConfig {
    type Error = ConfigError;
    fn try_from(r: RawHttpAuth) -> Result<Self, ConfigError> {
        let token = one_secret("token", r.token, r.token_file)?;
        let password = one_secret("password", r.password, r.password_file)?;
        match (token, r.username, password) {
            (Some(t), None, None) => Ok(HttpAuthConfig::Bearer(t)),
            (None, Some(u), Some(p)) => Ok(HttpAuthConfig::Basic {
                username: u,
                password: p,
            }),
            (Some(_), _, _) => Err(ConfigError::invalid(
                "auth",
                "a token or a username and password, not both",
            )),
            (None, Some(_), None) => Err(ConfigError::invalid(
                "auth",
                "username needs password or password_file",
            )),
            (None, None, Some(_)) => Err(ConfigError::invalid("auth", "password needs a username")),
            (None, None, None) => Err(ConfigError::invalid(
                "auth",
                "token, token_file or username and password",
            )),
        }
    }
}

impl TryFrom<RawHttpAuth> for TokenAuthConfig {
    type Error = ConfigError;
    fn try_from(r: RawHttpAuth) -> Result<Self, ConfigError> {
        if r.username.is_some() || r.password.is_some() || r.password_file.is_some() {
            return Err(ConfigError::invalid(
                "auth",
                "the collector takes a bearer token (token or token_file)",
            ));
        }
        match one_secret("token", r.token, r.token_file)? {
            Some(token) => Ok(TokenAuthConfig { token }),
            None => Err(ConfigError::invalid(
                "auth",
                "token or token_file is needed",
            )),
        }
    }
}

/// An HTTP client for `url` with `tls` and `auth` applied on top of
/// `builder`. Reads the files now; errors say which one and why, prefixed
/// with `at` (the config path of the block).
pub fn http_client(
    at: &str,
    url: &str,
    mut builder: reqwest::ClientBuilder,
    tls: Option<&TlsClientConfig>,
    auth: Option<&HttpAuthConfig>,
) -> Result<reqwest::Client, ClientSetupError> {
    let https = url.starts_with("https://");
    let read = |key: &str, path: &PathBuf| {
        std::fs::read(path).map_err(|error| ClientSetupError::ReadTlsFile {
            key: format!("{at}.tls.{key}"),
            path: path.clone(),
            error,
        })
    };
    if let Some(tls) = tls {
        if !https {
            return Err(ClientSetupError::TlsWithoutHttps {
                at: at.into(),
                url: url.into(),
            });
        }
        if let Some(ca) = &tls.ca_file {
            let pem = read("ca_file", ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                ClientSetupError::CaCertificates {
                    key: format!("{at}.tls.ca_file"),
                    path: ca.clone(),
                    error,
                }
            })?;
            if certs.is_empty() {
                return Err(ClientSetupError::NoCaCertificate {
                    key: format!("{at}.tls.ca_file"),
                    path: ca.clone(),
                });
            }
            // The configured CA alone: a public CA's certificate for the
            // same name is not the collector's.
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            let mut pem = read("cert_file", cert)?;
            let key_pem = read("key_file", key)?;
            pem.push(b'\n');
            pem.extend_from_slice(&key_pem);
            // reqwest's rustls backend reads the chain and the key from one
            // PEM buffer; its errors describe the PEM, never quote it.
            let identity = reqwest::Identity::from_pem(&pem).map_err(|error| {
                ClientSetupError::ClientIdentity {
                    at: at.into(),
                    cert: cert.clone(),
                    key: key.clone(),
                    error,
                }
            })?;
            builder = builder.identity(identity);
        }
    }
    if let Some(auth) = auth {
        if !https {
            tracing::warn!(
                url,
                "{at}.auth over plain http: the credentials cross the network in clear"
            );
        }
        let secret_file = |key: &str| {
            let key = format!("{at}.auth.{key}");
            move |error| ClientSetupError::SecretFile { key, error }
        };
        let value = match auth {
            HttpAuthConfig::Bearer(t) => {
                let token = t.load().map_err(secret_file("token_file"))?;
                format!("Bearer {}", token.expose())
            }
            HttpAuthConfig::Basic { username, password } => {
                let password = password.load().map_err(secret_file("password_file"))?;
                basic_header(username, &password)
            }
        };
        let mut value = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| ClientSetupError::HeaderValue { at: at.into() })?;
        // Kept out of reqwest's and hyper's Debug output.
        value.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        builder = builder.default_headers(headers);
    }
    builder
        .build()
        .map_err(|error| ClientSetupError::HttpClient {
            at: at.into(),
            error,
        })
}

/// An HTTP client whose files SIGHUP re-reads: each request takes the
/// [`current`](ReloadableClient::current) client, and
/// [`reload`](ReloadableClient::reload) builds a new one from the same
/// settings (CA, client certificate and key, token or password file) and
/// swaps it in. A file that cannot be read or used then keeps the client in
/// use, with an error logged that names the file: a half-written token must
/// not cut the agent off. Requests under way finish on the client they
/// started with (their connections close when the last one is done); the
/// next ones open connections with the new files.
///
/// Thread-safe: requests and a reload may run at once.
pub struct ReloadableClient {
    /// The config path of the block (`agent.sink`), for messages.
    at: String,
    build: Box<dyn Fn() -> Result<reqwest::Client, ClientSetupError> + Send + Sync>,
    current: std::sync::RwLock<reqwest::Client>,
    /// Whether any file goes into the client; without one a reload has
    /// nothing to re-read.
    reads_files: bool,
}

impl ReloadableClient {
    /// Builds the first client now (start-up errors are the caller's):
    /// `builder` makes the request settings (timeouts, pool) and the rest
    /// is as in [`http_client`].
    pub fn new(
        at: &str,
        url: &str,
        builder: impl Fn() -> reqwest::ClientBuilder + Send + Sync + 'static,
        tls: Option<TlsClientConfig>,
        auth: Option<HttpAuthConfig>,
    ) -> Result<ReloadableClient, ClientSetupError> {
        let reads_files = tls.is_some() || auth.is_some();
        let (at_owned, url) = (at.to_owned(), url.to_owned());
        let build = move || http_client(&at_owned, &url, builder(), tls.as_ref(), auth.as_ref());
        let first = build()?;
        Ok(ReloadableClient {
            at: at.to_owned(),
            build: Box::new(build),
            current: std::sync::RwLock::new(first),
            reads_files,
        })
    }

    /// The client for the next request (a cheap handle onto its pool).
    pub fn current(&self) -> reqwest::Client {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the files and swaps the new client in; on failure keeps the
    /// one in use and logs why (a file's name and the problem, never its
    /// content). Returns whether the new files are in use. Reads files:
    /// call it off the async threads.
    pub fn reload(&self) -> bool {
        if !self.reads_files {
            return true;
        }
        match (self.build)() {
            Ok(client) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = client;
                tracing::info!("{}: TLS files and credentials re-read", self.at);
                true
            }
            Err(e) => {
                tracing::error!(
                    "{}: re-reading TLS files and credentials failed, keeping the ones in use: {e}",
                    self.at
                );
                false
            }
        }
    }
}

/// `Basic base64(user:password)` (RFC 7617).
fn basic_header(username: &str, password: &Secret) -> String {
    use base64::Engine;
    let raw = format!("{username}:{}", password.expose());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `sasl:` of the Kafka sink (and the CLI's flags).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawSasl")]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    /// PLAIN and SCRAM: the user. OAUTHBEARER: the principal of
    /// librdkafka's unsecured JWT (for OIDC, set `sasl.oauthbearer.*` in
    /// `options`).
    pub username: Option<String>,
    pub password: Option<SecretSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSasl {
    mechanism: SaslMechanism,
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

impl TryFrom<RawSasl> for SaslConfig {
    type Error = ConfigError;
    fn try_from(r: RawSasl) -> Result<Self, ConfigError> {
        let password = one_secret("password", r.password, r.password_file)?;
        SaslConfig::new(r.mechanism, r.username, password)
    }
}

impl SaslConfig {
    pub fn new(
        mechanism: SaslMechanism,
        username: Option<String>,
        password: Option<SecretSource>,
    ) -> Result<SaslConfig, ConfigError> {
        match mechanism {
            SaslMechanism::OauthBearer if password.is_some() => {
                return Err(ConfigError::invalid("sasl", "OAUTHBEARER takes no password (librdkafka's unsecured JWT; OIDC settings go in options)"))
            }
            SaslMechanism::OauthBearer => {}
            _ if username.as_deref().is_none_or(str::is_empty) || password.is_none() => {
                return Err(ConfigError::SaslCredentials { mechanism })
            }
            _ => {}
        }
        Ok(SaslConfig {
            mechanism,
            username,
            password,
        })
    }
}

/// The SASL mechanisms this build of librdkafka has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER")]
    OauthBearer,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OauthBearer => "OAUTHBEARER",
        }
    }

    pub fn parse(s: &str) -> Result<SaslMechanism, ConfigError> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OauthBearer,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| ConfigError::UnknownSaslMechanism { name: s.into() })
    }
}

/// The librdkafka properties for `tls` and `sasl`: `security.protocol`
/// follows from which are set (`ssl`, `sasl_plaintext`, `sasl_ssl`), the
/// files become `ssl.*.location`, the password is read now (the one thing
/// that can fail: the caller names where `password_file` was set). The
/// secret value is returned as a [`Secret`] so the caller hands it to
/// librdkafka without ever formatting it.
pub fn kafka_properties(
    tls: Option<&TlsClientConfig>,
    sasl: Option<&SaslConfig>,
) -> Result<Vec<(&'static str, Secret)>, SecretFileError> {
    let mut out = Vec::new();
    let plain = |s: &str| Secret::new(s);
    let protocol = match (tls.is_some(), sasl.is_some()) {
        (false, false) => return Ok(out),
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    out.push(("security.protocol", plain(protocol)));
    if let Some(tls) = tls {
        let path = |p: &PathBuf| Secret::new(p.to_string_lossy());
        if let Some(ca) = &tls.ca_file {
            out.push(("ssl.ca.location", path(ca)));
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            out.push(("ssl.certificate.location", path(cert)));
            out.push(("ssl.key.location", path(key)));
        }
    }
    if let Some(sasl) = sasl {
        out.push(("sasl.mechanism", plain(sasl.mechanism.as_str())));
        match sasl.mechanism {
            SaslMechanism::OauthBearer => {
                if let Some(user) = &sasl.username {
                    out.push((
                        "sasl.oauthbearer.config",
                        Secret::new(format!("principal={user}")),
                    ));
                }
            }
            _ => {
                if let Some(user) = &sasl.username {
                    out.push(("sasl.username", plain(user)));
                }
                if let Some(pw) = &sasl.password {
                    out.push(("sasl.password", pw.load()?));
                }
            }
        }
    }
    Ok(out)
}

/// librdkafka properties passed through as written (`options:`). Values of
/// keys that hold secrets print as `***`.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct KafkaOptions(pub BTreeMap<String, String>);

/// Whether librdkafka treats the property as a secret (its own list, plus
/// inline PEM keys and OAUTHBEARER configs, which may hold one).
pub fn is_secret_property(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key == "ssl.key.pem"
        || key == "ssl_key"
        || key == "sasl.oauthbearer.config"
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown: &dyn fmt::Debug = if is_secret_property(k) { &"***" } else { v };
                (k, shown)
            }))
            .finish()
    }
}

impl<'a> IntoIterator for &'a KafkaOptions {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read through Debug (the redaction test) and by their parse errors.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Blocks {
        tls: Option<TlsClientConfig>,
        auth: Option<HttpAuthConfig>,
        token: Option<TokenAuthConfig>,
        sasl: Option<SaslConfig>,
        #[serde(default)]
        options: KafkaOptions,
    }

    fn parse(yaml: &str) -> Result<Blocks, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(yaml)
    }

    #[test]
    fn structural_mistakes_are_refused_while_parsing() {
        for (yaml, want) in [
            ("tls: {cert_file: /c}", "cert_file and key_file go together"),
            ("tls: {ca: /c}", "unknown field `ca`"),
            ("auth: {token: a, token_file: /t}", "not both"),
            ("auth: {username: u}", "needs password"),
            ("auth: {password: p}", "needs a username"),
            ("auth: {token: t, username: u, password: p}", "not both"),
            ("auth: {}", "token, token_file or username"),
            ("token: {username: u, password: p}", "bearer token"),
            (
                "sasl: {mechanism: SCRAM-SHA-512, username: u}",
                "needs username and password",
            ),
            ("sasl: {mechanism: GSSAPI}", "unknown variant `GSSAPI`"),
            (
                "sasl: {mechanism: OAUTHBEARER, password: x}",
                "takes no password",
            ),
            (
                "sasl: {mechanism: PLAIN, username: u, password: p, password_file: /f}",
                "not both",
            ),
        ] {
            let e = parse(yaml).unwrap_err().to_string();
            assert!(e.contains(want), "{yaml}: {e}");
        }
        let b = parse("auth: {username: u, password_file: /pw}\nsasl: {mechanism: SCRAM-SHA-256, username: u, password: p}").unwrap();
        assert_eq!(
            b.auth,
            Some(HttpAuthConfig::Basic {
                username: "u".into(),
                password: SecretSource::File("/pw".into())
            })
        );
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let b = parse(
            "auth: {token: tok-4242}\nsasl: {mechanism: PLAIN, username: u, password: pw-4242}\noptions: {sasl.password: opt-4242, ssl.key.password: key-4242, linger.ms: '7'}",
        )
        .unwrap();
        let debug = format!("{b:?}");
        assert!(!debug.contains("4242"), "{debug}");
        assert!(
            debug.contains("linger.ms") && debug.contains("\"7\""),
            "{debug}"
        );
        // A secret in a place that wants something else is not echoed.
        let e = parse("auth: {token: [tok-4242]}").unwrap_err().to_string();
        assert!(!e.contains("4242"), "{e}");
    }

    #[test]
    fn kafka_properties_follow_from_the_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let tls = TlsClientConfig {
            ca_file: Some("/ca.pem".into()),
            cert_file: Some("/c.pem".into()),
            key_file: Some("/k.pem".into()),
        };
        let sasl = SaslConfig::new(
            SaslMechanism::ScramSha512,
            Some("agent".into()),
            Some(SecretSource::File(pw)),
        )
        .unwrap();
        let props = |t, s| -> Vec<(&str, String)> {
            kafka_properties(t, s)
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k, v.expose().to_owned()))
                .collect()
        };
        assert!(props(None, None).is_empty());
        assert_eq!(
            props(Some(&tls), Some(&sasl)),
            [
                ("security.protocol", "sasl_ssl".to_owned()),
                ("ssl.ca.location", "/ca.pem".to_owned()),
                ("ssl.certificate.location", "/c.pem".to_owned()),
                ("ssl.key.location", "/k.pem".to_owned()),
                ("sasl.mechanism", "SCRAM-SHA-512".to_owned()),
                ("sasl.username", "agent".to_owned()),
                ("sasl.password", "s3cret".to_owned()),
            ]
        );
        let no_ca = TlsClientConfig::default();
        assert_eq!(
            props(Some(&no_ca), None),
            [("security.protocol", "ssl".to_owned())]
        );
        let oauth = SaslConfig::new(SaslMechanism::OauthBearer, Some("svc".into()), None).unwrap();
        assert_eq!(
            props(None, Some(&oauth)),
            [
                ("security.protocol", "sasl_plaintext".to_owned()),
                ("sasl.mechanism", "OAUTHBEARER".to_owned()),
                ("sasl.oauthbearer.config", "principal=svc".to_owned()),
            ]
        );
        let missing = SaslConfig::new(
            SaslMechanism::Plain,
            Some("u".into()),
            Some(SecretSource::File(dir.path().join("nope"))),
        )
        .unwrap();
        let e = kafka_properties(None, Some(&missing)).unwrap_err();
        assert!(
            matches!(&e, SecretFileError::Read { path, .. } if path.ends_with("nope")),
            "{e}"
        );
    }

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        // RFC 7617's example.
        assert_eq!(
            basic_header("Aladdin", &Secret::new("open sesame")),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_header("a", &Secret::new("b")), "Basic YTpi");
        assert_eq!(basic_header("ab", &Secret::new("c")), "Basic YWI6Yw==");
    }

    /// Why `http_client` refuses `tls` for `url`.
    fn client_error(at: &str, url: &str, tls: &TlsClientConfig) -> String {
        http_client(at, url, reqwest::Client::builder(), Some(tls), None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn tls_on_a_plain_url_and_unreadable_files_are_clear_errors() {
        let e = client_error("agent.sink", "http://h:1", &TlsClientConfig::default());
        assert!(e.contains("not https://"), "{e}");
        let tls = TlsClientConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = client_error("agent.sink", "https://h:1", &tls);
        assert!(
            e.contains("agent.sink.tls.ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let tls = TlsClientConfig {
            ca_file: Some(ca),
            ..Default::default()
        };
        let e = client_error("x", "https://h:1", &tls);
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
