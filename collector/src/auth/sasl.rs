//! The server side of a SASL exchange, free of I/O: the connection feeds
//! each client token to [`SaslServer::step`] and sends what it returns,
//! whether the tokens travel in SaslAuthenticate (handshake v1) or as raw
//! frames (v0). Mechanisms and messages are Kafka's
//! (`PlainSaslServer`, `ScramSaslServer`, `SaslServerAuthenticator`):
//!
//! - PLAIN: one token `authzid NUL user NUL password`; success replies with
//!   zero bytes (kafka-python and aiokafka fail on anything else).
//! - SCRAM-SHA-256/512: client-first, then client-final; success replies
//!   with server-final (`v=` signature). Failures never send `e=`: they are
//!   SASL_AUTHENTICATION_FAILED with Kafka's message.
//!
//! A failure's [`FailureReason`] is for metrics and logs; its message is
//! what Kafka tells the client. Neither ever contains the password.

use rand::distr::{Alphanumeric, SampleString};

use super::credentials::{CredentialStore, PlainCheck};
use super::principal::Principal;
use super::scram::{self, ClientFinal, ClientFirst, ScramCredential, ScramMechanism};

/// A mechanism this server can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    Plain,
    Scram(ScramMechanism),
}

impl SaslMechanism {
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::Scram(ScramMechanism::Sha256),
        SaslMechanism::Scram(ScramMechanism::Sha512),
    ];

    /// The name in SaslHandshake, e.g. `PLAIN`, `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }

    /// Parses a mechanism name; case-sensitive, as Kafka.
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        SaslMechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an exchange failed: the `reason` label of
/// `logship_collector_auth_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureReason {
    UnknownUser,
    BadPassword,
    BadProof,
    BadNonce,
    Malformed,
    UnsupportedMechanism,
    AuthzidMismatch,
    /// A token after the exchange had ended.
    IllegalState,
}

impl FailureReason {
    pub const ALL: [FailureReason; 8] = [
        FailureReason::UnknownUser,
        FailureReason::BadPassword,
        FailureReason::BadProof,
        FailureReason::BadNonce,
        FailureReason::Malformed,
        FailureReason::UnsupportedMechanism,
        FailureReason::AuthzidMismatch,
        FailureReason::IllegalState,
    ];

    /// A metric label value.
    pub fn label(self) -> &'static str {
        match self {
            FailureReason::UnknownUser => "unknown_user",
            FailureReason::BadPassword => "bad_password",
            FailureReason::BadProof => "bad_proof",
            FailureReason::BadNonce => "bad_nonce",
            FailureReason::Malformed => "malformed",
            FailureReason::UnsupportedMechanism => "unsupported_mechanism",
            FailureReason::AuthzidMismatch => "authzid_mismatch",
            FailureReason::IllegalState => "illegal_state",
        }
    }
}

/// A failed exchange. Answer SASL_AUTHENTICATION_FAILED (58) with
/// `message` (UNSUPPORTED_SASL_MECHANISM (33) for that reason), after
/// `connection.failed.authentication.delay.ms`, then close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    /// Kafka's `error_message`: safe to send to an unauthenticated client.
    pub message: String,
}

/// What to do after a client token.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes and wait for the next client token.
    Challenge(Vec<u8>),
    /// Authenticated as `principal`; send `reply` (empty for PLAIN,
    /// server-final for SCRAM).
    Success {
        principal: Principal,
        reply: Vec<u8>,
    },
    Failure(Failure),
}

/// One exchange on one connection. Create it at SaslHandshake, feed it the
/// client's tokens in order, drop it when it returns Success or Failure.
#[derive(Debug)]
pub struct SaslServer {
    mechanism: SaslMechanism,
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    /// server-first was sent; client-final is next.
    ScramFinal {
        mechanism: ScramMechanism,
        user: String,
        credential: ScramCredential,
        /// client-first-bare "," server-first: AuthMessage's first parts.
        auth_prefix: String,
        /// client nonce + server nonce, which client-final must echo.
        nonce: String,
    },
    Ended,
}

