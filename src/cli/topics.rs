//! `logship topics create|list|describe|delete`: `kafka-topics.sh` through
//! rdkafka's AdminClient and metadata.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigResource, NewTopic, OwnedResourceSpecifier, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::{kafka, parse_key_value, Connection, REQUEST_TIMEOUT};

#[derive(Subcommand, Debug)]
pub enum TopicsCommand {
    /// Create a topic; prints `Created topic NAME.`
    Create {
        name: String,
        /// Partition count (default: the broker's `num.partitions`).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's; a collector has 1).
        #[arg(long)]
        replication_factor: Option<i16>,
        /// A topic config override under Kafka's name, e.g.
        /// `--config retention.ms=86400000`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed without creating when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// List topic names, one per line, sorted.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Describe a topic (all topics without NAME) as kafka-topics.sh does;
    /// `Configs:` lists the configs that differ from the defaults.
    Describe {
        name: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete topics and all their records.
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
        /// Succeed when a topic does not exist.
        #[arg(long)]
        if_exists: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: TopicsCommand) -> Result<()> {
    super::runtime()?.block_on(async {
        match command {
            TopicsCommand::Create {
                name,
                partitions,
                replication_factor,
                configs,
                if_not_exists,
                connection,
            } => {
                create(
                    &connection,
                    &name,
                    partitions,
                    replication_factor,
                    &configs,
                    if_not_exists,
                )
                .await
            }
            TopicsCommand::List { connection } => list(&connection),
            TopicsCommand::Describe { name, connection } => {
                describe(&connection, name.as_deref()).await
            }
            TopicsCommand::Delete {
                names,
                if_exists,
                connection,
            } => delete(&connection, &names, if_exists).await,
        }
    })
}

fn admin(connection: &Connection) -> Result<AdminClient<DefaultClientContext>> {
    connection
        .client_config(&[])?
        .create()
        .map_err(kafka)
        .context("creating the Kafka admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT))
}

async fn create(
    connection: &Connection,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: &[(String, String)],
    if_not_exists: bool,
) -> Result<()> {
    let admin = admin(connection)?;
    // -1 asks the broker for its default (CreateTopics v4+).
    let mut topic = NewTopic::new(
        name,
        partitions.unwrap_or(-1),
        TopicReplication::Fixed(replication_factor.map_or(-1, i32::from)),
    );
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &options())
        .await
        .map_err(kafka)
        .with_context(|| format!("creating topic {name}"))?;
    for result in results {
        match result {
            Ok(created) => println!("Created topic {created}."),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) if if_not_exists => {}
            Err((topic, code)) => bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// What `describe` shows of a topic, copied out of rdkafka's metadata.
#[derive(Debug, Clone, PartialEq)]
struct TopicInfo {
    name: String,
    error: Option<String>,
    partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Clone, PartialEq)]
struct PartitionInfo {
    id: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// All topics' metadata, sorted by name. Asking for all topics (rather than
/// one by name) never auto-creates a topic on a broker that allows it.
fn all_topics(admin: &AdminClient<DefaultClientContext>) -> Result<Vec<TopicInfo>> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(kafka)
        .context("fetching metadata")?;
    let mut topics: Vec<TopicInfo> = metadata
        .topics()
        .iter()
        .map(|t| {
            let mut partitions: Vec<PartitionInfo> = t
                .partitions()
                .iter()
                .map(|p| PartitionInfo {
                    id: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            TopicInfo {
                name: t.name().to_owned(),
                error: t.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                partitions,
            }
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

fn list(connection: &Connection) -> Result<()> {
    let admin = admin(connection)?;
    for topic in all_topics(&admin)? {
        println!("{}", topic.name);
    }
    Ok(())
}

async fn describe(connection: &Connection, name: Option<&str>) -> Result<()> {
    let admin = admin(connection)?;
    let mut topics = all_topics(&admin)?;
    if let Some(name) = name {
        topics.retain(|t| t.name == name);
        if topics.is_empty() {
            bail!("topic {name} does not exist");
        }
    }
    let specifiers: Vec<_> = topics
        .iter()
        .filter(|t| t.error.is_none())
        .map(|t| ResourceSpecifier::Topic(&t.name))
        .collect();
    let mut configs: HashMap<String, String> = HashMap::new();
    if !specifiers.is_empty() {
        let results = admin
            .describe_configs(&specifiers, &options())
            .await
            .map_err(kafka)
            .context("describing topic configs")?;
        for (spec, result) in specifiers.iter().zip(results) {
            let ResourceSpecifier::Topic(name) = spec else {
                unreachable!("only topics are described")
            };
            let resource = result.map_err(|code| {
                anyhow::anyhow!("describing the configs of topic {name}: {code}")
            })?;
            if let OwnedResourceSpecifier::Topic(name) = &resource.specifier {
                configs.insert(name.clone(), non_default_configs(&resource));
            }
        }
    }
    let mut out = String::new();
    for topic in &topics {
        let configs = configs.get(&topic.name).map_or("", String::as_str);
        format_topic(&mut out, topic, configs);
    }
    print!("{out}");
    Ok(())
}

/// `k=v,...` of the configs set on the topic itself, sorted, as
/// kafka-topics.sh shows them (entries whose source is a default are left out).
fn non_default_configs(resource: &ConfigResource) -> String {
    let mut entries: Vec<String> = resource
        .entries
        .iter()
        .filter(|e| !e.is_default)
        .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("")))
        .collect();
    entries.sort();
    entries.join(",")
}

/// kafka-topics.sh's `--describe` layout: a topic line, then one line per
/// partition, fields separated by tabs. The topic id is left out: rdkafka's
/// metadata does not expose it.
fn format_topic(out: &mut String, topic: &TopicInfo, configs: &str) {
    let name = &topic.name;
    if let Some(error) = &topic.error {
        let _ = writeln!(out, "Topic: {name}\tError: {error}");
        return;
    }
    let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
    let _ = writeln!(
        out,
        "Topic: {name}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {configs}",
        topic.partitions.len()
    );
    for p in &topic.partitions {
        let leader = if p.leader < 0 {
            "none".to_owned()
        } else {
            p.leader.to_string()
        };
        let _ = writeln!(
            out,
            "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
            p.id,
            join_ids(&p.replicas),
            join_ids(&p.isr)
        );
    }
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn delete(connection: &Connection, names: &[String], if_exists: bool) -> Result<()> {
    let admin = admin(connection)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(&names, &options())
        .await
        .map_err(kafka)
        .context("deleting topics")?;
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(deleted) => println!("Deleted topic {deleted}."),
            Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) if if_exists => {}
            Err((topic, code)) => failures.push(format!("deleting topic {topic}: {code}")),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_uses_kafka_topics_layout() {
        let topic = TopicInfo {
            name: "first-events".to_owned(),
            error: None,
            partitions: (0..2)
                .map(|id| PartitionInfo {
                    id,
                    leader: 0,
                    replicas: vec![0],
                    isr: vec![0],
                })
                .collect(),
        };
        let mut out = String::new();
        format_topic(&mut out, &topic, "retention.ms=1000");
        assert_eq!(
            out,
            "Topic: first-events\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=1000\n\
             \tTopic: first-events\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n\
             \tTopic: first-events\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n"
        );
    }
}
