//! The caching provider: keeps one credential fresh for many callers.
//!
//! - **Warm reads** load an `Arc` from an `arc_swap::ArcSwapOption`, compare
//!   two times and clone the `Arc`: no I/O, no lock, no allocation.
//! - **Refresh ahead**: each credential gets a refresh time `expiry − window − jitter`, the
//!   jitter drawn from `[0, policy jitter)`. A background task wakes then and refreshes; a
//!   read that finds the credential due also starts one. Callers keep getting the current
//!   credential meanwhile.
//! - **Fleet spreading**: each cache draws its jitter fraction once, when it is created, and
//!   keeps it, so its refresh period is stable and different from its neighbours'. A fetch
//!   made with nothing usable cached (a start, or a recovery after the credential expired:
//!   the moments a whole fleet fetches in the same second) is refreshed the first time at a
//!   point between [`COLD_START_MIN_FRACTION`] and all of the usual time-to-refresh, again
//!   drawn once per cache, so a fleet started or recovered together is spread over its whole
//!   refresh period at once instead of refreshing in waves (at the cost of that one early
//!   refresh). The jitter fractions come from a golden-ratio (Weyl) sequence with a random
//!   start per process, so the caches of one process (one per tenant, role or audience) are
//!   spread evenly rather than clumping as independent random draws do; separate processes
//!   stay independent.
//! - **Short-lived credentials** (lifetime under twice `window + jitter`): refreshed between
//!   50 % and 75 % of their lifetime (jittered the same way), never handed out within
//!   `min(buffer, lifetime / 4)` of expiry.
//! - **Credentials without expiry** (a Google STS answer with no `expires_in`): refetched
//!   every `no_expiry_refresh` (minus jitter of up to a quarter of it), and treated as expiring
//!   `no_expiry_lifetime` (1 h) after they were fetched, so one is never served for longer
//!   than that while refetches fail.
//! - **Single flight**: one fetch at a time. Callers that find nothing usable wait for the
//!   fetch in progress and share its result, or its error.
//! - **Stale-if-error**: a failed background refresh keeps the current credential, backs off,
//!   and logs one warning per outage. Errors reach callers only when nothing usable is left.
//! - **Never expired**: a credential is usable only until `expiry − buffer` by the injected
//!   wall clock, checked on every read, so a host that slept past expiry refetches.
//!
//! The background task holds only a weak reference and stops when the cache is dropped; it
//! never keeps a runtime alive (a runtime shut down drops it, and the next fetch on another
//! runtime starts a new one). It runs on current-thread and multi-thread runtimes alike.
//!
//! # Sharing one cache
//!
//! A cache belongs to one provider instance, and cloning a provider (or a
//! [`CredentialCache`]) shares its cache. To give many SDK clients one cache, build the
//! provider once and hand each client a clone: one fetch per refresh for the whole process.
//! Building a provider per client gives each its own cache and its own upstream traffic.
//!
//! # Example
//!
//! The providers ([`WebIdentityProvider`](crate::aws::WebIdentityProvider),
//! [`ExternalAccountCredentials`](crate::google::ExternalAccountCredentials)) each wrap a
//! cache; a [`CredentialCache`] can also keep any other credential fresh:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use async_trait::async_trait;
//! use federated_credentials::cache::{CachePolicy, CredentialCache, Fetch};
//! use federated_credentials::context::SystemClock;
//! use federated_credentials::token::AccessToken;
//! use federated_credentials::Error;
//!
//! /// Asks an in-house token broker (here: mints a one-hour token locally).
//! struct Broker;
//!
//! #[async_trait]
//! impl Fetch for Broker {
//!     type Credential = AccessToken;
//!     async fn fetch(&self) -> Result<AccessToken, Error> {
//!         let expires_at = std::time::SystemTime::now() + Duration::from_secs(3600);
//!         Ok(AccessToken::new("ya29.example", Some(expires_at)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let cache = CredentialCache::new(Broker, Arc::new(SystemClock), CachePolicy::google_token());
//! let token = cache.get().await?; // fetches
//! let again = cache.get().await?; // served from the cache
//! assert!(Arc::ptr_eq(&token, &again));
//! assert_eq!(cache.completed_fetches(), 1);
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;

use crate::context::Clock;
use crate::error::{Error, ErrorKind, Service};
use crate::token::{Expiry, format_rfc3339, remaining};

/// Produces a fresh credential; the cache decides when to call it.
///
/// The credential type only needs [`Expiry`]:
///
/// ```
/// use async_trait::async_trait;
/// use federated_credentials::cache::Fetch;
/// use federated_credentials::token::Expiry;
/// use federated_credentials::Error;
/// use std::time::{Duration, SystemTime};
///
/// struct Ticket {
///     value: String,
///     valid_until: SystemTime,
/// }
///
/// impl Expiry for Ticket {
///     fn expires_at(&self) -> Option<SystemTime> {
///         Some(self.valid_until)
///     }
/// }
///
/// struct TicketOffice;
///
/// #[async_trait]
/// impl Fetch for TicketOffice {
///     type Credential = Ticket;
///     async fn fetch(&self) -> Result<Ticket, Error> {
///         // Call the upstream here; map its failures to `Error`s.
///         Ok(Ticket {
///             value: "ticket-example".into(),
///             valid_until: SystemTime::now() + Duration::from_secs(900),
///         })
///     }
/// }
/// ```
#[async_trait]
pub trait Fetch: Send + Sync + 'static {
    /// The credential produced.
    type Credential: Expiry + Send + Sync + 'static;

    /// Fetches a new credential from upstream. The cache calls it at most once at a time and
    /// handles retries on its own schedule; calling it directly bypasses the cache.
    async fn fetch(&self) -> Result<Self::Credential, Error>;
}

/// The lifetime assumed for a credential that carries no expiry: 1 h, the default lifetime of
/// Google access tokens (`generateAccessToken`'s default, and the federated tokens Google STS
/// issues). google-auth 2.63.0 and google-cloud-auth 1.19.0 fail on an STS answer without
/// `expires_in`; we accept it, but never serve it longer than this.
pub const NO_EXPIRY_LIFETIME: Duration = Duration::from_secs(3600);

/// When to refresh and how long a credential may be handed out.
///
/// ```
/// use federated_credentials::cache::CachePolicy;
/// use std::time::Duration;
/// let p = CachePolicy::aws_sts().refresh_window(Duration::from_secs(600));
/// assert_eq!(p.window(), Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    window: Duration,
    jitter: Duration,
    buffer: Duration,
    no_expiry_refresh: Duration,
    no_expiry_lifetime: Duration,
    min_retry: Duration,
    max_retry: Duration,
}

