//! The one place the crate talks HTTP: deadlines, bounded jittered retries for transient
//! failures, a response-size cap, and no redirects.
//!
//! Every source and exchange builds a request, sends it with the shared [`HttpClient`], and
//! classifies the answer into an [`Error`] whose [`is_transient`](Error::is_transient) flag
//! drives one retry loop governed by a [`RetryPolicy`]. Nothing else in the crate retries,
//! sleeps between attempts, or reads a response body.
//!
//! Callers choose the client's connect timeout and body cap (through the [`Context`]) and
//! each exchange's retry policy:
//!
//! ```
//! use federated_credentials::context::Context;
//! use federated_credentials::exchange::AssumeRoleWithWebIdentity;
//! use federated_credentials::http::{HttpClient, RetryPolicy};
//! use std::time::Duration;
//!
//! let ctx = Context::builder()
//!     .http(HttpClient::builder().connect_timeout(Duration::from_secs(1)).build()?)
//!     .build();
//! let sts = AssumeRoleWithWebIdentity::new("arn:aws:iam::123456789012:role/app")
//!     .retry_policy(RetryPolicy::new(2).deadline(Duration::from_secs(10)));
//! # Ok::<(), federated_credentials::Error>(())
//! ```

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use url::Url;

use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};

/// The default cap on a response body: 1 MiB. No endpoint we call sends more than a few KB.
///
/// ```
/// use federated_credentials::http::{HttpClient, DEFAULT_MAX_BODY_BYTES};
/// assert_eq!(DEFAULT_MAX_BODY_BYTES, 1 << 20);
/// // A tighter cap for a custom source that only ever reads small tokens:
/// let http = HttpClient::builder().max_body_bytes(DEFAULT_MAX_BODY_BYTES / 16).build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A shared HTTP client. Cloning is cheap and shares the connection pool.
///
/// It never follows redirects (a metadata endpoint that redirects is an SSRF vector), caps
/// response bodies, and keeps two pools: one that honours `HTTPS_PROXY`/`NO_PROXY` for
/// public endpoints, and one that never uses a proxy, for link-local metadata servers.
///
/// Give every [`Context`] in the process the same client (or clones of it) to share its
/// connections:
///
/// ```
/// use federated_credentials::context::Context;
/// use federated_credentials::http::HttpClient;
/// let http = HttpClient::default();
/// let for_aws = Context::builder().http(http.clone()).build();
/// let for_google = Context::builder().http(http).build();
/// ```
#[derive(Debug, Clone)]
pub struct HttpClient {
    proxied: reqwest::Client,
    direct: reqwest::Client,
    max_body_bytes: usize,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::builder()
            .build()
            .expect("the default HTTP client configuration is valid")
    }
}

