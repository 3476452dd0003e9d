//! [`Ec2InstanceMetadata`]: the region and instance-profile credentials of an EC2 instance,
//! from the instance metadata service (IMDSv2 by default, IMDSv1 on request), with the
//! session token, role name, region and credentials cached.

pub(crate) mod parse;
mod session;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use reqwest::Method;
use url::Url;

use self::parse::{parse_credentials, region_from_placement, role_from_listing};
use self::session::{SessionToken, TOKEN_HEADER};
use super::AwsIdentitySource;
use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, with_retries};
use crate::secret::SecretString;
use crate::token::format_rfc3339;

/// The metadata service's address, unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` says otherwise.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The metadata service's IPv6 address, used with `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`
/// (Nitro instances in IPv6-only subnets).
pub const DEFAULT_IMDS_IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";

/// The session-token TTL requested by default: 6 hours, the maximum.
pub const DEFAULT_SESSION_TOKEN_TTL: Duration = Duration::from_secs(21600);

const REGION_PATH: &str = "/latest/meta-data/placement/availability-zone";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials";
const TOKEN_PATH: &str = "/latest/api/token";

/// Cached credentials are replaced this long before they expire (EC2 rotates them at least
/// five minutes ahead, so fresher ones are available by then).
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Whether and where to get an IMDSv2 session token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionTokenUrl {
    /// `{endpoint}/latest/api/token`.
    Default,
    /// This URL.
    Url(String),
    /// IMDSv1: plain `GET`s without a token.
    Disabled,
}

#[derive(Debug, Clone)]
struct Config {
    region_url: Option<String>,
    credentials_url: Option<String>,
    session_token_url: SessionTokenUrl,
    token_ttl: Duration,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    session: tokio::sync::Mutex<Option<SessionToken>>,
    region: tokio::sync::Mutex<Option<String>>,
    role: tokio::sync::Mutex<Option<String>>,
    credentials: tokio::sync::Mutex<Option<Credentials>>,
}

/// The region and instance-profile credentials from the EC2 instance metadata service.
///
/// - **Session token** (IMDSv2, the default): `PUT` to the token URL with
///   `X-aws-ec2-metadata-token-ttl-seconds: 21600`, reused until 120 s before its TTL ends and
///   sent as `X-aws-ec2-metadata-token`. A 401 drops it and fetches a new one, once. Only
///   fetched when a metadata request is actually made. Without a token URL
///   ([`imds_v1`](Ec2InstanceMetadataBuilder::imds_v1)) requests are plain IMDSv1 `GET`s.
/// - **Region**: `GET` the region URL (default `…/placement/availability-zone`); a zone gives
///   its region (`us-east-1a` → `us-east-1`, and Local or Wavelength zones their parent region,
///   `us-west-2-lax-1a` → `us-west-2`), a region (`…/placement/region`) is used as is. Cached.
/// - **Credentials**: `GET` the credentials URL for the role name (cached), then
///   `{url}/{role}`. Cached until 5 min before their `Expiration`.
///
/// Requests bypass proxies, carry no other headers, time out after 1 s each, and 5xx answers
/// are retried. The default URLs use `http://169.254.169.254`, `http://[fd00:ec2::254]` with
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`, or `AWS_EC2_METADATA_SERVICE_ENDPOINT` when
/// set; `AWS_EC2_METADATA_DISABLED=true` turns the
/// service off. Clones share the caches.
///
/// ```
/// use federated_credentials::source::aws::Ec2InstanceMetadata;
/// use std::time::Duration;
///
/// // IMDSv2 with the default URLs.
/// let imds = Ec2InstanceMetadata::new();
/// // What a google-auth `credential_source` without `imdsv2_session_token_url` means.
/// let v1 = Ec2InstanceMetadata::builder()
///     .region_url("http://169.254.169.254/latest/meta-data/placement/availability-zone")
///     .credentials_url("http://169.254.169.254/latest/meta-data/iam/security-credentials")
///     .imds_v1()
///     .attempt_timeout(Duration::from_secs(2))
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ec2InstanceMetadata {
    inner: Arc<Inner>,
}

impl Default for Ec2InstanceMetadata {
    fn default() -> Self {
        Self::new()
    }
}

