//! Prometheus for real: both roles' `/metrics` pass `promtool check
//! metrics`, a real Prometheus server (Debian's package, installed by
//! `.ci/setup`) scrapes a running agent and collector and answers queries
//! on their series; `docs/metrics.md` lists exactly the registered metrics
//! and the Grafana dashboard in `configs/` uses only documented ones.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_files::{agent_config, start_agent};
use crate::util::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every metric name written as a whole string literal in the two library
/// crates' sources. Parsing the source, not only the registries, because a
/// registry gathers a labelled family only once it has a child.
fn registered_in_source() -> BTreeSet<String> {
    fn scan(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("\"logship_") {
                    let name: String = text[at + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    let closed = text[at + 1 + name.len()..].starts_with('"');
                    if closed
                        && (name.starts_with("logship_agent_")
                            || name.starts_with("logship_collector_"))
                    {
                        out.insert(name);
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    scan(&Path::new(ROOT).join("agent/src"), &mut out);
    scan(&Path::new(ROOT).join("collector/src"), &mut out);
    out
}

/// name -> type of every metric in docs/metrics.md's tables.
fn documented() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/metrics.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(row) = line.strip_prefix("| `logship_") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = format!("logship_{}", cells[0].trim_end_matches('`'));
        let kind = cells[1].to_owned();
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind.as_str()),
            "{name}: unknown type {kind:?}"
        );
        assert!(
            out.insert(name.clone(), kind).is_none(),
            "{name} documented twice"
        );
    }
    out
}

/// Name -> type of every family both registries gather once each labelled
/// family has a child (made here through the crates' public API).
fn gathered() -> BTreeMap<String, String> {
    let c = logship_collector::metrics::Metrics::new();
    c.storage.topic("t");
    c.storage.append_error("io");
    c.kafka.request("produce", 0.001);
    c.kafka.request_error("malformed");
    c.kafka.partition_error("produce", 3);
    c.http.request("records", 200, 0.001);
    c.http.ingested("t", "batch", 1, 1);
    c.kafka.listener_connections.with_label_values(&["l"]).inc();
    c.kafka.connection_refused("l", "max_connections");
    c.kafka.connection_timeout("l", "idle");
    c.security.auth_failure("l", "ssl", "tls_handshake");
    c.security.tls_reload(true);

    let a = logship_agent::metrics::Metrics::new();
    let s = &["s"];
    for family in [
        &a.lines_read,
        &a.bytes_read,
        &a.files_rotated,
        &a.files_truncated,
        &a.lines_split,
        &a.lines_truncated,
        &a.batches_sent,
        &a.records_sent,
        &a.bytes_sent,
        &a.records_deduplicated,
        &a.records_rejected,
        &a.retries,
        &a.errors,
    ] {
        family.with_label_values(s).inc();
    }
    a.files_open.with_label_values(s).set(1);
    a.checkpoint_lag_bytes.with_label_values(s).set(1);
    a.request_seconds.with_label_values(s).observe(0.1);

    c.registry
        .gather()
        .iter()
        .chain(a.registry.gather().iter())
        .map(|mf| {
            let kind = format!("{:?}", mf.get_field_type()).to_lowercase();
            (mf.name().to_owned(), kind)
        })
        .collect()
}

#[test]
fn metrics_doc_lists_every_registered_metric() {
    let source = registered_in_source();
    let docs = documented();
    let gathered = gathered();
    for known in [
        "logship_collector_log_appended_records_total",
        "logship_collector_http_requests_total",
        "logship_agent_sink_records_total",
        "logship_agent_buffered_bytes",
    ] {
        assert!(source.contains(known), "source scan missed {known}");
    }
    // The scan finds everything the registries hold.
    for name in gathered.keys() {
        assert!(source.contains(name), "source scan missed {name}");
    }
    let missing: Vec<_> = source.iter().filter(|n| !docs.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "registered but not in docs/metrics.md: {missing:?}"
    );
    let stale: Vec<_> = docs.keys().filter(|n| !source.contains(*n)).collect();
    assert!(
        stale.is_empty(),
        "in docs/metrics.md but not registered: {stale:?}"
    );
    for (name, kind) in &gathered {
        assert_eq!(
            &docs[name], kind,
            "docs/metrics.md gives {name} the wrong type"
        );
    }
}

/// The dashboard's PromQL expressions, after checking its shape and that
/// every `logship_*` name in them is documented.
fn dashboard_expressions() -> Vec<String> {
    let path = Path::new(ROOT).join("configs/grafana-dashboard.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36);
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "no Prometheus data source variable"
    );
    let docs = documented();
    let mut exprs = Vec::new();
    let panels = dash["panels"].as_array().unwrap();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr} uses no logship metric");
            for name in names {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(s)
                            .filter(|b| docs.get(*b).is_some_and(|k| k == "histogram"))
                    })
                    .unwrap_or(&name);
                assert!(
                    docs.contains_key(base),
                    "{title}: {name} is not in docs/metrics.md"
                );
            }
            exprs.push(expr.to_owned());
        }
    }
    assert!(exprs.len() >= 17, "only {} queries", exprs.len());
    exprs
}

