//! Parsing a scraped page (pure, no I/O): the Prometheus text format 0.0.4
//! and the OpenMetrics 1.0 text format, into one [`Sample`] per line.
//!
//! What the parser keeps and what it drops:
//! - `# TYPE` lines give each family its type; a series takes the type of
//!   the family whose name it is, or whose name plus a suffix that type
//!   allows it is (`_bucket`/`_sum`/`_count`/`_created` of a histogram,
//!   `_total`/`_created` of a counter, `_info` of an info, ...). A series
//!   with no `# TYPE` before it is [`Kind::Untyped`]. The sample keeps the
//!   series name (`x_bucket` with its `le` label, `x{quantile=..}`, `x_sum`).
//!   OpenMetrics types map onto [`Kind`]: `gaugehistogram` -> histogram,
//!   `info` and `stateset` -> gauge, `unknown` -> untyped.
//! - `# HELP`, `# UNIT` and other comments are skipped; exemplars (` # {..}
//!   v [ts]` after a sample) are dropped.
//! - Timestamps are integer milliseconds in the Prometheus format and
//!   seconds (with a fraction) in OpenMetrics; both become milliseconds.
//!   A sample without one gets the caller's (scrape) time.
//!
//! Strict where a mistake would corrupt data: any malformed sample line,
//! an unknown `# TYPE`, a duplicate label, or (OpenMetrics) a missing
//! `# EOF` — the mark that the page was not cut short — fails the whole
//! page with the line number. Tolerant of what real exporters emit:
//! blank lines, `\r\n` line ends, blanks around label pairs, a trailing
//! comma in a label set, a repeated `# TYPE` (the later one wins), either
//! format's type names in both formats, the quoted UTF-8 metric and label
//! names of newer Prometheus clients (`{"my.metric",a="1"}`), and unknown
//! escapes in a label value (kept verbatim, as Prometheus does).

use std::collections::{BTreeMap, HashMap};

use super::sample::{Kind, Sample};

/// Which text format a page is in; it decides the timestamp unit and
/// whether `# EOF` is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in integer milliseconds.
    Prometheus,
    /// `application/openmetrics-text`: timestamps in seconds, `# EOF` last.
    OpenMetrics,
}

/// The `Accept` header a scraper sends: OpenMetrics preferred, the
/// Prometheus text format accepted (what Prometheus itself sends, minus
/// the protobuf format).
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.8,\
    application/openmetrics-text;version=0.0.1;q=0.75,\
    text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The format of a response from its `Content-Type`: OpenMetrics for
/// `application/openmetrics-text` (any version or parameters), otherwise
/// (including a missing or unknown type) the Prometheus text format.
pub fn format_from_content_type(ct: &str) -> Format {
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

/// Why a page failed to parse, and where (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("invalid metric name")]
    InvalidMetricName,
    #[error("invalid label name")]
    InvalidLabelName,
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("unterminated quoted string")]
    Unterminated,
    #[error("duplicate label {0:?}")]
    DuplicateLabel(String),
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    #[error("unexpected {0:?} after the sample")]
    Trailing(String),
    #[error("unknown metric type {0:?}")]
    UnknownType(String),
    #[error("text after # EOF")]
    AfterEof,
    #[error("no # EOF at the end (page cut short?)")]
    MissingEof,
}

/// Parses a whole page. `default_timestamp_ms` is given to samples that
/// carry no timestamp (the scrape time).
pub fn parse(
    text: &str,
    format: Format,
    default_timestamp_ms: i64,
) -> Result<Vec<Sample>, ParseError> {
    let mut families: HashMap<String, Family> = HashMap::new();
    let mut samples = Vec::new();
    let mut eof_line = None;
    let mut last_line = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let err = |kind| ParseError {
            line: line_no,
            kind,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_start_matches(is_blank);
        if line.trim_end_matches(is_blank).is_empty() {
            continue;
        }
        last_line = line_no;
        if eof_line.is_some() {
            return Err(err(ErrorKind::AfterEof));
        }
        if let Some(comment) = line.strip_prefix('#') {
            if format == Format::OpenMetrics && comment.trim_matches(is_blank) == "EOF" {
                eof_line = Some(line_no);
            } else if let Some((name, family)) = parse_type(comment).map_err(err)? {
                families.insert(name, family);
            }
            continue;
        }
        let sample = parse_sample(line, format, default_timestamp_ms, &families).map_err(err)?;
        samples.push(sample);
    }
    if format == Format::OpenMetrics && eof_line.is_none() {
        return Err(ParseError {
            line: last_line.max(1),
            kind: ErrorKind::MissingEof,
        });
    }
    Ok(samples)
}

