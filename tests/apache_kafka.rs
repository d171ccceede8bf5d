//! Apache Kafka beside the collector: a real KRaft broker (one node, or a
//! three-node cluster) and Kafka's own command-line tools, run from the jars
//! `.ci/setup` resolves through Maven (`.ci/java/pom.xml`). The tools run by
//! their main classes under the script names users type (`kafka-topics`,
//! `kafka-console-producer`, ...). Java client programs of the tests' own
//! (`tests/java/*.java`) are compiled once per test process.
//!
//! Every JVM gets a capped heap; a broker's log is kept in its directory,
//! and a test that fails keeps the whole directory and prints where.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{self, free_port};

/// Longest one tool or Java client run may take. Generous: two cores are
/// shared with other builds and every call starts a JVM.
pub const TOOL_LIMIT: Duration = Duration::from_secs(180);

/// Longest a broker may take from launch to "Kafka Server started".
const START_LIMIT: Duration = Duration::from_secs(120);

/// A fixed KRaft cluster id (22 base64url characters for 16 bytes: any
/// value but the reserved all-zero ones will do).
const CLUSTER_ID: &str = "bG9nc2hpcC10ZXN0czAwMQ";

/// The classpath `.ci/setup` wrote: Kafka, its tools, the Java client,
/// Kafka Streams and a log4j2 binding.
pub fn classpath() -> &'static str {
    static CP: OnceLock<String> = OnceLock::new();
    CP.get_or_init(|| {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/java/classpath.txt");
        let cp = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{file}: {e} (run .ci/setup: it resolves Apache Kafka)"));
        cp.trim().to_owned()
    })
}

/// A log4j2 configuration: `level` and above to stderr, or to `file`.
fn log4j2(level: &str, file: Option<&Path>) -> String {
    let appender = match file {
        Some(path) => format!(
            "appender.out.type = File\nappender.out.fileName = {}\n",
            path.display()
        ),
        None => "appender.out.type = Console\nappender.out.target = SYSTEM_ERR\n".to_owned(),
    };
    format!(
        "status = warn\nshutdownHook = disable\n{appender}appender.out.name = out\n\
         appender.out.layout.type = PatternLayout\n\
         appender.out.layout.pattern = [%d] %p %m (%c)%n\n\
         rootLogger.level = {level}\nrootLogger.appenderRef.out.ref = out\n"
    )
}

/// The tools' log4j2 file: warnings and errors to stderr.
fn tools_log_config() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tools-log4j2.properties");
        std::fs::write(&path, log4j2("warn", None)).unwrap();
        path
    })
}

/// `java` with the Kafka classpath, a 512 MiB heap cap and the given log
/// configuration.
fn java(log_config: &Path, extra_classpath: Option<&Path>) -> Command {
    let mut cp = classpath().to_owned();
    if let Some(extra) = extra_classpath {
        cp = format!("{}:{cp}", extra.display());
    }
    let mut command = Command::new("java");
    command
        .arg("-Xmx512m")
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            log_config.display()
        ))
        .arg("-cp")
        .arg(cp);
    command
}

/// The main class behind each of Kafka's scripts (`bin/NAME.sh`), 4.x.
fn main_class(script: &str) -> &'static str {
    match script {
        "kafka-topics" => "org.apache.kafka.tools.TopicCommand",
        "kafka-console-producer" => "org.apache.kafka.tools.ConsoleProducer",
        "kafka-console-consumer" => "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "kafka-consumer-groups" => "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "kafka-configs" => "org.apache.kafka.tools.ConfigCommand",
        "kafka-delete-records" => "org.apache.kafka.tools.DeleteRecordsCommand",
        "kafka-get-offsets" => "org.apache.kafka.tools.GetOffsetShell",
        "kafka-producer-perf-test" => "org.apache.kafka.tools.ProducerPerformance",
        "kafka-consumer-perf-test" => "org.apache.kafka.tools.ConsumerPerformance",
        "kafka-storage" => "kafka.tools.StorageTool",
        "kafka-acls" => "org.apache.kafka.tools.AclCommand",
        other => panic!("no Kafka script called {other}"),
    }
}

/// Runs `command` with `stdin`, killing it after [`TOOL_LIMIT`].
fn run_bounded(command: Command, what: &str, stdin: &str) -> Output {
    util::run_bounded(command, what, stdin, TOOL_LIMIT)
}

/// Runs Kafka's script `script` (e.g. `kafka-topics`) with `args`; returns
/// its output whatever the exit status.
pub fn tool_run(script: &str, args: &[&str], stdin: &str) -> Output {
    let mut command = java(tools_log_config(), None);
    command
        .args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg(main_class(script))
        .args(args);
    run_bounded(command, &format!("{script} {args:?}"), stdin)
}

/// Runs Kafka's script `script`, which must succeed; returns its stdout.
pub fn tool(script: &str, args: &[&str], stdin: &str) -> String {
    let out = tool_run(script, args, stdin);
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The tests' Java client programs (`tests/java/*.java`), compiled once per
/// test process; returns the class directory.
fn java_classes() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("java-classes");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let mut command = Command::new("javac");
        command
            .args(["-J-Xmx512m", "-encoding", "UTF-8", "-d"])
            .arg(&out)
            .arg("-cp")
            .arg(classpath());
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "java") {
                command.arg(path);
            }
        }
        let built = run_bounded(command, "javac tests/java", "");
        assert!(
            built.status.success(),
            "javac: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        out
    })
}

/// Runs the tests' Java program `class` (from `tests/java/`) with `args`.
pub fn java_client_run(class: &str, args: &[&str]) -> Output {
    let mut command = java(tools_log_config(), Some(java_classes()));
    command.arg(class).args(args);
    run_bounded(command, &format!("java {class} {args:?}"), "")
}

