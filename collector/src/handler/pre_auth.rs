//! The gate in front of a SASL listener's connections until they have
//! authenticated, as Kafka's `SaslServerAuthenticator` keeps it:
//!
//! - ApiVersions (any number of times) and SaslHandshake are served before
//!   a mechanism is chosen; every other request closes the connection
//!   unanswered.
//! - SaslHandshake v1 makes the client's tokens arrive in SaslAuthenticate
//!   requests; v0 (kafka-python 2.0) makes them arrive as raw size-prefixed
//!   frames with no request header, answered the same way.
//! - During a v1 exchange only SaslAuthenticate is served; a SaslHandshake
//!   or ApiVersions gets its API's response with ILLEGAL_SASL_STATE, any
//!   other request closes the connection.
//! - Success sets the session's principal (`User:NAME`). Every failure is
//!   counted in `logship_collector_auth_failures_total`, logged without the
//!   token, answered after `failed_authentication_delay` (SaslAuthenticate
//!   and SaslHandshake with their error; v0 tokens with nothing) and closes
//!   the connection. The delay holds only this connection's task.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestKind};
use kafka_protocol::ResponseError;

use super::{
    api_name, blocking, dispatch, encode_response, parse_or_refuse, sasl_authenticate,
    sasl_handshake, Outcome, Request,
};
use crate::auth::{Principal, SaslServer, Step};
use crate::broker::Broker;
use crate::session::{SaslSettings, SaslState, Session};

/// Largest frame accepted before authentication (Kafka's
/// `SaslServerAuthenticator.MAX_RECEIVE_SIZE`): an unauthenticated client
/// cannot make the collector buffer `max_request_bytes`.
const MAX_PRE_AUTH_BYTES: usize = 512 << 10;

/// The `mechanism` label before a mechanism is agreed.
const NO_MECHANISM: &str = "none";

pub async fn handle(broker: &Arc<Broker>, frame: Bytes, session: &mut Session) -> Outcome {
    let Some(sasl) = session.listener.sasl.clone() else {
        return Outcome::Close("unauthenticated connection on a listener without SASL".to_owned());
    };
    if frame.len() > MAX_PRE_AUTH_BYTES {
        let what = format!(
            "closing connection: a {}-byte frame before SASL authentication (at most {MAX_PRE_AUTH_BYTES})",
            frame.len()
        );
        return fail(broker, &sasl, session, "oversized", &what, BytesMut::new()).await;
    }
    match std::mem::replace(&mut session.sasl, SaslState::Ended) {
        SaslState::RawTokens(server) => {
            return raw_token(broker, &sasl, session, server, frame).await
        }
        state => session.sasl = state,
    }
    let started = Instant::now();
    let request = match parse_or_refuse(broker, frame) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let key = request.key;
    let in_exchange = matches!(session.sasl, SaslState::Authenticate(_));
    let outcome = match (key, in_exchange) {
        (ApiKey::ApiVersions, false) => return dispatch(broker, request, session, started).await,
        (ApiKey::SaslHandshake, false) => handshake(broker, &sasl, session, request).await,
        (ApiKey::SaslAuthenticate, true) => authenticate(broker, &sasl, session, request).await,
        (ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate, _) => {
            let (id, v) = (request.correlation_id, request.version);
            let response = match key {
                ApiKey::ApiVersions => encode_response(
                    id,
                    v,
                    &ApiVersionsResponse::default()
                        .with_error_code(ResponseError::IllegalSaslState.code()),
                ),
                ApiKey::SaslHandshake => encode_response(id, v, &sasl_handshake::illegal_state()),
                _ => encode_response(
                    id,
                    v,
                    &sasl_authenticate::illegal_state(
                        "Unexpected SaslAuthenticate request before SaslHandshake",
                    ),
                ),
            };
            let what = format!(
                "closing connection: {} request in the wrong SASL state",
                api_name(key)
            );
            let response = response.unwrap_or_default();
            fail(broker, &sasl, session, "illegal_state", &what, response).await
        }
        (_, _) => {
            // Kafka closes the connection without an answer.
            let what = format!(
                "closing connection: {} request before SASL authentication",
                api_name(key)
            );
            fail(
                broker,
                &sasl,
                session,
                "request_before_auth",
                &what,
                BytesMut::new(),
            )
            .await
        }
    };
    broker
        .metrics
        .kafka
        .request(api_name(key), started.elapsed().as_secs_f64());
    outcome
}

/// SaslHandshake: choose the mechanism; an unknown or disabled one is
/// UNSUPPORTED_SASL_MECHANISM, then the connection closes.
async fn handshake(
    broker: &Broker,
    sasl: &SaslSettings,
    session: &mut Session,
    request: Request,
) -> Outcome {
    let Request {
        version,
        correlation_id,
        body: RequestKind::SaslHandshake(req),
        ..
    } = request
    else {
        unreachable!("routed by key");
    };
    let (resp, started) = sasl_handshake::start(&req, &sasl.mechanisms);
    let response = match encode_response(correlation_id, version, &resp) {
        Ok(r) => r,
        Err(e) => return Outcome::Close(e),
    };
    match started {
        Ok(server) if version == 0 => session.sasl = SaslState::RawTokens(server),
        Ok(server) => session.sasl = SaslState::Authenticate(server),
        Err(f) => {
            let what = "SASL authentication failed: unsupported mechanism; closing the connection";
            return fail(broker, sasl, session, f.reason.label(), what, response).await;
        }
    }
    Outcome::Respond(response)
}