impl HttpClient {
    /// Starts a builder with a 2 s connect timeout and a [`DEFAULT_MAX_BODY_BYTES`] cap.
    ///
    /// ```
    /// use federated_credentials::http::HttpClient;
    /// use std::time::Duration;
    /// let http = HttpClient::builder().connect_timeout(Duration::from_secs(5)).build()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            connect_timeout: Duration::from_secs(2),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Sends one request (no retries) and reads the whole body, up to the cap.
    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let client = if request.direct {
            &self.direct
        } else {
            &self.proxied
        };
        let host = request.url.host_str().unwrap_or("").to_string();
        let mut builder = client
            .request(request.method.clone(), request.url.clone())
            .timeout(request.timeout)
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| transport_error(request, &host, e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // Once the headers are in, every failure keeps the upstream request id.
        let request_id = request
            .request_id_header
            .and_then(|name| headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let tag = |err: Error| match &request_id {
            Some(id) => err.with_request_id(id.clone()),
            None => err,
        };
        if response.status().is_redirection() {
            let location = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(no Location)");
            return Err(tag(Error::new(
                ErrorKind::InvalidResponse,
                request.service,
                format!(
                    "{} answered HTTP {status} redirecting to {location}; redirects are never followed. Check the endpoint URL and any proxy in between",
                    request.describe()
                ),
            )
            .with_http_status(status)));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_body_bytes {
                        return Err(tag(Error::new(
                            ErrorKind::InvalidResponse,
                            request.service,
                            format!(
                                "{} sent a response body over the {} byte limit; this is not a real {} endpoint",
                                request.describe(),
                                self.max_body_bytes,
                                request.service
                            ),
                        )
                        .with_http_status(status)));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(tag(transport_error(request, &host, e))),
            }
        }
        tracing::debug!(
            service = %request.service,
            host = %host,
            status,
            bytes = body.len(),
            "HTTP response"
        );
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn transport_error(request: &HttpRequest, host: &str, e: reqwest::Error) -> Error {
    let what = if e.is_timeout() {
        format!(
            "{} timed out after {:?}",
            request.describe(),
            request.timeout
        )
    } else if e.is_connect() {
        format!("could not connect to {host} for {}", request.describe())
    } else if e.is_body() || e.is_decode() {
        format!(
            "connection to {host} broke while reading the response to {}",
            request.describe()
        )
    } else {
        format!("{} failed before an HTTP answer", request.describe())
    };
    // reqwest's own message can include the URL; ours never carry secrets in URLs.
    Error::new(ErrorKind::Transport, request.service, what).with_source(e)
}

/// Builds an [`HttpClient`]; see [`HttpClient::builder`].
///
/// ```
/// use federated_credentials::http::HttpClient;
/// use std::time::Duration;
/// let http = HttpClient::builder()
///     .connect_timeout(Duration::from_millis(500))
///     .max_body_bytes(64 * 1024)
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    connect_timeout: Duration,
    max_body_bytes: usize,
}

impl HttpClientBuilder {
    /// How long to wait for a TCP/TLS connection (default 2 s).
    ///
    /// ```
    /// use federated_credentials::http::HttpClient;
    /// use std::time::Duration;
    /// // A slow VPC endpoint across regions:
    /// let http = HttpClient::builder().connect_timeout(Duration::from_secs(10)).build()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted (default [`DEFAULT_MAX_BODY_BYTES`]). A larger
    /// answer fails with [`ErrorKind::InvalidResponse`].
    ///
    /// ```
    /// use federated_credentials::http::HttpClient;
    /// let http = HttpClient::builder().max_body_bytes(256 * 1024).build()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Builds the client. Fails with [`ErrorKind::Configuration`] if the underlying client
    /// cannot be initialised (its TLS set-up, in practice).
    ///
    /// ```
    /// use federated_credentials::context::Context;
    /// use federated_credentials::http::HttpClient;
    /// let ctx = Context::builder().http(HttpClient::builder().build()?).build();
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn build(self) -> Result<HttpClient, Error> {
        let base = |direct: bool| {
            let b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .user_agent(concat!("federated-credentials/", env!("CARGO_PKG_VERSION")));
            if direct {
                b.no_proxy()
            } else {
                b
            }
        };
        let make = |direct: bool| {
            if let Some(tls) = shared_tls_config() {
                // Falls back to reqwest's own TLS set-up if it does not take ours (a rustls
                // version skew between us and reqwest would make it refuse the type).
                if let Ok(client) = base(direct).tls_backend_preconfigured(tls).build() {
                    return Ok(client);
                }
            }
            base(direct).build().map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    Service::Config,
                    "could not initialise the HTTP client (TLS roots?)",
                )
                .with_source(e)
            })
        };
        Ok(HttpClient {
            proxied: make(false)?,
            direct: make(true)?,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

/// The TLS client configuration every [`HttpClient`] in the process shares: the same one
/// reqwest would build (the platform's trust roots through `rustls-platform-verifier`, TLS 1.2
/// and 1.3, HTTP/1.1 ALPN), built once. Loading the platform roots is most of the cost of
/// building a client (about 2 ms each, twice per `HttpClient`), so sharing it makes a new
/// provider cheap; connection pools are still per client, so no connection outlives the
/// runtime that opened it. `None` if the platform verifier cannot be built; reqwest then
/// reports the error itself.
fn shared_tls_config() -> Option<rustls::ClientConfig> {
    static TLS: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(config)
    })
    .clone()
}

/// Whether the URL's host is a loopback address (`localhost`, `127.0.0.0/8`, `::1`).
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// One HTTP request, described so that it can be retried and logged without secrets: its
/// `Debug` shows neither the query nor the body, and credential headers are marked sensitive.
#[derive(Clone)]
pub(crate) struct HttpRequest {
    pub(crate) service: Service,
    pub(crate) step: &'static str,
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) timeout: Duration,
    /// Bypass any proxy (for link-local metadata endpoints).
    pub(crate) direct: bool,
    /// The response header holding the upstream request id, kept on every error once the
    /// response headers have arrived (e.g. `x-amzn-requestid`).
    pub(crate) request_id_header: Option<&'static str>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("service", &self.service)
            .field("request", &self.describe())
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.as_ref().map_or(0, Vec::len))
            .finish()
    }
}

