//! Authorization end to end: a collector with a mutual-TLS listener whose
//! client certificates (from `logship tls init`) map to `User:writer`,
//! `User:reader` and `User:admin` (a super user), and ACLs that let writer
//! write and read `logs-*` and use groups `g-*`, and reader only read them.
//! Stock clients (confluent-kafka, kafka-python, kcat) see the allowed work
//! succeed and the rest refused with Kafka's authorization errors; Metadata
//! lists only what each may describe; a SIGHUP after editing the ACLs in the
//! config file grants access without a restart. HTTP ingest checks a bearer
//! token's principal against the same rules.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::apache_kafka::tool_run;
use crate::tls::{kcat, start, tls_init};
use crate::util::*;

/// The ACLs of the fixture; `extra` is appended (YAML list items).
fn acls(extra: &str) -> String {
    format!(
        "  super_users: ['User:admin']
  acls:
    - {{ principal: 'User:writer', resource: topic, name: logs-, pattern: prefixed, operations: [write, read, create] }}
    - {{ principal: 'User:writer', resource: group, name: g-, pattern: prefixed, operations: [read] }}
    - {{ principal: 'User:reader', resource: topic, name: logs-, pattern: prefixed, operations: [read] }}
    - {{ principal: 'User:reader', resource: group, name: g-, pattern: prefixed, operations: [read] }}
{extra}"
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    child: KillOnDrop,
    log: std::sync::mpsc::Receiver<String>,
    http: SocketAddr,
    plain: SocketAddr,
    mtls_port: u16,
    config: PathBuf,
}

impl Fixture {
    fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    fn bootstrap(&self) -> String {
        format!("localhost:{}", self.mtls_port)
    }

    /// kcat over mutual TLS as `user`, with `args` after the connection
    /// settings.
    fn kcat_as(&self, user: &str, args: &[&str], stdin: &str) -> Output {
        let c = |f: &str| self.certs().join(f).display().to_string();
        let mut all: Vec<String> = vec!["-b".into(), self.bootstrap()];
        for (k, v) in [
            ("security.protocol", "ssl".to_owned()),
            ("ssl.ca.location", c("ca.pem")),
            ("ssl.certificate.location", c(&format!("{user}.pem"))),
            ("ssl.key.location", c(&format!("{user}.key"))),
            ("message.timeout.ms", "15000".to_owned()),
        ] {
            all.push("-X".into());
            all.push(format!("{k}={v}"));
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        kcat(&refs, stdin)
    }

    fn metrics(&self) -> String {
        let (code, page) = http_get(self.http, "/metrics");
        assert_eq!(code, 200);
        page
    }

    fn wait_log(&self, text: &str) -> String {
        wait_log_line(&self.log, text)
    }

    fn sighup(&self) {
        sighup(self.child.0.id());
    }
}

/// The fixture's HTTP listener: plain, no authentication.
const PLAIN_HTTP: &str = "{ listen: 127.0.0.1:0 }";
/// The fixture's mapping rules: `CN=writer` is `User:writer`.
const CN_RULES: &str = "RULE:^CN=(.*)$/$1/,DEFAULT";

/// The fixture's config: `http` is the YAML of `collector.http`, `rules`
/// `collector.kafka.ssl_principal_mapping_rules`.
fn write_config(path: &Path, dir: &Path, mtls: u16, acls: &str, http: &str, rules: &str) {
    let c = |f: &str| dir.join("certs").join(f).display().to_string();
    std::fs::write(
        path,
        format!(
            "collector:
  data_dir: {data}
  groups: {{ initial_rebalance_delay: 0s }}
  http: {http}
{acls}  kafka:
    ssl_principal_mapping_rules: '{rules}'
    listeners:
      - {{ name: plain, listen: 127.0.0.1:0 }}
      - name: mtls
        listen: 127.0.0.1:{mtls}
        advertised: localhost:{mtls}
        security: ssl
        tls: {{ cert_file: {cert}, key_file: {key}, ca_file: {ca}, client_auth: required }}
",
            data = dir.join("data").display(),
            cert = c("server.pem"),
            key = c("server.key"),
            ca = c("ca.pem"),
        ),
    )
    .unwrap();
}

fn start_fixture() -> Fixture {
    start_fixture_with(|_| PLAIN_HTTP.to_owned(), CN_RULES)
}

/// The fixture with `collector.http` from `http` (given the certificates'
/// directory) and `rules` for the Kafka listeners.
fn start_fixture_with(http: impl Fn(&Path) -> String, rules: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    tls_init(&certs, "localhost,127.0.0.1", "writer,reader,admin");
    let mtls_port = free_port();
    let config = dir.path().join("collector.yaml");
    write_config(
        &config,
        dir.path(),
        mtls_port,
        &acls(""),
        &http(&certs),
        rules,
    );
    let (child, log, http, kafka) = start(&config);
    Fixture {
        plain: kafka["plain"],
        dir,
        child,
        log,
        http,
        mtls_port,
        config,
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn python_clients_see_acls_over_mutual_tls() {
    let f = start_fixture();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/acl_clients.py");
    let python = venv_python("venv-clients");
    let certs = f.certs().display().to_string();
    for (library, tag) in [("confluent-kafka", "ck"), ("kafka-python", "kp")] {
        let (topic, group) = (format!("logs-{tag}"), format!("g-{tag}"));
        let mut command = Command::new(&python);
        command.args([script, library, &f.bootstrap(), &certs, &topic, &group]);
        let out = run_bounded(command, library, "", Duration::from_secs(240));
        assert!(
            out.status.success() && stdout(&out).contains(&format!("ok {library}")),
            "{library}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let page = f.metrics();
    // Both libraries were refused each of these; only confluent-kafka
    // asked for a producer id.
    for (series, at_least) in [
        (
            r#"logship_collector_authorization_denied_total{api="produce",resource_type="topic"}"#,
            2.0,
        ),
        (
            r#"logship_collector_authorization_denied_total{api="find_coordinator",resource_type="group"}"#,
            2.0,
        ),
        (
            r#"logship_collector_authorization_denied_total{api="create_topics",resource_type="topic"}"#,
            2.0,
        ),
        (
            r#"logship_collector_authorization_denied_total{api="delete_topics",resource_type="topic"}"#,
            2.0,
        ),
        (
            r#"logship_collector_authorization_denied_total{api="init_producer_id",resource_type="cluster"}"#,
            1.0,
        ),
    ] {
        assert!(
            metric(&page, series).unwrap_or(0.0) >= at_least,
            "{series}\n{page}"
        );
    }
}

#[test]
fn kcat_is_refused_what_no_acl_allows_until_a_sighup_grants_it() {
    let f = start_fixture();
    // writer creates (auto-create needs CREATE) and writes logs-kcat.
    let out = f.kcat_as("writer", &["-P", "-t", "logs-kcat"], "a\nb\n");
    assert!(out.status.success(), "{}", stderr(&out));
    // An admin-only topic (admin is a super user).
    let out = f.kcat_as("admin", &["-P", "-t", "private"], "secret\n");
    assert!(out.status.success(), "{}", stderr(&out));

    // reader reads logs-kcat but may not write it.
    let out = f.kcat_as(
        "reader",
        &["-C", "-t", "logs-kcat", "-o", "beginning", "-e", "-q"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a\nb\n");
    let out = f.kcat_as("reader", &["-P", "-t", "logs-kcat"], "c\n");
    assert!(
        stderr(&out).contains("Topic authorization failed"),
        "{}",
        stderr(&out)
    );
    // Nor read the admin's topic.
    let out = f.kcat_as(
        "reader",
        &["-C", "-t", "private", "-o", "beginning", "-e"],
        "",
    );
    assert!(!out.status.success() || !stdout(&out).contains("secret"));
    assert!(
        stderr(&out).contains("authorization failed"),
        "{}",
        stderr(&out)
    );

    // Metadata lists what each may describe; the plaintext listener's
    // clients are User:ANONYMOUS, whom no rule names.
    let listing = |out: Output| {
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let reader = listing(f.kcat_as("reader", &["-L"], ""));
    assert!(
        reader.contains("\"logs-kcat\"") && !reader.contains("\"private\""),
        "{reader}"
    );
    let admin = listing(f.kcat_as("admin", &["-L"], ""));
    assert!(
        admin.contains("\"logs-kcat\"") && admin.contains("\"private\""),
        "{admin}"
    );
    let anonymous = listing(kcat(&["-b", &f.plain.to_string(), "-L"], ""));
    assert!(anonymous.contains(" 0 topics:"), "{anonymous}");
    let out = kcat(
        &[
            "-b",
            &f.plain.to_string(),
            "-P",
            "-t",
            "logs-kcat",
            "-X",
            "message.timeout.ms=15000",
        ],
        "x\n",
    );
    assert!(
        stderr(&out).contains("Topic authorization failed"),
        "{}",
        stderr(&out)
    );

    // Grant reader WRITE on logs-kcat in the file; SIGHUP puts it in force.
    write_config(
        &f.config,
        f.dir.path(),
        f.mtls_port,
        &acls("    - { principal: 'User:reader', resource: topic, name: logs-kcat, operations: [write] }\n"),
        PLAIN_HTTP,
        CN_RULES,
    );
    f.sighup();
    f.wait_log("ACLs in force");
    let out = f.kcat_as("reader", &["-P", "-t", "logs-kcat"], "c\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("authorization failed"),
        "{}",
        stderr(&out)
    );
    let out = f.kcat_as(
        "writer",
        &["-C", "-t", "logs-kcat", "-o", "beginning", "-e", "-q"],
        "",
    );
    assert_eq!(stdout(&out), "a\nb\nc\n", "{}", stderr(&out));

    // A bad rule is refused on SIGHUP and the rules in force stay.
    std::fs::write(
        &f.config,
        std::fs::read_to_string(&f.config)
            .unwrap()
            .replace("operations: [write] }", "operations: [write, bogus] }"),
    )
    .unwrap();
    f.sighup();
    f.wait_log("reload rejected");
    let out = f.kcat_as("reader", &["-P", "-t", "logs-kcat"], "d\n");
    assert!(out.status.success(), "{}", stderr(&out));

    // reader's produce was refused by Produce; the anonymous client's,
    // and reader's read of `private`, already by Metadata.
    let page = f.metrics();
    for series in [
        r#"logship_collector_authorization_denied_total{api="produce",resource_type="topic"}"#,
        r#"logship_collector_authorization_denied_total{api="metadata",resource_type="topic"}"#,
    ] {
        assert!(
            metric(&page, series).unwrap_or(0.0) >= 1.0,
            "{series}\n{page}"
        );
    }
    assert_eq!(
        metric(&page, r#"logship_collector_acl_reloads_total{result="ok"}"#),
        Some(1.0)
    );
}

/// `kafka-acls.sh` (Kafka 4.x's AclCommand) over mutual TLS as `user`.
fn kafka_acls(f: &Fixture, user: &str, args: &[&str]) -> Output {
    let certs = f.certs();
    // Java's PEM key store: the private key and the certificate in one file.
    let store = certs.join(format!("{user}-store.pem"));
    let key = std::fs::read_to_string(certs.join(format!("{user}.key"))).unwrap();
    let cert = std::fs::read_to_string(certs.join(format!("{user}.pem"))).unwrap();
    std::fs::write(&store, format!("{key}{cert}")).unwrap();
    let props = certs.join(format!("{user}.properties"));
    std::fs::write(
        &props,
        format!(
            "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\nssl.keystore.type=PEM\nssl.keystore.location={}\n",
            certs.join("ca.pem").display(),
            store.display()
        ),
    )
    .unwrap();
    let (bootstrap, props) = (f.bootstrap(), props.display().to_string());
    let mut all = vec!["--bootstrap-server", &bootstrap, "--command-config", &props];
    all.extend_from_slice(args);
    tool_run("kafka-acls", &all, "")
}

#[test]
fn kafka_acls_lists_the_config_files_rules_and_cannot_change_them() {
    let f = start_fixture();
    let out = kafka_acls(&f, "admin", &["--list"]);
    let listed = stdout(&out);
    assert!(out.status.success(), "{listed}\n{}", stderr(&out));
    for expected in [
        "ResourcePattern(resourceType=TOPIC, name=logs-, patternType=PREFIXED)",
        "ResourcePattern(resourceType=GROUP, name=g-, patternType=PREFIXED)",
        "(principal=User:writer, host=*, operation=WRITE, permissionType=ALLOW)",
        "(principal=User:reader, host=*, operation=READ, permissionType=ALLOW)",
    ] {
        assert!(listed.contains(expected), "{expected}: {listed}");
    }
    let out = kafka_acls(
        &f,
        "admin",
        &[
            "--list",
            "--group",
            "g-1",
            "--resource-pattern-type",
            "match",
        ],
    );
    let listed = stdout(&out);
    assert!(
        listed.contains("resourceType=GROUP") && !listed.contains("resourceType=TOPIC"),
        "{listed}\n{}",
        stderr(&out)
    );

    // Adding or removing is refused with where the rules live.
    let out = kafka_acls(
        &f,
        "admin",
        &[
            "--add",
            "--allow-principal",
            "User:x",
            "--operation",
            "Read",
            "--topic",
            "t",
        ],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("ACLs are managed in the collector's config file"),
        "{text}"
    );
    let out = kafka_acls(
        &f,
        "admin",
        &[
            "--remove",
            "--force",
            "--topic",
            "logs-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("ACLs are managed in the collector's config file"),
        "{text}"
    );

    // Listing needs DESCRIBE on the cluster, which reader lacks.
    let out = kafka_acls(&f, "reader", &["--list"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("ClusterAuthorizationException")
            || text.contains("Cluster authorization failed"),
        "{text}"
    );
}

/// The wire answers themselves, over plaintext where every client is
/// `User:ANONYMOUS`: per-topic and per-group codes, and authorized-operations
/// fields that tell the truth.
#[test]
fn wire_answers_carry_kafka_codes_and_true_authorized_operations() {
    use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{
        ApiKey, DescribeGroupsResponse, FetchRequest, FetchResponse, GroupId,
        InitProducerIdRequest, InitProducerIdResponse, MetadataRequest, MetadataResponse,
        OffsetFetchRequest, OffsetFetchResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    use crate::kafka_protocol::{batch, produce, Client};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:
  data_dir: {}
  http: {{ listen: 127.0.0.1:0 }}
  kafka: {{ listen: 127.0.0.1:0 }}
  acls:
    - {{ principal: 'User:ANONYMOUS', resource: topic, name: open, operations: [read, write, create] }}
    - {{ principal: 'User:ANONYMOUS', resource: topic, name: peek, operations: [describe] }}
    - {{ principal: 'User:ANONYMOUS', resource: group, name: team, operations: [read] }}
",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let running = start_logship(&config);
    let mut c = Client::connect(running.kafka);
    let name = |n: &str| TopicName(StrBytes::from_string(n.to_owned()));
    let bit = |codes: &[i32]| codes.iter().fold(0, |acc, c| acc | 1 << c);

    // Produce: auto-created with CREATE on it; no WRITE: 29.
    assert_eq!(
        produce(&mut c, "open", 1, batch(-1, 0, 0, &["a"])),
        Some((0, 0))
    );
    assert_eq!(
        produce(&mut c, "peek", 1, batch(-1, 0, 0, &["a"]))
            .unwrap()
            .0,
        29
    );

    // Metadata by name: described with its real operations (READ, WRITE,
    // CREATE, DESCRIBE); `peek` may be described but not created; `hidden`
    // may not be described. All topics: only `open`. No DESCRIBE on the
    // cluster: its operations are 0.
    let req = MetadataRequest::default()
        .with_topics(Some(
            ["open", "peek", "hidden"]
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(true)
        .with_include_topic_authorized_operations(true)
        .with_include_cluster_authorized_operations(true);
    let resp: MetadataResponse = c.call(ApiKey::Metadata, 10, &req);
    let topics: Vec<(String, i16, i32)> = resp
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.error_code,
                t.topic_authorized_operations,
            )
        })
        .collect();
    assert_eq!(topics[0], ("open".into(), 0, bit(&[3, 4, 5, 8])));
    assert_eq!((topics[1].1, topics[2].1), (29, 29), "{topics:?}");
    assert_eq!(resp.cluster_authorized_operations, 0);
    let all: MetadataResponse = c.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    let names: Vec<String> = all
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(names, ["open"]);

    // Fetch: READ per topic.
    let fetch = |topic: &str| {
        FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])
    };
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch("open"), fetch("peek")]);
    let resp: FetchResponse = c.call(ApiKey::Fetch, 11, &req);
    let codes: Vec<i16> = resp
        .responses
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect();
    assert_eq!(codes, [0, 29]);

    // Groups: READ on `team` allows it and implies DESCRIBE (bits 3, 8).
    let req = DescribeGroupsRequest::default()
        .with_groups(vec![
            GroupId(StrBytes::from_static_str("team")),
            GroupId(StrBytes::from_static_str("other")),
        ])
        .with_include_authorized_operations(true);
    let resp: DescribeGroupsResponse = c.call(ApiKey::DescribeGroups, 5, &req);
    assert_eq!(resp.groups[0].error_code, 0);
    assert_eq!(resp.groups[0].authorized_operations, bit(&[3, 8]));
    assert_eq!(resp.groups[1].error_code, 30);
    let req =
        OffsetFetchRequest::default().with_group_id(GroupId(StrBytes::from_static_str("other")));
    let resp: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &req);
    assert_eq!(resp.error_code, 30);

    // KIP-679: WRITE on a topic is enough for a producer id.
    let resp: InitProducerIdResponse = c.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60000)
            .with_producer_id(kafka_protocol::messages::ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(resp.error_code, 0);
    assert!(resp.producer_id.0 >= 0);
}

/// HTTP ingest under the same ACLs: a bearer token's principal may append
/// to, look up and take producer ids for only what the rules allow; the
/// rest is 403 with Kafka's authorization error's name, and nothing of a
/// refused request is stored. The rules change on SIGHUP.
#[test]
fn http_tokens_are_checked_against_the_same_acls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    tls_init(&certs, "localhost,127.0.0.1", "");
    let c = |f: &str| certs.join(f).display().to_string();
    let tokens = dir.path().join("tokens.json");
    let web1 = crate::http_auth::mint_token(&tokens, "web1");
    let db1 = crate::http_auth::mint_token(&tokens, "db1");
    let config = dir.path().join("collector.yaml");
    let write = |db1_rule: &str| {
        std::fs::write(
            &config,
            format!(
                "collector:
  data_dir: {data}
  http:
    listen: 127.0.0.1:0
    tls: {{ cert_file: {cert}, key_file: {key} }}
    auth:
      tokens_file: {tokens}
  kafka:
    listen: 127.0.0.1:0
  acls:
    - {{ principal: 'User:web1', resource: topic, name: web-, pattern: prefixed, operations: [write, create, describe] }}
{db1_rule}",
                data = dir.path().join("data").display(),
                cert = c("server.pem"),
                key = c("server.key"),
                tokens = tokens.display(),
            ),
        )
        .unwrap()
    };
    write("");
    let collector = start_logship(&config);
    let base = format!("https://localhost:{}", collector.http.port());
    let ca = c("ca.pem");
    let request = |method: &str, path: &str, token: &str| {
        let url = format!("{base}{path}");
        let auth = format!("Authorization: Bearer {token}");
        let mut args = vec!["--cacert", &ca, "-X", method, "-H", &auth];
        if path.ends_with("/records") {
            args.extend([
                "-H",
                "Content-Type: application/x-ndjson",
                "--data-binary",
                "{\"msg\":\"hi\"}\n",
            ]);
        }
        args.push(&url);
        crate::tls::curl(&args)
    };
    let records = "/v1/topics/web-logs/records";
    let (code, body) = request("POST", records, &web1);
    assert_eq!(code, 200, "{body}");
    let (code, body) = request("POST", "/v1/producer-ids", &web1);
    assert_eq!(code, 200, "{body}");

    // db1 has no rule: every write, lookup and producer id is refused.
    let refused = |(code, body): (u16, String), name: &str| {
        assert_eq!(code, 403, "{body}");
        assert!(body.contains(&format!("\"code\":\"{name}\"")), "{body}");
        assert!(!body.contains(&db1) && !body.contains(&web1), "{body}");
    };
    refused(request("POST", records, &db1), "topic_authorization_failed");
    refused(
        request("GET", "/v1/topics/web-logs", &db1),
        "topic_authorization_failed",
    );
    refused(
        request("POST", "/v1/producer-ids", &db1),
        "cluster_authorization_failed",
    );
    // web1 may write web-* only.
    refused(
        request("POST", "/v1/topics/db-logs/records", &web1),
        "topic_authorization_failed",
    );
    // Nothing refused was stored: web1's next record lands at offset 1.
    let (code, body) = request("POST", records, &web1);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"base_offset\":1"), "{body}");

    // A rule for db1 and a SIGHUP: its append goes through.
    write("    - { principal: 'User:db1', resource: topic, name: web-logs, pattern: literal, operations: [write] }\n");
    sighup(collector.child.id());
    wait_for(
        "db1's append after the reload",
        Duration::from_secs(20),
        || request("POST", records, &db1).0 == 200,
    );
}

#[test]
fn a_client_certificate_is_one_principal_on_kafka_and_http() {
    // Only the Kafka listeners' rules are set: HTTP takes them, so
    // CN=writer is User:writer on both ports and the same ACLs apply.
    let https = |auth: &'static str| {
        move |certs: &Path| {
            let c = |f: &str| certs.join(f).display().to_string();
            format!(
                "\n    listen: 127.0.0.1:0\n    tls: {{ cert_file: {}, key_file: {}, ca_file: {}, client_auth: required }}\n    auth: {{ required: true{auth} }}",
                c("server.pem"),
                c("server.key"),
                c("ca.pem"),
            )
        }
    };
    let f = start_fixture_with(https(""), "RULE:^CN=(.*)$/$1/");
    let out = f.kcat_as("writer", &["-P", "-t", "logs-both"], "from kafka\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let c = |f_: &str| f.certs().join(f_).display().to_string();
    let post = |user: &str| {
        crate::tls::curl(&[
            "--cacert",
            &c("ca.pem"),
            "--cert",
            &c(&format!("{user}.pem")),
            "--key",
            &c(&format!("{user}.key")),
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
            "{\"msg\":\"from http\"}\n",
            &format!(
                "https://localhost:{}/v1/topics/logs-both/records",
                f.http.port()
            ),
        ])
    };
    let (code, body) = post("writer");
    assert_eq!(code, 200, "{body}");
    // reader may read logs-*, not write it, whichever port it comes in by.
    let (code, body) = post("reader");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("topic_authorization_failed"), "{body}");
    let out = f.kcat_as("reader", &["-P", "-t", "logs-both"], "c\n");
    assert!(
        stderr(&out).contains("Topic authorization failed"),
        "{}",
        stderr(&out)
    );
    let out = f.kcat_as(
        "reader",
        &["-C", "-t", "logs-both", "-o", "beginning", "-e", "-q"],
        "",
    );
    assert_eq!(
        stdout(&out),
        "from kafka\n{\"msg\":\"from http\"}\n",
        "{}",
        stderr(&out)
    );

    // New Kafka rules on SIGHUP: HTTP follows them (CN=writer is now
    // User:WRITER, whom no rule names).
    let rewrite = |http: &str, rules: &str| {
        write_config(&f.config, f.dir.path(), f.mtls_port, &acls(""), http, rules);
        f.sighup();
        f.wait_log("ACLs in force");
    };
    rewrite(&https("")(&f.certs()), "RULE:^CN=(.*)$/$1/U");
    let (code, body) = post("writer");
    assert_eq!(code, 403, "{body}");

    // HTTP's own rules still win when set.
    rewrite(
        &https(", ssl_principal_mapping_rules: 'RULE:^CN=(.*)$/$1/'")(&f.certs()),
        "RULE:^CN=(.*)$/$1/U",
    );
    let (code, body) = post("writer");
    assert_eq!(code, 200, "{body}");
    let out = f.kcat_as("writer", &["-P", "-t", "logs-both"], "d\n");
    assert!(
        stderr(&out).contains("Topic authorization failed"),
        "{}",
        stderr(&out)
    );
}