/// A family's declared type; finer than [`Kind`] because it decides which
/// suffixed series belong to the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl Family {
    fn from_word(word: &str) -> Option<Family> {
        Some(match word {
            "counter" => Family::Counter,
            "gauge" => Family::Gauge,
            "histogram" => Family::Histogram,
            "gaugehistogram" => Family::GaugeHistogram,
            "summary" => Family::Summary,
            "info" => Family::Info,
            "stateset" => Family::StateSet,
            "untyped" | "unknown" => Family::Unknown,
            _ => return None,
        })
    }

    fn kind(self) -> Kind {
        match self {
            Family::Counter => Kind::Counter,
            Family::Gauge | Family::Info | Family::StateSet => Kind::Gauge,
            Family::Histogram | Family::GaugeHistogram => Kind::Histogram,
            Family::Summary => Kind::Summary,
            Family::Unknown => Kind::Untyped,
        }
    }

    /// Series-name suffixes that belong to a family of this type (besides
    /// the bare family name).
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Family::Counter => &["_total", "_created"],
            Family::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Family::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Family::Summary => &["_sum", "_count", "_created"],
            Family::Info => &["_info"],
            Family::Gauge | Family::StateSet | Family::Unknown => &[],
        }
    }
}

/// The kind of the series `name`: its own family's, else the family it is
/// a suffixed series of.
fn kind_of(name: &str, families: &HashMap<String, Family>) -> Kind {
    if let Some(family) = families.get(name) {
        return family.kind();
    }
    const SUFFIXES: [&str; 8] = [
        "_bucket", "_sum", "_count", "_created", "_total", "_info", "_gsum", "_gcount",
    ];
    for suffix in SUFFIXES {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some(family) = families.get(base) {
                if family.suffixes().contains(&suffix) {
                    return family.kind();
                }
            }
        }
    }
    Kind::Untyped
}

/// `comment` is a comment line after its `#`. Returns the family a
/// well-formed `TYPE` line declares; other comments are `None`.
fn parse_type(comment: &str) -> Result<Option<(String, Family)>, ErrorKind> {
    let mut c = Cursor::new(comment);
    c.skip_blanks();
    if c.token() != "TYPE" {
        return Ok(None);
    }
    if !c.skip_blanks() {
        return Err(ErrorKind::Expected("a metric name after TYPE"));
    }
    let name = if c.peek() == Some(b'"') {
        c.quoted()?
    } else {
        c.metric_name()?.to_string()
    };
    if !c.skip_blanks() {
        return Err(ErrorKind::Expected("a type after the metric name"));
    }
    let word = c.token();
    let family = Family::from_word(word).ok_or_else(|| ErrorKind::UnknownType(word.into()))?;
    c.skip_blanks();
    if !c.rest().is_empty() {
        return Err(ErrorKind::Trailing(c.rest().into()));
    }
    Ok(Some((name, family)))
}

fn parse_sample(
    line: &str,
    format: Format,
    default_timestamp_ms: i64,
    families: &HashMap<String, Family>,
) -> Result<Sample, ErrorKind> {
    let mut c = Cursor::new(line);
    let mut name = if c.peek() == Some(b'{') {
        None
    } else {
        Some(c.metric_name()?.to_string())
    };
    c.skip_blanks();
    let mut labels = BTreeMap::new();
    if c.eat(b'{') {
        loop {
            c.skip_blanks();
            if c.eat(b'}') {
                break;
            }
            let (label, quoted) = if c.peek() == Some(b'"') {
                (c.quoted()?, true)
            } else {
                (c.label_name()?.to_string(), false)
            };
            c.skip_blanks();
            if quoted
                && name.is_none()
                && labels.is_empty()
                && matches!(c.peek(), Some(b',' | b'}'))
            {
                // `{"metric.name", ...}`: the name itself, quoted.
                if label.is_empty() {
                    return Err(ErrorKind::InvalidMetricName);
                }
                name = Some(label);
            } else {
                if quoted && label.is_empty() {
                    return Err(ErrorKind::InvalidLabelName);
                }
                if !c.eat(b'=') {
                    return Err(ErrorKind::Expected("'=' after a label name"));
                }
                c.skip_blanks();
                let value = c.quoted()?;
                if labels.contains_key(&label) {
                    return Err(ErrorKind::DuplicateLabel(label));
                }
                labels.insert(label, value);
                c.skip_blanks();
            }
            if c.eat(b'}') {
                break;
            }
            if !c.eat(b',') {
                return Err(ErrorKind::Expected("',' or '}' in a label set"));
            }
        }
        c.skip_blanks();
    }
    let name = name.ok_or(ErrorKind::InvalidMetricName)?;
    let value = c.token();
    if value.is_empty() {
        return Err(ErrorKind::Expected("a value"));
    }
    let value = parse_value(value)?;
    let mut timestamp_ms = default_timestamp_ms;
    if c.skip_blanks() && !c.rest().is_empty() && c.peek() != Some(b'#') {
        let ts = c.token();
        timestamp_ms = match format {
            Format::Prometheus => ts.parse::<i64>().ok(),
            Format::OpenMetrics => seconds_to_ms(ts),
        }
        .ok_or_else(|| ErrorKind::InvalidTimestamp(ts.into()))?;
        c.skip_blanks();
    }
    // Whatever follows a `#` is an exemplar, which records do not carry.
    if !c.rest().is_empty() && c.peek() != Some(b'#') {
        return Err(ErrorKind::Trailing(c.rest().into()));
    }
    let kind = kind_of(&name, families);
    Ok(Sample {
        name,
        labels,
        value,
        kind,
        timestamp_ms,
    })
}

