//! The sending and acknowledgement loop of one stream: ships sealed
//! batches in order, up to [`PIPELINE`] at a time, takes the answers in
//! order, and moves the stream's [`Progress`] on each acknowledgement.
//!
//! A batch that overtook an earlier one on the way (separate connections)
//! and was refused as out of order is sent again once the earlier one is
//! in. Any other refusal ends the loop early, which ends the source's
//! session; the next session starts from the checkpoint.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

use super::batcher::{Encoded, Sealed};
use super::{Progress, Shipping};
use crate::sink::{Ack, Payload, Rejection, SinkError};

/// Batches of one stream in flight at once (Kafka's idempotent producers
/// allow five).
pub const PIPELINE: usize = 4;

/// Why a sender stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderEnd {
    /// Its channel closed and everything was answered.
    Done,
    /// The sink refused a batch as too large: use smaller ones.
    TooLarge,
    /// A refusal, a sequence conflict, shutdown: start over from the
    /// checkpoint.
    Failed,
}

/// Where a stream's batches go.
pub struct Target {
    pub topic: String,
    pub partition: i32,
    /// The sink has state for the stream's producer. If not, it takes the
    /// producer's first batch at any sequence, so that batch goes alone:
    /// a later one overtaking it would be taken and the first refused.
    pub sink_knows: bool,
}

/// Starts the sender of one session; the session seals batches into the
/// returned channel and drops it when done.
pub fn spawn<P: Progress>(
    ship: Arc<Shipping>,
    progress: Arc<P>,
    target: Target,
) -> (mpsc::Sender<Sealed<P::Position>>, JoinHandle<SenderEnd>) {
    let (tx, rx) = mpsc::channel(2);
    let task = tokio::spawn(run(ship, progress, target, rx));
    (tx, task)
}

/// What the loop waited for.
enum Step<P> {
    /// The next sealed batch (None: the session is done).
    Batch(Option<Sealed<P>>),
    /// The oldest request's answer.
    Answer(Result<Result<Ack, SinkError>, JoinError>),
}

/// A batch sent and not yet answered.
struct InFlight<P> {
    batch: Sealed<P>,
    payload: Payload,
    answer: JoinHandle<Result<Ack, SinkError>>,
    /// Sent while an earlier batch was unanswered: a sequence conflict may
    /// just mean it overtook that one.
    overtaking: bool,
}

async fn run<P: Progress>(
    ship: Arc<Shipping>,
    progress: Arc<P>,
    target: Target,
    mut rx: mpsc::Receiver<Sealed<P::Position>>,
) -> SenderEnd {
    let mut end = SenderEnd::Done;
    let mut depth = if target.sink_knows { PIPELINE } else { 1 };
    let mut flying: VecDeque<InFlight<P::Position>> = VecDeque::new();
    let mut open = true;
    loop {
        // Take new batches while there is room; otherwise (or when the
        // channel is done) wait for the oldest answer.
        let step = if open && flying.len() < depth {
            tokio::select! {
                biased;
                b = rx.recv() => Step::Batch(b),
                done = async { (&mut flying.front_mut().expect("non-empty").answer).await }, if !flying.is_empty() => Step::Answer(done),
            }
        } else if let Some(front) = flying.front_mut() {
            Step::Answer((&mut front.answer).await)
        } else {
            break;
        };
        let mut batch = match step {
            Step::Answer(done) => {
                let f = flying.pop_front().expect("non-empty");
                if let Some(e) = settle(&ship, &*progress, &target, f, done).await {
                    end = e;
                    break;
                }
                depth = PIPELINE;
                continue;
            }
            Step::Batch(None) => {
                open = false;
                continue;
            }
            Step::Batch(Some(b)) => b,
        };
        let encoded = std::mem::replace(
            &mut batch.payload,
            Encoded::Ready(Payload::Batch(Bytes::new())),
        );
        let payload = match encoded {
            Encoded::Ready(p) => p,
            Encoded::Pending(job) => match job.await.map_err(std::io::Error::other) {
                Ok(Ok(b)) => Payload::Batch(b),
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(source = %ship.source, error = %e, "encoding a batch failed");
                    ship.metrics.errors.with_label_values(&["encode"]).inc();
                    end = SenderEnd::Failed;
                    break;
                }
            },
        };
        let answer = ship
            .sink
            .start_send(
                &ship.source,
                &target.topic,
                target.partition,
                payload.clone(),
            )
            .await;
        flying.push_back(InFlight {
            batch,
            payload,
            answer,
            overtaking: !flying.is_empty(),
        });
    }
    // Requests still out are waited for (their outcome is whatever the sink
    // decided; the next session asks it), and batches still queued are
    // dropped with their budget: the next session reads them again.
    for f in flying {
        let _ = f.answer.await;
    }
    rx.close();
    while rx.try_recv().is_ok() {}
    end
}

