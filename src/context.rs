//! What the crate reads from the outside world, injectable so every test runs offline and
//! deterministically: the wall clock, the environment, the way to sleep, and the HTTP client.
//!
//! Production code uses [`Context::default()`], which reads the real process environment and
//! clock. Tests build a [`Context`] with a [`ManualClock`] and a [`StaticEnv`] and point the
//! endpoints at loopback emulators.
//!
//! ```
//! use federated_credentials::context::{Context, ManualClock, StaticEnv};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let ctx = Context::builder()
//!     .clock(clock.clone())
//!     .env(StaticEnv::from_pairs([("AWS_REGION", "eu-west-1")]))
//!     .build();
//! assert_eq!(ctx.env().get("AWS_REGION").as_deref(), Some("eu-west-1"));
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(ctx.now(), UNIX_EPOCH + Duration::from_secs(1_700_000_060));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Service;
use crate::http::{HttpClient, RetryPolicy};

/// A source of wall-clock time.
///
/// [`SystemClock`] is the real one; [`ManualClock`] and [`TokioClock`] are for tests and
/// simulations. Implementing [`now`](Self::now) is enough:
///
/// ```
/// use federated_credentials::context::{Clock, Context, SystemClock};
/// use std::time::{Duration, SystemTime};
///
/// /// The system clock corrected by an offset measured elsewhere (NTP monitoring).
/// #[derive(Debug)]
/// struct Corrected {
///     ahead_by: Duration,
/// }
///
/// impl Clock for Corrected {
///     fn now(&self) -> SystemTime {
///         SystemClock.now() + self.ahead_by
///     }
/// }
///
/// let ctx = Context::builder().clock(Corrected { ahead_by: Duration::from_secs(2) }).build();
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// A cheap reading that is never earlier than [`now`](Self::now) would be at the same
    /// instant, and may be later by a few milliseconds.
    ///
    /// The credential cache calls it on every read to decide whether the cached credential
    /// is still usable; because it never lags the real time, a credential is never handed
    /// out past its expiry, only (at most a few ms) sooner refreshed. The default returns
    /// [`now`](Self::now), which is right for test clocks. [`SystemClock`] reads the
    /// kernel's coarse real-time clock on Linux (a few ns instead of a few tens of ns) and
    /// adds its resolution.
    fn now_upper_bound(&self) -> SystemTime {
        self.now()
    }
}

/// A shared clock is a clock (so one `Arc<dyn Clock>` can drive several components).
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }

    fn now_upper_bound(&self) -> SystemTime {
        (**self).now_upper_bound()
    }
}

/// The real system clock, the default of [`Context::builder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn now_upper_bound(&self) -> SystemTime {
        coarse_realtime_upper_bound().unwrap_or_else(SystemTime::now)
    }
}

/// `CLOCK_REALTIME_COARSE` (the real time as of the last timer tick, read from the vDSO)
/// plus twice the tick, so never behind `CLOCK_REALTIME`. `None` before 1970 or if the
/// kernel has no coarse clock.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn coarse_realtime_upper_bound() -> Option<SystemTime> {
    use rustix::time::{ClockId, clock_getres, clock_gettime};
    use std::sync::OnceLock;
    static MARGIN: OnceLock<Option<Duration>> = OnceLock::new();
    let margin = (*MARGIN.get_or_init(|| {
        let res = clock_getres(ClockId::RealtimeCoarse);
        let tick = Duration::new(
            u64::try_from(res.tv_sec).ok()?,
            u32::try_from(res.tv_nsec).ok()?,
        );
        // A tick of zero or over 100 ms means something unusual: use the precise clock.
        (!tick.is_zero() && tick <= Duration::from_millis(100)).then_some(tick * 2)
    }))?;
    let t = clock_gettime(ClockId::RealtimeCoarse);
    let since_epoch = Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    );
    Some(UNIX_EPOCH + since_epoch + margin)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn coarse_realtime_upper_bound() -> Option<SystemTime> {
    None
}

/// A clock that only moves when told to. Cloning shares the same time.
///
/// ```
/// use federated_credentials::context::{Clock, ManualClock};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// clock.advance(Duration::from_secs(55 * 60)); // to just before a 1 h token expires
/// clock.set(UNIX_EPOCH + Duration::from_secs(1_700_000_000)); // an NTP step backwards
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos_since_epoch: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `at` (which must not be before the Unix epoch).
    pub fn new(at: SystemTime) -> Self {
        let clock = Self {
            nanos_since_epoch: Arc::new(AtomicU64::new(0)),
        };
        clock.set(at);
        clock
    }

    /// Moves the clock to `at`; it may go backwards, as a real wall clock can.
    pub fn set(&self, at: SystemTime) {
        let nanos = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .min(u64::MAX as u128) as u64;
        self.nanos_since_epoch.store(nanos, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos_since_epoch
            .fetch_add(by.as_nanos().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos_since_epoch.load(Ordering::SeqCst))
    }
}