/// Characters of server nonce per exchange (alphanumeric: about 190 bits
/// from the thread-local CSPRNG, more than Kafka's 130).
const SERVER_NONCE_LEN: usize = 32;

impl SaslServer {
    /// The server for the mechanism a client asked for in SaslHandshake,
    /// or the UNSUPPORTED_SASL_MECHANISM failure if it is not `enabled`.
    pub fn start(mechanism: &str, enabled: &[SaslMechanism]) -> Result<SaslServer, Failure> {
        match SaslMechanism::from_name(mechanism) {
            Some(m) if enabled.contains(&m) => Ok(SaslServer::new(m)),
            _ => Err(Failure {
                reason: FailureReason::UnsupportedMechanism,
                message: format!("Unsupported SASL mechanism {mechanism}"),
            }),
        }
    }

    pub fn new(mechanism: SaslMechanism) -> SaslServer {
        SaslServer {
            mechanism,
            state: State::Start,
        }
    }

    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// Advances the exchange with the client's next token, looking
    /// credentials up in `store` (the one current at this step, so a reload
    /// between steps is seen).
    pub fn step(&mut self, token: &[u8], store: &CredentialStore) -> Step {
        self.step_with_nonce(token, store, || {
            Alphanumeric.sample_string(&mut rand::rng(), SERVER_NONCE_LEN)
        })
    }

    fn step_with_nonce(
        &mut self,
        token: &[u8],
        store: &CredentialStore,
        server_nonce: impl FnOnce() -> String,
    ) -> Step {
        let state = std::mem::replace(&mut self.state, State::Ended);
        match (self.mechanism, state) {
            (SaslMechanism::Plain, State::Start) => self.plain(token, store),
            (SaslMechanism::Scram(m), State::Start) => {
                self.scram_first(m, token, store, server_nonce)
            }
            (
                _,
                State::ScramFinal {
                    mechanism,
                    user,
                    credential,
                    auth_prefix,
                    nonce,
                },
            ) => self.scram_final(mechanism, token, user, &credential, &auth_prefix, &nonce),
            (_, State::Ended) => self.fail(FailureReason::IllegalState),
        }
    }

    /// RFC 4616 as Kafka parses it: the token is cut at the first two NULs
    /// (anything after a third is ignored); the user and the password must
    /// not be empty; the authzid, if given, must be the user.
    fn plain(&mut self, token: &[u8], store: &CredentialStore) -> Step {
        let mut parts = [&token[..0]; 3];
        let mut rest = token;
        for part in parts.iter_mut() {
            match rest.iter().position(|&b| b == 0) {
                Some(at) => {
                    *part = &rest[..at];
                    rest = &rest[at + 1..];
                }
                None => {
                    *part = rest;
                    break;
                }
            }
        }
        let [authzid, user, password] = parts;
        if user.is_empty() || password.is_empty() {
            return self.fail(FailureReason::Malformed);
        }
        let user = String::from_utf8_lossy(user);
        match store.verify_plain(&user, password) {
            PlainCheck::Valid => {}
            PlainCheck::UnknownUser => return self.fail(FailureReason::UnknownUser),
            PlainCheck::BadPassword => return self.fail(FailureReason::BadPassword),
        }
        if !authzid.is_empty() && authzid != user.as_bytes() {
            return self.fail(FailureReason::AuthzidMismatch);
        }
        Step::Success {
            principal: Principal::user(user.into_owned()),
            reply: Vec::new(),
        }
    }

