//! SASL on the collector's Kafka listeners, with users made by `logship
//! users add` (password on stdin) and certificates by `logship tls init`:
//! kcat, confluent-kafka and kafka-python produce, consume, use a consumer
//! group and create a topic over `sasl_ssl` with SCRAM-SHA-512 and over
//! `sasl_plaintext` with SCRAM-SHA-256 and PLAIN; the denial cases (wrong
//! password, unknown user, unknown mechanism, a request before
//! authentication, a replayed SCRAM exchange) with real clients and a raw
//! socket, counted by reason and never logging a password; SaslHandshake v0
//! raw tokens; a user added while the collector runs logs in after SIGHUP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use logship_collector::auth::ScramMechanism;

use crate::kafka_protocol::Client;
use crate::tls::{start, tls_init};
use crate::util::*;

pub const ALICE_PW: &str = "Alice-Pw-7f3a";
pub const BOB_PW: &str = "Bob-Pw-4d1e";
pub const WRONG_PW: &str = "Wrong-Pw-91c2";

/// A collector with a `sasl_ssl` listener offering SCRAM-SHA-512 only and
/// a `sasl_plaintext` listener offering all three mechanisms; HTTP in the
/// clear for /metrics. alice has SCRAM-SHA-512 and SCRAM-SHA-256
/// credentials (same password), bob SCRAM-SHA-256 only.
pub struct Sasl {
    pub dir: tempfile::TempDir,
    child: KillOnDrop,
    log: mpsc::Receiver<String>,
    /// Every log line seen so far (drained from `log` by `wait_log`).
    seen: std::cell::RefCell<Vec<String>>,
    pub http: SocketAddr,
    pub kafka: BTreeMap<String, SocketAddr>,
}

impl Sasl {
    pub fn start() -> Sasl {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        tls_init(&certs, "localhost,127.0.0.1", "");
        let credentials = dir.path().join("users.json");
        add_user(&credentials, "alice", "SCRAM-SHA-512", ALICE_PW);
        add_user(&credentials, "alice", "SCRAM-SHA-256", ALICE_PW);
        add_user(&credentials, "bob", "SCRAM-SHA-256", BOB_PW);
        let c = |f: &str| certs.join(f).display().to_string();
        let ssl = free_port();
        let config = dir.path().join("collector.yaml");
        std::fs::write(
            &config,
            format!(
                "collector:
  data_dir: {data}
  groups: {{ initial_rebalance_delay: 0s }}
  auth: {{ credentials_file: {credentials} }}
  http: {{ listen: 127.0.0.1:0 }}
  kafka:
    listeners:
      - name: secure
        listen: 127.0.0.1:{ssl}
        advertised: localhost:{ssl}
        security: sasl_ssl
        sasl_mechanisms: [SCRAM-SHA-512]
        tls: {{ cert_file: {cert}, key_file: {key} }}
      - {{ name: inside, listen: 127.0.0.1:0, security: sasl_plaintext }}
",
                data = dir.path().join("data").display(),
                credentials = credentials.display(),
                cert = c("server.pem"),
                key = c("server.key"),
            ),
        )
        .unwrap();
        let (child, log, http, kafka) = start(&config);
        Sasl {
            dir,
            child,
            log,
            seen: Default::default(),
            http,
            kafka,
        }
    }

    pub fn ca(&self) -> String {
        self.dir.path().join("certs/ca.pem").display().to_string()
    }

    pub fn credentials(&self) -> PathBuf {
        self.dir.path().join("users.json")
    }

    /// The bootstrap address of the `secure` (sasl_ssl) listener, by the
    /// name its certificate holds.
    pub fn secure(&self) -> String {
        format!("localhost:{}", self.kafka["secure"].port())
    }

    pub fn inside(&self) -> String {
        self.kafka["inside"].to_string()
    }

    pub fn failures(&self, listener: &str, mechanism: &str, reason: &str) -> f64 {
        let (_, page) = http_get(self.http, "/metrics");
        let series = format!(
            r#"logship_collector_auth_failures_total{{listener="{listener}",mechanism="{mechanism}",reason="{reason}"}}"#
        );
        metric(&page, &series).unwrap_or(0.0)
    }