impl Ec2InstanceMetadata {
    /// IMDSv2 with the default URLs and timeouts.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default IMDS configuration is valid")
    }

    /// A builder, starting from IMDSv2 with the default URLs.
    pub fn builder() -> Ec2InstanceMetadataBuilder {
        Ec2InstanceMetadataBuilder {
            config: Config {
                region_url: None,
                credentials_url: None,
                session_token_url: SessionTokenUrl::Default,
                token_ttl: DEFAULT_SESSION_TOKEN_TTL,
                call: CallSettings::new(),
            },
        }
    }

    /// Whether IMDSv2 session tokens are used.
    pub fn uses_session_token(&self) -> bool {
        self.inner.config.session_token_url != SessionTokenUrl::Disabled
    }

    /// Forgets the cached session token, region, role name and credentials, e.g. after the
    /// instance profile was replaced:
    ///
    /// ```no_run
    /// use federated_credentials::source::aws::{AwsIdentitySource, Ec2InstanceMetadata};
    ///
    /// # async fn example(ctx: federated_credentials::context::Context) -> Result<(), federated_credentials::Error> {
    /// let imds = Ec2InstanceMetadata::new();
    /// let before = imds.credentials(&ctx).await?; // cached until 5 min before they expire
    /// // After detaching and attaching another instance profile:
    /// imds.clear_cache().await;
    /// let after = imds.credentials(&ctx).await?; // the new role's credentials
    /// # Ok(())
    /// # }
    /// ```
    pub async fn clear_cache(&self) {
        *self.inner.session.lock().await = None;
        *self.inner.region.lock().await = None;
        *self.inner.role.lock().await = None;
        *self.inner.credentials.lock().await = None;
    }

    /// Resolves the URLs for this context, refusing when IMDS is disabled.
    fn urls(&self, ctx: &Context) -> Result<Urls, Error> {
        let disabled = ctx
            .env()
            .get("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if disabled {
            return Err(Error::new(
                ErrorKind::NotAvailable,
                Service::AwsImds,
                "the EC2 instance metadata service is disabled by AWS_EC2_METADATA_DISABLED=true; unset it, or provide the region (AWS_REGION) and credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) another way",
            ));
        }
        let (base, base_setting) =
            match ctx.env().get_non_empty("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
                Some(endpoint) => (
                    endpoint.trim().trim_end_matches('/').to_string(),
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                ),
                None => match ctx
                    .env()
                    .get_non_empty("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
                    .map(|mode| mode.trim().to_ascii_lowercase())
                    .as_deref()
                {
                    None | Some("ipv4") => (DEFAULT_IMDS_ENDPOINT.to_string(), "endpoint"),
                    Some("ipv6") => (
                        DEFAULT_IMDS_IPV6_ENDPOINT.to_string(),
                        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                    ),
                    Some(_) => {
                        return Err(Error::config(
                            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                            "must be IPv4 or IPv6",
                        ));
                    }
                },
            };
        let config = &self.inner.config;
        let pick = |explicit: &Option<String>, setting: &'static str, path: &str| match explicit {
            Some(url) => check_url(url, setting),
            None => check_url(&format!("{base}{path}"), base_setting),
        };
        Ok(Urls {
            region: pick(&config.region_url, "region_url", REGION_PATH)?,
            credentials: pick(&config.credentials_url, "credentials_url", CREDENTIALS_PATH)?,
            token: match &config.session_token_url {
                SessionTokenUrl::Default => {
                    Some(check_url(&format!("{base}{TOKEN_PATH}"), base_setting)?)
                }
                SessionTokenUrl::Url(url) => Some(check_url(url, "session_token_url")?),
                SessionTokenUrl::Disabled => None,
            },
        })
    }

    /// `GET url` with the session token (when IMDSv2), retrying 5xx, and once more with a
    /// fresh token after a 401. Other statuses are returned for the caller to judge.
    async fn get(
        &self,
        ctx: &Context,
        urls: &Urls,
        url: &Url,
        step: &'static str,
    ) -> Result<HttpResponse, Error> {
        let mut refreshed = false;
        loop {
            let token: Option<SecretString> = match &urls.token {
                Some(token_url) => Some(self.session_token(ctx, token_url).await?),
                None => None,
            };
            let mut request = HttpRequest::new(
                Service::AwsImds,
                step,
                Method::GET,
                url.clone(),
                ctx.resolve_call(Service::AwsImds, self.inner.config.call)
                    .attempt_timeout,
            )
            .direct();
            if let Some(token) = &token {
                request = request.header(TOKEN_HEADER, token.expose_secret())?;
            }
            let retry = ctx
                .resolve_call(Service::AwsImds, self.inner.config.call)
                .retry;
            let response = with_retries(ctx, &retry, Service::AwsImds, step, |_| {
                let request = &request;
                async move {
                    match ctx.http().send(request).await {
                        Ok(r) if r.is_transient_status() => Err(status_error(&r, step)),
                        Ok(r) => Ok(r),
                        Err(e) => Err(transport_hint(e, false)),
                    }
                }
            })
            .await?;
            match (response.status, token) {
                (401, Some(token)) if !refreshed => {
                    tracing::debug!("IMDS rejected the session token; fetching a new one");
                    self.drop_session_token(&token).await;
                    refreshed = true;
                }
                (401, Some(_)) => {
                    return Err(Error::new(
                        ErrorKind::Upstream,
                        Service::AwsImds,
                        format!("{step}: IMDS rejected a fresh session token (HTTP 401); check that the token URL belongs to the same metadata service"),
                    )
                    .with_http_status(401))
                }
                (401, None) => {
                    return Err(Error::new(
                        ErrorKind::Upstream,
                        Service::AwsImds,
                        format!("{step}: IMDS requires IMDSv2 session tokens (HTTP 401); configure a session token URL (imdsv2_session_token_url)"),
                    )
                    .with_http_status(401))
                }
                _ => return Ok(response),
            }
        }
    }

    async fn fetch_region(&self, ctx: &Context) -> Result<String, Error> {
        let mut cached = self.inner.region.lock().await;
        if let Some(region) = cached.as_ref() {
            return Ok(region.clone());
        }
        let urls = self.urls(ctx)?;
        let step = "reading the region from IMDS";
        let response = self.get(ctx, &urls, &urls.region, step).await?;
        if response.status != 200 {
            return Err(status_error(&response, step));
        }
        let region = region_from_placement(&response.body_text())?;
        *cached = Some(region.clone());
        Ok(region)
    }

    async fn role_name(&self, ctx: &Context, urls: &Urls) -> Result<String, Error> {
        let mut cached = self.inner.role.lock().await;
        if let Some(role) = cached.as_ref() {
            return Ok(role.clone());
        }
        let step = "listing the instance profile role in IMDS";
        let response = self.get(ctx, urls, &urls.credentials, step).await?;
        let role = match response.status {
            200 => role_from_listing(&response.body_text()),
            404 => None,
            _ => return Err(status_error(&response, step)),
        };
        let Some(role) = role else {
            return Err(Error::new(
                ErrorKind::NotAvailable,
                Service::AwsImds,
                "no IAM role is attached to this instance (attach an instance profile)",
            )
            .with_http_status(response.status));
        };
        *cached = Some(role.clone());
        Ok(role)
    }

    async fn fetch_credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        let mut cached = self.inner.credentials.lock().await;
        if let Some(creds) = cached.as_ref() {
            let fresh = creds
                .expiry()
                .is_some_and(|exp| ctx.now() + CREDENTIALS_REFRESH_MARGIN < exp);
            if fresh {
                return Ok(creds.clone());
            }
        }
        *cached = None;
        let urls = self.urls(ctx)?;
        let role = self.role_name(ctx, &urls).await?;
        let mut url = urls.credentials.clone();
        url.path_segments_mut()
            .map_err(|_| Error::config("credentials_url", "cannot hold a path"))?
            .pop_if_empty()
            .push(&role);
        let step = "reading the role credentials from IMDS";
        let response = self.get(ctx, &urls, &url, step).await?;
        if response.status == 404 {
            // The instance profile changed under us: list the role again next time.
            *self.inner.role.lock().await = None;
            return Err(Error::new(
                ErrorKind::NotAvailable,
                Service::AwsImds,
                format!("IMDS has no credentials for role `{role}` (HTTP 404); the instance profile may have just changed"),
            )
            .with_http_status(404)
            .with_transient(true));
        }
        if response.status != 200 {
            return Err(status_error(&response, step));
        }
        let creds = parse_credentials(&response.body, &role)?;
        let now = ctx.now();
        if let Some(exp) = creds.expiry().filter(|&exp| exp <= now) {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::AwsImds,
                format!(
                    "IMDS returned credentials for role `{role}` that expired at {} (now {}); check this machine's clock",
                    format_rfc3339(exp),
                    format_rfc3339(now)
                ),
            )
            .with_transient(true));
        }
        tracing::debug!(role = %role, access_key_id = creds.access_key_id(), "credentials from IMDS");
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

