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
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

mod tls;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use url::Url;

use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};

/// The default cap on a response body: 1 MiB. No endpoint we call sends more than a few KB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A shared HTTP client. Cloning is cheap and shares the connection pool.
///
/// It never follows redirects (a metadata endpoint that redirects is an SSRF vector), caps
/// response bodies, and keeps two pools: one that honours `HTTPS_PROXY`/`NO_PROXY` (or the
/// builder's [`proxy`](HttpClientBuilder::proxy)) for public endpoints, and one that never
/// uses a proxy, for link-local metadata servers.
///
/// Building one never fails on the environment: without platform CA certificates
/// (distroless and `scratch` images) it trusts the Mozilla roots compiled into the crate; see
/// [`HttpClientBuilder`] for private CAs and proxies.
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
#[derive(Clone)]
pub struct HttpClient {
    /// The two pools, or why none could be built (every request then fails with it).
    transport: Result<Transport, Error>,
    max_body_bytes: usize,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not reqwest's Debug: it would show an explicit proxy's URL, password included.
        let mut d = f.debug_struct("HttpClient");
        match &self.transport {
            Ok(t) => d.field("https_refused", &t.https_refused),
            Err(e) => d.field("unusable", &e.message()),
        };
        d.field("max_body_bytes", &self.max_body_bytes).finish()
    }
}

#[derive(Clone)]
struct Transport {
    proxied: reqwest::Client,
    direct: reqwest::Client,
    /// The client has no trust anchors: https requests fail before connecting with a
    /// configuration error; plain http (metadata servers, loopback) works.
    https_refused: bool,
}

impl Default for HttpClient {
    /// The default client: the platform's CA certificates (or the bundled Mozilla roots
    /// where it has none), `HTTPS_PROXY`/`NO_PROXY` from the environment. Never panics: in the
    /// one case where no client can be set up at all, every request fails with a
    /// configuration error instead.
    fn default() -> Self {
        let builder = Self::builder();
        let max_body_bytes = builder.max_body_bytes;
        builder.build().unwrap_or_else(|e| HttpClient {
            transport: Err(e),
            max_body_bytes,
        })
    }
}