impl CachePolicy {
    /// For AWS STS credentials (about 1 h): refresh between 5 and 25 min before expiry
    /// (window 5 min, jitter 20 min, close to botocore's 15 min + 2–10 min), far ahead of the
    /// AWS SDK identity cache's own 10 s buffer; hand out nothing with less than 15 s left.
    /// The wide jitter is what keeps a fleet started together from refreshing together.
    pub fn aws_sts() -> Self {
        Self {
            window: Duration::from_secs(300),
            jitter: Duration::from_secs(1200),
            buffer: Duration::from_secs(15),
            no_expiry_refresh: Duration::from_secs(900),
            no_expiry_lifetime: NO_EXPIRY_LIFETIME,
            min_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(60),
        }
    }

    /// For Google access tokens (about 1 h): refresh between 3 min 45 s (the Google
    /// libraries' convention) and 18 min 45 s before expiry (window 225 s, jitter 15 min).
    /// Like [`aws_sts`](Self::aws_sts), it hands out nothing with less than 15 s left.
    pub fn google_token() -> Self {
        Self {
            window: Duration::from_secs(225),
            jitter: Duration::from_secs(900),
            ..Self::aws_sts()
        }
    }

    /// How long before expiry to start refreshing.
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The largest random extra lead, so a fleet started together does not refresh
    /// together. Zero switches jitter off.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Credentials with less than this left are never handed out (capped at a quarter of
    /// the credential's lifetime, so short-lived credentials stay usable).
    pub fn expiry_buffer(mut self, buffer: Duration) -> Self {
        self.buffer = buffer;
        self
    }

    /// How often to refetch credentials that carry no expiry (default 15 min, minus up to a
    /// quarter of it as jitter). Such a credential stays usable while refetches fail, up to
    /// [`no_expiry_lifetime`](Self::no_expiry_lifetime).
    pub fn no_expiry_refresh(mut self, every: Duration) -> Self {
        self.no_expiry_refresh = every;
        self
    }

    /// How long a credential that carries no expiry counts as valid after it was fetched
    /// (default [`NO_EXPIRY_LIFETIME`], 1 h). Past it, the credential is never handed out,
    /// whether or not refetches succeed.
    pub fn no_expiry_lifetime(mut self, lifetime: Duration) -> Self {
        self.no_expiry_lifetime = lifetime;
        self
    }

    /// The refresh window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The jitter range: each cache refreshes up to this much earlier than the window says.
    pub fn jitter_range(&self) -> Duration {
        self.jitter
    }
}

/// The first refresh after a cold fetch (nothing usable was cached: a start, or a recovery
/// after the credential expired) comes at least this fraction of the usual time-to-refresh
/// after the fetch; where in between is drawn once per cache (see the [module docs](self)).
pub const COLD_START_MIN_FRACTION: f64 = 0.1;

/// Where one cache sits in the fleet: two fractions in `[0, 1)`, drawn once when it is
/// created.
///
/// `jitter` is the next element of a golden-ratio (Weyl) sequence that starts at a random
/// point per process: any run of consecutive draws is spread evenly over the interval, so
/// many caches in one process do not clump; processes stay independent. `start` is
/// `r − jitter (mod 1)` with `r` random per process: independent of `jitter` across
/// processes, and within one process a decreasing function of it (one wrap-around), so the
/// first refresh `(usual time-to-refresh) × (MIN + (1 − MIN) × start)` of caches that fetched
/// together is itself a smooth, evenly spread function of their jitter, with no two
/// refresh waves folding onto one another. (Measured in the perf crate's fleet model, item 6:
/// a second independent low-discrepancy coordinate clumps in-process fleets instead.)
#[derive(Debug, Clone, Copy)]
struct Spread {
    /// How far into the jitter range this cache refreshes, every time.
    jitter: f64,
    /// How far between [`COLD_START_MIN_FRACTION`] and the usual refresh time the first
    /// refresh after a cold fetch comes.
    start: f64,
}

impl Spread {
    fn draw() -> Spread {
        use std::sync::OnceLock;
        static PROCESS: OnceLock<(u64, u64)> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (first, offset) = *PROCESS.get_or_init(|| (fastrand::u64(..), fastrand::u64(..)));
        Spread::nth(first, offset, NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The `n`th spread of a process whose sequence starts at `first`, with offset `offset`.
    fn nth(first: u64, offset: u64, n: u64) -> Spread {
        // 2^64 / golden ratio, odd: consecutive multiples are maximally spread modulo 2^64.
        const STEP: u64 = 0x9E37_79B9_7F4A_7C15;
        let jitter = first.wrapping_add(n.wrapping_mul(STEP));
        let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
        Spread {
            jitter: unit(jitter),
            start: unit(offset.wrapping_sub(jitter)),
        }
    }
}

struct Entry<C> {
    credential: Arc<C>,
    /// Do not hand it out from this time on.
    usable_until: SystemTime,
    /// Start refreshing from this time on.
    refresh_at: SystemTime,
    /// Consecutive failed background refreshes of this entry.
    failures: u32,
}

impl<C> Entry<C> {
    fn usable(&self, now: SystemTime) -> bool {
        now < self.usable_until
    }
}

struct Inner<F: Fetch> {
    fetcher: F,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    /// This cache's place in the fleet, drawn once.
    spread: Spread,
    current: ArcSwapOption<Entry<F::Credential>>,
    refresh_lock: tokio::sync::Mutex<()>,
    completed_fetches: AtomicU64,
    failed_fetches: AtomicU64,
    served_stale: AtomicU64,
    /// Unix milliseconds of the last successful fetch; 0 before the first.
    last_refresh_millis: AtomicU64,
    last_error: Mutex<Option<(u64, Error)>>,
    background_running: AtomicBool,
    failing: AtomicBool,
    timer_started: AtomicBool,
    shutdown: tokio::sync::watch::Sender<()>,
    /// Bumped after every successful fetch, for [`Refreshes`].
    refreshed: tokio::sync::watch::Sender<u64>,
}

/// A cache in front of a [`Fetch`]. Cloning shares the cache.
///
/// See the [module documentation](self) for how it refreshes.
///
/// ```
/// # use std::sync::Arc;
/// # use std::sync::atomic::{AtomicU32, Ordering};
/// # use std::time::{Duration, UNIX_EPOCH};
/// # use async_trait::async_trait;
/// # use federated_credentials::cache::{CachePolicy, CredentialCache, Fetch};
/// # use federated_credentials::context::{Clock, ManualClock};
/// # use federated_credentials::token::AccessToken;
/// # use federated_credentials::Error;
/// # /// Mints one-hour tokens (a stand-in for a real upstream).
/// # struct Broker {
/// #     clock: ManualClock,
/// #     calls: AtomicU32,
/// # }
/// # #[async_trait]
/// # impl Fetch for Broker {
/// #     type Credential = AccessToken;
/// #     async fn fetch(&self) -> Result<AccessToken, Error> {
/// #         self.calls.fetch_add(1, Ordering::SeqCst);
/// #         Ok(AccessToken::new("ya29.example", Some(self.clock.now() + Duration::from_secs(3600))))
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// # let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// # let broker = Broker { clock: clock.clone(), calls: AtomicU32::new(0) };
/// let cache = CredentialCache::new(broker, Arc::new(clock.clone()), CachePolicy::aws_sts());
/// let shared = cache.clone();
/// shared.get().await?;
/// cache.get().await?; // the clone's fetch filled this cache too
/// assert_eq!(cache.completed_fetches(), 1);
/// # Ok(()) }
/// ```
pub struct CredentialCache<F: Fetch> {
    inner: Arc<Inner<F>>,
}

/// A type-erased [`Fetch`], so that the caches of all providers of one credential type have
/// one type: `CredentialCache<DynFetch<C>>` ([`crate::provider::ProviderCache`]).
pub struct DynFetch<C: 'static>(Arc<dyn Fetch<Credential = C> + 'static>);

impl<C: Expiry + Send + Sync + 'static> DynFetch<C> {
    /// Erases the type of `fetch`.
    pub fn new(fetch: impl Fetch<Credential = C>) -> Self {
        Self(Arc::new(fetch))
    }
}

