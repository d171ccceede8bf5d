//! Host metrics from `/proc` and `statvfs`: what node_exporter's default
//! Linux collectors report, under `host_*` names, each sample labelled
//! `host`. [`collect`] reads the files; each `*_samples` function is pure
//! (file contents in, samples out) so it is tested on captured text.
//!
//! | file | samples |
//! |---|---|
//! | `/proc/stat` | `host_cpu_seconds_total{cpu,mode}` (counter; `cpu` is the CPU number, or `all` for the machine-wide line, so sum by mode over `cpu!="all"` only), `host_cpu_guest_seconds_total{cpu,mode=user\|nice}` (time also counted in `user`/`nice`, kept apart as node_exporter does so the modes add up) |
//! | `/proc/meminfo` | `host_memory_{total,available,free,cached,buffers}_bytes`, `host_swap_{total,free}_bytes` (gauges) |
//! | `/proc/loadavg` | `host_load1`, `host_load5`, `host_load15` (gauges) |
//! | `/proc/diskstats` | `host_disk_{reads_completed,read_bytes,writes_completed,written_bytes,io_time_seconds}_total{device}` (counters) |
//! | `/proc/net/dev` | `host_network_{receive,transmit}_{bytes,packets,errs,drop}_total{device}` (counters) |
//! | `/proc/mounts` + `statvfs` | `host_filesystem_{size,avail,free}_bytes`, `host_filesystem_files`, `host_filesystem_files_free` `{mountpoint,fstype,device}` (gauges) |
//! | `/proc/uptime` | `host_uptime_seconds` (gauge) |
//!
//! Choices:
//! - CPU times are in ticks of `USER_HZ`, taken to be 100: it is fixed
//!   kernel ABI (independent of `CONFIG_HZ`) on every architecture Linux
//!   runs on today except alpha and ia64. Reading `AT_CLKTCK` needs a
//!   syscall crate (`rustix::param::clock_ticks_per_second`).
//! - Disks: whole devices only — `/sys/block` lists them, so partitions
//!   (which would count the same I/O twice) and RAM/loop/zram/floppy
//!   devices are skipped; without `/sys` a name pattern decides.
//!   `/proc/diskstats` counts 512-byte sectors whatever the device's
//!   block size.
//! - Filesystems: pseudo and read-only image filesystems (proc, sysfs,
//!   cgroup, devtmpfs, overlay, squashfs, ...) and mounts under `/dev`,
//!   `/proc`, `/sys` and container storage are skipped, as node_exporter
//!   does by default. `tmpfs` is kept: `/run` or `/tmp` filling up is a
//!   real outage. A mount point mounted twice reports the top mount.
//! - A file that cannot be read (e.g. no `/proc/diskstats` in a sandbox)
//!   drops its samples only; the rest are still reported.
//!
//! `collect` does blocking I/O, and `statvfs` on a dead network mount can
//! hang: call it on a blocking thread (`spawn_blocking`) so it cannot
//! stall other sources.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::Path;

use super::sample::{Kind, Sample};

/// Clock ticks per second of `/proc/stat` (see the module docs).
const USER_HZ: f64 = 100.0;
/// `/proc/diskstats` sector unit.
const SECTOR_BYTES: f64 = 512.0;

/// Samples of this machine at `now_ms`, each labelled `host`.
pub fn collect(host: &str, now_ms: i64) -> Vec<Sample> {
    collect_from(Path::new("/"), host, now_ms, &statvfs)
}