/// A sample value: a float as Go's `strconv.ParseFloat` writes it, and
/// `NaN`, `+Inf`, `-Inf` (any case, `Inf` unsigned too).
fn parse_value(s: &str) -> Result<f64, ErrorKind> {
    // Rust's float grammar also accepts `infinity`, which no exporter
    // writes and which does no harm.
    s.parse::<f64>()
        .map_err(|_| ErrorKind::InvalidValue(s.into()))
}

/// An OpenMetrics timestamp (seconds, optional fraction) as milliseconds,
/// exact for plain decimals (fraction digits past the millisecond are
/// rounded half away from zero); exponent forms go through `f64`.
fn seconds_to_ms(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if plain(int) && plain(frac) && !(int.is_empty() && frac.is_empty()) {
        let whole: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let f = frac.as_bytes();
        let digit = |i: usize| f.get(i).map_or(0, |d| i64::from(d - b'0'));
        let mut ms = digit(0) * 100 + digit(1) * 10 + digit(2);
        if digit(3) >= 5 {
            ms += 1;
        }
        let total = whole.checked_mul(1000)?.checked_add(ms)?;
        return Some(if negative { -total } else { total });
    }
    let secs: f64 = s.parse().ok()?;
    let ms = (secs * 1000.0).round();
    // `as` saturates; reject what it would clamp.
    (ms.is_finite() && ms.abs() < 9.0e18).then_some(ms as i64)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A position in one line. Lexing works on bytes; every place it slices
/// is next to an ASCII byte, so slices are always on `char` boundaries.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Skips spaces and tabs; whether there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Everything up to the next blank or the end of the line.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn ident(&mut self, first: fn(u8) -> bool, rest: fn(u8) -> bool) -> Option<&'a str> {
        let start = self.pos;
        if !self.peek().is_some_and(first) {
            return None;
        }
        self.pos += 1;
        while self.peek().is_some_and(rest) {
            self.pos += 1;
        }
        Some(&self.s[start..self.pos])
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    fn metric_name(&mut self) -> Result<&'a str, ErrorKind> {
        self.ident(
            |b| b.is_ascii_alphabetic() || b == b'_' || b == b':',
            |b| b.is_ascii_alphanumeric() || b == b'_' || b == b':',
        )
        .ok_or(ErrorKind::InvalidMetricName)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    fn label_name(&mut self) -> Result<&'a str, ErrorKind> {
        self.ident(
            |b| b.is_ascii_alphabetic() || b == b'_',
            |b| b.is_ascii_alphanumeric() || b == b'_',
        )
        .ok_or(ErrorKind::InvalidLabelName)
    }

    /// A `"..."` string with `\\`, `\"` and `\n` unescaped; any other
    /// escaped character is kept with its backslash.
    fn quoted(&mut self) -> Result<String, ErrorKind> {
        if !self.eat(b'"') {
            return Err(ErrorKind::Expected("'\"'"));
        }
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let Some(i) = rest.find(['\\', '"']) else {
                return Err(ErrorKind::Unterminated);
            };
            out.push_str(&rest[..i]);
            self.pos += i + 1;
            if rest.as_bytes()[i] == b'"' {
                return Ok(out);
            }
            let Some(escaped) = self.rest().chars().next() else {
                return Err(ErrorKind::Unterminated);
            };
            match escaped {
                'n' => out.push('\n'),
                '\\' | '"' => out.push(escaped),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            self.pos += escaped.len_utf8();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_611_064_000;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn find<'a>(samples: &'a [Sample], name: &str, pairs: &[(&str, &str)]) -> &'a Sample {
        let want = labels(pairs);
        samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no sample {name} {want:?}"))
    }

    fn error(text: &str, format: Format) -> ParseError {
        parse(text, format, NOW).expect_err("should not parse")
    }

    /// Captured from Debian's prometheus-node-exporter 1.5.0 (Go client).
    const NODE_EXPORTER: &str = r#"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 0
