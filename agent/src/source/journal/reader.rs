//! The supervised `journalctl --follow --output=export` child: started at a
//! position (the head, or a cursor), its output parsed into entries and
//! handed on through a bounded channel (when the channel is full this stops
//! reading, the pipe fills and journalctl waits: the journal is the
//! buffer), its stderr logged line by line, and restarted with backoff from
//! the last entry read when it exits or its output cannot be parsed.
//!
//! Starting at a cursor uses `--cursor` (not `--after-cursor`): journalctl
//! then prints the cursor's own entry first when the journal still has it,
//! which is dropped here; when the first entry is another one, the
//! cursor's entry is gone (vacuumed, or its file removed) and so may be
//! others after it, which is reported as a [`Event::Lost`] with the count
//! when the sequence numbers give it (`cursor`). Gaps between consecutive
//! entries of one journal (a file removed while being read) are reported
//! the same way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cursor::{self, Gap, Position};
use super::export::{Entry, Parser};

/// First and largest wait before restarting journalctl.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));
/// Bytes asked of the pipe per read.
const READ: usize = 64 * 1024;
/// Seqnum ids whose last sequence number is remembered (one per journal
/// interleaved in the output; a directory of many machines' files may
/// have more, then the oldest are forgotten and their gaps go unnoticed).
const MAX_JOURNALS: usize = 64;

/// How to run journalctl.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    pub journalctl: PathBuf,
    /// `--directory`; None reads the system journal.
    pub directory: Option<PathBuf>,
    pub max_field_bytes: usize,
}

impl ReaderConfig {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.journalctl);
        c.arg("--output=export").arg("--no-pager");
        if let Some(d) = &self.directory {
            c.arg("--directory").arg(d);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }
}

/// Where reading starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The oldest entry the journal has.
    Head,
    /// The entry after this cursor's.
    After(String),
}

/// What the reader hands on.
#[derive(Debug)]
pub enum Event {
    /// Entries in journal order, each with its `__CURSOR`.
    Entries(Vec<Entry>),
    /// Entries the journal no longer has, between the entry at `after`
    /// (read or checkpointed before) and `next` (the next one it has).
    Lost {
        gap: Gap,
        after: String,
        next: String,
    },
}

/// Counters the reader keeps (clones of the source's metric handles).
#[derive(Clone)]
pub struct ReaderStats {
    /// Export bytes read from journalctl.
    pub bytes: prometheus::IntCounter,
    /// journalctl's stderr lines, unparsable output, failed starts.
    pub errors: prometheus::IntCounter,
    /// journalctl restarts.
    pub restarts: prometheus::IntCounter,
    /// Entries with a field cut to `max_field_bytes`.
    pub truncated: prometheus::IntCounter,
}

impl ReaderStats {
    /// Counters not registered anywhere (tests).
    pub fn detached() -> ReaderStats {
        let c = |n: &str| prometheus::IntCounter::new(n, n).expect("valid metric");
        ReaderStats {
            bytes: c("bytes"),
            errors: c("errors"),
            restarts: c("restarts"),
            truncated: c("truncated"),
        }
    }
}

/// The cursor of the journal's newest entry, None when it is empty (the
/// position `since: now` starts after).
pub async fn last_cursor(cfg: &ReaderConfig) -> Result<Option<String>, String> {
    let out = cfg
        .command()
        .arg("--lines=1")
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", cfg.journalctl.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --lines=1 failed ({}): {}",
            cfg.journalctl.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut p = Parser::new(cfg.max_field_bytes);
    let mut last = None;
    p.feed(&out.stdout, &mut |e| {
        last = e.text(b"__CURSOR").map(str::to_owned)
    })
    .map_err(|e| format!("journalctl's export output: {e}"))?;
    Ok(last)
}

/// Which entries were already seen, to drop the start cursor's own entry
/// and to notice gaps.
struct Continuity {
    /// The start cursor, until the first entry has been compared with it.
    start: Option<String>,
    last: HashMap<String, u64>,
}

impl Continuity {
    fn new(start: &Start) -> Continuity {
        Continuity {
            start: match start {
                Start::Head => None,
                Start::After(c) => Some(c.clone()),
            },
            last: HashMap::new(),
        }
    }

