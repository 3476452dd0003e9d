//! GCP → AWS: [`WebIdentityProvider`], temporary AWS credentials from a workload's own
//! identity, as an `aws_credential_types::provider::ProvideCredentials` that every AWS SDK
//! client accepts.
//!
//! The provider chains a [`SubjectTokenSource`] (by default the GCE/GKE metadata server's
//! identity token, or the file in `AWS_WEB_IDENTITY_TOKEN_FILE`) into an
//! [`Exchange`] (by default STS `AssumeRoleWithWebIdentity`) behind a
//! [`CredentialCache`] that refreshes five minutes (plus jitter) before expiry.
//!
//! ```no_run
//! use federated_credentials::aws::WebIdentityProvider;
//! use federated_credentials::source::GcpMetadataIdentityToken;
//!
//! # async fn run() -> Result<(), federated_credentials::Error> {
//! let provider = WebIdentityProvider::builder()
//!     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
//!     .role_arn("arn:aws:iam::123456789012:role/gcp-workload")
//!     .configure_sts(|sts| sts.region("us-east-1"))
//!     .build()?;
//! let creds = provider.credentials().await?;
//! println!("acting as {}", creds.assumed_role_arn());
//! # Ok(()) }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};

use crate::cache::{CachePolicy, CredentialCache, DynFetch, Fetch};
use crate::context::Context;
use crate::error::{Error, ErrorKind};
use crate::exchange::{AssumeRoleWithWebIdentity, AwsCredentials, Exchange};
use crate::provider::{CachedProvider, ProviderCache};
use crate::source::{GcpMetadataIdentityToken, SubjectTokenSource, TokenFile};
use crate::token::SubjectToken;

/// The environment variable that makes [`WebIdentityProvider::from_env`] use the metadata
/// server's identity token (with this audience) when `AWS_WEB_IDENTITY_TOKEN_FILE` is unset.
pub const GCP_AUDIENCE_ENV: &str = "FEDERATED_CREDENTIALS_GCP_AUDIENCE";

type DynExchange = Arc<dyn Exchange<SubjectToken, Output = AwsCredentials>>;

/// One fetch: a subject token, traded at STS.
struct WebIdentityFetch {
    ctx: Context,
    source: Arc<dyn SubjectTokenSource>,
    exchange: DynExchange,
}

#[async_trait]
impl Fetch for WebIdentityFetch {
    type Credential = AwsCredentials;

    async fn fetch(&self) -> Result<AwsCredentials, Error> {
        let token = self
            .source
            .subject_token(&self.ctx)
            .await
            .map_err(|e| e.context(format!("getting the {} token", self.source.name())))?;
        match self.exchange.exchange(&self.ctx, &token).await {
            // The token expired in flight (a stale projected file, a slow hop): one more try
            // with a fresh token, as the AWS SDKs advise.
            Err(e) if e.upstream_code() == Some("ExpiredTokenException") => {
                tracing::debug!("STS says the web identity token expired; fetching a fresh one");
                let token = self.source.subject_token(&self.ctx).await?;
                self.exchange.exchange(&self.ctx, &token).await
            }
            other => other,
        }
    }
}

/// AWS credentials for an assumed role, from a web identity token; cached and refreshed
/// ahead of expiry. Cheap to clone: clones share one cache.
///
/// To share one cache across many SDK clients, build the provider once and give each client a
/// clone (`.credentials_provider(provider.clone())`): the process then makes one STS call per
/// refresh, however many clients it has. The AWS SDK puts its own identity cache in front of
/// the provider; this cache refreshes minutes ahead of expiry, well before that cache's 10 s
/// buffer, so the SDK's cache never waits on STS.
///
/// Implements [`ProvideCredentials`], so it plugs into `aws-config`
/// (`aws_config::defaults(BehaviorVersion::latest()).credentials_provider(provider.clone())`),
/// and any code written against that trait can use it:
///
/// ```no_run
/// use aws_credential_types::provider::ProvideCredentials;
/// use federated_credentials::aws::WebIdentityProvider;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = WebIdentityProvider::from_env()?;
/// // What an SDK client given `.credentials_provider(provider.clone())` calls:
/// let creds = provider.provide_credentials().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebIdentityProvider {
    cache: ProviderCache<AwsCredentials>,
    description: Arc<str>,
}

