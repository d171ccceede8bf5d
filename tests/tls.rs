//! TLS on the collector's edges, driven by tools nobody here wrote:
//! `openssl s_client` for the handshake cases, kcat and the Python clients
//! producing and consuming over `ssl` and mutual TLS, curl against HTTPS
//! ingest, and a SIGHUP certificate rotation seen by a new connection while
//! an established one carries on. Certificates come from `logship tls init`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::util::*;

/// A collector with a plaintext, an `ssl` and a mutual-TLS listener and
/// HTTPS (client certificates requested).
pub struct Secure {
    pub dir: tempfile::TempDir,
    pub child: KillOnDrop,
    pub log: mpsc::Receiver<String>,
    pub http: SocketAddr,
    /// Listener name -> bound address.
    pub kafka: BTreeMap<String, SocketAddr>,
}

impl Secure {
    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    pub fn cert(&self, file: &str) -> String {
        self.certs().join(file).display().to_string()
    }

    /// `localhost:PORT` of a TLS listener (the name its certificate holds).
    pub fn bootstrap(&self, listener: &str) -> String {
        format!("localhost:{}", self.kafka[listener].port())
    }

    /// The collector's /metrics page, over HTTPS.
    pub fn metrics(&self) -> String {
        let (code, body) = curl(&[
            "--cacert",
            &self.cert("ca.pem"),
            &format!("https://localhost:{}/metrics", self.http.port()),
        ]);
        assert_eq!(code, 200, "{body}");
        body
    }

    pub fn metric(&self, series: &str) -> f64 {
        metric(&self.metrics(), series).unwrap_or(0.0)
    }

    /// Waits for a log line containing `text`.
    pub fn wait_log(&self, text: &str) -> String {
        wait_log_line(&self.log, text)
    }
}

/// `logship tls init` into `dir`.
pub fn tls_init(dir: &Path, hosts: &str, clients: &str) {
    let mut args = vec!["tls", "init", "--dir"];
    let d = dir.display().to_string();
    args.push(&d);
    args.extend(["--hosts", hosts]);
    if !clients.is_empty() {
        args.extend(["--clients", clients]);
    }
    let out = Command::new(LOGSHIP).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "tls init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `logship run` on `config`; returns the child, its log and the
/// addresses it bound (HTTP, and Kafka by listener name).
pub fn start(
    config: &Path,
) -> (
    KillOnDrop,
    mpsc::Receiver<String>,
    SocketAddr,
    BTreeMap<String, SocketAddr>,
) {
    let (child, log) = spawn_run(config, "collector");
    let child = KillOnDrop(child);
    let field = |line: &str, key: &str| -> String {
        let v = line.split(&format!("{key}=")).nth(1).unwrap();
        v.split_whitespace()
            .next()
            .unwrap()
            .trim_matches('"')
            .to_owned()
    };
    let (mut http, mut kafka) = (None, BTreeMap::new());
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .expect("the collector did not become ready");
        if line.contains("http listening") {
            http = Some(field(&line, "addr").parse().unwrap());
        }
        if line.contains("kafka listening") {
            kafka.insert(
                field(&line, "listener"),
                field(&line, "addr").parse().unwrap(),
            );
        }
        if line.contains("collector ready") {
            break;
        }
    }
    (child, log, http.unwrap(), kafka)
}

/// Starts the fixture: certificates for localhost, 127.0.0.1 and client
/// `agent-1`, then the collector.
pub fn start_secure(extra: &str) -> Secure {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    tls_init(&certs, "localhost,127.0.0.1", "agent-1");
    let c = |f: &str| certs.join(f).display().to_string();
    let (ssl, mtls) = (free_port(), free_port());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:
  data_dir: {data}
  groups: {{ initial_rebalance_delay: 0s }}
  http:
    listen: 127.0.0.1:0
    tls: {{ cert_file: {cert}, key_file: {key}, ca_file: {ca}, client_auth: requested }}
  kafka:
{extra}    listeners:
      - {{ name: plain, listen: 127.0.0.1:0 }}
      - name: ssl
        listen: 127.0.0.1:{ssl}
        advertised: localhost:{ssl}
        security: ssl
        tls: {{ cert_file: {cert}, key_file: {key} }}
      - name: mtls
        listen: 127.0.0.1:{mtls}
        advertised: localhost:{mtls}
        security: ssl
        tls: {{ cert_file: {cert}, key_file: {key}, ca_file: {ca}, client_auth: required }}
",
            data = dir.path().join("data").display(),
            cert = c("server.pem"),
            key = c("server.key"),
            ca = c("ca.pem"),
        ),
    )
    .unwrap();
    let (child, log, http, kafka) = start(&config);
    Secure {
        dir,
        child,
        log,
        http,
        kafka,
    }
}