/// SaslAuthenticate: the next client token of a v1 exchange.
async fn authenticate(
    broker: &Broker,
    sasl: &SaslSettings,
    session: &mut Session,
    request: Request,
) -> Outcome {
    let Request {
        version,
        correlation_id,
        body: RequestKind::SaslAuthenticate(req),
        ..
    } = request
    else {
        unreachable!("routed by key");
    };
    let SaslState::Authenticate(server) = std::mem::replace(&mut session.sasl, SaslState::Ended)
    else {
        unreachable!("checked by the caller");
    };
    let (server, step) = step(server, req.auth_bytes, sasl).await;
    let mechanism = server.mechanism();
    let encode = |resp| encode_response(correlation_id, version, &resp);
    match step {
        Step::Challenge(token) => {
            session.sasl = SaslState::Authenticate(server);
            respond(encode(sasl_authenticate::response(Ok(token))))
        }
        Step::Success { principal, reply } => {
            authenticated(session, principal, mechanism.name());
            respond(encode(sasl_authenticate::response(Ok(reply))))
        }
        Step::Failure(f) => {
            let response = encode(sasl_authenticate::response(Err(&f))).unwrap_or_default();
            let what = "SASL authentication failed; closing the connection";
            fail_as(
                broker,
                sasl,
                session,
                mechanism.name(),
                f.reason.label(),
                what,
                response,
            )
            .await
        }
    }
}

/// A raw token after SaslHandshake v0; replies are raw frames too, and a
/// failure is answered by closing the connection.
async fn raw_token(
    broker: &Broker,
    sasl: &SaslSettings,
    session: &mut Session,
    server: SaslServer,
    token: Bytes,
) -> Outcome {
    let (server, step) = step(server, token, sasl).await;
    let mechanism = server.mechanism();
    match step {
        Step::Challenge(token) => {
            session.sasl = SaslState::RawTokens(server);
            Outcome::Respond(raw_frame(&token))
        }
        Step::Success { principal, reply } => {
            authenticated(session, principal, mechanism.name());
            Outcome::Respond(raw_frame(&reply))
        }
        Step::Failure(f) => {
            let what = "SASL authentication failed; closing the connection";
            let (m, reason) = (mechanism.name(), f.reason.label());
            fail_as(broker, sasl, session, m, reason, what, BytesMut::new()).await
        }
    }
}

/// Runs one step off the async runtime: a PLAIN check derives keys with
/// PBKDF2 (thousands of HMACs), which must not stall other connections.
async fn step(server: SaslServer, token: Bytes, sasl: &SaslSettings) -> (SaslServer, Step) {
    let store = sasl.credentials.current();
    blocking(move || {
        let mut server = server;
        let step = server.step(&token, &store);
        (server, step)
    })
    .await
}

fn authenticated(session: &mut Session, principal: Principal, mechanism: &str) {
    tracing::debug!(peer = ?session.peer, listener = %session.listener.name, %principal, mechanism, "SASL authenticated");
    session.principal = principal;
    session.authenticated = true;
    session.sasl = SaslState::Ended;
}

fn respond(encoded: Result<BytesMut, String>) -> Outcome {
    match encoded {
        Ok(r) => Outcome::Respond(r),
        Err(e) => Outcome::Close(e),
    }
}

/// `token` as a v0 frame: i32 length, then the bytes.
fn raw_frame(token: &[u8]) -> BytesMut {
    let mut buf = BytesMut::with_capacity(4 + token.len());
    buf.put_i32(token.len() as i32);
    buf.put_slice(token);
    buf
}

/// A failure before a mechanism was agreed (or with the one agreed, if
/// any): see [`fail_as`].
async fn fail(
    broker: &Broker,
    sasl: &SaslSettings,
    session: &mut Session,
    reason: &str,
    what: &str,
    response: BytesMut,
) -> Outcome {
    let mechanism = match &session.sasl {
        SaslState::Authenticate(s) | SaslState::RawTokens(s) => s.mechanism().name(),
        SaslState::Handshake | SaslState::Ended => NO_MECHANISM,
    };
    fail_as(broker, sasl, session, mechanism, reason, what, response).await
}

/// Counts and logs a failure (never the token), waits
/// `failed_authentication_delay`, then has the connection send `response`
/// and close.
async fn fail_as(
    broker: &Broker,
    sasl: &SaslSettings,
    session: &mut Session,
    mechanism: &str,
    reason: &str,
    what: &str,
    response: BytesMut,
) -> Outcome {
    session.sasl = SaslState::Ended;
    let listener = session.listener.name.as_str();
    broker
        .metrics
        .security
        .auth_failure(listener, mechanism, reason);
    tracing::warn!(peer = ?session.peer, listener, mechanism, reason, "{what}");
    tokio::time::sleep(sasl.failed_authentication_delay).await;
    Outcome::Final(response)
}