    /// Whether `cursor`'s entry is new (false: the start entry itself),
    /// and what was lost before it.
    fn check(&mut self, cursor: &str) -> (bool, Option<(Gap, String)>) {
        let at = cursor::parse(cursor);
        let mut lost = None;
        if let Some(start) = self.start.take() {
            let from = cursor::parse(&start);
            match (&from, &at) {
                (Some(f), Some(a)) if f.seqnum_id == a.seqnum_id && f.seqnum == a.seqnum => {
                    return (false, None);
                }
                _ if start == cursor => return (false, None),
                (Some(f), Some(a)) => lost = Some((cursor::vanished(f, a), start)),
                _ => lost = Some((Gap::Unknown, start)),
            }
        } else if let Some(a) = &at {
            if let Some(&prev) = self.last.get(&a.seqnum_id) {
                let before = Position {
                    seqnum_id: a.seqnum_id.clone(),
                    seqnum: prev,
                    realtime_us: 0,
                };
                if let Some(g) = cursor::gap(&before, a) {
                    let prev_text = format!("s={};i={prev:x}", a.seqnum_id);
                    lost = Some((g, prev_text));
                }
            }
        }
        if let Some(a) = at {
            if self.last.len() >= MAX_JOURNALS && !self.last.contains_key(&a.seqnum_id) {
                self.last.clear();
            }
            self.last.insert(a.seqnum_id, a.seqnum);
        }
        // A vanished start with nothing lost (the next entry directly
        // follows) is no loss.
        let lost = lost.filter(|(g, _)| *g != Gap::Known(0));
        (true, lost)
    }
}

