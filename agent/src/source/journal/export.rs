//! A streaming parser of the journal export format, as `journalctl
//! --output=export` writes it: an entry is a run of fields ended by an empty
//! line; a field is either text, `NAME=value\n`, or binary, `NAME\n`, its
//! length as a little-endian u64, the bytes, `\n` (journalctl uses the
//! binary form for values with control characters or newlines, so a
//! multi-line or binary `MESSAGE` arrives intact).
//!
//! Memory is bounded per field: a value longer than `max_field_bytes` keeps
//! its first `max_field_bytes` and the rest is read past without being held
//! (the entry is marked truncated). Input is read straight into the
//! parser's buffer and values are slices of it, so a field is copied only
//! when it spans reads or is cut.

use bytes::{Buf, Bytes, BytesMut};

/// Longest field name accepted (the journal allows 64).
const MAX_NAME: usize = 256;

/// One field of an entry. A name may repeat within an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Bytes,
    pub value: Bytes,
}

/// One journal entry, its fields in the order journalctl wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub fields: Vec<Field>,
    /// Some field was longer than `max_field_bytes` and was cut.
    pub truncated: bool,
    /// Bytes of the entry in the export stream (for metrics and budget).
    pub size: usize,
}

impl Entry {
    /// The first value of `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Bytes> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// The first value of `name` as text, if it is UTF-8.
    pub fn text(&self, name: &[u8]) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// The export stream broke its own rules (a bug in the writer, or not
/// journalctl's output at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("a field name longer than {MAX_NAME} bytes")]
    NameTooLong,
    #[error("binary field {0:?} not followed by a newline")]
    MissingNewline(String),
    #[error("an empty field name")]
    EmptyName,
}

#[derive(Debug)]
enum State {
    /// At the start of a line: a text field, a binary field's name, or the
    /// empty line ending the entry.
    Line,
    /// A text field longer than the limit: its kept start; the rest of the
    /// line is dropped.
    SkipLine { name: Bytes, kept: Bytes },
    /// A binary field's name, waiting for its 8-byte length.
    Length { name: Bytes },
    /// A binary field's bytes: `left` of them still to come, `kept` the
    /// part held (at most the limit).
    Data {
        name: Bytes,
        kept: BytesMut,
        left: u64,
    },
    /// The newline after a binary field.
    DataEnd { name: Bytes, value: Bytes },
}

pub struct Parser {
    max_field: usize,
    buf: BytesMut,
    state: State,
    entry: Entry,
    /// Bytes of the current entry consumed so far.
    size: usize,
}

impl Parser {
    pub fn new(max_field_bytes: usize) -> Parser {
        Parser {
            max_field: max_field_bytes,
            buf: BytesMut::with_capacity(64 * 1024),
            state: State::Line,
            entry: Entry::default(),
            size: 0,
        }
    }

