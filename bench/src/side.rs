//! Load tools for the side-by-side harness (`bench/run.sh`):
//!
//! - `gen-app-logs`: a file of JSON application-log lines (about 200 B
//!   each, one object per line, deterministic for a seed), the second kind
//!   of realistic data beside `gen-logs`' access-log lines.
//! - `fill`: writes a data directory the collector can open, with one topic
//!   of many partitions holding GBs of batches, straight through the storage
//!   engine (much faster than producing it over Kafka). `bench/startup.sh`
//!   then times the collector starting on it after clean and unclean stops.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use logship_collector::storage::FlushPolicy;

#[derive(clap::Args)]
pub struct GenAppLogsArgs {
    #[arg(long)]
    out: PathBuf,
    /// Bytes to write (whole lines only: the file ends at the last line that fits).
    #[arg(long)]
    bytes: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
pub struct FillArgs {
    /// Data directory (created; must not hold the topic yet).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "startup")]
    topic: String,
    #[arg(long, default_value_t = 1000)]
    partitions: i32,
    /// Total bytes of batches to append, spread round-robin over the partitions.
    #[arg(long)]
    bytes: u64,
    /// Size of each appended batch (records are access-log lines).
    #[arg(long, default_value_t = 16384)]
    batch_bytes: usize,
    /// The topic's `segment.bytes` (default: the collector's, 1 GiB).
    #[arg(long)]
    segment_bytes: Option<u64>,
    /// Exit without closing storage (no clean-shutdown marker, indexes not
    /// synced): the next open recovers as after a crash.
    #[arg(long)]
    unclean: bool,
}

// ---------------------------------------------------------------------------
// JSON application-log lines.

/// splitmix64, as in `gen-logs`: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `yyyy-mm-ddTHH:MM:SS` (UTC) for unix seconds.
fn iso_seconds(secs: u64) -> String {
    let (year, month, day, rem) = crate::agent::civil(secs);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

const SERVICES: [&str; 6] = [
    "checkout", "orders", "payments", "catalog", "auth", "search",
];
const TABLES: [&str; 6] = [
    "orders",
    "order_items",
    "users",
    "products",
    "payments",
    "carts",
];
const ROUTES: [&str; 6] = [
    "/api/v1/orders/",
    "/api/v1/products/",
    "/api/v1/users/",
    "/api/v1/carts/",
    "/api/v2/search?q=",
    "/api/v1/payments/",
];
const ERRORS: [&str; 4] = [
    "context deadline exceeded",
    "connection reset by peer",
    "no healthy upstream",
    "pq: could not serialize access",
];

/// Generates one JSON object per line, about 200 bytes on average: request
/// logs, database and cache debug lines, retries and errors, as a service
/// with a structured logger (zap, logrus, slog) writes them.
pub struct AppLogGen {
    rng: Rng,
    now_ms: u64,
    cached_sec: u64,
    cached_time: String,
}

impl AppLogGen {
    pub fn new(seed: u64) -> AppLogGen {
        let mut rng = Rng(seed ^ 0x0a99_1065_cafe_f00d);
        // 2026-11-25T00:00:00Z plus up to a day, per seed.
        let now_ms = 1_795_564_800_000 + rng.below(86_400_000);
        AppLogGen {
            rng,
            now_ms,
            cached_sec: u64::MAX,
            cached_time: String::new(),
        }
    }

    /// Appends one line, newline included.
    pub fn line(&mut self, out: &mut Vec<u8>) {
        self.now_ms += self.rng.below(3);
        let sec = self.now_ms / 1000;
        if sec != self.cached_sec {
            self.cached_sec = sec;
            self.cached_time = iso_seconds(sec);
        }
        let r = &mut self.rng;
        let kind = r.below(100);
        let level = match kind {
            0..=54 => "info",
            55..=79 => "debug",
            80..=94 => "warn",
            _ => "error",
        };
        let service = r.pick(&SERVICES);
        let mut s = format!(
            "{{\"ts\":\"{}.{:03}Z\",\"level\":\"{level}\",\"svc\":\"{service}\",\"pod\":\"{service}-{:x}\",\"trace\":\"{:016x}\",",
            self.cached_time,
            self.now_ms % 1000,
            0x7000 + r.below(0x800),
            r.next()
        );
        use std::fmt::Write as _;
        let _ = match kind {
            0..=54 => {
                let route = r.pick(&ROUTES);
                let status = match r.below(100) {
                    0..=84 => 200,
                    85..=89 => 201,
                    90..=94 => 404,
                    95..=97 => 400,
                    _ => 500,
                };
                write!(
                    s,
                    "\"msg\":\"request\",\"method\":\"{}\",\"path\":\"{route}{}\",\"status\":{status},\"ms\":{}.{}",
                    if r.below(10) < 8 { "GET" } else { "POST" },
                    r.below(1_000_000),
                    r.below(400),
                    r.below(10)
                )
            }
            55..=67 => write!(
                s,
                "\"msg\":\"query\",\"table\":\"{}\",\"rows\":{},\"ms\":{}.{}",
                r.pick(&TABLES),
                r.below(500),
                r.below(50),
                r.below(10)
            ),
            68..=79 => write!(
                s,
                "\"msg\":\"cache {}\",\"key\":\"user:{}:profile\",\"ttl_s\":{}",
                if r.below(4) == 0 { "miss" } else { "hit" },
                r.below(100_000),
                60 * (1 + r.below(10))
            ),
            80..=94 => write!(
                s,
                "\"msg\":\"retrying upstream\",\"upstream\":\"http://{}.svc:8080\",\"attempt\":{},\"backoff_ms\":{}",
                r.pick(&SERVICES),
                1 + r.below(4),
                100 << r.below(5)
            ),
            _ => write!(
                s,
                "\"msg\":\"publish failed\",\"err\":\"{}\",\"order\":\"ord_{:08x}\"",
                r.pick(&ERRORS),
                r.next() as u32
            ),
        };
        s.push_str("}\n");
        out.extend_from_slice(s.as_bytes());
    }
}

pub fn gen_app_logs(a: GenAppLogsArgs) -> Result<()> {
    let started = Instant::now();
    let file = File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut g = AppLogGen::new(a.seed);
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        g.line(&mut line);
        if bytes + line.len() as u64 > a.bytes {
            break;
        }
        w.write_all(&line)?;
        bytes += line.len() as u64;
        lines += 1;
    }
    w.flush()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "gen-app-logs lines={lines} bytes={bytes} avg_line_bytes={:.1} secs={secs:.3} MBps={:.1}",
        bytes as f64 / lines.max(1) as f64,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// A data directory with many partitions and GBs of data.

pub fn fill(a: FillArgs) -> Result<()> {
    if a.partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    let storage = super::open(&a.dir, FlushPolicy::Os)?;
    let mut configs = BTreeMap::new();
    if let Some(s) = a.segment_bytes {
        configs.insert("segment.bytes".to_owned(), s.to_string());
    }
    storage.create_topic(&a.topic, a.partitions, configs, false)?;
    // A few different batches of access-log lines, each appended again and
    // again (an append only rewrites the batch's base offset).
    let mut gen = super::agent::LogGen::new(1);
    let mut templates = Vec::new();
    for _ in 0..8 {
        let mut lines = Vec::new();
        let mut total = 0;
        while total < a.batch_bytes {
            let mut l = Vec::with_capacity(256);
            gen.line(&mut l);
            l.pop(); // the newline
            total += l.len() + 8;
            lines.push(l);
        }
        templates.push(super::batch(lines.len(), |i| lines[i].clone()));
    }
    let parts = (0..a.partitions)
        .map(|p| storage.partition(&a.topic, p))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let (mut bytes, mut batches) = (0u64, 0u64);
    'fill: loop {
        for part in &parts {
            if bytes >= a.bytes {
                break 'fill;
            }
            let mut b = templates[(batches % templates.len() as u64) as usize].clone();
            part.append(&mut b)?;
            bytes += b.len() as u64;
            batches += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fill topic={} partitions={} bytes={bytes} batches={batches} secs={secs:.3} MBps={:.1} stop={}",
        a.topic,
        a.partitions,
        bytes as f64 / secs / 1e6,
        if a.unclean { "unclean" } else { "clean" }
    );
    std::io::stdout().flush()?;
    if a.unclean {
        // No close: no marker, nothing synced beyond what the OS writes back.
        std::process::exit(0);
    }
    storage.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_seconds_matches_known_dates() {
        assert_eq!(iso_seconds(0), "1970-01-01T00:00:00");
        assert_eq!(iso_seconds(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(iso_seconds(1_795_564_800 + 3661), "2026-11-25T01:01:01");
    }

    #[test]
    fn app_lines_are_json_deterministic_and_about_200_bytes() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut ga, mut gb) = (AppLogGen::new(3), AppLogGen::new(3));
        for _ in 0..10_000 {
            ga.line(&mut a);
            gb.line(&mut b);
        }
        assert_eq!(a, b);
        let avg = a.len() as f64 / 10_000.0;
        assert!((170.0..230.0).contains(&avg), "average line {avg}");
        let text = std::str::from_utf8(&a).unwrap();
        assert_eq!(text.lines().count(), 10_000);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect(line);
            assert!(v["ts"].is_string() && v["level"].is_string() && v["msg"].is_string());
        }
    }
}
