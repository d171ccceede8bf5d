//! Group commit: appenders that need their records on disk share fsyncs.
//!
//! An appender writes (under the partition's log lock), releases the lock,
//! then waits here until some fsync covers its end offset. The first waiter
//! to find no fsync running performs one for everyone, so N concurrent
//! producers pay one fsync instead of N. The fsync itself is the caller's
//! (a closure returning the end offset it made durable), which keeps this
//! module free of files and lets its tests use a fake.
//!
//! Thread-safe. Once an fsync fails the group commit is offline for good:
//! the page cache can no longer be trusted, so nothing after it may be
//! called durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What a waiter should do next.
enum Claim {
    /// Its offsets are durable.
    Done,
    /// An fsync is running; wait for it.
    Wait,
    /// No fsync is running: the caller runs one (marked as running).
    Mine,
}

struct State {
    /// Every offset below this is on disk.
    durable: i64,
    /// An fsync is running; others wait for it instead of starting one.
    syncing: bool,
}

pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Wakes blocking waiters after every fsync attempt.
    synced: Condvar,
    /// Bumped after every fsync attempt, for async waiters.
    synced_async: tokio::sync::watch::Sender<()>,
    offline: AtomicBool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is two plain fields updated together; a panic elsewhere
    // while holding the lock leaves it consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GroupCommit {
    /// Starts with every offset below `durable` on disk.
    pub(crate) fn new(durable: i64) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                durable,
                syncing: false,
            }),
            synced: Condvar::new(),
            synced_async: tokio::sync::watch::Sender::new(()),
            offline: AtomicBool::new(false),
        }
    }

    /// Whether an fsync failed (or [`GroupCommit::set_offline`] was called).
    pub(crate) fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Refuses every later wait that is not already covered: used when data
    /// could not be made durable outside this module (a failed roll).
    pub(crate) fn set_offline(&self) {
        self.offline.store(true, Ordering::Release);
    }

    /// Blocks until every offset below `target` is durable, running `fsync`
    /// if no fsync is running. `fsync` returns the end offset it covers; its
    /// error goes to the caller that ran it, `offline()` to everyone after.
    pub(crate) fn wait<E>(
        &self,
        target: i64,
        fsync: impl Fn() -> Result<i64, E>,
        offline: impl Fn() -> E,
    ) -> Result<(), E> {
        let mut state = lock(&self.state);
        loop {
            match self.claim(&mut state, target) {
                None => return Err(offline()),
                Some(Claim::Done) => return Ok(()),
                Some(Claim::Wait) => {
                    state = self.synced.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                Some(Claim::Mine) => {
                    drop(state);
                    self.run(&fsync)?;
                    state = lock(&self.state);
                }
            }
        }
    }

    /// [`GroupCommit::wait`] for async callers: waiting parks no thread;
    /// only the caller that ends up running the shared fsync uses a blocking
    /// thread for it. The fsync and the wake-up happen on that thread, so a
    /// caller dropping this future never leaves an fsync marked running.
    pub(crate) async fn wait_async<E, F>(
        self: &Arc<Self>,
        target: i64,
        fsync: F,
        offline: impl Fn() -> E,
    ) -> Result<(), E>
    where
        E: Send + 'static,
        F: Fn() -> Result<i64, E> + Clone + Send + 'static,
    {
        let mut synced = self.synced_async.subscribe();
        loop {
            let claim = {
                let mut state = lock(&self.state);
                self.claim(&mut state, target)
            };
            match claim {
                None => return Err(offline()),
                Some(Claim::Done) => return Ok(()),
                Some(Claim::Wait) => {
                    // Subscribed before the check, so an fsync finishing in
                    // between is not missed.
                    let _ = synced.changed().await;
                }
                Some(Claim::Mine) => {
                    let this = Arc::clone(self);
                    let fsync = fsync.clone();
                    match tokio::task::spawn_blocking(move || this.run(&fsync)).await {
                        Ok(result) => result?,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        // The runtime is shutting down.
                        Err(_) => return Err(offline()),
                    }
                }
            }
        }
    }

    /// `None` when offline and `target` is not yet durable.
    fn claim(&self, state: &mut State, target: i64) -> Option<Claim> {
        if state.durable >= target {
            return Some(Claim::Done);
        }
        if self.is_offline() {
            return None;
        }
        if state.syncing {
            return Some(Claim::Wait);
        }
        state.syncing = true;
        Some(Claim::Mine)
    }

    /// Runs the fsync this caller claimed, publishes the result and wakes
    /// every waiter.
    fn run<E>(&self, fsync: &impl Fn() -> Result<i64, E>) -> Result<(), E> {
        let result = fsync();
        let mut state = lock(&self.state);
        state.syncing = false;
        let outcome = match result {
            Ok(end) => {
                state.durable = state.durable.max(end);
                Ok(())
            }
            Err(e) => {
                self.set_offline();
                Err(e)
            }
        };
        drop(state);
        self.synced.notify_all();
        self.synced_async.send_replace(());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize};
    use std::time::Duration;

    use super::*;

    /// A stand-in for a log: appends move `end`; `fsync` makes everything
    /// appended so far durable, slowly, and counts itself.
    #[derive(Default)]
    struct FakeLog {
        end: AtomicI64,
        fsyncs: AtomicUsize,
        fail: AtomicBool,
    }

    impl FakeLog {
        fn append(&self) -> i64 {
            self.end.fetch_add(1, Ordering::SeqCst) + 1
        }
        fn fsync(&self) -> Result<i64, String> {
            let end = self.end.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            self.fsyncs.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err("disk on fire".into());
            }
            Ok(end)
        }
    }

    #[test]
    fn concurrent_waiters_share_fsyncs() {
        let log = Arc::new(FakeLog::default());
        let commit = Arc::new(GroupCommit::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (log, commit, barrier) = (log.clone(), commit.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let end = log.append();
                    commit.wait(end, || log.fsync(), || "offline".to_owned())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let fsyncs = log.fsyncs.load(Ordering::SeqCst);
        assert!((1..16).contains(&fsyncs), "{fsyncs} fsyncs for 16 waiters");
        assert_eq!(lock(&commit.state).durable, 16);
        // Already covered: no further fsync.
        commit
            .wait(16, || log.fsync(), || "offline".to_owned())
            .unwrap();
        assert_eq!(log.fsyncs.load(Ordering::SeqCst), fsyncs);
    }

    #[test]
    fn a_failed_fsync_takes_it_offline_but_keeps_what_was_durable() {
        let log = FakeLog::default();
        let commit = GroupCommit::new(0);
        commit
            .wait(log.append(), || log.fsync(), || "offline".to_owned())
            .unwrap();
        log.fail.store(true, Ordering::SeqCst);
        let end = log.append();
        let first = commit.wait(end, || log.fsync(), || "offline".to_owned());
        assert_eq!(first.unwrap_err(), "disk on fire");
        assert!(commit.is_offline());
        let second = commit.wait(end, || log.fsync(), || "offline".to_owned());
        assert_eq!(second.unwrap_err(), "offline");
        assert_eq!(
            log.fsyncs.load(Ordering::SeqCst),
            2,
            "no fsync once offline"
        );
        commit
            .wait(1, || log.fsync(), || "offline".to_owned())
            .unwrap();
    }

    #[test]
    fn set_offline_refuses_waits_not_yet_covered() {
        let log = FakeLog::default();
        let commit = GroupCommit::new(5);
        commit.set_offline();
        let offline = || "offline".to_owned();
        commit.wait(5, || log.fsync(), offline).unwrap();
        assert_eq!(
            commit.wait(6, || log.fsync(), offline).unwrap_err(),
            "offline"
        );
        assert_eq!(log.fsyncs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_waiters_share_fsyncs_with_blocking_ones() {
        let log = Arc::new(FakeLog::default());
        let commit = Arc::new(GroupCommit::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (log, commit) = (log.clone(), commit.clone());
            tasks.spawn(async move {
                let end = log.append();
                let l = log.clone();
                commit
                    .wait_async(end, move || l.fsync(), || "offline".to_owned())
                    .await
            });
        }
        let (l, c) = (log.clone(), commit.clone());
        let blocking = tokio::task::spawn_blocking(move || {
            let end = l.append();
            c.wait(end, || l.fsync(), || "offline".to_owned())
        });
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
        blocking.await.unwrap().unwrap();
        assert_eq!(lock(&commit.state).durable, 17);
        let fsyncs = log.fsyncs.load(Ordering::SeqCst);
        assert!((1..17).contains(&fsyncs), "{fsyncs} fsyncs for 17 waiters");
    }
}
