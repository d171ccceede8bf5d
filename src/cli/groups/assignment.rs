//! Kafka's ConsumerProtocol `Assignment`: the bytes a group leader hands
//! each member through SyncGroup and DescribeGroups returns verbatim.
//!
//! Layout (all versions 0-3 share it, big-endian): i16 version, i32 topic
//! count, per topic an i16-length name, an i32 partition count and the i32
//! partitions, then i32-length user data. The bytes come from whichever
//! client led the group, so the decoder trusts nothing: every count is
//! checked against the bytes left, and nothing is allocated from a count.

use std::fmt;

/// The partitions of one topic assigned to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAssignment {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// Why assignment bytes could not be read: what was being read and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub what: &'static str,
    pub at: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed consumer assignment: {} at byte {}",
            self.what, self.at
        )
    }
}

impl std::error::Error for DecodeError {}

/// Decodes an `Assignment`. Empty bytes are no assignment (a member between
/// JoinGroup and SyncGroup has none yet); a null (-1) array is empty; the
/// user data is skipped, and tolerated when missing.
pub fn decode(bytes: &[u8]) -> Result<Vec<TopicAssignment>, DecodeError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader { bytes, at: 0 };
    let version = r.i16("version")?;
    if version < 0 {
        return Err(r.error("negative version"));
    }
    let mut topics = Vec::new();
    // Each round consumes at least six bytes or fails, so a huge count ends
    // at the end of the input.
    for _ in 0..r.i32("topic count")?.max(0) {
        let len = r.i16("topic name length")?;
        if len < 0 {
            return Err(r.error("null topic name"));
        }
        let name = r.take(len as usize, "topic name")?;
        let topic = String::from_utf8_lossy(name).into_owned();
        let mut partitions = Vec::new();
        for _ in 0..r.i32("partition count")?.max(0) {
            partitions.push(r.i32("partition")?);
        }
        topics.push(TopicAssignment { topic, partitions });
    }
    Ok(topics)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &'static str) -> DecodeError {
        DecodeError { what, at: self.at }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = &self.bytes[self.at..];
        if rest.len() < n {
            return Err(self.error(what));
        }
        self.at += n;
        Ok(&rest[..n])
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An assignment as the Java client and librdkafka write it.
    fn encode(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend((topics.len() as i32).to_be_bytes());
        for (topic, partitions) in topics {
            b.extend((topic.len() as i16).to_be_bytes());
            b.extend(topic.as_bytes());
            b.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                b.extend(p.to_be_bytes());
            }
        }
        match user_data {
            Some(d) => {
                b.extend((d.len() as i32).to_be_bytes());
                b.extend(d);
            }
            None => b.extend((-1i32).to_be_bytes()),
        }
        b
    }

    fn assigned(topic: &str, partitions: &[i32]) -> TopicAssignment {
        TopicAssignment {
            topic: topic.to_owned(),
            partitions: partitions.to_vec(),
        }
    }

    #[test]
    fn decodes_topics_and_partitions_in_order() {
        let bytes = encode(3, &[("logs", &[0, 2]), ("audit", &[1])], Some(b"ud"));
        assert_eq!(
            decode(&bytes).unwrap(),
            vec![assigned("logs", &[0, 2]), assigned("audit", &[1])]
        );
        let bytes = encode(0, &[("t", &[])], None);
        assert_eq!(decode(&bytes).unwrap(), vec![assigned("t", &[])]);
    }

    #[test]
    fn empty_bytes_null_arrays_and_missing_user_data_are_no_partitions() {
        assert_eq!(decode(&[]).unwrap(), vec![]);
        let mut null_topics = 1i16.to_be_bytes().to_vec();
        null_topics.extend((-1i32).to_be_bytes());
        assert_eq!(decode(&null_topics).unwrap(), vec![]);
        // Without the trailing user data length.
        let mut bytes = encode(1, &[("t", &[4])], None);
        bytes.truncate(bytes.len() - 4);
        assert_eq!(decode(&bytes).unwrap(), vec![assigned("t", &[4])]);
    }

    #[test]
    fn truncated_input_is_an_error_that_says_where() {
        let bytes = encode(1, &[("topic", &[0, 1, 2])], None);
        let without_user_data = bytes.len() - 4;
        for cut in 1..without_user_data {
            let err = decode(&bytes[..cut]).unwrap_err();
            assert!(err.at <= cut, "cut {cut}: {err}");
        }
        let err = decode(&bytes[..9]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed consumer assignment: topic name at byte 8"
        );
    }

    #[test]
    fn hostile_counts_and_garbage_never_panic() {
        let mut huge = 0i16.to_be_bytes().to_vec();
        huge.extend(i32::MAX.to_be_bytes());
        assert!(decode(&huge).is_err());
        let mut null_name = 0i16.to_be_bytes().to_vec();
        null_name.extend(1i32.to_be_bytes());
        null_name.extend((-1i16).to_be_bytes());
        assert_eq!(decode(&null_name).unwrap_err().what, "null topic name");
        assert_eq!(decode(&[0xff, 0xff]).unwrap_err().what, "negative version");

        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let len = rng.random_range(0..64);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Small counts make garbage reach the deeper fields more often.
            if bytes.len() >= 6 {
                bytes[0..2].copy_from_slice(&0i16.to_be_bytes());
                bytes[2..6].copy_from_slice(&rng.random_range(-1i32..4).to_be_bytes());
            }
            let _ = decode(&bytes);
        }
    }
}