#[async_trait]
impl AwsIdentitySource for Ec2InstanceMetadata {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        self.fetch_region(ctx).await
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        self.fetch_credentials(ctx).await
    }

    fn name(&self) -> &'static str {
        "ec2-instance-metadata"
    }
}

/// Builds an [`Ec2InstanceMetadata`]; the URLs and TTL are checked by
/// [`build`](Self::build). The `set_*` methods take the `Option`s of a google-auth
/// `credential_source`:
///
/// ```
/// use federated_credentials::source::aws::Ec2InstanceMetadata;
///
/// // IPv6-only instances reach IMDS at [fd00:ec2::254].
/// let (region_url, url, imdsv2_session_token_url) = (
///     Some("http://[fd00:ec2::254]/latest/meta-data/placement/availability-zone".to_string()),
///     Some("http://[fd00:ec2::254]/latest/meta-data/iam/security-credentials".to_string()),
///     Some("http://[fd00:ec2::254]/latest/api/token".to_string()),
/// );
/// let mut builder = Ec2InstanceMetadata::builder();
/// builder
///     .set_region_url(region_url)
///     .set_credentials_url(url)
///     .set_session_token_url(imdsv2_session_token_url); // `None` means IMDSv1
/// let imds = builder.build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ec2InstanceMetadataBuilder {
    config: Config,
}

