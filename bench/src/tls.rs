//! Connection-setup load on the collector's Kafka listeners (bench/tls.sh):
//! `tls-connect` opens connections as fast as it can, each a TCP connect,
//! a full TLS handshake (no session resumption unless asked) and one
//! ApiVersions round trip, then closes it; `scram-auth` authenticates N
//! clients with SaslHandshake + SCRAM SaslAuthenticate (over TLS when given
//! a CA). Both print the rate and per-connection latency percentiles.
//!
//! The client side of SCRAM costs a PBKDF2 run (the server stores the
//! derived keys and runs none): `scram-auth` derives the salted password
//! once per thread and reuses it, as a client holding it would, so the time
//! measured is the server's; `--pbkdf2-per-client` does it on every
//! connection, as librdkafka does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use logship_collector::auth::ScramMechanism;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::Digest;

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The listener, HOST:PORT.
    #[arg(long)]
    addr: String,
    /// CA certificate (PEM) to trust: connect over TLS. Without it, plain TCP.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Name checked against the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Connections open at once (one thread each).
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Stop after this long.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Let the client resume TLS sessions (abbreviated handshakes); the
    /// default is a full handshake on every connection.
    #[arg(long)]
    resume: bool,
}

#[derive(clap::Args)]
pub struct ScramArgs {
    /// A sasl_plaintext or sasl_ssl listener, HOST:PORT.
    #[arg(long)]
    addr: String,
    /// CA certificate (PEM): sasl_ssl. Without it, sasl_plaintext.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    #[arg(long, default_value = "localhost")]
    server_name: String,
    #[arg(long, default_value = "SCRAM-SHA-512")]
    mechanism: String,
    #[arg(long)]
    user: String,
    /// File whose first line is the password (never on the command line).
    #[arg(long)]
    password_file: PathBuf,
    /// Clients to authenticate, each on a new connection.
    #[arg(long, default_value_t = 1000)]
    clients: u64,
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Run the client's PBKDF2 on every connection instead of once per thread.
    #[arg(long)]
    pbkdf2_per_client: bool,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

struct Conn {
    stream: Box<dyn Stream>,
    correlation: i32,
}

fn tls_config(ca_file: &PathBuf, resume: bool) -> Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.context("parsing the CA certificate")?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .with_context(|| format!("{addr} resolves to nothing"))
}

impl Conn {
    fn open(
        addr: SocketAddr,
        tls: Option<&Arc<rustls::ClientConfig>>,
        name: &ServerName<'static>,
    ) -> Result<Conn> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let stream: Box<dyn Stream> = match tls {
            Some(config) => {
                let c = rustls::ClientConnection::new(config.clone(), name.clone())?;
                Box::new(rustls::StreamOwned::new(c, tcp))
            }
            None => Box::new(tcp),
        };
        Ok(Conn {
            stream,
            correlation: 0,
        })
    }

    fn call<Req: Encodable + HeaderVersion, Resp: Decodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("logship-bench")));
        let mut body = BytesMut::from(&[0u8; 4][..]);
        header.encode(&mut body, Req::header_version(version))?;
        req.encode(&mut body, version)?;
        let len = (body.len() - 4) as i32;
        body[..4].copy_from_slice(&len.to_be_bytes());
        // One write: the length and the request in one TLS record.
        self.stream.write_all(&body)?;
        self.stream.flush()?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf)?;
        let mut frame = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut frame, Resp::header_version(version))?;
        if h.correlation_id != self.correlation {
            bail!(
                "response to {} for request {}",
                h.correlation_id,
                self.correlation
            );
        }
        Resp::decode(&mut frame, version)
    }
}