fn metric_names(expr: &str) -> Vec<String> {
    expr.match_indices("logship_")
        .filter(|(at, _)| {
            !expr[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            expr[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn grafana_dashboard_uses_only_documented_metrics() {
    dashboard_expressions();
}

/// A `prometheus` server on a free port with its own config and data
/// directory; killed on drop.
struct Prometheus {
    /// In a mutex so waits that query the server (`&self`) can also check
    /// that it is still running.
    child: Mutex<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, targets: &[(&str, SocketAddr)]) -> Prometheus {
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            ));
        }
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let addr = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("prometheus.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `prometheus` ({e}); `bash .ci/setup` installs Debian's package")
            });
        Prometheus {
            child: Mutex::new(child),
            addr,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` with `query` parameters; the JSON body of a 200 answer.
    fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let resp = reqwest::blocking::Client::new()
            .get(self.url(path))
            .query(query)
            .timeout(Duration::from_secs(5))
            .send()
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        serde_json::from_str(&resp.text().ok()?).ok()
    }

    /// An instant query's result vector; panics on a PromQL error.
    fn query(&self, promql: &str) -> Vec<Value> {
        let resp = reqwest::blocking::Client::new()
            .get(self.url("/api/v1/query"))
            .query(&[("query", promql)])
            .timeout(Duration::from_secs(5))
            .send()
            .unwrap();
        let body: Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn wait_until(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok() {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                panic!(
                    "prometheus exited ({status}) waiting for {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; prometheus log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Runs `promtool check metrics` on a scraped page; panics with what it
/// reports unless the page is clean.
fn promtool_check(role: &str, page: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `promtool` ({e}); `bash .ci/setup` installs Debian's prometheus")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics on the {role}'s /metrics ({}):\n{report}",
        out.status
    );
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_agent_and_collector() {
    const LINES: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    // Some Kafka traffic too, so the protocol's series exist.
    cli_ok(
        collector.kafka,
        &["produce", "--topic", "cli"],
        "one\ntwo\n",
    );

    let config = agent_config(dir.path(), collector.http, "");
    let lines: String = (0..LINES).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("logs/app.log"), lines).unwrap();
    let agent = start_agent(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(
        &agent.metrics(),
        "logship_agent_sink_records_total{source=\"app\"}",
    ) != Some(LINES as f64)
    {
        assert!(
            Instant::now() < deadline,
            "agent did not ship {LINES} lines"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let collector_page = http_get(collector.http, "/metrics").1;
    let agent_page = agent.metrics();
    promtool_check("collector", &collector_page);
    promtool_check("agent", &agent_page);

    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let prom = Prometheus::start(
        &prom_dir,
        &[
            ("logship-collector", collector.http),
            ("logship-agent", agent.http),
        ],
    );
    prom.wait_until("both targets up", || {
        let Some(body) = prom.get("/api/v1/targets", &[("state", "active")]) else {
            return false;
        };
        let targets = body["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up: BTreeSet<_> = targets
            .iter()
            .filter(|t| t["health"] == "up")
            .filter_map(|t| t["labels"]["job"].as_str().map(str::to_owned))
            .collect();
        up.contains("logship-collector") && up.contains("logship-agent")
    });

    let up = prom.query("up");
    assert_eq!(up.len(), 2, "{up:?}");
    assert!(up.iter().all(|s| value(s) == 1.0), "{up:?}");

    let total = |promql: &str| -> Option<f64> {
        let r = prom.query(promql);
        r.first().map(value)
    };
    let expect = [
        ("sum(logship_agent_lines_read_total)", LINES as f64),
        ("sum(logship_agent_sink_records_total)", LINES as f64),
        (
            "sum(logship_collector_log_appended_records_total{topic=\"app\"})",
            LINES as f64,
        ),
        (
            "sum(logship_collector_http_ingested_records_total{topic=\"app\"})",
            LINES as f64,
        ),
    ];
    for (promql, want) in expect {
        prom.wait_until(promql, || total(promql) == Some(want));
    }
    for promql in [
        "sum(logship_agent_bytes_read_total)",
        "sum(logship_agent_files_open)",
        "sum(logship_agent_sink_request_duration_seconds_count)",
        "sum(logship_collector_log_appended_bytes_total)",
        "sum(logship_collector_log_size_bytes)",
        "logship_collector_log_partitions",
        "sum(logship_collector_kafka_requests_total{api=\"produce\"})",
        "sum(logship_collector_log_fsyncs_total)",
    ] {
        let got = total(promql);
        assert!(got.is_some_and(|v| v > 0.0), "{promql} = {got:?}");
    }

    // Every dashboard query is valid PromQL, and those over series that
    // exist by now return data once two scrapes make a rate.
    std::thread::sleep(Duration::from_secs(3));
    for expr in dashboard_expressions() {
        let promql = expr.replace("$__rate_interval", "1m");
        prom.query(&promql);
    }
    for expr in [
        "sum by (source) (rate(logship_agent_lines_read_total[1m]))",
        "histogram_quantile(0.99, sum by (le, source) (rate(logship_agent_sink_request_duration_seconds_bucket[1m])))",
        "sum by (topic) (rate(logship_collector_log_appended_records_total[1m]))",
        "sum by (api) (rate(logship_collector_kafka_requests_total[1m]))",
    ] {
        assert!(!prom.query(expr).is_empty(), "{expr} returned nothing");
    }
    drop(prom);
}
