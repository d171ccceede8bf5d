//! The systemd integration: the unit files pass `systemd-analyze verify`,
//! and the real binary speaks the notify protocol (READY=1 once serving,
//! WATCHDOG=1 pings at half the watchdog period, STOPPING=1 on SIGTERM).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn unit_files_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    for name in ["logship-collector.service", "logship-agent.service"] {
        let text = std::fs::read_to_string(units.join(name)).unwrap();
        assert!(text.contains("Type=notify") && text.contains("WatchdogSec="));
        // verify wants ExecStart's binary to exist: point it at the one
        // built here.
        let local = dir.path().join(name);
        std::fs::write(&local, text.replace("/usr/bin/logship", LOGSHIP)).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&local)
            .output()
            .expect("systemd-analyze (bash .ci/setup installs it)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Only complaints about this unit count (the host's own units may
        // have unrelated warnings).
        let ours: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert!(out.status.success() && ours.is_empty(), "{name}: {stderr}");
    }
}

#[test]
fn notify_protocol_ready_watchdog_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config = collector_config(dir.path(), &dir.path().join("data"));
    let mut child = Command::new(LOGSHIP)
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let recv = || {
        let mut buf = [0; 256];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(recv(), "READY=1");
    // Pings every 200 ms.
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(recv(), "WATCHDOG=1");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?} for 3 pings");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    loop {
        let m = recv();
        if m == "STOPPING=1" {
            break;
        }
        assert_eq!(m, "WATCHDOG=1");
    }
    assert!(wait_timeout(&mut child, Duration::from_secs(20)).success());
}
