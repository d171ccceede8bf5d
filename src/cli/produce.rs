//! `logship produce --topic T`: one record per stdin line, as
//! kafka-console-producer.sh does, through rdkafka's producer.
//!
//! Each line loses its `\n` (and a `\r` before it). With `--key-separator`
//! the text before the first separator is the key and the rest the value;
//! a line without the separator is an error, as with
//! `parse.key=true`. Input ends at end of file (Ctrl-D on a terminal); every
//! record is then flushed and the exit code says whether all were delivered.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::ClientContext;

use super::{kafka, Connection};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Topic to produce to.
    #[arg(long)]
    topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Partition for every record (default: by key hash as Kafka's default
    /// partitioner does, or spread when there is no key).
    #[arg(long)]
    partition: Option<i32>,
    #[command(flatten)]
    connection: Connection,
}

/// Counts failed deliveries; the delivery opaque is the record's line number.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, line: usize) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| format!("line {line}: {error}"));
        }
    }
}

pub fn run(args: ProduceArgs) -> Result<()> {
    // murmur2 of the key, so a keyed record lands on the partition a Java
    // client (and the agent) would pick.
    let producer: BaseProducer<Deliveries> = args
        .connection
        .client_config(&[("partitioner", "murmur2_random")])?
        .create_with_context(Deliveries::default())
        .map_err(kafka)
        .context("creating the Kafka producer")?;

    let bar = super::progress::produce();
    let result = send_lines(&producer, &args, &bar);
    // Deliver what was sent even when reading stopped on an error.
    let flushed = producer.flush(Timeout::Never);
    result?;
    flushed.map_err(kafka).context("flushing records")?;
    bar.finish_and_clear();
    let deliveries = producer.context();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = deliveries
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        bail!(
            "{failed} record(s) not delivered to {}; first: {first}",
            args.topic
        );
    }
    Ok(())
}

/// Reads stdin and hands each line to the producer; stops early once a
/// delivery has failed, since later records could no longer keep their order.
fn send_lines(
    producer: &BaseProducer<Deliveries>,
    args: &ProduceArgs,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    if separator.is_some_and(<[u8]>::is_empty) {
        bail!("--key-separator must not be empty");
    }
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if stdin
            .read_until(b'\n', &mut line)
            .context("reading stdin")?
            == 0
        {
            bar.set_message(format!("{number} records"));
            return Ok(());
        }
        number += 1;
        bar.inc(line.len() as u64);
        if number % 1024 == 0 {
            bar.set_message(format!("{number} records"));
        }
        let text = trim_newline(&line);
        let (key, value) = match separator {
            None => (None, text),
            Some(sep) => match split_key(text, sep) {
                Some((k, v)) => (Some(k), v),
                None => bail!(
                    "no key separator {:?} on line {number}: {:?}",
                    args.key_separator.as_deref().unwrap_or_default(),
                    String::from_utf8_lossy(text)
                ),
            },
        };
        let mut record = BaseRecord::with_opaque_to(&args.topic, number).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(100));
                }
                Err((e, _)) => {
                    return Err(kafka(e)).with_context(|| format!("sending line {number}"))
                }
            }
        }
        // Serves delivery callbacks without waiting.
        producer.poll(Duration::ZERO);
        if producer.context().failed.load(Ordering::Relaxed) > 0 {
            return Ok(());
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits at the first `sep`: (key, value).
fn split_key<'a>(line: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = line.windows(sep.len()).position(|w| w == sep)?;
    Some((&line[..at], &line[at + sep.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_line_ending_only() {
        assert_eq!(trim_newline(b"a b\n"), b"a b");
        assert_eq!(trim_newline(b"a b\r\n"), b"a b");
        assert_eq!(trim_newline(b"last"), b"last");
        assert_eq!(trim_newline(b"\n"), b"");
        assert_eq!(trim_newline(b" x \t\n"), b" x \t");
    }

    #[test]
    fn key_is_the_text_before_the_first_separator() {
        assert_eq!(
            split_key(b"user-1:a:b", b":"),
            Some((&b"user-1"[..], &b"a:b"[..]))
        );
        assert_eq!(split_key(b"k::v", b"::"), Some((&b"k"[..], &b"v"[..])));
        assert_eq!(split_key(b":v", b":"), Some((&b""[..], &b"v"[..])));
        assert_eq!(split_key(b"no separator", b":"), None);
        assert_eq!(split_key(b"", b":"), None);
    }
}