/// Wall-clock time that moves with tokio's clock: `start + (tokio now - tokio at creation)`.
///
/// Under `tokio::time::pause()` it stands still until the runtime's clock is advanced, so
/// timers, sleeps and the cache's idea of "now" stay in step in simulations and tests.
///
/// ```
/// use federated_credentials::context::{Clock, TokioClock};
/// use std::time::{Duration, UNIX_EPOCH};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
/// # rt.block_on(async {
/// let clock = TokioClock::starting_at(UNIX_EPOCH);
/// tokio::time::advance(Duration::from_secs(30)).await;
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(30));
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: SystemTime,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start` now. Must be called inside a tokio runtime with time enabled.
    pub fn starting_at(start: SystemTime) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.start + self.origin.elapsed()
    }
}

/// Read access to environment variables.
///
/// [`ProcessEnv`] reads the process environment and [`StaticEnv`] a fixed map. Implement
/// [`get`](Self::get) for anything else, for example settings layered over the process
/// environment:
///
/// ```
/// use federated_credentials::context::{Context, Env, ProcessEnv, StaticEnv};
///
/// /// `overrides` first, then `base`.
/// #[derive(Debug)]
/// struct Layered<A, B> {
///     overrides: A,
///     base: B,
/// }
///
/// impl<A: Env, B: Env> Env for Layered<A, B> {
///     fn get(&self, key: &str) -> Option<String> {
///         self.overrides.get(key).or_else(|| self.base.get(key))
///     }
/// }
///
/// let ctx = Context::builder()
///     .env(Layered {
///         overrides: StaticEnv::empty().with("AWS_REGION", "eu-west-1"),
///         base: ProcessEnv,
///     })
///     .build();
/// ```
pub trait Env: Send + Sync + fmt::Debug {
    /// The value of `key`, or `None` when it is unset or not valid Unicode.
    fn get(&self, key: &str) -> Option<String>;

    /// The value of `key`, treating an empty (or all-whitespace) value as unset, which is
    /// what users mean when they write `AWS_REGION=` in a unit file.
    fn get_non_empty(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }
}

/// The real process environment, the default of [`Context::builder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// A fixed set of variables, for tests and for callers that do not want the process
/// environment consulted at all.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
///
/// let env = StaticEnv::from_pairs([("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app")])
///     .with("AWS_REGION", "us-east-2");
/// let ctx = Context::builder().env(env).build();
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticEnv {
    vars: HashMap<String, String>,
}

impl StaticEnv {
    /// An environment with no variables, so nothing leaks in from the process environment.
    pub fn empty() -> Self {
        Self::default()
    }

    /// An environment holding exactly these pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Returns the environment with `key` set to `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(key.into(), value.into());
        self
    }
}

impl Env for StaticEnv {
    fn get(&self, key: &str) -> Option<String> {
        self.vars.get(key).cloned()
    }
}

/// A boxed future returned by [`Sleep::sleep`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waiting, used between retry attempts. Tests can make it instant ([`InstantSleep`]) or
/// record the waits instead of waiting:
///
/// ```
/// use federated_credentials::context::{Context, Sleep, SleepFuture};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// #[derive(Debug, Clone, Default)]
/// struct Recorded(Arc<Mutex<Vec<Duration>>>);
///
/// impl Sleep for Recorded {
///     fn sleep(&self, duration: Duration) -> SleepFuture {
///         self.0.lock().unwrap().push(duration);
///         Box::pin(std::future::ready(()))
///     }
/// }
///
/// let waits = Recorded::default();
/// let ctx = Context::builder().sleep(waits.clone()).build();
/// ```
pub trait Sleep: Send + Sync + fmt::Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// Sleeps with `tokio::time::sleep` (so `tokio::time::pause` makes it virtual); the default
/// of [`Context::builder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl Sleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A sleep that returns at once, for tests of retry behaviour that must not wait.
///
/// ```
/// use federated_credentials::context::{Context, InstantSleep};
///
/// let ctx = Context::builder().sleep(InstantSleep).build();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InstantSleep;

impl Sleep for InstantSleep {
    fn sleep(&self, _duration: Duration) -> SleepFuture {
        Box::pin(std::future::ready(()))
    }
}