#[async_trait]
impl<C: Expiry + Send + Sync + 'static> Fetch for DynFetch<C> {
    type Credential = C;

    async fn fetch(&self) -> Result<C, Error> {
        self.0.fetch().await
    }
}

impl<F: Fetch> Clone for CredentialCache<F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<F: Fetch> std::fmt::Debug for CredentialCache<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entry = self.inner.current.load();
        f.debug_struct("CredentialCache")
            .field("policy", &self.inner.policy)
            .field("cached", &entry.is_some())
            .field(
                "usable_until",
                &entry.as_ref().map(|e| format_rfc3339(e.usable_until)),
            )
            .finish()
    }
}

impl<F: Fetch> CredentialCache<F> {
    /// A cache that fetches with `fetcher`, reads time from `clock`, and follows `policy`.
    /// Nothing is fetched until the first [`get`](Self::get) or [`prefetch`](Self::prefetch).
    pub fn new(fetcher: F, clock: Arc<dyn Clock>, policy: CachePolicy) -> Self {
        let (shutdown, _) = tokio::sync::watch::channel(());
        let (refreshed, _) = tokio::sync::watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                fetcher,
                clock,
                policy,
                spread: Spread::draw(),
                current: ArcSwapOption::const_empty(),
                refresh_lock: tokio::sync::Mutex::new(()),
                completed_fetches: AtomicU64::new(0),
                failed_fetches: AtomicU64::new(0),
                served_stale: AtomicU64::new(0),
                last_refresh_millis: AtomicU64::new(0),
                last_error: Mutex::new(None),
                background_running: AtomicBool::new(false),
                failing: AtomicBool::new(false),
                timer_started: AtomicBool::new(false),
                shutdown,
                refreshed,
            }),
        }
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &F {
        &self.inner.fetcher
    }

    /// A usable credential: the cached one, or a freshly fetched one.
    pub async fn get(&self) -> Result<Arc<F::Credential>, Error> {
        // The cheap reading is never behind the real time, so `usable` errs on the safe
        // side; a refresh is only started once the precise clock agrees it is due.
        let clock = &self.inner.clock;
        let now = clock.now_upper_bound();
        if let Some(entry) = &*self.inner.current.load()
            && entry.usable(now)
        {
            if now >= entry.refresh_at && clock.now() >= entry.refresh_at {
                if entry.failures > 0 {
                    self.inner.served_stale.fetch_add(1, Ordering::Relaxed);
                }
                Inner::spawn_background_refresh(&self.inner);
            }
            return Ok(entry.credential.clone());
        }
        Inner::refresh_blocking(&self.inner).await
    }

    /// Fetches a credential now unless a usable one is cached, and returns the error if that
    /// fails: for services that want to fail fast at startup rather than on their first
    /// request. It also starts the background refresh. Concurrent callers share the fetch.
    pub async fn prefetch(&self) -> Result<(), Error> {
        self.get().await.map(|_| ())
    }

    /// Drops the cached credential so the next [`get`](Self::get) fetches a new one. Use it
    /// when a downstream service rejected the credential (revoked, or its policy changed).
    pub fn invalidate(&self) {
        self.inner.current.store(None);
    }

    /// Puts a credential obtained elsewhere (one an earlier run kept on disk) in the cache
    /// as if it had just been fetched, unless a usable one is cached already: reads get it
    /// and its refresh is scheduled by the policy like a fetched one's. Returns whether it was
    /// taken. A credential already past its expiry (less its buffer) is an
    /// [`ErrorKind::Expired`] error and leaves the cache as it was. Counts as no fetch.
    pub fn seed(&self, credential: F::Credential) -> Result<bool, Error> {
        let inner = &self.inner;
        // Not a cold start: the copy comes with the schedule of the run that fetched it.
        let entry = inner.entry_for(credential, false)?;
        let _guard = match inner.refresh_lock.try_lock() {
            Ok(guard) => guard,
            // A fetch is in progress: what it brings is fresher.
            Err(_) => return Ok(false),
        };
        if inner.usable_now(inner.clock.now()).is_some() {
            return Ok(false);
        }
        inner.current.store(Some(Arc::new(entry)));
        Inner::ensure_timer(inner);
        Ok(true)
    }

    /// A stream of the credentials this cache fetches from now on, one per successful fetch
    /// (background refreshes included): for keeping a copy elsewhere, such as a file a
    /// restarted server seeds itself from. It ends when the cache is dropped.
    pub fn refreshes(&self) -> Refreshes<F> {
        Refreshes {
            changes: self.inner.refreshed.subscribe(),
            cache: Arc::downgrade(&self.inner),
        }
    }

    /// The usable credential cached now, if any, without fetching or starting a refresh.
    pub fn cached(&self) -> Option<Arc<F::Credential>> {
        self.inner.usable_now(self.inner.clock.now())
    }

    /// How many fetches have completed, successful or not.
    pub fn completed_fetches(&self) -> u64 {
        self.inner.completed_fetches.load(Ordering::Acquire)
    }

    /// A snapshot of the counters, for a service's metrics system. Reading it takes no lock.
    pub fn metrics(&self) -> CacheMetrics {
        let inner = &self.inner;
        let completed = inner.completed_fetches.load(Ordering::Acquire);
        let failures = inner.failed_fetches.load(Ordering::Acquire);
        let millis = inner.last_refresh_millis.load(Ordering::Acquire);
        let entry = inner.current.load();
        CacheMetrics {
            fetches: completed,
            failures,
            served_stale: inner.served_stale.load(Ordering::Relaxed),
            last_refresh: (millis > 0)
                .then(|| std::time::UNIX_EPOCH + Duration::from_millis(millis)),
            expires_at: entry.as_ref().and_then(|e| e.credential.expires_at()),
            refresh_failing: inner.failing.load(Ordering::Acquire),
        }
    }
}

