//! `logship groups reset-offsets G --topic T --to-...`: as
//! kafka-consumer-groups.sh --reset-offsets, a dry run unless `--execute`.
//!
//! The new offsets are committed by a client that never joins the group
//! (generation -1, no member id). A broker accepts that only while the group
//! has no members, and members would overwrite the offsets with their own
//! commits anyway, so an active group is refused up front, as Kafka does.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{all_partitions, group_client, snapshot, table, ResetArgs};
use crate::cli::{kafka, REQUEST_TIMEOUT};

/// Where to move each partition's committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
}

impl Target {
    fn of(args: &ResetArgs) -> Target {
        match (args.to_earliest, args.to_latest, args.to_offset) {
            (true, _, _) => Target::Earliest,
            (_, true, _) => Target::Latest,
            (_, _, Some(n)) => Target::Offset(n),
            // clap's `to` group requires exactly one of them.
            _ => unreachable!("one --to-* option is required"),
        }
    }

    /// The new offset in a partition whose log spans `low..high`, and a
    /// warning when the asked offset had to be moved into that span.
    fn resolve(self, low: i64, high: i64) -> (i64, Option<String>) {
        match self {
            Target::Earliest => (low, None),
            Target::Latest => (high, None),
            Target::Offset(n) if n < low => (
                low,
                Some(format!(
                    "new offset ({n}) is lower than the earliest offset; it will be set to {low}"
                )),
            ),
            Target::Offset(n) if n > high => (
                high,
                Some(format!(
                    "new offset ({n}) is higher than the latest offset; it will be set to {high}"
                )),
            ),
            Target::Offset(n) => (n, None),
        }
    }
}

pub fn run(args: &ResetArgs) -> Result<()> {
    let group = args.group.as_str();
    let client = group_client(&args.connection, group)?;
    if let Some(s) = snapshot(&client, group)? {
        if !matches!(s.state.as_str(), "Empty" | "Dead") {
            bail!(
                "Assignments can only be reset if the group '{group}' is inactive, \
                 but the current state is {} ({} active member(s)).",
                s.state,
                s.members.len()
            );
        }
    }
    let topics = all_partitions(&client)?;
    let target = Target::of(args);
    let mut plan: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for spec in &args.topic {
        let Some(all) = topics.get(&spec.topic) else {
            bail!("topic {} does not exist", spec.topic);
        };
        let partitions = match &spec.partitions {
            None => all.clone(),
            Some(some) => {
                if let Some(p) = some.iter().find(|p| !all.contains(p)) {
                    bail!(
                        "topic {} has no partition {p} (it has {})",
                        spec.topic,
                        all.len()
                    );
                }
                some.clone()
            }
        };
        for p in partitions {
            let (low, high) = client
                .fetch_watermarks(&spec.topic, p, REQUEST_TIMEOUT)
                .map_err(kafka)
                .with_context(|| format!("fetching the offsets of {}-{p}", spec.topic))?;
            let (offset, warning) = target.resolve(low, high);
            if let Some(warning) = warning {
                eprintln!("warning: {}-{p}: {warning}", spec.topic);
            }
            plan.insert((spec.topic.clone(), p), offset);
        }
    }

    if args.execute {
        let mut list = TopicPartitionList::new();
        for ((topic, p), offset) in &plan {
            list.add_partition_offset(topic, *p, Offset::Offset(*offset))
                .map_err(kafka)?;
        }
        client
            .commit(&list, CommitMode::Sync)
            .map_err(kafka)
            .with_context(|| format!("committing the new offsets of group '{group}'"))?;
    }
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|((topic, p), offset)| {
            vec![
                group.to_owned(),
                topic.clone(),
                p.to_string(),
                offset.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], &rows)
    );
    if !args.execute {
        eprintln!("Dry run: no offsets were changed; add --execute to commit them.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_stay_within_the_log() {
        assert_eq!(Target::Earliest.resolve(3, 10), (3, None));
        assert_eq!(Target::Latest.resolve(3, 10), (10, None));
        assert_eq!(Target::Offset(5).resolve(3, 10), (5, None));
        assert_eq!(Target::Offset(10).resolve(3, 10), (10, None));
        let (low, warning) = Target::Offset(1).resolve(3, 10);
        assert_eq!(low, 3);
        assert!(warning.unwrap().contains("lower than the earliest"));
        let (high, warning) = Target::Offset(99).resolve(3, 10);
        assert_eq!(high, 10);
        assert!(warning.unwrap().contains("higher than the latest"));
    }
}
