//! Cutting file bytes into lines (pure, no I/O): newline-terminated lines
//! are sliced out of the read chunk without copying; a line that runs past
//! the chunk is carried over; lines longer than `max_line_bytes` are split
//! into pieces or truncated. Each line knows its byte offset in the file and
//! the offset just past its newline, which is what checkpoints record.
//!
//! [`Multiline`] joins continuation lines (e.g. stack traces) to the line
//! that starts a record.

use bytes::{Bytes, BytesMut};
use regex::bytes::Regex;

use crate::config::LongLines;

/// One line (or piece of a long line), without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub bytes: Bytes,
    /// Offset of the first byte in the file.
    pub offset: u64,
    /// Offset just past this line's newline (or past the piece): where
    /// reading resumes once this line is shipped.
    pub end: u64,
}

/// What the splitter did to long lines, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LongLineCounts {
    pub split: u64,
    pub truncated: u64,
}

pub struct LineSplitter {
    max_line: usize,
    mode: LongLines,
    /// Bytes of an unfinished line and the file offset of its first byte.
    carry: BytesMut,
    carry_offset: u64,
    /// Truncate mode: the rest of an over-long line is being skipped.
    skipping: bool,
    /// The current over-long line has been counted.
    counted: bool,
    pub counts: LongLineCounts,
}

impl LineSplitter {
    pub fn new(max_line: usize, mode: LongLines) -> LineSplitter {
        LineSplitter {
            max_line,
            mode,
            carry: BytesMut::new(),
            carry_offset: 0,
            skipping: false,
            counted: false,
            counts: LongLineCounts::default(),
        }
    }

    /// Starts over at `offset` (after a truncation or a re-open), dropping
    /// any unfinished line.
    pub fn reset(&mut self, offset: u64) {
        self.carry = BytesMut::new();
        self.carry_offset = offset;
        self.skipping = false;
        self.counted = false;
    }

    /// Bytes held for an unfinished line.
    pub fn pending_bytes(&self) -> usize {
        self.carry.len()
    }

    /// Cuts `chunk`, which starts at file offset `offset` and directly
    /// follows what was fed before, into lines passed to `out`.
    pub fn feed(&mut self, chunk: Bytes, offset: u64, out: &mut impl FnMut(Line)) {
        if self.carry.is_empty() && !self.skipping {
            self.carry_offset = offset;
        }
        let mut start = 0;
        while start < chunk.len() {
            let rest = &chunk[start..];
            match memchr(rest) {
                Some(i) => {
                    let line_end = start + i;
                    let end = offset + line_end as u64 + 1;
                    if self.skipping {
                        self.skipping = false;
                        self.counted = false;
                    } else if self.carry.is_empty() {
                        self.emit(
                            chunk.slice(start..line_end),
                            offset + start as u64,
                            end,
                            out,
                        );
                    } else {
                        self.carry.extend_from_slice(&chunk[start..line_end]);
                        let line = std::mem::take(&mut self.carry).freeze();
                        self.emit(line, self.carry_offset, end, out);
                    }
                    self.counted = false;
                    start = line_end + 1;
                    self.carry_offset = end;
                }
                None => {
                    if !self.skipping {
                        self.carry.extend_from_slice(rest);
                        // Pieces of an over-long line leave as soon as they
                        // are full, so the carry never exceeds the limit.
                        while self.carry.len() > self.max_line && !self.skipping {
                            self.cut_long(offset + chunk.len() as u64, out);
                        }
                    }
                    start = chunk.len();
                }
            }
        }
    }

    /// Whatever is left when a file is closed for good: its last line had
    /// no newline.
    pub fn finish(&mut self, end: u64, out: &mut impl FnMut(Line)) {
        if !self.carry.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.carry).freeze();
            out(Line {
                bytes: line,
                offset: self.carry_offset,
                end,
            });
        }
        self.reset(end);
    }

    /// A complete line: passed on, or cut when longer than the limit.
    fn emit(&mut self, line: Bytes, offset: u64, end: u64, out: &mut impl FnMut(Line)) {
        if line.len() <= self.max_line {
            out(Line {
                bytes: line,
                offset,
                end,
            });
            return;
        }
        match self.mode {
            LongLines::Truncate => {
                if !self.counted {
                    self.counts.truncated += 1;
                }
                out(Line {
                    bytes: line.slice(..self.max_line),
                    offset,
                    end,
                });
            }
            LongLines::Split => {
                if !self.counted {
                    self.counts.split += 1;
                }
                let mut at = 0;
                while at < line.len() {
                    let piece_end = (at + self.max_line).min(line.len());
                    let last = piece_end == line.len();
                    out(Line {
                        bytes: line.slice(at..piece_end),
                        offset: offset + at as u64,
                        end: if last { end } else { offset + piece_end as u64 },
                    });
                    at = piece_end;
                }
            }
        }
    }

    /// The carry reached the limit without a newline.
    fn cut_long(&mut self, _chunk_end: u64, out: &mut impl FnMut(Line)) {
        let piece = self.carry.split_to(self.max_line).freeze();
        let offset = self.carry_offset;
        let end = offset + piece.len() as u64;
        match self.mode {
            LongLines::Split => {
                if !self.counted {
                    self.counts.split += 1;
                    self.counted = true;
                }
                out(Line {
                    bytes: piece,
                    offset,
                    end,
                });
                self.carry_offset = end;
            }
            LongLines::Truncate => {
                self.counts.truncated += 1;
                // The rest of the line up to its newline is skipped.
                out(Line {
                    bytes: piece,
                    offset,
                    end,
                });
                self.carry = BytesMut::new();
                self.skipping = true;
            }
        }
    }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}

/// Joins continuation lines to the record a start line began.
pub struct Multiline {
    start: Regex,
    pending: Option<(BytesMut, u64, u64)>,
}

