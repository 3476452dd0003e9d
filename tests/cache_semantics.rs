//! The cache's promises, asserted as counts (never wall times) so they hold on a loaded CI
//! machine: a thundering herd on a cold provider makes one upstream fetch; a refresh under
//! load never makes a caller wait; a fleet started in the same second does not refresh in
//! waves; an expired credential is never served whatever the clock does; prefetch fails
//! fast; and the background task neither leaks nor keeps a runtime alive, on both runtime
//! flavours.

#[path = "common/sim.rs"]
mod sim;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::Service;
use federated_credentials::aws::{WebIdentityProvider, WebIdentityProviderBuilder};
use federated_credentials::cache::CachePolicy;
use federated_credentials::context::{
    Clock, Context, InstantSleep, ManualClock, StaticEnv, TokioClock,
};
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_testkit::{Clouds, Fault, StsErrorCode};

use sim::sim_cache;

const HOUR: Duration = Duration::from_secs(3600);
const AUDIENCE: &str = "sts.amazonaws.com";

/// A GCP → AWS world: the emulated clouds on loopback, sharing a manual clock.
struct World {
    clock: ManualClock,
    clouds: Clouds,
}

impl World {
    async fn new() -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
        Self { clock, clouds }
    }

    fn builder(&self) -> WebIdentityProviderBuilder {
        let ctx = Context::builder()
            .clock(self.clock.clone())
            .env(StaticEnv::from_pairs([(
                "GCE_METADATA_HOST",
                self.clouds.gcp_metadata.host(),
            )]))
            .sleep(InstantSleep)
            .build();
        WebIdentityProvider::builder()
            .context(ctx)
            .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
            .role_arn(self.clouds.role_arn())
            .configure_sts(|s| s.endpoint_url(self.clouds.aws_sts.endpoint()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herd_of_10000_first_calls_makes_one_upstream_fetch() {
    let w = World::new().await;
    let provider = w.builder().build().unwrap();
    // hold the one fetch in flight so the whole herd piles up behind it
    w.clouds
        .aws_sts
        .push_fault(Fault::Delay(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(
                async move { p.credentials().await.map(|c| c.access_key_id().to_string()) },
            )
        })
        .collect();
    let mut keys = std::collections::HashSet::new();
    for t in tasks {
        keys.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(keys.len(), 1, "every caller got the one fetched credential");
    assert_eq!(
        w.clouds.gcp_metadata.request_count(),
        1,
        "one metadata request"
    );
    assert_eq!(w.clouds.aws_sts.request_count(), 1, "one STS request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herd_on_a_failing_upstream_shares_one_error() {
    let w = World::new().await;
    let provider = w.builder().build().unwrap();
    // the fetch takes 500 ms (a slow metadata server), then STS refuses
    w.clouds
        .gcp_metadata
        .push_fault(Fault::Delay(Duration::from_millis(500)));
    w.clouds.aws_sts.push_error(StsErrorCode::AccessDenied);
    // all callers start together, well within the fetch's 500 ms
    let start = Arc::new(tokio::sync::Barrier::new(2_001));
    let tasks: Vec<_> = (0..2_000)
        .map(|_| {
            let p = provider.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                p.credentials().await.map(|_| ())
            })
        })
        .collect();
    start.wait().await;
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    assert_eq!(
        w.clouds.aws_sts.request_count(),
        1,
        "the error was shared, not retried per caller"
    );
}

#[tokio::test]
async fn never_serves_expired_credentials_after_the_host_sleeps() {
    let w = World::new().await;
    let provider = w.builder().build().unwrap();
    provider.credentials().await.unwrap();
    // the host sleeps through expiry: no timer fired meanwhile
    w.clock.advance(2 * HOUR);
    w.clouds.aws_sts.push_error(StsErrorCode::AccessDenied);
    assert!(
        provider.credentials().await.is_err(),
        "an expired credential must not be served"
    );
    let fresh = provider.credentials().await.unwrap();
    assert!(fresh.expiration() > w.clock.now());
    // and a wall clock set backwards keeps the valid credential
    w.clock.set(w.clock.now() - HOUR);
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id(),
        fresh.access_key_id()
    );
}

#[tokio::test]
async fn build_and_prefetch_fails_fast_and_warms_the_cache() {
    let w = World::new().await;
    let err = w
        .builder()
        .role_arn(w.clouds.aws_sts.role_arn("no-such-role"))
        .build_and_prefetch()
        .await
        .unwrap_err();
    assert_eq!(err.service(), Service::AwsSts);
    let before = w.clouds.aws_sts.request_count();
    let provider = w.builder().build_and_prefetch().await.unwrap();
    assert_eq!(
        w.clouds.aws_sts.request_count(),
        before + 1,
        "fetched at build"
    );
    let clone = provider.clone();
    clone.credentials().await.unwrap();
    provider.credentials().await.unwrap();
    assert_eq!(
        w.clouds.aws_sts.request_count(),
        before + 1,
        "clones share the warm cache"
    );
    assert_eq!(w.clouds.gcp_metadata.request_count(), 2);
}

// ---------------------------------------------------------------------------------------
// In-memory fetchers, for deterministic schedules under tokio's paused clock.

/// Polls a future once: `Some` if it completed without waiting.
fn poll_once<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn refresh_under_load_never_makes_a_caller_wait() {
    let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
    let policy = CachePolicy::aws_sts();
    let (cache, calls, _) = sim_cache(
        clock,
        HOUR,
        Duration::from_millis(200),
        policy,
        Arc::new(Vec::new()),
    );
    let first = cache.get().await.unwrap();
    assert_eq!(first.id, 1);
    // 56 min later the credential is due (refresh 5 to 25 min before expiry) but valid;
    // upstream now takes 200 ms, and callers keep reading every millisecond meanwhile.
    tokio::time::advance(Duration::from_secs(56 * 60)).await;
    let mut served_old = 0;
    for _ in 0..1_000 {
        for _ in 0..10 {
            let c = poll_once(cache.get())
                .expect("a warm read completes without waiting")
                .unwrap();
            if c.id == 1 {
                served_old += 1;
            }
        }
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    assert!(
        served_old >= 1_000,
        "the old credential was served during the refresh"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "exactly one refresh ran");
    assert_eq!(poll_once(cache.get()).unwrap().unwrap().id, 2);
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_keeps_serving_then_errors_only_at_expiry() {
    let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
    let (cache, calls, fail) = sim_cache(
        clock,
        HOUR,
        Duration::ZERO,
        CachePolicy::aws_sts().jitter(Duration::ZERO),
        Arc::new(Vec::new()),
    );
    assert_eq!(cache.get().await.unwrap().id, 1);
    fail.store(true, Ordering::SeqCst);
    // refresh due at 55 min; it fails from then on, and reads still get credential 1
    tokio::time::sleep(Duration::from_secs(55 * 60)).await;
    for _ in 0..280 {
        assert_eq!(poll_once(cache.get()).unwrap().unwrap().id, 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let attempts = calls.load(Ordering::SeqCst) - 1;
    assert!(attempts >= 4, "retried in the background ({attempts})");
    assert!(attempts <= 30, "with backoff, not in a loop ({attempts})");
    // past expiry minus the 15 s buffer nothing valid is left: the error surfaces
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(cache.get().await.is_err());
    fail.store(false, Ordering::SeqCst);
    assert!(cache.get().await.unwrap().id > 1);
}

// ---------------------------------------------------------------------------------------
// The background task on both runtime flavours.

fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().start_paused(!multi_thread);
    if multi_thread {
        b.worker_threads(2);
    }
    b.build().unwrap()
}

fn background_task_lifecycle(multi_thread: bool) {
    let rt = runtime(multi_thread);
    let (cache, calls) = rt.block_on(async {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let (cache, calls, _) = sim_cache(
            clock,
            HOUR,
            Duration::ZERO,
            CachePolicy::aws_sts(),
            Arc::new(Vec::new()),
        );
        cache.prefetch().await.unwrap();
        (cache, calls)
    });
    assert_eq!(
        rt.metrics().num_alive_tasks(),
        1,
        "one timer task per cache"
    );
    let weak_probe = cache.clone();
    drop(cache);
    drop(weak_probe);
    rt.block_on(async {
        for _ in 0..100 {
            if tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
                == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(
        rt.metrics().num_alive_tasks(),
        0,
        "the timer task ends when the cache is dropped"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A cache outliving its runtime: the runtime shuts down (nothing keeps it alive), and
    // the next runtime that uses the cache gets a new timer that refreshes on schedule.
    let rt = runtime(multi_thread);
    let (cache, calls) = rt.block_on(async {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let (cache, calls, _) = sim_cache(
            clock,
            HOUR,
            Duration::from_millis(1),
            CachePolicy::aws_sts(),
            Arc::new(Vec::new()),
        );
        cache.get().await.unwrap();
        (cache, calls)
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        cache.invalidate();
        cache.get().await.unwrap();
        assert_eq!(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            1
        );
    });
    drop(cache);
    drop(rt);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn background_task_on_current_thread_runtime() {
    background_task_lifecycle(false);
}

#[test]
fn background_task_on_multi_thread_runtime() {
    background_task_lifecycle(true);
}