    fn scram_first(
        &mut self,
        mechanism: ScramMechanism,
        token: &[u8],
        store: &CredentialStore,
        server_nonce: impl FnOnce() -> String,
    ) -> Step {
        let Some(first) = std::str::from_utf8(token).ok().and_then(ClientFirst::parse) else {
            return self.fail(FailureReason::Malformed);
        };
        // Delegation tokens are not supported: a token id is no user.
        let credential = match store.get(&first.name, mechanism) {
            Some(c) if !first.token_auth => c.clone(),
            _ => return self.fail(FailureReason::UnknownUser),
        };
        if !first.authzid.is_empty() && first.authzid != first.name {
            return self.fail(FailureReason::AuthzidMismatch);
        }
        let nonce = format!("{}{}", first.nonce, server_nonce());
        let server_first = scram::server_first(&nonce, &credential.salt, credential.iterations);
        self.state = State::ScramFinal {
            mechanism,
            user: first.name,
            credential,
            auth_prefix: format!("{},{server_first}", first.bare),
            nonce,
        };
        Step::Challenge(server_first.into_bytes())
    }

    fn scram_final(
        &mut self,
        mechanism: ScramMechanism,
        token: &[u8],
        user: String,
        credential: &ScramCredential,
        auth_prefix: &str,
        nonce: &str,
    ) -> Step {
        let Some(last) = std::str::from_utf8(token).ok().and_then(ClientFinal::parse) else {
            return self.fail(FailureReason::Malformed);
        };
        // Kafka's ScramSaslServer only checks that the echoed nonce *ends*
        // with client nonce + server nonce: librdkafka up to at least 2.0.2
        // sends the client nonce twice (`r=<cnonce><cnonce><snonce>`), and
        // the proof covers what it sent. A client-final replayed from
        // another exchange still fails: it ends with that exchange's random
        // server nonce, never this one's.
        if !last.nonce.ends_with(nonce) {
            return self.fail(FailureReason::BadNonce);
        }
        let auth_message = format!("{auth_prefix},{}", last.without_proof);
        if !credential.verify_proof(mechanism, auth_message.as_bytes(), &last.proof) {
            return self.fail(FailureReason::BadProof);
        }
        let signature = credential.server_signature(mechanism, auth_message.as_bytes());
        Step::Success {
            principal: Principal::user(user),
            reply: format!("v={}", base64::Engine::encode(&scram::BASE64, signature)).into_bytes(),
        }
    }

