//! `logship groups list|describe|delete|reset-offsets`: consumer groups as
//! kafka-consumer-groups.sh shows and manages them, through rdkafka.
//!
//! Module map: [`describe`] (the partition/member table), [`instances`]
//! (static members' instance ids, by DescribeGroups), [`reset`]
//! (`reset-offsets`), [`assignment`] (decoding a member's assigned
//! partitions); this file holds the commands' flags, `list`, `delete` and
//! what they share: a group's snapshot, a topic's partitions and the table
//! layout.

pub mod assignment;
mod describe;
mod instances;
mod reset;

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::{kafka, Connection, REQUEST_TIMEOUT};
use assignment::TopicAssignment;

#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// List consumer groups, one per line, sorted.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a group's state, members and, per partition, the committed
    /// offset, log end offset and lag (as kafka-consumer-groups.sh
    /// --describe).
    Describe {
        /// The group id.
        group: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete groups and their committed offsets; only groups without active
    /// members can be deleted.
    Delete {
        /// Group ids.
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Move a group's committed offsets. A dry run by default, as with
    /// kafka-consumer-groups.sh: prints the new offsets and changes nothing
    /// until --execute is given. The group must have no active members.
    ResetOffsets(ResetArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset"])))]
pub struct ResetArgs {
    /// The group id.
    group: String,
    /// Topic whose offsets to reset: `T` for all its partitions or `T:0,2`
    /// for some; repeatable.
    #[arg(long, required = true, value_name = "TOPIC[:P,...]", value_parser = parse_topic)]
    topic: Vec<TopicSpec>,
    /// Reset to each partition's log start offset.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to each partition's log end offset (skip everything there is).
    #[arg(long)]
    to_latest: bool,
    /// Reset to offset N (kept within each partition's start and end).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    to_offset: Option<i64>,
    /// Commit the new offsets (without it, only show them).
    #[arg(long)]
    execute: bool,
    /// Only show the new offsets; the default, accepted for scripts written
    /// for kafka-consumer-groups.sh.
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    #[command(flatten)]
    connection: Connection,
}

/// `--topic T` or `--topic T:0,2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    topic: String,
    /// None: every partition of the topic.
    partitions: Option<Vec<i32>>,
}

fn parse_topic(s: &str) -> Result<TopicSpec> {
    let (topic, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((topic, list)) => {
            let partitions = list
                .split(',')
                .map(|p| match p.trim().parse::<i32>() {
                    Ok(p) if p >= 0 => Ok(p),
                    _ => bail!("expected TOPIC or TOPIC:PARTITION,..., got {s:?}"),
                })
                .collect::<Result<Vec<_>>>()?;
            (topic, Some(partitions))
        }
    };
    if topic.is_empty() {
        bail!("expected TOPIC or TOPIC:PARTITION,..., got {s:?}");
    }
    Ok(TopicSpec {
        topic: topic.to_owned(),
        partitions,
    })
}

pub fn run(command: GroupsCommand) -> Result<()> {
    match command {
        GroupsCommand::List { connection } => list(&connection),
        GroupsCommand::Describe { group, connection } => describe::run(&connection, &group),
        GroupsCommand::Delete { groups, connection } => {
            super::runtime()?.block_on(delete(&connection, &groups))
        }
        GroupsCommand::ResetOffsets(args) => reset::run(&args),
    }
}

/// A consumer that speaks for `group` (OffsetFetch, OffsetCommit) without
/// ever joining it: it is never subscribed, so its commits carry generation
/// -1 and no member id, which a broker accepts only while the group is Empty.
fn group_client(connection: &Connection, group: &str) -> Result<BaseConsumer> {
    connection
        .client_config(&[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("allow.auto.create.topics", "false"),
        ])?
        .create()
        .map_err(kafka)
        .context("creating the Kafka consumer")
}

/// What DescribeGroups says of a group, copied out of rdkafka's list.
#[derive(Debug, Clone, PartialEq)]
struct GroupSnapshot {
    state: String,
    protocol_type: String,
    members: Vec<MemberSnapshot>,
}

#[derive(Debug, Clone, PartialEq)]
struct MemberSnapshot {
    id: String,
    /// `group.instance.id` of a static member (KIP-345).
    instance_id: Option<String>,
    client_id: String,
    host: String,
    /// Empty when the member has none yet, or when the bytes could not be
    /// decoded (a warning says so).
    assignment: Vec<TopicAssignment>,
}

/// The group as the coordinator describes it; None when no broker lists it
/// (never existed, deleted, or Dead).
fn snapshot(client: &BaseConsumer, group: &str) -> Result<Option<GroupSnapshot>> {
    let list = client
        .fetch_group_list(Some(group), REQUEST_TIMEOUT)
        .map_err(kafka)
        .with_context(|| format!("describing consumer group '{group}'"))?;
    let Some(info) = list.groups().iter().find(|g| g.name() == group) else {
        return Ok(None);
    };
    let decodable = matches!(info.protocol_type(), "consumer" | "");
    let members = info
        .members()
        .iter()
        .map(|m| {
            let bytes = m.assignment().unwrap_or_default();
            let assignment = if decodable {
                assignment::decode(bytes).unwrap_or_else(|e| {
                    tracing::warn!("member {}: {e}", m.id());
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            MemberSnapshot {
                id: m.id().to_owned(),
                instance_id: None,
                client_id: m.client_id().to_owned(),
                host: m.client_host().to_owned(),
                assignment,
            }
        })
        .collect();
    Ok(Some(GroupSnapshot {
        state: info.state().to_owned(),
        protocol_type: info.protocol_type().to_owned(),
        members,
    }))
}

/// Every topic's partitions, by topic name. Asking for all topics (rather
/// than some by name) never auto-creates a topic.
fn all_partitions(client: &BaseConsumer) -> Result<BTreeMap<String, Vec<i32>>> {
    let metadata = client
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(kafka)
        .context("fetching metadata")?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| {
            let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            partitions.sort_unstable();
            (t.name().to_owned(), partitions)
        })
        .collect())
}

fn list(connection: &Connection) -> Result<()> {
    let client: BaseConsumer = connection
        .client_config(&[])?
        .create()
        .map_err(kafka)
        .context("creating the Kafka client")?;
    let list = client
        .fetch_group_list(None, REQUEST_TIMEOUT)
        .map_err(kafka)
        .context("listing consumer groups")?;
    let mut names: Vec<&str> = list.groups().iter().map(|g| g.name()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

async fn delete(connection: &Connection, groups: &[String]) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = connection
        .client_config(&[])?
        .create()
        .map_err(kafka)
        .context("creating the Kafka admin client")?;
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    let results = admin
        .delete_groups(
            &names,
            &AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT)),
        )
        .await
        .map_err(kafka)
        .context("deleting consumer groups")?;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(group) => deleted.push(format!("'{group}'")),
            Err((group, code)) => failures.push(delete_failure(&group, code)),
        }
    }
    if !deleted.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            deleted.join(", ")
        );
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

