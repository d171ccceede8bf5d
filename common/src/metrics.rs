//! The Prometheus text exposition both roles serve on `/metrics`.

use prometheus::{Encoder, Registry, TextEncoder};

/// `Content-Type` of [`render`]'s output (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus text exposition of every metric in `registry`.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding cannot fail");
    String::from_utf8(out).expect("exposition is UTF-8")
}

#[cfg(test)]
mod tests {
    use prometheus::{IntCounter, Registry};

    #[test]
    fn renders_registered_metrics_as_text() {
        let r = Registry::new();
        let c = IntCounter::new("logship_test_things_total", "Things.").unwrap();
        r.register(Box::new(c.clone())).unwrap();
        c.inc_by(3);
        let text = super::render(&r);
        assert!(
            text.contains("# TYPE logship_test_things_total counter"),
            "{text}"
        );
        assert!(text.contains("\nlogship_test_things_total 3\n"), "{text}");
    }
}