impl Multiline {
    pub fn new(start: Regex) -> Multiline {
        Multiline {
            start,
            pending: None,
        }
    }

    /// Takes one line; a record that is complete comes out.
    pub fn push(&mut self, line: Line, out: &mut impl FnMut(Line)) {
        if self.start.is_match(&line.bytes) {
            self.flush(out);
            let mut buf = BytesMut::with_capacity(line.bytes.len());
            buf.extend_from_slice(&line.bytes);
            self.pending = Some((buf, line.offset, line.end));
        } else if let Some((buf, _, end)) = &mut self.pending {
            buf.extend_from_slice(b"\n");
            buf.extend_from_slice(&line.bytes);
            *end = line.end;
        } else {
            // A continuation with nothing to continue stands alone.
            out(line);
        }
    }

    /// Sends the pending record (on timeout or at close).
    pub fn flush(&mut self, out: &mut impl FnMut(Line)) {
        if let Some((buf, offset, end)) = self.pending.take() {
            out(Line {
                bytes: buf.freeze(),
                offset,
                end,
            });
        }
    }

    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Offset of the first byte of the pending record, which reading must
    /// resume from if it is never sent.
    pub fn pending_offset(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]], max: usize, mode: LongLines) -> (Vec<Line>, LineSplitter) {
        let mut s = LineSplitter::new(max, mode);
        let mut out = Vec::new();
        let mut offset = 0;
        for c in chunks {
            s.feed(Bytes::copy_from_slice(c), offset, &mut |l| out.push(l));
            offset += c.len() as u64;
        }
        (out, s)
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8(l.bytes.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn lines_across_chunks_keep_their_offsets() {
        let (lines, s) = split_all(&[b"ab\ncd", b"e\n\nf"], 100, LongLines::Split);
        assert_eq!(texts(&lines), ["ab", "cde", ""]);
        assert_eq!(
            lines.iter().map(|l| (l.offset, l.end)).collect::<Vec<_>>(),
            [(0, 3), (3, 7), (7, 8)]
        );
        assert_eq!(s.pending_bytes(), 1);
    }

    #[test]
    fn long_lines_split_or_truncate_and_are_counted() {
        let (lines, s) = split_all(&[b"0123456789abc\nxy\n"], 5, LongLines::Split);
        assert_eq!(texts(&lines), ["01234", "56789", "abc", "xy"]);
        assert_eq!(lines[2].end, 14);
        assert_eq!(s.counts.split, 1);
        // A long line spread over chunks, never held whole.
        let (lines, s) = split_all(&[b"0123", b"456789", b"abc\nxy\n"], 5, LongLines::Split);
        assert_eq!(texts(&lines), ["01234", "56789", "abc", "xy"]);
        assert_eq!(s.counts.split, 1);
        let (lines, s) = split_all(&[b"0123", b"456789", b"abc\nxy\n"], 5, LongLines::Truncate);
        assert_eq!(texts(&lines), ["01234", "xy"]);
        assert_eq!(s.counts.truncated, 1);
        let (lines, s) = split_all(&[b"0123456789abc\nxy\n"], 5, LongLines::Truncate);
        assert_eq!(texts(&lines), ["01234", "xy"]);
        assert_eq!(lines[0].end, 14);
        assert_eq!(s.counts.truncated, 1);
    }

    #[test]
    fn finish_emits_the_unterminated_last_line() {
        let (mut lines, mut s) = split_all(&[b"a\nbc"], 100, LongLines::Split);
        s.finish(4, &mut |l| lines.push(l));
        assert_eq!(texts(&lines), ["a", "bc"]);
        assert_eq!((lines[1].offset, lines[1].end), (2, 4));
    }

    #[test]
    fn multiline_joins_continuations() {
        let mut m = Multiline::new(Regex::new(r"^\d").unwrap());
        let (lines, _) = split_all(
            &[b"  orphan\n1 start\n  at a\n  at b\n2 next\n"],
            100,
            LongLines::Split,
        );
        let mut out = Vec::new();
        for l in lines {
            m.push(l, &mut |r| out.push(r));
        }
        assert_eq!(texts(&out), ["  orphan", "1 start\n  at a\n  at b"]);
        assert_eq!((out[1].offset, out[1].end), (9, 31));
        assert_eq!(m.pending_offset(), Some(31));
        m.flush(&mut |r| out.push(r));
        assert_eq!(texts(&out)[2], "2 next");
    }

    proptest! {
        /// However the bytes are chunked, the lines and offsets are the same
        /// and every byte of every complete line is accounted for.
        #[test]
        fn chunking_does_not_matter(
            text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'b')], 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..10),
            max in 1usize..40,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                chunks.push(&text[prev..c]);
                prev = c;
            }
            let (whole, _) = split_all(&[&text], max, LongLines::Split);
            let (pieces, _) = split_all(&chunks, max, LongLines::Split);
            prop_assert_eq!(&whole, &pieces);
            // Rebuild the text from the lines: pieces of one line join, lines
            // end in newlines.
            let mut rebuilt = Vec::new();
            for l in &whole {
                prop_assert!(l.bytes.len() <= max);
                prop_assert_eq!(&text[l.offset as usize..l.offset as usize + l.bytes.len()], &l.bytes[..]);
                rebuilt.extend_from_slice(&l.bytes);
                if text.get(l.end as usize - 1) == Some(&b'\n') && l.end as usize > l.offset as usize + l.bytes.len() {
                    rebuilt.push(b'\n');
                }
            }
            let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            prop_assert!(rebuilt.len() <= text.len());
            prop_assert_eq!(&rebuilt[..complete.min(rebuilt.len())], &text[..complete.min(rebuilt.len())]);
        }
    }
}
