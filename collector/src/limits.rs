//! Kafka connection limits: `max_connections` over all listeners and
//! `max_connections_per_ip` (Kafka's names). A connection holds a
//! [`ConnectionPermit`] for its lifetime; dropping it frees the slot.
//! Thread-safe: the accept loops of every listener share one limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was refused (the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    MaxConnections,
    MaxConnectionsPerIp,
}

impl Refused {
    pub fn label(self) -> &'static str {
        match self {
            Refused::MaxConnections => "max_connections",
            Refused::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }
}

pub struct ConnectionLimits {
    max_total: u32,
    max_per_ip: u32,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: u32,
    /// Only IPs with at least one open connection (entries are removed at
    /// zero, so the map is bounded by `max_total`).
    per_ip: HashMap<IpAddr, u32>,
}

impl ConnectionLimits {
    pub fn new(max_total: u32, max_per_ip: u32) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_ip,
            open: Mutex::new(Open::default()),
        })
    }

    /// Takes a slot for a connection from `ip`, or says which limit is hit.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return Err(Refused::MaxConnections);
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Refused::MaxConnectionsPerIp);
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionPermit {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Open connections (all listeners).
    pub fn open(&self) -> u32 {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

/// One connection's slot; released on drop.
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total_limits_and_release() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.try_acquire(a).unwrap();
        let _a2 = limits.try_acquire(a).unwrap();
        assert_eq!(
            limits.try_acquire(a).err(),
            Some(Refused::MaxConnectionsPerIp)
        );
        let _b1 = limits.try_acquire(b).unwrap();
        assert_eq!(limits.try_acquire(b).err(), Some(Refused::MaxConnections));
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _a3 = limits.try_acquire(a).unwrap();
        assert_eq!(limits.open(), 3);
    }

    #[test]
    fn released_ips_leave_the_map() {
        let limits = ConnectionLimits::new(10, 10);
        for i in 0..5u8 {
            drop(limits.try_acquire(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert!(limits.open.lock().unwrap().per_ip.is_empty());
    }
}
