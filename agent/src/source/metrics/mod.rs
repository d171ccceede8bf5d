//! Metric sources: samples that become records `{name, labels, value,
//! type, timestamp}` (docs/design.md, "Records"), keyed by series.
//!
//! - `sample`: the [`sample::Sample`] value type, its JSON record and key.
//! - `exposition`: parsing a scraped page in the Prometheus text format or
//!   OpenMetrics text (pure), for the `prometheus_scrape` source.
//! - `host`: CPU, memory, swap, load, disks, filesystems, network and
//!   uptime from `/proc` (and `statvfs`), for the `host_metrics` source.
//!
//! - `run`: the sources' loops: collecting at each `interval`, and one
//!   shipper per source keying, partitioning and sending the samples.

pub mod exposition;
pub mod host;
pub mod run;
pub mod sample;