/// The credentials a cache fetches, one per successful fetch ([`CredentialCache::refreshes`]).
/// Holds no strong reference: the cache is dropped as if it did not exist.
pub struct Refreshes<F: Fetch> {
    changes: tokio::sync::watch::Receiver<u64>,
    cache: Weak<Inner<F>>,
}

impl<F: Fetch> Refreshes<F> {
    /// Waits for the next successful fetch and returns its credential; `None` once the cache
    /// is dropped. Fetches that succeed while the caller is busy elsewhere are folded into
    /// one: the newest credential is returned.
    pub async fn next(&mut self) -> Option<Arc<F::Credential>> {
        loop {
            self.changes.changed().await.ok()?;
            let inner = self.cache.upgrade()?;
            // Invalidated since that fetch: wait for the next one.
            if let Some(entry) = inner.current.load_full() {
                return Some(entry.credential.clone());
            }
        }
    }
}

impl<F: Fetch> std::fmt::Debug for Refreshes<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshes")
            .field("cache_alive", &(self.cache.strong_count() > 0))
            .finish()
    }
}

/// Counters and times of one cache ([`CredentialCache::metrics`], and `metrics()` on the
/// providers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheMetrics {
    /// Fetches completed (successful or not).
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// Reads served from a credential whose refresh had failed (stale-if-error).
    pub served_stale: u64,
    /// When the last successful fetch finished.
    pub last_refresh: Option<SystemTime>,
    /// When the cached credential expires (`None`: nothing cached, or no expiry).
    pub expires_at: Option<SystemTime>,
    /// Whether background refreshes are currently failing (an outage is in progress).
    pub refresh_failing: bool,
}

impl<F: Fetch> Inner<F> {
    fn usable_now(&self, now: SystemTime) -> Option<Arc<F::Credential>> {
        self.current
            .load()
            .as_ref()
            .filter(|e| e.usable(now))
            .map(|e| e.credential.clone())
    }

    async fn refresh_blocking(self: &Arc<Self>) -> Result<Arc<F::Credential>, Error> {
        let seen = self.completed_fetches.load(Ordering::Acquire);
        let _guard = self.refresh_lock.lock().await;
        if let Some(c) = self.usable_now(self.clock.now()) {
            return Ok(c);
        }
        if self.completed_fetches.load(Ordering::Acquire) != seen {
            // A fetch finished while we waited and left nothing usable: share its error
            // instead of stampeding upstream again.
            if let Some((at, err)) = &*self.last_error.lock().expect("not poisoned")
                && *at > seen
            {
                return Err(err.clone());
            }
        }
        self.fetch_and_store().await
    }

