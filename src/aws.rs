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
//!     .region("us-east-1")
//!     .build()?;
//! let creds = provider.credentials().await?;
//! println!("acting as {}", creds.assumed_role_arn());
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials};

use crate::cache::{CachePolicy, CredentialCache, Fetch};
use crate::context::Context;
use crate::error::{Error, ErrorKind};
use crate::exchange::{AssumeRoleWithWebIdentity, AwsCredentials, Exchange};
use crate::http::RetryPolicy;
use crate::source::{GcpMetadataIdentityToken, SubjectTokenSource, TokenFile};
use crate::token::SubjectToken;

/// The environment variable that makes [`WebIdentityProvider::from_env`] use the metadata
/// server's identity token (with this audience) when `AWS_WEB_IDENTITY_TOKEN_FILE` is unset.
///
/// ```
/// use federated_credentials::aws::{WebIdentityProvider, GCP_AUDIENCE_ENV};
/// use federated_credentials::context::{Context, StaticEnv};
/// let env = StaticEnv::from_pairs([
///     ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/gcp-workload"),
///     (GCP_AUDIENCE_ENV, "sts.amazonaws.com"),
/// ]);
/// let provider = WebIdentityProvider::builder()
///     .context(Context::builder().env(env).build())
///     .configure_from_env()
///     .build()?;
/// assert!(format!("{provider:?}").contains("gcp-metadata")); // the metadata server's token
/// # Ok::<(), federated_credentials::Error>(())
/// ```
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
/// ```
/// # use async_trait::async_trait;
/// # use federated_credentials::aws::WebIdentityProvider;
/// # use federated_credentials::context::Context;
/// # use federated_credentials::exchange::{AwsCredentials, Exchange};
/// # use federated_credentials::source::StaticToken;
/// # use federated_credentials::token::{SubjectToken, TokenType};
/// # use federated_credentials::Error;
/// # use std::time::Duration;
/// # /// Stands in for STS so that the example runs offline: one-hour credentials.
/// # #[derive(Debug)]
/// # struct FakeSts;
/// # #[async_trait]
/// # impl Exchange<SubjectToken> for FakeSts {
/// #     type Output = AwsCredentials;
/// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
/// #         Ok(AwsCredentials::new(
/// #             "AKIDEXAMPLE",
/// #             "example-secret-key",
/// #             Some("example-session-token".into()),
/// #             ctx.now() + Duration::from_secs(3600),
/// #             "arn:aws:sts::123456789012:assumed-role/app/example",
/// #         ))
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let provider = WebIdentityProvider::builder()
/// #     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
/// #     .exchange(FakeSts)
/// #     .build()?;
/// // `provider`: built as in `WebIdentityProvider::builder`, with an offline stand-in for STS.
/// use aws_credential_types::provider::ProvideCredentials;
///
/// let creds = provider.provide_credentials().await?; // what an AWS SDK client calls
/// assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
/// assert_eq!(creds.account_id().map(|id| id.as_str()), Some("123456789012"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebIdentityProvider {
    cache: CredentialCache<WebIdentityFetch>,
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
    ///     .region("us-east-1")
    ///     .build()?;
    /// assert_eq!(provider.completed_fetches(), 0); // nothing is fetched until first use
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn builder() -> WebIdentityProviderBuilder {
        WebIdentityProviderBuilder::default()
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
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use federated_credentials::aws::WebIdentityProvider;
    /// # use federated_credentials::context::Context;
    /// # use federated_credentials::exchange::{AwsCredentials, Exchange};
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::{SubjectToken, TokenType};
    /// # use federated_credentials::Error;
    /// # use std::time::Duration;
    /// # /// Stands in for STS so that the example runs offline: one-hour credentials.
    /// # #[derive(Debug)]
    /// # struct FakeSts;
    /// # #[async_trait]
    /// # impl Exchange<SubjectToken> for FakeSts {
    /// #     type Output = AwsCredentials;
    /// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
    /// #         Ok(AwsCredentials::new(
    /// #             "AKIDEXAMPLE",
    /// #             "example-secret-key",
    /// #             Some("example-session-token".into()),
    /// #             ctx.now() + Duration::from_secs(3600),
    /// #             "arn:aws:sts::123456789012:assumed-role/app/example",
    /// #         ))
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let provider = WebIdentityProvider::builder()
    /// #     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
    /// #     .exchange(FakeSts)
    /// #     .build()?;
    /// // `provider`: built as in `WebIdentityProvider::builder`, with an offline stand-in for STS.
    /// let creds = provider.credentials().await?;
    /// assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
    /// assert_eq!(creds.account_id(), Some("123456789012"));
    /// # Ok(()) }
    /// ```
    pub async fn credentials(&self) -> Result<Arc<AwsCredentials>, Error> {
        self.cache.get().await
    }

    /// Fetches credentials now unless usable ones are cached; returns the error if that
    /// fails. For services that want to fail fast at startup; see also
    /// [`WebIdentityProviderBuilder::build_and_prefetch`].
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use federated_credentials::aws::WebIdentityProvider;
    /// # use federated_credentials::context::Context;
    /// # use federated_credentials::exchange::{AwsCredentials, Exchange};
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::{SubjectToken, TokenType};
    /// # use federated_credentials::Error;
    /// # use std::time::Duration;
    /// # /// Stands in for STS so that the example runs offline: one-hour credentials.
    /// # #[derive(Debug)]
    /// # struct FakeSts;
    /// # #[async_trait]
    /// # impl Exchange<SubjectToken> for FakeSts {
    /// #     type Output = AwsCredentials;
    /// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
    /// #         Ok(AwsCredentials::new(
    /// #             "AKIDEXAMPLE",
    /// #             "example-secret-key",
    /// #             Some("example-session-token".into()),
    /// #             ctx.now() + Duration::from_secs(3600),
    /// #             "arn:aws:sts::123456789012:assumed-role/app/example",
    /// #         ))
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let provider = WebIdentityProvider::builder()
    /// #     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
    /// #     .exchange(FakeSts)
    /// #     .build()?;
    /// // `provider`: built as in `WebIdentityProvider::builder`, with an offline stand-in for STS.
    /// provider.prefetch().await?; // at startup: an untrusted token or unknown role fails here
    /// provider.credentials().await?; // later: served from the cache
    /// assert_eq!(provider.completed_fetches(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn prefetch(&self) -> Result<(), Error> {
        self.cache.prefetch().await
    }

    /// Forgets the cached credentials; the next call fetches new ones. Call it when an AWS
    /// service rejected them (for example `ExpiredToken` or `InvalidClientTokenId` after a
    /// revocation): every clone of this provider then refetches once.
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use federated_credentials::aws::WebIdentityProvider;
    /// # use federated_credentials::context::Context;
    /// # use federated_credentials::exchange::{AwsCredentials, Exchange};
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::{SubjectToken, TokenType};
    /// # use federated_credentials::Error;
    /// # use std::time::Duration;
    /// # /// Stands in for STS so that the example runs offline: one-hour credentials.
    /// # #[derive(Debug)]
    /// # struct FakeSts;
    /// # #[async_trait]
    /// # impl Exchange<SubjectToken> for FakeSts {
    /// #     type Output = AwsCredentials;
    /// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
    /// #         Ok(AwsCredentials::new(
    /// #             "AKIDEXAMPLE",
    /// #             "example-secret-key",
    /// #             Some("example-session-token".into()),
    /// #             ctx.now() + Duration::from_secs(3600),
    /// #             "arn:aws:sts::123456789012:assumed-role/app/example",
    /// #         ))
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let provider = WebIdentityProvider::builder()
    /// #     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
    /// #     .exchange(FakeSts)
    /// #     .build()?;
    /// // `provider`: built as in `WebIdentityProvider::builder`, with an offline stand-in for STS.
    /// let client_a = provider.clone();
    /// client_a.credentials().await?;
    /// provider.invalidate(); // e.g. an AWS call failed with ExpiredToken
    /// client_a.credentials().await?; // refetched
    /// assert_eq!(provider.completed_fetches(), 2);
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// How many fetches (source + exchange) have completed, successful or not.
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use federated_credentials::aws::WebIdentityProvider;
    /// # use federated_credentials::context::Context;
    /// # use federated_credentials::exchange::{AwsCredentials, Exchange};
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::{SubjectToken, TokenType};
    /// # use federated_credentials::Error;
    /// # use std::time::Duration;
    /// # /// Stands in for STS so that the example runs offline: one-hour credentials.
    /// # #[derive(Debug)]
    /// # struct FakeSts;
    /// # #[async_trait]
    /// # impl Exchange<SubjectToken> for FakeSts {
    /// #     type Output = AwsCredentials;
    /// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
    /// #         Ok(AwsCredentials::new(
    /// #             "AKIDEXAMPLE",
    /// #             "example-secret-key",
    /// #             Some("example-session-token".into()),
    /// #             ctx.now() + Duration::from_secs(3600),
    /// #             "arn:aws:sts::123456789012:assumed-role/app/example",
    /// #         ))
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let provider = WebIdentityProvider::builder()
    /// #     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
    /// #     .exchange(FakeSts)
    /// #     .build()?;
    /// // `provider`: built as in `WebIdentityProvider::builder`, with an offline stand-in for STS.
    /// assert_eq!(provider.completed_fetches(), 0);
    /// provider.credentials().await?;
    /// provider.credentials().await?;
    /// assert_eq!(provider.completed_fetches(), 1);
    /// # Ok(()) }
    /// ```
    pub fn completed_fetches(&self) -> u64 {
        self.cache.completed_fetches()
    }

    /// Counters and times for a metrics system: fetches, failures, reads served while
    /// refreshes fail, the last refresh and the current expiry. Lock-free.
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use federated_credentials::aws::WebIdentityProvider;
    /// # use federated_credentials::context::Context;
    /// # use federated_credentials::exchange::{AwsCredentials, Exchange};
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::{SubjectToken, TokenType};
    /// # use federated_credentials::Error;
    /// # use std::time::Duration;
    /// # /// Stands in for STS so that the example runs offline: one-hour credentials.
    /// # #[derive(Debug)]
    /// # struct FakeSts;
    /// # #[async_trait]
    /// # impl Exchange<SubjectToken> for FakeSts {
    /// #     type Output = AwsCredentials;
    /// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
    /// #         Ok(AwsCredentials::new(
    /// #             "AKIDEXAMPLE",
    /// #             "example-secret-key",
    /// #             Some("example-session-token".into()),
    /// #             ctx.now() + Duration::from_secs(3600),
    /// #             "arn:aws:sts::123456789012:assumed-role/app/example",
    /// #         ))
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let provider = WebIdentityProvider::builder()
    /// #     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
    /// #     .exchange(FakeSts)
    /// #     .build()?;
    /// // `provider`: built as in `WebIdentityProvider::builder`, with an offline stand-in for STS.
    /// let creds = provider.credentials().await?;
    /// let m = provider.metrics();
    /// assert_eq!((m.fetches, m.failures), (1, 0));
    /// assert_eq!(m.expires_at, Some(creds.expiration()));
    /// assert!(!m.refresh_failing);
    /// # Ok(()) }
    /// ```
    pub fn metrics(&self) -> crate::cache::CacheMetrics {
        self.cache.metrics()
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
/// use std::time::Duration;
/// # use federated_credentials::context::{Context, StaticEnv};
/// let provider = WebIdentityProvider::builder()
/// #   .context(Context::builder().env(StaticEnv::empty()).build())
///     .token_source(TokenFile::text("/var/run/secrets/tokens/aws-token"))
///     .role_arn("arn:aws:iam::123456789012:role/app")
///     .session_name("billing-worker")
///     .duration(Duration::from_secs(2 * 3600))
///     .region("eu-west-1")
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Default)]
pub struct WebIdentityProviderBuilder {
    ctx: Option<Context>,
    source: Option<Arc<dyn SubjectTokenSource>>,
    exchange: Option<DynExchange>,
    role_arn: Option<String>,
    session_name: Option<String>,
    duration: Option<Duration>,
    policy: Option<String>,
    policy_arns: Vec<String>,
    region: Option<String>,
    sts_endpoint: Option<String>,
    fips: Option<bool>,
    sts_retry: Option<RetryPolicy>,
    cache_policy: Option<CachePolicy>,
    from_env: bool,
}