/// Everything a source or exchange needs from the outside world. Cheap to clone.
///
/// `Context::default()` is the real world: system clock, process environment, tokio sleep
/// and a default [`HttpClient`].
///
/// ```
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::GcpMetadataIdentityToken;
///
/// // Settings from a fixed map instead of the process environment.
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app")]))
///     .build();
/// let provider = WebIdentityProvider::builder()
///     .context(ctx)
///     .configure_from_env()
///     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
///     .build();
/// assert!(provider.is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    clock: Arc<dyn Clock>,
    env: Arc<dyn Env>,
    sleep: Arc<dyn Sleep>,
    http: HttpClient,
    calls: Arc<CallSettingsMap>,
}

/// How calls to one service are made: the timeout of each attempt and the retry policy
/// (attempts, backoff, overall deadline). Unset parts fall back to the next level.
///
/// Every source and exchange resolves its settings the same way: its own setter
/// (`attempt_timeout`, `retry_policy`) if called, else the [`Context`]'s settings for its
/// [`Service`] ([`ContextBuilder::call_settings`]), else the context's settings for every
/// service ([`ContextBuilder::default_call_settings`]), else its own default (see
/// docs/reliability.md). So one context tunes every component that calls a service, including
/// the ones a provider builds from a configuration file:
///
/// ```
/// use federated_credentials::Service;
/// use federated_credentials::context::{CallSettings, Context};
/// use federated_credentials::http::RetryPolicy;
/// use std::time::Duration;
///
/// // Google STS behind a slow proxy: longer attempts, more of them.
/// let ctx = Context::builder()
///     .call_settings(
///         Service::GoogleSts,
///         CallSettings::new()
///             .attempt_timeout(Duration::from_secs(20))
///             .retry_policy(RetryPolicy::new(5).deadline(Duration::from_secs(90))),
///     )
///     .build();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallSettings {
    attempt_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl CallSettings {
    /// Nothing set: everything falls back.
    pub fn new() -> Self {
        Self::default()
    }

    /// The timeout of one attempt (connection, request and the whole response).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// How often and how patiently transient failures are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Each part that is set here, else `fallback`'s.
    pub(crate) fn or(self, fallback: CallSettings) -> CallSettings {
        CallSettings {
            attempt_timeout: self.attempt_timeout.or(fallback.attempt_timeout),
            retry: self.retry.or(fallback.retry),
        }
    }
}

/// The context's call settings: per service, and for every service.
#[derive(Debug, Default)]
struct CallSettingsMap {
    per_service: HashMap<Service, CallSettings>,
    all: CallSettings,
}

/// The defaults of each service's calls, in one place (docs/reliability.md quotes them):
/// attempt timeout, attempts, backoff and deadline.
pub(crate) fn default_call(service: Service) -> ResolvedCall {
    let (s, ms) = (Duration::from_secs, Duration::from_millis);
    let (attempt_timeout, retry) = match service {
        Service::GcpMetadata => (
            s(3),
            RetryPolicy::new(4).backoff(ms(100), s(1)).deadline(s(10)),
        ),
        Service::AwsImds => (
            s(1),
            RetryPolicy::new(3).backoff(ms(100), s(1)).deadline(s(10)),
        ),
        // botocore 1.43.11 ContainerMetadataFetcher: 2 s per attempt, 3 attempts.
        Service::AwsContainerCredentials => (
            s(2),
            RetryPolicy::new(3).backoff(ms(100), s(1)).deadline(s(10)),
        ),
        Service::AwsSts => (
            s(10),
            RetryPolicy::new(4).backoff(ms(200), s(5)).deadline(s(30)),
        ),
        Service::UrlSource => (
            s(5),
            RetryPolicy::new(3).backoff(ms(100), s(1)).deadline(s(15)),
        ),
        // Azure IMDS answers 404 while it updates and 410 for up to 70 s while it restarts
        // (Microsoft's IMDS guidance; azure-identity 1.27.0 waits 75 s in all on a 410): more
        // patience than the other metadata servers. A 410 asks for 15 s between attempts.
        Service::AzureManagedIdentity => (
            s(3),
            RetryPolicy::new(6).backoff(ms(500), s(20)).deadline(s(75)),
        ),
        // Google STS, IAM Credentials, and any service added later.
        _ => (
            s(10),
            RetryPolicy::new(3).backoff(ms(200), s(3)).deadline(s(30)),
        ),
    };
    ResolvedCall {
        attempt_timeout,
        retry,
    }
}

/// The attempt timeout and retry policy one call uses, resolved by
/// [`Context::resolve_call`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResolvedCall {
    pub(crate) attempt_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