    /// Ends the exchange with Kafka's message for `reason`: PLAIN's
    /// credential and authzid failures have their own messages
    /// (SaslAuthenticationException); everything else gets the generic one.
    fn fail(&mut self, reason: FailureReason) -> Step {
        self.state = State::Ended;
        let plain = self.mechanism == SaslMechanism::Plain;
        let message = match reason {
            FailureReason::AuthzidMismatch => "Authentication failed: Client requested an authorization id that is different from username".to_owned(),
            FailureReason::UnknownUser | FailureReason::BadPassword if plain => {
                "Authentication failed: Invalid username or password".to_owned()
            }
            _ => format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                self.mechanism
            ),
        };
        Step::Failure(Failure { reason, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scram::BASE64;
    use base64::Engine as _;

    const SHA256: SaslMechanism = SaslMechanism::Scram(ScramMechanism::Sha256);
    const SHA512: SaslMechanism = SaslMechanism::Scram(ScramMechanism::Sha512);

    fn b64(s: &str) -> Vec<u8> {
        BASE64.decode(s).unwrap()
    }

    /// The RFC 7677 user ("user" / "pencil") and kafka-python's test user
    /// ("alice" / "alice-secret", see scram.rs), plus bob with both SCRAMs.
    fn store() -> CredentialStore {
        let mut s = CredentialStore::default();
        s.insert(
            "user",
            ScramMechanism::Sha256,
            ScramCredential::derive(
                ScramMechanism::Sha256,
                b"pencil",
                &b64("W22ZaJ0SNY7soEsUEjb6gQ=="),
                4096,
            ),
        );
        s.insert(
            "alice",
            ScramMechanism::Sha512,
            ScramCredential::derive(
                ScramMechanism::Sha512,
                b"alice-secret",
                b"logship-test-salt-0123456789ab",
                4096,
            ),
        );
        for m in ScramMechanism::ALL {
            s.insert("bob", m, ScramCredential::new(m, b"bob-pw", 4096).unwrap());
        }
        s
    }

    fn failure(step: Step) -> Failure {
        match step {
            Step::Failure(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    /// RFC 7677 section 3, byte for byte, with the RFC's server nonce.
    #[test]
    fn rfc7677_exchange() {
        let store = store();
        let mut server = SaslServer::start("SCRAM-SHA-256", &SaslMechanism::ALL).unwrap();
        let first = server.step_with_nonce(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &store, || {
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_owned()
        });
        assert_eq!(
            first,
            Step::Challenge(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec()
            )
        );
        let last = server.step(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            &store,
        );
        assert_eq!(
            last,
            Step::Success {
                principal: Principal::user("user"),
                reply: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
            }
        );
        assert_eq!(
            failure(server.step(b"again", &store)).reason,
            FailureReason::IllegalState
        );
    }

    /// Messages produced once by kafka-python 2.3.3's `ScramClient`
    /// (`kafka/sasl/scram.py`) for SCRAM-SHA-512, user alice, client nonce
    /// fixed to "fyko+d2lbbFgONRv9qkxdawL", fed our server-first with server
    /// nonce "3rfcNHYJY1ZVvWVs7j"; `v=` is the signature it then expects.
    #[test]
    fn kafka_python_sha512_exchange() {
        let store = store();
        let mut server = SaslServer::new(SHA512);
        let first =
            server.step_with_nonce(b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", &store, || {
                "3rfcNHYJY1ZVvWVs7j".to_owned()
            });
        assert_eq!(
            first,
            Step::Challenge(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=bG9nc2hpcC10ZXN0LXNhbHQtMDEyMzQ1Njc4OWFi,i=4096".to_vec())
        );
        let last = server.step(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=tX+O8yQyezyTV6PGxsN1p4lvZ3DuLld5FVvwmUbnJ9d4kiM1MAb0NfzKtFMPfDfC8C8VSmObSj4ffOywzGO+Lw==", &store);
        assert_eq!(
            last,
            Step::Success {
                principal: Principal::user("alice"),
                reply: b"v=jkgk1BI4wXvgfCTRoqlc7GfbtrZ5Iv5+7kf0j+io38o5XpvY83RI1UTqJJgRqmOUoHq8FvwGfS1DQR6ucf3BtA==".to_vec(),
            }
        );
    }

    /// librdkafka 2.0.2 (kcat on Debian 12) echoes the client nonce twice
    /// in client-final; Kafka accepts that (the nonce need only end with
    /// the exchange's), so must we. Another nonce prefix still needs the
    /// right proof.
    #[test]
    fn librdkafka_doubled_client_nonce_is_accepted() {
        let store = store();
        let mut server = SaslServer::new(SHA512);
        let Step::Challenge(sf) = server.step(b"n,,n=bob,r=abc", &store) else {
            panic!()
        };
        let sf = String::from_utf8(sf).unwrap();
        let nonce = &sf[2..sf.find(',').unwrap()];
        // The proof covers the message as sent, so recompute it for the
        // doubled nonce the way librdkafka does.
        let without_proof = format!("c=biws,r=abc{nonce}");
        let cred = ScramCredential::derive(
            ScramMechanism::Sha512,
            b"bob-pw",
            &b64(&sf[sf.find(",s=").unwrap() + 3..sf.find(",i=").unwrap()]),
            4096,
        );
        let salted = ScramMechanism::Sha512.salted_password(b"bob-pw", &cred.salt, 4096);
        let client_key = ScramMechanism::Sha512.hmac(&salted, b"Client Key");
        let auth = format!("n=bob,r=abc,{sf},{without_proof}");
        let sig = ScramMechanism::Sha512.hmac(&cred.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(k, s)| k ^ s).collect();
        let librdkafka = format!("{without_proof},p={}", BASE64.encode(proof));
        assert!(matches!(
            server.step(librdkafka.as_bytes(), &store),
            Step::Success { .. }
        ));
    }

    /// The same client-final against a fresh exchange: the server nonce
    /// differs, so the replay fails.
    #[test]
    fn replayed_client_final_fails() {
        let store = store();
        let mut server = SaslServer::new(SHA512);
        let Step::Challenge(sf) = server.step(b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", &store)
        else {
            panic!()
        };
        let sf = String::from_utf8(sf).unwrap();
        assert!(sf.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        assert_ne!(
            &sf[26..58],
            "3rfcNHYJY1ZVvWVs7j",
            "server nonce must be random"
        );
        let replay = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=tX+O8yQyezyTV6PGxsN1p4lvZ3DuLld5FVvwmUbnJ9d4kiM1MAb0NfzKtFMPfDfC8C8VSmObSj4ffOywzGO+Lw==";
        let f = failure(server.step(replay, &store));
        assert_eq!(f.reason, FailureReason::BadNonce);
        assert_eq!(f.message, "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512");
        // Two exchanges never share a server nonce.
        let mut other = SaslServer::new(SHA512);
        let Step::Challenge(sf2) = other.step(b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", &store)
        else {
            panic!()
        };
        assert_ne!(sf.as_bytes(), sf2);
    }

    /// A client that knows the password, written here from RFC 5802 with
    /// the module's own key derivation.
    fn client_final(
        mech: ScramMechanism,
        password: &[u8],
        first_bare: &str,
        server_first: &str,
    ) -> String {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = &fields[0][2..];
        let salt = b64(&fields[1][2..]);
        let iterations: u32 = fields[2][2..].parse().unwrap();
        let cred = ScramCredential::derive(mech, password, &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{first_bare},{server_first},{without_proof}");
        // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage): recover
        // ClientKey the slow way, through the salted password.
        let salted = mech.salted_password(password, &salt, iterations);
        let client_key = mech.hmac(&salted, b"Client Key");
        let sig = mech.hmac(&cred.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(k, s)| k ^ s).collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    #[test]
    fn scram_failures() {
        let store = store();
        for (mech, pw, reason) in [
            (ScramMechanism::Sha256, &b"bob-pw"[..], None),
            (ScramMechanism::Sha512, b"bob-pw", None),
            (
                ScramMechanism::Sha512,
                b"bob-pw!",
                Some(FailureReason::BadProof),
            ),
        ] {
            let mut server = SaslServer::new(SaslMechanism::Scram(mech));
            let Step::Challenge(sf) = server.step(b"n,,n=bob,r=abc", &store) else {
                panic!()
            };
            let cf = client_final(mech, pw, "n=bob,r=abc", std::str::from_utf8(&sf).unwrap());
            match (server.step(cf.as_bytes(), &store), reason) {
                (Step::Success { principal, .. }, None) => {
                    assert_eq!(principal, Principal::user("bob"))
                }
                (Step::Failure(f), Some(r)) => assert_eq!(f.reason, r),
                (other, _) => panic!("{mech:?} {other:?}"),
            }
        }
        let cases: [(SaslMechanism, &[u8], FailureReason); 6] = [
            (SHA512, b"n,,n=nobody,r=abc", FailureReason::UnknownUser),
            (SHA512, b"n,,n=user,r=abc", FailureReason::UnknownUser), // no SHA-512 credential
            (
                SHA512,
                b"n,,n=bob,r=abc,tokenauth=true",
                FailureReason::UnknownUser,
            ),
            (
                SHA512,
                b"n,a=alice,n=bob,r=abc",
                FailureReason::AuthzidMismatch,
            ),
            (SHA256, b"y,,n=bob,r=abc", FailureReason::Malformed),
            (SHA256, b"n,,n=bob,r=ab\xff", FailureReason::Malformed),
        ];
        for (mech, token, reason) in cases {
            let f = failure(SaslServer::new(mech).step(token, &store));
            assert_eq!(f.reason, reason, "{:?}", String::from_utf8_lossy(token));
            if reason == FailureReason::AuthzidMismatch {
                assert_eq!(f.message, "Authentication failed: Client requested an authorization id that is different from username");
            } else {
                assert!(
                    f.message.ends_with(&format!("with SASL mechanism {mech}")),
                    "{}",
                    f.message
                );
            }
        }
        // An authzid equal to the user is fine.
        assert!(matches!(
            SaslServer::new(SHA512).step(b"n,a=bob,n=bob,r=abc", &store),
            Step::Challenge(_)
        ));
        // A malformed client-final.
        let mut server = SaslServer::new(SHA512);
        server.step(b"n,,n=bob,r=abc", &store);
        assert_eq!(
            failure(server.step(b"c=biws,p=AAAA", &store)).reason,
            FailureReason::Malformed
        );
    }

    #[test]
    fn plain_as_kafka_parses_it() {
        let store = store();
        let ok = |token: &[u8]| match SaslServer::new(SaslMechanism::Plain).step(token, &store) {
            Step::Success { principal, reply } => {
                assert!(reply.is_empty());
                principal
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(token)),
        };
        assert_eq!(ok(b"\0bob\0bob-pw"), Principal::user("bob"));
        assert_eq!(ok(b"bob\0bob\0bob-pw"), Principal::user("bob"));
        assert_eq!(ok(b"\0alice\0alice-secret"), Principal::user("alice"));
        assert_eq!(ok(b"\0user\0pencil"), Principal::user("user"));
        // Kafka reads at most three fields: a fourth is ignored.
        assert_eq!(ok(b"\0bob\0bob-pw\0trailing"), Principal::user("bob"));

        let fails =
            |token: &[u8]| failure(SaslServer::new(SaslMechanism::Plain).step(token, &store));
        let f = fails(b"\0bob\0wrong");
        assert_eq!(f.reason, FailureReason::BadPassword);
        assert_eq!(
            f.message,
            "Authentication failed: Invalid username or password"
        );
        let f = fails(b"\0nobody\0bob-pw");
        assert_eq!(f.reason, FailureReason::UnknownUser);
        assert_eq!(
            f.message,
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            fails(b"alice\0bob\0bob-pw").reason,
            FailureReason::AuthzidMismatch
        );
        for bad in [&b""[..], b"bob", b"\0bob", b"\0bob\0", b"\0\0bob-pw"] {
            let f = fails(bad);
            assert_eq!(f.reason, FailureReason::Malformed, "{bad:?}");
            assert_eq!(f.message, "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN");
        }
        // No message carries the password.
        for token in [
            &b"\0bob\0wrong-secret"[..],
            b"x\0bob\0bob-pw",
            b"\0nobody\0wrong-secret",
        ] {
            let f = fails(token);
            assert!(!f.message.contains("secret") && !f.message.contains("bob-pw"));
        }
    }

    #[test]
    fn handshake_mechanisms() {
        assert_eq!(
            SaslServer::start("PLAIN", &SaslMechanism::ALL)
                .unwrap()
                .mechanism(),
            SaslMechanism::Plain
        );
        let f = SaslServer::start("PLAIN", &[SHA512]).unwrap_err();
        assert_eq!(f.reason, FailureReason::UnsupportedMechanism);
        for bad in ["GSSAPI", "scram-sha-512", "OAUTHBEARER", ""] {
            assert_eq!(
                SaslServer::start(bad, &SaslMechanism::ALL)
                    .unwrap_err()
                    .reason,
                FailureReason::UnsupportedMechanism
            );
        }
        let labels: std::collections::HashSet<_> =
            FailureReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), FailureReason::ALL.len());
    }
}
