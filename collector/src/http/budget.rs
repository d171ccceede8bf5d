//! The memory budget of HTTP ingest (`collector.http.max_inflight_bytes`):
//! bytes of request bodies and decompressed bodies that all requests
//! together may hold. A semaphore whose permits are bytes: a request
//! reserves before it buffers, holds its [`Reservation`] until it is
//! answered, and gets 503 when the budget stays taken. Without it, 32
//! concurrent gzip bodies that each inflate to 100 MB took the collector to
//! 3.4 GB.
//!
//! Deadlock freedom: a request may wait only while holding no more than
//! its body; growing a reservation during decompression never waits (it
//! fails with 503), so requests holding partial output never wait on each
//! other.

use std::sync::Arc;
use std::time::Duration;

use logship_common::ingest::ErrorCode;
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// How long a request waits for budget before 503.
pub const WAIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct MemoryBudget {
    semaphore: Arc<Semaphore>,
    total: usize,
    wait: Duration,
    inflight: IntGauge,
    refused: IntCounter,
}

/// Bytes held by one request; returned to the budget on drop.
pub struct Reservation {
    permits: Option<OwnedSemaphorePermit>,
    budget: MemoryBudget,
}

impl MemoryBudget {
    pub fn new(total: usize, wait: Duration, inflight: IntGauge, refused: IntCounter) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        MemoryBudget {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
            wait,
            inflight,
            refused,
        }
    }

    /// An empty reservation to grow.
    pub fn empty(&self) -> Reservation {
        Reservation {
            permits: None,
            budget: self.clone(),
        }
    }

    /// A request that could not fit even alone: 413, since retrying cannot help.
    fn never_fits(&self, bytes: usize) -> ApiError {
        ApiError::new(
            ErrorCode::RecordListTooLarge,
            format!(
                "the request needs {bytes} bytes of memory to decode, more than max_inflight_bytes ({}); send smaller requests",
                self.total
            ),
        )
    }

    fn busy(&self, bytes: usize) -> ApiError {
        self.refused.inc();
        ApiError::new(
            ErrorCode::Busy,
            format!(
                "the collector is buffering too many request bodies (max_inflight_bytes {}); {bytes} more bytes did not fit, retry later",
                self.total
            ),
        )
    }
}

fn permits(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl Reservation {
    /// Adds `bytes`, waiting up to [`WAIT`] for them.
    pub async fn grow(&mut self, bytes: usize) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        if self.bytes().saturating_add(bytes) > self.budget.total {
            return Err(self.budget.never_fits(self.bytes() + bytes));
        }
        let semaphore = Arc::clone(&self.budget.semaphore);
        match tokio::time::timeout(
            self.budget.wait,
            semaphore.acquire_many_owned(permits(bytes)),
        )
        .await
        {
            Ok(Ok(p)) => {
                self.add(p);
                Ok(())
            }
            _ => Err(self.budget.busy(bytes)),
        }
    }

    /// Adds `bytes` if they are free right now (never waits; callable from
    /// blocking code).
    pub fn try_grow(&mut self, bytes: usize) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        if self.bytes().saturating_add(bytes) > self.budget.total {
            return Err(self.budget.never_fits(self.bytes() + bytes));
        }
        match Arc::clone(&self.budget.semaphore).try_acquire_many_owned(permits(bytes)) {
            Ok(p) => {
                self.add(p);
                Ok(())
            }
            Err(_) => Err(self.budget.busy(bytes)),
        }
    }

    fn add(&mut self, p: OwnedSemaphorePermit) {
        self.budget.inflight.add(p.num_permits() as i64);
        match &mut self.permits {
            Some(held) => held.merge(p),
            None => self.permits = Some(p),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permits.as_ref().map_or(0, |p| p.num_permits())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.inflight.sub(self.bytes() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(total: usize) -> MemoryBudget {
        MemoryBudget::new(
            total,
            Duration::from_millis(200),
            IntGauge::new("g", "g").unwrap(),
            IntCounter::new("c", "c").unwrap(),
        )
    }

    #[tokio::test]
    async fn reservations_are_bounded_and_released_on_drop() {
        let b = budget(100);
        let mut r1 = b.empty();
        r1.grow(60).await.unwrap();
        r1.try_grow(30).unwrap();
        assert_eq!(r1.bytes(), 90);
        assert_eq!(b.inflight.get(), 90);
        let mut r2 = b.empty();
        let err = r2.try_grow(20).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code.as_str()), (503, "busy"));
        assert_eq!(b.refused.get(), 1);
        drop(r1);
        assert_eq!(b.inflight.get(), 0);
        r2.try_grow(100).unwrap();
        // More than the whole budget can never fit: 413 at once.
        let err = b.empty().try_grow(101).unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
    }

    #[tokio::test]
    async fn a_waiting_request_proceeds_when_memory_is_freed() {
        let b = budget(10);
        let mut r1 = b.empty();
        r1.grow(10).await.unwrap();
        let b2 = b.clone();
        let waiter = tokio::spawn(async move {
            let mut r = b2.empty();
            r.grow(5).await.map(|_| r.bytes())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(r1);
        assert_eq!(waiter.await.unwrap().unwrap(), 5);
        // Nobody frees: 503 after the wait.
        let mut r3 = b.empty();
        r3.grow(10).await.unwrap();
        let mut r4 = b.empty();
        assert_eq!(r4.grow(1).await.unwrap_err().status.as_u16(), 503);
    }
}