/// curl with `args`; returns (status, body).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// `openssl s_client` with stdin closed; returns (exit ok, stdout+stderr).
/// `-ign_eof` makes it wait for the server to close (a refused TLS 1.3
/// client certificate is only reported after the client's handshake
/// ends), bounded by `timeout`.
fn s_client(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .args(["20", "openssl", "s_client", "-connect", &addr.to_string()])
        .args(["-servername", "localhost", "-verify_return_error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Debian's kcat with Debian's librdkafka (built with OpenSSL): cargo's
/// LD_LIBRARY_PATH would hand it the crate's own librdkafka build instead.
pub fn kcat(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("kcat")
        .env_remove("LD_LIBRARY_PATH")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("kcat {args:?} hung");
        })
        .unwrap()
}

/// An ApiVersions v0 request frame with correlation id `id`.
pub fn api_versions_request(id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(18i16.to_be_bytes());
    body.extend(0i16.to_be_bytes());
    body.extend(id.to_be_bytes());
    body.extend(4i16.to_be_bytes());
    body.extend(b"test");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend(body);
    frame
}

/// Sends ApiVersions and checks the answer (correlation id, no error).
pub fn api_versions(stream: &mut (impl Read + Write), id: i32) {
    stream.write_all(&api_versions_request(id)).unwrap();
    stream.flush().unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut response = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut response).unwrap();
    assert_eq!(i32::from_be_bytes(response[..4].try_into().unwrap()), id);
    assert_eq!(i16::from_be_bytes([response[4], response[5]]), 0);
}

/// Whether the server closed `stream` (EOF or reset) within `limit`.
pub fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn der(path: &Path) -> Vec<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap().to_vec())
        .collect()
}