/// [`collect`] with `/proc` and `/sys` under `root`, and `stat` in place of
/// `statvfs` (tests, or a host filesystem mounted into a container).
pub fn collect_from(
    root: &Path,
    host: &str,
    now_ms: i64,
    stat: &dyn Fn(&str) -> io::Result<FsStats>,
) -> Vec<Sample> {
    let read = |path: &str| match std::fs::read_to_string(root.join(path)) {
        Ok(text) => Some(text),
        Err(error) => {
            tracing::debug!(path, %error, "host metrics: cannot read");
            None
        }
    };
    let mut out = Out::new(host, now_ms);
    if let Some(text) = read("proc/stat") {
        cpu_samples(&text, &mut out);
    }
    if let Some(text) = read("proc/meminfo") {
        memory_samples(&text, &mut out);
    }
    if let Some(text) = read("proc/loadavg") {
        load_samples(&text, &mut out);
    }
    if let Some(text) = read("proc/diskstats") {
        let whole_disks = std::fs::read_dir(root.join("sys/block")).ok().map(|dir| {
            dir.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect::<HashSet<_>>()
        });
        // An empty `/sys/block` (some sandboxes) says nothing: use names.
        let whole_disks = whole_disks.filter(|disks| !disks.is_empty());
        disk_samples(&text, whole_disks.as_ref(), &mut out);
    }
    if let Some(text) = read("proc/net/dev") {
        network_samples(&text, &mut out);
    }
    if let Some(text) = read("proc/mounts") {
        filesystem_samples(&text, stat, &mut out);
    }
    if let Some(text) = read("proc/uptime") {
        uptime_samples(&text, &mut out);
    }
    out.samples
}

/// What `statvfs(3)` says about one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// `f_blocks * f_frsize`
    pub size_bytes: u64,
    /// `f_bfree * f_frsize`: free, including blocks reserved for root.
    pub free_bytes: u64,
    /// `f_bavail * f_frsize`: free for unprivileged users.
    pub avail_bytes: u64,
    /// `f_files`
    pub files: u64,
    /// `f_ffree`
    pub files_free: u64,
}

/// `statvfs(2)` on `mountpoint` — the one syscall of this module, through
/// `rustix` (std has none, and the workspace forbids `unsafe`).
pub fn statvfs(mountpoint: &str) -> io::Result<FsStats> {
    let s = rustix::fs::statvfs(mountpoint)?;
    Ok(FsStats {
        size_bytes: s.f_blocks.saturating_mul(s.f_frsize),
        free_bytes: s.f_bfree.saturating_mul(s.f_frsize),
        avail_bytes: s.f_bavail.saturating_mul(s.f_frsize),
        files: s.f_files,
        files_free: s.f_ffree,
    })
}

/// Collects samples, adding the `host` label and timestamp to each.
struct Out<'a> {
    host: &'a str,
    now_ms: i64,
    samples: Vec<Sample>,
}

impl<'a> Out<'a> {
    fn new(host: &'a str, now_ms: i64) -> Self {
        Out {
            host,
            now_ms,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, kind: Kind, value: f64, labels: &[(&str, &str)]) {
        let mut map = BTreeMap::new();
        map.insert("host".to_string(), self.host.to_string());
        for (k, v) in labels {
            map.insert(k.to_string(), v.to_string());
        }
        self.samples.push(Sample {
            name: name.to_string(),
            labels: map,
            value,
            kind,
            timestamp_ms: self.now_ms,
        });
    }
}

/// The numbers on a line after its first `skip` fields; parsing stops at
/// the first field that is not an unsigned integer.
fn numbers(line: &str, skip: usize) -> Vec<u64> {
    line.split_ascii_whitespace()
        .skip(skip)
        .map_while(|f| f.parse().ok())
        .collect()
}

/// `/proc/stat`: `cpu` and `cpuN` lines of ticks per mode.
fn cpu_samples(stat: &str, out: &mut Out) {
    const MODES: [&str; 8] = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    for line in stat.lines() {
        let Some(label) = line.split_ascii_whitespace().next() else {
            continue;
        };
        let Some(cpu) = label.strip_prefix("cpu") else {
            continue;
        };
        let cpu = if cpu.is_empty() { "all" } else { cpu };
        if cpu != "all" && !cpu.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let ticks = numbers(line, 1);
        for (mode, t) in MODES.iter().zip(&ticks) {
            out.push(
                "host_cpu_seconds_total",
                Kind::Counter,
                *t as f64 / USER_HZ,
                &[("cpu", cpu), ("mode", mode)],
            );
        }
        for (mode, t) in ["user", "nice"].iter().zip(ticks.iter().skip(MODES.len())) {
            out.push(
                "host_cpu_guest_seconds_total",
                Kind::Counter,
                *t as f64 / USER_HZ,
                &[("cpu", cpu), ("mode", mode)],
            );
        }
    }
}

/// `/proc/meminfo`: `Key:   value kB` lines.
fn memory_samples(meminfo: &str, out: &mut Out) {
    const FIELDS: [(&str, &str); 7] = [
        ("MemTotal", "host_memory_total_bytes"),
        ("MemAvailable", "host_memory_available_bytes"),
        ("MemFree", "host_memory_free_bytes"),
        ("Cached", "host_memory_cached_bytes"),
        ("Buffers", "host_memory_buffers_bytes"),
        ("SwapTotal", "host_swap_total_bytes"),
        ("SwapFree", "host_swap_free_bytes"),
    ];
    let mut values = BTreeMap::new();
    for line in meminfo.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut fields = rest.split_ascii_whitespace();
        let Some(Ok(n)) = fields.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match fields.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        };
        values.insert(key.trim(), bytes);
    }
    for (key, name) in FIELDS {
        if let Some(v) = values.get(key) {
            out.push(name, Kind::Gauge, *v as f64, &[]);
        }
    }
}

