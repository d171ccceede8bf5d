//! The README's "Deploying across servers", run as written: its shell blocks,
//! taken from the README at test time, run with bash on two simulated hosts,
//! the collector on 127.0.0.2 and the agent on 127.0.0.3 (Linux routes all
//! of 127/8 to loopback, so any process may bind those addresses). Each host
//! is a home directory of its own; `scp HOST:PATH` between them is a shim
//! that copies from HOST's home. The lines the README writes to the agent's
//! log file must come back, exactly once, from the README's kcat command
//! over `sasl_ssl` with SCRAM-SHA-512, and the collector's HTTPS
//! connections must all come from the agent's address (its
//! `local_address`), as the kernel's socket table shows.
//!
//! Blocks are marked with an HTML comment on the line before their fence:
//! `<!-- walkthrough:ROLE[:background] -->`, ROLE being `both` (the
//! variables, prepended to every block, then the test's own values),
//! `collector`, `agent` (the host it runs on) or `reader` (the consumer, run
//! on the collector host until it has read every line); `background` blocks
//! are long-running and are started, awaited until ready and killed at the
//! end.

use crate::util::{run_bounded, spawn_logged, LOGSHIP};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const COLLECTOR_IP: &str = "127.0.0.2";
const AGENT_IP: &str = "127.0.0.3";
/// Longest one (foreground) block or one wait may take; generous for a
/// debug build on a loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Both,
    Collector,
    Agent,
    Reader,
}

#[derive(Debug)]
struct Block {
    role: Role,
    background: bool,
    script: String,
}

/// The marked `sh` blocks between `<!-- walkthrough:begin -->` and
/// `<!-- walkthrough:end -->`, in order. An unmarked `sh` block there fails
/// the test: every command the reader is shown must be run.
fn walkthrough_blocks(readme: &str) -> Vec<Block> {
    let start = readme
        .find("<!-- walkthrough:begin -->")
        .expect("README has <!-- walkthrough:begin -->");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("README has <!-- walkthrough:end -->");
    let mut blocks = Vec::new();
    let mut marker: Option<(Role, bool)> = None;
    let mut lines = readme[start..end].lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(spec) = line
            .strip_prefix("<!-- walkthrough:")
            .and_then(|s| s.strip_suffix(" -->"))
        {
            if spec == "begin" {
                continue;
            }
            let (role, rest) = spec.split_once(':').unwrap_or((spec, ""));
            let role = match role {
                "both" => Role::Both,
                "collector" => Role::Collector,
                "agent" => Role::Agent,
                "reader" => Role::Reader,
                other => panic!("unknown walkthrough role {other:?}"),
            };
            assert!(
                rest.is_empty() || rest == "background",
                "unknown walkthrough flag {rest:?}"
            );
            marker = Some((role, rest == "background"));
        } else if line.starts_with("```") {
            let mut script = String::new();
            for body in lines.by_ref() {
                if body.trim_start().starts_with("```") {
                    break;
                }
                script.push_str(body);
                script.push('\n');
            }
            if line == "```sh" {
                let (role, background) = marker
                    .take()
                    .unwrap_or_else(|| panic!("unmarked sh block in the walkthrough:\n{script}"));
                blocks.push(Block {
                    role,
                    background,
                    script,
                });
            }
            marker = None;
        } else if !line.is_empty() {
            // A marker belongs to the fence right after it.
            marker = None;
        }
    }
    blocks
}

/// A background block: bash and what it started, in a process group of
/// their own so that everything is killed however the test ends.
struct Background {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Drop for Background {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Background {
    /// Waits for a log line containing `ready`; returns the lines up to it.
    fn wait_for(&mut self, ready: &str) -> Vec<String> {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("background block exited ({status}) before {ready:?}");
            }
            assert!(Instant::now() < deadline, "no {ready:?} in {LIMIT:?}");
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
                let done = line.contains(ready);
                seen.push(line);
                if done {
                    return seen;
                }
            }
        }
    }
}

struct Hosts {
    root: PathBuf,
    path: String,
    overrides: String,
    variables: String,
}

impl Hosts {
    fn home(&self, ip: &str) -> PathBuf {
        self.root.join(ip)
    }

