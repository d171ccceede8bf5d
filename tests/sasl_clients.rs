//! The clients tests/sasl.rs and tests/tls.rs leave out, over `sasl_ssl`
//! with SCRAM-SHA-512 and over mutual TLS: aiokafka and kafkajs create a
//! topic, produce, consume in a group and commit; Kafka's own tools (the
//! Java client) do the same with `--command-config`; the agent's Kafka sink
//! (librdkafka) ships a file into the collector, every line once. The
//! denial cases (wrong password, a mechanism the listener does not offer)
//! with kafkajs, aiokafka, the Java client and the agent, none of them
//! leaving a password in a log.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::agent_files::{agent_config, start_agent, use_kafka_sink};
use crate::apache_kafka::{tool, tool_run};
use crate::sasl::*;
use crate::static_groups::kafkajs_command;
use crate::tls::start_secure;
use crate::util::*;

/// Runs tests/node/secure.js (`args` after BOOTSTRAP CA EXPECT) with
/// kafkajs; returns its stdout.
fn kafkajs(bootstrap: &str, ca: &str, expect: &str, args: &[&str]) -> String {
    let mut command = kafkajs_command("secure.js");
    command.args([bootstrap, ca, expect]).args(args);
    let what = format!("kafkajs {args:?} expecting {expect}");
    let started = Instant::now();
    let out = run_bounded(command, &what, "", Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(&format!("{expect} kafkajs")),
        "{what}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{what}: {:?}", started.elapsed());
    stdout
}

type Job<'a> = Box<dyn FnOnce() + Send + 'a>;

#[test]
fn aiokafka_and_kafkajs_over_sasl_ssl_with_scram_sha_512_and_over_mutual_tls() {
    let s = Sasl::start();
    let t = start_secure("");
    let (ca, secure) = (s.ca(), s.secure());
    let (mtls, mtls_ca) = (t.bootstrap("mtls"), t.cert("ca.pem"));
    let (cert, key) = (t.cert("agent-1.pem"), t.cert("agent-1.key"));
    let started = Instant::now();
    all(vec![
        Box::new(|| {
            python_client(
                "venv-clients",
                "aiokafka",
                &secure,
                "SASL_SSL",
                "SCRAM-SHA-512",
                "alice",
                ALICE_PW,
                &ca,
                "ok",
            )
        }) as Job,
        Box::new(|| {
            python_client_with(
                "venv-clients",
                &[
                    "aiokafka", &mtls, "SSL", "-", "-", "-", &mtls_ca, "ok", &cert, &key,
                ],
            );
        }),
        Box::new(|| {
            kafkajs(
                &secure,
                &ca,
                "ok",
                &["sasl", "scram-sha-512", "alice", ALICE_PW],
            );
        }),
        Box::new(|| {
            kafkajs(&mtls, &mtls_ca, "ok", &["mtls", &cert, &key]);
        }),
    ]);
    eprintln!("four clients side by side: {:?}", started.elapsed());
    // The SASL collector refused nothing; the mTLS one refused nothing.
    for reason in ["bad_proof", "unknown_user"] {
        assert_eq!(s.failures("secure", "SCRAM-SHA-512", reason), 0.0);
    }
    assert_eq!(s.failures("secure", "none", "unsupported_mechanism"), 0.0);
    s.assert_no_password_logged();
}