    /// Where the next read goes (then call [`Parser::parse`]).
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Nothing half-parsed: the stream ended between entries.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Line) && self.buf.is_empty() && self.entry.fields.is_empty()
    }

    /// Feeds bytes (for tests and callers without their own reads).
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl FnMut(Entry)) -> Result<(), ExportError> {
        self.buf.extend_from_slice(bytes);
        self.parse(out)
    }

    /// Parses what the buffer holds, handing each complete entry to `out`.
    /// An error leaves the parser unusable (start a new one).
    pub fn parse(&mut self, out: &mut impl FnMut(Entry)) -> Result<(), ExportError> {
        loop {
            match std::mem::replace(&mut self.state, State::Line) {
                State::Line => {
                    let Some(nl) = memchr::memchr(b'\n', &self.buf) else {
                        // A text line longer than the limit is cut now, so
                        // the buffer never holds much more than one field.
                        if self.buf.len() > self.max_field + MAX_NAME {
                            let eq = memchr::memchr(b'=', &self.buf[..MAX_NAME])
                                .ok_or(ExportError::NameTooLong)?;
                            let n = self.buf.len();
                            self.size += n;
                            let line = self.buf.split_to(n).freeze();
                            let name = line.slice(..eq);
                            let kept = line.slice(eq + 1..eq + 1 + self.max_field);
                            self.state = State::SkipLine { name, kept };
                            continue;
                        }
                        return Ok(());
                    };
                    self.size += nl + 1;
                    let line = self.buf.split_to(nl + 1).freeze();
                    let line = line.slice(..nl);
                    if line.is_empty() {
                        if !self.entry.fields.is_empty() {
                            let mut e = std::mem::take(&mut self.entry);
                            e.size = std::mem::take(&mut self.size);
                            out(e);
                        } else {
                            self.size = 0;
                        }
                        continue;
                    }
                    match memchr::memchr(b'=', &line) {
                        Some(0) => return Err(ExportError::EmptyName),
                        Some(eq) if eq <= MAX_NAME => {
                            let mut value = line.slice(eq + 1..);
                            if value.len() > self.max_field {
                                value.truncate(self.max_field);
                                self.entry.truncated = true;
                            }
                            self.entry.fields.push(Field {
                                name: line.slice(..eq),
                                value,
                            });
                        }
                        Some(_) => return Err(ExportError::NameTooLong),
                        None if line.len() > MAX_NAME => return Err(ExportError::NameTooLong),
                        None => self.state = State::Length { name: line },
                    }
                }
                State::SkipLine { name, kept } => match memchr::memchr(b'\n', &self.buf) {
                    Some(nl) => {
                        self.size += nl + 1;
                        self.buf.advance(nl + 1);
                        self.entry.truncated = true;
                        self.entry.fields.push(Field { name, value: kept });
                    }
                    None => {
                        self.size += self.buf.len();
                        self.buf.clear();
                        self.state = State::SkipLine { name, kept };
                        return Ok(());
                    }
                },
                State::Length { name } => {
                    if self.buf.len() < 8 {
                        self.state = State::Length { name };
                        return Ok(());
                    }
                    self.size += 8;
                    let len = self.buf.get_u64_le();
                    // The common case, the whole value already here and
                    // within the limit: a slice, no copy.
                    if len <= self.max_field as u64 && self.buf.len() as u64 > len {
                        let n = len as usize;
                        self.size += n;
                        let value = self.buf.split_to(n).freeze();
                        self.state = State::DataEnd { name, value };
                    } else {
                        let keep = len.min(self.max_field as u64) as usize;
                        self.state = State::Data {
                            name,
                            kept: BytesMut::with_capacity(keep),
                            left: len,
                        };
                    }
                }
                State::Data {
                    name,
                    mut kept,
                    mut left,
                } => {
                    let n = (self.buf.len() as u64).min(left) as usize;
                    let room = self.max_field - kept.len();
                    kept.extend_from_slice(&self.buf[..n.min(room)]);
                    self.buf.advance(n);
                    self.size += n;
                    left -= n as u64;
                    if left > 0 {
                        self.state = State::Data { name, kept, left };
                        return Ok(());
                    }
                    if n > room {
                        self.entry.truncated = true;
                    }
                    self.state = State::DataEnd {
                        name,
                        value: kept.freeze(),
                    };
                }
                State::DataEnd { name, value } => {
                    let Some(&b) = self.buf.first() else {
                        self.state = State::DataEnd { name, value };
                        return Ok(());
                    };
                    if b != b'\n' {
                        return Err(ExportError::MissingNewline(
                            String::from_utf8_lossy(&name).into_owned(),
                        ));
                    }
                    self.buf.advance(1);
                    self.size += 1;
                    self.entry.fields.push(Field { name, value });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }

    fn binary(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }

    fn parse_all(input: &[u8], max: usize, chunk: usize) -> Vec<Entry> {
        let mut p = Parser::new(max);
        let mut got = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            p.feed(c, &mut |e| got.push(e)).unwrap();
        }
        assert!(p.is_idle(), "input ends between entries");
        got
    }

    #[test]
    fn text_and_binary_fields_and_repeated_names() {
        let mut s = Vec::new();
        text(&mut s, "__CURSOR", b"s=1;i=2");
        binary(&mut s, "MESSAGE", b"line one\nline two\x00\xff");
        text(&mut s, "TAG", b"a");
        text(&mut s, "TAG", b"b=c");
        s.push(b'\n');
        text(&mut s, "MESSAGE", b"");
        s.push(b'\n');
        for chunk in [1, 3, 7, 1000] {
            let got = parse_all(&s, 1024, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert_eq!(
                got[0].get(b"MESSAGE").unwrap().as_ref(),
                b"line one\nline two\x00\xff"
            );
            assert_eq!(got[0].get(b"TAG").unwrap().as_ref(), b"a");
            assert_eq!(got[0].fields[3].value.as_ref(), b"b=c");
            assert_eq!(got[0].text(b"__CURSOR"), Some("s=1;i=2"));
            assert!(!got[0].truncated);
            assert_eq!(got[1].get(b"MESSAGE").unwrap().as_ref(), b"");
            assert_eq!(got[0].size + got[1].size, s.len());
        }
    }

    #[test]
    fn oversized_fields_keep_their_start_and_the_stream_goes_on() {
        let big = vec![b'x'; 5000];
        let mut s = Vec::new();
        text(&mut s, "MESSAGE", &big);
        binary(&mut s, "BLOB", &big);
        text(&mut s, "AFTER", b"ok");
        s.push(b'\n');
        text(&mut s, "MESSAGE", b"next");
        s.push(b'\n');
        for chunk in [1, 100, 4096, 100_000] {
            let got = parse_all(&s, 100, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert!(got[0].truncated);
            assert_eq!(got[0].get(b"MESSAGE").unwrap().len(), 100);
            assert_eq!(got[0].get(b"BLOB").unwrap().len(), 100);
            assert_eq!(got[0].get(b"AFTER").unwrap().as_ref(), b"ok");
            assert!(!got[1].truncated);
            assert_eq!(got[1].get(b"MESSAGE").unwrap().as_ref(), b"next");
        }
    }

    #[test]
    fn a_binary_field_without_its_newline_is_an_error() {
        let mut s = Vec::new();
        binary(&mut s, "MESSAGE", b"abc");
        s.pop();
        s.push(b'X');
        let mut p = Parser::new(100);
        let err = p.feed(&s, &mut |_| {}).unwrap_err();
        assert_eq!(err, ExportError::MissingNewline("MESSAGE".into()));
        let mut p = Parser::new(100);
        assert_eq!(
            p.feed(&[b'A'; 500], &mut |_| {}).unwrap_err(),
            ExportError::NameTooLong
        );
    }

    proptest! {
        #[test]
        fn any_entries_in_any_chunks_round_trip(
            entries in proptest::collection::vec(
                proptest::collection::vec(
                    ("[A-Z_]{1,12}", proptest::collection::vec(any::<u8>(), 0..300), any::<bool>()),
                    1..6),
                1..5),
            chunk in 1usize..64,
        ) {
            let mut s = Vec::new();
            for e in &entries {
                for (name, value, bin) in e {
                    // Text form only for values that have no newline.
                    if *bin || value.contains(&b'\n') {
                        binary(&mut s, name, value);
                    } else {
                        text(&mut s, name, value);
                    }
                }
                s.push(b'\n');
            }
            let got = parse_all(&s, 200, chunk);
            prop_assert_eq!(got.len(), entries.len());
            for (g, e) in got.iter().zip(&entries) {
                prop_assert_eq!(g.fields.len(), e.len());
                for (f, (name, value, _)) in g.fields.iter().zip(e) {
                    prop_assert_eq!(f.name.as_ref(), name.as_bytes());
                    prop_assert_eq!(f.value.as_ref(), &value[..value.len().min(200)]);
                }
                prop_assert_eq!(g.truncated, e.iter().any(|(_, v, _)| v.len() > 200));
            }
        }
    }
}
