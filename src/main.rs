//! `logship`: one binary for the agent and the collector.
//!
//! `logship run [--config FILE]` runs the roles the file has sections for
//! (the embedded default config runs a local collector);
//! `logship validate --config FILE` checks a config and exits;
//! `logship topics|produce|consume|groups` are Kafka clients (see [`cli`]);
//! `logship users add|list|delete` manages the collector's SASL/SCRAM users.
//! `logship tls init` makes a private CA and certificates.

mod cli;
mod config;
mod systemd;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use config::Config;

/// See Cargo.toml: jemalloc also serves librdkafka's mallocs.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "logship",
    version,
    about = "Log-shipping agent and Kafka-compatible collector"
)]
struct Cli {
    /// Log level filter (overridden by RUST_LOG when set).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the roles configured in FILE (default: a local collector on ./data).
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a config file and exit non-zero with the error if it is invalid.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Create, list, describe and delete topics (as kafka-topics.sh).
    #[command(subcommand)]
    Topics(cli::topics::TopicsCommand),
    /// Send each stdin line as a record (as kafka-console-producer.sh).
    Produce(cli::produce::ProduceArgs),
    /// Print records to stdout (as kafka-console-consumer.sh), alone or as a
    /// member of a consumer group (--group).
    Consume(cli::consume::ConsumeArgs),
    /// List, describe, delete consumer groups and reset their offsets (as
    /// kafka-consumer-groups.sh).
    #[command(subcommand)]
    Groups(cli::groups::GroupsCommand),
    /// Add, list and delete the collector's SASL users (SCRAM credentials),
    /// as kafka-configs.sh --entity-type users; passwords from a prompt or stdin.
    #[command(subcommand)]
    Users(cli::users::UsersCommand),
    /// Mint, list and delete bearer tokens for the collector's HTTP
    /// listener; a new token is printed once and only its hash is stored.
    #[command(subcommand)]
    Tokens(cli::tokens::TokensCommand),
    /// Make certificates for TLS: `tls init` writes a private CA, a server
    /// certificate for the collector and client certificates for agents.
    #[command(subcommand)]
    Tls(cli::tls::TlsCommand),
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Validate { config } => {
            Config::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Run { config } => {
            let command_config = config.clone();
            let config = match config {
                Some(path) => Config::load(&path)?,
                None => Config::embedded_default()?,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run_roles(config, command_config))
        }
        Command::Topics(command) => cli::topics::run(command),
        Command::Produce(args) => cli::produce::run(args),
        Command::Consume(args) => cli::consume::run(args),
        Command::Groups(command) => cli::groups::run(command),
        Command::Users(command) => cli::users::run(command),
        Command::Tokens(command) => cli::tokens::run(command),
        Command::Tls(command) => cli::tls::run(command),
    }
}

/// Runs the configured roles until SIGTERM/SIGINT. Tells systemd READY=1
/// once every role has bound its listeners (and the collector has recovered
/// its storage), pings its watchdog, and on SIGHUP re-reads the config file:
/// an invalid file is rejected with a log line and the running config kept;
/// a valid one replaces the agent's sources.
async fn run_roles(config: Config, path: Option<PathBuf>) -> Result<()> {
    // A signal stops the agent first (it drains into the collector when
    // both run here), then the collector.
    let stop_agent = CancellationToken::new();
    let stop_collector = CancellationToken::new();
    let signals = stop_agent.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signals.cancel();
    });
    let mut readiness = Vec::new();
    let (collector_reload_tx, collector_reload_rx) = tokio::sync::mpsc::channel(1);
    let mut collector = config.collector.map(|c| {
        let stop = stop_collector.clone();
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        readiness.push(is_ready);
        tokio::spawn(async move {
            logship_collector::service::run_with_reload(c, stop, ready, collector_reload_rx).await
        })
    });
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    let has_agent = config.agent.is_some();
    let agent_ready = config.agent.as_ref().map(|_| {
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        readiness.push(is_ready);
        ready
    });
    tokio::spawn(async move {
        for r in readiness {
            if r.await.is_err() {
                return; // a role failed to start
            }
        }
        systemd::notify("READY=1");
        systemd::spawn_watchdog();
    });
    tokio::spawn(reload_on_sighup(
        path,
        has_agent,
        reload_tx,
        collector_reload_tx,
    ));
    let agent = async {
        match (config.agent, agent_ready) {
            (Some(agent), Some(ready)) => {
                logship_agent::service::run(agent, stop_agent.clone(), ready, reload_rx).await
            }
            _ => {
                stop_agent.cancelled().await;
                Ok(())
            }
        }
    };
    // The collector ending on its own is a start-up failure: stop the agent.
    let collector_failed = async {
        match &mut collector {
            Some(c) => Some(c.await),
            None => std::future::pending().await,
        }
    };
    tokio::pin!(agent);
    let (agent_result, early) = tokio::select! {
        r = &mut agent => (r, None),
        r = collector_failed => {
            stop_agent.cancel();
            (agent.await, r)
        }
    };
    systemd::notify("STOPPING=1");
    stop_collector.cancel();
    let collector_result = match (early, collector) {
        (Some(r), _) => Some(r),
        (None, Some(c)) => Some(c.await),
        (None, None) => None,
    };
    if let Some(r) = collector_result {
        r.context("collector task")?
            .map_err(anyhow::Error::msg)
            .context("collector")?;
    }
    agent_result.map_err(anyhow::Error::msg).context("agent")
}

/// SIGHUP: re-read and validate the config file; hand a valid agent
/// section to the agent, and a valid collector section to the collector
/// (which re-reads its TLS certificates and puts its ACLs in force; its
/// other settings need a restart).
async fn reload_on_sighup(
    path: Option<PathBuf>,
    has_agent: bool,
    reload: tokio::sync::mpsc::Sender<logship_agent::config::AgentConfig>,
    collector: tokio::sync::mpsc::Sender<logship_collector::config::CollectorConfig>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let Some(path) = &path else {
            tracing::info!("SIGHUP: running on the embedded config; nothing to reload");
            continue;
        };
        systemd::notify("RELOADING=1");
        match Config::load(path) {
            Err(e) => tracing::error!("reload rejected, keeping the running config: {e:#}"),
            Ok(next) => {
                if let Some(c) = next.collector {
                    // A reload already queued covers this one.
                    let _ = collector.try_send(c);
                }
                match next.agent {
                Some(agent) if has_agent => {
                    tracing::info!(path = %path.display(), "reloading");
                    let _ = reload.send(agent).await;
                }
                Some(_) => tracing::warn!(
                    "reload: an agent section was added; it starts with the next restart"
                ),
                None if has_agent => tracing::warn!(
                    "reload: the agent section was removed; it stops with the next restart"
                ),
                None => tracing::info!(
                    "reload: collector settings other than TLS certificates, SASL credentials, ACLs and principal mapping rules take effect after a restart"
                ),
                }
            }
        }
        systemd::notify("READY=1");
    }
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C) start a graceful shutdown.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