/// `/proc/loadavg`: `0.52 0.58 0.59 1/389 12345`.
fn load_samples(loadavg: &str, out: &mut Out) {
    let loads = loadavg.split_ascii_whitespace().map(str::parse::<f64>);
    for (name, load) in ["host_load1", "host_load5", "host_load15"]
        .into_iter()
        .zip(loads)
    {
        if let Ok(v) = load {
            out.push(name, Kind::Gauge, v, &[]);
        }
    }
}

/// Whether a `/proc/diskstats` device is a whole, real disk. `whole_disks`
/// is the listing of `/sys/block` when there is one.
fn keep_disk(name: &str, whole_disks: Option<&HashSet<String>>) -> bool {
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if ["ram", "zram", "loop", "fd"].into_iter().any(numbered) {
        return false;
    }
    match whole_disks {
        // `/sys/block` writes the `/` of names like `cciss/c0d0` as `!`.
        Some(disks) => disks.contains(&name.replace('/', "!")),
        None => !is_partition_name(name),
    }
}

/// node_exporter's fallback pattern for partitions: `sda1`, `vdb2`,
/// `xvda1`, `hda3`, `nvme0n1p2`, `mmcblk0p1`.
fn is_partition_name(name: &str) -> bool {
    let digits = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if digits.len() == name.len() {
        return false;
    }
    let b = digits.as_bytes();
    let letter_disk = |prefix: &str| {
        digits
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.len() == 1 && rest.as_bytes()[0].is_ascii_lowercase())
    };
    let nvme_or_mmc = b.last() == Some(&b'p')
        && (name.starts_with("nvme") || name.starts_with("mmcblk"))
        && digits[..digits.len() - 1]
            .bytes()
            .last()
            .is_some_and(|c| c.is_ascii_digit());
    ["sd", "vd", "hd", "xvd"].into_iter().any(letter_disk) || nvme_or_mmc
}

/// `/proc/diskstats`: `major minor name` then the I/O counters
/// (Documentation/admin-guide/iostats.rst).
fn disk_samples(diskstats: &str, whole_disks: Option<&HashSet<String>>, out: &mut Out) {
    for line in diskstats.lines() {
        let Some(device) = line.split_ascii_whitespace().nth(2) else {
            continue;
        };
        let f = numbers(line, 3);
        // Kernels before 2.6.25 wrote 4 fields for partitions.
        if f.len() < 10 || !keep_disk(device, whole_disks) {
            continue;
        }
        let labels = [("device", device)];
        let counters = [
            ("host_disk_reads_completed_total", f[0] as f64),
            ("host_disk_read_bytes_total", f[2] as f64 * SECTOR_BYTES),
            ("host_disk_writes_completed_total", f[4] as f64),
            ("host_disk_written_bytes_total", f[6] as f64 * SECTOR_BYTES),
            ("host_disk_io_time_seconds_total", f[9] as f64 / 1000.0),
        ];
        for (name, v) in counters {
            out.push(name, Kind::Counter, v, &labels);
        }
    }
}