fn delete_failure(group: &str, code: RDKafkaErrorCode) -> String {
    let why = match code {
        RDKafkaErrorCode::NonEmptyGroup => ": it has active members; stop them first",
        _ => "",
    };
    format!("consumer group '{group}' could not be deleted: {code}{why}")
}

/// Columns padded to their widest cell and separated by two spaces, as
/// kafka-consumer-groups.sh lays out its tables (it uses fixed widths).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(
                ' ',
                w - cell.chars().count().min(*w) + 2,
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_all_or_some_partitions() {
        assert_eq!(
            parse_topic("logs").unwrap(),
            TopicSpec {
                topic: "logs".to_owned(),
                partitions: None
            }
        );
        assert_eq!(
            parse_topic("logs:0,2").unwrap(),
            TopicSpec {
                topic: "logs".to_owned(),
                partitions: Some(vec![0, 2])
            }
        );
        assert!(parse_topic("logs:").is_err());
        assert!(parse_topic("logs:-1").is_err());
        assert!(parse_topic(":0").is_err());
    }

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let rows = vec![
            vec!["g1".to_owned(), "logs".to_owned(), "0".to_owned()],
            vec!["g1".to_owned(), "a".to_owned(), "10".to_owned()],
        ];
        assert_eq!(
            table(&["GROUP", "TOPIC", "PARTITION"], &rows),
            "GROUP  TOPIC  PARTITION\n\
             g1     logs   0\n\
             g1     a      10\n"
        );
    }

    #[test]
    fn delete_failures_say_why_in_words() {
        assert_eq!(
            delete_failure("g", RDKafkaErrorCode::NonEmptyGroup),
            "consumer group 'g' could not be deleted: NonEmptyGroup (Broker: The group is not empty): \
             it has active members; stop them first"
        );
    }
}