impl Ec2InstanceMetadataBuilder {
    /// Where the region comes from (`credential_source.region_url`). Default
    /// `http://169.254.169.254/latest/meta-data/placement/availability-zone`; a
    /// `…/placement/region` URL works too.
    pub fn region_url(mut self, url: impl Into<String>) -> Self {
        self.config.region_url = Some(url.into());
        self
    }

    /// Sets or clears (back to the default) the region URL.
    pub fn set_region_url(&mut self, url: Option<String>) -> &mut Self {
        self.config.region_url = url;
        self
    }

    /// Where the role name is listed (`credential_source.url`); the role's credentials are at
    /// this URL plus `/{role}`. Default
    /// `http://169.254.169.254/latest/meta-data/iam/security-credentials`.
    pub fn credentials_url(mut self, url: impl Into<String>) -> Self {
        self.config.credentials_url = Some(url.into());
        self
    }

    /// Sets or clears (back to the default) the credentials URL.
    pub fn set_credentials_url(&mut self, url: Option<String>) -> &mut Self {
        self.config.credentials_url = url;
        self
    }

    /// Gets IMDSv2 session tokens from this URL
    /// (`credential_source.imdsv2_session_token_url`). Default
    /// `http://169.254.169.254/latest/api/token`.
    pub fn session_token_url(mut self, url: impl Into<String>) -> Self {
        self.config.session_token_url = SessionTokenUrl::Url(url.into());
        self
    }

    /// Sets the session token URL, `None` meaning IMDSv1, as in a google-auth
    /// `credential_source` without `imdsv2_session_token_url`.
    pub fn set_session_token_url(&mut self, url: Option<String>) -> &mut Self {
        self.config.session_token_url = match url {
            Some(url) => SessionTokenUrl::Url(url),
            None => SessionTokenUrl::Disabled,
        };
        self
    }

    /// Uses IMDSv1: plain `GET`s, no session token. Fails on instances that require IMDSv2.
    pub fn imds_v1(mut self) -> Self {
        self.config.session_token_url = SessionTokenUrl::Disabled;
        self
    }