impl Default for Context {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Context {
    /// Starts a builder whose unset parts default to the real clock, process environment,
    /// tokio sleep and a default [`HttpClient`].
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The injected clock, for example to share with a
    /// [`CredentialCache`](crate::cache::CredentialCache).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The injected environment.
    pub fn env(&self) -> &dyn Env {
        self.env.as_ref()
    }

    /// This context with `env` as its environment (same clock, sleep, HTTP client and call
    /// settings), e.g. to resolve one source against the variables a platform would set.
    pub fn with_env(&self, env: impl Env + 'static) -> Context {
        Context {
            env: Arc::new(env),
            ..self.clone()
        }
    }

    /// The injected sleep.
    pub fn sleeper(&self) -> &Arc<dyn Sleep> {
        &self.sleep
    }

    /// The shared HTTP client. Cloning it shares its connection pools, so several contexts
    /// can use one.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The call settings for `service`: its own where set, else those for every service.
    pub fn call_settings(&self, service: Service) -> CallSettings {
        self.calls
            .per_service
            .get(&service)
            .copied()
            .unwrap_or_default()
            .or(self.calls.all)
    }

    /// What a component calling `service` uses: its own settings (`explicit`), else the
    /// context's, else the service's defaults ([`default_call`]).
    pub(crate) fn resolve_call(&self, service: Service, explicit: CallSettings) -> ResolvedCall {
        let settings = explicit.or(self.call_settings(service));
        let default = default_call(service);
        ResolvedCall {
            attempt_timeout: settings.attempt_timeout.unwrap_or(default.attempt_timeout),
            retry: settings.retry.unwrap_or(default.retry),
        }
    }
}

/// Builds a [`Context`]; see [`Context::builder`]. Unset parts default to the real world.
///
/// ```
/// use federated_credentials::context::{Context, InstantSleep, StaticEnv};
/// use federated_credentials::http::HttpClient;
/// use std::time::Duration;
///
/// // No process environment, no waiting between retries, a 5 s connect timeout.
/// let http = HttpClient::builder().connect_timeout(Duration::from_secs(5)).build()?;
/// let ctx = Context::builder()
///     .env(StaticEnv::empty())
///     .sleep(InstantSleep)
///     .http(http)
///     .build();
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct ContextBuilder {
    clock: Option<Arc<dyn Clock>>,
    env: Option<Arc<dyn Env>>,
    sleep: Option<Arc<dyn Sleep>>,
    http: Option<HttpClient>,
    calls: CallSettingsMap,
}

impl ContextBuilder {
    /// Call settings for every component that calls `service` (replacing earlier ones for
    /// it); see [`CallSettings`] for the order in which settings apply.
    pub fn call_settings(mut self, service: Service, settings: CallSettings) -> Self {
        self.calls.per_service.insert(service, settings);
        self
    }

    /// Call settings for every service without its own [`call_settings`](Self::call_settings).
    pub fn default_call_settings(mut self, settings: CallSettings) -> Self {
        self.calls.all = settings;
        self
    }

    /// Uses this clock instead of the system clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Uses this environment instead of the process environment.
    pub fn env(mut self, env: impl Env + 'static) -> Self {
        self.env = Some(Arc::new(env));
        self
    }

    /// Uses this sleep between retries instead of tokio's.
    pub fn sleep(mut self, sleep: impl Sleep + 'static) -> Self {
        self.sleep = Some(Arc::new(sleep));
        self
    }

