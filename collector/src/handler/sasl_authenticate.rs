//! SaslAuthenticate: one SASL token each way, after SaslHandshake v1. Before
//! authentication [`super::pre_auth`] feeds the token to the connection's
//! exchange and builds the answer with [`response`]; once authenticated it
//! is ILLEGAL_SASL_STATE (no re-authentication: KIP-368 is not served, so
//! `session_lifetime_ms` is always 0 and clients never re-authenticate).

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::auth::sasl::Failure;

/// The answer to a token: the server's next token (`Ok`), or the failure
/// with Kafka's message (which never holds a secret).
pub fn response(outcome: Result<Vec<u8>, &Failure>) -> SaslAuthenticateResponse {
    match outcome {
        Ok(token) => SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(token)),
        Err(f) => SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(str_bytes(&f.message))),
    }
}

/// A SaslAuthenticate in the wrong state: before SaslHandshake, after
/// authentication, or on a listener without SASL.
pub fn illegal_state(message: &str) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(str_bytes(message)))
}

pub fn handle_authenticated(_req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    illegal_state("SaslAuthenticate request received after successful authentication")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::FailureReason;

    #[test]
    fn tokens_failures_and_wrong_state() {
        let ok = response(Ok(b"r=abc".to_vec()));
        assert_eq!((ok.error_code, &ok.auth_bytes[..]), (0, &b"r=abc"[..]));
        assert_eq!(ok.session_lifetime_ms, 0);
        let failure = Failure {
            reason: FailureReason::BadPassword,
            message: "Authentication failed: Invalid username or password".to_owned(),
        };
        let bad = response(Err(&failure));
        assert_eq!(bad.error_code, 58);
        assert_eq!(bad.error_message.unwrap().as_str(), failure.message);
        assert!(bad.auth_bytes.is_empty());
        let late = handle_authenticated(SaslAuthenticateRequest::default());
        assert_eq!(late.error_code, 34);
    }
}
