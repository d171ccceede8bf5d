//! Shipping one stream of records exactly once, whatever the records come
//! from (a file's lines today; any source whose records have a position it
//! can resume from).
//!
//! A stream has one producer identity (producer id + epoch) that it keeps
//! across restarts, and a sequence counting the records it shipped. Its
//! durable progress (a [`Progress`]) holds the position after the last
//! acknowledged record and the sequence of the next one. The pieces, in
//! the order a record meets them:
//!
//! - [`resume`]: at the start of a session, asks the sink which sequences
//!   it already holds for the stream's producer, so records acknowledged
//!   but not yet checkpointed before a crash are skipped, not sent twice.
//! - [`budget`]: the read-ahead budget shared by every stream; a source
//!   takes it before reading and it is given back only on acknowledgement
//!   (backpressure while the sink is slow).
//! - [`batcher`]: gathers records into batches (size, count, linger),
//!   numbers them with the stream's sequences and encodes them.
//! - [`sender`]: ships batches in order, a few in flight, and moves the
//!   checkpoint on each acknowledgement; a refusal ends the session, and
//!   the next one starts from the checkpoint.

pub mod batcher;
pub mod budget;
pub mod resume;
pub mod sender;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::batch::Encoders;
use crate::config::{BatchConfig, Compression};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::sink::Sink;

/// What every stream of a source shares for shipping.
pub struct Shipping {
    /// The source's name (the `source` metric label).
    pub source: String,
    pub sink: Arc<Sink>,
    pub metrics: Metrics,
    /// Bytes read and not yet acknowledged, across all sources.
    pub budget: Arc<Semaphore>,
    /// The compression threads (one per core).
    pub encoders: Arc<Encoders>,
    pub batch: BatchConfig,
    pub compression: Compression,
    /// Stop reading (shutdown).
    pub stop: CancellationToken,
}

/// A stream's durable progress: where it resumes and under which producer
/// sequence. Implemented by each kind of source (a file stream's byte
/// offset in `checkpoints.json`; another source's own position type).
pub trait Progress: Send + Sync + 'static {
    /// Where the stream resumes after a record (a byte offset, a cursor).
    type Position: Clone + Send + Sync + 'static;

    /// Everything up to `end` is acknowledged; the next record carries
    /// `next_sequence`. May be written to disk lazily.
    fn acknowledged(&self, end: &Self::Position, next_sequence: i32);

    /// The sink refused the batch ending at `end` for good: go on after
    /// it under a new producer identity `producer` (at sequence 0), written
    /// to disk before returning (its sequences must never be reused).
    fn skip_refused(
        &self,
        end: &Self::Position,
        producer: (i64, i16),
    ) -> impl Future<Output = Result<(), Error>> + Send;
}