/// Runs journalctl from `start` until `stop` or until `tx` closes,
/// restarting it as needed. Entries go to `tx` in journal order.
pub async fn run(
    source: String,
    cfg: ReaderConfig,
    start: Start,
    tx: mpsc::Sender<Event>,
    stats: ReaderStats,
    stop: CancellationToken,
) {
    let mut position = start;
    let mut backoff = BACKOFF.0;
    loop {
        let (read_any, ended) = tokio::select! {
            r = one_run(&source, &cfg, &mut position, &tx, &stats) => r,
            _ = stop.cancelled() => return,
        };
        if tx.is_closed() || stop.is_cancelled() {
            return;
        }
        if read_any {
            backoff = BACKOFF.0;
        }
        stats.restarts.inc();
        tracing::warn!(source, reason = %ended, retry_in = ?backoff, "journalctl stopped; restarting from the last entry read");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// One journalctl process, until it ends or its output breaks. Returns
/// whether it produced any entry and why it ended.
async fn one_run(
    source: &str,
    cfg: &ReaderConfig,
    position: &mut Start,
    tx: &mpsc::Sender<Event>,
    stats: &ReaderStats,
) -> (bool, String) {
    let mut cmd = cfg.command();
    // `--follow` alone shows only the last ten entries, even after
    // `--cursor`: `--no-tail` makes it start where it is told.
    cmd.arg("--follow").arg("--no-tail");
    if let Start::After(c) = &*position {
        cmd.arg(format!("--cursor={c}"));
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            stats.errors.inc();
            return (
                false,
                format!("cannot start {}: {e}", cfg.journalctl.display()),
            );
        }
    };
    let stderr = child.stderr.take().map(|err| {
        let (source, errors) = (source.to_owned(), stats.errors.clone());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                errors.inc();
                tracing::warn!(source, journalctl = %line, "journalctl reports a problem");
            }
        })
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut parser = Parser::new(cfg.max_field_bytes);
    let mut seen = Continuity::new(position);
    let mut read_any = false;
    let ended = loop {
        let buf = parser.buffer();
        buf.reserve(READ);
        let n = match stdout.read_buf(buf).await {
            Ok(0) => break exit_reason(&mut child, "end of output").await,
            Ok(n) => n,
            Err(e) => break format!("reading journalctl's output: {e}"),
        };
        stats.bytes.inc_by(n as u64);
        let mut events = Vec::new();
        let mut entries = Vec::new();
        let parsed = parser.parse(&mut |e: Entry| {
            let Some(cursor) = e.text(b"__CURSOR").map(str::to_owned) else {
                // journalctl always writes one; nothing could resume here.
                stats.errors.inc();
                return;
            };
            let (new, lost) = seen.check(&cursor);
            if let Some((gap, after)) = lost {
                if !entries.is_empty() {
                    events.push(Event::Entries(std::mem::take(&mut entries)));
                }
                events.push(Event::Lost {
                    gap,
                    after,
                    next: cursor.clone(),
                });
            }
            if new {
                if e.truncated {
                    stats.truncated.inc();
                }
                *position = Start::After(cursor);
                entries.push(e);
            }
        });
        if !entries.is_empty() {
            events.push(Event::Entries(entries));
        }
        for ev in events {
            read_any = true;
            if tx.send(ev).await.is_err() {
                break;
            }
        }
        if let Err(e) = parsed {
            stats.errors.inc();
            tracing::error!(source, error = %e, "journalctl's output is not the export format");
            break format!("unparsable output: {e}");
        }
        if tx.is_closed() {
            break "stopped".into();
        }
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    if let Some(t) = stderr {
        // Its last lines explain the exit; the pipe closed with the child.
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    (read_any, ended)
}

async fn exit_reason(child: &mut Child, what: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => format!("{what}, {status}"),
        Ok(Err(e)) => format!("{what}, waiting for it: {e}"),
        Err(_) => what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_entry_is_dropped_and_gaps_are_reported() {
        let c = |i: u64| format!("s=aa;i={i:x};b=bb;m=1;t=1;x=1");
        let mut s = Continuity::new(&Start::After(c(5)));
        assert_eq!(s.check(&c(5)), (false, None), "the start entry itself");
        assert_eq!(s.check(&c(6)), (true, None));
        assert_eq!(
            s.check(&c(9)),
            (true, Some((Gap::Known(2), "s=aa;i=6".into())))
        );
        // Another journal interleaved: its own numbering.
        assert_eq!(s.check("s=cc;i=1;t=1"), (true, None));
        assert_eq!(s.check(&c(10)), (true, None));

        let mut s = Continuity::new(&Start::After(c(5)));
        assert_eq!(
            s.check(&c(8)),
            (true, Some((Gap::Known(2), c(5)))),
            "the start entry was vacuumed, and 6 and 7 with it"
        );
        let mut s = Continuity::new(&Start::After(c(5)));
        assert_eq!(s.check(&c(6)), (true, None), "only the start entry went");
        let mut s = Continuity::new(&Start::After(c(5)));
        assert_eq!(s.check("s=dd;i=1;t=1"), (true, Some((Gap::Unknown, c(5)))));
        let mut s = Continuity::new(&Start::Head);
        assert_eq!(s.check(&c(100)), (true, None));
    }

    use super::super::make;
    use std::path::Path;

    /// Entries `range` of a test journal: unit `app<n % 2>.service`,
    /// message `m<n>` (entry 3 of every ten multi-line and binary).
    fn export(range: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for n in range {
            let msg = if n % 10 == 3 {
                format!("m{n}\nsecond line\u{0}").into_bytes()
            } else {
                format!("m{n}").into_bytes()
            };
            let unit = format!("app{}.service", n % 2);
            let mut fields: Vec<(&str, &[u8])> = Vec::new();
            let clocks = make::clock_fields(n);
            for (k, v) in &clocks {
                fields.push((k, v));
            }
            fields.push(("_SYSTEMD_UNIT", unit.as_bytes()));
            fields.push(("MESSAGE", &msg));
            make::push_entry(&mut out, &fields);
        }
        out
    }

    fn reader_config(dir: &Path) -> ReaderConfig {
        ReaderConfig {
            journalctl: "journalctl".into(),
            directory: Some(dir.to_path_buf()),
            max_field_bytes: 1 << 20,
        }
    }

    struct Running {
        rx: mpsc::Receiver<Event>,
        stop: CancellationToken,
        stats: ReaderStats,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(dir: &Path, from: Start) -> Running {
        let (tx, rx) = mpsc::channel(4);
        let stop = CancellationToken::new();
        let stats = ReaderStats::detached();
        let task = tokio::spawn(run(
            "test".into(),
            reader_config(dir),
            from,
            tx,
            stats.clone(),
            stop.clone(),
        ));
        Running {
            rx,
            stop,
            stats,
            task,
        }
    }

    impl Running {
        /// Messages until `n` entries came; losses are returned too.
        async fn take(&mut self, n: usize) -> (Vec<Entry>, Vec<Gap>) {
            let (mut got, mut lost) = (Vec::new(), Vec::new());
            while got.len() < n {
                let ev = tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("only {} of {n} entries came", got.len()))
                    .expect("reader running");
                match ev {
                    Event::Entries(e) => got.extend(e),
                    Event::Lost { gap, .. } => lost.push(gap),
                }
            }
            (got, lost)
        }

        async fn stop(self) {
            self.stop.cancel();
            self.task.await.unwrap();
        }
    }

    fn messages(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(e.get(b"MESSAGE").unwrap()).into_owned())
            .collect()
    }

    fn expected(range: std::ops::Range<u64>) -> Vec<String> {
        range
            .map(|n| {
                if n % 10 == 3 {
                    format!("m{n}\nsecond line\u{0}")
                } else {
                    format!("m{n}")
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn follows_real_journal_files_through_appends_and_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("system.journal");
        make::append(&first, &export(0..50)).unwrap();
        let mut r = start(dir.path(), Start::Head);
        let (got, lost) = r.take(50).await;
        assert_eq!(messages(&got), expected(0..50));
        assert!(lost.is_empty());
        // Appended while followed, then a new file (as after a rotation).
        make::append(&first, &export(50..80)).unwrap();
        let (got, _) = r.take(30).await;
        assert_eq!(messages(&got), expected(50..80));
        make::append(&dir.path().join("system@2.journal"), &export(80..120)).unwrap();
        let (got, lost) = r.take(40).await;
        assert_eq!(messages(&got), expected(80..120));
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(r.stats.restarts.get(), 0);
        r.stop().await;
    }

    #[tokio::test]
    async fn resumes_after_a_cursor_and_reports_a_vanished_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.journal");
        make::append(&old, &export(0..20)).unwrap();
        let newer = dir.path().join("newer.journal");
        make::append(&newer, &export(20..30)).unwrap();
        let cfg = reader_config(dir.path());
        let last = last_cursor(&cfg).await.unwrap().unwrap();
        assert!(
            last.contains(";i=a;"),
            "the newest entry, 10th of its file: {last}"
        );

        let mut r = start(dir.path(), Start::Head);
        let (got, _) = r.take(30).await;
        r.stop().await;
        let cursor_of = |n: usize| got[n].text(b"__CURSOR").unwrap().to_owned();
        let mut r = start(dir.path(), Start::After(cursor_of(9)));
        let (again, lost) = r.take(20).await;
        assert_eq!(messages(&again), expected(10..30), "after entry 9, not it");
        assert!(lost.is_empty());
        r.stop().await;

        // The file holding the checkpoint's entry is vacuumed.
        std::fs::remove_file(&old).unwrap();
        let mut r = start(dir.path(), Start::After(cursor_of(15)));
        let (rest, lost) = r.take(10).await;
        assert_eq!(messages(&rest), expected(20..30));
        assert_eq!(
            lost,
            [Gap::Unknown],
            "another journal follows: count unknown"
        );
        r.stop().await;

        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            last_cursor(&reader_config(empty.path())).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn broken_files_and_missing_directories_are_reported_and_survived() {
        let dir = tempfile::tempdir().unwrap();
        make::append(&dir.path().join("good.journal"), &export(0..10)).unwrap();
        // A file cut short, as after a crash mid-write or a bad copy.
        let bad = dir.path().join("bad.journal");
        make::append(&bad, &export(100..200)).unwrap();
        let bytes = std::fs::read(&bad).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len().min(4096)]).unwrap();
        let mut r = start(dir.path(), Start::Head);
        let (got, _) = r.take(10).await;
        assert_eq!(messages(&got[..10]), expected(0..10));
        // journalctl said "Journal file .../bad.journal is truncated,
        // ignoring file." on stderr.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while r.stats.errors.get() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the bad file went unmentioned"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r.stop().await;

        let gone = dir.path().join("nowhere");
        let r = start(&gone, Start::Head);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while r.stats.restarts.get() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "journalctl not restarted"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(r.stats.errors.get() >= 2, "its complaint is counted");
        r.stop().await;
    }
}