impl HttpRequest {
    pub(crate) fn new(
        service: Service,
        step: &'static str,
        method: Method,
        url: Url,
        timeout: Duration,
    ) -> Self {
        Self {
            service,
            step,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            timeout,
            direct: false,
            request_id_header: None,
        }
    }

    /// Names the response header carrying the upstream request id.
    pub(crate) fn request_id_header(mut self, name: &'static str) -> Self {
        self.request_id_header = Some(name);
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self, Error> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::config(
                name,
                "contains characters not allowed in an HTTP header (control characters or newlines)",
            )
        })?;
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(self)
    }

    /// A header carrying a credential (`Authorization`): marked sensitive so that `Debug`
    /// of the header map never shows it.
    pub(crate) fn secret_header(mut self, name: &'static str, value: &str) -> Result<Self, Error> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::config(name, "contains characters not allowed in an HTTP header")
        })?;
        value.set_sensitive(true);
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(self)
    }

    /// Sets a JSON body and its content type.
    pub(crate) fn json_body(mut self, body: &serde_json::Value) -> Self {
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = Some(body.to_string().into_bytes());
        self
    }

    pub(crate) fn form_body(mut self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        self.body = Some(body.into_bytes());
        self
    }

    pub(crate) fn direct(mut self) -> Self {
        self.direct = true;
        self
    }

    /// `"<step> (<METHOD> <scheme://host:port/path>)"`; never the query or body.
    pub(crate) fn describe(&self) -> String {
        let mut shown = self.url.clone();
        shown.set_query(None);
        format!("{} ({} {})", self.step, self.method, shown)
    }
}

/// An HTTP answer with its whole body.
#[derive(Debug, Clone)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Retry-After` delay in seconds, when the server sent one.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }

    /// An error for this (non-success) answer: carries the HTTP status, whether it is
    /// transient (408, 429, 5xx), and the `Retry-After` delay. Callers add the upstream code
    /// and request id they parsed.
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        service: Service,
        message: impl Into<String>,
    ) -> Error {
        let mut err = Error::new(kind, service, message)
            .with_http_status(self.status)
            .with_transient(self.is_transient_status());
        if let Some(after) = self.retry_after() {
            err = err.with_retry_after(after);
        }
        err
    }

    /// Whether the status is one every service treats as transient: 408, 429, 5xx.
    pub(crate) fn is_transient_status(&self) -> bool {
        self.status == 408 || self.status == 429 || (500..600).contains(&self.status)
    }
}

/// How often and how patiently to retry transient failures.
///
/// Backoff is exponential with "equal jitter": the n-th wait is uniformly random in
/// `[d/2, d]` where `d = min(max_backoff, initial_backoff * 2^n)`, or the server's
/// `Retry-After` when that is longer. A server asking for a longer wait than `max_backoff`
/// or than the deadline leaves is never retried early: the error (carrying
/// [`Error::retry_after`]) is returned at once. The whole operation, attempts and waits
/// together, ends by `deadline`.
///
/// ```
/// use federated_credentials::http::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::new(3)
///     .backoff(Duration::from_millis(50), Duration::from_secs(1))
///     .deadline(Duration::from_secs(5));
/// assert_eq!(p.max_attempts(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    deadline: Duration,
}