impl WebIdentityProviderBuilder {
    /// The context (clock, environment, HTTP client). Default: the real ones.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::context::{Context, StaticEnv};
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// // Region and STS endpoint variables come from the context's environment.
    /// let ctx = Context::builder().env(StaticEnv::from_pairs([("AWS_REGION", "US East")])).build();
    /// let err = WebIdentityProvider::builder()
    ///     .context(ctx)
    ///     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///     .role_arn("arn:aws:iam::123456789012:role/app")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.message(), "AWS_REGION: `US East` is not an AWS region name (like us-east-1)");
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Where the web identity token comes from: a [`GcpMetadataIdentityToken`], a
    /// [`TokenFile`], or any other [`SubjectTokenSource`].
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::TokenFile;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let provider = WebIdentityProvider::builder()
    /// #   .context(Context::builder().env(StaticEnv::empty()).build())
    ///     .token_source(TokenFile::text("/var/run/secrets/tokens/aws-token")) // read on each fetch
    ///     .role_arn("arn:aws:iam::123456789012:role/app")
    ///     .build()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn token_source(mut self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Replaces STS `AssumeRoleWithWebIdentity` with another exchange; the role, session,
    /// region and endpoint settings are then ignored.
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use federated_credentials::context::Context;
    /// # use federated_credentials::exchange::{AwsCredentials, Exchange};
    /// # use federated_credentials::token::SubjectToken;
    /// # use federated_credentials::Error;
    /// # use std::time::Duration;
    /// # /// Trades the token at an in-house broker (here: offline, one-hour credentials).
    /// # #[derive(Debug)]
    /// # struct InHouseBroker;
    /// # #[async_trait]
    /// # impl Exchange<SubjectToken> for InHouseBroker {
    /// #     type Output = AwsCredentials;
    /// #     async fn exchange(&self, ctx: &Context, _: &SubjectToken) -> Result<AwsCredentials, Error> {
    /// #         let expiry = ctx.now() + Duration::from_secs(3600);
    /// #         let role = "arn:aws:sts::123456789012:assumed-role/app/broker";
    /// #         Ok(AwsCredentials::new("AKIDEXAMPLE", "example-secret-key", None, expiry, role))
    /// #     }
    /// # }
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let provider = WebIdentityProvider::builder()
    ///     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
    ///     .exchange(InHouseBroker) // implements Exchange<SubjectToken, Output = AwsCredentials>
    ///     .build()?; // no role_arn needed
    /// let creds = provider.credentials().await?;
    /// assert_eq!(creds.assumed_role_arn(), "arn:aws:sts::123456789012:assumed-role/app/broker");
    /// # Ok(()) }
    /// ```
    pub fn exchange(
        mut self,
        exchange: impl Exchange<SubjectToken, Output = AwsCredentials> + 'static,
    ) -> Self {
        self.exchange = Some(Arc::new(exchange));
        self
    }

