//! serde helpers for the units config files are written in, shared by the
//! agent's and the collector's sections: durations as `"5s"`, sizes as
//! `"64MiB"`. Use them as `#[serde(with = "humantime_serde")]` and
//! `#[serde(deserialize_with = "size::deserialize")]`.

/// Durations written as `"5s"`, `"250ms"`, `"1h 30m"`.
pub mod humantime_serde {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write e.g. \"5s\" or \"250ms\""
            ))
        })
    }
}

/// Sizes written as a number of bytes or with a unit: `"64MiB"`, `"1GB"`.
pub mod size {
    use serde::{Deserialize, Deserializer};

    pub fn parse(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size {text:?}; write e.g. \"64MiB\""))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit {other:?} in {text:?}; use B, KiB, MiB, GiB, KB, MB or GB"
                ))
            }
        };
        n.checked_mul(mult)
            .ok_or_else(|| format!("size {text:?} is too large"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(n),
            Raw::S(s) => parse(&s).map_err(serde::de::Error::custom),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn sizes() {
            assert_eq!(super::parse("64MiB"), Ok(64 << 20));
            assert_eq!(super::parse("10"), Ok(10));
            assert_eq!(super::parse("2 GB"), Ok(2_000_000_000));
            assert!(super::parse("5 parsecs").is_err());
            assert!(super::parse("MiB").is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use std::time::Duration;

    #[derive(Debug, Deserialize)]
    struct Section {
        #[serde(with = "super::humantime_serde")]
        every: Duration,
        #[serde(deserialize_with = "super::size::deserialize")]
        buffer: u64,
    }

    #[test]
    fn durations_and_sizes_deserialize_with_their_units() {
        let s: Section = serde_json::from_str(r#"{"every": "1m 30s", "buffer": "4KiB"}"#).unwrap();
        assert_eq!(s.every, Duration::from_secs(90));
        assert_eq!(s.buffer, 4096);
        let s: Section = serde_json::from_str(r#"{"every": "250ms", "buffer": 100}"#).unwrap();
        assert_eq!((s.every, s.buffer), (Duration::from_millis(250), 100));
        let err = serde_json::from_str::<Section>(r#"{"every": "soon", "buffer": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration \"soon\""), "{err}");
    }
}
