//! The agent's and the CLI's side of TLS and authentication, against real
//! peers: `prometheus_scrape` of Debian's node exporter behind mutual TLS
//! and basic auth (its own `--web.config.file`), and the librdkafka build
//! (Kafka sink, CLI) taking `ssl`/`sasl_ssl` and every SASL mechanism we
//! document. Secrets given in files or `${ENV}` must not show in any log,
//! `validate` output or error; a scrape password rotates on SIGHUP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent_files::{read_topic, start_agent};
use crate::util::*;

/// A private CA, a server certificate for 127.0.0.1 and localhost, and a
/// client certificate, as PEM files in a directory.
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestPki {
    pub fn new(dir: &Path) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "logship test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(names).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            (p.signed_by(&key, &issuer).unwrap(), key)
        };
        let (server, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "logship test server",
        );
        let (client, client_key) = leaf(vec!["agent".into()], "agent");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        TestPki {
            ca: write("ca.pem", ca_cert.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server.key", server_key.serialize_pem()),
            client_cert: write("client.pem", client.pem()),
            client_key: write("client.key", client_key.serialize_pem()),
        }
    }
}

/// Debian's node exporter serving https only to clients with a
/// certificate from `pki`'s CA and the basic-auth user `scraper`.
struct SecuredExporter(std::process::Child, u16);

