//! Helpers for end-to-end tests: start the real binaries, talk HTTP to them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const LOGSHIP: &str = env!("CARGO_BIN_EXE_logship");
pub const BENCH: &str = env!("CARGO_BIN_EXE_logship-bench");

/// A running `logship run` whose stderr is drained in the background.
pub struct Running {
    pub child: Child,
    pub http: SocketAddr,
    /// The Kafka listener (bootstrap server).
    pub kafka: SocketAddr,
    /// Keeps the stderr drain alive (a dropped receiver would stop it and
    /// the child would block on a full pipe).
    pub log: mpsc::Receiver<String>,
}

impl Running {
    /// Log lines printed since start-up finished.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        wait_timeout(&mut self.child, Duration::from_secs(20))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed however the test ends (a panicking test must
/// not leave it holding ports the next test wants).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process did not exit in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a collector config for `data_dir` with both listeners on
/// ephemeral ports and no initial rebalance delay (tests want groups fast).
pub fn collector_config(dir: &Path, data_dir: &Path) -> PathBuf {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  kafka:\n    listen: 127.0.0.1:0\n  groups:\n    initial_rebalance_delay: 0s\n",
            data_dir.display()
        ),
    )
    .unwrap();
    path
}

/// Writes a collector config for `{dir}/data` listening on fixed ports
/// (ports that were free a moment ago, for a collector restarted on them).
pub fn fixed_collector_config(dir: &Path, http: u16, kafka: u16) -> PathBuf {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:{http}\n  kafka:\n    listen: 127.0.0.1:{kafka}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

/// Writes a collector config and starts it: the usual test fixture.
pub fn start_collector(dir: &Path) -> Running {
    start_logship(&collector_config(dir, &dir.join("data")))
}

/// Starts `logship run --config CONFIG` and waits until it reports its HTTP
/// address and readiness.
pub fn start_logship(config: &Path) -> Running {
    let (child, rx) = spawn_run(config, "logship");
    let (mut http, mut kafka) = (None, None);
    let addr = |line: &str| -> SocketAddr {
        let a = line.split("addr=").nth(1).unwrap();
        a.split_whitespace().next().unwrap().parse().unwrap()
    };
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("logship did not become ready");
        if line.contains("http listening") {
            http = Some(addr(&line));
        }
        if line.contains("kafka listening") {
            kafka = Some(addr(&line));
        }
        if line.contains("collector ready") {
            break;
        }
    }
    Running {
        child,
        http: http.expect("http address logged"),
        kafka: kafka.expect("kafka address logged"),
        log: rx,
    }
}

/// Spawns `logship run --config CONFIG`; its stderr lines are echoed
/// (prefixed with `[tag]`) and delivered on the receiver.
pub fn spawn_run(config: &Path, tag: &'static str) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(LOGSHIP);
    command.args(["run", "--config"]).arg(config);
    spawn_logged(command, tag)
}

/// Spawns `command` (RUST_LOG=info, no stdin or stdout); its stderr lines
/// are echoed (prefixed with `[tag]`) and delivered on the receiver.
pub fn spawn_logged(mut command: Command, tag: &'static str) -> (Child, mpsc::Receiver<String>) {
    let mut child = command
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[{tag}] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// A plain HTTP/1.0 GET; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    (status, body)
}

/// The value of an unlabelled or fully-labelled sample in a Prometheus text page.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Longest any one command may take; a hung command fails the test.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(15);

/// Runs `logship ARGS --bootstrap-server KAFKA` with `stdin` as its input.
pub fn cli_run(kafka: SocketAddr, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(LOGSHIP);
    command
        .args(args)
        .arg("--bootstrap-server")
        .arg(kafka.to_string());
    run_bounded(command, &format!("logship {args:?}"), stdin, COMMAND_LIMIT)
}

/// Runs `command` with `stdin` as its input and collects its output; kills
/// it and fails the test when it is still running after `limit`.
pub fn run_bounded(mut command: Command, what: &str, stdin: &str, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    // Written from a thread so a command that reads no input cannot block
    // the test; dropping the pipe ends the input.
    std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("{what} did not finish in {limit:?}");
        }
    }
}

/// Runs a `logship` CLI command that must succeed; returns its stdout.
pub fn cli_ok(kafka: SocketAddr, args: &[&str], stdin: &str) -> String {
    let out = cli_run(kafka, args, stdin);
    assert!(
        out.status.success(),
        "logship {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `logship validate --config CONFIG`, which must refuse it: its stderr.
pub fn validate_error(config: &Path) -> String {
    let out = Command::new(LOGSHIP)
        .args(["validate", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "validate accepted {}",
        config.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The Python of the virtualenv `.ci/<venv>` that `.ci/setup` creates.
pub fn venv_python(venv: &str) -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci")
        .join(venv)
        .join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/setup` (or `bash .ci/run`) to install the Python Kafka clients",
        python.display()
    );
    python
}

/// Runs `tests/python/SCRIPT LIBRARY ARGS...` with the Python of
/// `.ci/<venv>`; asserts it succeeded and printed `ok LIBRARY`. Returns
/// its standard output.
pub fn run_python_script(venv: &str, script: &str, library: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut command = Command::new(venv_python(venv));
    command.arg(script).arg(library).args(args);
    // Generous: these scripts run whole client sessions on a loaded machine.
    let out = run_bounded(command, library, "", Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{library} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("ok {library}")), "{stdout}");
    stdout
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Appends `text` to the file at `path` (created if missing), as a logger
/// would.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Sends SIGHUP (reload) to process `pid`.
pub fn sighup(pid: u32) {
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// Waits (at most 30 s) for a line of `log` containing `text`; returns it.
pub fn wait_log_line(log: &mpsc::Receiver<String>, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) if line.contains(text) => return line,
            Ok(_) => {}
            Err(_) => panic!("no log line with {text:?}"),
        }
    }
}

/// Polls `ok` until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's kcat against `bootstrap` with `args`, `stdin` written to it;
/// asserts it succeeded.
pub fn run_kcat(bootstrap: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("kcat")
        .arg("-b")
        .arg(bootstrap)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is installed by .ci/setup");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every record of `topic` partition 0 from the beginning, one line each as
/// kcat's `format` (e.g. `%o:%s\n`) prints it.
pub fn kcat_partition0(bootstrap: &str, topic: &str, format: &str) -> String {
    let args = [
        "-C",
        "-t",
        topic,
        "-p",
        "0",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        format,
    ];
    String::from_utf8(run_kcat(bootstrap, &args, "").stdout).unwrap()
}
