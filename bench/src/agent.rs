//! Load tools for the agent benchmark (`bench/agent.sh`):
//!
//! - `gen-logs`: a file of realistic combined-format access-log lines,
//!   deterministic for a seed, written at hundreds of MB/s.
//! - `latency`: appends time-stamped lines to a file at a fixed rate while an
//!   rdkafka consumer reads the agent's topic from its end, and prints the
//!   write-to-consume latency percentiles.
//! - `fanout`: appends lines round-robin to many files at a total rate (the
//!   agent's RSS and descriptor counts are sampled from outside).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

#[derive(clap::Args)]
pub struct GenLogsArgs {
    #[arg(long)]
    out: PathBuf,
    /// Bytes to write (whole lines only: the file ends at the last line that fits).
    #[arg(long)]
    bytes: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
pub struct LatencyArgs {
    /// The file to append to (created if missing); the agent must follow it.
    #[arg(long)]
    file: PathBuf,
    /// Write rate in MB/s (10^6 bytes).
    #[arg(long, default_value_t = 10.0)]
    rate_mbps: f64,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long, default_value = "lat")]
    topic: String,
    /// Line length including the newline.
    #[arg(long, default_value_t = 200)]
    line_bytes: usize,
    /// Records written in the first WARMUP seconds are not measured.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// How long to wait for stragglers after the last write.
    #[arg(long, default_value_t = 15.0)]
    drain_seconds: f64,
}

#[derive(clap::Args)]
pub struct FanoutArgs {
    /// Files DIR/f0000.log … are created (appended to if present).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 1000)]
    files: usize,
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Lines per second across all files.
    #[arg(long, default_value_t = 5000.0)]
    rate_lines_per_s: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

// ---------------------------------------------------------------------------
// Realistic access-log lines.

/// splitmix64: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    /// Index into a cumulative weight table.
    fn weighted(&mut self, cumulative: &[u32]) -> usize {
        let x = self.below(*cumulative.last().unwrap() as u64) as u32;
        cumulative.iter().position(|&c| x < c).unwrap()
    }
}

fn cumulative(weights: &[u32]) -> Vec<u32> {
    weights
        .iter()
        .scan(0, |s, w| {
            *s += w;
            Some(*s)
        })
        .collect()
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_hex(out: &mut Vec<u8>, v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 15) as usize]);
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds (UTC) as (year, month 1-12, day, seconds into the day),
/// by Howard Hinnant's days-to-civil with March-based years (the leap day
/// is the last day of the year).
pub(crate) fn civil(secs: u64) -> (i64, i64, i64, u64) {
    let days = (secs / 86400) as i64;
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153; // 0 = March
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d, secs % 86400)
}

/// `dd/Mon/yyyy:HH:MM:SS +0000` for unix seconds (UTC).
fn clf_time(secs: u64) -> String {
    let (y, m, d, rem) = civil(secs);
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
const METHOD_W: [u32; 6] = [820, 110, 30, 15, 20, 5];
const STATUSES: [u64; 11] = [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 500];
const STATUS_W: [u32; 11] = [760, 25, 15, 12, 20, 70, 10, 15, 8, 55, 10];
const WORDS: [&str; 16] = [
    "shoes",
    "laptop",
    "coffee",
    "garden",
    "camera",
    "books",
    "phone",
    "desk",
    "chair",
    "jacket",
    "headphones",
    "bike",
    "lamp",
    "watch",
    "backpack",
    "monitor",
];
const SECTIONS: [&str; 8] = [
    "products", "category", "blog", "help", "account", "cart", "orders", "docs",
];
const USER_AGENTS: [&str; 12] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Prometheus/2.48.1",
    "kube-probe/1.28",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
];
const UA_W: [u32; 12] = [220, 110, 80, 110, 80, 40, 60, 60, 80, 80, 50, 30];
const REFERERS: [&str; 4] = [
    "https://www.google.com/",
    "https://shop.example.com/",
    "https://shop.example.com/search?q=",
    "https://news.example.org/article/",
];

/// Generates combined-log-format lines, about 200 bytes on average.
pub struct LogGen {
    rng: Rng,
    /// Unix time of the current line, in milliseconds.
    now_ms: u64,
    cached_sec: u64,
    cached_time: String,
    hot_ips: Vec<u32>,
    method_w: Vec<u32>,
    status_w: Vec<u32>,
    ua_w: Vec<u32>,
}

impl LogGen {
    pub fn new(seed: u64) -> LogGen {
        let mut rng = Rng(seed ^ 0x5151_5151_dead_beef);
        let hot_ips = (0..256).map(|_| rng.next() as u32).collect();
        // 2026-11-25T00:00:00Z plus up to a day, per seed.
        let now_ms = 1_795_564_800_000 + rng.below(86_400_000);
        LogGen {
            rng,
            now_ms,
            cached_sec: u64::MAX,
            cached_time: String::new(),
            hot_ips,
            method_w: cumulative(&METHOD_W),
            status_w: cumulative(&STATUS_W),
            ua_w: cumulative(&UA_W),
        }
    }

