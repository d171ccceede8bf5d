//! `logship tokens add|list|delete`: the bearer tokens the collector's HTTP
//! listener accepts (`collector.http.auth.tokens_file`). `add` mints a
//! random token for `User:NAME`, prints it once on stdout and stores only
//! its SHA-256 (see `logship_collector::http::tokens`); nothing can show it
//! again. The file is rewritten atomically with mode 0600; a running
//! collector reads it again on SIGHUP, so `delete` then SIGHUP revokes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use logship_collector::http::tokens::{validate_name, TokenStore};

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Mint a token for User:NAME; the token is printed once, on stdout.
    /// A principal may hold several tokens (rotate by adding, then deleting).
    Add {
        name: String,
        #[command(flatten)]
        file: TokensFile,
    },
    /// List principals with how many tokens each holds.
    List {
        #[command(flatten)]
        file: TokensFile,
    },
    /// Delete every token of User:NAME.
    Delete {
        name: String,
        #[command(flatten)]
        file: TokensFile,
    },
}

/// Which tokens file to work on.
#[derive(Args, Debug)]
pub struct TokensFile {
    /// The tokens file itself.
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    file: Option<PathBuf>,
    /// The collector's config: its collector.http.auth.tokens_file.
    #[arg(long, short, conflicts_with = "file")]
    config: Option<PathBuf>,
}

impl TokensFile {
    fn path(&self) -> Result<PathBuf> {
        if let Some(path) = &self.file {
            return Ok(path.clone());
        }
        let path = self.config.as_ref().expect("clap requires one");
        let config = Config::load(path)?;
        match config
            .collector
            .and_then(|c| c.http.auth)
            .and_then(|a| a.tokens_file)
        {
            Some(file) => Ok(file),
            None => bail!(
                "config {} sets no collector.http.auth.tokens_file; pass --file FILE instead",
                path.display()
            ),
        }
    }
}

pub fn run(command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::Add { name, file } => {
            validate_name(&name)?;
            let path = file.path()?;
            let mut store = TokenStore::load(&path)?;
            let token = store.add(&name)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating directory {}", dir.display()))?;
            }
            store.save(&path)?;
            // The token alone on stdout, for `$(logship tokens add ...)`;
            // the note on stderr.
            println!("{token}");
            eprintln!(
                "Added a token for User:{name} to {} (only its hash is stored: keep the token now).",
                path.display()
            );
            Ok(())
        }
        TokensCommand::List { file } => {
            let path = file.path()?;
            for (principal, count) in TokenStore::load(&path)?.principals() {
                println!("{principal}\t{count}");
            }
            Ok(())
        }
        TokensCommand::Delete { name, file } => {
            let path = file.path()?;
            let mut store = TokenStore::load(&path)?;
            if !store.remove(&name) {
                bail!("no token for User:{name} in {}", path.display());
            }
            store.save(&path)?;
            println!("Deleted the tokens of User:{name}; SIGHUP the collector to apply.");
            Ok(())
        }
    }
}
