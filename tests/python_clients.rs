//! Stock Python Kafka clients against the collector: confluent-kafka
//! (librdkafka 2.x wheels), kafka-python 2.x and 3.x, aiokafka. Each runs
//! `tests/python/clients.py`: admin, every codec, idempotence, headers,
//! consume from the beginning. The interpreters come from the virtualenvs
//! that `.ci/setup` creates.

use crate::util::*;

/// Runs `tests/python/clients.py` with `library` against a fresh collector.
fn run_client(venv: &str, library: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    run_python_script(venv, "clients.py", library, &[&running.kafka.to_string()])
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
