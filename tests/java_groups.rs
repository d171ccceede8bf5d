//! Consumer groups with the Java client (`tests/java/GroupRebalance.java`):
//! the range and cooperative-sticky assignors as members join, leave and
//! die, and static membership (KIP-345), against the collector and Apache
//! Kafka side by side. Both must make the client see the same: partition
//! counts, generations, rebalance callbacks and, for the sticky
//! assignor, partitions moved.

use crate::apache_kafka::{java_client, ApacheKafka};
use crate::util::*;

/// What the client sees, scenario by scenario, from a broker that runs
/// groups as Kafka's classic coordinator does.
const RANGE: &str = "\
range, a joins: counts [6], generation 1
  a assigned 1 revoked 0 lost 0
range, b joins: counts [3, 3], generation 2
  a assigned 2 revoked 1 lost 0
  b assigned 1 revoked 0 lost 0
range, c joins: counts [2, 2, 2], generation 3
  a assigned 3 revoked 2 lost 0
  b assigned 2 revoked 1 lost 0
range, b leaves: counts [3, 3], generation 4
  a assigned 4 revoked 3 lost 0
range, c dies: counts [6], generation 5
  a assigned 5 revoked 4 lost 0
  c's partitions moved after its session expired: true
";

/// Cooperative rebalancing: a join takes two generations (the first only
/// revokes what moves, the second assigns it), a leave or a death one; only
/// the partitions that move are revoked.
const COOPERATIVE: &str = "\
cooperative, a joins: counts [6], generation 1
  a assigned 1 revoked 0 lost 0
cooperative, b joins: counts [3, 3], generation 3, moved 3
  a assigned 3 revoked 1 lost 0
  b assigned 2 revoked 0 lost 0
cooperative, c joins: counts [2, 2, 2], generation 5, moved 2
  a assigned 5 revoked 2 lost 0
  b assigned 4 revoked 1 lost 0
cooperative, b leaves: counts [3, 3], generation 6, moved 2
  a assigned 6 revoked 2 lost 0
cooperative, c dies: counts [6], generation 7, moved 3
  a assigned 7 revoked 2 lost 0
  c's partitions moved after its session expired: true
";

/// KIP-345: a static member that restarts within the session timeout gets
/// its partitions back with no rebalance (no new generation, no callbacks
/// for the others); a second consumer with the same group.instance.id takes
/// the first one's place, and the first is fenced.
const STATIC: &str = "\
static, three members: counts [2, 2, 2], generation 3
  a assigned 3 revoked 2 lost 0
  b assigned 2 revoked 1 lost 0
  c assigned 1 revoked 0 lost 0
static, c restarts: same partitions true, generation unchanged true, others' callbacks unchanged true, moved 0
static, a second instance-a joins: the first gets FencedInstanceIdException
static, a2 owns a's partitions true
";

#[test]
fn java_consumer_groups_rebalance_as_with_apache_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let kafka = ApacheKafka::single();
    let scenarios = [
        ("range", RANGE),
        ("cooperative", COOPERATIVE),
        ("static", STATIC),
    ];
    let run_all = |bootstrap: &str| -> Vec<String> {
        scenarios
            .iter()
            .map(|(name, _)| {
                let out = java_client("GroupRebalance", &[bootstrap, name]);
                eprintln!("=== {name} at {bootstrap}:\n{out}");
                out
            })
            .collect()
    };
    let logship_bootstrap = collector.kafka.to_string();
    let kafka_bootstrap = kafka.bootstrap();
    let (logship, apache) = std::thread::scope(|s| {
        let l = s.spawn(|| run_all(&logship_bootstrap));
        let k = s.spawn(|| run_all(&kafka_bootstrap));
        (l.join().unwrap(), k.join().unwrap())
    });
    for (((name, expected), logship), apache) in scenarios.iter().zip(&logship).zip(&apache) {
        assert_eq!(
            apache, expected,
            "{name}: Apache Kafka's client view changed"
        );
        assert_eq!(logship, apache, "{name}: logship differs from Kafka");
    }
}
