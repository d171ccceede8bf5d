//! Limits that hold under abuse: Kafka clients that trickle a request or
//! sit idle are closed after the configured timeouts while others keep
//! working, `max_connections_per_ip` refuses the excess, and 32 parallel
//! gzip bombs on HTTP ingest keep the collector's peak memory within its
//! `max_inflight_bytes` budget while a normal ingest still succeeds.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tls::{api_versions, closed_within};
use crate::util::*;

fn start_with(dir: &Path, yaml: &str) -> Running {
    let config = dir.join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n{yaml}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    start_logship(&config)
}

fn metrics(http: SocketAddr) -> String {
    http_get(http, "/metrics").1
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn slow_and_idle_kafka_clients_are_closed_while_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let c = start_with(
        dir.path(),
        "  kafka:\n    listen: 127.0.0.1:0\n    request_read_timeout: 1s\n    connections_max_idle: 2s\n",
    );
    let started = Instant::now();
    // Slowloris: a length prefix, then one byte every 200 ms.
    let mut trickler = connect(c.kafka);
    trickler.write_all(&40i32.to_be_bytes()).unwrap();
    let mut writer = trickler.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..50 {
            if writer.write_all(&[0]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let mut idle = connect(c.kafka);
    // A client that keeps asking stays connected past both timeouts.
    let mut busy = connect(c.kafka);

    assert!(closed_within(&mut trickler, Duration::from_secs(3)));
    let trickled_for = started.elapsed();
    assert!(
        trickled_for >= Duration::from_millis(900) && trickled_for < Duration::from_secs(3),
        "trickling client closed after {trickled_for:?}"
    );
    for id in 0..12 {
        api_versions(&mut busy, id);
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(closed_within(&mut idle, Duration::from_secs(3)));
    let idle_for = started.elapsed();
    assert!(
        idle_for >= Duration::from_millis(1900) && idle_for < Duration::from_secs(6),
        "idle client closed after {idle_for:?}"
    );
    api_versions(&mut busy, 99);
    trickle.join().unwrap();

    let page = metrics(c.http);
    let series = |reason: &str| {
        metric(&page, &format!("logship_collector_kafka_connection_timeouts_total{{listener=\"plaintext\",reason=\"{reason}\"}}"))
    };
    assert_eq!(series("request_read"), Some(1.0), "{page}");
    assert_eq!(series("idle"), Some(1.0), "{page}");
    assert_eq!(
        metric(
            &page,
            r#"logship_collector_kafka_listener_connections{listener="plaintext"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn max_connections_per_ip_refuses_the_excess() {
    let dir = tempfile::tempdir().unwrap();
    let c = start_with(
        dir.path(),
        "  kafka:\n    listen: 127.0.0.1:0\n    max_connections_per_ip: 3\n",
    );
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(c.kafka)).collect();
    for (i, s) in open.iter_mut().enumerate() {
        api_versions(s, i as i32);
    }
    let mut excess = connect(c.kafka);
    assert!(closed_within(&mut excess, Duration::from_secs(5)));
    let page = metrics(c.http);
    assert_eq!(
        metric(
            &page,
            r#"logship_collector_kafka_connections_refused_total{listener="plaintext",reason="max_connections_per_ip"}"#
        ),
        Some(1.0),
        "{page}"
    );
    // The three keep working; closing one frees its slot.
    api_versions(&mut open[2], 10);
    drop(open.pop());
    wait_for("the slot to be freed", Duration::from_secs(5), || {
        metric(
            &metrics(c.http),
            r#"logship_collector_kafka_listener_connections{listener="plaintext"}"#,
        ) == Some(2.0)
    });
    let mut again = connect(c.kafka);
    api_versions(&mut again, 11);
}

/// Peak resident memory of `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn parallel_gzip_bombs_stay_within_the_memory_budget() {
    const MIB: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    // Each bomb may decompress up to 16 MiB before 413; 32 of them would
    // hold 512 MiB and more without the 64 MiB budget.
    let c = start_with(
        dir.path(),
        "    max_body_bytes: 16MiB\n    max_inflight_bytes: 64MiB\n  kafka:\n    listen: 127.0.0.1:0\n",
    );
    // About 100 MB of NDJSON in about 100 KB of gzip (made by gzip(1): the
    // test binary's unoptimized deflate would take seconds).
    let bomb = dir.path().join("bomb.gz");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "yes '{{\"a\":1}}' | head -c 100000000 | gzip -9 > '{}'",
            bomb.display()
        ))
        .status()
        .unwrap();
    assert!(made.success());
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let url = |topic: &str| format!("http://{}/v1/topics/{topic}/records", c.http);
    let post = |topic: &str, body: &[&str]| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "60",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(["-H", "Content-Type: application/x-ndjson"])
            .args(body)
            .arg(url(topic))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u16>()
            .unwrap_or(0)
    };
    let baseline = peak_rss(c.child.id());
    let bomb_arg = format!("@{}", bomb.display());
    let codes: Vec<u16> = std::thread::scope(|s| {
        let bombs: Vec<_> = (0..32)
            .map(|_| {
                s.spawn(|| {
                    post(
                        "bombed",
                        &["-H", "Content-Encoding: gzip", "--data-binary", &bomb_arg],
                    )
                })
            })
            .collect();
        // A normal client meanwhile: it may be told to wait (503) and
        // retries, as the agent does, but gets through.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let code = post("normal", &["--data-binary", "{\"ok\":true}\n"]);
            if code == 200 {
                break;
            }
            assert_eq!(code, 503, "normal ingest answered {code}");
            assert!(Instant::now() < deadline, "normal ingest never succeeded");
            std::thread::sleep(Duration::from_millis(100));
        }
        bombs.into_iter().map(|b| b.join().unwrap()).collect()
    });
    for code in &codes {
        assert!(
            [413, 503].contains(code),
            "a bomb was answered {code}: {codes:?}"
        );
    }
    let peak = peak_rss(c.child.id());
    eprintln!(
        "gzip bombs: baseline VmHWM {} MiB, after {} MiB, answers {codes:?}",
        baseline / MIB,
        peak / MIB
    );
    assert!(
        peak < baseline + 160 * MIB,
        "peak memory {} MiB (baseline {} MiB): the 64 MiB budget did not hold",
        peak / MIB,
        baseline / MIB
    );
    let page = metrics(c.http);
    assert_eq!(
        metric(&page, "logship_collector_http_inflight_bytes"),
        Some(0.0)
    );
    assert_eq!(
        post("normal", &["--data-binary", "{\"after\":true}\n"]),
        200
    );
}