impl HttpClient {
    /// Starts a builder with a 2 s connect timeout and a [`DEFAULT_MAX_BODY_BYTES`] cap.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            connect_timeout: Duration::from_secs(2),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            platform_roots: true,
            bundled_roots: true,
            private_cas: Vec::new(),
            proxy: None,
        }
    }

    /// Sends one request (no retries) and reads the whole body, up to the cap.
    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let transport = self.transport.as_ref().map_err(Clone::clone)?;
        if transport.https_refused && request.url.scheme() == "https" {
            return Err(Error::new(
                ErrorKind::Configuration,
                request.service,
                format!(
                    "{}: no CA certificates are trusted, so https is refused; install the ca-certificates package or set SSL_CERT_FILE to a PEM bundle, add a private CA with HttpClientBuilder::add_root_certificates_file, or leave HttpClientBuilder::bundled_roots on",
                    request.describe()
                ),
            ));
        }
        let client = if request.direct {
            &transport.direct
        } else {
            &transport.proxied
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
/// Trust: the platform's CA certificates (the OS store, `SSL_CERT_FILE`, `SSL_CERT_DIR`),
/// else the Mozilla roots compiled into the crate (`webpki-roots`), plus any private CAs
/// added here. Proxy: `HTTPS_PROXY`/`NO_PROXY` from the environment, or an explicit one.
/// Metadata endpoints (link-local and loopback) never go through a proxy.
///
/// A corporate network with a TLS-inspecting proxy:
///
/// ```no_run
/// use federated_credentials::http::HttpClient;
/// let http = HttpClient::builder()
///     .add_root_certificates_file("/etc/pki/corp/root-ca.pem")
///     .proxy("http://proxy.corp.example:3128")
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClientBuilder {
    connect_timeout: Duration,
    max_body_bytes: usize,
    platform_roots: bool,
    bundled_roots: bool,
    private_cas: Vec<PrivateCa>,
    proxy: Option<String>,
}

/// A private CA to trust, as given to the builder.
#[derive(Clone)]
enum PrivateCa {
    Pem(Vec<u8>),
    File(PathBuf),
}

impl std::fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("platform_roots", &self.platform_roots)
            .field("bundled_roots", &self.bundled_roots)
            .field("private_cas", &self.private_cas.len())
            // A proxy URL may carry a password.
            .field("proxy", &self.proxy.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl HttpClientBuilder {
    /// How long to wait for a TCP/TLS connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted (default [`DEFAULT_MAX_BODY_BYTES`]). A larger
    /// answer fails with [`ErrorKind::InvalidResponse`].
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Also trusts the CA certificates in `pem` (one or more `CERTIFICATE` blocks), for
    /// endpoints behind a private CA or a TLS-inspecting proxy. [`build`](Self::build) fails
    /// with a configuration error if they cannot be parsed.
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.private_cas.push(PrivateCa::Pem(pem.into()));
        self
    }

    /// Also trusts the CA certificates in the PEM file at `path`, read by
    /// [`build`](Self::build) (which fails, naming the file, if it cannot be read or holds
    /// no certificate).
    pub fn add_root_certificates_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.private_cas.push(PrivateCa::File(path.into()));
        self
    }

    /// Whether to trust the platform's CA certificates (default `true`). Turn it off, with
    /// [`bundled_roots`](Self::bundled_roots) off too, to trust only the private CAs added
    /// here.
    pub fn platform_roots(mut self, trust: bool) -> Self {
        self.platform_roots = trust;
        self
    }

    /// Whether to trust the Mozilla roots compiled into the crate when the platform has no
    /// CA certificates, or when [`platform_roots`](Self::platform_roots) is off (default
    /// `true`). With neither roots nor private CAs, https requests fail with a configuration
    /// error and plain http keeps working.
    pub fn bundled_roots(mut self, trust: bool) -> Self {
        self.bundled_roots = trust;
        self
    }

    /// Sends requests to public endpoints through this proxy (`http://host:port`, with
    /// optional `user:password@`), instead of the one in `HTTPS_PROXY`. `NO_PROXY` still
    /// applies, and metadata endpoints never use a proxy.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Builds the client. Fails with [`ErrorKind::Configuration`] when a private CA or the
    /// proxy URL is invalid; the platform having no CA certificates is not an error.
    pub fn build(self) -> Result<HttpClient, Error> {
        let mut extra = Vec::new();
        for ca in &self.private_cas {
            extra.extend(ca.certificates()?);
        }
        let setup = if self.platform_roots && self.bundled_roots && extra.is_empty() {
            tls::shared_default().cloned()
        } else {
            tls::build(&tls::TrustChoice {
                platform: self.platform_roots,
                bundled_fallback: self.bundled_roots,
                extra,
            })
        }
        .map_err(|e| {
            Error::new(
                ErrorKind::Configuration,
                Service::Config,
                "could not set up TLS: no crypto provider offers TLS 1.2 or 1.3",
            )
            .with_source(e)
        })?;
        let proxy = self.proxy.as_deref().map(parse_proxy).transpose()?;
        let make = |direct: bool| {
            let mut b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .user_agent(concat!("federated-credentials/", env!("CARGO_PKG_VERSION")))
                .tls_backend_preconfigured(setup.config.clone());
            if direct {
                b = b.no_proxy();
            } else if let Some(proxy) = &proxy {
                b = b.proxy(proxy.clone());
            }
            b.build().map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    Service::Config,
                    "could not initialise the HTTP client",
                )
                .with_source(e)
            })
        };
        Ok(HttpClient {
            transport: Ok(Transport {
                proxied: make(false)?,
                direct: make(true)?,
                https_refused: setup.anchors == tls::Anchors::None,
            }),
            max_body_bytes: self.max_body_bytes,
        })
    }
}

impl PrivateCa {
    /// The certificates, each checked to be a usable trust anchor.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, Error> {
        let (setting, origin, pem) = match self {
            PrivateCa::Pem(pem) => (
                "HttpClientBuilder::add_root_certificates_pem",
                "the PEM text".to_string(),
                std::borrow::Cow::Borrowed(pem.as_slice()),
            ),
            PrivateCa::File(path) => (
                "HttpClientBuilder::add_root_certificates_file",
                path.display().to_string(),
                std::borrow::Cow::Owned(std::fs::read(path).map_err(|e| {
                    Error::config(
                        "HttpClientBuilder::add_root_certificates_file",
                        format!("cannot read {} ({e})", path.display()),
                    )
                })?),
            ),
        };
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::config(setting, format!("{origin} is not valid PEM ({e})")))?;
        if certs.is_empty() {
            return Err(Error::config(
                setting,
                format!("{origin} holds no `-----BEGIN CERTIFICATE-----` block"),
            ));
        }
        for cert in &certs {
            rustls::RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| {
                    Error::config(
                        setting,
                        format!("{origin} holds a certificate that is not a usable CA ({e})"),
                    )
                })?;
        }
        Ok(certs)
    }
}

