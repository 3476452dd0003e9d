//! The fleet simulation on its own: 10,000 caches started in the same second with 1-hour
//! credentials, run for 6 simulated hours under tokio's paused clock. It lives in its own test
//! binary because each cache draws its jitter once from a process-wide low-discrepancy
//! sequence: caches created concurrently by other tests in the same process would take
//! draws from the middle of the fleet's sequence.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use federated_credentials::cache::{CachePolicy, CredentialCache, Fetch};
use federated_credentials::context::{Clock, TokioClock};
use federated_credentials::token::Expiry;
use federated_credentials::{Error, ErrorKind, Service};

const HOUR: Duration = Duration::from_secs(3600);

/// The fleets run one at a time, so each takes a contiguous run of the jitter sequence.
static ONE_FLEET_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Cred {
    expires_at: SystemTime,
}

impl Expiry for Cred {
    fn expires_at(&self) -> Option<SystemTime> {
        Some(self.expires_at)
    }
}

/// Issues credentials living `lifetime` after `delay`, and counts the fetches per second of
/// the clock since `start`.
struct SimFetch {
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
        self.calls.fetch_add(1, Ordering::SeqCst);
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
            expires_at: self.clock.now() + self.lifetime,
        })
    }
}

fn sim_cache(
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

/// Runs `n` caches started in the same second with 1-hour credentials for 6 simulated hours
/// and returns the fetches per second.
async fn fleet(n: usize, policy: CachePolicy) -> Vec<u32> {
    let _one = ONE_FLEET_AT_A_TIME.lock().await;
    let secs = 6 * 3600;
    let per_second: Arc<Vec<AtomicU32>> = Arc::new((0..=secs).map(|_| AtomicU32::new(0)).collect());
    let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
    let mut caches = Vec::with_capacity(n);
    for _ in 0..n {
        let (cache, _, _) = sim_cache(clock, HOUR, Duration::ZERO, policy, per_second.clone());
        cache.get().await.unwrap();
        caches.push(cache);
    }
    tokio::time::sleep(Duration::from_secs(secs as u64)).await;
    drop(caches);
    per_second
        .iter()
        .take(secs)
        .map(|c| c.load(Ordering::Relaxed))
        .collect()
}

/// Peak and mean fetches per second after the start-up second (whose fetches are the
/// providers' first, not refreshes).
fn peak_and_mean(per_second: &[u32]) -> (u32, f64) {
    let steady = &per_second[1..];
    let peak = *steady.iter().max().unwrap();
    let mean = steady.iter().map(|&c| c as f64).sum::<f64>() / steady.len() as f64;
    (peak, mean)
}

/// The full fleet of 10,000 (the perf crate runs the same simulation and plots it).
const FLEET: usize = 10_000;

#[tokio::test(start_paused = true)]
async fn fleet_started_together_refreshes_without_waves() {
    let per_second = fleet(FLEET, CachePolicy::aws_sts()).await;
    assert_eq!(
        per_second[0] as usize, FLEET,
        "every provider fetched once at start"
    );
    let (peak, mean) = peak_and_mean(&per_second);
    let total: u32 = per_second[1..].iter().sum();
    // 1-hour credentials refreshed 5-25 min ahead: 6 to 10 refreshes each in 6 hours
    assert!(
        total as usize >= 6 * FLEET && total as usize <= 10 * FLEET,
        "{total}"
    );
    assert!(
        peak as f64 <= 3.0 * mean,
        "peak {peak}/s is more than 3x the mean {mean:.2}/s"
    );
}

#[tokio::test(start_paused = true)]
async fn fleet_without_jitter_refreshes_in_waves() {
    let per_second = fleet(FLEET, CachePolicy::aws_sts().jitter(Duration::ZERO)).await;
    let (peak, mean) = peak_and_mean(&per_second);
    assert_eq!(
        peak as usize, FLEET,
        "the whole fleet refreshes in the same second"
    );
    assert!(peak as f64 > 100.0 * mean);
}