    /// Uses this HTTP client (with its connect timeout and body-size cap) instead of a
    /// default one. Retry policies are set on each source and exchange, not here.
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the context.
    pub fn build(self) -> Context {
        Context {
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            env: self.env.unwrap_or_else(|| Arc::new(ProcessEnv)),
            sleep: self.sleep.unwrap_or_else(|| Arc::new(TokioSleep)),
            http: self.http.unwrap_or_default(),
            calls: Arc::new(self.calls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn call_settings_resolve_component_then_service_then_all_then_default() {
        let secs = Duration::from_secs;
        let ctx = Context::builder()
            .default_call_settings(CallSettings::new().attempt_timeout(secs(7)))
            .call_settings(
                Service::AwsSts,
                CallSettings::new().retry_policy(RetryPolicy::new(9)),
            )
            .build();
        // Nothing of its own: the service's retry, the all-services timeout.
        let r = ctx.resolve_call(Service::AwsSts, CallSettings::new());
        assert_eq!((r.attempt_timeout, r.retry.max_attempts()), (secs(7), 9));
        // Its own setters win.
        let own = CallSettings::new()
            .attempt_timeout(secs(3))
            .retry_policy(RetryPolicy::new(4));
        let r = ctx.resolve_call(Service::AwsSts, own);
        assert_eq!((r.attempt_timeout, r.retry.max_attempts()), (secs(3), 4));
        // Another service: the all-services timeout, the service's default retry.
        let r = ctx.resolve_call(Service::GoogleSts, CallSettings::new());
        assert_eq!(r.attempt_timeout, secs(7));
        assert_eq!(r.retry, default_call(Service::GoogleSts).retry);
        // A plain context: the service's defaults, as docs/reliability.md lists them.
        let plain = Context::default();
        for (service, timeout, attempts, deadline) in [
            (Service::GcpMetadata, 3, 4, 10),
            (Service::AwsImds, 1, 3, 10),
            (Service::AwsSts, 10, 4, 30),
            (Service::GoogleSts, 10, 3, 30),
            (Service::IamCredentials, 10, 3, 30),
            (Service::UrlSource, 5, 3, 15),
            (Service::AwsContainerCredentials, 2, 3, 10),
            (Service::AzureManagedIdentity, 3, 6, 75),
        ] {
            let r = plain.resolve_call(service, CallSettings::new());
            assert_eq!(r.attempt_timeout, secs(timeout), "{service}");
            assert_eq!(r.retry.max_attempts(), attempts, "{service}");
            assert_eq!(r.retry, r.retry.deadline(secs(deadline)), "{service}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        let shared = clock.clone();
        clock.advance(Duration::from_secs(55 * 60));
        assert_eq!(shared.now(), start + Duration::from_secs(3300));
        clock.set(UNIX_EPOCH + Duration::from_secs(60)); // an NTP step backwards
        assert_eq!(shared.now(), UNIX_EPOCH + Duration::from_secs(60));
        assert_eq!(clock.now_upper_bound(), clock.now());
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_and_sleep_follow_paused_time() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ctx = Context::builder()
            .clock(TokioClock::starting_at(start))
            .build();
        let before = tokio::time::Instant::now();
        TokioSleep.sleep(Duration::from_secs(3600)).await;
        assert!(before.elapsed() >= Duration::from_secs(3600));
        assert_eq!(ctx.now(), start + Duration::from_secs(3600));
    }

    #[test]
    fn static_env_holds_exactly_its_pairs_and_blank_means_unset() {
        let env = StaticEnv::from_pairs([("AWS_REGION", ""), ("AWS_PROFILE", "  ")])
            .with("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app");
        assert_eq!(env.get("AWS_REGION").as_deref(), Some(""));
        assert_eq!(env.get_non_empty("AWS_REGION"), None);
        assert_eq!(env.get_non_empty("AWS_PROFILE"), None);
        assert_eq!(
            env.get("AWS_ROLE_ARN").as_deref(),
            Some("arn:aws:iam::123456789012:role/app")
        );
        assert_eq!(env.get("UNSET"), None);
        let env = env.with("AWS_REGION", "eu-west-1");
        assert_eq!(
            env.get_non_empty("AWS_REGION").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(StaticEnv::empty().get("PATH"), None);
        assert_eq!(ProcessEnv.get("PATH"), std::env::var("PATH").ok());
    }

    #[derive(Debug, Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Duration>>>);

    impl Sleep for Recorded {
        fn sleep(&self, duration: Duration) -> SleepFuture {
            self.0.lock().unwrap().push(duration);
            Box::pin(std::future::ready(()))
        }
    }

    #[tokio::test]
    async fn context_hands_out_the_injected_parts() {
        let clock = ManualClock::new(UNIX_EPOCH);
        let waits = Recorded::default();
        let ctx = Context::builder()
            .clock(clock.clone())
            .env(StaticEnv::from_pairs([("AWS_REGION", "us-west-2")]))
            .sleep(waits.clone())
            .build();
        clock.advance(Duration::from_secs(10));
        assert_eq!(ctx.now(), UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(ctx.clock().now(), UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(
            ctx.env().get_non_empty("AWS_REGION").as_deref(),
            Some("us-west-2")
        );
        ctx.sleeper().sleep(Duration::from_millis(200)).await;
        assert_eq!(*waits.0.lock().unwrap(), [Duration::from_millis(200)]);
        let started = std::time::Instant::now();
        InstantSleep.sleep(Duration::from_secs(3600)).await;
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn system_clock_upper_bound_is_never_behind_and_close() {
        for _ in 0..10_000 {
            let before = SystemTime::now();
            let bound = SystemClock.now_upper_bound();
            assert!(bound >= before, "{bound:?} < {before:?}");
            assert!(
                bound.duration_since(before).unwrap() < Duration::from_millis(250),
                "the cheap reading is at most a couple of ticks ahead"
            );
        }
    }
}
