//! `logship users add|list|delete` as an operator runs them: passwords on
//! stdin (never argv), the credentials file private (0600) and free of
//! passwords, and the credentials it writes accepted by the collector's
//! SCRAM and PLAIN checks.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use logship_collector::auth::credentials::PlainCheck;
use logship_collector::auth::{CredentialStore, ScramMechanism};

use crate::util::{run_bounded, COMMAND_LIMIT, LOGSHIP};

fn users(args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(LOGSHIP);
    command.arg("users").args(args);
    run_bounded(
        command,
        &format!("logship users {args:?}"),
        stdin,
        COMMAND_LIMIT,
    )
}

fn ok(args: &[&str], stdin: &str) -> String {
    let out = users(args, stdin);
    assert!(
        out.status.success(),
        "users {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts failure; returns the last stderr line.
fn fails(args: &[&str], stdin: &str) -> String {
    let out = users(args, stdin);
    assert!(!out.status.success(), "users {args:?} succeeded");
    let stderr = String::from_utf8(out.stderr).unwrap();
    stderr.lines().last().unwrap_or_default().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn add_list_delete_users() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds.json");
    let f = file.to_str().unwrap();

    assert_eq!(ok(&["list", "--credentials", f], ""), "");
    assert_eq!(
        ok(&["add", "alice", "--credentials", f], "alice-pass-1\n"),
        "Added SCRAM-SHA-512 credential of user alice (4096 iterations).\n"
    );
    assert_eq!(mode(&file), 0o600);
    ok(
        &[
            "add",
            "bob",
            "--mechanism",
            "SCRAM-SHA-256",
            "--iterations",
            "8192",
            "--credentials",
            f,
        ],
        "bob pass with spaces\r\n",
    );
    ok(
        &[
            "add",
            "bob",
            "--mechanism",
            "SCRAM-SHA-512",
            "--credentials",
            f,
        ],
        "bob-512",
    );
    assert_eq!(
        ok(&["list", "--credentials", f], ""),
        "alice\tSCRAM-SHA-512\t4096\nbob\tSCRAM-SHA-256\t8192\nbob\tSCRAM-SHA-512\t4096\n"
    );

    let text = std::fs::read_to_string(&file).unwrap();
    for secret in ["alice-pass-1", "bob pass", "bob-512"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
    // What the collector's SASL server will check: the stored keys accept
    // exactly the passwords given on stdin (line ending stripped).
    let store = CredentialStore::load(&file).unwrap();
    assert_eq!(
        store.verify_plain("alice", b"alice-pass-1"),
        PlainCheck::Valid
    );
    assert_eq!(
        store.verify_plain("alice", b"alice-pass-1\n"),
        PlainCheck::BadPassword
    );
    let bob256 = store.get("bob", ScramMechanism::Sha256).unwrap();
    assert!(bob256.verify_password(ScramMechanism::Sha256, b"bob pass with spaces"));
    assert_eq!(bob256.iterations, 8192);

    // A new password replaces the old one; the file stays 0600 even if
    // someone loosened it.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        ok(&["add", "alice", "--credentials", f], "alice-pass-2\n"),
        "Updated SCRAM-SHA-512 credential of user alice (4096 iterations).\n"
    );
    assert_eq!(mode(&file), 0o600);
    let store = CredentialStore::load(&file).unwrap();
    assert_eq!(
        store.verify_plain("alice", b"alice-pass-2"),
        PlainCheck::Valid
    );
    assert_eq!(
        store.verify_plain("alice", b"alice-pass-1"),
        PlainCheck::BadPassword
    );

    assert_eq!(
        ok(
            &[
                "delete",
                "bob",
                "--mechanism",
                "SCRAM-SHA-256",
                "--credentials",
                f
            ],
            ""
        ),
        "Deleted SCRAM-SHA-256 credential of user bob.\n"
    );
    assert_eq!(
        ok(&["delete", "alice", "--credentials", f], ""),
        "Deleted user alice.\n"
    );
    assert_eq!(
        ok(&["list", "--credentials", f], ""),
        "bob\tSCRAM-SHA-512\t4096\n"
    );
    assert_eq!(mode(&file), 0o600);

    assert!(fails(&["delete", "alice", "--credentials", f], "").contains("no user alice in"));
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds.json");
    let f = file.to_str().unwrap();
    for (args, stdin, why) in [
        (
            vec!["add", "alice", "--credentials", f],
            "",
            "the password is empty",
        ),
        (
            vec!["add", "alice", "--credentials", f],
            "\n",
            "the password is empty",
        ),
        (
            vec!["add", "alice", "--iterations", "4095", "--credentials", f],
            "pw\n",
            "between 4096 and 16384",
        ),
        (
            vec!["add", "alice", "--iterations", "16385", "--credentials", f],
            "pw\n",
            "between 4096 and 16384",
        ),
        (
            vec!["add", "alice", "--mechanism", "PLAIN", "--credentials", f],
            "pw\n",
            "expected SCRAM-SHA-256 or SCRAM-SHA-512",
        ),
        (vec!["add", "", "--credentials", f], "pw\n", "1 to 255"),
        (
            vec!["add", "ünï", "--credentials", f],
            "pw\n",
            "printable ASCII",
        ),
        // There is no way to pass a password as an argument.
        (
            vec!["add", "alice", "--password", "pw", "--credentials", f],
            "pw\n",
            "--password",
        ),
    ] {
        let e = users_err(&args, stdin);
        assert!(e.contains(why), "{args:?}: {e}");
        assert!(!e.contains("pw\n"), "{e}");
    }
    assert!(!file.exists());
    // A corrupt file is reported with its path, not overwritten.
    std::fs::write(&file, "{").unwrap();
    let e = fails(&["add", "alice", "--credentials", f], "pw\n");
    assert!(e.contains("creds.json"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{");
}

fn users_err(args: &[&str], stdin: &str) -> String {
    let out = users(args, stdin);
    assert!(!out.status.success(), "users {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// Without --credentials the file lives in the collector's data directory
/// of --config.
#[test]
fn config_locates_the_file_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("logship.yaml");
    std::fs::write(
        &config,
        format!("collector:\n  data_dir: {}\n", data.display()),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    ok(&["add", "carol", "--config", c], "carol-pw\n");
    let file = data.join("credentials.json");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(
        ok(&["list", "--config", c], ""),
        "carol\tSCRAM-SHA-512\t4096\n"
    );
    assert_eq!(
        CredentialStore::load(&file)
            .unwrap()
            .verify_plain("carol", b"carol-pw"),
        PlainCheck::Valid
    );

    // collector.auth.credentials_file moves it, for the collector and for
    // `logship users --config` alike.
    let moved = dir.path().join("elsewhere.json");
    std::fs::write(
        &config,
        format!(
            "collector:\n  data_dir: {}\n  auth: {{ credentials_file: {} }}\n",
            data.display(),
            moved.display()
        ),
    )
    .unwrap();
    ok(&["add", "dave", "--config", c], "dave-pw\n");
    assert_eq!(
        ok(&["list", "--config", c], ""),
        "dave\tSCRAM-SHA-512\t4096\n"
    );
    assert_eq!(mode(&moved), 0o600);

    // The packaged agent-only config has no collector, hence no file.
    let agent_only = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/agent.yaml");
    let e = users_err(&["list", "--config", agent_only], "");
    assert!(
        e.contains("has no collector section; pass --credentials FILE"),
        "{e}"
    );
}