impl RetryPolicy {
    /// Up to `max_attempts` attempts in all (at least 1), 100 ms initial and 2 s maximum
    /// backoff, 30 s deadline.
    ///
    /// ```
    /// use federated_credentials::http::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::new(5);
    /// assert_eq!(p.max_attempts(), 5);
    /// assert_eq!(p.deadline_duration(), Duration::from_secs(30));
    /// assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
    /// ```
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            deadline: Duration::from_secs(30),
        }
    }

    /// A single attempt, no retries.
    ///
    /// ```
    /// use federated_credentials::exchange::GoogleStsExchange;
    /// use federated_credentials::http::RetryPolicy;
    /// assert_eq!(RetryPolicy::never().max_attempts(), 1);
    /// // Fail fast, e.g. in a health check:
    /// let sts = GoogleStsExchange::new("//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/x")
    ///     .retry_policy(RetryPolicy::never());
    /// ```
    pub fn never() -> Self {
        Self::new(1)
    }

    /// Sets the initial and maximum backoff. A maximum below the initial backoff is raised to
    /// it.
    ///
    /// ```
    /// use federated_credentials::http::RetryPolicy;
    /// use std::time::Duration;
    /// // Waits of up to 0.5 s, 1 s, 2 s, 4 s, then 5 s between attempts (each drawn from
    /// // the upper half of that range).
    /// let patient = RetryPolicy::new(8)
    ///     .backoff(Duration::from_millis(500), Duration::from_secs(5))
    ///     .deadline(Duration::from_secs(60));
    /// assert_eq!(patient.max_attempts(), 8);
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the deadline for the whole operation, retries included.
    ///
    /// ```
    /// use federated_credentials::http::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::new(3).deadline(Duration::from_secs(5));
    /// assert_eq!(p.deadline_duration(), Duration::from_secs(5));
    /// ```
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The maximum number of attempts.
    ///
    /// ```
    /// use federated_credentials::http::RetryPolicy;
    /// assert_eq!(RetryPolicy::new(4).max_attempts(), 4);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The deadline for the whole operation.
    ///
    /// ```
    /// use federated_credentials::http::RetryPolicy;
    /// use std::time::Duration;
    /// assert_eq!(RetryPolicy::never().deadline_duration(), Duration::from_secs(30));
    /// ```
    pub fn deadline_duration(&self) -> Duration {
        self.deadline
    }

    fn delay_before(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(16)));
        let cap = exp.min(self.max_backoff);
        let half = cap / 2;
        let jittered = half + cap.saturating_sub(half).mul_f64(fastrand::f64());
        match retry_after {
            Some(asked) => jittered.max(asked),
            None => jittered,
        }
    }
}