/// `/proc/net/dev`: two header lines, then `iface: 8 receive and 8
/// transmit counters`.
fn network_samples(netdev: &str, out: &mut Out) {
    const FIELDS: [(&str, usize); 8] = [
        ("host_network_receive_bytes_total", 0),
        ("host_network_receive_packets_total", 1),
        ("host_network_receive_errs_total", 2),
        ("host_network_receive_drop_total", 3),
        ("host_network_transmit_bytes_total", 8),
        ("host_network_transmit_packets_total", 9),
        ("host_network_transmit_errs_total", 10),
        ("host_network_transmit_drop_total", 11),
    ];
    for line in netdev.lines() {
        // Interface names cannot contain ':' (dev_valid_name).
        let Some((device, counters)) = line.split_once(':') else {
            continue;
        };
        let device = device.trim();
        let f = numbers(counters, 0);
        if device.is_empty() || f.len() < 16 {
            continue;
        }
        for (name, i) in FIELDS {
            out.push(name, Kind::Counter, f[i] as f64, &[("device", device)]);
        }
    }
}

/// Filesystem types that hold no user data or whose size means nothing.
const PSEUDO_FS: &str =
    "autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs efivarfs \
    erofs fusectl fuse.lxcfs hugetlbfs iso9660 mqueue nsfs overlay proc procfs \
    pstore ramfs rpc_pipefs securityfs selinuxfs squashfs sysfs tracefs";