impl std::fmt::Debug for WebIdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentityProvider")
            .field("flow", &self.description)
            .field("cache", &self.cache)
            .finish()
    }
}

impl WebIdentityProvider {
    /// Starts a builder.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let provider = WebIdentityProvider::builder()
    /// #   .context(Context::builder().env(StaticEnv::empty()).build())
    ///     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///     .role_arn("arn:aws:iam::123456789012:role/gcp-workload")
    ///     .configure_sts(|sts| sts.region("us-east-1"))
    ///     .build()?;
    /// assert_eq!(provider.cache().completed_fetches(), 0); // nothing is fetched until first use
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn builder() -> WebIdentityProviderBuilder {
        WebIdentityProviderBuilder {
            ctx: None,
            source: None,
            exchange: None,
            role_arn: None,
            sts: AssumeRoleWithWebIdentity::new(""),
            cache_policy: None,
            from_env: false,
        }
    }

    /// Configured like the AWS SDKs from the process environment: `AWS_ROLE_ARN`,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_SESSION_NAME`, `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_STS` (then `AWS_ENDPOINT_URL`),
    /// `AWS_USE_FIPS_ENDPOINT`. When no token file is set and
    /// `FEDERATED_CREDENTIALS_GCP_AUDIENCE` is, the token comes from the GCE/GKE metadata
    /// server with that audience.
    ///
    /// ```no_run
    /// use federated_credentials::aws::WebIdentityProvider;
    /// // With AWS_ROLE_ARN=arn:aws:iam::123456789012:role/gcp-workload and
    /// // FEDERATED_CREDENTIALS_GCP_AUDIENCE=sts.amazonaws.com in the environment:
    /// let provider = WebIdentityProvider::from_env()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().configure_from_env().build()
    }

    /// The current credentials, fetching them if needed.
    pub async fn credentials(&self) -> Result<Arc<AwsCredentials>, Error> {
        self.cache.get().await
    }

    /// The cache behind the provider, shared by its clones: `prefetch()` to fail fast at
    /// startup, `invalidate()` after an AWS service rejected the credentials (every clone then
    /// refetches once), `metrics()` for a metrics system.
    pub fn cache(&self) -> &ProviderCache<AwsCredentials> {
        &self.cache
    }
}

impl CachedProvider for WebIdentityProvider {
    type Credential = AwsCredentials;

    fn cache(&self) -> &ProviderCache<AwsCredentials> {
        &self.cache
    }
}

impl ProvideCredentials for WebIdentityProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            match self.cache.get().await {
                Ok(creds) => Ok(creds.sdk_credentials().clone()),
                Err(e) => Err(to_credentials_error(e)),
            }
        })
    }
}

fn to_credentials_error(e: Error) -> CredentialsError {
    match e.kind() {
        ErrorKind::Configuration => CredentialsError::invalid_configuration(e),
        ErrorKind::NotAvailable => CredentialsError::not_loaded(e),
        _ => CredentialsError::provider_error(e),
    }
}

/// Builds a [`WebIdentityProvider`]; see [`WebIdentityProvider::builder`].
///
/// Only a token source and a role are required. [`build`](Self::build) checks every
/// setting without I/O.
///
/// ```
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::source::TokenFile;
/// # use federated_credentials::context::{Context, StaticEnv};
/// let provider = WebIdentityProvider::builder()
/// #   .context(Context::builder().env(StaticEnv::empty()).build())
///     .token_source(TokenFile::text("/var/run/secrets/tokens/aws-token"))
///     .role_arn("arn:aws:iam::123456789012:role/app")
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
pub struct WebIdentityProviderBuilder {
    ctx: Option<Context>,
    source: Option<Arc<dyn SubjectTokenSource>>,
    exchange: Option<DynExchange>,
    role_arn: Option<String>,
    /// Everything but the role, which is set at `build`.
    sts: AssumeRoleWithWebIdentity,
    cache_policy: Option<CachePolicy>,
    from_env: bool,
}

