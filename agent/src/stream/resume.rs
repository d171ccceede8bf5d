//! Where a session starts: the stream's checkpoint says which sequence
//! comes next; the sink may hold more (records it acknowledged after the
//! checkpoint was last written, before a crash). Those are skipped, not
//! sent again.

use crate::checkpoint::StreamCheckpoint;
use crate::error::Error;
use crate::sink::{Sink, SinkError};

/// Sequences are renewed (a new producer identity) well before they wrap.
pub const SEQUENCE_LIMIT: i32 = i32::MAX / 2;

/// How a session goes on from the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Same producer identity. The sink already holds the next `skip`
    /// records; `sink_knows` says it has state for the producer at all
    /// (if not, the first batch must arrive alone and first).
    Continue { skip: u64, sink_knows: bool },
    /// The sink holds fewer records than were acknowledged (its data was
    /// lost or replaced), or another epoch, or the sequences run out: go
    /// on from the checkpoint under a new producer identity.
    NewIdentity,
    /// Shutdown began while asking.
    Stopped,
}

/// The stream's producer state, as its checkpoint has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer {
    pub id: i64,
    pub epoch: i16,
    /// The sequence of the first record after the checkpoint.
    pub sequence: i32,
}

/// Asks the sink what it holds of the stream `cp` checkpoints.
pub async fn resume(sink: &Sink, cp: &StreamCheckpoint) -> Result<Resume, Error> {
    let producer = Producer {
        id: cp.producer_id,
        epoch: cp.epoch,
        sequence: cp.sequence,
    };
    let known = match sink
        .last_sequence(&cp.topic, cp.partition, producer.id)
        .await
    {
        Ok(k) => k,
        Err(SinkError::Cancelled) => return Ok(Resume::Stopped),
        Err(error) => {
            return Err(Error::Sink {
                doing: "asking the collector for producer state",
                error,
            })
        }
    };
    Ok(decide(producer, known))
}

/// The decision, given what the sink holds: (epoch, last sequence) or
/// nothing.
pub fn decide(producer: Producer, known: Option<(i16, i32)>) -> Resume {
    if producer.sequence > SEQUENCE_LIMIT {
        return Resume::NewIdentity;
    }
    match known {
        None => Resume::Continue {
            skip: 0,
            sink_knows: false,
        },
        Some((epoch, last)) if epoch == producer.epoch => {
            let next = last as i64 + 1;
            if next >= producer.sequence as i64 {
                Resume::Continue {
                    skip: (next - producer.sequence as i64) as u64,
                    sink_knows: true,
                }
            } else {
                tracing::warn!(
                    producer = producer.id,
                    expected = producer.sequence,
                    found = next,
                    "the collector holds fewer records of this stream than were acknowledged; continuing under a new producer id"
                );
                Resume::NewIdentity
            }
        }
        Some(_) => Resume::NewIdentity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Producer = Producer {
        id: 7,
        epoch: 0,
        sequence: 10,
    };

    #[test]
    fn records_the_sink_has_beyond_the_checkpoint_are_skipped() {
        assert_eq!(
            decide(P, Some((0, 14))),
            Resume::Continue {
                skip: 5,
                sink_knows: true
            }
        );
        assert_eq!(
            decide(P, Some((0, 9))),
            Resume::Continue {
                skip: 0,
                sink_knows: true
            }
        );
        assert_eq!(
            decide(P, None),
            Resume::Continue {
                skip: 0,
                sink_knows: false
            }
        );
    }

    #[test]
    fn a_sink_behind_the_checkpoint_or_in_another_epoch_means_a_new_identity() {
        assert_eq!(decide(P, Some((0, 5))), Resume::NewIdentity);
        assert_eq!(decide(P, Some((1, 20))), Resume::NewIdentity);
        let late = Producer {
            sequence: SEQUENCE_LIMIT + 1,
            ..P
        };
        assert_eq!(decide(late, Some((0, SEQUENCE_LIMIT))), Resume::NewIdentity);
    }
}
