//! Records into batches: a batch is sealed when it reaches the byte or
//! record limit, or when its first record has waited `linger`. Sealing
//! numbers the batch with the stream's next sequences and encodes it (small
//! batches right here, large ones on the encoder threads while the source
//! reads on), then hands it to the stream's sender.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::budget::Budget;
use super::{Progress, Shipping};
use crate::batch::{self, EncodeResult, HeadedRecord, OutRecord, ProducerFields, StreamMeta};
use crate::config::Compression;
use crate::sink::{Lines, Payload};

/// A stream's kind of record and how a batch of them is encoded: file
/// lines with their stream's metadata ([`StreamMeta`]), or records that
/// carry their own key and headers ([`Headed`], the journal's).
pub trait Records: Clone + Send + Sync + 'static {
    type Record: Send + 'static;
    /// A record's bytes, as counted against the batch size limit.
    fn bytes(record: &Self::Record) -> u64;
    /// One RecordBatch v2 with the producer fields (the collector sink).
    fn encode(
        &self,
        records: &[Self::Record],
        producer: ProducerFields,
        compression: Compression,
    ) -> EncodeResult;
    /// The records themselves (the Kafka sink builds its own messages).
    fn payload(&self, records: Vec<Self::Record>) -> Payload;
}

impl Records for StreamMeta {
    type Record = OutRecord;
    fn bytes(record: &OutRecord) -> u64 {
        record.value.len() as u64
    }
    fn encode(
        &self,
        records: &[OutRecord],
        producer: ProducerFields,
        compression: Compression,
    ) -> EncodeResult {
        batch::encode(records, self, producer, compression)
    }
    fn payload(&self, records: Vec<OutRecord>) -> Payload {
        Payload::Lines(Arc::new(Lines {
            records,
            meta: self.clone(),
        }))
    }
}

/// Records with their own key and headers.
#[derive(Debug, Clone, Copy)]
pub struct Headed;

impl Records for Headed {
    type Record = HeadedRecord;
    fn bytes(record: &HeadedRecord) -> u64 {
        (record.value.len() + record.key.as_ref().map_or(0, Bytes::len)) as u64
    }
    fn encode(
        &self,
        records: &[HeadedRecord],
        producer: ProducerFields,
        compression: Compression,
    ) -> EncodeResult {
        batch::encode_headed(records, producer, compression)
    }
    fn payload(&self, records: Vec<HeadedRecord>) -> Payload {
        Payload::Headed(Arc::new(records))
    }
}

/// Batches with fewer record bytes are compressed on the async thread.
const INLINE_ENCODE: u64 = 64 * 1024;

/// A batch ready for the sink, or the compression job making it.
pub enum Encoded {
    Ready(Payload),
    Pending(oneshot::Receiver<EncodeResult>),
}

/// A batch on its way to the sender.
pub struct Sealed<P> {
    pub payload: Encoded,
    pub records: usize,
    pub first_sequence: i32,
    /// The stream's position after the batch's last record.
    pub end: P,
    /// Given back when the batch is acknowledged or dropped.
    pub _budget: Option<Budget>,
}

/// Gathers one stream's records into batches. Not shared: one per session.
pub struct Batcher<P: Progress, R: Records = StreamMeta> {
    ship: Arc<Shipping>,
    progress: Arc<P>,
    meta: R,
    producer: (i64, i16),
    /// The sequence of the next record.
    sequence: i32,
    /// Records the sink already holds (see [`super::resume`]): skipped.
    skip: u64,
    /// Record bytes per batch.
    limit: u64,
    records: Vec<R::Record>,
    bytes: u64,
    end: Option<P::Position>,
    /// When the first waiting record arrived (the linger clock).
    since: Option<Instant>,
    budget: Option<Budget>,
    tx: mpsc::Sender<Sealed<P::Position>>,
}

