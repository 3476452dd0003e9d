//! In-memory fetchers for deterministic schedules under tokio's paused clock, shared by the
//! cache-semantics and fleet-simulation test binaries (`mod sim;` in each).

#![allow(dead_code)] // each binary uses a different part

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use federated_credentials::cache::{CachePolicy, CredentialCache, Fetch};
use federated_credentials::context::{Clock, TokioClock};
use federated_credentials::token::Expiry;
use federated_credentials::{Error, ErrorKind, Service};

/// A credential numbered by fetch (1, 2, …).
#[derive(Debug)]
pub struct Cred {
    pub id: usize,
    pub expires_at: SystemTime,
}

impl Expiry for Cred {
    fn expires_at(&self) -> Option<SystemTime> {
        Some(self.expires_at)
    }
}

/// Issues credentials living `lifetime` after `delay`, and counts the fetches per second of
/// the clock since `start`.
pub struct SimFetch {
    clock: TokioClock,
    start: SystemTime,
    lifetime: Duration,
    delay: Duration,
    calls: Arc<AtomicUsize>,
    per_second: Arc<Vec<AtomicU32>>,
    fail: Arc<AtomicBool>,
}

#[async_trait]
impl Fetch for SimFetch {
    type Credential = Cred;
    async fn fetch(&self) -> Result<Cred, Error> {
        let id = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let second = self
            .clock
            .now()
            .duration_since(self.start)
            .unwrap()
            .as_secs() as usize;
        if let Some(c) = self.per_second.get(second) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Upstream, Service::AwsSts, "down"));
        }
        Ok(Cred {
            id,
            expires_at: self.clock.now() + self.lifetime,
        })
    }
}

/// A cache over a [`SimFetch`]; returns it with the fetch counter and the failure switch.
pub fn sim_cache(
    clock: TokioClock,
    lifetime: Duration,
    delay: Duration,
    policy: CachePolicy,
    per_second: Arc<Vec<AtomicU32>>,
) -> (CredentialCache<SimFetch>, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(AtomicBool::new(false));
    let fetch = SimFetch {
        clock,
        start: clock.now(),
        lifetime,
        delay,
        calls: calls.clone(),
        per_second,
        fail: fail.clone(),
    };
    (
        CredentialCache::new(fetch, Arc::new(clock), policy),
        calls,
        fail,
    )
}
