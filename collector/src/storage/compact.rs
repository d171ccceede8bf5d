//! Record-level batch surgery for the log cleaner: the records of a batch
//! read as raw byte ranges, and a batch rebuilt keeping a subset of them.
//!
//! Records are never decoded into structs and re-encoded: `kafka-protocol`
//! collapses duplicate header keys, which Kafka allows, so re-encoding would
//! change what consumers read. A rebuilt batch keeps its base offset, its
//! last offset delta (so the offsets after it and the producer's sequence
//! range stay where they were, and consumers see a gap), its timestamps and
//! producer fields; only the length, record count and CRC change. A
//! compressed batch is decompressed, filtered and recompressed with the same
//! codec.

use std::borrow::Cow;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Lz4, Snappy, Zstd};
use logship_common::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// Attribute bits holding the codec.
const CODEC_MASK: i16 = 0x7;

/// One record of a batch, as byte ranges into the batch's record area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset: i64,
    /// Where the record (its length varint included) lies in the area.
    pub span: Range<usize>,
    /// The key's bytes, `None` for a null key.
    pub key: Option<Range<usize>>,
    /// A null value: a tombstone.
    pub tombstone: bool,
}

/// The records of one batch: the record area (the batch's own bytes when
/// uncompressed, the decompressed bytes otherwise) and each record in it.
pub struct Records<'a> {
    pub header: BatchHeader,
    pub area: Cow<'a, [u8]>,
    pub records: Vec<RawRecord>,
}

impl Records<'_> {
    pub fn key(&self, r: &RawRecord) -> Option<&[u8]> {
        r.key.clone().map(|k| &self.area[k])
    }
}

#[inline]
fn varint(buf: &[u8], at: &mut usize) -> Option<i64> {
    // Most varints in a record (attributes aside: deltas, short lengths,
    // the header count) fit in one byte.
    let b = *buf.get(*at)?;
    if b & 0x80 == 0 {
        *at += 1;
        let raw = u64::from(b);
        return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
    }
    let mut raw: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        raw |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            // Zig-zag.
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

fn bytes_field(buf: &[u8], at: &mut usize, end: usize) -> Option<Option<Range<usize>>> {
    let len = varint(buf, at)?;
    if len < 0 {
        return Some(None);
    }
    let start = *at;
    let stop = start.checked_add(usize::try_from(len).ok()?)?;
    if stop > end {
        return None;
    }
    *at = stop;
    Some(Some(start..stop))
}

/// Walks the `count` records of `area`, calling `f` with each in order;
/// `false` if they do not parse (`f` may have seen some of them by then).
#[inline]
fn parse_area_with(
    area: &[u8],
    base_offset: i64,
    count: i32,
    mut f: impl FnMut(RawRecord),
) -> bool {
    let end = area.len();
    let mut at = 0;
    let mut record = |at: &mut usize| -> Option<()> {
        let start = *at;
        let len = usize::try_from(varint(area, at)?).ok()?;
        let body_end = at.checked_add(len)?;
        if body_end > end {
            return None;
        }
        *at += 1; // attributes
        varint(area, at)?; // timestamp delta
        let offset_delta = varint(area, at)?;
        let key = bytes_field(area, at, body_end)?;
        let value = bytes_field(area, at, body_end)?;
        let headers = varint(area, at)?;
        for _ in 0..headers {
            // A header key is never null; its value may be.
            bytes_field(area, at, body_end)??;
            bytes_field(area, at, body_end)?;
        }
        if *at != body_end {
            return None;
        }
        f(RawRecord {
            offset: base_offset + offset_delta,
            span: start..body_end,
            key,
            tombstone: value.is_none(),
        });
        Some(())
    };
    for _ in 0..count {
        if record(&mut at).is_none() {
            return false;
        }
    }
    at == end
}

fn parse_area(area: &[u8], base_offset: i64, count: i32) -> Option<Vec<RawRecord>> {
    let mut out = Vec::with_capacity(count.clamp(0, 1 << 16) as usize);
    parse_area_with(area, base_offset, count, |r| out.push(r)).then_some(out)
}

fn decompress(codec: i16, payload: &[u8]) -> Option<Vec<u8>> {
    let mut buf = Bytes::copy_from_slice(payload);
    let take = |b: &mut Bytes| Ok(b.to_vec());
    match codec {
        1 => Gzip::decompress(&mut buf, take),
        2 => Snappy::decompress(&mut buf, take),
        3 => Lz4::decompress(&mut buf, take),
        4 => Zstd::decompress(&mut buf, take),
        _ => return None,
    }
    .ok()
}

fn compress(codec: i16, plain: &[u8]) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    let put = |b: &mut BytesMut| {
        b.put_slice(plain);
        Ok(())
    };
    match codec {
        1 => Gzip::compress(&mut out, put),
        2 => Snappy::compress(&mut out, put),
        3 => Lz4::compress(&mut out, put),
        4 => Zstd::compress(&mut out, put),
        _ => return None,
    }
    .ok()?;
    Some(out.to_vec())
}

