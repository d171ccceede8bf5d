//! `logship users add|list|delete`: the SCRAM credentials that the
//! collector's SASL listeners check, managed as
//! `kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[...]'
//! --entity-type users` manages Kafka's, except that the password never
//! appears on the command line: it is asked for on the terminal (twice,
//! without echo) or read as the first line of stdin when stdin is not a
//! terminal (`printf '%s\n' "$PW" | logship users add alice`).
//!
//! The file is the collector's credentials file (see
//! `logship_collector::auth::credentials`): `--credentials FILE`, or the
//! `collector.auth.credentials_file` of `--config FILE` (default: the
//! `credentials.json` in its data directory; without `--config`, the
//! embedded quick start config's). It holds salted SCRAM keys, never a password, and is
//! rewritten atomically with mode 0600. A running collector reads it again
//! on SIGHUP.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use logship_collector::auth::credentials::{validate_iterations, validate_user_name};
use logship_collector::auth::scram::DEFAULT_ITERATIONS;
use logship_collector::auth::{CredentialStore, ScramCredential, ScramMechanism};

use crate::config::{Config, DEFAULT_CONFIG};

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user's SCRAM credential, or replace it (a new password). The
    /// password is read from the terminal, or from stdin's first line.
    Add {
        name: String,
        /// SCRAM-SHA-512 or SCRAM-SHA-256. PLAIN logins are checked against
        /// the same credential.
        #[arg(long, default_value = "SCRAM-SHA-512", value_parser = parse_mechanism)]
        mechanism: ScramMechanism,
        /// PBKDF2 iterations, 4096 to 16384 (Kafka's bounds).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
        #[command(flatten)]
        file: CredentialsFile,
    },
    /// List users, one line per credential: NAME, mechanism, iterations.
    List {
        #[command(flatten)]
        file: CredentialsFile,
    },
    /// Delete a user (or only its credential for --mechanism).
    Delete {
        name: String,
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: Option<ScramMechanism>,
        #[command(flatten)]
        file: CredentialsFile,
    },
}

/// Which credentials file to work on.
#[derive(Args, Debug)]
pub struct CredentialsFile {
    /// The collector's config: its `collector.auth.credentials_file`
    /// (default `<data_dir>/credentials.json`).
    #[arg(long, short, conflicts_with = "credentials")]
    config: Option<PathBuf>,
    /// The credentials file itself.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
}

fn parse_mechanism(s: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::from_name(s)
        .ok_or_else(|| format!("expected SCRAM-SHA-256 or SCRAM-SHA-512, got {s:?}"))
}

impl CredentialsFile {
    fn path(&self) -> Result<PathBuf> {
        if let Some(path) = &self.credentials {
            return Ok(path.clone());
        }
        let (config, origin) = match &self.config {
            Some(path) => (Config::load(path)?, path.display().to_string()),
            None => (
                Config::parse(DEFAULT_CONFIG, "(embedded default)")?,
                "(embedded default)".to_owned(),
            ),
        };
        match config.collector {
            Some(c) => Ok(c.credentials_file()),
            None => {
                bail!("config {origin} has no collector section; pass --credentials FILE instead")
            }
        }
    }
}

pub fn run(command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Add {
            name,
            mechanism,
            iterations,
            file,
        } => {
            validate_user_name(&name)?;
            validate_iterations(iterations)?;
            let path = file.path()?;
            let mut store = load(&path)?;
            let password = read_password(&name)?;
            let credential = ScramCredential::new(mechanism, password.as_bytes(), iterations)?;
            let replaced = store.get(&name, mechanism).is_some();
            store.insert(&name, mechanism, credential);
            save(&store, &path, true)?;
            let verb = if replaced { "Updated" } else { "Added" };
            println!("{verb} {mechanism} credential of user {name} ({iterations} iterations).");
            Ok(())
        }
        UsersCommand::List { file } => {
            let path = file.path()?;
            for (name, creds) in load(&path)?.users() {
                for (mechanism, c) in creds {
                    println!("{name}\t{mechanism}\t{}", c.iterations);
                }
            }
            Ok(())
        }
        UsersCommand::Delete {
            name,
            mechanism,
            file,
        } => {
            let path = file.path()?;
            let mut store = load(&path)?;
            if !store.remove(&name, mechanism) {
                match mechanism {
                    Some(m) => bail!("user {name} has no {m} credential in {}", path.display()),
                    None => bail!("no user {name} in {}", path.display()),
                }
            }
            save(&store, &path, false)?;
            match mechanism {
                Some(m) => println!("Deleted {m} credential of user {name}."),
                None => println!("Deleted user {name}."),
            }
            Ok(())
        }
    }
}

fn load(path: &Path) -> Result<CredentialStore> {
    Ok(CredentialStore::load(path)?)
}

fn save(store: &CredentialStore, path: &Path, create_dir: bool) -> Result<()> {
    if create_dir {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
    }
    Ok(store.save(path)?)
}

/// The password: from the terminal without echo (asked twice), else the
/// first line of stdin. Never from the command line or the environment.
fn read_password(name: &str) -> Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .context("reading the password from the terminal")?;
        let again = rpassword::prompt_password("Password again: ")
            .context("reading the password from the terminal")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    if password.is_empty() {
        bail!("the password is empty (it is read from the terminal or stdin's first line)");
    }
    Ok(password)
}