fn keep_mount(mountpoint: &str, fstype: &str) -> bool {
    if PSEUDO_FS.split_ascii_whitespace().any(|t| t == fstype) {
        return false;
    }
    let under = |dir: &str| {
        mountpoint
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let inside = |dir: &str| {
        mountpoint
            .strip_prefix(dir)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    };
    !(["/dev", "/proc", "/sys"].into_iter().any(under)
        || [
            "/run/credentials",
            "/var/lib/docker",
            "/var/lib/containers/storage",
        ]
        .into_iter()
        .any(inside))
}

/// Undoes the octal escapes of `/proc/mounts` fields (`\040` for a space,
/// `\011`, `\012`, `\134`).
fn unescape_mount_field(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/mounts` (`device mountpoint fstype options 0 0`), then `stat`
/// for each real filesystem. A mount `stat` fails on (permissions, a gone
/// mount) is skipped.
fn filesystem_samples(mounts: &str, stat: &dyn Fn(&str) -> io::Result<FsStats>, out: &mut Out) {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for line in mounts.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(device), Some(mountpoint), Some(fstype)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mountpoint = unescape_mount_field(mountpoint);
        if !keep_mount(&mountpoint, fstype) {
            continue;
        }
        let entry = (mountpoint, unescape_mount_field(device), fstype.to_string());
        // A later mount on the same point hides the earlier one.
        match seen.iter_mut().find(|(m, _, _)| *m == entry.0) {
            Some(old) => *old = entry,
            None => seen.push(entry),
        }
    }
    for (mountpoint, device, fstype) in &seen {
        let s = match stat(mountpoint) {
            Ok(s) => s,
            Err(error) => {
                tracing::debug!(mountpoint, %error, "host metrics: statvfs failed");
                continue;
            }
        };
        let labels = [
            ("mountpoint", mountpoint.as_str()),
            ("fstype", fstype.as_str()),
            ("device", device.as_str()),
        ];
        let gauges = [
            ("host_filesystem_size_bytes", s.size_bytes),
            ("host_filesystem_avail_bytes", s.avail_bytes),
            ("host_filesystem_free_bytes", s.free_bytes),
            ("host_filesystem_files", s.files),
            ("host_filesystem_files_free", s.files_free),
        ];
        for (name, v) in gauges {
            out.push(name, Kind::Gauge, v as f64, &labels);
        }
    }
}

/// `/proc/uptime`: `seconds-up seconds-idle`.
fn uptime_samples(uptime: &str, out: &mut Out) {
    if let Some(Ok(up)) = uptime
        .split_ascii_whitespace()
        .next()
        .map(str::parse::<f64>)
    {
        out.push("host_uptime_seconds", Kind::Gauge, up, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_611_064_000;

    fn run(f: impl FnOnce(&mut Out)) -> Vec<Sample> {
        let mut out = Out::new("web-1", NOW);
        f(&mut out);
        out.samples
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        want.insert("host".into(), "web-1".into());
        samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no sample {name} {want:?}"))
            .value
    }

    fn devices(samples: &[Sample]) -> Vec<&str> {
        let mut d: Vec<&str> = samples
            .iter()
            .map(|s| s.labels["device"].as_str())
            .collect();
        d.dedup();
        d
    }

    // Captured on the development VM (kernel 6.18, 2 CPUs).
    const STAT: &str = "\
cpu  1282826 0 239190 966745 39473 0 9619 1793 0 0
cpu0 633842 0 107827 514303 13045 0 1618 902 0 0
cpu1 648984 0 131363 452441 26428 0 8000 891 0 0
intr 22221488 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 15 0 0 0
ctxt 57949772
btime 1795598557
processes 300866
procs_running 1
procs_blocked 0
softirq 17728912 0 762503 4 3679332 10120016 0 626 979949 356019 1830463
";

    #[test]
    fn cpu_seconds_per_mode_per_cpu_and_all() {
        let s = run(|out| cpu_samples(STAT, out));
        // 3 lines x (8 modes + 2 guest modes).
        assert_eq!(s.len(), 30);
        assert_eq!(
            value(
                &s,
                "host_cpu_seconds_total",
                &[("cpu", "all"), ("mode", "user")]
            ),
            12828.26
        );
        assert_eq!(
            value(
                &s,
                "host_cpu_seconds_total",
                &[("cpu", "1"), ("mode", "steal")]
            ),
            8.91
        );
        assert_eq!(
            value(
                &s,
                "host_cpu_seconds_total",
                &[("cpu", "0"), ("mode", "idle")]
            ),
            5143.03
        );
        assert_eq!(
            value(
                &s,
                "host_cpu_guest_seconds_total",
                &[("cpu", "0"), ("mode", "nice")]
            ),
            0.0
        );
        assert!(s
            .iter()
            .all(|s| s.kind == Kind::Counter && s.timestamp_ms == NOW));
        assert!(s.iter().all(|s| s.labels["host"] == "web-1"));
        // An old kernel's 4-field line gives the modes it has.
        let s = run(|out| cpu_samples("cpu  10 20 30 40\n", out));
        assert_eq!(s.len(), 4);
    }

    // Captured on the development VM, abridged.
    const MEMINFO: &str = "\
MemTotal:       24684096 kB
MemFree:         4879436 kB
MemAvailable:   23290960 kB
Buffers:           43748 kB
Cached:         18287532 kB
SwapCached:            0 kB
Active(anon):       1560 kB
SwapTotal:       2097148 kB
SwapFree:        2096124 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn memory_and_swap_in_bytes() {
        let s = run(|out| memory_samples(MEMINFO, out));
        assert_eq!(s.len(), 7);
        assert_eq!(
            value(&s, "host_memory_total_bytes", &[]),
            24_684_096.0 * 1024.0
        );
        assert_eq!(
            value(&s, "host_memory_available_bytes", &[]),
            23_290_960.0 * 1024.0
        );
        assert_eq!(
            value(&s, "host_memory_free_bytes", &[]),
            4_879_436.0 * 1024.0
        );
        assert_eq!(
            value(&s, "host_memory_cached_bytes", &[]),
            18_287_532.0 * 1024.0
        );
        assert_eq!(
            value(&s, "host_memory_buffers_bytes", &[]),
            43_748.0 * 1024.0
        );
        assert_eq!(
            value(&s, "host_swap_total_bytes", &[]),
            2_097_148.0 * 1024.0
        );
        assert_eq!(value(&s, "host_swap_free_bytes", &[]), 2_096_124.0 * 1024.0);
        assert!(s.iter().all(|s| s.kind == Kind::Gauge));
        // Kernels before 3.14 have no MemAvailable: that sample is left out.
        let s = run(|out| memory_samples("MemTotal: 1 kB\nMemFree: 1 kB\n", out));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn load_and_uptime() {
        let s = run(|out| {
            load_samples("2.94 3.05 2.63 6/120 26053\n", out);
            uptime_samples("12515.66 9503.22\n", out);
        });
        assert_eq!(value(&s, "host_load1", &[]), 2.94);
        assert_eq!(value(&s, "host_load5", &[]), 3.05);
        assert_eq!(value(&s, "host_load15", &[]), 2.63);
        assert_eq!(value(&s, "host_uptime_seconds", &[]), 12515.66);
        assert!(s.iter().all(|s| s.kind == Kind::Gauge));
    }

    // Captured on the development VM (20 columns: kernel >= 5.5).
    const DISKSTATS_VM: &str = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   7       1 loop1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 1639901 28658 85346978 6720617 9113671 2150430 812941264 5387846 0 823984 12363009 510064 39 703918592 132628 2524136 121917
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    // A laptop's layout (NVMe with partitions, dm-crypt, SD card, RAM
    // disks), 14 columns as written by kernels before 4.18.
    const DISKSTATS_LAPTOP: &str = "   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 306554 73468 20114930 76436 502611 341289 33484728 1002376 0 379428 1086160
 259       1 nvme0n1p1 376 0 13512 118 2 0 2 0 0 116 118
 259       2 nvme0n1p2 306101 73468 20096018 76292 502609 341289 33484726 1002376 0 379372 1085952
 253       0 dm-0 379402 0 20093282 101272 843900 0 33484726 3424756 0 379788 3526028
 179       0 mmcblk0 98 0 4688 61 0 0 0 0 0 68 61
 179       1 mmcblk0p1 57 0 2832 36 0 0 0 0 0 44 36
   8       0 sda 51 0 2168 20 0 0 0 0 0 28 20
   8       1 sda1 10 0 80 3 0 0 0 0 0 4 3
";

    #[test]
    fn disks_whole_devices_only() {
        let sys_block: HashSet<String> =
            ["loop0", "loop1", "vda", "zram0"].map(String::from).into();
        let s = run(|out| disk_samples(DISKSTATS_VM, Some(&sys_block), out));
        assert_eq!(devices(&s), ["vda"]);
        assert_eq!(
            value(&s, "host_disk_reads_completed_total", &[("device", "vda")]),
            1_639_901.0
        );
        assert_eq!(
            value(&s, "host_disk_read_bytes_total", &[("device", "vda")]),
            85_346_978.0 * 512.0
        );
        assert_eq!(
            value(&s, "host_disk_writes_completed_total", &[("device", "vda")]),
            9_113_671.0
        );
        assert_eq!(
            value(&s, "host_disk_written_bytes_total", &[("device", "vda")]),
            812_941_264.0 * 512.0
        );
        assert_eq!(
            value(&s, "host_disk_io_time_seconds_total", &[("device", "vda")]),
            823.984
        );
        assert!(s.iter().all(|s| s.kind == Kind::Counter));

        // With /sys/block: exactly the whole disks it lists.
        let sys_block: HashSet<String> = ["ram0", "nvme0n1", "dm-0", "mmcblk0", "sda"]
            .map(String::from)
            .into();
        let s = run(|out| disk_samples(DISKSTATS_LAPTOP, Some(&sys_block), out));
        assert_eq!(devices(&s), ["nvme0n1", "dm-0", "mmcblk0", "sda"]);
        // Without it: the name pattern finds the same ones.
        let s = run(|out| disk_samples(DISKSTATS_LAPTOP, None, out));
        assert_eq!(devices(&s), ["nvme0n1", "dm-0", "mmcblk0", "sda"]);
        assert_eq!(
            value(
                &s,
                "host_disk_io_time_seconds_total",
                &[("device", "nvme0n1")]
            ),
            379.428
        );
    }

    #[test]
    fn partition_names() {
        for p in ["sda1", "vdb12", "hda3", "xvda1", "nvme0n1p2", "mmcblk0p1"] {
            assert!(is_partition_name(p), "{p}");
        }
        for d in [
            "sda", "vda", "xvdb", "nvme0n1", "mmcblk0", "dm-0", "md0", "sr0", "nbd0",
        ] {
            assert!(!is_partition_name(d), "{d}");
        }
        assert!(
            !keep_disk("loop3", None) && !keep_disk("zram0", None) && !keep_disk("ram15", None)
        );
        let cciss: HashSet<String> = ["cciss!c0d0".to_string()].into();
        assert!(keep_disk("cciss/c0d0", Some(&cciss)));
    }

    // Captured on the development VM.
    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 73782866116 3464894    0    0    0     0          0         0 73782866116 3464894    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 282251140   14354    3    7    0     0          0         0   910966    8324    1    2    0     0       0          0
";

    #[test]
    fn network_counters_per_interface() {
        let s = run(|out| network_samples(NET_DEV, out));
        assert_eq!(s.len(), 3 * 8);
        let eth0 = [("device", "eth0")];
        assert_eq!(
            value(&s, "host_network_receive_bytes_total", &eth0),
            282_251_140.0
        );
        assert_eq!(
            value(&s, "host_network_receive_packets_total", &eth0),
            14354.0
        );
        assert_eq!(value(&s, "host_network_receive_errs_total", &eth0), 3.0);
        assert_eq!(value(&s, "host_network_receive_drop_total", &eth0), 7.0);
        assert_eq!(
            value(&s, "host_network_transmit_bytes_total", &eth0),
            910_966.0
        );
        assert_eq!(
            value(&s, "host_network_transmit_packets_total", &eth0),
            8324.0
        );
        assert_eq!(value(&s, "host_network_transmit_errs_total", &eth0), 1.0);
        assert_eq!(value(&s, "host_network_transmit_drop_total", &eth0), 2.0);
        assert_eq!(
            value(&s, "host_network_receive_bytes_total", &[("device", "lo")]),
            73_782_866_116.0
        );
        assert!(s.iter().all(|s| s.kind == Kind::Counter));
        // Old kernels glue big counters to the colon.
        let s =
            run(|out| network_samples("  eth1:4294967296 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n", out));
        assert_eq!(
            value(
                &s,
                "host_network_receive_bytes_total",
                &[("device", "eth1")]
            ),
            4_294_967_296.0
        );
    }

    // The development VM's mounts, plus a desktop's (escaped space, a
    // docker overlay, a tmpfs mounted over another, snap squashfs).
    const MOUNTS: &str = "proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334524k,nr_inodes=3083631,mode=755 0 0
tmpfs /dev/shm tmpfs rw,relatime,size=24684096k 0 0
devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0
/dev/vda / ext4 rw,relatime,discard,resv_strict,resuid=65534,resgid=65534 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
/dev/nvme0n1p1 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=1620400k,mode=755 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=3240800k,mode=755 0 0
/dev/mapper/data /mnt/my\\040disk xfs rw,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime 0 0
/dev/loop4 /snap/core/16202 squashfs ro,nodev,relatime 0 0
";

    fn fake_stat(mountpoint: &str) -> io::Result<FsStats> {
        if mountpoint == "/boot/efi" {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        let n = mountpoint.len() as u64;
        Ok(FsStats {
            size_bytes: n * 4096,
            free_bytes: n * 2048,
            avail_bytes: n * 1024,
            files: n * 100,
            files_free: n * 10,
        })
    }

    #[test]
    fn filesystems_skip_pseudo_and_unstatable_mounts() {
        let s = run(|out| filesystem_samples(MOUNTS, &fake_stat, out));
        let mut mounts: Vec<(&str, &str, &str)> = s
            .iter()
            .map(|s| {
                (
                    s.labels["mountpoint"].as_str(),
                    s.labels["fstype"].as_str(),
                    s.labels["device"].as_str(),
                )
            })
            .collect();
        mounts.dedup();
        assert_eq!(
            mounts,
            [
                ("/", "ext4", "/dev/vda"),
                ("/run", "tmpfs", "tmpfs"),
                ("/mnt/my disk", "xfs", "/dev/mapper/data"),
            ]
        );
        assert_eq!(s.len(), 3 * 5);
        let root = [
            ("mountpoint", "/"),
            ("fstype", "ext4"),
            ("device", "/dev/vda"),
        ];
        assert_eq!(value(&s, "host_filesystem_size_bytes", &root), 4096.0);
        assert_eq!(value(&s, "host_filesystem_free_bytes", &root), 2048.0);
        assert_eq!(value(&s, "host_filesystem_avail_bytes", &root), 1024.0);
        assert_eq!(value(&s, "host_filesystem_files", &root), 100.0);
        assert_eq!(value(&s, "host_filesystem_files_free", &root), 10.0);
        assert!(s.iter().all(|s| s.kind == Kind::Gauge));
    }

    #[test]
    fn mount_fields_unescape() {
        assert_eq!(
            unescape_mount_field("/mnt/a\\040b\\011c\\134d"),
            "/mnt/a b\tc\\d"
        );
        assert_eq!(unescape_mount_field("/x\\04"), "/x\\04");
        assert_eq!(unescape_mount_field("/mnt/é"), "/mnt/é");
    }

    #[test]
    fn collect_from_a_fake_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/net")).unwrap();
        std::fs::create_dir_all(root.join("sys/block/vda")).unwrap();
        for (path, text) in [
            ("proc/stat", STAT),
            ("proc/meminfo", MEMINFO),
            ("proc/loadavg", "0.5 0.25 0.125 1/2 3\n"),
            ("proc/diskstats", DISKSTATS_VM),
            ("proc/net/dev", NET_DEV),
            ("proc/mounts", MOUNTS),
            ("proc/uptime", "100.5 3.0\n"),
        ] {
            std::fs::write(root.join(path), text).unwrap();
        }
        let s = collect_from(root, "web-1", NOW, &fake_stat);
        assert_eq!(s.len(), 30 + 7 + 3 + 5 + 24 + 15 + 1);
        assert_eq!(value(&s, "host_uptime_seconds", &[]), 100.5);
        assert!(s
            .iter()
            .all(|s| s.labels["host"] == "web-1" && s.timestamp_ms == NOW));

        // A missing file drops only its own samples.
        std::fs::remove_file(root.join("proc/diskstats")).unwrap();
        assert_eq!(
            collect_from(root, "web-1", NOW, &fake_stat).len(),
            s.len() - 5
        );
    }

    fn read_proc(path: &str) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn collect_on_this_machine_matches_proc() {
        let up_before: f64 = read_proc("/proc/uptime")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let s = collect("this-host", NOW);
        let up_after: f64 = read_proc("/proc/uptime")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(s
            .iter()
            .all(|s| s.labels["host"] == "this-host" && s.timestamp_ms == NOW));
        let get = |name: &str| {
            s.iter()
                .find(|s| s.name == name && s.labels.len() == 1)
                .unwrap_or_else(|| panic!("no {name}"))
                .value
        };

        let mem_total_kb: f64 = read_proc("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        assert_eq!(get("host_memory_total_bytes"), mem_total_kb * 1024.0);

        let up = get("host_uptime_seconds");
        assert!(
            up_before <= up && up <= up_after + 1.0,
            "{up_before} <= {up} <= {up_after}"
        );

        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let user: Vec<&Sample> = s
            .iter()
            .filter(|s| s.name == "host_cpu_seconds_total" && s.labels["mode"] == "user")
            .collect();
        // One per CPU the kernel has online (at least those we may run on) plus `all`.
        assert!(
            user.len() > cpus,
            "{} user series for {cpus} CPUs",
            user.len()
        );
        assert!(user
            .iter()
            .any(|s| s.labels["cpu"] == "all" && s.value > 0.0));

        let load1 = get("host_load1");
        assert!(load1 >= 0.0);
        if std::path::Path::new("/proc/net/dev").exists() {
            assert!(s
                .iter()
                .any(|s| s.name == "host_network_receive_bytes_total"));
        }
    }
}