go_gc_duration_seconds{quantile="0.25"} 0
go_gc_duration_seconds{quantile="0.5"} 0
go_gc_duration_seconds{quantile="0.75"} 0
go_gc_duration_seconds{quantile="1"} 0
go_gc_duration_seconds_sum 0
go_gc_duration_seconds_count 0
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 7
# HELP go_info Information about the Go environment.
# TYPE go_info gauge
go_info{version="go1.19.8"} 1
# HELP go_memstats_alloc_bytes_total Total number of bytes allocated, even if freed.
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total 851368
# HELP go_memstats_buck_hash_sys_bytes Number of bytes used by the profiling bucket hash table.
# TYPE go_memstats_buck_hash_sys_bytes gauge
go_memstats_buck_hash_sys_bytes 1.445905e+06
# HELP node_boot_time_seconds Node boot time, in unixtime.
# TYPE node_boot_time_seconds gauge
node_boot_time_seconds 1.795598557e+09
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 5057.27
node_cpu_seconds_total{cpu="0",mode="iowait"} 127.97
node_cpu_seconds_total{cpu="0",mode="irq"} 0
node_cpu_seconds_total{cpu="0",mode="nice"} 0
node_cpu_seconds_total{cpu="0",mode="softirq"} 12.97
node_cpu_seconds_total{cpu="0",mode="steal"} 8.76
node_cpu_seconds_total{cpu="0",mode="system"} 1035.33
node_cpu_seconds_total{cpu="0",mode="user"} 6169.6
# HELP node_disk_read_bytes_total The total number of bytes read successfully.
# TYPE node_disk_read_bytes_total counter
node_disk_read_bytes_total{device="vda"} 4.3631391744e+10
node_disk_read_bytes_total{device="zram0"} 0
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 5.4614171648e+10
# HELP node_netstat_Icmp6_InErrors Statistic Icmp6InErrors.
# TYPE node_netstat_Icmp6_InErrors untyped
node_netstat_Icmp6_InErrors 1
# HELP node_network_receive_bytes_total Network device statistic receive_bytes.
# TYPE node_network_receive_bytes_total counter
node_network_receive_bytes_total{device="eth0"} 2.8214373e+08
node_network_receive_bytes_total{device="ifb0"} 0
# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.
# TYPE node_scrape_collector_success gauge
node_scrape_collector_success{collector="arp"} 1
node_scrape_collector_success{collector="bonding"} 0
# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 0
promhttp_metric_handler_requests_total{code="500"} 0
"#;

    #[test]
    fn parses_node_exporter_output() {
        let s = parse(NODE_EXPORTER, Format::Prometheus, NOW).unwrap();
        assert_eq!(s.len(), 30);
        assert!(s.iter().all(|s| s.timestamp_ms == NOW));

        let q = find(&s, "go_gc_duration_seconds", &[("quantile", "0.25")]);
        assert_eq!((q.kind, q.value), (Kind::Summary, 0.0));
        assert_eq!(
            find(&s, "go_gc_duration_seconds_sum", &[]).kind,
            Kind::Summary
        );
        assert_eq!(
            find(&s, "go_gc_duration_seconds_count", &[]).kind,
            Kind::Summary
        );
        assert_eq!(find(&s, "go_goroutines", &[]).kind, Kind::Gauge);
        assert_eq!(find(&s, "go_info", &[("version", "go1.19.8")]).value, 1.0);

        let alloc = find(&s, "go_memstats_alloc_bytes_total", &[]);
        assert_eq!((alloc.kind, alloc.value), (Kind::Counter, 851368.0));
        assert_eq!(
            find(&s, "go_memstats_buck_hash_sys_bytes", &[]).value,
            1_445_905.0
        );
        assert_eq!(
            find(&s, "node_boot_time_seconds", &[]).value,
            1_795_598_557.0
        );

        let cpu = find(
            &s,
            "node_cpu_seconds_total",
            &[("cpu", "0"), ("mode", "user")],
        );
        assert_eq!((cpu.kind, cpu.value), (Kind::Counter, 6169.6));
        let disk = find(&s, "node_disk_read_bytes_total", &[("device", "vda")]);
        assert_eq!(disk.value, 43_631_391_744.0);
        let fs = find(
            &s,
            "node_filesystem_avail_bytes",
            &[
                ("device", "/dev/vda"),
                ("fstype", "ext4"),
                ("mountpoint", "/"),
            ],
        );
        assert_eq!((fs.kind, fs.value), (Kind::Gauge, 54_614_171_648.0));
        assert_eq!(
            find(&s, "node_netstat_Icmp6_InErrors", &[]).kind,
            Kind::Untyped
        );
        assert_eq!(
            find(
                &s,
                "promhttp_metric_handler_requests_total",
                &[("code", "500")]
            )
            .kind,
            Kind::Counter
        );
    }

    /// Captured from Prometheus 2.42's own /metrics (Go client): a
    /// summary with NaN quantiles and a histogram.
    const PROMETHEUS_SERVER: &str = r#"# HELP prometheus_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.
