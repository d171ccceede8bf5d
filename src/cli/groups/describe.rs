//! `logship groups describe G`: kafka-consumer-groups.sh --describe. A line
//! with the group's state, then one row per partition the group has a
//! committed offset for or a member is assigned, and one per member without
//! partitions.
//!
//! Committed offsets come from OffsetFetch for every partition in the
//! cluster (a group without members says nowhere which topics it read), log
//! end offsets from ListOffsets (the high watermark), members and their
//! assignments from DescribeGroups.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{all_partitions, group_client, snapshot, table, GroupSnapshot, MemberSnapshot};
use crate::cli::{kafka, Connection, REQUEST_TIMEOUT};

/// A topic-partition, ordered by topic then partition.
type Tp = (String, i32);

const HEADER: [&str; 10] = [
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "GROUP-INSTANCE-ID",
    "HOST",
    "CLIENT-ID",
];

pub fn run(connection: &Connection, group: &str) -> Result<()> {
    let client = group_client(connection, group)?;
    let snapshot = snapshot(&client, group)?.filter(|s| s.state != "Dead");
    let committed = committed(&client, group)?;
    let Some(mut snapshot) = snapshot.or_else(|| {
        // Listed nowhere but holding offsets: a group without members.
        (!committed.is_empty()).then(|| GroupSnapshot {
            state: "Empty".to_owned(),
            protocol_type: String::new(),
            members: Vec::new(),
        })
    }) else {
        bail!("Consumer group '{group}' does not exist.");
    };
    if !matches!(snapshot.protocol_type.as_str(), "consumer" | "") {
        eprintln!(
            "warning: group '{group}' uses protocol type {:?}: its members' assignments are not shown",
            snapshot.protocol_type
        );
    }
    if !snapshot.members.is_empty() {
        // Static members' instance ids; a failure leaves them out (`-`).
        match super::instances::instance_ids(connection, group) {
            Ok(Some(ids)) => {
                for m in &mut snapshot.members {
                    m.instance_id = ids.get(&m.id).cloned();
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("instance ids of group '{group}': {e:#}"),
        }
    }
    let mut ends = BTreeMap::new();
    for (topic, partition) in partitions(&snapshot.members, &committed) {
        // A partition whose topic has gone shows `-` rather than failing
        // the whole table.
        match client.fetch_watermarks(&topic, partition, REQUEST_TIMEOUT) {
            Ok((_, high)) => {
                ends.insert((topic, partition), high);
            }
            Err(e) => tracing::warn!("log end offset of {topic}-{partition}: {e}"),
        }
    }
    let rows = rows(group, &snapshot.members, &committed, &ends);
    print!(
        "{}\n{}",
        state_line(group, &snapshot),
        table(&HEADER, &rows)
    );
    Ok(())
}

/// The group's committed offsets, for every partition in the cluster.
fn committed(client: &BaseConsumer, group: &str) -> Result<BTreeMap<Tp, i64>> {
    let mut list = TopicPartitionList::new();
    for (topic, partitions) in all_partitions(client)? {
        for p in partitions {
            list.add_partition(&topic, p);
        }
    }
    if list.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let list = client
        .committed_offsets(list, REQUEST_TIMEOUT)
        .map_err(kafka)
        .with_context(|| format!("fetching the committed offsets of group '{group}'"))?;
    Ok(list
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(n) => Some(((e.topic().to_owned(), e.partition()), n)),
            _ => None,
        })
        .collect())
}

/// Partitions to show: committed or assigned, sorted, without repeats.
fn partitions(members: &[MemberSnapshot], committed: &BTreeMap<Tp, i64>) -> Vec<Tp> {
    let mut all: Vec<Tp> = committed.keys().cloned().collect();
    for m in members {
        for a in &m.assignment {
            all.extend(a.partitions.iter().map(|p| (a.topic.clone(), *p)));
        }
    }
    all.sort();
    all.dedup();
    all
}

/// `Consumer group 'G' is STATE (...)`, the line above the table.
fn state_line(group: &str, snapshot: &GroupSnapshot) -> String {
    let state = &snapshot.state;
    let mut line = format!("Consumer group '{group}' is {state}");
    let n = snapshot.members.len();
    let members = if n == 1 {
        "1 member".to_owned()
    } else {
        format!("{n} members")
    };
    let _ = match state.as_str() {
        "Empty" => write!(line, " (no active members)."),
        "PreparingRebalance" | "CompletingRebalance" => {
            write!(line, " ({members}; rebalancing, assignments may change).")
        }
        _ => write!(line, " ({members})."),
    };
    line.push('\n');
    line
}