/// Runs the tests' Java program `class`, which must succeed; returns its
/// stdout.
pub fn java_client(class: &str, args: &[&str]) -> String {
    let out = java_client_run(class, args);
    assert!(
        out.status.success(),
        "java {class} {args:?} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One Kafka node: broker and KRaft controller in one JVM.
struct Node {
    id: u32,
    broker_port: u16,
    controller_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

/// A running Apache Kafka: one node, or a cluster of combined
/// broker+controller nodes on loopback ports.
pub struct ApacheKafka {
    dir: Option<tempfile::TempDir>,
    nodes: Vec<Node>,
}

impl ApacheKafka {
    /// One node, topics with one partition and one replica by default.
    pub fn single() -> ApacheKafka {
        ApacheKafka::start(1, "")
    }

    /// Three nodes, each a broker and a controller (a quorum of three);
    /// `extra` is appended to every node's server.properties.
    pub fn cluster(extra: &str) -> ApacheKafka {
        ApacheKafka::start(3, extra)
    }

    fn start(count: u32, extra: &str) -> ApacheKafka {
        let dir = tempfile::Builder::new()
            .prefix("apache-kafka")
            .tempdir()
            .unwrap();
        // Ids from 0, as the collector's one node: outputs that name the
        // leader then read the same.
        let nodes: Vec<Node> = (0..count)
            .map(|id| Node {
                id,
                broker_port: free_port(),
                controller_port: free_port(),
                dir: dir.path().join(format!("node-{id}")),
                child: None,
            })
            .collect();
        let voters: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect();
        let replicas = count.min(3);
        for node in &nodes {
            std::fs::create_dir_all(&node.dir).unwrap();
            let config = format!(
                "process.roles=broker,controller\n\
                 node.id={id}\n\
                 controller.quorum.voters={voters}\n\
                 listeners=PLAINTEXT://127.0.0.1:{bp},CONTROLLER://127.0.0.1:{cp}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{bp}\n\
                 controller.listener.names=CONTROLLER\n\
                 inter.broker.listener.name=PLAINTEXT\n\
                 listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
                 log.dirs={data}\n\
                 offsets.topic.replication.factor={replicas}\n\
                 offsets.topic.num.partitions=3\n\
                 transaction.state.log.replication.factor={replicas}\n\
                 transaction.state.log.min.isr=1\n\
                 share.coordinator.state.topic.replication.factor={replicas}\n\
                 share.coordinator.state.topic.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\n\
                 {extra}\n",
                id = node.id,
                voters = voters.join(","),
                bp = node.broker_port,
                cp = node.controller_port,
                data = node.dir.join("data").display(),
            );
            std::fs::write(node.config(), config).unwrap();
            std::fs::write(
                node.dir.join("log4j2.properties"),
                log4j2("info", Some(&node.log())),
            )
            .unwrap();
            let format = tool(
                "kafka-storage",
                &[
                    "format",
                    "-t",
                    CLUSTER_ID,
                    "-c",
                    node.config().to_str().unwrap(),
                ],
                "",
            );
            assert!(format.contains("Formatting"), "{format}");
        }
        let mut kafka = ApacheKafka {
            dir: Some(dir),
            nodes,
        };
        for i in 0..kafka.nodes.len() {
            kafka.launch(i);
        }
        for i in 0..kafka.nodes.len() {
            kafka.await_started(i, 1);
        }
        kafka
    }

    /// `host:port` of every broker, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        let all: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.broker_port))
            .collect();
        all.join(",")
    }

    /// The log of the first node (a single node's log): the broker's own
    /// account of group rebalances, among the rest.
    pub fn server_log(&self) -> PathBuf {
        self.nodes[0].log()
    }

    fn index(&self, id: u32) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    fn launch(&mut self, i: usize) {
        let node = &self.nodes[i];
        let mut command = java(&node.dir.join("log4j2.properties"), None);
        command
            .arg("kafka.Kafka")
            .arg(node.config())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(node.dir.join("stderr.log"))
                    .unwrap(),
            ));
        self.nodes[i].child = Some(command.spawn().expect("java is installed by .ci/setup"));
    }

    /// Waits until node `i`'s log says it has started `times` times.
    fn await_started(&mut self, i: usize, times: usize) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let started = std::fs::read_to_string(self.nodes[i].log())
                .map(|log| log.matches("Kafka Server started").count())
                .unwrap_or(0);
            if started >= times {
                return;
            }
            let node = &mut self.nodes[i];
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("Kafka node {} exited at start-up: {status}", node.id);
            }
            assert!(
                Instant::now() < deadline,
                "Kafka node {} did not start in {START_LIMIT:?}",
                node.id
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs node `id` (no clean shutdown: a crash).
    pub fn kill(&mut self, id: u32) {
        let i = self.index(id);
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `id` again after [`ApacheKafka::kill`]; returns once it
    /// has started.
    pub fn restart(&mut self, id: u32) {
        let i = self.index(id);
        let before = std::fs::read_to_string(self.nodes[i].log())
            .map(|log| log.matches("Kafka Server started").count())
            .unwrap_or(0);
        self.launch(i);
        self.await_started(i, before + 1);
    }
}

impl Drop for ApacheKafka {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            let dir = self.dir.take().unwrap().keep();
            for node in &self.nodes {
                let log = std::fs::File::open(node.log()).map(BufReader::new);
                let tail: Vec<String> = log
                    .map(|r| r.lines().map_while(Result::ok).collect())
                    .unwrap_or_default();
                let from = tail.len().saturating_sub(30);
                eprintln!(
                    "--- Kafka node {} log (last 30 lines; all kept in {}):",
                    node.id,
                    dir.display()
                );
                for line in &tail[from..] {
                    eprintln!("{line}");
                }
            }
        }
    }
}
