//! Authentication and authorization, free of I/O except for the credentials
//! file: who a connection is ([`principal`], [`dn`]), how it proves it
//! ([`sasl`] over [`scram`] and [`credentials`]) and what it may do
//! ([`acl`], [`authorizer`], [`required`]). The connection and the handlers
//! call into these; nothing here touches a socket.
//!
//! Module map:
//! - [`principal`]: `User:NAME` and `User:ANONYMOUS`; Kafka's
//!   `ssl.principal.mapping.rules` from a certificate subject to a principal.
//! - [`dn`]: a client certificate's subject rendered as Java's
//!   `X500Principal.getName()` (RFC 2253), the input of the mapping rules.
//! - [`scram`]: SCRAM-SHA-256/512 keys (RFC 5802/7677) and message parsing,
//!   composed from RustCrypto's HMAC, SHA-2 and PBKDF2.
//! - [`sasl`]: the server side of a SASL exchange (PLAIN, SCRAM) as a state
//!   machine: client token in, server token or outcome out.
//! - [`credentials`]: the salted SCRAM credentials per user and mechanism,
//!   stored as a JSON file with mode 0600 (never a password).
//! - [`acl`]: ACL rules, their YAML form (`collector.acls`,
//!   `collector.super_users`) and its validation.
//! - [`acl_filter`]: which rules a DescribeAcls / DeleteAcls filter selects.
//! - [`authorizer`]: Kafka's authorization semantics over those rules, the
//!   authorized-operations bitfield and KIP-679's "WRITE on any topic".
//! - [`required`]: which operation on which resource each Kafka API needs.
//! - [`access`]: the rules in force (swapped on SIGHUP) and one request's
//!   view of them, which counts and logs denials.

pub mod access;
pub mod acl;
pub mod acl_filter;
pub mod authorizer;
pub mod credentials;
pub mod dn;
pub mod principal;
pub mod required;
pub mod sasl;
pub mod scram;

use std::path::PathBuf;

pub use access::{Access, AccessControl};
pub use acl::{AclRuleConfig, Operation, ResourceType};
pub use authorizer::{Authorizer, Resource, AUTHORIZED_OPERATIONS_OMITTED};
pub use credentials::{CredentialStore, SharedCredentials};
pub use principal::{Principal, PrincipalMapper};
pub use sasl::{FailureReason, SaslMechanism, SaslServer, Step};
pub use scram::{ScramCredential, ScramMechanism};

/// What can go wrong loading or validating authentication settings. None of
/// these carries a password or a key.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("credentials file {}: {reason}", path.display())]
    CorruptCredentials { path: PathBuf, reason: String },
    #[error("invalid ssl principal mapping rules: {0}")]
    MappingRule(String),
    #[error("invalid ACL: {0}")]
    Acl(String),
    #[error("invalid client certificate: {0}")]
    Certificate(String),
    /// A user name, mechanism or iteration count a command was given.
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> AuthError {
        AuthError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