#[test]
fn kafkajs_aiokafka_and_the_java_client_are_refused_a_wrong_password_and_an_unoffered_mechanism() {
    let s = Sasl::start();
    let (ca, secure) = (s.ca(), s.secure());
    let dir = s.dir.path();
    let wrong = command_config(dir, "wrong.properties", &ca, "SCRAM-SHA-512", WRONG_PW);
    let plain = command_config(dir, "plain.properties", &ca, "PLAIN", ALICE_PW);
    let java_denied = |config: &Path, exception: &str| {
        let out = tool_run(
            "kafka-topics",
            &[
                "--bootstrap-server",
                &secure,
                "--command-config",
                config.to_str().unwrap(),
                "--list",
            ],
            "",
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "kafka-topics got in: {all}");
        assert!(all.contains(exception), "{all}");
    };
    // Each refusal as the client words it.
    let kafkajs_denied = |args: &[&str], reason: &str| {
        let out = kafkajs(&secure, &ca, "denied", args);
        assert!(out.contains(reason), "{out}");
    };
    let aiokafka_denied = |mechanism: &str, password: &str, reason: &str| {
        let out = python_client_with(
            "venv-clients",
            &[
                "aiokafka", &secure, "SASL_SSL", mechanism, "alice", password, &ca, "denied",
            ],
        );
        assert!(out.contains(reason), "{out}");
    };
    let unsupported = "UNSUPPORTED_SASL_MECHANISM";
    all(vec![
        // Wrong password: kafkajs, aiokafka, the Java client.
        Box::new(|| {
            kafkajs_denied(
                &["sasl", "scram-sha-512", "alice", WRONG_PW],
                "authentication failed",
            )
        }) as Job,
        Box::new(|| {
            aiokafka_denied(
                "SCRAM-SHA-512",
                WRONG_PW,
                "[Error 58] SaslAuthenticationFailed",
            )
        }),
        Box::new(|| java_denied(&wrong, "SaslAuthenticationException")),
        // A mechanism the sasl_ssl listener does not offer (PLAIN), and one
        // the collector does not know (OAUTHBEARER).
        Box::new(|| kafkajs_denied(&["sasl", "plain", "alice", ALICE_PW], unsupported)),
        Box::new(|| kafkajs_denied(&["sasl", "oauthbearer", "-", "-"], unsupported)),
        Box::new(|| {
            aiokafka_denied(
                "PLAIN",
                ALICE_PW,
                "[Error 33] UnsupportedSaslMechanismError",
            )
        }),
        Box::new(|| java_denied(&plain, "UnsupportedSaslMechanismException")),
    ]);
    assert!(s.failures("secure", "SCRAM-SHA-512", "bad_proof") >= 3.0);
    assert!(s.failures("secure", "none", "unsupported_mechanism") >= 4.0);
    // The refused clients did not disturb an authenticated one.
    kafkajs(
        &secure,
        &ca,
        "ok",
        &["sasl", "scram-sha-512", "alice", ALICE_PW],
    );
    s.assert_no_password_logged();
}