/// The records of the whole, checked batch `batch`, decompressing it if
/// needed; `None` if they do not parse or the codec is unknown.
pub fn records(batch: &[u8]) -> Option<Records<'_>> {
    let header = BatchHeader::parse(batch).ok()?;
    if batch.len() < header.total_len() {
        return None;
    }
    let payload = &batch[HEADER_LEN..header.total_len()];
    let area = match header.compression() {
        0 => Cow::Borrowed(payload),
        codec => Cow::Owned(decompress(codec, payload)?),
    };
    let records = parse_area(&area, header.base_offset, header.record_count)?;
    Some(Records {
        header,
        area,
        records,
    })
}

/// Calls `f(offset, key)` for each keyed record of the whole, checked
/// batch `batch` (whose header is `header`), reading the keys in place (or
/// in the decompressed bytes); no per-record allocation. `false` if the
/// records do not parse or the codec is unknown: `f` may have been called
/// for some records by then, so a caller wanting all-or-nothing buffers
/// what it is given (as [`records`] would have returned `None`).
pub fn for_each_key(batch: &[u8], header: &BatchHeader, mut f: impl FnMut(i64, &[u8])) -> bool {
    if batch.len() < header.total_len() {
        return false;
    }
    let payload = &batch[HEADER_LEN..header.total_len()];
    let area = match header.compression() {
        0 => Cow::Borrowed(payload),
        codec => match decompress(codec, payload) {
            Some(plain) => Cow::Owned(plain),
            None => return false,
        },
    };
    parse_area_with(&area, header.base_offset, header.record_count, |r| {
        if let Some(k) = r.key {
            f(r.offset, &area[k]);
        }
    })
}