impl WebIdentityProviderBuilder {
    /// The context (clock, environment, HTTP client). Default: the real ones.
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Where the web identity token comes from: a [`GcpMetadataIdentityToken`], a
    /// [`TokenFile`], or any other [`SubjectTokenSource`].
    pub fn token_source(mut self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Replaces STS `AssumeRoleWithWebIdentity` with another exchange; the role, session,
    /// region and endpoint settings are then ignored.
    pub fn exchange(
        mut self,
        exchange: impl Exchange<SubjectToken, Output = AwsCredentials> + 'static,
    ) -> Self {
        self.exchange = Some(Arc::new(exchange));
        self
    }

    /// The role to assume (required unless set through the environment, or unless a custom
    /// [`exchange`](Self::exchange) is set). Checked by [`build`](Self::build).
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = Some(arn.into());
        self
    }

    /// Configures the STS exchange beyond the role: session name, duration, session
    /// policies, region, endpoint, FIPS, timeouts and retries are the setters of
    /// [`AssumeRoleWithWebIdentity`], applied to the one this builder makes (after the
    /// environment's settings with [`configure_from_env`](Self::configure_from_env), so they
    /// win). It runs at once; calling it again adds to the earlier configuration.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// use std::time::Duration;
    ///
    /// let provider = WebIdentityProvider::builder()
    ///     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///     .role_arn("arn:aws:iam::123456789012:role/gcp-workload")
    ///     .configure_sts(|sts| {
    ///         sts.session_name("billing-worker")
    ///             .duration(Duration::from_secs(2 * 3600))
    ///             .region("eu-west-1")
    ///     })
    ///     .build()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn configure_sts(
        mut self,
        configure: impl FnOnce(AssumeRoleWithWebIdentity) -> AssumeRoleWithWebIdentity,
    ) -> Self {
        self.sts = configure(self.sts);
        self
    }

    /// When to refresh (default [`CachePolicy::aws_sts`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = Some(policy);
        self
    }

    /// Fills unset settings from the context's environment, as the AWS SDKs do:
    /// `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`, `AWS_WEB_IDENTITY_TOKEN_FILE` (as the token
    /// source), or `FEDERATED_CREDENTIALS_GCP_AUDIENCE` (metadata-server token). Region and
    /// endpoint variables are always honoured.
    pub fn configure_from_env(mut self) -> Self {
        self.from_env = true;
        self
    }

    /// Builds the provider and fetches its first credentials before returning, so that a
    /// misconfiguration (untrusted token, unknown role, unreachable STS) fails at startup
    /// instead of on the first request. Like `aws_config::defaults(..).load().await`, it is
    /// the async, eager counterpart of [`build`](Self::build). Must be called inside a tokio
    /// runtime, which then also runs the background refresh.
    ///
    /// ```no_run
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # async fn run() -> Result<(), federated_credentials::Error> {
    /// let provider = WebIdentityProvider::builder()
    ///     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///     .role_arn("arn:aws:iam::123456789012:role/gcp-workload")
    ///     .build_and_prefetch()
    ///     .await?; // has called the metadata server and STS once
    /// assert_eq!(provider.cache().completed_fetches(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn build_and_prefetch(self) -> Result<WebIdentityProvider, Error> {
        let provider = self.build()?;
        provider.cache.prefetch().await?;
        Ok(provider)
    }

    /// Validates everything that can be checked without I/O and builds the provider. Nothing
    /// is fetched until the first call (or [`cache().prefetch()`](crate::cache::CredentialCache::prefetch)).
    pub fn build(self) -> Result<WebIdentityProvider, Error> {
        let ctx = self.ctx.unwrap_or_default();
        let env = ctx.env();
        let mut role_arn = self.role_arn;
        let mut session_name = None;
        let mut source = self.source;
        if self.from_env {
            role_arn = role_arn.or_else(|| env.get_non_empty("AWS_ROLE_ARN"));
            session_name = env.get_non_empty("AWS_ROLE_SESSION_NAME");
            if source.is_none() {
                if let Some(path) = env.get_non_empty("AWS_WEB_IDENTITY_TOKEN_FILE") {
                    source = Some(Arc::new(
                        TokenFile::text(path.trim()).setting_name("AWS_WEB_IDENTITY_TOKEN_FILE"),
                    ));
                } else if let Some(aud) = env.get_non_empty(GCP_AUDIENCE_ENV) {
                    source = Some(Arc::new(GcpMetadataIdentityToken::new(aud.trim())));
                }
            }
        }
        let source = source.ok_or_else(|| {
            Error::config(
                "token_source",
                "no web identity token source: call .token_source(), or set AWS_WEB_IDENTITY_TOKEN_FILE or FEDERATED_CREDENTIALS_GCP_AUDIENCE",
            )
        })?;
        source.validate()?;
        let exchange: DynExchange = match self.exchange {
            Some(x) => x,
            None => {
                let role_arn = role_arn.ok_or_else(|| {
                    Error::config(
                        "role_arn",
                        if self.from_env {
                            "is required: set AWS_ROLE_ARN or call .role_arn()"
                        } else {
                            "is required: call .role_arn()"
                        },
                    )
                })?;
                let mut sts = self.sts.with_role_arn(role_arn.trim());
                if let Some(n) = session_name.filter(|_| !sts.has_session_name()) {
                    sts = sts.session_name(n);
                }
                Arc::new(sts)
            }
        };
        exchange.validate(&ctx)?;
        let description: Arc<str> = format!("{} -> {:?}", source.name(), exchange).into();
        let clock = ctx.clock().clone();
        let fetch = WebIdentityFetch {
            ctx,
            source,
            exchange,
        };
        Ok(WebIdentityProvider {
            cache: CredentialCache::new(
                DynFetch::new(fetch),
                clock,
                self.cache_policy.unwrap_or_else(CachePolicy::aws_sts),
            ),
            description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;
    use crate::http::RetryPolicy;
    use crate::source::StaticToken;
    use crate::token::TokenType;
    use std::time::Duration;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    #[test]
    fn build_requires_source_and_role() {
        let err = WebIdentityProvider::builder()
            .context(ctx(&[]))
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("token_source"));
        let err = WebIdentityProvider::builder()
            .context(ctx(&[]))
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("role_arn"));
        let err = WebIdentityProvider::builder()
            .context(ctx(&[]))
            .configure_from_env()
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .build()
            .unwrap_err();
        assert!(err.message().contains("AWS_ROLE_ARN"));
    }

    #[test]
    fn build_validates_sts_parameters_and_env() {
        let base = || {
            WebIdentityProvider::builder()
                .token_source(StaticToken::new("abcd", TokenType::Jwt))
                .role_arn("arn:aws:iam::123456789012:role/r")
        };
        assert!(
            base()
                .context(ctx(&[]))
                .configure_sts(|s| s.duration(Duration::from_secs(60)))
                .build()
                .is_err()
        );
        assert!(
            base()
                .context(ctx(&[]))
                .configure_sts(|sts| sts.session_name("x"))
                .build()
                .is_err()
        );
        let err = base()
            .context(ctx(&[("AWS_REGION", "bad region")]))
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("AWS_REGION"), "{err}");
        assert!(base().context(ctx(&[])).build().is_ok());
        let err = WebIdentityProvider::builder()
            .context(ctx(&[]))
            .token_source(GcpMetadataIdentityToken::new(""))
            .role_arn("arn:aws:iam::123456789012:role/r")
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("audience"));
    }

    /// Each builder setter's validation, with the messages users see (moved from the rustdoc
    /// examples).
    #[test]
    fn builder_setters_are_validated_with_field_named_errors() {
        let builder = || {
            WebIdentityProvider::builder()
                .context(ctx(&[]))
                .token_source(StaticToken::new("abcd", TokenType::Jwt))
                .role_arn("arn:aws:iam::123456789012:role/app")
        };
        let msg = |b: WebIdentityProviderBuilder| b.build().unwrap_err().message().to_string();
        let err = WebIdentityProvider::builder()
            .context(ctx(&[("AWS_REGION", "US East")]))
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .role_arn("arn:aws:iam::123456789012:role/app")
            .build()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "AWS_REGION: `US East` is not an AWS region name (like us-east-1)"
        );
        assert!(
            msg(builder().role_arn("arn:aws:iam::123456789012:user/alice")).starts_with(
                "role_arn: `arn:aws:iam::123456789012:user/alice` is not an IAM role ARN"
            )
        );
        assert!(
            builder()
                .configure_sts(|sts| sts.session_name("billing-worker"))
                .build()
                .is_ok()
        );
        assert!(
            msg(builder().configure_sts(|sts| sts.session_name("billing worker")))
                .starts_with("role_session_name:")
        );
        assert!(
            builder()
                .configure_sts(|s| s.duration(Duration::from_secs(4 * 3600)))
                .build()
                .is_ok()
        );
        assert!(
            msg(builder().configure_sts(|sts| sts.duration(Duration::from_secs(60))))
                .starts_with("duration_seconds:")
        );
        assert!(
            builder()
                .configure_sts(|s| s.policy(r#"{"Version":"2012-10-17","Statement":[]}"#))
                .build()
                .is_ok()
        );
        assert!(
            builder()
                .configure_sts(|sts| sts.policy("x".repeat(3000)))
                .build()
                .is_err()
        );
        let arn = |i: usize| format!("arn:aws:iam::aws:policy/Policy{i}");
        assert!(
            builder()
                .configure_sts(|sts| sts.policy_arns((0..10).map(arn)))
                .build()
                .is_ok()
        );
        assert!(
            builder()
                .configure_sts(|sts| sts.policy_arns((0..11).map(arn)))
                .build()
                .is_err()
        );
        assert!(
            builder()
                .configure_sts(|sts| sts.region("eu-west-1"))
                .build()
                .is_ok()
        );
        assert!(
            msg(builder().configure_sts(|s| s.region("EU West")))
                .starts_with("region: `EU West` is not an AWS region name")
        );
        assert!(
            builder()
                .configure_sts(
                    |s| s.endpoint_url("https://vpce-0abc-sts.sts.us-east-1.vpce.amazonaws.com")
                )
                .build()
                .is_ok()
        );
        assert_eq!(
            builder()
                .configure_sts(|s| s.endpoint_url("sts.us-east-1.amazonaws.com"))
                .build()
                .unwrap_err()
                .kind(),
            ErrorKind::Configuration
        );
        assert!(
            builder()
                .configure_sts(|sts| sts.fips(true))
                .configure_sts(|sts| sts.region("us-gov-west-1"))
                .build()
                .is_ok()
        );
        assert!(
            msg(builder().configure_sts(|sts| sts.fips(true)))
                .contains("FIPS STS endpoint needs a region")
        );
        assert!(
            builder()
                .configure_sts(|s| s.retry_policy(RetryPolicy::new(2)))
                .cache_policy(CachePolicy::aws_sts().jitter(Duration::ZERO))
                .build()
                .is_ok()
        );
        let err = WebIdentityProvider::builder()
            .context(ctx(&[]))
            .build()
            .unwrap_err();
        assert!(
            err.message()
                .starts_with("token_source: no web identity token source")
        );
    }

    #[test]
    fn configure_sts_settings_win_over_the_environment() {
        let env = ctx(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
            ("AWS_ROLE_SESSION_NAME", "env-session"),
        ]);
        let built = |b: WebIdentityProviderBuilder| {
            format!(
                "{:?}",
                b.context(env.clone())
                    .configure_from_env()
                    .token_source(StaticToken::new("abcd", TokenType::Jwt))
                    .build()
                    .unwrap()
            )
        };
        let from_env = built(WebIdentityProvider::builder());
        assert!(
            from_env.contains(r#"session_name: Some(\"env-session\")"#),
            "{from_env}"
        );
        let hooked = built(
            WebIdentityProvider::builder()
                .configure_sts(|s| s.session_name("hook-session"))
                .configure_sts(|s| s.region("eu-west-1")),
        );
        assert!(
            hooked.contains(r#"session_name: Some(\"hook-session\")"#),
            "{hooked}"
        );
        assert!(
            hooked.contains(r#"region: Some(\"eu-west-1\")"#),
            "both hooks apply: {hooked}"
        );
    }

    /// A custom exchange replaces STS, and the provider's cache counts its fetches.
    #[tokio::test]
    async fn a_custom_exchange_and_the_cache_counters() {
        let broker =
            crate::exchange::FnExchange::new(|ctx: Context, _t: SubjectToken| async move {
                Ok(AwsCredentials::new(
                    "AKIDEXAMPLE",
                    "example-secret",
                    Some("session".into()),
                    ctx.now() + Duration::from_secs(3600),
                    "arn:aws:sts::123456789012:assumed-role/app/broker",
                ))
            });
        let provider = WebIdentityProvider::builder()
            .context(ctx(&[]))
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .exchange(broker)
            .build()
            .unwrap();
        assert_eq!(provider.cache().completed_fetches(), 0);
        let creds = provider.credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.account_id(), Some("123456789012"));
        assert_eq!(
            creds.assumed_role_arn(),
            "arn:aws:sts::123456789012:assumed-role/app/broker"
        );
        let m = provider.cache().metrics();
        assert_eq!((m.fetches, m.failures), (1, 0));
        assert_eq!(m.expires_at, Some(creds.expiration()));
        assert!(!m.refresh_failing);
        provider.cache().invalidate();
        provider.cache().prefetch().await.unwrap();
        assert_eq!(provider.cache().completed_fetches(), 2);
    }

    #[test]
    fn from_env_picks_token_file_then_metadata() {
        let file = ctx(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            (GCP_AUDIENCE_ENV, "aud"),
        ]);
        let p = WebIdentityProvider::builder()
            .context(file)
            .configure_from_env()
            .build()
            .unwrap();
        assert!(p.description.starts_with("token-file"), "{}", p.description);
        let mds = ctx(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            (GCP_AUDIENCE_ENV, "aud"),
        ]);
        let p = WebIdentityProvider::builder()
            .context(mds)
            .configure_from_env()
            .build()
            .unwrap();
        assert!(
            p.description.starts_with("gcp-metadata"),
            "{}",
            p.description
        );
    }

    #[test]
    fn error_kinds_map_to_sdk_errors() {
        let e = to_credentials_error(Error::config("role_arn", "x"));
        assert!(matches!(e, CredentialsError::InvalidConfiguration(_)));
        let e = to_credentials_error(Error::new(
            ErrorKind::NotAvailable,
            crate::Service::TokenFile,
            "x",
        ));
        assert!(matches!(e, CredentialsError::CredentialsNotLoaded(_)));
        let e = to_credentials_error(Error::new(ErrorKind::Upstream, crate::Service::AwsSts, "x"));
        assert!(matches!(e, CredentialsError::ProviderError(_)));
    }
}
