//! Wall-clock time as Kafka timestamps: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the epoch; 0 if the clock reads before 1970
/// (a record timestamp, not something to fail over).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2023_in_milliseconds() {
        let now = super::now_ms();
        assert!(now > 1_700_000_000_000, "{now}");
        assert!(now < 10_000_000_000_000, "{now} looks like microseconds");
    }
}