    /// Appends one line, newline included.
    pub fn line(&mut self, out: &mut Vec<u8>) {
        let r = &mut self.rng;
        // Client: a few hot clients (proxies, probes) and a long tail.
        let ip = if r.below(100) < 60 {
            self.hot_ips[r.below(self.hot_ips.len() as u64) as usize]
        } else {
            r.next() as u32
        };
        for (i, shift) in [24, 16, 8, 0].into_iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            push_u64(out, ((ip >> shift) & 255) as u64);
        }
        out.extend_from_slice(b" - ");
        if r.below(100) < 15 {
            out.extend_from_slice(b"user");
            push_u64(out, r.below(5000));
        } else {
            out.push(b'-');
        }
        self.now_ms += r.below(3);
        let sec = self.now_ms / 1000;
        if sec != self.cached_sec {
            self.cached_sec = sec;
            self.cached_time = clf_time(sec);
        }
        out.extend_from_slice(b" [");
        out.extend_from_slice(self.cached_time.as_bytes());
        out.extend_from_slice(b"] \"");
        out.extend_from_slice(METHODS[r.weighted(&self.method_w)].as_bytes());
        out.push(b' ');
        // Path.
        match r.below(10) {
            0..=2 => {
                out.extend_from_slice(b"/api/v1/");
                out.extend_from_slice(SECTIONS[r.below(8) as usize].as_bytes());
                out.push(b'/');
                push_u64(out, r.below(1_000_000));
                if r.below(2) == 0 {
                    out.extend_from_slice(b"?fields=id,name,price&limit=");
                    push_u64(out, 10 + 10 * r.below(10));
                }
            }
            3..=4 => {
                let kind = r.below(3);
                out.extend_from_slice(match kind {
                    0 => b"/static/js/app.".as_slice(),
                    1 => b"/static/css/main.",
                    _ => b"/static/img/banner-",
                });
                push_hex(out, r.below(16) * 0x1111_1111 + 0x0a1b_2c3d, 8);
                out.extend_from_slice(match kind {
                    0 => b".js".as_slice(),
                    1 => b".css",
                    _ => b".webp",
                });
            }
            5 => {
                out.extend_from_slice(b"/search?q=");
                out.extend_from_slice(WORDS[r.below(16) as usize].as_bytes());
                out.extend_from_slice(b"&page=");
                push_u64(out, 1 + r.below(20));
            }
            6 => out.extend_from_slice(
                [
                    b"/".as_slice(),
                    b"/healthz",
                    b"/metrics",
                    b"/favicon.ico",
                    b"/login",
                ][r.below(5) as usize],
            ),
            _ => {
                out.push(b'/');
                out.extend_from_slice(SECTIONS[r.below(8) as usize].as_bytes());
                out.push(b'/');
                out.extend_from_slice(WORDS[r.below(16) as usize].as_bytes());
                out.push(b'-');
                push_u64(out, r.below(100_000));
            }
        }
        out.extend_from_slice(if r.below(10) < 7 {
            b" HTTP/1.1\" ".as_slice()
        } else {
            b" HTTP/2.0\" "
        });
        let status = STATUSES[r.weighted(&self.status_w)];
        push_u64(out, status);
        out.push(b' ');
        if status == 204 || status == 304 {
            out.push(b'0');
        } else {
            // Roughly log-uniform body sizes, 100 B to 1 MB.
            let digits = 2 + r.below(5);
            push_u64(
                out,
                10u64.pow(digits as u32) + r.below(9 * 10u64.pow(digits as u32)),
            );
        }
        out.extend_from_slice(b" \"");
        if r.below(100) < 35 {
            out.push(b'-');
        } else {
            let i = r.below(4) as usize;
            out.extend_from_slice(REFERERS[i].as_bytes());
            match i {
                2 => out.extend_from_slice(WORDS[r.below(16) as usize].as_bytes()),
                3 => push_u64(out, r.below(100_000)),
                _ => {}
            }
        }
        out.extend_from_slice(b"\" \"");
        out.extend_from_slice(USER_AGENTS[r.weighted(&self.ua_w)].as_bytes());
        out.extend_from_slice(b"\"\n");
    }
}

