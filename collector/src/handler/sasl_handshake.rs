//! SaslHandshake: the client names the SASL mechanism it will use. Before
//! authentication [`super::pre_auth`] answers it through [`start`]; once a
//! connection is authenticated (or on a listener without SASL) it is
//! ILLEGAL_SASL_STATE, as Kafka's `KafkaApis` answers.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::auth::sasl::Failure;
use crate::auth::{SaslMechanism, SaslServer};

/// Starts an exchange for the requested mechanism if `enabled` has it. The
/// response lists `enabled` either way (UNSUPPORTED_SASL_MECHANISM tells
/// the client what it could have asked for).
pub fn start(
    req: &SaslHandshakeRequest,
    enabled: &[SaslMechanism],
) -> (SaslHandshakeResponse, Result<SaslServer, Failure>) {
    let started = SaslServer::start(&req.mechanism, enabled);
    let error = match started {
        Ok(_) => 0,
        Err(_) => ResponseError::UnsupportedSaslMechanism.code(),
    };
    let resp = SaslHandshakeResponse::default()
        .with_error_code(error)
        .with_mechanisms(enabled.iter().map(|m| str_bytes(m.name())).collect());
    (resp, started)
}

/// A SaslHandshake in the wrong state: after authentication, during an
/// exchange, or on a listener without SASL.
pub fn illegal_state() -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}

pub fn handle_authenticated(_req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    illegal_state()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ScramMechanism;

    #[test]
    fn offers_the_enabled_mechanisms_and_refuses_others() {
        let enabled = [
            SaslMechanism::Scram(ScramMechanism::Sha512),
            SaslMechanism::Plain,
        ];
        let req = |m: &str| SaslHandshakeRequest::default().with_mechanism(str_bytes(m));
        let (resp, server) = start(&req("PLAIN"), &enabled);
        assert_eq!(resp.error_code, 0);
        assert_eq!(server.unwrap().mechanism(), SaslMechanism::Plain);
        let names: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
        assert_eq!(names, ["SCRAM-SHA-512", "PLAIN"]);
        for other in ["SCRAM-SHA-256", "GSSAPI", "plain"] {
            let (resp, server) = start(&req(other), &enabled);
            assert_eq!(resp.error_code, 33, "{other}");
            assert_eq!(resp.mechanisms.len(), 2);
            assert!(server.is_err());
        }
        assert_eq!(handle_authenticated(req("PLAIN")).error_code, 34);
    }
}