    /// Waits for a log line containing `text`.
    pub fn wait_log(&self, text: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line with {text:?}"));
            self.seen.borrow_mut().push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Every log line so far holds none of the passwords.
    pub fn assert_no_password_logged(&self) {
        let mut seen = self.seen.borrow_mut();
        seen.extend(self.log.try_iter());
        assert!(!seen.is_empty());
        for line in seen.iter() {
            for pw in [ALICE_PW, BOB_PW, WRONG_PW] {
                assert!(!line.contains(pw), "password in the log: {line}");
            }
        }
    }
}

/// `logship users add NAME --mechanism M --credentials FILE`, the password
/// on stdin.
pub fn add_user(credentials: &Path, name: &str, mechanism: &str, password: &str) {
    let mut command = Command::new(LOGSHIP);
    command
        .args([
            "users",
            "add",
            name,
            "--mechanism",
            mechanism,
            "--credentials",
        ])
        .arg(credentials);
    let out = run_bounded(
        command,
        "logship users add",
        &format!("{password}\n"),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "users add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// librdkafka's settings for alice over the `secure` (sasl_ssl,
/// SCRAM-SHA-512) listener, `ca` verifying it.
pub fn alice_scram512(ca: &str) -> [(&str, &str); 5] {
    [
        ("security.protocol", "sasl_ssl"),
        ("ssl.ca.location", ca),
        ("sasl.mechanisms", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", ALICE_PW),
    ]
}

/// Debian's kcat (with Debian's librdkafka: cargo's LD_LIBRARY_PATH would
/// hand it the crate's own build) with SASL settings for `bootstrap`.
pub fn kcat(bootstrap: &str, sasl: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new("kcat");
    command
        .env_remove("LD_LIBRARY_PATH")
        .args(["-b", bootstrap]);
    for (k, v) in sasl {
        command.arg("-X").arg(format!("{k}={v}"));
    }
    command.args(args);
    run_bounded(
        command,
        &format!("kcat {args:?}"),
        stdin,
        Duration::from_secs(40),
    )
}

pub fn kcat_ok(bootstrap: &str, sasl: &[(&str, &str)], args: &[&str], stdin: &str) -> String {
    let out = kcat(bootstrap, sasl, args, stdin);
    assert!(
        out.status.success(),
        "kcat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs tests/python/sasl_clients.py; `expect` is `ok` or `denied`.
#[allow(clippy::too_many_arguments)]
pub fn python_client(
    venv: &str,
    library: &str,
    bootstrap: &str,
    protocol: &str,
    mechanism: &str,
    user: &str,
    password: &str,
    ca: &str,
    expect: &str,
) {
    python_client_with(
        venv,
        &[
            library, bootstrap, protocol, mechanism, user, password, ca, expect,
        ],
    );
}

/// Runs tests/python/sasl_clients.py with `args` (LIBRARY BOOTSTRAP
/// PROTOCOL MECHANISM USER PASSWORD CA EXPECT [CERT KEY]); returns its
/// stdout.
pub fn python_client_with(venv: &str, args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sasl_clients.py");
    let mut command = Command::new(venv_python(venv));
    command.arg(script).args(args);
    let (library, expect) = (args[0], args[7]);
    let what = format!("{} ({venv}) expecting {expect}", args[..5].join(" "));
    let out = run_bounded(command, &what, "", Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(&format!("{expect} {library}")),
        "{what}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs the closures on threads at once (the clients are separate
/// processes; running them side by side keeps the test short).
pub fn all(jobs: Vec<Box<dyn FnOnce() + Send + '_>>) {
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs.into_iter().map(|j| s.spawn(j)).collect();
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

#[test]
fn kcat_produces_consumes_and_uses_a_group_over_sasl_ssl_and_sasl_plaintext() {
    let s = Sasl::start();
    let ca = s.ca();
    let scram512 = alice_scram512(&ca);
    let scram256 = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "SCRAM-SHA-256"),
        ("sasl.username", "bob"),
        ("sasl.password", BOB_PW),
    ];
    let plain = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", ALICE_PW),
    ];
    let lines: String = (0..30).map(|i| format!("record-{i}\n")).collect();
    kcat_ok(&s.secure(), &scram512, &["-P", "-t", "kc"], &lines);
    let inside = s.inside();
    // Each mechanism reads what another wrote.
    for sasl in [&scram256[..], &plain[..], &scram512[..]] {
        let bootstrap = if sasl == &scram512[..] {
            s.secure()
        } else {
            inside.clone()
        };
        let consumed = kcat_ok(
            &bootstrap,
            sasl,
            &["-C", "-t", "kc", "-o", "beginning", "-e", "-q"],
            "",
        );
        assert_eq!(consumed, lines);
    }
    kcat_ok(&inside, &plain, &["-P", "-t", "kc"], "over-plain\n");
    let meta = kcat_ok(&s.secure(), &scram512, &["-L", "-t", "kc"], "");
    assert!(
        meta.contains(&format!("broker 0 at {}", s.secure())),
        "{meta}"
    );
    // A balanced consumer group over SCRAM-SHA-256: joins, gets the
    // partition, reads to the end and commits.
    let grouped = kcat_ok(
        &inside,
        &scram256,
        &[
            "-G",
            "kc-group",
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            "enable.auto.commit=false",
            "-e",
            "-q",
            "kc",
        ],
        "",
    );
    assert_eq!(grouped.lines().count(), 31, "{grouped}");
    assert_eq!(s.failures("secure", "none", "request_before_auth"), 0.0);
    s.assert_no_password_logged();
}

#[test]
fn python_clients_create_produce_and_consume_in_groups_over_sasl() {
    let s = Sasl::start();
    let (ca, secure, inside) = (s.ca(), s.secure(), s.inside());
    let runs: [(&str, &str, &str, &str, &str, &str, &str); 7] = [
        (
            "venv-clients",
            "confluent-kafka",
            &secure,
            "SASL_SSL",
            "SCRAM-SHA-512",
            ALICE_PW,
            &ca,
        ),
        (
            "venv-clients",
            "kafka-python",
            &secure,
            "SASL_SSL",
            "SCRAM-SHA-512",
            ALICE_PW,
            &ca,
        ),
        (
            "venv-kafka-python-3",
            "kafka-python",
            &secure,
            "SASL_SSL",
            "SCRAM-SHA-512",
            ALICE_PW,
            &ca,
        ),
        (
            "venv-clients",
            "confluent-kafka",
            &inside,
            "SASL_PLAINTEXT",
            "SCRAM-SHA-256",
            BOB_PW,
            "-",
        ),
        (
            "venv-clients",
            "kafka-python",
            &inside,
            "SASL_PLAINTEXT",
            "SCRAM-SHA-256",
            BOB_PW,
            "-",
        ),
        (
            "venv-clients",
            "confluent-kafka",
            &inside,
            "SASL_PLAINTEXT",
            "PLAIN",
            ALICE_PW,
            "-",
        ),
        (
            "venv-clients",
            "kafka-python",
            &inside,
            "SASL_PLAINTEXT",
            "PLAIN",
            ALICE_PW,
            "-",
        ),
    ];
    for chunk in runs.chunks(4) {
        all(chunk
            .iter()
            .map(|&(venv, library, bootstrap, protocol, mechanism, pw, ca)| {
                let user = if pw == BOB_PW { "bob" } else { "alice" };
                Box::new(move || {
                    python_client(
                        venv, library, bootstrap, protocol, mechanism, user, pw, ca, "ok",
                    )
                }) as Box<dyn FnOnce() + Send>
            })
            .collect());
    }
    s.assert_no_password_logged();
}

#[test]
fn wrong_passwords_unknown_users_and_mechanisms_are_refused_counted_and_not_logged() {
    let s = Sasl::start();
    let (ca, secure, inside) = (s.ca(), s.secure(), s.inside());
    let kcat_denied = |bootstrap: &str, sasl: &[(&str, &str)], expect: &str| {
        let out = kcat(bootstrap, sasl, &["-L", "-m", "5"], "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "kcat got in: {stderr}");
        assert!(stderr.contains(expect), "{stderr}");
    };
    let ssl = |mechanism: &'static str, user: &'static str, pw: &'static str| {
        [
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", ca.as_str()),
            ("sasl.mechanisms", mechanism),
            ("sasl.username", user),
            ("sasl.password", pw),
        ]
    };
    let plaintext = |mechanism: &'static str, user: &'static str, pw: &'static str| {
        [
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", mechanism),
            ("sasl.username", user),
            ("sasl.password", pw),
        ]
    };
    // kcat refused on the sasl_ssl listener / with PLAIN on the
    // sasl_plaintext one.
    let kcat_secure_denied =
        |mechanism, user, pw, expect| kcat_denied(&secure, &ssl(mechanism, user, pw), expect);
    let kcat_plain_denied = |user, pw| {
        kcat_denied(
            &inside,
            &plaintext("PLAIN", user, pw),
            "Invalid username or password",
        )
    };
    // A Python client refused on the sasl_ssl / sasl_plaintext listener.
    let py_secure_denied = |library, mechanism, user, pw| {
        python_client(
            "venv-clients",
            library,
            &secure,
            "SASL_SSL",
            mechanism,
            user,
            pw,
            &ca,
            "denied",
        )
    };
    let py_inside_denied = |library, mechanism, user, pw| {
        python_client(
            "venv-clients",
            library,
            &inside,
            "SASL_PLAINTEXT",
            mechanism,
            user,
            pw,
            "-",
            "denied",
        )
    };
    let failed = "Authentication failed";
    all(vec![
        // Wrong password: kcat, confluent-kafka, kafka-python; SCRAM and PLAIN.
        Box::new(|| kcat_secure_denied("SCRAM-SHA-512", "alice", WRONG_PW, failed)),
        Box::new(|| kcat_plain_denied("alice", WRONG_PW)),
        Box::new(|| py_inside_denied("confluent-kafka", "SCRAM-SHA-256", "bob", WRONG_PW)),
        Box::new(|| py_secure_denied("kafka-python", "SCRAM-SHA-512", "alice", WRONG_PW)),
    ]);
    all(vec![
        // Unknown user.
        Box::new(|| kcat_secure_denied("SCRAM-SHA-512", "mallory", WRONG_PW, failed)),
        Box::new(|| kcat_plain_denied("mallory", WRONG_PW)),
        Box::new(|| py_inside_denied("kafka-python", "SCRAM-SHA-256", "mallory", WRONG_PW)),
        // Unknown or disabled mechanism: PLAIN and SCRAM-SHA-256 are not
        // offered on the sasl_ssl listener, OAUTHBEARER nowhere.
        Box::new(|| kcat_secure_denied("PLAIN", "alice", ALICE_PW, "Unsupported SASL mechanism")),
        Box::new(|| py_secure_denied("kafka-python", "SCRAM-SHA-256", "alice", ALICE_PW)),
        Box::new(|| py_inside_denied("confluent-kafka", "OAUTHBEARER", "alice", "-")),
    ]);
    // Every kind was counted under its reason (clients retry, so at least
    // once each).
    for (listener, mechanism, reason) in [
        ("secure", "SCRAM-SHA-512", "bad_proof"),
        ("inside", "PLAIN", "bad_password"),
        ("inside", "SCRAM-SHA-256", "bad_proof"),
        ("secure", "SCRAM-SHA-512", "unknown_user"),
        ("inside", "PLAIN", "unknown_user"),
        ("inside", "SCRAM-SHA-256", "unknown_user"),
        ("secure", "none", "unsupported_mechanism"),
        ("inside", "none", "unsupported_mechanism"),
    ] {
        assert!(
            s.failures(listener, mechanism, reason) >= 1.0,
            "{listener} {mechanism} {reason} not counted"
        );
    }
    s.wait_log("SASL authentication failed");
    // The refused clients did not disturb the others.
    let ok = kcat_ok(&inside, &plaintext("PLAIN", "bob", BOB_PW), &["-L"], "");
    assert!(ok.contains("broker 0 at"), "{ok}");
    s.assert_no_password_logged();
}

/// A raw client: SaslHandshake v1 for `mechanism`, returning the response.
fn handshake(c: &mut Client, version: i16, mechanism: &str) -> SaslHandshakeResponse {
    let req =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
    c.call(ApiKey::SaslHandshake, version, &req)
}

fn authenticate(c: &mut Client, version: i16, token: &[u8]) -> SaslAuthenticateResponse {
    let req =
        SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::copy_from_slice(token));
    c.call(ApiKey::SaslAuthenticate, version, &req)
}

/// client-final for `server_first`, knowing the password (RFC 5802).
fn client_final(
    mech: ScramMechanism,
    password: &str,
    first_bare: &str,
    server_first: &str,
) -> String {
    let fields: Vec<&str> = server_first.split(',').collect();
    let nonce = &fields[0][2..];
    let salt = BASE64.decode(&fields[1][2..]).unwrap();
    let iterations: u32 = fields[2][2..].parse().unwrap();
    let salted = mech.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = mech.hmac(&salted, b"Client Key");
    let stored_key = logship_collector::auth::ScramCredential::derive(
        mech,
        password.as_bytes(),
        &salt,
        iterations,
    )
    .stored_key;
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("{first_bare},{server_first},{without_proof}");
    let signature = mech.hmac(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    format!("{without_proof},p={}", BASE64.encode(proof))
}

#[test]
fn raw_handshakes_v0_tokens_replays_and_requests_before_authentication() {
    let s = Sasl::start();
    let inside = s.kafka["inside"];
    let metadata = MetadataRequest::default();

    // Before authentication: ApiVersions is served (twice), and lists the
    // SASL APIs; a Metadata request closes the connection unanswered.
    let mut c = Client::connect(inside);
    for _ in 0..2 {
        let v: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
        assert_eq!(v.error_code, 0);
        assert!(v
            .api_keys
            .iter()
            .any(|k| k.api_key == 17 && k.max_version == 1));
        assert!(v
            .api_keys
            .iter()
            .any(|k| k.api_key == 36 && k.max_version == 2));
    }
    c.send(ApiKey::Metadata, 0, &metadata);
    assert!(c.closed(), "Metadata before authentication was answered");
    // The same on the TLS listener's neighbour with kcat-free raw bytes is
    // what a scanner sends; the second client is a Metadata v4 opener.
    let mut c = Client::connect(inside);
    c.send(ApiKey::Metadata, 4, &metadata);
    assert!(c.closed());
    s.wait_log("metadata request before SASL authentication");
    assert_eq!(s.failures("inside", "none", "request_before_auth"), 2.0);

    // Unknown mechanism: 33 and the offered list, after the delay, closed.
    let mut c = Client::connect(inside);
    let began = Instant::now();
    let r = handshake(&mut c, 1, "GSSAPI");
    assert!(
        began.elapsed() >= Duration::from_millis(90),
        "failure not delayed"
    );
    assert_eq!(r.error_code, 33);
    let offered: Vec<String> = r.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(c.closed());

    // SaslAuthenticate before SaslHandshake: 34, closed.
    let mut c = Client::connect(inside);
    assert_eq!(authenticate(&mut c, 0, b"\0alice\0x").error_code, 34);
    assert!(c.closed());

    // Handshake v0: raw tokens. PLAIN success is a zero-length frame; then
    // the connection is an ordinary one, and the SASL APIs answer 34
    // without closing it.
    let mut c = Client::connect(inside);
    assert_eq!(handshake(&mut c, 0, "PLAIN").error_code, 0);
    c.send_raw(format!("\0alice\0{ALICE_PW}").as_bytes());
    assert_eq!(c.recv_frame().expect("PLAIN answered").len(), 0);
    let m: MetadataResponse = c.call(ApiKey::Metadata, 1, &metadata);
    assert_eq!(m.brokers.len(), 1);
    assert_eq!(handshake(&mut c, 1, "PLAIN").error_code, 34);
    assert_eq!(authenticate(&mut c, 1, b"x").error_code, 34);
    let _: MetadataResponse = c.call(ApiKey::Metadata, 1, &metadata);
    // A v0 raw token with a wrong password: closed, nothing answered.
    let mut c = Client::connect(inside);
    assert_eq!(handshake(&mut c, 0, "PLAIN").error_code, 0);
    c.send_raw(format!("\0alice\0{WRONG_PW}").as_bytes());
    assert!(c.closed());

    // SCRAM-SHA-256 over SaslAuthenticate v2 (flexible), then a replay:
    // the client-final of that exchange sent in a new exchange fails.
    let mech = ScramMechanism::Sha256;
    let bare = "n=bob,r=fixed-client-nonce-0123456789";
    let mut c = Client::connect(inside);
    assert_eq!(handshake(&mut c, 1, "SCRAM-SHA-256").error_code, 0);
    let first = authenticate(&mut c, 2, format!("n,,{bare}").as_bytes());
    assert_eq!(first.error_code, 0);
    let server_first = String::from_utf8(first.auth_bytes.to_vec()).unwrap();
    let last = client_final(mech, BOB_PW, bare, &server_first);
    let done = authenticate(&mut c, 2, last.as_bytes());
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);
    assert!(done.auth_bytes.starts_with(b"v="));
    assert_eq!(done.session_lifetime_ms, 0);
    let _: MetadataResponse = c.call(ApiKey::Metadata, 1, &metadata);

    let mut replay = Client::connect(inside);
    assert_eq!(handshake(&mut replay, 1, "SCRAM-SHA-256").error_code, 0);
    let again = authenticate(&mut replay, 1, format!("n,,{bare}").as_bytes());
    assert_ne!(&again.auth_bytes[..], server_first.as_bytes());
    let refused = authenticate(&mut replay, 1, last.as_bytes());
    assert_eq!(refused.error_code, 58);
    assert_eq!(
        refused.error_message.unwrap().as_str(),
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
    );
    assert!(replay.closed());
    assert_eq!(s.failures("inside", "SCRAM-SHA-256", "bad_nonce"), 1.0);
    assert_eq!(s.failures("inside", "PLAIN", "bad_password"), 1.0);
    assert_eq!(s.failures("inside", "none", "unsupported_mechanism"), 1.0);
    assert_eq!(s.failures("inside", "none", "illegal_state"), 1.0);

    // A request in the middle of a v1 exchange: closed.
    let mut c = Client::connect(inside);
    assert_eq!(handshake(&mut c, 1, "SCRAM-SHA-256").error_code, 0);
    c.send(ApiKey::Metadata, 1, &metadata);
    assert!(c.closed());
    assert_eq!(
        s.failures("inside", "SCRAM-SHA-256", "request_before_auth"),
        1.0
    );
    s.assert_no_password_logged();
}

#[test]
fn a_user_added_while_running_logs_in_after_sighup() {
    let s = Sasl::start();
    let carol = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "SCRAM-SHA-512"),
        ("sasl.username", "carol"),
        ("sasl.password", "Carol-Pw-5b0c"),
    ];
    let inside = s.inside();
    let out = kcat(&inside, &carol, &["-L", "-m", "5"], "");
    assert!(!out.status.success(), "carol got in before she was added");
    add_user(&s.credentials(), "carol", "SCRAM-SHA-512", "Carol-Pw-5b0c");
    let pid = s.child.0.id();
    sighup(pid);
    let line = s.wait_log("SASL credentials reloaded");
    assert!(line.contains("users=3"), "{line}");
    let meta = kcat_ok(&inside, &carol, &["-L"], "");
    assert!(meta.contains("broker 0 at"), "{meta}");
    let (_, page) = http_get(s.http, "/metrics");
    assert_eq!(
        metric(
            &page,
            r#"logship_collector_credentials_reloads_total{result="ok"}"#
        ),
        Some(1.0)
    );
    // A corrupt file is refused; the users loaded before stay.
    std::fs::write(s.credentials(), "{").unwrap();
    sighup(pid);
    s.wait_log("SASL credentials reload failed");
    let meta = kcat_ok(&inside, &carol, &["-L"], "");
    assert!(meta.contains("broker 0 at"), "{meta}");
    let mut seen = s.seen.borrow_mut();
    seen.extend(s.log.try_iter());
    assert!(seen.iter().all(|l| !l.contains("Carol-Pw-5b0c")));
}
