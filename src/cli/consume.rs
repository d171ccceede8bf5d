//! `logship consume --topic T`: records to stdout, as
//! kafka-console-consumer.sh does, through rdkafka's consumer.
//!
//! Output, one record per line: `[PARTITION:OFFSET<TAB>][KEY<TAB>]VALUE`,
//! the prefix with `--print-offset`, the key with `--print-key`; a null key
//! or value prints as `null`, like Kafka's console consumer. Bytes are
//! written as they are, not re-encoded.
//!
//! Without `--group`, partitions are assigned directly (no consumer group,
//! nothing committed): every run reads independently of any other. With
//! `--group G` the consumer subscribes as a member of G, shares the topic's
//! partitions with the other members, starts where G's committed offsets
//! are (`--from-beginning` only matters where G has none), and commits the
//! offsets of what it printed as it goes and once more, synchronously,
//! before it leaves the group at exit.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use super::{kafka, Connection, REQUEST_TIMEOUT};

/// The group librdkafka is told about without --group; never joined, never
/// committed to.
const GROUP_ID: &str = "logship-cli";

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Topic to consume from.
    #[arg(long)]
    topic: String,
    /// Start at the earliest record instead of the end of the log (with
    /// --group: in partitions where the group has no committed offset).
    #[arg(long, conflicts_with = "offset")]
    from_beginning: bool,
    /// Consume as a member of this consumer group: partitions are shared
    /// with its other members and offsets are committed.
    #[arg(long, conflicts_with_all = ["partition", "offset"])]
    group: Option<String>,
    /// Read only this partition (default: all partitions of the topic).
    #[arg(long)]
    partition: Option<i32>,
    /// Start offset in --partition: a number, `earliest` or `latest`.
    #[arg(long, requires = "partition", value_parser = parse_offset)]
    offset: Option<Offset>,
    /// Exit after printing this many records.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    /// Print `KEY<TAB>` before each value.
    #[arg(long)]
    print_key: bool,
    /// Print `PARTITION:OFFSET<TAB>` before each record.
    #[arg(long)]
    print_offset: bool,
    /// Exit when no record has arrived for this long (default: run until
    /// Ctrl-C or --max-messages).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    #[command(flatten)]
    connection: Connection,
}

fn parse_offset(s: &str) -> Result<Offset> {
    match s {
        "earliest" => Ok(Offset::Beginning),
        "latest" => Ok(Offset::End),
        n => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Offset::Offset(n)),
            _ => bail!("expected a non-negative offset, `earliest` or `latest`, got {s:?}"),
        },
    }
}

pub fn run(args: ConsumeArgs) -> Result<()> {
    super::runtime()?.block_on(consume(args))
}

/// Why the read loop ended.
enum Stop {
    MaxMessages,
    Idle,
    Interrupted,
    /// stdout was closed (e.g. `| head`): not an error.
    BrokenPipe,
}

async fn consume(args: ConsumeArgs) -> Result<()> {
    let reset = if args.from_beginning {
        "earliest"
    } else {
        "latest"
    };
    let settings: &[(&str, &str)] = match &args.group {
        // Auto commit commits the offsets the read loop stores after it has
        // written a record. librdkafka's own store would also count records
        // fetched but never printed: those handed out (and dropped) while
        // the consumer closes.
        Some(group) => &[
            ("group.id", group),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", reset),
            ("allow.auto.create.topics", "false"),
        ],
        // librdkafka's assign() needs a group.id, though nothing joins the
        // group or commits to it.
        None => &[
            ("group.id", GROUP_ID),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("allow.auto.create.topics", "false"),
        ],
    };
    let consumer: StreamConsumer = args
        .connection
        .client_config(settings)?
        .create()
        .map_err(kafka)
        .context("creating the Kafka consumer")?;
    // Also checks that the topic exists: a subscription to a missing topic
    // would only wait.
    let assignment = assignment(&consumer, &args)?;
    match &args.group {
        Some(group) => consumer
            .subscribe(&[&args.topic])
            .map_err(kafka)
            .with_context(|| format!("joining consumer group '{group}'"))?,
        None => consumer
            .assign(&assignment)
            .map_err(kafka)
            .context("assigning partitions")?,
    }

    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut count = 0u64;
    let bar = super::progress::consume(args.max_messages);
    let stop = read_loop(&consumer, &args, &mut out, &mut count, &bar).await?;
    bar.finish_and_clear();
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing to stdout")
        }
        _ => {}
    }
    if let Some(group) = &args.group {
        commit_final(&consumer, group)?;
    }
    if !matches!(stop, Stop::BrokenPipe) {
        eprintln!("Processed a total of {count} messages");
    }
    // Dropping the consumer closes it: a last auto commit, then LeaveGroup,
    // so the group rebalances at once rather than after the session timeout.
    Ok(())
}