/// A rustls client trusting every CA in `cas`.
fn rustls_client(cas: &[PathBuf]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for c in der(ca) {
            roots.add(c.into()).unwrap();
        }
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr` as `localhost`; returns it with the server's
/// certificate (DER) once the handshake is done.
fn tls_connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> (TlsStream, Vec<u8>) {
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    let cert = stream.conn.peer_certificates().unwrap()[0].to_vec();
    (stream, cert)
}

#[test]
fn tls_init_writes_a_ca_server_and_client_certificates_with_private_keys() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("pki");
    tls_init(
        &certs,
        "collector.internal,10.1.2.3,localhost",
        "agent-1,agent-2",
    );
    let mode = |f: &str| {
        std::fs::metadata(certs.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for key in ["ca.key", "server.key", "agent-1.key", "agent-2.key"] {
        assert_eq!(mode(key), 0o600, "{key}");
    }
    for cert in ["ca.pem", "server.pem", "agent-1.pem", "agent-2.pem"] {
        assert_eq!(mode(cert), 0o644, "{cert}");
    }
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let p = |f: &str| certs.join(f).display().to_string();
    let text = openssl(&["x509", "-in", &p("server.pem"), "-noout", "-text"]);
    assert!(
        text.contains("DNS:collector.internal, IP Address:10.1.2.3, DNS:localhost"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    let client = openssl(&[
        "x509",
        "-in",
        &p("agent-2.pem"),
        "-noout",
        "-subject",
        "-ext",
        "extendedKeyUsage",
    ]);
    assert!(
        client.contains("CN=agent-2") || client.contains("CN = agent-2"),
        "{client}"
    );
    assert!(client.contains("TLS Web Client Authentication"), "{client}");
    let verified = openssl(&[
        "verify",
        "-CAfile",
        &p("ca.pem"),
        &p("server.pem"),
        &p("agent-1.pem"),
    ]);
    assert_eq!(verified.matches(": OK").count(), 2, "{verified}");

    // Never overwrites; bad input is a clear error.
    let again = Command::new(LOGSHIP)
        .args([
            "tls",
            "init",
            "--dir",
            &certs.display().to_string(),
            "--hosts",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = Command::new(LOGSHIP)
        .args(["tls", "init", "--dir", &p("other"), "--hosts", "not a host"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither an IP address nor a DNS name"));
}

#[test]
fn handshakes_with_openssl_and_plaintext_confusion() {
    let s = start_secure("");
    let ca = s.cert("ca.pem");
    for (version, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (ok, out) = s_client(s.kafka["ssl"], &[version, "-CAfile", &ca]);
        assert!(ok, "{out}");
        assert!(
            out.contains(&format!("Protocol  : {name}")) || out.contains(&format!("New, {name}")),
            "{out}"
        );
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    }
    // Mutual TLS: the CA's client certificate is accepted ...
    let (ok, out) = s_client(
        s.kafka["mtls"],
        &[
            "-tls1_2",
            "-CAfile",
            &ca,
            "-cert",
            &s.cert("agent-1.pem"),
            "-key",
            &s.cert("agent-1.key"),
        ],
    );
    assert!(ok, "{out}");
    // ... one from another CA is refused, under TLS 1.2 and 1.3.
    let rogue = s.dir.path().join("rogue");
    tls_init(&rogue, "localhost", "intruder");
    let (rc, rk) = (rogue.join("intruder.pem"), rogue.join("intruder.key"));
    let before = s.metric(r#"logship_collector_auth_failures_total{listener="mtls",mechanism="ssl",reason="tls_handshake"}"#);
    for version in ["-tls1_2", "-tls1_3"] {
        let (ok, out) = s_client(
            s.kafka["mtls"],
            &[
                version,
                "-ign_eof",
                "-CAfile",
                &ca,
                "-cert",
                &rc.display().to_string(),
                "-key",
                &rk.display().to_string(),
            ],
        );
        assert!(
            !ok,
            "untrusted client certificate accepted ({version}): {out}"
        );
        assert!(out.contains("alert"), "{out}");
    }
    s.wait_log("TLS handshake failed");
    let after = s.metric(r#"logship_collector_auth_failures_total{listener="mtls",mechanism="ssl",reason="tls_handshake"}"#);
    assert_eq!(after - before, 2.0);

    // A Kafka request in the clear on a TLS port: closed, counted, logged.
    let mut plain = TcpStream::connect(s.kafka["ssl"]).unwrap();
    plain.write_all(&api_versions_request(1)).unwrap();
    assert!(closed_within(&mut plain, Duration::from_secs(5)));
    s.wait_log("plaintext request on a TLS listener");
    assert_eq!(s.metric(r#"logship_collector_auth_failures_total{listener="ssl",mechanism="ssl",reason="plaintext_on_tls"}"#), 1.0);

    // A TLS ClientHello on the plaintext port: closed, counted, logged.
    let (ok, out) = s_client(s.kafka["plain"], &["-CAfile", &ca]);
    assert!(!ok, "{out}");
    s.wait_log("TLS handshake on a plaintext listener");
    assert_eq!(s.metric(r#"logship_collector_auth_failures_total{listener="plain",mechanism="plaintext",reason="tls_on_plaintext"}"#), 1.0);

    // Neither disturbed anyone: the plaintext listener still answers.
    let mut ok = TcpStream::connect(s.kafka["plain"]).unwrap();
    ok.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    api_versions(&mut ok, 7);
    assert_eq!(
        s.metric(r#"logship_collector_kafka_listener_connections{listener="plain"}"#),
        1.0
    );
}

#[test]
fn kcat_produces_and_consumes_over_ssl_and_mutual_tls_and_sees_each_listeners_address() {
    let s = start_secure("");
    let ca = s.cert("ca.pem");
    let ssl = ["-X", "security.protocol=ssl", "-X"];
    let ca_opt = format!("ssl.ca.location={ca}");
    let ssl_args = |bootstrap: &str, rest: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["-b".into(), bootstrap.into()];
        v.extend(ssl.iter().map(|s| s.to_string()));
        v.push(ca_opt.clone());
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>, stdin: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kcat(&refs, stdin);
        assert!(
            out.status.success(),
            "kcat {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lines: String = (0..50).map(|i| format!("record-{i}\n")).collect();
    run(
        ssl_args(&s.bootstrap("ssl"), &["-P", "-t", "secure"]),
        &lines,
    );
    let cert = format!("ssl.certificate.location={}", s.cert("agent-1.pem"));
    let key = format!("ssl.key.location={}", s.cert("agent-1.key"));
    let mtls = |rest: &[&str]| {
        let mut v = vec!["-X", &cert, "-X", &key];
        v.extend(rest);
        ssl_args(
            &s.bootstrap("mtls"),
            &v.iter().map(|s| &**s).collect::<Vec<_>>(),
        )
    };
    let consumed = run(
        mtls(&["-C", "-t", "secure", "-o", "beginning", "-e", "-q"]),
        "",
    );
    assert_eq!(consumed, lines);
    run(mtls(&["-P", "-t", "secure"]), "over-mtls\n");
    let consumed = run(
        ssl_args(
            &s.bootstrap("ssl"),
            &["-C", "-t", "secure", "-o", "50", "-e", "-q"],
        ),
        "",
    );
    assert_eq!(consumed, "over-mtls\n");
    // Over TLS the record sets are read, a chunk at a time, and encrypted: none
    // went by sendfile. Over plaintext they do.
    let sendfile = "logship_collector_kafka_fetch_sendfile_bytes_total";
    assert!(s.metric("logship_collector_kafka_fetched_bytes_total") > 0.0);
    assert_eq!(s.metric(sendfile), 0.0);
    let plain = s.kafka["plain"].to_string();
    let out = kcat(
        &[
            "-b",
            &plain,
            "-C",
            "-t",
            "secure",
            "-o",
            "beginning",
            "-e",
            "-q",
        ],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{lines}over-mtls\n")
    );
    assert!(s.metric(sendfile) > 0.0);

    // Metadata names the listener the client came through.
    let meta = run(ssl_args(&s.bootstrap("ssl"), &["-L"]), "");
    assert!(
        meta.contains(&format!("broker 0 at {}", s.bootstrap("ssl"))),
        "{meta}"
    );
    let plain = s.kafka["plain"];
    let out = kcat(&["-b", &plain.to_string(), "-L"], "");
    let meta = String::from_utf8_lossy(&out.stdout);
    assert!(meta.contains(&format!("broker 0 at {plain}")), "{meta}");

    // Without a client certificate the mTLS listener refuses kcat.
    let out = kcat(
        &ssl_args(&s.bootstrap("mtls"), &["-L", "-m", "3"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "",
    );
    assert!(!out.status.success());
}

#[test]
fn python_clients_over_ssl_and_mutual_tls() {
    let s = start_secure("");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls_clients.py");
    let python = venv_python("venv-clients");
    let ca = s.cert("ca.pem");
    let (cert, key) = (s.cert("agent-1.pem"), s.cert("agent-1.key"));
    for (library, listener, mutual) in [
        ("confluent-kafka", "ssl", false),
        ("kafka-python", "ssl", false),
        ("confluent-kafka", "mtls", true),
        ("kafka-python", "mtls", true),
    ] {
        let mut args = vec![script, library];
        let bootstrap = s.bootstrap(listener);
        args.extend([bootstrap.as_str(), ca.as_str()]);
        if mutual {
            args.extend([cert.as_str(), key.as_str()]);
        }
        let out = Command::new(&python).args(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("ok {library}")),
            "{library} over {listener}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn curl_ingests_over_https_with_and_without_a_client_certificate() {
    let s = start_secure("");
    let url = format!("https://localhost:{}/v1/topics/web/records", s.http.port());
    let ca = s.cert("ca.pem");
    let post = |extra: &[&str]| {
        let mut args = vec![
            "--cacert",
            &ca,
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
            "{\"msg\":\"hi\"}\n",
        ];
        args.extend(extra);
        args.push(&url);
        curl(&args)
    };
    let (code, body) = post(&[]);
    assert_eq!(code, 200, "{body}");
    let (code, body) = post(&[
        "--cert",
        &s.cert("agent-1.pem"),
        "--key",
        &s.cert("agent-1.key"),
    ]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"base_offset\":1"), "{body}");
    // Plain HTTP to the HTTPS port is closed and counted.
    let (code, _) = curl(&[&format!("http://127.0.0.1:{}/healthz", s.http.port())]);
    assert_eq!(code, 0);
    assert_eq!(
        s.metric(r#"logship_collector_auth_failures_total{listener="http",mechanism="ssl",reason="plaintext_on_tls"}"#),
        1.0
    );
    // An untrusted server certificate is refused by curl (verification on).
    let (code, _) = curl(&[&format!("https://localhost:{}/healthz", s.http.port())]);
    assert_eq!(code, 0);
}

#[test]
fn sighup_reloads_certificates_without_dropping_connections() {
    let s = start_secure("");
    let certs = s.certs();
    let next = s.dir.path().join("next");
    tls_init(&next, "localhost,127.0.0.1", "");
    let client = rustls_client(&[certs.join("ca.pem"), next.join("ca.pem")]);
    let old = der(&certs.join("server.pem"))[0].clone();
    let new = der(&next.join("server.pem"))[0].clone();

    let (mut established, seen) = tls_connect(s.kafka["ssl"], &client);
    assert_eq!(seen, old);
    api_versions(&mut established, 1);

    // Rotate: the new files are renamed into place, then SIGHUP.
    for f in ["server.pem", "server.key"] {
        std::fs::copy(next.join(f), certs.join(format!("{f}.tmp"))).unwrap();
        std::fs::rename(certs.join(format!("{f}.tmp")), certs.join(f)).unwrap();
    }
    let pid = s.child.0.id();
    sighup(pid);
    s.wait_log("TLS certificate reloaded");
    let (mut fresh, seen) = tls_connect(s.kafka["ssl"], &client);
    assert_eq!(seen, new, "a new connection gets the new certificate");
    api_versions(&mut fresh, 2);
    api_versions(&mut established, 3);

    // A broken certificate is refused; the running one stays.
    std::fs::write(certs.join("server.pem"), "not a certificate\n").unwrap();
    sighup(pid);
    let line = s.wait_log("reload failed");
    assert!(line.contains("server.pem"), "{line}");
    let (mut after, seen) = tls_connect(s.kafka["ssl"], &client);
    assert_eq!(seen, new);
    api_versions(&mut after, 4);
    api_versions(&mut established, 5);
    // HTTPS now presents the new certificate too. Three TLS configs
    // (ssl, mtls, http) share the files: three reloads each time.
    let (code, page) = curl(&[
        "--cacert",
        &next.join("ca.pem").display().to_string(),
        &format!("https://localhost:{}/metrics", s.http.port()),
    ]);
    assert_eq!(code, 200, "{page}");
    assert_eq!(
        metric(&page, r#"logship_collector_tls_reloads_total{result="ok"}"#),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &page,
            r#"logship_collector_tls_reloads_total{result="error"}"#
        ),
        Some(3.0)
    );
}

/// The server picks the cipher suite by its own order (AES-128-GCM first
/// by default), not the client's: OpenSSL clients list AES-256 first. A
/// listener's `cipher_suites` list is both what it offers and its order.
#[test]
fn the_server_chooses_the_cipher_suite_aes_128_first_or_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    tls_init(&certs, "localhost,127.0.0.1", "");
    let c = |f: &str| certs.join(f).display().to_string();
    let tls = format!(
        "{{ cert_file: {}, key_file: {} }}",
        c("server.pem"),
        c("server.key")
    );
    let chacha = format!(
        "{{ cert_file: {}, key_file: {}, cipher_suites: [TLS_CHACHA20_POLY1305_SHA256, tls_aes_256_gcm_sha384] }}",
        c("server.pem"),
        c("server.key")
    );
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:
  data_dir: {data}
  http:
    listen: 127.0.0.1:0
    tls: {tls}
  kafka:
    listeners:
      - {{ name: ssl, listen: 127.0.0.1:0, security: ssl, tls: {tls} }}
      - {{ name: chacha, listen: 127.0.0.1:0, security: ssl, tls: {chacha} }}
",
            data = dir.path().join("data").display(),
        ),
    )
    .unwrap();
    let (_child, _log, http, kafka) = start(&config);
    let ca = c("ca.pem");
    // The client's own order, AES-256 first, made explicit.
    let tls13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
    let tls12 =
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256";
    let negotiated = |addr: SocketAddr, version: &str| {
        let (ok, out) = s_client(
            addr,
            &[
                version,
                "-CAfile",
                &ca,
                "-ciphersuites",
                tls13,
                "-cipher",
                tls12,
            ],
        );
        assert!(ok, "{out}");
        let line = out
            .lines()
            .find(|l| l.contains("Cipher is "))
            .unwrap_or_else(|| panic!("no cipher in {out}"));
        line.rsplit("Cipher is ").next().unwrap().trim().to_owned()
    };
    for addr in [kafka["ssl"], http] {
        assert_eq!(negotiated(addr, "-tls1_3"), "TLS_AES_128_GCM_SHA256");
        assert_eq!(negotiated(addr, "-tls1_2"), "ECDHE-ECDSA-AES128-GCM-SHA256");
    }
    assert_eq!(
        negotiated(kafka["chacha"], "-tls1_3"),
        "TLS_CHACHA20_POLY1305_SHA256"
    );
    // Only TLS 1.3 suites are listed there, so TLS 1.2 is not offered.
    let (ok, out) = s_client(kafka["chacha"], &["-tls1_2", "-CAfile", &ca]);
    assert!(!ok, "TLS 1.2 accepted without a TLS 1.2 suite: {out}");
}

#[test]
fn validate_names_an_unknown_cipher_suite_and_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:
  data_dir: {}
  kafka:
    listeners:
      - {{ name: ssl, listen: 127.0.0.1:0, security: ssl, tls: {{ cert_file: s.pem, key_file: s.key, cipher_suites: [TLS_AES_128_GCM_SHA256, ECDHE-RSA-AES128-SHA] }} }}
",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let err = validate_error(&config);
    assert!(
        err.contains(r#"tls.cipher_suites: unknown cipher suite "ECDHE-RSA-AES128-SHA" (supported: TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256, "#),
        "{err}"
    );
}
