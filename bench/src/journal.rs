//! `gen-journal`: journal entries for `bench/journal.sh`, in the export
//! format on stdout (pipe them into systemd-journal-remote to make journal
//! files). Deterministic per seed; shaped like a server's journal: a dozen
//! units, mostly info, the fields journald adds to stdout and syslog
//! entries, messages of 60-200 bytes.

use std::io::Write;

use anyhow::Result;
use logship_agent::source::journal::make;

use crate::agent::Rng;

#[derive(clap::Args)]
pub struct GenJournalArgs {
    /// Entries to write.
    #[arg(long)]
    entries: u64,
    /// The first entry's number (its clocks follow from it), so several
    /// runs can continue one journal.
    #[arg(long, default_value_t = 0)]
    first: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const UNITS: [&str; 12] = [
    "nginx.service",
    "sshd.service",
    "cron.service",
    "postgresql@15-main.service",
    "systemd-logind.service",
    "dbus.service",
    "containerd.service",
    "docker.service",
    "app-api.service",
    "app-worker.service",
    "rsyslog.service",
    "systemd-resolved.service",
];

const WORDS: [&str; 16] = [
    "request",
    "completed",
    "connection",
    "from",
    "user",
    "session",
    "opened",
    "closed",
    "for",
    "GET",
    "/api/v1/items",
    "status=200",
    "duration_ms=12",
    "worker",
    "queue",
    "retrying",
];

pub fn gen_journal(a: GenJournalArgs) -> Result<()> {
    let mut rng = Rng(a.seed ^ 0x6a6f_7572_6e61_6c00);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut buf = Vec::with_capacity(1 << 16);
    for n in a.first..a.first + a.entries {
        let unit = UNITS[rng.below(UNITS.len() as u64) as usize];
        let priority = match rng.below(100) {
            0..3 => "3",
            3..10 => "4",
            10..20 => "5",
            _ => "6",
        };
        let mut message = format!("{unit} {n}:");
        let target = 60 + rng.below(140) as usize;
        while message.len() < target {
            message.push(' ');
            message.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        let pid = (1000 + (n % 97) * 13).to_string();
        let clocks = make::clock_fields(n);
        let comm = unit.split(['.', '@']).next().unwrap_or(unit);
        let mut fields: Vec<(&str, &[u8])> = clocks.iter().map(|(k, v)| (*k, &v[..])).collect();
        fields.extend_from_slice(&[
            ("_MACHINE_ID", b"5c3b8e0f2a7d4e6b9c1d0f3e2a4b6c8d"),
            ("_HOSTNAME", b"bench-host"),
            ("_TRANSPORT", b"stdout"),
            ("PRIORITY", priority.as_bytes()),
            ("SYSLOG_FACILITY", b"3"),
            ("SYSLOG_IDENTIFIER", comm.as_bytes()),
            ("_UID", b"0"),
            ("_GID", b"0"),
            ("_COMM", comm.as_bytes()),
            ("_PID", pid.as_bytes()),
            ("_SYSTEMD_CGROUP", b"/system.slice"),
            ("_SYSTEMD_UNIT", unit.as_bytes()),
            ("_SYSTEMD_SLICE", b"system.slice"),
            ("MESSAGE", message.as_bytes()),
        ]);
        make::push_entry(&mut buf, &fields);
        if buf.len() >= 1 << 15 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}