/// An explicit proxy for public endpoints, with `NO_PROXY` from the environment.
fn parse_proxy(raw: &str) -> Result<reqwest::Proxy, Error> {
    let bad = |why: &str| {
        // The URL is not echoed: it may carry a password.
        Error::config(
            "HttpClientBuilder::proxy",
            format!("{why}; expected http://host:port or https://host:port"),
        )
    };
    let url = Url::parse(raw.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("is not an http(s) proxy URL"));
    }
    reqwest::Proxy::all(url)
        .map(|p| p.no_proxy(reqwest::NoProxy::from_env()))
        .map_err(|_| bad("is not a usable proxy URL"))
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
    /// An answer with `status` and `body` and no headers, for parser tests and fuzzing.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn with_body(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

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
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            deadline: Duration::from_secs(30),
        }
    }

    /// A single attempt, no retries.
    pub fn never() -> Self {
        Self::new(1)
    }

    /// Sets the initial and maximum backoff. A maximum below the initial backoff is raised to
    /// it.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the deadline for the whole operation, retries included.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The maximum number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The deadline for the whole operation.
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

/// The request-and-classify loop every JSON, XML or text endpoint shares: sends `request`
/// under `retry` (attempts and deadline errors named by the request's service and step) and
/// hands each answer, with the time it was requested (the base of relative expiries), to
/// `classify`, which turns it into the result or a typed error; transient errors are retried.
pub(crate) async fn send_with_retries<T, F>(
    ctx: &Context,
    retry: &RetryPolicy,
    request: &HttpRequest,
    classify: F,
) -> Result<T, Error>
where
    F: Fn(HttpResponse, SystemTime) -> Result<T, Error>,
{
    with_retries(ctx, retry, request.service, request.step, |attempt| {
        let classify = &classify;
        async move {
            tracing::debug!(service = %request.service, attempt, "request");
            let requested_at = ctx.now();
            let response = ctx.http().send(request).await?;
            classify(response, requested_at)
        }
    })
    .await
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
            async move { if n < 3 { Err(transient()) } else { Ok(n) } }
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
        // If a rustls version skew made reqwest refuse our configuration, every client build
        // would fail: catch it here.
        let tls = tls::shared_default().expect("a TLS configuration builds");
        assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls.config.clone())
            .build()
            .expect("reqwest accepts the shared rustls configuration");
    }

    /// A private CA and a TLS server on loopback with a `localhost` certificate it signed.
    struct PrivateCaServer {
        ca_pem: String,
        port: u16,
        handshakes: tokio::task::JoinHandle<Vec<bool>>,
    }

    /// Serves `connections` TLS connections (each answered `200 ok` when the handshake
    /// succeeds) and reports which handshakes succeeded.
    async fn private_ca_server(connections: usize) -> PrivateCaServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "federated-credentials test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = tokio::spawn(async move {
            let mut results = Vec::new();
            for _ in 0..connections {
                let (tcp, _) = listener.accept().await.unwrap();
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let mut buf = vec![0u8; 4096];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                            .await;
                        let _ = tls.shutdown().await;
                        results.push(true);
                    }
                    Err(_) => results.push(false),
                }
            }
            results
        });
        PrivateCaServer {
            ca_pem: ca.pem(),
            port,
            handshakes,
        }
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::new(
            Service::UrlSource,
            "reading the token",
            Method::GET,
            Url::parse(url).unwrap(),
            Duration::from_secs(5),
        )
    }

    #[tokio::test]
    async fn a_private_ca_is_refused_by_default_and_trusted_once_added() {
        let server = private_ca_server(4).await;
        let url = format!("https://localhost:{}/token", server.port);
        let err = HttpClient::default().send(&get(&url)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{err}");

        let with_pem = HttpClient::builder()
            .add_root_certificates_pem(server.ca_pem.clone())
            .build()
            .unwrap();
        assert_eq!(with_pem.send(&get(&url)).await.unwrap().body, b"ok");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, &server.ca_pem).unwrap();
        let with_file = HttpClient::builder()
            .add_root_certificates_file(&file)
            .build()
            .unwrap();
        assert_eq!(with_file.send(&get(&url)).await.unwrap().body, b"ok");

        // Only the private CA: no platform or bundled roots.
        let only_private = HttpClient::builder()
            .platform_roots(false)
            .bundled_roots(false)
            .add_root_certificates_pem(server.ca_pem.clone())
            .build()
            .unwrap();
        assert_eq!(only_private.send(&get(&url)).await.unwrap().body, b"ok");
        assert_eq!(
            server.handshakes.await.unwrap(),
            vec![false, true, true, true],
            "the default client must abort the handshake on the untrusted certificate"
        );
    }

    #[tokio::test]
    async fn without_any_trust_anchor_https_is_a_configuration_error_and_http_works() {
        let client = HttpClient::builder()
            .platform_roots(false)
            .bundled_roots(false)
            .build()
            .expect("a client without trust anchors still builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = client
            .send(&get(&format!("https://localhost:{port}/token")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
        assert!(err.message().contains("SSL_CERT_FILE"), "{err}");
        assert!(err.message().contains("ca-certificates"), "{err}");
        let plain = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain")
                .await
                .unwrap();
        });
        let ok = client
            .send(&get(&format!("http://127.0.0.1:{port}/token")).direct())
            .await
            .unwrap();
        assert_eq!(ok.body, b"plain", "the https refusal made no connection");
        plain.await.unwrap();
    }

    #[tokio::test]
    async fn the_bundled_roots_stand_in_for_a_platform_without_any() {
        // What a distroless image gets: no platform roots, the compiled-in ones instead.
        let setup = tls::build(&tls::TrustChoice {
            platform: false,
            bundled_fallback: true,
            extra: Vec::new(),
        })
        .unwrap();
        assert_eq!(setup.anchors, tls::Anchors::Bundled);
        let none = tls::build(&tls::TrustChoice::default()).unwrap();
        assert_eq!(none.anchors, tls::Anchors::None);
    }

    #[test]
    fn retry_policy_defaults_and_setters() {
        assert_eq!(DEFAULT_MAX_BODY_BYTES, 1 << 20);
        let p = RetryPolicy::new(5);
        assert_eq!(p.max_attempts(), 5);
        assert_eq!(p.deadline_duration(), Duration::from_secs(30));
        assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
        assert_eq!(RetryPolicy::never().max_attempts(), 1);
        assert_eq!(
            RetryPolicy::never().deadline_duration(),
            Duration::from_secs(30)
        );
        let p = RetryPolicy::new(8)
            .backoff(Duration::from_millis(500), Duration::from_secs(5))
            .deadline(Duration::from_secs(60));
        assert_eq!(p.max_attempts(), 8);
        assert_eq!(p.deadline_duration(), Duration::from_secs(60));
    }

    #[test]
    fn bad_private_cas_and_proxies_are_configuration_errors() {
        let err = HttpClient::builder()
            .add_root_certificates_pem("not pem")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        let err = HttpClient::builder()
            .add_root_certificates_pem("no certificate here")
            .build()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "HttpClientBuilder::add_root_certificates_pem: the PEM text holds no `-----BEGIN CERTIFICATE-----` block"
        );
        let err = HttpClient::builder()
            .add_root_certificates_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(
            err.message().starts_with(
                "HttpClientBuilder::add_root_certificates_file: cannot read /nonexistent/ca.pem"
            ),
            "{err}"
        );
        let err = HttpClient::builder()
            .add_root_certificates_pem(
                "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
            )
            .build()
            .unwrap_err();
        assert!(err.message().contains("not a usable CA"), "{err}");
        let err = HttpClient::builder()
            .proxy("socks5://user:hunter2@proxy:1080")
            .build()
            .unwrap_err();
        assert!(
            err.message().starts_with("HttpClientBuilder::proxy"),
            "{err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let builder = HttpClient::builder().proxy("http://user:hunter2@proxy:3128");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let client = builder.build().unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn an_explicit_proxy_carries_public_requests_but_not_direct_ones() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn answer(listener: tokio::net::TcpListener, body: &'static str) -> String {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(reply.as_bytes()).await.unwrap();
            head
        }
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = proxy.local_addr().unwrap().port();
        let origin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin_port = origin.local_addr().unwrap().port();
        let proxy_seen = tokio::spawn(answer(proxy, "via-proxy"));
        let origin_seen = tokio::spawn(answer(origin, "direct"));
        let client = HttpClient::builder()
            .proxy(format!("http://127.0.0.1:{proxy_port}"))
            .build()
            .unwrap();
        let public = client
            .send(&get("http://sts.example.invalid/token"))
            .await
            .unwrap();
        assert_eq!(public.body, b"via-proxy");
        assert!(
            proxy_seen
                .await
                .unwrap()
                .starts_with("GET http://sts.example.invalid/token HTTP/1.1")
        );
        let metadata = client
            .send(&get(&format!("http://127.0.0.1:{origin_port}/token")).direct())
            .await
            .unwrap();
        assert_eq!(metadata.body, b"direct");
        assert!(
            origin_seen
                .await
                .unwrap()
                .starts_with("GET /token HTTP/1.1")
        );
    }
}