/// Commits the offsets of everything printed and waits for the broker's
/// answer, so the next member of the group starts right after it.
fn commit_final(consumer: &StreamConsumer, group: &str) -> Result<()> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing was read: nothing to commit.
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        result => result
            .map_err(kafka)
            .with_context(|| format!("committing offsets of group '{group}'")),
    }
}

/// The partitions to read and where to start: the one given, or all of the
/// topic's.
fn assignment(consumer: &StreamConsumer, args: &ConsumeArgs) -> Result<TopicPartitionList> {
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), REQUEST_TIMEOUT)
        .map_err(kafka)
        .with_context(|| format!("fetching metadata of topic {}", args.topic))?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == args.topic)
        .with_context(|| format!("topic {} missing from the metadata", args.topic))?;
    if let Some(err) = topic.error() {
        bail!("topic {}: {}", args.topic, RDKafkaErrorCode::from(err));
    }
    let partitions: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    let start = if args.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    let mut list = TopicPartitionList::new();
    match args.partition {
        Some(p) if !partitions.contains(&p) => bail!(
            "topic {} has no partition {p} (it has {})",
            args.topic,
            partitions.len()
        ),
        Some(p) => {
            list.add_partition_offset(&args.topic, p, args.offset.unwrap_or(start))
                .map_err(kafka)?;
        }
        None => {
            for p in partitions {
                list.add_partition_offset(&args.topic, p, start)
                    .map_err(kafka)?;
            }
        }
    }
    Ok(list)
}

async fn read_loop(
    consumer: &StreamConsumer,
    args: &ConsumeArgs,
    out: &mut impl Write,
    count: &mut u64,
    bar: &indicatif::ProgressBar,
) -> Result<Stop> {
    let idle = args.timeout_ms.map(Duration::from_millis);
    // Far enough to never fire when there is no --timeout-ms.
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let mut deadline = Instant::now() + idle.unwrap_or(forever);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if args.max_messages.is_some_and(|max| *count >= max) {
            return Ok(Stop::MaxMessages);
        }
        // Take what is ready without waiting; flush stdout only before
        // waiting, so a burst costs one write, not one per record.
        let ready = tokio::select! {
            biased;
            m = consumer.recv() => Some(m),
            () = std::future::ready(()) => None,
        };
        let received = match ready {
            Some(m) => m,
            None => {
                if let Err(e) = out.flush() {
                    return write_error(e);
                }
                tokio::select! {
                    m = consumer.recv() => m,
                    () = tokio::time::sleep_until(deadline) => return Ok(Stop::Idle),
                    _ = &mut ctrl_c => return Ok(Stop::Interrupted),
                }
            }
        };
        match received {
            Ok(message) => {
                if let Err(e) = write_record(out, &message, args) {
                    return write_error(e);
                }
                *count += 1;
                bar.inc(1);
                if args.group.is_some() {
                    // Fails only for a partition just revoked: its new owner
                    // reads the record again, as the group protocol intends.
                    if let Err(e) = consumer.store_offset_from_message(&message) {
                        tracing::debug!("storing the offset of {}: {e}", args.topic);
                    }
                }
                if let Some(idle) = idle {
                    deadline = Instant::now() + idle;
                }
            }
            // librdkafka reports broker and transport trouble here and keeps
            // retrying on its own, as kafka-console-consumer does.
            Err(e) => tracing::warn!("consuming {}: {e}", args.topic),
        }
    }
}

fn write_error(e: io::Error) -> Result<Stop> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(Stop::BrokenPipe)
    } else {
        Err(e).context("writing to stdout")
    }
}

fn write_record(
    out: &mut impl Write,
    message: &impl Message,
    args: &ConsumeArgs,
) -> io::Result<()> {
    if args.print_offset {
        write!(out, "{}:{}\t", message.partition(), message.offset())?;
    }
    if args.print_key {
        out.write_all(message.key().unwrap_or(b"null"))?;
        out.write_all(b"\t")?;
    }
    out.write_all(message.payload().unwrap_or(b"null"))?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_numbers_or_kafkas_names() {
        assert_eq!(parse_offset("0").unwrap(), Offset::Offset(0));
        assert_eq!(parse_offset("42").unwrap(), Offset::Offset(42));
        assert_eq!(parse_offset("earliest").unwrap(), Offset::Beginning);
        assert_eq!(parse_offset("latest").unwrap(), Offset::End);
        assert!(parse_offset("-1").is_err());
        assert!(parse_offset("first").is_err());
    }
}