    /// Fetches and stores. Must be called with `refresh_lock` held.
    async fn fetch_and_store(self: &Arc<Self>) -> Result<Arc<F::Credential>, Error> {
        let started = std::time::Instant::now();
        let cold = self.usable_now(self.clock.now()).is_none();
        let result = self
            .fetcher
            .fetch()
            .await
            .and_then(|c| self.entry_for(c, cold));
        let n = self.completed_fetches.fetch_add(1, Ordering::AcqRel) + 1;
        match result {
            Ok(entry) => {
                let credential = entry.credential.clone();
                let millis = self
                    .clock
                    .now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis() as u64;
                self.last_refresh_millis
                    .store(millis.max(1), Ordering::Release);
                tracing::debug!(
                    fetch_ms = started.elapsed().as_millis() as u64,
                    expires_at = ?credential.expires_at().map(format_rfc3339),
                    refresh_at = %format_rfc3339(entry.refresh_at),
                    usable_until = %format_rfc3339(entry.usable_until),
                    "credential refreshed"
                );
                self.current.store(Some(Arc::new(entry)));
                self.refreshed.send_modify(|n| *n += 1);
                *self.last_error.lock().expect("not poisoned") = None;
                if self.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("credential refresh recovered");
                }
                Self::ensure_timer(self);
                Ok(credential)
            }
            Err(err) => {
                self.failed_fetches.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(fetch_ms = started.elapsed().as_millis() as u64, error = %err, "credential fetch failed");
                *self.last_error.lock().expect("not poisoned") = Some((n, err.clone()));
                Err(err)
            }
        }
    }

    /// The entry for a credential fetched now. `cold`: nothing usable was cached (a start or
    /// a recovery after expiry), when a whole fleet may be fetching in the same second.
    fn entry_for(
        &self,
        credential: F::Credential,
        cold: bool,
    ) -> Result<Entry<F::Credential>, Error> {
        let now = self.clock.now();
        let p = &self.policy;
        let u = self.spread.jitter;
        let Some(expires_at) = credential.expires_at() else {
            // Refetched like any other, but never served past the assumed lifetime.
            let every = p.no_expiry_refresh.min(p.no_expiry_lifetime / 2);
            let jitter = p.jitter.min(every / 4).mul_f64(u);
            return Ok(Entry {
                credential: Arc::new(credential),
                usable_until: now + p.no_expiry_lifetime,
                refresh_at: now + (every - jitter),
                failures: 0,
            });
        };
        let lifetime = remaining(expires_at, now);
        let buffer = p.buffer.min(lifetime / 4);
        if lifetime.is_zero() || lifetime <= buffer {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::Cache,
                format!(
                    "the new credential expires at {}, which is already past (now {}); check this machine's clock",
                    format_rfc3339(expires_at),
                    format_rfc3339(now)
                ),
            )
            .with_transient(true));
        }
        let lead = p.window + p.jitter.mul_f64(u);
        let refresh_at = if p.window + p.jitter <= lifetime / 2 {
            let usual = expires_at - lead;
            if cold && !p.jitter.is_zero() {
                // A fleet that fetched together would otherwise first refresh together,
                // within the jitter range; spread over the whole time-to-refresh instead.
                let wait = remaining(usual, now);
                let fraction =
                    COLD_START_MIN_FRACTION + (1.0 - COLD_START_MIN_FRACTION) * self.spread.start;
                now + wait.mul_f64(fraction)
            } else {
                usual
            }
        } else {
            // Short-lived: the window does not fit; refresh between half and three quarters
            // of the lifetime, which leaves at least a quarter of it as margin.
            now + lifetime / 2 + (lifetime / 4).mul_f64(u)
        };
        Ok(Entry {
            credential: Arc::new(credential),
            usable_until: expires_at - buffer,
            refresh_at,
            failures: 0,
        })
    }

    fn spawn_background_refresh(this: &Arc<Self>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if this.background_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let guard = BackgroundRunning(this.clone());
        handle.spawn(async move {
            guard.0.background_refresh().await;
            drop(guard);
        });
    }

    /// Refreshes if still due and nobody else is refreshing; on failure keeps the current
    /// credential and pushes its refresh time back.
    async fn background_refresh(self: &Arc<Self>) {
        let Ok(_guard) = self.refresh_lock.try_lock() else {
            return;
        };
        let now = self.clock.now();
        let previous = self.current.load_full();
        if previous.as_ref().is_some_and(|e| now < e.refresh_at) {
            return;
        }
        if let Err(err) = self.fetch_and_store().await {
            let Some(previous) = previous else { return };
            let failures = previous.failures + 1;
            let backoff = self
                .policy
                .min_retry
                .saturating_mul(2u32.saturating_pow(failures.min(16) - 1))
                .min(self.policy.max_retry);
            let backoff = backoff / 2 + (backoff / 2).mul_f64(fastrand::f64());
            let now = self.clock.now();
            if !self.failing.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    error = %err,
                    usable_until = %format_rfc3339(previous.usable_until),
                    "credential refresh failed; serving the cached credential until it expires"
                );
            }
            // Only replace the entry we read, so a concurrent success is never undone.
            let retry_entry = Arc::new(Entry {
                credential: previous.credential.clone(),
                usable_until: previous.usable_until,
                refresh_at: now + backoff,
                failures,
            });
            let _ = self.current.compare_and_swap(&previous, Some(retry_entry));
        }
    }

    fn ensure_timer(this: &Arc<Self>) {
        if this.timer_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if this.timer_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(this);
        let mut shutdown = this.shutdown.subscribe();
        let started = TimerStarted(weak.clone());
        handle.spawn(async move {
            let _started = started;
            loop {
                let Some(wait) = Self::time_until_refresh(&weak) else {
                    return;
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                if inner
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|e| inner.clock.now() >= e.refresh_at)
                {
                    inner.background_refresh().await;
                }
            }
        });
    }

    fn time_until_refresh(weak: &Weak<Self>) -> Option<Duration> {
        let inner = weak.upgrade()?;
        let entry = inner.current.load();
        let now = inner.clock.now();
        Some(match entry.as_ref() {
            Some(e) => remaining(e.refresh_at, now).max(Duration::from_millis(10)),
            // Invalidated: the next read fetches; check back later.
            None => inner.policy.min_retry,
        })
    }
}

/// Clears `background_running` when the refresh task ends or is dropped with its runtime.
struct BackgroundRunning<F: Fetch>(Arc<Inner<F>>);

impl<F: Fetch> Drop for BackgroundRunning<F> {
    fn drop(&mut self) {
        self.0.background_running.store(false, Ordering::Release);
    }
}

/// Clears `timer_started` when the timer task ends or is dropped with its runtime, so the
/// next fetch (perhaps on another runtime) starts a new timer.
struct TimerStarted<F: Fetch>(Weak<Inner<F>>);

impl<F: Fetch> Drop for TimerStarted<F> {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.timer_started.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{ManualClock, TokioClock};
    use std::sync::atomic::AtomicUsize;
    use std::time::UNIX_EPOCH;

    #[derive(Debug)]
    struct Cred {
        id: usize,
        expires_at: Option<SystemTime>,
    }

    impl Expiry for Cred {
        fn expires_at(&self) -> Option<SystemTime> {
            self.expires_at
        }
    }

    /// Fetches credentials living `lifetime` from the clock's now; fails while `fail` is set.
    struct Counting {
        clock: Arc<dyn Clock>,
        lifetime: Option<Duration>,
        calls: Arc<AtomicUsize>,
        fail: Arc<AtomicBool>,
        delay: Duration,
    }

