//! One file's bytes into records: the [`LineSplitter`] cuts lines, the
//! [`Multiline`] rule (if configured) joins continuation lines, and the
//! reader keeps the read position. Pure, no I/O: the tailer reads the
//! bytes and hands them in.

use std::time::Duration;

use bytes::Bytes;
use regex::bytes::Regex;

use super::lines::{Line, LineSplitter, LongLineCounts, Multiline};
use crate::config::FileSourceConfig;

pub struct LineReader {
    splitter: LineSplitter,
    multiline: Option<Multiline>,
    /// How long a multiline record waits for continuation lines.
    multiline_timeout: Duration,
    /// Bytes before this were handed in.
    offset: u64,
    /// Long-line counts already reported.
    reported: LongLineCounts,
}

impl LineReader {
    /// A reader starting at byte `offset` of the file.
    pub fn new(config: &FileSourceConfig, multiline: Option<&Regex>, offset: u64) -> LineReader {
        let mut splitter = LineSplitter::new(config.max_line_bytes as usize, config.long_lines);
        splitter.reset(offset);
        LineReader {
            splitter,
            multiline: multiline.cloned().map(Multiline::new),
            multiline_timeout: config
                .multiline
                .as_ref()
                .map_or(Duration::ZERO, |m| m.timeout),
            offset,
            reported: LongLineCounts::default(),
        }
    }

    /// Where the next bytes are read from.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Takes the bytes at [`LineReader::offset`]; returns the number of
    /// lines cut and the records that are complete.
    pub fn feed(&mut self, chunk: Bytes) -> (usize, Vec<Line>) {
        let n = chunk.len() as u64;
        let mut lines = Vec::new();
        self.splitter
            .feed(chunk, self.offset, &mut |l: Line| lines.push(l));
        self.offset += n;
        let cut = lines.len();
        (cut, self.join(lines))
    }

    /// At the end of a file that will not grow again (rotated away or
    /// deleted): the last line needs no newline, and a multiline record
    /// waits for nothing more.
    pub fn finish(&mut self) -> Vec<Line> {
        let mut lines = Vec::new();
        self.splitter.finish(self.offset, &mut |l| lines.push(l));
        let mut records = self.join(lines);
        if let Some(m) = &mut self.multiline {
            m.flush(&mut |r| records.push(r));
        }
        records
    }

    /// The multiline record waiting for continuation lines, once the file
    /// has not grown for the multiline timeout.
    pub fn timed_out(&mut self, idle: Duration) -> Option<Line> {
        let m = self.multiline.as_mut()?;
        if !m.has_pending() || idle < self.multiline_timeout {
            return None;
        }
        let mut out = None;
        m.flush(&mut |r| out = Some(r));
        out
    }

    /// Lines split and truncated for being too long since the last call.
    pub fn long_lines(&mut self) -> LongLineCounts {
        let now = self.splitter.counts;
        let new = LongLineCounts {
            split: now.split - self.reported.split,
            truncated: now.truncated - self.reported.truncated,
        };
        self.reported = now;
        new
    }

    fn join(&mut self, lines: Vec<Line>) -> Vec<Line> {
        let Some(m) = &mut self.multiline else {
            return lines;
        };
        let mut records = Vec::with_capacity(lines.len());
        for line in lines {
            m.push(line, &mut |r| records.push(r));
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> FileSourceConfig {
        serde_yaml_ng::from_str(&format!(
            "include: [\"/x/*.log\"]\ntopic: t\nmax_line_bytes: 8\n{extra}"
        ))
        .unwrap()
    }

    fn texts(lines: &[Line]) -> Vec<(&[u8], u64, u64)> {
        lines
            .iter()
            .map(|l| (&l.bytes[..], l.offset, l.end))
            .collect()
    }

    #[test]
    fn positions_carry_across_chunks_and_the_end_needs_no_newline() {
        let mut r = LineReader::new(&config(""), None, 100);
        let (cut, recs) = r.feed(Bytes::from_static(b"ab\ncd"));
        assert_eq!(cut, 1);
        assert_eq!(texts(&recs), [(&b"ab"[..], 100, 103)]);
        let (_, recs) = r.feed(Bytes::from_static(b"e\nf"));
        assert_eq!(texts(&recs), [(&b"cde"[..], 103, 107)]);
        assert_eq!(r.offset(), 108);
        assert_eq!(texts(&r.finish()), [(&b"f"[..], 107, 108)]);
    }

    #[test]
    fn multiline_records_wait_for_their_timeout_or_the_end() {
        let c = config("multiline:\n  start_pattern: '^S'\n  timeout: 1s\n");
        let re = Regex::new("^S").unwrap();
        let mut r = LineReader::new(&c, Some(&re), 0);
        let (cut, recs) = r.feed(Bytes::from_static(b"S1\n c\nS2\n"));
        assert_eq!(cut, 3);
        assert_eq!(texts(&recs), [(&b"S1\n c"[..], 0, 6)]);
        assert!(r.timed_out(Duration::from_millis(10)).is_none());
        let last = r.timed_out(Duration::from_secs(1)).unwrap();
        assert_eq!((&last.bytes[..], last.offset, last.end), (&b"S2"[..], 6, 9));
        assert!(r.finish().is_empty());
    }

    #[test]
    fn long_lines_are_reported_once() {
        let mut r = LineReader::new(&config(""), None, 0);
        r.feed(Bytes::from_static(b"0123456789abcdef\n"));
        let first = r.long_lines();
        assert!(first.split + first.truncated > 0);
        assert_eq!(r.long_lines(), LongLineCounts::default());
    }
}