/// Per-connection latencies (microseconds) from all threads.
fn report(name: &str, extra: &str, n: u64, errors: u64, secs: f64, lat: &mut [u64]) {
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0
    };
    println!(
        "{name} {extra} connections={n} errors={errors} secs={secs:.3} per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        n as f64 / secs,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

pub fn connect(a: ConnectArgs) -> Result<()> {
    let addr = resolve(&a.addr)?;
    let tls = a
        .ca_file
        .as_ref()
        .map(|f| tls_config(f, a.resume))
        .transpose()?;
    let name = ServerName::try_from(a.server_name.clone())?;
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let (done, errors) = (AtomicU64::new(0), AtomicU64::new(0));
    let lat = Mutex::new(Vec::new());
    let first_error = Mutex::new(None::<String>);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.threads.max(1) {
            s.spawn(|| {
                let mut mine = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = Conn::open(addr, tls.as_ref(), &name).and_then(|mut c| {
                        let v: ApiVersionsResponse =
                            c.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
                        if v.error_code != 0 {
                            bail!("ApiVersions error {}", v.error_code);
                        }
                        Ok(())
                    });
                    match r {
                        Ok(()) => {
                            mine.push(t.elapsed().as_micros() as u64);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(format!("{e:#}"));
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = first_error.into_inner().unwrap() {
        eprintln!("tls-connect: first error: {e}");
    }
    let kind = match (&tls, a.resume) {
        (None, _) => "tcp",
        (Some(_), false) => "tls-full",
        (Some(_), true) => "tls-resume",
    };
    report(
        "tls-connect",
        &format!("mode={kind} threads={}", a.threads),
        done.into_inner(),
        errors.into_inner(),
        secs,
        &mut lat.into_inner().unwrap(),
    );
    Ok(())
}

pub fn scram(a: ScramArgs) -> Result<()> {
    let addr = resolve(&a.addr)?;
    let tls = a
        .ca_file
        .as_ref()
        .map(|f| tls_config(f, false))
        .transpose()?;
    let name = ServerName::try_from(a.server_name.clone())?;
    let mech = ScramMechanism::from_name(&a.mechanism)
        .with_context(|| format!("unknown mechanism {}", a.mechanism))?;
    let password = std::fs::read_to_string(&a.password_file)
        .with_context(|| format!("reading {}", a.password_file.display()))?;
    let password = password.lines().next().unwrap_or("").to_owned();
    let next = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let lat = Mutex::new(Vec::new());
    let first_error = Mutex::new(None::<String>);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..a.threads.max(1) {
            let (next, errors, lat, first_error) = (&next, &errors, &lat, &first_error);
            let (a, tls, name, password) = (&a, &tls, &name, &password);
            s.spawn(move || {
                let mut salted: Option<(Vec<u8>, u32, Vec<u8>)> = None;
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= a.clients {
                        break;
                    }
                    let begun = Instant::now();
                    let clock = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    let nonce = format!("b{t}x{i}x{clock}");
                    let cache = if a.pbkdf2_per_client {
                        None
                    } else {
                        salted.take()
                    };
                    match authenticate(
                        addr,
                        tls.as_ref(),
                        name,
                        mech,
                        &a.user,
                        password,
                        &nonce,
                        cache,
                    ) {
                        Ok(kept) => {
                            mine.push(begun.elapsed().as_micros() as u64);
                            salted = Some(kept);
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(format!("{e:#}"));
                        }
                    }
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = first_error.into_inner().unwrap() {
        eprintln!("scram-auth: first error: {e}");
    }
    let mut lat = lat.into_inner().unwrap();
    report(
        "scram-auth",
        &format!(
            "mechanism={} tls={} pbkdf2_per_client={} threads={}",
            mech.name(),
            tls.is_some(),
            a.pbkdf2_per_client,
            a.threads
        ),
        lat.len() as u64,
        errors.into_inner(),
        secs,
        &mut lat,
    );
    Ok(())
}

/// One client: connect, SaslHandshake v1, client-first, client-final (RFC
/// 5802), checking the server's signature. `salted` is a salted password
/// kept from an earlier exchange (salt, iterations, SaltedPassword); the
/// one used is returned.
#[allow(clippy::too_many_arguments)]
fn authenticate(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    name: &ServerName<'static>,
    mech: ScramMechanism,
    user: &str,
    password: &str,
    nonce: &str,
    salted: Option<(Vec<u8>, u32, Vec<u8>)>,
) -> Result<(Vec<u8>, u32, Vec<u8>)> {
    let mut c = Conn::open(addr, tls, name)?;
    let h: SaslHandshakeResponse = c.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mech.name().into())),
    )?;
    if h.error_code != 0 {
        bail!("SaslHandshake error {}", h.error_code);
    }
    let first_bare = format!("n={user},r={nonce}");
    let r1 = sasl_authenticate(&mut c, format!("n,,{first_bare}").into_bytes())?;
    let server_first = String::from_utf8(r1.to_vec())?;
    let fields: Vec<&str> = server_first.split(',').collect();
    if fields.len() < 3 || !fields[0].starts_with("r=") || !fields[0][2..].starts_with(nonce) {
        bail!("bad server-first message");
    }
    let salt = BASE64.decode(&fields[1][2..])?;
    let iterations: u32 = fields[2][2..].parse()?;
    let salted_password = match salted {
        Some((s, i, p)) if s == salt && i == iterations => p,
        _ => mech.salted_password(password.as_bytes(), &salt, iterations),
    };
    let client_key = mech.hmac(&salted_password, b"Client Key");
    let stored_key = match mech {
        ScramMechanism::Sha256 => sha2::Sha256::digest(&client_key).to_vec(),
        ScramMechanism::Sha512 => sha2::Sha512::digest(&client_key).to_vec(),
    };
    let without_proof = format!("c=biws,{}", fields[0]);
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let signature = mech.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let r2 = sasl_authenticate(
        &mut c,
        format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
    )?;
    let server_key = mech.hmac(&salted_password, b"Server Key");
    let expected = format!(
        "v={}",
        BASE64.encode(mech.hmac(&server_key, auth_message.as_bytes()))
    );
    if r2[..] != *expected.as_bytes() {
        bail!("the server's signature does not verify");
    }
    Ok((salt, iterations, salted_password))
}

fn sasl_authenticate(c: &mut Conn, token: Vec<u8>) -> Result<Bytes> {
    let r: SaslAuthenticateResponse = c.call(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
    )?;
    if r.error_code != 0 {
        bail!(
            "SaslAuthenticate error {}: {}",
            r.error_code,
            r.error_message.as_deref().unwrap_or("")
        );
    }
    Ok(r.auth_bytes)
}