/// Handles the oldest batch's answer; Some ends the session.
async fn settle<P: Progress>(
    ship: &Shipping,
    progress: &P,
    target: &Target,
    mut f: InFlight<P::Position>,
    done: Result<Result<Ack, SinkError>, JoinError>,
) -> Option<SenderEnd> {
    let source = &ship.source;
    let m = &ship.metrics;
    let (topic, partition) = (&target.topic, target.partition);
    let mut result = done.unwrap_or(Err(SinkError::Cancelled));
    if f.overtaking
        && matches!(
            result,
            Err(SinkError::Rejected {
                kind: Rejection::SequenceConflict,
                ..
            })
        )
    {
        // Every earlier batch is acknowledged by now: send it again, in
        // order this time (later ones in flight will be retried likewise).
        result = ship
            .sink
            .send(source, topic, partition, f.payload.clone())
            .await;
        f.overtaking = false;
    }
    let batch = f.batch;
    match result {
        Ok(_ack) => {
            let next = batch.first_sequence.wrapping_add(batch.records as i32);
            progress.acknowledged(&batch.end, next);
            m.batches_sent.with_label_values(&[source]).inc();
            m.records_sent
                .with_label_values(&[source])
                .inc_by(batch.records as u64);
            m.bytes_sent
                .with_label_values(&[source])
                .inc_by(f.payload.len() as u64);
            None
        }
        Err(SinkError::Cancelled) | Err(SinkError::Retry(_)) => Some(SenderEnd::Failed),
        Err(SinkError::Rejected { kind, message }) => {
            // Later batches in flight carry sequences after this one; the
            // sink refuses them (out of order), and the next session
            // starts from the checkpoint.
            if kind == Rejection::SequenceConflict {
                tracing::warn!(
                    source,
                    message,
                    "collector reported a sequence conflict; resynchronising"
                );
                return Some(SenderEnd::Failed);
            }
            if kind == Rejection::TooLarge && batch.records > 1 {
                // As Kafka producers split a batch refused as too large:
                // the session starts over from the checkpoint with smaller
                // batches, nothing is dropped.
                tracing::info!(
                    source,
                    records = batch.records,
                    message,
                    "collector refused a batch as too large; sending smaller ones"
                );
                return Some(SenderEnd::TooLarge);
            }
            tracing::error!(
                source,
                topic,
                partition,
                %kind,
                message,
                records = batch.records,
                "collector refused a batch; its records are dropped"
            );
            m.records_rejected
                .with_label_values(&[source])
                .inc_by(batch.records as u64);
            // Skip it, and never reuse its sequences: a new identity.
            let skipped = match ship.sink.new_producer_id().await {
                Ok(producer) => progress.skip_refused(&batch.end, producer).await,
                Err(error) => Err(crate::error::Error::Sink {
                    doing: "getting a producer id",
                    error,
                }),
            };
            if let Err(e) = skipped {
                tracing::error!(source, error = %e, "could not skip the refused batch");
                m.errors.with_label_values(&[e.kind()]).inc();
            }
            Some(SenderEnd::Failed)
        }
    }
}