/// The table's rows: partitions (with the member they are assigned to, or
/// `-`), then members that have no partitions.
fn rows(
    group: &str,
    members: &[MemberSnapshot],
    committed: &BTreeMap<Tp, i64>,
    ends: &BTreeMap<Tp, i64>,
) -> Vec<Vec<String>> {
    let mut owner: BTreeMap<Tp, &MemberSnapshot> = BTreeMap::new();
    for m in members {
        for a in &m.assignment {
            for p in &a.partitions {
                owner.insert((a.topic.clone(), *p), m);
            }
        }
    }
    let dash = || "-".to_owned();
    let mut rows = Vec::new();
    for tp in partitions(members, committed) {
        let current = committed.get(&tp).copied();
        let end = ends.get(&tp).copied();
        let lag = current.zip(end).map(|(c, e)| e - c);
        let member = owner.get(&tp);
        rows.push(vec![
            group.to_owned(),
            tp.0.clone(),
            tp.1.to_string(),
            current.map_or_else(dash, |c| c.to_string()),
            end.map_or_else(dash, |e| e.to_string()),
            lag.map_or_else(dash, |l| l.to_string()),
            member.map_or_else(dash, |m| m.id.clone()),
            member
                .and_then(|m| m.instance_id.clone())
                .unwrap_or_else(dash),
            member.map_or_else(dash, |m| m.host.clone()),
            member.map_or_else(dash, |m| m.client_id.clone()),
        ]);
    }
    for m in members.iter().filter(|m| m.assignment.is_empty()) {
        rows.push(vec![
            group.to_owned(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            m.id.clone(),
            m.instance_id.clone().unwrap_or_else(dash),
            m.host.clone(),
            m.client_id.clone(),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::super::assignment::TopicAssignment;
    use super::*;

    fn member(id: &str, topic: &str, partitions: &[i32]) -> MemberSnapshot {
        MemberSnapshot {
            id: id.to_owned(),
            instance_id: (id == "m-1").then(|| "i-1".to_owned()),
            client_id: "rdkafka".to_owned(),
            host: "/127.0.0.1".to_owned(),
            assignment: if partitions.is_empty() {
                Vec::new()
            } else {
                vec![TopicAssignment {
                    topic: topic.to_owned(),
                    partitions: partitions.to_vec(),
                }]
            },
        }
    }

    fn tp(topic: &str, p: i32) -> Tp {
        (topic.to_owned(), p)
    }

    #[test]
    fn rows_join_offsets_ends_and_owners() {
        let members = [member("m-1", "logs", &[1]), member("m-2", "logs", &[])];
        let committed = BTreeMap::from([(tp("logs", 0), 8), (tp("audit", 0), 3)]);
        let ends = BTreeMap::from([(tp("logs", 0), 10), (tp("logs", 1), 4), (tp("audit", 0), 3)]);
        let out = table(&HEADER, &rows("g1", &members, &committed, &ends));
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(
            lines[1..],
            [
                vec!["g1", "audit", "0", "3", "3", "0", "-", "-", "-", "-"],
                vec!["g1", "logs", "0", "8", "10", "2", "-", "-", "-", "-"],
                vec![
                    "g1",
                    "logs",
                    "1",
                    "-",
                    "4",
                    "-",
                    "m-1",
                    "i-1",
                    "/127.0.0.1",
                    "rdkafka"
                ],
                vec![
                    "g1",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "m-2",
                    "-",
                    "/127.0.0.1",
                    "rdkafka"
                ],
            ]
        );
    }

    #[test]
    fn state_line_names_the_state_and_members() {
        let mut s = GroupSnapshot {
            state: "Stable".to_owned(),
            protocol_type: "consumer".to_owned(),
            members: vec![member("m", "t", &[0])],
        };
        assert_eq!(
            state_line("g2", &s),
            "Consumer group 'g2' is Stable (1 member).\n"
        );
        s.state = "PreparingRebalance".to_owned();
        assert!(state_line("g2", &s).contains("rebalancing"));
        s.state = "Empty".to_owned();
        s.members.clear();
        assert_eq!(
            state_line("g2", &s),
            "Consumer group 'g2' is Empty (no active members).\n"
        );
    }
}
