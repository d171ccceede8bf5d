//! `logship topics create|list|describe|alter|delete`: `kafka-topics.sh`
//! (and `kafka-configs.sh --alter` for topics) through rdkafka's AdminClient
//! and metadata.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigResource, ConfigSource, NewTopic,
    OwnedResourceSpecifier, ResourceSpecifier, TopicReplication,
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
    /// Change a topic's configs without a restart, as `kafka-configs.sh
    /// --alter` does; prints `Completed updating config for topic NAME.`
    Alter {
        name: String,
        /// Set a config under Kafka's name, e.g. `--config retention.ms=3600000`;
        /// repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Remove a config override (back to the default); repeatable.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
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
            TopicsCommand::Alter {
                name,
                configs,
                delete_configs,
                connection,
            } => alter(&connection, &name, &configs, &delete_configs).await,
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

/// The topic's overrides after `set` and `delete` (a key both set and
/// deleted is refused; deleting a key that is not overridden is refused, as
/// `kafka-configs.sh` does).
fn altered_overrides(
    mut current: BTreeMap<String, String>,
    set: &[(String, String)],
    delete: &[String],
) -> Result<BTreeMap<String, String>> {
    if set.is_empty() && delete.is_empty() {
        bail!("nothing to alter: give --config KEY=VALUE or --delete-config KEY");
    }
    if let Some(k) = delete.iter().find(|k| set.iter().any(|(s, _)| s == *k)) {
        bail!("config {k} is both set and deleted");
    }
    let missing: Vec<&str> = delete
        .iter()
        .filter(|k| !current.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!(
            "cannot delete configs that are not set on the topic: {}",
            missing.join(", ")
        );
    }
    for k in delete {
        current.remove(k);
    }
    for (k, v) in set {
        current.insert(k.clone(), v.clone());
    }
    Ok(current)
}

/// rdkafka offers only the legacy AlterConfigs, which replaces the whole
/// override set: read the topic's overrides, apply the change, write them
/// all back. (A concurrent alteration by another client between the read
/// and the write is overwritten, as with `kafka-configs.sh` before
/// IncrementalAlterConfigs.)
async fn alter(
    connection: &Connection,
    name: &str,
    set: &[(String, String)],
    delete: &[String],
) -> Result<()> {
    let admin = admin(connection)?;
    // DescribeConfigs' per-resource errors are not surfaced by rust-rdkafka
    // either: look the topic up in the metadata first.
    if !all_topics(&admin)?.iter().any(|t| t.name == name) {
        bail!("topic {name} does not exist");
    }
    let current = topic_overrides(&admin, name).await?;
    let next = altered_overrides(current, set, delete)?;
    let mut change = AlterConfig::new(ResourceSpecifier::Topic(name));
    for (k, v) in &next {
        change = change.set(k, v);
    }
    let results = admin
        .alter_configs([&change], &options())
        .await
        .map_err(kafka)
        .with_context(|| format!("altering the configs of topic {name}"))?;
    for result in results {
        if let Err((_, code)) = result {
            bail!("altering the configs of topic {name}: {code}");
        }
    }
    // rust-rdkafka (0.39) reports a resource's AlterConfigs error as a
    // success, so the outcome is read back: the broker applies a resource's
    // configs all or nothing, and refuses an unknown name or a bad value.
    let now = topic_overrides(&admin, name).await?;
    let same = now.len() == next.len()
        && next
            .iter()
            .all(|(k, v)| now.get(k).is_some_and(|n| n.trim() == v.trim()));
    if !same {
        let keys: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
        bail!(
            "altering the configs of topic {name}: the broker refused {} (an unknown config \
             name or an invalid value); nothing was changed",
            keys.join(", ")
        );
    }
    println!("Completed updating config for topic {name}.");
    Ok(())
}

/// The configs set on topic `name` itself (source: dynamic topic config).
async fn topic_overrides(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
) -> Result<BTreeMap<String, String>> {
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(name)], &options())
        .await
        .map_err(kafka)
        .with_context(|| format!("describing the configs of topic {name}"))?;
    let resource = described
        .into_iter()
        .next()
        .context("the broker returned no config resource")?
        .map_err(|code| match code {
            RDKafkaErrorCode::UnknownTopicOrPartition => {
                anyhow::anyhow!("topic {name} does not exist")
            }
            code => anyhow::anyhow!("describing the configs of topic {name}: {code}"),
        })?;
    Ok(resource
        .entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect())
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
    fn alter_applies_sets_and_deletes_to_the_overrides() {
        let mut current = BTreeMap::new();
        current.insert("retention.ms".to_owned(), "1000".to_owned());
        current.insert("segment.bytes".to_owned(), "2048".to_owned());
        let set = [("retention.ms".to_owned(), "5000".to_owned())];
        let next = altered_overrides(current.clone(), &set, &["segment.bytes".to_owned()]).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next["retention.ms"], "5000");
        assert!(altered_overrides(current.clone(), &[], &[]).is_err());
        let err = altered_overrides(current.clone(), &[], &["max.message.bytes".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max.message.bytes"), "{err}");
        assert!(altered_overrides(current, &set, &["retention.ms".to_owned()]).is_err());
    }

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
