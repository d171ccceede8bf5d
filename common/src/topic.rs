//! Kafka's topic name rule, checked by the collector on every path that
//! names a topic and by the agent when it loads its config.

use std::fmt;

/// A topic name Kafka would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTopicName {
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for InvalidTopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid topic name {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for InvalidTopicName {}

/// Kafka's topic name rules: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), InvalidTopicName> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > 249 {
        "longer than 249 characters"
    } else if name == "." || name == ".." {
        "'.' and '..' are not allowed"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        "only ASCII letters, digits, '.', '_' and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(InvalidTopicName {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["first-events", "a", "A.b_c-1", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "has space", "slash/", "ü", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            validate_topic_name("a/b").unwrap_err().to_string(),
            "invalid topic name \"a/b\": only ASCII letters, digits, '.', '_' and '-' are allowed"
        );
    }
}
