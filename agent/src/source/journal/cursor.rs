//! Journal cursors and the sequence numbers in them, used to notice entries
//! that left the journal (vacuumed, or their file dropped) before they were
//! read.
//!
//! A cursor is `s=<seqnum id>;i=<seqnum, hex>;b=<boot id>;m=<monotonic,
//! hex>;t=<realtime, hex>;x=<xor hash>`. journald numbers the entries of
//! one journal (every file it rotates into keeps the same seqnum id) with
//! one counter, so within one seqnum id the numbers run without gaps; a gap
//! between two entries read one after the other is that many entries gone.
//! Across seqnum ids (a new journal, or the files of another machine)
//! nothing is known about what is between.

/// The parts of a cursor that place an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub seqnum_id: String,
    pub seqnum: u64,
    /// `__REALTIME_TIMESTAMP`, microseconds since the epoch.
    pub realtime_us: u64,
}

/// Reads `s`, `i` and `t` from a cursor; None if any is missing or bad.
pub fn parse(cursor: &str) -> Option<Position> {
    let (mut s, mut i, mut t) = (None, None, None);
    for part in cursor.split(';') {
        let (k, v) = part.split_once('=')?;
        match k {
            "s" => s = Some(v),
            "i" => i = u64::from_str_radix(v, 16).ok(),
            "t" => t = u64::from_str_radix(v, 16).ok(),
            _ => {}
        }
    }
    Some(Position {
        seqnum_id: s.filter(|s| !s.is_empty())?.to_owned(),
        seqnum: i?,
        realtime_us: t?,
    })
}

/// Entries missing between two positions read one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// This many entries of the same journal are gone.
    Known(u64),
    /// The journal changed (another seqnum id): nothing is known.
    Unknown,
}

/// What is missing between `before` and `after`, where `after` should
/// directly follow `before`; None when nothing is.
pub fn gap(before: &Position, after: &Position) -> Option<Gap> {
    if before.seqnum_id != after.seqnum_id {
        return None;
    }
    match after.seqnum.checked_sub(before.seqnum) {
        Some(0) | Some(1) | None => None,
        Some(d) => Some(Gap::Known(d - 1)),
    }
}

/// What is missing between the checkpoint's entry, which the journal no
/// longer has, and `first`, the first entry it does have after it.
pub fn vanished(checkpoint: &Position, first: &Position) -> Gap {
    if checkpoint.seqnum_id == first.seqnum_id {
        Gap::Known(first.seqnum.saturating_sub(checkpoint.seqnum + 1))
    } else {
        Gap::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "s=392eb3d5d32f46ce885d1896029ba25b;i=1a;b=0123456789abcdef0123456789abcdef;m=3ea;t=60a24181e47d0;x=d8d83112eb487c8";

    #[test]
    fn parses_journalctls_cursors() {
        let p = parse(C).unwrap();
        assert_eq!(p.seqnum_id, "392eb3d5d32f46ce885d1896029ba25b");
        assert_eq!(p.seqnum, 0x1a);
        assert_eq!(p.realtime_us, 1_700_000_000_002_000);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("s=;i=1;t=2"), None);
        assert_eq!(parse("s=a;i=zz;t=2"), None);
    }

    fn at(id: &str, seqnum: u64) -> Position {
        Position {
            seqnum_id: id.into(),
            seqnum,
            realtime_us: 0,
        }
    }

    #[test]
    fn gaps_count_only_within_one_journal() {
        assert_eq!(gap(&at("a", 5), &at("a", 6)), None);
        assert_eq!(gap(&at("a", 5), &at("a", 9)), Some(Gap::Known(3)));
        assert_eq!(gap(&at("a", 5), &at("b", 90)), None, "another journal");
        assert_eq!(gap(&at("a", 5), &at("a", 2)), None, "not after");
        assert_eq!(vanished(&at("a", 5), &at("a", 6)), Gap::Known(0));
        assert_eq!(vanished(&at("a", 5), &at("a", 11)), Gap::Known(5));
        assert_eq!(vanished(&at("a", 5), &at("b", 1)), Gap::Unknown);
    }
}