/// A Java client properties file for `--command-config`: SASL_SSL with
/// `mechanism` as alice, the CA as a PEM trust store.
fn command_config(dir: &Path, name: &str, ca: &str, mechanism: &str, password: &str) -> PathBuf {
    let module = match mechanism {
        "PLAIN" => "org.apache.kafka.common.security.plain.PlainLoginModule",
        _ => "org.apache.kafka.common.security.scram.ScramLoginModule",
    };
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "security.protocol=SASL_SSL\n\
             sasl.mechanism={mechanism}\n\
             sasl.jaas.config={module} required username=\"alice\" password=\"{password}\";\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn kafka_tools_create_produce_and_consume_in_a_group_over_sasl_ssl_with_scram_sha_512() {
    let s = Sasl::start();
    let (ca, secure) = (s.ca(), s.secure());
    let config = command_config(
        s.dir.path(),
        "client.properties",
        &ca,
        "SCRAM-SHA-512",
        ALICE_PW,
    );
    let config = config.to_str().unwrap();
    let with = |args: &[&'static str]| -> Vec<String> {
        let mut all = vec![
            "--bootstrap-server".to_owned(),
            secure.clone(),
            "--command-config".to_owned(),
            config.to_owned(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let run = |script: &str, args: Vec<String>, stdin: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let out = tool(script, &args, stdin);
        eprintln!("{script}: {:?}", started.elapsed());
        out
    };
    let created = run(
        "kafka-topics",
        with(&["--create", "--topic", "java-sasl", "--partitions", "2"]),
        "",
    );
    assert!(created.contains("Created topic java-sasl."), "{created}");
    let lines: String = (0..20).map(|i| format!("java-{i}\n")).collect();
    // Listing and producing side by side (a JVM start each).
    all(vec![
        Box::new(|| {
            let listed = run("kafka-topics", with(&["--list"]), "");
            assert!(listed.lines().any(|l| l == "java-sasl"), "{listed}");
        }) as Job,
        Box::new(|| {
            run(
                "kafka-console-producer",
                with(&["--topic", "java-sasl"]),
                &lines,
            );
        }),
    ]);
    let consumed = run(
        "kafka-console-consumer",
        with(&[
            "--topic",
            "java-sasl",
            "--from-beginning",
            "--max-messages",
            "20",
            "--group",
            "java-sasl-group",
        ]),
        "",
    );
    let mut got: Vec<&str> = consumed.lines().collect();
    got.sort();
    let mut expected: Vec<&str> = lines.lines().collect();
    expected.sort();
    assert_eq!(got, expected);
    // The group committed all 20 on close.
    let described = run(
        "kafka-consumer-groups",
        with(&["--describe", "--group", "java-sasl-group"]),
        "",
    );
    let lag: Vec<&str> = described
        .lines()
        .filter(|l| l.contains("java-sasl "))
        .collect();
    assert_eq!(lag.len(), 2, "{described}");
    let committed: u64 = lag
        .iter()
        .map(|l| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(committed, 20, "{described}");
    s.assert_no_password_logged();
}

/// An agent config shipping `{dir}/logs/*.log` through the Kafka sink to
/// the collector's sasl_ssl listener as alice with `password`.
fn agent_over_sasl_ssl(s: &Sasl, dir: &Path, topic: &str, password: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let config = agent_config(dir, s.http, "");
    use_kafka_sink(&config, &s.secure());
    let password_file = dir.join("kafka-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("topic: app", &format!("topic: {topic}"))
        .replace(
            "    brokers:",
            &format!(
                "    tls: {{ ca_file: {} }}\n    sasl: {{ mechanism: SCRAM-SHA-512, username: alice, password_file: {} }}\n    brokers:",
                s.ca(),
                password_file.display()
            ),
        );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn the_agents_kafka_sink_ships_every_line_once_over_sasl_ssl_and_nothing_with_a_wrong_password() {
    let s = Sasl::start();
    let secure = s.secure();
    let ca = s.ca();
    let scram512 = alice_scram512(&ca);
    let read = |topic: &str| -> Vec<String> {
        let out = kcat(
            &secure,
            &scram512,
            &["-C", "-t", topic, "-o", "beginning", "-e", "-q"],
            "",
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };

    // The good agent.
    let good = s.dir.path().join("good");
    let config = agent_over_sasl_ssl(&s, &good, "shipped", ALICE_PW);
    let agent = start_agent(&config);
    let mut expected = Vec::new();
    let mut text = String::new();
    for i in 0..1_500 {
        let line = format!("line {i:05} {}", "s".repeat(i % 40));
        text.push_str(&line);
        text.push('\n');
        expected.push(line);
    }
    append(&good.join("logs/app.log"), &text);
    expected.sort();
    let started = Instant::now();
    wait_for("every line", Duration::from_secs(60), || {
        metric(
            &agent.metrics(),
            "logship_agent_sink_records_total{source=\"app\"}",
        ) == Some(1_500.0)
    });
    eprintln!("1,500 lines over sasl_ssl: {:?}", started.elapsed());
    assert_eq!(read("shipped"), expected, "every line exactly once");

    // The agent with a wrong password: an authentication error in its log
    // (without the password), nothing delivered, nothing counted as sent.
    let bad = s.dir.path().join("bad");
    let config = agent_over_sasl_ssl(&s, &bad, "refused", WRONG_PW);
    // Spawned here rather than by start_agent, which drops the lines before
    // "agent ready": librdkafka may fail its first login before then.
    let (child, log) = spawn_run(&config, "agent");
    let refused = KillOnDrop(child);
    append(&bad.join("logs/app.log"), "never delivered\n");
    let (mut lines, mut http, mut auth_error) = (Vec::new(), None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.is_none() || auth_error.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = log
            .recv_timeout(left)
            .expect("no authentication error in the agent's log");
        if line.contains("agent http listening") {
            let addr = line.split("addr=").nth(1).unwrap();
            http = Some(addr.split_whitespace().next().unwrap().parse().unwrap());
        }
        if line.contains("SASL authentication error") {
            auth_error = Some(line.clone());
        }
        lines.push(line);
    }
    let auth_error = auth_error.unwrap();
    assert!(
        auth_error.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{auth_error}"
    );
    std::thread::sleep(Duration::from_secs(1));
    lines.extend(log.try_iter());
    lines.extend(agent.log.try_iter());
    for line in &lines {
        for pw in [ALICE_PW, WRONG_PW] {
            assert!(!line.contains(pw), "password in the agent's log: {line}");
        }
    }
    let m = http_get(http.unwrap(), "/metrics").1;
    assert_eq!(
        metric(&m, "logship_agent_sink_records_total{source=\"app\"}").unwrap_or(0.0),
        0.0
    );
    assert!(
        metric(
            &m,
            r#"logship_agent_auth_failures_total{reason="sasl_authentication",sink="kafka"}"#
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
    assert!(read("refused").is_empty());
    assert!(s.failures("secure", "SCRAM-SHA-512", "bad_proof") >= 1.0);
    // The good agent's lines are still there once each.
    assert_eq!(read("shipped"), expected);
    drop(refused);
    drop(agent);
    s.assert_no_password_logged();
}
