//! The read-ahead budget: bytes read and not yet acknowledged, bounded by
//! `sink.max_buffered_bytes` across all sources. A source takes permits
//! before reading; a [`Budget`] travels with the records read into its
//! batch and gives the permits back when the batch is acknowledged or
//! dropped, so reading stops while the sink is slow.

use tokio::sync::OwnedSemaphorePermit;

/// Permits held for records, and their share of the `buffered_bytes`
/// gauge; both given back on drop.
pub struct Budget {
    permit: Option<OwnedSemaphorePermit>,
    gauge: prometheus::IntGauge,
}

impl Budget {
    pub fn new(permit: OwnedSemaphorePermit, gauge: prometheus::IntGauge) -> Budget {
        gauge.add(permit.num_permits() as i64);
        Budget {
            permit: Some(permit),
            gauge,
        }
    }

    /// Takes over `other`'s permits (given back together).
    pub fn merge(&mut self, mut other: Budget) {
        if let Some(theirs) = other.permit.take() {
            match &mut self.permit {
                Some(mine) => mine.merge(theirs),
                None => self.permit = Some(theirs),
            }
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        if let Some(p) = &self.permit {
            self.gauge.sub(p.num_permits() as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn permits_and_gauge_come_back_on_drop() {
        let sem = Arc::new(Semaphore::new(100));
        let gauge = prometheus::IntGauge::new("g", "g").unwrap();
        let mut a = Budget::new(
            Arc::clone(&sem).acquire_many_owned(30).await.unwrap(),
            gauge.clone(),
        );
        let b = Budget::new(
            Arc::clone(&sem).acquire_many_owned(20).await.unwrap(),
            gauge.clone(),
        );
        assert_eq!(gauge.get(), 50);
        a.merge(b);
        assert_eq!((gauge.get(), sem.available_permits()), (50, 50));
        drop(a);
        assert_eq!((gauge.get(), sem.available_permits()), (0, 100));
    }
}