    /// The session-token TTL to request, 1 s to 6 h (default 6 h).
    pub fn session_token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = ttl;
        self
    }

    /// The timeout of each request attempt, connection included (default 1 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.config.call = self.config.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy for 5xx and transport failures (default: 3 attempts, 100 ms–1 s
    /// backoff, 10 s deadline).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config.call = self.config.call.retry_policy(policy);
        self
    }

    /// Checks the URLs and TTL and builds the source.
    pub fn build(self) -> Result<Ec2InstanceMetadata, Error> {
        let config = self.config;
        if let Some(url) = &config.region_url {
            check_url(url, "region_url")?;
        }
        if let Some(url) = &config.credentials_url {
            check_url(url, "credentials_url")?;
        }
        if let SessionTokenUrl::Url(url) = &config.session_token_url {
            check_url(url, "session_token_url")?;
        }
        let ttl = config.token_ttl;
        if ttl.subsec_nanos() != 0 || !(1..=21600).contains(&ttl.as_secs()) {
            return Err(Error::config(
                "session_token_ttl",
                format!("{ttl:?} is out of range: IMDS accepts whole seconds from 1 to 21600"),
            ));
        }
        Ok(Ec2InstanceMetadata {
            inner: Arc::new(Inner {
                config,
                session: tokio::sync::Mutex::new(None),
                region: tokio::sync::Mutex::new(None),
                role: tokio::sync::Mutex::new(None),
                credentials: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

/// The URLs in effect for one call.
#[derive(Debug)]
struct Urls {
    region: Url,
    credentials: Url,
    token: Option<Url>,
}

fn check_url(raw: &str, setting: &str) -> Result<Url, Error> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::config(setting, format!("`{raw}` is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::config(
            setting,
            format!("`{raw}` must be an http(s) URL with a host"),
        ));
    }
    Ok(url)
}

/// Rewords a transport failure so it says what is probably wrong.
pub(super) fn transport_hint(err: Error, token_request: bool) -> Error {
    if err.kind() != ErrorKind::Transport {
        return err;
    }
    let reqwest_error =
        std::error::Error::source(&err).and_then(|s| s.downcast_ref::<reqwest::Error>());
    let timed_out = reqwest_error.is_none_or(|e| e.is_timeout());
    let connect = reqwest_error.is_some_and(|e| e.is_connect());
    let hint = match (token_request, timed_out && !connect) {
        (true, true) => {
            "IMDSv2 session token request timed out: from a container the instance's HttpPutResponseHopLimit must be 2 or more (or use host networking); outside EC2 there is no metadata service at all"
        }
        (false, true) => {
            "the instance metadata service did not answer in time; is this an EC2 instance?"
        }
        (_, false) => {
            "could not reach the instance metadata service: not running on EC2 (or IMDS is disabled for this instance)?"
        }
    };
    err.context(hint)
}

/// The error for an unexpected status on a metadata `GET`.
fn status_error(response: &HttpResponse, step: &str) -> Error {
    let status = response.status;
    let what = match status {
        403 => "access forbidden (HTTP 403): the metadata service may be disabled for this instance, or the request went through a proxy".to_string(),
        404 => "not found (HTTP 404): check the configured metadata URL".to_string(),
        _ => format!(
            "HTTP {status}: {}",
            sanitize_upstream_text(&response.body_text(), 200)
        ),
    };
    let mut err = Error::new(
        ErrorKind::Upstream,
        Service::AwsImds,
        format!("{step}: {what}"),
    )
    .with_http_status(status)
    .with_transient(response.is_transient_status());
    if let Some(after) = response.retry_after() {
        err = err.with_retry_after(after);
    }
    err
}

/// Builder checks and the environment switch, which need no emulator.
#[cfg(test)]
mod offline_tests {
    use super::*;
    use crate::context::StaticEnv;

    #[test]
    fn documented_builder_settings() {
        assert_eq!(DEFAULT_SESSION_TOKEN_TTL, Duration::from_secs(6 * 3600));
        assert!(
            Ec2InstanceMetadata::builder()
                .session_token_ttl(DEFAULT_SESSION_TOKEN_TTL * 2)
                .build()
                .is_err()
        );
        assert!(
            Ec2InstanceMetadata::builder()
                .session_token_ttl(Duration::from_secs(60))
                .build()
                .is_ok()
        );
        let err = Ec2InstanceMetadata::builder()
            .session_token_ttl(Duration::from_millis(1500))
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("session_token_ttl"), "{err}");
        let gcloud = Ec2InstanceMetadata::builder()
            .region_url(format!(
                "{DEFAULT_IMDS_ENDPOINT}/latest/meta-data/placement/availability-zone"
            ))
            .credentials_url(format!(
                "{DEFAULT_IMDS_ENDPOINT}/latest/meta-data/iam/security-credentials"
            ))
            .session_token_url(format!("{DEFAULT_IMDS_ENDPOINT}/latest/api/token"))
            .build()
            .unwrap();
        assert!(gcloud.uses_session_token());
        let ipv6 = Ec2InstanceMetadata::builder()
            .region_url("http://[fd00:ec2::254]/latest/meta-data/placement/availability-zone")
            .credentials_url("http://[fd00:ec2::254]/latest/meta-data/iam/security-credentials")
            .session_token_url("http://[fd00:ec2::254]/latest/api/token")
            .build()
            .unwrap();
        assert!(ipv6.uses_session_token());
        assert!(Ec2InstanceMetadata::new().uses_session_token());
        let v1 = Ec2InstanceMetadata::builder()
            .region_url("http://169.254.169.254/latest/meta-data/placement/availability-zone")
            .credentials_url("http://169.254.169.254/latest/meta-data/iam/security-credentials")
            .imds_v1()
            .attempt_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        assert!(!v1.uses_session_token());
        let mut v2 = Ec2InstanceMetadata::builder();
        v2.set_session_token_url(Some("http://169.254.169.254/latest/api/token".into()));
        assert!(v2.build().unwrap().uses_session_token());
        let imds = Ec2InstanceMetadata::builder()
            .attempt_timeout(Duration::from_secs(2))
            .retry_policy(RetryPolicy::new(5).deadline(Duration::from_secs(20)))
            .build()
            .unwrap();
        assert!(imds.uses_session_token());
        let patient = RetryPolicy::new(6)
            .backoff(Duration::from_millis(250), Duration::from_secs(2))
            .deadline(Duration::from_secs(30));
        assert!(
            Ec2InstanceMetadata::builder()
                .retry_policy(patient)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn urls_are_checked_when_building() {
        let err = Ec2InstanceMetadata::builder()
            .region_url("169.254.169.254/latest")
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("region_url"));
        let mut builder = Ec2InstanceMetadata::builder();
        builder.set_region_url(None);
        assert!(builder.build().is_ok());
        let mut builder = Ec2InstanceMetadata::builder();
        builder.set_region_url(Some("not a url".to_string()));
        assert!(builder.build().is_err());
        let mut builder = Ec2InstanceMetadata::builder();
        builder
            .set_region_url(Some(
                "http://169.254.169.254/latest/meta-data/placement/availability-zone".into(),
            ))
            .set_credentials_url(Some(
                "http://169.254.169.254/latest/meta-data/iam/security-credentials".into(),
            ));
        assert!(builder.build().is_ok());
        assert!(
            Ec2InstanceMetadata::builder()
                .credentials_url("http://169.254.169.254/latest/meta-data/iam/security-credentials")
                .build()
                .is_ok()
        );
        let ftp = Ec2InstanceMetadata::builder()
            .credentials_url("ftp://169.254.169.254/")
            .build();
        assert!(ftp.unwrap_err().message().starts_with("credentials_url"));
        let err = Ec2InstanceMetadata::builder()
            .session_token_url("http://169.254.169.254:notaport/latest/api/token")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().starts_with("session_token_url"), "{err}");
    }

    #[test]
    fn endpoint_mode_ipv6_moves_the_default_urls_only() {
        let ctx = |pairs: &[(&str, &str)]| {
            Context::builder()
                .env(StaticEnv::from_pairs(pairs.iter().copied()))
                .build()
        };
        let imds = Ec2InstanceMetadata::new();
        let v6 = imds
            .urls(&ctx(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")]))
            .unwrap();
        assert_eq!(
            v6.token.unwrap().as_str(),
            "http://[fd00:ec2::254]/latest/api/token"
        );
        let v4 = imds
            .urls(&ctx(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv4")]))
            .unwrap();
        assert!(
            v4.credentials
                .as_str()
                .starts_with("http://169.254.169.254/")
        );
        // An explicit endpoint wins over the mode.
        let explicit = imds
            .urls(&ctx(&[
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"),
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338"),
            ]))
            .unwrap();
        assert!(
            explicit
                .region
                .as_str()
                .starts_with("http://127.0.0.1:1338/")
        );
        let err = imds
            .urls(&ctx(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "dual")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("IPv4 or IPv6"), "{err}");
    }

    #[tokio::test]
    async fn the_sdk_switch_turns_it_off_without_a_request() {
        let off = Context::builder()
            .env(StaticEnv::from_pairs([(
                "AWS_EC2_METADATA_DISABLED",
                "true",
            )]))
            .build();
        assert_eq!(
            Ec2InstanceMetadata::new()
                .credentials(&off)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotAvailable
        );
    }
}
