//! Who an HTTP request is, and whether it may proceed.
//!
//! [`HttpAuthConfig`] is `collector.http.auth`. [`HttpAuth`] authenticates
//! each request to an API route (and to `/metrics`, `/healthz`, `/readyz`
//! with `protect_metrics`) in the [`authenticate`] middleware, which puts an
//! [`Authenticated`] extension on the request for the handlers:
//!
//! 1. `Authorization: Bearer TOKEN`, when a tokens file is configured: the
//!    token's principal ([`super::tokens`]), or 401.
//! 2. Else a client certificate (mutual TLS), its subject through
//!    `ssl_principal_mapping_rules` (Kafka's grammar, [`PrincipalMapper`]),
//!    or 401 when no rule matches.
//! 3. Else `User:ANONYMOUS`, or 401 when authentication is required.
//!
//! A bearer token wins over a certificate, as SASL does over SSL on a Kafka
//! listener. Refusals are answered after [`FAILED_AUTH_DELAY`] (Kafka's
//! `connection.failed.authentication.delay.ms`) with `WWW-Authenticate` and
//! the contract's error body, logged and counted in
//! `logship_collector_auth_failures_total{listener="http"}`; none of them
//! carries the token.
//!
//! Handlers then ask [`HttpAuth::authorize`] whether the principal may do
//! what it asks: the one place HTTP consults the ACLs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use logship_common::ingest::ErrorCode;
use serde::Deserialize;

use super::error::ApiError;
use super::listener::HttpPeer;
use super::tokens::{TokenError, TokenStore};
use crate::auth::{Authorizer, Operation, Principal, PrincipalMapper, Resource, ResourceType};
use crate::metrics::SecurityMetrics;
use crate::tls::{ClientAuth, TlsConfig};

/// A refused authentication is answered this much later, so guessing
/// tokens is slow (Kafka's `connection.failed.authentication.delay.ms`
/// default).
pub const FAILED_AUTH_DELAY: Duration = Duration::from_millis(100);

/// `collector.http.auth`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpAuthConfig {
    /// Bearer tokens: a JSON file of principals and token hashes, written
    /// by `logship tokens add`. Re-read on SIGHUP.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// Refuse requests without valid credentials (401). Default: true when
    /// `tokens_file` is set, else false (then a client certificate, if
    /// presented, still names the principal).
    #[serde(default)]
    pub required: Option<bool>,
    /// Put `/metrics`, `/healthz` and `/readyz` behind authentication too.
    /// Default false: probes and Prometheus reach them without credentials.
    #[serde(default)]
    pub protect_metrics: bool,
    /// Kafka's `ssl.principal.mapping.rules`, from a client certificate's
    /// subject to a principal name. Default: the Kafka listeners' rules
    /// (`collector.kafka.ssl_principal_mapping_rules`, itself `DEFAULT`
    /// when unset), so one certificate is one principal on both ports and
    /// the same ACLs apply to it. Reloaded on SIGHUP.
    #[serde(default)]
    pub ssl_principal_mapping_rules: Option<String>,
}

/// The mapping rules HTTP requests use: `collector.http.auth`'s when set,
/// else the Kafka listeners' (`kafka_rules`). Errors name the key the
/// rules came from.
pub fn http_principal_mapper(
    config: Option<&HttpAuthConfig>,
    kafka_rules: &str,
) -> Result<PrincipalMapper, String> {
    match config.and_then(|c| c.ssl_principal_mapping_rules.as_deref()) {
        Some(rules) => PrincipalMapper::parse(rules)
            .map_err(|e| format!("collector.http.auth.ssl_principal_mapping_rules: {e}")),
        None => PrincipalMapper::parse(kafka_rules)
            .map_err(|e| format!("collector.kafka.ssl_principal_mapping_rules: {e}")),
    }
}

impl HttpAuthConfig {
    pub fn required(&self) -> bool {
        self.required.unwrap_or(self.tokens_file.is_some())
    }