    /// bash running `block` on the host at `ip`, in `~/logship` once the
    /// walkthrough has made it (where the README says to run commands).
    fn command(&self, ip: &str, block: &Block) -> Command {
        let home = self.home(ip);
        let workdir = home.join("logship");
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{}\n{}\n{}",
                self.variables, self.overrides, block.script
            ))
            .env("HOME", &home)
            .env("PATH", &self.path)
            .env("WALKTHROUGH_ROOT", &self.root)
            .current_dir(if workdir.is_dir() { workdir } else { home });
        command
    }

    fn run(&self, ip: &str, block: &Block) -> String {
        let out = run_bounded(self.command(ip, block), "walkthrough block", "", LIMIT);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "walkthrough block on {ip} failed ({}):\n{}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            block.script,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs the reader block on the collector host as a user would: again
    /// until the agent has shipped every line written to its log file so
    /// far (kcat -e stops at the end of what is there); then each line must
    /// have been read exactly once, in order.
    fn read_back(&self, block: &Block) {
        let written = std::fs::read_to_string(self.home(AGENT_IP).join("logship/logs/app.log"))
            .expect("the walkthrough writes ~/logship/logs/app.log on the agent host");
        let written: Vec<&str> = written.lines().collect();
        assert!(!written.is_empty(), "the walkthrough wrote no log lines");
        let deadline = Instant::now() + LIMIT;
        let read = loop {
            let out = run_bounded(
                self.command(COLLECTOR_IP, block),
                "walkthrough reader",
                "",
                LIMIT,
            );
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && written.iter().all(|w| stdout.lines().any(|l| l == *w)) {
                break stdout;
            }
            assert!(
                Instant::now() < deadline,
                "the reader did not read every line in {LIMIT:?} ({}):\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        };
        let read: Vec<&str> = read.lines().collect();
        assert_eq!(read, written, "read back exactly once, in order");
    }

    fn spawn(&self, ip: &str, block: &Block, tag: &'static str) -> Background {
        use std::os::unix::process::CommandExt;
        let mut command = self.command(ip, block);
        command.process_group(0);
        let (child, log) = spawn_logged(command, tag);
        Background { child, log }
    }
}

/// `scp [HOST:]PATH... DEST` between the simulated hosts: a relative remote
/// path is under HOST's home, as with ssh.
const SCP_SHIM: &str = r#"#!/bin/bash
set -eu
args=()
for a in "$@"; do
  case "$a" in
    -*) ;;
    *:*) host=${a%%:*}; path=${a#*:}
         case "$path" in /*) ;; *) path="$WALKTHROUGH_ROOT/$host/$path" ;; esac
         args+=("$path") ;;
    *) args+=("$a") ;;
  esac
done
exec cp "${args[@]}"
"#;

/// The peers of the established TCP connections whose local end is
/// `local`: for a listening address, the clients it accepted. Read from
/// /proc/net/tcp, every IPv4 socket of this network namespace (addresses
/// as the kernel holds them, in memory order; ports in hex).
fn peers_of(local: SocketAddrV4) -> Vec<Ipv4Addr> {
    const ESTABLISHED: &str = "01";
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let addr = |hex: &str| -> SocketAddrV4 {
        let (ip, port) = hex.split_once(':').unwrap();
        let ip = u32::from_str_radix(ip, 16).unwrap();
        let port = u16::from_str_radix(port, 16).unwrap();
        SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port)
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f[3] == ESTABLISHED && addr(f[1]) == local).then(|| *addr(f[2]).ip())
        })
        .collect()
}

fn listening_addr(lines: &[String], what: &str) -> String {
    let line = lines
        .iter()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} line in {lines:#?}"));
    let addr = line.split("addr=").nth(1).unwrap();
    addr.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn readme_deploy_walkthrough_on_two_addresses() {
    let started = Instant::now();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = walkthrough_blocks(&readme);
    let roles: Vec<_> = blocks.iter().map(|b| (b.role, b.background)).collect();
    for needed in [
        (Role::Both, false),
        (Role::Collector, true),
        (Role::Agent, true),
        (Role::Reader, false),
    ] {
        assert!(roles.contains(&needed), "no {needed:?} block: {roles:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scp = bin.join("scp");
    std::fs::write(&scp, SCP_SHIM).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&scp, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for ip in [COLLECTOR_IP, AGENT_IP] {
        std::fs::create_dir_all(root.join(ip)).unwrap();
    }
    let logship_dir = Path::new(LOGSHIP).parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        logship_dir.display(),
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ports: HashMap<&str, u16> = ["HTTPS_PORT", "KAFKA_PORT", "LOCAL_PORT", "AGENT_PORT"]
        .into_iter()
        .map(|name| (name, crate::util::free_port()))
        .collect();
    let mut overrides = format!("COLLECTOR_IP={COLLECTOR_IP}\nAGENT_IP={AGENT_IP}\n");
    for (name, port) in &ports {
        overrides.push_str(&format!("{name}={port}\n"));
    }
    let variables: String = blocks
        .iter()
        .filter(|b| b.role == Role::Both)
        .map(|b| b.script.as_str())
        .collect();
    for name in ["COLLECTOR_IP=", "AGENT_IP="]
        .into_iter()
        .chain(ports.keys().copied())
    {
        assert!(
            variables.contains(name),
            "the README's variables block sets no {name}"
        );
    }
    let hosts = Hosts {
        root,
        path,
        overrides,
        variables,
    };

    let mut background = Vec::new();
    let mut read_back = false;
    for block in &blocks {
        let t = Instant::now();
        match (block.role, block.background) {
            (Role::Both, _) => {}
            (Role::Collector, false) => {
                hosts.run(COLLECTOR_IP, block);
            }
            (Role::Agent, false) => {
                hosts.run(AGENT_IP, block);
            }
            (Role::Collector, true) => {
                let mut collector = hosts.spawn(COLLECTOR_IP, block, "collector");
                let lines = collector.wait_for("collector ready");
                let http = listening_addr(&lines, "http listening");
                assert_eq!(http, format!("{COLLECTOR_IP}:{}", ports["HTTPS_PORT"]));
                let kafka: Vec<_> = lines
                    .iter()
                    .filter(|l| l.contains("kafka listening"))
                    .cloned()
                    .collect();
                assert!(
                    kafka
                        .iter()
                        .any(|l| l.contains(&format!("{COLLECTOR_IP}:{}", ports["KAFKA_PORT"]))),
                    "no sasl_ssl listener on the collector's address: {kafka:#?}"
                );
                background.push(collector);
            }
            (Role::Agent, true) => {
                let mut agent = hosts.spawn(AGENT_IP, block, "agent");
                let lines = agent.wait_for("agent ready");
                let http = listening_addr(&lines, "agent http listening");
                assert_eq!(http, format!("{AGENT_IP}:{}", ports["AGENT_PORT"]));
                background.push(agent);
            }
            (Role::Reader, true) => panic!("a reader block runs in the foreground"),
            (Role::Reader, false) => {
                hosts.read_back(block);
                read_back = true;
            }
        }
        eprintln!(
            "[walkthrough] {:?}{} block took {:?}",
            block.role,
            if block.background {
                " (background)"
            } else {
                ""
            },
            t.elapsed()
        );
    }

    assert!(read_back, "no reader block ran");

    // The agent's connections reach the collector from the agent's address
    // (without local_address the kernel picks 127.0.0.1). A connection
    // idle long enough is closed; a new line makes the agent open one.
    let https = SocketAddrV4::new(COLLECTOR_IP.parse().unwrap(), ports["HTTPS_PORT"]);
    let deadline = Instant::now() + LIMIT;
    let mut nudge = Instant::now();
    let peers = loop {
        let peers = peers_of(https);
        if !peers.is_empty() {
            break peers;
        }
        assert!(Instant::now() < deadline, "no connection to {https}");
        if nudge.elapsed() > Duration::from_secs(2) {
            let log = hosts.home(AGENT_IP).join("logship/logs/app.log");
            crate::util::append(&log, "one more line\n");
            nudge = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let agent: Ipv4Addr = AGENT_IP.parse().unwrap();
    assert!(peers.iter().all(|p| *p == agent), "{peers:?}");
    eprintln!("[walkthrough] whole walkthrough {:?}", started.elapsed());
    drop(background);
}
