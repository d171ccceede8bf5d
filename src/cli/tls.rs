//! `logship tls init`: a private CA, a server certificate for the collector
//! and client certificates for agents, for deployments without a PKI.
//!
//! Keys are ECDSA P-256 (PKCS#8 PEM), which rustls, OpenSSL (librdkafka,
//! kcat, Python's ssl) and Node accept. Key files are created with mode
//! 0600 (never briefly readable by others), certificates 0644. Existing
//! files are never overwritten: re-issuing starts from an empty directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Subcommand)]
pub enum TlsCommand {
    /// Write a private CA (ca.pem, ca.key), a server certificate for the
    /// collector (server.pem, server.key) and client certificates
    /// (NAME.pem, NAME.key) into DIR.
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Directory to write into (created if missing; existing files are
    /// never overwritten).
    #[arg(long)]
    pub dir: PathBuf,
    /// Comma-separated names and IP addresses clients use to reach the
    /// collector: each becomes a DNS or IP subject alternative name.
    #[arg(long, value_delimiter = ',', required = true)]
    pub hosts: Vec<String>,
    /// Comma-separated client names (e.g. agent-1,agent-2): one certificate
    /// each, with CN=NAME, for mutual TLS.
    #[arg(long, value_delimiter = ',')]
    pub clients: Vec<String>,
    /// Validity of the server and client certificates, in days (the CA's is
    /// ten years).
    #[arg(long, default_value_t = 825)]
    pub days: u32,
}

pub fn run(command: TlsCommand) -> Result<()> {
    match command {
        TlsCommand::Init(args) => init(&args),
    }
}

const CA_DAYS: i64 = 3650;

fn init(args: &InitArgs) -> Result<()> {
    let hosts: Vec<SanType> = args
        .hosts
        .iter()
        .map(|h| san(h.trim()))
        .collect::<Result<_>>()?;
    for name in &args.clients {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !ok {
            bail!("invalid client name {name:?}: use letters, digits, '-', '_' and '.' (it names the files)");
        }
        if matches!(name.as_str(), "ca" | "server") {
            bail!("the client name {name:?} would overwrite the CA or server files");
        }
    }
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let mut outputs = vec!["ca".to_owned(), "server".to_owned()];
    outputs.extend(args.clients.iter().cloned());
    for name in &outputs {
        for ext in ["pem", "key"] {
            let path = args.dir.join(format!("{name}.{ext}"));
            if path.exists() {
                bail!(
                    "{} already exists; remove it or choose another --dir",
                    path.display()
                );
            }
        }
    }

    let now = time::OffsetDateTime::now_utc();
    // A day of slack for clocks that lag the one issuing.
    let not_before = now - time::Duration::days(1);

    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = dn("logship private CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = now + time::Duration::days(CA_DAYS);
    let ca_cert = ca.self_signed(&ca_key).context("signing the CA")?;
    write(&args.dir, "ca", &ca_cert.pem(), &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |cn: &str, sans: Vec<SanType>, usage: ExtendedKeyUsagePurpose| -> Result<_> {
        let key = KeyPair::generate().context("generating a key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(cn);
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = now + time::Duration::days(args.days as i64);
        let cert = params
            .signed_by(&key, &issuer)
            .with_context(|| format!("signing the certificate for {cn}"))?;
        Ok((cert.pem(), key.serialize_pem()))
    };

    let (pem, key) = leaf(
        args.hosts[0].trim(),
        hosts,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    write(&args.dir, "server", &pem, &key)?;
    for name in &args.clients {
        let (pem, key) = leaf(name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)?;
        write(&args.dir, name, &pem, &key)?;
    }

    let dir = args.dir.display();
    println!("wrote {dir}/ca.pem and {dir}/ca.key (keep ca.key offline)");
    println!(
        "wrote {dir}/server.pem and {dir}/server.key for {}",
        args.hosts.join(", ")
    );
    for name in &args.clients {
        println!("wrote {dir}/{name}.pem and {dir}/{name}.key (client CN={name})");
    }
    println!(
        "collector listener: tls: {{ cert_file: {dir}/server.pem, key_file: {dir}/server.key, ca_file: {dir}/ca.pem }}"
    );
    Ok(())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn san(host: &str) -> Result<SanType> {
    if host.is_empty() {
        bail!("--hosts has an empty entry");
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = host.split('.').enumerate().all(|(i, label)| {
        (i == 0 && label == "*")
            || (!label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-'))
    });
    if !valid {
        bail!("{host:?} in --hosts is neither an IP address nor a DNS name");
    }
    Ok(SanType::DnsName(host.to_owned().try_into().with_context(
        || format!("{host:?} is not a valid DNS name"),
    )?))
}

/// Writes `NAME.pem` (0644) and `NAME.key` (0600), each created new with
/// its mode.
fn write(dir: &Path, name: &str, cert: &str, key: &str) -> Result<()> {
    create(&dir.join(format!("{name}.key")), key, 0o600)?;
    create(&dir.join(format!("{name}.pem")), cert, 0o644)
}

fn create(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