impl Drop for SecuredExporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_secured_exporter(dir: &Path, pki: &TestPki, password: &str) -> SecuredExporter {
    let hash = bcrypt::hash(password, 4).unwrap();
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\nbasic_auth_users:\n  scraper: '{hash}'\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus-node-exporter")
        .args([
            &format!("--web.listen-address=127.0.0.1:{port}"),
            &format!("--web.config.file={}", web.display()),
            "--collector.disable-defaults",
            "--collector.meminfo",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter (Debian package; .ci/setup installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "node exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    SecuredExporter(child, port)
}

/// `up` of each job seen so far in the topic, by job name (last wins).
fn up_by_job(bootstrap: &str, topic: &str) -> (std::collections::BTreeMap<String, f64>, usize) {
    let mut up = std::collections::BTreeMap::new();
    let mut mem = 0;
    for m in read_topic(bootstrap, topic) {
        use rdkafka::message::Message;
        let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        let job = v["labels"]["job"].as_str().unwrap().to_owned();
        match v["name"].as_str().unwrap() {
            "up" => {
                up.insert(job, v["value"].as_f64().unwrap());
            }
            "node_memory_MemTotal_bytes" if job == "secured" => mem += 1,
            _ => {}
        }
    }
    (up, mem)
}

#[test]
fn scrapes_node_exporter_over_mutual_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let password = "pw-7f3a9c-scrape";
    let exporter = start_secured_exporter(dir.path(), &pki, password);
    let target = format!("https://127.0.0.1:{}/metrics", exporter.1);

    // The exporter refuses what lacks a client certificate or the password
    // (so the agent's success below is the TLS and auth settings' doing).
    let plain = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    assert!(plain.get(&target).send().is_err(), "no client certificate");

    let collector = start_collector(dir.path());
    std::fs::write(dir.path().join("scrape-password"), format!("{password}\n")).unwrap();
    std::fs::write(dir.path().join("wrong-password"), "nope\n").unwrap();
    let source = |name: &str, password_file: &str, client_cert: bool| {
        let cert = if client_cert {
            format!(
                ", cert_file: {}, key_file: {}",
                pki.client_cert.display(),
                pki.client_key.display()
            )
        } else {
            String::new()
        };
        format!(
            "    {name}:\n      type: prometheus_scrape\n      targets: [\"{target}\"]\n      interval: 300ms\n      timeout: 250ms\n      topic: metrics\n      tls: {{ca_file: {}{cert}}}\n      auth: {{username: scraper, password_file: {}}}\n",
            pki.ca.display(),
            dir.path().join(password_file).display()
        )
    };
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "agent:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  sources:\n{}{}{}  sink:\n    type: collector\n    url: http://{}\n",
            dir.path().join("agent-data").display(),
            source("secured", "scrape-password", true),
            source("wrong_password", "wrong-password", true),
            source("no_client_cert", "scrape-password", false),
            collector.http
        ),
    )
    .unwrap();
    let out = logship(&["validate", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let agent = start_agent(&config);

    let bootstrap = collector.kafka.to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (up, mem) = loop {
        let (up, mem) = up_by_job(&bootstrap, "metrics");
        if up.len() == 3 && mem > 0 {
            break (up, mem);
        }
        assert!(Instant::now() < deadline, "samples never arrived: {up:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(up["secured"], 1.0, "{up:?}");
    assert_eq!(up["wrong_password"], 0.0, "{up:?}");
    assert_eq!(up["no_client_cert"], 0.0, "{up:?}");
    assert!(mem > 0);

    // The password is in no log line and not on /metrics.
    let m = agent.metrics();
    assert!(!m.contains(password));
    let log: Vec<String> = agent.log.try_iter().collect();
    assert!(log.iter().all(|l| !l.contains(password)), "{log:#?}");
    drop(agent);
}

/// Runs `logship ARGS` to completion.
fn logship(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_logship"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_reaches_tls_and_every_sasl_mechanism() {
    // Before librdkafka had OpenSSL these failed at client creation with
    // "OpenSSL not available at build time" and "No provider for SASL
    // mechanism"; now creation succeeds and the command gets as far as the
    // network (a port nobody listens on).
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let dead = format!("127.0.0.1:{}", free_port());
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw-5be1d2-cli\n").unwrap();
    let ca = pki.ca.to_str().unwrap();
    let pw = pw.to_str().unwrap();
    let reached_network = |out: &std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success());
        assert!(
            err.contains("fetching metadata") && err.contains("transport"),
            "{err}"
        );
        assert!(!err.contains("pw-5be1d2-cli"), "{err}");
    };
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        reached_network(&logship(&[
            "topics",
            "list",
            "--bootstrap-server",
            &dead,
            "--tls-ca-file",
            ca,
            "--tls-cert-file",
            pki.client_cert.to_str().unwrap(),
            "--tls-key-file",
            pki.client_key.to_str().unwrap(),
            "--sasl-mechanism",
            mechanism,
            "--sasl-username",
            "agent",
            "--sasl-password-file",
            pw,
        ]));
    }
    reached_network(&logship(&[
        "topics",
        "list",
        "--bootstrap-server",
        &dead,
        "--sasl-mechanism",
        "OAUTHBEARER",
        "--sasl-username",
        "svc",
    ]));
    // The same through a properties file, as Kafka's tools take them.
    let props = dir.path().join("client.properties");
    std::fs::write(
        &props,
        format!("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=agent\nsasl.password=pw-5be1d2-cli\nssl.ca.location={ca}\n"),
    )
    .unwrap();
    reached_network(&logship(&[
        "topics",
        "list",
        "--bootstrap-server",
        &dead,
        "--command-config",
        props.to_str().unwrap(),
    ]));
    // Mistakes are named.
    let out = logship(&["topics", "list", "--sasl-mechanism", "GSSAPI"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown SASL mechanism \"GSSAPI\""));
    let out = logship(&[
        "topics",
        "list",
        "--sasl-mechanism",
        "PLAIN",
        "--sasl-username",
        "u",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PLAIN needs username and password"),
        "{out:?}"
    );
}

#[test]
fn the_kafka_sink_starts_with_sasl_ssl_and_keeps_secrets_out_of_output() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let config = dir.path().join("agent.yaml");
    let dead = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        &config,
        format!(
            "agent:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  sources:\n    logs:\n      type: file\n      include: [\"{}/*.log\"]\n      topic: logs\n  sink:\n    type: kafka\n    brokers: [\"{dead}\"]\n    tls: {{ca_file: {}}}\n    sasl: {{mechanism: SCRAM-SHA-512, username: agent, password: \"${{TEST_KAFKA_PASSWORD}}\"}}\n    options:\n      ssl.key.password: \"${{TEST_KEY_PASSWORD}}\"\n",
            dir.path().join("agent-data").display(),
            dir.path().join("logs").display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    let secret = "pw-93e0aa-sink";
    let run = |args: &[&str], extra_env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_logship"));
        c.args(args)
            .env("TEST_KAFKA_PASSWORD", secret)
            .env("TEST_KEY_PASSWORD", format!("{secret}-key"));
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{out:?}");
    let text = format!("{out:?}");
    assert!(!text.contains(secret), "{text}");

    // A broken config whose secret sits next to the mistake: the error
    // names the place, not the secret.
    let broken = dir.path().join("broken.yaml");
    let yaml = std::fs::read_to_string(&config)
        .unwrap()
        .replace("username: agent,", "username: agent, colour: blue,");
    std::fs::write(&broken, yaml).unwrap();
    let out = run(&["validate", "--config", broken.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("colour"), "{err}");
    assert!(!err.contains(secret), "{err}");

    // The agent starts (librdkafka takes sasl_ssl with SCRAM) and logs no
    // secret at debug level while it fails to reach the broker.
    let mut child = Command::new(env!("CARGO_BIN_EXE_logship"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("TEST_KAFKA_PASSWORD", secret)
        .env("TEST_KEY_PASSWORD", format!("{secret}-key"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("agent did not become ready");
        let ready = line.contains("agent ready");
        lines.push(line);
        if ready {
            break;
        }
    }
    // librdkafka's connection attempts (debug level) while it runs.
    std::thread::sleep(Duration::from_secs(1));
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    assert!(
        lines.iter().any(|l| l.contains("librdkafka")),
        "librdkafka's own log lines are in the check: {lines:#?}"
    );
    for l in &lines {
        assert!(!l.contains(secret), "{l}");
    }
}

/// `web.yml` of [`start_secured_exporter`] with `password` as the user
/// `scraper`'s (the exporter reads it at every request).
fn set_exporter_password(dir: &Path, password: &str) {
    let hash = bcrypt::hash(password, 4).unwrap();
    let web = dir.join("web.yml");
    let text = std::fs::read_to_string(&web).unwrap();
    let (head, _) = text.split_once("basic_auth_users:").unwrap();
    std::fs::write(
        &web,
        format!("{head}basic_auth_users:\n  scraper: '{hash}'\n"),
    )
    .unwrap();
}

#[test]
fn a_scrape_password_rotates_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let (first, second) = ("pw-41c7d0-first", "pw-9a2e55-second");
    let exporter = start_secured_exporter(dir.path(), &pki, first);
    let target = format!("https://127.0.0.1:{}/metrics", exporter.1);
    let collector = start_collector(dir.path());
    let password_file = dir.path().join("scrape-password");
    std::fs::write(&password_file, format!("{first}\n")).unwrap();
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "agent:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  sources:\n    secured:\n      type: prometheus_scrape\n      targets: [\"{target}\"]\n      interval: 300ms\n      timeout: 250ms\n      topic: metrics\n      tls: {{ca_file: {}, cert_file: {}, key_file: {}}}\n      auth: {{username: scraper, password_file: {}}}\n  sink:\n    type: collector\n    url: http://{}\n",
            dir.path().join("agent-data").display(),
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display(),
            password_file.display(),
            collector.http
        ),
    )
    .unwrap();
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    let up_is = |want: f64, what: &str| {
        wait_for(what, Duration::from_secs(30), || {
            up_by_job(&bootstrap, "metrics").0.get("secured") == Some(&want)
        })
    };
    up_is(1.0, "scrapes with the first password");
    // The exporter moves to the second password: scrapes fail...
    set_exporter_password(dir.path(), second);
    up_is(0.0, "scrapes refused with the first password");
    // ...until the agent is given it and told to re-read.
    std::fs::write(&password_file, format!("{second}\n")).unwrap();
    agent.hangup();
    let mut log = Vec::new();
    loop {
        let line = agent
            .log
            .recv_timeout(Duration::from_secs(30))
            .expect("no credentials re-read line");
        let done = line.contains("agent.sources.secured: TLS files and credentials re-read");
        log.push(line);
        if done {
            break;
        }
    }
    up_is(1.0, "scrapes with the second password");

    log.extend(agent.log.try_iter());
    let m = agent.metrics();
    for pw in [first, second] {
        assert!(!m.contains(pw));
        assert!(log.iter().all(|l| !l.contains(pw)), "{log:#?}");
    }
}