    /// The role to assume (required unless set through the environment, or unless a custom
    /// [`exchange`](Self::exchange) is set). Checked by [`build`](Self::build).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let with_role = |arn: &str| {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn(arn)
    ///         .build()
    /// };
    /// assert!(with_role("arn:aws:iam::123456789012:role/app").is_ok());
    /// let err = with_role("arn:aws:iam::123456789012:user/alice").unwrap_err();
    /// assert!(err.message().starts_with("role_arn: `arn:aws:iam::123456789012:user/alice` is not an IAM role ARN"));
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = Some(arn.into());
        self
    }

    /// The role session name (2–64 of `[\w+=,.@-]`); default
    /// `federated-credentials-<unix millis>`. It appears in CloudTrail and in the assumed-role
    /// ARN.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// assert!(builder().session_name("billing-worker").build().is_ok());
    /// let err = builder().session_name("billing worker").build().unwrap_err();
    /// assert!(err.message().starts_with("role_session_name:"));
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The session duration, 900–43200 s in whole seconds (default: STS's 3600 s). STS also
    /// caps it at the role's maximum session duration, which only the call can check.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use std::time::Duration;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// assert!(builder().duration(Duration::from_secs(4 * 3600)).build().is_ok());
    /// let err = builder().duration(Duration::from_secs(60)).build().unwrap_err();
    /// assert!(err.message().starts_with("duration_seconds:"));
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// An inline session policy (JSON, at most 2048 characters): the session gets the
    /// intersection of the role's permissions and this policy.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// let read_only_bucket = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}"#;
    /// assert!(builder().policy(read_only_bucket).build().is_ok());
    /// assert!(builder().policy("x".repeat(3000)).build().is_err());
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn policy(mut self, policy_json: impl Into<String>) -> Self {
        self.policy = Some(policy_json.into());
        self
    }

    /// Managed session policy ARNs (at most 10).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// let provider = builder()
    ///     .policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    ///     .build();
    /// assert!(provider.is_ok());
    /// let eleven = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess"; 11];
    /// assert!(builder().policy_arns(eleven).build().is_err());
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn policy_arns(mut self, arns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.policy_arns = arns.into_iter().map(Into::into).collect();
        self
    }

    /// The AWS region whose STS endpoint to call (default: `AWS_REGION`, then
    /// `AWS_DEFAULT_REGION`, then the global endpoint).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// assert!(builder().region("eu-west-1").build().is_ok());
    /// let err = builder().region("EU West").build().unwrap_err();
    /// assert!(err.message().starts_with("region: `EU West` is not an AWS region name"));
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A fixed STS base URL (an emulator, a VPC endpoint), instead of the regional endpoint
    /// and the `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` variables.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// let vpce = "https://vpce-0123456789abcdef0-example.sts.us-east-1.vpce.amazonaws.com";
    /// assert!(builder().sts_endpoint(vpce).build().is_ok());
    /// let err = builder().sts_endpoint("sts.us-east-1.amazonaws.com").build().unwrap_err();
    /// assert_eq!(err.kind(), federated_credentials::ErrorKind::Configuration);
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn sts_endpoint(mut self, url: impl Into<String>) -> Self {
        self.sts_endpoint = Some(url.into());
        self
    }

    /// Uses the FIPS STS endpoint of the region (`sts-fips.{region}.amazonaws.com`), which
    /// needs a region. Default: whether `AWS_USE_FIPS_ENDPOINT` is `true`.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// assert!(builder().fips(true).region("us-gov-west-1").build().is_ok());
    /// let err = builder().fips(true).build().unwrap_err(); // no region anywhere
    /// assert!(err.message().contains("FIPS STS endpoint needs a region"));
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn fips(mut self, fips: bool) -> Self {
        self.fips = Some(fips);
        self
    }

    /// The STS retry policy (default: 4 attempts, 200 ms–5 s backoff, 30 s deadline).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::http::RetryPolicy;
    /// use std::time::Duration;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// // Give up sooner: 2 attempts within 5 s.
    /// let quick = RetryPolicy::new(2).deadline(Duration::from_secs(5));
    /// assert!(builder().sts_retry_policy(quick).build().is_ok());
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn sts_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.sts_retry = Some(policy);
        self
    }

    /// When to refresh (default [`CachePolicy::aws_sts`]).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::cache::CachePolicy;
    /// use std::time::Duration;
    /// use federated_credentials::source::GcpMetadataIdentityToken;
    /// # use federated_credentials::context::{Context, StaticEnv};
    /// let builder = || {
    ///     WebIdentityProvider::builder()
    /// #       .context(Context::builder().env(StaticEnv::empty()).build())
    ///         .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
    ///         .role_arn("arn:aws:iam::123456789012:role/app")
    /// };
    /// // Refresh 10–30 min ahead instead of 5–25 min.
    /// let policy = CachePolicy::aws_sts().refresh_window(Duration::from_secs(600));
    /// assert!(builder().cache_policy(policy).build().is_ok());
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = Some(policy);
        self
    }

    /// Fills unset settings from the context's environment, as the AWS SDKs do:
    /// `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`, `AWS_WEB_IDENTITY_TOKEN_FILE` (as the token
    /// source), or `FEDERATED_CREDENTIALS_GCP_AUDIENCE` (metadata-server token). Region and
    /// endpoint variables are always honoured.
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::context::{Context, StaticEnv};
    /// let from = |env: StaticEnv| {
    ///     WebIdentityProvider::builder()
    ///         .context(Context::builder().env(env).build())
    ///         .configure_from_env()
    ///         .build()
    /// };
    /// let provider = from(StaticEnv::from_pairs([
    ///     ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
    ///     ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/tokens/aws-token"),
    /// ]))?;
    /// assert!(format!("{provider:?}").contains("token-file"));
    /// assert!(from(StaticEnv::empty()).is_err()); // no token source, no role
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
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
    /// assert_eq!(provider.completed_fetches(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn build_and_prefetch(self) -> Result<WebIdentityProvider, Error> {
        let provider = self.build()?;
        provider.prefetch().await?;
        Ok(provider)
    }

    /// Validates everything that can be checked without I/O and builds the provider. Nothing
    /// is fetched until the first call (or [`WebIdentityProvider::prefetch`]).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::ErrorKind;
    /// let err = WebIdentityProvider::builder()
    ///     .role_arn("arn:aws:iam::123456789012:role/app")
    ///     .build()
    ///     .unwrap_err(); // no token source
    /// assert_eq!(err.kind(), ErrorKind::Configuration);
    /// assert!(err.message().starts_with("token_source: no web identity token source"));
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn build(self) -> Result<WebIdentityProvider, Error> {
        let ctx = self.ctx.unwrap_or_default();
        let env = ctx.env();
        let mut role_arn = self.role_arn;
        let mut session_name = self.session_name;
        let mut source = self.source;
        if self.from_env {
            role_arn = role_arn.or_else(|| env.get_non_empty("AWS_ROLE_ARN"));
            session_name = session_name.or_else(|| env.get_non_empty("AWS_ROLE_SESSION_NAME"));
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
                let mut sts = AssumeRoleWithWebIdentity::new(role_arn.trim());
                if let Some(n) = session_name {
                    sts = sts.session_name(n);
                }
                if let Some(d) = self.duration {
                    sts = sts.duration(d);
                }
                if let Some(p) = self.policy {
                    sts = sts.policy(p);
                }
                if !self.policy_arns.is_empty() {
                    sts = sts.policy_arns(self.policy_arns);
                }
                if let Some(r) = self.region {
                    sts = sts.region(r);
                }
                if let Some(e) = self.sts_endpoint {
                    sts = sts.endpoint_url(e);
                }
                if let Some(f) = self.fips {
                    sts = sts.fips(f);
                }
                if let Some(r) = self.sts_retry {
                    sts = sts.retry_policy(r);
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
                fetch,
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
    use crate::source::StaticToken;
    use crate::token::TokenType;

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
        assert!(base()
            .context(ctx(&[]))
            .duration(Duration::from_secs(60))
            .build()
            .is_err());
        assert!(base().context(ctx(&[])).session_name("x").build().is_err());
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