# TYPE prometheus_build_info gauge
prometheus_build_info{branch="debian/sid",goarch="amd64",goos="linux",goversion="go1.19.8",revision="2.42.0+ds-5+deb12u1",version="2.42.0+ds"} 1
# HELP prometheus_engine_query_duration_seconds Query timings
# TYPE prometheus_engine_query_duration_seconds summary
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.5"} NaN
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.9"} NaN
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.99"} NaN
prometheus_engine_query_duration_seconds_sum{slice="inner_eval"} 0
prometheus_engine_query_duration_seconds_count{slice="inner_eval"} 0
# HELP prometheus_tsdb_compaction_chunk_range_seconds Final time range of chunks on their first compaction
# TYPE prometheus_tsdb_compaction_chunk_range_seconds histogram
prometheus_tsdb_compaction_chunk_range_seconds_bucket{le="100"} 0
prometheus_tsdb_compaction_chunk_range_seconds_bucket{le="400"} 0
prometheus_tsdb_compaction_chunk_range_seconds_bucket{le="1600"} 3
prometheus_tsdb_compaction_chunk_range_seconds_bucket{le="1.6384e+06"} 7
prometheus_tsdb_compaction_chunk_range_seconds_bucket{le="+Inf"} 9
prometheus_tsdb_compaction_chunk_range_seconds_sum 2.5e+06
prometheus_tsdb_compaction_chunk_range_seconds_count 9
"#;

    #[test]
    fn parses_go_client_histogram_and_summary() {
        let s = parse(PROMETHEUS_SERVER, Format::Prometheus, NOW).unwrap();
        assert_eq!(s.len(), 13);
        let build = &s[0];
        assert_eq!(build.labels["revision"], "2.42.0+ds-5+deb12u1");
        assert_eq!(build.labels.len(), 6);

        let q = find(
            &s,
            "prometheus_engine_query_duration_seconds",
            &[("slice", "inner_eval"), ("quantile", "0.99")],
        );
        assert_eq!(q.kind, Kind::Summary);
        assert!(q.value.is_nan());

        let b = find(
            &s,
            "prometheus_tsdb_compaction_chunk_range_seconds_bucket",
            &[("le", "+Inf")],
        );
        assert_eq!((b.kind, b.value), (Kind::Histogram, 9.0));
        let b = find(
            &s,
            "prometheus_tsdb_compaction_chunk_range_seconds_bucket",
            &[("le", "1.6384e+06")],
        );
        assert_eq!(b.value, 7.0);
        let sum = find(
            &s,
            "prometheus_tsdb_compaction_chunk_range_seconds_sum",
            &[],
        );
        assert_eq!((sum.kind, sum.value), (Kind::Histogram, 2.5e6));
        let count = find(
            &s,
            "prometheus_tsdb_compaction_chunk_range_seconds_count",
            &[],
        );
        assert_eq!(count.kind, Kind::Histogram);
    }

    /// Captured from the Python client's OpenMetrics exposition: counter
    /// `_total`/`_created`, a gauge with a UNIT, an exemplar, info and
    /// stateset families, label escapes.
    const PYTHON_OPENMETRICS: &str = r#"# HELP http_requests HTTP requests.
