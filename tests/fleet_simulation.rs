//! The fleet simulation on its own: 10,000 caches started in the same second with 1-hour
//! credentials, run for 6 simulated hours under tokio's paused clock. It lives in its own test
//! binary because each cache draws its jitter once from a process-wide low-discrepancy
//! sequence: caches created concurrently by other tests in the same process would take
//! draws from the middle of the fleet's sequence.

#[path = "common/sim.rs"]
mod sim;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::cache::CachePolicy;
use federated_credentials::context::TokioClock;

use sim::sim_cache;

const HOUR: Duration = Duration::from_secs(3600);

/// The fleets run one at a time, so each takes a contiguous run of the jitter sequence.
static ONE_FLEET_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