/// `batch` rebuilt with only the records `kept` (in order, from `recs`),
/// recompressed with the batch's codec. With nothing kept it is an empty
/// batch: the header alone, uncompressed, still spanning the original
/// offsets (Kafka keeps such batches for producer state and clients skip
/// them). `None` if recompression fails.
pub fn rebuild(batch: &[u8], recs: &Records<'_>, kept: &[&RawRecord]) -> Option<Vec<u8>> {
    let mut out = batch[..HEADER_LEN].to_vec();
    let codec = recs.header.compression();
    if kept.is_empty() {
        let attributes = recs.header.attributes & !CODEC_MASK;
        out[21..23].copy_from_slice(&attributes.to_be_bytes());
    } else if codec == 0 {
        for r in kept {
            out.extend_from_slice(&recs.area[r.span.clone()]);
        }
    } else {
        let mut plain = Vec::with_capacity(recs.area.len());
        for r in kept {
            plain.extend_from_slice(&recs.area[r.span.clone()]);
        }
        out.extend_from_slice(&compress(codec, &plain)?);
    }
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    out[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    // CRC-32C covers attributes (byte 21) to the end.
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::records::{Compression, RecordBatchDecoder};
    use logship_common::batch::{check, encode, NewRecord, HEADER_LEN};

    fn batch(keys: &[(Option<&str>, Option<&str>)]) -> Vec<u8> {
        let records: Vec<NewRecord> = keys
            .iter()
            .map(|(k, v)| NewRecord {
                key: k.map(|k| Bytes::from(k.to_owned())),
                value: v.map(|v| Bytes::from(v.to_owned())),
                timestamp: 1_000,
            })
            .collect();
        let mut b = encode(&records, Some((7, 0, 0)), Compression::None);
        logship_common::batch::set_base_offset(&mut b, 100);
        b
    }

    /// Two keyed records of `a`, a keyless one and a tombstone of `b`.
    fn four_records() -> Vec<u8> {
        batch(&[
            (Some("a"), Some("1")),
            (None, Some("x")),
            (Some("b"), None),
            (Some("a"), Some("2")),
        ])
    }

    #[test]
    fn records_are_read_in_place_and_retained_byte_for_byte() {
        let b = four_records();
        let recs = records(&b).unwrap();
        let rs = &recs.records;
        let offsets: Vec<i64> = rs.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [100, 101, 102, 103]);
        assert_eq!(recs.key(&rs[0]), Some(&b"a"[..]));
        assert_eq!(rs[1].key, None);
        assert!(rs[2].tombstone && !rs[3].tombstone);

        let kept = rebuild(&b, &recs, &[&rs[2], &rs[3]]).unwrap();
        let h = check(&kept).expect("a valid batch, CRC included");
        assert_eq!(
            (h.base_offset, h.last_offset_delta, h.record_count),
            (100, 3, 2)
        );
        assert_eq!((h.producer_id, h.base_sequence), (7, 0));
        let mut bytes = Bytes::from(kept);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        let got: Vec<(i64, Option<Bytes>)> = set
            .records
            .iter()
            .map(|r| (r.offset, r.value.clone()))
            .collect();
        assert_eq!(got, [(102, None), (103, Some(Bytes::from("2")))]);
        let empty = rebuild(&b, &recs, &[]).unwrap();
        let h = check(&empty).unwrap();
        assert_eq!(
            (h.base_offset, h.last_offset_delta, h.record_count),
            (100, 3, 0)
        );
        assert_eq!(empty.len(), HEADER_LEN);
    }

    #[test]
    fn compressed_batches_are_filtered_and_recompressed_with_their_codec() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let records_in: Vec<NewRecord> = (0..20)
                .map(|i| NewRecord {
                    key: Some(Bytes::from(format!("k{}", i % 3))),
                    value: Some(Bytes::from(format!("value-{i}"))),
                    timestamp: 1_000 + i,
                })
                .collect();
            let mut b = encode(&records_in, None, codec);
            logship_common::batch::set_base_offset(&mut b, 50);
            let recs = records(&b).unwrap();
            let codec_id = recs.header.compression();
            assert_ne!(codec_id, 0);
            let kept: Vec<&RawRecord> = recs.records.iter().rev().take(2).rev().collect();
            let out = rebuild(&b, &recs, &kept).unwrap();
            let h = check(&out).unwrap();
            assert_eq!(h.compression(), codec_id, "{codec:?}");
            assert_eq!(
                (h.base_offset, h.last_offset_delta, h.record_count),
                (50, 19, 2)
            );
            let mut bytes = Bytes::from(out);
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            let got: Vec<(i64, Option<Bytes>)> = set
                .records
                .iter()
                .map(|r| (r.offset, r.value.clone()))
                .collect();
            assert_eq!(
                got,
                [
                    (68, Some(Bytes::from("value-18"))),
                    (69, Some(Bytes::from("value-19")))
                ]
            );
        }
    }

    #[test]
    fn keys_walked_in_place_match_the_parsed_records() {
        let plain = four_records();
        let records_in: Vec<NewRecord> = (0..20)
            .map(|i| NewRecord {
                key: (i % 4 != 0).then(|| Bytes::from(format!("k{}", i % 3))),
                value: Some(Bytes::from(format!("value-{i}"))),
                timestamp: 1_000 + i,
            })
            .collect();
        let zstd = encode(&records_in, None, Compression::Zstd);
        for b in [plain, zstd] {
            let recs = records(&b).unwrap();
            let want: Vec<(i64, Vec<u8>)> = recs
                .records
                .iter()
                .filter_map(|r| Some((r.offset, recs.key(r)?.to_vec())))
                .collect();
            let mut got = Vec::new();
            assert!(for_each_key(&b, &recs.header, |o, k| got.push((o, k.to_vec()))));
            assert_eq!(got, want);
            assert!(!got.is_empty());
        }
        let mut damaged = batch(&[(Some("a"), Some("1"))]);
        let len = damaged.len();
        damaged[len - 1] = 0x02;
        let header = BatchHeader::parse(&damaged).unwrap();
        assert!(!for_each_key(&damaged, &header, |_, _| {}));
    }

    #[test]
    fn damaged_batches_are_not_parsed() {
        let mut b = batch(&[(Some("a"), Some("1"))]);
        let len = b.len();
        b[len - 1] = 0x02; // the header count now claims a header that is not there
        assert!(records(&b).is_none());
    }
}