# TYPE http_requests counter
http_requests_total{method="GET",path="/a\"b\\c\nd"} 3.0
http_requests_created{method="GET",path="/a\"b\\c\nd"} 1.7956110646941383e+09
# HELP queue_depth_bytes Queue depth.
# TYPE queue_depth_bytes gauge
# UNIT queue_depth_bytes bytes
queue_depth_bytes NaN
# HELP request_duration_seconds Request latency.
# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{le="0.1",route="/x"} 1.0 # {trace_id="abc123"} 0.05 1795611064.6942246
request_duration_seconds_bucket{le="0.5",route="/x"} 1.0
request_duration_seconds_bucket{le="1.0",route="/x"} 2.0
request_duration_seconds_bucket{le="+Inf",route="/x"} 2.0
request_duration_seconds_count{route="/x"} 2.0
request_duration_seconds_sum{route="/x"} 0.75
request_duration_seconds_created{route="/x"} 1.7956110646941955e+09
# HELP payload_bytes Payload size.
# TYPE payload_bytes summary
payload_bytes_count 1.0
payload_bytes_sum 512.0
payload_bytes_created 1.7956110646942391e+09
# HELP build Build info.
# TYPE build info
build_info{commit="deadbeef",version="1.2.3"} 1.0
# HELP task_state Task state.
# TYPE task_state stateset
task_state{task_state="starting"} 0.0
task_state{task_state="running"} 1.0
task_state{task_state="stopped"} 0.0
# EOF
"#;

    #[test]
    fn parses_openmetrics_output() {
        let s = parse(PYTHON_OPENMETRICS, Format::OpenMetrics, NOW).unwrap();
        assert_eq!(s.len(), 17);
        let path = "/a\"b\\c\nd";
        let c = find(
            &s,
            "http_requests_total",
            &[("method", "GET"), ("path", path)],
        );
        assert_eq!((c.kind, c.value), (Kind::Counter, 3.0));
        let created = find(
            &s,
            "http_requests_created",
            &[("method", "GET"), ("path", path)],
        );
        assert_eq!(created.kind, Kind::Counter);
        let q = find(&s, "queue_depth_bytes", &[]);
        assert!(q.kind == Kind::Gauge && q.value.is_nan());
        let b = find(
            &s,
            "request_duration_seconds_bucket",
            &[("le", "0.1"), ("route", "/x")],
        );
        assert_eq!(
            (b.kind, b.value, b.timestamp_ms),
            (Kind::Histogram, 1.0, NOW)
        );
        assert_eq!(
            find(&s, "request_duration_seconds_created", &[("route", "/x")]).kind,
            Kind::Histogram
        );
        assert_eq!(find(&s, "payload_bytes_sum", &[]).kind, Kind::Summary);
        assert_eq!(find(&s, "payload_bytes_created", &[]).kind, Kind::Summary);
        let info = find(
            &s,
            "build_info",
            &[("commit", "deadbeef"), ("version", "1.2.3")],
        );
        assert_eq!((info.kind, info.value), (Kind::Gauge, 1.0));
        let state = find(&s, "task_state", &[("task_state", "running")]);
        assert_eq!((state.kind, state.value), (Kind::Gauge, 1.0));
    }

    #[test]
    fn parses_the_prometheus_crate_output_logship_serves() {
        use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
        let r = Registry::new();
        let c = IntCounterVec::new(
            Opts::new("logship_x_total", "Help with \\ and\nnewline."),
            &["path"],
        )
        .unwrap();
        let h = HistogramVec::new(
            HistogramOpts::new("logship_x_seconds", "A histogram.").buckets(vec![0.005, 0.5]),
            &["api"],
        )
        .unwrap();
        r.register(Box::new(c.clone())).unwrap();
        r.register(Box::new(h.clone())).unwrap();
        c.with_label_values(&["C:\\logs\\\"a\"\nb"]).inc_by(5);
        h.with_label_values(&["Fetch"]).observe(0.25);
        let mut text = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&r.gather(), &mut text)
            .unwrap();
        let s = parse(std::str::from_utf8(&text).unwrap(), Format::Prometheus, NOW).unwrap();
        let c = find(&s, "logship_x_total", &[("path", "C:\\logs\\\"a\"\nb")]);
        assert_eq!((c.kind, c.value), (Kind::Counter, 5.0));
        let b = find(
            &s,
            "logship_x_seconds_bucket",
            &[("api", "Fetch"), ("le", "0.5")],
        );
        assert_eq!((b.kind, b.value), (Kind::Histogram, 1.0));
        let b = find(
            &s,
            "logship_x_seconds_bucket",
            &[("api", "Fetch"), ("le", "+Inf")],
        );
        assert_eq!(b.value, 1.0);
        assert_eq!(
            find(&s, "logship_x_seconds_sum", &[("api", "Fetch")]).value,
            0.25
        );

        // The real pages of both roles parse, histograms typed as such.
        for page in [
            logship_collector::metrics::Metrics::new().render(),
            crate::metrics::Metrics::new().render(),
        ] {
            let s = parse(&page, Format::Prometheus, NOW).unwrap();
            assert!(!s.is_empty());
            for sample in s.iter().filter(|s| s.name.ends_with("_bucket")) {
                assert_eq!(sample.kind, Kind::Histogram, "{}", sample.name);
            }
        }
    }

    #[test]
    fn timestamps_by_format() {
        let s = parse("a 1 1700000000123\n", Format::Prometheus, NOW).unwrap();
        assert_eq!(s[0].timestamp_ms, 1_700_000_000_123);
        let s = parse("a -5 -42\n", Format::Prometheus, NOW).unwrap();
        assert_eq!((s[0].value, s[0].timestamp_ms), (-5.0, -42));
        let text = "a 1 1520879607.789\nb 1 1520879607\nc 1 1.5e9\nd 1 0.0005\ne 1 -1.25\n# EOF\n";
        let s = parse(text, Format::OpenMetrics, NOW).unwrap();
        let ts: Vec<i64> = s.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(
            ts,
            [
                1_520_879_607_789,
                1_520_879_607_000,
                1_500_000_000_000,
                1,
                -1250
            ]
        );
        // Milliseconds are not seconds: a fraction is an error in 0.0.4.
        assert_eq!(
            error("a 1 1.5\n", Format::Prometheus),
            ParseError {
                line: 1,
                kind: ErrorKind::InvalidTimestamp("1.5".into())
            }
        );
    }

    #[test]
    fn values_and_tolerated_forms() {
        let text = "# a free comment\n\n  a{x=\"1\",} +Inf\r\nb { y = \"2\" , z=\"3\" } -Inf\nc\t1e-3\t7\nd{} NaN # exemplar-like tail\ne{x=\"\\t\"} 1\n";
        let s = parse(text, Format::Prometheus, NOW).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].value, f64::INFINITY);
        assert_eq!(s[0].labels, labels(&[("x", "1")]));
        assert_eq!(s[1].value, f64::NEG_INFINITY);
        assert_eq!(s[1].labels, labels(&[("y", "2"), ("z", "3")]));
        assert_eq!((s[2].value, s[2].timestamp_ms), (0.001, 7));
        assert!(s[3].value.is_nan() && s[3].labels.is_empty());
        // An unknown escape is kept verbatim.
        assert_eq!(s[4].labels["x"], "\\t");
    }

    #[test]
    fn quoted_utf8_names() {
        let text = "# TYPE \"my.count\" counter\n{\"my.count\",\"label.x\"=\"v\",y=\"w\"} 2\n";
        let s = parse(text, Format::Prometheus, NOW).unwrap();
        assert_eq!(s[0].name, "my.count");
        assert_eq!(s[0].kind, Kind::Counter);
        assert_eq!(s[0].labels, labels(&[("label.x", "v"), ("y", "w")]));
    }

    #[test]
    fn types_resolve_by_family() {
        let text = "\
# TYPE h histogram
# TYPE h_count gauge
# TYPE g gauge
# TYPE c_total counter
# TYPE om counter
# TYPE gh gaugehistogram
# TYPE u untyped
h_bucket{le=\"1\"} 1
h_count 5
g_sum 1
c_total 2
om_total 3
om_created 4
gh_gsum 1
gh_bucket{le=\"+Inf\"} 1
u 1
free 1
# TYPE later gauge
later 1
";
        let s = parse(text, Format::Prometheus, NOW).unwrap();
        let kinds: Vec<(&str, Kind)> = s.iter().map(|s| (s.name.as_str(), s.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("h_bucket", Kind::Histogram),
                // Its own TYPE line wins over being h's `_count`.
                ("h_count", Kind::Gauge),
                // A gauge has no `_sum` series.
                ("g_sum", Kind::Untyped),
                ("c_total", Kind::Counter),
                ("om_total", Kind::Counter),
                ("om_created", Kind::Counter),
                ("gh_gsum", Kind::Histogram),
                ("gh_bucket", Kind::Histogram),
                ("u", Kind::Untyped),
                ("free", Kind::Untyped),
                ("later", Kind::Gauge),
            ]
        );
    }

    #[test]
    fn malformed_lines_fail_with_their_line_number() {
        let cases: &[(&str, ErrorKind)] = &[
            ("ok 1\n1bad 2\n", ErrorKind::InvalidMetricName),
            ("ok 1\nname\n", ErrorKind::Expected("a value")),
            ("ok 1\nname one\n", ErrorKind::InvalidValue("one".into())),
            (
                "ok 1\nname{a=\"1\"\n",
                ErrorKind::Expected("',' or '}' in a label set"),
            ),
            ("ok 1\nname{a=\"1} 2\n", ErrorKind::Unterminated),
            ("ok 1\nname{a=1} 2\n", ErrorKind::Expected("'\"'")),
            (
                "ok 1\nname{a \"1\"} 2\n",
                ErrorKind::Expected("'=' after a label name"),
            ),
            ("ok 1\nname{1a=\"1\"} 2\n", ErrorKind::InvalidLabelName),
            (
                "ok 1\nname{a=\"1\",a=\"2\"} 2\n",
                ErrorKind::DuplicateLabel("a".into()),
            ),
            ("ok 1\nname 1 2 3\n", ErrorKind::Trailing("3".into())),
            ("ok 1\nname 1 x\n", ErrorKind::InvalidTimestamp("x".into())),
            (
                "ok 1\n# TYPE name countr\n",
                ErrorKind::UnknownType("countr".into()),
            ),
            (
                "ok 1\n# TYPE name\n",
                ErrorKind::Expected("a type after the metric name"),
            ),
            ("ok 1\n{} 1\n", ErrorKind::InvalidMetricName),
        ];
        for (text, kind) in cases {
            let e = error(text, Format::Prometheus);
            assert_eq!(
                e,
                ParseError {
                    line: 2,
                    kind: kind.clone()
                },
                "{text:?}"
            );
        }
        assert_eq!(
            error("ok 1\n1bad 2\n", Format::Prometheus).to_string(),
            "line 2: invalid metric name"
        );
    }

    #[test]
    fn openmetrics_needs_eof_last() {
        assert_eq!(
            error("a 1\nb 2\n", Format::OpenMetrics),
            ParseError {
                line: 2,
                kind: ErrorKind::MissingEof
            }
        );
        assert_eq!(
            error("a 1\n# EOF\nb 2\n", Format::OpenMetrics),
            ParseError {
                line: 3,
                kind: ErrorKind::AfterEof
            }
        );
        assert!(parse("# EOF", Format::OpenMetrics, NOW).unwrap().is_empty());
        assert!(parse("a 1\n# EOF\n\n", Format::OpenMetrics, NOW).is_ok());
        // In the Prometheus format `# EOF` is a comment like any other.
        assert_eq!(
            parse("# EOF\na 1\n", Format::Prometheus, NOW)
                .unwrap()
                .len(),
            1
        );
        assert!(parse("", Format::Prometheus, NOW).unwrap().is_empty());
    }

    #[test]
    fn content_type_picks_the_format() {
        for (ct, f) in [
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Format::OpenMetrics,
            ),
            ("Application/OpenMetrics-Text", Format::OpenMetrics),
            (
                "text/plain; version=0.0.4; charset=utf-8",
                Format::Prometheus,
            ),
            ("text/plain", Format::Prometheus),
            ("", Format::Prometheus),
        ] {
            assert_eq!(format_from_content_type(ct), f, "{ct}");
        }
        assert!(!ACCEPT.contains(' ') && ACCEPT.starts_with("application/openmetrics-text"));
    }

    // Round trip: random families rendered in either format parse back to
    // the samples they were rendered from.

    #[derive(Debug, Clone)]
    struct Series {
        labels: BTreeMap<String, String>,
        value: f64,
        timestamp_ms: Option<i64>,
        /// Which series of a histogram/summary family (bucket/quantile, sum, count).
        part: usize,
        quoted_name: bool,
        trailing_comma: bool,
        exponent: bool,
        exemplar: bool,
    }

    fn family_strategy() -> impl Strategy<Value = (String, Kind, Vec<Series>)> {
        let label_value = prop_oneof!["(?s).{0,12}", "[\\\\\"\\n a{},=#]{0,8}",];
        let value = prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            -1e6..1e6f64,
            (0u32..1000).prop_map(f64::from),
        ];
        let series = (
            prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", label_value, 0..4),
            value,
            prop::option::of(-10_000_000_000_000i64..10_000_000_000_000),
            0usize..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(
                    labels,
                    value,
                    timestamp_ms,
                    part,
                    quoted_name,
                    trailing_comma,
                    exponent,
                    exemplar,
                )| Series {
                    labels,
                    value,
                    timestamp_ms,
                    part,
                    quoted_name,
                    trailing_comma,
                    exponent,
                    exemplar,
                },
            );
        let kind = prop_oneof![
            Just(Kind::Counter),
            Just(Kind::Gauge),
            Just(Kind::Histogram),
            Just(Kind::Summary),
            Just(Kind::Untyped),
        ];
        (
            "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
            kind,
            prop::collection::vec(series, 1..5),
        )
    }

    fn render_value(v: f64, exponent: bool) -> String {
        if v.is_nan() {
            "NaN".into()
        } else if v == f64::INFINITY {
            "+Inf".into()
        } else if v == f64::NEG_INFINITY {
            "-Inf".into()
        } else if exponent {
            format!("{v:e}")
        } else {
            format!("{v}")
        }
    }

    /// Renders the families and returns the text with the samples it holds.
    fn render(families: &[(String, Kind, Vec<Series>)], format: Format) -> (String, Vec<Sample>) {
        let mut text = String::new();
        let mut expected = Vec::new();
        for (i, (base, kind, series)) in families.iter().enumerate() {
            // Unique per family, and never ending in a type suffix.
            let base = format!("{base}_f{i}");
            let type_word = match (kind, format) {
                (Kind::Untyped, Format::OpenMetrics) => "unknown",
                (k, _) => k.as_str(),
            };
            text.push_str(&format!(
                "# HELP {base} Help \\\\ text.\n# TYPE {base} {type_word}\n"
            ));
            for s in series {
                let mut labels = s.labels.clone();
                let name = match (kind, s.part) {
                    (Kind::Counter, _) if format == Format::OpenMetrics => format!("{base}_total"),
                    (Kind::Histogram, 0) => {
                        labels.insert("le".into(), "0.25".into());
                        format!("{base}_bucket")
                    }
                    (Kind::Summary, 0) => {
                        labels.insert("quantile".into(), "0.99".into());
                        base.clone()
                    }
                    (Kind::Histogram | Kind::Summary, 1) => format!("{base}_sum"),
                    (Kind::Histogram | Kind::Summary, _) => format!("{base}_count"),
                    _ => base.clone(),
                };
                let mut pairs = Vec::new();
                if s.quoted_name {
                    pairs.push(format!("\"{name}\""));
                } else {
                    text.push_str(&name);
                }
                for (k, v) in &labels {
                    let mut escaped = String::new();
                    crate::source::metrics::sample::escape_label_value(&mut escaped, v);
                    pairs.push(format!("{k}=\"{escaped}\""));
                }
                if !pairs.is_empty() {
                    text.push('{');
                    text.push_str(&pairs.join(","));
                    if s.trailing_comma {
                        text.push(',');
                    }
                    text.push('}');
                }
                text.push(' ');
                text.push_str(&render_value(s.value, s.exponent));
                if let Some(ms) = s.timestamp_ms {
                    match format {
                        Format::Prometheus => text.push_str(&format!(" {ms}")),
                        Format::OpenMetrics => {
                            let sign = if ms < 0 { "-" } else { "" };
                            let a = ms.unsigned_abs();
                            text.push_str(&format!(" {sign}{}.{:03}", a / 1000, a % 1000));
                        }
                    }
                }
                if s.exemplar && format == Format::OpenMetrics {
                    text.push_str(" # {trace_id=\"a}b\"} 1.5 12.5");
                }
                text.push('\n');
                expected.push(Sample {
                    name,
                    labels,
                    value: s.value,
                    kind: *kind,
                    timestamp_ms: s.timestamp_ms.unwrap_or(NOW),
                });
            }
        }
        if format == Format::OpenMetrics {
            text.push_str("# EOF\n");
        }
        (text, expected)
    }

    fn same(a: &Sample, b: &Sample) -> bool {
        let value = a.value == b.value || (a.value.is_nan() && b.value.is_nan());
        value
            && a.name == b.name
            && a.labels == b.labels
            && a.kind == b.kind
            && a.timestamp_ms == b.timestamp_ms
    }

    proptest! {
        #[test]
        fn rendered_samples_parse_back(
            families in prop::collection::vec(family_strategy(), 0..6),
            om in any::<bool>(),
        ) {
            let format = if om { Format::OpenMetrics } else { Format::Prometheus };
            let (text, expected) = render(&families, format);
            let parsed = parse(&text, format, NOW).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(parsed.len(), expected.len(), "{}", text);
            for (p, e) in parsed.iter().zip(&expected) {
                prop_assert!(same(p, e), "parsed {:?}\nexpected {:?}\n{}", p, e, text);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,200}", om in any::<bool>()) {
            let format = if om { Format::OpenMetrics } else { Format::Prometheus };
            let _ = parse(&text, format, NOW);
        }
    }
}