/// Runs `attempt` until it succeeds, fails permanently, runs out of attempts, or the
/// deadline passes. `attempt` gets the 1-based attempt number.
pub(crate) async fn with_retries<T, F, Fut>(
    ctx: &Context,
    policy: &RetryPolicy,
    service: Service,
    step: &str,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = tokio::time::Instant::now();
    let deadline_error = || {
        Error::new(
            ErrorKind::Transport,
            service,
            format!(
                "{step}: no answer within the {:?} deadline",
                policy.deadline
            ),
        )
    };
    let mut n = 1;
    loop {
        let left = policy.deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(deadline_error());
        }
        let result = match tokio::time::timeout(left, attempt(n)).await {
            Ok(r) => r,
            Err(_) => Err(deadline_error()),
        };
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !err.is_transient() || n >= policy.max_attempts {
            return Err(err);
        }
        let wait = policy.delay_before(n - 1, err.retry_after());
        // Retrying before the server's Retry-After would only add load to an overloaded
        // service; a wait we will not make ends the operation.
        if wait > policy.max_backoff || started.elapsed() + wait >= policy.deadline {
            return Err(err);
        }
        tracing::debug!(
            service = %service,
            step,
            attempt = n,
            wait_ms = wait.as_millis() as u64,
            error = %err,
            "transient failure; retrying"
        );
        ctx.sleeper().sleep(wait).await;
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::InstantSleep;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn ctx() -> Context {
        Context::builder().sleep(InstantSleep).build()
    }

    fn transient() -> Error {
        Error::new(ErrorKind::Transport, Service::AwsSts, "reset")
    }

    #[tokio::test]
    async fn retries_transient_until_success() {
        let calls = AtomicU32::new(0);
        let r = with_retries(&ctx(), &RetryPolicy::new(3), Service::AwsSts, "t", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(transient())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn stops_after_max_attempts_with_last_error() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> =
            with_retries(&ctx(), &RetryPolicy::new(4), Service::AwsSts, "t", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(transient()) }
            })
            .await;
        assert!(r.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> =
            with_retries(&ctx(), &RetryPolicy::new(5), Service::AwsSts, "t", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(Error::config("x", "bad")) }
            })
            .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Configuration);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Regression (fault matrix, 429 with a long Retry-After): a server asking for more than
    /// the maximum backoff used to be retried after the maximum backoff anyway.
    #[tokio::test]
    async fn retry_after_beyond_max_backoff_is_not_retried_early() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::new(5)
            .backoff(Duration::from_millis(10), Duration::from_secs(2))
            .deadline(Duration::from_secs(600));
        let r: Result<(), _> = with_retries(&ctx(), &policy, Service::AwsSts, "t", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(transient().with_retry_after(Duration::from_secs(60))) }
        })
        .await;
        assert_eq!(r.unwrap_err().retry_after(), Some(Duration::from_secs(60)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let r = with_retries(&ctx(), &policy, Service::AwsSts, "t", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    1 => Err(transient().with_retry_after(Duration::from_secs(1))),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(
            r.unwrap(),
            2,
            "a Retry-After within the backoff cap is waited for"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_bounds_a_hanging_attempt() {
        let policy = RetryPolicy::new(5).deadline(Duration::from_secs(2));
        let start = tokio::time::Instant::now();
        let r: Result<(), _> = with_retries(&ctx(), &policy, Service::GcpMetadata, "hang", |_| {
            std::future::pending::<Result<(), Error>>()
        })
        .await;
        let err = r.unwrap_err();
        assert!(err.message().contains("deadline"), "{err}");
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn backoff_is_jittered_within_bounds_and_honours_retry_after() {
        let p = RetryPolicy::new(5).backoff(Duration::from_millis(100), Duration::from_millis(800));
        for _ in 0..200 {
            let d0 = p.delay_before(0, None);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d5 = p.delay_before(5, None);
            assert!(d5 >= Duration::from_millis(400) && d5 <= Duration::from_millis(800));
            let asked = p.delay_before(0, Some(Duration::from_millis(700)));
            assert_eq!(asked, Duration::from_millis(700));
            let asked = p.delay_before(0, Some(Duration::from_secs(60)));
            assert_eq!(asked, Duration::from_secs(60), "never shortened");
        }
    }

    #[test]
    fn describe_never_shows_query() {
        let r = HttpRequest::new(
            Service::GcpMetadata,
            "fetching the identity token",
            Method::GET,
            Url::parse("http://h/p?audience=secretish").unwrap(),
            Duration::from_secs(1),
        );
        assert_eq!(r.describe(), "fetching the identity token (GET http://h/p)");
    }

    #[test]
    fn header_rejects_injection() {
        let r = HttpRequest::new(
            Service::AwsSts,
            "s",
            Method::GET,
            Url::parse("http://h/").unwrap(),
            Duration::from_secs(1),
        );
        assert!(r.header("x-test", "a\r\nInjected: yes").is_err());
    }

    #[test]
    fn reqwest_takes_the_shared_tls_configuration() {
        // If a rustls version skew made reqwest refuse our configuration, `build` would fall
        // back silently and every client would load the platform roots again: catch it here.
        let tls = shared_tls_config().expect("the platform verifier builds");
        assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .expect("reqwest accepts the shared rustls configuration");
    }

    #[tokio::test]
    async fn shared_tls_configuration_still_verifies_certificates() {
        // A TLS server on loopback with a self-signed certificate for `localhost`: the
        // shared configuration must refuse it (nothing trusts it), not skip verification.
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshake = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(|_| ())
        });
        let client = HttpClient::default();
        let request = HttpRequest::new(
            Service::UrlSource,
            "reading the token",
            Method::GET,
            Url::parse(&format!("https://localhost:{port}/token")).unwrap(),
            Duration::from_secs(5),
        );
        let err = client.send(&request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
        assert!(
            handshake.await.unwrap().is_err(),
            "the client must abort the handshake on an untrusted certificate"
        );
    }
}
