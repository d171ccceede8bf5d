//! `logship validate --config FILE`: the real binary accepts every shipped
//! config, and points at the file, line and column of what is wrong (or,
//! inside the sink's block, names the key).

use std::path::Path;
use std::process::{Command, Output};

use crate::util::LOGSHIP;

fn validate(config: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(LOGSHIP);
    command
        .args(["validate", "--config"])
        .arg(config)
        .env_remove("LOGSHIP_TEST_DATA_DIR");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn validate_accepts_every_shipped_config() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let out = validate(&path, &[]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(": ok"), "{stdout}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} configs found");
}

#[test]
fn validate_reports_unknown_key_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "collector:\n  data_dir: /tmp/x\n  http:\n    listen: 127.0.0.1:8080\n    lisen: oops\n",
    )
    .unwrap();
    let out = validate(&bad, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:5:5: ", bad.display())),
        "no file:line:column in {err}"
    );
    assert!(err.contains("unknown field `lisen`"), "{err}");
}

#[test]
fn validate_interpolates_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("env.yaml");
    std::fs::write(
        &config,
        "collector:\n  data_dir: ${LOGSHIP_TEST_DATA_DIR}\n  http:\n    listen: ${LOGSHIP_TEST_UNSET_LISTEN:-127.0.0.1:0}\n",
    )
    .unwrap();

    let out = validate(&config, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2:13: ", config.display())),
        "no file:line:column in {err}"
    );
    assert!(err.contains("`LOGSHIP_TEST_DATA_DIR` is not set"), "{err}");

    let out = validate(&config, &[("LOGSHIP_TEST_DATA_DIR", "/srv/logship")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A value that is not a valid duration is reported at its reference.
    std::fs::write(
        &config,
        "collector:\n  storage:\n    flush_interval: ${LOGSHIP_TEST_DATA_DIR}\n",
    )
    .unwrap();
    let out = validate(&config, &[("LOGSHIP_TEST_DATA_DIR", "soon")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", config.display())), "{err}");
    assert!(err.contains("invalid duration"), "{err}");
}

#[test]
fn validate_takes_an_ip_address_as_the_sinks_local_address_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    let write = |local: &str| {
        std::fs::write(
            &config,
            format!("agent:\n  sources:\n    app: {{ type: file, include: [/var/log/app.log], topic: app }}\n  sink:\n    type: collector\n    url: http://127.0.0.2:8080\n    local_address: {local}\n"),
        )
        .unwrap()
    };
    for good in ["127.0.0.3", "\"fd00::5\""] {
        write(good);
        let out = validate(&config, &[]);
        assert!(out.status.success(), "{good}: {out:?}");
    }
    for bad in ["agent-1.example.com", "127.0.0.3:0", "10.0.0"] {
        write(bad);
        let out = validate(&config, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            err.contains(&format!(
                "agent.sink.local_address: {bad:?} is not an IP address"
            )),
            "{bad}: {err}"
        );
    }
    // An IP address, but not one of this host's (TEST-NET-1): the agent
    // refuses to start rather than fail every connection.
    std::fs::write(
        &config,
        format!("agent:\n  data_dir: {}\n  http: {{ listen: 127.0.0.1:0 }}\n  sources:\n    app: {{ type: file, include: [/var/log/app.log], topic: app }}\n  sink:\n    type: collector\n    url: http://127.0.0.2:8080\n    local_address: 192.0.2.1\n", dir.path().join("data").display()),
    )
    .unwrap();
    let mut run = Command::new(LOGSHIP);
    run.args(["run", "--config"]).arg(&config);
    let out = crate::util::run_bounded(run, "logship run", "", std::time::Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "agent.sink.local_address 192.0.2.1: not an address this host can connect from"
        ),
        "{err}"
    );
}