    /// Checks what can be checked without reading files.
    pub fn validate(&self, tls: Option<&TlsConfig>) -> Result<(), String> {
        let certificates = tls.is_some_and(|t| t.client_auth() != ClientAuth::None);
        if self.required() && self.tokens_file.is_none() && !certificates {
            return Err("collector.http.auth: required, but nothing can authenticate: set tokens_file, or tls.ca_file for client certificates".to_owned());
        }
        if self.protect_metrics && !self.required() {
            return Err("collector.http.auth.protect_metrics needs required: true (else anyone passes as User:ANONYMOUS)".to_owned());
        }
        if let Some(rules) = &self.ssl_principal_mapping_rules {
            PrincipalMapper::parse(rules)
                .map_err(|e| format!("collector.http.auth.ssl_principal_mapping_rules: {e}"))?;
        }
        Ok(())
    }
}

/// How a request authenticated: the `mechanism` label of its failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Bearer,
    Mtls,
    Anonymous,
}

/// The principal of a request that passed [`authenticate`]:
/// `Extension<Authenticated>` in a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub principal: Principal,
    pub mechanism: Mechanism,
}

/// Why an authentication failed; the log line and metric labels. Never
/// holds what the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub mechanism: &'static str,
    pub reason: &'static str,
}

/// The HTTP listener's authentication state. Thread-safe: requests read
/// the token store and authorizer through `ArcSwap`s that reloads replace.
pub struct HttpAuth {
    /// False: no `collector.http.auth`; everyone is anonymous or their
    /// certificate's subject, and nothing is refused.
    enabled: bool,
    required: bool,
    protect_metrics: bool,
    tokens_file: Option<PathBuf>,
    tokens: ArcSwap<TokenStore>,
    mapper: ArcSwap<PrincipalMapper>,
    authorizer: ArcSwap<Authorizer>,
    metrics: SecurityMetrics,
}

impl HttpAuth {
    /// Reads the tokens file; a failure is a start-up error. `kafka_rules`
    /// (`collector.kafka.ssl_principal_mapping_rules`) map certificates
    /// unless `config` has rules of its own.
    pub fn new(
        config: Option<&HttpAuthConfig>,
        kafka_rules: &str,
        metrics: SecurityMetrics,
    ) -> Result<HttpAuth, String> {
        let c = config.cloned().unwrap_or_default();
        let mapper = http_principal_mapper(config, kafka_rules)?;
        let tokens = match &c.tokens_file {
            Some(path) => TokenStore::load(path)
                .map_err(|e| format!("collector.http.auth.tokens_file: {e}"))?,
            None => TokenStore::default(),
        };
        Ok(HttpAuth {
            enabled: config.is_some(),
            required: c.required(),
            protect_metrics: c.protect_metrics,
            tokens_file: c.tokens_file,
            tokens: ArcSwap::from_pointee(tokens),
            mapper: ArcSwap::from_pointee(mapper),
            authorizer: ArcSwap::from_pointee(Authorizer::default()),
            metrics,
        })
    }

    /// No authentication: every request is anonymous (or its
    /// certificate's subject).
    pub fn disabled(metrics: SecurityMetrics) -> HttpAuth {
        HttpAuth::new(None, "DEFAULT", metrics).expect("no files to read")
    }

    pub fn protect_metrics(&self) -> bool {
        self.protect_metrics
    }

    /// Re-reads the tokens file (SIGHUP). On failure the tokens in use stay
    /// and the error is returned. `Ok(None)`: no tokens file configured.
    pub fn reload(&self) -> Result<Option<usize>, TokenError> {
        let Some(path) = &self.tokens_file else {
            return Ok(None);
        };
        let store = TokenStore::load(path)?;
        let count = store.principals().iter().map(|(_, n)| n).sum();
        self.tokens.store(Arc::new(store));
        Ok(Some(count))
    }

    /// Replaces the principal mapping rules (SIGHUP; see
    /// [`http_principal_mapper`]); requests from now on use them.
    pub fn set_mapper(&self, mapper: PrincipalMapper) {
        self.mapper.store(Arc::new(mapper));
    }

    /// Replaces the ACLs HTTP requests are checked against
    /// (`collector.acls`, at start-up and on SIGHUP). Until called, every
    /// authenticated principal may do everything (no ACLs).
    pub fn set_authorizer(&self, authorizer: Authorizer) {
        self.authorizer.store(Arc::new(authorizer));
    }