pub fn gen_logs(a: GenLogsArgs) -> Result<()> {
    let started = Instant::now();
    let file = File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut g = LogGen::new(a.seed);
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        g.line(&mut line);
        if bytes + (buf.len() + line.len()) as u64 > a.bytes {
            break;
        }
        buf.extend_from_slice(&line);
        lines += 1;
        if buf.len() >= (1 << 20) - 1024 {
            w.write_all(&buf)?;
            bytes += buf.len() as u64;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    bytes += buf.len() as u64;
    w.flush()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "gen-logs lines={lines} bytes={bytes} avg_line_bytes={:.1} secs={secs:.3} MBps={:.1}",
        bytes as f64 / lines.max(1) as f64,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// End-to-end latency.

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// The number after `key` in `v` (`key` includes its `=`).
fn field(v: &[u8], key: &[u8]) -> Option<u64> {
    let start = memchr_find(v, key)? + key.len();
    let digits = v[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&v[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn latency(a: LatencyArgs) -> Result<()> {
    if a.line_bytes < 64 {
        bail!("--line-bytes must be at least 64");
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap_server)
        .set("group.id", "logship-bench-latency")
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "true")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .set("fetch.queue.backoff.ms", "1")
        .set("fetch.error.backoff.ms", "5")
        .create()
        .context("creating consumer")?;
    // The topic may not exist yet: Metadata with auto-create makes it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let partitions = loop {
        if let Ok(md) = consumer.fetch_metadata(Some(&a.topic), Duration::from_secs(2)) {
            if let Some(t) = md.topics().iter().find(|t| t.name() == a.topic) {
                if t.error().is_none() && !t.partitions().is_empty() {
                    break t.partitions().len() as i32;
                }
            }
        }
        if Instant::now() > deadline {
            bail!("topic {} did not appear", a.topic);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Start at each partition's current end, resolved here so that nothing
    // written from now on can be skipped.
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(&a.topic, p, Duration::from_secs(5))
            .context("fetching watermarks")?;
        tpl.add_partition_offset(&a.topic, p, Offset::Offset(high))?;
    }
    consumer.assign(&tpl)?;
    // Let the consumer connect and issue its first fetch.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        if let Some(m) = consumer.poll(Duration::from_millis(50)) {
            let m = m.context("consume error")?;
            bail!(
                "unexpected record at offset {} before writing began",
                m.offset()
            );
        }
    }

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = Arc::clone(&done);
        let path = a.file.clone();
        let (rate, seconds, line_bytes) = (a.rate_mbps, a.seconds, a.line_bytes);
        std::thread::spawn(move || -> Result<(u64, u64, u64)> {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            let mut gen = LogGen::new(7);
            let mut filler = Vec::new();
            let mut buf = Vec::with_capacity(1 << 16);
            let (mut seq, mut bytes) = (0u64, 0u64);
            let started = Instant::now();
            let start_ns = unix_nanos();
            let bytes_per_s = rate * 1e6;
            let tick = Duration::from_millis(1);
            let mut next = started;
            while started.elapsed().as_secs_f64() < seconds {
                let due = (started.elapsed().as_secs_f64() * bytes_per_s) as u64;
                buf.clear();
                let now = unix_nanos();
                while bytes + (buf.len() as u64) < due {
                    let start = buf.len();
                    buf.extend_from_slice(b"ts=");
                    push_u64(&mut buf, now);
                    buf.extend_from_slice(b" seq=");
                    push_u64(&mut buf, seq);
                    buf.push(b' ');
                    // Pad with (a cut) access-log line to the fixed length.
                    let room = line_bytes - (buf.len() - start) - 1;
                    if filler.len() < room {
                        filler.clear();
                        while filler.len() < 4 * line_bytes {
                            gen.line(&mut filler);
                        }
                        for b in filler.iter_mut() {
                            if *b == b'\n' {
                                *b = b' ';
                            }
                        }
                    }
                    buf.extend_from_slice(&filler[..room]);
                    filler.drain(..room);
                    buf.push(b'\n');
                    seq += 1;
                }
                if !buf.is_empty() {
                    f.write_all(&buf)?;
                    bytes += buf.len() as u64;
                }
                next += tick;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            done.store(true, Ordering::SeqCst);
            Ok((seq, bytes, start_ns))
        })
    };

    // Sized up front: growing these mid-run (a rehash of ~500k entries)
    // stalls the consumer for milliseconds and shows up as latency.
    let expected = (a.rate_mbps * 1e6 * a.seconds / a.line_bytes as f64 * 1.25) as usize + 1024;
    let mut lat_ns: Vec<(u64, u64)> = Vec::with_capacity(expected); // (write ts, latency)
    let mut seen: Vec<bool> = vec![false; expected];
    let (mut duplicates, mut received) = (0u64, 0u64);
    let mut written: Option<(u64, u64, u64)> = None;
    let mut drain_start: Option<Instant> = None;
    let mut writer = Some(writer);
    loop {
        if let Some(m) = consumer.poll(Duration::from_millis(1)) {
            let now = unix_nanos();
            let m = m.context("consume error")?;
            let v = m.payload().unwrap_or_default();
            let (Some(ts), Some(seq)) = (field(v, b"ts="), field(v, b"seq=")) else {
                bail!(
                    "record at offset {} is not ours: {:?}",
                    m.offset(),
                    String::from_utf8_lossy(&v[..v.len().min(80)])
                );
            };
            let i = seq as usize;
            if i > 16 * expected {
                bail!(
                    "record at offset {} has an impossible seq={seq}",
                    m.offset()
                );
            }
            if i >= seen.len() {
                seen.resize(i + 1 + expected / 4, false);
            }
            if std::mem::replace(&mut seen[i], true) {
                duplicates += 1;
                continue;
            }
            received += 1;
            lat_ns.push((ts, now.saturating_sub(ts)));
        }
        if written.is_none() && done.load(Ordering::SeqCst) {
            let w = writer.take().unwrap().join().expect("writer thread")?;
            written = Some(w);
            drain_start = Some(Instant::now());
        }
        if let Some((n, _, _)) = written {
            if received >= n {
                break;
            }
            if drain_start.unwrap().elapsed().as_secs_f64() > a.drain_seconds {
                break;
            }
        }
    }
    let (n, bytes, start_ns) = written.unwrap();
    let missing = n - seen.iter().take(n as usize).filter(|&&x| x).count() as u64;
    let warm_ns = start_ns + (a.warmup * 1e9) as u64;
    let mut measured: Vec<u64> = lat_ns
        .iter()
        .filter(|(ts, _)| *ts >= warm_ns)
        .map(|(_, l)| *l)
        .collect();
    // When the worst measured record was written (seconds into the run), and
    // how many took over 20 ms: one stall or a spread-out tail.
    let worst_at = lat_ns
        .iter()
        .filter(|(ts, _)| *ts >= warm_ns)
        .max_by_key(|(_, l)| *l)
        .map(|(ts, _)| (ts - start_ns) as f64 / 1e9)
        .unwrap_or(f64::NAN);
    let over_20ms = measured.iter().filter(|&&l| l > 20_000_000).count();
    measured.sort_unstable();
    let pct = |q: f64| -> f64 {
        if measured.is_empty() {
            return f64::NAN;
        }
        let i = ((q * measured.len() as f64).ceil() as usize).clamp(1, measured.len()) - 1;
        measured[i] as f64 / 1e6
    };
    println!(
        "latency rate_MBps={:.1} written={n} bytes={bytes} received={} duplicates={duplicates} missing={missing} \
         records={} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} \
         over_20ms={over_20ms} worst_at_s={worst_at:.2}",
        a.rate_mbps,
        received,
        measured.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        measured.last().map(|&l| l as f64 / 1e6).unwrap_or(f64::NAN),
    );
    if missing > 0 {
        bail!(
            "{missing} of {n} records written were not consumed within {} s of the last write",
            a.drain_seconds
        );
    }
    if measured.is_empty() {
        bail!("no records after the warm-up");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Many files.

pub fn fanout(a: FanoutArgs) -> Result<()> {
    std::fs::create_dir_all(&a.dir)?;
    let mut files = (0..a.files)
        .map(|i| {
            let p = a.dir.join(format!("f{i:04}.log"));
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .with_context(|| format!("opening {}", p.display()))
        })
        .collect::<Result<Vec<File>>>()?;
    let mut gen = LogGen::new(a.seed);
    let mut line = Vec::with_capacity(1024);
    let (mut lines, mut bytes) = (0u64, 0u64);
    let started = Instant::now();
    let tick = Duration::from_millis(1);
    let mut next = started;
    let mut i = 0usize;
    while started.elapsed().as_secs_f64() < a.seconds {
        let due = (started.elapsed().as_secs_f64() * a.rate_lines_per_s) as u64;
        while lines < due {
            line.clear();
            gen.line(&mut line);
            files[i].write_all(&line)?;
            i = (i + 1) % files.len();
            lines += 1;
            bytes += line.len() as u64;
        }
        next += tick;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fanout files={} lines={lines} bytes={bytes} secs={secs:.3} lines_per_s={:.0}",
        a.files,
        lines as f64 / secs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time_matches_known_dates() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf_time(1_795_564_800 + 3661), "25/Nov/2026:01:01:01 +0000");
    }

    #[test]
    fn lines_are_deterministic_and_about_200_bytes() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut ga, mut gb) = (LogGen::new(3), LogGen::new(3));
        for _ in 0..10_000 {
            ga.line(&mut a);
            gb.line(&mut b);
        }
        assert_eq!(a, b);
        let avg = a.len() as f64 / 10_000.0;
        assert!((170.0..230.0).contains(&avg), "average line {avg}");
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 10_000);
    }
}
