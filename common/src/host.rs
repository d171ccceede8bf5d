//! This machine's name: the agent's `host` record header and the address
//! the collector advertises when it listens on every interface.

/// The kernel's host name, else `$HOSTNAME`, else `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_host_name_is_one_trimmed_word() {
        let h = super::hostname();
        assert!(!h.is_empty());
        assert_eq!(h, h.trim());
        assert!(!h.contains('\n'));
    }
}
