//! Stock Python Kafka clients against the collector: confluent-kafka
//! (librdkafka 2.x wheels), kafka-python 2.x and 3.x, aiokafka. Each runs
//! `tests/python/clients.py`: admin, every codec, idempotence, headers,
//! consume from the beginning. The interpreters come from the virtualenvs
//! that `.ci/setup` creates.

use std::path::PathBuf;
use std::process::Command;

use crate::util::*;

fn venv_python(name: &str) -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci")
        .join(name)
        .join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/setup` (or `bash .ci/run`) to install the Python Kafka clients",
        python.display()
    );
    python
}

fn run_client(venv: &str, library: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/clients.py");
    let out = Command::new(venv_python(venv))
        .args([script, library, &running.kafka.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{library} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("ok {library}")), "{stdout}");
    stdout
}

#[test]
fn confluent_kafka() {
    run_client("venv-clients", "confluent-kafka");
}

#[test]
fn kafka_python_2() {
    let out = run_client("venv-clients", "kafka-python");
    assert!(out.contains("ok kafka-python 2."), "{out}");
}

#[test]
fn kafka_python_3() {
    let out = run_client("venv-kafka-python-3", "kafka-python");
    assert!(out.contains("ok kafka-python 3."), "{out}");
}

#[test]
fn aiokafka() {
    run_client("venv-clients", "aiokafka");
}