/// Where a batcher starts.
pub struct Start {
    pub producer: (i64, i16),
    pub sequence: i32,
    pub skip: u64,
    /// Record bytes per batch.
    pub limit: u64,
}

impl<P: Progress, R: Records> Batcher<P, R> {
    pub fn new(
        ship: Arc<Shipping>,
        progress: Arc<P>,
        meta: R,
        start: Start,
        tx: mpsc::Sender<Sealed<P::Position>>,
    ) -> Batcher<P, R> {
        Batcher {
            ship,
            progress,
            meta,
            producer: start.producer,
            sequence: start.sequence,
            skip: start.skip,
            limit: start.limit,
            records: Vec::new(),
            bytes: 0,
            end: None,
            since: None,
            budget: None,
            tx,
        }
    }

    /// Adds a record that ends at `end`, sealing the batch when it is
    /// full; false when the sender is gone (the session must restart).
    pub async fn push(&mut self, record: R::Record, end: P::Position) -> bool {
        if self.skip > 0 {
            // The sink has it already: it counts as acknowledged.
            self.skip -= 1;
            self.sequence = self.sequence.wrapping_add(1);
            self.progress.acknowledged(&end, self.sequence);
            self.ship
                .metrics
                .records_deduplicated
                .with_label_values(&[&self.ship.source])
                .inc();
            return true;
        }
        self.bytes += R::bytes(&record);
        self.end = Some(end);
        self.since.get_or_insert_with(Instant::now);
        self.records.push(record);
        if self.bytes >= self.limit || self.records.len() >= self.ship.batch.max_records {
            return self.seal().await;
        }
        true
    }

    /// Budget taken for what the next records are read from.
    pub fn add_budget(&mut self, b: Budget) {
        match &mut self.budget {
            Some(mine) => mine.merge(b),
            None => self.budget = Some(b),
        }
    }

    /// When the waiting records must leave (None: none wait).
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|s| s + self.ship.batch.linger)
    }

    pub fn lingered(&self) -> bool {
        self.since
            .is_some_and(|s| s.elapsed() >= self.ship.batch.linger)
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The stream's sequences are about to wrap: the session should ship
    /// what it has and start over under a new identity.
    pub fn sequences_running_out(&self) -> bool {
        self.sequence > i32::MAX - self.ship.batch.max_records as i32 * 2
    }

    /// Encodes the waiting records and hands them to the sender; false
    /// when the sender is gone (it ended the session, or shutdown).
    pub async fn seal(&mut self) -> bool {
        let Some(end) = self.end.take() else {
            // Budget taken for bytes that made no record (partial lines).
            self.budget = None;
            self.since = None;
            return !self.tx.is_closed();
        };
        let records = std::mem::take(&mut self.records);
        let bytes = std::mem::take(&mut self.bytes);
        let budget = self.budget.take();
        self.since = None;
        let n = records.len();
        let first_sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(n as i32);
        let fields = ProducerFields {
            id: self.producer.0,
            epoch: self.producer.1,
            first_sequence,
        };
        let compression = self.ship.compression;
        let payload = if self.ship.sink.takes_records() {
            // The Kafka sink builds its own messages from the records.
            Encoded::Ready(self.meta.payload(records))
        } else if bytes < INLINE_ENCODE {
            match self.meta.encode(&records, fields, compression) {
                Ok(b) => Encoded::Ready(Payload::Batch(b)),
                Err(e) => {
                    tracing::error!(source = %self.ship.source, error = %e, "encoding a batch failed");
                    self.ship
                        .metrics
                        .errors
                        .with_label_values(&["encode"])
                        .inc();
                    return false;
                }
            }
        } else {
            let meta = self.meta.clone();
            Encoded::Pending(
                self.ship
                    .encoders
                    .run(move || meta.encode(&records, fields, compression)),
            )
        };
        self.tx
            .send(Sealed {
                payload,
                records: n,
                first_sequence,
                end,
                _budget: budget,
            })
            .await
            .is_ok()
    }
}