    #[async_trait]
    impl Fetch for Counting {
        type Credential = Cred;
        async fn fetch(&self) -> Result<Cred, Error> {
            let id = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(
                    Error::new(ErrorKind::Upstream, Service::AwsSts, "down").with_transient(true)
                );
            }
            Ok(Cred {
                id,
                expires_at: self.lifetime.map(|l| self.clock.now() + l),
            })
        }
    }

    struct Harness {
        cache: CredentialCache<Counting>,
        calls: Arc<AtomicUsize>,
        fail: Arc<AtomicBool>,
    }

    impl Harness {
        /// Lets a spawned background refresh run until `n` fetches were made (it is on this
        /// runtime: yielding is enough), then checks there are exactly `n`.
        async fn settle_at(&self, n: usize) {
            for _ in 0..100 {
                if self.calls.load(Ordering::SeqCst) >= n {
                    break;
                }
                tokio::task::yield_now().await;
            }
            assert_eq!(self.calls.load(Ordering::SeqCst), n);
        }
    }

    fn harness(
        clock: Arc<dyn Clock>,
        lifetime: Option<Duration>,
        delay: Duration,
        policy: CachePolicy,
    ) -> Harness {
        let calls = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let fetcher = Counting {
            clock: clock.clone(),
            lifetime,
            calls: calls.clone(),
            fail: fail.clone(),
            delay,
        };
        Harness {
            cache: CredentialCache::new(fetcher, clock, policy),
            calls,
            fail,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// The common case: one-hour credentials, no fetch delay, the AWS policy, on `clock`.
    fn hourly(clock: &ManualClock) -> Harness {
        harness(
            Arc::new(clock.clone()),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts(),
        )
    }

    #[tokio::test]
    async fn warm_reads_do_not_fetch() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = hourly(&clock);
        let a = h.cache.get().await.unwrap();
        for _ in 0..100 {
            assert_eq!(h.cache.get().await.unwrap().id, a.id);
        }
        assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_seeded_credential_is_served_without_a_fetch_and_refreshed_on_schedule() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock.clone()),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts().jitter(Duration::ZERO),
        );
        let seeded = Cred {
            id: 99,
            expires_at: Some(clock.now() + Duration::from_secs(40 * 60)),
        };
        assert!(h.cache.seed(seeded).unwrap());
        assert_eq!(h.cache.get().await.unwrap().id, 99);
        assert_eq!(h.calls.load(Ordering::SeqCst), 0);
        assert_eq!(h.cache.completed_fetches(), 0, "a seed is no fetch");
        // A usable credential is cached: a second seed is not taken.
        let other = Cred {
            id: 98,
            expires_at: Some(clock.now() + HOUR),
        };
        assert!(!h.cache.seed(other).unwrap());
        assert_eq!(h.cache.get().await.unwrap().id, 99);
        // Refreshed 5 minutes (the window) before its expiry, like a fetched one.
        clock.advance(Duration::from_secs(35 * 60 + 1));
        h.cache.get().await.unwrap();
        h.settle_at(1).await;
    }

    #[tokio::test]
    async fn an_expired_seed_is_refused_and_changes_nothing() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = hourly(&clock);
        let stale = Cred {
            id: 7,
            expires_at: Some(clock.now() - Duration::from_secs(1)),
        };
        let err = h.cache.seed(stale).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
        assert_eq!(h.cache.get().await.unwrap().id, 1, "fetched, not the seed");
    }

    #[tokio::test]
    async fn refreshes_reports_each_fetched_credential_and_ends_with_the_cache() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = hourly(&clock);
        let mut refreshes = h.cache.refreshes();
        let seeded = Cred {
            id: 50,
            expires_at: Some(clock.now() + HOUR),
        };
        h.cache.seed(seeded).unwrap();
        h.cache.invalidate();
        h.cache.get().await.unwrap();
        assert_eq!(
            refreshes.next().await.unwrap().id,
            1,
            "the fetch, not the seed"
        );
        h.cache.invalidate();
        h.cache.get().await.unwrap();
        h.cache.invalidate();
        h.cache.get().await.unwrap();
        assert_eq!(
            refreshes.next().await.unwrap().id,
            3,
            "folded into the newest"
        );
        // A fetch, then an invalidation before the stream is read: the stream goes on to
        // the next fetch, it does not end.
        h.cache.invalidate();
        h.cache.get().await.unwrap();
        h.cache.invalidate();
        assert!(h.cache.cached().is_none());
        let next = tokio::spawn(async move {
            let id = refreshes.next().await.map(|c| c.id);
            (id, refreshes)
        });
        tokio::task::yield_now().await;
        assert_eq!(h.cache.get().await.unwrap().id, 5);
        let (id, mut refreshes) = next.await.unwrap();
        assert_eq!(id, Some(5));
        assert_eq!(
            h.cache.cached().unwrap().id,
            5,
            "cached() reads without fetching"
        );
        assert_eq!(h.calls.load(Ordering::SeqCst), 5);
        drop(h);
        assert!(refreshes.next().await.is_none());
    }

    /// A manual clock whose cheap reading runs `ahead` of its precise one, counting both.
    #[derive(Debug)]
    struct SkewedCheapClock {
        precise: ManualClock,
        ahead: Duration,
        precise_reads: AtomicUsize,
        cheap_reads: AtomicUsize,
    }

    impl Clock for SkewedCheapClock {
        fn now(&self) -> SystemTime {
            self.precise_reads.fetch_add(1, Ordering::SeqCst);
            self.precise.now()
        }
        fn now_upper_bound(&self) -> SystemTime {
            self.cheap_reads.fetch_add(1, Ordering::SeqCst);
            self.precise.now() + self.ahead
        }
    }

    #[tokio::test]
    async fn warm_read_uses_only_the_cheap_clock_and_stays_on_the_safe_side() {
        let precise = ManualClock::new(UNIX_EPOCH + HOUR);
        let clock = Arc::new(SkewedCheapClock {
            precise: precise.clone(),
            ahead: Duration::from_millis(8),
            precise_reads: AtomicUsize::new(0),
            cheap_reads: AtomicUsize::new(0),
        });
        let h = harness(
            clock.clone(),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts().refresh_window(Duration::from_secs(60)),
        );
        let first = h.cache.get().await.unwrap();
        let precise_before = clock.precise_reads.load(Ordering::SeqCst);
        let cheap_before = clock.cheap_reads.load(Ordering::SeqCst);
        for _ in 0..100 {
            assert_eq!(h.cache.get().await.unwrap().id, first.id);
        }
        assert_eq!(
            clock.precise_reads.load(Ordering::SeqCst),
            precise_before,
            "a warm read must not take the precise clock reading"
        );
        assert_eq!(clock.cheap_reads.load(Ordering::SeqCst), cheap_before + 100);

        // Within the cheap clock's lead of the refresh time: no refresh is started (the
        // precise clock says it is not due yet).
        let refresh_at = h.cache.inner.current.load().as_ref().unwrap().refresh_at;
        precise.set(refresh_at - Duration::from_millis(4));
        h.cache.get().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(h.calls.load(Ordering::SeqCst), 1);

        // Within its lead of the end of use: the fast path declines, the precise clock
        // still finds the credential usable, and it is served without a new fetch.
        let usable_until = h.cache.inner.current.load().as_ref().unwrap().usable_until;
        precise.set(usable_until - Duration::from_millis(4));
        let c = h.cache.get().await.unwrap();
        assert_eq!(c.id, first.id);
        assert!(clock.precise_reads.load(Ordering::SeqCst) > precise_before);
    }

    #[tokio::test(start_paused = true)]
    async fn herd_on_cold_cache_makes_one_fetch() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(UNIX_EPOCH + HOUR));
        let h = harness(
            clock,
            Some(HOUR),
            Duration::from_millis(200),
            CachePolicy::aws_sts(),
        );
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let c = h.cache.clone();
                tokio::spawn(async move { c.get().await.map(|c| c.id) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn herd_shares_one_error() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(UNIX_EPOCH + HOUR));
        let h = harness(
            clock,
            Some(HOUR),
            Duration::from_millis(200),
            CachePolicy::aws_sts(),
        );
        h.fail.store(true, Ordering::SeqCst);
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let c = h.cache.clone();
                tokio::spawn(async move { c.get().await.map(|c| c.id) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().message(), "down");
        }
        assert_eq!(h.calls.load(Ordering::SeqCst), 1);
        // a later caller tries again
        h.fail.store(false, Ordering::SeqCst);
        assert_eq!(h.cache.get().await.unwrap().id, 2);
    }

    #[tokio::test]
    async fn never_returns_expired_even_after_clock_jump() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = hourly(&clock);
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        // the host sleeps through expiry: no timer fired, the read must refetch
        clock.advance(2 * HOUR);
        h.fail.store(true, Ordering::SeqCst);
        assert!(
            h.cache.get().await.is_err(),
            "expired credential must not be served"
        );
        h.fail.store(false, Ordering::SeqCst);
        let c = h.cache.get().await.unwrap();
        assert!(c.expires_at.unwrap() > clock.now());
    }

    #[tokio::test]
    async fn within_buffer_counts_as_expired() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = hourly(&clock);
        h.cache.get().await.unwrap();
        clock.advance(HOUR - Duration::from_secs(10)); // 10 s left < 15 s buffer
        h.fail.store(true, Ordering::SeqCst);
        assert!(h.cache.get().await.is_err());
    }

    /// The documented defaults (moved from the rustdoc examples).
    #[test]
    fn policy_defaults_and_setters() {
        let aws = CachePolicy::aws_sts();
        assert_eq!(aws.window(), Duration::from_secs(5 * 60));
        assert_eq!(aws.jitter_range(), Duration::from_secs(20 * 60));
        let google = CachePolicy::google_token();
        assert_eq!(google.window(), Duration::from_secs(225));
        assert_eq!(google.jitter_range(), Duration::from_secs(15 * 60));
        // earliest refresh lead of the Google policy: 3 min 45 s + 15 min
        assert_eq!(
            google.window() + google.jitter_range(),
            Duration::from_secs(18 * 60 + 45)
        );
        let wider = CachePolicy::aws_sts().refresh_window(Duration::from_secs(600));
        assert_eq!(wider.window(), Duration::from_secs(600));
        assert_eq!(
            wider.jitter_range(),
            Duration::from_secs(1200),
            "jitter kept"
        );
        assert_eq!(
            CachePolicy::aws_sts().jitter(Duration::ZERO).jitter_range(),
            Duration::ZERO
        );
        assert_ne!(
            CachePolicy::aws_sts().no_expiry_refresh(Duration::from_secs(600)),
            CachePolicy::aws_sts()
        );
    }

    #[tokio::test]
    async fn a_longer_expiry_buffer_refetches_earlier() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock.clone()),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::google_token().expiry_buffer(Duration::from_secs(60)),
        );
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        clock.advance(HOUR - Duration::from_secs(30)); // 30 s left < 60 s buffer
        assert_eq!(h.cache.get().await.unwrap().id, 2);
        assert_eq!(h.cache.completed_fetches(), 2);
    }

    /// Regression: a credential without an expiry (Google STS with no `expires_in`) was served
    /// forever while refreshes failed.
    #[tokio::test(start_paused = true)]
    async fn a_credential_without_expiry_is_not_served_past_its_assumed_lifetime() {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock),
            None,
            Duration::ZERO,
            CachePolicy::google_token(),
        );
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        h.fail.store(true, Ordering::SeqCst);
        for _ in 0..59 {
            tokio::time::advance(Duration::from_secs(60)).await;
            assert_eq!(
                h.cache.get().await.unwrap().id,
                1,
                "stale-if-error within it"
            );
        }
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        assert!(h.calls.load(Ordering::SeqCst) >= 2, "refetched meanwhile");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(h.cache.get().await.unwrap_err().message(), "down");
        h.fail.store(false, Ordering::SeqCst);
        assert!(h.cache.get().await.unwrap().id > 1);
        // A shorter assumed lifetime also shortens the refetch period to half of it.
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let policy = CachePolicy::google_token().no_expiry_lifetime(Duration::from_secs(600));
        let h = harness(Arc::new(clock), None, Duration::ZERO, policy);
        h.cache.get().await.unwrap();
        tokio::time::advance(Duration::from_secs(301)).await;
        h.cache.get().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(h.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_if_error_serves_cached_then_fails_at_expiry() {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let policy = CachePolicy::aws_sts().jitter(Duration::ZERO);
        let h = harness(Arc::new(clock), Some(HOUR), Duration::ZERO, policy);
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        h.fail.store(true, Ordering::SeqCst);
        // past the refresh time: refreshes fail in the background, the cached one is served
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        for _ in 0..50 {
            assert_eq!(h.cache.get().await.unwrap().id, 1);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let attempts = h.calls.load(Ordering::SeqCst);
        assert!(attempts >= 2, "background refresh was attempted");
        assert!(attempts < 30, "failed refreshes back off (got {attempts})");
        // past expiry minus buffer: nothing usable, the error surfaces
        tokio::time::advance(Duration::from_secs(140)).await;
        assert_eq!(h.cache.get().await.unwrap_err().message(), "down");
        // recovery
        h.fail.store(false, Ordering::SeqCst);
        assert!(h.cache.get().await.unwrap().id > 1);
    }

    #[tokio::test(start_paused = true)]
    async fn background_timer_refreshes_before_expiry_without_reads() {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts(),
        );
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        // window 5 min + jitter < 20 min: refreshed by 55 min at the latest (the first time
        // perhaps much earlier: a cold start is spread)
        tokio::time::sleep(Duration::from_secs(55 * 60 + 1)).await;
        let calls = h.calls.load(Ordering::SeqCst);
        assert!(calls >= 2, "{calls}");
        assert_eq!(h.cache.get().await.unwrap().id, calls);
    }

    /// The refresh time of what is cached, as an offset from `since`.
    fn refresh_in(cache: &CredentialCache<Counting>, since: SystemTime) -> Duration {
        let entry = cache.inner.current.load_full().unwrap();
        entry.refresh_at.duration_since(since).unwrap()
    }

    #[tokio::test]
    async fn a_cold_fetch_is_refreshed_the_first_time_anywhere_in_its_refresh_period() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let policy = CachePolicy::aws_sts();
        let h = harness(Arc::new(clock.clone()), Some(HOUR), Duration::ZERO, policy);
        let start = h.cache.inner.spread.start;
        let usual =
            HOUR - policy.window() - policy.jitter_range().mul_f64(h.cache.inner.spread.jitter);
        let spread = |wait: Duration| {
            wait.mul_f64(COLD_START_MIN_FRACTION + (1.0 - COLD_START_MIN_FRACTION) * start)
        };
        let t0 = clock.now();
        h.cache.get().await.unwrap();
        let first = refresh_in(&h.cache, t0);
        assert!(
            first.abs_diff(spread(usual)) < Duration::from_millis(1),
            "{first:?} vs {:?}",
            spread(usual)
        );
        assert!(first >= usual.mul_f64(COLD_START_MIN_FRACTION) && first <= usual);

        // A refresh with the credential still usable is not cold: the usual schedule.
        clock.set(t0 + first);
        h.cache.get().await.unwrap();
        h.settle_at(2).await;
        let t1 = clock.now();
        assert!(refresh_in(&h.cache, t1).abs_diff(usual) < Duration::from_millis(1));

        // Recovering after the credential expired is cold again: spread.
        clock.set(t1 + HOUR);
        let t2 = clock.now();
        h.cache.get().await.unwrap();
        assert!(refresh_in(&h.cache, t2).abs_diff(spread(usual)) < Duration::from_millis(1));

        // Without jitter nothing is spread.
        let h = harness(
            Arc::new(clock.clone()),
            Some(HOUR),
            Duration::ZERO,
            policy.jitter(Duration::ZERO),
        );
        h.cache.get().await.unwrap();
        assert_eq!(refresh_in(&h.cache, t2), HOUR - policy.window());
    }

    #[test]
    fn spreads_of_one_process_are_even_and_start_falls_as_jitter_rises() {
        let (first, offset) = (fastrand::u64(..), fastrand::u64(..));
        let draws: Vec<Spread> = (0..1000).map(|n| Spread::nth(first, offset, n)).collect();
        // Even: every tenth of [0, 1) holds 100 +- 2 of 1,000 consecutive jitter fractions
        // (independent draws would stray by about 10).
        for tenth in 0..10 {
            let lo = tenth as f64 / 10.0;
            let n = draws
                .iter()
                .filter(|d| d.jitter >= lo && d.jitter < lo + 0.1)
                .count();
            assert!((98..=102).contains(&n), "{n} in [{lo}, {lo} + 0.1)");
        }
        // start = r - jitter (mod 1): the sum is the same for every cache of the process.
        let r = (draws[0].jitter + draws[0].start).fract();
        for d in &draws {
            let sum = (d.jitter + d.start).fract();
            assert!(
                (sum - r).abs() < 1e-9 || (sum - r).abs() > 1.0 - 1e-9,
                "{d:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timer_stops_when_cache_dropped() {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts(),
        );
        h.cache.get().await.unwrap();
        let weak = Arc::downgrade(&h.cache.inner);
        let calls = h.calls.clone();
        drop(h);
        tokio::task::yield_now().await;
        assert!(weak.upgrade().is_none(), "no task keeps the cache alive");
        tokio::time::sleep(3 * HOUR).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn short_lived_and_non_expiring_credentials() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        // 20 s lifetime, shorter than the 5 min window: usable, refresh at half-life
        let h = harness(
            Arc::new(clock.clone()),
            Some(Duration::from_secs(20)),
            Duration::ZERO,
            CachePolicy::aws_sts(),
        );
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        clock.advance(Duration::from_secs(14)); // buffer is min(15 s, 5 s) = 5 s
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        clock.advance(Duration::from_secs(2));
        assert_eq!(h.cache.get().await.unwrap().id, 2);

        let h = harness(
            Arc::new(clock.clone()),
            None,
            Duration::ZERO,
            CachePolicy::aws_sts(),
        );
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        clock.advance(HOUR - Duration::from_secs(60));
        h.fail.store(true, Ordering::SeqCst);
        assert_eq!(
            h.cache.get().await.unwrap().id,
            1,
            "non-expiring credentials are served while refresh fails, within NO_EXPIRY_LIFETIME"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_count_fetches_failures_and_stale_reads() {
        let clock = TokioClock::starting_at(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts().jitter(Duration::ZERO),
        );
        assert_eq!(h.cache.metrics(), CacheMetrics::default());
        h.cache.get().await.unwrap();
        let m = h.cache.metrics();
        assert_eq!((m.fetches, m.failures, m.served_stale), (1, 0, 0));
        assert_eq!(m.last_refresh, Some(UNIX_EPOCH + HOUR));
        assert_eq!(m.expires_at, Some(UNIX_EPOCH + 2 * HOUR));
        h.fail.store(true, Ordering::SeqCst);
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        for _ in 0..20 {
            h.cache.get().await.unwrap();
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let m = h.cache.metrics();
        assert!(m.failures >= 1, "{m:?}");
        assert!(m.served_stale >= 1, "{m:?}");
        assert!(m.refresh_failing);
        assert_eq!(m.fetches, 1 + m.failures);
    }

    #[tokio::test]
    async fn invalidate_forces_a_fetch() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock),
            Some(HOUR),
            Duration::ZERO,
            CachePolicy::aws_sts(),
        );
        assert_eq!(h.cache.get().await.unwrap().id, 1);
        h.cache.invalidate();
        assert_eq!(h.cache.get().await.unwrap().id, 2);
        assert_eq!(h.cache.completed_fetches(), 2);
    }

    #[tokio::test]
    async fn already_expired_fetch_result_is_an_error() {
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = harness(
            Arc::new(clock),
            Some(Duration::ZERO),
            Duration::ZERO,
            CachePolicy::aws_sts(),
        );
        assert_eq!(h.cache.get().await.unwrap_err().kind(), ErrorKind::Expired);
    }

    #[test]
    fn works_without_a_runtime_for_warm_reads() {
        use std::future::Future;
        let clock = ManualClock::new(UNIX_EPOCH + HOUR);
        let h = hourly(&clock);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(h.cache.get()).unwrap();
        drop(rt);
        clock.advance(HOUR - Duration::from_secs(100)); // due for refresh, but no runtime: still served
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "no runtime here"
        );
        // Polled once with a no-op waker, outside any runtime: a warm read completes at once.
        let mut fut = std::pin::pin!(h.cache.get());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(c) => assert_eq!(c.unwrap().id, 1),
            std::task::Poll::Pending => panic!("a warm read must not wait outside a runtime"),
        }
        assert_eq!(h.calls.load(Ordering::SeqCst), 1, "no refresh was started");
    }
}
