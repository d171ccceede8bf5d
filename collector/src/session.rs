//! Who is on a Kafka connection: the listener it came through (whose
//! address Metadata, FindCoordinator and DescribeCluster advertise), the
//! peer address, the TLS client certificate, and the authentication state
//! that SASL and mTLS fill in. One [`Session`] lives as long as its
//! connection and is handed to every request's handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use crate::auth::{Principal, SaslMechanism, SaslServer, SharedCredentials};

/// Kafka's `security.protocol` names for a listener.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether the listener speaks TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL before other requests.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// The config spelling, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }
}

/// A bound Kafka listener, shared by its connections.
#[derive(Debug)]
pub struct ListenerInfo {
    /// The configured name (`plaintext` for the `kafka.listen` shorthand);
    /// the `listener` label of the connection metrics.
    pub name: String,
    pub security: SecurityProtocol,
    /// The address actually bound (port 0 resolved).
    pub bound: SocketAddr,
    /// What clients of this listener are told to connect to.
    pub advertised_host: String,
    pub advertised_port: i32,
    /// Present exactly on `sasl_plaintext` and `sasl_ssl` listeners.
    pub sasl: Option<Arc<SaslSettings>>,
}

/// What a SASL listener's connections authenticate against.
#[derive(Debug)]
pub struct SaslSettings {
    /// Offered in SaslHandshake, in this order (the listener's
    /// `sasl_mechanisms`, Kafka's `sasl.enabled.mechanisms`).
    pub mechanisms: Vec<SaslMechanism>,
    /// The credentials file, shared by every SASL listener.
    pub credentials: Arc<SharedCredentials>,
    /// Kafka's `connection.failed.authentication.delay.ms`: a failed
    /// authentication is answered (and the connection closed) this much
    /// later, so guessing passwords is slow.
    pub failed_authentication_delay: Duration,
}

/// Where a connection on a SASL listener is in its authentication.
#[derive(Debug, Default)]
pub enum SaslState {
    /// No mechanism chosen yet: ApiVersions and SaslHandshake only.
    #[default]
    Handshake,
    /// SaslHandshake v1+ chose a mechanism: the client's tokens come in
    /// SaslAuthenticate requests.
    Authenticate(SaslServer),
    /// SaslHandshake v0 chose a mechanism: the client's tokens come as raw
    /// size-prefixed frames with no request header, and so do the replies.
    RawTokens(SaslServer),
    /// Authenticated, failed, or not a SASL listener.
    Ended,
}

/// One Kafka connection's identity and authentication state.
///
/// The SASL layer (SaslHandshake / SaslAuthenticate) and the mTLS
/// principal mapping set `principal` and `authenticated`; handlers and
/// the authorizer read them.
#[derive(Debug)]
pub struct Session {
    pub listener: Arc<ListenerInfo>,
    pub peer: Option<SocketAddr>,
    /// The client's certificate chain (leaf first, DER) when it presented
    /// one during the TLS handshake; verified against the listener's CA.
    pub client_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// `User:NAME`; `User:ANONYMOUS` until something authenticates it
    /// (SASL, or the mTLS mapping of `client_certificates`).
    pub principal: Principal,
    /// False on a SASL listener until SaslAuthenticate succeeds; true from
    /// the start on plaintext and ssl listeners (their principal comes
    /// from the connection itself).
    pub authenticated: bool,
    /// The SASL exchange in progress (handler/pre_auth.rs).
    pub sasl: SaslState,
}

impl Session {
    pub fn new(
        listener: Arc<ListenerInfo>,
        peer: Option<SocketAddr>,
        client_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
    ) -> Session {
        let authenticated = !listener.security.sasl();
        Session {
            listener,
            peer,
            client_certificates,
            principal: Principal::anonymous(),
            authenticated,
            sasl: if authenticated {
                SaslState::Ended
            } else {
                SaslState::Handshake
            },
        }
    }

    /// The advertised host of this connection's listener.
    pub fn advertised_host(&self) -> &str {
        &self.listener.advertised_host
    }

    pub fn advertised_port(&self) -> i32 {
        self.listener.advertised_port
    }

    /// A session on a plaintext listener advertising `host:port`, for
    /// handler tests and fuzzing.
    pub fn for_test(host: &str, port: i32) -> Session {
        let listener = Arc::new(ListenerInfo {
            name: "plaintext".to_owned(),
            security: SecurityProtocol::Plaintext,
            bound: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: host.to_owned(),
            advertised_port: port,
            sasl: None,
        });
        Session::new(listener, None, None)
    }
}