    /// Who sent a request, from its peer (client certificate) and its
    /// `Authorization` header.
    pub fn authenticate(
        &self,
        peer: Option<&HttpPeer>,
        authorization: Option<&HeaderValue>,
    ) -> Result<Authenticated, Failure> {
        let bearer = Failure {
            mechanism: "bearer",
            reason: "",
        };
        if self.enabled && self.tokens_file.is_some() {
            if let Some(value) = authorization {
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token.trim());
                let Some(token) = token.filter(|t| !t.is_empty()) else {
                    return Err(Failure {
                        reason: "malformed_authorization",
                        ..bearer
                    });
                };
                return match self.tokens.load().verify(token) {
                    Some(principal) => Ok(Authenticated {
                        principal,
                        mechanism: Mechanism::Bearer,
                    }),
                    None => Err(Failure {
                        reason: "invalid_token",
                        ..bearer
                    }),
                };
            }
        }
        if let Some(leaf) = peer
            .and_then(|p| p.client_certificates.as_ref())
            .and_then(|chain| chain.first())
        {
            return match self.mapper.load().principal_for_certificate(leaf) {
                Ok(principal) => Ok(Authenticated {
                    principal,
                    mechanism: Mechanism::Mtls,
                }),
                Err(e) if self.enabled => {
                    tracing::debug!(error = %e, "http: client certificate not mapped to a principal");
                    Err(Failure {
                        mechanism: "mtls",
                        reason: "unmapped_certificate",
                    })
                }
                Err(_) => Ok(anonymous()),
            };
        }
        if self.required {
            let mechanism = if self.tokens_file.is_some() {
                "bearer"
            } else {
                "mtls"
            };
            return Err(Failure {
                mechanism,
                reason: "missing_credentials",
            });
        }
        Ok(anonymous())
    }

    /// Whether `who` may do `operation` on `resource`: the single place
    /// HTTP requests are checked against `collector.acls`. `Err` is the
    /// answer to send (403 with Kafka's authorization error's name).
    pub fn authorize(
        &self,
        who: &Authenticated,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Result<(), ApiError> {
        if self
            .authorizer
            .load()
            .authorize(&who.principal, operation, resource)
        {
            return Ok(());
        }
        Err(denied(
            who,
            operation,
            resource.resource_type,
            resource.name,
        ))
    }

    /// `POST /v1/producer-ids`: as Kafka's InitProducerId without a
    /// transactional id, IDEMPOTENT_WRITE on the cluster or WRITE on any
    /// topic (KIP-679).
    pub fn authorize_producer_id(&self, who: &Authenticated) -> Result<(), ApiError> {
        let authorizer = self.authorizer.load();
        if authorizer.authorize(
            &who.principal,
            Operation::IdempotentWrite,
            Resource::cluster(),
        ) || authorizer.authorize_any(&who.principal, Operation::Write, ResourceType::Topic)
        {
            return Ok(());
        }
        Err(denied(
            who,
            Operation::IdempotentWrite,
            ResourceType::Cluster,
            "",
        ))
    }

    fn challenge(&self, failure: Failure) -> HeaderValue {
        if self.tokens_file.is_none() {
            return HeaderValue::from_static(r#"Certificate realm="logship""#);
        }
        match failure.reason {
            "missing_credentials" => HeaderValue::from_static(r#"Bearer realm="logship""#),
            _ => HeaderValue::from_static(r#"Bearer realm="logship", error="invalid_token""#),
        }
    }
}

fn anonymous() -> Authenticated {
    Authenticated {
        principal: Principal::anonymous(),
        mechanism: Mechanism::Anonymous,
    }
}

fn denied(who: &Authenticated, operation: Operation, kind: ResourceType, name: &str) -> ApiError {
    let code = match kind {
        ResourceType::Cluster => ErrorCode::ClusterAuthorizationFailed,
        _ => ErrorCode::TopicAuthorizationFailed,
    };
    tracing::info!(principal = %who.principal, operation = operation.yaml_name(), resource = ?kind, name, "http request denied by the ACLs");
    ApiError::new(
        code,
        format!(
            "{} may not {} {}",
            who.principal,
            operation.yaml_name(),
            if name.is_empty() {
                "the cluster".to_owned()
            } else {
                format!("topic {name}")
            }
        ),
    )
}

/// The middleware: authenticates, then runs the handler with an
/// [`Authenticated`] extension, or answers 401.
pub async fn authenticate(
    State(auth): State<Arc<HttpAuth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<HttpPeer>().cloned();
    let outcome = auth.authenticate(peer.as_ref(), request.headers().get(header::AUTHORIZATION));
    match outcome {
        Ok(who) => {
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Err(failure) => {
            auth.metrics
                .auth_failure("http", failure.mechanism, failure.reason);
            let addr = peer.map(|p| p.addr.to_string()).unwrap_or_default();
            tracing::warn!(peer = %addr, mechanism = failure.mechanism, reason = failure.reason, path = request.uri().path(), "http: authentication failed");
            tokio::time::sleep(FAILED_AUTH_DELAY).await;
            let mut response = ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: ErrorCode::Unauthenticated,
                message: "authentication failed: missing, unknown or revoked credentials"
                    .to_owned(),
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, auth.challenge(failure));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(config: HttpAuthConfig) -> (HttpAuth, tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::default();
        let token = store.add("web1").unwrap();
        let path = dir.path().join("tokens.json");
        store.save(&path).unwrap();
        let config = HttpAuthConfig {
            tokens_file: Some(path),
            ..config
        };
        let metrics = crate::metrics::Metrics::new().security.clone();
        (
            HttpAuth::new(Some(&config), "DEFAULT", metrics).unwrap(),
            dir,
            token,
        )
    }

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn bearer_tokens_authenticate_and_everything_else_fails_with_a_reason() {
        let (auth, dir, token) = auth(HttpAuthConfig::default());
        let ok = auth
            .authenticate(None, Some(&header(&format!("Bearer {token}"))))
            .unwrap();
        assert_eq!(ok.principal, Principal::user("web1"));
        assert_eq!(ok.mechanism, Mechanism::Bearer);
        // The scheme is case-insensitive (RFC 9110).
        assert!(auth
            .authenticate(None, Some(&header(&format!("bearer {token}"))))
            .is_ok());
        let reason = |h: Option<&str>| auth.authenticate(None, h.map(header).as_ref()).unwrap_err();
        assert_eq!(reason(None).reason, "missing_credentials");
        assert_eq!(reason(Some("Bearer lst_wrong")).reason, "invalid_token");
        assert_eq!(reason(Some("Basic YTpi")).reason, "malformed_authorization");
        assert_eq!(reason(Some("Bearer ")).reason, "malformed_authorization");

        // Revoked, then reloaded.
        let path = dir.path().join("tokens.json");
        let mut store = TokenStore::load(&path).unwrap();
        store.remove("web1");
        store.save(&path).unwrap();
        assert_eq!(auth.reload().unwrap(), Some(0));
        assert_eq!(
            reason(Some(&format!("Bearer {token}"))).reason,
            "invalid_token"
        );
        // A broken file keeps the tokens in use.
        std::fs::write(&path, "{").unwrap();
        assert!(auth.reload().is_err());
    }

    #[test]
    fn without_required_a_request_without_credentials_is_anonymous() {
        let (auth, _dir, _) = auth(HttpAuthConfig {
            required: Some(false),
            ..HttpAuthConfig::default()
        });
        assert_eq!(auth.authenticate(None, None).unwrap(), anonymous());
        assert!(auth
            .authenticate(None, Some(&header("Bearer lst_nope")))
            .is_err());
        let off = HttpAuth::disabled(crate::metrics::Metrics::new().security.clone());
        assert_eq!(
            off.authenticate(None, Some(&header("Bearer x"))).unwrap(),
            anonymous()
        );
    }

    #[test]
    fn certificates_map_with_the_kafka_rules_unless_http_has_its_own() {
        // Subject CN=app,OU=eng,O=acme,C=US.
        let cert = include_bytes!("../auth/testdata/plain.der");
        let peer = HttpPeer {
            addr: "127.0.0.1:1".parse().unwrap(),
            client_certificates: Some(Arc::new(vec![rustls_pki_types::CertificateDer::from(
                cert.to_vec(),
            )])),
        };
        let metrics = || crate::metrics::Metrics::new().security.clone();
        let kafka = "RULE:^CN=([^,]+),OU=([^,]+).*$/$2-$1/U";
        let principal = |auth: &HttpAuth| auth.authenticate(Some(&peer), None).unwrap().principal;

        // Unset: the Kafka rules, with or without an auth block.
        let inherits = HttpAuthConfig {
            required: Some(true),
            ..HttpAuthConfig::default()
        };
        for config in [None, Some(&inherits)] {
            let auth = HttpAuth::new(config, kafka, metrics()).unwrap();
            assert_eq!(principal(&auth), Principal::user("ENG-APP"));
        }
        // Set: its own.
        let own = HttpAuthConfig {
            ssl_principal_mapping_rules: Some("RULE:^CN=([^,]+),.*$/$1/".into()),
            ..inherits.clone()
        };
        let auth = HttpAuth::new(Some(&own), kafka, metrics()).unwrap();
        assert_eq!(principal(&auth), Principal::user("app"));
        // A reload swaps them.
        auth.set_mapper(http_principal_mapper(Some(&inherits), "DEFAULT").unwrap());
        assert_eq!(
            principal(&auth),
            Principal::user("CN=app,OU=eng,O=acme,C=US")
        );

        // Bad rules are reported under the key they came from.
        let e = http_principal_mapper(Some(&inherits), "RULE:(/x").unwrap_err();
        assert!(
            e.starts_with("collector.kafka.ssl_principal_mapping_rules"),
            "{e}"
        );
        let bad = HttpAuthConfig {
            ssl_principal_mapping_rules: Some("RULE:(/x".into()),
            ..HttpAuthConfig::default()
        };
        let e = http_principal_mapper(Some(&bad), "DEFAULT").unwrap_err();
        assert!(
            e.starts_with("collector.http.auth.ssl_principal_mapping_rules"),
            "{e}"
        );
    }

    #[test]
    fn config_validation_refuses_what_cannot_work() {
        let required = HttpAuthConfig {
            required: Some(true),
            ..HttpAuthConfig::default()
        };
        assert!(required
            .validate(None)
            .unwrap_err()
            .contains("nothing can authenticate"));
        let mtls = TlsConfig {
            cert_file: "c".into(),
            key_file: "k".into(),
            ca_file: Some("ca".into()),
            client_auth: None,
            cipher_suites: None,
        };
        required.validate(Some(&mtls)).unwrap();
        let metrics_open = HttpAuthConfig {
            protect_metrics: true,
            ..HttpAuthConfig::default()
        };
        assert!(metrics_open.validate(None).is_err());
        let bad_rules = HttpAuthConfig {
            ssl_principal_mapping_rules: Some("RULE:(/x".into()),
            ..HttpAuthConfig::default()
        };
        assert!(bad_rules.validate(None).is_err());
        let tokens = HttpAuthConfig {
            tokens_file: Some("t.json".into()),
            ..HttpAuthConfig::default()
        };
        assert!(tokens.required());
        tokens.validate(None).unwrap();
    }

    #[test]
    fn the_acls_decide_what_an_authenticated_principal_may_do() {
        use crate::auth::AclRuleConfig;
        let (auth, _dir, _) = auth(HttpAuthConfig::default());
        let web1 = Authenticated {
            principal: Principal::user("web1"),
            mechanism: Mechanism::Bearer,
        };
        // No ACLs: allowed.
        auth.authorize(&web1, Operation::Write, Resource::topic("logs"))
            .unwrap();
        auth.authorize_producer_id(&web1).unwrap();
        let rules: Vec<AclRuleConfig> = serde_yaml_ng::from_str(
            "- {principal: 'User:web1', resource: topic, name: logs-, pattern: prefixed, operations: [write]}\n",
        )
        .unwrap();
        auth.set_authorizer(Authorizer::from_config(&rules, &[]).unwrap());
        auth.authorize(&web1, Operation::Write, Resource::topic("logs-app"))
            .unwrap();
        let e = auth
            .authorize(&web1, Operation::Write, Resource::topic("audit"))
            .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code),
            (403, ErrorCode::TopicAuthorizationFailed)
        );
        assert_eq!(e.message, "User:web1 may not write topic audit");
        auth.authorize_producer_id(&web1).unwrap();
        let other = Authenticated {
            principal: Principal::user("db1"),
            mechanism: Mechanism::Bearer,
        };
        let e = auth.authorize_producer_id(&other).unwrap_err();
        assert_eq!(e.code, ErrorCode::ClusterAuthorizationFailed);
    }
}
